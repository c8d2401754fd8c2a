/* Acquire (PUT /locks/{name}) behaviour. */
#include "harness.h"

#include <inttypes.h>
#include <string.h>

static const char *json_ct = "application/json";

static void t_acquire_201(void)
{
	struct resp *r = http("PUT", "/locks/job-1?ttl_ms=5000&owner=worker-7", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	EXPECT_CTYPE(r, "application/json");
	const char *loc = resp_header(r, "Location");
	CHECKF(loc && strcmp(loc, "/locks/job-1") == 0, "Location should be /locks/job-1, got %s",
	       loc ? loc : "(none)");
	struct grant g = CHECK_GRANT(r, "job-1", 5000, "worker-7");

	/* the lock is visible and matches the grant */
	struct resp *v = http("GET", "/locks/job-1", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	EXPECT_CTYPE(v, "application/json");
	struct view w = CHECK_VIEW(v->json, "job-1", 5000, "worker-7");
	CHECKF(w.fence == g.fence, "GET fence %" PRId64 " != grant fence %" PRId64, w.fence, g.fence);
	CHECKF(w.expires_ms == g.expires_ms, "GET expires_at differs from the grant's");
	CHECKF(w.acquired_ms <= g.expires_ms - 5000 + 20 && w.acquired_ms >= g.expires_ms - 5000 - 20,
	       "acquired_at should be expires_at - ttl_ms for a fresh lock");
	EXPECT_NO_TOKEN(v, g.token);

	/* two acquisitions produce different tokens */
	struct grant g2 = ACQUIRE("job-2", "ttl_ms=5000");
	CHECKF(strcmp(g.token, g2.token) != 0, "two locks got the same token");
}

static void t_acquire_json_body(void)
{
	const char *body = "{\"ttl_ms\":4000,\"owner\":\"w-json\"}";
	struct resp *r = http("PUT", "/locks/jb", body, json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "jb", 4000, "w-json");
	/* charset parameter on the media type is fine */
	r = http("PUT", "/locks/jb2", "{\"ttl_ms\":4000}", "application/json; charset=utf-8", NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "jb2", 4000, NULL);
	/* empty object and empty body are fine */
	r = http("PUT", "/locks/jb3", "{}", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "jb3", 30000, NULL);
	r = http("PUT", "/locks/jb4", "", NULL, NULL);
	EXPECT_STATUS(r, 201);
	r = http("PUT", "/locks/jb4b", "", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "jb4b", 30000, NULL);
	r = http("PUT", "/locks/jb4c", "", "text/plain", NULL);
	EXPECT_STATUS(r, 201);
	/* query and body parameters combine */
	r = http("PUT", "/locks/jb5?ttl_ms=3000", "{\"owner\":\"mixed\"}", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "jb5", 3000, "mixed");
}

static void t_acquire_default_ttl(void)
{
	struct resp *r = http("PUT", "/locks/deflt", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "deflt", 30000, NULL);
	struct resp *v = http("GET", "/locks/deflt", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	CHECK_VIEW(v->json, "deflt", 30000, NULL);
}

static void t_acquire_conflict_409(void)
{
	struct grant g = ACQUIRE("busy", "ttl_ms=2500&owner=first");
	struct resp *r = http("PUT", "/locks/busy?ttl_ms=1000&owner=second", NULL, NULL, NULL);
	struct view w = EXPECT_HELD(r, g, 2500, "first");
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra, "409 lock_held without Retry-After header");
	int64_t want = (w.ttl_ms + 999) / 1000;
	CHECKF(strcmp(ra, tfmt("%" PRId64, want)) == 0,
	       "Retry-After should be ceil(%" PRId64 "/1000)=%" PRId64 ", got \"%s\"", w.ttl_ms, want, ra);
	if (w.ttl_ms > 2000)
		CHECKF(strcmp(ra, "3") == 0, "Retry-After should be 3 with %" PRId64 " ms remaining, got %s", w.ttl_ms,
		       ra);

	/* a different (well-formed) token does not help */
	const char *other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	r = http("PUT", tfmt("/locks/busy?token=%s", other), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	EXPECT_NO_TOKEN(r, g.token);
	CHECK_VIEW(JGET(r->json, "lock"), "busy", 2500, "first");
	CHECK(resp_header(r, "Retry-After") != NULL);

	/* the holder is unchanged */
	struct resp *v = http("GET", "/locks/busy", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	w = CHECK_VIEW(v->json, "busy", 2500, "first");
	CHECK(w.fence == g.fence);
}

static void t_acquire_idempotent(void)
{
	struct grant g = ACQUIRE("idem", "ttl_ms=1000&owner=o1");
	sleep_ms(100);
	struct resp *r = http("PUT", tfmt("/locks/idem?ttl_ms=5000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct grant g2 = CHECK_GRANT(r, "idem", 5000, "o1");
	CHECKF(strcmp(g2.token, g.token) == 0, "re-acquire changed the token");
	CHECKF(g2.fence == g.fence, "re-acquire changed the fence %" PRId64 " -> %" PRId64, g.fence, g2.fence);
	CHECKF(g2.expires_ms >= g.expires_ms + 3900, "lease was not extended (expires %" PRId64 " -> %" PRId64 ")",
	       g.expires_ms, g2.expires_ms);

	/* owner updated if given */
	r = http("PUT", tfmt("/locks/idem?ttl_ms=5000&owner=o2&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	g2 = CHECK_GRANT(r, "idem", 5000, "o2");
	CHECK(g2.fence == g.fence);
	struct resp *v = http("GET", "/locks/idem", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	CHECK_VIEW(v->json, "idem", 5000, "o2");

	/* token in the JSON body works the same; owner kept when not given */
	r = http("PUT", "/locks/idem", tfmt("{\"ttl_ms\":6000,\"token\":\"%s\"}", g.token), json_ct, NULL);
	EXPECT_STATUS(r, 200);
	g2 = CHECK_GRANT(r, "idem", 6000, "o2");
	CHECK(strcmp(g2.token, g.token) == 0);
	CHECK(g2.fence == g.fence);

	/* wrong token -> 409 */
	r = http("PUT", "/locks/idem?ttl_ms=5000&token=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	EXPECT_NO_TOKEN(r, g.token);
	CHECK_VIEW(JGET(r->json, "lock"), "idem", 6000, "o2");
}

static void t_acquire_token_when_free(void)
{
	const char *mine = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
	struct resp *r = http("PUT", tfmt("/locks/fresh?ttl_ms=5000&token=%s", mine), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "fresh", 5000, NULL);
	CHECKF(strcmp(g.token, mine) != 0, "server adopted the client-supplied token for a fresh lock");
	CHECK(resp_header(r, "Location") != NULL);

	/* release, then re-acquire with the stale token: fresh acquisition */
	r = http("DELETE", "/locks/fresh", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	r = http("PUT", tfmt("/locks/fresh?ttl_ms=5000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g2 = CHECK_GRANT(r, "fresh", 5000, NULL);
	CHECKF(strcmp(g2.token, g.token) != 0, "stale token was re-used for a new acquisition");
	CHECKF(g2.fence > g.fence, "fence did not increase: %" PRId64 " -> %" PRId64, g.fence, g2.fence);
}

static void t_config_ttl_flags(void)
{
	struct resp *r = http("PUT", "/locks/c1", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "c1", 1000, NULL);
	r = http("PUT", "/locks/c2?ttl_ms=199", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	r = http("PUT", "/locks/c2?ttl_ms=5001", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	ACQUIRE("c3", "ttl_ms=200");
	ACQUIRE("c4", "ttl_ms=5000");
	r = http("POST", "/locks/c1/renew?ttl_ms=5001", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	r = http("POST", "/locks/c1/renew?ttl_ms=199", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	r = http("POST", "/locks/c1/renew?ttl_ms=4000", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK_GRANT(r, "c1", 4000, NULL);
}

static void t_owner_utf8(void)
{
	/* "Zoë ✓" in UTF-8 */
	const char *owner = "Zo\xc3\xab \xe2\x9c\x93";
	struct resp *r = http("PUT", "/locks/utf", "{\"owner\":\"Zo\\u00eb \xe2\x9c\x93\"}", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "utf", 30000, owner);
	struct resp *v = http("GET", "/locks/utf", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	CHECK_VIEW(v->json, "utf", 30000, owner);
	/* via the query string (percent-encoded UTF-8) */
	r = http("PUT", tfmt("/locks/utf2?owner=%s", tesc(owner)), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "utf2", 30000, owner);
	/* empty owner is allowed (0 bytes) */
	r = http("PUT", "/locks/utf3", "{\"owner\":\"\"}", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "utf3", 30000, "");
}

static void expect_no_store(const struct resp *r)
{
	const char *cc = resp_header(r, "Cache-Control");
	CHECKF(cc && strstr(cc, "no-store"), "%s (HTTP %ld): Cache-Control should be no-store, got %s", r->what,
	       r->status, cc ? cc : "(none)");
}

static void t_cache_control_no_store(void)
{
	struct resp *r = http("PUT", "/locks/cc?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	expect_no_store(r);
	struct grant g = CHECK_GRANT(r, "cc", 5000, NULL);
	const char *tok = tfmt("Lock-Token: %s", g.token);
	/* every route and outcome after that, in order (hdr: one extra header line or NULL) */
	const struct {
		const char *method, *path, *hdr;
		long status;
	} steps[] = {
	    {"PUT", tfmt("/locks/cc?ttl_ms=5000&token=%s", g.token), NULL, 200},
	    {"PUT", "/locks/cc", NULL, 409},
	    {"GET", "/locks/cc", NULL, 200},
	    {"HEAD", "/locks/cc", NULL, 200},
	    {"GET", "/locks", NULL, 200},
	    {"POST", "/locks/cc/renew", tok, 200},
	    {"POST", "/locks/cc/renew", NULL, 400},
	    {"DELETE", "/locks/cc", tok, 204},
	    {"GET", "/locks/cc", NULL, 404},
	    {"PUT", "/locks/bad%20name", NULL, 400},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		r = http(steps[i].method, steps[i].path, NULL, NULL, steps[i].hdr, NULL);
		EXPECT_STATUS(r, steps[i].status);
		expect_no_store(r);
	}
}

const struct test tests_locks[] = {
    {"acquire_201", t_acquire_201, {NULL}, 0},
    {"acquire_json_body", t_acquire_json_body, {NULL}, 0},
    {"acquire_default_ttl", t_acquire_default_ttl, {NULL}, 0},
    {"acquire_conflict_409", t_acquire_conflict_409, {NULL}, 0},
    {"acquire_idempotent_reacquire", t_acquire_idempotent, {NULL}, 0},
    {"acquire_token_when_free", t_acquire_token_when_free, {NULL}, 0},
    {"acquire_owner_utf8", t_owner_utf8, {NULL}, 0},
    {"config_ttl_flags",
     t_config_ttl_flags,
     {"--default-ttl-ms", "1000", "--min-ttl-ms", "200", "--max-ttl-ms", "5000", NULL},
     0},
    {"cache_control_no_store", t_cache_control_no_store, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
