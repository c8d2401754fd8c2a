/* Fuzzes config_parse() over flags and environment variables taken from the
 * input: it is split at newlines into entries; an entry "$NAME=value" is an
 * environment variable, read through a fake getenv, and any other entry is
 * a command-line argument after argv[0]. Whatever the input, the parser
 * returns (no exit()), asks only for DLOCKD_* variables, explains every
 * CONFIG_ERROR, stops with CONFIG_DONE only for --help or --version, and a
 * CONFIG_OK configuration holds together: ranges, 1..9 Redis targets that
 * are each a host:port or a unix path, a prefix keys.c accepts, and the
 * same result on a second parse. */
#include "fuzz.h"

#include "base/config.h"
#include "locks/keys.h"

enum { MAX_ENTRIES = 64 };

static struct {
	const char *name[MAX_ENTRIES];
	const char *value[MAX_ENTRIES];
	unsigned n;
	bool foreign; /* a name not DLOCKD_* was asked for */
} env;

static const char *fake_getenv(const char *name)
{
	if (strncmp(name, "DLOCKD_", 7) != 0)
		env.foreign = true;
	for (unsigned i = 0; i < env.n; i++)
		if (strcmp(env.name[i], name) == 0)
			return env.value[i];
	return NULL;
}

static void check_target(const struct redis_target *t)
{
	if (t->sentinel.n) { /* the sentinels name the master: host and port unused */
		FUZZ_CHECK(t->sentinel.n <= CONFIG_SENTINELS_MAX && t->sentinel.master_name[0] && t->db >= 0 &&
		               t->db <= 100000,
		           "a sentinel target with %u sentinels, master \"%s\", db %d", t->sentinel.n,
		           t->sentinel.master_name, t->db);
		for (unsigned i = 0; i < t->sentinel.n; i++)
			FUZZ_CHECK(t->sentinel.addr[i].host[0] && t->sentinel.addr[i].port >= 1 &&
			               t->sentinel.addr[i].port <= 65535,
			           "sentinel %s:%d out of range", t->sentinel.addr[i].host, t->sentinel.addr[i].port);
		return;
	}
	if (t->unix_path[0]) {
		FUZZ_CHECK(t->unix_path[0] == '/' && !t->host[0], "a unix target that is not an absolute path");
		return;
	}
	FUZZ_CHECK(t->host[0] && t->port >= 1 && t->port <= 65535 && t->db >= 0 && t->db <= 100000,
	           "Redis target %s:%d/%d out of range", t->host, t->port, t->db);
}

static void check_config(const struct config *c)
{
	struct keys k;

	FUZZ_CHECK(c->nredis >= 1 && c->nredis <= CONFIG_REDIS_MAX, "%u Redis targets", c->nredis);
	for (unsigned i = 0; i < c->nredis; i++)
		check_target(&c->redis[i]);
	FUZZ_CHECK(c->listen_port >= 1 && c->listen_port <= 65535, "listen port %d", c->listen_port);
	FUZZ_CHECK(c->min_ttl_ms >= 1 && c->min_ttl_ms <= c->default_ttl_ms && c->default_ttl_ms <= c->max_ttl_ms,
	           "TTLs out of order: %lld %lld %lld", (long long)c->min_ttl_ms, (long long)c->default_ttl_ms,
	           (long long)c->max_ttl_ms);
	FUZZ_CHECK(keys_init(&k, c->prefix), "keys.c refuses the prefix \"%s\"", c->prefix);
	FUZZ_CHECK(c->threads >= 1 && c->threads <= 64, "%u threads", c->threads);
	FUZZ_CHECK(c->redis_timeout_ms >= 10 && c->redis_timeout_ms <= 600000, "redis timeout %u", c->redis_timeout_ms);
	FUZZ_CHECK(c->max_connections >= 1 && c->connection_timeout_s >= 1 && c->connection_memory >= 4096,
	           "connection limits out of range");
	FUZZ_CHECK(c->max_wait_ms >= 0 && c->max_wait_ms <= 3600000, "max wait %lld", (long long)c->max_wait_ms);
	FUZZ_CHECK(c->node_timeout_ms >= 1 && c->fence_retention_ms >= 1000, "Redlock settings out of range");
	FUZZ_CHECK(c->clock_drift_factor >= 0.0 && c->clock_drift_factor <= 0.5, "drift %g", c->clock_drift_factor);
	FUZZ_CHECK(c->log_format == LOG_TEXT || c->log_format == LOG_JSON, "log format %d", (int)c->log_format);
	FUZZ_CHECK(c->log_level >= LOG_DEBUG && c->log_level <= LOG_ERROR, "log level %d", (int)c->log_level);
	FUZZ_CHECK(!c->tls_cert[0] == !c->tls_key[0], "a TLS certificate without its key, or the reverse");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct fuzz_in in = {data, size};
	char *argv[MAX_ENTRIES + 2], *copies[MAX_ENTRIES];
	char err[256], err2[256];
	unsigned ncopies = 0;
	int argc = 0;
	bool help = false;
	struct config *c = malloc(sizeof *c), *c2 = malloc(sizeof *c2);
	enum config_result res;
	const char *s;
	size_t n;

	if (!quiet) {
		/* --help and --version print: keep the fuzzer's output readable */
		if (!freopen("/dev/null", "w", stdout))
			abort();
		quiet = true;
	}
	if (!c || !c2)
		abort();
	env.n = 0;
	env.foreign = false;
	argv[argc++] = (char *)"dlockd";
	while (ncopies < MAX_ENTRIES && fuzz_field(&in, '\n', &s, &n)) {
		char *e = copies[ncopies++] = fuzz_strndup(s, n);
		char *eq = e[0] == '$' ? strchr(e, '=') : NULL;
		if (eq) {
			*eq = '\0';
			env.name[env.n] = e + 1;
			env.value[env.n++] = eq + 1;
		} else {
			argv[argc++] = e;
			help = help || strcmp(e, "--help") == 0 || strcmp(e, "--version") == 0;
		}
	}
	argv[argc] = NULL;

	err[0] = '\0';
	res = config_parse(c, argc, argv, fake_getenv, err, sizeof err);
	FUZZ_CHECK(!env.foreign, "config_parse asked for a variable that is not DLOCKD_*");
	FUZZ_CHECK(res == CONFIG_OK || res == CONFIG_DONE || res == CONFIG_ERROR, "result %d", (int)res);
	FUZZ_CHECK(res != CONFIG_DONE || help, "CONFIG_DONE without --help or --version");
	FUZZ_CHECK(res != CONFIG_ERROR || (err[0] && strlen(err) < sizeof err), "CONFIG_ERROR without a reason");
	if (res == CONFIG_OK) {
		check_config(c);
		FUZZ_CHECK(config_parse(c2, argc, argv, fake_getenv, err2, sizeof err2) == CONFIG_OK &&
		               memcmp(c, c2, sizeof *c) == 0,
		           "a second parse gives another configuration");
	}
	for (unsigned i = 0; i < ncopies; i++)
		free(copies[i]);
	free(c);
	free(c2);
	return 0;
}
