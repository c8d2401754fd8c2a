/* Waiting acquisitions: PUT /locks/{name}?wait_ms=N (api-spec "Waiting"). */
#include "harness.h"

#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

static void t_wait_handoff_on_release(void)
{
	struct grant a = ACQUIRE("w1", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/w1?ttl_ms=5000&wait_ms=5000&owner=b", NULL, NULL, NULL);
	sleep_ms(300);
	EXPECT_WAITING(b, "waiter", "the lock was still held");
	struct resp *rel = http("DELETE", "/locks/w1", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(rel, 204);
	struct resp *rb = http_async_wait(b);
	EXPECT_STATUS(rb, 201);
	struct grant gb = CHECK_GRANT(rb, "w1", 5000, "b");
	const char *loc = resp_header(rb, "Location");
	CHECKF(loc && strcmp(loc, "/locks/w1") == 0, "waiter's 201 lacks Location /locks/w1 (%s)", loc ? loc : "none");
	CHECKF(gb.fence > a.fence, "waiter fence %" PRId64 " not > %" PRId64, gb.fence, a.fence);
	CHECKF(strcmp(gb.token, a.token) != 0, "waiter got the old token");
	double lag = rb->t1_mono - rel->t1_mono;
	CHECKF(lag < 750.0 * g_slow, "hand-off took %.0f ms after the release answered", lag);
	CHECKF(rb->t1_mono >= rel->t0_mono, "waiter answered before the release was sent");
	struct resp *v = http("GET", "/locks/w1", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	struct view w = CHECK_VIEW(v->json, "w1", 5000, "b");
	CHECK(w.fence == gb.fence);
	/* the new holder can use its token */
	struct resp *r = http("POST", "/locks/w1/renew", NULL, NULL, tok_hdr(gb.token), NULL);
	EXPECT_STATUS(r, 200);
}

static void t_wait_timeout(void)
{
	struct grant a = ACQUIRE("w2", "ttl_ms=10000&owner=a");
	struct resp *r = http("PUT", "/locks/w2?wait_ms=400", NULL, NULL, NULL);
	EXPECT_HELD(r, a, 10000, "a");
	CHECK(resp_header(r, "Retry-After") != NULL);
	CHECKF(r->ms >= 380, "wait_ms=400 gave up after only %.0f ms", r->ms);
	CHECKF(r->ms < 400 + 1000.0 * g_slow, "wait_ms=400 answered after %.0f ms", r->ms);
	/* body parameter works the same */
	r = http("PUT", "/locks/w2", "{\"wait_ms\":200}", "application/json", NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	CHECKF(r->ms >= 180, "wait_ms=200 (body) gave up after only %.0f ms", r->ms);
	/* wait_ms=0 (and the default) does not wait */
	r = http("PUT", "/locks/w2?wait_ms=0", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	CHECKF(r->ms < 1000.0 * g_slow, "wait_ms=0 took %.0f ms", r->ms);
	r = http("PUT", "/locks/w2", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	CHECKF(r->ms < 1000.0 * g_slow, "default wait took %.0f ms", r->ms);
	/* the holder is untouched */
	r = http("POST", "/locks/w2/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	/* waiting on a free lock is an immediate grant */
	r = http("PUT", "/locks/w2-free?wait_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECKF(r->ms < 1000.0 * g_slow, "free lock with wait_ms took %.0f ms", r->ms);
}

static void t_wait_handoff_on_expiry(void)
{
	struct grant a = ACQUIRE("w3", "ttl_ms=500");
	struct resp *r = http("PUT", "/locks/w3?wait_ms=3000&ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "w3", 5000, NULL);
	CHECK(g.fence > a.fence);
	CHECKF(r->t1_wall >= a.expires_ms - 5, "granted %" PRId64 " ms before the holder's lease expired",
	       a.expires_ms - r->t1_wall);
	CHECKF(r->t1_wall <= a.expires_ms + 300L * g_slow, "granted %" PRId64 " ms after the holder's lease expired",
	       r->t1_wall - a.expires_ms);
	r = http("POST", "/locks/w3/renew", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_PROBLEM(r, 409, "token_mismatch");
	EXPECT_NO_TOKEN(r, g.token);
}

/* the holder of `held` releases it; waiter w (owner, ttl_ms=10000) gets the
 * lock with a larger fence */
static struct grant handoff(struct grant held, struct async_req *w, const char *owner)
{
	struct resp *r = http("DELETE", tfmt("/locks/%s", held.name), NULL, NULL, tok_hdr(held.token), NULL);
	EXPECT_STATUS(r, 204);
	struct resp *rw = http_async_wait(w);
	EXPECT_STATUS(rw, 201);
	struct grant g = CHECK_GRANT(rw, held.name, 10000, owner);
	CHECKF(g.fence > held.fence, "waiter %s got fence %" PRId64 ", not above %" PRId64, owner, g.fence, held.fence);
	return g;
}

static void t_wait_fifo(void)
{
	struct grant a = ACQUIRE("w4", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/w4?ttl_ms=10000&wait_ms=8000&owner=b", NULL, NULL, NULL);
	sleep_ms(150);
	struct async_req *c = http_async("PUT", "/locks/w4?ttl_ms=10000&wait_ms=8000&owner=c", NULL, NULL, NULL);
	sleep_ms(150);
	struct async_req *d = http_async("PUT", "/locks/w4?ttl_ms=10000&wait_ms=8000&owner=d", NULL, NULL, NULL);
	sleep_ms(150);
	/* a non-waiting request while the lock is held: plain 409 with the holder */
	struct resp *r = http("PUT", "/locks/w4", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	CHECK_VIEW(JGET(r->json, "lock"), "w4", 10000, NULL);
	CHECK(!http_async_done(b) && !http_async_done(c) && !http_async_done(d));

	r = http("DELETE", "/locks/w4", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	struct resp *rb = http_async_wait(b);
	EXPECT_STATUS(rb, 201);
	struct grant gb = CHECK_GRANT(rb, "w4", 10000, "b");
	sleep_ms(150);
	EXPECT_WAITING(c, "second waiter", "the first holds the lock");
	EXPECT_WAITING(d, "third waiter", "the first holds the lock");

	struct grant gc = handoff(gb, c, "c");
	sleep_ms(150);
	EXPECT_WAITING(d, "third waiter", "the second holds the lock");
	handoff(gc, d, "d");
}

static void t_wait_invalid(void)
{
	struct grant a = ACQUIRE("w5", "ttl_ms=10000");
	(void)a;
	const char *bad[] = {"-1", "abc", "60001", "1.5", "", "%2B5", "0x10", "99999999999999999999", NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct resp *r = http("PUT", tfmt("/locks/w5?wait_ms=%s", bad[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_wait");
	}
	const char *badj[] = {"\"100\"", "1.5", "-1", "60001", "true", "[1]", NULL};
	for (size_t i = 0; badj[i]; i++) {
		struct resp *r = http("PUT", "/locks/w5", tfmt("{\"wait_ms\":%s}", badj[i]), "application/json", NULL);
		EXPECT_PROBLEM(r, 400, "invalid_wait");
	}
	struct resp *r = http("PUT", "/locks/w5?wait_ms=100", "{\"wait_ms\":100}", "application/json", NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	r = http("PUT", "/locks/w5?wait_ms=100&wait_ms=100", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_parameter");
	r = http("PUT", "/locks/w5-free?wait_ms=60000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	r = http("PUT", "/locks/w5-free2", "{\"wait_ms\":0}", "application/json", NULL);
	EXPECT_STATUS(r, 201);
}

static void t_wait_max_flag(void)
{
	struct resp *r = http("PUT", "/locks/wm?wait_ms=1001", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_wait");
	r = http("PUT", "/locks/wm?wait_ms=1000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
}

static void t_wait_disconnect(void)
{
	struct grant a = ACQUIRE("w6", "ttl_ms=10000");
	int fd = dl_connect();
	CHECK(fd >= 0);
	const char *req = tfmt(
	    "PUT /locks/w6?wait_ms=8000&ttl_ms=30000&owner=ghost HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", g_dl.port);
	CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
	sleep_ms(200);
	close(fd); /* the first waiter leaves */
	sleep_ms(200);
	struct async_req *c = http_async("PUT", "/locks/w6?ttl_ms=10000&wait_ms=8000&owner=c", NULL, NULL, NULL);
	sleep_ms(200);
	struct resp *rel = http("DELETE", "/locks/w6", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(rel, 204);
	struct resp *rc = http_async_wait(c);
	EXPECT_STATUS(rc, 201);
	CHECK_GRANT(rc, "w6", 10000, "c");
	CHECKF(rc->t1_mono - rel->t1_mono < 1000.0 * g_slow, "live waiter served %.0f ms after the release",
	       rc->t1_mono - rel->t1_mono);
	struct resp *v = http("GET", "/locks/w6", NULL, NULL, NULL);
	EXPECT_STATUS(v, 200);
	CHECK_VIEW(v->json, "w6", 10000, "c");
}

static void t_wait_sigterm(void)
{
	ACQUIRE("w7", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/w7?wait_ms=8000", NULL, NULL, NULL);
	sleep_ms(200);
	CHECK(!http_async_done(b));
	double t0 = mono_ms();
	char why[256];
	bool stopped = dlockd_stop(why, sizeof why);
	struct resp *rb = http_async_wait(b);
	if (!stopped)
		FAIL("%s", why);
	EXPECT_PROBLEM(rb, 503, "shutting_down");
	CHECKF(rb->t1_mono - t0 < 1000.0 * g_slow, "waiter answered %.0f ms after SIGTERM", rb->t1_mono - t0);
}

static void t_wait_redis_down(void)
{
	ACQUIRE("w8", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/w8?wait_ms=2000", NULL, NULL, NULL);
	sleep_ms(200);
	redis_kill();
	struct resp *rb = http_async_wait(b);
	CHECKF(rb->status == 503 || rb->status == 409, "waiter got %ld with Redis down (%s)", rb->status, rb->body);
	if (rb->status == 503)
		EXPECT_PROBLEM(rb, 503, "backend_unavailable");
	else
		EXPECT_PROBLEM(rb, 409, "lock_held");
	CHECKF(rb->ms <= 2000 + 300 + 700.0 * g_slow, "waiter hung for %.0f ms (wait_ms 2000 + timeout 300)", rb->ms);
	CHECKF(redis_start(), "could not restart redis");
	double end = mono_ms() + 5000.0 * g_slow;
	while (http("GET", "/readyz", NULL, NULL, NULL)->status != 200) {
		CHECKF(mono_ms() < end, "not ready again after Redis restart");
		sleep_ms(100);
	}
	ACQUIRE("w8", "ttl_ms=5000");
}

static void t_wait_max_waiters(void)
{
	struct grant a = ACQUIRE("w9", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/w9?wait_ms=8000&owner=b", NULL, NULL, NULL);
	sleep_ms(150); /* b is first in line */
	struct async_req *c = http_async("PUT", "/locks/w9?wait_ms=8000&owner=c", NULL, NULL, NULL);
	sleep_ms(250);
	struct resp *r = http("PUT", "/locks/w9?wait_ms=8000", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "too_many_waiters");
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra && strcmp(ra, "1") == 0, "too_many_waiters should carry Retry-After: 1 (%s)", ra ? ra : "none");
	CHECKF(r->ms < 1000.0 * g_slow, "too_many_waiters took %.0f ms", r->ms);
	r = http("PUT", "/locks/w9", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	r = http("DELETE", "/locks/w9", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	struct resp *rb = http_async_wait(b);
	EXPECT_STATUS(rb, 201);
	struct grant gb = CHECK_GRANT(rb, "w9", -1, "b");
	r = http("DELETE", "/locks/w9", NULL, NULL, tok_hdr(gb.token), NULL);
	EXPECT_STATUS(r, 204);
	struct resp *rc = http_async_wait(c);
	EXPECT_STATUS(rc, 201);
}

static double metric(const char *name)
{
	struct resp *r = http("GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	int found;
	double v = metric_value(r, name, &found);
	CHECKF(found > 0, "/metrics has no %s sample", name);
	return v;
}

static void t_wait_metrics(void)
{
	double timeouts0 = metric("dlockd_wait_timeouts_total");
	double handoffs0 = metric("dlockd_lock_handoffs_total");
	double count0 = metric("dlockd_wait_duration_seconds_count");
	metric("dlockd_wait_duration_seconds_sum");
	metric("dlockd_wait_duration_seconds_bucket");
	CHECKF(metric("dlockd_waiters") == 0, "dlockd_waiters not 0 at start");

	struct grant a = ACQUIRE("wmx", "ttl_ms=10000");
	struct async_req *b = http_async("PUT", "/locks/wmx?wait_ms=8000", NULL, NULL, NULL);
	sleep_ms(250);
	double waiting = metric("dlockd_waiters");
	CHECKF(waiting == 1, "dlockd_waiters is %g with one waiting request", waiting);
	struct resp *r = http("PUT", "/locks/wmx2-none?wait_ms=10", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201); /* free: no wait */
	struct grant g2 = CHECK_GRANT(r, "wmx2-none", -1, NULL);
	r = http("PUT", "/locks/wmx2-none?wait_ms=150", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	(void)g2;
	double timeouts1 = metric("dlockd_wait_timeouts_total");
	CHECKF(timeouts1 >= timeouts0 + 1, "dlockd_wait_timeouts_total did not go up (%g -> %g)", timeouts0, timeouts1);

	r = http("DELETE", "/locks/wmx", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	EXPECT_STATUS(http_async_wait(b), 201);
	double handoffs1 = metric("dlockd_lock_handoffs_total");
	CHECKF(handoffs1 >= handoffs0 + 1, "dlockd_lock_handoffs_total did not go up (%g -> %g)", handoffs0, handoffs1);
	double count1 = metric("dlockd_wait_duration_seconds_count");
	CHECKF(count1 >= count0 + 1, "dlockd_wait_duration_seconds_count did not go up (%g -> %g)", count0, count1);
	CHECKF(metric("dlockd_waiters") == 0, "dlockd_waiters not back to 0");
}

/* Threads of a process, from /proc/PID/status; -1 if unreadable. */
static int thread_count(pid_t pid)
{
	char path[64], line[256];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* 300 suspended waiters cost no thread each: the thread count stays put. */
static void t_wait_300_waiters_no_threads(void)
{
	enum { N = 300 };
	struct grant a = ACQUIRE("w300", "ttl_ms=30000");
	int before = thread_count(g_dl.pid), during = -1, opened = 0, fds[N];
	double waiting = -1, deadline;
	const char *req =
	    tfmt("PUT /locks/w300?wait_ms=20000&ttl_ms=5000 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", g_dl.port);

	for (int i = 0; i < N; i++) {
		int fd = dl_connect();
		if (fd < 0)
			break;
		fds[opened++] = fd;
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			break;
	}
	deadline = mono_ms() + 10000.0 * g_slow;
	while (mono_ms() < deadline) {
		waiting = metric("dlockd_waiters");
		if (waiting >= N)
			break;
		sleep_ms(50);
	}
	during = thread_count(g_dl.pid);
	for (int i = 0; i < opened; i++)
		close(fds[i]); /* every waiter leaves the line */
	CHECKF(opened == N, "opened only %d of %d connections", opened, N);
	CHECKF(waiting == N, "dlockd_waiters reached %g, expected %d", waiting, N);
	CHECKF(before > 0 && during == before, "dlockd had %d threads before and %d with %d waiters", before, during,
	       N);

	deadline = mono_ms() + 10000.0 * g_slow;
	while (mono_ms() < deadline && metric("dlockd_waiters") > 0)
		sleep_ms(50);
	CHECKF(metric("dlockd_waiters") == 0, "waiters did not leave after their clients closed");
	struct resp *r = http("DELETE", "/locks/w300", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 204);
	r = http("GET", "/locks/w300", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held"); /* no departed waiter became the holder */
}

const struct test tests_wait[] = {
    {"wait_300_waiters_no_threads", t_wait_300_waiters_no_threads, {NULL}, 0},
    {"wait_handoff_on_release", t_wait_handoff_on_release, {NULL}, 0},
    {"wait_timeout_409", t_wait_timeout, {NULL}, 0},
    {"wait_handoff_on_expiry", t_wait_handoff_on_expiry, {NULL}, 0},
    {"wait_fifo", t_wait_fifo, {NULL}, 0},
    {"wait_invalid_400", t_wait_invalid, {NULL}, 0},
    {"wait_max_wait_flag", t_wait_max_flag, {"--max-wait-ms", "1000", NULL}, 0},
    {"wait_disconnected_waiter_skipped", t_wait_disconnect, {NULL}, 0},
    {"wait_sigterm_503_shutting_down", t_wait_sigterm, {NULL}, 0},
    {"wait_redis_down", t_wait_redis_down, {NULL}, 0},
    {"wait_max_waiters_503", t_wait_max_waiters, {"--max-waiters", "2", NULL}, 0},
    {"wait_metrics", t_wait_metrics, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
