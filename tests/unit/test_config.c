/* Unit tests for config.c: defaults, DLOCKD_* variables, flags and their
 * validation, with a fake environment. --help and --version print to stdout. */
#include <stdlib.h>

#include "base/config.h"
#include "unit.h"

struct envvar {
	const char *name, *value;
};

/* NULL-terminated argument lists and environments as compound literals */
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...)  ((const struct envvar[]){__VA_ARGS__, {NULL, NULL}})
#define NOARGS    ((const char *const[]){NULL})

static const struct envvar *cur_env;
static unsigned foreign_lookups;

static const char *fake_env(const char *name)
{
	if (strncmp(name, "DLOCKD_", 7) != 0)
		foreign_lookups++;
	for (const struct envvar *e = cur_env; e && e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e->value;
	return NULL;
}

static const char *join_args(const char *const *args)
{
	static char buf[512];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; args && args[i] && o < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "", args[i]);
	return buf;
}

static enum config_result parse(struct config *c, const struct envvar *env, const char *const *args, char *err,
                                size_t errlen)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"dlockd";
	for (size_t i = 0; args && args[i] && argc < 63; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	cur_env = env;
	memset(c, 0x5a, sizeof *c);
	err[0] = '\0';
	return config_parse(c, argc, argv, fake_env, err, errlen);
}

/* Parses and expects CONFIG_OK. */
static bool parse_ok(int line, struct config *c, const struct envvar *env, const char *const *args)
{
	char err[512];
	enum config_result r = parse(c, env, args, err, sizeof err);
	return unit_check_(r == CONFIG_OK, __FILE__, line, "config_parse(%s): expected CONFIG_OK, got %d (%s)",
	                   join_args(args), (int)r, err);
}

/* Parses and expects CONFIG_ERROR with a one-line reason that mentions `needle` (if given). */
static void parse_err(int line, const struct envvar *env, const char *const *args, const char *needle)
{
	struct config c;
	char err[512];
	enum config_result r = parse(&c, env, args, err, sizeof err);

	if (!unit_check_(r == CONFIG_ERROR, __FILE__, line, "config_parse(%s%s%s%s): expected CONFIG_ERROR, got %d",
	                 join_args(args), env && env->name ? " with " : "", env && env->name ? env->name : "",
	                 env && env->name ? "=..." : "", (int)r))
		return;
	unit_check_(err[0] != '\0' && strchr(err, '\n') == NULL, __FILE__, line,
	            "config_parse(%s): err should be one non-empty line, got %s", join_args(args), unit_escz(err));
	if (needle)
		unit_check_(strstr(err, needle) != NULL, __FILE__, line, "config_parse(%s): err %s does not mention %s",
		            join_args(args), unit_escz(err), needle);
}

/* ---- defaults ---- */

static void test_defaults(void)
{
	struct config c;

	foreign_lookups = 0;
	if (!parse_ok(__LINE__, &c, NULL, NOARGS))
		return;
	CHECK_STR(c.listen_host, "127.0.0.1", "listen_host");
	CHECK_INT(c.listen_port, 8080, "listen_port");
	CHECK_INT(c.nredis, 1, "nredis");
	CHECK_STR(c.redis[0].host, "127.0.0.1", "redis[0].host");
	CHECK_INT(c.redis[0].port, 6379, "redis[0].port");
	CHECK_INT(c.redis[0].db, 0, "redis[0].db");
	CHECK_STR(c.redis[0].password, "", "redis[0].password");
	CHECK_STR(c.redis[0].unix_path, "", "redis[0].unix_path");
	CHECK_STR(c.redis[0].label, "127.0.0.1:6379", "redis[0].label");
	CHECK_STR(c.prefix, "dlock:", "prefix");
	CHECK_INT(c.default_ttl_ms, 30000, "default_ttl_ms");
	CHECK_INT(c.min_ttl_ms, 100, "min_ttl_ms");
	CHECK_INT(c.max_ttl_ms, 86400000, "max_ttl_ms");
	CHECK_INT(c.redis_timeout_ms, 1000, "redis_timeout_ms");
	CHECK_INT(c.threads, 1, "threads");
	CHECK_INT(c.log_format, LOG_TEXT, "log_format");
	CHECK_INT(c.log_level, LOG_INFO, "log_level");
	CHECK_INT(c.max_connections, 10000, "max_connections");
	CHECK_INT(c.max_connections_per_ip, 1024, "max_connections_per_ip");
	CHECK_INT(c.connection_timeout_s, 30, "connection_timeout_s");
	CHECK_INT(c.request_timeout_ms, 10000, "request_timeout_ms");
	CHECK_INT(c.ntrusted_proxies, 0, "ntrusted_proxies");
	CHECK_INT(c.connection_memory, 4096, "connection_memory");
	CHECK_INT(c.max_wait_ms, 60000, "max_wait_ms");
	CHECK_INT(c.max_waiters, 10000, "max_waiters");
	CHECK_INT(c.max_lists, 4, "max_lists");
	CHECK(!c.healthcheck, "healthcheck is off by default");
	CHECK_STR(c.tls_cert, "", "tls_cert (plain HTTP by default)");
	CHECK_STR(c.tls_key, "", "tls_key");
	CHECK(foreign_lookups == 0, "config_parse looked up %u variables not named DLOCKD_*", foreign_lookups);

	/* an environment of unrelated variables changes nothing */
	if (parse_ok(__LINE__, &c, ENV({"PATH", "/bin"}, {"DLOCKD_UNKNOWN", "1"}, {"REDIS_URL", "redis://x"}),
	             NOARGS)) {
		CHECK_INT(c.listen_port, 8080, "listen_port with unrelated variables");
		CHECK_STR(c.redis[0].host, "127.0.0.1", "redis[0].host with unrelated variables");
	}
}

/* ---- numeric options ---- */

static int64_t get_default_ttl(const struct config *c)
{
	return c->default_ttl_ms;
}
static int64_t get_min_ttl(const struct config *c)
{
	return c->min_ttl_ms;
}
static int64_t get_max_ttl(const struct config *c)
{
	return c->max_ttl_ms;
}
static int64_t get_redis_timeout(const struct config *c)
{
	return c->redis_timeout_ms;
}
static int64_t get_threads(const struct config *c)
{
	return c->threads;
}
static int64_t get_max_conn(const struct config *c)
{
	return c->max_connections;
}
static int64_t get_max_conn_ip(const struct config *c)
{
	return c->max_connections_per_ip;
}
static int64_t get_conn_timeout(const struct config *c)
{
	return c->connection_timeout_s;
}
static int64_t get_conn_memory(const struct config *c)
{
	return c->connection_memory;
}
static int64_t get_max_wait(const struct config *c)
{
	return c->max_wait_ms;
}
static int64_t get_max_waiters(const struct config *c)
{
	return c->max_waiters;
}
static int64_t get_max_lists(const struct config *c)
{
	return c->max_lists;
}

