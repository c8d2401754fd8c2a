/* config: flags and environment. See config.h. */
#include "base/config.h"

#include "base/text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DLOCKD_VERSION
#define DLOCKD_VERSION "0.0.0"
#endif

enum opt_kind { OPT_STR, OPT_U32, OPT_I64, OPT_FLAG, OPT_RATIO };

enum opt_id {
	O_LISTEN,
	O_REDIS,
	O_PREFIX,
	O_DEFAULT_TTL,
	O_MIN_TTL,
	O_MAX_TTL,
	O_REDIS_TIMEOUT,
	O_THREADS,
	O_LOG_FORMAT,
	O_LOG_LEVEL,
	O_MAX_CONN,
	O_MAX_CONN_IP,
	O_CONN_TIMEOUT,
	O_REQUEST_TIMEOUT,
	O_TRUSTED_PROXY,
	O_CONN_MEMORY,
	O_MAX_WAIT,
	O_MAX_WAITERS,
	O_MAX_LISTS,
	O_NODE_TIMEOUT,
	O_DRIFT,
	O_FENCE_RETENTION,
	O_WAIT_REPLICAS,
	O_AUTH_FILE,
	O_METRICS_PUBLIC,
	O_RATE_LIMIT,
	O_TLS_CERT,
	O_TLS_KEY,
	O_HEALTHCHECK,
	O_HELP,
	O_VERSION,
	O_COUNT
};

