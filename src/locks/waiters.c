/* waiters: the waiting-request registry. See waiters.h.
 *
 * Waiters live in a slot array; a waiter's id in the backend's lines is
 * "<instance>|<slot>.<generation>" (made and read only here), so a wake-up
 * finds its waiter in O(1), a stale wake-up (a slot reused since) is
 * ignored, and every registry (per worker, per process) tells its own. */
#include "locks/waiters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"

enum { WAITER_ID_MAX = WAITERS_INSTANCE_MAX + 24 };

struct waiter {
	struct waiters *ws;
	unsigned slot, gen;
	bool used;
	char id[WAITER_ID_MAX];
	char *name;                       /* malloc'd, like owner: thousands may wait */
	char *owner;                      /* NULL for none */
	char token[LOCK_TOKEN_MAX + 1];   /* the token a grant will carry */
	char retoken[LOCK_TOKEN_MAX + 1]; /* the caller's own token, for a re-acquire */
	bool has_retoken;
	int64_t ttl_ms;
	uint64_t start_ms, deadline_ms; /* loop (monotonic) time */
	struct loop_timer timer;
	bool in_flight; /* an attempt is on its way */
	bool again;     /* woken while in flight: try again when it returns */
	bool abandoned; /* the client is gone: never call back */
	bool refused;   /* a try was refused: a grant now is a hand-off */
	backend_lock_fn *cb;
	void *arg;
};

struct waiters {
	struct loop *loop;
	struct backend *backend;
	char instance[WAITERS_INSTANCE_MAX + 1];
	unsigned max, count;
	struct waiter **slots;
	unsigned nslots;
	unsigned *free_slots;
	unsigned nfree;
};

static void attempt(struct waiter *w);

static void waiter_release_slot(struct waiter *w)
{
	struct waiters *ws = w->ws;

	loop_timer_stop(ws->loop, &w->timer);
	free(w->name);
	free(w->owner);
	w->name = w->owner = NULL;
	explicit_bzero(w->token, sizeof w->token);
	explicit_bzero(w->retoken, sizeof w->retoken);
	w->used = false;
	w->gen++;
	ws->free_slots[ws->nfree++] = w->slot;
	ws->count--;
	metrics_waiters(-1);
}

/* Whether a try's outcome is a failure, not an answer about the lock. */
static bool failed(enum lock_outcome o)
{
	return o == LOCK_UNAVAILABLE || o == LOCK_BACKEND_ERROR || o == LOCK_INVALID_DATA ||
	       o == LOCK_FENCE_EXHAUSTED || o == LOCK_UNCONFIRMED;
}

/* Ends the wait with reply and frees the waiter. A wait that ends in an
 * error leaves the line at once (its entry would count for the liveness
 * window otherwise). */
static void finish(struct waiter *w, const struct lock_reply *reply)
{
	backend_lock_fn *cb = w->cb;
	void *arg = w->arg;
	uint64_t waited_ms = loop_now_ms(w->ws->loop) - w->start_ms;
	struct lock_reply r = *reply;

	if (failed(reply->outcome))
		w->ws->backend->ops->leave(w->ws->backend, w->name, w->id);
	metrics_wait_observe(waited_ms * 1000);
	r.handed_off = reply->outcome == LOCK_GRANTED && w->refused;
	if (r.handed_off)
		metrics_inc(METRIC_HANDOFFS);
	else if (reply->outcome == LOCK_HELD || reply->outcome == LOCK_RESERVED)
		metrics_inc(METRIC_WAIT_TIMEOUTS);
	waiter_release_slot(w);
	cb(arg, &r);
	explicit_bzero(r.view.token, sizeof r.view.token);
}

static void ignore_reply(void *arg, const struct lock_reply *reply)
{
	(void)arg;
	(void)reply;
}

/* The caller left: give back a grant that raced with it (under the token it
 * was granted with), or leave the line. A re-acquire is left alone: the
 * caller held that lock before. */
static void clean_up_abandoned(struct waiter *w, const struct lock_reply *reply)
{
	struct backend *b = w->ws->backend;

	if (reply && reply->outcome == LOCK_GRANTED) {
		struct lock_request rel = {.name = w->name, .token = reply->view.token};
		log_msg(LOG_DEBUG, "waiter for '%s' left as it was granted the lock: releasing it", w->name);
		b->ops->release(b, &rel, ignore_reply, NULL);
	} else if (!reply || reply->outcome != LOCK_REACQUIRED) {
		b->ops->leave(b, w->name, w->id);
	}
	waiter_release_slot(w);
}

