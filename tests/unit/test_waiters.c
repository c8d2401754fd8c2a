/* Unit tests for waiters.c over the fake backend (fake_backend.h) and a real
 * loop: when a waiting acquire tries again (at the holder's expiry, at least
 * every BACKEND_WAITER_RECHECK_MS, at once when woken, a last time at its
 * deadline), how a wait ends (grant, time up, error, cancel), and what an
 * abandoned wait gives back. Timers run in real time: the waits here are
 * short, and the longest (the recheck interval) run side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/loop.h"
#include "fake_backend.h"
#include "locks/waiters.h"
#include "unit.h"

#define INSTANCE "inst-3"

/* Splits a waiter id "<instance>|<slot>.<gen>"; true if it has that shape
 * and names INSTANCE. */
static bool parse_id(const char *id, unsigned *slot, unsigned *gen)
{
	char tail;
	size_t n = strlen(INSTANCE);
	return strncmp(id, INSTANCE "|", n + 1) == 0 && sscanf(id + n + 1, "%u.%u%c", slot, gen, &tail) == 2;
}

enum {
	SLACK_MS = 400, /* how late a timer may run on a busy machine */
};

#define HOLDER_NOW INT64_C(1700000000000) /* the backend's clock in the views below */

struct env {
	struct loop *loop;
	struct fake_backend *fb;
	struct backend *b;
	struct waiters *ws;
};

/* What a wait's callback was given. */
struct got {
	int calls;
	struct lock_reply reply;
	bool too_early; /* called from inside waiters_acquire() */
};

static bool in_acquire;

static void on_result(void *arg, const struct lock_reply *r)
{
	struct got *g = arg;
	g->calls++;
	g->reply = *r;
	if (in_acquire)
		g->too_early = true;
}

static void env_init(struct env *e, unsigned max)
{
	e->loop = loop_new();
	if (!e->loop) {
		printf("FAIL loop_new() failed\n");
		exit(1);
	}
	e->fb = fake_new(e->loop);
	e->b = fake_backend(e->fb);
	e->ws = waiters_new(e->loop, e->b, INSTANCE, max);
	if (!e->ws) {
		printf("FAIL waiters_new() failed\n");
		exit(1);
	}
	CHECK(fake_watched(e->fb), "waiters_new() registers itself as the backend's watcher");
}

/* Shuts down as dlockd does: cancel the waits, stop the backend, free. */
static void env_free(struct env *e)
{
	waiters_cancel_all(e->ws);
	backend_free(e->b);
	waiters_free(e->ws);
	loop_free(e->loop);
}

static enum backend_start start(struct env *e, const struct lock_request *req, int64_t wait_ms, struct got *g,
                                struct waiter **h)
{
	enum backend_start st;

	memset(g, 0, sizeof *g);
	loop_update_now(e->loop);
	in_acquire = true;
	st = waiters_acquire(e->ws, req, wait_ms, on_result, g, h);
	in_acquire = false;
	return st;
}

static struct lock_view holder_view(const char *name, int64_t fence, int64_t left_ms)
{
	struct lock_view v;

	memset(&v, 0, sizeof v);
	snprintf(v.name, sizeof v.name, "%s", name);
	snprintf(v.owner, sizeof v.owner, "someone");
	v.has_owner = true;
	v.fence = fence;
	v.ttl_ms = left_ms;
	v.now_ms = HOLDER_NOW;
	v.acquired_ms = HOLDER_NOW - 5000;
	v.expires_ms = HOLDER_NOW + left_ms;
	return v;
}

static struct lock_view grant_view(const char *name, const char *token, int64_t fence)
{
	struct lock_view v = holder_view(name, fence, 5000);
	snprintf(v.token, sizeof v.token, "%s", token);
	return v;
}

/* Checks that call c is an attempt for `name` with token, from a waiter. */
static bool check_attempt(int line, const struct fake_call *c, const char *name, const char *token, const char *waiter)
{
	bool ok = unit_check_(c && c->op == FAKE_ACQUIRE, __FILE__, line, "expected an acquire, got %s",
	                      c ? fake_op_name(c->op) : "no call");
	if (!ok)
		return false;
	ok &= unit_check_(strcmp(c->name, name) == 0, __FILE__, line, "attempt name %s, expected %s",
	                  unit_escz(c->name), unit_escz(name));
	ok &= unit_check_(c->has_token && strcmp(c->token, token) == 0, __FILE__, line, "attempt token %s, expected %s",
	                  unit_escz(c->token), unit_escz(token));
	ok &= unit_check_(c->has_waiter, __FILE__, line, "an attempt names its waiter");
	if (waiter)
		ok &= unit_check_(strcmp(c->waiter, waiter) == 0, __FILE__, line, "attempt waiter %s, expected %s",
		                  unit_escz(c->waiter), unit_escz(waiter));
	return ok;
}

