/* Black-box test harness for dlockd.
 *
 * The harness starts a private redis-server and, for every test, a fresh
 * dlockd process (DLOCKD_BIN, optionally prefixed by DLOCKD_WRAPPER), talks
 * to it over HTTP (libcurl) or raw sockets, and checks the answers against
 * the contract in openapi.yaml (the API contract checks validate the recorded
 * traffic against it too).
 *
 * Assertions (CHECK, EXPECT_*) record the first failure with file:line and
 * abort the current test (longjmp back to the runner); the runner then stops
 * dlockd (which must exit 0 on SIGTERM) and continues with the next test.
 * Assertions must only be used from the test's main thread.
 *
 * Memory returned by http()/raw_http()/tfmt()/tstrdup() belongs to the
 * current test and is freed automatically when the test ends.
 *
 * TEST_FILTER=a,b runs only the tests whose names contain a or b.
 *
 * This is the one header tests include. The harness itself is harness_*.c;
 * harness_int.h (private to them) says which file owns what.
 */
#ifndef DLOCKD_BLACKBOX_HARNESS_H
#define DLOCKD_BLACKBOX_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

/* ---------------------------------------------------------------- tests */

enum {
	T_NO_DLOCKD = 1u << 0, /* the runner does not start dlockd for this test */
};

struct test {
	const char *name;
	void (*fn)(void);
	const char *args[12]; /* extra dlockd arguments, NULL-terminated */
	unsigned flags;
};

/* Every test_*.c file exports one NULL-name-terminated table, tests_<suite>[].
 * HARNESS_SUITES is the one list of them, in run order: it declares the tables
 * here and builds the array main.c runs. A new test_<suite>.c adds one X() line. */
#define HARNESS_SUITES(X)                                                                                              \
	X(locks)                                                                                                       \
	X(renew_release)                                                                                               \
	X(inspect_list)                                                                                                \
	X(fence_expiry)                                                                                                \
	X(validation)                                                                                                  \
	X(ops)                                                                                                         \
	X(backend)                                                                                                     \
	X(concurrency)                                                                                                 \
	X(wait)                                                                                                        \
	X(redlock)                                                                                                     \
	X(safety)                                                                                                      \
	X(framing)                                                                                                     \
	X(frontdoor)                                                                                                   \
	X(data)                                                                                                        \
	X(auth)                                                                                                        \
	X(cli)                                                                                                         \
	X(tls)                                                                                                         \
	X(acl)                                                                                                         \
	X(replicas)                                                                                                    \
	X(sentinel)                                                                                                    \
	X(cluster)

#define HARNESS_SUITE_DECL(s) extern const struct test tests_##s[];
HARNESS_SUITES(HARNESS_SUITE_DECL)
#undef HARNESS_SUITE_DECL

int harness_main(const struct test *const *suites);

/* ----------------------------------------------------------- assertions */

_Noreturn void fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECKF(cond, ...)                                                                                              \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			fail_at(__FILE__, __LINE__, __VA_ARGS__);                                                      \
	} while (0)
#define CHECK(cond) CHECKF(cond, "check failed: %s", #cond)

/* ----------------------------------------------------------- utilities */

double mono_ms(void);  /* CLOCK_MONOTONIC in ms */
int64_t wall_ms(void); /* CLOCK_REALTIME in ms since epoch */
void sleep_ms(long ms);
extern int g_slow; /* 1 normally, larger under DLOCKD_WRAPPER */

/* this run's scratch directory (removed at exit unless KEEP_TMP is set) */
const char *harness_tmpdir(void);

char *tfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tstrdup(const char *s);
void *talloc(size_t n); /* zeroed, freed at end of test */
char *trepeat(char c, size_t n);

/* percent-encode a string for use in a query (test-owned) */
char *tesc(const char *s);

/* Parse "YYYY-MM-DDTHH:MM:SS.mmmZ" strictly; returns false if malformed. */
bool parse_rfc3339_ms(const char *s, int64_t *out_ms);
bool is_base64url(const char *s);
/* What dlockd stores in Redis in place of a token: "h:" and its SHA-256 in base64url (test-owned). */
const char *token_hash(const char *token);

