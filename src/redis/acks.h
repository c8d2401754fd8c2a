/* acks: replica acknowledgements of one Redis connection's writes
 * (--redis-wait-replicas). The writes sent since the last WAIT went out form
 * the open batch; at most one WAIT is out at a time, and when it returns the
 * next one goes out at once for everything sent meanwhile, so a batch costs
 * one WAIT round trip however many requests it carries. The answers to writes
 * are held here until the WAIT sent after them returns. Pure bookkeeping: no
 * I/O, no hiredis; nothing of HTTP or JSON. store.c sends the WAITs. */
#ifndef DLOCKD_REDIS_ACKS_H
#define DLOCKD_REDIS_ACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "locks/backend.h"

/* Redis times out a blocked client on its own clock tick (1000/hz ms, 100 ms
 * by default), so a WAIT may come back this much after its timeout. */
enum { ACKS_SLACK_MS = 100 };

/* An answer waiting for its batch's WAIT. */
struct acks_held {
	struct acks_held *next;
	backend_lock_fn *cb;
	void *arg;
	struct lock_reply reply;
	void *owner; /* the caller's, once the entry is off the list (acks_wait_end) */
};

/* Embedded in its connection's owner. */
struct acks {
	bool open;              /* writes were sent since the last WAIT went out */
	uint64_t open_since_ms; /* when the oldest of them was sent */
	bool out;               /* a WAIT is on its way */
	struct acks_held *head, **tail;
};

void acks_init(struct acks *a);

/* Whether an answer with outcome o reports a write that waits for the
 * replicas: a grant, re-acquire, renewal or release. */
bool acks_waits_for(enum lock_outcome o);

/* A write went out at sent_ms: it joins the open batch. */
void acks_sent(struct acks *a, uint64_t sent_ms);

/* Whether a WAIT should go out now: writes are open and none is out. */
bool acks_due(const struct acks *a);

/* The timeout, in ms, of a WAIT for the open batch sent at now_ms: what
 * remains of timeout_ms for the batch's oldest write, less ACKS_SLACK_MS (or
 * half of it when that is less than twice the slack), and at least 1 (0 would
 * make Redis block forever). */
uint64_t acks_wait_timeout(const struct acks *a, uint64_t now_ms, unsigned timeout_ms);

/* The WAIT for the open batch went out: the batch is closed, a WAIT is out. */
void acks_wait_sent(struct acks *a);

/* Holds the answer r (copied, token included) for cb(arg). Returns 0, or -1
 * when out of memory (then nothing is held). */
int acks_hold(struct acks *a, const struct lock_reply *r, backend_lock_fn *cb, void *arg);

/* The WAIT that was out returned or was lost: nothing is out any more.
 * Returns the answers held, oldest first: every one of them came before the
 * WAIT's reply, so the WAIT covered its write. The caller owns the list and
 * frees each entry (acks_held_free). */
struct acks_held *acks_wait_end(struct acks *a);

/* The connection is gone: the open batch is forgotten (its writes were
 * failed with the connection). Held answers stay until acks_wait_end. */
void acks_reset(struct acks *a);

/* Zeroes the held token and frees h (NULL is fine). */
void acks_held_free(struct acks_held *h);

#endif
