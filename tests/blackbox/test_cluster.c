/* Redis Cluster mode (redis+cluster://) against a real cluster of three
 * masters and one replica (harness_cluster.c): locks spread over the shards,
 * waiters woken across shards through one subscription, lists across shards
 * with cursors, a slot migrated while clients contend (MOVED, ASK and
 * TRYAGAIN followed, nothing granted twice), a manual failover, and /readyz
 * when a master without a replica is down. */
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlockd over the cluster; extra flags after the defaults */
static void start_over_cluster(const char *timeout_ms)
{
	cluster_ensure();
	const char *args[] = {"--redis", cluster_url(), "--redis-timeout-ms", timeout_ms, NULL};
	dlockd_start(args);
}

/* the node (index) that holds key now, checked on every node: exactly one master has it */
static int holder_of(const char *key)
{
	int found = -1;
	for (int i = 0; i < CLUSTER_NODES; i++) {
		char out[64], role[8192];
		const char *info[] = {"INFO", "replication"};
		if (port_cmd(cluster_port(i), role, sizeof role, 2, info) != '$' || !strstr(role, "role:master"))
			continue;
		const char *ex[] = {"EXISTS", key};
		if (port_cmd(cluster_port(i), out, sizeof out, 2, ex) == ':' && strcmp(out, "1") == 0) {
			CHECKF(found < 0, "%s is on nodes %d and %d", key, found, i);
			found = i;
		}
	}
	return found;
}

/* a name whose slot node `want` serves (found by trying n0, n1, ...) */
static const char *name_on(const char *stem, int want)
{
	for (int k = 0; k < 1000; k++) {
		const char *name = tfmt("%s%d", stem, k);
		if (cluster_owner(0, cluster_keyslot(tfmt("dlock:lock:{%s}", name))) == want)
			return name;
	}
	FAIL("no name for node %d", want);
}

static void t_spread(void)
{
	start_over_cluster("2000");
	int per[CLUSTER_NODES] = {0};
	struct grant g[30];
	for (int i = 0; i < 30; i++) {
		const char *name = tfmt("spread-%d", i);
		g[i] = ACQUIRE(name, "ttl_ms=30000&owner=w");
		const char *key = tfmt("dlock:lock:{%s}", name);
		int at = holder_of(key);
		CHECKF(at >= 0, "%s is on no master", key);
		CHECKF(at == cluster_owner(0, cluster_keyslot(key)), "%s is on node %d, not on its slot's master %d",
		       key, at, cluster_owner(0, cluster_keyslot(key)));
		CHECKF(holder_of(tfmt("dlock:fence:{%s}", name)) == at, "the fence of %s is not beside its lock", name);
		per[at]++;
	}
	int masters = 0;
	for (int i = 0; i < CLUSTER_NODES; i++)
		masters += per[i] > 0;
	CHECKF(masters == CLUSTER_MASTERS, "30 locks landed on %d masters, not %d", masters, CLUSTER_MASTERS);
	for (int i = 0; i < 30; i++) {
		const char *name = tfmt("spread-%d", i);
		struct resp *r = http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		CHECK_VIEW(r->json, name, 30000, "w");
		r = http("POST", tfmt("/locks/%s/renew?ttl_ms=20000", name), NULL, NULL,
		         tfmt("Lock-Token: %s", g[i].token), NULL);
		EXPECT_STATUS(r, 200);
		r = http("PUT", tfmt("/locks/%s", name), NULL, NULL, NULL);
		EXPECT_HELD(r, g[i], 20000, "w");
		r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tfmt("Lock-Token: %s", g[i].token), NULL);
		EXPECT_STATUS(r, 204);
		struct grant again = ACQUIRE(name, "ttl_ms=5000");
		CHECKF(again.fence > g[i].fence, "fence of %s went from %" PRId64 " to %" PRId64, name, g[i].fence,
		       again.fence);
	}
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

/* Waiters on locks in different shards are handed their locks by the
 * release's wake-up, not by their once-a-second retry; and one dlockd worker
 * subscribes on one node only, so each wake-up arrives once. */
