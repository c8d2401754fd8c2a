/* Renew (POST /locks/{name}/renew) and release (DELETE /locks/{name}). */
#include "harness.h"

#include <inttypes.h>
#include <string.h>

static const char *json_ct = "application/json";
static const char *other_token = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";

static const char *hdr_token(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

/* check a 200 renew answer against the original grant */
static struct grant check_renewed(struct resp *r, struct grant g, int64_t ttl)
{
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/json");
	struct grant n = CHECK_GRANT(r, g.name, ttl, "*");
	CHECKF(strcmp(n.token, g.token) == 0, "renew changed the token");
	CHECKF(n.fence == g.fence, "renew changed the fence %" PRId64 " -> %" PRId64, g.fence, n.fence);
	CHECKF(n.expires_ms > g.expires_ms, "renew did not move expires_at forward (%" PRId64 " -> %" PRId64 ")",
	       g.expires_ms, n.expires_ms);
	return n;
}

static void t_renew_header(void)
{
	/* 2 s lease, renewed after 300 ms: generous for a loaded machine */
	struct grant g = ACQUIRE("rh", "ttl_ms=2000&owner=me");
	sleep_ms(300);
	struct resp *r = http("POST", "/locks/rh/renew", NULL, NULL, hdr_token(g.token), NULL);
	struct grant n = check_renewed(r, g, 2000);
	CHECK_GRANT(r, "rh", 2000, "me");
	CHECKF(n.expires_ms >= g.expires_ms + 250, "renew did not extend the lease by ~300 ms");
	/* the lock is really extended: still held after the original expiry */
	int64_t wait = g.expires_ms + 100 - wall_ms();
	if (wait > 0)
		sleep_ms((long)wait);
	struct resp *v = http("GET", "/locks/rh", NULL, NULL, NULL);
	if (v->status == 404 && v->t0_wall >= n.expires_ms - 20)
		return; /* machine too loaded to observe the window; not a server fault */
	EXPECT_STATUS(v, 200);
	struct view w = CHECK_VIEW(v->json, "rh", 2000, "me");
	CHECK(w.fence == g.fence);
	CHECKF(w.expires_ms == n.expires_ms, "GET expires_at differs from the renew answer");
}

static void t_renew_body(void)
{
	struct grant g = ACQUIRE("rb", "ttl_ms=2000");
	sleep_ms(50);
	struct resp *r = http("POST", "/locks/rb/renew", tfmt("{\"token\":\"%s\"}", g.token), json_ct, NULL);
	check_renewed(r, g, 2000);
	sleep_ms(50);
	r = http("POST", "/locks/rb/renew", tfmt("{\"token\":\"%s\",\"ttl_ms\":3000}", g.token), json_ct, NULL);
	check_renewed(r, g, 3000);
}

static void t_renew_query(void)
{
	struct grant g = ACQUIRE("rq", "ttl_ms=2000");
	sleep_ms(50);
	struct resp *r = http("POST", tfmt("/locks/rq/renew?token=%s", g.token), NULL, NULL, NULL);
	check_renewed(r, g, 2000);
}

static void t_renew_ttl_override(void)
{
	struct grant g = ACQUIRE("ro", "ttl_ms=1000");
	struct resp *r = http("POST", "/locks/ro/renew?ttl_ms=8000", NULL, NULL, hdr_token(g.token), NULL);
	struct grant n = check_renewed(r, g, 8000);
	CHECKF(n.expires_ms >= g.expires_ms + 6900, "ttl override not applied");
	struct resp *v = http("GET", "/locks/ro", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	struct view w = CHECK_VIEW(v->json, "ro", 8000, "*");
	CHECKF(w.ttl_ms > 7000, "remaining ttl %" PRId64 " should be ~8000 after renew", w.ttl_ms);
	/* ttl in the body too */
	r = http("POST", "/locks/ro/renew", "{\"ttl_ms\":9000}", json_ct, hdr_token(g.token), NULL);
	check_renewed(r, n, 9000);
}

static void t_renew_wrong_token(void)
{
	struct grant g = ACQUIRE("rw", "ttl_ms=5000&owner=holder");
	struct resp *r = http("POST", "/locks/rw/renew", NULL, NULL, hdr_token(other_token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g.token);
	CHECK(r->len == 0 || !memmem(r->body, r->len, other_token, strlen(other_token)));
	struct view w = CHECK_VIEW(JGET(r->json, "lock"), "rw", 5000, "holder");
	CHECK(w.fence == g.fence);
	/* not extended, still held by the original holder */
	struct resp *v = http("GET", "/locks/rw", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	w = CHECK_VIEW(v->json, "rw", 5000, "holder");
	CHECKF(w.expires_ms == g.expires_ms, "wrong-token renew changed expires_at");
}

static void t_renew_after_expiry(void)
{
	struct grant g = ACQUIRE("rx", "ttl_ms=150");
	sleep_ms(400);
	struct resp *r = http("POST", "/locks/rx/renew", NULL, NULL, hdr_token(g.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	EXPECT_NO_TOKEN(r, g.token);
	const char *h = hdr_token(g.token);
	const struct req gone[] = {
	    {"GET", "/locks/rx", NULL, NULL, NULL},
	    {"POST", "/locks/rx/renew?ttl_ms=5000", NULL, NULL, h},
	    {"GET", "/locks/rx", NULL, NULL, NULL},
	    {"DELETE", "/locks/rx", NULL, NULL, h},
	    /* a lock that never existed */
	    {"POST", "/locks/never/renew", NULL, NULL, h},
	    {"GET", "/locks/never", NULL, NULL, NULL},
	};
	EXPECT_PROBLEMS(gone, 404, "not_held");
}

static void t_renew_missing_token(void)
{
	ACQUIRE("rm", "ttl_ms=5000");
	const struct req no_token[] = {
	    {"POST", "/locks/rm/renew", NULL, NULL, NULL},
	    {"POST", "/locks/rm/renew?ttl_ms=1000", NULL, NULL, NULL},
	    {"POST", "/locks/rm/renew", "{\"ttl_ms\":1000}", json_ct, NULL},
	    {"DELETE", "/locks/rm", NULL, NULL, NULL},
	    /* missing token on a free lock is still a 400 (validation first) */
	    {"POST", "/locks/free-one/renew", NULL, NULL, NULL},
	};
	EXPECT_PROBLEMS(no_token, 400, "missing_token");
}

static void t_renew_duplicate_header(void)
{
	struct grant g = ACQUIRE("rd", "ttl_ms=5000");
	struct resp *r = http("POST", "/locks/rd/renew", NULL, NULL, hdr_token(g.token), hdr_token(g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_token");
	r = http("POST", "/locks/rd/renew", NULL, NULL, hdr_token(g.token), hdr_token(other_token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_token");
	r = http("DELETE", "/locks/rd", NULL, NULL, hdr_token(g.token), hdr_token(g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_token");
	/* still held */
	r = http("GET", "/locks/rd", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

static void t_renew_two_sources(void)
{
	struct grant g = ACQUIRE("r2", "ttl_ms=5000");
	const char *q = tfmt("/locks/r2/renew?token=%s", g.token);
	const char *b = tfmt("{\"token\":\"%s\"}", g.token);
	const char *h = hdr_token(g.token);
	const struct req two_sources[] = {
	    {"POST", q, NULL, NULL, h},
	    {"POST", "/locks/r2/renew", b, json_ct, h},
	    {"POST", q, b, json_ct, NULL},
	    {"POST", tfmt("/locks/r2/renew?token=%s&token=%s", g.token, g.token), NULL, NULL, NULL},
	    {"DELETE", tfmt("/locks/r2?token=%s", g.token), NULL, NULL, h},
	    {"DELETE", "/locks/r2", b, json_ct, h},
	};
	EXPECT_PROBLEMS(two_sources, 400, "invalid_parameter");
	/* the lock is untouched */
	struct resp *r = http("GET", "/locks/r2", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct view w = CHECK_VIEW(r->json, "r2", 5000, NULL);
	CHECK(w.expires_ms == g.expires_ms);
}

static void t_renew_invalid_token(void)
{
	ACQUIRE("ri", "ttl_ms=5000");
	const struct req invalid[] = {
	    {"POST", "/locks/ri/renew?token=abc%21", NULL, NULL, NULL},
	    {"POST", "/locks/ri/renew?token=a%20b", NULL, NULL, NULL},
	    {"POST", "/locks/ri/renew?token=abc.def", NULL, NULL, NULL},
	    {"POST", "/locks/ri/renew?token=", NULL, NULL, NULL},
	    {"POST", tfmt("/locks/ri/renew?token=%s", trepeat('A', 65)), NULL, NULL, NULL},
	    {"POST", "/locks/ri/renew", NULL, NULL, "Lock-Token: not/valid"},
	    {"POST", "/locks/ri/renew", "{\"token\":42}", json_ct, NULL},
	    {"DELETE", "/locks/ri?token=abc%21", NULL, NULL, NULL},
	    {"PUT", "/locks/ri?token=abc%21", NULL, NULL, NULL},
	};
	EXPECT_PROBLEMS(invalid, 400, "invalid_token");
	/* 64 chars is the maximum and fine syntactically: mismatch, not 400 */
	struct resp *r = http("POST", tfmt("/locks/ri/renew?token=%s", trepeat('A', 64)), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
}

static void t_release_204(void)
{
	struct grant g = ACQUIRE("rel", "ttl_ms=5000");
	struct resp *r = http("DELETE", "/locks/rel", NULL, NULL, hdr_token(g.token), NULL);
	EXPECT_STATUS(r, 204);
	CHECKF(r->len == 0, "204 must not have a body, got %zu bytes", r->len);
	const struct req released[] = {
	    {"GET", "/locks/rel", NULL, NULL, NULL},
	    {"DELETE", "/locks/rel", NULL, NULL, hdr_token(g.token)},
	    {"POST", "/locks/rel/renew", NULL, NULL, hdr_token(g.token)},
	};
	EXPECT_PROBLEMS(released, 404, "not_held");
	/* another client acquires: strictly larger fence */
	struct grant g2 = ACQUIRE("rel", "ttl_ms=5000");
	CHECKF(g2.fence > g.fence, "fence after release %" PRId64 " not > %" PRId64, g2.fence, g.fence);
	CHECK(strcmp(g2.token, g.token) != 0);
	/* the old token can't release the new holder */
	r = http("DELETE", "/locks/rel", NULL, NULL, hdr_token(g.token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g2.token);
}

static void t_release_sources(void)
{
	struct grant g = ACQUIRE("rs1", "ttl_ms=5000");
	struct resp *r = http("DELETE", tfmt("/locks/rs1?token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 204);
	CHECK(r->len == 0);
	r = http("GET", "/locks/rs1", NULL, NULL, NULL);
	EXPECT_STATUS(r, 404);

	g = ACQUIRE("rs2", "ttl_ms=5000");
	r = http("DELETE", "/locks/rs2", tfmt("{\"token\":\"%s\"}", g.token), json_ct, NULL);
	EXPECT_STATUS(r, 204);
	CHECK(r->len == 0);
	r = http("GET", "/locks/rs2", NULL, NULL, NULL);
	EXPECT_STATUS(r, 404);
}

static void t_release_wrong_token(void)
{
	struct grant g = ACQUIRE("rwt", "ttl_ms=5000&owner=keeper");
	struct resp *r = http("DELETE", "/locks/rwt", NULL, NULL, hdr_token(other_token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g.token);
	struct view w = CHECK_VIEW(JGET(r->json, "lock"), "rwt", 5000, "keeper");
	CHECK(w.fence == g.fence);
	r = http("GET", "/locks/rwt", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	w = CHECK_VIEW(r->json, "rwt", 5000, "keeper");
	CHECK(w.fence == g.fence);
	r = http("DELETE", "/locks/rwt", NULL, NULL, hdr_token(g.token), NULL);
	EXPECT_STATUS(r, 204);
}

const struct test tests_renew_release[] = {
    {"renew_lock_token_header", t_renew_header, {NULL}, 0},
    {"renew_body_token", t_renew_body, {NULL}, 0},
    {"renew_query_token", t_renew_query, {NULL}, 0},
    {"renew_ttl_override", t_renew_ttl_override, {NULL}, 0},
    {"renew_wrong_token_409", t_renew_wrong_token, {NULL}, 0},
    {"renew_after_expiry_404", t_renew_after_expiry, {NULL}, 0},
    {"renew_missing_token_400", t_renew_missing_token, {NULL}, 0},
    {"renew_duplicate_lock_token_header_400", t_renew_duplicate_header, {NULL}, 0},
    {"renew_token_two_sources_400", t_renew_two_sources, {NULL}, 0},
    {"renew_invalid_token_400", t_renew_invalid_token, {NULL}, 0},
    {"release_204", t_release_204, {NULL}, 0},
    {"release_token_sources", t_release_sources, {NULL}, 0},
    {"release_wrong_token_409", t_release_wrong_token, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
