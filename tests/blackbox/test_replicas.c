/* --redis-wait-replicas (issue 16, replica-acknowledged grants): a real Redis
 * master (node 0) and one real replica (node 1) on loopback ports. A grant,
 * renewal or release is answered only once the replica has the write; a
 * grant the replica does not acknowledge (paused with SIGSTOP, or gone) is
 * released and answered 503 replication_unconfirmed, for a direct acquire as
 * for a waiter handed the lock; a renewal not acknowledged answers 503 with
 * the lease still held, a release 204; a burst of acquires that reaches Redis
 * while a WAIT is out shares the next WAIT; Redlock refuses the flag. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TIMEOUT_MS = 600 };

/* Makes node 1 a replica of node 0 and waits until the master counts it
 * online and it has acknowledged a write: a replica fresh from its first
 * sync may leave the master's first GETACK unanswered until its periodic
 * ACK (up to a second later), which would fail the first WAIT. */
static void replicate(void)
{
	char out[4096];
	const char *nodelay[] = {"CONFIG", "SET", "repl-diskless-sync-delay", "0"};
	const char *of[] = {"REPLICAOF", "127.0.0.1", tfmt("%d", g_nodes[0].port)};
	const char *info[] = {"INFO", "replication"};
	const char *set[] = {"SET", "rw-probe", "1"};
	double until = mono_ms() + 10000 * g_slow;

	CHECK(node_cmd(0, out, sizeof out, 4, nodelay) == '+');
	CHECK(node_cmd(1, out, sizeof out, 3, of) == '+');
	for (;;) {
		CHECK(node_cmd(0, out, sizeof out, 2, info) == '$');
		if (strstr(out, "state=online"))
			break;
		CHECKF(mono_ms() < until, "the replica did not come online: %s", out);
		sleep_ms(20);
	}
	CHECK(node_cmd(0, out, sizeof out, 3, set) == '+');
	for (;;) {
		const char *m, *r;
		CHECK(node_cmd(0, out, sizeof out, 2, info) == '$');
		m = strstr(out, "master_repl_offset:");
		r = strstr(out, ",offset=");
		if (m && r && strtoll(r + 8, NULL, 10) >= strtoll(m + 19, NULL, 10) && strtoll(r + 8, NULL, 10) > 0)
			return;
		CHECKF(mono_ms() < until, "the replica did not acknowledge a write: %s", out);
		sleep_ms(20);
	}
}

/* Master and replica up, g_dl over the master with --redis-wait-replicas 1. */
static void start_pair(void)
{
	nodes_start(2);
	replicate();
	dlockd_start((const char *const[]){"--redis", tfmt("redis://127.0.0.1:%d", g_nodes[0].port),
	                                   "--redis-wait-replicas", "1", "--redis-timeout-ms", tfmt("%d", TIMEOUT_MS),
	                                   NULL});
}

static double metric(const char *name)
{
	int found = 0;
	double v = metric_value(http("GET", "/metrics", NULL, NULL, NULL), name, &found);
	CHECKF(found == 1, "/metrics has %d samples of %s", found, name);
	return v;
}

static const char *lock_key(const char *name)
{
	return tfmt("dlock:lock:{%s}", name);
}

static long long wait_calls(void)
{
	char out[8192];
	const char *argv[] = {"INFO", "commandstats"};
	const char *p;

	CHECK(node_cmd(0, out, sizeof out, 2, argv) == '$');
	p = strstr(out, "cmdstat_wait:calls=");
	return p ? strtoll(p + strlen("cmdstat_wait:calls="), NULL, 10) : 0;
}

/* A grant is answered only after the replica has it: while the replica is
 * paused the answer waits; right after the 201 the lock key is on the replica. */
static void t_grant_waits_for_replica(void)
{
	struct async_req *a;
	struct resp *r;
	struct grant g;

	start_pair();
	g = ACQUIRE("rw-direct", "ttl_ms=30000");
	CHECKF(node_exists(1, lock_key("rw-direct")) == 1, "the replica lacks the lock right after the 201");

	node_pause(1);
	a = http_async("PUT", "/locks/rw-paused?ttl_ms=30000", NULL, NULL, NULL);
	sleep_ms(300);
	EXPECT_WAITING(a, "the acquire", "the replica was paused (no acknowledgement yet)");
	node_resume(1);
	r = http_async_wait(a);
	EXPECT_STATUS(r, 201);
	CHECKF(node_exists(1, lock_key("rw-paused")) == 1, "the replica lacks the lock right after the 201");
	CHECK(metric("dlockd_replica_waits_total") >= 2);
	CHECK(metric("dlockd_replica_waits_unconfirmed_total") == 0);
	(void)g;
}