/* ------------------------------------------------------------- HTTP */

struct resp {
	long status;
	char *body; /* NUL-terminated copy, len bytes (may contain NUL) */
	size_t len;
	char **hdr; /* raw header lines without CRLF (final response only) */
	size_t nhdr;
	json_t *json;             /* parsed body if it parses as JSON, else NULL */
	double ms;                /* wall time of the request */
	int64_t t0_wall, t1_wall; /* wall clock before/after the request */
	double t0_mono, t1_mono;  /* mono_ms() before/after the request */
	int curl_code;
	char err[CURL_ERROR_SIZE];
	char what[200]; /* "METHOD path" for messages */
	bool tracked;
};

/* value of the first header `name` (case-insensitive), leading/trailing
 * whitespace trimmed, or NULL; result lives in a per-resp buffer. */
const char *resp_header(const struct resp *r, const char *name);
size_t resp_header_count(const struct resp *r, const char *name);

/* HTTP request to the running dlockd. `path` starts with '/'. body may be
 * NULL. ctype NULL means no Content-Type header. The varargs are extra raw
 * header lines ("Name: value"), terminated by NULL. The result is owned by
 * the current test. Transport errors are reported as status 0. */
struct resp *http(const char *method, const char *path, const char *body, const char *ctype, ...)
    __attribute__((sentinel));
/* Same with an explicit body length and header array (NULL-terminated). */
struct resp *httpb(const char *method, const char *path, const char *body, size_t body_len, const char *ctype,
                   const char *const *hdrs);

/* From now until the test ends, requests to dlockd (http(), http_ex(), the
 * async ones, and dlockd_start()'s probes) go to https://127.0.0.1:PORT and
 * trust only the CA certificate(s) in cafile; NULL: plain HTTP again. Set it
 * from the test's main thread while no request runs. */
void harness_tls(const char *cafile);

/* Thread-safe variant for worker threads: own curl handle, untracked result
 * that must be released with resp_free(). */
struct resp *http_ex(CURL *h, int port, const char *method, const char *path, const char *body, size_t body_len,
                     const char *ctype, const char *const *hdrs, long timeout_ms);
void resp_free(struct resp *r);
CURL *curl_new(void);

/* A request running in its own thread (own curl handle) against the
 * current dlockd. The runner joins leftovers after each test. */
struct async_req;
struct async_req *http_async(const char *method, const char *path, const char *body, const char *ctype,
                             const char *hdr);
/* same, against another port (e.g. a replica's) */
struct async_req *http_async_at(int port, const char *method, const char *path, const char *body, const char *ctype,
                                const char *hdr);
bool http_async_done(struct async_req *a);
/* join; the result is owned by the current test */
struct resp *http_async_wait(struct async_req *a);
/* a is still running (a waiter not answered yet); else fails with
 * "<who> was answered (<status>) while <held>" */
void expect_waiting_at(const char *f, int l, struct async_req *a, const char *who, const char *held);
#define EXPECT_WAITING(a, who, held) expect_waiting_at(__FILE__, __LINE__, (a), (who), (held))

/* Send exact bytes to dlockd over a fresh TCP connection and read the
 * response until EOF (send "Connection: close"). Status 0 if no status line
 * could be read. For "HEAD" requests the body is every byte after the
 * header block. */
struct resp *raw_http(const void *data, size_t len);
/* raw_http() in two steps: raw_send() connects, sends the bytes and, if
 * half_close, shuts down its sending side (shutdown(SHUT_WR)); raw_recv()
 * reads the response until EOF (at most 5 s) and closes. The connection is
 * owned by the current test (closed at its end if raw_recv() is never called). */
struct raw_conn;
struct raw_conn *raw_send(const void *data, size_t len, bool half_close);
struct resp *raw_recv(struct raw_conn *c);
/* Closes the connection with a TCP reset (SO_LINGER 0), unread: a client that vanished. */
void raw_reset(struct raw_conn *c);
/* Convenience: raw request built from a format string. */
struct resp *raw_httpf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sum of the values of every sample of Prometheus metric `name` (any
 * labels) in a /metrics body; *found = number of samples. */
