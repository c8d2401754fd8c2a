/* Fuzzes config_parse_redis(), the Redis address of --redis and
 * DLOCKD_REDIS (redis://, unix:// and redis+sentinel://), and
 * config_parse_redis_cluster() for an input that starts with redis+cluster://
 * (seeds: the same properties for each, one user and password for all, and
 * the rebuilt address parses to the same seeds). What parses is within
 * bounds, its port and database were written as plain digits, its label is
 * host:port (never the password), and the address rebuilt from the parts
 * parses to the same parts. What does not parse gets one of the fixed
 * reasons, which never echo the address (it may carry a password). */
#include "fuzz.h"

#include "base/config.h"

static const char *const REASONS[] = {
    "bad Redis address: expected unix:///absolute/path",
    "bad Redis address: expected redis://[[user]:password@]host[:port][/db], unix:///path or redis+sentinel://...",
    "bad Redis address: expected redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db]",
    "bad Redis address: at most 9 sentinels",
    "bad Redis address: the master name must be 1-255 printable bytes without spaces or any of / ? @ % , # & =",
    "bad Redis address: the query may hold sentinel_user= and sentinel_password=, each once",
    "bad Redis address: the sentinel user name is too long or badly encoded",
    "bad Redis address: the sentinel password is too long or badly encoded",
    "bad Redis address: the user name is too long or badly encoded",
    "bad Redis address: the password is too long or badly encoded",
    "bad Redis address: expected redis://host[:port][/db]",
    "bad Redis address: the database must be a number",
};

static const char *const CLUSTER_REASONS[] = {
    "bad Redis Cluster address: expected redis+cluster://[user:password@]host:port[,...]",
    "bad Redis Cluster address: the user name is too long or badly encoded",
    "bad Redis Cluster address: the password is too long or badly encoded",
    "bad Redis Cluster address: at most 9 seed nodes",
    ("bad Redis Cluster address: expected redis+cluster://[user:password@]host:port[,host:port...] (no database: a "
     "cluster has only 0)"),
};

static bool known_in(const char *const *reasons, size_t n, const char *err)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(err, reasons[i]) == 0)
			return true;
	return false;
}

static bool known_reason(const char *err)
{
	return known_in(REASONS, sizeof REASONS / sizeof REASONS[0], err);
}

/* The cluster form: what parses is a list of plain host:port seeds sharing
 * one user and password; rebuilt, it parses to the same seeds. */