/* Replica paused for good: the acquire answers 503 replication_unconfirmed
 * within the timeout, and the lock is not held, in dlockd's eyes or Redis's. */
static void t_grant_unacknowledged_released(void)
{
	struct resp *r;

	start_pair();
	node_pause(1);
	r = http("PUT", "/locks/rw-lost?ttl_ms=30000", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "replication_unconfirmed");
	CHECKF(resp_header(r, "Retry-After") != NULL, "a 503 without Retry-After");
	CHECKF(r->ms < TIMEOUT_MS + 400, "the 503 took %.0f ms (--redis-timeout-ms %d)", r->ms, TIMEOUT_MS);
	EXPECT_PROBLEM(http("GET", "/locks/rw-lost", NULL, NULL, NULL), 404, "not_held");
	CHECKF(node_exists(0, lock_key("rw-lost")) == 0, "the master still holds the unacknowledged grant");
	CHECK(metric("dlockd_unconfirmed_grants_released_total") == 1);
	CHECK(metric("dlockd_replica_waits_unconfirmed_total") >= 1);
	node_resume(1);
}

/* No replica at all (it died): the same 503, nothing held. */
static void t_grant_no_replica(void)
{
	start_pair();
	node_kill(1);
	EXPECT_PROBLEM(http("PUT", "/locks/rw-none?ttl_ms=30000", NULL, NULL, NULL), 503, "replication_unconfirmed");
	CHECKF(node_exists(0, lock_key("rw-none")) == 0, "the master still holds the unacknowledged grant");
	EXPECT_PROBLEM(http("GET", "/locks/rw-none", NULL, NULL, NULL), 404, "not_held");
}

/* A renewal (and a re-acquire) the replica does not acknowledge: 503, and
 * the lease stands on the master under the same token and fence; renewing
 * again once the replica is back works. */
