/* Unit tests for loop.c: timers, deferred calls, stop, cross-thread wake-ups,
 * fd watches and prepare hooks. Every loop_run() here has a watchdog timer,
 * and alarm() ends the program if a loop hangs anyway. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/loop.h"
#include "unit.h"

enum { WATCHDOG_MS = 5000, MAX_REC = 1024 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The order things happened in. */
static int rec[MAX_REC];
static size_t nrec;

static void record(int id)
{
	if (nrec < MAX_REC)
		rec[nrec++] = id;
}

static const char *rec_str(void)
{
	static char buf[512];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nrec && o < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d", i ? "," : "", rec[i]);
	return buf;
}

static void check_rec(int line, const int *want, size_t n, const char *what)
{
	bool same = nrec == n;
	for (size_t i = 0; same && i < n; i++)
		same = rec[i] == want[i];
	if (!same) {
		char w[256];
		size_t o = 0;
		w[0] = '\0';
		for (size_t i = 0; i < n && o < sizeof w; i++)
			o += (size_t)snprintf(w + o, sizeof w - o, "%s%d", i ? "," : "", want[i]);
		unit_check_(false, __FILE__, line, "%s: expected order %s, got %s", what, w, rec_str());
	} else {
		unit_check_(true, __FILE__, line, "%s", what);
	}
}

/* A timer that records its id and when it ran. */
struct tmr {
	struct loop *loop;
	struct loop_timer t;
	int id;
	int fires;
	bool stop; /* loop_stop() when it fires */
	bool late; /* it ran before its deadline */
	uint64_t ran_at;
};

static void on_tmr(void *arg)
{
	struct tmr *x = arg;
	x->fires++;
	x->ran_at = loop_now_ms(x->loop);
	if (x->ran_at < x->t.at_ms)
		x->late = true;
	record(x->id);
	if (x->stop)
		loop_stop(x->loop);
}

static void tmr_init(struct tmr *x, struct loop *loop, int id)
{
	memset(x, 0, sizeof *x);
	x->loop = loop;
	x->id = id;
	loop_timer_init(&x->t, on_tmr, x);
}

/* Fails the test if it fires: the loop did not end by itself. */
struct watchdog {
	struct loop *loop;
	struct loop_timer t;
	bool fired;
};

static void on_watchdog(void *arg)
{
	struct watchdog *w = arg;
	w->fired = true;
	loop_stop(w->loop);
}

static void watchdog_start(struct watchdog *w, struct loop *loop)
{
	w->loop = loop;
	w->fired = false;
	loop_timer_init(&w->t, on_watchdog, w);
	loop_timer_start(loop, &w->t, loop_update_now(loop) + WATCHDOG_MS);
}

static bool watchdog_end(struct watchdog *w, int line, const char *what)
{
	loop_timer_stop(w->loop, &w->t);
	return unit_check_(!w->fired, __FILE__, line, "%s: the loop did not stop by itself within %d ms", what,
	                   WATCHDOG_MS);
}

static struct loop *new_loop(void)
{
	struct loop *loop = loop_new();
	if (!loop) {
		printf("FAIL %s:%d: loop_new() failed: %s\n", __FILE__, __LINE__, strerror(errno));
		printf("%u passed, %u failed\n", unit_passed_, unit_failed_ + 1);
		exit(1);
	}
	return loop;
}

/* ---- timers ---- */

