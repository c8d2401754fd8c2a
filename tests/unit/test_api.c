/* Unit tests for api.c over the fake backend (fake_backend.h): routes and
 * methods (404, 405 with Allow), parameter errors, every lock outcome as an
 * HTTP status, headers and body (parsed with jansson), the token kept out of
 * every body but a grant's, Cache-Control on lock routes, /readyz, waits,
 * refusals at start and undelivered grants. api_handle() may answer at once
 * (true) or later through its done callback: both are checked for. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/loop.h"
#include "base/text.h"
#include "fake_backend.h"
#include "locks/waiters.h"
#include "server/api.h"
#include "unit.h"

#define SECRET "SECRETxTOKENxNEVERxSHOWNxx123456" /* in every view the fake answers with */
#define CALLER "CALLERxTOKENxxxxxxxxxxxxxxxxx789" /* the token a client sends */
#define SPEC   "openapi: 3.1.0\ninfo: {title: t}\n"

enum { MAX_WAITERS = 2 };

#define NOW_MS INT64_C(1700000000000)

struct env {
	struct loop *loop;
	struct config cfg;
	struct fake_backend *fb;
	struct backend *b;
	struct waiters *ws;
	struct api *api;
};

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static void env_init(struct env *e)
{
	char *argv[] = {(char *)"dlockd", NULL};
	char err[256];

	memset(e, 0, sizeof *e);
	if (config_parse(&e->cfg, 1, argv, no_env, err, sizeof err) != CONFIG_OK) {
		printf("FAIL config_parse: %s\n", err);
		exit(1);
	}
	e->loop = loop_new();
	if (!e->loop)
		exit(1);
	e->fb = fake_new(e->loop);
	e->b = fake_backend(e->fb);
	e->ws = waiters_new(e->loop, e->b, 0, MAX_WAITERS);
	e->api = api_new(&e->cfg, e->b, e->ws, SPEC, strlen(SPEC), "unit-0", NULL);
	if (!e->ws || !e->api)
		exit(1);
}

static void env_free(struct env *e)
{
	CHECK_INT(fake_pending(e->fb, FAKE_ANY), 0, "backend calls left unanswered");
	waiters_cancel_all(e->ws);
	backend_free(e->b);
	waiters_free(e->ws);
	api_free(e->api);
	loop_free(e->loop);
}

/* ---- one request ---- */

struct rq {
	const char *method;
	const char *target; /* path?query */
	const char *body;
	const char *content_type;
	const char *lock_token;
	unsigned lock_tokens; /* 0: 1 if lock_token is set */
};

struct res {
	int line;
	bool sync;     /* api_handle() returned true */
	int done;      /* done() calls */
	int early;     /* done() calls from inside api_handle() */
	size_t ncalls; /* backend calls before the request */
	struct api_call *call;
	struct api_reply reply;
	json_t *json; /* the parsed body, if JSON */
	char body[4096];
};

static bool in_handle;

static void on_done(void *arg)
{
	struct res *r = arg;
	r->done++;
	r->early += in_handle;
}

/* Sends rq. Returns the backend call it started, or NULL if it answered at once. */
static struct fake_call *begin(struct env *e, const struct rq *q, struct res *r, int line)
{
	struct api_request req = {.method = q->method};
	const char *qm = strchr(q->target, '?');

	memset(r, 0, sizeof *r);
	r->line = line;
	req.path = q->target;
	req.path_len = qm ? (size_t)(qm - q->target) : strlen(q->target);
	req.query = qm ? qm + 1 : NULL;
	req.query_len = qm ? strlen(qm + 1) : 0;
	req.body = q->body ? q->body : "";
	req.body_len = q->body ? strlen(q->body) : 0;
	req.content_type = q->content_type;
	req.lock_token = q->lock_token;
	req.lock_token_count = q->lock_tokens ? q->lock_tokens : q->lock_token ? 1 : 0;
	r->ncalls = fake_ncalls(e->fb);
	loop_update_now(e->loop);
	in_handle = true;
	r->sync = api_handle(e->api, &req, &r->reply, on_done, r, &r->call);
	in_handle = false;
	if (r->sync)
		return NULL;
	unit_check_(r->done == 0, __FILE__, line, "%s %s: done() ran inside api_handle()", q->method, q->target);
	unit_check_(fake_ncalls(e->fb) > r->ncalls, __FILE__, line, "%s %s: pending, but no backend call was made",
	            q->method, q->target);
	return fake_last(e->fb, FAKE_ANY);
}

/* Waits for the answer (delivering what the test answered) and parses it. */
static void complete(struct env *e, struct res *r)
{
	fake_turn(e->loop);
	if (r->sync)
		unit_check_(r->done == 0, __FILE__, r->line, "done() called for an answer given at once");
	else
		unit_check_(r->done == 1, __FILE__, r->line, "done() called %d times, expected once", r->done);
	unit_check_(r->early == 0, __FILE__, r->line, "done() ran inside api_handle()");
	snprintf(r->body, sizeof r->body, "%.*s", (int)r->reply.body_len, r->reply.body ? r->reply.body : "");
	if (r->reply.content_type && strstr(r->reply.content_type, "json")) {
		json_error_t err;
		r->json = json_loadb(r->reply.body, r->reply.body_len, 0, &err);
		unit_check_(r->json != NULL, __FILE__, r->line, "the body is not JSON (%s): %s", err.text,
		            unit_escz(r->body));
	}
}

static void done_with(struct res *r)
{
	json_decref(r->json);
	api_reply_release(&r->reply);
}

static const char *header(const struct res *r, const char *name)
{
	for (unsigned i = 0; i < r->reply.nheaders; i++)
		if (strcmp(r->reply.headers[i].name, name) == 0)
			return r->reply.headers[i].value;
	return NULL;
}

