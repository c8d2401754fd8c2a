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

/* Decodes a lock script's reply r (not NULL) into an outcome and *v. A grant
 * or renewal carries `token`, a re-acquire `retoken` (copied into v->token).
 * *clock_behind: a grant whose Redis TIME was not above the stored counter.
 * LOCK_BACKEND_ERROR for any reply of another shape (an error reply too). */
enum lock_outcome replies_lock(enum reply_shape shape, const redisReply *r, const char *token, const char *retoken,
                               struct lock_view *v, bool *clock_behind);

/* Decodes the list script's reply r (not NULL) into out: count, locks
 * (malloc'd: the caller frees out->locks) and next_cursor. Returns LOCK_FOUND
 * or LOCK_BACKEND_ERROR (then out holds no locks). */
enum lock_outcome replies_list(const struct keys *k, const redisReply *r, struct list_reply *out);

#endif
