/* api: routes, parameters, outcomes → HTTP replies. See api.h. */
#include "server/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

/* A request waiting for the backend. */
struct api_call {
	struct api *api;
	struct api_reply *reply;
	api_done_fn *done;
	void *arg;
	enum metrics_route route;
	struct waiter *waiter; /* a wait for the lock, or NULL */
};

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
    [DL_NOT_FOUND] = 404,
    [DL_METHOD_NOT_ALLOWED] = 405,
    [DL_LOCK_HELD] = 409,
    [DL_NOT_HELD] = 404,
    [DL_TOKEN_MISMATCH] = 409,
    [DL_BACKEND_UNAVAILABLE] = 503,
    [DL_SHUTTING_DOWN] = 503,
    [DL_TOO_MANY_WAITERS] = 503,
    [DL_INTERNAL] = 500,
};

int api_error_status(enum dl_error e)
{
	return e < DL_ERROR_COUNT ? STATUS_OF[e] : 500;
}

struct api *api_new(const struct config *cfg, struct backend *backend, struct waiters *waiters, const char *spec,
                    size_t spec_len)
{
	struct api *api = calloc(1, sizeof *api);
	if (!api)
		return NULL;
	api->cfg = cfg;
	api->backend = backend;
	api->waiters = waiters;
	api->spec = spec;
	api->spec_len = spec_len;
	return api;
}