static void test_timer_order(void)
{
	struct loop *loop = new_loop();
	struct tmr t[7];
	static const int OFFSET[6] = {30, 0, 20, 10, 25, 5};
	struct watchdog wd;
	uint64_t base = loop_update_now(loop);
	int rc;

	nrec = 0;
	for (int i = 0; i < 7; i++)
		tmr_init(&t[i], loop, i);
	CHECK(!loop_timer_armed(&t[0].t), "a new timer is not armed");
	for (int i = 0; i < 6; i++) {
		loop_timer_start(loop, &t[i].t, base + (uint64_t)OFFSET[i]);
		CHECK(loop_timer_armed(&t[i].t), "loop_timer_start(%d) armed it", i);
	}
	t[6].stop = true;
	loop_timer_start(loop, &t[6].t, base + 45);
	CHECK(loop_timer_armed(&t[4].t), "timer 4 is armed after start");
	loop_timer_stop(loop, &t[4].t); /* stopped: never fires */
	CHECK(!loop_timer_armed(&t[4].t), "timer 4 is not armed after stop");
	loop_timer_stop(loop, &t[4].t);             /* stopping twice is harmless */
	loop_timer_start(loop, &t[1].t, base + 15); /* re-armed: moves from 0 to 15 */
	CHECK(loop_timer_armed(&t[1].t), "timer 1 is armed after re-arming");
	watchdog_start(&wd, loop);
	rc = loop_run(loop);
	CHECK_INT(rc, 0, "loop_run() after loop_stop()");
	watchdog_end(&wd, __LINE__, "timer order");
	{
		static const int want[] = {5, 3, 1, 2, 0, 6};
		check_rec(__LINE__, want, sizeof want / sizeof want[0], "timers fire in deadline order");
	}
	for (int i = 0; i < 7; i++) {
		CHECK(t[i].fires == (i == 4 ? 0 : 1), "timer %d fired %d times", i, t[i].fires);
		CHECK(!t[i].late, "timer %d ran at %llu, before its deadline %llu", i, (unsigned long long)t[i].ran_at,
		      (unsigned long long)t[i].t.at_ms);
		CHECK(!loop_timer_armed(&t[i].t), "timer %d is still armed", i);
	}
	CHECK(t[1].ran_at >= base + 15, "the re-armed timer ran at +%llu ms, before +15",
	      (unsigned long long)(t[1].ran_at - base));
	loop_free(loop);
}

/* Many timers, stopped and re-armed at random: the heap must hand them out in order. */
struct htmr {
	struct loop_timer t;
	int fires;
};

static uint64_t last_at;
static bool out_of_order;
static int heap_fires;

static void on_htmr(void *arg)
{
	struct htmr *h = arg;
	if (h->t.at_ms < last_at)
		out_of_order = true;
	last_at = h->t.at_ms;
	h->fires++;
	heap_fires++;
}

static void test_timer_heap(void)
{
	enum { N = 500 };
	struct loop *loop = new_loop();
	struct htmr *h = calloc(N, sizeof *h);
	bool *armed = calloc(N, sizeof *armed);
	struct tmr stop;
	struct watchdog wd;
	uint32_t seed = 42;
	uint64_t base = loop_update_now(loop);
	int want_fires = 0, bad = 0;

	if (!h || !armed)
		abort();
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		loop_timer_init(&h[i].t, on_htmr, &h[i]);
		/* deadlines from the past to +40 ms, with many ties */
		loop_timer_start(loop, &h[i].t, base - 20 + (seed >> 16) % 60);
		armed[i] = true;
	}
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		switch ((seed >> 16) % 4) {
		case 0:
			loop_timer_stop(loop, &h[i].t);
			armed[i] = false;
			break;
		case 1:
			seed = seed * 1103515245u + 12345u;
			loop_timer_start(loop, &h[i].t, base - 20 + (seed >> 16) % 60);
			armed[i] = true;
			break;
		default:
			break;
		}
	}
	for (int i = 0; i < N; i += 7) { /* stop some, then re-arm them */
		loop_timer_stop(loop, &h[i].t);
		loop_timer_start(loop, &h[i].t, base + 30);
		armed[i] = true;
	}
	for (int i = 0; i < N; i++) {
		want_fires += armed[i];
		if (loop_timer_armed(&h[i].t) != armed[i])
			bad++;
	}
	CHECK(bad == 0, "%d timers have the wrong loop_timer_armed()", bad);
	tmr_init(&stop, loop, 0);
	stop.stop = true;
	loop_timer_start(loop, &stop.t, base + 60);
	watchdog_start(&wd, loop);
	last_at = 0;
	out_of_order = false;
	heap_fires = 0;
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "timer heap");
	CHECK(!out_of_order, "timers fired out of deadline order");
	CHECK_INT(heap_fires, want_fires, "timers fired");
	bad = 0;
	for (int i = 0; i < N; i++)
		if (h[i].fires != (armed[i] ? 1 : 0) || loop_timer_armed(&h[i].t))
			bad++;
	CHECK(bad == 0, "%d timers fired the wrong number of times or stayed armed", bad);
	loop_free(loop);
	free(h);
	free(armed);
}

