/* cluster: one lock service over a Redis Cluster, behind the backend
 * interface (backend.h). It owns the slot map (CLUSTER SLOTS, asked of any
 * node it can reach), one store (store.h) per master, the routing of each
 * lock's script to the master of its name's slot, and the cluster's
 * redirections: MOVED (the map is refreshed, the script retried on the named
 * master), ASK (ASKING and the script on the named node, once, the map left
 * alone), TRYAGAIN and CLUSTERDOWN (retried after a short delay), and lost
 * connections (the map refreshed from any reachable node, the call retried
 * where that cannot grant twice) — all within the call's deadline, past which
 * the answer is LOCK_UNAVAILABLE. Wake-ups come from one master's subscriber
 * at a time (a PUBLISH reaches every node of a cluster), moved to another
 * master when its node goes away. Lists walk the masters one after another.
 * Knows nothing of HTTP or JSON. */
#ifndef DLOCKD_REDIS_CLUSTER_H
#define DLOCKD_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"
#include "locks/backend.h"
#include "locks/keys.h"

struct cluster_config {
	const struct redis_target *seeds; /* where to ask for the slot map first (user and password: every node's) */
	unsigned nseeds;
	const struct keys *keys;
	unsigned timeout_ms;        /* a call's deadline, and each node's connect and command timeout */
	int64_t fence_retention_ms; /* as for a store */
};

/* Returns a backend over the cluster the seeds belong to, already asking for
 * its slot map on loop, or NULL on allocation failure. cfg's strings must
 * outlive it. */
struct backend *cluster_new(struct loop *loop, const struct cluster_config *cfg);

/* A redirection, as a cluster node words it: "MOVED <slot> <host>:<port>" or
 * "ASK <slot> <host>:<port>" (host may be empty: the node that answered).
 * Pure, exposed for tests. */
struct cluster_redirect {
	bool ask;
	unsigned slot;
	char host[CONFIG_STR_MAX + 1];
	int port;
};
bool cluster_parse_redirect(const char *err, struct cluster_redirect *out);

#endif