static unsigned header_count(const struct res *r, const char *name)
{
	unsigned k = 0;
	for (unsigned i = 0; i < r->reply.nheaders; i++)
		k += strcmp(r->reply.headers[i].name, name) == 0;
	return k;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Checks a problem+json answer: status, code and the fields every problem has. */
static void check_problem(const struct res *r, int status, const char *code)
{
	char type[96];
	json_t *o = r->json;

	unit_check_(r->reply.status == status, __FILE__, r->line, "status %d, expected %d (body %s)", r->reply.status,
	            status, unit_escz(r->body));
	unit_check_(r->reply.content_type && strcmp(r->reply.content_type, "application/problem+json") == 0, __FILE__,
	            r->line, "content type %s, expected application/problem+json", unit_escz(r->reply.content_type));
	if (!unit_check_(json_is_object(o), __FILE__, r->line, "a problem body is a JSON object"))
		return;
	snprintf(type, sizeof type, "urn:dlockd:problem:%s", code);
	unit_check_(jstr(o, "code") && strcmp(jstr(o, "code"), code) == 0, __FILE__, r->line, "code %s, expected %s",
	            unit_escz(jstr(o, "code")), code);
	unit_check_(jstr(o, "type") && strcmp(jstr(o, "type"), type) == 0, __FILE__, r->line, "type %s, expected %s",
	            unit_escz(jstr(o, "type")), type);
	unit_check_(json_integer_value(json_object_get(o, "status")) == status, __FILE__, r->line,
	            "the body's status differs from the reply's");
	unit_check_(jstr(o, "title") && *jstr(o, "title") && jstr(o, "detail") && *jstr(o, "detail"), __FILE__, r->line,
	            "a problem has a title and a detail");
}

/* The view every lock answer of the fake carries (secret token included). */
static struct lock_view view_of(const char *name, int64_t fence, int64_t ttl)
{
	struct lock_view v;

	memset(&v, 0, sizeof v);
	snprintf(v.name, sizeof v.name, "%s", name);
	snprintf(v.owner, sizeof v.owner, "worker-7");
	v.has_owner = true;
	snprintf(v.token, sizeof v.token, SECRET);
	v.fence = fence;
	v.ttl_ms = ttl;
	v.now_ms = NOW_MS;
	v.acquired_ms = NOW_MS - 1234;
	v.expires_ms = NOW_MS + ttl;
	return v;
}

static bool time_is(json_t *o, const char *key, int64_t ms)
{
	char want[TEXT_TIME_LEN + 1];
	text_format_time(ms, want);
	return jstr(o, key) && strcmp(jstr(o, key), want) == 0;
}

/* A public view: name, owner, fence, ttl_ms, times; never a token. */
static void check_view_json(const struct res *r, json_t *o, const struct lock_view *v, const char *what)
{
	bool ok = json_is_object(o) && jstr(o, "name") && strcmp(jstr(o, "name"), v->name) == 0 && jstr(o, "owner") &&
	          strcmp(jstr(o, "owner"), v->owner) == 0 &&
	          json_integer_value(json_object_get(o, "fence")) == v->fence &&
	          json_integer_value(json_object_get(o, "ttl_ms")) == v->ttl_ms &&
	          time_is(o, "expires_at", v->expires_ms) && time_is(o, "acquired_at", v->acquired_ms);
	unit_check_(ok, __FILE__, r->line, "%s: not the lock's view: %s", what, unit_escz(r->body));
	unit_check_(json_object_get(o, "token") == NULL, __FILE__, r->line, "%s: a view with a token", what);
}

/* A grant: name, token, fence, ttl_ms, expires_at, owner. */
static void check_grant_json(const struct res *r, const struct lock_view *v)
{
	json_t *o = r->json;
	bool ok =
	    json_is_object(o) && jstr(o, "name") && strcmp(jstr(o, "name"), v->name) == 0 && jstr(o, "token") &&
	    strcmp(jstr(o, "token"), v->token) == 0 && json_integer_value(json_object_get(o, "fence")) == v->fence &&
	    json_integer_value(json_object_get(o, "ttl_ms")) == v->ttl_ms && time_is(o, "expires_at", v->expires_ms) &&
	    jstr(o, "owner") && strcmp(jstr(o, "owner"), v->owner) == 0;
	unit_check_(ok, __FILE__, r->line, "not the grant: %s", unit_escz(r->body));
}

static void check_no_store(const struct res *r, bool want)
{
	const char *cc = header(r, "Cache-Control");
	if (want)
		unit_check_(cc && strcmp(cc, "no-store") == 0 && header_count(r, "Cache-Control") == 1, __FILE__,
		            r->line, "Cache-Control %s (x%u), expected no-store once on a lock route", unit_escz(cc),
		            header_count(r, "Cache-Control"));
	else
		unit_check_(cc == NULL, __FILE__, r->line, "Cache-Control %s on a route that is not a lock's",
		            unit_escz(cc));
}

/* ---- routes and methods ---- */

static bool is_lock_path(const char *p)
{
	return strncmp(p, "/locks", 6) == 0;
}

static void test_routes(void)
{
	static const struct {
		const char *path;
		const char *allow; /* NULL: no such route */
	} P[] = {
	    {"/healthz", "GET, HEAD"},
	    {"/readyz", "GET, HEAD"},
	    {"/metrics", "GET, HEAD"},
	    {"/openapi.yaml", "GET, HEAD"},
	    {"/locks", "GET, HEAD"},
	    {"/locks/a", "GET, HEAD, PUT, DELETE"},
	    {"/locks/a/renew", "POST"},
	    {"/", NULL},
	    {"/nope", NULL},
	    {"/healthz/", NULL},
	    {"/lock", NULL},
	    {"/locksx", NULL},
	    {"/locks/a/b", NULL},
	    {"/locks/a/renew/x", NULL},
	    {"/locks/a/renewx", NULL},
	    {"/HEALTHZ", NULL},
	};
	static const char *const M[] = {"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "get", "GE\xbbT"};
	struct env e;

	env_init(&e);
	fake_refuse(e.fb, FAKE_ACQUIRE, BACKEND_UNAVAILABLE, FAKE_ALWAYS); /* allowed requests: answered 503 */
	for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
		for (size_t j = 0; j < sizeof M / sizeof M[0]; j++) {
			struct rq q = {.method = M[j], .target = P[i].path};
			struct res r;
			bool allowed = P[i].allow && strstr(P[i].allow, M[j]) != NULL;
			struct fake_call *c = begin(&e, &q, &r, __LINE__);
			if (c && c->op == FAKE_PING)
				fake_answer_ok(c, true);
			else if (c && c->op == FAKE_LIST)
				fake_answer_list(c, LOCK_FOUND, NULL, 0, NULL);
			else if (c)
				fake_answer(c, LOCK_UNAVAILABLE, NULL);
			complete(&e, &r);
			if (!P[i].allow) {
				check_problem(&r, 404, "not_found");
				CHECK(header(&r, "Allow") == NULL, "%s %s: a 404 with Allow", M[j], P[i].path);
				CHECK(r.sync, "%s %s: a 404 is answered at once", M[j], P[i].path);
			} else if (!allowed) {
				check_problem(&r, 405, "method_not_allowed");
				CHECK(header(&r, "Allow") && strcmp(header(&r, "Allow"), P[i].allow) == 0,
				      "%s %s: Allow %s, expected %s", M[j], P[i].path, unit_escz(header(&r, "Allow")),
				      P[i].allow);
				CHECK(r.sync, "%s %s: a 405 is answered at once", M[j], P[i].path);
				CHECK(strstr(jstr(r.json, "detail") ? jstr(r.json, "detail") : "", P[i].allow) != NULL,
				      "%s %s: the detail names what is allowed", M[j], P[i].path);
			} else {
				CHECK(r.reply.status != 404 && r.reply.status != 405, "%s %s: status %d", M[j],
				      P[i].path, r.reply.status);
				CHECK(header(&r, "Allow") == NULL, "%s %s: Allow on an allowed method", M[j],
				      P[i].path);
			}
			check_no_store(&r, P[i].allow && is_lock_path(P[i].path));
			if (!allowed)
				CHECK(fake_ncalls(e.fb) == r.ncalls, "%s %s: refused, yet the backend was called", M[j],
				      P[i].path);
			done_with(&r);
		}
	}
	fake_refuse(e.fb, FAKE_ACQUIRE, BACKEND_STARTED, 0);

	/* the routes that answer on their own */
	{
		struct rq q = {.method = "GET", .target = "/healthz"};
		struct res r;
		CHECK(begin(&e, &q, &r, __LINE__) == NULL, "/healthz answers at once");
		complete(&e, &r);
		CHECK(r.reply.status == 200 && strcmp(r.body, "{\"status\":\"ok\"}") == 0, "/healthz: %d %s",
		      r.reply.status, unit_escz(r.body));
		CHECK_STR(r.reply.content_type, "application/json", "/healthz content type");
		CHECK_INT(r.reply.route, ROUTE_HEALTH, "/healthz route label");
		done_with(&r);
	}
	{
		struct rq q = {.method = "GET", .target = "/openapi.yaml"};
		struct res r;
		CHECK(begin(&e, &q, &r, __LINE__) == NULL, "/openapi.yaml answers at once");
		complete(&e, &r);
		CHECK(r.reply.status == 200 && strcmp(r.body, SPEC) == 0, "/openapi.yaml: %d %s", r.reply.status,
		      unit_escz(r.body));
		CHECK_STR(r.reply.content_type, "application/yaml", "/openapi.yaml content type");
		done_with(&r);
	}
	{
		struct rq q = {.method = "GET", .target = "/metrics"};
		struct res r;
		CHECK(begin(&e, &q, &r, __LINE__) == NULL, "/metrics answers at once");
		complete(&e, &r);
		CHECK(r.reply.status == 200 && strstr(r.body, "dlockd_") != NULL, "/metrics: %d", r.reply.status);
		CHECK(r.reply.content_type && strncmp(r.reply.content_type, "text/plain", 10) == 0,
		      "/metrics content type %s", unit_escz(r.reply.content_type));
		done_with(&r);
	}
	env_free(&e);
}

/* ---- parameter errors: answered at once, the backend never asked ---- */

static void test_param_errors(void)
{
	static const struct {
		int line;
		struct rq q;
		int status;
		const char *code;
	} T[] = {
	    {__LINE__, {.method = "PUT", .target = "/locks/bad%ZZ"}, 400, "invalid_name"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a%20b"}, 400, "invalid_name"},
	    {__LINE__, {.method = "PUT", .target = "/locks/"}, 400, "invalid_name"},
	    {__LINE__, {.method = "GET", .target = "/locks/a*b"}, 400, "invalid_name"},
	    {__LINE__, {.method = "POST", .target = "/locks/%2F/renew", .lock_token = CALLER}, 400, "invalid_name"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?ttl_ms=abc"}, 400, "invalid_ttl"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?ttl_ms=99"}, 400, "invalid_ttl"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?ttl_ms=86400001"}, 400, "invalid_ttl"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?wait_ms=-1"}, 400, "invalid_wait"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?wait_ms=60001"}, 400, "invalid_wait"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?owner=%01"}, 400, "invalid_owner"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?token=no!"}, 400, "invalid_token"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a", .lock_token = "no token"}, 400, "invalid_token"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .lock_token = CALLER, .lock_tokens = 2},
	     400,
	     "invalid_token"},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a?token=" CALLER, .lock_token = CALLER},
	     400,
	     "invalid_parameter"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?foo=1"}, 400, "invalid_parameter"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a?ttl_ms=1000&ttl_ms=2000"}, 400, "invalid_parameter"},
	    {__LINE__, {.method = "GET", .target = "/locks/a?ttl_ms=1000"}, 400, "invalid_parameter"},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a", .body = "{}", .content_type = "application/json"},
	     400,
	     "invalid_parameter"},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a?ttl_ms=1000", .lock_token = CALLER},
	     400,
	     "invalid_parameter"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .body = "ttl_ms=1000", .content_type = "text/plain"},
	     415,
	     "unsupported_media_type"},
	    {__LINE__, {.method = "PUT", .target = "/locks/a", .body = "{}"}, 415, "unsupported_media_type"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .body = "{", .content_type = "application/json"},
	     400,
	     "invalid_json"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .body = "[1]", .content_type = "application/json"},
	     400,
	     "invalid_json"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .body = "{\"ttl_ms\":\"5\"}", .content_type = "application/json"},
	     400,
	     "invalid_ttl"},
	    {__LINE__,
	     {.method = "PUT",
	      .target = "/locks/a",
	      .body = "{\"ttl_ms\":1000}",
	      .content_type = "application/json",
	      .lock_token = "a b"},
	     400,
	     "invalid_token"},
	    {__LINE__, {.method = "DELETE", .target = "/locks/a"}, 400, "missing_token"},
	    {__LINE__, {.method = "POST", .target = "/locks/a/renew"}, 400, "missing_token"},
	    {__LINE__, {.method = "POST", .target = "/locks/a/renew?ttl_ms=1000"}, 400, "missing_token"},
	    {__LINE__, {.method = "GET", .target = "/locks?limit=0"}, 400, "invalid_limit"},
	    {__LINE__, {.method = "GET", .target = "/locks?limit=1001"}, 400, "invalid_limit"},
	    {__LINE__, {.method = "GET", .target = "/locks?prefix=a%20"}, 400, "invalid_prefix"},
	    {__LINE__, {.method = "GET", .target = "/locks?cursor=!!"}, 400, "invalid_cursor"},
	    {__LINE__, {.method = "GET", .target = "/locks?owner=x"}, 400, "invalid_parameter"},
	};
	struct env e;

	env_init(&e);
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct res r;
		struct fake_call *c = begin(&e, &T[i].q, &r, T[i].line);
		if (c)
			fake_answer(c, LOCK_NOT_HELD, NULL); /* (should not happen) */
		complete(&e, &r);
		unit_check_(r.sync, __FILE__, T[i].line, "%s %s: a parameter error is answered at once", T[i].q.method,
		            T[i].q.target);
		check_problem(&r, T[i].status, T[i].code);
		check_no_store(&r, true);
		unit_check_(fake_ncalls(e.fb) == r.ncalls, __FILE__, T[i].line, "%s %s: the backend was called",
		            T[i].q.method, T[i].q.target);
		unit_check_(strstr(r.body, CALLER) == NULL, __FILE__, T[i].line, "the caller's token in an error body");
		unit_check_(!r.reply.grant_token[0], __FILE__, T[i].line, "an error with a grant token");
		done_with(&r);
	}
	env_free(&e);
}