double metric_value(const struct resp *r, const char *name, int *found);

/* ----------------------------------------------------- checks on resp */

void expect_status_at(const char *f, int l, const struct resp *r, long status);
void expect_ctype_at(const char *f, int l, const struct resp *r, const char *media);
void expect_problem_at(const char *f, int l, const struct resp *r, long status, const char *code);
json_t *jget_at(const char *f, int l, json_t *obj, const char *key);
const char *jstr_at(const char *f, int l, json_t *obj, const char *key);
int64_t jint_at(const char *f, int l, json_t *obj, const char *key);
void expect_keys_at(const char *f, int l, json_t *obj, const char *const *keys);
void expect_no_token_at(const char *f, int l, const struct resp *r, const char *token);

#define EXPECT_STATUS(r, s)     expect_status_at(__FILE__, __LINE__, (r), (s))
#define EXPECT_CTYPE(r, m)      expect_ctype_at(__FILE__, __LINE__, (r), (m))
#define EXPECT_PROBLEM(r, s, c) expect_problem_at(__FILE__, __LINE__, (r), (s), (c))
#define JGET(o, k)              jget_at(__FILE__, __LINE__, (o), (k))
#define JSTR(o, k)              jstr_at(__FILE__, __LINE__, (o), (k))
#define JINT(o, k)              jint_at(__FILE__, __LINE__, (o), (k))
#define EXPECT_NO_TOKEN(r, t)   expect_no_token_at(__FILE__, __LINE__, (r), (t))

/* A LockGrant body: exact key set, types, formats. ttl_ms < 0 = don't care;
 * owner NULL = expect JSON null, owner "*" = any string or null. */
struct grant {
	const char *name;
	const char *token;
	int64_t fence;
	int64_t ttl_ms;
	int64_t expires_ms;
};
struct grant check_grant_at(const char *f, int l, const struct resp *r, const char *name, int64_t ttl_ms,
                            const char *owner);
#define CHECK_GRANT(r, n, t, o) check_grant_at(__FILE__, __LINE__, (r), (n), (t), (o))

struct view {
	const char *name;
	int64_t fence;
	int64_t ttl_ms;
	int64_t expires_ms;
	int64_t acquired_ms;
};
/* A LockView object: exact key set (no token). max_ttl < 0 = don't care. */
struct view check_view_at(const char *f, int l, json_t *v, const char *name, int64_t max_ttl, const char *owner);
#define CHECK_VIEW(v, n, t, o) check_view_at(__FILE__, __LINE__, (v), (n), (t), (o))

/* One request of a list for EXPECT_PROBLEMS: method, path, body and ctype
 * as for http(), hdr one extra header line or NULL. */
struct req {
	const char *method, *path, *body, *ctype, *hdr;
};
/* each request, in order, must be answered with the problem (status, code) */
void expect_problems_at(const char *f, int l, const struct req *reqs, size_t n, long status, const char *code);
#define EXPECT_PROBLEMS(reqs, s, c)                                                                                    \
	expect_problems_at(__FILE__, __LINE__, (reqs), sizeof(reqs) / sizeof((reqs)[0]), (s), (c))

/* A 409 lock_held answer naming the holder of grant g: its view (owner,
 * remaining ttl_ms at most max_ttl) has g's fence, and g's token is not in
 * the answer. */
struct view expect_held_at(const char *f, int l, const struct resp *r, struct grant g, int64_t max_ttl,
                           const char *owner);
#define EXPECT_HELD(r, g, t, o) expect_held_at(__FILE__, __LINE__, (r), (g), (t), (o))

/* acquire `name` with the given query suffix (e.g. "ttl_ms=500", may be
 * NULL) and require 201 and a valid grant. */
struct grant acquire_at(const char *f, int l, const char *name, const char *query);
#define ACQUIRE(n, q) acquire_at(__FILE__, __LINE__, (n), (q))

