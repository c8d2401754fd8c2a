/* api: dlockd's HTTP API — routes a request to a lock operation on the
 * backend and turns the outcome into a status, headers and a JSON or
 * problem+json body. It owns the one table from errors to HTTP statuses.
 * It knows HTTP semantics and JSON, but neither libmicrohttpd nor Redis. */
#ifndef DLOCKD_API_H
#define DLOCKD_API_H

#include <stdbool.h>
#include <stddef.h>

#include "locks/backend.h"
#include "base/config.h"
#include "locks/waiters.h"
#include "base/errors.h"
#include "locks/lock.h"
#include "base/metrics.h"
#include "server/auth.h"

struct api;

/* The routes, as labelled in metrics and logs (api_route_labels()). */
enum api_route {
	ROUTE_ACQUIRE,
	ROUTE_RENEW,
	ROUTE_RELEASE,
	ROUTE_INSPECT,
	ROUTE_LIST,
	ROUTE_HEALTH,
	ROUTE_READY,
	ROUTE_METRICS,
	ROUTE_SPEC,
	ROUTE_OTHER,
	ROUTE_COUNT
};

/* Every route's label, indexed by enum api_route (static). */
const char *const *api_route_labels(void);
/* A request waiting for the backend; see api_abandon(). */
struct api_call;

struct api_request {
	const char *method;
	const char *path; /* raw (still percent-encoded), without the query */
	size_t path_len;
	const char *query; /* raw, without '?', or NULL */
	size_t query_len;
	const char *body;
	size_t body_len;
	const char *content_type;  /* or NULL */
	const char *lock_token;    /* the Lock-Token header, or NULL */
	unsigned lock_token_count; /* how many Lock-Token headers came */
	const char *authorization; /* the Authorization header, or NULL */
	unsigned authorization_count;
	const char *client;     /* the client's address, for the audit log, or NULL */
	const char *request_id; /* from api_request_id(), or NULL */
};

enum { API_MAX_HEADERS = 6, API_REQUEST_ID_MAX = 40, API_LOCATION_PREFIX_LEN = 7 /* "/locks/" */ };

struct api_header {
	const char *name;
	const char *value; /* static, or one of the reply's own buffers below */
};

struct api_reply {
	int status;
	const char *content_type; /* NULL when there is no body */
	char *body;               /* malloc'd unless body_static */
	size_t body_len;
	bool body_static;
	struct api_header headers[API_MAX_HEADERS];
	unsigned nheaders;
	/* A new grant's Location header's value, "/locks/<name>" (the name is
	 * what api_grant_name() gives), or "". */
	char location[API_LOCATION_PREFIX_LEN + LOCK_NAME_MAX + 1];
	char retry_after[24];                    /* the Retry-After header's value */
	char allow[48];                          /* the Allow header's value */
	char request_id[API_REQUEST_ID_MAX + 1]; /* the X-Request-Id header's value, or "" */
	enum api_route route;
	bool long_wait; /* pending on a wait for a lock: watch for the client leaving */
	/* A new grant's token, kept with its Location until the answer is
	 * delivered (see api_undelivered); "" when the reply grants nothing. */
	char grant_token[LOCK_TOKEN_MAX + 1];
};

/* The name of the lock a reply grants, or "". */
static inline const char *api_grant_name(const struct api_reply *reply)
{
	return reply->location[0] ? reply->location + API_LOCATION_PREFIX_LEN : "";
}

/* Called once when a pending reply has been written. */
typedef void api_done_fn(void *arg);

/* Returns a new API over backend and waiters (not owned), or NULL. spec is the
 * OpenAPI document served at /openapi.yaml (static, not copied). instance
 * (copied) starts every request id. auth: the API keys (a reference is
 * taken), or NULL when every request may do anything. */
struct api *api_new(const struct config *cfg, struct backend *backend, struct waiters *waiters, const char *spec,
                    size_t spec_len, const char *instance, struct auth *auth);
void api_free(struct api *api);
/* Uses new keys from now on (a reload): takes a reference to auth, drops the
 * old one. Requests in progress keep what they were let in with. */
void api_set_auth(struct api *api, struct auth *auth);
/* Writes a new request id ("<instance>-<counter>", unique per process) into out. */
void api_request_id(struct api *api, char out[API_REQUEST_ID_MAX + 1]);

/* Answers req. Returns true if *reply is complete now. Returns false if the
 * answer needs the backend: *reply (which must stay valid) is filled later and
 * done(arg) is called once, from the loop, never from inside this call;
 * *call then identifies the pending request. */
bool api_handle(struct api *api, const struct api_request *req, struct api_reply *reply, api_done_fn *done, void *arg,
                struct api_call **call);

/* The client of a pending long wait (reply->long_wait) went away: done() will
 * not be called and *reply is not touched again. */
void api_abandon(struct api_call *call);

/* The reply could not be delivered (the connection failed before it was
 * written). If it granted a lock, the lock is released and the loss logged
 * and counted: no lock stays held with no one told. */
void api_undelivered(struct api *api, const struct api_reply *reply);

/* Fills reply with a problem+json error. detail may be NULL. */
void api_error(struct api_reply *reply, enum dl_error e, const char *detail);

/* Fills reply with a problem+json error for req, found wrong before it could
 * be handled (framing, size, shutdown): labelled with req's route and given
 * the headers that route's answers always carry. Only method and path of req
 * are used. */
void api_reject(const struct api_request *req, struct api_reply *reply, enum dl_error e, const char *detail);

/* Frees what reply owns and zeroes it. */
void api_reply_release(struct api_reply *reply);

/* The HTTP status for an error (the one table). */
int api_error_status(enum dl_error e);

#endif