static const struct numopt {
	const char *flag, *env;
	int64_t (*get)(const struct config *);
	int64_t good[3]; /* three values accepted with the other options at their defaults */
	const char *bad[3];
} NUMOPTS[] = {
    {"default-ttl-ms", "DLOCKD_DEFAULT_TTL_MS", get_default_ttl, {100, 86400000, 5000}, {"99", "86400001", "0"}},
    {"min-ttl-ms", "DLOCKD_MIN_TTL_MS", get_min_ttl, {1, 30000, 250}, {"0", "30001", "31536000001"}},
    {"max-ttl-ms", "DLOCKD_MAX_TTL_MS", get_max_ttl, {30000, 31536000000, 60000}, {"29999", "31536000001", "0"}},
    {"redis-timeout-ms", "DLOCKD_REDIS_TIMEOUT_MS", get_redis_timeout, {10, 600000, 250}, {"9", "600001", "0"}},
    {"threads", "DLOCKD_THREADS", get_threads, {1, 64, 4}, {"0", "65", "4294967297"}},
    {"max-connections", "DLOCKD_MAX_CONNECTIONS", get_max_conn, {1, 1000000, 500}, {"0", "1000001", "4294967296"}},
    {"max-connections-per-ip",
     "DLOCKD_MAX_CONNECTIONS_PER_IP",
     get_max_conn_ip,
     {0, 1000000, 8},
     {"1000001", "4294967296", "-1"}},
    {"connection-timeout-s", "DLOCKD_CONNECTION_TIMEOUT_S", get_conn_timeout, {1, 86400, 5}, {"0", "86401", "-30"}},
    {"connection-memory",
     "DLOCKD_CONNECTION_MEMORY",
     get_conn_memory,
     {4096, 1048576, 65536},
     {"4095", "1048577", "0"}},
    {"max-wait-ms", "DLOCKD_MAX_WAIT_MS", get_max_wait, {0, 3600000, 5000}, {"3600001", "-1", "99999999999"}},
    {"max-waiters", "DLOCKD_MAX_WAITERS", get_max_waiters, {0, 10000000, 50}, {"10000001", "4294967296", "-1"}},
    {"max-list-requests", "DLOCKD_MAX_LIST_REQUESTS", get_max_lists, {1, 1000, 16}, {"0", "1001", "4294967297"}},
};

static const char *const BAD_NUMBERS[] = {
    "abc", "", "1x", " 5", "5 ", "+5", "-5", "0x10", "1e3", "5.0", "99999999999999999999", "\xd9\xa1", "\t5", "\v5"};

static void test_numeric_options(void)
{
	for (size_t i = 0; i < sizeof NUMOPTS / sizeof NUMOPTS[0]; i++) {
		const struct numopt *o = &NUMOPTS[i];
		char flag[64], flag_eq[96], v0[32], v1[32];
		struct config c;

		snprintf(flag, sizeof flag, "--%s", o->flag);
		for (size_t g = 0; g < 3; g++) {
			char v[32];
			snprintf(v, sizeof v, "%lld", (long long)o->good[g]);
			snprintf(flag_eq, sizeof flag_eq, "--%s=%s", o->flag, v);
			if (parse_ok(__LINE__, &c, NULL, ARGS(flag_eq)))
				CHECK(o->get(&c) == o->good[g], "%s: got %lld", flag_eq, (long long)o->get(&c));
			if (parse_ok(__LINE__, &c, NULL, ARGS(flag, v)))
				CHECK(o->get(&c) == o->good[g], "%s %s: got %lld", flag, v, (long long)o->get(&c));
			if (parse_ok(__LINE__, &c, ENV({o->env, v}), NOARGS))
				CHECK(o->get(&c) == o->good[g], "%s=%s: got %lld", o->env, v, (long long)o->get(&c));
		}
		/* the flag wins over the variable */
		snprintf(v0, sizeof v0, "%lld", (long long)o->good[0]);
		snprintf(v1, sizeof v1, "%lld", (long long)o->good[1]);
		if (parse_ok(__LINE__, &c, ENV({o->env, v0}), ARGS(flag, v1)))
			CHECK(o->get(&c) == o->good[1], "%s=%s %s %s: got %lld", o->env, v0, flag, v1,
			      (long long)o->get(&c));
		/* the last flag wins */
		if (parse_ok(__LINE__, &c, NULL, ARGS(flag, v0, flag, v1)))
			CHECK(o->get(&c) == o->good[1], "%s %s %s %s: got %lld", flag, v0, flag, v1,
			      (long long)o->get(&c));

		for (size_t b = 0; b < 3 + sizeof BAD_NUMBERS / sizeof BAD_NUMBERS[0]; b++) {
			const char *v = b < 3 ? o->bad[b] : BAD_NUMBERS[b - 3];
			snprintf(flag_eq, sizeof flag_eq, "--%s=%s", o->flag, v);
			parse_err(__LINE__, NULL, ARGS(flag_eq), NULL);
			parse_err(__LINE__, NULL, ARGS(flag, v), NULL);
			parse_err(__LINE__, ENV({o->env, v}), NOARGS, NULL);
		}
		/* a bad flag value names the flag; a bad variable names the variable */
		parse_err(__LINE__, NULL, ARGS(flag, "abc"), o->flag);
		parse_err(__LINE__, ENV({o->env, "abc"}), NOARGS, o->env);
	}
}

/* ---- --listen ---- */