/* Stopping whichever timer sits in the heap's last slot, the only one included. */
static void test_timer_stop_edges(void)
{
	struct loop *loop = new_loop();
	struct tmr a, b, c, s;
	struct watchdog wd;
	uint64_t base = loop_update_now(loop);

	nrec = 0;
	tmr_init(&a, loop, 1);
	tmr_init(&b, loop, 2);
	tmr_init(&c, loop, 3);
	tmr_init(&s, loop, 9);
	s.stop = true;

	loop_timer_start(loop, &a.t, base + 5);
	loop_timer_stop(loop, &a.t); /* the only timer */
	CHECK(!loop_timer_armed(&a.t), "the only timer is still armed after stop");

	loop_timer_start(loop, &a.t, base + 5);
	loop_timer_start(loop, &b.t, base + 10); /* the last slot */
	loop_timer_stop(loop, &b.t);
	CHECK(!loop_timer_armed(&b.t), "the timer in the last slot is still armed after stop");
	CHECK(loop_timer_armed(&a.t), "stopping another timer disarmed the first");
	loop_timer_start(loop, &c.t, base + 15);
	loop_timer_stop(loop, &a.t); /* the root, with one other left */
	CHECK(!loop_timer_armed(&a.t) && loop_timer_armed(&c.t), "after stopping the root: a armed %d, c armed %d",
	      loop_timer_armed(&a.t), loop_timer_armed(&c.t));
	loop_timer_start(loop, &s.t, base + 20);
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "timer stop edges");
	{
		static const int want[] = {3, 9};
		check_rec(__LINE__, want, sizeof want / sizeof want[0], "only the timers still armed fire");
	}
	CHECK(!loop_timer_armed(&c.t) && !loop_timer_armed(&s.t), "fired timers are still armed");
	loop_free(loop);
}

/* A timer's callback may stop another timer due in the same turn, and re-arm itself. */
struct chain {
	struct loop *loop;
	struct loop_timer t;
	struct tmr *victim;
	int fires, repeat;
};

static void on_chain(void *arg)
{
	struct chain *c = arg;
	c->fires++;
	record(100 + c->fires);
	if (c->victim)
		loop_timer_stop(c->loop, &c->victim->t);
	if (c->fires < c->repeat)
		loop_timer_start(c->loop, &c->t, loop_now_ms(c->loop) + 2);
	else
		loop_stop(c->loop);
}

static void test_timer_callbacks(void)
{
	struct loop *loop = new_loop();
	struct chain c = {.loop = loop, .repeat = 3};
	struct tmr victim;
	struct watchdog wd;
	uint64_t base = loop_update_now(loop);

	nrec = 0;
	tmr_init(&victim, loop, 1);
	c.victim = &victim;
	loop_timer_init(&c.t, on_chain, &c);
	loop_timer_start(loop, &c.t, base - 2);
	loop_timer_start(loop, &victim.t, base - 1); /* due in the same turn, after c */
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "timer callbacks");
	CHECK_INT(victim.fires, 0, "a timer stopped by an earlier callback of the same turn fired");
	CHECK_INT(c.fires, 3, "a timer re-arming itself: fires");
	{
		static const int want[] = {101, 102, 103};
		check_rec(__LINE__, want, sizeof want / sizeof want[0], "self re-arming timer");
	}
	loop_free(loop);
}

/* ---- deferred calls ---- */

struct dctx {
	struct loop *loop;
	int id;
	struct dctx *next; /* deferred from this one's call */
	bool stop;
};

static void on_defer(void *arg)
{
	struct dctx *d = arg;
	record(d->id);
	if (d->next)
		loop_defer(d->loop, on_defer, d->next);
	if (d->stop)
		loop_stop(d->loop);
}

