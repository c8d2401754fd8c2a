/* loop: epoll + timer heap + prepare hooks + deferred calls. See loop.h. */
#include "base/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { MAX_EVENTS = 256, MAX_PREPARE = 8 };

struct deferred {
	loop_defer_fn *fn;
	void *arg;
};

struct loop {
	int epfd;
	bool stopping;
	uint64_t now_ms;

	struct loop_timer **heap;
	size_t heap_len, heap_cap;

	struct {
		loop_prepare_fn *fn;
		void *arg;
	} prepare[MAX_PREPARE];
	size_t nprepare;

	struct deferred *defer;
	size_t defer_len, defer_cap;

	struct loop_watch wake;
	loop_defer_fn *on_wake;
	void *on_wake_arg;
};

uint64_t loop_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void wake_readable(void *arg, unsigned events)
{
	struct loop *loop = arg;
	uint64_t n;
	(void)events;
	while (read(loop->wake.fd, &n, sizeof n) > 0)
		;
	if (loop->on_wake)
		loop->on_wake(loop->on_wake_arg);
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof *loop);
	int efd = -1;

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail_loop;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		goto fail_epoll;
	loop->now_ms = loop_clock_us() / 1000u;
	loop_watch_init(&loop->wake, efd, wake_readable, loop);
	if (loop_watch_set(loop, &loop->wake, LOOP_READ) < 0)
		goto fail_eventfd;
	return loop;

fail_eventfd:
	close(efd);
fail_epoll:
	close(loop->epfd);
fail_loop:
	free(loop);
	return NULL;
}

static void run_deferred(struct loop *loop);

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	run_deferred(loop);
	close(loop->wake.fd);
	close(loop->epfd);
	free(loop->heap);
	free(loop->defer);
	free(loop);
}

uint64_t loop_now_ms(const struct loop *loop)
{
	return loop->now_ms;
}

uint64_t loop_update_now(struct loop *loop)
{
	loop->now_ms = loop_clock_us() / 1000u;
	return loop->now_ms;
}

void loop_watch_init(struct loop_watch *w, int fd, loop_io_fn *cb, void *arg)
{
	w->fd = fd;
	w->events = 0;
	w->cb = cb;
	w->arg = arg;
}

int loop_watch_set(struct loop *loop, struct loop_watch *w, unsigned events)
{
	struct epoll_event ev = {0};
	int op;

	if (events == w->events)
		return 0;
	ev.events = ((events & LOOP_READ) ? EPOLLIN : 0) | ((events & LOOP_WRITE) ? EPOLLOUT : 0) |
	            ((events & LOOP_HANGUP) ? EPOLLRDHUP : 0);
	ev.data.ptr = w;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else if (w->events == 0)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(loop->epfd, op, w->fd, &ev) < 0)
		return -1;
	w->events = events;
	return 0;
}

/* ---- timers: a binary min-heap ordered by at_ms ---- */

void loop_timer_init(struct loop_timer *t, loop_timer_fn *cb, void *arg)
{
	t->at_ms = 0;
	t->heap_index = -1;
	t->cb = cb;
	t->arg = arg;
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_index >= 0;
}

static void heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = (long)i;
}

static void heap_up(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->at_ms <= t->at_ms)
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && loop->heap[child + 1]->at_ms < loop->heap[child]->at_ms)
			child++;
		if (loop->heap[child]->at_ms >= t->at_ms)
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

void loop_timer_stop(struct loop *loop, struct loop_timer *t)
{
	size_t i;
	struct loop_timer *last;

	if (t->heap_index < 0)
		return;
	i = (size_t)t->heap_index;
	t->heap_index = -1;
	last = loop->heap[--loop->heap_len];
	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, (size_t)last->heap_index);
}

void loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t at_ms)
{
	loop_timer_stop(loop, t);
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct loop_timer **heap = realloc(loop->heap, cap * sizeof *heap);
		if (!heap) {
			fprintf(stderr, "dlockd: out of memory for %zu timers; aborting\n", cap);
			abort();
		}
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t->at_ms = at_ms;
	heap_set(loop, loop->heap_len++, t);
	heap_up(loop, (size_t)t->heap_index);
}

static void run_timers(struct loop *loop)
{
	uint64_t now = loop_update_now(loop);
	while (loop->heap_len > 0 && loop->heap[0]->at_ms <= now) {
		struct loop_timer *t = loop->heap[0];
		loop_timer_stop(loop, t);
		t->cb(t->arg);
	}
}

/* ---- hooks ---- */

int loop_add_prepare(struct loop *loop, loop_prepare_fn *fn, void *arg)
{
	if (loop->nprepare == MAX_PREPARE)
		return -1;
	loop->prepare[loop->nprepare].fn = fn;
	loop->prepare[loop->nprepare].arg = arg;
	loop->nprepare++;
	return 0;
}

int loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg)
{
	if (loop->defer_len == loop->defer_cap) {
		size_t cap = loop->defer_cap ? loop->defer_cap * 2 : 32;
		struct deferred *d = realloc(loop->defer, cap * sizeof *d);
		if (!d) {
			errno = ENOMEM;
			return -1;
		}
		loop->defer = d;
		loop->defer_cap = cap;
	}
	loop->defer[loop->defer_len].fn = fn;
	loop->defer[loop->defer_len].arg = arg;
	loop->defer_len++;
	return 0;
}

static void run_deferred(struct loop *loop)
{
	/* Deferred calls may defer more; those run in the same pass. */
	for (size_t i = 0; i < loop->defer_len; i++)
		loop->defer[i].fn(loop->defer[i].arg);
	loop->defer_len = 0;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}

void loop_wake(struct loop *loop)
{
	uint64_t one = 1;
	ssize_t n = write(loop->wake.fd, &one, sizeof one);
	(void)n; /* EAGAIN means a wake-up is already pending */
}

void loop_set_wake_handler(struct loop *loop, loop_defer_fn *on_wake, void *arg)
{
	loop->on_wake = on_wake;
	loop->on_wake_arg = arg;
}

static int wait_timeout(struct loop *loop)
{
	int timeout = -1;

	for (size_t i = 0; i < loop->nprepare; i++) {
		int cap = loop->prepare[i].fn(loop->prepare[i].arg);
		if (cap >= 0 && (timeout < 0 || cap < timeout))
			timeout = cap;
	}
	if (loop->defer_len > 0)
		return 0;
	if (loop->heap_len > 0) {
		uint64_t now = loop_update_now(loop);
		uint64_t at = loop->heap[0]->at_ms;
		int until = at <= now ? 0 : (at - now > 60000 ? 60000 : (int)(at - now));
		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	return timeout;
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[MAX_EVENTS];

	loop->stopping = false;
	while (!loop->stopping) {
		int n = epoll_wait(loop->epfd, events, MAX_EVENTS, wait_timeout(loop));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		loop_update_now(loop);
		for (int i = 0; i < n; i++) {
			struct loop_watch *w = events[i].data.ptr;
			unsigned ev = 0;
			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				ev |= LOOP_READ;
			if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				ev |= LOOP_WRITE;
			if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				ev |= LOOP_HANGUP;
			ev &= w->events;
			if (ev)
				w->cb(w->arg, ev);
		}
		run_timers(loop);
		run_deferred(loop);
	}
	return 0;
}
