/* Unit tests for redlock.c's pure arithmetic: quorum, drift allowance and
 * the validity left of a lease. */
#include <stdint.h>

#include "redis/redlock.h"
#include "unit.h"

static void test_quorum(void)
{
	static const struct {
		unsigned n, want;
	} T[] = {
	    {1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3}, {6, 4}, {7, 4}, {8, 5}, {9, 5},
	};
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
		CHECK(redlock_quorum(T[i].n) == T[i].want, "redlock_quorum(%u): expected %u, got %u", T[i].n, T[i].want,
		      redlock_quorum(T[i].n));
	/* a quorum is a strict majority: two quorums always share a node */
	for (unsigned n = 1; n <= REDLOCK_MAX_NODES; n++) {
		unsigned q = redlock_quorum(n);
		CHECK(2 * q > n, "redlock_quorum(%u) = %u is not a majority", n, q);
		CHECK(2 * (q - 1) <= n, "redlock_quorum(%u) = %u is more than a bare majority", n, q);
		CHECK(q <= n, "redlock_quorum(%u) = %u exceeds the node count", n, q);
	}
}

static void test_drift(void)
{
	static const struct {
		int64_t ttl;
		double factor;
		int64_t want;
	} T[] = {
	    {150, 0.01, 4},   /* 1.5 rounds up to 2, + 2 */
	    {100, 0.01, 3},   /* exactly 1, + 2 */
	    {101, 0.01, 4},   /* 1.01 -> 2 */
	    {199, 0.01, 4},   /* 1.99 -> 2 */
	    {200, 0.01, 4},   /* exactly 2 */
	    {201, 0.01, 5},   /* 2.01 -> 3 */
	    {1000, 0.01, 12}, /* the 1 s lease */
	    {10000, 0.01, 102},
	    {30000, 0.01, 302},       /* the default lease */
	    {86400000, 0.01, 864002}, /* the longest allowed lease */
	    {1, 0.01, 3},             /* 0.01 -> 1 */
	    {0, 0.01, 2},
	    {100, 0.0, 2}, /* no drift: only the 2 ms */
	    {86400000, 0.0, 2},
	    {1005, 0.1, 103}, /* 100.5 -> 101 */
	    {1000, 0.1, 102},
	    {1, 0.5, 3}, /* 0.5 -> 1 */
	    {3, 0.5, 4}, /* 1.5 -> 2 */
	    {100, 0.5, 52},
	    {1000, 0.001, 3}, /* 1 */
	    {1500, 0.001, 4}, /* 1.5 -> 2 */
	};
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		int64_t got = redlock_drift_ms(T[i].ttl, T[i].factor);
		CHECK(got == T[i].want, "redlock_drift_ms(%lld, %g): expected %lld, got %lld", (long long)T[i].ttl,
		      T[i].factor, (long long)T[i].want, (long long)got);
	}
	/* the default factor, every lease from 0 to 100 s: ceil(ttl / 100) + 2, exactly */
	unsigned bad = 0;
	for (int64_t ttl = 0; ttl <= 100000; ttl++) {
		int64_t want = (ttl + 99) / 100 + 2, got = redlock_drift_ms(ttl, 0.01);
		if (got != want && bad++ < 5)
			CHECK(0, "redlock_drift_ms(%lld, 0.01): expected %lld, got %lld", (long long)ttl,
			      (long long)want, (long long)got);
	}
	CHECK(bad == 0, "redlock_drift_ms(ttl, 0.01) wrong for %u leases in 0..100000", bad);
	/* never below the fixed 2 ms, never decreasing in the lease */
	for (int64_t ttl = 0; ttl <= 5000; ttl += 7) {
		CHECK(redlock_drift_ms(ttl, 0.01) >= 2, "drift below 2 ms for ttl %lld", (long long)ttl);
		CHECK(redlock_drift_ms(ttl + 1, 0.01) >= redlock_drift_ms(ttl, 0.01), "drift decreases at ttl %lld",
		      (long long)ttl);
		CHECK(redlock_drift_ms(ttl, 0.02) >= redlock_drift_ms(ttl, 0.01),
		      "a larger factor gives less drift at %lld", (long long)ttl);
	}
}

static void test_validity(void)
{
	static const struct {
		int64_t ttl, elapsed;
		double factor;
		int64_t want;
	} T[] = {
	    {10000, 0, 0.01, 9898},
	    {10000, 5, 0.01, 9893},
	    {30000, 50, 0.01, 29648},
	    {1000, 3, 0.01, 985},
	    {150, 0, 0.01, 146},
	    {150, 145, 0.01, 1}, /* the last millisecond of a lease */
	    {150, 146, 0.01, 0}, /* nothing left: not held */
	    {150, 147, 0.01, -1},
	    {1000, 988, 0.01, 0},
	    {100, 50, 0.01, 47},    /* a stalled node at the default 50 ms timeout */
	    {100, 200, 0.01, -103}, /* took longer than the lease */
	    {100, 97, 0.01, 0},
	    {1005, 0, 0.1, 902},
	    {100, 0, 0.0, 98},
	    {0, 0, 0.01, -2},
	    {86400000, 1000, 0.01, 86400000 - 1000 - 864002},
	};
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		int64_t got = redlock_validity_ms(T[i].ttl, T[i].elapsed, T[i].factor);
		CHECK(got == T[i].want, "redlock_validity_ms(%lld, %lld, %g): expected %lld, got %lld",
		      (long long)T[i].ttl, (long long)T[i].elapsed, T[i].factor, (long long)T[i].want, (long long)got);
	}
	/* validity = ttl - elapsed - drift over a grid; it shrinks by exactly
	 * one for every millisecond spent */
	for (int64_t ttl = 100; ttl <= 20000; ttl += 333) {
		for (int64_t el = 0; el <= 400; el += 37) {
			int64_t v = redlock_validity_ms(ttl, el, 0.01);
			CHECK(v == ttl - el - redlock_drift_ms(ttl, 0.01),
			      "redlock_validity_ms(%lld, %lld, 0.01) = %lld", (long long)ttl, (long long)el,
			      (long long)v);
			CHECK(redlock_validity_ms(ttl, el + 1, 0.01) == v - 1,
			      "validity not linear in elapsed at %lld/%lld", (long long)ttl, (long long)el);
			CHECK(v < ttl, "validity %lld not below the lease %lld", (long long)v, (long long)ttl);
		}
	}
}

int main(void)
{
	test_quorum();
	test_drift();
	test_validity();
	return unit_done();
}
