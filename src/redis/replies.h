/* replies: what the lock scripts' replies (scripts.h) mean — hiredis reply
 * trees decoded into lock outcomes, views and list pages. Pure: no
 * connection, no HTTP; the one place the scripts' reply shapes are read. */
#ifndef DLOCKD_REDIS_REPLIES_H
#define DLOCKD_REDIS_REPLIES_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "locks/backend.h"
#include "locks/keys.h"

/* Which script answered. */
enum reply_shape { REPLY_ACQUIRE, REPLY_RENEW, REPLY_RELEASE, REPLY_INSPECT };

/* An integer reply, or a string of decimal digits, into *out. */
bool replies_int(const redisReply *r, int64_t *out);
/* A string reply shorter than cap into out (NUL-terminated). */
bool replies_str(const redisReply *r, char *out, size_t cap);

/* What a script's error reply r says: LOCK_INVALID_DATA for data that dlockd
 * did not write ("DLOCKD_INVALID_DATA <what>": the what into why, cap bytes
 * with the NUL, bytes that are not printable ASCII as '?'),
 * LOCK_FENCE_EXHAUSTED ("DLOCKD_FENCE_EXHAUSTED ..."), else
 * LOCK_BACKEND_ERROR. why is "" unless LOCK_INVALID_DATA. */
enum lock_outcome replies_error(const redisReply *r, char *why, size_t cap);

/* Decodes a lock script's reply r (not NULL) into out's outcome, view and
 * detail (replies_error() for an error reply), and returns the outcome. A
 * grant or renewal carries `token`, a re-acquire `retoken` (copied into
 * out->view.token). *clock_behind: a grant whose Redis TIME was not above
 * the stored counter. LOCK_BACKEND_ERROR for any reply of another shape.
 * out->view.name is left as it was. */
enum lock_outcome replies_lock(enum reply_shape shape, const redisReply *r, const char *token, const char *retoken,
                               struct lock_reply *out, bool *clock_behind);

/* What a list page skipped: keys under the prefix that are not dlockd locks. */
struct replies_skipped {
	uint64_t count;
	char first[96]; /* the first of them (printable ASCII, '?' for other bytes, truncated), or "" */
};

/* Decodes the list script's reply r (not NULL) into out: count, locks
 * (malloc'd: the caller frees out->locks) and next_cursor, and what the page
 * skipped into *skipped (keys the script skipped, and any entry whose name or
 * fields do not decode). Returns LOCK_FOUND or LOCK_BACKEND_ERROR (then out
 * holds no locks). */
enum lock_outcome replies_list(const struct keys *k, const redisReply *r, struct list_reply *out,
                               struct replies_skipped *skipped);

#endif
