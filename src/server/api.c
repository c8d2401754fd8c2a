/* api: routes, parameters, outcomes → HTTP replies. See api.h. */
#include "server/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/loop.h"
#include "base/text.h"
#include "locks/lock.h"
#include "base/log.h"
#include "server/params.h"

struct api {
	const struct config *cfg;
	struct backend *backend;
	struct waiters *waiters;
	const char *spec;
	size_t spec_len;
	unsigned lists;    /* list requests running (at most cfg->max_lists) */
	struct auth *auth; /* the API keys, or NULL: no keys needed */
	char instance[24]; /* starts every request id */
	uint64_t next_id;
};

/* The audit line's event of each lock operation (NULL: the route has none). */
static const char *const AUDIT_EVENT[ROUTE_COUNT] = {
    [ROUTE_ACQUIRE] = "acquire", [ROUTE_RENEW] = "renew", [ROUTE_RELEASE] = "release"};

/* A request waiting for the backend. */
struct api_call {
	struct api *api;
	struct api_reply *reply;
	api_done_fn *done;
	void *arg;
	enum api_route route;
	struct waiter *waiter; /* a wait for the lock, or NULL */
	/* Who asked, for the audit line written when the answer comes: the key's
	 * ID, the client's address and the lock's name, each NUL-terminated, one
	 * after the other; empty when no audit line will be written (a waiter
	 * holds it for as long as it waits: only what the line needs). */
	char who[];
};

static const char *who_next(const char *s)
{
	return s + strlen(s) + 1;
}

/* The one table from errors to HTTP statuses. */
static const int STATUS_OF[DL_ERROR_COUNT] = {
    [DL_OK] = 200,
    [DL_INVALID_NAME] = 400,
    [DL_INVALID_TTL] = 400,
    [DL_INVALID_WAIT] = 400,
    [DL_INVALID_OWNER] = 400,
    [DL_INVALID_TOKEN] = 400,
    [DL_MISSING_TOKEN] = 400,
    [DL_INVALID_PARAMETER] = 400,
    [DL_INVALID_JSON] = 400,
    [DL_INVALID_PREFIX] = 400,
    [DL_INVALID_LIMIT] = 400,
    [DL_INVALID_CURSOR] = 400,
    [DL_BODY_TOO_LARGE] = 413,
    [DL_UNSUPPORTED_MEDIA_TYPE] = 415,
    [DL_BAD_REQUEST] = 400,
    [DL_UNSUPPORTED_CODING] = 501,
    [DL_UNAUTHORIZED] = 401,
    [DL_FORBIDDEN] = 403,
    [DL_RATE_LIMITED] = 429,
    [DL_NOT_FOUND] = 404,
    [DL_METHOD_NOT_ALLOWED] = 405,
    [DL_LOCK_HELD] = 409,
    [DL_NOT_HELD] = 404,
    [DL_TOKEN_MISMATCH] = 409,
    [DL_BACKEND_UNAVAILABLE] = 503,
    [DL_SHUTTING_DOWN] = 503,
    [DL_REQUEST_TIMEOUT] = 408,
    [DL_TOO_MANY_WAITERS] = 503,
    [DL_TOO_MANY_LISTS] = 503,
    [DL_INVALID_LOCK_DATA] = 500,
    [DL_FENCE_EXHAUSTED] = 500,
    [DL_REPLICATION_UNCONFIRMED] = 503,
    [DL_INTERNAL] = 500,
};

int api_error_status(enum dl_error e)
{
	return e < DL_ERROR_COUNT ? STATUS_OF[e] : 500;
}

struct api *api_new(const struct config *cfg, struct backend *backend, struct waiters *waiters, const char *spec,
                    size_t spec_len, const char *instance, struct auth *auth)
{
	struct api *api = calloc(1, sizeof *api);
	if (!api)
		return NULL;
	api->cfg = cfg;
	api->backend = backend;
	api->waiters = waiters;
	api->spec = spec;
	api->spec_len = spec_len;
	snprintf(api->instance, sizeof api->instance, "%s", instance);
	api_set_auth(api, auth);
	return api;
}

void api_free(struct api *api)
{
	if (api)
		auth_unref(api->auth);
	free(api);
}

void api_set_auth(struct api *api, struct auth *auth)
{
	if (auth)
		auth_ref(auth);
	auth_unref(api->auth);
	api->auth = auth;
}

void api_request_id(struct api *api, char out[API_REQUEST_ID_MAX + 1])
{
	snprintf(out, API_REQUEST_ID_MAX + 1, "%s-%llx", api->instance, (unsigned long long)++api->next_id);
}

void api_reply_release(struct api_reply *reply)
{
	if (!reply->body_static)
		free(reply->body);
	explicit_bzero(reply->grant_token, sizeof reply->grant_token);
	memset(reply, 0, sizeof *reply);
}

static void ignore_release(void *arg, const struct lock_reply *r)
{
	(void)arg;
	(void)r;
}

void api_undelivered(struct api *api, const struct api_reply *reply)
{
	struct lock_request rel = {.name = api_grant_name(reply), .token = reply->grant_token};

	if (!reply->grant_token[0])
		return;
	metrics_inc(METRIC_UNDELIVERED_GRANTS);
	log_msg(LOG_WARN, "the grant of lock '%s' could not be delivered to its client: releasing it", rel.name);
	log_audit("release", "undelivered_grant_released", NULL, rel.name, -1, NULL, reply->request_id);
	api->backend->ops->release(api->backend, &rel, ignore_release, NULL);
}