struct deferring_timer {
	struct loop *loop;
	struct loop_timer t;
	struct dctx *d;
	int id;
};

static void on_deferring_timer(void *arg)
{
	struct deferring_timer *x = arg;
	record(x->id);
	CHECK(loop_defer(x->loop, on_defer, x->d) == 0, "loop_defer() from a timer");
}

static void test_defer(void)
{
	struct loop *loop = new_loop();
	struct dctx d2 = {.loop = loop, .id = 12}, d1 = {.loop = loop, .id = 11, .next = &d2};
	struct deferring_timer a = {.loop = loop, .d = &d1, .id = 1};
	struct tmr b, c;
	struct watchdog wd;
	uint64_t base = loop_update_now(loop);

	/* A defers D1 (which defers D2); B is due in the same turn; C in a later one. */
	nrec = 0;
	loop_timer_init(&a.t, on_deferring_timer, &a);
	tmr_init(&b, loop, 2);
	tmr_init(&c, loop, 3);
	c.stop = true;
	loop_timer_start(loop, &a.t, base - 2);
	loop_timer_start(loop, &b.t, base - 1);
	loop_timer_start(loop, &c.t, base + 10);
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "defer");
	{
		static const int want[] = {1, 2, 11, 12, 3};
		check_rec(__LINE__, want, sizeof want / sizeof want[0], "deferred calls run after the turn's timers");
	}

	/* A call deferred before loop_run() runs in the first turn without waiting. */
	{
		struct dctx s = {.loop = loop, .id = 20, .stop = true};
		struct timespec t0, t1;
		long ms;
		nrec = 0;
		watchdog_start(&wd, loop);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		loop_defer(loop, on_defer, &s);
		loop_run(loop);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		watchdog_end(&wd, __LINE__, "defer before run");
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		CHECK(nrec == 1 && rec[0] == 20, "a call deferred before loop_run() ran: %s", rec_str());
		CHECK(ms < 1000, "loop_run() with a pending deferred call slept %ld ms", ms);
	}

	/* Many deferred calls (the queue grows) run in order. */
	{
		enum { N = 200 };
		struct dctx *ds = calloc(N, sizeof *ds);
		bool in_order = true;
		if (!ds)
			abort();
		nrec = 0;
		for (int i = 0; i < N; i++) {
			ds[i] = (struct dctx){.loop = loop, .id = i, .stop = i == N - 1};
			loop_defer(loop, on_defer, &ds[i]);
		}
		watchdog_start(&wd, loop);
		loop_run(loop);
		watchdog_end(&wd, __LINE__, "many deferred");
		for (int i = 0; i < N; i++)
			in_order = in_order && (size_t)i < nrec && rec[i] == i;
		CHECK(nrec == N && in_order, "%d deferred calls ran in order (%zu ran)", N, nrec);
		free(ds);
	}

	/* loop_free() runs what is still deferred. */
	{
		struct dctx f = {.loop = loop, .id = 30};
		nrec = 0;
		loop_defer(loop, on_defer, &f);
		loop_free(loop);
		CHECK(nrec == 1 && rec[0] == 30, "loop_free() ran the pending deferred call: %s", rec_str());
	}
}

/* ---- stop ---- */

static void test_stop(void)
{
	struct loop *loop = new_loop();
	struct tmr s, later;
	struct watchdog wd;
	uint64_t base = loop_update_now(loop);
	int rc;

	tmr_init(&s, loop, 1);
	tmr_init(&later, loop, 2);
	s.stop = true;
	loop_timer_start(loop, &s.t, base + 5);
	loop_timer_start(loop, &later.t, base + WATCHDOG_MS / 2); /* far enough never to share a turn with s */
	watchdog_start(&wd, loop);
	rc = loop_run(loop);
	watchdog_end(&wd, __LINE__, "stop");
	CHECK_INT(rc, 0, "loop_run() return value");
	CHECK(s.fires == 1 && later.fires == 0, "after loop_stop(): stopper fired %d, later fired %d", s.fires,
	      later.fires);
	CHECK(loop_timer_armed(&later.t), "a timer not yet due stays armed after loop_run() returns");

	/* the loop runs again after a stop */
	later.stop = true;
	loop_timer_start(loop, &later.t, loop_update_now(loop) + 5);
	watchdog_start(&wd, loop);
	rc = loop_run(loop);
	watchdog_end(&wd, __LINE__, "run again");
	CHECK(rc == 0 && later.fires == 1, "a second loop_run(): rc %d, later fired %d", rc, later.fires);
	loop_free(loop);
}