static const struct opt {
	const char *flag, *env, *arg, *help;
	enum opt_kind kind;
	int64_t min, max;
} OPTS[O_COUNT] = {
    [O_LISTEN] = {"listen", "DLOCKD_LISTEN", "HOST:PORT",
                  "address to serve HTTP on (default 127.0.0.1:8080; :PORT for all interfaces)", OPT_STR, 0, 0},
    [O_REDIS] = {"redis", "DLOCKD_REDIS", "URL",
                 "redis://[[user]:password@]host[:port][/db], unix:///path, "
                 "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db], or "
                 "redis+cluster://[user:password@]host:port[,host:port...] (default redis://127.0.0.1:6379)",
                 OPT_STR, 0, 0},
    [O_PREFIX] = {"prefix", "DLOCKD_PREFIX", "STR", "prefix of every Redis key (default dlock:)", OPT_STR, 0, 0},
    [O_DEFAULT_TTL] = {"default-ttl-ms", "DLOCKD_DEFAULT_TTL_MS", "MS",
                       "lease when a request gives no ttl_ms (default 30000)", OPT_I64, 1, 86400000LL * 365},
    [O_MIN_TTL] = {"min-ttl-ms", "DLOCKD_MIN_TTL_MS", "MS", "shortest lease a request may ask for (default 100)",
                   OPT_I64, 1, 86400000LL * 365},
    [O_MAX_TTL] = {"max-ttl-ms", "DLOCKD_MAX_TTL_MS", "MS", "longest lease a request may ask for (default 86400000)",
                   OPT_I64, 1, 86400000LL * 365},
    [O_REDIS_TIMEOUT] = {"redis-timeout-ms", "DLOCKD_REDIS_TIMEOUT_MS", "MS",
                         "Redis connect and command timeout (default 1000)", OPT_U32, 10, 600000},
    [O_THREADS] = {"threads", "DLOCKD_THREADS", "N",
                   "event-loop threads, each with its own Redis connection (default 1)", OPT_U32, 1, 64},
    [O_LOG_FORMAT] = {"log-format", "DLOCKD_LOG_FORMAT", "text|json", "log line format (default text)", OPT_STR, 0, 0},
    [O_LOG_LEVEL] = {"log-level", "DLOCKD_LOG_LEVEL", "LEVEL", "debug, info (access log), warn or error (default info)",
                     OPT_STR, 0, 0},
    [O_MAX_CONN] = {"max-connections", "DLOCKD_MAX_CONNECTIONS", "N",
                    "open HTTP connections at most, per thread (default 10000)", OPT_U32, 1, 1000000},
    [O_MAX_CONN_IP] = {"max-connections-per-ip", "DLOCKD_MAX_CONNECTIONS_PER_IP", "N",
                       "open connections per client address, per thread; trusted proxies are exempt (default 1024; 0: "
                       "unlimited)",
                       OPT_U32, 0, 1000000},
    [O_CONN_TIMEOUT] = {"connection-timeout-s", "DLOCKD_CONNECTION_TIMEOUT_S", "S",
                        "a connection idle this long, or this long without starting a request, is closed (default "
                        "30)",
                        OPT_U32, 1, 86400},
    [O_REQUEST_TIMEOUT] = {"request-timeout-ms", "DLOCKD_REQUEST_TIMEOUT_MS", "MS",
                           "a request's headers and body must arrive within this of its request line (default 10000)",
                           OPT_U32, 100, 3600000},
    [O_TRUSTED_PROXY] = {"trusted-proxy", "DLOCKD_TRUSTED_PROXY", "ADDR[/BITS],...",
                         "proxies whose X-Forwarded-For names the client; exempt from the per-address cap", OPT_STR, 0,
                         0},
    [O_CONN_MEMORY] = {"connection-memory", "DLOCKD_CONNECTION_MEMORY", "BYTES",
                       "memory pool per connection for request headers and I/O (default 4096; raise it for clients "
                       "that send large headers)",
                       OPT_U32, 4096, 1048576},
    [O_MAX_WAIT] = {"max-wait-ms", "DLOCKD_MAX_WAIT_MS", "MS", "longest wait_ms a request may ask for (default 60000)",
                    OPT_I64, 0, 3600000},
    [O_MAX_WAITERS] = {"max-waiters", "DLOCKD_MAX_WAITERS", "N",
                       "waiting requests at most, per thread; beyond, 503 (default 10000)", OPT_U32, 0, 10000000},
    [O_MAX_LISTS] = {"max-list-requests", "DLOCKD_MAX_LIST_REQUESTS", "N",
                     "list requests running at once at most, per thread; beyond, 503 (default 4)", OPT_U32, 1, 1000},
    [O_NODE_TIMEOUT] = {"node-timeout-ms", "DLOCKD_NODE_TIMEOUT_MS", "MS",
                        "Redlock (several --redis): per-node timeout (default 50)", OPT_U32, 1, 60000},
    [O_DRIFT] = {"clock-drift-factor", "DLOCKD_CLOCK_DRIFT_FACTOR", "F",
                 "Redlock: clock drift allowed per ms of lease, 0..0.5 (default 0.01)", OPT_RATIO, 0, 0},
    [O_FENCE_RETENTION] = {"fence-retention-ms", "DLOCKD_FENCE_RETENTION_MS", "MS",
                           "how long a name's fence counter outlives its last lease (default 10000)", OPT_I64, 1000,
                           86400000LL * 30},
    [O_WAIT_REPLICAS] = {"redis-wait-replicas", "DLOCKD_REDIS_WAIT_REPLICAS", "N",
                         "answer grants, renewals and releases only once N Redis replicas acknowledged them (WAIT, "
                         "within --redis-timeout-ms); an unacknowledged grant is released and answered 503 (default "
                         "0: off; not with Redlock)",
                         OPT_U32, 0, 100},
    [O_AUTH_FILE] = {"auth-file", "DLOCKD_AUTH_FILE", "PATH",
                     "API keys, one per line: ID sha256:HEX PREFIX RIGHTS (docs/security.md); reloaded on SIGHUP. "
                     "Without it, anyone who reaches dlockd may take, list and inspect every lock",
                     OPT_STR, 0, 0},
    [O_METRICS_PUBLIC] = {"metrics-public", "DLOCKD_METRICS_PUBLIC", NULL,
                          "with --auth-file: serve /metrics without a key (variable: 1 or 0)", OPT_FLAG, 0, 0},
    [O_RATE_LIMIT] = {"rate-limit", "DLOCKD_RATE_LIMIT", "N",
                      "with --auth-file: requests a second per API key, per instance; beyond, 429 (default 0: off)",
                      OPT_U32, 0, 1000000},
    [O_TLS_CERT] = {"tls-cert", "DLOCKD_TLS_CERT", "FILE",
                    "serve HTTPS with this PEM certificate chain (server certificate first); needs --tls-key; "
                    "reloaded on SIGHUP",
                    OPT_STR, 0, 0},
    [O_TLS_KEY] = {"tls-key", "DLOCKD_TLS_KEY", "FILE", "the PEM private key of --tls-cert (unencrypted)", OPT_STR, 0,
                   0},
    [O_HEALTHCHECK] = {"healthcheck", NULL, NULL, "ask the instance on --listen for /readyz; exit 0 if ready, 1 if not",
                       OPT_FLAG, 0, 0},
    [O_HELP] = {"help", NULL, NULL, "print this help and exit", OPT_FLAG, 0, 0},
    [O_VERSION] = {"version", NULL, NULL, "print the version and exit", OPT_FLAG, 0, 0},
};

