/* Unit tests for acks.c: which answers wait for the replicas, when a WAIT is
 * due (writes open, none out), the WAIT's timeout (what remains for the
 * batch's oldest write, less the slack, never 0), and that held answers come
 * back in order, each once. */
#include <stdint.h>
#include <stdlib.h>

#include "redis/acks.h"
#include "unit.h"

static void test_waits_for(void)
{
	for (int o = LOCK_GRANTED; o <= LOCK_UNCONFIRMED; o++) {
		bool want = o == LOCK_GRANTED || o == LOCK_REACQUIRED || o == LOCK_RENEWED || o == LOCK_RELEASED;
		CHECK(acks_waits_for((enum lock_outcome)o) == want, "acks_waits_for(%s) is %d",
		      lock_outcome_str((enum lock_outcome)o), !want);
	}
}

static void test_batches(void)
{
	struct acks a;

	acks_init(&a);
	CHECK(!acks_due(&a), "due with nothing written");
	acks_sent(&a, 1000);
	acks_sent(&a, 1040);
	CHECK(acks_due(&a), "not due after writes");
	acks_wait_sent(&a);
	CHECK(!acks_due(&a), "due while the WAIT is out and nothing new was written");
	acks_sent(&a, 1100);
	CHECK(!acks_due(&a), "a second WAIT due while one is out");
	(void)acks_wait_end(&a);
	CHECK(acks_due(&a), "the writes sent while the WAIT was out are not due once it returned");
	acks_reset(&a);
	CHECK(!acks_due(&a), "due after the connection was lost");
}

static void test_timeout(void)
{
	static const struct {
		int line;
		uint64_t oldest, now;
		unsigned timeout;
		uint64_t want;
	} cases[] = {
	    {__LINE__, 1000, 1000, 1000, 900}, /* all of it left: less the slack */
	    {__LINE__, 1000, 1300, 1000, 600},
	    {__LINE__, 1000, 1800, 1000, 100}, /* 200 left: exactly twice the slack */
	    {__LINE__, 1000, 1850, 1000, 75},  /* 150 left: half of it */
	    {__LINE__, 1000, 1999, 1000, 1},   /* 1 left: never 0 (0 blocks forever) */
	    {__LINE__, 1000, 2000, 1000, 1},
	    {__LINE__, 1000, 5000, 1000, 1}, /* overdue */
	    {__LINE__, 0, 0, 10, 5},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct acks a;
		acks_init(&a);
		acks_sent(&a, cases[i].oldest + 50);
		acks_sent(&a, cases[i].oldest); /* the oldest counts, whatever the order */
		uint64_t got = acks_wait_timeout(&a, cases[i].now, cases[i].timeout);
		CHECK(got == cases[i].want, "line %d: timeout %llu, want %llu", cases[i].line, (unsigned long long)got,
		      (unsigned long long)cases[i].want);
	}
}

static void test_held(void)
{
	struct acks a;
	struct lock_reply r;
	struct acks_held *h, *next;
	int n = 0;

	acks_init(&a);
	memset(&r, 0, sizeof r);
	for (int i = 0; i < 3; i++) {
		r.outcome = LOCK_GRANTED;
		r.view.fence = i;
		snprintf(r.view.token, sizeof r.view.token, "tok%d", i);
		CHECK(acks_hold(&a, &r, NULL, (void *)(intptr_t)i) == 0, "hold %d failed", i);
	}
	h = acks_wait_end(&a);
	for (; h; h = next, n++) {
		next = h->next;
		CHECK(h->arg == (void *)(intptr_t)n && h->reply.view.fence == n, "held answer %d out of order", n);
		char want[16];
		snprintf(want, sizeof want, "tok%d", n);
		CHECK(strcmp(h->reply.view.token, want) == 0, "held answer %d lost its token", n);
		acks_held_free(h);
	}
	CHECK(n == 3, "%d held answers came back, want 3", n);
	CHECK(acks_wait_end(&a) == NULL, "held answers came back twice");
}

int main(void)
{
	test_waits_for();
	test_batches();
	test_timeout();
	test_held();
	return unit_done();
}