/* ---- what the backend is asked ---- */

static void test_requests(void)
{
	struct env e;
	struct res r;
	struct fake_call *c;

	env_init(&e);
	/* acquire: a new token (never the caller's), the caller's as the re-acquire token */
	{
		struct rq q = {
		    .method = "PUT", .target = "/locks/a%3Ab?ttl_ms=5000&owner=build%20bot", .lock_token = CALLER};
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_ACQUIRE, "PUT: an acquire")) {
			CHECK_STR(c->name, "a:b", "acquire: the decoded name");
			CHECK(c->has_token && strlen(c->token) == LOCK_TOKEN_LEN &&
			          lock_token_valid(c->token, strlen(c->token)) && strcmp(c->token, CALLER) != 0,
			      "acquire: a new token %s", unit_escz(c->token));
			CHECK(c->has_reacquire_token && strcmp(c->reacquire_token, CALLER) == 0,
			      "acquire: re-acquire token %s", unit_escz(c->reacquire_token));
			CHECK(c->has_owner && strcmp(c->owner, "build bot") == 0, "acquire: owner %s",
			      unit_escz(c->owner));
			CHECK_INT(c->ttl_ms, 5000, "acquire: ttl_ms");
			CHECK(!c->has_waiter, "acquire without wait_ms: no waiter");
			fake_answer(c, LOCK_BACKEND_ERROR, NULL);
		}
		complete(&e, &r);
		done_with(&r);
	}
	{
		char first[LOCK_TOKEN_MAX + 1] = "";
		struct rq q = {.method = "PUT", .target = "/locks/a"};
		for (int k = 0; k < 2; k++) {
			c = begin(&e, &q, &r, __LINE__);
			if (CHECK(c && c->op == FAKE_ACQUIRE, "PUT: an acquire")) {
				CHECK_INT(c->ttl_ms, e.cfg.default_ttl_ms, "acquire without ttl_ms: the default lease");
				CHECK(!c->has_owner, "acquire without owner: none");
				CHECK(!c->has_reacquire_token, "acquire without a token: no re-acquire");
				CHECK(strcmp(c->token, first) != 0, "every acquire gets a new token");
				snprintf(first, sizeof first, "%s", c->token);
				fake_answer(c, LOCK_UNAVAILABLE, NULL);
			}
			complete(&e, &r);
			done_with(&r);
		}
	}
	/* parameters in a JSON body, the token among them */
	{
		struct rq q = {.method = "PUT",
		               .target = "/locks/j",
		               .body = "{\"ttl_ms\":2500,\"owner\":\"o\",\"token\":\"" CALLER "\"}",
		               .content_type = "application/json; charset=utf-8"};
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_ACQUIRE, "PUT with a JSON body: an acquire")) {
			CHECK(c->ttl_ms == 2500 && strcmp(c->owner, "o") == 0 &&
			          strcmp(c->reacquire_token, CALLER) == 0,
			      "acquire from a JSON body: ttl %lld owner %s", (long long)c->ttl_ms, unit_escz(c->owner));
			fake_answer(c, LOCK_UNAVAILABLE, NULL);
		}
		complete(&e, &r);
		done_with(&r);
	}
	/* renew: the caller's token; ttl_ms 0 for the lock's own */
	{
		struct rq q1 = {.method = "POST", .target = "/locks/r/renew", .lock_token = CALLER};
		struct rq q2 = {.method = "POST", .target = "/locks/r/renew?ttl_ms=7000&token=" CALLER};
		c = begin(&e, &q1, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_RENEW, "POST renew: a renew"))
			CHECK(strcmp(c->name, "r") == 0 && strcmp(c->token, CALLER) == 0 && c->ttl_ms == 0,
			      "renew(%s, %s, %lld)", unit_escz(c->name), unit_escz(c->token), (long long)c->ttl_ms);
		fake_answer(c, LOCK_UNAVAILABLE, NULL);
		complete(&e, &r);
		done_with(&r);
		c = begin(&e, &q2, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_RENEW, "POST renew: a renew"))
			CHECK(strcmp(c->token, CALLER) == 0 && c->ttl_ms == 7000, "renew with ttl: %s %lld",
			      unit_escz(c->token), (long long)c->ttl_ms);
		fake_answer(c, LOCK_UNAVAILABLE, NULL);
		complete(&e, &r);
		done_with(&r);
	}
	/* release, inspect, list */
	{
		struct rq q = {.method = "DELETE", .target = "/locks/d", .lock_token = CALLER};
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_RELEASE, "DELETE: a release"))
			CHECK(strcmp(c->name, "d") == 0 && strcmp(c->token, CALLER) == 0, "release(%s, %s)",
			      unit_escz(c->name), unit_escz(c->token));
		fake_answer(c, LOCK_UNAVAILABLE, NULL);
		complete(&e, &r);
		done_with(&r);
	}
	{
		struct rq q = {.method = "HEAD", .target = "/locks/h"};
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_INSPECT, "HEAD: an inspect"))
			CHECK_STR(c->name, "h", "inspect name");
		fake_answer(c, LOCK_NOT_HELD, NULL);
		complete(&e, &r);
		CHECK_INT(r.reply.route, ROUTE_INSPECT, "HEAD /locks/h route label");
		done_with(&r);
	}
	{
		struct rq q = {.method = "GET", .target = "/locks?prefix=job-&limit=2&cursor=abc"};
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_LIST, "GET /locks: a list"))
			CHECK(strcmp(c->prefix, "job-") == 0 && c->limit == 2 && strcmp(c->cursor, "abc") == 0,
			      "list(%s, %u, %s)", unit_escz(c->prefix), c->limit, unit_escz(c->cursor));
		fake_answer_list(c, LOCK_UNAVAILABLE, NULL, 0, NULL);
		complete(&e, &r);
		done_with(&r);
		q.target = "/locks";
		c = begin(&e, &q, &r, __LINE__);
		if (CHECK(c && c->op == FAKE_LIST, "GET /locks: a list"))
			CHECK(strcmp(c->prefix, "") == 0 && c->limit == 100 && (!c->has_cursor || !c->cursor[0]),
			      "list defaults: %s, %u, %s", unit_escz(c->prefix), c->limit, unit_escz(c->cursor));
		fake_answer_list(c, LOCK_UNAVAILABLE, NULL, 0, NULL);
		complete(&e, &r);
		done_with(&r);
	}
	env_free(&e);
}

