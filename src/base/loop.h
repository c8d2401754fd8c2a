/* loop: the single-threaded event loop each worker runs — epoll file-descriptor
 * watches, a min-heap of timers, prepare hooks run before every wait, and
 * deferred calls run after every turn. It knows nothing of HTTP or Redis.
 * Not thread-safe, except loop_wake(), which any thread may call. */
#ifndef DLOCKD_LOOP_H
#define DLOCKD_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

enum { LOOP_READ = 1, LOOP_WRITE = 2, LOOP_HANGUP = 4 /* the peer closed or reset */ };

typedef void loop_io_fn(void *arg, unsigned events);
typedef void loop_timer_fn(void *arg);
/* Returns the longest the loop may sleep, in ms, or -1 for no limit. */
typedef int loop_prepare_fn(void *arg);
typedef void loop_defer_fn(void *arg);

/* An fd watch, embedded in its owner's struct. */
struct loop_watch {
	int fd;
	unsigned events; /* LOOP_READ | LOOP_WRITE currently registered */
	loop_io_fn *cb;
	void *arg;
};

/* A timer, embedded in its owner's struct; heap_index < 0 when not armed. */
struct loop_timer {
	uint64_t at_ms;
	long heap_index;
	loop_timer_fn *cb;
	void *arg;
};

/* Returns a new loop, or NULL on failure (errno set). */
struct loop *loop_new(void);
/* Runs pending deferred calls, then frees the loop (NULL is fine). Watches and
 * timers must already be stopped. */
void loop_free(struct loop *loop);

/* The monotonic clock in microseconds, read now (any thread). */
uint64_t loop_clock_us(void);
/* Monotonic milliseconds, cached per loop turn. */
uint64_t loop_now_ms(const struct loop *loop);
/* Refreshes and returns the cached monotonic time. */
uint64_t loop_update_now(struct loop *loop);

void loop_watch_init(struct loop_watch *w, int fd, loop_io_fn *cb, void *arg);
/* Registers interest in `events` (0 removes the fd). Returns 0 or -1 (errno).
 * A removed watch may still be seen by the turn in progress: free its memory
 * through loop_defer(), never directly from an event callback. */
int loop_watch_set(struct loop *loop, struct loop_watch *w, unsigned events);

void loop_timer_init(struct loop_timer *t, loop_timer_fn *cb, void *arg);
/* Arms (or re-arms) the timer to fire at monotonic time at_ms. Cannot fail:
 * when the timer heap cannot grow, the process aborts (see docs/architecture.md,
 * "Errors": a timer that never fires would break a protocol deadline). */
void loop_timer_start(struct loop *loop, struct loop_timer *t, uint64_t at_ms);
void loop_timer_stop(struct loop *loop, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Adds a hook called before every wait. Returns 0 or -1. */
int loop_add_prepare(struct loop *loop, loop_prepare_fn *fn, void *arg);
/* Calls fn(arg) after the current turn's events and timers. Returns 0 or -1 (ENOMEM). */
int loop_defer(struct loop *loop, loop_defer_fn *fn, void *arg);

/* Runs until loop_stop(). Returns 0, or -1 if epoll failed. */
int loop_run(struct loop *loop);
/* Makes loop_run() return after the current turn. Loop thread only. */
void loop_stop(struct loop *loop);
/* Wakes the loop from any thread and has it call on_wake(arg) on its own thread. */
void loop_wake(struct loop *loop);
void loop_set_wake_handler(struct loop *loop, loop_defer_fn *on_wake, void *arg);

#endif