static bool check_leave(int line, const struct fake_call *c, const char *name, const char *waiter)
{
	bool ok = unit_check_(c && c->op == FAKE_LEAVE, __FILE__, line, "expected a leave, got %s",
	                      c ? fake_op_name(c->op) : "no call");
	if (!ok)
		return false;
	ok &= unit_check_(strcmp(c->name, name) == 0 && strcmp(c->waiter, waiter) == 0, __FILE__, line,
	                  "leave(%s, %s), expected leave(%s, %s)", unit_escz(c->name), unit_escz(c->waiter),
	                  unit_escz(name), unit_escz(waiter));
	return ok;
}

/* ---- a grant on the first try ---- */

static void test_granted_first_try(void)
{
	struct env e;
	struct got g;
	struct waiter *h = NULL;
	struct lock_request req = {.name = "alpha", .token = "TOKEN-1", .owner = "me", .ttl_ms = 5000};
	struct fake_call *c;
	struct lock_view v = grant_view("alpha", "TOKEN-1", 42);
	unsigned slot, gen;

	env_init(&e, 8);
	CHECK_INT(start(&e, &req, 2000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	CHECK(h != NULL, "waiters_acquire sets the handle");
	CHECK_INT(g.calls, 0, "callbacks before any answer");
	CHECK_INT(fake_count(e.fb, FAKE_ANY), 1, "calls after waiters_acquire");
	c = fake_call_at(e.fb, 0);
	if (check_attempt(__LINE__, c, "alpha", "TOKEN-1", NULL)) {
		CHECK(!c->has_reacquire_token, "no re-acquire token given: none sent");
		CHECK(c->has_owner && strcmp(c->owner, "me") == 0, "owner sent: %s", unit_escz(c->owner));
		CHECK_INT(c->ttl_ms, 5000, "ttl_ms sent");
		CHECK_INT(c->wait_left_ms, 2000, "wait_left_ms of the first try");
		CHECK(!c->final, "the first try is not the last");
		CHECK(parse_id(c->waiter, &slot, &gen), "waiter id %s is " INSTANCE "|<slot>.<gen>",
		      unit_escz(c->waiter));
	}
	fake_answer(c, LOCK_GRANTED, &v);
	CHECK_INT(g.calls, 0, "callbacks before the loop delivers the answer");
	fake_turn(e.loop);
	CHECK_INT(g.calls, 1, "callbacks after a grant");
	CHECK_INT(g.reply.outcome, LOCK_GRANTED, "outcome");
	CHECK_INT(g.reply.view.fence, 42, "the grant's fence reaches the caller");
	CHECK_STR(g.reply.view.token, "TOKEN-1", "the grant's token reaches the caller");
	fake_run_for(e.loop, 30);
	CHECK_INT(fake_count(e.fb, FAKE_ANY), 1, "calls after a grant (no retry, no leave)");
	CHECK_INT(g.calls, 1, "callbacks after a grant, later");

	/* a re-acquire: the caller's token goes along; REACQUIRED ends the wait */
	{
		char name[16] = "beta", token[16] = "TOKEN-2", retoken[16] = "OLD-TOKEN";
		struct lock_request rq = {.name = name, .token = token, .reacquire_token = retoken, .ttl_ms = 1000};
		CHECK_INT(start(&e, &rq, 500, &g, &h), BACKEND_STARTED, "waiters_acquire (re-acquire)");
		memset(name, 'x', sizeof name - 1); /* copied: changing them now changes nothing */
		memset(token, 'x', sizeof token - 1);
		memset(retoken, 'x', sizeof retoken - 1);
		c = fake_last(e.fb, FAKE_ACQUIRE);
		if (check_attempt(__LINE__, c, "beta", "TOKEN-2", NULL)) {
			CHECK(c->has_reacquire_token && strcmp(c->reacquire_token, "OLD-TOKEN") == 0,
			      "re-acquire token sent: %s", unit_escz(c->reacquire_token));
			CHECK(!c->has_owner, "no owner given: none sent");
		}
		/* a retry is made from the waiter's own copies */
		v = holder_view("beta", 9, 10);
		fake_answer(c, LOCK_HELD, &v);
		fake_turn(e.loop);
		CHECK(fake_run_until_calls(e.loop, e.fb, FAKE_ACQUIRE, 2, 1000), "re-acquire retried");
		c = fake_last(e.fb, FAKE_ACQUIRE);
		if (check_attempt(__LINE__, c, "beta", "TOKEN-2", NULL))
			CHECK(c->has_reacquire_token && strcmp(c->reacquire_token, "OLD-TOKEN") == 0,
			      "re-acquire token of the retry: %s", unit_escz(c->reacquire_token));
		v = grant_view("beta", "OLD-TOKEN", 9);
		fake_answer(c, LOCK_REACQUIRED, &v);
		fake_turn(e.loop);
		CHECK(g.calls == 1 && g.reply.outcome == LOCK_REACQUIRED, "re-acquire: %d calls, outcome %s", g.calls,
		      lock_outcome_str(g.reply.outcome));
		CHECK_STR(g.reply.view.token, "OLD-TOKEN", "a re-acquire answers with the caller's token");
		fake_run_for(e.loop, 20);
		CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 3, "attempts after a re-acquire");
	}
	CHECK(!g.too_early, "a callback ran inside waiters_acquire()");
	env_free(&e);
}

/* ---- when a refused try is retried ---- */

/* HELD: at the holder's expiry (+1 ms), or after RECHECK if that is sooner;
 * RESERVED: after RECHECK. The long ones run side by side. */
static void test_retry_timing(void)
{
	struct env e;
	struct got ga, gb, gc, gd;
	struct waiter *h;
	struct lock_request ra = {.name = "a", .token = "TA", .ttl_ms = 1000};
	struct lock_request rb = {.name = "b", .token = "TB", .ttl_ms = 1000};
	struct lock_request rc = {.name = "c", .token = "TC", .ttl_ms = 1000};
	struct lock_request rd = {.name = "d", .token = "TD", .ttl_ms = 1000};
	struct fake_call *a, *b, *c, *d;
	struct lock_view va = holder_view("a", 5, 80), vb = holder_view("b", 5, 60000), vd = holder_view("d", 5, 0);
	uint64_t t0;

	env_init(&e, 8);
	CHECK_INT(start(&e, &ra, 5000, &ga, &h), BACKEND_STARTED, "waiters_acquire a");
	CHECK_INT(start(&e, &rb, 5000, &gb, &h), BACKEND_STARTED, "waiters_acquire b");
	CHECK_INT(start(&e, &rc, 5000, &gc, &h), BACKEND_STARTED, "waiters_acquire c");
	CHECK_INT(start(&e, &rd, 5000, &gd, &h), BACKEND_STARTED, "waiters_acquire d");
	a = fake_call_at(e.fb, 0);
	b = fake_call_at(e.fb, 1);
	c = fake_call_at(e.fb, 2);
	d = fake_call_at(e.fb, 3);
	fake_answer(a, LOCK_HELD, &va); /* 80 ms left */
	fake_answer(b, LOCK_HELD, &vb); /* a minute left: RECHECK first */
	fake_answer(c, LOCK_RESERVED, NULL);
	vd.expires_ms = vd.now_ms - 10; /* d: already over by the backend's clock */
	fake_answer(d, LOCK_HELD, &vd);
	t0 = loop_update_now(e.loop);
	fake_turn(e.loop);
	CHECK(ga.calls + gb.calls + gc.calls + gd.calls == 0, "HELD and RESERVED before the deadline end no wait");
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 0, "leaves while waiting");

	/* a, d: soon */
	CHECK(fake_run_until_calls(e.loop, e.fb, FAKE_ACQUIRE, 5, 1000), "a and d tried again within 1 s");
	{
		struct fake_call *ad[2] = {NULL, NULL};
		for (size_t i = 4; i < fake_ncalls(e.fb); i++) {
			struct fake_call *x = fake_call_at(e.fb, i);
			if (x->op == FAKE_ACQUIRE && strcmp(x->name, "a") == 0)
				ad[0] = x;
			if (x->op == FAKE_ACQUIRE && strcmp(x->name, "d") == 0)
				ad[1] = x;
		}
		if (CHECK(ad[0] != NULL, "a tried again") && check_attempt(__LINE__, ad[0], "a", "TA", a->waiter)) {
			CHECK(ad[0]->at_ms >= t0 + 81 && ad[0]->at_ms <= t0 + 81 + SLACK_MS,
			      "HELD with 80 ms left: retried %lld ms later, expected 81",
			      (long long)(ad[0]->at_ms - t0));
			CHECK(!ad[0]->final, "a retry before the deadline is not final");
			CHECK(ad[0]->wait_left_ms <= 5000 - 81 && ad[0]->wait_left_ms >= 5000 - 81 - SLACK_MS - 50,
			      "wait_left_ms of the retry: %lld", (long long)ad[0]->wait_left_ms);
		}
		if (CHECK(ad[1] != NULL, "d tried again") && check_attempt(__LINE__, ad[1], "d", "TD", d->waiter))
			CHECK(ad[1]->at_ms <= t0 + 1 + SLACK_MS,
			      "HELD with the lease already over: retried %lld ms later, expected 1",
			      (long long)(ad[1]->at_ms - t0));
		if (ad[0])
			fake_answer(ad[0], LOCK_GRANTED, NULL);
		if (ad[1])
			fake_answer(ad[1], LOCK_GRANTED, NULL);
	}
	/* b, c: after RECHECK */
	CHECK(fake_run_until_calls(e.loop, e.fb, FAKE_ACQUIRE, 7, BACKEND_WAITER_RECHECK_MS + 1000),
	      "b and c tried again within RECHECK + 1 s");
	CHECK(ga.calls == 1 && ga.reply.outcome == LOCK_GRANTED, "a: %d callbacks, %s", ga.calls,
	      lock_outcome_str(ga.reply.outcome));
	CHECK(gd.calls == 1 && gd.reply.outcome == LOCK_GRANTED, "d: %d callbacks, %s", gd.calls,
	      lock_outcome_str(gd.reply.outcome));
	for (size_t i = 4; i < fake_ncalls(e.fb); i++) {
		struct fake_call *x = fake_call_at(e.fb, i);
		if (x->op != FAKE_ACQUIRE || (strcmp(x->name, "b") != 0 && strcmp(x->name, "c") != 0))
			continue;
		CHECK(x->at_ms >= t0 + BACKEND_WAITER_RECHECK_MS &&
		          x->at_ms <= t0 + BACKEND_WAITER_RECHECK_MS + SLACK_MS,
		      "%s (%s): retried %lld ms later, expected RECHECK = %d", x->name,
		      strcmp(x->name, "b") == 0 ? "HELD for a minute" : "RESERVED", (long long)(x->at_ms - t0),
		      BACKEND_WAITER_RECHECK_MS);
		CHECK(strcmp(x->waiter, strcmp(x->name, "b") == 0 ? b->waiter : c->waiter) == 0,
		      "a retry keeps the waiter's id");
		fake_answer(x, LOCK_GRANTED, NULL);
	}
	fake_turn(e.loop);
	CHECK(gb.calls == 1 && gc.calls == 1, "b, c: %d, %d callbacks after their grants", gb.calls, gc.calls);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 8, "attempts in all");
	env_free(&e);
}