/* ---- outcomes → statuses, headers, bodies ---- */

enum body_kind { B_GRANT, B_VIEW, B_PROBLEM, B_PROBLEM_LOCK, B_NONE };

static void test_outcomes(void)
{
	static const struct {
		int line;
		struct rq q;
		enum fake_op op;
		enum lock_outcome outcome;
		int status;
		const char *code; /* problems */
		enum body_kind body;
		const char *retry_after; /* NULL: none */
		bool location;
	} T[] = {
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a?ttl_ms=5000"},
	     FAKE_ACQUIRE,
	     LOCK_GRANTED,
	     201,
	     NULL,
	     B_GRANT,
	     NULL,
	     true},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_ACQUIRE,
	     LOCK_REACQUIRED,
	     200,
	     NULL,
	     B_GRANT,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_HELD,
	     409,
	     "lock_held",
	     B_PROBLEM_LOCK,
	     "3",
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_RESERVED,
	     409,
	     "lock_held",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_CANCELLED,
	     503,
	     "shutting_down",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_BACKEND_ERROR,
	     500,
	     "internal_error",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_RENEWED,
	     200,
	     NULL,
	     B_GRANT,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_NOT_HELD,
	     404,
	     "not_held",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_TOKEN_MISMATCH,
	     409,
	     "token_mismatch",
	     B_PROBLEM_LOCK,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_BACKEND_ERROR,
	     500,
	     "internal_error",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     LOCK_RELEASED,
	     204,
	     NULL,
	     B_NONE,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     LOCK_NOT_HELD,
	     404,
	     "not_held",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     LOCK_TOKEN_MISMATCH,
	     409,
	     "token_mismatch",
	     B_PROBLEM_LOCK,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     LOCK_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     LOCK_FOUND,
	     200,
	     NULL,
	     B_VIEW,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     LOCK_NOT_HELD,
	     404,
	     "not_held",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     LOCK_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     B_PROBLEM,
	     "1",
	     false},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     LOCK_BACKEND_ERROR,
	     500,
	     "internal_error",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     LOCK_INVALID_DATA,
	     500,
	     "invalid_lock_data",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_INVALID_DATA,
	     500,
	     "invalid_lock_data",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     LOCK_FENCE_EXHAUSTED,
	     500,
	     "fence_exhausted",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     LOCK_INVALID_DATA,
	     500,
	     "invalid_lock_data",
	     B_PROBLEM,
	     NULL,
	     false},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     LOCK_INVALID_DATA,
	     500,
	     "invalid_lock_data",
	     B_PROBLEM,
	     NULL,
	     false},
	};
	struct env e;

	env_init(&e);
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct res r;
		/* 2500 ms left: Retry-After rounds up to 3 */
		struct lock_view v = view_of("a", 77, 2500);
		struct fake_call *c = begin(&e, &T[i].q, &r, T[i].line);
		const char *ra;

		if (!unit_check_(c && c->op == T[i].op, __FILE__, T[i].line, "%s %s: expected a %s call", T[i].q.method,
		                 T[i].q.target, fake_op_name(T[i].op))) {
			if (c)
				fake_answer(c, T[i].outcome, &v);
			complete(&e, &r);
			done_with(&r);
			continue;
		}
		fake_answer(c, T[i].outcome, &v);
		CHECK_INT(r.done, 0, "done() before the loop delivered the answer");
		complete(&e, &r);
		unit_check_(r.reply.status == T[i].status, __FILE__, T[i].line, "%s: status %d, expected %d",
		            lock_outcome_str(T[i].outcome), r.reply.status, T[i].status);
		switch (T[i].body) {
		case B_GRANT:
			CHECK_STR(r.reply.content_type, "application/json", "a grant's content type");
			check_grant_json(&r, &v);
			break;
		case B_VIEW:
			CHECK_STR(r.reply.content_type, "application/json", "a view's content type");
			check_view_json(&r, r.json, &v, "inspect");
			break;
		case B_PROBLEM:
		case B_PROBLEM_LOCK:
			check_problem(&r, T[i].status, T[i].code);
			if (T[i].body == B_PROBLEM_LOCK)
				check_view_json(&r, json_object_get(r.json, "lock"), &v, "the holder");
			else
				unit_check_(json_object_get(r.json, "lock") == NULL, __FILE__, T[i].line,
				            "%s: a problem with a lock view", lock_outcome_str(T[i].outcome));
			break;
		case B_NONE:
			unit_check_(r.reply.body_len == 0 && r.reply.content_type == NULL, __FILE__, T[i].line,
			            "204 with a body %s", unit_escz(r.body));
			break;
		}
		/* the token: only in a grant's body, and only a new grant is remembered as one */
		if (T[i].body != B_GRANT)
			unit_check_(strstr(r.body, SECRET) == NULL && strstr(r.body, CALLER) == NULL, __FILE__,
			            T[i].line, "%s: a token in the body %s", lock_outcome_str(T[i].outcome),
			            unit_escz(r.body));
		unit_check_((strcmp(r.reply.grant_token, SECRET) == 0 && strcmp(api_grant_name(&r.reply), "a") == 0) ==
		                (T[i].outcome == LOCK_GRANTED),
		            __FILE__, T[i].line, "%s: grant_name %s, grant_token %s", lock_outcome_str(T[i].outcome),
		            unit_escz(api_grant_name(&r.reply)), unit_escz(r.reply.grant_token));
		ra = header(&r, "Retry-After");
		unit_check_(T[i].retry_after ? ra && strcmp(ra, T[i].retry_after) == 0 : ra == NULL, __FILE__,
		            T[i].line, "%s: Retry-After %s, expected %s", lock_outcome_str(T[i].outcome), unit_escz(ra),
		            unit_escz(T[i].retry_after));
		unit_check_(T[i].location ? header(&r, "Location") && strcmp(header(&r, "Location"), "/locks/a") == 0
		                          : header(&r, "Location") == NULL,
		            __FILE__, T[i].line, "%s: Location %s", lock_outcome_str(T[i].outcome),
		            unit_escz(header(&r, "Location")));
		check_no_store(&r, true);
		done_with(&r);
	}

	/* Retry-After for a holder: the lease left, in whole seconds rounded up */
	{
		static const struct {
			int64_t ttl;
			const char *want;
		} RA[] = {{1, "1"}, {999, "1"}, {1000, "1"}, {1001, "2"}, {60000, "60"}};
		for (size_t i = 0; i < sizeof RA / sizeof RA[0]; i++) {
			struct rq q = {.method = "PUT", .target = "/locks/a"};
			struct res r;
			struct lock_view v = view_of("a", 1, RA[i].ttl);
			fake_answer(begin(&e, &q, &r, __LINE__), LOCK_HELD, &v);
			complete(&e, &r);
			CHECK(header(&r, "Retry-After") && strcmp(header(&r, "Retry-After"), RA[i].want) == 0,
			      "held with %lld ms left: Retry-After %s, expected %s", (long long)RA[i].ttl,
			      unit_escz(header(&r, "Retry-After")), RA[i].want);
			done_with(&r);
		}
	}
	/* data that dlockd did not write: the detail says what the backend found;
	 * an exhausted fence counter: why */
	{
		static const struct {
			enum lock_outcome o;
			const char *detail, *want;
		} D[] = {
		    {LOCK_INVALID_DATA, "the lock key holds a string, not a hash",
		     "(the lock key holds a string, not a hash)"},
		    {LOCK_INVALID_DATA, "", "(not a dlockd lock)"},
		    {LOCK_FENCE_EXHAUSTED, "", "at or above 2^53 - 1, a value dlockd cannot have written"},
		};
		for (size_t i = 0; i < sizeof D / sizeof D[0]; i++) {
			struct rq q = {.method = "PUT", .target = "/locks/a"};
			struct res r;
			struct lock_reply lr;
			memset(&lr, 0, sizeof lr);
			lr.outcome = D[i].o;
			lr.view = view_of("a", 1, 1000);
			snprintf(lr.detail, sizeof lr.detail, "%s", D[i].detail);
			fake_answer_reply(begin(&e, &q, &r, __LINE__), &lr);
			complete(&e, &r);
			CHECK(jstr(r.json, "detail") && strstr(jstr(r.json, "detail"), D[i].want),
			      "%s: detail %s, expected it to say %s", lock_outcome_str(D[i].o),
			      unit_escz(jstr(r.json, "detail")), D[i].want);
			done_with(&r);
		}
	}
	/* a holder without an owner: "owner": null */
	{
		struct rq q = {.method = "GET", .target = "/locks/a"};
		struct res r;
		struct lock_view v = view_of("a", 1, 1000);
		v.has_owner = false;
		v.owner[0] = '\0';
		fake_answer(begin(&e, &q, &r, __LINE__), LOCK_FOUND, &v);
		complete(&e, &r);
		CHECK(json_is_null(json_object_get(r.json, "owner")), "no owner: %s", unit_escz(r.body));
		done_with(&r);
	}
	env_free(&e);
}

