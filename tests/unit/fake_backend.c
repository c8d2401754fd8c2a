/* fake_backend: a scriptable backend for unit tests. See fake_backend.h. */
#include "fake_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum event_kind { EV_ANSWER, EV_WAKE, EV_RESYNC };

/* Something to deliver on the next loop turn. */
struct event {
	enum event_kind kind;
	struct fake_call *call; /* EV_ANSWER */
	char waiter[64];        /* EV_WAKE */
	struct event *next;
};

struct fake_backend {
	struct backend base;
	struct loop *loop;
	struct fake_call **calls;
	size_t ncalls, cap;
	enum backend_start refuse_st[FAKE_OP_COUNT];
	int refuse_count[FAKE_OP_COUNT];
	char *warning;
	char *fault;
	bool watched;
	backend_wake_fn *wake;
	backend_resync_fn *resync;
	void *watch_arg;
	struct event *head, *tail; /* deliveries queued for the next turn */
	bool flush_scheduled;
	bool freed; /* free() ran while a flush was scheduled: the flush frees */
};

static unsigned next_seq;

static void die(const char *what)
{
	fprintf(stderr, "fake_backend: %s\n", what);
	fflush(stderr);
	abort();
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		die("out of memory");
	return p;
}

const char *fake_op_name(enum fake_op op)
{
	static const char *const NAMES[FAKE_OP_COUNT + 1] = {
	    [FAKE_ACQUIRE] = "acquire", [FAKE_RENEW] = "renew", [FAKE_RELEASE] = "release",
	    [FAKE_INSPECT] = "inspect", [FAKE_LIST] = "list",   [FAKE_PING] = "ping",
	    [FAKE_LEAVE] = "leave",     [FAKE_FLOOR] = "floor", [FAKE_ANY] = "any",
	};
	return op <= FAKE_ANY ? NAMES[op] : "?";
}

static void copy_str(char *dst, size_t cap, const char *src, bool *has)
{
	if (has)
		*has = src != NULL;
	snprintf(dst, cap, "%s", src ? src : "");
}

/* Records a call of op. Returns it with `started` set: BACKEND_STARTED, or
 * the refusal the test asked for (then it is answered and delivered). */
static struct fake_call *record(struct fake_backend *fb, enum fake_op op)
{
	struct fake_call *c = xcalloc(1, sizeof *c);

	if (fb->ncalls == fb->cap) {
		size_t cap = fb->cap ? fb->cap * 2 : 64;
		struct fake_call **calls = realloc(fb->calls, cap * sizeof *calls);
		if (!calls)
			die("out of memory");
		fb->calls = calls;
		fb->cap = cap;
	}
	fb->calls[fb->ncalls++] = c;
	c->fb = fb;
	c->seq = next_seq++;
	c->op = op;
	c->at_ms = loop_now_ms(fb->loop);
	c->started = BACKEND_STARTED;
	if (fb->refuse_count[op] != 0) {
		c->started = fb->refuse_st[op];
		if (fb->refuse_count[op] > 0)
			fb->refuse_count[op]--;
	}
	if (c->started != BACKEND_STARTED || op == FAKE_LEAVE)
		c->answered = c->delivered = true;
	return c;
}

static void record_lock_request(struct fake_call *c, const struct lock_request *req)
{
	copy_str(c->name, sizeof c->name, req->name, NULL);
	copy_str(c->token, sizeof c->token, req->token, &c->has_token);
	copy_str(c->reacquire_token, sizeof c->reacquire_token, req->reacquire_token, &c->has_reacquire_token);
	copy_str(c->owner, sizeof c->owner, req->owner, &c->has_owner);
	copy_str(c->waiter, sizeof c->waiter, req->waiter, &c->has_waiter);
	c->ttl_ms = req->ttl_ms;
	c->wait_left_ms = req->wait_left_ms;
	c->final = req->final;
}

static enum backend_start lock_op(struct backend *b, enum fake_op op, const struct lock_request *req,
                                  backend_lock_fn *cb, void *arg)
{
	struct fake_call *c = record((struct fake_backend *)b, op);

	record_lock_request(c, req);
	c->lock_cb = cb;
	c->arg = arg;
	return c->started;
}

static enum backend_start fb_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_op(b, FAKE_ACQUIRE, req, cb, arg);
}

static enum backend_start fb_renew(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_op(b, FAKE_RENEW, req, cb, arg);
}