static void t_waiters(void)
{
	start_over_cluster("2000");
	const char *names[CLUSTER_MASTERS];
	struct grant g[CLUSTER_MASTERS];
	struct async_req *w[CLUSTER_MASTERS];
	for (int i = 0; i < CLUSTER_MASTERS; i++) {
		names[i] = name_on("wake-", cluster_owner(0, i * 16384 / CLUSTER_MASTERS + 10));
		g[i] = ACQUIRE(names[i], "ttl_ms=30000");
	}
	long subs = 0;
	for (int i = 0; i < CLUSTER_NODES; i++) {
		const char *numsub[] = {"PUBSUB", "NUMSUB", "dlock:wake"};
		size_t n = 0;
		const char **v = port_list(cluster_port(i), 3, numsub, &n);
		CHECKF(v && n == 2, "PUBSUB NUMSUB on node %d", i);
		subs += strtol(v[1], NULL, 10);
	}
	CHECKF(subs == 1, "%ld subscriptions to dlock:wake over the cluster, not 1 (one per worker)", subs);
	double t0 = mono_ms();
	for (int i = 0; i < CLUSTER_MASTERS; i++)
		w[i] = http_async("PUT", tfmt("/locks/%s?ttl_ms=5000&wait_ms=8000", names[i]), NULL, NULL, NULL);
	/* past the waiters' first attempt and their first recheck: the next is a second later */
	while (mono_ms() < t0 + 1150)
		sleep_ms(10);
	for (int i = 0; i < CLUSTER_MASTERS; i++) {
		EXPECT_WAITING(w[i], "a waiter", "the lock is held");
		double t1 = mono_ms();
		struct resp *r =
		    http("DELETE", tfmt("/locks/%s", names[i]), NULL, NULL, tfmt("Lock-Token: %s", g[i].token), NULL);
		EXPECT_STATUS(r, 204);
		r = http_async_wait(w[i]);
		EXPECT_STATUS(r, 201);
		double took = mono_ms() - t1;
		CHECKF(took < 400, "the waiter on %s (node %d) got its lock %.0f ms after the release: not woken",
		       names[i], cluster_owner(0, cluster_keyslot(tfmt("dlock:lock:{%s}", names[i]))), took);
		t0 = mono_ms();
	}
}