/* ---- list ---- */

static void test_list(void)
{
	struct env e;
	struct res r;
	struct rq q = {.method = "GET", .target = "/locks?limit=2"};
	struct lock_view v[2] = {view_of("job-1", 5, 1000), view_of("job-2", 6, 2000)};
	struct fake_call *c;

	env_init(&e);
	c = begin(&e, &q, &r, __LINE__);
	fake_answer_list(c, LOCK_FOUND, v, 2, "NEXTPAGE");
	complete(&e, &r);
	CHECK_INT(r.reply.status, 200, "list status");
	if (CHECK(json_array_size(json_object_get(r.json, "locks")) == 2, "two locks listed: %s", unit_escz(r.body))) {
		check_view_json(&r, json_array_get(json_object_get(r.json, "locks"), 0), &v[0], "list[0]");
		check_view_json(&r, json_array_get(json_object_get(r.json, "locks"), 1), &v[1], "list[1]");
	}
	CHECK_STR(jstr(r.json, "next_cursor"), "NEXTPAGE", "next_cursor");
	CHECK(strstr(r.body, SECRET) == NULL, "a token in a list");
	check_no_store(&r, true);
	done_with(&r);

	c = begin(&e, &q, &r, __LINE__);
	fake_answer_list(c, LOCK_FOUND, NULL, 0, NULL);
	complete(&e, &r);
	CHECK(r.reply.status == 200 && json_array_size(json_object_get(r.json, "locks")) == 0 &&
	          json_is_null(json_object_get(r.json, "next_cursor")),
	      "the last page: %s", unit_escz(r.body));
	done_with(&r);

	c = begin(&e, &q, &r, __LINE__);
	fake_answer_list(c, LOCK_UNAVAILABLE, NULL, 0, NULL);
	complete(&e, &r);
	check_problem(&r, 503, "backend_unavailable");
	done_with(&r);

	c = begin(&e, &q, &r, __LINE__);
	fake_answer_list(c, LOCK_BACKEND_ERROR, NULL, 0, NULL);
	complete(&e, &r);
	check_problem(&r, 500, "internal_error");
	check_no_store(&r, true);
	done_with(&r);
	env_free(&e);
}