/* Adds a header; value must outlive the reply (static, or the reply's own buffer). */
static void add_header_str(struct api_reply *reply, const char *name, const char *value)
{
	if (reply->nheaders == API_MAX_HEADERS)
		return;
	reply->headers[reply->nheaders].name = name;
	reply->headers[reply->nheaders].value = value;
	reply->nheaders++;
}

/* The request's id: kept in the reply (a problem's instance), and sent as X-Request-Id. */
static void set_request_id(struct api_reply *reply, const struct api_request *req)
{
	if (!req->request_id || !*req->request_id)
		return;
	snprintf(reply->request_id, sizeof reply->request_id, "%s", req->request_id);
	add_header_str(reply, "X-Request-Id", reply->request_id);
}

static void add_retry_after(struct api_reply *reply, long long seconds)
{
	snprintf(reply->retry_after, sizeof reply->retry_after, "%lld", seconds);
	add_header_str(reply, "Retry-After", reply->retry_after);
}

/* Serialises obj (stolen) as the reply body. */
static void set_json(struct api_reply *reply, int status, const char *content_type, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!text) {
		static const char OOM[] =
		    "{\"type\":\"urn:dlockd:problem:internal_error\",\"title\":\"Internal error\","
		    "\"status\":500,\"detail\":\"out of memory\",\"code\":\"internal_error\"}";
		reply->status = 500;
		reply->content_type = "application/problem+json";
		reply->body = (char *)OOM;
		reply->body_len = sizeof OOM - 1;
		reply->body_static = true;
		return;
	}
	reply->status = status;
	reply->content_type = content_type;
	reply->body = text;
	reply->body_len = strlen(text);
	reply->body_static = false;
}

static json_t *time_json(int64_t ms)
{
	char buf[TEXT_TIME_LEN + 1];
	text_format_time(ms, buf);
	return json_string(buf);
}

/* The owner as stored: never dropped, even if Redis holds bytes that are not
 * UTF-8 (written by something else): those become U+FFFD. */
static json_t *owner_json(const struct lock_view *v)
{
	char fixed[3 * LOCK_OWNER_MAX + 1];
	json_t *o;

	if (!v->has_owner)
		return json_null();
	o = json_stringn(v->owner, strlen(v->owner));
	if (o)
		return o;
	text_utf8_repair(v->owner, strlen(v->owner), fixed, sizeof fixed);
	return json_string(fixed);
}

/* The public view of a lock: never the token. */
static json_t *view_json(const struct lock_view *v)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "owner", owner_json(v));
	json_object_set_new(o, "fence", json_integer(v->fence));
	json_object_set_new(o, "ttl_ms", json_integer(v->ttl_ms));
	json_object_set_new(o, "expires_at", time_json(v->expires_ms));
	json_object_set_new(o, "acquired_at", time_json(v->acquired_ms));
	return o;
}

static json_t *grant_json(const struct lock_view *v)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "token", json_string(v->token));
	json_object_set_new(o, "fence", json_integer(v->fence));
	json_object_set_new(o, "ttl_ms", json_integer(v->ttl_ms));
	json_object_set_new(o, "expires_at", time_json(v->expires_ms));
	json_object_set_new(o, "owner", owner_json(v));
	return o;
}

/* A problem's detail as a JSON string, never dropped: bytes that are not
 * UTF-8 (a request's method is echoed in some) become U+FFFD. */
static json_t *detail_json(const char *detail)
{
	char fixed[3 * 256 + 1];
	json_t *s = json_string(detail);

	if (s)
		return s;
	text_utf8_repair(detail, strlen(detail), fixed, sizeof fixed);
	return json_string(fixed);
}

static void problem(struct api_reply *reply, enum dl_error e, const char *detail, const struct lock_view *holder)
{
	char type[64];
	json_t *o = json_object();
	int status = api_error_status(e);

	if (o) {
		snprintf(type, sizeof type, "urn:dlockd:problem:%s", dl_error_code(e));
		json_object_set_new(o, "type", json_string(type));
		json_object_set_new(o, "title", json_string(dl_strerror(e)));
		json_object_set_new(o, "status", json_integer(status));
		json_object_set_new(o, "detail", detail_json(detail && *detail ? detail : dl_strerror(e)));
		json_object_set_new(o, "code", json_string(dl_error_code(e)));
		if (reply->request_id[0]) {
			char instance[32 + API_REQUEST_ID_MAX];
			snprintf(instance, sizeof instance, "urn:dlockd:request:%s", reply->request_id);
			json_object_set_new(o, "instance", json_string(instance));
		}
		if (holder)
			json_object_set_new(o, "lock", view_json(holder));
	}
	set_json(reply, status, "application/problem+json", o);
	if (e == DL_BACKEND_UNAVAILABLE || e == DL_SHUTTING_DOWN || e == DL_TOO_MANY_WAITERS ||
	    e == DL_TOO_MANY_LISTS || e == DL_REPLICATION_UNCONFIRMED)
		add_retry_after(reply, 1);
	if (holder && e == DL_LOCK_HELD)
		add_retry_after(reply, (long long)lock_retry_after_s(holder->ttl_ms));
}

void api_error(struct api_reply *reply, enum dl_error e, const char *detail)
{
	problem(reply, e, detail, NULL);
}

static void reply_static(struct api_reply *reply, int status, const char *content_type, const char *body, size_t len)
{
	reply->status = status;
	reply->content_type = content_type;
	reply->body = (char *)body;
	reply->body_len = len;
	reply->body_static = true;
}

