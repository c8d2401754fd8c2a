/* Data under the prefix that dlockd did not write, and bounded lists (issue
 * 12; openapi.yaml "Data dlockd did not write", GET /locks): lists skip such
 * keys and count them; inspect, acquire, renew and release answer 500
 * invalid_lock_data and write nothing; a fence counter at or above 2^53 - 1
 * is 500 fence_exhausted; at most --max-list-requests lists run at once; a
 * list that times out resets only its own Redis connection. */
#include "harness.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

/* One command to g_redis (node < 0) or to Redlock node `node`; its reply
 * type must be `want`. Returns the scalar reply (test-owned). */
static const char *rcmd_at(int line, int node, char want, int argc, const char *const *argv)
{
	char out[512] = "";
	char got = node < 0 ? redis_cmd(out, sizeof out, argc, argv) : node_cmd(node, out, sizeof out, argc, argv);
	if (got != want)
		fail_at(__FILE__, line, "redis %s %s: reply '%c' (%s), expected '%c'", argv[0], argc > 1 ? argv[1] : "",
		        got ? got : '0', out, want);
	return tstrdup(out);
}
#define RCMD(node, want, ...)                                                                                          \
	rcmd_at(__LINE__, (node), (want), sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),                \
	        (const char *[]){__VA_ARGS__})

/* A hash at key with dlockd's fields (fence `fence`, owner `owner`, token
 * hash "h:SECRETVALUE"), one field replaced by `field`=`value` unless field
 * is NULL, expiring in 60 s unless persistent. */
static void plant_hash(int node, const char *key, const char *field, const char *value, bool persistent)
{
	const char *f[] = {"token", "owner", "ho", "fence", "acq", "ttl", "exp"};
	const char *v[] = {"h:SECRETVALUE", "someone",      "1", "1796061323863123", "1796061323863",
	                   "60000",         "1796061383863"};
	for (size_t i = 0; i < 7; i++) {
		const char *val = field && strcmp(field, f[i]) == 0 ? value : v[i];
		if (val)
			RCMD(node, ':', "HSET", key, f[i], val);
	}
	if (!persistent)
		RCMD(node, ':', "PEXPIRE", key, "60000");
}