/* ---- wake-ups ---- */

static void test_wake(void)
{
	struct env e;
	struct got g, g2;
	struct waiter *h;
	struct lock_request req = {.name = "w", .token = "TW", .ttl_ms = 1000};
	struct lock_request req2 = {.name = "w2", .token = "TW2", .ttl_ms = 1000};
	struct lock_view v = holder_view("w", 3, 60000);
	struct fake_call *c;
	char id[64], bad[80];
	unsigned slot, gen;
	uint64_t t0;

	env_init(&e, 8);
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_call_at(e.fb, 0);
	snprintf(id, sizeof id, "%s", c->waiter);
	fake_answer(c, LOCK_HELD, &v);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 1, "attempts after HELD (the retry waits)");

	/* wake-ups for someone else, or malformed, are ignored */
	if (parse_id(id, &slot, &gen)) {
		snprintf(bad, sizeof bad, "inst-4|%u.%u", slot, gen); /* another instance */
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, "inst-|%u.%u", slot, gen); /* a prefix of ours */
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u.%u", slot, gen + 1); /* another generation */
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u.%u", slot + 1000, gen); /* no such slot */
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u.%ux", slot, gen); /* trailing bytes */
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u", slot);
		fake_wake(e.fb, bad);
		/* not the id's own digits: signs, spaces, a number beyond 32 bits */
		snprintf(bad, sizeof bad, INSTANCE "|+%u.%u", slot, gen);
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "| %u.%u", slot, gen);
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u.+%u", slot, gen);
		fake_wake(e.fb, bad);
		snprintf(bad, sizeof bad, INSTANCE "|%u.%llu", slot, gen + 4294967296ull);
		fake_wake(e.fb, bad);
		fake_wake(e.fb, "");
		fake_wake(e.fb, "garbage");
		fake_turn(e.loop);
		CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 1, "attempts after wake-ups for other waiters");
	} else {
		CHECK(0, "waiter id %s does not parse", unit_escz(id));
	}

	/* its own wake-up: a try at once */
	t0 = loop_update_now(e.loop);
	fake_wake(e.fb, id);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 2, "attempts after its wake-up");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	if (check_attempt(__LINE__, c, "w", "TW", id))
		CHECK(c->at_ms <= t0 + 50, "woken: tried %lld ms later, expected at once", (long long)(c->at_ms - t0));

	/* woken while a try is in flight: one more try as soon as it returns */
	fake_wake(e.fb, id);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 2, "no second try while one is in flight");
	fake_answer(c, LOCK_HELD, &v);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 3, "the wake-up during the try: tried again when it came back");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	fake_answer(c, LOCK_RESERVED, NULL);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 3, "a wake-up is used once");

	/* resync: every waiter tries again */
	CHECK_INT(start(&e, &req2, 3000, &g2, &h), BACKEND_STARTED, "waiters_acquire w2");
	fake_answer(fake_last(e.fb, FAKE_ACQUIRE), LOCK_RESERVED, NULL);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 4, "attempts before the resync");
	fake_resync(e.fb);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 6, "attempts after a resync (one per waiter)");
	CHECK_INT(fake_pending(e.fb, FAKE_ACQUIRE), 2, "attempts in flight after the resync");
	/* answered w2 first, so that w's slot is the one reused next */
	fake_answer(fake_call_at(e.fb, fake_ncalls(e.fb) - 1), LOCK_GRANTED, NULL);
	fake_answer(fake_call_at(e.fb, fake_ncalls(e.fb) - 2), LOCK_GRANTED, NULL);
	fake_turn(e.loop);
	CHECK(g.calls == 1 && g2.calls == 1 && g.reply.outcome == LOCK_GRANTED, "after the grants: %d, %d callbacks",
	      g.calls, g2.calls);

	/* a stale wake-up for a finished waiter whose slot is reused: ignored */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire again");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	{
		unsigned slot2, gen2;
		CHECK(parse_id(c->waiter, &slot2, &gen2) && slot2 == slot && gen2 != gen,
		      "the slot is reused under a new generation: %s, before %s", unit_escz(c->waiter), unit_escz(id));
	}
	fake_answer(c, LOCK_HELD, &v);
	fake_turn(e.loop);
	fake_wake(e.fb, id);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 7, "attempts after a stale wake-up");
	env_free(&e);
	CHECK(g.calls == 1 && g.reply.outcome == LOCK_CANCELLED, "shut down while waiting: %d callbacks, %s", g.calls,
	      lock_outcome_str(g.reply.outcome));
}