/* ---- backend callbacks ---- */

/* Lock state changes from one moment to the next: such replies are never cached. */
static bool is_lock_route(enum api_route r)
{
	return r == ROUTE_ACQUIRE || r == ROUTE_RENEW || r == ROUTE_RELEASE || r == ROUTE_INSPECT || r == ROUTE_LIST;
}

static void finish(struct api_call *c)
{
	struct api_reply *reply = c->reply;
	api_done_fn *done = c->done;
	void *arg = c->arg;

	reply->route = c->route;
	if (is_lock_route(c->route))
		add_header_str(reply, "Cache-Control", "no-store");
	free(c);
	done(arg);
}

/* The audit line of a lock operation's answer: outcome as a stable word. */
static void audit_reply(const struct api_call *c, const struct lock_reply *r)
{
	static const char *const OUTCOME[] = {
	    [LOCK_GRANTED] = "granted",
	    [LOCK_REACQUIRED] = "reacquired",
	    [LOCK_RENEWED] = "renewed",
	    [LOCK_RELEASED] = "released",
	    [LOCK_FOUND] = "found",
	    [LOCK_HELD] = "held",
	    [LOCK_RESERVED] = "reserved_for_waiter",
	    [LOCK_NOT_HELD] = "not_held",
	    [LOCK_TOKEN_MISMATCH] = "token_mismatch",
	    [LOCK_UNAVAILABLE] = "unavailable",
	    [LOCK_CANCELLED] = "shutting_down",
	    [LOCK_BACKEND_ERROR] = "backend_error",
	    [LOCK_INVALID_DATA] = "invalid_lock_data",
	    [LOCK_FENCE_EXHAUSTED] = "fence_exhausted",
	    [LOCK_UNCONFIRMED] = "replication_unconfirmed",
	};
	const char *outcome = (size_t)r->outcome < sizeof OUTCOME / sizeof OUTCOME[0] ? OUTCOME[r->outcome] : NULL;
	bool has_fence = r->outcome == LOCK_GRANTED || r->outcome == LOCK_REACQUIRED || r->outcome == LOCK_RENEWED ||
	                 r->outcome == LOCK_HELD || r->outcome == LOCK_TOKEN_MISMATCH;

	const char *key = c->who, *client, *name;

	if (!AUDIT_EVENT[c->route] || !log_enabled(LOG_INFO))
		return;
	client = who_next(key);
	name = who_next(client);
	if (r->handed_off)
		outcome = "handed_off";
	log_audit(AUDIT_EVENT[c->route], outcome ? outcome : "other", key, name,
	          has_fence ? (int64_t)r->view.fence : -1, client, c->reply->request_id);
}

/* Why Redis does not serve: the backend's fault if it knows one (e.g. the
 * Redis user lacks permissions), else fallback. */
static const char *unavailable(const struct api *api, const char *fallback)
{
	const char *fault = api->backend->ops->fault(api->backend);
	return fault ? fault : fallback;
}

static void on_lock_reply(void *arg, const struct lock_reply *r)
{
	struct api_call *c = arg;
	struct api_reply *reply = c->reply;
	const struct lock_view *v = &r->view;
	char detail[BACKEND_DETAIL_MAX + 160], when[TEXT_TIME_LEN + 1];

	switch (r->outcome) {
	case LOCK_GRANTED:
		metrics_inc(METRIC_ACQUISITIONS);
		set_json(reply, 201, "application/json", grant_json(v));
		snprintf(reply->grant_token, sizeof reply->grant_token, "%s", v->token);
		snprintf(reply->location, sizeof reply->location, "/locks/%s", v->name);
		add_header_str(reply, "Location", reply->location);
		break;
	case LOCK_REACQUIRED:
		metrics_inc(METRIC_REACQUISITIONS);
		set_json(reply, 200, "application/json", grant_json(v));
		break;
	case LOCK_RENEWED:
		metrics_inc(METRIC_RENEWALS);
		set_json(reply, 200, "application/json", grant_json(v));
		break;
	case LOCK_RELEASED:
		metrics_inc(METRIC_RELEASES);
		reply->status = 204;
		break;
	case LOCK_FOUND:
		set_json(reply, 200, "application/json", view_json(v));
		break;
	case LOCK_HELD:
		metrics_inc(METRIC_CONFLICTS);
		text_format_time(v->expires_ms, when);
		snprintf(detail, sizeof detail, "the lock is held until %s (fence %lld)", when, (long long)v->fence);
		problem(reply, DL_LOCK_HELD, detail, v);
		break;
	case LOCK_NOT_HELD:
		if (c->route == ROUTE_RENEW || c->route == ROUTE_RELEASE)
			metrics_inc(METRIC_EXPIRATIONS_SEEN);
		problem(reply, DL_NOT_HELD,
		        c->route == ROUTE_INSPECT ? "nobody holds the lock"
		                                  : "nobody holds the lock: it expired or was released",
		        NULL);
		break;
	case LOCK_TOKEN_MISMATCH:
		metrics_inc(METRIC_TOKEN_MISMATCHES);
		problem(reply, DL_TOKEN_MISMATCH, "the lock is held under another token", v);
		break;
	case LOCK_RESERVED:
		metrics_inc(METRIC_CONFLICTS);
		problem(reply, DL_LOCK_HELD, "the lock is being handed to a request that waited for it", NULL);
		add_retry_after(reply, 1);
		break;
	case LOCK_UNAVAILABLE:
		problem(reply, DL_BACKEND_UNAVAILABLE, unavailable(c->api, "Redis did not answer in time"), NULL);
		break;
	case LOCK_CANCELLED:
		problem(reply, DL_SHUTTING_DOWN, "dlockd is shutting down; retry on another instance", NULL);
		break;
	case LOCK_BACKEND_ERROR:
		problem(reply, DL_INTERNAL, "unexpected answer from Redis", NULL);
		break;
	case LOCK_INVALID_DATA:
		snprintf(detail, sizeof detail,
		         "Redis holds data under this lock's name that dlockd did not write (%s); dlockd leaves it "
		         "alone: an operator must delete the key",
		         r->detail[0] ? r->detail : "not a dlockd lock");
		problem(reply, DL_INVALID_LOCK_DATA, detail, NULL);
		break;
	case LOCK_FENCE_EXHAUSTED:
		problem(reply, DL_FENCE_EXHAUSTED,
		        "the fence counter of this name in Redis is at or above 2^53 - 1, a value dlockd cannot have "
		        "written; no higher fence can be issued. Acquires of this name fail until the counter expires "
		        "or an operator deletes it",
		        NULL);
		break;
	case LOCK_UNCONFIRMED:
		if (r->lease_kept)
			snprintf(detail, sizeof detail,
			         "%s; the lease stands on the Redis master, but a failover now could lose it: renew "
			         "again (with the same token) before relying on it",
			         r->detail[0] ? r->detail : "the replicas did not acknowledge the write");
		else
			snprintf(detail, sizeof detail,
			         "%s; the lock was released again and is not yours: acquire again",
			         r->detail[0] ? r->detail : "the replicas did not acknowledge the grant");
		problem(reply, DL_REPLICATION_UNCONFIRMED, detail, NULL);
		break;
	}
	audit_reply(c, r);
	finish(c);
}