static void usage(void)
{
	printf("usage: dlockd [OPTION]...\n"
	       "A distributed lock service over HTTP, backed by Redis.\n\n");
	for (int i = 0; i < O_COUNT; i++) {
		char left[64];
		snprintf(left, sizeof left, "--%s%s%s", OPTS[i].flag, OPTS[i].arg ? " " : "",
		         OPTS[i].arg ? OPTS[i].arg : "");
		printf("  %-32s %s%s%s\n", left, OPTS[i].help, OPTS[i].env ? "; env " : "",
		       OPTS[i].env ? OPTS[i].env : "");
	}
}

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll() would also take a sign or leading white space (" \t\n\v\f\r") */
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

/* Splits "host:port", "[v6]:port" or ":port" into host and port. */
static bool parse_hostport(const char *s, char host[CONFIG_STR_MAX + 1], int *port, bool port_required)
{
	const char *colon;
	int64_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1 || !copy_str(host, CONFIG_STR_MAX + 1, s + 1, (size_t)(close - s - 1)))
			return false;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1] != '\0')
			return false;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return false; /* a bare IPv6 address needs brackets */
		if (!copy_str(host, CONFIG_STR_MAX + 1, s, colon ? (size_t)(colon - s) : strlen(s)))
			return false;
	}
	if (!colon)
		return !port_required;
	if (!parse_int(colon + 1, 1, 65535, &p))
		return false;
	*port = (int)p;
	return true;
}

/* Decodes the %XX escapes of in[0..len) into out (cap bytes, NUL added); -1
 * on a malformed escape, an encoded NUL, or a result that does not fit. */
static int percent_decode(const char *in, size_t len, char *out, size_t cap)
{
	long n = text_percent_decode(in, len, out, cap, false);

	if (n < 0 || memchr(out, '\0', (size_t)n))
		return -1;
	return 0;
}

/* The userinfo of a Redis address, in[0..len): USER:PASSWORD, :PASSWORD, or
 * (as before users) PASSWORD alone, percent-decoded into t. */
static bool parse_userinfo(const char *in, size_t len, struct redis_target *t, char *err, size_t errlen)
{
	const char *colon = memchr(in, ':', len);
	const char *pw = colon ? colon + 1 : in;

	if (colon && percent_decode(in, (size_t)(colon - in), t->user, sizeof t->user) < 0) {
		snprintf(err, errlen, "bad Redis address: the user name is too long or badly encoded");
		return false;
	}
	if (percent_decode(pw, (size_t)(in + len - pw), t->password, sizeof t->password) < 0) {
		snprintf(err, errlen, "bad Redis address: the password is too long or badly encoded");
		return false;
	}
	return true;
}

/* A Sentinel master name: 1..255 bytes of printable ASCII without spaces or
 * the bytes that delimit the address. */
static bool master_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CONFIG_STR_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || strchr("/?@%,#&=", s[i]))
			return false;
	return true;
}

/* A sentinel's or cluster seed's host: a DNS name or an address (IPv6
 * without its brackets): letters, digits and . - _ : only. */
static bool host_name_ok(const char *h)
{
	size_t n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:");
	return h[0] && h[n] == '\0';
}

/* The query of a redis+sentinel:// address, q[0..len): sentinel_user= and
 * sentinel_password=, each at most once, percent-decoded. */
static bool parse_sentinel_query(const char *q, size_t len, struct redis_sentinels *s, char *err, size_t errlen)
{
	bool seen_user = false, seen_pw = false;
	const char *end = q + len;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q)), *stop = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		bool user = eq && (size_t)(eq - q) == 13 && memcmp(q, "sentinel_user", 13) == 0;
		bool pw = eq && (size_t)(eq - q) == 17 && memcmp(q, "sentinel_password", 17) == 0;

		if ((!user && !pw) || (user && seen_user) || (pw && seen_pw)) {
			snprintf(
			    err, errlen,
			    "bad Redis address: the query may hold sentinel_user= and sentinel_password=, each once");
			return false;
		}
		if (percent_decode(eq + 1, (size_t)(stop - eq - 1), user ? s->user : s->password,
		                   user ? sizeof s->user : sizeof s->password) < 0) {
			snprintf(err, errlen, "bad Redis address: the sentinel %s is too long or badly encoded",
			         user ? "user name" : "password");
			return false;
		}
		seen_user |= user;
		seen_pw |= pw;
		q = amp ? amp + 1 : end;
	}
	return true;
}

