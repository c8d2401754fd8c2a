/* Private to the harness_*.c files: what one part of the harness lends the
 * others. Test files include harness.h only.
 *
 *   harness_run.c     runner, test registry walk, failures (fail_at/longjmp),
 *                     test-owned memory (arena), time, signals and watchdog
 *   harness_check.c   assertions on responses: status, problem, grant, view,
 *                     token and timestamp formats
 *   harness_http.c    libcurl requests (sync, async), raw sockets, response
 *                     parsing, metrics scraping
 *   harness_record.c  DLOCKD_RECORD: each exchange as a JSON line for the API
 *                     contract checks
 *   harness_redis.c   a small RESP client for g_redis and the nodes; CONFIG SET
 *                     undone after the test
 *   harness_proc.c    processes: redis-server, dlockd, Redlock nodes and
 *                     replicas (start, stop, kill, pause)
 *   harness_contend.c contention workers: critical sections and the
 *                     exclusion check
 *   harness_proxy.c   a TCP relay in front of a Redis that stalls the
 *                     connections whose traffic shows a pattern
 *   harness_cluster.c a Redis Cluster (3 masters, one replica) kept across
 *                     the cluster suite
 */
#ifndef DLOCKD_BLACKBOX_HARNESS_INT_H
#define DLOCKD_BLACKBOX_HARNESS_INT_H

#include "harness.h"

#include <stdarg.h>

/* ---------------------------------------------------- harness_run.c */

void *xmalloc(size_t n); /* abort on out of memory */
void *xcalloc(size_t n);
/* fr(p) when the current test ends */
void arena_add(void *p, void (*fr)(void *));
__attribute__((format(printf, 1, 0))) char *vfmt_alloc(const char *fmt, va_list ap); /* malloc'd */

/* a growing NUL-terminated byte buffer (malloc'd) */
struct growbuf {
	char *p;
	size_t len, cap;
};
void gb_append(struct growbuf *b, const void *data, size_t n);

const char *harness_tmpdir(void);
const char *harness_test_name(void); /* the running test's, NULL between tests */
/* the last lines of a log on stderr (once printed, the runner adds no dlockd tail) */
void log_tail(const char *path, int nlines);

/* --------------------------------------------------- harness_http.c */

int connect_port(int port, int timeout_ms); /* 127.0.0.1, blocking fd or -1 */
bool send_all(int fd, const void *data, size_t len);
const char *find_crlfcrlf(const char *p, size_t n);
void http_test_begin(void); /* the test's curl handle */
void http_join_async(void); /* join the test's leftover async requests */
void http_test_end(void);   /* free the test's curl handle */

/* ------------------------------------------------- harness_record.c */

/* with DLOCKD_RECORD set: one line for a curl exchange, or for a raw one
 * (its method, target and Content-Type read from the bytes sent) */
void record_curl(const char *method, const char *path, const char *ctype, const char *const *hdrs,
                 const struct resp *r);
void record_raw(const char *data, size_t len, const struct resp *r);

/* -------------------------------------------------- harness_redis.c */

/* true once the Redis on port answers PING (polls until timeout_ms) */
bool port_pings(int port, int timeout_ms);
void redis_config_undo(void); /* the test's CONFIG SETs, newest first */

/* --------------------------------------------------- harness_proc.c */

void procs_init(void);     /* DLOCKD_BIN, DLOCKD_WRAPPER (sets g_slow) */
void procs_fini(void);     /* frees what procs_init() kept */
void procs_kill_all(void); /* SIGKILL g_dl and g_redis; async-signal-safe */
void procs_reap_all(void); /* procs_kill_all() and wait for them */
bool redis_ensure(void);   /* g_redis running and answering, else restarted */
void redis_restore(void);  /* after a test: CONFIG SETs undone, snapshot removed */

#endif