static double metric(const char *name)
{
	struct resp *r = http("GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	int found = 0;
	double v = metric_value(r, name, &found);
	CHECKF(found > 0, "/metrics has no %s sample", name);
	return v;
}

/* Every page of GET /locks (limit, prefix ""), each 200; the names listed,
 * comma-separated in page order. */
static const char *list_walk(int limit)
{
	const char *names = "", *cursor = NULL;
	for (int pages = 0;; pages++) {
		CHECKF(pages < 100, "the walk did not end after 100 pages");
		struct resp *r = http("GET",
		                      cursor ? tfmt("/locks?limit=%d&cursor=%s", limit, tesc(cursor))
		                             : tfmt("/locks?limit=%d", limit),
		                      NULL, NULL, NULL);
		EXPECT_STATUS(r, 200);
		json_t *locks = JGET(r->json, "locks"), *v;
		size_t i;
		json_array_foreach(locks, i, v)
		{
			CHECK_VIEW(v, NULL, -1, "*");
			names = tfmt("%s%s%s", names, *names ? "," : "", JSTR(v, "name"));
		}
		json_t *next = JGET(r->json, "next_cursor");
		if (json_is_null(next))
			return names;
		cursor = tstrdup(json_string_value(next));
	}
}

/* ---------------------------------------------------------------- list */

/* The keys under the prefix that are no dlockd locks: 9 of them. */
static void plant_keys_not_dlockd(void)
{
	RCMD(-1, '+', "SET", "dlock:lock:{str}", "x");                           /* another type */
	RCMD(-1, ':', "RPUSH", "dlock:lock:{lst}", "x");                         /* another type */
	plant_hash(-1, "dlock:lock:{nonnum}", "fence", "abc", false);            /* a non-numeric field */
	plant_hash(-1, "dlock:lock:{notoken}", "token", NULL, false);            /* no token */
	plant_hash(-1, "dlock:lock:{huge}", "fence", "9007199254740993", false); /* fence beyond 2^53 */
	plant_hash(-1, "dlock:lock:{forever}", NULL, NULL, true);                /* no expiry */
	plant_hash(-1, "dlock:lock:{a b}", NULL, NULL, false);                   /* a space in the name */
	plant_hash(-1, "dlock:lock:{zzz", NULL, NULL, false);                    /* no closing brace */
	RCMD(-1, ':', "HSET", "dlock:lock:{other}:meta", "x", "1");              /* another program's key */
}

static void t_list_skips_keys_not_dlockd(void)
{
	const char *want = "good.1,good.2,good.3";
	ACQUIRE("good.1", "ttl_ms=30000");
	ACQUIRE("good.2", "ttl_ms=30000");
	ACQUIRE("good.3", "ttl_ms=30000");
	plant_keys_not_dlockd();

	const char *got = list_walk(1000);
	CHECKF(strcmp(got, want) == 0, "listed %s, expected %s", got, want);
	double after = metric("dlockd_list_skipped_keys_total"); /* a fresh dlockd: from 0 */
	CHECKF(after == 9, "dlockd_list_skipped_keys_total is %g after one page over 9 such keys", after);

	/* pages that end between keys: each skipped key is counted once per walk */
	for (int limit = 1; limit <= 2; limit++) {
		got = list_walk(limit);
		CHECKF(strcmp(got, want) == 0, "limit=%d: listed %s, expected %s", limit, got, want);
		double now = metric("dlockd_list_skipped_keys_total");
		CHECKF(now - after == 9,
		       "limit=%d: dlockd_list_skipped_keys_total went up by %g for a walk over 9 such keys", limit,
		       now - after);
		after = now;
	}

	/* the keys are left as they were */
	CHECK(strcmp(RCMD(-1, '$', "GET", "dlock:lock:{str}"), "x") == 0);
	CHECK(strcmp(RCMD(-1, '$', "HGET", "dlock:lock:{nonnum}", "fence"), "abc") == 0);

	/* one warning line for all those pages, with the count; never a token */
	const char *log = dlockd_log_contents(NULL);
	const char *line = strstr(log, "lists skipped ");
	CHECKF(line, "no warning about the skipped keys in the log");
	CHECKF(strtol(line + strlen("lists skipped "), NULL, 10) == 9, "the warning does not name the count: %.120s",
	       line);
	CHECKF(!strstr(line + 1, "lists skipped "), "more than one warning about skipped keys within a minute");
	CHECKF(!strstr(log, "SECRETVALUE"), "a stored token field reached the log");
}

/* ------------------------------------------- lock operations on such data */

static void expect_invalid_at(int line, struct resp *r, const char *what)
{
	expect_problem_at(__FILE__, line, r, 500, "invalid_lock_data");
	const char *detail = jstr_at(__FILE__, line, r->json, "detail");
	if (!strstr(detail, what))
		fail_at(__FILE__, line, "%s: detail \"%s\" does not say \"%s\"", r->what, detail, what);
	if (strstr(r->body, "SECRETVALUE") || strstr(r->body, "abc"))
		fail_at(__FILE__, line, "%s: a stored value in the answer: %s", r->what, r->body);
}
#define EXPECT_INVALID(r, what) expect_invalid_at(__LINE__, (r), (what))

/* inspect, acquire (plain and waiting), renew and release of `name`: each
 * 500 invalid_lock_data whose detail says `what` */
static void expect_all_invalid_at(int line, const char *name, const char *what)
{
	const char *tok = "CALLERxTOKENxxxxxxxxxxxxxxxxx789";
	expect_invalid_at(line, http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL), what);
	expect_invalid_at(line, http("PUT", tfmt("/locks/%s?ttl_ms=5000", name), NULL, NULL, NULL), what);
	expect_invalid_at(line, http("PUT", tfmt("/locks/%s?ttl_ms=5000&wait_ms=2000", name), NULL, NULL, NULL), what);
	expect_invalid_at(line, http("POST", tfmt("/locks/%s/renew", name), NULL, NULL, tok_hdr(tok), NULL), what);
	expect_invalid_at(line, http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tok_hdr(tok), NULL), what);
}
#define EXPECT_ALL_INVALID(name, what) expect_all_invalid_at(__LINE__, (name), (what))