static enum backend_start fb_release(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_op(b, FAKE_RELEASE, req, cb, arg);
}

static enum backend_start fb_inspect(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_op(b, FAKE_INSPECT, req, cb, arg);
}

static enum backend_start fb_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	struct fake_call *c = record((struct fake_backend *)b, FAKE_LIST);

	copy_str(c->prefix, sizeof c->prefix, req->prefix, NULL);
	copy_str(c->cursor, sizeof c->cursor, req->cursor, &c->has_cursor);
	c->limit = req->limit;
	c->list_cb = cb;
	c->arg = arg;
	return c->started;
}

static enum backend_start fb_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	struct fake_call *c = record((struct fake_backend *)b, FAKE_PING);

	c->ping_cb = cb;
	c->arg = arg;
	return c->started;
}

static enum backend_start fb_leave(struct backend *b, const char *name, const char *waiter)
{
	struct fake_call *c = record((struct fake_backend *)b, FAKE_LEAVE);

	copy_str(c->name, sizeof c->name, name, NULL);
	copy_str(c->waiter, sizeof c->waiter, waiter, &c->has_waiter);
	return c->started;
}

static const char *fb_warning(struct backend *b)
{
	return ((struct fake_backend *)b)->warning;
}

static const char *fb_fault(struct backend *b)
{
	return ((struct fake_backend *)b)->fault;
}

static void fb_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	struct fake_backend *fb = (struct fake_backend *)b;

	fb->watched = true;
	fb->wake = wake;
	fb->resync = resync;
	fb->watch_arg = arg;
}

enum backend_start fake_floor(struct backend *b, const char *name, const char *token, int64_t fence, const char *adopt,
                              void (*cb)(void *arg, bool ok), void *arg)
{
	struct fake_call *c = record((struct fake_backend *)b, FAKE_FLOOR);

	copy_str(c->name, sizeof c->name, name, NULL);
	copy_str(c->token, sizeof c->token, token, &c->has_token);
	copy_str(c->adopt, sizeof c->adopt, adopt, &c->has_adopt);
	c->fence = fence;
	c->floor_cb = cb;
	c->arg = arg;
	return c->started;
}

/* ---- delivery ---- */

static void deliver(struct fake_call *c)
{
	c->delivered = true;
	switch (c->op) {
	case FAKE_LIST:
		c->list_cb(c->arg, &c->list);
		break;
	case FAKE_PING:
		c->ping_cb(c->arg, c->ok);
		break;
	case FAKE_FLOOR:
		c->floor_cb(c->arg, c->ok);
		break;
	default:
		c->lock_cb(c->arg, &c->reply);
		break;
	}
	/* The list's views need only live through the callback. */
	free(c->list.locks);
	c->list.locks = NULL;
}

static void free_all(struct fake_backend *fb)
{
	for (size_t i = 0; i < fb->ncalls; i++) {
		free(fb->calls[i]->list.locks);
		free(fb->calls[i]);
	}
	free(fb->calls);
	free(fb->warning);
	free(fb->fault);
	free(fb);
}

static void flush(void *arg)
{
	struct fake_backend *fb = arg;
	struct event *e = fb->head;

	fb->head = fb->tail = NULL;
	fb->flush_scheduled = false;
	if (fb->freed) {
		free_all(fb);
		return;
	}
	while (e) {
		struct event *next = e->next;
		if (e->kind == EV_ANSWER)
			deliver(e->call);
		else if (e->kind == EV_WAKE && fb->wake)
			fb->wake(fb->watch_arg, e->waiter);
		else if (e->kind == EV_RESYNC && fb->resync)
			fb->resync(fb->watch_arg);
		free(e);
		e = next;
	}
}

static void enqueue(struct fake_backend *fb, struct event *e)
{
	if (fb->tail)
		fb->tail->next = e;
	else
		fb->head = e;
	fb->tail = e;
	if (!fb->flush_scheduled) {
		if (loop_defer(fb->loop, flush, fb) < 0)
			die("loop_defer failed");
		fb->flush_scheduled = true;
	}
}

