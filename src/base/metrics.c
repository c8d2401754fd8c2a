/* metrics: counters and histograms. See metrics.h. */
#include "base/metrics.h"

#include "base/config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NODES = CONFIG_REDIS_MAX };

static const int STATUSES[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
                               413, 414, 415, 429, 431, 500, 501, 503, 505, 0};
enum { NSTATUS = sizeof STATUSES / sizeof STATUSES[0] };

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t BUCKETS_US[] = {250,    500,    1000,    2500,    5000,    10000,    25000,    50000,   100000,
                                      250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
enum { NBUCKET = sizeof BUCKETS_US / sizeof BUCKETS_US[0] };

static const struct {
	const char *name, *help;
} COUNTERS[METRIC_COUNTER_COUNT] = {
    [METRIC_ACQUISITIONS] = {"dlockd_lock_acquisitions_total", "Locks granted to a new holder."},
    [METRIC_REACQUISITIONS] = {"dlockd_lock_reacquisitions_total", "Idempotent re-acquires by the holder."},
    [METRIC_CONFLICTS] = {"dlockd_lock_conflicts_total", "Acquires refused because the lock was held."},
    [METRIC_RENEWALS] = {"dlockd_lock_renewals_total", "Leases renewed."},
    [METRIC_RELEASES] = {"dlockd_lock_releases_total", "Locks released by their holder."},
    [METRIC_EXPIRATIONS_SEEN] = {"dlockd_lock_expirations_seen_total",
                                 "Renews or releases that found the lease already expired."},
    [METRIC_TOKEN_MISMATCHES] = {"dlockd_lock_token_mismatches_total",
                                 "Renews or releases with a token that does not hold the lock."},
    [METRIC_REDIS_ERRORS] = {"dlockd_redis_errors_total", "Redis connection failures, timeouts and error replies."},
    [METRIC_HANDOFFS] = {"dlockd_lock_handoffs_total", "Locks granted to a request that waited for them."},
    [METRIC_WAIT_TIMEOUTS] = {"dlockd_wait_timeouts_total", "Waits that ended at wait_ms without the lock."},
    [METRIC_FENCE_CLOCK_BEHIND] = {"dlockd_fence_clock_behind_total",
                                   "Grants where Redis TIME was not above the last fence issued for the name."},
    [METRIC_UNDELIVERED_GRANTS] = {"dlockd_undelivered_grants_total",
                                   "Grants whose answer could not be delivered; each was released."},
    [METRIC_CONNECTIONS_REFUSED] = {"dlockd_connections_refused_total",
                                    "Connections closed at accept: the client address had --max-connections-per-ip."},
    [METRIC_CONNECTIONS_TIMED_OUT] = {"dlockd_connections_timed_out_total",
                                      "Connections closed for missing a deadline: no request line within "
                                      "--connection-timeout-s, or no complete request within --request-timeout-ms."},
    [METRIC_LIST_SKIPPED_KEYS] = {"dlockd_list_skipped_keys_total",
                                  "Keys under the prefix that list pages skipped because they are not dlockd locks."},
    [METRIC_INVALID_LOCK_DATA] = {"dlockd_invalid_lock_data_total",
                                  "Redis answers that found data under a lock's name that dlockd did not write."},
    [METRIC_FENCE_EXHAUSTED] = {"dlockd_fence_exhausted_total",
                                "Redis answers that found a fence counter at or above 2^53 - 1."},
    [METRIC_AUTH_UNAUTHORIZED] = {"dlockd_auth_unauthorized_total",
                                  "Requests answered 401: no API key, or one the auth file does not hold."},
    [METRIC_AUTH_FORBIDDEN] = {"dlockd_auth_forbidden_total",
                               "Requests answered 403: the key lacks the right, or the name is outside its prefix."},
    [METRIC_RATE_LIMITED] = {"dlockd_rate_limited_total", "Requests answered 429: the key was over --rate-limit."},
    [METRIC_AUTH_RELOADS] = {"dlockd_auth_reloads_total", "Auth file reloads (SIGHUP) that took effect."},
    [METRIC_AUTH_RELOAD_FAILURES] = {"dlockd_auth_reload_failures_total",
                                     "Auth file reloads refused because the file was bad; the old keys stayed."},
    [METRIC_REPLICA_WAITS] =
        {"dlockd_replica_waits_total",
         "WAIT commands sent to Redis, one per pipelined batch of writes (--redis-wait-replicas)."},
    [METRIC_REPLICA_WAITED] = {"dlockd_replica_waited_answers_total",
                               "Grants, renewals and releases whose answer waited for a WAIT (divided by "
                               "dlockd_replica_waits_total: the mean batch)."},
    [METRIC_REPLICA_WAITS_SHORT] = {"dlockd_replica_waits_unconfirmed_total",
                                    "WAITs that returned fewer acknowledgements than --redis-wait-replicas, failed "
                                    "or were lost with the connection."},
    [METRIC_UNCONFIRMED_GRANTS] = {"dlockd_unconfirmed_grants_released_total",
                                   "Grants the replicas did not acknowledge, released again (answered 503)."},
    [METRIC_UNCONFIRMED_RENEWALS] = {"dlockd_unconfirmed_renewals_total",
                                     "Renewals and re-acquires the replicas did not acknowledge (answered 503; the "
                                     "lease stands on the master)."},
    [METRIC_UNCONFIRMED_RELEASES] = {"dlockd_unconfirmed_releases_total",
                                     "Releases the replicas did not acknowledge (done on the master; answered 204)."},
};

static struct {
	atomic_uint_fast64_t requests[METRICS_ROUTES_MAX][NSTATUS];
	atomic_uint_fast64_t buckets[METRICS_ROUTES_MAX][NBUCKET + 1];
	atomic_uint_fast64_t sum_us[METRICS_ROUTES_MAX];
	atomic_uint_fast64_t counters[METRIC_COUNTER_COUNT];
	atomic_int_fast64_t inflight;
	atomic_int_fast64_t waiters;
	atomic_int_fast64_t eviction_unsafe;
	atomic_uint_fast64_t wait_buckets[NBUCKET + 1];
	atomic_uint_fast64_t wait_sum_us;
	atomic_uint_fast64_t node_calls[MAX_NODES], node_errors[MAX_NODES], node_us[MAX_NODES];
	unsigned nnodes;
	char node_labels[MAX_NODES][64];
	const char *const *route_labels;
	unsigned nroutes;
} m;

void metrics_set_routes(const char *const *labels, unsigned n)
{
	m.route_labels = labels;
	m.nroutes = n < METRICS_ROUTES_MAX ? n : METRICS_ROUTES_MAX;
}

void metrics_request(unsigned route, int status, uint64_t duration_us)
{
	size_t s = 0, b = 0;

	if (m.nroutes == 0)
		return;
	if (route >= m.nroutes)
		route = m.nroutes - 1;
	while (STATUSES[s] != 0 && STATUSES[s] != status)
		s++;
	while (b < NBUCKET && duration_us > BUCKETS_US[b])
		b++;
	atomic_fetch_add_explicit(&m.requests[route][s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.buckets[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.sum_us[route], duration_us, memory_order_relaxed);
}

void metrics_inc(enum metrics_counter c)
{
	atomic_fetch_add_explicit(&m.counters[c], 1, memory_order_relaxed);
}

void metrics_add(enum metrics_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&m.counters[c], n, memory_order_relaxed);
}

void metrics_inflight(int delta)
{
	atomic_fetch_add_explicit(&m.inflight, delta, memory_order_relaxed);
}

void metrics_node_label(unsigned i, const char *label)
{
	if (i >= MAX_NODES)
		return;
	snprintf(m.node_labels[i], sizeof m.node_labels[i], "%s", label);
	if (i + 1 > m.nnodes)
		m.nnodes = i + 1;
}

void metrics_node(unsigned i, bool ok, uint64_t duration_us)
{
	if (i >= MAX_NODES)
		return;
	atomic_fetch_add_explicit(&m.node_calls[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.node_us[i], duration_us, memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&m.node_errors[i], 1, memory_order_relaxed);
}

void metrics_waiters(int delta)
{
	atomic_fetch_add_explicit(&m.waiters, delta, memory_order_relaxed);
}

void metrics_eviction_unsafe(int delta)
{
	atomic_fetch_add_explicit(&m.eviction_unsafe, delta, memory_order_relaxed);
}

void metrics_wait_observe(uint64_t duration_us)
{
	size_t b = 0;
	while (b < NBUCKET && duration_us > BUCKETS_US[b])
		b++;
	atomic_fetch_add_explicit(&m.wait_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.wait_sum_us, duration_us, memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* Writes one histogram's _bucket, _sum and _count lines; labels may be "". */
static void histogram(FILE *f, const char *name, const char *labels, atomic_uint_fast64_t *buckets,
                      atomic_uint_fast64_t *sum_us)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;

	for (int b = 0; b <= NBUCKET; b++) {
		cum += load(&buckets[b]);
		if (b < NBUCKET)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, (double)BUCKETS_US[b] / 1e6,
			        (unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
	}
	if (labels[0]) {
		fprintf(f, "%s_sum{%s} %.6f\n", name, labels, (double)load(sum_us) / 1e6);
		fprintf(f, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
	} else {
		fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name, (double)load(sum_us) / 1e6, name,
		        (unsigned long long)cum);
	}
}

/* One counter per Redis node, labelled by node. */
static void node_counter(FILE *f, const char *name, const char *help, atomic_uint_fast64_t *v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (unsigned i = 0; i < m.nnodes; i++)
		fprintf(f, "%s{node=\"%s\"} %llu\n", name, m.node_labels[i], (unsigned long long)load(&v[i]));
}

char *metrics_render(size_t *len, const struct metrics_labelled *extra, size_t nextra)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	fputs("# HELP dlockd_http_requests_total HTTP requests answered, by route and status.\n"
	      "# TYPE dlockd_http_requests_total counter\n",
	      f);
	for (unsigned r = 0; r < m.nroutes; r++)
		for (int s = 0; s < NSTATUS; s++) {
			uint64_t v = load(&m.requests[r][s]);
			if (v == 0)
				continue;
			if (STATUSES[s])
				fprintf(f, "dlockd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				        m.route_labels[r], STATUSES[s], (unsigned long long)v);
			else
				fprintf(f, "dlockd_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				        m.route_labels[r], (unsigned long long)v);
		}
	fputs("# HELP dlockd_http_request_duration_seconds Time from request headers to response, by route.\n"
	      "# TYPE dlockd_http_request_duration_seconds histogram\n",
	      f);
	for (unsigned r = 0; r < m.nroutes; r++) {
		char labels[64];
		snprintf(labels, sizeof labels, "route=\"%s\"", m.route_labels[r]);
		histogram(f, "dlockd_http_request_duration_seconds", labels, m.buckets[r], &m.sum_us[r]);
	}
	for (int c = 0; c < METRIC_COUNTER_COUNT; c++)
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", COUNTERS[c].name, COUNTERS[c].help,
		        COUNTERS[c].name, COUNTERS[c].name, (unsigned long long)load(&m.counters[c]));
	fputs("# HELP dlockd_wait_duration_seconds How long requests waited for a lock (wait_ms > 0).\n"
	      "# TYPE dlockd_wait_duration_seconds histogram\n",
	      f);
	histogram(f, "dlockd_wait_duration_seconds", "", m.wait_buckets, &m.wait_sum_us);
	if (m.nnodes > 0) {
		node_counter(f, "dlockd_redis_node_calls_total", "Calls to each Redis node (Redlock mode).",
		             m.node_calls);
		node_counter(f, "dlockd_redis_node_errors_total", "Calls to each Redis node that failed or timed out.",
		             m.node_errors);
		fputs("# HELP dlockd_redis_node_latency_seconds Time for each Redis node to answer.\n"
		      "# TYPE dlockd_redis_node_latency_seconds summary\n",
		      f);
		for (unsigned i = 0; i < m.nnodes; i++)
			fprintf(f,
			        "dlockd_redis_node_latency_seconds_sum{node=\"%s\"} %.6f\n"
			        "dlockd_redis_node_latency_seconds_count{node=\"%s\"} %llu\n",
			        m.node_labels[i], (double)load(&m.node_us[i]) / 1e6, m.node_labels[i],
			        (unsigned long long)load(&m.node_calls[i]));
	}
	fprintf(f,
	        "# HELP dlockd_waiters Requests waiting for a lock now.\n# TYPE dlockd_waiters gauge\n"
	        "dlockd_waiters %lld\n",
	        (long long)atomic_load_explicit(&m.waiters, memory_order_relaxed));
	fprintf(f,
	        "# HELP dlockd_redis_eviction_unsafe 1 if a Redis node's maxmemory-policy can evict held locks.\n"
	        "# TYPE dlockd_redis_eviction_unsafe gauge\ndlockd_redis_eviction_unsafe %d\n",
	        atomic_load_explicit(&m.eviction_unsafe, memory_order_relaxed) > 0);
	fprintf(f,
	        "# HELP dlockd_http_requests_in_flight Requests received and not yet answered.\n"
	        "# TYPE dlockd_http_requests_in_flight gauge\ndlockd_http_requests_in_flight %lld\n",
	        (long long)atomic_load_explicit(&m.inflight, memory_order_relaxed));
	for (size_t e = 0; e < nextra; e++) {
		if (extra[e].n == 0)
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", extra[e].name, extra[e].help, extra[e].name);
		for (size_t i = 0; i < extra[e].n; i++)
			fprintf(f, "%s{%s=\"%s\"} %llu\n", extra[e].name, extra[e].label, extra[e].values[i],
			        (unsigned long long)extra[e].counts[i]);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