/* At most cfg.max_lists lists at once: beyond, 503 too_many_list_requests
 * with Retry-After: 1, without asking the backend; every way a list ends
 * frees its place. */
static void test_list_bound(void)
{
	struct env e;
	struct rq q = {.method = "GET", .target = "/locks"};
	struct res r1, r2, r3;
	struct fake_call *c1, *c2;

	env_init(&e);
	e.cfg.max_lists = 2;
	c1 = begin(&e, &q, &r1, __LINE__);
	c2 = begin(&e, &q, &r2, __LINE__);
	CHECK(c1 && c2 && c1 != c2, "two lists run");
	CHECK(begin(&e, &q, &r3, __LINE__) == NULL, "a third list is answered at once");
	complete(&e, &r3);
	check_problem(&r3, 503, "too_many_list_requests");
	CHECK_STR(header(&r3, "Retry-After"), "1", "Retry-After of too_many_list_requests");
	check_no_store(&r3, true);
	CHECK_INT(fake_count(e.fb, FAKE_LIST), 2, "lists the backend was asked for");
	done_with(&r3);
	/* lock operations are not bounded by it */
	{
		struct rq g = {.method = "GET", .target = "/locks/a"};
		struct res rg;
		struct lock_view v = view_of("a", 1, 1000);
		fake_answer(begin(&e, &g, &rg, __LINE__), LOCK_FOUND, &v);
		complete(&e, &rg);
		CHECK_INT(rg.reply.status, 200, "an inspect while lists run");
		done_with(&rg);
	}
	/* an answer frees a place, whatever it is */
	fake_answer_list(c1, LOCK_UNAVAILABLE, NULL, 0, NULL);
	complete(&e, &r1);
	check_problem(&r1, 503, "backend_unavailable");
	done_with(&r1);
	c1 = begin(&e, &q, &r1, __LINE__);
	CHECK(c1 != NULL, "a list runs again once one ended");
	CHECK(begin(&e, &q, &r3, __LINE__) == NULL, "and the bound holds again");
	complete(&e, &r3);
	check_problem(&r3, 503, "too_many_list_requests");
	done_with(&r3);
	fake_answer_list(c1, LOCK_FOUND, NULL, 0, NULL);
	fake_answer_list(c2, LOCK_BACKEND_ERROR, NULL, 0, NULL);
	complete(&e, &r1);
	complete(&e, &r2);
	done_with(&r1);
	done_with(&r2);
	/* a list refused at start takes no place */
	fake_refuse(e.fb, FAKE_LIST, BACKEND_UNAVAILABLE, 2);
	for (int i = 0; i < 2; i++) {
		CHECK(begin(&e, &q, &r3, __LINE__) == NULL, "a refused list");
		complete(&e, &r3);
		check_problem(&r3, 503, "backend_unavailable");
		done_with(&r3);
	}
	for (int i = 0; i < 2; i++) {
		struct res *r = i ? &r2 : &r1;
		CHECK(begin(&e, &q, r, __LINE__) != NULL, "list %d after refusals", i);
	}
	fake_answer_list(fake_next(e.fb, FAKE_LIST), LOCK_FOUND, NULL, 0, NULL);
	fake_answer_list(fake_next(e.fb, FAKE_LIST), LOCK_FOUND, NULL, 0, NULL);
	complete(&e, &r1);
	complete(&e, &r2);
	done_with(&r1);
	done_with(&r2);
	env_free(&e);
}