/* ----------------------------------------------- contention workers
 *
 * Threads that take one lock over and over (each with its own curl handle)
 * record every critical section; the test then checks that no fence was
 * granted twice and that no two sections overlap. Workers report errors in
 * their struct contender (err), never with assertions. */

struct section {
	int64_t fence;
	double t_acq, t_end; /* mono_ms(): grant received; end of the hold */
	int thread;
};

/* the first member of a test's worker struct */
struct contender {
	int id, port;
	double deadline;      /* mono_ms() */
	bool busy_503;        /* a 503 to PUT is "not acquired", like a 409 */
	struct section *secs; /* malloc'd; contenders_collect() frees it */
	size_t n, cap;
	long n409, n503; /* PUTs refused */
	char err[512];   /* the worker's first error */
};

/* PUT path (10 s timeout) for a grant. NULL when refused: a 409, or a 503
 * if c->busy_503, counted in c->n409 or c->n503; and NULL with c->err set
 * ("PUT answered ...", "bad 201 body ...") unless it is a 201 with an
 * integer fence and a string token. Else the grant (the caller's), with
 * s->fence, s->thread, and s->t_acq = mono_ms() when the 201 was seen. */
struct resp *contender_acquire(CURL *h, struct contender *c, const char *path, struct section *s);
void contender_add(struct contender *c, struct section s);
/* Frees grant, sleeps 1 ms, sets *t_rel = mono_ms() and sends DELETE path
 * with the grant's token; the answer is the caller's (resp_free). */
struct resp *contender_release(CURL *h, struct contender *c, struct resp *grant, const char *path, double *t_rel);
/* c->err for a release of fence answered with status (d: that answer) */
void contender_release_failed(struct contender *c, int64_t fence, long status, const struct resp *d);
/* fn on each of the n workers in ws (elements of `size` bytes, each starting
 * with its struct contender), stopping at the first pthread_create failure;
 * returns how many started, their threads in th */
int contenders_start(pthread_t *th, void *ws, size_t size, int n, void *(*fn)(void *));
/* After the join: every section of the n workers in one test-owned array
 * sorted by fence (their lists freed), the count in *total, and the first
 * worker's error (test-owned) or NULL in *err. */
struct section *contenders_collect(void *ws, size_t size, int n, size_t *total, const char **err);
/* fences strictly increasing, each section ending before the next begins */
void expect_exclusive_at(const char *f, int l, const struct section *all, size_t total);
#define EXPECT_EXCLUSIVE(all, total) expect_exclusive_at(__FILE__, __LINE__, (all), (total))

/* ------------------------------------------------------ processes */

struct dlockd {
	pid_t pid;
	int port;
	char log[512];
	bool running;
};
extern struct dlockd g_dl;

struct redis {
	pid_t pid;
	int port;
	char dir[512];
	char log[512];
	char sock[512]; /* unix socket path */
	bool stopped;
};
extern struct redis g_redis;

int free_port(void);
/* plain blocking TCP connection to dlockd (caller closes), -1 on error */
int dl_connect(void);
/* start dlockd with the default flags plus extra args (defaults whose flag
 * appears in extra are omitted); fails the test if it does not get healthy */
void dlockd_start(const char *const *extra);
/* same, with extra "NAME=value" environment entries for dlockd only */
void dlockd_start_env(const char *const *extra, const char *const *env);
/* as dlockd_start(), but waits for GET /healthz 200 only (Redis may be away) */
void dlockd_start_healthy(const char *const *extra);
/* SIGKILL g_dl and reap it (a crash; the runner then has nothing to stop) */
void dlockd_kill(void);
/* SIGTERM, require exit status 0 within 10 s (fails the test otherwise) */
void dlockd_stop_checked(void);
/* same, but returns false with a reason instead of failing the test */
bool dlockd_stop(char *why, size_t whysz);
/* read the whole dlockd log (test-owned) */
char *dlockd_log_contents(size_t *len);

/* run dlockd with args synchronously (no default flags) and capture output;
 * returns exit status (-1 on signal/timeout) */
int run_dlockd_capture(const char *const *args, char *out, size_t outsz, int timeout_ms);

