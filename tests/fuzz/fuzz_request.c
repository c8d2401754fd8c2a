/* Fuzzes a request as api.c receives it from http.c: the raw target (path
 * routing, the lock name in it, the query string), the method, the
 * Content-Type and Lock-Token header values and the body. The input reads
 *
 *     METHOD\n TARGET\n (Header: value\n)* \n BODY
 *
 * and goes through api_handle() over a backend that records each call and
 * refuses it (503), so every reply is complete at once. A reply has a known
 * status, headers without control characters, a valid JSON body (a problem
 * with all its members for an error), Cache-Control: no-store on lock
 * routes and Allow on a 405; what reaches the backend is a valid lock name,
 * token, owner, lease, prefix, limit and cursor. A request with an
 * Authorization header goes to an API with keys instead (a reader and a
 * locker of "team-a.", and an admin): nothing reaches the backend without a
 * known key, a 401 says WWW-Authenticate, and what reaches it lies within
 * the key's prefix. */
#include "fuzz.h"

#include <jansson.h>
#include <strings.h>

#include "base/config.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "locks/waiters.h"
#include "base/digest.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/params.h"

#define SPEC "openapi: 3.1.0\n"

/* The last request the backend saw, copied. */
static struct {
	bool called;
	char name[LOCK_NAME_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];
	bool has_token;
	char owner[LOCK_OWNER_MAX + 1];
	bool has_owner;
	int64_t ttl_ms;
	bool list;
	char prefix[LOCK_NAME_MAX + 1];
	char cursor[BACKEND_CURSOR_MAX + 1];
	unsigned limit;
} seen;

static void copy(char *dst, size_t cap, const char *src, bool *given)
{
	if (given)
		*given = src != NULL;
	FUZZ_CHECK(!src || strlen(src) < cap, "the backend got a string of %zu bytes", strlen(src));
	snprintf(dst, cap, "%s", src ? src : "");
}

static enum backend_start on_lock(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	(void)b;
	(void)cb;
	(void)arg;
	seen.called = true;
	copy(seen.name, sizeof seen.name, req->name, NULL);
	copy(seen.token, sizeof seen.token, req->reacquire_token ? req->reacquire_token : req->token, &seen.has_token);
	copy(seen.owner, sizeof seen.owner, req->owner, &seen.has_owner);
	seen.ttl_ms = req->ttl_ms;
	return BACKEND_UNAVAILABLE;
}

static enum backend_start on_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	enum backend_start st = on_lock(b, req, cb, arg);
	/* the new token is dlockd's own; the caller's is reacquire_token */
	if (!req->reacquire_token)
		seen.has_token = false;
	FUZZ_CHECK(lock_token_valid(req->token, strlen(req->token)), "acquire without a new token");
	return st;
}

static enum backend_start on_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	(void)b;
	(void)cb;
	(void)arg;
	seen.called = seen.list = true;
	copy(seen.prefix, sizeof seen.prefix, req->prefix, NULL);
	copy(seen.cursor, sizeof seen.cursor, req->cursor, NULL);
	seen.limit = req->limit;
	return BACKEND_UNAVAILABLE;
}

static enum backend_start on_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	(void)b;
	(void)cb;
	(void)arg;
	return BACKEND_UNAVAILABLE;
}

static enum backend_start on_leave(struct backend *b, const char *name, const char *waiter)
{
	(void)b;
	(void)name;
	(void)waiter;
	return BACKEND_UNAVAILABLE;
}

static const char *on_warning(struct backend *b)
{
	(void)b;
	return NULL;
}

static void on_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	(void)b;
	(void)wake;
	(void)resync;
	(void)arg;
}

static void on_free(struct backend *b)
{
	(void)b;
}

static const struct backend_ops OPS = {
    .acquire = on_acquire,
    .renew = on_lock,
    .release = on_lock,
    .inspect = on_lock,
    .list = on_list,
    .ping = on_ping,
    .leave = on_leave,
    .warning = on_warning,
    .fault = on_warning,
    .watch = on_watch,
    .free = on_free,
};

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static void never_done(void *arg)
{
	(void)arg;
	fuzz_fail_(__FILE__, __LINE__, "a reply came later from a backend that refuses everything");
}

/* The keys of the API with an auth file. */
static const char *const KEYS[] = {"reader-key", "locker-key", "admin-key"};

static struct auth *the_keys(void)
{
	char text[1024], hex[3][2 * DIGEST_SHA256_LEN + 1], err[256];
	uint8_t h[DIGEST_SHA256_LEN];
	struct auth *a;