static void t_lock_ops_on_data_not_dlockd(void)
{
	RCMD(-1, '+', "SET", "dlock:lock:{str}", "abc");
	EXPECT_ALL_INVALID("str", "the lock key holds a string, not a hash");
	RCMD(-1, ':', "SADD", "dlock:lock:{set}", "x");
	EXPECT_ALL_INVALID("set", "the lock key holds a set, not a hash");
	plant_hash(-1, "dlock:lock:{nonnum}", "fence", "abc", false);
	EXPECT_ALL_INVALID("nonnum", "fence field");
	plant_hash(-1, "dlock:lock:{acq}", "acq", "-5", false);
	EXPECT_ALL_INVALID("acq", "acq field");
	plant_hash(-1, "dlock:lock:{huge}", "exp", "9007199254740992", false);
	EXPECT_ALL_INVALID("huge", "below 2^53");
	plant_hash(-1, "dlock:lock:{ttl0}", "ttl", "0", false);
	EXPECT_ALL_INVALID("ttl0", "ttl field");
	plant_hash(-1, "dlock:lock:{notoken}", "token", NULL, false);
	EXPECT_ALL_INVALID("notoken", "no token field");
	RCMD(-1, ':', "HSET", "dlock:lock:{foreign}", "x", "1");
	RCMD(-1, ':', "PEXPIRE", "dlock:lock:{foreign}", "60000");
	EXPECT_ALL_INVALID("foreign", "no token field");
	plant_hash(-1, "dlock:lock:{ho}", "ho", "yes", false);
	EXPECT_ALL_INVALID("ho", "ho field");
	plant_hash(-1, "dlock:lock:{owner}", "owner", trepeat('o', 300), false);
	EXPECT_ALL_INVALID("owner", "owner field");
	/* no expiry: the operations that report the lease refuse it */
	plant_hash(-1, "dlock:lock:{forever}", NULL, NULL, true);
	EXPECT_ALL_INVALID("forever", "no expiry");

	double n = metric("dlockd_invalid_lock_data_total"); /* a fresh dlockd: from 0 */
	CHECKF(n == 11 * 5, "dlockd_invalid_lock_data_total is %g after 55 such answers", n);
	/* nothing was written */
	CHECK(strcmp(RCMD(-1, '$', "GET", "dlock:lock:{str}"), "abc") == 0);
	CHECK(strcmp(RCMD(-1, '$', "HGET", "dlock:lock:{nonnum}", "fence"), "abc") == 0);
	CHECK(strcmp(RCMD(-1, ':', "PTTL", "dlock:lock:{forever}"), "-1") == 0);
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:queue:{str}"), "0") == 0);
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:fence:{str}"), "0") == 0);
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:fence:{notoken}"), "0") == 0);
	/* the log names the lock and what is wrong, never a value */
	const char *log = dlockd_log_contents(NULL);
	CHECKF(strstr(log, "lock 'str': the lock key holds a string, not a hash"), "no warning naming the lock");
	CHECKF(!strstr(log, "SECRETVALUE"), "a stored token field reached the log");
	/* an operator deletes the key: the name works again */
	RCMD(-1, ':', "DEL", "dlock:lock:{str}");
	ACQUIRE("str", "ttl_ms=5000");
}