static void on_list_reply(void *arg, const struct list_reply *r)
{
	struct api_call *c = arg;
	json_t *o, *arr;

	c->api->lists--;
	if (r->outcome == LOCK_UNAVAILABLE) {
		problem(c->reply, DL_BACKEND_UNAVAILABLE, unavailable(c->api, "Redis did not answer in time"), NULL);
	} else if (r->outcome != LOCK_FOUND) {
		problem(c->reply, DL_INTERNAL, "unexpected answer from Redis", NULL);
	} else {
		o = json_object();
		arr = json_array();
		for (size_t i = 0; arr && i < r->count; i++)
			json_array_append_new(arr, view_json(&r->locks[i]));
		if (o) {
			json_object_set_new(o, "locks", arr ? arr : json_array());
			json_object_set_new(o, "next_cursor",
			                    r->next_cursor[0] ? json_string(r->next_cursor) : json_null());
		} else {
			json_decref(arr);
		}
		set_json(c->reply, 200, "application/json", o);
	}
	finish(c);
}

static void on_ping(void *arg, bool ok)
{
	static const char READY[] = "{\"status\":\"ready\"}";
	struct api_call *c = arg;
	const char *warning = ok ? c->api->backend->ops->warning(c->api->backend) : NULL;

	if (warning) {
		/* Ready, but configured so that a promise can break: say what. */
		json_t *o = json_pack("{s:s, s:[s]}", "status", "ready", "warnings", warning);
		set_json(c->reply, 200, "application/json", o);
	} else if (ok) {
		reply_static(c->reply, 200, "application/json", READY, sizeof READY - 1);
	} else {
		problem(c->reply, DL_BACKEND_UNAVAILABLE, unavailable(c->api, "Redis does not answer"), NULL);
	}
	finish(c);
}

/* ---- routing: one table ---- */

/* The paths dlockd serves; lock paths carry a name. */
enum path_kind { PATH_NONE, PATH_HEALTH, PATH_READY, PATH_METRICS, PATH_SPEC, PATH_LIST, PATH_LOCK, PATH_RENEW };

/* What a routed request's operation has at hand: its reply, and (for the
 * operations that need them) its parsed parameters, lock name and token. */
struct ctx {
	struct api *api;
	struct api_reply *reply;
	api_done_fn *done;
	void *arg;
	struct api_call **pending;
	struct params p;
	char name[LOCK_NAME_MAX + 1];
	const char *token;                   /* the caller's token, or NULL */
	struct auth_key *key;                /* the caller's API key; NULL without an auth file */
	const char *client;                  /* the caller's address, or NULL */
	char list_prefix[LOCK_NAME_MAX + 1]; /* a list's prefix, scoped to the key's names */
};

/* An operation. Returns as api_handle() does. */
typedef bool handler_fn(struct ctx *x);

static handler_fn h_health, h_ready, h_metrics, h_spec, h_list, h_inspect, h_acquire, h_release, h_renew;

struct route {
	enum path_kind path;
	const char *method; /* "GET" also serves HEAD */
	enum api_route label;
	unsigned params; /* allowed parameters (PARAMS_BIT); ~0u: none parsed at all */
	bool body;       /* parameters may come in a JSON body */
	bool token;      /* takes the caller's token (Lock-Token header or parameter) */
	unsigned right;  /* the API key's right it needs (enum auth_right), 0: open to all */
	handler_fn *handler;
};

enum { NO_PARAMS = ~0u };