/* ---- refused at start ---- */

static void test_refusals(void)
{
	static const struct {
		int line;
		struct rq q;
		enum fake_op op;
		enum backend_start st;
		int status;
		const char *code;
		const char *retry_after;
	} T[] = {
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     BACKEND_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     "1"},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     BACKEND_NO_MEMORY,
	     500,
	     "internal_error",
	     NULL},
	    {__LINE__,
	     {.method = "PUT", .target = "/locks/a"},
	     FAKE_ACQUIRE,
	     BACKEND_BUSY,
	     503,
	     "too_many_waiters",
	     "1"},
	    {__LINE__,
	     {.method = "POST", .target = "/locks/a/renew", .lock_token = CALLER},
	     FAKE_RENEW,
	     BACKEND_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     "1"},
	    {__LINE__,
	     {.method = "DELETE", .target = "/locks/a", .lock_token = CALLER},
	     FAKE_RELEASE,
	     BACKEND_NO_MEMORY,
	     500,
	     "internal_error",
	     NULL},
	    {__LINE__,
	     {.method = "GET", .target = "/locks/a"},
	     FAKE_INSPECT,
	     BACKEND_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     "1"},
	    {__LINE__,
	     {.method = "GET", .target = "/locks"},
	     FAKE_LIST,
	     BACKEND_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     "1"},
	    {__LINE__,
	     {.method = "GET", .target = "/locks?cursor=zzz"},
	     FAKE_LIST,
	     BACKEND_BAD_CURSOR,
	     400,
	     "invalid_cursor",
	     NULL},
	    {__LINE__,
	     {.method = "GET", .target = "/readyz"},
	     FAKE_PING,
	     BACKEND_UNAVAILABLE,
	     503,
	     "backend_unavailable",
	     "1"},
	    {__LINE__,
	     {.method = "GET", .target = "/readyz"},
	     FAKE_PING,
	     BACKEND_NO_MEMORY,
	     503,
	     "backend_unavailable",
	     "1"},
	};
	struct env e;

	env_init(&e);
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct res r;
		const char *ra;
		fake_refuse(e.fb, T[i].op, T[i].st, 1);
		unit_check_(begin(&e, &T[i].q, &r, T[i].line) == NULL, __FILE__, T[i].line,
		            "a refusal at start is answered at once");
		complete(&e, &r);
		unit_check_(fake_last(e.fb, T[i].op) && fake_last(e.fb, T[i].op)->started == T[i].st, __FILE__,
		            T[i].line, "the backend was asked");
		check_problem(&r, T[i].status, T[i].code);
		ra = header(&r, "Retry-After");
		unit_check_(T[i].retry_after ? ra && strcmp(ra, T[i].retry_after) == 0 : ra == NULL, __FILE__,
		            T[i].line, "Retry-After %s, expected %s", unit_escz(ra), unit_escz(T[i].retry_after));
		check_no_store(&r, T[i].op != FAKE_PING);
		done_with(&r);
	}
	env_free(&e);
}

/* ---- /readyz ---- */

static void test_readyz(void)
{
	struct env e;
	struct res r;
	struct rq q = {.method = "GET", .target = "/readyz"};
	struct fake_call *c;

	env_init(&e);
	c = begin(&e, &q, &r, __LINE__);
	if (CHECK(c && c->op == FAKE_PING, "/readyz pings the backend"))
		fake_answer_ok(c, true);
	complete(&e, &r);
	CHECK(r.reply.status == 200 && strcmp(r.body, "{\"status\":\"ready\"}") == 0, "ready: %d %s", r.reply.status,
	      unit_escz(r.body));
	CHECK_STR(r.reply.content_type, "application/json", "/readyz content type");
	CHECK_INT(r.reply.route, ROUTE_READY, "/readyz route label");
	check_no_store(&r, false);
	done_with(&r);

	fake_set_warning(e.fb, "maxmemory-policy allkeys-lru can evict held locks");
	c = begin(&e, &q, &r, __LINE__);
	fake_answer_ok(c, true);
	complete(&e, &r);
	CHECK_INT(r.reply.status, 200, "ready with a warning: status");
	CHECK_STR(jstr(r.json, "status"), "ready", "ready with a warning: status field");
	CHECK(json_array_size(json_object_get(r.json, "warnings")) == 1 &&
	          strcmp(json_string_value(json_array_get(json_object_get(r.json, "warnings"), 0)),
	                 "maxmemory-policy allkeys-lru can evict held locks") == 0,
	      "ready with a warning: %s", unit_escz(r.body));
	done_with(&r);

	/* not answering: 503, warning or not */
	c = begin(&e, &q, &r, __LINE__);
	fake_answer_ok(c, false);
	complete(&e, &r);
	check_problem(&r, 503, "backend_unavailable");
	CHECK_STR(header(&r, "Retry-After"), "1", "not ready: Retry-After");
	CHECK(json_object_get(r.json, "warnings") == NULL, "not ready: no warnings");
	done_with(&r);
	fake_set_warning(e.fb, NULL);
	c = begin(&e, &q, &r, __LINE__);
	fake_answer_ok(c, true);
	complete(&e, &r);
	CHECK(r.reply.status == 200 && json_object_get(r.json, "warnings") == NULL, "the warning gone: %s",
	      unit_escz(r.body));
	done_with(&r);
	env_free(&e);
}