static void t_line_and_counter_not_dlockd(void)
{
	/* the line's queue of another type: acquire refuses, plain or waiting */
	RCMD(-1, '+', "SET", "dlock:queue:{q1}", "x");
	EXPECT_INVALID(http("PUT", "/locks/q1", NULL, NULL, NULL), "queue key of the line of waiters holds a string");
	EXPECT_INVALID(http("PUT", "/locks/q1?wait_ms=1000", NULL, NULL, NULL), "queue key");
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:lock:{q1}"), "0") == 0);

	/* the line's waitdl of another type: only what uses it refuses */
	struct grant g = ACQUIRE("q2", "ttl_ms=10000");
	RCMD(-1, '+', "SET", "dlock:waitdl:{q2}", "x");
	EXPECT_INVALID(http("PUT", "/locks/q2?wait_ms=1000", NULL, NULL, NULL),
	               "waitdl key of the line of waiters holds a string");
	EXPECT_HELD(http("PUT", "/locks/q2", NULL, NULL, NULL), g, 10000, NULL);
	EXPECT_STATUS(http("DELETE", "/locks/q2", NULL, NULL, tok_hdr(g.token), NULL), 204);

	/* a release does not touch a lock whose line is not dlockd's */
	g = ACQUIRE("q3", "ttl_ms=10000");
	RCMD(-1, ':', "HSET", "dlock:queue:{q3}", "x", "1");
	EXPECT_INVALID(http("DELETE", "/locks/q3", NULL, NULL, tok_hdr(g.token), NULL), "queue key");
	EXPECT_STATUS(http("GET", "/locks/q3", NULL, NULL, NULL), 200);

	/* the fence counter: not a number, or another type */
	RCMD(-1, '+', "SET", "dlock:fence:{f1}", "abc");
	EXPECT_INVALID(http("PUT", "/locks/f1", NULL, NULL, NULL), "the fence counter is not a number");
	CHECK(strcmp(RCMD(-1, '$', "GET", "dlock:fence:{f1}"), "abc") == 0);
	RCMD(-1, '+', "SET", "dlock:fence:{f2}", "12x");
	EXPECT_INVALID(http("PUT", "/locks/f2", NULL, NULL, NULL), "the fence counter is not a number");
	RCMD(-1, ':', "HSET", "dlock:fence:{f3}", "x", "1");
	EXPECT_INVALID(http("PUT", "/locks/f3", NULL, NULL, NULL), "the fence counter holds a hash, not a string");
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:lock:{f3}"), "0") == 0);

	/* a waiting entry whose time is not a number no longer counts */
	g = ACQUIRE("q4", "ttl_ms=300");
	RCMD(-1, ':', "ZADD", "dlock:queue:{q4}", "1", "someone|1.1");
	RCMD(-1, ':', "HSET", "dlock:waitdl:{q4}", "someone|1.1", "soon");
	sleep_ms(400);
	struct grant g2 = ACQUIRE("q4", "ttl_ms=5000");
	CHECK(g2.fence > g.fence);
}

/* ----------------------------------------------------- fence exhausted */

static void expect_exhausted_at(int line, struct resp *r)
{
	expect_problem_at(__FILE__, line, r, 500, "fence_exhausted");
	const char *detail = jstr_at(__FILE__, line, r->json, "detail");
	if (!strstr(detail, "2^53") || !strstr(detail, "cannot have written"))
		fail_at(__FILE__, line, "%s: detail \"%s\" does not say why", r->what, detail);
}
#define EXPECT_EXHAUSTED(r) expect_exhausted_at(__LINE__, (r))

