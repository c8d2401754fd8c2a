/* Black-box harness, the assertions on answers: HTTP status, Content-Type,
 * problem+json bodies, LockGrant and LockView objects, no token leaks, JSON
 * member access, and the formats they use (RFC 3339 timestamps, base64url,
 * the token digest dlockd stores). Each *_at() fails the test at the
 * caller's file:line. */
#include "harness_int.h"

#include "base/digest.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ formats */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool parse_rfc3339_ms(const char *s, int64_t *out_ms)
{
	/* 2026-11-23T02:53:24.123Z */
	if (!s || strlen(s) != 24)
		return false;
	int Y, M, D, h, m, sec, ms;
	if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
	    s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec) || s[19] != '.' || !digits(s + 20, 3, &ms) || s[23] != 'Z')
		return false;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return false;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*out_ms = (int64_t)t * 1000 + ms;
	return true;
}

const char *token_hash(const char *token)
{
	static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t h[DIGEST_SHA256_LEN + 1] = {0};
	char *out = talloc(3 + 44);
	size_t o = 2;

	digest_sha256(token, strlen(token), h);
	out[0] = 'h';
	out[1] = ':';
	for (size_t i = 0; i < DIGEST_SHA256_LEN; i += 3) { /* 32 bytes: 43 characters, no padding */
		uint32_t v =
		    (uint32_t)h[i] << 16 | (uint32_t)h[i + 1] << 8 | (i + 2 < DIGEST_SHA256_LEN ? h[i + 2] : 0);
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
		if (i + 2 < DIGEST_SHA256_LEN)
			out[o++] = B64URL[v & 63];
	}
	out[o] = '\0';
	return out;
}

bool is_base64url(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(isalnum(c) || c == '-' || c == '_') || c > 127)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ answers */

static const char *short_body(const struct resp *r)
{
	static char buf[400];
	size_t n = r->len < 300 ? r->len : 300;
	size_t j = 0;
	for (size_t i = 0; i < n && j + 5 < sizeof buf; i++) {
		unsigned char c = (unsigned char)r->body[i];
		if (c >= 32 && c < 127) {
			buf[j++] = (char)c;
		} else {
			j += (size_t)snprintf(buf + j, sizeof buf - j, "\\x%02x", c);
		}
	}
	buf[j] = 0;
	return buf;
}

void expect_status_at(const char *f, int l, const struct resp *r, long status)
{
	if (r->status == status)
		return;
	if (r->status == 0)
		fail_at(f, l, "%s: expected HTTP %ld, got no response (%s)", r->what, status, r->err);
	fail_at(f, l, "%s: expected HTTP %ld, got %ld (body: %s)", r->what, status, r->status, short_body(r));
}

static bool media_is(const char *ct, const char *media)
{
	if (!ct)
		return false;
	size_t n = strlen(media);
	if (strncasecmp(ct, media, n) != 0)
		return false;
	const char *rest = ct + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	return *rest == 0 || *rest == ';';
}

void expect_ctype_at(const char *f, int l, const struct resp *r, const char *media)
{
	const char *ct = resp_header(r, "Content-Type");
	if (!media_is(ct, media))
		fail_at(f, l, "%s (HTTP %ld): expected Content-Type %s, got %s", r->what, r->status, media,
		        ct ? ct : "(none)");
}

json_t *jget_at(const char *f, int l, json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		fail_at(f, l, "expected a JSON object to read \"%s\" from", key);
	json_t *v = json_object_get(obj, key);
	if (!v)
		fail_at(f, l, "JSON member \"%s\" missing", key);
	return v;
}

const char *jstr_at(const char *f, int l, json_t *obj, const char *key)
{
	json_t *v = jget_at(f, l, obj, key);
	if (!json_is_string(v))
		fail_at(f, l, "JSON member \"%s\" is not a string", key);
	return json_string_value(v);
}

int64_t jint_at(const char *f, int l, json_t *obj, const char *key)
{
	json_t *v = jget_at(f, l, obj, key);
	if (!json_is_integer(v))
		fail_at(f, l, "JSON member \"%s\" is not an integer", key);
	return (int64_t)json_integer_value(v);
}

void expect_keys_at(const char *f, int l, json_t *obj, const char *const *keys)
{
	if (!json_is_object(obj))
		fail_at(f, l, "expected a JSON object");
	size_t n = 0;
	for (; keys[n]; n++)
		if (!json_object_get(obj, keys[n]))
			fail_at(f, l, "JSON member \"%s\" missing", keys[n]);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < n; i++)
			if (strcmp(keys[i], k) == 0)
				known = true;
		if (!known)
			fail_at(f, l, "unexpected JSON member \"%s\"", k);
	}
}