/* on g_redis.port, with --dir g_redis.dir: it loads dump.rdb if a SAVE left
 * one there (the runner deletes it after every test) */
bool redis_start(void);
void redis_kill(void); /* SIGKILL + reap */
void redis_stop_signal(void);
void redis_cont_signal(void);
/* Send one command over RESP; returns the reply type ('+','-',':','$','*')
 * or 0 on error; the scalar reply (or "" for nil/array) goes to out. */
char redis_cmd(char *out, size_t outsz, int argc, const char *const *argv);
/* same, on database `db` (SELECT first) */
char redis_cmd_db(int db, char *out, size_t outsz, int argc, const char *const *argv);
/* One command; every scalar of the reply in order (nested arrays flattened,
 * nil as ""), NULL-terminated and test-owned; NULL on an error reply or no
 * answer. */
const char **redis_list(int argc, const char *const *argv, size_t *n);
/* CONFIG SET on g_redis; the runner sets the old value back after the test
 * (pass or fail). False if CONFIG GET/SET failed. */
bool redis_config_set(const char *param, const char *value);
/* A plain connection to g_redis (e.g. for MONITOR), closed when the test
 * ends; -1 on error. */
int redis_conn(void);
/* Every byte readable on fd until it has been quiet for quiet_ms (or EOF);
 * NUL-terminated, test-owned. */
char *fd_drain(int fd, int quiet_ms, size_t *len);
bool redis_ping(int timeout_ms);
bool redis_flushall(void);

/* ---------------------------------------------- Redlock: several nodes
 *
 * Independent redis-servers ("nodes", separate from g_redis) and extra dlockd
 * processes ("replicas", separate from g_dl) for the Redlock tests. The runner
 * stops the replicas (each must exit 0 on SIGTERM, like g_dl) and kills the
 * nodes after every test that started any. Main thread only. */

enum { NODES_MAX = 9, REPLICAS_MAX = 4 };

struct node {
	pid_t pid; /* 0 while down */
	int port;  /* kept across restarts */
	char dir[512];
	char log[512];
	char aclfile[512]; /* its users come from this ACL file ("" for none) */
	bool paused;
};
extern struct node g_nodes[NODES_MAX];
extern int g_nnodes;

/* start n fresh, empty nodes on free ports; fails the test otherwise */
void nodes_start(int n);
/* same, each node with its users from aclfile (redis-server --aclfile); its
 * default user must be allowed PING, which the start waits for */
void nodes_start_acl(int n, const char *aclfile);
/* (re)start node i on its own port, empty (a fresh process); fails the test
 * if it does not answer PING */
void node_start(int i);
void node_kill(int i);   /* SIGKILL + reap (a no-op if it is down) */
void node_pause(int i);  /* SIGSTOP */
void node_resume(int i); /* SIGCONT */
/* one command to node i, as redis_cmd() */
char node_cmd(int i, char *out, size_t outsz, int argc, const char *const *argv);
/* one command to node i, as redis_list() */
const char **node_list(int i, int argc, const char *const *argv, size_t *n);
bool node_flushall(int i);
/* EXISTS key on node i: 1, 0, or -1 if it did not answer */
int node_exists(int i, const char *key);
/* "--redis" "redis://127.0.0.1:<port>" for every node, then extra;
 * NULL-terminated, test-owned */
const char *const *nodes_args(const char *const *extra);
/* start g_dl over every node (plus extra flags), as dlockd_start() */
void dlockd_start_nodes(const char *const *extra);
/* start another dlockd over every node (plus extra flags), or over g_redis if
 * no nodes were started; returns its port */
int replica_start(const char *const *extra);
/* HTTP request to another port (e.g. a replica's), test-owned, as http() */
struct resp *http_at(int port, const char *method, const char *path, const char *body, const char *ctype, ...)
    __attribute__((sentinel));
/* the runner's hook: stop replicas (checked), kill nodes */
void nodes_cleanup(void);

