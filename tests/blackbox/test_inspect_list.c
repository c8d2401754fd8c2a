/* Inspect (GET/HEAD /locks/{name}) and list (GET /locks). */
#include "harness.h"

#include <inttypes.h>
#include <string.h>

static void t_inspect_get_head(void)
{
	struct grant g = ACQUIRE("insp", "ttl_ms=5000&owner=viewer");
	struct resp *r = http("GET", "/locks/insp", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/json");
	EXPECT_NO_TOKEN(r, g.token);
	struct view w = CHECK_VIEW(r->json, "insp", 5000, "viewer");
	CHECK(w.fence == g.fence);
	CHECK(w.expires_ms == g.expires_ms);
	CHECKF(w.ttl_ms > 4000, "remaining ttl_ms %" PRId64 " should be close to 5000", w.ttl_ms);
	CHECKF(w.acquired_ms >= r->t0_wall - 2000 && w.acquired_ms <= r->t1_wall, "acquired_at not recent");

	/* remaining ttl goes down */
	sleep_ms(200);
	r = http("GET", "/locks/insp", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct view w2 = CHECK_VIEW(r->json, "insp", 5000, "viewer");
	CHECKF(w2.ttl_ms <= w.ttl_ms - 150, "remaining ttl_ms did not decrease (%" PRId64 " -> %" PRId64 ")", w.ttl_ms,
	       w2.ttl_ms);
	CHECK(w2.acquired_ms == w.acquired_ms);

	/* owner null when not given */
	ACQUIRE("insp2", "ttl_ms=5000");
	r = http("GET", "/locks/insp2", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK_VIEW(r->json, "insp2", 5000, NULL);

	/* HEAD: same status and headers, no body */
	r = http("HEAD", "/locks/insp", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/json");
	r = raw_httpf("HEAD /locks/insp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_STATUS(r, 200);
	CHECKF(r->len == 0, "HEAD response carried a %zu-byte body", r->len);

	/* free lock */
	r = http("GET", "/locks/nobody", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	CHECK(json_object_get(r->json, "lock") == NULL);
	r = http("HEAD", "/locks/nobody", NULL, NULL, NULL);
	EXPECT_STATUS(r, 404);
	r = raw_httpf("HEAD /locks/nobody HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_STATUS(r, 404);
	CHECKF(r->len == 0, "HEAD 404 response carried a %zu-byte body", r->len);

	/* GET takes no parameters */
	r = http("GET", "/locks/insp?verbose=1", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	r = http("GET", tfmt("/locks/insp?token=%s", g.token), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	EXPECT_NO_TOKEN(r, g.token);
	r = http("GET", "/locks/bad%2Fname", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
}

/* ----------------------------------------------------------------- list */

struct seen {
	char **names;
	size_t n, cap;
};

static void seen_add(struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		CHECKF(strcmp(s->names[i], name) != 0, "lock \"%s\" listed twice", name);
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		char **nn = talloc(nc * sizeof *nn);
		if (s->n)
			memcpy(nn, s->names, s->n * sizeof *nn);
		s->names = nn;
		s->cap = nc;
	}
	s->names[s->n++] = tstrdup(name);
}

static bool seen_has(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return true;
	return false;
}

/* Walk all pages. limit <= 0 means no limit parameter. */
static struct seen list_all(const char *prefix, int limit, const char *const *tokens, size_t ntok)
{
	struct seen s = {0};
	const char *cursor = NULL;
	int pages = 0;
	for (;;) {
		CHECKF(++pages < 300, "pagination did not terminate after 300 pages");
		const char *path = "/locks";
		char sep = '?';
		if (limit > 0) {
			path = tfmt("%s%climit=%d", path, sep, limit);
			sep = '&';
		}
		if (prefix) {
			path = tfmt("%s%cprefix=%s", path, sep, tesc(prefix));
			sep = '&';
		}
		if (cursor)
			path = tfmt("%s%ccursor=%s", path, sep, tesc(cursor));
		struct resp *r = http("GET", path, NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		EXPECT_CTYPE(r, "application/json");
		static const char *const keys[] = {"locks", "next_cursor", NULL};
		expect_keys_at(__FILE__, __LINE__, r->json, keys);
		for (size_t i = 0; i < ntok; i++)
			EXPECT_NO_TOKEN(r, tokens[i]);
		json_t *locks = JGET(r->json, "locks");
		CHECKF(json_is_array(locks), "\"locks\" is not an array");
		size_t n = json_array_size(locks);
		size_t max = limit > 0 ? (size_t)limit : 100;
		CHECKF(n <= max, "page has %zu items, limit %zu", n, max);
		const char *prev = NULL;
		for (size_t i = 0; i < n; i++) {
			struct view w = CHECK_VIEW(json_array_get(locks, i), NULL, -1, "*");
			if (prefix)
				CHECKF(strncmp(w.name, prefix, strlen(prefix)) == 0, "\"%s\" listed for prefix \"%s\"",
				       w.name, prefix);
			if (prev)
				CHECKF(strcmp(prev, w.name) < 0, "page not sorted: \"%s\" before \"%s\"", prev, w.name);
			prev = w.name;
			seen_add(&s, w.name);
		}
		json_t *nc = JGET(r->json, "next_cursor");
		if (json_is_null(nc))
			break;
		CHECKF(json_is_string(nc) && *json_string_value(nc), "next_cursor must be null or a non-empty string");
		cursor = tstrdup(json_string_value(nc));
	}
	return s;
}

static struct grant g_made[32];

static const char **make_locks(size_t *ntok)
{
	const char **tokens = talloc(32 * sizeof *tokens);
	size_t n = 0;
	for (int i = 0; i < 13; i++) {
		g_made[n] = ACQUIRE(tfmt("alpha.%02d", i), tfmt("ttl_ms=30000&owner=own-%d", i));
		tokens[n] = g_made[n].token;
		n++;
	}
	for (int i = 0; i < 12; i++) {
		g_made[n] = ACQUIRE(tfmt("beta:%02d", i), "ttl_ms=30000");
		tokens[n] = g_made[n].token;
		n++;
	}
	*ntok = n;
	return tokens;
}

/* every listed view matches what its acquisition returned */
static void check_list_views(void)
{
	struct resp *r = http("GET", "/locks?limit=1000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	json_t *locks = JGET(r->json, "locks");
	size_t i;
	json_t *v;
	size_t matched = 0;
	json_array_foreach(locks, i, v)
	{
		const char *name = JSTR(v, "name");
		for (size_t k = 0; k < 25; k++) {
			if (strcmp(g_made[k].name, name) != 0)
				continue;
			const char *owner = k < 13 ? tfmt("own-%zu", k) : NULL;
			struct view w = CHECK_VIEW(v, name, 30000, owner);
			CHECKF(w.fence == g_made[k].fence, "listed fence of %s differs from its grant", name);
			CHECKF(w.expires_ms == g_made[k].expires_ms, "listed expires_at of %s differs from its grant",
			       name);
			matched++;
		}
	}
	CHECKF(matched == 25, "only %zu of 25 listed views matched their grants", matched);
}

static void expect_all_25(const struct seen *s)
{
	CHECKF(s->n == 25, "expected 25 locks listed, got %zu", s->n);
	for (int i = 0; i < 13; i++)
		CHECKF(seen_has(s, tfmt("alpha.%02d", i)), "alpha.%02d missing from listing", i);
	for (int i = 0; i < 12; i++)
		CHECKF(seen_has(s, tfmt("beta:%02d", i)), "beta:%02d missing from listing", i);
}

static void t_list_pagination(void)
{
	size_t ntok;
	const char **tokens = make_locks(&ntok);
	struct seen s = list_all(NULL, 7, tokens, ntok);
	expect_all_25(&s);
	check_list_views();
	s = list_all(NULL, 0, tokens, ntok);
	expect_all_25(&s);
	s = list_all(NULL, 1, tokens, ntok);
	expect_all_25(&s);
	s = list_all(NULL, 1000, tokens, ntok);
	expect_all_25(&s);
}

static void t_list_prefix(void)
{
	size_t ntok;
	const char **tokens = make_locks(&ntok);
	struct seen s = list_all("alpha.", 7, tokens, ntok);
	CHECKF(s.n == 13, "prefix alpha. listed %zu locks, expected 13", s.n);
	s = list_all("beta:", 7, tokens, ntok);
	CHECKF(s.n == 12, "prefix beta: listed %zu locks, expected 12", s.n);
	s = list_all("alpha.1", 2, tokens, ntok);
	CHECKF(s.n == 3, "prefix alpha.1 listed %zu locks, expected 3", s.n);
	s = list_all("gamma", 7, tokens, ntok);
	CHECKF(s.n == 0, "prefix gamma listed %zu locks, expected 0", s.n);
	s = list_all("", 7, tokens, ntok);
	expect_all_25(&s);
	s = list_all("alpha.00", 7, tokens, ntok);
	CHECKF(s.n == 1, "exact-name prefix listed %zu locks, expected 1", s.n);
}

static void t_list_invalid(void)
{
	ACQUIRE("l1", "ttl_ms=5000");
	const char *limits[] = {"0", "1001", "x", "-1", "", "1.5", "99999999999999999999", NULL};
	for (size_t i = 0; limits[i]; i++) {
		struct resp *r = http("GET", tfmt("/locks?limit=%s", limits[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_limit");
	}
	struct resp *r = http("GET", "/locks?cursor=%21%21not-a-cursor%21%21", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_cursor");
	r = http("GET", "/locks?limit=5&cursor=%7B%22x%22%3A1%7D", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_cursor");
	const char *prefixes[] = {"a%20b", "a%2Fb", "a*", "%5B", "a%00", "%zz", NULL};
	for (size_t i = 0; prefixes[i]; i++) {
		r = http("GET", tfmt("/locks?prefix=%s", prefixes[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_prefix");
	}
	r = http("GET", tfmt("/locks?prefix=%s", trepeat('p', 256)), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_prefix");
	r = http("GET", tfmt("/locks?prefix=%s", trepeat('p', 255)), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("GET", "/locks?sort=name", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	r = http("GET", "/locks?limit=5&limit=6", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

static void t_list_excludes_released_and_expired(void)
{
	struct grant a = ACQUIRE("keep", "ttl_ms=5000");
	ACQUIRE("soon", "ttl_ms=150");
	struct grant c = ACQUIRE("gone", "ttl_ms=5000");
	struct resp *r = http("DELETE", "/locks/gone", NULL, NULL, tfmt("Lock-Token: %s", c.token), NULL);
	EXPECT_STATUS(r, 204);
	sleep_ms(400);
	const char *toks[] = {a.token};
	struct seen s = list_all(NULL, 10, toks, 1);
	CHECKF(s.n == 1 && seen_has(&s, "keep"), "expected only \"keep\" listed, got %zu locks", s.n);
}

static void t_list_empty(void)
{
	struct seen s = list_all(NULL, 7, NULL, 0);
	CHECKF(s.n == 0, "empty store listed %zu locks", s.n);
	struct resp *r = http("GET", "/locks", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	json_t *l = JGET(r->json, "locks");
	CHECK(json_is_array(l));
}

const struct test tests_inspect_list[] = {
    {"inspect_get_head", t_inspect_get_head, {NULL}, 0},
    {"list_pagination", t_list_pagination, {NULL}, 0},
    {"list_prefix", t_list_prefix, {NULL}, 0},
    {"list_invalid_params_400", t_list_invalid, {NULL}, 0},
    {"list_excludes_released_and_expired", t_list_excludes_released_and_expired, {NULL}, 0},
    {"list_empty", t_list_empty, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