static void test_listen(void)
{
	static const struct {
		int line;
		const char *v;
		const char *host; /* NULL: rejected */
		int port;
	} T[] = {
	    {__LINE__, "127.0.0.1:8080", "127.0.0.1", 8080},
	    {__LINE__, "0.0.0.0:1", "0.0.0.0", 1},
	    {__LINE__, "localhost:65535", "localhost", 65535},
	    {__LINE__, "[::1]:9000", "::1", 9000},
	    {__LINE__, "[::]:80", "::", 80},
	    {__LINE__, "[fe80::1%eth0]:80", "fe80::1%eth0", 80},
	    {__LINE__, ":8080", "", 8080},
	    {__LINE__, "::1:80", NULL, 0},
	    {__LINE__, "::1", NULL, 0},
	    {__LINE__, "[::1]", NULL, 0},
	    {__LINE__, "[::1]:", NULL, 0},
	    {__LINE__, "[::1]9000", NULL, 0},
	    {__LINE__, "[::1", NULL, 0},
	    {__LINE__, "[]:80", NULL, 0},
	    {__LINE__, "127.0.0.1", NULL, 0},
	    {__LINE__, "127.0.0.1:", NULL, 0},
	    {__LINE__, "127.0.0.1:0", NULL, 0},
	    {__LINE__, "127.0.0.1:65536", NULL, 0},
	    {__LINE__, ":0", NULL, 0},
	    {__LINE__, ":65536", NULL, 0},
	    {__LINE__, ":", NULL, 0},
	    {__LINE__, "", NULL, 0},
	    {__LINE__, "host:80x", NULL, 0},
	    {__LINE__, "host:-1", NULL, 0},
	    {__LINE__, "host: 80", NULL, 0},
	    {__LINE__, "host:+80", NULL, 0},
	    {__LINE__, "host:http", NULL, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct config c;
		char eq[300];

		snprintf(eq, sizeof eq, "--listen=%s", T[i].v);
		if (!T[i].host) {
			parse_err(T[i].line, NULL, ARGS("--listen", T[i].v), "listen");
			parse_err(T[i].line, NULL, ARGS(eq), "listen");
			parse_err(T[i].line, ENV({"DLOCKD_LISTEN", T[i].v}), NOARGS, "DLOCKD_LISTEN");
			continue;
		}
		if (parse_ok(T[i].line, &c, NULL, ARGS("--listen", T[i].v))) {
			unit_check_(strcmp(c.listen_host, T[i].host) == 0 && c.listen_port == T[i].port, __FILE__,
			            T[i].line, "--listen %s: expected host %s port %d, got %s port %d", T[i].v,
			            unit_escz(T[i].host), T[i].port, unit_escz(c.listen_host), c.listen_port);
		}
		if (parse_ok(T[i].line, &c, ENV({"DLOCKD_LISTEN", T[i].v}), NOARGS))
			unit_check_(strcmp(c.listen_host, T[i].host) == 0 && c.listen_port == T[i].port, __FILE__,
			            T[i].line, "DLOCKD_LISTEN=%s: expected host %s port %d, got %s port %d", T[i].v,
			            unit_escz(T[i].host), T[i].port, unit_escz(c.listen_host), c.listen_port);
		if (parse_ok(T[i].line, &c, ENV({"DLOCKD_LISTEN", "10.0.0.1:1"}), ARGS(eq)))
			unit_check_(strcmp(c.listen_host, T[i].host) == 0 && c.listen_port == T[i].port, __FILE__,
			            T[i].line, "%s over DLOCKD_LISTEN: got %s port %d", eq, unit_escz(c.listen_host),
			            c.listen_port);
	}
}

/* ---- Redis addresses ---- */

struct redis_want {
	int line;
	const char *url;
	bool ok;
	const char *host;
	int port, db;
	const char *password, *unix_path, *label;
	const char *user; /* NULL: "" */
};

static const struct redis_want REDIS[] = {
    {__LINE__, "redis://h", true, "h", 6379, 0, "", "", "h:6379", NULL},
    {__LINE__, "redis://127.0.0.1:6379", true, "127.0.0.1", 6379, 0, "", "", "127.0.0.1:6379", NULL},
    {__LINE__, "redis://h:7000/3", true, "h", 7000, 3, "", "", "h:7000", NULL},
    {__LINE__, "redis://h/15", true, "h", 6379, 15, "", "", "h:6379", NULL},
    {__LINE__, "redis://:pw@h:1", true, "h", 1, 0, "pw", "", "h:1", NULL},
    {__LINE__, "redis://user:pw@h:1", true, "h", 1, 0, "pw", "", "h:1", "user"},
    /* ACL users: both parts percent-decoded; the first ':' ends the user, the last '@' the password */
    {__LINE__, "redis://dlockd:s%40cr%3At%2Fpw%25@h:6380/2", true, "h", 6380, 2, "s@cr:t/pw%", "", "h:6380", "dlockd"},
    {__LINE__, "redis://a%3Ab%40c%25:pw@h", true, "h", 6379, 0, "pw", "", "h:6379", "a:b@c%"},
    {__LINE__, "redis://u:p:w@h", true, "h", 6379, 0, "p:w", "", "h:6379", "u"},
    {__LINE__, "redis://u:p@w@h", true, "h", 6379, 0, "p@w", "", "h:6379", "u"},
    {__LINE__, "redis://u:@h", true, "h", 6379, 0, "", "", "h:6379", "u"},
    {__LINE__, "redis://u%20x:%2C%20@[::1]:1/1", true, "::1", 1, 1, ", ", "", "[::1]:1", "u x"},
    {__LINE__, "redis://pw@h", true, "h", 6379, 0, "pw", "", "h:6379", ""}, /* no colon: a password */
    {__LINE__, "redis://:pw@h:6380/2", true, "h", 6380, 2, "pw", "", "h:6380", NULL},
    {__LINE__, "redis://:p%40ss%3Aw%2F%25@h:1", true, "h", 1, 0, "p@ss:w/%", "", "h:1", NULL},
    {__LINE__, "redis://:%41%62@h", true, "h", 6379, 0, "Ab", "", "h:6379", NULL},
    {__LINE__, "unix:///tmp/r.sock", true, "", 0, 0, "", "/tmp/r.sock", "/tmp/r.sock", NULL},
    {__LINE__, "redis://[::1]:6380", true, "::1", 6380, 0, "", "", "[::1]:6380", NULL},
    {__LINE__, "redis://[::1]", true, "::1", 6379, 0, "", "", "[::1]:6379", NULL},
    {__LINE__, "redis://:pw@[::1]:6380/1", true, "::1", 6380, 1, "pw", "", "[::1]:6380", NULL},
    /* rejected */
    {__LINE__, "[::1]:6380", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "h:6379", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "http://h:6379", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "rediss://h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis:/h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:6379", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:pw@", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h:0", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h:65536", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h:x", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h:\t80", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h/\v2", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h:", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h/abc", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h/-1", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://h/1x", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://::1:6379", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://[::1", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "unix://tmp/r.sock", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "unix://", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%zz@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%4@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%00@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    /* a percent sign must be followed by exactly two hex digits */
    {__LINE__, "redis://:%4g@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%+4@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:%-1@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://:% 4@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://%zz:pw@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://u%:pw@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://%00:pw@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
    {__LINE__, "redis://u%0:pw@h", false, NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static void check_target(int line, const char *how, const struct redis_target *t, const struct redis_want *w)
{
	const char *user = w->user ? w->user : "";

	unit_check_(strcmp(t->host, w->host) == 0 && t->port == w->port && t->db == w->db &&
	                strcmp(t->password, w->password) == 0 && strcmp(t->unix_path, w->unix_path) == 0 &&
	                strcmp(t->label, w->label) == 0 && strcmp(t->user, user) == 0,
	            __FILE__, line,
	            "%s %s: expected host %s port %d db %d user %s password %s unix %s label %s; got host %s port %d "
	            "db %d user %s password %s unix %s label %s",
	            how, w->url, unit_escz(w->host), w->port, w->db, unit_escz(user), unit_escz(w->password),
	            unit_escz(w->unix_path), unit_escz(w->label), unit_escz(t->host), t->port, t->db,
	            unit_escz(t->user), unit_escz(t->password), unit_escz(t->unix_path), unit_escz(t->label));
}

static void test_redis_urls(void)
{
	for (size_t i = 0; i < sizeof REDIS / sizeof REDIS[0]; i++) {
		const struct redis_want *w = &REDIS[i];
		struct redis_target t;
		struct config c;
		char err[512] = "";
		bool ok;

		memset(&t, 0x5a, sizeof t);
		ok = config_parse_redis(w->url, &t, err, sizeof err);
		if (!unit_check_(ok == w->ok, __FILE__, w->line, "config_parse_redis(%s): expected %s%s%s", w->url,
		                 w->ok ? "success, got: " : "rejection, got host ", w->ok ? err : unit_escz(t.host),
		                 w->ok ? "" : (t.password[0] ? " and a password" : "")))
			continue;
		if (!ok) {
			unit_check_(err[0] && !strchr(err, '\n'), __FILE__, w->line,
			            "config_parse_redis(%s): err should be one non-empty line, got %s", w->url,
			            unit_escz(err));
			parse_err(w->line, NULL, ARGS("--redis", w->url), NULL);
			parse_err(w->line, ENV({"DLOCKD_REDIS", w->url}), NOARGS, NULL);
			continue;
		}
		check_target(w->line, "config_parse_redis", &t, w);
		if (parse_ok(w->line, &c, NULL, ARGS("--redis", w->url))) {
			unit_check_(c.nredis == 1, __FILE__, w->line, "--redis %s: nredis %u", w->url, c.nredis);
			check_target(w->line, "--redis", &c.redis[0], w);
		}
		if (parse_ok(w->line, &c, ENV({"DLOCKD_REDIS", w->url}), NOARGS)) {
			unit_check_(c.nredis == 1, __FILE__, w->line, "DLOCKD_REDIS=%s: nredis %u", w->url, c.nredis);
			check_target(w->line, "DLOCKD_REDIS", &c.redis[0], w);
		}
	}
}

/* A password never shows in the label or in an error. */
static void test_redis_password_secret(void)
{
	static const struct {
		int line;
		const char *url;
	} T[] = {
	    {__LINE__, "redis://:s3cr3tpw@h:1"},   {__LINE__, "redis://user:s3cr3tpw@[::1]:2/3"},
	    {__LINE__, "redis://:s3cr3tpw@h:0"},   {__LINE__, "redis://:s3cr3tpw@h/x"},
	    {__LINE__, "redis://:s3cr3tpw@"},      {__LINE__, "rediss://:s3cr3tpw@h:6379"},
	    {__LINE__, "http://:s3cr3tpw@h:6379"}, {__LINE__, "unix://:s3cr3tpw@tmp/sock"},
	    {__LINE__, "redis://u:s3cr3tpw@h:1"},  {__LINE__, "redis://%zz:s3cr3tpw@h"},
	    {__LINE__, "redis://u:s3cr3tpw%@h"},   {__LINE__, "redis://u:s3cr3tpw@h:x"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct redis_target t;
		struct config c;
		char err[512] = "";
		bool ok = config_parse_redis(T[i].url, &t, err, sizeof err);

		if (ok)
			unit_check_(!strstr(t.label, "s3cr3tpw") && !strstr(t.label, "u:"), __FILE__, T[i].line,
			            "label %s shows the password or the user", unit_escz(t.label));
		else
			unit_check_(!strstr(err, "s3cr3tpw"), __FILE__, T[i].line,
			            "config_parse_redis(%s): the error shows the password: %s", T[i].url,
			            unit_escz(err));
		err[0] = '\0';
		if (parse(&c, NULL, ARGS("--redis", T[i].url), err, sizeof err) == CONFIG_ERROR)
			unit_check_(!strstr(err, "s3cr3tpw"), __FILE__, T[i].line,
			            "config_parse(--redis %s): the error shows the password: %s", T[i].url,
			            unit_escz(err));
	}
}

/* A user name of CONFIG_STR_MAX bytes fits (also spelled with escapes); one more does not. */
static void test_redis_user_length(void)
{
	char url[4 * CONFIG_STR_MAX], err[256];
	struct redis_target t;
	size_t n;

	n = (size_t)snprintf(url, sizeof url, "redis://");
	for (int i = 0; i < CONFIG_STR_MAX; i++)
		n += (size_t)snprintf(url + n, sizeof url - n, "%s", i % 2 ? "u" : "%41");
	snprintf(url + n, sizeof url - n, ":pw@h");
	if (unit_check_(config_parse_redis(url, &t, err, sizeof err), __FILE__, __LINE__, "a %d-byte user name: %s",
	                CONFIG_STR_MAX, err))
		unit_check_(strlen(t.user) == CONFIG_STR_MAX && t.user[0] == 'A' && t.user[1] == 'u', __FILE__,
		            __LINE__, "a %d-byte user name decodes to %zu bytes", CONFIG_STR_MAX, strlen(t.user));
	n = (size_t)snprintf(url, sizeof url, "redis://");
	for (int i = 0; i <= CONFIG_STR_MAX; i++)
		url[n++] = 'u';
	snprintf(url + n, sizeof url - n, ":pw@h");
	unit_check_(!config_parse_redis(url, &t, err, sizeof err) && strstr(err, "user name"), __FILE__, __LINE__,
	            "a %d-byte user name: expected rejection naming the user name, got %s", CONFIG_STR_MAX + 1,
	            unit_escz(err));
}

/* redis+sentinel://: the sentinels in order (port 26379 by default), the
 * master name, the data nodes' credentials and database, and the sentinels'
 * own credentials from the query; also through DLOCKD_REDIS, whose commas
 * here separate sentinels, not Redlock nodes. */
struct sentinel_want {
	int line;
	const char *url;
	bool ok;
	unsigned n;
	const char *hosts[3];
	int ports[3];
	const char *name, *user, *password, *s_user, *s_password;
	int db;
};

static const struct sentinel_want SENTINEL[] = {
    {__LINE__, "redis+sentinel://h/m", true, 1, {"h"}, {26379}, "m", "", "", "", "", 0},
    {__LINE__,
     "redis+sentinel://a:1,b:2,[::1]:3/mymaster",
     true,
     3,
     {"a", "b", "::1"},
     {1, 2, 3},
     "mymaster",
     "",
     "",
     "",
     "",
     0},
    {__LINE__, "redis+sentinel://a,b:5000/m.x-1_y/4", true, 2, {"a", "b"}, {26379, 5000}, "m.x-1_y", "", "", "", "", 4},
    {__LINE__, "redis+sentinel://dlockd:p%40w@a:1,b:2/m", true, 2, {"a", "b"}, {1, 2}, "m", "dlockd", "p@w", "", "", 0},
    {__LINE__, "redis+sentinel://:pw/x?y@a:1/m", true, 1, {"a"}, {1}, "m", "", "pw/x?y", "", "", 0},
    {__LINE__,
     "redis+sentinel://u:pw@a:1/m?sentinel_password=s%26p",
     true,
     1,
     {"a"},
     {1},
     "m",
     "u",
     "pw",
     "",
     "s&p",
     0},
    {__LINE__,
     "redis+sentinel://a:1/m/2?sentinel_user=su&sentinel_password=sp",
     true,
     1,
     {"a"},
     {1},
     "m",
     "",
     "",
     "su",
     "sp",
     2},
    /* rejected */
    {__LINE__, "redis+sentinel://a:1", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1/", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel:///m", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1,/m", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:0/m", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1/m/x", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1/m n", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1/m%20n", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a:1/m?password=x", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__,
     "redis+sentinel://a:1/m?sentinel_password=a&sentinel_password=b",
     false,
     0,
     {NULL},
     {0},
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
    {__LINE__, "redis+sentinel://a:1/m?sentinel_password=%zz", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://a,b,c,d,e,f,g,h,i,j/m", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
    {__LINE__, "redis+sentinel://::1/m", false, 0, {NULL}, {0}, NULL, NULL, NULL, NULL, NULL, 0},
};

static void check_sentinel(int line, const char *how, const struct redis_target *t, const struct sentinel_want *w)
{
	const struct redis_sentinels *s = &t->sentinel;
	bool same = s->n == w->n && strcmp(s->master_name, w->name) == 0 && strcmp(t->user, w->user) == 0 &&
	            strcmp(t->password, w->password) == 0 && strcmp(s->user, w->s_user) == 0 &&
	            strcmp(s->password, w->s_password) == 0 && t->db == w->db && !t->host[0] && !t->unix_path[0];
	char label[CONFIG_STR_MAX + 16];

	for (unsigned i = 0; same && i < w->n; i++)
		same = strcmp(s->addr[i].host, w->hosts[i]) == 0 && s->addr[i].port == w->ports[i];
	snprintf(label, sizeof label, "master %s", w->name);
	unit_check_(same && strcmp(t->label, label) == 0, __FILE__, line,
	            "%s %s: got %u sentinels (first %s:%d), name %s, user %s, password %s, sentinel user %s, sentinel "
	            "password %s, db %d, label %s",
	            how, w->url, s->n, unit_escz(s->addr[0].host), s->addr[0].port, unit_escz(s->master_name),
	            unit_escz(t->user), unit_escz(t->password), unit_escz(s->user), unit_escz(s->password), t->db,
	            unit_escz(t->label));
}

static void test_sentinel_urls(void)
{
	for (size_t i = 0; i < sizeof SENTINEL / sizeof SENTINEL[0]; i++) {
		const struct sentinel_want *w = &SENTINEL[i];
		struct redis_target t;
		struct config c;
		char err[512] = "";
		bool ok = config_parse_redis(w->url, &t, err, sizeof err);

		if (!unit_check_(ok == w->ok, __FILE__, w->line, "config_parse_redis(%s): expected %s, got %s", w->url,
		                 w->ok ? "success" : "rejection", ok ? "success" : err))
			continue;
		if (!ok) {
			unit_check_(err[0] && !strchr(err, '\n') && !t.password[0] && !t.sentinel.password[0], __FILE__,
			            w->line,
			            "config_parse_redis(%s): err should be one line and no password kept, got %s",
			            w->url, unit_escz(err));
			parse_err(w->line, NULL, ARGS("--redis", w->url), NULL);
			parse_err(w->line, ENV({"DLOCKD_REDIS", w->url}), NOARGS, NULL);
			continue;
		}
		check_sentinel(w->line, "config_parse_redis", &t, w);
		if (parse_ok(w->line, &c, NULL, ARGS("--redis", w->url)) &&
		    unit_check_(c.nredis == 1, __FILE__, w->line, "--redis %s: nredis %u", w->url, c.nredis))
			check_sentinel(w->line, "--redis", &c.redis[0], w);
		if (parse_ok(w->line, &c, ENV({"DLOCKD_REDIS", w->url}), NOARGS) &&
		    unit_check_(c.nredis == 1, __FILE__, w->line, "DLOCKD_REDIS=%s: nredis %u", w->url, c.nredis))
			check_sentinel(w->line, "DLOCKD_REDIS", &c.redis[0], w);
	}
	/* the one master: not beside Redlock nodes */
	parse_err(__LINE__, NULL, ARGS("--redis", "redis+sentinel://a/m", "--redis", "redis://b"), "redis+sentinel");
	parse_err(__LINE__, NULL, ARGS("--redis", "redis://b", "--redis", "redis+sentinel://a/m"), "redis+sentinel");
	/* no password in an error */
	{
		struct redis_target t;
		char err[512];
		const char *bad[] = {"redis+sentinel://u:s3cr3tpw@a:0/m",
		                     "redis+sentinel://a/m?sentinel_password=s3cr3tpw&x=1",
		                     "redis+sentinel://:s3cr3tpw@a/m/x"};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			unit_check_(!config_parse_redis(bad[i], &t, err, sizeof err) && !strstr(err, "s3cr3tpw"),
			            __FILE__, __LINE__,
			            "%s: expected a rejection that does not show the password, got %s", bad[i],
			            unit_escz(err));
	}
}

static void test_redis_lists(void)
{
	struct config c;
	const char *const ten[] = {"--redis", "redis://a", "--redis", "redis://b", "--redis", "redis://c",
	                           "--redis", "redis://d", "--redis", "redis://e", "--redis", "redis://f",
	                           "--redis", "redis://g", "--redis", "redis://h", "--redis", "redis://i",
	                           "--redis", "redis://j", NULL};
	const char *nine[19];

	if (parse_ok(__LINE__, &c, NULL, ARGS("--redis", "redis://a", "--redis=redis://b:7000/2"))) {
		CHECK_INT(c.nredis, 2, "two --redis flags: nredis");
		CHECK_STR(c.redis[0].label, "a:6379", "two --redis flags: redis[0]");
		CHECK_STR(c.redis[1].label, "b:7000", "two --redis flags: redis[1]");
		CHECK_INT(c.redis[1].db, 2, "two --redis flags: redis[1].db");
	}
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_REDIS", "redis://a,redis://:pw@b:7000,unix:///s"}), NOARGS)) {
		CHECK_INT(c.nredis, 3, "DLOCKD_REDIS list: nredis");
		CHECK_STR(c.redis[0].label, "a:6379", "DLOCKD_REDIS list: redis[0]");
		CHECK_STR(c.redis[1].label, "b:7000", "DLOCKD_REDIS list: redis[1]");
		CHECK_STR(c.redis[1].password, "pw", "DLOCKD_REDIS list: redis[1].password");
		CHECK_STR(c.redis[2].unix_path, "/s", "DLOCKD_REDIS list: redis[2]");
	}
	/* ACL users in the variable's list (a ',' in a password is written %2C) */
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_REDIS", "redis://dl:p%2Cw@a:1,redis://dl2:q@b:2/3"}), NOARGS)) {
		CHECK_INT(c.nredis, 2, "DLOCKD_REDIS users: nredis");
		CHECK_STR(c.redis[0].user, "dl", "DLOCKD_REDIS users: redis[0].user");
		CHECK_STR(c.redis[0].password, "p,w", "DLOCKD_REDIS users: redis[0].password");
		CHECK_STR(c.redis[1].user, "dl2", "DLOCKD_REDIS users: redis[1].user");
		CHECK_STR(c.redis[1].password, "q", "DLOCKD_REDIS users: redis[1].password");
		CHECK_STR(c.redis[1].label, "b:2", "DLOCKD_REDIS users: redis[1].label");
	}
	/* flags replace the variable's list */
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_REDIS", "redis://a,redis://b"}), ARGS("--redis", "redis://c"))) {
		CHECK_INT(c.nredis, 1, "--redis over DLOCKD_REDIS: nredis");
		CHECK_STR(c.redis[0].label, "c:6379", "--redis over DLOCKD_REDIS: redis[0]");
	}
	/* at most CONFIG_REDIS_MAX nodes */
	memcpy(nine, ten, 18 * sizeof ten[0]);
	nine[18] = NULL;
	if (parse_ok(__LINE__, &c, NULL, (const char *const *)nine)) {
		CHECK_INT(c.nredis, 9, "nine --redis flags: nredis");
		CHECK_STR(c.redis[8].label, "i:6379", "nine --redis flags: redis[8]");
	}
	parse_err(__LINE__, NULL, ten, NULL);
	if (parse_ok(__LINE__, &c,
	             ENV({"DLOCKD_REDIS", "redis://a,redis://b,redis://c,redis://d,redis://e,"
	                                  "redis://f,redis://g,redis://h,redis://i"}),
	             NOARGS))
		CHECK_INT(c.nredis, 9, "nine in DLOCKD_REDIS: nredis");
	parse_err(__LINE__,
	          ENV({"DLOCKD_REDIS", "redis://a,redis://b,redis://c,redis://d,redis://e,redis://f,redis://g,"
	                               "redis://h,redis://i,redis://j"}),
	          NOARGS, NULL);
	parse_err(__LINE__, ENV({"DLOCKD_REDIS", "redis://a,bogus"}), NOARGS, NULL);
	parse_err(__LINE__, ENV({"DLOCKD_REDIS", ","}), NOARGS, NULL);
	parse_err(__LINE__, NULL, ARGS("--redis", "redis://a", "--redis", "bogus"), NULL);
}

/* ---- ttl relations ---- */

static void test_ttl_relations(void)
{
	struct config c;

	parse_err(__LINE__, NULL, ARGS("--min-ttl-ms=5000", "--max-ttl-ms=4000", "--default-ttl-ms=4500"),
	          "min-ttl-ms");
	parse_err(__LINE__,
	          ENV({"DLOCKD_MIN_TTL_MS", "5000"}, {"DLOCKD_MAX_TTL_MS", "4000"}, {"DLOCKD_DEFAULT_TTL_MS", "4500"}),
	          NOARGS, "min-ttl-ms");
	parse_err(__LINE__, NULL, ARGS("--default-ttl-ms=50"), "default-ttl-ms");
	parse_err(__LINE__, NULL, ARGS("--default-ttl-ms=86400001"), "default-ttl-ms");
	parse_err(__LINE__, NULL, ARGS("--min-ttl-ms=200", "--default-ttl-ms=150"), "default-ttl-ms");
	parse_err(__LINE__, NULL, ARGS("--max-ttl-ms=20000"), "default-ttl-ms"); /* below the default 30000 */
	parse_err(__LINE__, NULL, ARGS("--min-ttl-ms=40000"), "default-ttl-ms");
	parse_err(__LINE__, ENV({"DLOCKD_DEFAULT_TTL_MS", "50"}), NOARGS, "default-ttl-ms");
	if (parse_ok(__LINE__, &c, NULL, ARGS("--min-ttl-ms=700", "--max-ttl-ms=700", "--default-ttl-ms=700")))
		CHECK(c.min_ttl_ms == 700 && c.max_ttl_ms == 700 && c.default_ttl_ms == 700,
		      "min = max = default = 700");
	/* the relation is judged after flags override the environment */
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_DEFAULT_TTL_MS", "50"}), ARGS("--min-ttl-ms=10")))
		CHECK(c.default_ttl_ms == 50 && c.min_ttl_ms == 10, "DLOCKD_DEFAULT_TTL_MS=50 --min-ttl-ms=10");
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_MIN_TTL_MS", "40000"}), ARGS("--min-ttl-ms=100")))
		CHECK_INT(c.min_ttl_ms, 100, "DLOCKD_MIN_TTL_MS=40000 --min-ttl-ms=100");
}

/* ---- the clock drift ratio ---- */

static void test_drift_ratio(void)
{
	static const char *const GOOD[] = {"0", "0.5", ".25", "0.01", "5e-2"};
	static const char *const BAD[] = {"-0", "+0.1", " 0.1", "\t0.1", "0.6", "nan", "inf", "", "0.1x", "-0.0"};
	struct config c;

	for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++)
		if (parse_ok(__LINE__, &c, NULL, ARGS("--clock-drift-factor", GOOD[i])))
			CHECK(c.clock_drift_factor >= 0.0 && c.clock_drift_factor <= 0.5, "--clock-drift-factor %s: %g",
			      GOOD[i], c.clock_drift_factor);
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		parse_err(__LINE__, NULL, ARGS("--clock-drift-factor", BAD[i]), "clock-drift-factor");
		parse_err(__LINE__, ENV({"DLOCKD_CLOCK_DRIFT_FACTOR", BAD[i]}), NOARGS, "DLOCKD_CLOCK_DRIFT_FACTOR");
	}
}

/* ---- logs and prefix ---- */

static void test_log_and_prefix(void)
{
	static const struct {
		const char *v;
		int want; /* -1: rejected */
	} FMT[] = {{"text", LOG_TEXT}, {"json", LOG_JSON}, {"JSON", -1}, {"xml", -1}, {"", -1}, {"text ", -1}},
	  LVL[] = {{"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR},
	           {"warning", -1},      {"INFO", -1},       {"", -1},           {"trace", -1}};
	struct config c;

	for (size_t i = 0; i < sizeof FMT / sizeof FMT[0]; i++) {
		if (FMT[i].want < 0) {
			parse_err(__LINE__, NULL, ARGS("--log-format", FMT[i].v), "log-format");
			parse_err(__LINE__, ENV({"DLOCKD_LOG_FORMAT", FMT[i].v}), NOARGS, "DLOCKD_LOG_FORMAT");
			continue;
		}
		if (parse_ok(__LINE__, &c, NULL, ARGS("--log-format", FMT[i].v)))
			CHECK(c.log_format == (enum log_format)FMT[i].want, "--log-format %s: got %d", FMT[i].v,
			      c.log_format);
		if (parse_ok(__LINE__, &c, ENV({"DLOCKD_LOG_FORMAT", FMT[i].v}), NOARGS))
			CHECK(c.log_format == (enum log_format)FMT[i].want, "DLOCKD_LOG_FORMAT=%s: got %d", FMT[i].v,
			      c.log_format);
	}
	for (size_t i = 0; i < sizeof LVL / sizeof LVL[0]; i++) {
		if (LVL[i].want < 0) {
			parse_err(__LINE__, NULL, ARGS("--log-level", LVL[i].v), "log-level");
			parse_err(__LINE__, ENV({"DLOCKD_LOG_LEVEL", LVL[i].v}), NOARGS, "DLOCKD_LOG_LEVEL");
			continue;
		}
		if (parse_ok(__LINE__, &c, NULL, ARGS("--log-level", LVL[i].v)))
			CHECK(c.log_level == (enum log_level)LVL[i].want, "--log-level %s: got %d", LVL[i].v,
			      c.log_level);
		if (parse_ok(__LINE__, &c, ENV({"DLOCKD_LOG_LEVEL", LVL[i].v}), NOARGS))
			CHECK(c.log_level == (enum log_level)LVL[i].want, "DLOCKD_LOG_LEVEL=%s: got %d", LVL[i].v,
			      c.log_level);
	}

	static const struct {
		const char *v;
		bool ok;
	} PFX[] = {
	    {"app:", true}, {"a/b|c~!#", true}, {"x", true},     {"a{b", false},  {"a}b", false},         {"{", false},
	    {"a b", false}, {"a\tb", false},    {"a\nb", false}, {"\x7f", false}, {"caf\xc3\xa9", false},
	};
	char p64[65], p65[66];

	for (size_t i = 0; i < sizeof PFX / sizeof PFX[0]; i++) {
		if (!PFX[i].ok) {
			parse_err(__LINE__, NULL, ARGS("--prefix", PFX[i].v), "prefix");
			parse_err(__LINE__, ENV({"DLOCKD_PREFIX", PFX[i].v}), NOARGS, "DLOCKD_PREFIX");
			continue;
		}
		if (parse_ok(__LINE__, &c, NULL, ARGS("--prefix", PFX[i].v)))
			CHECK_STR(c.prefix, PFX[i].v, "--prefix");
		if (parse_ok(__LINE__, &c, ENV({"DLOCKD_PREFIX", PFX[i].v}), NOARGS))
			CHECK_STR(c.prefix, PFX[i].v, "DLOCKD_PREFIX");
	}
	memset(p64, 'p', 64);
	p64[64] = '\0';
	memset(p65, 'p', 65);
	p65[65] = '\0';
	if (parse_ok(__LINE__, &c, NULL, ARGS("--prefix", p64)))
		CHECK_STR(c.prefix, p64, "--prefix of 64 bytes");
	parse_err(__LINE__, NULL, ARGS("--prefix", p65), "prefix");
	if (parse_ok(__LINE__, &c, NULL, ARGS("--prefix=a=b")))
		CHECK_STR(c.prefix, "a=b", "--prefix=a=b");
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_PREFIX", "env:"}), ARGS("--prefix", "flag:")))
		CHECK_STR(c.prefix, "flag:", "--prefix over DLOCKD_PREFIX");
}

/* ---- argument syntax ---- */

static void test_arg_syntax(void)
{
	const struct {
		int line;
		const char *const *args;
		const char *needle;
	} ERRS[] = {
	    {__LINE__, ARGS("--bogus"), "bogus"},
	    {__LINE__, ARGS("--bogus=1"), "bogus"},
	    {__LINE__, ARGS("--thread", "2"), "thread"},
	    {__LINE__, ARGS("--Threads", "2"), NULL},
	    {__LINE__, ARGS("listen"), "listen"},
	    {__LINE__, ARGS("-t", "2"), NULL},
	    {__LINE__, ARGS("-"), NULL},
	    {__LINE__, ARGS("--"), NULL},
	    {__LINE__, ARGS("--=5"), NULL},
	    {__LINE__, ARGS("--threads", "2", "extra"), "extra"},
	    {__LINE__, ARGS("--listen"), "listen"},
	    {__LINE__, ARGS("--threads"), "threads"},
	    {__LINE__, ARGS("--threads", "2", "--redis"), "redis"},
	    {__LINE__, ARGS("--threads="), "threads"},
	    {__LINE__, ARGS("--help=1"), "help"},
	    {__LINE__, ARGS("--version=x"), "version"},
	    {__LINE__, ARGS("--healthcheck=1"), "healthcheck"},
	    {__LINE__, ARGS("--listen", "--threads"), "listen"},
	};
	struct config c;
	char err[256];

	for (size_t i = 0; i < sizeof ERRS / sizeof ERRS[0]; i++)
		parse_err(ERRS[i].line, NULL, ERRS[i].args, ERRS[i].needle);

	printf("---- expected --help and --version output follows ----\n");
	CHECK(parse(&c, NULL, ARGS("--help"), err, sizeof err) == CONFIG_DONE, "--help should return CONFIG_DONE");
	CHECK(parse(&c, NULL, ARGS("--version"), err, sizeof err) == CONFIG_DONE,
	      "--version should return CONFIG_DONE");
	CHECK(parse(&c, NULL, ARGS("--threads", "2", "--version"), err, sizeof err) == CONFIG_DONE,
	      "--threads 2 --version should return CONFIG_DONE");
	printf("---- end of --help and --version output ----\n");
	fflush(stdout);

	/* --healthcheck is a switch, not an exit */
	if (parse_ok(__LINE__, &c, NULL, ARGS("--healthcheck", "--listen", ":9000")))
		CHECK(c.healthcheck && c.listen_port == 9000, "--healthcheck --listen :9000: healthcheck %d, port %d",
		      c.healthcheck, c.listen_port);
	if (parse_ok(__LINE__, &c, NULL, ARGS("--listen", ":9001", "--healthcheck")))
		CHECK(c.healthcheck && c.listen_port == 9001, "--listen :9001 --healthcheck: healthcheck %d, port %d",
		      c.healthcheck, c.listen_port);

	/* a value that looks like a flag is still the value */
	if (parse_ok(__LINE__, &c, NULL, ARGS("--prefix", "--x")))
		CHECK_STR(c.prefix, "--x", "--prefix --x");
	/* all of it together */
	if (parse_ok(__LINE__, &c, NULL,
	             ARGS("--listen=:9000", "--redis", "redis://r:1/1", "--prefix", "p:", "--threads=8", "--log-format",
	                  "json", "--log-level=debug", "--max-connections", "20", "--max-connections-per-ip=2",
	                  "--connection-timeout-s", "7", "--redis-timeout-ms=50"))) {
		CHECK(c.listen_host[0] == '\0' && c.listen_port == 9000 && c.nredis == 1 && c.redis[0].port == 1 &&
		          c.redis[0].db == 1 && strcmp(c.prefix, "p:") == 0 && c.threads == 8 &&
		          c.log_format == LOG_JSON && c.log_level == LOG_DEBUG && c.max_connections == 20 &&
		          c.max_connections_per_ip == 2 && c.connection_timeout_s == 7 && c.redis_timeout_ms == 50,
		      "a full command line was not applied");
	}
}

/* ---- --trusted-proxy ---- */

static void test_trusted_proxies(void)
{
	static const struct {
		int line;
		const char *v;
		int n;            /* networks parsed; -1: rejected */
		const char *hex0; /* first network's address, as 32 hex digits */
		unsigned bits0;   /* and its prefix length (IPv4 counted as mapped: +96) */
	} T[] = {
	    {__LINE__, "10.0.0.1", 1, "00000000000000000000ffff0a000001", 128},
	    {__LINE__, "10.1.2.3/8", 1, "00000000000000000000ffff0a000000", 104},
	    {__LINE__, "192.168.1.255/23", 1, "00000000000000000000ffffc0a80000", 119},
	    {__LINE__, "0.0.0.0/0", 1, "00000000000000000000ffff00000000", 96},
	    {__LINE__, "::1", 1, "00000000000000000000000000000001", 128},
	    {__LINE__, "fd00::ff/8", 1, "fd000000000000000000000000000000", 8},
	    {__LINE__, "::/0", 1, "00000000000000000000000000000000", 0},
	    {__LINE__, "10.0.0.1,::1", 2, "00000000000000000000ffff0a000001", 128},
	    {__LINE__, "10.0.0.1, 10.0.0.2 ,10.0.0.3", 3, "00000000000000000000ffff0a000001", 128},
	    {__LINE__, "", 0, NULL, 0},
	    {__LINE__, "10.0.0.1/33", -1, NULL, 0},
	    {__LINE__, "::1/129", -1, NULL, 0},
	    {__LINE__, "10.0.0.1/", -1, NULL, 0},
	    {__LINE__, "10.0.0.1/-1", -1, NULL, 0},
	    {__LINE__, "10.0.0", -1, NULL, 0},
	    {__LINE__, "proxy.example", -1, NULL, 0},
	    {__LINE__, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", -1, NULL, 0},
	    {__LINE__,
	     "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8,10.0.0.9,10.0.0.10,"
	     "10.0.0.11,10.0.0.12,10.0.0.13,10.0.0.14,10.0.0.15,10.0.0.16,10.0.0.17",
	     -1, NULL, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct config c;
		char hex[33];

		if (T[i].n < 0) {
			parse_err(T[i].line, NULL, ARGS("--trusted-proxy", T[i].v), "trusted-proxy");
			parse_err(T[i].line, ENV({"DLOCKD_TRUSTED_PROXY", T[i].v}), NOARGS, "trusted-proxy");
			continue;
		}
		if (!parse_ok(T[i].line, &c, NULL, ARGS("--trusted-proxy", T[i].v)))
			continue;
		unit_check_(c.ntrusted_proxies == (unsigned)T[i].n, __FILE__, T[i].line, "%s: %u networks, expected %d",
		            T[i].v, c.ntrusted_proxies, T[i].n);
		if (!T[i].hex0 || c.ntrusted_proxies == 0)
			continue;
		for (int b = 0; b < 16; b++)
			snprintf(hex + 2 * b, 3, "%02x", c.trusted_proxies[0].addr[b]);
		unit_check_(strcmp(hex, T[i].hex0) == 0 && c.trusted_proxies[0].bits == T[i].bits0, __FILE__, T[i].line,
		            "%s: got %s/%u, expected %s/%u", T[i].v, hex, c.trusted_proxies[0].bits, T[i].hex0,
		            T[i].bits0);
	}
	/* A flag replaces the variable's list. */
	{
		struct config c;
		if (parse_ok(__LINE__, &c, ENV({"DLOCKD_TRUSTED_PROXY", "10.0.0.1,10.0.0.2"}),
		             ARGS("--trusted-proxy", "::1")))
			CHECK_INT(c.ntrusted_proxies, 1, "flag over variable");
	}
}

/* ---- TLS ---- */

/* a path one byte over CONFIG_PATH_MAX - 1 */
static const char *trepeat_path(void)
{
	static char buf[CONFIG_PATH_MAX + 1];

	memset(buf, 'p', CONFIG_PATH_MAX);
	buf[0] = '/';
	buf[CONFIG_PATH_MAX] = '\0';
	return buf;
}

static void test_tls(void)
{
	struct config c;

	if (parse_ok(__LINE__, &c, NULL, ARGS("--tls-cert", "/etc/d/cert.pem", "--tls-key", "/etc/d/key.pem"))) {
		CHECK_STR(c.tls_cert, "/etc/d/cert.pem", "--tls-cert");
		CHECK_STR(c.tls_key, "/etc/d/key.pem", "--tls-key");
	}
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_TLS_CERT", "/a/c.pem"}, {"DLOCKD_TLS_KEY", "/a/k.pem"}), NOARGS)) {
		CHECK_STR(c.tls_cert, "/a/c.pem", "DLOCKD_TLS_CERT");
		CHECK_STR(c.tls_key, "/a/k.pem", "DLOCKD_TLS_KEY");
	}
	/* a flag wins over its variable; the other half may come from the environment */
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_TLS_CERT", "/a/c.pem"}, {"DLOCKD_TLS_KEY", "/a/k.pem"}),
	             ARGS("--tls-cert=/b/c.pem"))) {
		CHECK_STR(c.tls_cert, "/b/c.pem", "flag over variable");
		CHECK_STR(c.tls_key, "/a/k.pem", "key from the environment");
	}
	/* both or neither */
	parse_err(__LINE__, NULL, ARGS("--tls-cert", "/c.pem"), "--tls-key");
	parse_err(__LINE__, NULL, ARGS("--tls-key", "/k.pem"), "--tls-cert");
	parse_err(__LINE__, ENV({"DLOCKD_TLS_CERT", "/c.pem"}), NOARGS, "DLOCKD_TLS_KEY");
	parse_err(__LINE__, ENV({"DLOCKD_TLS_KEY", "/k.pem"}), NOARGS, "DLOCKD_TLS_CERT");
	/* empty or too long names */
	parse_err(__LINE__, NULL, ARGS("--tls-cert", "", "--tls-key", "/k.pem"), "tls-cert");
	parse_err(__LINE__, ENV({"DLOCKD_TLS_KEY", ""}), ARGS("--tls-cert", "/c.pem"), "DLOCKD_TLS_KEY");
	parse_err(__LINE__, NULL, ARGS("--tls-cert", "/c.pem", "--tls-key", trepeat_path()), "tls-key");
	parse_err(__LINE__, NULL, ARGS("--tls-cert"), "needs a value");
}

/* redis+cluster://: seeds, each with the user and password; no database; never mixed. */
static void test_redis_cluster(void)
{
	static const struct {
		int line;
		const char *url;
		unsigned n;
		const char *labels[3];
		const char *user, *password;
	} OK[] = {
	    {__LINE__, "redis+cluster://h:7000", 1, {"h:7000"}, "", ""},
	    {__LINE__, "redis+cluster://h", 1, {"h:6379"}, "", ""},
	    {__LINE__, "redis+cluster://a:1,b:2,[::1]:3", 3, {"a:1", "b:2", "[::1]:3"}, "", ""},
	    {__LINE__, "redis+cluster://dlockd:p%40w%2C@a:1,b:2", 2, {"a:1", "b:2"}, "dlockd", "p@w,"},
	    {__LINE__, "redis+cluster://:pw@a:1", 1, {"a:1"}, "", "pw"},
	    {__LINE__, "redis+cluster://pw@a:1", 1, {"a:1"}, "", "pw"},
	};
	static const struct {
		int line;
		const char *url;
	} BAD[] = {
	    {__LINE__, "redis+cluster://"},
	    {__LINE__, "redis+cluster://a:1,"},
	    {__LINE__, "redis+cluster://,a:1"},
	    {__LINE__, "redis+cluster://a:1,,b:2"},
	    {__LINE__, "redis+cluster://a:1/0"},
	    {__LINE__, "redis+cluster://a:1/2"},
	    {__LINE__, "redis+cluster://a:0"},
	    {__LINE__, "redis+cluster://a:x"},
	    {__LINE__, "redis+cluster://::1:3"},
	    {__LINE__, "redis+cluster://u:%zz@a:1"},
	    {__LINE__, "redis+cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10"},
	    {__LINE__, "redis+clusters://a:1"},
	    {__LINE__, "redis+cluster:/a:1"},
	};
	struct config c;

	for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
		struct redis_target seeds[CONFIG_REDIS_MAX];
		unsigned n = 99;
		char err[256] = "";
		bool ok = config_parse_redis_cluster(OK[i].url, seeds, CONFIG_REDIS_MAX, &n, err, sizeof err);
		if (!unit_check_(ok && n == OK[i].n, __FILE__, OK[i].line, "%s: expected %u seeds, got %s %u (%s)",
		                 OK[i].url, OK[i].n, ok ? "ok" : "an error", n, err))
			continue;
		for (unsigned k = 0; k < n; k++) {
			CHECK_STR(seeds[k].label, OK[i].labels[k], "seed label");
			CHECK_STR(seeds[k].user, OK[i].user, "seed user");
			CHECK_STR(seeds[k].password, OK[i].password, "seed password");
			CHECK_INT(seeds[k].db, 0, "seed db");
			CHECK_STR(seeds[k].unix_path, "", "seed unix path");
		}
		if (parse_ok(OK[i].line, &c, NULL, ARGS("--redis", OK[i].url))) {
			CHECK(c.redis_cluster, "--redis %s: not a cluster", OK[i].url);
			CHECK_INT(c.nredis, OK[i].n, "--redis cluster: nredis");
		}
		if (parse_ok(OK[i].line, &c, ENV({"DLOCKD_REDIS", OK[i].url}), NOARGS)) {
			CHECK(c.redis_cluster, "DLOCKD_REDIS=%s: not a cluster", OK[i].url);
			CHECK_INT(c.nredis, OK[i].n, "DLOCKD_REDIS cluster: nredis");
			CHECK_STR(c.redis[OK[i].n - 1].label, OK[i].labels[OK[i].n - 1],
			          "DLOCKD_REDIS cluster: last seed");
		}
	}
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		struct redis_target seeds[CONFIG_REDIS_MAX];
		unsigned n;
		char err[256] = "";
		bool ok = config_parse_redis_cluster(BAD[i].url, seeds, CONFIG_REDIS_MAX, &n, err, sizeof err);
		unit_check_(!ok && err[0] && !strchr(err, '\n') && !strstr(err, "%zz"), __FILE__, BAD[i].line,
		            "%s: expected a one-line rejection, got %s", BAD[i].url, ok ? "success" : unit_escz(err));
		parse_err(BAD[i].line, NULL, ARGS("--redis", BAD[i].url), NULL);
		parse_err(BAD[i].line, ENV({"DLOCKD_REDIS", BAD[i].url}), NOARGS, NULL);
	}
	/* a cluster address stands alone */
	parse_err(__LINE__, NULL, ARGS("--redis", "redis+cluster://a:1", "--redis", "redis://b"), "cluster");
	parse_err(__LINE__, NULL, ARGS("--redis", "redis://b", "--redis", "redis+cluster://a:1"), "cluster");
	parse_err(__LINE__, NULL, ARGS("--redis", "redis+cluster://a:1", "--redis", "redis+cluster://b:1"), "cluster");
	/* the flag replaces the variable's cluster, and a plain address is no cluster */
	if (parse_ok(__LINE__, &c, ENV({"DLOCKD_REDIS", "redis+cluster://a:1,b:2"}), ARGS("--redis", "redis://c"))) {
		CHECK(!c.redis_cluster, "--redis redis://c over a cluster variable: still a cluster");
		CHECK_INT(c.nredis, 1, "--redis over a cluster variable: nredis");
	}
	if (parse_ok(__LINE__, &c, NULL, ARGS("--redis", "redis://a", "--redis", "redis://b", "--redis", "redis://c")))
		CHECK(!c.redis_cluster, "Redlock is no cluster");
	/* the password shows nowhere */
	{
		char err[512] = "";
		struct redis_target seeds[CONFIG_REDIS_MAX];
		unsigned n;
		if (!config_parse_redis_cluster("redis+cluster://u:s3cr3tpw@a:1,b:x", seeds, CONFIG_REDIS_MAX, &n, err,
		                                sizeof err))
			CHECK(!strstr(err, "s3cr3tpw"), "the error shows the password: %s", err);
		if (config_parse_redis_cluster("redis+cluster://u:s3cr3tpw@a:1", seeds, 1, &n, err, sizeof err))
			CHECK(!strstr(seeds[0].label, "s3cr3tpw"), "the label shows the password");
	}
}

int main(void)
{
	test_defaults();
	test_numeric_options();
	test_listen();
	test_redis_urls();
	test_redis_password_secret();
	test_redis_user_length();
	test_redis_lists();
	test_sentinel_urls();
	test_redis_cluster();
	test_ttl_relations();
	test_drift_ratio();
	test_log_and_prefix();
	test_arg_syntax();
	test_trusted_proxies();
	test_tls();
	return unit_done();
}