static void t_fence_exhausted(void)
{
	RCMD(-1, '+', "SET", "dlock:fence:{max}", "9223372036854775807");
	EXPECT_EXHAUSTED(http("PUT", "/locks/max", NULL, NULL, NULL));
	EXPECT_EXHAUSTED(http("PUT", "/locks/max?ttl_ms=5000", NULL, NULL, NULL));
	CHECK(strcmp(RCMD(-1, '$', "GET", "dlock:fence:{max}"), "9223372036854775807") == 0);
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:lock:{max}"), "0") == 0);
	EXPECT_PROBLEM(http("GET", "/locks/max", NULL, NULL, NULL), 404, "not_held");

	RCMD(-1, '+', "SET", "dlock:fence:{p53}", "9007199254740992");
	EXPECT_EXHAUSTED(http("PUT", "/locks/p53", NULL, NULL, NULL));
	RCMD(-1, '+', "SET", "dlock:fence:{big}", "123456789012345678901234567890");
	EXPECT_EXHAUSTED(http("PUT", "/locks/big", NULL, NULL, NULL));

	/* a waiting acquire: answered at once, and out of the line */
	struct resp *r = http("PUT", "/locks/max?wait_ms=3000", NULL, NULL, NULL);
	EXPECT_EXHAUSTED(r);
	CHECKF(r->ms < 1000.0 * g_slow, "a waiting acquire took %.0f ms to fail", r->ms);
	CHECK(metric("dlockd_waiters") == 0);
	CHECK(strcmp(RCMD(-1, ':', "EXISTS", "dlock:queue:{max}"), "0") == 0);

	/* the last fence there is: 2^53 - 1, then no more */
	RCMD(-1, '+', "SET", "dlock:fence:{last}", "9007199254740990");
	struct grant g = ACQUIRE("last", "ttl_ms=5000");
	CHECKF(g.fence == INT64_C(9007199254740991), "fence %" PRId64 ", expected 2^53 - 1", g.fence);
	EXPECT_STATUS(http("DELETE", "/locks/last", NULL, NULL, tok_hdr(g.token), NULL), 204);
	EXPECT_EXHAUSTED(http("PUT", "/locks/last", NULL, NULL, NULL));
	double n = metric("dlockd_fence_exhausted_total"); /* a fresh dlockd: from 0 */
	CHECKF(n == 6, "dlockd_fence_exhausted_total is %g after 6 such answers", n);

	/* cleared when the counter expires, or is deleted */
	RCMD(-1, '+', "SET", "dlock:fence:{soon}", "9223372036854775807", "PX", "300");
	EXPECT_EXHAUSTED(http("PUT", "/locks/soon", NULL, NULL, NULL));
	sleep_ms(400);
	g = ACQUIRE("soon", "ttl_ms=5000");
	CHECKF(g.fence > INT64_C(1000000000000000) && g.fence < INT64_C(9007199254740991),
	       "after the counter expired: fence %" PRId64, g.fence);
	RCMD(-1, ':', "DEL", "dlock:fence:{max}");
	ACQUIRE("max", "ttl_ms=5000");
}

/* ---------------------------------------------------------- bounded lists */

static bool waiters_reach(double n, double limit_ms)
{
	double end = mono_ms() + limit_ms;
	while (metric("dlockd_waiters") < n) {
		if (mono_ms() > end)
			return false;
		sleep_ms(20);
	}
	return true;
}

/* polls until `stalled` connections are stalled at the proxy */
static void await_stalled(unsigned stalled)
{
	double end = mono_ms() + 3000.0 * g_slow;
	while (proxy_stalled() < stalled) {
		CHECKF(mono_ms() < end, "no list reached Redis within 3 s");
		sleep_ms(10);
	}
}

/* At most --max-list-requests lists at once (default 4 per thread): beyond,
 * 503 at once, and lock operations go on. */