void expect_problem_at(const char *f, int l, const struct resp *r, long status, const char *code)
{
	expect_status_at(f, l, r, status);
	const char *ct = resp_header(r, "Content-Type");
	if (!media_is(ct, "application/problem+json"))
		fail_at(f, l, "%s (HTTP %ld): expected Content-Type application/problem+json, got %s (body: %s)",
		        r->what, r->status, ct ? ct : "(none)", short_body(r));
	if (!json_is_object(r->json))
		fail_at(f, l, "%s (HTTP %ld): problem body is not a JSON object: %s", r->what, r->status,
		        short_body(r));
	json_t *c = json_object_get(r->json, "code");
	if (!json_is_string(c) || strcmp(json_string_value(c), code) != 0)
		fail_at(f, l, "%s (HTTP %ld): expected problem code \"%s\", body: %s", r->what, r->status, code,
		        short_body(r));
	char type[128];
	snprintf(type, sizeof type, "urn:dlockd:problem:%s", code);
	json_t *t = json_object_get(r->json, "type");
	if (!json_is_string(t) || strcmp(json_string_value(t), type) != 0)
		fail_at(f, l, "%s: problem \"type\" should be %s, body: %s", r->what, type, short_body(r));
	json_t *ti = json_object_get(r->json, "title");
	if (!json_is_string(ti) || !*json_string_value(ti))
		fail_at(f, l, "%s: problem \"title\" missing/empty, body: %s", r->what, short_body(r));
	json_t *de = json_object_get(r->json, "detail");
	if (!json_is_string(de) || !*json_string_value(de))
		fail_at(f, l, "%s: problem \"detail\" missing/empty, body: %s", r->what, short_body(r));
	json_t *st = json_object_get(r->json, "status");
	if (!json_is_integer(st) || json_integer_value(st) != status)
		fail_at(f, l, "%s: problem \"status\" should be %ld, body: %s", r->what, status, short_body(r));
}

static bool json_has_key_deep(json_t *j, const char *key)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
		{
			if (strcmp(k, key) == 0 || json_has_key_deep(v, key))
				return true;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			if (json_has_key_deep(v, key))
				return true;
		}
	}
	return false;
}

void expect_no_token_at(const char *f, int l, const struct resp *r, const char *token)
{
	if (token && *token && r->len && memmem(r->body, r->len, token, strlen(token)))
		fail_at(f, l, "%s: body leaks the lock token: %s", r->what, short_body(r));
	if (r->json && json_has_key_deep(r->json, "token"))
		fail_at(f, l, "%s: body has a \"token\" member: %s", r->what, short_body(r));
	for (size_t i = 0; token && *token && i < r->nhdr; i++)
		if (strstr(r->hdr[i], token))
			fail_at(f, l, "%s: header leaks the lock token: %s", r->what, r->hdr[i]);
}

static void check_owner(const char *f, int l, json_t *o, const char *owner)
{
	json_t *v = jget_at(f, l, o, "owner");
	if (owner && strcmp(owner, "*") == 0) {
		if (!json_is_null(v) && !json_is_string(v))
			fail_at(f, l, "owner must be a string or null");
		return;
	}
	if (!owner) {
		if (!json_is_null(v))
			fail_at(f, l, "owner should be null");
		return;
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), owner) != 0)
		fail_at(f, l, "owner should be \"%.60s\", got %s", owner,
		        json_is_string(v) ? json_string_value(v) : "(not a string)");
}

struct grant check_grant_at(const char *f, int l, const struct resp *r, const char *name, int64_t ttl_ms,
                            const char *owner)
{
	struct grant g;
	memset(&g, 0, sizeof g);
	expect_ctype_at(f, l, r, "application/json");
	if (!json_is_object(r->json))
		fail_at(f, l, "%s: grant body is not a JSON object: %s", r->what, short_body(r));
	static const char *const keys[] = {"name", "token", "fence", "ttl_ms", "expires_at", "owner", NULL};
	expect_keys_at(f, l, r->json, keys);
	g.name = jstr_at(f, l, r->json, "name");
	if (name && strcmp(g.name, name) != 0)
		fail_at(f, l, "%s: grant name should be \"%.60s\", got \"%.60s\"", r->what, name, g.name);
	g.token = jstr_at(f, l, r->json, "token");
	if (strlen(g.token) != 32 || !is_base64url(g.token))
		fail_at(f, l, "%s: token should be 32 base64url chars, got \"%s\"", r->what, g.token);
	g.fence = jint_at(f, l, r->json, "fence");
	if (g.fence <= 0)
		fail_at(f, l, "%s: fence should be positive, got %" PRId64, r->what, g.fence);
	g.ttl_ms = jint_at(f, l, r->json, "ttl_ms");
	if (ttl_ms >= 0 && g.ttl_ms != ttl_ms)
		fail_at(f, l, "%s: ttl_ms should be %" PRId64 ", got %" PRId64, r->what, ttl_ms, g.ttl_ms);
	const char *exp = jstr_at(f, l, r->json, "expires_at");
	if (!parse_rfc3339_ms(exp, &g.expires_ms))
		fail_at(f, l, "%s: expires_at not RFC3339 with ms and Z: \"%s\"", r->what, exp);
	int64_t lo = r->t0_wall + g.ttl_ms - 50, hi = r->t1_wall + g.ttl_ms + 50;
	if (g.expires_ms < lo || g.expires_ms > hi)
		fail_at(f, l, "%s: expires_at %s is not now+ttl_ms (%" PRId64 " ms off)", r->what, exp,
		        g.expires_ms - (r->t1_wall + g.ttl_ms));
	check_owner(f, l, r->json, owner);
	g.name = tstrdup(g.name);
	g.token = tstrdup(g.token);
	return g;
}