static void fuzz_cluster(const char *url)
{
	struct redis_target seeds[CONFIG_REDIS_MAX], again_seeds[CONFIG_REDIS_MAX];
	char err[256] = "", again[16 * CONFIG_STR_MAX], label[CONFIG_STR_MAX + 16];
	unsigned n, n2;
	size_t o = 0;

	if (!config_parse_redis_cluster(url, seeds, CONFIG_REDIS_MAX, &n, err, sizeof err)) {
		FUZZ_CHECK(known_in(CLUSTER_REASONS, sizeof CLUSTER_REASONS / sizeof CLUSTER_REASONS[0], err),
		           "unexpected cluster reason \"%s\"", err);
		return;
	}
	FUZZ_CHECK(n >= 1 && n <= CONFIG_REDIS_MAX, "%u seeds", n);
	o += (size_t)snprintf(again + o, sizeof again - o, "redis+cluster://");
	if (seeds[0].user[0] || seeds[0].password[0]) {
		for (const char *p = seeds[0].user; *p; p++)
			o += (size_t)snprintf(again + o, sizeof again - o,
			                      *p == '%'   ? "%%25"
			                      : *p == ':' ? "%%3A"
			                                  : "%c",
			                      *p);
		again[o++] = ':';
		for (const char *p = seeds[0].password; *p; p++)
			o += (size_t)snprintf(again + o, sizeof again - o, *p == '%' ? "%%25" : "%c", *p);
		again[o++] = '@';
	}
	for (unsigned i = 0; i < n; i++) {
		const struct redis_target *t = &seeds[i];
		FUZZ_CHECK(t->host[0] && !strpbrk(t->host, "/@,") && !t->unix_path[0] && t->db == 0,
		           "bad seed host \"%s\"", t->host);
		FUZZ_CHECK(t->port >= 1 && t->port <= 65535, "seed port %d", t->port);
		FUZZ_CHECK(strcmp(t->user, seeds[0].user) == 0 && strcmp(t->password, seeds[0].password) == 0,
		           "seeds with different credentials");
		snprintf(label, sizeof label, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
		FUZZ_CHECK(strcmp(t->label, label) == 0, "seed label \"%s\" is not host:port", t->label);
		o += (size_t)snprintf(again + o, sizeof again - o,
		                      strchr(t->host, ':') || t->host[0] == '[' ? "%s[%s]:%d" : "%s%s:%d", i ? "," : "",
		                      t->host, t->port);
	}
	FUZZ_CHECK(config_parse_redis_cluster(again, again_seeds, CONFIG_REDIS_MAX, &n2, err, sizeof err),
	           "rebuilt cluster address \"%s\" does not parse: %s", again, err);
	FUZZ_CHECK(n2 == n, "rebuilt cluster address \"%s\": %u seeds, not %u", again, n2, n);
	for (unsigned i = 0; i < n; i++)
		FUZZ_CHECK(strcmp(seeds[i].label, again_seeds[i].label) == 0 &&
		               strcmp(seeds[i].user, again_seeds[i].user) == 0 &&
		               strcmp(seeds[i].password, again_seeds[i].password) == 0,
		           "rebuilt cluster address \"%s\" parses differently", again);
}

/* The digits the address gave for its port and database (NULL when none). */
static void raw_numbers(const char *url, const char **port, size_t *plen, const char **db)
{
	const char *rest = url + strlen("redis://"), *at = strrchr(rest, '@'), *slash, *end;

	if (at)
		rest = at + 1;
	slash = strchr(rest, '/');
	end = slash ? slash : rest + strlen(rest);
	*db = slash && slash[1] ? slash + 1 : NULL;
	*port = NULL;
	*plen = 0;
	if (rest[0] == '[') {
		const char *close = memchr(rest, ']', (size_t)(end - rest));
		if (close && close[1] == ':')
			*port = close + 2;
	} else {
		for (const char *p = end; p > rest; p--)
			if (p[-1] == ':') {
				*port = p;
				break;
			}
	}
	if (*port)
		*plen = (size_t)(end - *port);
}

/* Appends s to out at *o with every byte outside [A-Za-z0-9._-] percent-encoded. */
static void put_escaped(char *out, size_t cap, size_t *o, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		*o += (size_t)snprintf(out + *o, cap - *o,
		                       strchr("._-", *p) || (*p >= '0' && *p <= '9') ||
		                               ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
		                           ? "%c"
		                           : "%%%02X",
		                       *p);
}

/* Rebuilds an address from t: '%' in the user and password escaped, the host in
 * brackets where it must be, port and database only when not the defaults. */
static void rebuild(const struct redis_target *t, char *out, size_t cap)
{
	size_t o = 0;

	if (t->unix_path[0]) {
		snprintf(out, cap, "unix://%s", t->unix_path);
		return;
	}
	if (t->sentinel.n) {
		const struct redis_sentinels *s = &t->sentinel;
		o += (size_t)snprintf(out + o, cap - o, "redis+sentinel://");
		if (t->user[0] || t->password[0]) {
			put_escaped(out, cap, &o, t->user);
			out[o++] = ':';
			put_escaped(out, cap, &o, t->password);
			out[o++] = '@';
		}
		for (unsigned i = 0; i < s->n; i++)
			o += (size_t)snprintf(out + o, cap - o, strchr(s->addr[i].host, ':') ? "%s[%s]:%d" : "%s%s:%d",
			                      i ? "," : "", s->addr[i].host, s->addr[i].port);
		o += (size_t)snprintf(out + o, cap - o, "/%s", s->master_name);
		if (t->db)
			o += (size_t)snprintf(out + o, cap - o, "/%d", t->db);
		if (s->user[0] || s->password[0]) {
			o += (size_t)snprintf(out + o, cap - o, "?sentinel_user=");
			put_escaped(out, cap, &o, s->user);
			o += (size_t)snprintf(out + o, cap - o, "&sentinel_password=");
			put_escaped(out, cap, &o, s->password);
		}
		return;
	}
	o += (size_t)snprintf(out + o, cap - o, "redis://");
	if (t->user[0] || t->password[0]) {
		/* in the user, '%' and ':' escaped (its first raw ':' would end it) */
		for (const char *p = t->user; *p; p++)
			o += (size_t)snprintf(out + o, cap - o, *p == '%' ? "%%25" : *p == ':' ? "%%3A" : "%c", *p);
		out[o++] = ':';
		for (const char *p = t->password; *p; p++)
			o += (size_t)snprintf(out + o, cap - o, *p == '%' ? "%%25" : "%c", *p);
		out[o++] = '@';
	}
	/* brackets around an IPv6 address, or a host that starts with one ("[[]" gives "[") */
	o += (size_t)snprintf(out + o, cap - o, strchr(t->host, ':') || t->host[0] == '[' ? "[%s]" : "%s", t->host);
	if (t->port != 6379)
		o += (size_t)snprintf(out + o, cap - o, ":%d", t->port);
	if (t->db != 0)
		snprintf(out + o, cap - o, "/%d", t->db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_strndup((const char *)data, size);
	char err[256] = "", label[CONFIG_STR_MAX + 16], again[8 * CONFIG_STR_MAX];
	struct redis_target t, t2;

	if (strncmp(url, "redis+cluster://", 16) == 0) {
		fuzz_cluster(url);
		free(url);
		return 0;
	}
	if (!config_parse_redis(url, &t, err, sizeof err)) {
		FUZZ_CHECK(known_reason(err), "unexpected reason \"%s\"", err);
		free(url);
		return 0;
	}
	if (t.sentinel.n) {
		const struct redis_sentinels *sn = &t.sentinel;
		FUZZ_CHECK(strncmp(url, "redis+sentinel://", 17) == 0,
		           "sentinels from an address not redis+sentinel://");
		FUZZ_CHECK(sn->n <= CONFIG_SENTINELS_MAX && !t.host[0] && !t.unix_path[0], "%u sentinels, or a host",
		           sn->n);
		for (unsigned i = 0; i < sn->n; i++)
			FUZZ_CHECK(sn->addr[i].host[0] && !strpbrk(sn->addr[i].host, "/@,?#&=% []") &&
			               sn->addr[i].port >= 1 && sn->addr[i].port <= 65535,
			           "bad sentinel \"%s\" port %d", sn->addr[i].host, sn->addr[i].port);
		FUZZ_CHECK(sn->master_name[0] && !strpbrk(sn->master_name, " /?@%,#&=") && t.db >= 0 && t.db <= 100000,
		           "bad master name \"%s\" or db %d", sn->master_name, t.db);
		for (const char *p = sn->master_name; *p; p++)
			FUZZ_CHECK(*p > 0x20 && *p < 0x7f, "master name with byte 0x%02x", (unsigned char)*p);
		snprintf(label, sizeof label, "master %s", sn->master_name);
		FUZZ_CHECK(strcmp(t.label, label) == 0, "label \"%s\" is not master NAME", t.label);
	} else if (t.unix_path[0]) {
		FUZZ_CHECK(strncmp(url, "unix:///", 8) == 0 && strcmp(t.unix_path, url + 7) == 0,
		           "unix path is not the address's path");
		FUZZ_CHECK(!t.host[0] && !t.user[0] && !t.password[0] && strcmp(t.label, t.unix_path) == 0,
		           "unix target has a host");
	} else {
		const char *port, *db;
		size_t plen;
		FUZZ_CHECK(strncmp(url, "redis://", 8) == 0, "a redis target from an address not redis://");
		FUZZ_CHECK(t.host[0] && !strpbrk(t.host, "/@"), "bad host \"%s\"", t.host);
		FUZZ_CHECK(t.port >= 1 && t.port <= 65535 && t.db >= 0 && t.db <= 100000,
		           "port %d or db %d out of range", t.port, t.db);
		raw_numbers(url, &port, &plen, &db);
		FUZZ_CHECK(!port || fuzz_digits(port, plen), "port \"%.*s\" is not plain digits", (int)plen, port);
		FUZZ_CHECK(!db || fuzz_digits(db, strlen(db)), "database \"%s\" is not plain digits", db);
		snprintf(label, sizeof label, strchr(t.host, ':') ? "[%s]:%d" : "%s:%d", t.host, t.port);
		FUZZ_CHECK(strcmp(t.label, label) == 0, "label \"%s\" is not host:port", t.label);
	}
	rebuild(&t, again, sizeof again);
	FUZZ_CHECK(config_parse_redis(again, &t2, err, sizeof err), "rebuilt address \"%s\" does not parse: %s", again,
	           err);
	FUZZ_CHECK(strcmp(t.host, t2.host) == 0 && t.port == t2.port && strcmp(t.unix_path, t2.unix_path) == 0 &&
	               strcmp(t.user, t2.user) == 0 && strcmp(t.password, t2.password) == 0 && t.db == t2.db &&
	               strcmp(t.label, t2.label) == 0 && memcmp(&t.sentinel, &t2.sentinel, sizeof t.sentinel) == 0,
	           "rebuilt address \"%s\" parses differently", again);
	free(url);
	return 0;
}
