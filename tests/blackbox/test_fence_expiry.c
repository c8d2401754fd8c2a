/* Fencing tokens and lease expiry. */
#include "harness.h"

#include <inttypes.h>
#include <string.h>

static const char *g_last_token;

static int64_t acquire_release(const char *name)
{
	struct grant g = ACQUIRE(name, "ttl_ms=5000");
	g_last_token = g.token;
	struct resp *r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	return g.fence;
}

static void t_fence_monotonic(void)
{
	int64_t prev = 0;
	const char *tokens[40];
	for (int i = 0; i < 40; i++) {
		int64_t f = acquire_release("mono");
		CHECKF(f > prev, "cycle %d: fence %" PRId64 " not > previous %" PRId64, i, f, prev);
		prev = f;
		tokens[i] = g_last_token;
		for (int j = 0; j < i; j++)
			CHECKF(strcmp(tokens[j], tokens[i]) != 0, "token re-used across acquisitions: %s", tokens[i]);
	}
	/* another name has its own (also increasing) sequence and does not
	 * disturb this one */
	int64_t o1 = acquire_release("mono-other");
	int64_t o2 = acquire_release("mono-other");
	CHECK(o2 > o1);
	int64_t f = acquire_release("mono");
	CHECKF(f > prev, "fence %" PRId64 " not > previous %" PRId64, f, prev);
}

static void t_fence_after_expiry(void)
{
	int64_t prev = 0;
	for (int i = 0; i < 3; i++) {
		struct grant g = ACQUIRE("expfence", "ttl_ms=120");
		CHECKF(g.fence > prev, "fence %" PRId64 " not > previous %" PRId64, g.fence, prev);
		prev = g.fence;
		sleep_ms(250);
		struct resp *r = http("GET", "/locks/expfence", NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 404, "not_held");
	}
	/* mixing expiry and re-acquire-with-token (which keeps the fence) */
	struct grant g = ACQUIRE("expfence", "ttl_ms=5000");
	CHECK(g.fence > prev);
	struct resp *r = http("PUT", tfmt("/locks/expfence?ttl_ms=5000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_GRANT(r, "expfence", 5000, NULL).fence == g.fence);
}

static void t_fence_after_data_loss(void)
{
	int64_t maxf = 0;
	for (int i = 0; i < 5; i++) {
		int64_t f = acquire_release("lost");
		if (f > maxf)
			maxf = f;
	}
	struct grant held = ACQUIRE("lost", "ttl_ms=30000");
	if (held.fence > maxf)
		maxf = held.fence;
	CHECK(redis_flushall());
	/* the lock data is gone: the old holder can't renew it */
	struct resp *r = http("POST", "/locks/lost/renew", NULL, NULL, tfmt("Lock-Token: %s", held.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("GET", "/locks/lost", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	/* ...and the fence counter must not go backwards */
	struct grant g = ACQUIRE("lost", "ttl_ms=5000");
	CHECKF(g.fence > maxf, "fence after FLUSHALL %" PRId64 " not > %" PRId64 " issued before", g.fence, maxf);
	int64_t f2 = acquire_release("lost-2");
	(void)f2;
	r = http("DELETE", "/locks/lost", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	struct grant g2 = ACQUIRE("lost", "ttl_ms=5000");
	CHECK(g2.fence > g.fence);
	/* the counter is based on Redis TIME in microseconds: it should be in
	 * the right ballpark of the wall clock (µs since the epoch). */
	int64_t now_us = wall_ms() * 1000;
	CHECKF(g.fence > now_us - 3600LL * 1000000 && g.fence < now_us + 3600LL * 1000000,
	       "fence %" PRId64 " after data loss is not based on Redis TIME in µs (now %" PRId64 ")", g.fence, now_us);
}

static void t_expiry(void)
{
	struct grant g = ACQUIRE("exp", "ttl_ms=300");
	struct resp *r = http("GET", "/locks/exp", NULL, NULL, NULL);
	/* (the "held" checks only apply if the machine was quick enough) */
	if (r->t1_wall < g.expires_ms - 20) {
		EXPECT_STATUS(r, 200);
		CHECK_VIEW(r->json, "exp", 300, "*");
	}
	r = http("PUT", "/locks/exp?ttl_ms=300", NULL, NULL, NULL);
	if (r->t1_wall < g.expires_ms - 20) {
		EXPECT_PROBLEM(r, 409, "lock_held");
		CHECKF(resp_header(r, "Retry-After") && strcmp(resp_header(r, "Retry-After"), "1") == 0,
		       "Retry-After should be 1 for a <1s remaining lease");
	}
	CHECKF(r->status == 409 || r->status == 201, "PUT answered %ld", r->status);
	if (r->status == 201) {
		sleep_ms(500);
		r = http("GET", "/locks/exp", NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 404, "not_held");
		return;
	}
	sleep_ms(500);
	r = http("GET", "/locks/exp", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	struct grant g2 = ACQUIRE("exp", "ttl_ms=5000");
	CHECK(strcmp(g.token, g2.token) != 0);
	CHECKF(g2.fence > g.fence, "fence %" PRId64 " not > %" PRId64, g2.fence, g.fence);
	r = http("DELETE", "/locks/exp", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g2.token);
}

const struct test tests_fence_expiry[] = {
    {"fence_monotonic", t_fence_monotonic, {NULL}, 0},
    {"fence_after_expiry", t_fence_after_expiry, {NULL}, 0},
    {"fence_after_data_loss", t_fence_after_data_loss, {NULL}, 0},
    {"expiry", t_expiry, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