static void answer_call(struct fake_call *c, enum fake_op kind)
{
	struct event *e;

	if (c->started != BACKEND_STARTED)
		die("answering a call that was refused at start");
	if (c->answered)
		die("answering a call twice");
	if ((kind == FAKE_ANY && (c->op == FAKE_LIST || c->op == FAKE_PING || c->op == FAKE_FLOOR)) ||
	    (kind != FAKE_ANY && kind != c->op && !(kind == FAKE_PING && c->op == FAKE_FLOOR)))
		die("an answer of the wrong kind for this call");
	c->answered = true;
	e = xcalloc(1, sizeof *e);
	e->kind = EV_ANSWER;
	e->call = c;
	enqueue(c->fb, e);
}

void fake_answer_reply(struct fake_call *c, const struct lock_reply *reply)
{
	c->reply = *reply;
	answer_call(c, FAKE_ANY);
}

void fake_answer(struct fake_call *c, enum lock_outcome o, const struct lock_view *view)
{
	struct lock_reply r = {.outcome = o};

	if (view)
		r.view = *view;
	else
		snprintf(r.view.name, sizeof r.view.name, "%s", c->name);
	fake_answer_reply(c, &r);
}

void fake_answer_list(struct fake_call *c, enum lock_outcome o, const struct lock_view *locks, size_t n,
                      const char *next_cursor)
{
	c->list.outcome = o;
	c->list.count = n;
	c->list.locks = NULL;
	if (n) {
		c->list.locks = xcalloc(n, sizeof *locks);
		memcpy(c->list.locks, locks, n * sizeof *locks);
	}
	snprintf(c->list.next_cursor, sizeof c->list.next_cursor, "%s", next_cursor ? next_cursor : "");
	answer_call(c, FAKE_LIST);
}

void fake_answer_ok(struct fake_call *c, bool ok)
{
	c->ok = ok;
	answer_call(c, FAKE_PING);
}

void fake_wake(struct fake_backend *fb, const char *waiter)
{
	struct event *e = xcalloc(1, sizeof *e);

	e->kind = EV_WAKE;
	snprintf(e->waiter, sizeof e->waiter, "%s", waiter);
	enqueue(fb, e);
}

void fake_resync(struct fake_backend *fb)
{
	struct event *e = xcalloc(1, sizeof *e);

	e->kind = EV_RESYNC;
	enqueue(fb, e);
}

/* Stops: every pending callback (unanswered, or answered but not yet
 * delivered) runs now with LOCK_UNAVAILABLE; queued wake-ups are dropped. */
static void fb_free(struct backend *b)
{
	struct fake_backend *fb = (struct fake_backend *)b;
	struct event *e = fb->head;

	fb->head = fb->tail = NULL;
	while (e) {
		struct event *next = e->next;
		free(e);
		e = next;
	}
	for (size_t i = 0; i < fb->ncalls; i++) {
		struct fake_call *c = fb->calls[i];
		if (c->delivered)
			continue;
		c->answered = true;
		memset(&c->reply, 0, sizeof c->reply);
		c->reply.outcome = LOCK_UNAVAILABLE;
		snprintf(c->reply.view.name, sizeof c->reply.view.name, "%s", c->name);
		free(c->list.locks);
		memset(&c->list, 0, sizeof c->list);
		c->list.outcome = LOCK_UNAVAILABLE;
		c->ok = false;
		deliver(c);
	}
	if (fb->flush_scheduled)
		fb->freed = true; /* the deferred flush frees it */
	else
		free_all(fb);
}

static const struct backend_ops FAKE_OPS = {
    .acquire = fb_acquire,
    .renew = fb_renew,
    .release = fb_release,
    .inspect = fb_inspect,
    .list = fb_list,
    .ping = fb_ping,
    .leave = fb_leave,
    .warning = fb_warning,
    .fault = fb_fault,
    .watch = fb_watch,
    .free = fb_free,
};

struct fake_backend *fake_new(struct loop *loop)
{
	struct fake_backend *fb = xcalloc(1, sizeof *fb);

	fb->base.ops = &FAKE_OPS;
	fb->loop = loop;
	return fb;
}

struct backend *fake_backend(struct fake_backend *fb)
{
	return &fb->base;
}

void fake_refuse(struct fake_backend *fb, enum fake_op op, enum backend_start st, int count)
{
	if (op >= FAKE_OP_COUNT)
		die("fake_refuse: no such operation");
	fb->refuse_st[op] = st;
	fb->refuse_count[op] = st == BACKEND_STARTED ? 0 : count;
}

void fake_set_warning(struct fake_backend *fb, const char *warning)
{
	free(fb->warning);
	fb->warning = NULL;
	if (warning) {
		fb->warning = strdup(warning);
		if (!fb->warning)
			die("out of memory");
	}
}