/* ---- time ---- */

static void test_time(void)
{
	struct loop *loop = new_loop();
	uint64_t a = loop_update_now(loop), b;

	CHECK(loop_now_ms(loop) == a, "loop_now_ms() is the cached value");
	sleep_ms(20);
	CHECK(loop_now_ms(loop) == a, "loop_now_ms() does not move by itself");
	b = loop_update_now(loop);
	CHECK(b >= a + 19 && b < a + 5000, "loop_update_now() moved %llu ms over a 20 ms sleep",
	      (unsigned long long)(b - a));
	CHECK(loop_now_ms(loop) == b, "loop_now_ms() after loop_update_now()");
	loop_free(loop);
	loop_free(NULL);
	CHECK(true, "loop_free(NULL)");
}

/* ---- cross-thread wake-ups ---- */

struct wctx {
	struct loop *loop;
	pthread_t loop_thread;
	int calls;
	bool wrong_thread;
	int wakes; /* how many loop_wake() calls the thread makes */
	long delay_ms;
};

static void on_wake(void *arg)
{
	struct wctx *w = arg;
	w->calls++;
	if (!pthread_equal(pthread_self(), w->loop_thread))
		w->wrong_thread = true;
	loop_stop(w->loop);
}

static void *waker(void *arg)
{
	struct wctx *w = arg;
	sleep_ms(w->delay_ms);
	for (int i = 0; i < w->wakes; i++)
		loop_wake(w->loop);
	return NULL;
}

static void test_wake(void)
{
	static const struct {
		int wakes;
		long delay_ms;
	} T[] = {{1, 20}, {1, 0}, {1000, 10}};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct loop *loop = new_loop();
		struct wctx w = {
		    .loop = loop, .loop_thread = pthread_self(), .wakes = T[i].wakes, .delay_ms = T[i].delay_ms};
		struct watchdog wd;
		pthread_t th;

		loop_set_wake_handler(loop, on_wake, &w);
		watchdog_start(&wd, loop);
		if (!CHECK(pthread_create(&th, NULL, waker, &w) == 0, "pthread_create")) {
			loop_timer_stop(loop, &wd.t);
			loop_free(loop);
			continue;
		}
		loop_run(loop);
		pthread_join(th, NULL);
		watchdog_end(&wd, __LINE__, "loop_wake from another thread");
		CHECK(w.calls >= 1 && w.calls <= T[i].wakes, "%d loop_wake() calls: the handler ran %d times",
		      T[i].wakes, w.calls);
		CHECK(!w.wrong_thread, "the wake handler ran on another thread than the loop's");
		loop_free(loop);
	}

	/* a wake-up before loop_run() is not lost */
	{
		struct loop *loop = new_loop();
		struct wctx w = {.loop = loop, .loop_thread = pthread_self()};
		struct watchdog wd;

		loop_set_wake_handler(loop, on_wake, &w);
		loop_wake(loop);
		watchdog_start(&wd, loop);
		loop_run(loop);
		watchdog_end(&wd, __LINE__, "loop_wake before loop_run");
		CHECK_INT(w.calls, 1, "wake handler calls after an early loop_wake()");
		loop_free(loop);
	}
}

/* ---- fd watches ---- */

struct pctx {
	struct loop *loop;
	struct loop_watch w;
	int calls;
	unsigned events;
	char got[16];
	size_t ngot;
	bool stop;
};

static void on_readable(void *arg, unsigned events)
{
	struct pctx *p = arg;
	ssize_t n;
	p->calls++;
	p->events |= events;
	while ((n = read(p->w.fd, p->got + p->ngot, sizeof p->got - p->ngot)) > 0)
		p->ngot += (size_t)n;
	if (p->stop)
		loop_stop(p->loop);
}