static void schedule(struct waiter *w, uint64_t at_ms)
{
	if (at_ms > w->deadline_ms)
		at_ms = w->deadline_ms;
	loop_timer_start(w->ws->loop, &w->timer, at_ms);
}

static void on_attempt(void *arg, const struct lock_reply *reply)
{
	struct waiter *w = arg;
	uint64_t now = loop_now_ms(w->ws->loop);
	bool final = now >= w->deadline_ms;

	w->in_flight = false;
	if (w->abandoned) {
		clean_up_abandoned(w, reply);
		return;
	}
	switch (reply->outcome) {
	case LOCK_HELD:
	case LOCK_RESERVED: {
		/* Try again when the holder's lease ends, unless woken before, and
		 * at least every RECHECK: that keeps our place in line alive and
		 * passes dead entries ahead of us once they stop counting. */
		uint64_t left = BACKEND_WAITER_RECHECK_MS;
		if (reply->outcome == LOCK_HELD)
			left = (uint64_t)(reply->view.expires_ms > reply->view.now_ms
			                      ? reply->view.expires_ms - reply->view.now_ms
			                      : 0) +
			       1;
		w->refused = true;
		if (final)
			break;
		schedule(w, now + (left < BACKEND_WAITER_RECHECK_MS ? left : BACKEND_WAITER_RECHECK_MS));
		goto maybe_again;
	}
	default:
		break;
	}
	finish(w, reply);
	return;
maybe_again:
	if (w->again) {
		w->again = false;
		attempt(w);
	}
}

/* Sends one try. Returns what the backend said about starting it. */
static enum backend_start try_once(struct waiter *w)
{
	struct backend *b = w->ws->backend;
	uint64_t now = loop_now_ms(w->ws->loop);
	struct lock_request req = {
	    .name = w->name,
	    .token = w->token,
	    .reacquire_token = w->has_retoken ? w->retoken : NULL,
	    .owner = w->owner,
	    .ttl_ms = w->ttl_ms,
	    .waiter = w->id,
	    .wait_left_ms = w->deadline_ms > now ? (int64_t)(w->deadline_ms - now) : 1,
	    .final = now >= w->deadline_ms,
	};
	enum backend_start st;

	loop_timer_stop(w->ws->loop, &w->timer);
	st = b->ops->acquire(b, &req, on_attempt, w);
	w->in_flight = st == BACKEND_STARTED;
	return st;
}

/* Tries again now (or as soon as the try in flight returns). */
static void attempt(struct waiter *w)
{
	enum backend_start st;

	if (w->in_flight) {
		w->again = true;
		return;
	}
	st = try_once(w);
	if (st == BACKEND_STARTED)
		return;
	if (w->abandoned) {
		waiter_release_slot(w);
	} else {
		struct lock_reply fail = {.outcome = st == BACKEND_NO_MEMORY ? LOCK_BACKEND_ERROR : LOCK_UNAVAILABLE};
		snprintf(fail.view.name, sizeof fail.view.name, "%s", w->name);
		finish(w, &fail);
	}
}

static void on_timer(void *arg)
{
	attempt(arg);
}

/* Reads 1-10 decimal digits that fit 32 bits from *p (moving it on): the
 * id's own form, nothing sscanf would also take (signs, spaces). */
static bool read_u32(const char **p, unsigned *out)
{
	uint64_t v = 0;
	const char *s = *p;

	while (*s >= '0' && *s <= '9' && s - *p < 10)
		v = v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p || (*s >= '0' && *s <= '9') || v > UINT32_MAX)
		return false;
	*out = (unsigned)v;
	*p = s;
	return true;
}

/* A wake-up: waiter id `id` ("<instance>|<slot>.<gen>") is first in a free lock's line. */
static void on_wake(void *arg, const char *id)
{
	struct waiters *ws = arg;
	unsigned slot, gen;
	size_t n = strlen(ws->instance);
	const char *p;
	struct waiter *w;

	if (strncmp(id, ws->instance, n) != 0 || id[n] != '|')
		return;
	p = id + n + 1;
	if (!read_u32(&p, &slot) || *p++ != '.' || !read_u32(&p, &gen) || *p || slot >= ws->nslots)
		return;
	w = ws->slots[slot];
	if (!w || !w->used || w->gen != gen || w->abandoned)
		return;
	attempt(w);
}

static void on_resync(void *arg)
{
	struct waiters *ws = arg;

	for (unsigned i = 0; i < ws->nslots; i++) {
		struct waiter *w = ws->slots[i];
		if (w && w->used && !w->abandoned)
			attempt(w);
	}
}