/* ---- the deadline ---- */

static void test_deadline(void)
{
	struct env e;
	struct got g[3];
	struct waiter *h;
	static const char *const NAMES[3] = {"d0", "d1", "d2"};
	static const enum lock_outcome LAST[3] = {LOCK_HELD, LOCK_RESERVED, LOCK_GRANTED};
	uint64_t t0;

	env_init(&e, 8);
	t0 = loop_update_now(e.loop);
	for (int i = 0; i < 3; i++) {
		struct lock_request req = {.name = NAMES[i], .token = "TD", .ttl_ms = 1000};
		struct lock_view v = holder_view(NAMES[i], 11, 60000);
		CHECK_INT(start(&e, &req, 150, &g[i], &h), BACKEND_STARTED, "waiters_acquire");
		fake_answer(fake_last(e.fb, FAKE_ACQUIRE), LOCK_HELD, &v);
	}
	fake_turn(e.loop);
	CHECK(fake_run_until_calls(e.loop, e.fb, FAKE_ACQUIRE, 5, 150 + 1000), "three last tries");
	for (int i = 0; i < 3; i++) {
		struct fake_call *c = NULL;
		for (size_t k = 3; k < fake_ncalls(e.fb); k++)
			if (strcmp(fake_call_at(e.fb, k)->name, NAMES[i]) == 0)
				c = fake_call_at(e.fb, k);
		if (!CHECK(c != NULL, "%s: a last try at the deadline", NAMES[i]))
			continue;
		CHECK(c->final, "%s: the try at the deadline has final set", NAMES[i]);
		CHECK(c->at_ms >= t0 + 150 && c->at_ms <= t0 + 150 + SLACK_MS,
		      "%s: the last try ran %lld ms after the start, expected 150", NAMES[i],
		      (long long)(c->at_ms - t0));
		CHECK(c->wait_left_ms == 1, "%s: wait_left_ms of the last try: %lld, expected 1", NAMES[i],
		      (long long)c->wait_left_ms);
		if (LAST[i] == LOCK_HELD) {
			struct lock_view v = holder_view(NAMES[i], 12, 60000);
			fake_answer(c, LOCK_HELD, &v);
		} else {
			fake_answer(c, LAST[i], NULL);
		}
	}
	fake_turn(e.loop);
	for (int i = 0; i < 3; i++)
		CHECK(g[i].calls == 1 && g[i].reply.outcome == LAST[i], "%s: %d callbacks, %s, expected %s", NAMES[i],
		      g[i].calls, lock_outcome_str(g[i].reply.outcome), lock_outcome_str(LAST[i]));
	CHECK_INT(g[0].reply.view.fence, 12, "time up: the holder's view reaches the caller");
	CHECK_STR(g[0].reply.view.owner, "someone", "time up: the holder's owner");
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 0, "leaves (the final try leaves the line by itself)");
	fake_run_for(e.loop, 30);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 6, "no try after the last");
	env_free(&e);
}