struct writer {
	struct loop *loop;
	struct loop_timer t;
	int fd;
	const char *data;
	bool close_it;
};

static void on_writer(void *arg)
{
	struct writer *x = arg;
	if (x->close_it) {
		close(x->fd);
		return;
	}
	if (write(x->fd, x->data, strlen(x->data)) < 0)
		CHECK(false, "write to the pipe: %s", strerror(errno));
}

static void test_watch(void)
{
	struct loop *loop = new_loop();
	int fds[2];
	struct pctx rd = {.loop = loop, .stop = true};
	struct writer wr = {.loop = loop, .data = "x"};
	struct tmr stop;
	struct watchdog wd;
	uint64_t base;

	if (!CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe2: %s", strerror(errno))) {
		loop_free(loop);
		return;
	}
	loop_watch_init(&rd.w, fds[0], on_readable, &rd);
	CHECK(rd.w.events == 0, "a new watch has no events");
	CHECK(loop_watch_set(loop, &rd.w, LOOP_READ) == 0, "loop_watch_set(LOOP_READ)");
	CHECK(rd.w.events == LOOP_READ, "watch events after set: %u", rd.w.events);
	CHECK(loop_watch_set(loop, &rd.w, LOOP_READ) == 0, "loop_watch_set() with the same events again");

	/* a write from a timer makes the read end readable */
	wr.fd = fds[1];
	loop_timer_init(&wr.t, on_writer, &wr);
	base = loop_update_now(loop);
	loop_timer_start(loop, &wr.t, base + 10);
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "pipe watch");
	CHECK(rd.calls == 1 && (rd.events & LOOP_READ) && !(rd.events & LOOP_WRITE),
	      "read watch: %d calls, events %u (want 1 call with LOOP_READ only)", rd.calls, rd.events);
	CHECK(rd.ngot == 1 && rd.got[0] == 'x', "read %zu bytes from the pipe", rd.ngot);

	/* a removed watch is not called */
	CHECK(loop_watch_set(loop, &rd.w, 0) == 0 && rd.w.events == 0, "loop_watch_set(0)");
	rd.calls = 0;
	rd.stop = false;
	wr.data = "y";
	base = loop_update_now(loop);
	loop_timer_start(loop, &wr.t, base + 2);
	tmr_init(&stop, loop, 1);
	stop.stop = true;
	loop_timer_start(loop, &stop.t, base + 30);
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "removed watch");
	CHECK_INT(rd.calls, 0, "callbacks of a removed watch");

	/* re-added, it sees the byte still waiting */
	rd.stop = true;
	rd.ngot = 0;
	CHECK(loop_watch_set(loop, &rd.w, LOOP_READ) == 0, "loop_watch_set(LOOP_READ) again");
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "re-added watch");
	CHECK(rd.calls == 1 && rd.ngot == 1 && rd.got[0] == 'y', "re-added watch: %d calls, %zu bytes", rd.calls,
	      rd.ngot);

	/* a write watch on the write end fires at once */
	{
		struct pctx ww = {.loop = loop, .stop = true};
		loop_watch_init(&ww.w, fds[1], on_readable, &ww);
		CHECK(loop_watch_set(loop, &ww.w, LOOP_WRITE) == 0, "loop_watch_set(LOOP_WRITE)");
		watchdog_start(&wd, loop);
		loop_run(loop);
		watchdog_end(&wd, __LINE__, "write watch");
		CHECK(ww.calls >= 1 && (ww.events & LOOP_WRITE) && !(ww.events & LOOP_READ),
		      "write watch: %d calls, events %u (want LOOP_WRITE only)", ww.calls, ww.events);
		loop_watch_set(loop, &ww.w, 0);
	}

	/* closing the write end wakes the reader (hang-up reads as LOOP_READ) */
	rd.calls = 0;
	rd.events = 0;
	wr.close_it = true;
	loop_timer_start(loop, &wr.t, loop_update_now(loop) + 5);
	watchdog_start(&wd, loop);
	loop_run(loop);
	watchdog_end(&wd, __LINE__, "hang-up");
	CHECK(rd.calls >= 1 && (rd.events & LOOP_READ), "after the writer closed: %d calls, events %u", rd.calls,
	      rd.events);
	loop_watch_set(loop, &rd.w, 0);
	close(fds[0]);
	loop_free(loop);
}

