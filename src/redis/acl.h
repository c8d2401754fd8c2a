/* acl: what dlockd needs of the Redis user it connects as, and how it checks
 * that at connect. It owns the list of commands (those dlockd sends itself and
 * those its Lua scripts call), the probe script that tries each script command
 * harmlessly on probe keys under the prefix and answers the ones Redis
 * refused, and the one line that tells an operator what is missing. The rule
 * an operator grants is docs/redis-acl.conf; a unit test keeps it, this list
 * and scripts.h in step. Pure: no I/O, no hiredis; nothing of HTTP or JSON. */
#ifndef DLOCKD_REDIS_ACL_H
#define DLOCKD_REDIS_ACL_H

#include <stdbool.h>
#include <stddef.h>

/* The name the probe keys are made for: no lock name can contain '#' (lock.h),
 * so they are never a lock's keys. */
#define ACL_PROBE_NAME "#acl-probe"

enum { ACL_LINE_MAX = 480 };

/* Lowercase Redis command names, each list NULL-terminated: those the scripts
 * call (checked by ACL_PROBE), those dlockd sends itself and needs (checked by
 * their own replies at connect), and those it sends only to inform itself (a
 * refusal is a warning). AUTH is missing: every user may send it. */
extern const char *const ACL_SCRIPT_COMMANDS[];
extern const char *const ACL_DIRECT_COMMANDS[];
extern const char *const ACL_OPTIONAL_COMMANDS[];

/* KEYS: the probe's lock, fence, queue and waitdl keys (ACL_PROBE_NAME's).
 * ARGV: the wake channel. Calls each of ACL_SCRIPT_COMMANDS once with valid
 * arguments (Redis checks arity before permissions), writing nothing that
 * outlives the script: writes are conditional on a missing key (XX), or undone
 * in the same script. Returns {command, error, command, error, ...} for the
 * calls Redis refused. (HSET is tried only when DEL may undo it.) */
extern const char ACL_PROBE[];

/* Whether an error reply is Redis refusing a permission: NOPERM, or inside a
 * script Redis 7.0's "The user executing the script can't ...". */
bool acl_refused(const char *err);

/* What a connection's setup found missing. */
struct acl_missing {
	char commands[ACL_LINE_MAX / 2]; /* "scan, publish" */
	bool keys, channel;
	bool unchecked; /* neither EVAL nor EVALSHA ran the probe */
};

void acl_missing_init(struct acl_missing *m);
/* Records that Redis refused command cmd (lowercase) with error err: a
 * refusal of keys or of the channel is told from a command's by err's words. */
void acl_missing_add(struct acl_missing *m, const char *cmd, const char *err);
bool acl_missing_any(const struct acl_missing *m);
/* One line for logs and /readyz: what user (NULL or "" for the connection's
 * default) lacks (commands, keys under prefix, the channel), and where the
 * rule is. Never a password. */
void acl_missing_describe(const struct acl_missing *m, const char *user, const char *prefix, const char *channel,
                          char *out, size_t cap);

#endif