/* ---- errors end the wait and leave the line ---- */

static void test_errors(void)
{
	static const struct {
		const char *what;
		bool on_retry;             /* refused on a retry (else answered on the first try) */
		enum lock_outcome answer;  /* the first try's answer */
		enum backend_start refuse; /* BACKEND_STARTED on a retry: the retry is answered `want` */
		enum lock_outcome want;
	} T[] = {
	    {"answered UNAVAILABLE", false, LOCK_UNAVAILABLE, BACKEND_STARTED, LOCK_UNAVAILABLE},
	    {"answered BACKEND_ERROR", false, LOCK_BACKEND_ERROR, BACKEND_STARTED, LOCK_BACKEND_ERROR},
	    {"answered INVALID_DATA", false, LOCK_INVALID_DATA, BACKEND_STARTED, LOCK_INVALID_DATA},
	    {"answered FENCE_EXHAUSTED", false, LOCK_FENCE_EXHAUSTED, BACKEND_STARTED, LOCK_FENCE_EXHAUSTED},
	    {"retry answered INVALID_DATA", true, LOCK_HELD, BACKEND_STARTED, LOCK_INVALID_DATA},
	    {"retry refused UNAVAILABLE", true, LOCK_HELD, BACKEND_UNAVAILABLE, LOCK_UNAVAILABLE},
	    {"retry refused NO_MEMORY", true, LOCK_HELD, BACKEND_NO_MEMORY, LOCK_BACKEND_ERROR},
	};
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct env e;
		struct got g;
		struct waiter *h;
		struct lock_request req = {.name = "err", .token = "TE", .ttl_ms = 1000};
		struct lock_view v = holder_view("err", 1, 20);
		struct fake_call *c;
		char id[64];

		env_init(&e, 8);
		CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
		c = fake_last(e.fb, FAKE_ACQUIRE);
		snprintf(id, sizeof id, "%s", c->waiter);
		fake_answer(c, T[i].answer, &v);
		if (T[i].on_retry)
			fake_refuse(e.fb, FAKE_ACQUIRE, T[i].refuse, 1);
		fake_turn(e.loop);
		if (T[i].on_retry)
			fake_run_until_calls(e.loop, e.fb, FAKE_ACQUIRE, 1, 1500);
		if (T[i].on_retry && T[i].refuse == BACKEND_STARTED && fake_next(e.fb, FAKE_ACQUIRE)) {
			fake_answer(fake_next(e.fb, FAKE_ACQUIRE), T[i].want, NULL);
			fake_turn(e.loop);
		}
		CHECK(g.calls == 1 && g.reply.outcome == T[i].want, "%s: %d callbacks, %s, expected %s", T[i].what,
		      g.calls, lock_outcome_str(g.reply.outcome), lock_outcome_str(T[i].want));
		CHECK_STR(g.reply.view.name, "err", T[i].what);
		CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 1, T[i].what);
		check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "err", id);
		fake_run_for(e.loop, 30);
		CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), T[i].on_retry ? 2 : 1, T[i].what);
		env_free(&e);
	}

	/* refused on the first try: waiters_acquire says so, no callback, the slot is free again */
	{
		struct env e;
		struct got g;
		struct waiter *h = NULL;
		struct lock_request req = {.name = "first", .token = "TF", .ttl_ms = 1000};
		env_init(&e, 1);
		fake_refuse(e.fb, FAKE_ACQUIRE, BACKEND_UNAVAILABLE, 1);
		CHECK_INT(start(&e, &req, 1000, &g, &h), BACKEND_UNAVAILABLE, "first try refused: UNAVAILABLE");
		fake_refuse(e.fb, FAKE_ACQUIRE, BACKEND_NO_MEMORY, 1);
		CHECK_INT(start(&e, &req, 1000, &g, &h), BACKEND_NO_MEMORY, "first try refused: NO_MEMORY");
		fake_run_for(e.loop, 10);
		CHECK_INT(g.calls, 0, "callbacks after a refused first try");
		CHECK_INT(start(&e, &req, 1000, &g, &h), BACKEND_STARTED, "the one slot is free again");
		CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 0, "leaves after refused first tries");
		env_free(&e);
	}
}

