/* acl: the Redis user's needs and the probe. See acl.h. */
#include "redis/acl.h"

#include <stdio.h>
#include <string.h>

const char *const ACL_SCRIPT_COMMANDS[] = {
    "time", "exists", "type", "hmget",   "hget", "pttl",    "get", "zrange", "zrem",
    "hdel", "zadd",   "set",  "pexpire", "scan", "publish", "del", "hset",   NULL,
};

/* script|load at connect, evalsha for every operation, eval when Redis lost
 * its script cache, ping for /readyz, select for a /db, subscribe for
 * wake-ups; wait with --redis-wait-replicas; role in Sentinel mode (is the
 * node named the master?); cluster|slots and asking in Cluster mode (the slot
 * map; a script sent to a slot being migrated). */
const char *const ACL_DIRECT_COMMANDS[] = {
    "evalsha", "eval", "script|load", "ping", "select", "subscribe", "wait", "role", "cluster|slots", "asking", NULL,
};

/* info: a Redlock node's run (without it every grant consults the clock);
 * config|get: the maxmemory-policy check. */
const char *const ACL_OPTIONAL_COMMANDS[] = {"info", "config|get", NULL};

const char ACL_PROBE[] = "local out = {}\n"
                         "local function try(cmd, ...)\n"
                         "  local r = redis.pcall(cmd, ...)\n"
                         "  if type(r) == 'table' and r.err and (string.find(r.err, 'NOPERM', 1, true) or\n"
                         "      string.find(r.err, \"user executing the script can't\", 1, true)) then\n"
                         "    out[#out + 1] = string.lower(cmd)\n"
                         "    out[#out + 1] = r.err\n"
                         "    return false\n"
                         "  end\n"
                         "  return true\n"
                         "end\n"
                         "try('TIME')\n"
                         "try('EXISTS', KEYS[1])\n"
                         "try('TYPE', KEYS[1])\n"
                         "try('HMGET', KEYS[1], 'token')\n"
                         "try('HGET', KEYS[4], '#')\n"
                         "try('PTTL', KEYS[1])\n"
                         "try('GET', KEYS[2])\n"
                         "try('ZRANGE', KEYS[3], 0, 0)\n"
                         "try('ZREM', KEYS[3], '#')\n"
                         "try('HDEL', KEYS[4], '#')\n"
                         "try('ZADD', KEYS[3], 'XX', 0, '#')\n"
                         "try('SET', KEYS[2], '0', 'XX', 'PX', 1000)\n"
                         "try('PEXPIRE', KEYS[1], 1000)\n"
                         "try('SCAN', '0', 'MATCH', KEYS[1], 'COUNT', 1)\n"
                         "try('PUBLISH', ARGV[1], '#')\n"
                         "if try('DEL', KEYS[1]) then\n"
                         "  try('HSET', KEYS[1], 'token', '#')\n"
                         "  redis.pcall('DEL', KEYS[1])\n"
                         "end\n"
                         "return out\n";

bool acl_refused(const char *err)
{
	return strncmp(err, "NOPERM", 6) == 0 || strstr(err, "user executing the script can't") != NULL;
}

void acl_missing_init(struct acl_missing *m)
{
	memset(m, 0, sizeof *m);
}

static bool listed(const char *list, const char *cmd)
{
	size_t n = strlen(cmd);

	for (const char *p = list; (p = strstr(p, cmd)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

void acl_missing_add(struct acl_missing *m, const char *cmd, const char *err)
{
	size_t used = strlen(m->commands);

	/* 7.0: "... access one of the keys ..." / "can't access at least one of
	 * the keys"; "... channels ..." / "can't publish to the channel" */
	if (strstr(err, "keys") || strstr(err, "key ")) {
		m->keys = true;
		return;
	}
	if (strstr(err, "channel")) {
		m->channel = true;
		return;
	}
	if (listed(m->commands, cmd))
		return;
	if (used + strlen(cmd) + 3 >= sizeof m->commands) {
		if (!strstr(m->commands, "..."))
			snprintf(m->commands + used, sizeof m->commands - used, "%s...", used ? ", " : "");
		return;
	}
	snprintf(m->commands + used, sizeof m->commands - used, "%s%s", used ? ", " : "", cmd);
}

bool acl_missing_any(const struct acl_missing *m)
{
	return m->commands[0] || m->keys || m->channel || m->unchecked;
}

void acl_missing_describe(const struct acl_missing *m, const char *user, const char *prefix, const char *channel,
                          char *out, size_t cap)
{
	size_t n = 0;
	const char *sep = "";

	n += (size_t)snprintf(out, cap, "the Redis user %s%.64s%s lacks what dlockd needs:", user && *user ? "'" : "",
	                      user && *user ? user : "(default)", user && *user ? "'" : "");
	if (m->commands[0] && n < cap) {
		n += (size_t)snprintf(out + n, cap - n, " the commands %s", m->commands);
		sep = ";";
	}
	if (m->keys && n < cap) {
		n += (size_t)snprintf(out + n, cap - n, "%s the keys %.64s* (~%.64s*)", sep, prefix, prefix);
		sep = ";";
	}
	if (m->channel && n < cap) {
		n += (size_t)snprintf(out + n, cap - n, "%s the channel %.80s (&%.80s)", sep, channel, channel);
		sep = ";";
	}
	if (m->unchecked && n < cap)
		n += (size_t)snprintf(out + n, cap - n,
		                      "%s (neither EVAL nor EVALSHA ran, so the script commands "
		                      "were not checked)",
		                      sep);
	if (n < cap)
		snprintf(out + n, cap - n,
		         "; dlockd stays not ready until the ACL rule allows them (docs/redis-acl.md)");
}