static void t_list(void)
{
	start_over_cluster("2000");
	enum { N = 25 };
	for (int i = 0; i < N; i++)
		ACQUIRE(tfmt("ls-%02d", i), "ttl_ms=30000");
	ACQUIRE("other", "ttl_ms=30000");
	bool seen[N] = {false};
	int pages = 0, total = 0;
	const char *cursor = NULL;
	do {
		struct resp *r = http(
		    "GET", cursor ? tfmt("/locks?prefix=ls-&limit=4&cursor=%s", cursor) : "/locks?prefix=ls-&limit=4",
		    NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		json_t *locks = JGET(r->json, "locks");
		CHECK(json_array_size(locks) <= 4);
		for (size_t k = 0; k < json_array_size(locks); k++) {
			const char *name = json_string_value(json_object_get(json_array_get(locks, k), "name"));
			int idx;
			CHECKF(name && sscanf(name, "ls-%d", &idx) == 1 && idx >= 0 && idx < N, "listed %s", name);
			CHECKF(!seen[idx], "%s listed twice", name);
			seen[idx] = true;
			total++;
		}
		json_t *next = JGET(r->json, "next_cursor");
		cursor = json_is_string(next) ? tstrdup(json_string_value(next)) : NULL;
		CHECKF(++pages < 100, "the walk does not end");
	} while (cursor);
	CHECKF(total == N, "listed %d of %d locks", total, N);
	CHECKF(pages >= CLUSTER_MASTERS, "%d pages for three masters", pages);
	/* cursors of other modes, and broken ones, are refused cleanly */
	static const char *const bad[] = {"MHww", "0AAMHww", "C", "CAA", "CZZZ", "C___", "CAAA!!", "CAAAzz", "DAAA"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct resp *r = http("GET", tfmt("/locks?cursor=%s", bad[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_cursor");
	}
}

/* ---- a slot migrated while clients contend for a lock in it ---- */

struct worker {
	struct contender c;
};

static void *mig_worker(void *arg)
{
	struct worker *w = arg;
	CURL *h = curl_new();
	while (mono_ms() < w->c.deadline && !w->c.err[0]) {
		struct section s;
		struct resp *r = contender_acquire(h, &w->c, "/locks/mig?ttl_ms=3000", &s);
		if (!r)
			continue;
		struct resp *d = contender_release(h, &w->c, r, "/locks/mig", &s.t_end);
		if (d->status != 204)
			contender_release_failed(&w->c, s.fence, d->status, d);
		resp_free(d);
		contender_add(&w->c, s);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static long asking_calls(int node)
{
	char out[16384];
	const char *argv[] = {"INFO", "commandstats"};
	if (port_cmd(cluster_port(node), out, sizeof out, 2, argv) != '$')
		return -1;
	const char *p = strstr(out, "cmdstat_asking:calls=");
	return p ? strtol(p + strlen("cmdstat_asking:calls="), NULL, 10) : 0;
}

static void t_migration(void)
{
	enum { NW = 4 };
	start_over_cluster("3000");
	unsigned slot = cluster_keyslot("dlock:lock:{mig}");
	int from = cluster_owner(0, slot), to = -1;
	for (int i = 0; i < CLUSTER_MASTERS && to < 0; i++)
		if (i != from && cluster_owner(0, i * 16384 / CLUSTER_MASTERS + 10) == i)
			to = i;
	CHECKF(from >= 0 && to >= 0, "masters for the migration: %d -> %d", from, to);
	const char *from_id = cluster_node_id(from), *to_id = cluster_node_id(to);
	char slots[16], to_port[16];
	snprintf(slots, sizeof slots, "%u", slot);
	snprintf(to_port, sizeof to_port, "%d", cluster_port(to));
	long asking0 = asking_calls(to);
	cluster_broken(); /* whatever happens, the next test gets a fresh cluster */

	struct worker *ws = talloc(NW * sizeof *ws);
	pthread_t th[NW];
	double t0 = mono_ms();
	for (int i = 0; i < NW; i++) {
		ws[i].c.id = i;
		ws[i].c.port = g_dl.port;
		ws[i].c.deadline = t0 + 3500;
	}
	int started = contenders_start(th, ws, sizeof *ws, NW, mig_worker);
	sleep_ms(700);
	char out[512];
	const char *imp[] = {"CLUSTER", "SETSLOT", slots, "IMPORTING", from_id};
	const char *mig[] = {"CLUSTER", "SETSLOT", slots, "MIGRATING", to_id};
	CHECKF(port_cmd(cluster_port(to), out, sizeof out, 5, imp) == '+', "IMPORTING: %s", out);
	CHECKF(port_cmd(cluster_port(from), out, sizeof out, 5, mig) == '+', "MIGRATING: %s", out);
	sleep_ms(300); /* half-migrated: every key still on `from` */
	const char *keys[] = {"CLUSTER", "GETKEYSINSLOT", slots, "100"};
	size_t nk = 0;
	const char **k = port_list(cluster_port(from), 4, keys, &nk);
	CHECKF(k, "GETKEYSINSLOT failed");
	/* the lock's keys one by one, so that some are here and some there for a while */
	for (size_t i = 0; i < nk; i++) {
		const char *move[] = {"MIGRATE", "127.0.0.1", to_port, "", "0", "5000", "KEYS", k[i]};
		char mo[128];
		CHECKF(port_cmd(cluster_port(from), mo, sizeof mo, 8, move) == '+', "MIGRATE %s: %s", k[i], mo);
		sleep_ms(100);
	}
	/* whatever a client wrote meanwhile on `from` moves too */
	for (int round = 0; round < 10; round++) {
		k = port_list(cluster_port(from), 4, keys, &nk);
		if (!k || nk == 0)
			break;
		for (size_t i = 0; i < nk; i++) {
			const char *move[] = {"MIGRATE", "127.0.0.1", to_port, "", "0", "5000", "KEYS", k[i]};
			char mo[128];
			port_cmd(cluster_port(from), mo, sizeof mo, 8, move);
		}
	}
	const char *node[] = {"CLUSTER", "SETSLOT", slots, "NODE", to_id};
	CHECKF(port_cmd(cluster_port(to), out, sizeof out, 5, node) == '+', "SETSLOT NODE on the target: %s", out);
	CHECKF(port_cmd(cluster_port(from), out, sizeof out, 5, node) == '+', "SETSLOT NODE on the source: %s", out);
	double t_moved = mono_ms();
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	size_t total;
	const char *err;
	struct section *all = contenders_collect(ws, sizeof *ws, started, &total, &err);
	CHECKF(started == NW, "only %d threads started", started);
	CHECKF(!err, "%s", err);
	EXPECT_EXCLUSIVE(all, total);
	size_t after = 0;
	for (size_t i = 0; i < total; i++)
		after += all[i].t_acq > t_moved;
	if (getenv("VERBOSE"))
		fprintf(stderr, "    # migration: %zu sections, %zu after the slot moved, ASKING %ld\n", total, after,
		        asking_calls(to) - asking0);
	CHECKF(total >= 10, "only %zu sections", total);
	CHECKF(after >= 3, "only %zu sections after the slot moved", after);
	CHECKF(asking_calls(to) > asking0, "no ASKING reached the importing master: ASK was not followed");
	CHECKF(holder_of("dlock:fence:{mig}") == to, "the fence counter is not on the new master");
	/* the lock still works, and its fence still rises */
	struct grant g = ACQUIRE("mig", "ttl_ms=2000");
	CHECKF(g.fence > all[total - 1].fence, "fence %" PRId64 " after %" PRId64, g.fence, all[total - 1].fence);
}

/* ---- a manual failover of master 0 to its replica ---- */

static void *fo_worker(void *arg)
{
	struct worker *w = arg;
	CURL *h = curl_new();
	while (mono_ms() < w->c.deadline && !w->c.err[0]) {
		struct section s;
		struct resp *r = contender_acquire(h, &w->c, "/locks/fo?ttl_ms=3000", &s);
		if (!r)
			continue;
		struct resp *d = contender_release(h, &w->c, r, "/locks/fo", &s.t_end);
		if (d->status != 204 && d->status != 503)
			contender_release_failed(&w->c, s.fence, d->status, d);
		resp_free(d);
		contender_add(&w->c, s);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void t_failover(void)
{
	enum { NW = 3 };
	start_over_cluster("3000");
	const char *name = name_on("fo-held-", 0);
	struct grant held = ACQUIRE(name, "ttl_ms=30000");
	/* "fo" must live on master 0 too: find its slot's owner */
	CHECKF(cluster_owner(0, cluster_keyslot("dlock:lock:{fo}")) >= 0, "no owner for fo");
	struct worker *ws = talloc(NW * sizeof *ws);
	pthread_t th[NW];
	double t0 = mono_ms();
	for (int i = 0; i < NW; i++) {
		ws[i].c.id = i;
		ws[i].c.port = g_dl.port;
		ws[i].c.deadline = t0 + 3000;
		ws[i].c.busy_503 = true;
	}
	int started = contenders_start(th, ws, sizeof *ws, NW, fo_worker);
	sleep_ms(500);
	char out[256];
	const char *fo[] = {"CLUSTER", "FAILOVER"};
	CHECKF(port_cmd(cluster_port(CLUSTER_MASTERS), out, sizeof out, 2, fo) == '+', "CLUSTER FAILOVER: %s", out);
	double end = mono_ms() + 10000;
	while (cluster_owner(0, 10) != CLUSTER_MASTERS) {
		CHECKF(mono_ms() < end, "the replica did not become master within 10 s");
		sleep_ms(20);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	size_t total;
	const char *err;
	struct section *all = contenders_collect(ws, sizeof *ws, started, &total, &err);
	CHECKF(!err, "%s", err);
	EXPECT_EXCLUSIVE(all, total);
	CHECKF(total >= 5, "only %zu sections", total);
	/* the lock held across the failover is still held, with its fence; its holder releases it */
	struct resp *r = http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(JINT(r->json, "fence") == held.fence, "fence changed across the failover");
	/* and every shard serves on, the promoted one included */
	for (int i = 0; i < 3; i++) {
		const char *n2 = name_on(tfmt("fo-after-%d-", i), i == 0 ? CLUSTER_MASTERS : i);
		struct grant g = ACQUIRE(n2, "ttl_ms=5000");
		r = http("DELETE", tfmt("/locks/%s", n2), NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
		EXPECT_STATUS(r, 204);
	}
	r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tfmt("Lock-Token: %s", held.token), NULL);
	EXPECT_STATUS(r, 204);
	end = mono_ms() + 5000;
	while (http("GET", "/readyz", NULL, NULL, NULL)->status != 200) {
		CHECKF(mono_ms() < end, "/readyz not 200 after the failover");
		sleep_ms(50);
	}
}

/* A master without a replica is down: /readyz 503 at once, requests for its
 * slots 503 within the deadline (never a hang, never a 500); back up, ready
 * again. */
static void t_master_down(void)
{
	start_over_cluster("1000");
	int victim = CLUSTER_MASTERS - 1; /* master 2 has no replica */
	const char *name = name_on("down-", victim);
	cluster_broken();
	cluster_node_kill(victim);
	double end = mono_ms() + 3000;
	while (http("GET", "/readyz", NULL, NULL, NULL)->status != 503) {
		CHECKF(mono_ms() < end, "/readyz still 200 3 s after a master without a replica died");
		sleep_ms(20);
	}
	struct resp *r = http("PUT", tfmt("/locks/%s", name), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	CHECKF(r->ms < 1800, "the answer took %.0f ms with --redis-timeout-ms 1000", r->ms);
	/* the cluster gives up on it (cluster-node-timeout 1 s): every slot answers 503, in time */
	sleep_ms(2500);
	for (int i = 0; i < 3; i++) {
		r = http("PUT", tfmt("/locks/down-any-%d", i), NULL, NULL, NULL);
		CHECKF(r->status == 503 || r->status == 201, "PUT answered %ld with a master down", r->status);
		CHECKF(r->ms < 1800, "the answer took %.0f ms with --redis-timeout-ms 1000", r->ms);
	}
	cluster_node_restart(victim);
	end = mono_ms() + 15000;
	while (http("GET", "/readyz", NULL, NULL, NULL)->status != 200) {
		CHECKF(mono_ms() < end, "/readyz not 200 again 15 s after the master came back");
		sleep_ms(50);
	}
	/* its shard serves again once the cluster has taken it back (cluster_state:ok) */
	for (;;) {
		r = http("PUT", tfmt("/locks/%s", name), NULL, NULL, NULL);
		CHECKF(r->status == 201 || r->status == 503, "PUT answered %ld after the master came back", r->status);
		if (r->status == 201)
			break;
		CHECKF(mono_ms() < end, "no grant in the restarted master's shard 15 s after it came back");
		sleep_ms(50);
	}
}

/* ACL SETUSER on every node, from the words of rule after "user" (name, then its parts). */
static void acl_on_all_nodes(const char *rule)
{
	const char *argv[64] = {"ACL", "SETUSER"};
	char *copy = tstrdup(rule + 5), *save = NULL, out[256];
	int argc = 2;

	for (char *w = strtok_r(copy, " ", &save); w && argc < 64; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[2] = "dlacl"; /* the documented user's name: ours, not to meet another suite's */
	for (int i = 0; i < CLUSTER_NODES; i++)
		CHECKF(port_cmd(cluster_port(i), out, sizeof out, argc, argv) == '+', "ACL SETUSER on node %d: %s", i,
		       out);
}

/* dlockd as a Redis user of the documented rule without +cluster|slots: not
 * ready, /readyz and an error line name what to add; ready once it is added. */
static void t_acl_user(void)
{
	cluster_ensure();
	acl_on_all_nodes(acl_rule_for("+cluster|slots", "pw-cl1"));
	const char *url = cluster_url() + strlen("redis+cluster://");
	dlockd_start_healthy((const char *const[]){"--redis", tfmt("redis+cluster://dlacl:pw-cl1@%s", url), NULL});
	double end = mono_ms() + 6000.0 * g_slow;
	struct resp *r;
	while (!strstr((r = http("GET", "/readyz", NULL, NULL, NULL))->body, "cluster|slots")) {
		CHECKF(mono_ms() < end, "/readyz does not name +cluster|slots 6 s after the start: %ld %s", r->status,
		       r->body);
		sleep_ms(50);
	}
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	EXPECT_PROBLEM(http("PUT", "/locks/acl-c", NULL, NULL, NULL), 503, "backend_unavailable");
	const char *log = dlockd_log_contents(NULL);
	CHECKF(strstr(log, "may not run CLUSTER SLOTS") && strstr(log, "docs/redis-acl.md") && !strstr(log, "pw-cl1"),
	       "no error line naming the missing right (or the password shown): %s", log);
	char out[256];
	for (int i = 0; i < CLUSTER_NODES; i++)
		CHECKF(port_cmd(cluster_port(i), out, sizeof out, 4,
		                (const char *const[]){"ACL", "SETUSER", "dlacl", "+cluster|slots"}) == '+',
		       "ACL SETUSER +cluster|slots: %s", out);
	end = mono_ms() + 8000.0 * g_slow;
	while ((r = http("GET", "/readyz", NULL, NULL, NULL))->status != 200) {
		CHECKF(mono_ms() < end, "not ready 8 s after the user got +cluster|slots: %s", r->body);
		sleep_ms(100);
	}
	EXPECT_STATUS(http("PUT", "/locks/acl-c?ttl_ms=5000", NULL, NULL, NULL), 201);
	dlockd_stop_checked();
	for (int i = 0; i < CLUSTER_NODES; i++)
		port_cmd(cluster_port(i), out, sizeof out, 3, (const char *const[]){"ACL", "DELUSER", "dlacl"});
}

const struct test tests_cluster[] = {
    {"cluster_locks_spread_over_shards", t_spread, {NULL}, T_NO_DLOCKD},
    {"cluster_waiters_woken_across_shards", t_waiters, {NULL}, T_NO_DLOCKD},
    {"cluster_list_cursors_across_shards", t_list, {NULL}, T_NO_DLOCKD},
    {"cluster_slot_migration_under_contention", t_migration, {NULL}, T_NO_DLOCKD},
    {"cluster_manual_failover", t_failover, {NULL}, T_NO_DLOCKD},
    {"cluster_acl_user_without_cluster_slots", t_acl_user, {NULL}, T_NO_DLOCKD},
    {"cluster_readyz_master_down", t_master_down, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