/* ---- the client leaves ---- */

static void test_abandon(void)
{
	struct env e;
	struct got g;
	struct waiter *h;
	struct lock_request req = {.name = "ab", .token = "REQ-TOKEN", .ttl_ms = 1000};
	struct lock_view held = holder_view("ab", 4, 60000);
	struct fake_call *c;
	char id[64];

	env_init(&e, 8);

	/* a grant on its way: released under the token the grant carried */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	waiters_abandon(h);
	CHECK_INT(fake_count(e.fb, FAKE_ANY), 1, "calls right after abandoning a try in flight");
	{
		struct lock_view v = grant_view("ab", "GRANTED-TOKEN", 5);
		fake_answer(c, LOCK_GRANTED, &v);
	}
	fake_turn(e.loop);
	c = fake_last(e.fb, FAKE_RELEASE);
	if (CHECK(c != NULL, "an abandoned waiter's grant is released")) {
		CHECK_STR(c->name, "ab", "release name");
		CHECK_STR(c->token, "GRANTED-TOKEN", "release token (the grant's)");
		fake_answer(c, LOCK_RELEASED, NULL);
	}
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 0, "leaves after a released grant");
	CHECK_INT(g.calls, 0, "callbacks after abandon");

	/* HELD on its way: the waiter leaves the line, and tries no more */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(id, sizeof id, "%s", c->waiter);
	waiters_abandon(h);
	fake_answer(c, LOCK_HELD, &held);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 1, "leaves after abandon + HELD");
	check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "ab", id);
	CHECK_INT(fake_count(e.fb, FAKE_RELEASE), 1, "releases after abandon + HELD");

	/* RESERVED on its way: leaves too */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(id, sizeof id, "%s", c->waiter);
	waiters_abandon(h);
	fake_answer(c, LOCK_RESERVED, NULL);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 2, "leaves after abandon + RESERVED");
	check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "ab", id);

	/* a re-acquire on its way: left alone (the caller held that lock before) */
	{
		struct lock_request rq = req;
		struct lock_view v = grant_view("ab", "OLD", 5);
		rq.reacquire_token = "OLD";
		CHECK_INT(start(&e, &rq, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
		c = fake_last(e.fb, FAKE_ACQUIRE);
		waiters_abandon(h);
		fake_answer(c, LOCK_REACQUIRED, &v);
		fake_turn(e.loop);
		CHECK(fake_count(e.fb, FAKE_LEAVE) == 2 && fake_count(e.fb, FAKE_RELEASE) == 1,
		      "abandon + REACQUIRED: %u leaves, %u releases (expected none new)", fake_count(e.fb, FAKE_LEAVE),
		      fake_count(e.fb, FAKE_RELEASE));
	}

	/* a failed try on its way: leaves too (its entry may be in the line) */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(id, sizeof id, "%s", c->waiter);
	waiters_abandon(h);
	fake_answer(c, LOCK_UNAVAILABLE, NULL);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 3, "leaves after abandon + UNAVAILABLE");
	check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "ab", id);

	/* waiting on its timer: leaves at once; the timer never fires */
	CHECK_INT(start(&e, &req, 3000, &g, &h), BACKEND_STARTED, "waiters_acquire");
	c = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(id, sizeof id, "%s", c->waiter);
	{
		struct lock_view v = holder_view("ab", 4, 30);
		fake_answer(c, LOCK_HELD, &v);
	}
	fake_turn(e.loop);
	waiters_abandon(h);
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 4, "leaves right after abandoning a waiting waiter");
	check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "ab", id);
	waiters_abandon(h); /* a second time: nothing */
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 4, "leaves after abandoning twice");
	fake_wake(e.fb, id); /* a wake-up for it: ignored */
	fake_run_for(e.loop, 100);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 6, "attempts after abandoning (the 31 ms retry is off)");
	CHECK_INT(g.calls, 0, "callbacks of abandoned waiters");
	CHECK_INT(fake_pending(e.fb, FAKE_ANY), 0, "calls left unanswered");
	env_free(&e);
	CHECK_INT(g.calls, 0, "callbacks of abandoned waiters, after shut-down");
}