/* redis+sentinel://[userinfo@]host[:port][,host[:port]...]/master[/db][?query].
 * The userinfo ends at the last '@' before the query (a password may hold
 * '/' or '?'); neither hosts nor the master name hold '@'. */
static bool parse_sentinel_url(const char *url, struct redis_target *t, char *err, size_t errlen)
{
	static const char SYNTAX[] = "bad Redis address: expected "
	                             "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db]";
	struct redis_sentinels *s = &t->sentinel;
	const char *rest = url + 17, *end = rest + strlen(rest), *q = strrchr(rest, '?'), *at = NULL, *slash, *name;
	char hostport[CONFIG_STR_MAX + 1];

	if (q && strchr(q, '@'))
		q = NULL; /* a '?' in the password, no query */
	if (q)
		end = q;
	for (const char *p = rest; p < end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		if (!parse_userinfo(rest, (size_t)(at - rest), t, err, errlen))
			return false;
		rest = at + 1;
	}
	slash = memchr(rest, '/', (size_t)(end - rest));
	if (!slash) {
		snprintf(err, errlen, "%s", SYNTAX);
		return false;
	}
	for (const char *h = rest; h <= slash;) {
		const char *comma = memchr(h, ',', (size_t)(slash - h)), *stop = comma ? comma : slash;
		if (s->n == CONFIG_SENTINELS_MAX) {
			snprintf(err, errlen, "bad Redis address: at most %d sentinels", CONFIG_SENTINELS_MAX);
			return false;
		}
		if (!copy_str(hostport, sizeof hostport, h, (size_t)(stop - h)) ||
		    !parse_hostport(hostport, s->addr[s->n].host, &s->addr[s->n].port, false) ||
		    !host_name_ok(s->addr[s->n].host)) {
			snprintf(err, errlen, "%s", SYNTAX);
			return false;
		}
		if (!s->addr[s->n].port)
			s->addr[s->n].port = 26379;
		s->n++;
		h = stop + 1;
	}
	name = slash + 1;
	slash = memchr(name, '/', (size_t)(end - name));
	if (!master_name_ok(name, (size_t)((slash ? slash : end) - name))) {
		snprintf(err, errlen,
		         "bad Redis address: the master name must be 1-255 printable bytes without "
		         "spaces or any of / ? @ %% , # & =");
		return false;
	}
	memcpy(s->master_name, name, (size_t)((slash ? slash : end) - name));
	if (slash) {
		char db[16];
		int64_t n;
		if (!copy_str(db, sizeof db, slash + 1, (size_t)(end - slash - 1)) || !parse_int(db, 0, 100000, &n)) {
			snprintf(err, errlen, "bad Redis address: the database must be a number");
			return false;
		}
		t->db = (int)n;
	}
	if (q && !parse_sentinel_query(q + 1, strlen(q + 1), s, err, errlen))
		return false;
	snprintf(t->label, sizeof t->label, "master %s", s->master_name);
	return true;
}

bool config_parse_redis(const char *url, struct redis_target *t, char *err, size_t errlen)
{
	const char *rest, *at, *slash;
	char hostport[CONFIG_STR_MAX + 1];

	memset(t, 0, sizeof *t);
	if (strncmp(url, "redis+sentinel://", 17) == 0) {
		if (parse_sentinel_url(url, t, err, errlen))
			return true;
		memset(t, 0, sizeof *t); /* no password left behind */
		return false;
	}
	if (strncmp(url, "unix://", 7) == 0) {
		if (url[7] != '/' || !copy_str(t->unix_path, sizeof t->unix_path, url + 7, strlen(url + 7))) {
			/* Not echoed: it may carry a password. */
			snprintf(err, errlen, "bad Redis address: expected unix:///absolute/path");
			return false;
		}
		snprintf(t->label, sizeof t->label, "%s", t->unix_path);
		return true;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen,
		         "bad Redis address: expected redis://[[user]:password@]host[:port][/db], unix:///path or "
		         "redis+sentinel://...");
		return false;
	}
	rest = url + 8;
	at = strrchr(rest, '@');
	if (at) {
		if (!parse_userinfo(rest, (size_t)(at - rest), t, err, errlen))
			return false;
		rest = at + 1;
	}
	slash = strchr(rest, '/');
	if (!copy_str(hostport, sizeof hostport, rest, slash ? (size_t)(slash - rest) : strlen(rest)) ||
	    !parse_hostport(hostport, t->host, &t->port, false) || !t->host[0]) {
		snprintf(err, errlen, "bad Redis address: expected redis://host[:port][/db]");
		return false;
	}
	if (!t->port)
		t->port = 6379;
	if (slash && slash[1]) {
		int64_t db;
		if (!parse_int(slash + 1, 0, 100000, &db)) {
			snprintf(err, errlen, "bad Redis address: the database must be a number");
			return false;
		}
		t->db = (int)db;
	}
	snprintf(t->label, sizeof t->label, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
	return true;
}

