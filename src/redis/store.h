/* store: one Redis node behind the backend interface (backend.h). It owns
 * the async connections, their reconnects with backoff, the connect and
 * command timeouts, and the calls of the Lua scripts (scripts.h) that make
 * every lock operation one atomic step. Only redis/ includes hiredis. It
 * knows nothing of HTTP or JSON. */
#ifndef DLOCKD_STORE_H
#define DLOCKD_STORE_H

#include "locks/backend.h"
#include "locks/keys.h"
#include "base/loop.h"

struct store_config {
	const char *host; /* TCP host, or NULL when unix_path is set */
	int port;
	const char *unix_path; /* unix socket path, or NULL */
	const char *user;      /* Redis ACL user (AUTH user password), or NULL */
	const char *password;  /* AUTH password, or NULL */
	int db;                /* SELECT db when > 0 */
	const struct keys *keys;
	unsigned timeout_ms;        /* connect and command timeout */
	const char *label;          /* for logs, e.g. "127.0.0.1:6379" */
	int64_t fence_retention_ms; /* how long a fence counter outlives its name's last lease */
	bool quorum_node;           /* one of a Redlock quorum: its fences must agree with the others' */
	unsigned wait_replicas;     /* answer grants, renewals and releases only once this many replicas
	                               acknowledged them (WAIT; see acks.h); 0: at once */
	/* Only a master will do: the command connection's setup asks ROLE and
	 * drops a node that is no master (store_move then says where to go). */
	bool master_only;
	/* Called (never from inside a store call) when the command connection
	 * failed or was lost, or the node answered as a replica (READONLY, or
	 * ROLE with master_only): the master may have moved. NULL for none. */
	void (*lost)(void *arg);
	void *lost_arg;
	bool cluster_node; /* a master of a Redis Cluster: redirections are the caller's (cluster.h) */
};

/* store_fence_floor's callback: ok says whether the node confirmed. */
typedef void store_confirm_fn(void *arg, bool ok);

/* Redlock's per-node step (a redlock_floor_fn; see redlock.h): on node b (a
 * store), raises name's fence counter to at least `fence`; if `token` holds
 * the lock, sets the lock's fence to `fence` and, unless `adopt` is NULL, its
 * token to `adopt` (a re-acquire that puts the caller's lock back on a node
 * that had lost it). Returns as backend calls do; cb(arg, ok) is called once
 * when BACKEND_STARTED. */
enum backend_start store_fence_floor(struct backend *b, const char *name, const char *token, int64_t fence,
                                     const char *adopt, store_confirm_fn *cb, void *arg);

/* Cluster nodes (cfg.cluster_node). A lock operation that Redis refused with
 * a cluster redirection or state error (MOVED, ASK, TRYAGAIN, CLUSTERDOWN)
 * answers LOCK_UNAVAILABLE with that error reply, as Redis gave it, in the
 * reply's detail (cut to BACKEND_DETAIL_MAX bytes); the script did not run.
 * Any other LOCK_UNAVAILABLE has an empty detail. store_cluster_error()
 * tells the two apart. */
bool store_cluster_error(const struct lock_reply *r);
/* The next lock operation started on b (a store) is sent right after an
 * ASKING, on the same connection: an ASK redirection's one retry. */
void store_ask(struct backend *b);
/* Whether b's command connection is up and set up. */
bool store_connected(struct backend *b);
/* Whether b's subscriber (started by watch()) is subscribed now. */
bool store_watching(struct backend *b);
/* Stops b's wake-ups: closes its subscriber (a later watch() opens it again). */
void store_unwatch(struct backend *b);

/* Returns a backend for one Redis node, already connecting on loop, or NULL on
 * allocation failure. cfg's strings must outlive the store. The subscriber
 * connection for wake-ups is opened by the backend's watch(). With cfg->host
 * and cfg->unix_path both NULL it connects nowhere (every call answers
 * unavailable) until store_move() names the node. */
struct backend *store_new(struct loop *loop, const struct store_config *cfg);

/* Connect here now: store b (a store) serves from the Redis at host:port
 * (copied) from now on. Its connections are closed — calls in flight on them
 * fail as unavailable — and made again to the new address; the label in logs
 * becomes host:port. Must not be called from inside one of b's callbacks. */
void store_move(struct backend *b, const char *host, int port);

#endif
