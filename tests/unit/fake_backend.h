/* fake_backend: a scriptable lock backend for unit tests. It implements
 * struct backend_ops (locks/backend.h) and answers nothing by itself: every
 * call is recorded (operation, copied request fields, loop time) and stays
 * pending until the test answers it with a reply of its choosing, or is
 * refused at start with a status the test chose beforehand. So a test decides
 * exactly what each call returns, and in which order the answers arrive.
 *
 * It keeps backend.h's contract: a started call's callback runs exactly once,
 * later, from the loop. fake_answer*() only queue the answer; it is delivered
 * by a deferred call (loop_defer) on the next loop turn — fake_turn() runs one
 * — in the order answers were given. Wake-ups and resyncs (fake_wake(),
 * fake_resync()) are delivered the same way. free() answers every call still
 * pending with LOCK_UNAVAILABLE (ping: false), as the contract says.
 *
 * fake_floor() is a redlock_floor_fn (redis/redlock.h): it records a
 * FAKE_FLOOR call on the fake node it is given, answered with fake_answer_ok().
 *
 * Misuse by a test (answering a call twice, answering a refused call, an
 * answer of the wrong kind) aborts with a message: it is a bug in the test. */
#ifndef DLOCKD_FAKE_BACKEND_H
#define DLOCKD_FAKE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "locks/backend.h"

enum fake_op {
	FAKE_ACQUIRE,
	FAKE_RENEW,
	FAKE_RELEASE,
	FAKE_INSPECT,
	FAKE_LIST,
	FAKE_PING,
	FAKE_LEAVE, /* fire and forget: never pending */
	FAKE_FLOOR, /* fake_floor(): answered with fake_answer_ok() */
	FAKE_OP_COUNT,
	FAKE_ANY = FAKE_OP_COUNT /* for the counting and finding helpers */
};

/* One recorded call. Strings are copies; has_* tell NULL from "". */
struct fake_call {
	struct fake_backend *fb;
	unsigned seq; /* order among the calls of every fake in the process */
	enum fake_op op;
	enum backend_start started; /* what the call returned */
	uint64_t at_ms;             /* loop_now_ms() when the call was made */
	bool answered;              /* an answer was given (or the call was refused) */
	bool delivered;             /* the callback has run */

	/* lock requests (and leave: name, waiter; floor: name, token) */
	char name[LOCK_NAME_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];
	bool has_token;
	char reacquire_token[LOCK_TOKEN_MAX + 1];
	bool has_reacquire_token;
	char owner[LOCK_OWNER_MAX + 1];
	bool has_owner;
	int64_t ttl_ms;
	char waiter[64];
	bool has_waiter;
	int64_t wait_left_ms;
	bool final;

	/* list requests */
	char prefix[LOCK_NAME_MAX + 1];
	unsigned limit;
	char cursor[BACKEND_CURSOR_MAX + 1];
	bool has_cursor;

	/* floor */
	int64_t fence;
	char adopt[LOCK_TOKEN_MAX + 1];
	bool has_adopt;

	/* the answer given */
	struct lock_reply reply;
	struct list_reply list;
	bool ok;

	/* private */
	backend_lock_fn *lock_cb;
	backend_list_fn *list_cb;
	backend_ping_fn *ping_cb;
	void (*floor_cb)(void *arg, bool ok);
	void *arg;
	struct fake_call *next_delivery;
};

struct fake_backend;

/* A new fake whose answers are delivered on loop. Aborts on OOM. */
struct fake_backend *fake_new(struct loop *loop);
/* The backend interface; backend_free() on it frees the fake. */
struct backend *fake_backend(struct fake_backend *fb);

/* The next count calls of op return st instead of starting (FAKE_ALWAYS:
 * until changed; st = BACKEND_STARTED, count 0 clears). Refused calls are
 * recorded too, with `started` set and `answered` true. */
enum { FAKE_ALWAYS = -1 };
void fake_refuse(struct fake_backend *fb, enum fake_op op, enum backend_start st, int count);
/* What warning() returns (copied; NULL for none). */
void fake_set_warning(struct fake_backend *fb, const char *warning);
/* What fault() returns (copied; NULL for none). */
void fake_set_fault(struct fake_backend *fb, const char *fault);
/* Whether watch() was called. */
bool fake_watched(const struct fake_backend *fb);

/* The call log, oldest first. */
size_t fake_ncalls(const struct fake_backend *fb);
struct fake_call *fake_call_at(const struct fake_backend *fb, size_t i);
/* How many calls of op (or FAKE_ANY) were recorded / are still unanswered. */
unsigned fake_count(const struct fake_backend *fb, enum fake_op op);
unsigned fake_pending(const struct fake_backend *fb, enum fake_op op);
/* The oldest unanswered call of op (or FAKE_ANY), or NULL. */
struct fake_call *fake_next(const struct fake_backend *fb, enum fake_op op);
/* The newest call of op (or FAKE_ANY), or NULL. */
struct fake_call *fake_last(const struct fake_backend *fb, enum fake_op op);
/* Forgets every call that is answered and delivered (and every leave):
 * indexes start again at 0. Pending calls stay. */
void fake_forget(struct fake_backend *fb);

/* Answers a lock call (acquire, renew, release, inspect). view may be NULL
 * (then the view holds only the call's name). */
void fake_answer(struct fake_call *c, enum lock_outcome o, const struct lock_view *view);
void fake_answer_reply(struct fake_call *c, const struct lock_reply *reply);
/* Answers a list call; locks[0..n) are copied; next_cursor may be NULL. */
void fake_answer_list(struct fake_call *c, enum lock_outcome o, const struct lock_view *locks, size_t n,
                      const char *next_cursor);
/* Answers a ping or a floor call. */
void fake_answer_ok(struct fake_call *c, bool ok);

/* Delivers wake(waiter) / resync() to the watcher on the next loop turn. */
void fake_wake(struct fake_backend *fb, const char *waiter);
void fake_resync(struct fake_backend *fb);

/* A redlock_floor_fn over fake nodes. */
enum backend_start fake_floor(struct backend *b, const char *name, const char *token, int64_t fence, const char *adopt,
                              void (*cb)(void *arg, bool ok), void *arg);

/* ---- driving a real loop ---- */

/* Runs one loop turn: due timers, then deferred calls (queued answers). */
void fake_turn(struct loop *loop);
/* Runs the loop until pred(arg) is true (checked every turn and at least
 * every millisecond) or max_ms have passed. Returns pred's last value. */
bool fake_run_until(struct loop *loop, bool (*pred)(void *arg), void *arg, unsigned max_ms);
/* Runs the loop for ms milliseconds. */
void fake_run_for(struct loop *loop, unsigned ms);
/* Runs the loop until fb has more than n calls of op recorded (true), or
 * max_ms have passed (false). */
bool fake_run_until_calls(struct loop *loop, struct fake_backend *fb, enum fake_op op, unsigned n, unsigned max_ms);

const char *fake_op_name(enum fake_op op);

#endif