static void t_renew_unacknowledged(void)
{
	struct grant g;
	struct resp *r;
	const char *hdr;

	start_pair();
	g = ACQUIRE("rw-renew", "ttl_ms=30000");
	hdr = tfmt("Lock-Token: %s", g.token);
	node_pause(1);
	r = http("POST", "/locks/rw-renew/renew?ttl_ms=20000", NULL, NULL, hdr, NULL);
	EXPECT_PROBLEM(r, 503, "replication_unconfirmed");
	CHECKF(strstr(JSTR(r->json, "detail"), "renew again") != NULL, "detail: %s", JSTR(r->json, "detail"));
	r = http("PUT", tfmt("/locks/rw-renew?ttl_ms=30000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "replication_unconfirmed");
	r = http("GET", "/locks/rw-renew", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(JINT(r->json, "fence") == g.fence);
	CHECK(metric("dlockd_unconfirmed_renewals_total") == 2);
	node_resume(1);
	EXPECT_STATUS(http("POST", "/locks/rw-renew/renew", NULL, NULL, hdr, NULL), 200);
}

/* A release the replica does not acknowledge is done on the master: 204
 * (after the WAIT's timeout), the lock free. */
static void t_release_unacknowledged(void)
{
	struct grant g;
	struct resp *r;

	start_pair();
	g = ACQUIRE("rw-release", "ttl_ms=30000");
	node_pause(1);
	r = http("DELETE", "/locks/rw-release", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	CHECKF(r->ms > TIMEOUT_MS / 2, "the release was answered in %.0f ms: it did not wait for the replica", r->ms);
	CHECKF(node_exists(0, lock_key("rw-release")) == 0, "the master still holds the lock");
	CHECK(metric("dlockd_unconfirmed_releases_total") == 1);
	node_resume(1);
}

/* 40 acquires that reach Redis one by one (4 ms apart, so each in a loop
 * turn of its own) while one WAIT is out (the replica is paused for 250 ms,
 * within the timeout) share the next WAIT: every one is granted and on the
 * replica, with a handful of WAITs, not one each (nor one per loop turn). */
static void t_burst_shares_wait(void)
{
	enum { N = 40 };
	struct async_req *a[N];
	long long before, sent;

	start_pair();
	before = wait_calls();
	node_pause(1);
	a[0] = http_async("PUT", "/locks/rw-burst-0?ttl_ms=30000", NULL, NULL, NULL);
	sleep_ms(50);
	for (int i = 1; i < N; i++) {
		a[i] = http_async("PUT", tfmt("/locks/rw-burst-%d?ttl_ms=30000", i), NULL, NULL, NULL);
		sleep_ms(4);
	}
	sleep_ms(250 - 50 - 4 * N > 0 ? 250 - 50 - 4 * N : 0);
	node_resume(1);
	for (int i = 0; i < N; i++)
		EXPECT_STATUS(http_async_wait(a[i]), 201);
	sent = wait_calls() - before;
	for (int i = 0; i < N; i++)
		CHECKF(node_exists(1, lock_key(tfmt("rw-burst-%d", i))) == 1, "the replica lacks rw-burst-%d", i);
	CHECKF(sent >= 1 && sent <= 6, "%lld WAITs for %d acquires", sent, N);
	CHECK(metric("dlockd_replica_waited_answers_total") >= N);
	printf("    burst: %d acquires, %lld WAITs\n", N, sent);
}

/* A waiter handed the lock while the replica is down gets 503 and holds
 * nothing; the lock is free afterwards. */
static void t_waiter_handoff_unacknowledged(void)
{
	struct grant g;
	struct async_req *w;
	struct resp *r;

	start_pair();
	g = ACQUIRE("rw-wait", "ttl_ms=30000");
	w = http_async("PUT", "/locks/rw-wait?ttl_ms=30000&wait_ms=8000", NULL, NULL, NULL);
	sleep_ms(200);
	EXPECT_WAITING(w, "the waiter", "the lock is held");
	node_pause(1);
	EXPECT_STATUS(http("DELETE", "/locks/rw-wait", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL), 204);
	r = http_async_wait(w);
	EXPECT_PROBLEM(r, 503, "replication_unconfirmed");
	CHECKF(r->ms < 4000, "the waiter was answered after %.0f ms", r->ms);
	EXPECT_PROBLEM(http("GET", "/locks/rw-wait", NULL, NULL, NULL), 404, "not_held");
	CHECKF(node_exists(0, lock_key("rw-wait")) == 0, "the master holds the waiter's unacknowledged grant");
	CHECK(metric("dlockd_unconfirmed_grants_released_total") == 1);
	node_resume(1);
}

/* Redlock refuses the flag; a bad value is a usage error; the variable works. */
static void t_flag_rules(void)
{
	char out[2048];
	int rc = run_dlockd_capture((const char *const[]){"--redis", "redis://127.0.0.1:1", "--redis",
	                                                  "redis://127.0.0.1:2", "--redis", "redis://127.0.0.1:3",
	                                                  "--redis-wait-replicas", "1", NULL},
	                            out, sizeof out, 5000);

	CHECKF(rc == 2 && strstr(out, "Redlock"), "Redlock with --redis-wait-replicas: exit %d: %s", rc, out);
	rc = run_dlockd_capture((const char *const[]){"--redis-wait-replicas", "-1", NULL}, out, sizeof out, 5000);
	CHECKF(rc == 2, "--redis-wait-replicas -1: exit %d: %s", rc, out);
	nodes_start(2);
	replicate();
	dlockd_start_env((const char *const[]){"--redis", tfmt("redis://127.0.0.1:%d", g_nodes[0].port), NULL},
	                 (const char *const[]){"DLOCKD_REDIS_WAIT_REPLICAS=2", NULL});
	/* two replicas asked for, one exists: every grant is refused */
	EXPECT_PROBLEM(http("PUT", "/locks/rw-env?ttl_ms=30000", NULL, NULL, NULL), 503, "replication_unconfirmed");
	CHECKF(node_exists(0, lock_key("rw-env")) == 0, "the master holds the unacknowledged grant");
}

const struct test tests_replicas[] = {
    {"replicas_grant_waits_for_replica", t_grant_waits_for_replica, {NULL}, T_NO_DLOCKD},
    {"replicas_grant_unacknowledged_released", t_grant_unacknowledged_released, {NULL}, T_NO_DLOCKD},
    {"replicas_grant_no_replica", t_grant_no_replica, {NULL}, T_NO_DLOCKD},
    {"replicas_renew_unacknowledged", t_renew_unacknowledged, {NULL}, T_NO_DLOCKD},
    {"replicas_release_unacknowledged", t_release_unacknowledged, {NULL}, T_NO_DLOCKD},
    {"replicas_burst_shares_wait", t_burst_shares_wait, {NULL}, T_NO_DLOCKD},
    {"replicas_waiter_handoff_unacknowledged", t_waiter_handoff_unacknowledged, {NULL}, T_NO_DLOCKD},
    {"replicas_flag_rules", t_flag_rules, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