	for (int i = 0; i < 3; i++) {
		digest_sha256(KEYS[i], strlen(KEYS[i]), h);
		digest_hex(h, sizeof h, hex[i]);
	}
	snprintf(text, sizeof text,
	         "reader sha256:%s team-a. read\nlocker sha256:%s team-a. lock\nadmin sha256:%s * admin\n", hex[0],
	         hex[1], hex[2]);
	a = auth_parse(text, strlen(text), err, sizeof err);
	if (!a)
		abort();
	return a;
}

/* The API without keys (keyed false), or the one with the_keys(). */
static struct api *the_api(const struct config **cfg, bool keyed)
{
	static struct config c;
	static struct backend b = {&OPS};
	static struct api *api[2];
	char *argv[] = {(char *)"dlockd", NULL};
	char err[256];

	if (!api[0]) {
		struct loop *loop = loop_new();
		struct waiters *ws;
		struct auth *keys = the_keys();
		if (!loop || config_parse(&c, 1, argv, no_env, err, sizeof err) != CONFIG_OK)
			abort();
		ws = waiters_new(loop, &b, "fuzz", 0); /* every wait: 503 too many waiters */
		api[0] = ws ? api_new(&c, &b, ws, SPEC, strlen(SPEC), "fuzz-0", NULL) : NULL;
		api[1] = ws ? api_new(&c, &b, ws, SPEC, strlen(SPEC), "fuzz-1", keys) : NULL;
		auth_unref(keys); /* the API holds its own reference */
		if (!api[0] || !api[1])
			abort();
		metrics_set_routes(api_route_labels(), ROUTE_COUNT);
		log_setup(LOG_WARN, LOG_TEXT); /* no audit lines for millions of inputs */
	}
	*cfg = &c;
	return api[keyed];
}

static const struct api_header *header(const struct api_reply *r, const char *name)
{
	for (unsigned i = 0; i < r->nheaders; i++)
		if (strcmp(r->headers[i].name, name) == 0)
			return &r->headers[i];
	return NULL;
}

static void check_reply(const struct api_reply *r)
{
	const struct api_header *cc = header(r, "Cache-Control");
	bool lock_route = r->route == ROUTE_ACQUIRE || r->route == ROUTE_RENEW || r->route == ROUTE_RELEASE ||
	                  r->route == ROUTE_INSPECT || r->route == ROUTE_LIST;

	FUZZ_CHECK(r->status == 200 || r->status == 400 || r->status == 401 || r->status == 403 || r->status == 404 ||
	               r->status == 405 || r->status == 415 || r->status == 503,
	           "status %d", r->status);
	FUZZ_CHECK(r->status != 401 || header(r, "WWW-Authenticate"), "401 without WWW-Authenticate");
	FUZZ_CHECK(r->route < ROUTE_COUNT, "route %d", (int)r->route);
	FUZZ_CHECK(r->nheaders <= API_MAX_HEADERS, "%u headers", r->nheaders);
	for (unsigned i = 0; i < r->nheaders; i++)
		FUZZ_CHECK(r->headers[i].value && fuzz_printable(r->headers[i].value), "header %s has a bad value",
		           r->headers[i].name);
	FUZZ_CHECK(!lock_route || (cc && strcmp(cc->value, "no-store") == 0), "a lock route without no-store");
	FUZZ_CHECK(r->status != 405 || header(r, "Allow"), "405 without Allow");
	FUZZ_CHECK(r->body && r->content_type, "a reply without a body");
	if (strcmp(r->content_type, "application/problem+json") == 0 ||
	    strcmp(r->content_type, "application/json") == 0) {
		json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
		FUZZ_CHECK(doc && json_is_object(doc), "the body is not a JSON object");
		if (r->status >= 400) {
			FUZZ_CHECK(strcmp(r->content_type, "application/problem+json") == 0,
			           "an error that is no problem");
			FUZZ_CHECK(json_is_string(json_object_get(doc, "type")) &&
			               json_is_string(json_object_get(doc, "title")) &&
			               json_is_string(json_object_get(doc, "detail")) &&
			               json_is_string(json_object_get(doc, "code")) &&
			               json_integer_value(json_object_get(doc, "status")) == r->status,
			           "a problem without type, title, status, detail or code: %.*s", (int)r->body_len,
			           r->body);
		}
		json_decref(doc);
	}
}

/* With keys: which of KEYS the Authorization value presents exactly (-1: none). */
static int key_of(const char *authorization)
{
	for (int i = 0; authorization && i < 3; i++)
		if (strncasecmp(authorization, "Bearer ", 7) == 0 &&
		    strcmp(authorization + 7 + strspn(authorization + 7, " "), KEYS[i]) == 0)
			return i;
	return -1;
}

