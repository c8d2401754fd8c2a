/* Black-box harness, contention: worker threads that take one lock over and
 * over, each with its own curl handle, record every critical section; the
 * test then checks that no fence was granted twice and no two sections
 * overlap. Workers report errors in their struct contender, never with
 * assertions (those are for the main thread). */
#include "harness_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void contender_add(struct contender *c, struct section s)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct section *ns = realloc(c->secs, nc * sizeof *ns);
		if (!ns)
			abort();
		c->secs = ns;
		c->cap = nc;
	}
	c->secs[c->n++] = s;
}

struct resp *contender_acquire(CURL *h, struct contender *c, const char *path, struct section *s)
{
	struct resp *r = http_ex(h, c->port, "PUT", path, NULL, 0, NULL, NULL, 10000L * g_slow);
	if (r->status == 409 || (r->status == 503 && c->busy_503)) {
		if (r->status == 409)
			c->n409++;
		else
			c->n503++;
		resp_free(r);
		return NULL;
	}
	if (r->status != 201) {
		snprintf(c->err, sizeof c->err, "thread %d: PUT answered %ld (%s%.200s)", c->id, r->status, r->err,
		         r->body);
		resp_free(r);
		return NULL;
	}
	s->t_acq = mono_ms();
	json_t *fe = r->json ? json_object_get(r->json, "fence") : NULL;
	json_t *to = r->json ? json_object_get(r->json, "token") : NULL;
	if (!json_is_integer(fe) || !json_is_string(to)) {
		snprintf(c->err, sizeof c->err, "thread %d: bad 201 body %.200s", c->id, r->body);
		resp_free(r);
		return NULL;
	}
	s->fence = (int64_t)json_integer_value(fe);
	s->thread = c->id;
	return r;
}

struct resp *contender_release(CURL *h, struct contender *c, struct resp *grant, const char *path, double *t_rel)
{
	char hdr[160];
	snprintf(hdr, sizeof hdr, "Lock-Token: %s", json_string_value(json_object_get(grant->json, "token")));
	resp_free(grant);
	sleep_ms(1);
	*t_rel = mono_ms();
	const char *hdrs[] = {hdr, NULL};
	return http_ex(h, c->port, "DELETE", path, NULL, 0, NULL, hdrs, 10000L * g_slow);
}

void contender_release_failed(struct contender *c, int64_t fence, long status, const struct resp *d)
{
	snprintf(c->err, sizeof c->err, "thread %d: DELETE of fence %" PRId64 " answered %ld (%s%.200s)", c->id, fence,
	         status, d->err, d->body);
}

/* the i-th of n elements of `size` bytes that start with a struct contender */
static struct contender *nth(void *ws, size_t size, int i)
{
	return (struct contender *)((char *)ws + (size_t)i * size);
}

int contenders_start(pthread_t *th, void *ws, size_t size, int n, void *(*fn)(void *))
{
	int started = 0;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&th[i], NULL, fn, nth(ws, size, i)) != 0)
			break;
		started++;
	}
	return started;
}

static int cmp_fence(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	return x->fence < y->fence ? -1 : x->fence > y->fence ? 1 : 0;
}

struct section *contenders_collect(void *ws, size_t size, int n, size_t *total, const char **err)
{
	size_t all_n = 0;
	for (int i = 0; i < n; i++)
		all_n += nth(ws, size, i)->n;
	struct section *all = talloc((all_n ? all_n : 1) * sizeof *all);
	size_t k = 0;
	*err = NULL;
	for (int i = 0; i < n; i++) {
		struct contender *c = nth(ws, size, i);
		if (c->n)
			memcpy(all + k, c->secs, c->n * sizeof *all);
		k += c->n;
		free(c->secs);
		c->secs = NULL;
		if (c->err[0] && !*err)
			*err = tstrdup(c->err);
	}
	qsort(all, all_n, sizeof *all, cmp_fence);
	*total = all_n;
	return all;
}

void expect_exclusive_at(const char *f, int l, const struct section *all, size_t total)
{
	for (size_t i = 0; i + 1 < total; i++) {
		if (!(all[i].fence < all[i + 1].fence))
			fail_at(f, l, "fence %" PRId64 " granted twice (threads %d and %d)", all[i].fence,
			        all[i].thread, all[i + 1].thread);
		if (!(all[i].t_end <= all[i + 1].t_acq))
			fail_at(f, l,
			        "critical sections overlap: fence %" PRId64
			        " (thread %d) held until %.3f ms but fence %" PRId64 " (thread %d) acquired at %.3f ms",
			        all[i].fence, all[i].thread, all[i].t_end - all[0].t_acq, all[i + 1].fence,
			        all[i + 1].thread, all[i + 1].t_acq - all[0].t_acq);
	}
}
