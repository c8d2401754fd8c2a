/* backend: the one interface to lock storage. A single Redis node (store.c)
 * implements it today; a quorum of nodes (Redlock) implements the same calls.
 * Callers speak in lock terms (lock.h); nothing here knows HTTP or JSON.
 *
 * Every call is asynchronous and runs on the caller's loop thread. A call that
 * returns BACKEND_STARTED invokes its callback exactly once, later, from the
 * loop — never from inside the call. Any other return means the callback will
 * not be invoked. Request strings are copied: they need not outlive the call.
 *
 * Waiting: an acquire that names a `waiter` joins the lock's line (a FIFO kept
 * in the backend, shared by every dlockd replica) when it cannot be granted;
 * a free lock is granted only to the first live waiter in line. A release or
 * leave that frees a lock with waiters wakes the first one through watch(). */
#ifndef DLOCKD_BACKEND_H
#define DLOCKD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "locks/lock.h"

/* Waiting, as every backend keeps it: a waiter's entry in a line counts for
 * LIVENESS ms after its last attempt (or until its wait ends, if sooner), so
 * the entries of a crashed dlockd instance stop counting within that window;
 * a waiting request tries again at least every RECHECK ms. */
enum { BACKEND_WAITER_LIVENESS_MS = 3000, BACKEND_WAITER_RECHECK_MS = 1000 };

/* List cursors are opaque to callers: at most this many base64url characters. */
enum { BACKEND_CURSOR_MAX = 512 };

/* A reply's detail: at most this many bytes of printable ASCII. */
enum { BACKEND_DETAIL_MAX = 127 };

enum backend_start {
	BACKEND_STARTED = 0,
	BACKEND_UNAVAILABLE, /* not connected: answer 503 now */
	BACKEND_BAD_CURSOR,  /* list: the cursor is not one we issued */
	BACKEND_NO_MEMORY,
	BACKEND_BUSY, /* waiters: too many requests wait already */
};

struct lock_request {
	const char *name;            /* a valid lock name */
	const char *token;           /* acquire: the new token; renew/release: the caller's */
	const char *reacquire_token; /* acquire: the caller's token for an idempotent re-acquire, or NULL */
	const char *owner;           /* acquire: NULL for none */
	int64_t ttl_ms;              /* acquire: the lease; renew: the new lease, or 0 for the lock's own */
	const char *waiter;          /* acquire: the caller's queue id to wait in line with, or NULL */
	int64_t wait_left_ms;        /* acquire with waiter: how much longer the caller will wait */
	bool final;                  /* acquire with waiter: last try; leave the queue unless granted */
	bool listing;                /* inspect: one of a list page's checks (Redlock); served beside the
	                                lists, apart from lock operations */
};

struct lock_reply {
	enum lock_outcome outcome;
	struct lock_view view; /* filled for every outcome that concerns a held lock */
	/* LOCK_INVALID_DATA: which of the name's keys holds what, e.g. "the lock
	 * key holds a string, not a hash" (never a value stored in it); else "". */
	char detail[BACKEND_DETAIL_MAX + 1];
	bool handed_off; /* LOCK_GRANTED to a request that waited for another holder (waiters) */
	/* LOCK_UNCONFIRMED: the write was a renewal or re-acquire, whose lease
	 * stands on the master; false for a grant, which was given back. `detail`
	 * says how many replicas acknowledged. */
	bool lease_kept;
};

struct list_request {
	const char *prefix; /* name prefix, may be "" */
	unsigned limit;     /* 1..1000 */
	const char *cursor; /* NULL or "" for the first page */
};

struct list_reply {
	enum lock_outcome outcome; /* LOCK_FOUND, LOCK_UNAVAILABLE or LOCK_BACKEND_ERROR */
	size_t count;
	struct lock_view *locks;                  /* owned by the backend; valid during the callback */
	char next_cursor[BACKEND_CURSOR_MAX + 1]; /* "" on the last page */
};

typedef void backend_lock_fn(void *arg, const struct lock_reply *reply);
typedef void backend_list_fn(void *arg, const struct list_reply *reply);
/* ok: the backend answered a health probe. */
typedef void backend_ping_fn(void *arg, bool ok);
/* A lock became free and `waiter` (a queue id, as some caller gave it: every
 * watcher on the backend sees every wake-up and picks its own) is first in
 * its line. */
typedef void backend_wake_fn(void *arg, const char *waiter);
/* Wake-ups may have been missed (the subscription was re-established):
 * every waiter should try again. */
typedef void backend_resync_fn(void *arg);

struct backend;

struct backend_ops {
	enum backend_start (*acquire)(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
	                              void *arg);
	enum backend_start (*renew)(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg);
	enum backend_start (*release)(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
	                              void *arg);
	enum backend_start (*inspect)(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
	                              void *arg);
	enum backend_start (*list)(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg);
	enum backend_start (*ping)(struct backend *b, backend_ping_fn *cb, void *arg);
	/* Takes waiter out of name's line (fire and forget; a lock left free is
	 * offered to the next in line). */
	enum backend_start (*leave)(struct backend *b, const char *name, const char *waiter);
	/* What is unsafe about the backend's configuration (e.g. an eviction
	 * policy that can drop held locks), as one line, or NULL. */
	const char *(*warning)(struct backend *b);
	/* Why the backend does not serve although Redis may answer (its user
	 * lacks permissions dlockd needs, or Redis refused the credentials), as
	 * one line that names no secret, or NULL. */
	const char *(*fault)(struct backend *b);
	/* Delivers wake-ups for waiters to wake(arg, waiter) and losses of the
	 * wake-up channel to resync(arg). One watcher per backend. */
	void (*watch)(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg);
	/* Stops all I/O; pending callbacks are invoked with LOCK_UNAVAILABLE first. */
	void (*free)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
};

static inline void backend_free(struct backend *b)
{
	if (b)
		b->ops->free(b);
}

#endif
