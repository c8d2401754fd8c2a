/* waiters: acquires that wait for a lock (wait_ms > 0) without a thread each.
 * A waiter stands in the lock's line in the backend (FIFO across every
 * replica) and tries again only when it may win: when woken (a release or a
 * leave publishes the first in line), when the holder's lease ends (a timer
 * from the known expiry: no keyspace events), after wake-ups may have been
 * missed (the backend's resync), at least every BACKEND_WAITER_RECHECK_MS
 * (which keeps its entry in line alive: see backend.h), and once more, as a
 * last try that leaves the line, at its deadline. A wait that ends in an
 * error leaves the line. Knows nothing of HTTP. One registry per event loop. */
#ifndef DLOCKD_WAITERS_H
#define DLOCKD_WAITERS_H

#include "locks/backend.h"
#include "base/loop.h"

struct waiters;
struct waiter;

enum { WAITERS_INSTANCE_MAX = 31 };

/* Returns a registry for loop and backend (not owned) holding at most max
 * waiters; instance (at most WAITERS_INSTANCE_MAX printable characters, no
 * '|') names it apart from every other registry on the same backend, in this
 * process and others. Registers itself as the backend's watcher. NULL on
 * allocation failure. */
struct waiters *waiters_new(struct loop *loop, struct backend *backend, const char *instance, unsigned max);

/* Ends every wait with LOCK_CANCELLED (leaving the lines), then frees the
 * registry (NULL is fine). Attempts still in flight hold pointers into it:
 * free the backend first (its free() answers them), as main.c does. */
void waiters_free(struct waiters *ws);

/* Ends every wait now with LOCK_CANCELLED, leaving the lines. */
void waiters_cancel_all(struct waiters *ws);

/* Acquires req->name, waiting up to wait_ms for it. cb(arg, reply) is called
 * once, later, with the grant (LOCK_GRANTED / LOCK_REACQUIRED) or, when time
 * is up, LOCK_HELD (with the holder) or LOCK_RESERVED; or with
 * LOCK_UNAVAILABLE, LOCK_BACKEND_ERROR or LOCK_CANCELLED. The request's
 * strings are copied. *handle identifies the wait for waiters_abandon().
 * Returns BACKEND_STARTED, BACKEND_BUSY (full), BACKEND_UNAVAILABLE or
 * BACKEND_NO_MEMORY (then cb is never called). */
enum backend_start waiters_acquire(struct waiters *ws, const struct lock_request *req, int64_t wait_ms,
                                   backend_lock_fn *cb, void *arg, struct waiter **handle);

/* The client went away: the waiter leaves the line and its callback is never
 * called. If a grant for it is already on its way, the lock is released. */
void waiters_abandon(struct waiter *w);

#endif