struct waiters *waiters_new(struct loop *loop, struct backend *backend, const char *instance, unsigned max)
{
	struct waiters *ws = calloc(1, sizeof *ws);

	if (!ws)
		return NULL;
	ws->loop = loop;
	ws->backend = backend;
	snprintf(ws->instance, sizeof ws->instance, "%s", instance);
	ws->max = max;
	backend->ops->watch(backend, on_wake, on_resync, ws);
	return ws;
}

static struct waiter *take_slot(struct waiters *ws)
{
	struct waiter *w;

	if (ws->nfree == 0) {
		unsigned n = ws->nslots ? ws->nslots * 2 : 64;
		struct waiter **slots = realloc(ws->slots, n * sizeof *slots);
		unsigned *free_slots;
		if (!slots)
			return NULL;
		ws->slots = slots;
		free_slots = realloc(ws->free_slots, n * sizeof *free_slots);
		if (!free_slots)
			return NULL;
		ws->free_slots = free_slots;
		for (unsigned i = ws->nslots; i < n; i++)
			ws->slots[i] = NULL;
		for (unsigned i = n; i > ws->nslots; i--)
			ws->free_slots[ws->nfree++] = i - 1;
		ws->nslots = n;
	}
	{
		unsigned slot = ws->free_slots[ws->nfree - 1];
		w = ws->slots[slot];
		if (!w) {
			w = calloc(1, sizeof *w);
			if (!w)
				return NULL;
			w->ws = ws;
			w->slot = slot;
			loop_timer_init(&w->timer, on_timer, w);
			ws->slots[slot] = w;
		}
		ws->nfree--;
	}
	return w;
}

enum backend_start waiters_acquire(struct waiters *ws, const struct lock_request *req, int64_t wait_ms,
                                   backend_lock_fn *cb, void *arg, struct waiter **handle)
{
	struct waiter *w;
	unsigned gen;

	if (ws->count >= ws->max)
		return BACKEND_BUSY;
	w = take_slot(ws);
	if (!w)
		return BACKEND_NO_MEMORY;
	gen = w->gen;
	w->used = true;
	ws->count++; /* from here on, waiter_release_slot() undoes all of this */
	metrics_waiters(1);
	w->in_flight = w->again = w->abandoned = w->refused = false;
	snprintf(w->id, sizeof w->id, "%s|%u.%u", ws->instance, w->slot, gen);
	w->name = strdup(req->name);
	w->owner = req->owner ? strdup(req->owner) : NULL;
	if (!w->name || (req->owner && !w->owner)) {
		waiter_release_slot(w);
		return BACKEND_NO_MEMORY;
	}
	snprintf(w->token, sizeof w->token, "%s", req->token);
	w->has_retoken = req->reacquire_token != NULL;
	snprintf(w->retoken, sizeof w->retoken, "%s", req->reacquire_token ? req->reacquire_token : "");
	w->ttl_ms = req->ttl_ms;
	w->start_ms = loop_now_ms(ws->loop);
	w->deadline_ms = w->start_ms + (uint64_t)wait_ms;
	w->cb = cb;
	w->arg = arg;
	{
		enum backend_start st = try_once(w);
		if (st != BACKEND_STARTED) {
			waiter_release_slot(w);
			return st;
		}
	}
	*handle = w;
	return BACKEND_STARTED;
}

void waiters_abandon(struct waiter *w)
{
	if (!w->used || w->abandoned)
		return;
	w->abandoned = true;
	loop_timer_stop(w->ws->loop, &w->timer);
	if (!w->in_flight)
		clean_up_abandoned(w, NULL);
}

void waiters_cancel_all(struct waiters *ws)
{
	if (!ws)
		return;
	for (unsigned i = 0; i < ws->nslots; i++) {
		struct waiter *w = ws->slots[i];
		struct lock_reply r = {.outcome = LOCK_CANCELLED};
		if (!w || !w->used || w->abandoned)
			continue;
		snprintf(r.view.name, sizeof r.view.name, "%s", w->name);
		/* Leave the line; an attempt still in flight comes back abandoned. */
		{
			backend_lock_fn *cb = w->cb;
			void *arg = w->arg;
			w->abandoned = true;
			loop_timer_stop(ws->loop, &w->timer);
			if (!w->in_flight)
				clean_up_abandoned(w, NULL);
			cb(arg, &r);
		}
	}
}

void waiters_free(struct waiters *ws)
{
	if (!ws)
		return;
	waiters_cancel_all(ws);
	for (unsigned i = 0; i < ws->nslots; i++)
		free(ws->slots[i]);
	free(ws->slots);
	free(ws->free_slots);
	free(ws);
}
