/* Sentinel mode (redis+sentinel://): dlockd over a real redis-server master
 * (node 0) and its replica (node 1, REPLICAOF), watched by three real
 * redis-sentinel processes (quorum 2) with a short down-after and failover
 * timeout. Lock operations through the sentinels, a kill -9 of the master
 * (readiness goes 503 then 200 within the failover bound, waiters are
 * answered by their deadline, fences keep rising although the promoted
 * replica missed the last grants), a planned SENTINEL FAILOVER followed
 * through +switch-master, one sentinel down, and a master name no sentinel
 * knows. */
#include "harness.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASTER "dlockd-test"

enum {
	DOWN_AFTER_MS = 1000,
	FAILOVER_MS = 2000,
	/* A failover: the master is seen down after DOWN_AFTER_MS, the sentinels
	 * agree within about a second, elect a leader and promote the replica;
	 * an election that fails is tried again after 2 x FAILOVER_MS. dlockd
	 * then moves within a few hundred ms. Generous beyond that, for loaded
	 * CI machines. */
	FAILOVER_BOUND_MS = DOWN_AFTER_MS + 2 * FAILOVER_MS + 8000,
};

/* The master (node 0) and its replica (node 1), in sync, and three sentinels. */
static void topology(void)
{
	char out[64];
	size_t n = 0;

	nodes_start(2);
	const char *replicaof[] = {"REPLICAOF", "127.0.0.1", tfmt("%d", g_nodes[0].port)};
	CHECKF(node_cmd(1, out, sizeof out, 3, replicaof) == '+', "REPLICAOF on node 1 failed: %s", out);
	double end = mono_ms() + 10000;
	for (;;) {
		const char *role[] = {"ROLE"};
		const char **r = node_list(1, 1, role, &n);
		if (r && n >= 4 && strcmp(r[0], "slave") == 0 && strcmp(r[3], "connected") == 0)
			break;
		CHECKF(mono_ms() < end, "node 1 did not finish its sync with node 0 within 10 s");
		sleep_ms(20);
	}
	sentinels_start(3, MASTER, g_nodes[0].port, g_nodes[1].port, 2, DOWN_AFTER_MS, FAILOVER_MS);
}

/* Until every sentinel that runs sees enough others to fail over (CKQUORUM). */
static void wait_quorum(void)
{
	double end = mono_ms() + 10000 * g_slow;
	for (int i = 0; i < g_nsentinels; i++) {
		char out[256];
		const char *argv[] = {"SENTINEL", "CKQUORUM", MASTER};
		while (g_sentinels[i].pid > 0 && port_cmd(g_sentinels[i].port, out, sizeof out, 3, argv) != '+') {
			CHECKF(mono_ms() < end, "sentinel %d: no failover quorum within 10 s: %s", i, out);
			sleep_ms(50);
		}
	}
}

/* --redis with every sentinel, in order, for master `name` */
static const char *sentinel_url(const char *name)
{
	return tfmt("redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s", g_sentinels[0].port,
	            g_sentinels[1].port, g_sentinels[2].port, name);
}

static void start_dlockd(void)
{
	const char *args[] = {"--redis", sentinel_url(MASTER), "--log-level", "info", NULL};
	dlockd_start(args);
}

/* The port of the master sentinel i names now, or 0. */
static int master_port(int i)
{
	size_t n;
	const char *argv[] = {"SENTINEL", "get-master-addr-by-name", MASTER};
	const char **r = port_list(g_sentinels[i].port, 3, argv, &n);
	return r && n == 2 ? atoi(r[1]) : 0;
}

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

/* acquire + release of name once; its fence */
static int64_t grant_release(const char *name)
{
	struct grant g = ACQUIRE(name, "ttl_ms=10000");
	EXPECT_STATUS(http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(g.token), NULL), 204);
	return g.fence;
}

/* Polls GET /readyz from now until it answers 503 and, after that, 200 (at
 * most FAILOVER_BOUND_MS from t0). The 503s must be backend_unavailable. */