#define CLUSTER_SCHEME "redis+cluster://"

bool config_parse_redis_cluster(const char *url, struct redis_target *seeds, unsigned max, unsigned *n, char *err,
                                size_t errlen)
{
	const char *rest, *at;
	char user[CONFIG_STR_MAX + 1] = "", password[CONFIG_STR_MAX + 1] = "";

	*n = 0;
	if (strncmp(url, CLUSTER_SCHEME, strlen(CLUSTER_SCHEME)) != 0) {
		snprintf(err, errlen,
		         "bad Redis Cluster address: expected " CLUSTER_SCHEME "[user:password@]host:port[,...]");
		return false;
	}
	rest = url + strlen(CLUSTER_SCHEME);
	at = strrchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		const char *pw = colon ? colon + 1 : rest;
		if (colon && percent_decode(rest, (size_t)(colon - rest), user, sizeof user) < 0) {
			snprintf(err, errlen, "bad Redis Cluster address: the user name is too long or badly encoded");
			return false;
		}
		if (percent_decode(pw, (size_t)(at - pw), password, sizeof password) < 0) {
			snprintf(err, errlen, "bad Redis Cluster address: the password is too long or badly encoded");
			return false;
		}
		rest = at + 1;
	}
	for (;;) {
		size_t len = strcspn(rest, ",");
		char hostport[CONFIG_STR_MAX + 1];
		struct redis_target *t;

		if (*n == max) {
			snprintf(err, errlen, "bad Redis Cluster address: at most %u seed nodes", max);
			return false;
		}
		t = &seeds[*n];
		memset(t, 0, sizeof *t);
		if (!copy_str(hostport, sizeof hostport, rest, len) || memchr(hostport, '/', len) ||
		    !parse_hostport(hostport, t->host, &t->port, false) || !host_name_ok(t->host)) {
			snprintf(err, errlen,
			         "bad Redis Cluster address: expected " CLUSTER_SCHEME
			         "[user:password@]host:port[,host:port...] (no database: a cluster has only 0)");
			return false;
		}
		if (!t->port)
			t->port = 6379;
		memcpy(t->user, user, sizeof user);
		memcpy(t->password, password, sizeof password);
		snprintf(t->label, sizeof t->label, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
		(*n)++;
		if (!rest[len])
			return true;
		rest += len + 1;
	}
}

/* --redis or DLOCKD_REDIS holding a redis+cluster:// address: the seeds,
 * alone. */
static bool parse_redis_cluster(struct config *c, const char *v, bool from_flag, char *err, size_t errlen)
{
	if (c->nredis > 0) {
		snprintf(err, errlen,
		         "%s: a redis+cluster:// address names every seed node itself: give it once, alone",
		         from_flag ? "--redis" : "DLOCKD_REDIS");
		return false;
	}
	if (!config_parse_redis_cluster(v, c->redis, CONFIG_REDIS_MAX, &c->nredis, err, errlen))
		return false;
	c->redis_cluster = true;
	return true;
}

static bool parse_redis_list(struct config *c, const char *list, char *err, size_t errlen)
{
	char buf[4096];
	char *save = NULL;

	if (!copy_str(buf, sizeof buf, list, strlen(list))) {
		snprintf(err, errlen, "--redis: the list is too long");
		return false;
	}
	c->nredis = 0;
	if (strncmp(list, "redis+sentinel://", 17) == 0) {
		/* one address whose commas separate sentinels */
		if (!config_parse_redis(list, &c->redis[0], err, errlen))
			return false;
		c->nredis = 1;
		return true;
	}
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (c->nredis == CONFIG_REDIS_MAX) {
			snprintf(err, errlen, "--redis: at most %d Redis nodes", CONFIG_REDIS_MAX);
			return false;
		}
		if (!config_parse_redis(tok, &c->redis[c->nredis], err, errlen))
			return false;
		c->nredis++;
	}
	if (c->nredis == 0) {
		snprintf(err, errlen, "--redis: no address given");
		return false;
	}
	return true;
}