void fake_set_fault(struct fake_backend *fb, const char *fault)
{
	free(fb->fault);
	fb->fault = NULL;
	if (fault) {
		fb->fault = strdup(fault);
		if (!fb->fault)
			die("out of memory");
	}
}

bool fake_watched(const struct fake_backend *fb)
{
	return fb->watched;
}

/* ---- the call log ---- */

size_t fake_ncalls(const struct fake_backend *fb)
{
	return fb->ncalls;
}

struct fake_call *fake_call_at(const struct fake_backend *fb, size_t i)
{
	return i < fb->ncalls ? fb->calls[i] : NULL;
}

static bool op_matches(const struct fake_call *c, enum fake_op op)
{
	return op == FAKE_ANY || c->op == op;
}

unsigned fake_count(const struct fake_backend *fb, enum fake_op op)
{
	unsigned k = 0;
	for (size_t i = 0; i < fb->ncalls; i++)
		k += op_matches(fb->calls[i], op);
	return k;
}

unsigned fake_pending(const struct fake_backend *fb, enum fake_op op)
{
	unsigned k = 0;
	for (size_t i = 0; i < fb->ncalls; i++)
		k += op_matches(fb->calls[i], op) && !fb->calls[i]->answered;
	return k;
}

struct fake_call *fake_next(const struct fake_backend *fb, enum fake_op op)
{
	for (size_t i = 0; i < fb->ncalls; i++)
		if (op_matches(fb->calls[i], op) && !fb->calls[i]->answered)
			return fb->calls[i];
	return NULL;
}

struct fake_call *fake_last(const struct fake_backend *fb, enum fake_op op)
{
	for (size_t i = fb->ncalls; i > 0; i--)
		if (op_matches(fb->calls[i - 1], op))
			return fb->calls[i - 1];
	return NULL;
}

void fake_forget(struct fake_backend *fb)
{
	size_t k = 0;

	for (size_t i = 0; i < fb->ncalls; i++) {
		struct fake_call *c = fb->calls[i];
		if (c->answered && c->delivered) {
			free(c->list.locks);
			free(c);
		} else {
			fb->calls[k++] = c;
		}
	}
	fb->ncalls = k;
}

/* ---- driving the loop ---- */

static void stop_loop(void *arg)
{
	loop_stop(arg);
}

void fake_turn(struct loop *loop)
{
	if (loop_defer(loop, stop_loop, loop) < 0)
		die("loop_defer failed");
	loop_run(loop);
}

struct poll {
	struct loop *loop;
	struct loop_timer timer;
	bool (*pred)(void *arg);
	void *arg;
	uint64_t deadline;
	bool result;
};

static void on_poll(void *arg)
{
	struct poll *p = arg;
	uint64_t now = loop_now_ms(p->loop);

	if (p->pred && p->pred(p->arg)) {
		p->result = true;
		loop_stop(p->loop);
	} else if (now >= p->deadline) {
		loop_stop(p->loop);
	} else {
		loop_timer_start(p->loop, &p->timer, now + 1);
	}
}

bool fake_run_until(struct loop *loop, bool (*pred)(void *arg), void *arg, unsigned max_ms)
{
	struct poll p = {.loop = loop, .pred = pred, .arg = arg};

	if (pred && pred(arg))
		return true;
	p.deadline = loop_update_now(loop) + max_ms;
	loop_timer_init(&p.timer, on_poll, &p);
	loop_timer_start(loop, &p.timer, pred ? loop_now_ms(loop) : p.deadline);
	loop_run(loop);
	loop_timer_stop(loop, &p.timer);
	return pred ? pred(arg) : true;
}

void fake_run_for(struct loop *loop, unsigned ms)
{
	fake_run_until(loop, NULL, NULL, ms);
}

struct calls_pred {
	struct fake_backend *fb;
	enum fake_op op;
	unsigned n;
};

static bool more_calls(void *arg)
{
	struct calls_pred *cp = arg;
	return fake_count(cp->fb, cp->op) > cp->n;
}

bool fake_run_until_calls(struct loop *loop, struct fake_backend *fb, enum fake_op op, unsigned n, unsigned max_ms)
{
	struct calls_pred cp = {fb, op, n};
	return fake_run_until(loop, more_calls, &cp, max_ms);
}