static void expect_ready_again(double t0, const char *what)
{
	bool saw_down = false;
	for (;;) {
		struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
		if (r->status == 503) {
			EXPECT_PROBLEM(r, 503, "backend_unavailable");
			saw_down = true;
		} else if (r->status == 200 && saw_down) {
			return;
		} else if (r->status != 200) {
			FAIL("%s: GET /readyz answered %ld", what, r->status);
		}
		CHECKF(mono_ms() - t0 < FAILOVER_BOUND_MS * g_slow, "%s: /readyz %s within %d ms", what,
		       saw_down ? "did not come back to 200" : "never went 503", FAILOVER_BOUND_MS);
		sleep_ms(30);
	}
}

/* Lock operations through the sentinels: acquire, renew, inspect, list,
 * release, and a waiter woken by a release (the wake-up subscription follows
 * the master too). */
static void t_sentinel_basic(void)
{
	topology();
	start_dlockd();
	struct resp *ready = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(ready, 200);
	CHECKF(!json_object_get(ready->json, "warnings"), "/readyz warns: %s", ready->body);

	struct grant g = ACQUIRE("orders", "ttl_ms=5000&owner=w1");
	struct resp *r = http("POST", "/locks/orders/renew?ttl_ms=8000", NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK(JINT(r->json, "fence") == g.fence);
	r = http("GET", "/locks/orders", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(JINT(r->json, "fence") == g.fence);
	r = http("GET", "/locks?prefix=ord", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(json_array_size(JGET(r->json, "locks")) == 1);
	/* the data lives on the master the sentinels name */
	char out[64];
	const char *exists[] = {"EXISTS", "dlock:lock:{orders}"};
	CHECKF(node_cmd(0, out, sizeof out, 2, exists) == ':' && strcmp(out, "1") == 0,
	       "the lock is not on the master (node 0)");

	struct async_req *w = http_async("PUT", "/locks/orders?wait_ms=5000", NULL, NULL, NULL);
	sleep_ms(200);
	EXPECT_WAITING(w, "a waiter", "the lock is held");
	EXPECT_STATUS(http("DELETE", "/locks/orders", NULL, NULL, tok_hdr(g.token), NULL), 204);
	r = http_async_wait(w);
	EXPECT_STATUS(r, 201);
	CHECKF(r->ms < 1000, "the waiter got the lock %.0f ms after its start, not at the release", r->ms);
	CHECK(JINT(r->json, "fence") > g.fence);
}

/* kill -9 of the master, which had just granted locks its replica never
 * received: dlockd is unready, then serves from the promoted replica within
 * the failover bound, without a restart; waiters are answered by their
 * deadline; every fence granted after the failover is above every fence
 * granted before, lost grants included. */
static void t_sentinel_kill_master(void)
{
	topology();
	start_dlockd();
	wait_quorum();
	int64_t before = 0;
	for (int i = 0; i < 5; i++) {
		int64_t f = grant_release("f");
		before = f > before ? f : before;
	}
	/* The replica misses what follows: its link is cut, and it cannot come
	 * back (the master's default user may no longer run the replication
	 * handshake, which dlockd and the sentinels do not need). */
	char out[128];
	const char *no_sync[] = {"ACL", "SETUSER", "default", "-psync", "-sync", "-replconf"};
	const char *kill_link[] = {"CLIENT", "KILL", "TYPE", "replica"};
	CHECKF(node_cmd(0, out, sizeof out, 6, no_sync) == '+', "ACL SETUSER default: %s", out);
	CHECKF(node_cmd(0, out, sizeof out, 4, kill_link) == ':', "CLIENT KILL TYPE replica: %s", out);
	for (int i = 0; i < 5; i++) {
		int64_t f = grant_release("f");
		before = f > before ? f : before;
	}
	struct grant lost = ACQUIRE("lost", "ttl_ms=60000");
	before = lost.fence > before ? lost.fence : before;
	/* the holder of "w" and two waiters, queued when the master dies */
	struct grant held = ACQUIRE("w", "ttl_ms=60000");
	before = held.fence > before ? held.fence : before;
	struct async_req *w[2];
	for (int i = 0; i < 2; i++)
		w[i] = http_async("PUT", "/locks/w?wait_ms=4000&ttl_ms=5000", NULL, NULL, NULL);
	sleep_ms(200);
	EXPECT_WAITING(w[0], "waiter 0", "the lock is held");

	double t0 = mono_ms();
	node_kill(0);
	expect_ready_again(t0, "after kill -9 of the master");
	double took = mono_ms() - t0;
	CHECKF(master_port(1) == g_nodes[1].port, "the sentinels did not promote node 1");

	for (int i = 0; i < 2; i++) {
		struct resp *r = http_async_wait(w[i]);
		CHECKF(r->status == 201 || r->status == 409 || r->status == 503,
		       "waiter %d: answered %ld (expected 201, 409 or 503)", i, r->status);
		if (r->status == 503)
			EXPECT_PROBLEM(r, 503, "backend_unavailable");
		CHECKF(r->ms < 4000 + 2000 * g_slow, "waiter %d with wait_ms=4000 answered after %.0f ms", i, r->ms);
	}
	/* the scenario happened: the grant the replica never received is gone */
	EXPECT_STATUS(http("GET", "/locks/lost", NULL, NULL, NULL), 404);
	/* fences after the failover: above every fence before, on the same name and on others */
	int64_t after = grant_release("f");
	CHECKF(after > before, "fence %" PRId64 " after the failover is not above %" PRId64 " granted before", after,
	       before);
	struct grant again = ACQUIRE("lost", "ttl_ms=5000");
	CHECKF(again.fence > before, "fence %" PRId64 " of the lost lock's name is not above %" PRId64, again.fence,
	       before);
	fprintf(stderr, "    # kill -9 of the master: dlockd ready again after %.0f ms\n", took);
}

/* SENTINEL FAILOVER: the master becomes a replica and the replica the
 * master; dlockd hears +switch-master and serves from the new master. */
static void t_sentinel_planned_failover(void)
{
	topology();
	start_dlockd();
	wait_quorum();
	struct grant g = ACQUIRE("p", "ttl_ms=60000");

	char out[256];
	const char *failover[] = {"SENTINEL", "FAILOVER", MASTER};
	double t0 = mono_ms();
	CHECKF(port_cmd(g_sentinels[0].port, out, sizeof out, 3, failover) == '+', "SENTINEL FAILOVER: %s", out);
	for (;;) {
		size_t len;
		char *log = dlockd_log_contents(&len);
		if (strstr(log, tfmt("+switch-master from sentinel 127.0.0.1:%d", g_sentinels[0].port)) &&
		    strstr(log, tfmt("master %s moved to 127.0.0.1:%d", MASTER, g_nodes[1].port)))
			break;
		CHECKF(mono_ms() - t0 < FAILOVER_BOUND_MS * g_slow,
		       "no +switch-master to node 1 in the log within %d ms", FAILOVER_BOUND_MS);
		sleep_ms(30);
	}
	/* it serves from node 1: the held lock came along, a new grant is above it */
	struct resp *r = NULL;
	for (;;) {
		r = http("PUT", "/locks/p2?ttl_ms=5000", NULL, NULL, NULL);
		if (r->status == 201)
			break;
		EXPECT_PROBLEM(r, 503, "backend_unavailable");
		CHECKF(mono_ms() - t0 < FAILOVER_BOUND_MS * g_slow, "no grant within %d ms of the failover",
		       FAILOVER_BOUND_MS);
		sleep_ms(30);
	}
	CHECK(JINT(r->json, "fence") > g.fence);
	EXPECT_HELD(http("PUT", "/locks/p", NULL, NULL, NULL), g, 60000, NULL);
	char v[64];
	const char *exists[] = {"EXISTS", "dlock:lock:{p2}"};
	CHECKF(node_cmd(1, v, sizeof v, 2, exists) == ':' && strcmp(v, "1") == 0, "the new lock is not on node 1");
	EXPECT_STATUS(http("GET", "/readyz", NULL, NULL, NULL), 200);
}

/* One of three sentinels down — the first dlockd asks — changes nothing:
 * dlockd gets ready, serves, and follows a failover. */
static void t_sentinel_one_down(void)
{
	topology();
	sentinel_kill(0);
	start_dlockd();
	struct resp *ready = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(ready, 200);
	CHECKF(!json_object_get(ready->json, "warnings"), "/readyz warns: %s", ready->body);
	int64_t before = grant_release("one");
	wait_quorum();
	double t0 = mono_ms();
	node_kill(0);
	expect_ready_again(t0, "after kill -9 of the master, one sentinel down");
	CHECK(grant_release("one") > before);
}

/* A master name no sentinel knows: not ready, and every call 503 with a detail that says so. */
static void t_sentinel_unknown_master(void)
{
	topology();
	const char *args[] = {"--redis", sentinel_url("no-such-master"), NULL};
	dlockd_start_healthy(args);
	double end = mono_ms() + 3000 * g_slow;
	struct resp *r;
	for (;;) {
		r = http("GET", "/readyz", NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 503, "backend_unavailable");
		if (strstr(JSTR(r->json, "detail"), "no master named 'no-such-master'"))
			break;
		CHECKF(mono_ms() < end, "/readyz does not say that no sentinel knows the master: %s", r->body);
		sleep_ms(50);
	}
	r = http("PUT", "/locks/x", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	CHECKF(strstr(JSTR(r->json, "detail"), "no master named 'no-such-master'"), "PUT's detail: %s", r->body);
	size_t len;
	char *log = dlockd_log_contents(&len);
	CHECKF(strstr(log, "error redis sentinel: no master named 'no-such-master'"),
	       "no error line in the log naming the unknown master");
}

/* The sentinels name a node that is a replica (a sentinel configured for the
 * wrong address, or a switch not yet seen): dlockd asks it ROLE, does not use
 * it, stays not ready and says why; it never writes to the replica. */
static void t_sentinel_names_a_replica(void)
{
	char out[256];

	topology();
	for (int i = 0; i < g_nsentinels; i++) {
		const char *mon[] = {"SENTINEL", "MONITOR", "named-replica", "127.0.0.1", tfmt("%d", g_nodes[1].port),
		                     "2"};
		CHECKF(port_cmd(g_sentinels[i].port, out, sizeof out, 6, mon) == '+',
		       "SENTINEL MONITOR on sentinel %d: %s", i, out);
	}
	const char *args[] = {"--redis", sentinel_url("named-replica"), "--log-level", "info", NULL};
	dlockd_start_healthy(args);
	double end = mono_ms() + 3000 * g_slow;
	while (!strstr(dlockd_log_contents(NULL), "not a master")) {
		CHECKF(mono_ms() < end, "no log line within 3 s saying the named node is not a master: %s",
		       dlockd_log_contents(NULL));
		sleep_ms(50);
	}
	EXPECT_PROBLEM(http("GET", "/readyz", NULL, NULL, NULL), 503, "backend_unavailable");
	EXPECT_PROBLEM(http("PUT", "/locks/on-replica?ttl_ms=5000", NULL, NULL, NULL), 503, "backend_unavailable");
	const char *exists[] = {"EXISTS", "dlock:lock:{on-replica}"};
	CHECKF(node_cmd(0, out, sizeof out, 2, exists) == ':' && strcmp(out, "0") == 0,
	       "a lock key on the master: dlockd wrote through a replica");
}

const struct test tests_sentinel[] = {
    {"sentinel_basic_ops", t_sentinel_basic, {NULL}, T_NO_DLOCKD},
    {"sentinel_kill_master_failover", t_sentinel_kill_master, {NULL}, T_NO_DLOCKD},
    {"sentinel_planned_failover_switch_master", t_sentinel_planned_failover, {NULL}, T_NO_DLOCKD},
    {"sentinel_one_sentinel_down", t_sentinel_one_down, {NULL}, T_NO_DLOCKD},
    {"sentinel_unknown_master_not_ready", t_sentinel_unknown_master, {NULL}, T_NO_DLOCKD},
    {"sentinel_named_replica_not_used", t_sentinel_names_a_replica, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