/* "ADDR[/BITS]" for IPv4 or IPv6; IPv4 networks are kept IPv4-mapped. */
static bool parse_net(const char *s, struct config_net *n)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max = 128;
	int64_t bits;

	if (!copy_str(buf, sizeof buf, s, alen))
		return false;
	memset(n, 0, sizeof *n);
	if (inet_pton(AF_INET, buf, n->addr + 12) == 1) {
		n->addr[10] = n->addr[11] = 0xff;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) != 1) {
		return false;
	}
	if (!slash)
		bits = max;
	else if (!parse_int(slash + 1, 0, max, &bits))
		return false;
	n->bits = (unsigned)bits + (128 - max);
	/* Host bits beyond the prefix are cleared: 10.1.2.3/8 means 10.0.0.0/8. */
	for (unsigned i = n->bits; i < 128; i++)
		n->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return true;
}

static bool parse_nets(struct config *c, const char *list, char *err, size_t errlen)
{
	char buf[2048];
	char *save = NULL;

	if (!copy_str(buf, sizeof buf, list, strlen(list))) {
		snprintf(err, errlen, "--trusted-proxy: the list is too long");
		return false;
	}
	c->ntrusted_proxies = 0;
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (c->ntrusted_proxies == CONFIG_PROXIES_MAX) {
			snprintf(err, errlen, "--trusted-proxy: at most %d networks", CONFIG_PROXIES_MAX);
			return false;
		}
		if (!parse_net(tok, &c->trusted_proxies[c->ntrusted_proxies++])) {
			snprintf(err, errlen, "--trusted-proxy: '%.64s' is not an address or ADDR/BITS", tok);
			return false;
		}
	}
	return true;
}