static const struct route ROUTES[] = {
    {PATH_HEALTH, "GET", ROUTE_HEALTH, NO_PARAMS, false, false, 0, h_health},
    {PATH_READY, "GET", ROUTE_READY, NO_PARAMS, false, false, 0, h_ready},
    {PATH_METRICS, "GET", ROUTE_METRICS, NO_PARAMS, false, false, AUTH_METRICS, h_metrics},
    {PATH_SPEC, "GET", ROUTE_SPEC, NO_PARAMS, false, false, 0, h_spec},
    {PATH_LIST, "GET", ROUTE_LIST, PARAMS_BIT(PARAM_PREFIX) | PARAMS_BIT(PARAM_LIMIT) | PARAMS_BIT(PARAM_CURSOR), false,
     false, AUTH_READ, h_list},
    {PATH_LOCK, "GET", ROUTE_INSPECT, 0, false, false, AUTH_READ, h_inspect},
    {PATH_LOCK, "PUT", ROUTE_ACQUIRE,
     PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL) | PARAMS_BIT(PARAM_OWNER) | PARAMS_BIT(PARAM_WAIT), true, true,
     AUTH_LOCK, h_acquire},
    {PATH_LOCK, "DELETE", ROUTE_RELEASE, PARAMS_BIT(PARAM_TOKEN), true, true, AUTH_LOCK, h_release},
    {PATH_RENEW, "POST", ROUTE_RENEW, PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL), true, true, AUTH_LOCK, h_renew},
};
enum { NROUTES = sizeof ROUTES / sizeof ROUTES[0] };

static const char *const ROUTE_LABELS[ROUTE_COUNT] = {
    [ROUTE_ACQUIRE] = "acquire", [ROUTE_RENEW] = "renew",    [ROUTE_RELEASE] = "release", [ROUTE_INSPECT] = "inspect",
    [ROUTE_LIST] = "list",       [ROUTE_HEALTH] = "healthz", [ROUTE_READY] = "readyz",    [ROUTE_METRICS] = "metrics",
    [ROUTE_SPEC] = "openapi",    [ROUTE_OTHER] = "other",
};

const char *const *api_route_labels(void)
{
	return ROUTE_LABELS;
}

