/* Safety regressions (notes/safety-design.md, issue 11): fences across Redis
 * data loss (D1), who chooses tokens (D2), tokens at rest (D3), waiters of a
 * dead instance (D4), start-up before Redis answers (D5), eviction policy
 * (D6), half-closed clients (D7), and locks written by dlockd 0.1.x. */
#include "harness.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

/* a grant of `name` (201); ttl_ms not checked: Redlock answers the validity */
static struct grant grant_at(int line, const char *name, const char *query)
{
	struct resp *r = http("PUT", tfmt("/locks/%s?%s", name, query), NULL, NULL, NULL);
	expect_status_at(__FILE__, line, r, 201);
	return check_grant_at(__FILE__, line, r, name, -1, "*");
}
#define GRANT(n, q) grant_at(__LINE__, (n), (q))

/* acquire and release `name`; returns the fence */
static int64_t cycle(const char *name)
{
	struct grant g = GRANT(name, "ttl_ms=5000");
	EXPECT_STATUS(http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(g.token), NULL), 204);
	return g.fence;
}

static double metric_at(int port, const char *name)
{
	struct resp *r = http_at(port, "GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	int found = 0;
	double v = metric_value(r, name, &found);
	CHECKF(found > 0, "/metrics has no %s sample", name);
	return v;
}

/* Waits until g_dl grants a probe lock (a name no test uses otherwise) and
 * every running, unpaused Redlock node holds it; then gives it back. */
static void await_grants(double limit_ms)
{
	double end = mono_ms() + limit_ms;
	for (;;) {
		struct resp *r = http("PUT", "/locks/safety-probe?ttl_ms=2000", NULL, NULL, NULL);
		bool all = r->status == 201;
		for (int i = 0; all && i < g_nnodes; i++)
			if (g_nodes[i].pid > 0 && !g_nodes[i].paused)
				all = node_exists(i, "dlock:lock:{safety-probe}") == 1;
		if (r->status == 201)
			EXPECT_STATUS(
			    http("DELETE", "/locks/safety-probe", NULL, NULL, tok_hdr(JSTR(r->json, "token")), NULL),
			    204);
		if (all)
			return;
		CHECKF(mono_ms() < end, "no grant on every running node within %.0f ms (last probe: %ld %s)", limit_ms,
		       r->status, r->body);
		sleep_ms(50);
	}
}

static void redlock_setup(int n)
{
	nodes_start(n);
	dlockd_start_nodes(NULL);
	await_grants(3500.0 * g_slow);
}

/* waits up to limit_ms for the async request; fails with `what` if it is
 * still running */
static struct resp *async_within(struct async_req *a, double limit_ms, const char *what)
{
	double end = mono_ms() + limit_ms;
	while (!http_async_done(a)) {
		CHECKF(mono_ms() < end, "%s: no answer within %.0f ms", what, limit_ms);
		sleep_ms(20);
	}
	return http_async_wait(a);
}

static void await_waiters(int port, double n)
{
	double end = mono_ms() + 2000.0 * g_slow;
	while (metric_at(port, "dlockd_waiters") < n) {
		CHECKF(mono_ms() < end, "dlockd_waiters on port %d did not reach %g within 2 s", port, n);
		sleep_ms(20);
	}
}

/* --------------------------------------------------------- D1 fences */

/* Once grants work on every running node again, the next grant of c has a
 * fence above f, every fence issued before; `after` says what happened. */
static void expect_fence_above_at(int line, int64_t f, const char *after)
{
	await_grants(5000.0 * g_slow);
	struct grant g = grant_at(line, "c", "ttl_ms=5000");
	if (g.fence <= f)
		fail_at(__FILE__, line, "%s, a grant got fence %" PRId64 " (must be above every fence issued before)",
		        after, g.fence);
}
#define EXPECT_FENCE_ABOVE(f, ...) expect_fence_above_at(__LINE__, (f), tfmt(__VA_ARGS__))

/* Redis restarts from a snapshot older than the last grant: the next fence
 * is still above every fence issued before. */
static void t_fence_after_stale_snapshot(void)
{
	cycle("c");
	cycle("c");
	char out[64];
	const char *save[] = {"SAVE"};
	CHECKF(redis_cmd(out, sizeof out, 1, save) == '+', "redis SAVE failed: %s", out);
	int64_t f = cycle("c");
	redis_kill();
	CHECKF(redis_start(), "could not restart redis from its snapshot");
	EXPECT_FENCE_ABOVE(f, "after Redis restarted from a snapshot taken before fence %" PRId64 " was issued", f);
}

/* The same after a restart with no data at all. */
static void t_fence_after_empty_restart(void)
{
	cycle("c");
	int64_t f = cycle("c");
	redis_kill();
	CHECKF(redis_start(), "could not restart redis");
	EXPECT_FENCE_ABOVE(f, "after an empty Redis restart following fence %" PRId64, f);
}

/* Failover to a replica that had not received the last grant: the promoted
 * replica's counter is stale, yet its next fence is above every fence issued
 * before. */
static void t_fence_after_failover_to_lagging_replica(void)
{
	nodes_start(1);
	char out[256];
	CHECK(redis_config_set("repl-diskless-sync-delay", "0")); /* the replica syncs at once */
	const char *follow[] = {"REPLICAOF", "127.0.0.1", tfmt("%d", g_redis.port)};
	CHECKF(node_cmd(0, out, sizeof out, 3, follow) == '+', "REPLICAOF failed: %s", out);
	cycle("c");
	double end = mono_ms() + 5000.0 * g_slow;
	while (node_exists(0, "dlock:fence:{c}") != 1 || node_exists(0, "dlock:lock:{c}") != 0) {
		CHECKF(mono_ms() < end, "the replica did not receive the grant and release of c");
		sleep_ms(20);
	}
	/* promoted now, as a failover would (its link to the master cut): the
	 * grants below never reach it */
	const char *promote[] = {"REPLICAOF", "NO", "ONE"};
	CHECKF(node_cmd(0, out, sizeof out, 3, promote) == '+', "REPLICAOF NO ONE failed: %s", out);
	cycle("c");
	int64_t f = cycle("c");
	redis_kill();
	int port = replica_start(NULL); /* a dlockd on the promoted replica */
	struct resp *r = http_at(port, "PUT", "/locks/c?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "c", 5000, NULL);
	CHECKF(g.fence > f,
	       "after a failover to a replica that missed fence %" PRId64 ", a grant got fence %" PRId64
	       " (must be above every fence issued before)",
	       f, g.fence);
}

/* Redlock: two of three nodes come back from a snapshot older than the last
 * grant and form the majority without the up-to-date third. */
static void t_redlock_fence_after_stale_majority(void)
{
	redlock_setup(3);
	cycle("c");
	/* every node took part (a node may miss a grant on a busy machine) */
	double end = mono_ms() + 3000.0 * g_slow;
	for (;;) {
		cycle("c");
		int have = 0;
		for (int i = 0; i < 3; i++)
			have += node_exists(i, "dlock:fence:{c}") == 1;
		if (have == 3)
			break;
		CHECKF(mono_ms() < end, "only %d of 3 nodes have a fence counter for c", have);
	}
	char out[64];
	const char *save[] = {"SAVE"};
	for (int i = 0; i < 2; i++)
		CHECKF(node_cmd(i, out, sizeof out, 1, save) == '+', "SAVE on node %d failed: %s", i, out);
	int64_t f = cycle("c");
	node_kill(2);
	for (int i = 0; i < 2; i++) {
		node_kill(i);
		node_start(i); /* loads the older snapshot */
	}
	EXPECT_FENCE_ABOVE(f, "nodes 0 and 1 restored from a snapshot older than fence %" PRId64 " (node 2 down)", f);
}

/* ---------------------------------------------------- D2 token rule */

/* token= on a free lock is no token: a fresh dlockd token and a new fence;
 * with the current token it re-acquires (same token and fence); the old
 * token never touches a later lease. */
static void token_rule(void)
{
	const char *given = "aaaaaaaaaaaaaaaaaaaaaaaa";
	struct resp *r = http("PUT", tfmt("/locks/r?ttl_ms=30000&token=%s", given), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	json_t *t = r->json ? json_object_get(r->json, "token") : NULL;
	CHECKF(!json_is_string(t) || strcmp(json_string_value(t), given) != 0,
	       "a free lock was granted under the caller's token= (%s): tokens are chosen by dlockd", given);
	struct grant a = CHECK_GRANT(r, "r", -1, "*");

	r = http("PUT", tfmt("/locks/r?ttl_ms=400&token=%s", a.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	struct grant a2 = CHECK_GRANT(r, "r", -1, "*");
	CHECKF(strcmp(a2.token, a.token) == 0 && a2.fence == a.fence,
	       "re-acquire while held answered token %s fence %" PRId64 ", expected the same token and fence %" PRId64,
	       a2.token, a2.fence, a.fence);

	double end = mono_ms() + 400 + 3000.0 * g_slow;
	while (http("GET", "/locks/r", NULL, NULL, NULL)->status != 404) {
		CHECKF(mono_ms() < end, "a 400 ms lease did not end within 3.4 s");
		sleep_ms(50);
	}
	r = http("PUT", tfmt("/locks/r?ttl_ms=30000&token=%s", a.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant b = CHECK_GRANT(r, "r", -1, "*");
	CHECKF(strcmp(b.token, a.token) != 0, "an expired lock was granted again under its old token");
	CHECKF(b.fence > a.fence, "new lease fence %" PRId64 " not > %" PRId64, b.fence, a.fence);

	r = http("DELETE", "/locks/r", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	r = http("POST", "/locks/r/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	r = http("GET", "/locks/r", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(CHECK_VIEW(r->json, "r", 30000, "*").fence == b.fence, "the new lease is not the one held");
	EXPECT_STATUS(http("DELETE", "/locks/r", NULL, NULL, tok_hdr(b.token), NULL), 204);
}

static void t_single_token_rule(void)
{
	token_rule();
}

static void t_redlock_token_rule(void)
{
	redlock_setup(3);
	token_rule();
}

/* ------------------------------------------------ D4 waiter liveness */

/* The first waiter's dlockd dies: the waiter behind it (on another instance)
 * gets the lock soon after the holder releases, not at the holder's expiry. */
static void t_stranded_waiter(void)
{
	int r2 = replica_start(NULL);
	struct resp *r = http_at(r2, "PUT", "/locks/sw?ttl_ms=20000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant h = CHECK_GRANT(r, "sw", 20000, NULL);
	struct async_req *w1 = http_async("PUT", "/locks/sw?ttl_ms=5000&wait_ms=30000&owner=w1", NULL, NULL, NULL);
	await_waiters(g_dl.port, 1);
	sleep_ms(300); /* w1's place in line is taken */
	struct async_req *w2 =
	    http_async_at(r2, "PUT", "/locks/sw?ttl_ms=5000&wait_ms=30000&owner=w2", NULL, NULL, NULL);
	await_waiters(r2, 1);
	sleep_ms(300);
	CHECK(!http_async_done(w1) && !http_async_done(w2));
	dlockd_kill(); /* w1's instance */
	struct resp *rel = http_at(r2, "DELETE", "/locks/sw", NULL, NULL, tok_hdr(h.token), NULL);
	EXPECT_STATUS(rel, 204);
	/* dead entries stop counting within 3 s, waiters re-check every 1 s */
	struct resp *rw = async_within(w2, 10000.0 * g_slow,
	                               "the waiter behind a killed instance's waiter, after the holder released");
	EXPECT_STATUS(rw, 201);
	struct grant g = CHECK_GRANT(rw, "sw", 5000, "w2");
	CHECKF(g.fence > h.fence, "fence %" PRId64 " not > %" PRId64, g.fence, h.fence);
}

static void node_maxmemory(int i, const char *bytes)
{
	char out[64];
	const char *set[] = {"CONFIG", "SET", "maxmemory", bytes};
	CHECKF(node_cmd(i, out, sizeof out, 4, set) == '+', "CONFIG SET maxmemory on node %d: %s", i, out);
}

/* Redlock: a waiter whose attempt ends in 503/500 leaves the line; it does not
 * hold the lock back from a later waiter until its own wait_ms runs out.
 * The attempt fails because nodes 0 and 1 refuse writes (maxmemory 1 byte,
 * noeviction) for a moment, with no reconnect: the waiter's entries there
 * stay unless it leaves (or they lapse). */
static void t_redlock_phantom_head(void)
{
	redlock_setup(3);
	struct grant h = GRANT("ph", "ttl_ms=30000");
	struct async_req *w1 = http_async("PUT", "/locks/ph?ttl_ms=5000&wait_ms=30000&owner=w1", NULL, NULL, NULL);
	double end = mono_ms() + 2000.0 * g_slow;
	while (node_exists(0, "dlock:waitdl:{ph}") != 1 || node_exists(1, "dlock:waitdl:{ph}") != 1) {
		CHECKF(mono_ms() < end, "the waiter is not in line on nodes 0 and 1 within 2 s");
		sleep_ms(20);
	}
	node_maxmemory(0, "1");
	node_maxmemory(1, "1");
	/* wake it for a new attempt (dlockd 0.1 re-tries only when woken; the
	 * contract's waiters re-try every second anyway) */
	size_t n;
	const char *zr[] = {"ZRANGE", "dlock:queue:{ph}", "0", "-1"};
	const char **line = node_list(2, 4, zr, &n);
	for (size_t i = 0; line && i < n; i++) {
		char out[64];
		const char *pub[] = {"PUBLISH", "dlock:wake", line[i]};
		node_cmd(2, out, sizeof out, 3, pub);
	}
	struct resp *r1 = async_within(w1, 3000.0 * g_slow, "the waiter while 2 of 3 nodes refuse writes");
	node_maxmemory(0, "0");
	node_maxmemory(1, "0");
	CHECKF(r1->status == 503 || r1->status == 500,
	       "the waiter's attempt with 2 of 3 nodes refusing writes answered %ld %s (expected 503 or 500)",
	       r1->status, r1->body);
	struct async_req *w2 = http_async("PUT", "/locks/ph?ttl_ms=5000&wait_ms=20000&owner=w2", NULL, NULL, NULL);
	sleep_ms(200);
	EXPECT_WAITING(w2, "the later waiter", "the lock was held");
	struct resp *rel = http("DELETE", "/locks/ph", NULL, NULL, tok_hdr(h.token), NULL);
	EXPECT_STATUS(rel, 204);
	/* the failed waiter's entries are gone, or lapse within 3 s */
	struct resp *r2 =
	    async_within(w2, 10000.0 * g_slow, "a later waiter, after the first waiter's failure and the release");
	EXPECT_STATUS(r2, 201);
	CHECKF(CHECK_GRANT(r2, "ph", -1, "w2").fence > h.fence, "fence not above the holder's");
}

/* ---------------------------------------------------- D5 start-up */

static void t_startup_waits_for_redis(void)
{
	static const char *const args[] = {"--redis-timeout-ms", "3000", NULL};
	redis_stop_signal();
	dlockd_start_healthy(args);
	struct async_req *a = http_async("PUT", "/locks/s?ttl_ms=5000", NULL, NULL, NULL);
	sleep_ms(300);
	redis_cont_signal();
	struct resp *r = http_async_wait(a);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "s", 5000, NULL);
}

/* ------------------------------------------- D1/D4 no keys left over */

/* every key of g_redis (SCAN) */
static const char **all_keys(size_t *n)
{
	const char **keys = NULL;
	size_t nk = 0;
	const char *cursor = "0";
	do {
		size_t m;
		const char *scan[] = {"SCAN", cursor, "COUNT", "1000"};
		const char **r = redis_list(4, scan, &m);
		CHECKF(r && m >= 1, "SCAN failed");
		const char **nkeys = talloc((nk + m) * sizeof *nkeys);
		if (nk)
			memcpy(nkeys, keys, nk * sizeof *keys);
		memcpy(nkeys + nk, r + 1, (m - 1) * sizeof *r);
		keys = nkeys;
		nk += m - 1;
		cursor = r[0];
	} while (strcmp(cursor, "0") != 0);
	*n = nk;
	return keys;
}

static void t_fence_key_expires(void)
{
	double t0 = mono_ms();
	struct grant g = GRANT("fk-rel", "ttl_ms=5000");
	EXPECT_STATUS(http("DELETE", "/locks/fk-rel", NULL, NULL, tok_hdr(g.token), NULL), 204);
	GRANT("fk-exp", "ttl_ms=300");
	GRANT("fk-wait", "ttl_ms=1000");
	struct resp *r = http("PUT", "/locks/fk-wait?wait_ms=300", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	/* retention 1000 + the longest lease 1000 + 3 s */
	double end = t0 + 5000.0 * g_slow;
	for (;;) {
		size_t n;
		const char **keys = all_keys(&n);
		char left[600] = "";
		for (size_t i = 0; i < n; i++) {
			if (!strstr(keys[i], "fk-"))
				continue;
			char out[64];
			const char *pttl[] = {"PTTL", keys[i]};
			redis_cmd(out, sizeof out, 2, pttl);
			size_t used = strlen(left);
			snprintf(left + used, sizeof left - used, "%s%s (PTTL %s)", used ? ", " : "", keys[i], out);
		}
		if (!left[0])
			return;
		CHECKF(mono_ms() < end,
		       "with --fence-retention-ms 1000, %.0f ms after the first grant (leases <= 1 s) these keys "
		       "remain: %s",
		       mono_ms() - t0, left);
		sleep_ms(200);
	}
}

/* ---------------------------------------------- D3 tokens at rest */

static void expect_absent(const char *hay, const char *token, const char *where)
{
	const char *p = strstr(hay, token);
	if (p) {
		size_t off = (size_t)(p - hay);
		size_t from = off > 60 ? off - 60 : 0;
		FAIL("the clear token appears in %s: ...%.160s...", where, hay + from);
	}
}

/* every key and value of g_redis holds no `token` */
static void expect_token_not_stored(const char *token, const char *when)
{
	size_t n;
	const char **keys = all_keys(&n);
	for (size_t i = 0; i < n; i++) {
		expect_absent(keys[i], token, tfmt("a key name %s", when));
		char type[32];
		const char *ty[] = {"TYPE", keys[i]};
		redis_cmd(type, sizeof type, 2, ty);
		const char *dump[4] = {NULL, keys[i], NULL, NULL};
		int argc = 2;
		if (strcmp(type, "hash") == 0) {
			dump[0] = "HGETALL";
		} else if (strcmp(type, "string") == 0) {
			dump[0] = "GET";
		} else if (strcmp(type, "zset") == 0 || strcmp(type, "list") == 0) {
			dump[0] = type[0] == 'z' ? "ZRANGE" : "LRANGE";
			dump[2] = "0";
			dump[3] = "-1";
			argc = 4;
		} else if (strcmp(type, "set") == 0) {
			dump[0] = "SMEMBERS";
		} else {
			continue;
		}
		size_t m;
		const char **v = redis_list(argc, dump, &m);
		CHECKF(v, "%s %s failed", dump[0], keys[i]);
		for (size_t k = 0; k < m; k++)
			expect_absent(v[k], token, tfmt("the value of %s %s", keys[i], when));
	}
}

static void t_tokens_not_in_redis(void)
{
	CHECK(redis_config_set("slowlog-log-slower-than", "0"));
	CHECK(redis_config_set("slowlog-max-len", "1024"));
	char out[64];
	const char *reset[] = {"SLOWLOG", "RESET"};
	CHECK(redis_cmd(out, sizeof out, 2, reset) == '+');
	int mon = redis_conn();
	CHECK(mon >= 0);
	CHECK(send(mon, "MONITOR\r\n", 9, MSG_NOSIGNAL) == 9);
	CHECKF(strncmp(fd_drain(mon, 200, NULL), "+OK", 3) == 0, "MONITOR not started");

	struct grant g = GRANT("tk", "ttl_ms=30000");
	expect_token_not_stored(g.token, "after the acquire");
	struct resp *r = http("POST", "/locks/tk/renew", NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 200);
	r = http("PUT", tfmt("/locks/tk?ttl_ms=30000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	expect_token_not_stored(g.token, "after a renew and a re-acquire");
	EXPECT_STATUS(http("DELETE", "/locks/tk", NULL, NULL, tok_hdr(g.token), NULL), 204);

	expect_absent(fd_drain(mon, 300, NULL), g.token, "the MONITOR stream");
	size_t n;
	const char *get[] = {"SLOWLOG", "GET", "1000"};
	const char **slow = redis_list(3, get, &n);
	CHECKF(slow && n > 0, "SLOWLOG GET is empty with slowlog-log-slower-than 0");
	for (size_t i = 0; i < n; i++)
		expect_absent(slow[i], g.token, "SLOWLOG GET");
}

/* ------------------------------------------------------ D6 eviction */

static void t_eviction_policy_warned(void)
{
	CHECK(redis_config_set("maxmemory-policy", "volatile-lru"));
	dlockd_start(NULL);
	struct resp *r = NULL;
	json_t *w = NULL;
	double end = mono_ms() + 3000.0 * g_slow;
	for (;;) {
		r = http("GET", "/readyz", NULL, NULL, NULL);
		w = r->json ? json_object_get(r->json, "warnings") : NULL;
		if (r->status == 200 && w)
			break;
		CHECKF(mono_ms() < end,
		       "/readyz with maxmemory-policy volatile-lru: %ld %s (expected 200 with warnings)", r->status,
		       r->body);
		sleep_ms(50);
	}
	EXPECT_CTYPE(r, "application/json");
	CHECKF(strcmp(JSTR(r->json, "status"), "ready") == 0, "/readyz status: %s", r->body);
	CHECKF(json_is_array(w) && json_array_size(w) > 0, "/readyz warnings is not a non-empty array: %s", r->body);
	bool named = false;
	size_t i;
	json_t *v;
	json_array_foreach(w, i, v)
	{
		CHECKF(json_is_string(v), "/readyz warning is not a string: %s", r->body);
		if (strstr(json_string_value(v), "maxmemory-policy") && strstr(json_string_value(v), "volatile-lru"))
			named = true;
	}
	CHECKF(named, "no /readyz warning names maxmemory-policy and volatile-lru: %s", r->body);
	double unsafe = metric_at(g_dl.port, "dlockd_redis_eviction_unsafe");
	CHECKF(unsafe == 1, "dlockd_redis_eviction_unsafe is %g", unsafe);
	CHECKF(strstr(dlockd_log_contents(NULL), "maxmemory-policy"), "no log line mentions maxmemory-policy");
}

/* ---------------------------------------------------- D7 half-close */

static const char *put_req(const char *target)
{
	return tfmt("PUT %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
}

/* HTTP allows the answer after the client's FIN: a client that half-closes
 * after its request gets it. */
static void t_half_close_gets_answer(void)
{
	const char *req = put_req("/locks/hc?ttl_ms=30000");
	CHECK_GRANT(raw_recv(raw_send(req, strlen(req), true)), "hc", 30000, NULL);
	/* the same while Redis takes a moment to answer */
	req = put_req("/locks/hc-slow?ttl_ms=30000");
	redis_stop_signal();
	struct raw_conn *c = raw_send(req, strlen(req), true);
	sleep_ms(200);
	redis_cont_signal();
	CHECK_GRANT(raw_recv(c), "hc-slow", 30000, NULL);
}

/* A waiting request whose client half-closes is taken as gone (its FIN cannot
 * be told from a closed connection without writing): it gets no answer, holds
 * nothing and leaves the line, so the next acquirer gets the lock at once. */
static void t_half_close_waiter_leaves(void)
{
	struct grant h = GRANT("hcw", "ttl_ms=30000");
	const char *req = put_req("/locks/hcw?ttl_ms=30000&wait_ms=10000");
	struct raw_conn *c = raw_send(req, strlen(req), true);
	sleep_ms(300);
	EXPECT_STATUS(http("DELETE", "/locks/hcw", NULL, NULL, tok_hdr(h.token), NULL), 204);
	struct resp *r = raw_recv(c);
	if (r->status == 201)
		return; /* answered after all: as good */
	CHECKF(r->status == 0, "%s (half-closed): answered %ld %s; expected 201 or no answer", r->what, r->status,
	       r->body);
	GRANT("hcw", "ttl_ms=1000");
}

/* A grant whose answer cannot be delivered (the client reset the connection
 * while Redis worked) is released and counted: no lock is held with no one
 * told. */
static void t_undelivered_grant_released(void)
{
	const char *req = put_req("/locks/gone?ttl_ms=60000");
	redis_stop_signal();
	struct raw_conn *c = raw_send(req, strlen(req), false);
	sleep_ms(200);
	raw_reset(c);
	sleep_ms(100);
	redis_cont_signal();
	double end = mono_ms() + 3000.0 * g_slow;
	struct resp *v;
	while ((v = http("GET", "/locks/gone", NULL, NULL, NULL))->status != 404) {
		CHECKF(mono_ms() < end,
		       "the grant for a client that reset its connection is still held 3 s later: %ld %s", v->status,
		       v->body);
		sleep_ms(50);
	}
	double undelivered = metric_at(g_dl.port, "dlockd_undelivered_grants_total");
	CHECKF(undelivered == 1, "dlockd_undelivered_grants_total is %g, expected 1", undelivered);
}

/* --------------------------------------------- rolling upgrade (D3) */

/* A lock as dlockd 0.1.x wrote it (clear token) is honoured until it ends. */
static void t_legacy_lock_honoured(void)
{
	const char *tok = "LegacyTok_0123456789-abcdefghijk";
	const char *key = "dlock:lock:{leg}";
	int64_t now = wall_ms();
	char out[64];
	const char *hset[] = {"HSET",  key,      "token", tok,
	                      "owner", "legacy", "ho",    "1",
	                      "fence", "4242",   "acq",   tfmt("%" PRId64, now),
	                      "ttl",   "30000",  "exp",   tfmt("%" PRId64, now + 30000)};
	CHECKF(redis_cmd(out, sizeof out, 16, hset) == ':', "HSET failed: %s", out);
	const char *px[] = {"PEXPIRE", key, "30000"};
	CHECK(redis_cmd(out, sizeof out, 3, px) == ':');
	const char *set[] = {"SET", "dlock:fence:{leg}", "4242"};
	CHECK(redis_cmd(out, sizeof out, 3, set) == '+');

	struct resp *r = http("GET", "/locks/leg", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(CHECK_VIEW(r->json, "leg", 30000, "legacy").fence == 4242, "legacy lock's fence: %s", r->body);
	r = http("PUT", "/locks/leg?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	r = http("POST", "/locks/leg/renew", NULL, NULL, tok_hdr(tok), NULL);
	EXPECT_STATUS(r, 200);
	struct grant g = CHECK_GRANT(r, "leg", 30000, "legacy");
	CHECKF(strcmp(g.token, tok) == 0 && g.fence == 4242, "renew of a legacy lock: %s", r->body);
	r = http("DELETE", "/locks/leg", NULL, NULL, tok_hdr(tok), NULL);
	EXPECT_STATUS(r, 204);
	r = http("GET", "/locks/leg", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
}

const struct test tests_safety[] = {
    {"fence_after_stale_snapshot", t_fence_after_stale_snapshot, {NULL}, 0},
    {"fence_after_failover_to_lagging_replica", t_fence_after_failover_to_lagging_replica, {NULL}, 0},
    {"fence_after_empty_restart", t_fence_after_empty_restart, {NULL}, 0},
    {"redlock_fence_after_stale_majority", t_redlock_fence_after_stale_majority, {NULL}, T_NO_DLOCKD},
    {"single_token_rule", t_single_token_rule, {NULL}, 0},
    {"redlock_token_rule", t_redlock_token_rule, {NULL}, T_NO_DLOCKD},
    {"stranded_waiter", t_stranded_waiter, {NULL}, 0},
    {"redlock_phantom_head", t_redlock_phantom_head, {NULL}, T_NO_DLOCKD},
    {"startup_waits_for_redis", t_startup_waits_for_redis, {NULL}, T_NO_DLOCKD},
    {"fence_key_expires", t_fence_key_expires, {"--fence-retention-ms", "1000", NULL}, 0},
    {"tokens_not_in_redis", t_tokens_not_in_redis, {NULL}, 0},
    {"eviction_policy_warned", t_eviction_policy_warned, {NULL}, T_NO_DLOCKD},
    {"half_close_gets_answer", t_half_close_gets_answer, {"--redis-timeout-ms", "3000", NULL}, 0},
    {"half_close_waiter_leaves", t_half_close_waiter_leaves, {NULL}, 0},
    {"undelivered_grant_released", t_undelivered_grant_released, {"--redis-timeout-ms", "3000", NULL}, 0},
    {"legacy_lock_honoured", t_legacy_lock_honoured, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