/* ---- cancel_all ---- */

static void test_cancel_all(void)
{
	struct env e;
	struct got ga, gb, gc, gd;
	struct waiter *h;
	struct lock_request ra = {.name = "ca", .token = "TA", .ttl_ms = 1000};
	struct lock_request rb = {.name = "cb", .token = "TB", .ttl_ms = 1000};
	struct lock_request rc = {.name = "cc", .token = "TC", .ttl_ms = 1000};
	struct lock_request rd = {.name = "cd", .token = "TD", .ttl_ms = 1000};
	struct lock_view held = holder_view("ca", 4, 60000);
	struct fake_call *a, *b, *c;
	char ida[64], idc[64];

	env_init(&e, 8);
	CHECK_INT(start(&e, &ra, 3000, &ga, &h), BACKEND_STARTED, "waiters_acquire a");
	a = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(ida, sizeof ida, "%s", a->waiter);
	fake_answer(a, LOCK_HELD, &held); /* a: waiting on its timer */
	fake_turn(e.loop);
	CHECK_INT(start(&e, &rb, 3000, &gb, &h), BACKEND_STARTED, "waiters_acquire b"); /* in flight */
	b = fake_last(e.fb, FAKE_ACQUIRE);
	CHECK_INT(start(&e, &rc, 3000, &gc, &h), BACKEND_STARTED, "waiters_acquire c"); /* in flight */
	c = fake_last(e.fb, FAKE_ACQUIRE);
	snprintf(idc, sizeof idc, "%s", c->waiter);
	CHECK_INT(start(&e, &rd, 3000, &gd, &h), BACKEND_STARTED, "waiters_acquire d");
	waiters_abandon(h); /* d: abandoned, its try in flight */

	waiters_cancel_all(e.ws);
	CHECK(ga.calls == 1 && ga.reply.outcome == LOCK_CANCELLED, "a: %d callbacks, %s", ga.calls,
	      lock_outcome_str(ga.reply.outcome));
	CHECK(gb.calls == 1 && gb.reply.outcome == LOCK_CANCELLED, "b: %d callbacks, %s", gb.calls,
	      lock_outcome_str(gb.reply.outcome));
	CHECK(gc.calls == 1 && gc.reply.outcome == LOCK_CANCELLED, "c: %d callbacks, %s", gc.calls,
	      lock_outcome_str(gc.reply.outcome));
	CHECK_INT(gd.calls, 0, "an abandoned waiter is not called back on cancel");
	CHECK_STR(ga.reply.view.name, "ca", "a cancelled wait names its lock");
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 1, "leaves at once (only the waiter not in flight)");
	check_leave(__LINE__, fake_last(e.fb, FAKE_LEAVE), "ca", ida);

	/* the tries in flight come back: a grant is given back, HELD leaves */
	{
		struct lock_view v = grant_view("cb", "GRANT-B", 8);
		fake_answer(b, LOCK_GRANTED, &v);
	}
	fake_answer(c, LOCK_HELD, &held);
	fake_answer(fake_next(e.fb, FAKE_ACQUIRE), LOCK_RESERVED, NULL);
	fake_turn(e.loop);
	CHECK_INT(fake_count(e.fb, FAKE_RELEASE), 1, "releases after a cancelled try is granted");
	if (fake_last(e.fb, FAKE_RELEASE)) {
		CHECK_STR(fake_last(e.fb, FAKE_RELEASE)->name, "cb", "release name");
		CHECK_STR(fake_last(e.fb, FAKE_RELEASE)->token, "GRANT-B", "release token");
	}
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 3, "leaves after the cancelled tries come back HELD and RESERVED");
	{
		bool found = false;
		for (size_t i = 0; i < fake_ncalls(e.fb); i++) {
			struct fake_call *x = fake_call_at(e.fb, i);
			if (x->op == FAKE_LEAVE && strcmp(x->waiter, idc) == 0 && strcmp(x->name, "cc") == 0)
				found = true;
		}
		CHECK(found, "c left the line");
	}
	CHECK(ga.calls == 1 && gb.calls == 1 && gc.calls == 1 && gd.calls == 0, "no second callback");
	fake_run_for(e.loop, 50);
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 4, "no try after cancel_all");

	/* the registry still works afterwards */
	CHECK_INT(start(&e, &ra, 3000, &ga, &h), BACKEND_STARTED, "waiters_acquire after cancel_all");
	fake_answer(fake_last(e.fb, FAKE_ACQUIRE), LOCK_GRANTED, NULL);
	fake_turn(e.loop);
	CHECK(ga.calls == 1 && ga.reply.outcome == LOCK_GRANTED, "a wait after cancel_all is granted");

	/* waiters_free cancels what still waits */
	CHECK_INT(start(&e, &rb, 3000, &gb, &h), BACKEND_STARTED, "waiters_acquire before free");
	fake_answer(fake_last(e.fb, FAKE_ACQUIRE), LOCK_RESERVED, NULL);
	fake_turn(e.loop);
	waiters_free(e.ws); /* (with no try in flight: a later answer would find it freed) */
	CHECK_INT(fake_count(e.fb, FAKE_LEAVE), 4, "waiters_free leaves the line");
	backend_free(e.b);
	loop_free(e.loop);
	CHECK(gb.calls == 1 && gb.reply.outcome == LOCK_CANCELLED, "waiters_free: %d callbacks, %s", gb.calls,
	      lock_outcome_str(gb.reply.outcome));
}