static void t_list_bound(void)
{
	enum { MAX_LISTS = 4 };
	int port = proxy_start(g_redis.port);
	const char *args[] = {"--redis", tfmt("redis://127.0.0.1:%d", port), "--redis-timeout-ms", "1500", NULL};
	struct async_req *lists[MAX_LISTS];

	dlockd_start(args);
	proxy_stall("{slow*");
	for (int i = 0; i < MAX_LISTS; i++)
		lists[i] = http_async("GET", "/locks?prefix=slow", NULL, NULL, NULL);
	await_stalled(1);
	double end = mono_ms() + 2000.0 * g_slow;
	while (metric("dlockd_http_requests_in_flight") < MAX_LISTS + 1) { /* and this /metrics */
		CHECKF(mono_ms() < end, "the lists are not all in flight");
		sleep_ms(10);
	}
	struct resp *r = http("GET", "/locks", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "too_many_list_requests");
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra && strcmp(ra, "1") == 0, "Retry-After %s, expected 1", ra ? ra : "(none)");
	CHECKF(r->ms < 500.0 * g_slow, "the refusal took %.0f ms", r->ms);
	for (int i = 0; i < MAX_LISTS; i++)
		CHECKF(!http_async_done(lists[i]), "stalled list %d was answered", i);
	/* lock operations are not held up */
	struct resp *a = http("PUT", "/locks/busy?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(a, 201);
	CHECKF(a->ms < 500.0 * g_slow, "an acquire took %.0f ms while lists were stalled", a->ms);
	/* the stalled lists time out; then lists run again */
	proxy_stall(NULL);
	for (int i = 0; i < MAX_LISTS; i++)
		EXPECT_PROBLEM(http_async_wait(lists[i]), 503, "backend_unavailable");
	end = mono_ms() + 3000.0 * g_slow;
	for (;;) {
		r = http("GET", "/locks", NULL, NULL, NULL);
		if (r->status == 200)
			break;
		CHECKF(mono_ms() < end, "lists still fail 3 s after the stall: %ld %s", r->status, r->body);
		sleep_ms(50);
	}
	CHECKF(strstr(r->body, "\"busy\""), "the list does not show the lock: %s", r->body);
}

/* A list that times out resets its own connection only: an acquire and a
 * release meanwhile are answered at once, and a waiter queued before keeps
 * its place and gets the lock. */