static void check_keys(const struct api_request *req, const struct api_reply *r)
{
	int k = req->authorization_count == 1 ? key_of(req->authorization) : -1;

	if (!seen.called)
		return;
	FUZZ_CHECK(k >= 0, "the backend was called without a known key (status %d)", r->status);
	if (k == 2)
		return;
	if (seen.list)
		FUZZ_CHECK(k == 0 && strncmp(seen.prefix, "team-a.", 7) == 0, "key %d listed prefix \"%s\"", k,
		           seen.prefix);
	else
		FUZZ_CHECK(strncmp(seen.name, "team-a.", 7) == 0, "key %d reached lock \"%s\"", k, seen.name);
}

static void check_backend_call(const struct config *cfg, const struct api_reply *r)
{
	if (!seen.called)
		return;
	FUZZ_CHECK(r->status == 503, "the backend refused, yet the status is %d", r->status);
	if (seen.list) {
		FUZZ_CHECK(lock_prefix_valid(seen.prefix, strlen(seen.prefix)), "listed with a bad prefix");
		FUZZ_CHECK(seen.limit >= 1 && seen.limit <= PARAMS_LIMIT_MAX, "listed with limit %u", seen.limit);
		FUZZ_CHECK(strspn(seen.cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		               strlen(seen.cursor),
		           "listed with a bad cursor");
		return;
	}
	FUZZ_CHECK(lock_name_valid(seen.name, strlen(seen.name)) && strcmp(seen.name, ".") != 0 &&
	               strcmp(seen.name, "..") != 0,
	           "the backend got the lock name \"%s\"", seen.name);
	FUZZ_CHECK(!seen.has_token || lock_token_valid(seen.token, strlen(seen.token)), "the backend got a bad token");
	FUZZ_CHECK(!seen.has_owner || lock_owner_valid(seen.owner, strlen(seen.owner)), "the backend got a bad owner");
	FUZZ_CHECK(seen.ttl_ms == 0 || (seen.ttl_ms >= cfg->min_ttl_ms && seen.ttl_ms <= cfg->max_ttl_ms),
	           "the backend got ttl_ms %lld", (long long)seen.ttl_ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config *cfg;
	struct api *api;
	struct fuzz_in in = {data, size};
	struct api_request req = {0};
	struct api_reply reply;
	struct api_call *call = NULL;
	char *method, *target, *ct = NULL, *token = NULL, *authz = NULL, *q;
	const char *s;
	size_t n;

	if (!fuzz_field(&in, '\n', &s, &n))
		return 0;
	method = fuzz_strndup(s, n); /* libmicrohttpd hands over C strings */
	target = fuzz_field(&in, '\n', &s, &n) ? fuzz_strndup(s, n) : fuzz_strndup("", 0);
	while (fuzz_field(&in, '\n', &s, &n) && n > 0) {
		const char *colon = memchr(s, ':', n);
		size_t name_len = colon ? (size_t)(colon - s) : n, vlen;
		const char *v = colon ? colon + 1 : s + n;
		vlen = (size_t)(s + n - v);
		while (vlen && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		if (name_len == 12 && strncasecmp(s, "Content-Type", 12) == 0) {
			free(ct);
			ct = fuzz_strndup(v, vlen);
		} else if (name_len == 10 && strncasecmp(s, "Lock-Token", 10) == 0) {
			free(token);
			token = fuzz_strndup(v, vlen);
			req.lock_token_count++;
		} else if (name_len == 13 && strncasecmp(s, "Authorization", 13) == 0) {
			free(authz);
			authz = fuzz_strndup(v, vlen);
			req.authorization_count++;
		}
	}
	req.method = method;
	req.path = target;
	req.path_len = strcspn(target, "?");
	q = target[req.path_len] == '?' ? target + req.path_len + 1 : NULL;
	req.query = q;
	req.query_len = q ? strlen(q) : 0;
	req.content_type = ct;
	req.lock_token = token;
	req.authorization = authz;
	req.body = (const char *)in.p;
	req.body_len = in.len;

	api = the_api(&cfg, req.authorization_count > 0);
	memset(&seen, 0, sizeof seen);
	FUZZ_CHECK(api_handle(api, &req, &reply, never_done, NULL, &call), "a reply is pending");
	check_reply(&reply);
	check_backend_call(cfg, &reply);
	if (req.authorization_count > 0)
		check_keys(&req, &reply);
	api_reply_release(&reply);
	free(method);
	free(target);
	free(ct);
	free(token);
	free(authz);
	return 0;
}