static bool apply(struct config *c, enum opt_id id, const char *v, bool from_flag, char *err, size_t errlen)
{
	const struct opt *o = &OPTS[id];
	int64_t n = 0;
	const char *src = from_flag ? "--" : "";
	const char *name = from_flag ? o->flag : o->env;

	if ((o->kind == OPT_U32 || o->kind == OPT_I64) && !parse_int(v, o->min, o->max, &n)) {
		snprintf(err, errlen, "%s%s: '%s' is not a whole number in %lld..%lld", src, name, v, (long long)o->min,
		         (long long)o->max);
		return false;
	}
	if (o->kind == OPT_RATIO) {
		char *end;
		double d;
		/* no sign or white space, which strtod() would take */
		if ((*v < '0' || *v > '9') && *v != '.') {
			snprintf(err, errlen, "%s%s: '%s' is not a number in 0..0.5", src, name, v);
			return false;
		}
		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end || !(d >= 0.0 && d <= 0.5)) {
			snprintf(err, errlen, "%s%s: '%s' is not a number in 0..0.5", src, name, v);
			return false;
		}
		c->clock_drift_factor = d;
		return true;
	}
	switch (id) {
	case O_LISTEN:
		if (!parse_hostport(v, c->listen_host, &c->listen_port, true)) {
			snprintf(err, errlen, "%s%s: '%s' is not HOST:PORT, [IPv6]:PORT or :PORT", src, name, v);
			return false;
		}
		return true;
	case O_REDIS:
		/* Repeated flags add nodes; the variable is a comma-separated list.
		 * A cluster address is one value, seeds and all. */
		if (strncmp(v, CLUSTER_SCHEME, strlen(CLUSTER_SCHEME)) == 0) {
			if (!from_flag)
				c->nredis = 0;
			return parse_redis_cluster(c, v, from_flag, err, errlen);
		}
		if (c->redis_cluster) {
			snprintf(err, errlen,
			         "--redis: a redis+cluster:// address cannot be mixed with other addresses");
			return false;
		}
		if (from_flag) {
			if (c->nredis == CONFIG_REDIS_MAX) {
				snprintf(err, errlen, "--redis: at most %d Redis nodes", CONFIG_REDIS_MAX);
				return false;
			}
			return config_parse_redis(v, &c->redis[c->nredis++], err, errlen);
		}
		return parse_redis_list(c, v, err, errlen);
	case O_PREFIX:
		if (strlen(v) > 64) {
			snprintf(err, errlen, "%s%s: at most 64 bytes", src, name);
			return false;
		}
		for (const char *p = v; *p; p++)
			if (*p < 0x21 || *p > 0x7e || *p == '{' || *p == '}') {
				snprintf(err, errlen, "%s%s: printable ASCII without spaces or braces only", src, name);
				return false;
			}
		snprintf(c->prefix, sizeof c->prefix, "%s", v);
		return true;
	case O_DEFAULT_TTL:
		c->default_ttl_ms = n;
		return true;
	case O_MIN_TTL:
		c->min_ttl_ms = n;
		return true;
	case O_MAX_TTL:
		c->max_ttl_ms = n;
		return true;
	case O_REDIS_TIMEOUT:
		c->redis_timeout_ms = (unsigned)n;
		return true;
	case O_THREADS:
		c->threads = (unsigned)n;
		return true;
	case O_MAX_CONN:
		c->max_connections = (unsigned)n;
		return true;
	case O_MAX_CONN_IP:
		c->max_connections_per_ip = (unsigned)n;
		return true;
	case O_CONN_TIMEOUT:
		c->connection_timeout_s = (unsigned)n;
		return true;
	case O_REQUEST_TIMEOUT:
		c->request_timeout_ms = (unsigned)n;
		return true;
	case O_TRUSTED_PROXY:
		return parse_nets(c, v, err, errlen);
	case O_CONN_MEMORY:
		c->connection_memory = (unsigned)n;
		return true;
	case O_MAX_WAIT:
		c->max_wait_ms = n;
		return true;
	case O_MAX_WAITERS:
		c->max_waiters = (unsigned)n;
		return true;
	case O_MAX_LISTS:
		c->max_lists = (unsigned)n;
		return true;
	case O_NODE_TIMEOUT:
		c->node_timeout_ms = (unsigned)n;
		return true;
	case O_FENCE_RETENTION:
		c->fence_retention_ms = n;
		return true;
	case O_WAIT_REPLICAS:
		c->wait_replicas = (unsigned)n;
		return true;
	case O_AUTH_FILE:
		if (!*v || strlen(v) >= sizeof c->auth_file) {
			snprintf(err, errlen, "%s%s: a path of 1 to %zu bytes", src, name, sizeof c->auth_file - 1);
			return false;
		}
		snprintf(c->auth_file, sizeof c->auth_file, "%s", v);
		return true;
	case O_METRICS_PUBLIC: /* from the variable only: the flag takes no value */
		if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0) {
			snprintf(err, errlen, "%s: '%s' is not 1 or 0", name, v);
			return false;
		}
		c->metrics_public = v[0] == '1';
		return true;
	case O_RATE_LIMIT:
		c->rate_limit = (unsigned)n;
		return true;
	case O_TLS_CERT:
	case O_TLS_KEY: {
		char *dst = id == O_TLS_CERT ? c->tls_cert : c->tls_key;
		if (!v[0] || !copy_str(dst, CONFIG_PATH_MAX, v, strlen(v))) {
			snprintf(err, errlen, "%s%s: a file name of 1..%d bytes is needed", src, name,
			         CONFIG_PATH_MAX - 1);
			return false;
		}
		return true;
	}
	case O_LOG_FORMAT:
		if (strcmp(v, "text") == 0)
			c->log_format = LOG_TEXT;
		else if (strcmp(v, "json") == 0)
			c->log_format = LOG_JSON;
		else {
			snprintf(err, errlen, "%s%s: '%s' is not text or json", src, name, v);
			return false;
		}
		return true;
	case O_LOG_LEVEL:
		if (!log_level_parse(v, &c->log_level)) {
			snprintf(err, errlen, "%s%s: '%s' is not debug, info, warn or error", src, name, v);
			return false;
		}
		return true;
	default:
		return true;
	}
}