/* ---- the limit ---- */

static void test_max_waiters(void)
{
	struct env e;
	struct got g[4];
	struct waiter *h;
	struct lock_request req = {.name = "m", .token = "TM", .ttl_ms = 1000};

	env_init(&e, 2);
	CHECK_INT(start(&e, &req, 1000, &g[0], &h), BACKEND_STARTED, "waiter 1 of 2");
	CHECK_INT(start(&e, &req, 1000, &g[1], &h), BACKEND_STARTED, "waiter 2 of 2");
	CHECK_INT(start(&e, &req, 1000, &g[2], &h), BACKEND_BUSY, "waiter 3 of 2");
	CHECK_INT(fake_count(e.fb, FAKE_ACQUIRE), 2, "attempts: none for a refused waiter");
	fake_answer(fake_next(e.fb, FAKE_ACQUIRE), LOCK_GRANTED, NULL);
	fake_turn(e.loop);
	CHECK_INT(g[0].calls, 1, "the first wait ended");
	CHECK_INT(start(&e, &req, 1000, &g[3], &h), BACKEND_STARTED, "a place came free");
	CHECK_INT(start(&e, &req, 1000, &g[2], &h), BACKEND_BUSY, "full again");
	CHECK_INT(g[2].calls, 0, "a refused waiter is never called back");
	env_free(&e);
	CHECK(g[1].calls == 1 && g[3].calls == 1, "shut-down ends the waits");

	/* many waiters (the slot table grows) */
	{
		enum { N = 200 };
		struct got *gs = calloc(N, sizeof *gs);
		unsigned done = 0;
		env_init(&e, N);
		for (int i = 0; i < N; i++)
			if (start(&e, &req, 1000, &gs[i], &h) != BACKEND_STARTED)
				CHECK(0, "waiter %d of %d refused", i + 1, N);
		CHECK_INT(start(&e, &req, 1000, &g[0], &h), BACKEND_BUSY, "waiter N + 1");
		for (struct fake_call *c; (c = fake_next(e.fb, FAKE_ACQUIRE));)
			fake_answer(c, LOCK_GRANTED, NULL);
		fake_turn(e.loop);
		for (int i = 0; i < N; i++)
			done += gs[i].calls == 1 && gs[i].reply.outcome == LOCK_GRANTED;
		CHECK_INT(done, N, "waits granted");
		env_free(&e);
		free(gs);
	}
}

int main(void)
{
	alarm(60); /* the last resort if a loop hangs */
	test_granted_first_try();
	test_retry_timing();
	test_wake();
	test_deadline();
	test_errors();
	test_abandon();
	test_cancel_all();
	test_max_waiters();
	return unit_done();
}
