/* Redlock mode: dlockd over several independent redis-servers ("nodes").
 * Quorum = N/2 + 1; a grant's ttl_ms is the validity, ttl - elapsed - drift
 * with drift = ceil(ttl * 0.01) + 2 (the default --clock-drift-factor). */
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t drift_ms(int64_t ttl)
{
	return (ttl + 99) / 100 + 2;
}

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

static const char *lock_key(const char *name)
{
	return tfmt("dlock:lock:{%s}", name);
}

static const char *fence_key(const char *name)
{
	return tfmt("dlock:fence:{%s}", name);
}

/* GET of the fence counter of `name` on node i: the value, or -1 (missing or no answer) */
static int64_t node_fence(int i, const char *name)
{
	char out[64];
	const char *argv[] = {"GET", fence_key(name)};
	if (node_cmd(i, out, sizeof out, 2, argv) != '$' || !out[0])
		return -1;
	return strtoll(out, NULL, 10);
}

static void node_set_fence(int i, const char *name, const char *v)
{
	char out[64];
	const char *argv[] = {"SET", fence_key(name), v};
	CHECKF(node_cmd(i, out, sizeof out, 3, argv) == '+', "SET %s on node %d failed", fence_key(name), i);
}

/* The validity in a grant: at most ttl - drift, and at least that minus the
 * time the request took as the client saw it (the server's elapsed time is
 * part of it, and shorter). So a quick call (the usual < 10 ms) must answer
 * within a few ms of ttl - drift, well above ttl - 50. */
static void check_validity(const struct resp *r, int64_t got, int64_t ttl)
{
	int64_t hi = ttl - drift_ms(ttl), lo = hi - (int64_t)r->ms - 2;
	CHECKF(got <= hi && got >= lo,
	       "%s: ttl_ms %" PRId64 " for a requested ttl of %" PRId64 ": expected the validity in [%" PRId64
	       ", %" PRId64 "] (request took %.1f ms)",
	       r->what, got, ttl, lo, hi, r->ms);
}

/* Waits until dlockd uses node i again: a probe lock acquired through dlockd
 * shows up on that node. */
static void wait_node_counted(int i, double limit_ms)
{
	const char *name = tfmt("probe-%d", i);
	double end = mono_ms() + limit_ms;
	long last = 0;
	int seen = -2;
	for (;;) {
		struct resp *r = http("PUT", tfmt("/locks/%s?ttl_ms=2000", name), NULL, NULL, NULL);
		last = r->status;
		if (r->status == 201) {
			const char *tok = JSTR(r->json, "token");
			seen = node_exists(i, lock_key(name));
			struct resp *d = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(tok), NULL);
			EXPECT_STATUS(d, 204);
			if (seen == 1)
				return;
		}
		if (mono_ms() > end)
			FAIL("node %d (port %d) not used by dlockd within %.0f ms of its restart (last probe PUT %ld, "
			     "EXISTS %d)",
			     i, g_nodes[i].port, limit_ms, last, seen);
		sleep_ms(50);
	}
}

/* n fresh nodes and g_dl over them. Tests that look at every node's state
 * after a call give the nodes more time than the default 50 ms, so a
 * scheduling hiccup on a busy machine does not count a live node out. */
static void setup_args(int n, const char *const *extra)
{
	nodes_start(n);
	dlockd_start_nodes(extra);
	/* /readyz is 200 once a quorum answers: wait for the others too */
	for (int i = 0; i < n; i++)
		wait_node_counted(i, 3500.0 * g_slow);
}

static void setup_ex(int n, bool patient)
{
	static const char *const slow[] = {"--node-timeout-ms", "1000", NULL};
	setup_args(n, patient ? slow : NULL);
}

static void setup(int n)
{
	setup_ex(n, false);
}

/* ACQUIRE for Redlock: 201, Location, a valid grant whose ttl_ms is the
 * validity of the requested ttl (query must hold ttl_ms=). */
static struct grant rl_acquire_at(int line, const char *name, const char *query)
{
	struct resp *r = http("PUT", tfmt("/locks/%s?%s", name, query), NULL, NULL, NULL);
	expect_status_at(__FILE__, line, r, 201);
	const char *loc = resp_header(r, "Location");
	const char *want = tfmt("/locks/%s", name);
	if (!loc || strcmp(loc, want) != 0)
		fail_at(__FILE__, line, "%s: Location should be %s, got %s", r->what, want, loc ? loc : "(none)");
	struct grant g = check_grant_at(__FILE__, line, r, name, -1, "*");
	const char *t = strstr(query, "ttl_ms=");
	if (!t)
		fail_at(__FILE__, line, "rl_acquire needs ttl_ms in the query");
	check_validity(r, g.ttl_ms, strtoll(t + 7, NULL, 10));
	return g;
}
#define RL_ACQUIRE(n, q) rl_acquire_at(__LINE__, (n), (q))

static void wait_ready_port(int port, double limit_ms, const char *why)
{
	double end = mono_ms() + limit_ms;
	long last = 0;
	for (;;) {
		struct resp *r = http_at(port, "GET", "/readyz", NULL, NULL, NULL);
		last = r->status;
		if (r->status == 200)
			return;
		if (mono_ms() > end)
			FAIL("/readyz not 200 within %.0f ms %s (last %ld)", limit_ms, why, last);
		sleep_ms(50);
	}
}

/* Every lock view of every page of GET /locks?prefix=..., following
 * next_cursor until null; counts how often `name` appears. */
