/* lock: what a lock is — names, leases, tokens, fences, owners and the outcome
 * of an operation on one. Pure logic (the OS CSPRNG is its only I/O); it knows
 * nothing of HTTP, JSON or Redis. */
#ifndef DLOCKD_LOCK_H
#define DLOCKD_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	LOCK_NAME_MAX = 255,
	LOCK_OWNER_MAX = 256,
	LOCK_TOKEN_LEN = 32,          /* tokens we issue: 24 random bytes, base64url */
	LOCK_TOKEN_MAX = 64,          /* tokens we accept */
	LOCK_TOKEN_HASH_LEN = 2 + 43, /* "h:" and the SHA-256 of a token in base64url */
};

/* The largest fence: 2^53 - 1, the largest integer every JSON client reads
 * exactly. Fences are about the backend's clock in µs (2^50.7 in 2026), so
 * a fence counter at or above it was not written by dlockd (scripts.h). */
#define LOCK_FENCE_MAX INT64_C(9007199254740991)

/* What an operation on a lock came to. */
enum lock_outcome {
	LOCK_GRANTED,    /* acquired: a new holder, token and fence */
	LOCK_REACQUIRED, /* acquire with the holder's token: lease extended */
	LOCK_RENEWED,
	LOCK_RELEASED,
	LOCK_FOUND,           /* inspect: it is held */
	LOCK_HELD,            /* acquire: someone else holds it */
	LOCK_RESERVED,        /* acquire: free, but offered to an earlier waiter */
	LOCK_NOT_HELD,        /* nobody holds it (never held, expired or released) */
	LOCK_TOKEN_MISMATCH,  /* renew/release: held under another token */
	LOCK_UNAVAILABLE,     /* the backend could not answer in time */
	LOCK_CANCELLED,       /* a wait was ended because the service is stopping */
	LOCK_BACKEND_ERROR,   /* the backend answered something unexpected */
	LOCK_INVALID_DATA,    /* the backend holds data under the name that dlockd did not write */
	LOCK_FENCE_EXHAUSTED, /* acquire: the name's fence counter is at or above LOCK_FENCE_MAX */
	LOCK_UNCONFIRMED,     /* fewer replicas than asked acknowledged the write (--redis-wait-replicas) */
};

/* A lock as a backend reports it. `token` is filled only for the caller's own
 * grants; it is a secret and never part of a public view. Times are
 * milliseconds on the backend's clock. */
struct lock_view {
	char name[LOCK_NAME_MAX + 1];
	char owner[LOCK_OWNER_MAX + 1];
	bool has_owner;
	char token[LOCK_TOKEN_MAX + 1];
	int64_t fence;
	int64_t ttl_ms;      /* granted lease, or remaining lease for a view */
	int64_t now_ms;      /* backend time when the answer was made */
	int64_t acquired_ms; /* backend time of the acquisition */
	int64_t expires_ms;  /* backend time the current lease ends */
};

const char *lock_outcome_str(enum lock_outcome o);

/* True if s[0..len) is a valid lock name: 1–255 bytes of A-Z a-z 0-9 . _ - : @ */
bool lock_name_valid(const char *s, size_t len);
/* True if s[0..len) may start a lock name (0–255 name bytes): list prefixes. */
bool lock_prefix_valid(const char *s, size_t len);
/* Percent-decodes a raw URI segment into out (NUL-terminated) and validates it
 * as a lock name a request may use. Returns false on a bad escape, an invalid
 * name, or "." or ".." (dot segments, which clients rewrite). */
bool lock_name_decode(const char *raw, size_t len, char out[LOCK_NAME_MAX + 1]);
/* True if s[0..len) looks like a token: 1–64 base64url characters. */
bool lock_token_valid(const char *s, size_t len);
/* True if s[0..len) is a valid owner: ≤ 256 bytes of UTF-8, no control characters. */
bool lock_owner_valid(const char *s, size_t len);

/* Fills out with a new secret token (LOCK_TOKEN_LEN chars + NUL) from getrandom().
 * Returns 0, or -1 if the CSPRNG failed. */
int lock_token_new(char out[LOCK_TOKEN_LEN + 1]);

/* Writes "h:" and the SHA-256 of token in base64url into out: the only form
 * in which a token is stored, or sent to the storage backend. (At 45 bytes it
 * keeps a lock's Redis hash within the compact listpack encoding.) */
void lock_token_hash(const char *token, char out[LOCK_TOKEN_HASH_LEN + 1]);

/* Seconds until a lease of ttl_ms ends, rounded up (at least 1). */
int64_t lock_retry_after_s(int64_t ttl_ms);

#endif
