/* Mutual exclusion under contention; token secrecy in logs. */
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 32

struct section {
	int64_t fence;
	double t_acq, t_rel;
	int thread;
};

struct worker {
	int id;
	int port;
	double deadline;
	struct section *secs;
	size_t n, cap;
	long n409, n503;
	bool tolerate_503;
	char err[512];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	CURL *h = curl_new();
	while (mono_ms() < w->deadline) {
		struct resp *r =
		    http_ex(h, w->port, "PUT", "/locks/hot?ttl_ms=2000", NULL, 0, NULL, NULL, 10000L * g_slow);
		if (r->status == 409) {
			w->n409++;
			resp_free(r);
			continue;
		}
		if (r->status == 503 && w->tolerate_503) {
			/* under valgrind the 300 ms Redis timeout can fire; a 503 is
			 * "not acquired" and does not affect the exclusion check */
			w->n503++;
			resp_free(r);
			continue;
		}
		if (r->status != 201) {
			snprintf(w->err, sizeof w->err, "thread %d: PUT answered %ld (%s%.200s)", w->id, r->status,
			         r->err, r->body);
			resp_free(r);
			break;
		}
		double t_acq = mono_ms();
		json_t *fe = r->json ? json_object_get(r->json, "fence") : NULL;
		json_t *to = r->json ? json_object_get(r->json, "token") : NULL;
		if (!json_is_integer(fe) || !json_is_string(to)) {
			snprintf(w->err, sizeof w->err, "thread %d: bad 201 body %.200s", w->id, r->body);
			resp_free(r);
			break;
		}
		int64_t fence = (int64_t)json_integer_value(fe);
		char hdr[160];
		snprintf(hdr, sizeof hdr, "Lock-Token: %s", json_string_value(to));
		resp_free(r);
		sleep_ms(1);
		double t_rel = mono_ms();
		const char *hdrs[] = {hdr, NULL};
		struct resp *d = http_ex(h, w->port, "DELETE", "/locks/hot", NULL, 0, NULL, hdrs, 10000L * g_slow);
		long st = d->status;
		if (st == 503 && w->tolerate_503) {
			/* release state unknown: the lease (2 s) expires later,
			 * which is still after t_rel */
			w->n503++;
			st = 204;
		}
		if (st != 204)
			snprintf(w->err, sizeof w->err,
			         "thread %d: DELETE of fence %" PRId64 " answered %ld (%s%.200s)", w->id, fence, st,
			         d->err, d->body);
		resp_free(d);
		if (w->n == w->cap) {
			size_t nc = w->cap ? w->cap * 2 : 64;
			struct section *ns = realloc(w->secs, nc * sizeof *ns);
			if (!ns)
				abort();
			w->secs = ns;
			w->cap = nc;
		}
		w->secs[w->n++] = (struct section){fence, t_acq, t_rel, w->id};
		if (st != 204)
			break;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static int cmp_fence(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	return x->fence < y->fence ? -1 : x->fence > y->fence ? 1 : 0;
}

static void t_contention(void)
{
	struct worker *ws = talloc(NTHREADS * sizeof *ws);
	pthread_t th[NTHREADS];
	double deadline = mono_ms() + 3000;
	int started = 0;
	for (int i = 0; i < NTHREADS; i++) {
		ws[i].id = i;
		ws[i].port = g_dl.port;
		ws[i].deadline = deadline;
		ws[i].tolerate_503 = g_slow > 1;
		if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	size_t total = 0;
	long n409 = 0, n503 = 0;
	for (int i = 0; i < started; i++) {
		total += ws[i].n;
		n409 += ws[i].n409;
		n503 += ws[i].n503;
	}
	struct section *all = talloc((total ? total : 1) * sizeof *all);
	size_t k = 0;
	const char *err = NULL;
	for (int i = 0; i < started; i++) {
		if (ws[i].n)
			memcpy(all + k, ws[i].secs, ws[i].n * sizeof *all);
		k += ws[i].n;
		free(ws[i].secs);
		if (ws[i].err[0] && !err)
			err = tstrdup(ws[i].err);
	}
	CHECKF(started == NTHREADS, "only %d threads started", started);
	CHECKF(!err, "%s", err);
	if (getenv("VERBOSE"))
		fprintf(stderr, "    # contention: %zu acquisitions, %ld conflicts, %ld tolerated 503s\n", total, n409,
		        n503);
	CHECKF(total >= 5, "only %zu acquisitions in 3 s (%ld conflicts)", total, n409);
	qsort(all, total, sizeof *all, cmp_fence);
	for (size_t i = 0; i + 1 < total; i++) {
		CHECKF(all[i].fence < all[i + 1].fence, "fence %" PRId64 " granted twice (threads %d and %d)",
		       all[i].fence, all[i].thread, all[i + 1].thread);
		CHECKF(all[i].t_rel <= all[i + 1].t_acq,
		       "critical sections overlap: fence %" PRId64 " (thread %d) held until %.3f ms but fence %" PRId64
		       " (thread %d) acquired at %.3f ms",
		       all[i].fence, all[i].thread, all[i].t_rel - all[0].t_acq, all[i + 1].fence, all[i + 1].thread,
		       all[i + 1].t_acq - all[0].t_acq);
	}
	/* the lock is free at the end */
	struct resp *r = http("GET", "/locks/hot", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
}

static void token_secrecy(void)
{
	const char *wrong = "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW";
	struct grant g = ACQUIRE("secret", "ttl_ms=5000&owner=alice");
	struct resp *r = http("PUT", tfmt("/locks/secret?ttl_ms=5000&token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", tfmt("/locks/secret/renew?token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", "/locks/secret/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", "/locks/secret/renew", tfmt("{\"token\":\"%s\"}", g.token), "application/json", NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", tfmt("/locks/secret/renew?token=%s", wrong), NULL, NULL, NULL);
	EXPECT_STATUS(r, 409);
	r = http("DELETE", "/locks/secret", NULL, NULL, tfmt("Lock-Token: %s", wrong), NULL);
	EXPECT_STATUS(r, 409);
	r = http("POST", tfmt("/locks/secret/renew?token=%s", g.token), NULL, NULL, tfmt("Lock-Token: %s", g.token),
	         NULL);
	EXPECT_STATUS(r, 400);
	r = http("POST", tfmt("/locks/secret/renew?token=%s&bogus=1", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 400);
	r = http("PUT", tfmt("/locks/secret?token=%s", wrong), NULL, NULL, NULL);
	EXPECT_STATUS(r, 409);
	r = http("DELETE", tfmt("/locks/secret?token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 204);
	r = http("DELETE", tfmt("/locks/secret?token=%s", g.token), NULL, NULL, NULL);
	EXPECT_STATUS(r, 404);
	/* flush logs: stop the service (must exit 0), then read its log */
	dlockd_stop_checked();
	size_t len;
	char *log = dlockd_log_contents(&len);
	CHECKF(len > 0, "dlockd wrote nothing at --log-level debug");
	CHECKF(!memmem(log, len, g.token, strlen(g.token)), "the lock token appears in the dlockd log");
	CHECKF(!memmem(log, len, wrong, strlen(wrong)), "a client-supplied token appears in the dlockd log");
	/* the first 16 chars are already too much */
	CHECKF(!memmem(log, len, g.token, 16), "a token prefix appears in the dlockd log");
}

const struct test tests_concurrency[] = {
    {"contention_mutual_exclusion", t_contention, {"--threads", "4", "--redis-timeout-ms", "5000", NULL}, 0},
    {"token_secrecy_text_log", token_secrecy, {"--log-level", "debug", NULL}, 0},
    {"token_secrecy_json_log", token_secrecy, {"--log-level", "debug", "--log-format", "json", NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
