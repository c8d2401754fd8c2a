/* auth: API keys. It owns the auth file's format (one key per line:
 * `ID sha256:HEX PREFIX RIGHTS`), finding a presented key by its SHA-256 in
 * constant time, what a key may do (a right, on names under its prefix), and
 * each key's request-rate budget. Pure: it reads the file and nothing else,
 * knows no HTTP and no Redis. A table never changes once built; threads share
 * it by reference count, and a reload builds a new one. */
#ifndef DLOCKD_AUTH_H
#define DLOCKD_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "locks/lock.h"

enum auth_right {
	AUTH_READ = 1u << 0,    /* inspect, list */
	AUTH_LOCK = 1u << 1,    /* acquire, renew, release */
	AUTH_METRICS = 1u << 2, /* GET /metrics */
	AUTH_ADMIN = 1u << 3,   /* every right, on every name */
};

enum {
	AUTH_ID_MAX = 64,      /* bytes of A-Z a-z 0-9 . _ - : @ */
	AUTH_KEY_MAX = 256,    /* a presented key's length at most */
	AUTH_KEYS_MAX = 10000, /* lines with a key, per file */
	AUTH_FILE_MAX = 4 << 20,
};

struct auth_key {
	char id[AUTH_ID_MAX + 1];
	uint8_t hash[DIGEST_SHA256_LEN];
	char prefix[LOCK_NAME_MAX + 1]; /* "" when any */
	bool any;                       /* PREFIX was `*` */
	unsigned rights;                /* enum auth_right bits */
	_Atomic uint64_t tat_us;        /* the rate budget's theoretical arrival time (GCRA) */
	_Atomic uint64_t requests;      /* requests authenticated with it since the file was loaded */
	_Atomic uint64_t refused;       /* of those, refused: 403 or 429 */
};

struct auth;

/* Parses an auth file's text. NULL on a bad line, with err naming it
 * ("line 3: ..."), or when out of memory. */
struct auth *auth_parse(const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses the file at path; err names the file or the line. */
struct auth *auth_load(const char *path, char *err, size_t errlen);
void auth_ref(struct auth *a);
/* Drops a reference; the last one frees the table (NULL is fine). */
void auth_unref(struct auth *a);
size_t auth_count(const struct auth *a);
/* The i-th key, in file order (i < auth_count()). */
const struct auth_key *auth_key_at(const struct auth *a, size_t i);

/* The key whose hash is SHA-256(key[0..len)), or NULL. Every entry is
 * compared, in constant time, whichever matches. */
struct auth_key *auth_find(struct auth *a, const char *key, size_t len);

/* Whether k holds right (AUTH_ADMIN holds them all). */
bool auth_has(const struct auth_key *k, unsigned right);
/* Whether k may use a name: admin or any prefix, or the name starts with
 * the key's prefix (a plain string prefix: `team-a` covers `team-ab`). */
bool auth_covers(const struct auth_key *k, const char *name);
/* The prefix a list by k must use when the client asked for `asked`: the
 * longer of the two when one starts with the other (copied into out), else
 * false: the two namespaces share no name. */
bool auth_list_prefix(const struct auth_key *k, const char *asked, char out[LOCK_NAME_MAX + 1]);

/* Takes one request from k's budget of per_s requests a second (bursts of
 * up to per_s). False when it is spent, with *retry_ms: when the next one
 * fits. Thread-safe (lock-free). */
bool auth_rate_take(struct auth_key *k, uint64_t now_us, unsigned per_s, uint64_t *retry_ms);

/* Counts a request authenticated with k, and whether it was refused. */
void auth_count_request(struct auth_key *k);
void auth_count_refused(struct auth_key *k);

/* Parses a RIGHTS field ("read,lock", "metrics", "admin"); false if a word
 * is unknown or repeated, or the list is empty. */
bool auth_rights_parse(const char *s, size_t len, unsigned *out);
/* Whether s is a valid key ID / PREFIX field (`*` or a lock-name prefix). */
bool auth_id_valid(const char *s, size_t len);
bool auth_prefix_valid(const char *s, size_t len);

#endif
