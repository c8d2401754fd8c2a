/* sentinel: Redis Sentinel mode (redis+sentinel://). Owns the conversation
 * with the sentinels — their connections, the question "where is master
 * NAME?" (SENTINEL get-master-addr-by-name, asked of each sentinel in order
 * until one answers), a +switch-master subscription on every sentinel — and
 * tells its one store where the master is (store_move). The store confirms
 * the master with ROLE and reports every loss, READONLY reply or refused
 * ROLE, after which the sentinels are asked again. Behind the backend
 * interface it is that store, plus why nothing is served while no master is
 * known. Knows nothing of locks, HTTP or JSON. */
#ifndef DLOCKD_SENTINEL_H
#define DLOCKD_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/loop.h"
#include "locks/backend.h"
#include "redis/store.h"

enum { SENTINEL_HOST_MAX = CONFIG_STR_MAX };

/* Returns a backend that serves from the master the sentinels in sc name,
 * through a store made from store_cfg (its host, port and unix path are
 * ignored: the sentinels say where to go), or NULL on allocation failure.
 * timeout_ms bounds each sentinel's connect and answer. sc and store_cfg's
 * strings must outlive the backend. */
struct backend *sentinel_new(struct loop *loop, const struct redis_sentinels *sc, const struct store_config *store_cfg,
                             unsigned timeout_ms);

/* A +switch-master message, "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT": true, with
 * the new address in host (SENTINEL_HOST_MAX + 1 bytes) and *port, when it
 * is well formed and about master `name`. Pure. */
bool sentinel_parse_switch(const char *msg, size_t len, const char *name, char *host, int *port);

#endif