void api_free(struct api *api)
{
	free(api);
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
	struct lock_request rel = {.name = reply->grant_name, .token = reply->grant_token};

	if (!reply->grant_token[0])
		return;
	metrics_inc(METRIC_UNDELIVERED_GRANTS);
	log_msg(LOG_WARN, "the grant of lock '%s' could not be delivered to its client: releasing it",
	        reply->grant_name);
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

static json_t *owner_json(const struct lock_view *v)
{
	return v->has_owner ? json_stringn(v->owner, strlen(v->owner)) : json_null();
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
		json_object_set_new(o, "detail", json_string(detail && *detail ? detail : dl_strerror(e)));
		json_object_set_new(o, "code", json_string(dl_error_code(e)));
		if (holder)
			json_object_set_new(o, "lock", view_json(holder));
	}
	set_json(reply, status, "application/problem+json", o);
	if (e == DL_BACKEND_UNAVAILABLE || e == DL_SHUTTING_DOWN || e == DL_TOO_MANY_WAITERS)
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
static bool is_lock_route(enum metrics_route r)
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

static void on_lock_reply(void *arg, const struct lock_reply *r)
{
	struct api_call *c = arg;
	struct api_reply *reply = c->reply;
	const struct lock_view *v = &r->view;
	char detail[128], when[TEXT_TIME_LEN + 1];

	switch (r->outcome) {
	case LOCK_GRANTED:
		metrics_inc(METRIC_ACQUISITIONS);
		set_json(reply, 201, "application/json", grant_json(v));
		snprintf(reply->grant_name, sizeof reply->grant_name, "%s", v->name);
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
		problem(reply, DL_BACKEND_UNAVAILABLE, "Redis did not answer in time", NULL);
		break;
	case LOCK_CANCELLED:
		problem(reply, DL_SHUTTING_DOWN, "dlockd is shutting down; retry on another instance", NULL);
		break;
	case LOCK_BACKEND_ERROR:
		problem(reply, DL_INTERNAL, "unexpected answer from Redis", NULL);
		break;
	}
	finish(c);
}

static void on_list_reply(void *arg, const struct list_reply *r)
{
	struct api_call *c = arg;
	json_t *o, *arr;

	if (r->outcome == LOCK_UNAVAILABLE) {
		problem(c->reply, DL_BACKEND_UNAVAILABLE, "Redis did not answer in time", NULL);
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
		problem(c->reply, DL_BACKEND_UNAVAILABLE, "Redis does not answer", NULL);
	}
	finish(c);
}

/* ---- routing ---- */

enum route_kind { R_NONE, R_HEALTH, R_READY, R_METRICS, R_SPEC, R_LIST, R_LOCK, R_RENEW };

static bool path_is(const struct api_request *req, const char *p)
{
	return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

/* Splits the raw path; for lock routes, seg and seg_len give the still-encoded name. */
static enum route_kind route_of(const struct api_request *req, const char **seg, size_t *seg_len)
{
	static const char LOCKS[] = "/locks/";
	const char *p = req->path, *slash;
	size_t n = req->path_len, rest;

	if (path_is(req, "/healthz"))
		return R_HEALTH;
	if (path_is(req, "/readyz"))
		return R_READY;
	if (path_is(req, "/metrics"))
		return R_METRICS;
	if (path_is(req, "/openapi.yaml"))
		return R_SPEC;
	if (path_is(req, "/locks"))
		return R_LIST;
	if (n < sizeof LOCKS - 1 || memcmp(p, LOCKS, sizeof LOCKS - 1) != 0)
		return R_NONE;
	p += sizeof LOCKS - 1;
	rest = n - (sizeof LOCKS - 1);
	slash = memchr(p, '/', rest);
	*seg = p;
	if (!slash) {
		*seg_len = rest;
		return R_LOCK;
	}
	*seg_len = (size_t)(slash - p);
	if ((size_t)(p + rest - slash) == strlen("/renew") && memcmp(slash, "/renew", 6) == 0)
		return R_RENEW;
	return R_NONE;
}

static bool method_is(const struct api_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static enum metrics_route metrics_route_of(enum route_kind k, const struct api_request *req)
{
	switch (k) {
	case R_HEALTH:
		return ROUTE_HEALTH;
	case R_READY:
		return ROUTE_READY;
	case R_METRICS:
		return ROUTE_METRICS;
	case R_SPEC:
		return ROUTE_SPEC;
	case R_LIST:
		return ROUTE_LIST;
	case R_RENEW:
		return ROUTE_RENEW;
	case R_LOCK:
		if (method_is(req, "PUT"))
			return ROUTE_ACQUIRE;
		if (method_is(req, "DELETE"))
			return ROUTE_RELEASE;
		return ROUTE_INSPECT;
	default:
		return ROUTE_OTHER;
	}
}

static bool method_allowed(enum route_kind k, const struct api_request *req, const char **allow)
{
	bool get = method_is(req, "GET") || method_is(req, "HEAD");

	switch (k) {
	case R_LOCK:
		*allow = "GET, HEAD, PUT, DELETE";
		return get || method_is(req, "PUT") || method_is(req, "DELETE");
	case R_RENEW:
		*allow = "POST";
		return method_is(req, "POST");
	default:
		*allow = "GET, HEAD";
		return get;
	}
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
	free(c);
	if (st == BACKEND_BAD_CURSOR)
		api_error(reply, DL_INVALID_CURSOR, "cursor must be a next_cursor value from a previous page");
	else if (st == BACKEND_NO_MEMORY)
		api_error(reply, DL_INTERNAL, "out of memory");
	else if (st == BACKEND_BUSY)
		api_error(reply, DL_TOO_MANY_WAITERS, "too many requests are waiting for locks; retry later");
	else
		api_error(reply, DL_BACKEND_UNAVAILABLE, "Redis is not connected");
	return true;
}

static bool handle(struct api *api, const struct api_request *req, struct api_reply *reply, api_done_fn *done,
                   void *arg, struct api_call **pending)
{
	const struct config *cfg = api->cfg;
	const char *seg = NULL, *allow = NULL, *token = NULL;
	size_t seg_len = 0;
	enum route_kind kind = route_of(req, &seg, &seg_len);
	struct params_rules rules = {
	    .min_ttl_ms = cfg->min_ttl_ms, .max_ttl_ms = cfg->max_ttl_ms, .max_wait_ms = cfg->max_wait_ms};
	struct params p;
	struct lock_request lr = {0};
	char name[LOCK_NAME_MAX + 1], new_token[LOCK_TOKEN_LEN + 1], detail[256];
	enum dl_error e;
	enum backend_start st;
	struct api_call *c;

	memset(reply, 0, sizeof *reply);
	reply->route = metrics_route_of(kind, req);
	if (kind == R_NONE) {
		api_error(reply, DL_NOT_FOUND, "no such resource");
		return true;
	}
	if (!method_allowed(kind, req, &allow)) {
		snprintf(detail, sizeof detail, "%s is not allowed here; allowed: %s", req->method, allow);
		api_error(reply, DL_METHOD_NOT_ALLOWED, detail);
		add_header_str(reply, "Allow", allow);
		return true;
	}
	switch (kind) {
	case R_HEALTH: {
		static const char OK[] = "{\"status\":\"ok\"}";
		reply_static(reply, 200, "application/json", OK, sizeof OK - 1);
		return true;
	}
	case R_METRICS: {
		size_t len;
		char *text = metrics_render(&len);
		if (!text) {
			api_error(reply, DL_INTERNAL, "out of memory");
			return true;
		}
		reply->status = 200;
		reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
		reply->body = text;
		reply->body_len = len;
		return true;
	}
	case R_SPEC:
		reply_static(reply, 200, "application/yaml", api->spec, api->spec_len);
		return true;
	case R_LIST:
		rules.allowed = PARAMS_BIT(PARAM_PREFIX) | PARAMS_BIT(PARAM_LIMIT) | PARAMS_BIT(PARAM_CURSOR);
		break;
	case R_RENEW:
		rules.allowed = PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL);
		rules.body_allowed = true;
		break;
	case R_LOCK:
		if (method_is(req, "PUT"))
			rules.allowed = PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL) | PARAMS_BIT(PARAM_OWNER) |
			                PARAMS_BIT(PARAM_WAIT);
		else if (method_is(req, "DELETE"))
			rules.allowed = PARAMS_BIT(PARAM_TOKEN);
		rules.body_allowed = rules.allowed != 0;
		break;
	default:
		break;
	}
	if ((kind == R_LOCK || kind == R_RENEW) && !lock_name_decode(seg, seg_len, name)) {
		api_error(reply, DL_INVALID_NAME,
		          "a lock name is 1 to 255 bytes of A-Z a-z 0-9 . _ - : @ (percent-encoding allowed)");
		return true;
	}
	if (kind != R_READY) {
		e = params_parse(&p, &rules, req->query, req->query_len, req->body, req->body_len, req->content_type,
		                 detail, sizeof detail);
		if (e == DL_OK && (reply->route == ROUTE_ACQUIRE || kind == R_RENEW || reply->route == ROUTE_RELEASE))
			e = pick_token(req, &p, &token, detail, sizeof detail);
		if (e != DL_OK) {
			api_error(reply, e, detail);
			return true;
		}
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		api_error(reply, DL_INTERNAL, "out of memory");
		return true;
	}
	c->api = api;
	c->reply = reply;
	c->done = done;
	c->arg = arg;
	c->route = reply->route;
	lr.name = name;

	switch (reply->route) {
	case ROUTE_READY:
		st = api->backend->ops->ping(api->backend, on_ping, c);
		if (st != BACKEND_STARTED) {
			free(c);
			problem(reply, DL_BACKEND_UNAVAILABLE, "Redis is not connected", NULL);
			return true;
		}
		*pending = c;
		return false;
	case ROUTE_LIST: {
		struct list_request l = {.prefix = p.prefix, .limit = p.limit, .cursor = p.cursor};
		st = api->backend->ops->list(api->backend, &l, on_list_reply, c);
		break;
	}
	case ROUTE_ACQUIRE:
		if (lock_token_new(new_token) < 0) {
			free(c);
			api_error(reply, DL_INTERNAL, "the system random number generator failed");
			return true;
		}
		lr.token = new_token;
		lr.reacquire_token = token;
		lr.owner = (p.given & PARAMS_BIT(PARAM_OWNER)) ? p.owner : NULL;
		lr.ttl_ms = (p.given & PARAMS_BIT(PARAM_TTL)) ? p.ttl_ms : cfg->default_ttl_ms;
		if (p.wait_ms > 0) {
			st = waiters_acquire(api->waiters, &lr, p.wait_ms, on_lock_reply, c, &c->waiter);
			reply->long_wait = st == BACKEND_STARTED;
		} else {
			st = api->backend->ops->acquire(api->backend, &lr, on_lock_reply, c);
		}
		explicit_bzero(new_token, sizeof new_token);
		break;
	case ROUTE_RENEW:
	case ROUTE_RELEASE:
		if (!token) {
			free(c);
			api_error(
			    reply, DL_MISSING_TOKEN,
			    "give the lock's token in the Lock-Token header (or as 'token' in the body or query)");
			return true;
		}
		lr.token = token;
		if (reply->route == ROUTE_RENEW) {
			lr.ttl_ms = (p.given & PARAMS_BIT(PARAM_TTL)) ? p.ttl_ms : 0;
			st = api->backend->ops->renew(api->backend, &lr, on_lock_reply, c);
		} else {
			st = api->backend->ops->release(api->backend, &lr, on_lock_reply, c);
		}
		break;
	default:
		st = api->backend->ops->inspect(api->backend, &lr, on_lock_reply, c);
		break;
	}
	explicit_bzero(&p.token, sizeof p.token);
	if (st != BACKEND_STARTED)
		return start_failed(reply, c, st);
	*pending = c;
	return false;
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

	memset(reply, 0, sizeof *reply);
	api_error(reply, e, detail);
	reply->route = metrics_route_of(route_of(req, &seg, &seg_len), req);
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