/* ------------------------------------------------- Sentinel processes
 *
 * redis-sentinel processes for the Sentinel tests, each with its config file
 * in the run's scratch directory; the runner kills them after every test that
 * started any (nodes_cleanup). A machine without redis-sentinel fails these
 * tests, naming the package: they are never skipped. Main thread only. */

enum { SENTINELS_MAX = 3 };

struct sentinel_proc {
	pid_t pid; /* 0 while down */
	int port;
	char conf[512];
	char log[512];
};
extern struct sentinel_proc g_sentinels[SENTINELS_MAX];
extern int g_nsentinels;

/* n sentinels (1..SENTINELS_MAX) on free ports that monitor master `name` at
 * 127.0.0.1:master_port with `quorum`, down-after-milliseconds down_after_ms
 * and failover-timeout failover_ms, told of each other and of the replica on
 * replica_port (0 for none) so they need no discovery; waits until each
 * answers PING. Fails the test otherwise. */
void sentinels_start(int n, const char *name, int master_port, int replica_port, int quorum, int down_after_ms,
                     int failover_ms);
void sentinel_kill(int i); /* SIGKILL + reap (a no-op if it is down) */
/* one command to the Redis (or sentinel) on port, as redis_cmd() */
char port_cmd(int port, char *out, size_t outsz, int argc, const char *const *argv);
/* one command to the Redis (or sentinel) on port, as redis_list() */
const char **port_list(int port, int argc, const char *const *argv, size_t *n);

/* The documented Redis ACL rule: the first line of docs/redis-acl.conf that
 * starts with "user " (test-owned; fails the test if there is none). */
const char *acl_documented_rule(void);
/* That rule with the word `drop` taken out (NULL: none; it must be there)
 * and the password set to pw. */
const char *acl_rule_for(const char *drop, const char *pw);

/* ------------------------------------------------------- Redis Cluster
 *
 * One real Redis Cluster for the cluster suite (harness_cluster.c): masters
 * 0..CLUSTER_MASTERS-1 made with redis-cli --cluster create, and node
 * CLUSTER_MASTERS a replica of master 0, on loopback ports. Made at the first
 * cluster_ensure() and kept for the next tests (each starts with every
 * master's keys flushed); killed at exit. Main thread only. */

enum { CLUSTER_MASTERS = 3, CLUSTER_NODES = CLUSTER_MASTERS + 1 };

/* the cluster up, every slot served, its masters' keys flushed; made (or
 * made again after cluster_broken()) if need be; fails the test otherwise */
void cluster_ensure(void);
/* the test left the cluster unfit for the next: the next cluster_ensure() makes a new one */
void cluster_broken(void);
int cluster_port(int i); /* node i's port */
/* "redis+cluster://127.0.0.1:<port of node 0>,127.0.0.1:<port of node 1>" (test-owned) */
const char *cluster_url(void);
/* the node (index) that serves slot now, as node `ask` sees it; -1 if none */
int cluster_owner(int ask, unsigned slot);
unsigned cluster_keyslot(const char *key); /* CLUSTER KEYSLOT */
const char *cluster_node_id(int i);        /* CLUSTER MYID, test-owned */
void cluster_node_kill(int i);             /* SIGKILL + reap */
void cluster_node_restart(int i);          /* from its own nodes.conf; fails the test if it does not answer */
void cluster_kill_all(void);               /* async-signal-safe: SIGKILL every node */
void cluster_reap_all(void);               /* at exit */

/* ------------------------------------------------ a stalling Redis proxy
 *
 * A TCP relay in front of a Redis (one per test; it stops when the test
 * ends): point dlockd's --redis at the port proxy_start() returns. After
 * proxy_stall(pattern), a relayed connection whose bytes towards Redis show
 * `pattern` stops forwarding them from that read on, for good, as a Redis
 * that never reads that connection again would (its earlier replies still
 * flow); every other connection is relayed as usual. So a test can stall
 * one of dlockd's Redis connections, e.g. the one that carries a list. */
int proxy_start(int target_port);      /* the proxy's port; fails the test otherwise */
void proxy_stall(const char *pattern); /* NULL: stall no more connections */
unsigned proxy_stalled(void);          /* connections stalled so far */

#endif
