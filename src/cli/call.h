/* call: dlock's requests to dlockd over libcurl — building each API request (URL, query,
 * Lock-Token header), running it with a timeout, and classifying the answer into dlock's
 * exit codes. Knows the HTTP API (openapi.yaml), not the command line or `dlock run`. */
#ifndef DLOCK_CALL_H
#define DLOCK_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/timing.h"

/* dlock's exit codes (sysexits.h values where one fits). */
enum {
	EXIT_NOT_HELD = 3,      /* renew/release: not held by that token */
	EXIT_USAGE = 64,        /* EX_USAGE */
	EXIT_UNAVAILABLE = 69,  /* EX_UNAVAILABLE: unreachable, or a 5xx */
	EXIT_LOST = 74,         /* run: the lock was lost while COMMAND ran */
	EXIT_NOT_ACQUIRED = 75, /* EX_TEMPFAIL: held, or the wait ran out */
	EXIT_AUTH = 77,         /* EX_NOPERM: 401/403 */
};

/* One request and its answer. status 0 = no answer (curl_code and err say why). */
struct call {
	CURL *h;
	struct curl_slist *hdrs;
	char *body;
	size_t len, cap;
	bool oom;
	long status;
	json_t *json; /* the body parsed, or NULL */
	int curl_code;
	char err[CURL_ERROR_SIZE];
	int64_t sent_ms; /* monotonic ms when the request was started */
};

/* The API key every later call sends (Authorization: Bearer KEY), or NULL for none.
 * Copied. False on no memory. */
bool call_set_api_key(const char *key);
/* Every later call trusts the CA certificates in file (PEM; CURLOPT_CAINFO) for https://
 * URLs instead of the system's; NULL: the system's. Call once at start, before any call. */
void call_set_cacert(const char *file);
/* Sets up c for method url (the caller's string, copied), with the Lock-Token header
 * when token is not NULL, the API key (call_set_api_key) and a total timeout of
 * timeout_ms. False on no memory. */
bool call_init(struct call *c, const char *method, const char *url, const char *token, int64_t timeout_ms);
/* Runs c to completion (blocking) and parses the answer. */
void call_perform(struct call *c);
/* After c's easy handle finished (by call_perform or a multi handle) with result rc:
 * sets status, json, curl_code, err. */
void call_finish(struct call *c, CURLcode rc);
/* Frees what call_init and the answer took; c may be re-initialised afterwards. */
void call_release(struct call *c);

/* "<base>/locks/<name escaped>[<suffix>]" in a malloc'd string, or NULL on no memory. */
char *call_lock_url(const char *base, const char *name, const char *suffix);
/* The acquire URL for name: ttl_ms (0: dlockd's default), wait_ms and owner (NULL: none)
 * in its query. malloc'd; NULL when out of memory. */
char *call_acquire_url(const char *base, const char *name, int64_t ttl_ms, int64_t wait_ms, const char *owner);
/* percent-encoded s, malloc'd (free with curl_free), or NULL */
char *call_escape(const char *s);

/* For an answer that is not the expected success: 69 (no answer, 5xx), 77 (401/403), 75
 * (429: over the key's rate; try later), or 0 when it is something the caller must judge (4xx). */
int call_failure_exit(const struct call *c);
/* One line for stderr saying what went wrong with c: the curl error or the problem's
 * detail, in buf. */
const char *call_describe(const struct call *c, char *buf, size_t size);

/* CLOCK_MONOTONIC in ms */
int64_t call_now_ms(void);

/* ---- failing over between dlockd replicas (several --url) ---- */

enum { CALL_URLS_MAX = 8 };

/* The dlockd replicas a command may ask: base URLs, tried in turn from `cur` (the last one
 * that answered). Replicas share Redis, so any of them serves any request. */
struct call_targets {
	const char *base[CALL_URLS_MAX];
	unsigned n;
	unsigned cur;
};

/* The request URL on one replica (malloc'd), or NULL when out of memory; wait_left_ms:
 * what is left of a waiting acquire's wait. */
typedef char *call_url_fn(const char *base, int64_t wait_left_ms, void *arg);

/* Whether the answer c sends the request on to the next replica: no answer at all
 * (refused, reset, timed out) or 503. Every other answer, 4xx included, is final. */
bool call_try_next(const struct call *c);

/* Sends method (with token, as call_init) to the replicas of t in turn, from t->cur, until
 * one gives an answer that call_try_next() does not pass on, or each was tried once. The
 * budget, timeout_ms + wait_ms, is for all attempts together; each gets an equal share of
 * what is left of it (timing_attempt_ms), a waiting acquire's wait on top. On return c
 * holds the last answer (call_release it) and t->cur the replica that gave it. False when
 * out of memory before any answer (nothing to release then). */
bool call_perform_any(struct call *c, struct call_targets *t, const char *method, call_url_fn *url, void *arg,
                      const char *token, int64_t timeout_ms, int64_t wait_ms);

#endif
