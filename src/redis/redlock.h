/* redlock: one lock service over several independent Redis nodes, behind the
 * same backend interface as a single node (backend.h). Every call goes to all
 * nodes in parallel; a lock is held when a majority granted it within its
 * lease, minus the time taken and an allowance for clock drift. Fences stay
 * strictly increasing across any majorities (see docs/redlock.md). Owns the
 * node backends it is given. Knows nothing of HTTP, JSON or Redis itself:
 * the nodes and their fence-floor step are given to it. */
#ifndef DLOCKD_REDLOCK_H
#define DLOCKD_REDLOCK_H

#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"
#include "locks/backend.h"

enum { REDLOCK_MAX_NODES = CONFIG_REDIS_MAX };

/* The per-node step of a grant's second round (store_fence_floor() for Redis
 * nodes; see store.h): on node b, raise name's fence counter to at least
 * fence and, if token holds the lock, its fence to fence and, unless adopt is
 * NULL, its token to adopt. cb(arg, ok) once, later, when BACKEND_STARTED. */
typedef enum backend_start redlock_floor_fn(struct backend *b, const char *name, const char *token, int64_t fence,
                                            const char *adopt, void (*cb)(void *arg, bool ok), void *arg);

/* Returns a backend over nodes[0..n) (2 <= n <= REDLOCK_MAX_NODES; ownership
 * passes to it, also on failure), or NULL. floor is the nodes' fence-floor
 * step. drift_factor is the clock drift allowed per ms of lease (e.g. 0.01). */
struct backend *redlock_new(struct loop *loop, struct backend **nodes, unsigned n, redlock_floor_fn *floor,
                            double drift_factor);

/* The arithmetic, pure and exposed for tests. */
/* How many nodes make a majority of n: n/2 + 1. */
unsigned redlock_quorum(unsigned n);
/* The drift allowance for a lease: ttl * factor, rounded up, + 2 ms. */
int64_t redlock_drift_ms(int64_t ttl_ms, double drift_factor);
/* What is left of a lease of ttl_ms after elapsed_ms: ttl - elapsed - drift
 * (may be zero or negative: then the lock must not be considered held). */
int64_t redlock_validity_ms(int64_t ttl_ms, int64_t elapsed_ms, double drift_factor);

#endif