static int list_count(const char *prefix, int limit, const char *name, int *pages_out)
{
	const char *cursor = NULL;
	int count = 0, pages = 0;
	for (;;) {
		const char *path = cursor ? tfmt("/locks?prefix=%s&limit=%d&cursor=%s", prefix, limit, tesc(cursor))
		                          : tfmt("/locks?prefix=%s&limit=%d", prefix, limit);
		struct resp *r = http("GET", path, NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		EXPECT_CTYPE(r, "application/json");
		json_t *locks = JGET(r->json, "locks");
		CHECKF(json_is_array(locks), "%s: \"locks\" is not an array", r->what);
		CHECKF(json_array_size(locks) <= (size_t)limit, "%s: %zu locks on a page of limit %d", r->what,
		       json_array_size(locks), limit);
		size_t k;
		json_t *v;
		json_array_foreach(locks, k, v)
		{
			CHECK_VIEW(v, NULL, -1, "*");
			if (strcmp(JSTR(v, "name"), name) == 0)
				count++;
		}
		json_t *nc = JGET(r->json, "next_cursor");
		CHECKF(json_is_null(nc) || json_is_string(nc), "%s: next_cursor neither null nor a string", r->what);
		pages++;
		CHECKF(pages < 200, "list did not end after 200 pages");
		if (json_is_null(nc))
			break;
		cursor = tstrdup(json_string_value(nc));
		CHECKF(*cursor, "%s: next_cursor is an empty string", r->what);
	}
	if (pages_out)
		*pages_out = pages;
	return count;
}

/* ------------------------------------------------------------ 1. basics */

static void basic_flow(int n)
{
	setup_ex(n, true);
	const char *name = "rl-basic";
	const int64_t ttl = 10000;

	struct resp *r = http("PUT", tfmt("/locks/%s?ttl_ms=%" PRId64 "&owner=alice", name, ttl), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	const char *loc = resp_header(r, "Location");
	CHECKF(loc && strcmp(loc, "/locks/rl-basic") == 0, "Location should be /locks/rl-basic, got %s",
	       loc ? loc : "(none)");
	struct grant g = CHECK_GRANT(r, name, -1, "alice");
	check_validity(r, g.ttl_ms, ttl);
	/* every node granted it, with the same fence */
	for (int i = 0; i < n; i++) {
		CHECKF(node_exists(i, lock_key(name)) == 1, "node %d of %d does not hold the lock after a grant", i, n);
		int64_t f = node_fence(i, name);
		CHECKF(f == g.fence, "node %d fence counter %" PRId64 ", granted fence %" PRId64, i, f, g.fence);
	}

	/* a second client: 409 with the holder's view */
	r = http("PUT", tfmt("/locks/%s?ttl_ms=5000", name), NULL, NULL, NULL);
	struct view w = EXPECT_HELD(r, g, ttl, "alice");
	CHECKF(w.ttl_ms > ttl - 3000, "409 view remaining ttl %" PRId64 " too small", w.ttl_ms);
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra && atoi(ra) >= 1 && atoi(ra) <= 10, "409 Retry-After should be 1..10, got %s", ra ? ra : "(none)");
	/* nothing changed on the nodes */
	for (int i = 0; i < n; i++)
		CHECKF(node_fence(i, name) == g.fence, "a refused acquire moved node %d's fence counter", i);

	/* a wrong token */
	const char *wrong = "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW";
	r = http("POST", tfmt("/locks/%s/renew", name), NULL, NULL, tok_hdr(wrong), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	CHECK_VIEW(JGET(r->json, "lock"), name, ttl, "alice");
	r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(wrong), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g.token);

	/* renew: same token and fence, the validity of the new lease */
	r = http("POST", tfmt("/locks/%s/renew", name), NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 200);
	struct grant g2 = CHECK_GRANT(r, name, -1, "alice");
	CHECKF(strcmp(g2.token, g.token) == 0, "renew changed the token");
	CHECKF(g2.fence == g.fence, "renew changed the fence (%" PRId64 " -> %" PRId64 ")", g.fence, g2.fence);
	check_validity(r, g2.ttl_ms, ttl);
	r = http("POST", tfmt("/locks/%s/renew?ttl_ms=5000", name), NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 200);
	g2 = CHECK_GRANT(r, name, -1, "alice");
	CHECKF(g2.fence == g.fence, "renew with ttl_ms changed the fence");
	check_validity(r, g2.ttl_ms, 5000);

	/* inspect (GET and HEAD) */
	r = http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_NO_TOKEN(r, g.token);
	w = CHECK_VIEW(r->json, name, 5000, "alice");
	CHECKF(w.fence == g.fence, "inspect fence %" PRId64 " != %" PRId64, w.fence, g.fence);
	CHECKF(w.ttl_ms > 5000 - 2000, "inspect remaining ttl %" PRId64 " after a 5000 ms renew", w.ttl_ms);
	r = http("HEAD", tfmt("/locks/%s", name), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("GET", "/locks/rl-nobody", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");

	/* list: the lock exactly once, also with other locks around and tiny pages */
	struct grant others[4];
	for (int i = 0; i < 4; i++)
		others[i] = RL_ACQUIRE(tfmt("rl-other-%d", i), "ttl_ms=10000");
	RL_ACQUIRE("zz-elsewhere", "ttl_ms=10000");
	int pages = 0;
	for (int limit = 1; limit <= 100; limit *= 10) {
		int c = list_count("rl-", limit, name, &pages);
		CHECKF(c == 1, "list (limit %d) shows %s %d times", limit, name, c);
		for (int i = 0; i < 4; i++) {
			c = list_count("rl-", limit, tfmt("rl-other-%d", i), NULL);
			CHECKF(c == 1, "list (limit %d) shows rl-other-%d %d times", limit, i, c);
		}
		c = list_count("rl-", limit, "zz-elsewhere", NULL);
		CHECKF(c == 0, "list with prefix rl- shows zz-elsewhere");
	}
	CHECKF(list_count("", 100, "zz-elsewhere", NULL) == 1, "list without prefix does not show zz-elsewhere once");

	/* release, then everything says it is gone */
	r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 204);
	CHECKF(r->len == 0, "204 with a body");
	for (int i = 0; i < n; i++)
		CHECKF(node_exists(i, lock_key(name)) == 0, "node %d still holds the lock after the release", i);
	r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("POST", tfmt("/locks/%s/renew", name), NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	CHECKF(list_count("rl-", 100, name, NULL) == 0, "list still shows the released lock");
	/* and it can be taken again, with a higher fence */
	struct grant g3 = RL_ACQUIRE(name, "ttl_ms=3000");
	CHECKF(g3.fence > g.fence, "re-acquired fence %" PRId64 " not > %" PRId64, g3.fence, g.fence);
	for (int i = 0; i < 4; i++) {
		r = http("DELETE", tfmt("/locks/rl-other-%d", i), NULL, NULL, tok_hdr(others[i].token), NULL);
		EXPECT_STATUS(r, 204);
	}
	/* readiness with every node up */
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

static void t_basic_3(void)
{
	basic_flow(3);
}

static void t_basic_5(void)
{
	basic_flow(5);
}

/* ------------------------------------------- 2. minority and majority down */

static void expect_503(struct resp *r, double limit_ms)
{
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra && strcmp(ra, "1") == 0, "%s: 503 should carry Retry-After: 1, got %s", r->what, ra ? ra : "(none)");
	CHECKF(r->ms < limit_ms, "%s: 503 took %.0f ms (limit %.0f ms)", r->what, r->ms, limit_ms);
}

static void expect_fast(struct resp *r, double limit_ms)
{
	CHECKF(r->ms < limit_ms, "%s (HTTP %ld) took %.0f ms (limit %.0f ms)", r->what, r->status, r->ms, limit_ms);
}

/* a (owner "a", a 30 s lease) is still held: a PUT of its name (with
 * query) is refused with its view and its holder renews with the same
 * fence, each within limit_ms */
static void expect_a_held(struct grant a, const char *query, double limit_ms)
{
	struct resp *r = http("PUT", tfmt("/locks/%s?%s", a.name, query), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	expect_fast(r, limit_ms);
	CHECK(CHECK_VIEW(JGET(r->json, "lock"), a.name, 30000, "a").fence == a.fence);
	r = http("POST", tfmt("/locks/%s/renew", a.name), NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	expect_fast(r, limit_ms);
	CHECK(CHECK_GRANT(r, a.name, -1, "a").fence == a.fence);
}

static void t_nodes_down(void)
{
	const double fast = 500.0 * g_slow;
	setup(5);
	struct grant a = RL_ACQUIRE("nd-a", "ttl_ms=30000&owner=a");

	/* two of five down: everything still works */
	node_kill(0);
	node_kill(1);
	struct resp *r = http("PUT", "/locks/nd-b?ttl_ms=30000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	expect_fast(r, fast);
	struct grant b = CHECK_GRANT(r, "nd-b", -1, NULL);
	check_validity(r, b.ttl_ms, 30000);
	CHECKF(b.fence > 0, "fence");
	expect_a_held(a, "ttl_ms=30000", fast);
	r = http("GET", "/locks/nd-a", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	expect_fast(r, fast);
	CHECK(CHECK_VIEW(r->json, "nd-a", 30000, "a").fence == a.fence);
	CHECKF(list_count("nd-", 1, "nd-a", NULL) == 1, "list with two nodes down does not show nd-a once");
	CHECKF(list_count("nd-", 100, "nd-b", NULL) == 1, "list with two nodes down does not show nd-b once");
	r = http("DELETE", "/locks/nd-b", NULL, NULL, tok_hdr(b.token), NULL);
	EXPECT_STATUS(r, 204);
	expect_fast(r, fast);
	r = http("GET", "/locks/nd-b", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);

	/* three of five down: no quorum, quick 503s */
	node_kill(2);
	expect_503(http("PUT", "/locks/nd-c?ttl_ms=5000", NULL, NULL, NULL), fast);
	expect_503(http("PUT", "/locks/nd-a?ttl_ms=5000", NULL, NULL, NULL), fast);
	expect_503(http("POST", "/locks/nd-a/renew", NULL, NULL, tok_hdr(a.token), NULL), fast);
	expect_503(http("GET", "/locks/nd-a", NULL, NULL, NULL), fast);
	expect_503(http("DELETE", "/locks/nd-a", NULL, NULL, tok_hdr(a.token), NULL), fast);
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	expect_fast(r, fast);
	r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	/* validation still comes first */
	r = http("PUT", "/locks/%20", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	expect_503(http("PUT", "/locks/nd-c?ttl_ms=5000", NULL, NULL, NULL), fast);
	/* stays so (and quick) while the nodes are down; meanwhile dlockd's
	 * reconnect backoff grows */
	double until = mono_ms() + 1200;
	while (mono_ms() < until) {
		expect_503(http("PUT", "/locks/nd-c?ttl_ms=5000", NULL, NULL, NULL), fast);
		r = http("GET", "/readyz", NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 503, "backend_unavailable");
		sleep_ms(100);
	}
	/* the survivors were left alone: nd-c was not left behind on them */
	for (int i = 3; i < 5; i++)
		CHECKF(node_exists(i, lock_key("nd-c")) == 0, "a refused acquire left nd-c on node %d", i);

	/* the three come back (same ports, empty): usable again without restarting dlockd */
	for (int i = 0; i < 3; i++)
		node_start(i);
	/* reconnects back off from 50 ms up to 2 s: allow 3.5 s */
	double t0 = mono_ms();
	wait_ready_port(g_dl.port, 3500.0 * g_slow, "after the nodes came back");
	double ready_ms = mono_ms() - t0;
	for (int i = 0; i < 3; i++)
		wait_node_counted(i, 3500.0 * g_slow - (mono_ms() - t0));
	if (getenv("VERBOSE"))
		fprintf(stderr, "    # /readyz 200 %.0f ms after the restart, all three used after %.0f ms\n", ready_ms,
		        mono_ms() - t0);
	struct resp *rc = http("PUT", "/locks/nd-c?ttl_ms=5000&owner=c", NULL, NULL, NULL);
	EXPECT_STATUS(rc, 201);
	expect_fast(rc, fast);
	struct grant c = CHECK_GRANT(rc, "nd-c", -1, "c");
	check_validity(rc, c.ttl_ms, 5000);
	int holding = 0;
	for (int i = 0; i < 5; i++)
		holding += node_exists(i, lock_key("nd-c")) == 1;
	CHECKF(holding >= 3, "only %d of 5 nodes hold nd-c after a grant", holding);
	r = http("POST", "/locks/nd-c/renew", NULL, NULL, tok_hdr(c.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_GRANT(r, "nd-c", -1, "c").fence == c.fence);
	r = http("GET", "/locks/nd-c", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_VIEW(r->json, "nd-c", 5000, "c").fence == c.fence);
	CHECKF(list_count("nd-", 1, "nd-c", NULL) == 1, "list after the restart does not show nd-c once");
	r = http("DELETE", "/locks/nd-c", NULL, NULL, tok_hdr(c.token), NULL);
	EXPECT_STATUS(r, 204);
	/* nd-b's counters were lost on three nodes: its fence still grows */
	struct grant b2 = RL_ACQUIRE("nd-b", "ttl_ms=5000");
	CHECKF(b2.fence > b.fence, "nd-b fence after the restart %" PRId64 " not > %" PRId64 " issued before", b2.fence,
	       b.fence);
	r = http("DELETE", "/locks/nd-b", NULL, NULL, tok_hdr(b2.token), NULL);
	EXPECT_STATUS(r, 204);
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

static void t_list_no_quorum(void)
{
	setup_ex(3, true);
	RL_ACQUIRE("lq-a", "ttl_ms=30000");
	node_kill(0);
	node_kill(1);
	struct resp *r = http("GET", "/locks/lq-a", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	/* Like inspect, a list cannot know what a quorum holds: somewhere in the
	 * walk it must say 503, not end with a complete "these are the locks". */
	const char *cursor = NULL;
	int pages = 0, locks = 0;
	for (;;) {
		r = http("GET", cursor ? tfmt("/locks?prefix=lq-&cursor=%s", tesc(cursor)) : "/locks?prefix=lq-", NULL,
		         NULL, NULL);
		pages++;
		if (r->status == 503) {
			EXPECT_PROBLEM(r, 503, "backend_unavailable");
			return;
		}
		EXPECT_STATUS(r, 200);
		locks += (int)json_array_size(JGET(r->json, "locks"));
		json_t *nc = JGET(r->json, "next_cursor");
		if (!json_is_string(nc))
			break;
		cursor = tstrdup(json_string_value(nc));
		CHECK(pages < 50);
	}
	FAIL("with 2 of 3 nodes down, a complete list walk answered 200 (%d pages, %d locks, lq-a not among them) "
	     "while GET /locks/lq-a answers 503; expected 503 backend_unavailable",
	     pages, locks);
}

/* --------------------------------------------------- 3. a paused node */

static void t_node_paused(void)
{
	const double lim = 300.0 * g_slow; /* node timeout 50 ms + margin */
	setup(3);
	struct grant a = RL_ACQUIRE("np-a", "ttl_ms=30000&owner=a");
	node_pause(0);
	for (int round = 0; round < 3; round++) {
		const char *bn = tfmt("np-b%d", round);
		struct resp *r = http("PUT", tfmt("/locks/%s?ttl_ms=10000", bn), NULL, NULL, NULL);
		EXPECT_STATUS(r, 201);
		expect_fast(r, lim);
		struct grant b = CHECK_GRANT(r, bn, -1, NULL);
		check_validity(r, b.ttl_ms, 10000);
		expect_a_held(a, "ttl_ms=10000", lim);
		r = http("GET", "/locks/np-a", NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		expect_fast(r, lim);
		r = http("GET", "/locks?prefix=np-", NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		expect_fast(r, lim);
		r = http("DELETE", tfmt("/locks/%s", bn), NULL, NULL, tok_hdr(b.token), NULL);
		EXPECT_STATUS(r, 204);
		expect_fast(r, lim);
		r = http("GET", "/readyz", NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		expect_fast(r, lim);
	}
	/* a whole list walk, node by node, stays quick and complete */
	double t0 = mono_ms();
	CHECKF(list_count("np-", 1, "np-a", NULL) == 1, "list with a paused node does not show np-a once");
	CHECKF(mono_ms() - t0 < 4 * lim, "a list walk with a paused node took %.0f ms", mono_ms() - t0);
	node_resume(0);
	wait_node_counted(0, 3500.0 * g_slow);
	struct resp *r = http("DELETE", "/locks/np-a", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	struct grant c = RL_ACQUIRE("np-a", "ttl_ms=5000");
	CHECKF(c.fence > a.fence, "fence after the pause %" PRId64 " not > %" PRId64, c.fence, a.fence);
}

/* ------------------------------- 4. a node restarted empty under a held lock */

static void t_node_restarted_empty(void)
{
	setup_ex(3, true);
	struct grant a = RL_ACQUIRE("re-a", "ttl_ms=30000&owner=a");
	node_kill(1);
	node_start(1); /* empty */
	wait_node_counted(1, 3500.0 * g_slow);
	CHECKF(node_exists(1, lock_key("re-a")) == 0, "the restarted node should be empty");
	for (int i = 0; i < 3; i++) {
		struct resp *r = http("PUT", "/locks/re-a?ttl_ms=5000&owner=b", NULL, NULL, NULL);
		EXPECT_HELD(r, a, 30000, "a");
	}
	/* the refused grant on node 1 was rolled back */
	CHECKF(node_exists(1, lock_key("re-a")) == 0, "a refused acquire left its grant on the restarted node");
	/* the holder still holds it: renew (never resurrected on node 1), inspect */
	struct resp *r = http("POST", "/locks/re-a/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_GRANT(r, "re-a", -1, "a").fence == a.fence);
	CHECKF(node_exists(1, lock_key("re-a")) == 0, "renew resurrected the lock on the restarted node");
	r = http("GET", "/locks/re-a", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	/* with a second node gone, the one survivor plus the empty node still
	 * refuse the lock: 409 (or 503), never a grant */
	node_kill(0);
	r = http("PUT", "/locks/re-a?ttl_ms=5000&owner=b", NULL, NULL, NULL);
	CHECKF(r->status == 409 || r->status == 503, "with node 0 down and node 1 empty, PUT answered %ld: %s",
	       r->status, r->body);
	r = http("DELETE", "/locks/re-a", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	struct grant b = RL_ACQUIRE("re-a", "ttl_ms=5000");
	CHECKF(b.fence > a.fence, "fence %" PRId64 " not > %" PRId64, b.fence, a.fence);
}

/* ------------------------------------ 5. fences across changing majorities */

/* k acquire+release cycles of `name`, each fence > *last */
static void cycles(const char *name, int k, int64_t *last, const char *phase)
{
	for (int i = 0; i < k; i++) {
		struct resp *r = NULL;
		double end = mono_ms() + 3000.0 * g_slow;
		/* right after nodes went down, a call may still be on its way to them */
		for (;;) {
			r = http("PUT", tfmt("/locks/%s?ttl_ms=5000", name), NULL, NULL, NULL);
			if (r->status != 503 || mono_ms() > end)
				break;
			sleep_ms(20);
		}
		EXPECT_STATUS(r, 201);
		struct grant g = CHECK_GRANT(r, name, -1, NULL);
		CHECKF(g.fence > *last, "%s, cycle %d: fence %" PRId64 " not > the previous %" PRId64, phase, i,
		       g.fence, *last);
		*last = g.fence;
		r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(g.token), NULL);
		EXPECT_STATUS(r, 204);
	}
}

static void t_fences_changing_majorities(void)
{
	const char *name = "fx";
	setup_ex(5, true);
	int64_t last = 0;
	cycles(name, 10, &last, "all up");
	static const int down[][2] = {{0, 1}, {2, 3}, {4, 0}};
	for (int p = 0; p < 3; p++) {
		int x = down[p][0], y = down[p][1];
		node_kill(x);
		node_kill(y);
		cycles(name, 10, &last, tfmt("nodes %d,%d down", x, y));
		/* back empty: their counters are lost */
		node_start(x);
		node_start(y);
		double tw = mono_ms();
		wait_node_counted(x, 3500.0 * g_slow);
		wait_node_counted(y, 3500.0 * g_slow);
		if (getenv("VERBOSE"))
			fprintf(stderr, "    # nodes %d,%d counted again after %.0f ms\n", x, y, mono_ms() - tw);
		cycles(name, 3, &last, tfmt("nodes %d,%d back empty", x, y));
	}
	/* the same, with FLUSHALL instead of a restart */
	node_flushall(1);
	node_flushall(3);
	cycles(name, 5, &last, "nodes 1,3 flushed");

	/* Lagging counters: three nodes fall far behind (as if they had missed
	 * acquisitions). The next grant must raise them to its fence, or a later
	 * majority made of them would hand out a smaller fence. */
	for (int i = 0; i < 3; i++)
		node_set_fence(i, name, "1");
	cycles(name, 1, &last, "nodes 0-2 lagging");
	for (int i = 0; i < 5; i++) {
		int64_t f = node_fence(i, name);
		CHECKF(f >= last, "node %d fence counter %" PRId64 " < granted fence %" PRId64 " (not raised)", i, f,
		       last);
	}
	node_kill(3);
	node_kill(4);
	cycles(name, 5, &last, "nodes 3,4 down after the lag");
	node_start(3);
	node_start(4);
	wait_node_counted(3, 3500.0 * g_slow);
	wait_node_counted(4, 3500.0 * g_slow);
	/* lagging, but not granting (down during the grant): only a quorum is
	 * guaranteed to stand at the fence; the next majority still meets one */
	node_kill(0);
	node_kill(1);
	for (int i = 2; i < 5; i++)
		node_set_fence(i, name, "1");
	node_start(0);
	node_start(1);
	wait_node_counted(0, 3500.0 * g_slow);
	wait_node_counted(1, 3500.0 * g_slow);
	cycles(name, 3, &last, "after a mixed restart");
}

/* -------------------------------------------- 6. contention, two replicas */

#define CT_THREADS 16

struct ct_worker {
	struct contender c; /* a section ends at the release sent or the validity over, whichever first */
	int ttl;            /* ms asked for */
	long lost, del503, early;
	char early_msg[512]; /* the first release refused before the validity ended */
	int64_t early_other; /* the fence in that refusal's "lock" view (0: none) */
};

/* a release that got 404 or 409: lost, and too early if the validity still ran */
static void ct_lost(struct ct_worker *w, const struct resp *d, int64_t fence, double t_acq, double t_valid,
                    double t_rel)
{
	w->lost++;
	if (t_rel < t_valid && w->early++ == 0) {
		json_t *lk = d->json ? json_object_get(d->json, "lock") : NULL;
		json_t *of = lk ? json_object_get(lk, "fence") : NULL;
		w->early_other = json_is_integer(of) ? (int64_t)json_integer_value(of) : 0;
		snprintf(w->early_msg, sizeof w->early_msg,
		         "thread %d (replica %d): DELETE of fence %" PRId64 " answered %ld %.0f ms before the end "
		         "of its validity (%.0f ms after the grant): %.300s",
		         w->c.id, w->c.id % 2 + 1, fence, d->status, t_valid - t_rel, t_rel - t_acq, d->body);
	}
}

static void *ct_main(void *arg)
{
	struct ct_worker *w = arg;
	CURL *h = curl_new();
	char path[64];
	snprintf(path, sizeof path, "/locks/hot?ttl_ms=%d", w->ttl);
	while (mono_ms() < w->c.deadline && !w->c.err[0]) {
		struct section s;
		struct resp *r = contender_acquire(h, &w->c, path, &s);
		if (!r)
			continue; /* refused, or an error that ends the loop */
		json_t *tt = json_object_get(r->json, "ttl_ms");
		if (!json_is_integer(tt) || json_integer_value(tt) <= 0 || json_integer_value(tt) > w->ttl) {
			snprintf(w->c.err, sizeof w->c.err, "thread %d: bad 201 body %.200s", w->c.id, r->body);
			resp_free(r);
			break;
		}
		s.t_acq = r->t1_mono;
		/* the validity counts from no earlier than the request was sent */
		double t_valid = r->t0_mono + (double)json_integer_value(tt);
		double t_rel;
		struct resp *d = contender_release(h, &w->c, r, "/locks/hot", &t_rel);
		long st = d->status;
		if (st == 404 || st == 409) {
			/* lost: only acceptable once the validity had run out */
			ct_lost(w, d, s.fence, s.t_acq, t_valid, t_rel);
		} else if (st == 503) {
			w->del503++; /* release unknown: the lease runs out by itself */
		} else if (st != 204) {
			contender_release_failed(&w->c, s.fence, st, d);
		}
		resp_free(d);
		s.t_end = t_rel < t_valid ? t_rel : t_valid;
		contender_add(&w->c, s);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void contention(bool stalls)
{
	setup(3);
	int port2 = replica_start(NULL);
	struct ct_worker *ws = talloc(CT_THREADS * sizeof *ws);
	pthread_t th[CT_THREADS];
	double deadline = mono_ms() + 3000;
	for (int i = 0; i < CT_THREADS; i++) {
		ws[i].c.id = i;
		ws[i].c.port = i % 2 ? port2 : g_dl.port;
		ws[i].c.deadline = deadline;
		ws[i].c.busy_503 = true;
		ws[i].ttl = stalls ? 500 : 2000; /* grants stranded on a stalled node block others for a lease */
	}
	int started = contenders_start(th, ws, sizeof *ws, CT_THREADS, ct_main);
	/* stalls: one node at a time stops for longer than the node timeout */
	for (int k = 0; stalls && mono_ms() < deadline - 300; k++) {
		node_pause(k % 3);
		sleep_ms(80);
		node_resume(k % 3);
		sleep_ms(150);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	long n409 = 0, n503 = 0, lost = 0, del503 = 0, early = 0;
	const char *early_msg = NULL;
	int64_t early_other = 0;
	size_t per_replica[2] = {0, 0};
	for (int i = 0; i < started; i++) {
		per_replica[i % 2] += ws[i].c.n;
		n409 += ws[i].c.n409;
		n503 += ws[i].c.n503;
		lost += ws[i].lost;
		del503 += ws[i].del503;
		early += ws[i].early;
		if (ws[i].early_msg[0] && !early_msg) {
			early_msg = tstrdup(ws[i].early_msg);
			early_other = ws[i].early_other;
		}
	}
	size_t total;
	const char *err;
	struct section *all = contenders_collect(ws, sizeof *ws, started, &total, &err);
	if (getenv("VERBOSE"))
		fprintf(
		    stderr,
		    "    # redlock contention%s: %zu acquisitions (%zu + %zu per replica), %ld conflicts, %ld 503s, "
		    "%ld lost (%ld early), %ld release 503s\n",
		    stalls ? " (stalling nodes)" : "", total, per_replica[0], per_replica[1], n409, n503, lost, early,
		    del503);
	CHECKF(started == CT_THREADS, "only %d threads started", started);
	CHECKF(!err, "%s", err);
	CHECKF(total >= 5, "only %zu acquisitions in 3 s (%ld conflicts, %ld 503s)", total, n409, n503);
	EXPECT_EXCLUSIVE(all, total);
	/* A holder whose release is refused (404, or 409 token_mismatch) while
	 * its validity still runs was told it had lost the lock early. */
	if (early_msg) {
		bool granted = false;
		for (size_t i = 0; i < total; i++)
			if (all[i].fence == early_other)
				granted = true;
		FAIL("%ld release(s) refused within the validity; first: %s [the refusal's lock view has fence %" PRId64
		     ", %s]",
		     early, early_msg, early_other,
		     early_other == 0 ? "none"
		     : granted        ? "which was granted to a client"
		                      : "which no client was ever granted (a stray node grant)");
	}
	/* the lock is free at the end (a release that got 503 may leave it until its lease ends) */
	double end = mono_ms() + 3000.0 * g_slow;
	for (;;) {
		struct resp *r = http("GET", "/locks/hot", NULL, NULL, NULL);
		if (r->status == 404)
			break;
		CHECKF(mono_ms() < end, "lock still held after the contention (%ld): %s", r->status, r->body);
		sleep_ms(50);
	}
}

static void t_contention_two_replicas(void)
{
	contention(false);
}

static void t_contention_stalling_nodes(void)
{
	contention(true);
}

/* ------------------------------------------------------------ 7. waiting */

static double waiters_gauge(int port)
{
	struct resp *r = http_at(port, "GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	int found = 0;
	double v = metric_value(r, "dlockd_waiters", &found);
	CHECKF(found, "no dlockd_waiters metric");
	return v;
}

static void t_wait_handoff(void)
{
	setup(3);
	struct grant a = RL_ACQUIRE("rw", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/rw?ttl_ms=5000&wait_ms=3000&owner=b", NULL, NULL, NULL);
	double end = mono_ms() + 2000.0 * g_slow;
	while (waiters_gauge(g_dl.port) < 1) {
		CHECKF(!http_async_done(b), "the waiter was answered (%ld: %s) while the lock was held",
		       http_async_wait(b)->status, http_async_wait(b)->body);
		CHECKF(mono_ms() < end, "the waiter did not show in dlockd_waiters within 2 s");
		sleep_ms(20);
	}
	sleep_ms(100);
	CHECKF(!http_async_done(b), "the waiter was answered (%ld: %s) while the lock was held",
	       http_async_wait(b)->status, http_async_wait(b)->body);
	struct resp *rel = http("DELETE", "/locks/rw", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(rel, 204);
	struct resp *rb = http_async_wait(b);
	EXPECT_STATUS(rb, 201);
	struct grant gb = CHECK_GRANT(rb, "rw", -1, "b");
	check_validity(rb, gb.ttl_ms, 5000);
	CHECKF(gb.fence > a.fence, "waiter fence %" PRId64 " not > %" PRId64, gb.fence, a.fence);
	double lag = rb->t1_mono - rel->t1_mono;
	CHECKF(lag < 500.0 * g_slow, "hand-off took %.0f ms after the release answered", lag);
	struct resp *r = http("GET", "/locks/rw", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_VIEW(r->json, "rw", 5000, "b").fence == gb.fence);
	/* a waiter that runs out of time: 409 after about wait_ms */
	r = http("PUT", "/locks/rw?wait_ms=300", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	CHECKF(r->ms >= 280 && r->ms < 300 + 1000.0 * g_slow, "wait_ms=300 answered after %.0f ms", r->ms);
	CHECKF(waiters_gauge(g_dl.port) == 0, "dlockd_waiters not back to 0");
}

/* ----------------------------------------------------------------- extras */

/* A re-acquire with the token is a 200 with the same token and fence (the
 * spec), also when a node lost the lock and grants it afresh under that token. */
static void t_reacquire_after_node_restart(void)
{
	setup_ex(3, true);
	struct grant a = RL_ACQUIRE("ra", "ttl_ms=30000&owner=a");
	struct resp *r = http("PUT", tfmt("/locks/ra?ttl_ms=20000&token=%s", a.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct grant a1 = CHECK_GRANT(r, "ra", -1, "*");
	CHECKF(strcmp(a1.token, a.token) == 0 && a1.fence == a.fence,
	       "re-acquire with every node up: token %s fence %" PRId64 ", expected the same token and fence %" PRId64,
	       a1.token, a1.fence, a.fence);
	check_validity(r, a1.ttl_ms, 20000);

	node_kill(1);
	node_start(1); /* empty: its fence counter restarts from Redis TIME */
	wait_node_counted(1, 3500.0 * g_slow);
	r = http("PUT", tfmt("/locks/ra?ttl_ms=20000&token=%s", a.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct grant a2 = CHECK_GRANT(r, "ra", -1, "*");
	CHECKF(strcmp(a2.token, a.token) == 0, "re-acquire changed the token");
	CHECKF(node_exists(1, lock_key("ra")) == 1, "the restarted node did not get the lock back under the token");
	/* the lock now stands on nodes 1 and 2 without node 0 */
	node_kill(0);
	r = http("POST", "/locks/ra/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	struct grant a3 = CHECK_GRANT(r, "ra", -1, "*");
	r = http("GET", "/locks/ra", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct view v = CHECK_VIEW(r->json, "ra", 30000, "*");
	CHECKF(a2.fence == a.fence && a3.fence == a.fence && v.fence == a.fence,
	       "the fence of a held lock changed: granted %" PRId64
	       ", re-acquire after a node restart answered %" PRId64 ", renew %" PRId64 ", inspect %" PRId64
	       " (spec: re-acquire keeps the same fence)",
	       a.fence, a2.fence, a3.fence, v.fence);
}

/* When the nodes take longer than the lease, the grant is worth nothing:
 * 503, and the lock is given back on the nodes that granted it. */
static void t_validity_exhausted(void)
{
	static const char *const extra[] = {"--node-timeout-ms", "250", NULL};
	setup_args(3, extra);
	node_pause(0);
	struct resp *r = http("PUT", "/locks/vx?ttl_ms=100", NULL, NULL, NULL);
	CHECKF(r->ms >= 200, "PUT with a paused node and --node-timeout-ms 250 answered after only %.0f ms (%ld)",
	       r->ms, r->status);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	for (int i = 1; i < 3; i++)
		CHECKF(node_exists(i, lock_key("vx")) == 0, "a grant without validity was left on node %d", i);
	r = http("GET", "/locks/vx", NULL, NULL, NULL);
	CHECKF(r->status == 404 || r->status == 503, "GET after a grant without validity: %ld %s", r->status, r->body);
	node_resume(0);
	/* a lease that outlasts the wait is granted */
	wait_node_counted(0, 3500.0 * g_slow);
	node_pause(0);
	r = http("PUT", "/locks/vx?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "vx", -1, NULL);
	check_validity(r, g.ttl_ms, 5000);
	node_resume(0);
}

/* A lease runs out on every node by itself. */
static void t_expiry(void)
{
	setup_ex(3, true);
	struct grant a = RL_ACQUIRE("ex", "ttl_ms=150");
	sleep_ms(300);
	struct resp *r = http("GET", "/locks/ex", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("POST", "/locks/ex/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("DELETE", "/locks/ex", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	CHECKF(list_count("ex", 100, "ex", NULL) == 0, "list shows an expired lock");
	struct grant b = RL_ACQUIRE("ex", "ttl_ms=1000");
	CHECKF(b.fence > a.fence, "fence after expiry %" PRId64 " not > %" PRId64, b.fence, a.fence);
}

/* --clock-drift-factor changes the allowance: ttl * f rounded up, + 2 ms. */
static void t_drift_factor(void)
{
	static const char *const extra[] = {"--clock-drift-factor", "0.1", NULL};
	setup_args(3, extra);
	struct resp *r = http("PUT", "/locks/df?ttl_ms=1005", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "df", -1, NULL);
	int64_t hi = 1005 - 101 - 2; /* ceil(100.5) + 2 */
	CHECKF(g.ttl_ms <= hi && g.ttl_ms >= hi - (int64_t)r->ms - 2,
	       "validity %" PRId64 " with drift factor 0.1 and ttl 1005: expected in [%" PRId64 ", %" PRId64 "]",
	       g.ttl_ms, hi - (int64_t)r->ms - 2, hi);
}

/* A list walk in which the first node is unreachable for the first page and
 * back for the later ones still reports a lock that every node holds. */
static void t_list_node_back_mid_walk(void)
{
	setup(3);
	RL_ACQUIRE("lm-a", "ttl_ms=30000");
	node_pause(0);
	struct resp *r = http("GET", "/locks?prefix=lm-&limit=100", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	json_t *nc = JGET(r->json, "next_cursor");
	int count = 0;
	size_t k;
	json_t *v;
	json_array_foreach(JGET(r->json, "locks"), k, v)
	{
		if (strcmp(JSTR(v, "name"), "lm-a") == 0)
			count++;
	}
	node_resume(0);
	wait_node_counted(0, 3500.0 * g_slow);
	int pages = 1;
	while (json_is_string(nc)) {
		r = http("GET", tfmt("/locks?prefix=lm-&limit=100&cursor=%s", tesc(json_string_value(nc))), NULL, NULL,
		         NULL);
		EXPECT_STATUS(r, 200);
		json_array_foreach(JGET(r->json, "locks"), k, v)
		{
			if (strcmp(JSTR(v, "name"), "lm-a") == 0)
				count++;
		}
		nc = JGET(r->json, "next_cursor");
		CHECK(++pages < 50);
	}
	CHECKF(count >= 1,
	       "a lock held on all 3 nodes was missing from a list walk (%d pages) when node 0 was paused for the "
	       "first page only",
	       pages);
	CHECKF(count == 1, "lm-a listed %d times", count);
}

/* A waiter on one replica is handed the lock released through another. */
static void t_wait_across_replicas(void)
{
	setup(3);
	int port2 = replica_start(NULL);
	struct grant a = RL_ACQUIRE("rx", "ttl_ms=10000");
	struct resp *r = http_at(port2, "PUT", "/locks/rx?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	/* the waiter talks to replica 2 */
	struct async_req *b =
	    http_async_at(port2, "PUT", "/locks/rx?ttl_ms=5000&wait_ms=3000&owner=b", NULL, NULL, NULL);
	double end = mono_ms() + 2000.0 * g_slow;
	while (waiters_gauge(port2) < 1) {
		EXPECT_WAITING(b, "the waiter", "the lock was held");
		CHECKF(mono_ms() < end, "the waiter did not show in replica 2's dlockd_waiters within 2 s");
		sleep_ms(20);
	}
	struct resp *rel = http("DELETE", "/locks/rx", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(rel, 204);
	struct resp *rb = http_async_wait(b);
	EXPECT_STATUS(rb, 201);
	struct grant gb = CHECK_GRANT(rb, "rx", -1, "b");
	CHECKF(gb.fence > a.fence, "waiter fence %" PRId64 " not > %" PRId64, gb.fence, a.fence);
	double lag = rb->t1_mono - rel->t1_mono;
	CHECKF(lag < 500.0 * g_slow, "hand-off across replicas took %.0f ms after the release answered", lag);
}

/* Another client's stray grant on one node (left by a grant that was rolled
 * back where it could not be reached), the way the acquire script writes it. */
static void node_plant_lock(int i, const char *name, const char *token, int64_t fence, int64_t ttl)
{
	char out[64];
	int64_t now = wall_ms();
	const char *key = lock_key(name);
	const char *hset[] = {"HSET",  key,
	                      "token", token,
	                      "owner", "",
	                      "ho",    "0",
	                      "fence", tfmt("%" PRId64, fence),
	                      "acq",   tfmt("%" PRId64, now),
	                      "ttl",   tfmt("%" PRId64, ttl),
	                      "exp",   tfmt("%" PRId64, now + ttl)};
	CHECKF(node_cmd(i, out, sizeof out, 16, hset) == ':', "HSET on node %d failed", i);
	const char *px[] = {"PEXPIRE", key, tfmt("%" PRId64, ttl)};
	CHECKF(node_cmd(i, out, sizeof out, 3, px) == ':', "PEXPIRE on node %d failed", i);
}

/* The holder's lock on nodes 0 and 1; node 2 has someone else's stray grant;
 * node 0 stalls. A renew or release is then renewed/released on node 1,
 * unknown on node 0 and refused on node 2 only: that is not "your token does
 * not hold the lock" (409 token_mismatch, which also "deletes nothing"). */
static void t_minority_mismatch_stalled_node(void)
{
	setup(3);
	struct grant a = RL_ACQUIRE("mm", "ttl_ms=30000");
	node_plant_lock(2, "mm", "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", a.fence + 1, 30000);
	/* with every node answering, the holder is fine */
	struct resp *r = http("POST", "/locks/mm/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	r = http("GET", "/locks/mm", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	node_pause(0);
	struct resp *rn = http("POST", "/locks/mm/renew", NULL, NULL, tok_hdr(a.token), NULL);
	struct resp *rd = http("DELETE", "/locks/mm", NULL, NULL, tok_hdr(a.token), NULL);
	int on1 = node_exists(1, lock_key("mm"));
	node_resume(0);
	bool renew_ok = rn->status == 503, release_ok = rd->status == 204 || rd->status == 503;
	CHECKF(renew_ok && release_ok,
	       "lock on nodes 0 and 1, node 0 stalled, a stray grant on node 2: renew by the holder answered %ld "
	       "(expected 503 backend_unavailable)%s; release answered %ld (expected 204 or 503)%s; node 1's copy %s",
	       rn->status, renew_ok ? "" : " [wrong]", rd->status, release_ok ? "" : " [wrong]",
	       on1 == 0 ? "was deleted" : "is still there");
}

/* SIGTERM while a Redlock call still waits on two stalled nodes: at the drain
 * deadline the nodes are freed one by one, and the call's last legs fail as
 * their node goes; the failed quorum must not roll back on a node already
 * freed (a use after free, caught by make check's AddressSanitizer). */
static void t_shutdown_with_call_in_flight(void)
{
	const char *extra[] = {"--node-timeout-ms", "60000", "--redis-timeout-ms", "500", NULL};
	struct async_req *a;

	setup_args(3, extra);
	node_pause(1);
	node_pause(2);
	a = http_async("PUT", "/locks/inflight?ttl_ms=30000", NULL, NULL, NULL);
	sleep_ms(300);
	dlockd_stop_checked(); /* exit 0 within 10 s, no sanitizer report */
	node_resume(1);
	node_resume(2);
	http_async_wait(a);
}

/* A node whose host name cannot be looked up in time (a DNS server that does
 * not answer: the slow_dns shim makes getaddrinfo() of *.stall.test sleep
 * 5 s, then fail) must not stall the service: the lookup runs off the event
 * loop, so the two live nodes keep serving, every request answers well
 * within the stall, and SIGTERM ends dlockd at once. Before, the lookup ran
 * on the loop: each reconnect attempt froze every request for the stall. */
static void t_node_name_lookup_stalls(void)
{
	char shim[600], *slash;
	const char *bin = getenv("DLOCKD_BIN");
	double worst = 0;

	snprintf(shim, sizeof shim, "%s", bin ? bin : "");
	slash = strrchr(shim, '/');
	if (!slash)
		FAIL("DLOCKD_BIN has no directory part: cannot find slow_dns.so beside it");
	snprintf(slash + 1, sizeof shim - (size_t)(slash + 1 - shim), "slow_dns.so");
	CHECKF(access(shim, R_OK) == 0, "%s is missing (make builds it with the test binary)", shim);
	nodes_start(2);
	const char *args[] = {"--redis", tfmt("redis://127.0.0.1:%d", g_nodes[0].port),
	                      "--redis", tfmt("redis://127.0.0.1:%d", g_nodes[1].port),
	                      "--redis", "redis://node3.stall.test:6379",
	                      NULL};
	const char *env[] = {tfmt("LD_PRELOAD=%s", shim), "SLOW_DNS_MS=5000",
	                     "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1", NULL};
	dlockd_start_env(args, env);
	/* 6 s of traffic spans at least one stalled lookup of node 3, whatever
	 * the reconnect backoff: no request may wait for it. */
	double end = mono_ms() + 6000;
	for (int i = 0; mono_ms() < end; i++) {
		struct resp *r = http("PUT", tfmt("/locks/dns-%d?ttl_ms=10000", i), NULL, NULL, NULL);
		EXPECT_STATUS(r, 201);
		struct resp *d =
		    http("DELETE", tfmt("/locks/dns-%d", i), NULL, NULL, tok_hdr(JSTR(r->json, "token")), NULL);
		EXPECT_STATUS(d, 204);
		worst = r->ms > worst ? r->ms : worst;
		worst = d->ms > worst ? d->ms : worst;
		sleep_ms(100);
	}
	/* A blocked loop would hold some request for most of the 5 s stall. */
	CHECKF(worst < 2500, "a request took %.0f ms while node 3's name lookup stalled (stall: 5000 ms)", worst);
	double t = mono_ms();
	dlockd_stop_checked();
	CHECKF(mono_ms() - t < 2500, "SIGTERM took %.0f ms to end dlockd during a stalled lookup", mono_ms() - t);
}

const struct test tests_redlock[] = {
    {"redlock_basic_3_nodes", t_basic_3, {NULL}, T_NO_DLOCKD},
    {"redlock_shutdown_with_call_in_flight", t_shutdown_with_call_in_flight, {NULL}, T_NO_DLOCKD},
    {"redlock_basic_5_nodes", t_basic_5, {NULL}, T_NO_DLOCKD},
    {"redlock_nodes_down", t_nodes_down, {NULL}, T_NO_DLOCKD},
    {"redlock_list_no_quorum", t_list_no_quorum, {NULL}, T_NO_DLOCKD},
    {"redlock_node_paused", t_node_paused, {NULL}, T_NO_DLOCKD},
    {"redlock_node_restarted_empty", t_node_restarted_empty, {NULL}, T_NO_DLOCKD},
    {"redlock_fences_changing_majorities", t_fences_changing_majorities, {NULL}, T_NO_DLOCKD},
    {"redlock_contention_two_replicas", t_contention_two_replicas, {NULL}, T_NO_DLOCKD},
    {"redlock_contention_stalling_nodes", t_contention_stalling_nodes, {NULL}, T_NO_DLOCKD},
    {"redlock_wait_handoff", t_wait_handoff, {NULL}, T_NO_DLOCKD},
    {"redlock_wait_across_replicas", t_wait_across_replicas, {NULL}, T_NO_DLOCKD},
    {"redlock_reacquire_after_node_restart", t_reacquire_after_node_restart, {NULL}, T_NO_DLOCKD},
    {"redlock_validity_exhausted", t_validity_exhausted, {NULL}, T_NO_DLOCKD},
    {"redlock_expiry", t_expiry, {NULL}, T_NO_DLOCKD},
    {"redlock_drift_factor", t_drift_factor, {NULL}, T_NO_DLOCKD},
    {"redlock_list_node_back_mid_walk", t_list_node_back_mid_walk, {NULL}, T_NO_DLOCKD},
    {"redlock_minority_mismatch_stalled_node", t_minority_mismatch_stalled_node, {NULL}, T_NO_DLOCKD},
    {"redlock_node_name_lookup_stalls", t_node_name_lookup_stalls, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
