/* Unit tests for cli/timing.c: dlock's durations and `dlock run`'s schedule — renew
 * interval, margin, grace shortening, and the SIGTERM/SIGKILL deadlines. */
#include <inttypes.h>

#include "cli/timing.h"
#include "unit.h"

static void test_parse_dur(void)
{
	static const struct {
		const char *in;
		bool ok;
		int64_t ms;
	} T[] = {
	    {"0", true, 0},
	    {"250", true, 250},
	    {"250ms", true, 250},
	    {"30s", true, 30000},
	    {"5m", true, 300000},
	    {"1h", true, 3600000},
	    {"007s", true, 7000},
	    {"87600h", true, INT64_C(315360000000)},
	    {"87601h", false, 0},
	    {"315360000000", true, INT64_C(315360000000)},
	    {"315360000001", false, 0},
	    {"99999999999999999999999", false, 0},
	    {"", false, 0},
	    {"s", false, 0},
	    {"ms", false, 0},
	    {"-1", false, 0},
	    {"+1", false, 0},
	    {" 1", false, 0},
	    {"1 ", false, 0},
	    {"1.5s", false, 0},
	    {"1S", false, 0},
	    {"1sec", false, 0},
	    {"1d", false, 0},
	    {"1msx", false, 0},
	    {"1h1m", false, 0},
	    {"0x10", false, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		int64_t ms = -42;
		bool ok = timing_parse_dur(T[i].in, &ms);
		CHECK(ok == T[i].ok, "timing_parse_dur(%s) = %d", unit_escz(T[i].in), ok);
		if (ok && T[i].ok)
			CHECK(ms == T[i].ms, "timing_parse_dur(%s) = %" PRId64 ", want %" PRId64, unit_escz(T[i].in),
			      ms, T[i].ms);
		if (!ok)
			CHECK(ms == -42, "timing_parse_dur(%s) wrote its output on failure", unit_escz(T[i].in));
	}
	CHECK(!timing_parse_dur(NULL, NULL), "NULL is not a duration");
}

static void test_plan(void)
{
	static const struct {
		int64_t ttl, grace;
		bool ok;
		int64_t renew, margin, grace_out;
		bool shortened;
	} T[] = {
	    /* 30 s: M = 1.5 s, room for a grace of 30 - 1.5 - 20 = 8.5 s */
	    {30000, 5000, true, 10000, 1500, 5000, false},
	    {30000, 8500, true, 10000, 1500, 8500, false},
	    {30000, 8501, true, 10000, 1500, 8500, true},
	    {30000, 0, true, 10000, 1500, 0, false},
	    /* 10 s: M = 500 ms, grace at most 10000 - 500 - 6666 = 2834 */
	    {10000, 5000, true, 3333, 500, 2834, true},
	    /* 2 s: M = 100 ms (the floor), grace at most 2000 - 100 - 1332 = 568 */
	    {2000, 5000, true, 666, 100, 568, true},
	    /* 300 ms: 300 - 100 - 200 = 0: no grace left, SIGTERM and SIGKILL together */
	    {300, 5000, true, 100, 100, 0, true},
	    {200, 0, true, 66, 100, 0, false},
	    /* too short to renew before E - M: ttl - M <= ttl/3 */
	    {150, 0, false, 0, 0, 0, false},
	    {100, 0, false, 0, 0, 0, false},
	    {2, 0, false, 0, 0, 0, false},
	    {0, 0, false, 0, 0, 0, false},
	    {-1, 0, false, 0, 0, 0, false},
	    {30000, -1, false, 0, 0, 0, false},
	    /* 1 h: M = 180 s */
	    {3600000, 5000, true, 1200000, 180000, 5000, false},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct timing_plan p;
		bool ok = timing_plan(T[i].ttl, T[i].grace, &p);
		CHECK(ok == T[i].ok, "timing_plan(%" PRId64 ", %" PRId64 ") = %d", T[i].ttl, T[i].grace, ok);
		if (!ok || !T[i].ok)
			continue;
		CHECK_INT(p.renew_ms, T[i].renew, "renew_ms");
		CHECK_INT(p.margin_ms, T[i].margin, "margin_ms");
		CHECK_INT(p.grace_ms, T[i].grace_out, "grace_ms");
		CHECK(p.grace_shortened == T[i].shortened, "ttl %" PRId64 ": grace_shortened %d", T[i].ttl,
		      p.grace_shortened);
		/* the schedule's invariants: the first renew goes out before SIGKILL's deadline,
		 * SIGTERM comes no earlier than two renew intervals into the lease, retries are
		 * several per interval */
		CHECK(p.renew_ms < T[i].ttl - p.margin_ms, "ttl %" PRId64 ": renew after E - M", T[i].ttl);
		CHECK(timing_term_at(&p, T[i].ttl) >= 2 * p.renew_ms || p.grace_ms == 0,
		      "ttl %" PRId64 ": SIGTERM before the second renew", T[i].ttl);
		CHECK(p.retry_ms >= 10 && p.retry_ms <= 1000 && p.retry_ms <= p.renew_ms,
		      "ttl %" PRId64 ": retry_ms %" PRId64, T[i].ttl, p.retry_ms);
	}
}

static void test_deadlines(void)
{
	struct timing_plan p;

	CHECK(timing_plan(30000, 5000, &p), "plan");
	/* a renew sent at t=1000 confirms until E = 31000 */
	CHECK_INT(timing_next_renew(&p, 1000), 11000, "next renew");
	CHECK_INT(timing_kill_at(&p, 31000), 31000 - 1500, "SIGKILL at E - M");
	CHECK_INT(timing_term_at(&p, 31000), 31000 - 1500 - 5000, "SIGTERM at E - M - grace");
	/* a renew's timeout: the HTTP limit, cut at the next deadline, never 0 */
	CHECK_INT(timing_call_timeout(10000, 1000, 24500), 10000, "timeout well before the deadline");
	CHECK_INT(timing_call_timeout(10000, 20000, 24500), 4500, "timeout cut at the deadline");
	CHECK_INT(timing_call_timeout(10000, 24500, 24500), 1, "at the deadline");
	CHECK_INT(timing_call_timeout(10000, 30000, 24500), 1, "past the deadline");
	/* With renews failing from t=1000 on, the last confirmed E stays 31000: SIGKILL at
	 * 29500 comes M before the lease Redis holds (which began after the send) can end. */
	CHECK(timing_kill_at(&p, 31000) < 31000, "SIGKILL before E");
}

/* Failing over between replicas: each attempt an equal share of what is left beyond the
 * wait, the wait in full, the last all of it, never 0. */
static void test_attempts(void)
{
	CHECK_INT(timing_attempt_ms(10000, 0, 1), 10000, "one replica: the whole budget");
	CHECK_INT(timing_attempt_ms(10000, 0, 2), 5000, "two replicas: half each");
	CHECK_INT(timing_attempt_ms(9000, 0, 3), 3000, "three: a third");
	CHECK_INT(timing_attempt_ms(70000, 60000, 2), 65000, "a waiting acquire: its wait plus half the rest");
	CHECK_INT(timing_attempt_ms(50000, 60000, 2), 50000, "the wait outlasts the budget: all that is left");
	CHECK_INT(timing_attempt_ms(1, 0, 4), 1, "1 ms left: 1 ms");
	CHECK_INT(timing_attempt_ms(0, 0, 2), 1, "nothing left: never 0 (curl: no timeout)");
	CHECK_INT(timing_attempt_ms(3, 0, 8), 1, "a share below 1 ms: 1 ms");
}

int main(void)
{
	test_parse_dur();
	test_plan();
	test_deadlines();
	test_attempts();
	return unit_done();
}