struct view check_view_at(const char *f, int l, json_t *v, const char *name, int64_t max_ttl, const char *owner)
{
	struct view w;
	memset(&w, 0, sizeof w);
	static const char *const keys[] = {"name", "owner", "fence", "ttl_ms", "expires_at", "acquired_at", NULL};
	if (!json_is_object(v))
		fail_at(f, l, "lock view is not a JSON object");
	expect_keys_at(f, l, v, keys);
	w.name = jstr_at(f, l, v, "name");
	if (name && strcmp(w.name, name) != 0)
		fail_at(f, l, "view name should be \"%.60s\", got \"%.60s\"", name, w.name);
	w.fence = jint_at(f, l, v, "fence");
	if (w.fence <= 0)
		fail_at(f, l, "view fence should be positive");
	w.ttl_ms = jint_at(f, l, v, "ttl_ms");
	if (w.ttl_ms < 0 || (max_ttl >= 0 && w.ttl_ms > max_ttl))
		fail_at(f, l, "view ttl_ms (remaining) %" PRId64 " out of [0, %" PRId64 "]", w.ttl_ms, max_ttl);
	const char *e = jstr_at(f, l, v, "expires_at");
	const char *a = jstr_at(f, l, v, "acquired_at");
	if (!parse_rfc3339_ms(e, &w.expires_ms))
		fail_at(f, l, "view expires_at not RFC3339 ms Z: \"%s\"", e);
	if (!parse_rfc3339_ms(a, &w.acquired_ms))
		fail_at(f, l, "view acquired_at not RFC3339 ms Z: \"%s\"", a);
	if (w.acquired_ms > w.expires_ms)
		fail_at(f, l, "view acquired_at %s after expires_at %s", a, e);
	int64_t now = wall_ms();
	if (w.acquired_ms > now + 50)
		fail_at(f, l, "view acquired_at %s is in the future", a);
	int64_t diff = w.expires_ms - (now + w.ttl_ms);
	if (diff > 50 || diff < -3000L * g_slow)
		fail_at(f, l, "view expires_at %s inconsistent with remaining ttl_ms %" PRId64 " (%" PRId64 " ms off)",
		        e, w.ttl_ms, diff);
	check_owner(f, l, v, owner);
	w.name = tstrdup(w.name);
	return w;
}

void expect_problems_at(const char *f, int l, const struct req *reqs, size_t n, long status, const char *code)
{
	for (size_t i = 0; i < n; i++) {
		const struct req *q = &reqs[i];
		expect_problem_at(f, l, http(q->method, q->path, q->body, q->ctype, q->hdr, NULL), status, code);
	}
}

void expect_waiting_at(const char *f, int l, struct async_req *a, const char *who, const char *held)
{
	if (http_async_done(a))
		fail_at(f, l, "%s was answered (%ld) while %s", who, http_async_wait(a)->status, held);
}

struct view expect_held_at(const char *f, int l, const struct resp *r, struct grant g, int64_t max_ttl,
                           const char *owner)
{
	expect_problem_at(f, l, r, 409, "lock_held");
	expect_no_token_at(f, l, r, g.token);
	struct view w = check_view_at(f, l, jget_at(f, l, r->json, "lock"), g.name, max_ttl, owner);
	if (w.fence != g.fence)
		fail_at(f, l, "409 view fence %" PRId64 " != holder fence %" PRId64, w.fence, g.fence);
	return w;
}

struct grant acquire_at(const char *f, int l, const char *name, const char *query)
{
	const char *path = query && *query ? tfmt("/locks/%s?%s", name, query) : tfmt("/locks/%s", name);
	struct resp *r = http("PUT", path, NULL, NULL, NULL);
	expect_status_at(f, l, r, 201);
	int64_t ttl = -1;
	const char *t = query ? strstr(query, "ttl_ms=") : NULL;
	if (t)
		ttl = strtoll(t + 7, NULL, 10);
	const char *loc = resp_header(r, "Location");
	const char *want = tfmt("/locks/%s", name);
	if (!loc || strcmp(loc, want) != 0)
		fail_at(f, l, "%s: Location should be %s, got %s", r->what, want, loc ? loc : "(none)");
	return check_grant_at(f, l, r, strchr(name, '%') ? NULL : name, ttl, "*");
}