enum config_result config_parse(struct config *c, int argc, char *const argv[], config_getenv_fn *env, char *err,
                                size_t errlen)
{
	bool redis_flag_seen = false;

	memset(c, 0, sizeof *c);
	snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
	c->listen_port = 8080;
	snprintf(c->prefix, sizeof c->prefix, "dlock:");
	c->default_ttl_ms = 30000;
	c->min_ttl_ms = 100;
	c->max_ttl_ms = 86400000;
	c->redis_timeout_ms = 1000;
	c->threads = 1;
	c->log_format = LOG_TEXT;
	c->log_level = LOG_INFO;
	c->max_connections = 10000;
	c->max_connections_per_ip = 1024;
	c->connection_timeout_s = 30;
	c->request_timeout_ms = 10000;
	c->connection_memory = 4096;
	c->max_wait_ms = 60000;
	c->max_waiters = 10000;
	c->max_lists = 4;
	c->fence_retention_ms = 10000;
	c->node_timeout_ms = 50;
	c->clock_drift_factor = 0.01;

	for (int i = 0; i < O_COUNT; i++) {
		const char *v = OPTS[i].env ? env(OPTS[i].env) : NULL;
		if (v && !apply(c, (enum opt_id)i, v, false, err, errlen))
			return CONFIG_ERROR;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a], *val = NULL, *eq;
		size_t nlen;
		int id = -1;

		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s' (see --help)", arg);
			return CONFIG_ERROR;
		}
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (int i = 0; i < O_COUNT; i++)
			if (strlen(OPTS[i].flag) == nlen && strncmp(OPTS[i].flag, arg, nlen) == 0)
				id = i;
		if (id < 0) {
			snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)nlen, arg);
			return CONFIG_ERROR;
		}
		if (OPTS[id].kind == OPT_FLAG) {
			if (eq) {
				snprintf(err, errlen, "--%s takes no value", OPTS[id].flag);
				return CONFIG_ERROR;
			}
			if (id == O_HEALTHCHECK) {
				c->healthcheck = true;
				continue;
			}
			if (id == O_METRICS_PUBLIC) {
				c->metrics_public = true;
				continue;
			}
			if (id == O_HELP)
				usage();
			else
				printf("dlockd %s\n", DLOCKD_VERSION);
			return CONFIG_DONE;
		}
		if (eq) {
			val = eq + 1;
		} else if (a + 1 < argc) {
			val = argv[++a];
		} else {
			snprintf(err, errlen, "--%s needs a value", OPTS[id].flag);
			return CONFIG_ERROR;
		}
		if (id == O_REDIS && !redis_flag_seen) {
			redis_flag_seen = true;
			c->nredis = 0; /* flags replace the environment's list */
			c->redis_cluster = false;
		}
		if (!apply(c, (enum opt_id)id, val, true, err, errlen))
			return CONFIG_ERROR;
	}
	if (c->nredis == 0) {
		config_parse_redis("redis://127.0.0.1:6379", &c->redis[0], err, errlen);
		c->nredis = 1;
	}
	if (c->wait_replicas && c->nredis > 1) {
		snprintf(
		    err, errlen,
		    "--redis-wait-replicas is for one Redis master with replicas; Redlock (several --redis) relies on "
		    "a majority of independent masters instead (docs/redlock.md)");
		return CONFIG_ERROR;
	}
	for (unsigned i = 0; c->nredis > 1 && i < c->nredis; i++)
		if (c->redis[i].sentinel.n) {
			snprintf(err, errlen,
			         "--redis: a redis+sentinel:// address names the one master: give it alone, "
			         "not beside other Redis addresses");
			return CONFIG_ERROR;
		}
	if (c->rate_limit && !c->auth_file[0]) {
		snprintf(err, errlen, "--rate-limit counts requests per API key: it needs --auth-file");
		return CONFIG_ERROR;
	}
	if (!c->tls_cert[0] != !c->tls_key[0]) {
		snprintf(err, errlen, "%s given without %s: HTTPS needs both a certificate and its key",
		         c->tls_cert[0] ? "--tls-cert (DLOCKD_TLS_CERT)" : "--tls-key (DLOCKD_TLS_KEY)",
		         c->tls_cert[0] ? "--tls-key (DLOCKD_TLS_KEY)" : "--tls-cert (DLOCKD_TLS_CERT)");
		return CONFIG_ERROR;
	}
	if (c->min_ttl_ms > c->max_ttl_ms) {
		snprintf(err, errlen, "--min-ttl-ms (%lld) is above --max-ttl-ms (%lld)", (long long)c->min_ttl_ms,
		         (long long)c->max_ttl_ms);
		return CONFIG_ERROR;
	}
	if (c->default_ttl_ms < c->min_ttl_ms || c->default_ttl_ms > c->max_ttl_ms) {
		snprintf(err, errlen, "--default-ttl-ms (%lld) must be within --min-ttl-ms..--max-ttl-ms (%lld..%lld)",
		         (long long)c->default_ttl_ms, (long long)c->min_ttl_ms, (long long)c->max_ttl_ms);
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}