static void t_list_timeout_alone(void)
{
	int port = proxy_start(g_redis.port);
	const char *args[] = {"--redis", tfmt("redis://127.0.0.1:%d", port), "--redis-timeout-ms", "1000", NULL};
	dlockd_start(args);
	EXPECT_STATUS(http("GET", "/locks", NULL, NULL, NULL), 200); /* the list connection is up */
	struct grant a = ACQUIRE("line", "ttl_ms=20000");
	struct async_req *w = http_async("PUT", "/locks/line?ttl_ms=5000&wait_ms=15000&owner=w", NULL, NULL, NULL);
	CHECKF(waiters_reach(1, 3000.0 * g_slow), "the waiter is not waiting");

	proxy_stall("{slow*");
	struct async_req *l = http_async("GET", "/locks?prefix=slow", NULL, NULL, NULL);
	await_stalled(1);
	struct resp *r = http("PUT", "/locks/other?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECKF(r->ms < 500.0 * g_slow, "an acquire took %.0f ms while a list was stalled", r->ms);
	r = http("DELETE", "/locks/line", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	struct resp *rw = http_async_wait(w);
	EXPECT_STATUS(rw, 201);
	struct grant gw = CHECK_GRANT(rw, "line", 5000, "w");
	CHECKF(gw.fence > a.fence, "the waiter's fence %" PRId64 " is not above %" PRId64, gw.fence, a.fence);
	CHECKF(!http_async_done(l), "the list was answered before the hand-off");

	EXPECT_PROBLEM(http_async_wait(l), 503, "backend_unavailable");
	proxy_stall(NULL);
	/* the command connection was never reset: only the list connection timed out */
	const char *log = dlockd_log_contents(NULL);
	const char *lists_timeout = tfmt("redis 127.0.0.1:%d (lists): command timed out", port);
	const char *cmd_timeout = tfmt("redis 127.0.0.1:%d: command timed out", port);
	CHECKF(strstr(log, lists_timeout), "no \"%s\" in the log", lists_timeout);
	CHECKF(!strstr(log, cmd_timeout), "the command connection was reset: \"%s\"", cmd_timeout);
	/* and lists work again */
	double end = mono_ms() + 3000.0 * g_slow;
	while (http("GET", "/locks", NULL, NULL, NULL)->status != 200) {
		CHECKF(mono_ms() < end, "lists still fail 3 s after the stall");
		sleep_ms(50);
	}
}

/* ---------------------------------------------------------------- Redlock */

static void t_redlock_data_not_dlockd(void)
{
	nodes_start(3);
	dlockd_start_nodes(NULL);
	double end = mono_ms() + 3500.0 * g_slow;
	struct resp *r;
	while ((r = http("PUT", "/locks/probe?ttl_ms=1000", NULL, NULL, NULL))->status != 201) {
		CHECKF(mono_ms() < end, "no grant within 3.5 s");
		sleep_ms(50);
	}
	EXPECT_STATUS(http("DELETE", "/locks/probe", NULL, NULL, tok_hdr(JSTR(r->json, "token")), NULL), 204);

	/* one node's data is not dlockd's: a failed node; the quorum decides */
	RCMD(0, '+', "SET", "dlock:lock:{r1}", "x");
	r = http("PUT", "/locks/r1?ttl_ms=30000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	EXPECT_STATUS(http("GET", "/locks/r1", NULL, NULL, NULL), 200);
	CHECK(strcmp(RCMD(0, '$', "GET", "dlock:lock:{r1}"), "x") == 0);

	/* two of three: they are what keeps a quorum from forming */
	RCMD(0, '+', "SET", "dlock:lock:{r2}", "x");
	RCMD(1, ':', "RPUSH", "dlock:lock:{r2}", "x");
	EXPECT_INVALID(http("PUT", "/locks/r2?ttl_ms=30000", NULL, NULL, NULL), "the lock key holds a");
	EXPECT_INVALID(http("GET", "/locks/r2", NULL, NULL, NULL), "the lock key holds a");
	CHECK(strcmp(RCMD(2, ':', "EXISTS", "dlock:lock:{r2}"), "0") == 0); /* rolled back, or never written */

	RCMD(0, '+', "SET", "dlock:fence:{r3}", "9223372036854775807");
	RCMD(1, '+', "SET", "dlock:fence:{r3}", "9007199254740992");
	EXPECT_EXHAUSTED(http("PUT", "/locks/r3?ttl_ms=30000", NULL, NULL, NULL));
	RCMD(0, '+', "SET", "dlock:fence:{r4}", "9223372036854775807");
	EXPECT_STATUS(http("PUT", "/locks/r4?ttl_ms=30000", NULL, NULL, NULL), 201);

	/* a list skips what is not dlockd's on the node it scans, and counts a
	 * node whose data is not dlockd's as not holding the name */
	RCMD(0, '+', "SET", "dlock:lock:{zz junk}", "x");
	const char *got = list_walk(1000);
	CHECKF(strcmp(got, "r1,r4") == 0 || strcmp(got, "r4,r1") == 0, "listed %s, expected r1 and r4", got);
	/* node 0: r1, r2 and the junk; node 1: r2 */
	double n = metric("dlockd_list_skipped_keys_total");
	CHECKF(n == 4, "dlockd_list_skipped_keys_total is %g after a walk over 4 such keys", n);
}

const struct test tests_data[] = {
    {"data_list_skips_keys_not_dlockd", t_list_skips_keys_not_dlockd, {NULL}, 0},
    {"data_lock_ops_on_data_not_dlockd", t_lock_ops_on_data_not_dlockd, {NULL}, 0},
    {"data_line_and_counter_not_dlockd", t_line_and_counter_not_dlockd, {NULL}, 0},
    {"data_fence_exhausted", t_fence_exhausted, {NULL}, 0},
    {"data_list_bound_503", t_list_bound, {NULL}, T_NO_DLOCKD},
    {"data_list_timeout_resets_only_its_connection", t_list_timeout_alone, {NULL}, T_NO_DLOCKD},
    {"data_redlock_data_not_dlockd", t_redlock_data_not_dlockd, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