/* LOOP_HANGUP: reported when asked for and the peer closed; masked otherwise. */
static void test_hangup(void)
{
	static const struct {
		int line;
		unsigned want_events; /* registered */
		bool peer_writes, peer_shuts;
		unsigned expect; /* events seen */
	} T[] = {
	    {__LINE__, LOOP_READ | LOOP_HANGUP, true, false, LOOP_READ},
	    {__LINE__, LOOP_READ | LOOP_HANGUP, false, true, LOOP_READ | LOOP_HANGUP},
	    {__LINE__, LOOP_READ | LOOP_HANGUP, true, true, LOOP_READ | LOOP_HANGUP},
	    {__LINE__, LOOP_READ, false, true, LOOP_READ},
	    {__LINE__, LOOP_HANGUP, false, true, LOOP_HANGUP},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct loop *loop = new_loop();
		struct pctx rd = {.loop = loop, .stop = true};
		struct watchdog wd;
		int sv[2];

		if (!unit_check_(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, __FILE__,
		                 T[i].line, "socketpair: %s", strerror(errno))) {
			loop_free(loop);
			continue;
		}
		if (T[i].peer_writes && write(sv[1], "z", 1) != 1)
			CHECK(false, "write: %s", strerror(errno));
		if (T[i].peer_shuts)
			shutdown(sv[1], SHUT_WR);
		loop_watch_init(&rd.w, sv[0], on_readable, &rd);
		CHECK(loop_watch_set(loop, &rd.w, T[i].want_events) == 0, "loop_watch_set(%u)", T[i].want_events);
		watchdog_start(&wd, loop);
		loop_run(loop);
		watchdog_end(&wd, T[i].line, "hang-up watch");
		unit_check_(rd.calls >= 1 && rd.events == T[i].expect, __FILE__, T[i].line,
		            "registered %u, peer %s%s: %d calls, events %u, expected %u", T[i].want_events,
		            T[i].peer_writes ? "wrote" : "", T[i].peer_shuts ? " shut down" : "", rd.calls, rd.events,
		            T[i].expect);
		loop_watch_set(loop, &rd.w, 0);
		close(sv[0]);
		close(sv[1]);
		loop_free(loop);
	}
}

/* ---- prepare hooks ---- */

struct prep {
	struct loop *loop;
	int calls;
	int cap;
};

static int on_prepare(void *arg)
{
	struct prep *p = arg;
	if (++p->calls == 3)
		loop_stop(p->loop);
	return p->cap;
}

static void test_prepare(void)
{
	struct loop *loop = new_loop();
	struct prep p = {.loop = loop, .cap = 5}, q = {.loop = loop, .cap = -1};
	struct watchdog wd;
	struct timespec t0, t1;
	long ms;

	/* with nothing to do, the loop still wakes up within the hook's limit */
	CHECK(loop_add_prepare(loop, on_prepare, &p) == 0, "loop_add_prepare");
	CHECK(loop_add_prepare(loop, on_prepare, &q) == 0, "loop_add_prepare (no limit)");
	q.calls = -1000; /* never stops the loop */
	watchdog_start(&wd, loop);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	loop_run(loop);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	watchdog_end(&wd, __LINE__, "prepare limit");
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(p.calls >= 3 && q.calls >= -997, "prepare hooks ran %d and %d times", p.calls, q.calls + 1000);
	CHECK(ms < 1000, "the loop slept %ld ms although a prepare hook allowed 5", ms);
	loop_free(loop);
}

int main(void)
{
	alarm(60); /* the last resort if a loop hangs despite its watchdog */
	test_time();
	test_timer_order();
	test_timer_heap();
	test_timer_stop_edges();
	test_timer_callbacks();
	test_defer();
	test_stop();
	test_wake();
	test_watch();
	test_hangup();
	test_prepare();
	return unit_done();
}
