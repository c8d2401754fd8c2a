/* keys: the one place where Redis key names are made. Every key is
 * <prefix><type>:{<name>} — the type comes before the name, and names cannot
 * contain braces, so no name can reach another name's keys; the braces make
 * all of one name's keys share a Redis Cluster hash slot. Pure string work. */
#ifndef DLOCKD_KEYS_H
#define DLOCKD_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "locks/lock.h"

enum { KEYS_PREFIX_MAX = 64, KEYS_KEY_MAX = KEYS_PREFIX_MAX + 16 + LOCK_NAME_MAX };

enum keys_type {
	KEYS_LOCK,   /* hash: token (its "h:" hash), owner, ho, fence, acq, ttl, exp; its TTL is the lease */
	KEYS_FENCE,  /* string: the last fence issued; lives for the lease plus the retention */
	KEYS_QUEUE,  /* sorted set: the line of waiters, scored by arrival */
	KEYS_WAITDL, /* hash: waiter -> deadline (Redis ms) */
};

struct keys {
	char prefix[KEYS_PREFIX_MAX + 1];
	size_t prefix_len;
};

/* Sets the prefix. Returns false if it is longer than KEYS_PREFIX_MAX or holds
 * bytes that are not printable ASCII, or braces (they would break the names'
 * hash tags). */
bool keys_init(struct keys *k, const char *prefix);

/* Writes the key of `type` for `name` into out (KEYS_KEY_MAX + 1 bytes); returns its length. */
size_t keys_make(const struct keys *k, enum keys_type type, const char *name, char *out);

/* Writes the pub/sub channel of wake-ups ("<prefix>wake") into out; returns its length. */
size_t keys_wake_channel(const struct keys *k, char *out);

/* Writes a SCAN MATCH pattern for lock keys whose names start with name_prefix
 * (the configured prefix is glob-escaped). out holds 2 * KEYS_KEY_MAX + 1 bytes.
 * Returns the length. */
size_t keys_lock_pattern(const struct keys *k, const char *name_prefix, char *out);

/* Writes what every lock key starts with, "<prefix>lock:{", into out
 * (KEYS_KEY_MAX + 1 bytes); returns its length. */
size_t keys_lock_head(const struct keys *k, char *out);

/* If key[0..len) is a lock key, copies its name into name and returns true. */
bool keys_lock_name(const struct keys *k, const char *key, size_t len, char name[LOCK_NAME_MAX + 1]);

#endif