/* ---- waits, abandon, undelivered grants ---- */

static void test_waits(void)
{
	struct env e;
	struct res r, r2, r3;
	struct rq q = {.method = "PUT", .target = "/locks/w?wait_ms=2000"};
	struct lock_view v = view_of("w", 9, 3000);
	struct fake_call *c;

	env_init(&e);
	/* a wait that is granted */
	c = begin(&e, &q, &r, __LINE__);
	CHECK(r.reply.long_wait, "a wait is a long wait");
	if (CHECK(c && c->op == FAKE_ACQUIRE && c->has_waiter, "a wait tries with a waiter id")) {
		CHECK(c->wait_left_ms == 2000, "wait_left_ms %lld", (long long)c->wait_left_ms);
		fake_answer(c, LOCK_GRANTED, &v);
	}
	complete(&e, &r);
	CHECK_INT(r.reply.status, 201, "a wait granted");
	check_grant_json(&r, &v);
	check_no_store(&r, true);
	done_with(&r);

	/* wait_ms=0 does not wait */
	{
		struct rq q0 = {.method = "PUT", .target = "/locks/w?wait_ms=0"};
		c = begin(&e, &q0, &r, __LINE__);
		CHECK(!r.reply.long_wait && c && !c->has_waiter, "wait_ms=0: a plain acquire");
		fake_answer(c, LOCK_HELD, &v);
		complete(&e, &r);
		CHECK_INT(r.reply.status, 409, "wait_ms=0 held");
		done_with(&r);
	}

	/* the waiters are full: 503 too_many_waiters */
	c = begin(&e, &q, &r, __LINE__);
	begin(&e, &q, &r2, __LINE__);
	CHECK(begin(&e, &q, &r3, __LINE__) == NULL, "a third wait is refused at once");
	complete(&e, &r3);
	check_problem(&r3, 503, "too_many_waiters");
	CHECK_STR(header(&r3, "Retry-After"), "1", "too many waiters: Retry-After");
	check_no_store(&r3, true);
	CHECK(!r3.reply.long_wait, "a refused wait is not a long wait");
	done_with(&r3);

	/* the client of a wait leaves: its grant is given back, it is never answered */
	api_abandon(r.call);
	fake_answer(c, LOCK_GRANTED, &v);
	fake_turn(e.loop);
	CHECK_INT(r.done, 0, "an abandoned request is not answered");
	c = fake_last(e.fb, FAKE_RELEASE);
	if (CHECK(c != NULL, "the grant of an abandoned wait is released")) {
		CHECK(strcmp(c->name, "w") == 0 && strcmp(c->token, SECRET) == 0, "release(%s, %s)", unit_escz(c->name),
		      unit_escz(c->token));
		fake_answer(c, LOCK_RELEASED, NULL);
	}
	/* the other wait is cancelled at shut-down */
	fake_answer(fake_next(e.fb, FAKE_ACQUIRE), LOCK_HELD, &v);
	fake_turn(e.loop);
	waiters_cancel_all(e.ws);
	complete(&e, &r2);
	check_problem(&r2, 503, "shutting_down");
	done_with(&r2);
	memset(&r.reply, 0, sizeof r.reply);

	/* a grant that could not be delivered is released; nothing else is */
	{
		struct rq qa = {.method = "PUT", .target = "/locks/u"};
		struct lock_view vu = view_of("u", 3, 3000);
		unsigned releases = fake_count(e.fb, FAKE_RELEASE);
		fake_answer(begin(&e, &qa, &r, __LINE__), LOCK_GRANTED, &vu);
		complete(&e, &r);
		api_undelivered(e.api, &r.reply);
		c = fake_last(e.fb, FAKE_RELEASE);
		if (CHECK(fake_count(e.fb, FAKE_RELEASE) == releases + 1, "an undelivered grant is released"))
			CHECK(strcmp(c->name, "u") == 0 && strcmp(c->token, SECRET) == 0, "release(%s, %s)",
			      unit_escz(c->name), unit_escz(c->token));
		fake_answer(c, LOCK_RELEASED, NULL);
		fake_turn(e.loop);
		done_with(&r);
		CHECK(!r.reply.grant_token[0] && !r.reply.body, "api_reply_release clears the reply");

		qa.lock_token = CALLER;
		fake_answer(begin(&e, &qa, &r, __LINE__), LOCK_REACQUIRED, &vu);
		complete(&e, &r);
		api_undelivered(e.api, &r.reply);
		CHECK_INT(fake_count(e.fb, FAKE_RELEASE), releases + 1, "an undelivered re-acquire is not released");
		done_with(&r);
	}
	env_free(&e);
}

/* ---- api_reject and the status table ---- */

static void test_reject(void)
{
	struct api_request req = {.method = "PUT", .path = "/locks/a", .path_len = 8};
	struct res r;

	memset(&r, 0, sizeof r);
	r.line = __LINE__;
	api_reject(&req, &r.reply, DL_BODY_TOO_LARGE, "too big");
	{
		json_error_t err;
		r.json = json_loadb(r.reply.body, r.reply.body_len, 0, &err);
		snprintf(r.body, sizeof r.body, "%.*s", (int)r.reply.body_len, r.reply.body);
	}
	check_problem(&r, 413, "body_too_large");
	CHECK_STR(jstr(r.json, "detail"), "too big", "api_reject's detail");
	CHECK_INT(r.reply.route, ROUTE_ACQUIRE, "api_reject labels the route");
	check_no_store(&r, true);
	done_with(&r);

	CHECK_INT(api_error_status(DL_SHUTTING_DOWN), 503, "status of shutting_down");
	CHECK_INT(api_error_status(DL_ERROR_COUNT), 500, "status of an unknown error");
	for (int i = DL_INVALID_NAME; i < DL_ERROR_COUNT; i++) {
		int s = api_error_status((enum dl_error)i);
		CHECK(s >= 400 && s <= 599, "error %s has status %d", dl_error_code((enum dl_error)i), s);
	}
}

int main(void)
{
	alarm(60);
	log_setup(LOG_ERROR, LOG_TEXT);
	test_routes();
	test_param_errors();
	test_requests();
	test_outcomes();
	test_list();
	test_list_bound();
	test_refusals();
	test_readyz();
	test_waits();
	test_reject();
	return unit_done();
}
