/* Redis failures and shutdown behaviour. */
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void expect_503_fast(struct resp *r, double limit_ms)
{
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	const char *ra = resp_header(r, "Retry-After");
	CHECKF(ra && strcmp(ra, "1") == 0, "%s: 503 should carry Retry-After: 1, got %s", r->what, ra ? ra : "(none)");
	CHECKF(r->ms < limit_ms, "%s: 503 took %.0f ms (limit %.0f ms)", r->what, r->ms, limit_ms);
}

static void wait_ready(double limit_ms)
{
	double end = mono_ms() + limit_ms;
	long last = 0;
	for (;;) {
		struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
		last = r->status;
		if (r->status == 200)
			return;
		if (mono_ms() > end)
			FAIL("service did not become ready within %.0f ms after Redis came back (last /readyz %ld)",
			     limit_ms, last);
		sleep_ms(100);
	}
}

static void t_redis_killed(void)
{
	double lim = 2000.0 * g_slow;
	struct grant g = ACQUIRE("rk", "ttl_ms=30000");
	int64_t f0 = g.fence;
	for (int i = 0; i < 3; i++) {
		int64_t f = ACQUIRE(tfmt("rk-%d", i), "ttl_ms=30000").fence;
		if (f > f0)
			f0 = f;
	}
	redis_kill();

	expect_503_fast(http("PUT", "/locks/rk2?ttl_ms=5000", NULL, NULL, NULL), lim);
	expect_503_fast(http("GET", "/locks/rk", NULL, NULL, NULL), lim);
	expect_503_fast(http("POST", "/locks/rk/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL), lim);
	expect_503_fast(http("DELETE", "/locks/rk", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL), lim);
	expect_503_fast(http("GET", "/locks", NULL, NULL, NULL), lim);
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	CHECKF(r->ms < lim, "/readyz took %.0f ms", r->ms);
	r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	/* validation errors still come first and are not 503 */
	r = http("PUT", "/locks/%20", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	/* and again, to be sure it doesn't get stuck */
	expect_503_fast(http("PUT", "/locks/rk3?ttl_ms=5000", NULL, NULL, NULL), lim);

	CHECKF(redis_start(), "could not restart redis on port %d", g_redis.port);
	wait_ready(5000.0 * g_slow);
	struct grant g2 = ACQUIRE("rk", "ttl_ms=5000");
	CHECKF(g2.fence > f0, "fence after Redis restart %" PRId64 " not > %" PRId64 " issued before", g2.fence, f0);
	CHECK(strcmp(g2.token, g.token) != 0);
	r = http("GET", "/locks/rk", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("DELETE", "/locks/rk", NULL, NULL, tfmt("Lock-Token: %s", g2.token), NULL);
	EXPECT_STATUS(r, 204);
}

static void t_redis_paused(void)
{
	double lim = 2000.0 * g_slow;
	struct grant g = ACQUIRE("rp0", "ttl_ms=30000");
	redis_stop_signal();
	struct resp *r = http("PUT", "/locks/rp1?ttl_ms=5000", NULL, NULL, NULL);
	expect_503_fast(r, lim);
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	CHECKF(r->ms < lim, "/readyz took %.0f ms with Redis paused", r->ms);
	r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(r->ms < 1000.0 * g_slow, "/healthz took %.0f ms with Redis paused", r->ms);
	/* still bounded on later requests */
	expect_503_fast(http("GET", "/locks/rp0", NULL, NULL, NULL), lim);
	expect_503_fast(http("POST", "/locks/rp0/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL), lim);
	redis_cont_signal();
	wait_ready(5000.0 * g_slow);
	ACQUIRE("rp2", "ttl_ms=5000");
	r = http("GET", "/locks/rp0", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", "/locks/rp0/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 200);
}

struct inflight {
	int port;
	struct resp *r;
};

static void *inflight_main(void *arg)
{
	struct inflight *f = arg;
	CURL *h = curl_new();
	f->r = http_ex(h, f->port, "PUT", "/locks/inflight?ttl_ms=5000", NULL, 0, NULL, NULL, 10000L * g_slow);
	curl_easy_cleanup(h);
	return NULL;
}

static void t_sigterm_inflight(void)
{
	ACQUIRE("warm", "ttl_ms=5000");
	redis_stop_signal();
	struct inflight f = {g_dl.port, NULL};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, inflight_main, &f) == 0);
	sleep_ms(100);
	/* SIGTERM while the request waits for (paused) Redis: exit 0 */
	double t0 = mono_ms();
	char why[256];
	bool stopped = dlockd_stop(why, sizeof why);
	double dt = mono_ms() - t0;
	pthread_join(th, NULL);
	if (!stopped) {
		resp_free(f.r);
		FAIL("%s", why);
	}
	struct resp *r = f.r;
	long st = r->status;
	char msg[300];
	snprintf(msg, sizeof msg, "%s", r->body ? r->body : "");
	const char *err = r->err[0] ? tstrdup(r->err) : "";
	json_t *code = r->json ? json_object_get(r->json, "code") : NULL;
	const char *cs = json_is_string(code) ? tstrdup(json_string_value(code)) : "";
	resp_free(r);
	redis_cont_signal();
	CHECKF(dt < 10000, "shutdown took %.0f ms", dt);
	CHECKF(st == 503, "in-flight request during shutdown should be answered 503, got %ld (%s%s)", st, err, msg);
	CHECKF(strcmp(cs, "backend_unavailable") == 0 || strcmp(cs, "shutting_down") == 0,
	       "in-flight 503 code should be backend_unavailable or shutting_down, got \"%s\"", cs);
}

static void t_sigterm_idle_connections(void)
{
	/* an idle keep-alive connection ... */
	int a = dl_connect();
	CHECK(a >= 0);
	const char *req = tfmt("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", g_dl.port);
	CHECK(send(a, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
	char buf[1024];
	ssize_t n = recv(a, buf, sizeof buf - 1, 0);
	CHECKF(n > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0, "keep-alive healthz failed");
	/* ... and one with a half-sent request */
	int b = dl_connect();
	CHECK(b >= 0);
	const char *partial = "PUT /locks/partial HTTP/1.1\r\nHost: x\r\nContent-Len";
	CHECK(send(b, partial, strlen(partial), MSG_NOSIGNAL) > 0);
	/* and one that promised a body it never sends */
	int c = dl_connect();
	CHECK(c >= 0);
	const char *nobody = "PUT /locks/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                     "Content-Length: 100\r\n\r\n{";
	CHECK(send(c, nobody, strlen(nobody), MSG_NOSIGNAL) > 0);
	sleep_ms(100);
	double t0 = mono_ms();
	dlockd_stop_checked(); /* must exit 0 within 10 s despite the 30 s connection timeout */
	double dt = mono_ms() - t0;
	close(a);
	close(b);
	close(c);
	CHECKF(dt < 10000, "shutdown took %.0f ms", dt);
}

const struct test tests_backend[] = {
    {"redis_killed_503_and_recovery", t_redis_killed, {NULL}, 0},
    {"redis_paused_503_and_recovery", t_redis_paused, {NULL}, 0},
    {"sigterm_request_in_flight", t_sigterm_inflight, {NULL}, 0},
    {"sigterm_idle_connections", t_sigterm_idle_connections, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
