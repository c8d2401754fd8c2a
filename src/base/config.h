/* config: dlockd's settings, from command-line flags and DLOCKD_* environment
 * variables (a flag wins over its variable). Read once at start-up and passed
 * down as const. Pure parsing: no I/O but the lookup of variables. */
#ifndef DLOCKD_CONFIG_H
#define DLOCKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

enum { CONFIG_REDIS_MAX = 9, CONFIG_STR_MAX = 255, CONFIG_PROXIES_MAX = 16, CONFIG_PATH_MAX = 1024 };
enum { CONFIG_SENTINELS_MAX = 9 };

/* redis+sentinel://: the sentinels to ask, in order, for the master they know as master_name. */
struct redis_sentinels {
	struct {
		char host[CONFIG_STR_MAX + 1];
		int port;
	} addr[CONFIG_SENTINELS_MAX];
	unsigned n; /* 0: not Sentinel mode */
	char master_name[CONFIG_STR_MAX + 1];
	char user[CONFIG_STR_MAX + 1];     /* ?sentinel_user=: the sentinels' ACL user, "" for none */
	char password[CONFIG_STR_MAX + 1]; /* ?sentinel_password=: "" for no AUTH to the sentinels */
};

struct redis_target {
	char host[CONFIG_STR_MAX + 1]; /* "" for a unix socket */
	int port;
	char unix_path[CONFIG_STR_MAX + 1];
	char user[CONFIG_STR_MAX + 1];     /* Redis ACL user, "" for none (AUTH password alone) */
	char password[CONFIG_STR_MAX + 1]; /* "" for none */
	int db;
	char label[CONFIG_STR_MAX + 16]; /* host:port or the socket path, never the user or password */
	struct redis_sentinels sentinel; /* redis+sentinel://: host and port unused (the sentinels name them) */
};

/* A network: an IPv6 address (IPv4 as ::ffff:a.b.c.d) and its prefix length. */
struct config_net {
	unsigned char addr[16];
	unsigned bits; /* 0..128 */
};

struct config {
	char listen_host[CONFIG_STR_MAX + 1]; /* "" = every interface */
	int listen_port;
	struct redis_target redis[CONFIG_REDIS_MAX];
	unsigned nredis;
	bool redis_cluster; /* redis+cluster://: redis[0..nredis) are a Redis Cluster's seed nodes */
	char prefix[65];
	int64_t default_ttl_ms, min_ttl_ms, max_ttl_ms;
	unsigned redis_timeout_ms;
	unsigned threads;
	enum log_format log_format;
	enum log_level log_level;
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0 = unlimited */
	unsigned connection_timeout_s;
	unsigned request_timeout_ms; /* from a request's first line to its complete head and body */
	struct config_net trusted_proxies[CONFIG_PROXIES_MAX];
	unsigned ntrusted_proxies;
	unsigned connection_memory;      /* libmicrohttpd per-connection pool, bytes */
	bool healthcheck;                /* --healthcheck: probe the local /readyz and exit */
	int64_t max_wait_ms;             /* longest wait_ms a request may ask for */
	unsigned max_waiters;            /* waiting requests at most, per thread */
	unsigned max_lists;              /* list requests running at once at most, per thread */
	unsigned node_timeout_ms;        /* Redlock: per-node timeout */
	double clock_drift_factor;       /* Redlock: drift allowed per ms of lease */
	int64_t fence_retention_ms;      /* a fence counter lives this long after its name's last lease */
	unsigned wait_replicas;          /* WAIT for this many Redis replicas after every write batch; 0 = off */
	char auth_file[CONFIG_PATH_MAX]; /* --auth-file, or "" (no keys: every request may do anything) */
	bool metrics_public;             /* with an auth file: /metrics needs no key */
	unsigned rate_limit;             /* requests a second per API key, per instance; 0 = off */

	/* HTTPS: both "" (plain HTTP), or a PEM certificate chain and its PEM key */
	char tls_cert[CONFIG_PATH_MAX];
	char tls_key[CONFIG_PATH_MAX];
};

enum config_result {
	CONFIG_OK,
	CONFIG_DONE,  /* --help or --version was printed: exit 0 */
	CONFIG_ERROR, /* err holds a one-line reason: exit 2 */
};

/* Variable lookup, getenv() in production. */
typedef const char *config_getenv_fn(const char *name);

/* Fills c from defaults, then the environment, then argv. Prints --help and
 * --version text to stdout. On CONFIG_ERROR, err (errlen bytes) says why. */
enum config_result config_parse(struct config *c, int argc, char *const argv[], config_getenv_fn *env, char *err,
                                size_t errlen);

/* Parses one Redis address (redis://[[user]:password@]host[:port][/db],
 * unix:///path, or redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db]
 * [?sentinel_user=U&sentinel_password=P], sentinels' port 26379 by default) into t; user,
 * password and the query's values are percent-decoded, and a userinfo without a colon is a
 * password (the data nodes'; the sentinels get AUTH only from the query). Returns false with a reason in err, which
 * never repeats the address (it may carry a password). */
bool config_parse_redis(const char *url, struct redis_target *t, char *err, size_t errlen);

/* Parses a Redis Cluster address, redis+cluster://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]
 * (the seed nodes; user and password percent-encoded, as for redis://, and
 * given to every node), into seeds[0..*n) (at most max). Returns false with a
 * reason in err, which never repeats the address. */
bool config_parse_redis_cluster(const char *url, struct redis_target *seeds, unsigned max, unsigned *n, char *err,
                                size_t errlen);

#endif