static bool path_is(const struct api_request *req, const char *p)
{
	return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

/* Splits the raw path; for lock paths, seg and seg_len give the still-encoded name. */
static enum path_kind path_of(const struct api_request *req, const char **seg, size_t *seg_len)
{
	static const char LOCKS[] = "/locks/";
	static const struct {
		const char *path;
		enum path_kind kind;
	} FIXED[] = {{"/healthz", PATH_HEALTH},
	             {"/readyz", PATH_READY},
	             {"/metrics", PATH_METRICS},
	             {"/openapi.yaml", PATH_SPEC},
	             {"/locks", PATH_LIST}};
	const char *p = req->path, *slash;
	size_t rest;

	for (size_t i = 0; i < sizeof FIXED / sizeof FIXED[0]; i++)
		if (path_is(req, FIXED[i].path))
			return FIXED[i].kind;
	if (req->path_len < sizeof LOCKS - 1 || memcmp(p, LOCKS, sizeof LOCKS - 1) != 0)
		return PATH_NONE;
	p += sizeof LOCKS - 1;
	rest = req->path_len - (sizeof LOCKS - 1);
	slash = memchr(p, '/', rest);
	*seg = p;
	if (!slash) {
		*seg_len = rest;
		return PATH_LOCK;
	}
	*seg_len = (size_t)(slash - p);
	if ((size_t)(p + rest - slash) == strlen("/renew") && memcmp(slash, "/renew", 6) == 0)
		return PATH_RENEW;
	return PATH_NONE;
}

static bool method_matches(const struct route *r, const char *method)
{
	return strcmp(r->method, method) == 0 || (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* The route for req: *route is NULL when the path is unknown (*label other)
 * or the method is not served there (*label that of the path's first route). */
static void route_of(const struct api_request *req, const struct route **route, enum api_route *label,
                     enum path_kind *path, const char **seg, size_t *seg_len)
{
	*path = path_of(req, seg, seg_len);
	*route = NULL;
	*label = ROUTE_OTHER;
	for (size_t i = 0; i < NROUTES; i++) {
		if (ROUTES[i].path != *path)
			continue;
		if (*label == ROUTE_OTHER)
			*label = ROUTES[i].label;
		if (method_matches(&ROUTES[i], req->method)) {
			*route = &ROUTES[i];
			*label = ROUTES[i].label;
			return;
		}
	}
}

/* The Allow header's value for a path, from the table, into buf. */
static const char *allow_of(enum path_kind path, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++)
		if (ROUTES[i].path == path)
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s%s", n ? ", " : "", ROUTES[i].method,
			                      strcmp(ROUTES[i].method, "GET") == 0 ? ", HEAD" : "");
	return buf;
}

/* Picks the caller's token from the Lock-Token header or the parameters:
 * exactly one source. Returns DL_OK with *token set (NULL if none given). */
static enum dl_error pick_token(const struct api_request *req, const struct params *p, const char **token, char *detail,
                                size_t dlen)
{
	bool in_params = p->given & PARAMS_BIT(PARAM_TOKEN);

	*token = in_params ? p->token : NULL;
	if (req->lock_token_count == 0)
		return DL_OK;
	if (req->lock_token_count > 1) {
		snprintf(detail, dlen, "the Lock-Token header is given more than once");
		return DL_INVALID_TOKEN;
	}
	if (in_params) {
		snprintf(detail, dlen, "the token is given both in the Lock-Token header and as a parameter");
		return DL_INVALID_PARAMETER;
	}
	if (!lock_token_valid(req->lock_token, strlen(req->lock_token))) {
		snprintf(detail, dlen, "the Lock-Token header must be the token returned by an acquire");
		return DL_INVALID_TOKEN;
	}
	*token = req->lock_token;
	return DL_OK;
}

static bool start_failed(struct api_reply *reply, struct api_call *c, enum backend_start st)
{
	const char *why = c ? unavailable(c->api, "Redis is not connected") : "Redis is not connected";

	free(c);
	if (st == BACKEND_BAD_CURSOR)
		api_error(reply, DL_INVALID_CURSOR, "cursor must be a next_cursor value from a previous page");
	else if (st == BACKEND_NO_MEMORY)
		api_error(reply, DL_INTERNAL, "out of memory");
	else if (st == BACKEND_BUSY)
		api_error(reply, DL_TOO_MANY_WAITERS, "too many requests are waiting for locks; retry later");
	else
		api_error(reply, DL_BACKEND_UNAVAILABLE, why);
	return true;
}

/* ---- the operations ---- */

/* A pending call answering x's reply. NULL when out of memory (the reply then
 * says so). */
static struct api_call *call_new(struct ctx *x)
{
	bool audited = AUDIT_EVENT[x->reply->route] && log_enabled(LOG_INFO);
	const char *key = x->key ? x->key->id : "", *client = x->client ? x->client : "";
	size_t lk = strlen(key) + 1, lc = strlen(client) + 1, ln = strlen(x->name) + 1;
	struct api_call *c = calloc(1, sizeof *c + (audited ? lk + lc + ln : 1));

	if (!c) {
		api_error(x->reply, DL_INTERNAL, "out of memory");
		return NULL;
	}
	c->api = x->api;
	c->reply = x->reply;
	c->done = x->done;
	c->arg = x->arg;
	c->route = x->reply->route;
	if (audited) {
		memcpy(c->who, key, lk);
		memcpy(c->who + lk, client, lc);
		memcpy(c->who + lk + lc, x->name, ln);
	}
	return c;
}

/* Ends a handler that asked the backend: pending on c, or answered now. */
static bool started(struct ctx *x, struct api_call *c, enum backend_start st)
{
	if (st != BACKEND_STARTED)
		return start_failed(x->reply, c, st);
	*x->pending = c;
	return false;
}

static bool h_health(struct ctx *x)
{
	static const char OK[] = "{\"status\":\"ok\"}";
	reply_static(x->reply, 200, "application/json", OK, sizeof OK - 1);
	return true;
}

static bool h_metrics(struct ctx *x)
{
	size_t len, n = x->api->auth ? auth_count(x->api->auth) : 0;
	const char **ids = n ? calloc(n, sizeof *ids) : NULL;
	uint64_t *counts = n ? calloc(2 * n, sizeof *counts) : NULL;
	struct metrics_labelled per_key[] = {
	    {"dlockd_key_requests_total", "Requests authenticated with each API key since the auth file was loaded.",
	     "key", ids, counts, ids && counts ? n : 0},
	    {"dlockd_key_refused_total", "Of those, the ones refused (403 forbidden or 429 rate_limited).", "key", ids,
	     counts ? counts + n : NULL, ids && counts ? n : 0},
	};
	char *text;

	for (size_t i = 0; ids && counts && i < n; i++) {
		const struct auth_key *k = auth_key_at(x->api->auth, i);
		ids[i] = k->id;
		counts[i] = atomic_load_explicit(&k->requests, memory_order_relaxed);
		counts[n + i] = atomic_load_explicit(&k->refused, memory_order_relaxed);
	}
	text = metrics_render(&len, per_key, 2);
	free(ids);
	free(counts);

	if (!text) {
		api_error(x->reply, DL_INTERNAL, "out of memory");
		return true;
	}
	x->reply->status = 200;
	x->reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
	x->reply->body = text;
	x->reply->body_len = len;
	return true;
}

static bool h_spec(struct ctx *x)
{
	reply_static(x->reply, 200, "application/yaml", x->api->spec, x->api->spec_len);
	return true;
}

static bool h_ready(struct ctx *x)
{
	struct api_call *c = call_new(x);

	if (!c)
		return true;
	if (x->api->backend->ops->ping(x->api->backend, on_ping, c) != BACKEND_STARTED) {
		free(c);
		problem(x->reply, DL_BACKEND_UNAVAILABLE, unavailable(x->api, "Redis is not connected"), NULL);
		return true;
	}
	*x->pending = c;
	return false;
}

/* At most cfg->max_lists lists run at once (per api, so per thread): each
 * page costs Redis real work, and they queue on one connection. */
static bool h_list(struct ctx *x)
{
	struct api *api = x->api;
	struct list_request l = {
	    .prefix = x->key ? x->list_prefix : x->p.prefix, .limit = x->p.limit, .cursor = x->p.cursor};
	struct api_call *c;
	enum backend_start st;
	char detail[96];

	if (api->lists >= api->cfg->max_lists) {
		snprintf(detail, sizeof detail,
		         "%u list requests run already on this thread (--max-list-requests); retry later", api->lists);
		api_error(x->reply, DL_TOO_MANY_LISTS, detail);
		return true;
	}
	c = call_new(x);
	if (!c)
		return true;
	st = api->backend->ops->list(api->backend, &l, on_list_reply, c);
	if (st == BACKEND_STARTED)
		api->lists++;
	return started(x, c, st);
}

static bool h_inspect(struct ctx *x)
{
	struct lock_request lr = {.name = x->name};
	struct api_call *c = call_new(x);

	return !c || started(x, c, x->api->backend->ops->inspect(x->api->backend, &lr, on_lock_reply, c));
}

static bool h_acquire(struct ctx *x)
{
	const struct config *cfg = x->api->cfg;
	char new_token[LOCK_TOKEN_LEN + 1];
	struct lock_request lr = {
	    .name = x->name,
	    .token = new_token,
	    .reacquire_token = x->token,
	    .owner = (x->p.given & PARAMS_BIT(PARAM_OWNER)) ? x->p.owner : NULL,
	    .ttl_ms = (x->p.given & PARAMS_BIT(PARAM_TTL)) ? x->p.ttl_ms : cfg->default_ttl_ms,
	};
	struct api_call *c;
	enum backend_start st;

	if (lock_token_new(new_token) < 0) {
		api_error(x->reply, DL_INTERNAL, "the system random number generator failed");
		return true;
	}
	c = call_new(x);
	if (!c) {
		explicit_bzero(new_token, sizeof new_token);
		return true;
	}
	if (x->p.wait_ms > 0) {
		st = waiters_acquire(x->api->waiters, &lr, x->p.wait_ms, on_lock_reply, c, &c->waiter);
		x->reply->long_wait = st == BACKEND_STARTED;
	} else {
		st = x->api->backend->ops->acquire(x->api->backend, &lr, on_lock_reply, c);
	}
	explicit_bzero(new_token, sizeof new_token);
	return started(x, c, st);
}

/* Renew and release need the caller's token. */
static bool need_token(struct ctx *x)
{
	if (x->token)
		return true;
	api_error(x->reply, DL_MISSING_TOKEN,
	          "give the lock's token in the Lock-Token header (or as 'token' in the body or query)");
	return false;
}

static bool h_release(struct ctx *x)
{
	struct lock_request lr = {.name = x->name, .token = x->token};
	struct api_call *c;

	if (!need_token(x))
		return true;
	c = call_new(x);
	return !c || started(x, c, x->api->backend->ops->release(x->api->backend, &lr, on_lock_reply, c));
}

static bool h_renew(struct ctx *x)
{
	struct lock_request lr = {
	    .name = x->name,
	    .token = x->token,
	    .ttl_ms = (x->p.given & PARAMS_BIT(PARAM_TTL)) ? x->p.ttl_ms : 0,
	};
	struct api_call *c;

	if (!need_token(x))
		return true;
	c = call_new(x);
	return !c || started(x, c, x->api->backend->ops->renew(x->api->backend, &lr, on_lock_reply, c));
}

/* ---- API keys ---- */

/* A refusal for the key: the problem, its counter, and an audit line. */
static void deny(struct ctx *x, enum dl_error e, const char *detail, const char *name)
{
	static const char *const OUTCOME[DL_ERROR_COUNT] = {
	    [DL_UNAUTHORIZED] = "unauthorized", [DL_FORBIDDEN] = "forbidden", [DL_RATE_LIMITED] = "rate_limited"};

	api_error(x->reply, e, detail);
	if (x->key)
		auth_count_refused(x->key);
	metrics_inc(e == DL_UNAUTHORIZED ? METRIC_AUTH_UNAUTHORIZED
	            : e == DL_FORBIDDEN  ? METRIC_AUTH_FORBIDDEN
	                                 : METRIC_RATE_LIMITED);
	if (log_enabled(LOG_INFO))
		log_audit(ROUTE_LABELS[x->reply->route], OUTCOME[e], x->key ? x->key->id : NULL, name, -1, x->client,
		          x->reply->request_id);
}

/* Finds the request's API key (Authorization: Bearer KEY). False when it
 * has none that the auth file holds: *x's reply is then the 401. */
static bool authenticate(struct api *api, const struct api_request *req, struct ctx *x)
{
	static const char BEARER[] = "Bearer ";
	const char *v = req->authorization, *detail = NULL;
	size_t len = 0;

	if (req->authorization_count == 0)
		detail = "this dlockd needs an API key: send the header Authorization: Bearer <key>";
	else if (req->authorization_count > 1)
		detail = "the Authorization header is given more than once";
	else if (strncasecmp(v, BEARER, sizeof BEARER - 1) != 0)
		detail = "the Authorization header must be Bearer <key>";
	if (!detail) {
		v += sizeof BEARER - 1;
		while (*v == ' ')
			v++;
		len = strlen(v);
		x->key = len && len <= AUTH_KEY_MAX ? auth_find(api->auth, v, len) : NULL;
		if (!x->key)
			detail = "the API key is not known: mistyped, or no longer in the auth file";
	}
	if (!detail)
		return true;
	deny(x, DL_UNAUTHORIZED, detail, NULL);
	add_header_str(x->reply, "WWW-Authenticate",
	               req->authorization_count ? "Bearer realm=\"dlockd\", error=\"invalid_token\""
	                                        : "Bearer realm=\"dlockd\"");
	return false;
}

/* Whether the request may use the route at all: a known key, within its
 * rate, holding the route's right. Else *x's reply is the refusal. */
static bool admit(struct api *api, const struct api_request *req, const struct route *route, struct ctx *x)
{
	static const char *const RIGHT[] = {[AUTH_READ] = "read", [AUTH_LOCK] = "lock", [AUTH_METRICS] = "metrics"};
	char detail[256];
	uint64_t retry_ms;

	if (!authenticate(api, req, x))
		return false;
	auth_count_request(x->key);
	if (api->cfg->rate_limit && !auth_rate_take(x->key, loop_clock_us(), api->cfg->rate_limit, &retry_ms)) {
		snprintf(detail, sizeof detail,
		         "the key '%s' is over its %u requests a second (--rate-limit); the next fits in %llu ms",
		         x->key->id, api->cfg->rate_limit, (unsigned long long)retry_ms);
		deny(x, DL_RATE_LIMITED, detail, NULL);
		add_retry_after(x->reply, (long long)((retry_ms + 999) / 1000));
		return false;
	}
	if (!auth_has(x->key, route->right)) {
		snprintf(detail, sizeof detail, "the key '%s' does not hold the '%s' right this needs", x->key->id,
		         RIGHT[route->right]);
		deny(x, DL_FORBIDDEN, detail, NULL);
		return false;
	}
	return true;
}

/* A name outside the key's prefix: 403, the same whether or not the lock exists. */
static bool outside(struct ctx *x, const char *name)
{
	char detail[LOCK_NAME_MAX + 128];

	if (!x->key || auth_covers(x->key, name))
		return false;
	snprintf(detail, sizeof detail, "the key '%s' may use only lock names that start with '%s'", x->key->id,
	         x->key->prefix);
	deny(x, DL_FORBIDDEN, detail, name);
	return true;
}

/* Routes req through the table, checks its name and parameters as its route
 * says, and runs the route's operation. */
static bool handle(struct api *api, const struct api_request *req, struct api_reply *reply, api_done_fn *done,
                   void *arg, struct api_call **pending)
{
	struct ctx x = {
	    .api = api, .reply = reply, .done = done, .arg = arg, .pending = pending, .client = req->client};
	const struct route *route;
	enum path_kind path;
	const char *seg = NULL;
	size_t seg_len = 0;
	char detail[256];
	bool ready;

	memset(reply, 0, sizeof *reply);
	set_request_id(reply, req);
	route_of(req, &route, &reply->route, &path, &seg, &seg_len);
	if (path == PATH_NONE) {
		api_error(reply, DL_NOT_FOUND, "no such resource");
		return true;
	}
	if (!route) {
		/* the header's value must outlive this call: the reply's own buffer */
		allow_of(path, reply->allow, sizeof reply->allow);
		snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s", req->method, reply->allow);
		api_error(reply, DL_METHOD_NOT_ALLOWED, detail);
		add_header_str(reply, "Allow", reply->allow);
		return true;
	}
	if (api->auth && route->right && !(route->right == AUTH_METRICS && api->cfg->metrics_public) &&
	    !admit(api, req, route, &x))
		return true;
	if (route->params != NO_PARAMS) {
		const struct config *cfg = api->cfg;
		struct params_rules rules = {.min_ttl_ms = cfg->min_ttl_ms,
		                             .max_ttl_ms = cfg->max_ttl_ms,
		                             .max_wait_ms = cfg->max_wait_ms,
		                             .allowed = route->params,
		                             .body_allowed = route->body};
		enum dl_error e;

		if ((path == PATH_LOCK || path == PATH_RENEW) && !lock_name_decode(seg, seg_len, x.name)) {
			api_error(reply, DL_INVALID_NAME,
			          "a lock name is 1 to 255 bytes of A-Z a-z 0-9 . _ - : @ (percent-encoding allowed)");
			return true;
		}
		if ((path == PATH_LOCK || path == PATH_RENEW) && outside(&x, x.name))
			return true;
		e = params_parse(&x.p, &rules, req->query, req->query_len, req->body, req->body_len, req->content_type,
		                 detail, sizeof detail);
		if (e == DL_OK && route->token)
			e = pick_token(req, &x.p, &x.token, detail, sizeof detail);
		if (e != DL_OK) {
			api_error(reply, e, detail);
			return true;
		}
		if (path == PATH_LIST && x.key && !auth_list_prefix(x.key, x.p.prefix, x.list_prefix)) {
			char why[LOCK_NAME_MAX + 192];
			snprintf(
			    why, sizeof why,
			    "the key '%s' may list only names that start with '%s'; this prefix shares none with it",
			    x.key->id, x.key->prefix);
			deny(&x, DL_FORBIDDEN, why, NULL);
			return true;
		}
	}
	ready = route->handler(&x);
	explicit_bzero(&x.p.token, sizeof x.p.token);
	return ready;
}

void api_abandon(struct api_call *c)
{
	if (c->waiter)
		waiters_abandon(c->waiter);
	free(c);
}

void api_reject(const struct api_request *req, struct api_reply *reply, enum dl_error e, const char *detail)
{
	const char *seg;
	size_t seg_len;

	const struct route *route;
	enum path_kind path;

	memset(reply, 0, sizeof *reply);
	set_request_id(reply, req);
	api_error(reply, e, detail);
	route_of(req, &route, &reply->route, &path, &seg, &seg_len);
	if (is_lock_route(reply->route))
		add_header_str(reply, "Cache-Control", "no-store");
}

bool api_handle(struct api *api, const struct api_request *req, struct api_reply *reply, api_done_fn *done, void *arg,
                struct api_call **call)
{
	bool ready = handle(api, req, reply, done, arg, call);

	if (ready && is_lock_route(reply->route))
		add_header_str(reply, "Cache-Control", "no-store");
	return ready;
}
