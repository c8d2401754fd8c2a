/* metrics: process-wide counters and latency histograms, rendered as
 * Prometheus text. Lock-free (relaxed atomics) so every worker thread may
 * record. Its state and log.c's are the process's only globals besides
 * configuration. */
#ifndef DLOCKD_METRICS_H
#define DLOCKD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Routes are the caller's: labels[0..n) name them (static strings; the last
 * is used for any index beyond). Call once at start-up, before any thread
 * records. */
enum { METRICS_ROUTES_MAX = 16 };
void metrics_set_routes(const char *const *labels, unsigned n);

enum metrics_counter {
	METRIC_ACQUISITIONS,   /* new holders (201) */
	METRIC_REACQUISITIONS, /* idempotent re-acquires (200) */
	METRIC_CONFLICTS,      /* acquire found the lock held (409) */
	METRIC_RENEWALS,
	METRIC_RELEASES,
	METRIC_EXPIRATIONS_SEEN, /* renew/release found the holder's lease already over */
	METRIC_TOKEN_MISMATCHES,
	METRIC_REDIS_ERRORS,          /* failed connects, timeouts, error replies */
	METRIC_HANDOFFS,              /* grants to a request that had to wait */
	METRIC_WAIT_TIMEOUTS,         /* waits that ended without the lock */
	METRIC_FENCE_CLOCK_BEHIND,    /* grants where Redis TIME was not above the stored fence */
	METRIC_UNDELIVERED_GRANTS,    /* grants whose answer was lost (released again) */
	METRIC_LIST_SKIPPED_KEYS,     /* keys under the prefix a list page skipped: not dlockd locks */
	METRIC_INVALID_LOCK_DATA,     /* Redis answers that found data under a name that dlockd did not write */
	METRIC_FENCE_EXHAUSTED,       /* Redis answers that found a fence counter at or above LOCK_FENCE_MAX */
	METRIC_CONNECTIONS_REFUSED,   /* closed at accept: the per-address cap */
	METRIC_CONNECTIONS_TIMED_OUT, /* closed for missing the request-line or request deadline */
	METRIC_AUTH_UNAUTHORIZED,     /* 401: no API key, or one not in the auth file */
	METRIC_AUTH_FORBIDDEN,        /* 403: a known key without the right, or outside its prefix */
	METRIC_RATE_LIMITED,          /* 429: a key over --rate-limit */
	METRIC_AUTH_RELOADS,          /* auth file reloads that took effect (SIGHUP) */
	METRIC_AUTH_RELOAD_FAILURES,  /* reloads refused (the old keys stay) */
	METRIC_REPLICA_WAITS,         /* WAITs sent, one per batch of writes (--redis-wait-replicas) */
	METRIC_REPLICA_WAITED,        /* answers to writes that waited for a WAIT (batch sizes summed) */
	METRIC_REPLICA_WAITS_SHORT,   /* WAITs that returned fewer acknowledgements than asked, failed or were lost */
	METRIC_UNCONFIRMED_GRANTS,    /* grants not acknowledged by the replicas, and released */
	METRIC_UNCONFIRMED_RENEWALS,  /* renewals and re-acquires not acknowledged (answered 503) */
	METRIC_UNCONFIRMED_RELEASES,  /* releases not acknowledged (done on the master; answered 204) */
	METRIC_COUNTER_COUNT
};

/* Label used for a route in metrics and logs. */
void metrics_request(unsigned route, int status, uint64_t duration_us);
void metrics_inc(enum metrics_counter c);
void metrics_add(enum metrics_counter c, uint64_t n);
/* Adds delta (may be negative) to the in-flight request gauge. */
void metrics_inflight(int delta);
/* Names Redis node i (Redlock mode) in the per-node metrics. */
void metrics_node_label(unsigned i, const char *label);
/* Records one call to Redis node i: whether it answered, and how long it took. */
void metrics_node(unsigned i, bool ok, uint64_t duration_us);
/* Adds delta to the waiting-requests gauge. */
void metrics_waiters(int delta);
/* +1 when a Redis connection finds an eviction policy that can drop held
 * locks, -1 when that is no longer so. */
void metrics_eviction_unsafe(int delta);
/* Records how long a wait lasted (granted or not). */
void metrics_wait_observe(uint64_t duration_us);
/* A counter family with one label, kept outside this module (e.g. per API
 * key): n series, values[i] the label's value (characters that need no
 * escaping: A-Z a-z 0-9 . _ - : @) and counts[i] its count. */
struct metrics_labelled {
	const char *name, *help, *label;
	const char *const *values;
	const uint64_t *counts;
	size_t n;
};

/* Returns the exposition text (malloc'd, caller frees) and its length, or
 * NULL; the nextra families of extra follow the module's own. */
char *metrics_render(size_t *len, const struct metrics_labelled *extra, size_t nextra);

#endif
