/* replies: the lock scripts' replies decoded. See replies.h. */
#include "redis/replies.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/cursor.h"

bool replies_int(const redisReply *r, int64_t *out)
{
	char *end;
	long long v;

	if (r->type == REDIS_REPLY_INTEGER) {
		*out = r->integer;
		return true;
	}
	/* digits, maybe after '-': strtoll() would also skip white space and take '+' */
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20 ||
	    !(r->str[0] == '-' || (r->str[0] >= '0' && r->str[0] <= '9')))
		return false;
	errno = 0;
	v = strtoll(r->str, &end, 10);
	if (errno || end != r->str + r->len)
		return false;
	*out = v;
	return true;
}

bool replies_str(const redisReply *r, char *out, size_t cap)
{
	if (r->type != REDIS_REPLY_STRING || r->len >= cap)
		return false;
	memcpy(out, r->str, r->len);
	out[r->len] = '\0';
	return true;
}

/* Copies len bytes of src into out (cap bytes with the NUL), bytes that are
 * not printable ASCII as '?', ending in "..." if it had to be cut. */
static void copy_printable(const char *src, size_t len, char *out, size_t cap)
{
	size_t n = len < cap - 1 ? len : cap - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	if (n < len && n >= 3)
		memcpy(out + n - 3, "...", 3);
	out[n] = '\0';
}

enum lock_outcome replies_error(const redisReply *r, char *why, size_t cap)
{
	static const char INVALID[] = "DLOCKD_INVALID_DATA ", EXHAUSTED[] = "DLOCKD_FENCE_EXHAUSTED";

	why[0] = '\0';
	if (r->type != REDIS_REPLY_ERROR)
		return LOCK_BACKEND_ERROR;
	if (r->len >= sizeof INVALID - 1 && memcmp(r->str, INVALID, sizeof INVALID - 1) == 0) {
		copy_printable(r->str + sizeof INVALID - 1, r->len - (sizeof INVALID - 1), why, cap);
		return LOCK_INVALID_DATA;
	}
	if (r->len >= sizeof EXHAUSTED - 1 && memcmp(r->str, EXHAUSTED, sizeof EXHAUSTED - 1) == 0)
		return LOCK_FENCE_EXHAUSTED;
	return LOCK_BACKEND_ERROR;
}

/* Parses {_, fence, ttl, now, acquired, has_owner, owner, expires}. */
static bool parse_view(const redisReply *r, struct lock_view *v)
{
	char ho[4];

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 8)
		return false;
	if (!replies_int(r->element[1], &v->fence) || !replies_int(r->element[2], &v->ttl_ms) ||
	    !replies_int(r->element[3], &v->now_ms) || !replies_int(r->element[4], &v->acquired_ms) ||
	    !replies_str(r->element[5], ho, sizeof ho) || !replies_str(r->element[6], v->owner, sizeof v->owner) ||
	    !replies_int(r->element[7], &v->expires_ms))
		return false;
	v->has_owner = strcmp(ho, "1") == 0;
	if (v->ttl_ms < 0)
		v->ttl_ms = 0;
	return true;
}

/* The outcome of a lock script's reply r that is not an error reply. */
static enum lock_outcome lock_outcome_of(enum reply_shape shape, const redisReply *r, const char *token,
                                         const char *retoken, struct lock_view *v, bool *clock_behind)
{
	int64_t status;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !replies_int(r->element[0], &status))
		return LOCK_BACKEND_ERROR;
	switch (shape) {
	case REPLY_ACQUIRE:
		if (status == 3 && r->elements == 1)
			return LOCK_RESERVED;
		if (status < 0 || status > 2 || !parse_view(r, v))
			return LOCK_BACKEND_ERROR;
		*clock_behind = status == 1 && r->elements > 8 && r->element[8]->type == REDIS_REPLY_INTEGER &&
		                r->element[8]->integer == 1;
		if (status == 1)
			snprintf(v->token, sizeof v->token, "%s", token);
		else if (status == 2)
			snprintf(v->token, sizeof v->token, "%s", retoken);
		return status == 1 ? LOCK_GRANTED : status == 2 ? LOCK_REACQUIRED : LOCK_HELD;
	case REPLY_RENEW:
	case REPLY_RELEASE:
		if (status == 0)
			return LOCK_NOT_HELD;
		if (status == 1 && shape == REPLY_RELEASE)
			return LOCK_RELEASED;
		if ((status != 1 && status != -1) || !parse_view(r, v))
			return LOCK_BACKEND_ERROR;
		if (status == 1)
			snprintf(v->token, sizeof v->token, "%s", token);
		return status == 1 ? LOCK_RENEWED : LOCK_TOKEN_MISMATCH;
	case REPLY_INSPECT:
		if (status == 0)
			return LOCK_NOT_HELD;
		return status == 1 && parse_view(r, v) ? LOCK_FOUND : LOCK_BACKEND_ERROR;
	}
	return LOCK_BACKEND_ERROR;
}

enum lock_outcome replies_lock(enum reply_shape shape, const redisReply *r, const char *token, const char *retoken,
                               struct lock_reply *out, bool *clock_behind)
{
	*clock_behind = false;
	out->detail[0] = '\0';
	if (r->type == REDIS_REPLY_ERROR)
		out->outcome = replies_error(r, out->detail, sizeof out->detail);
	else
		out->outcome = lock_outcome_of(shape, r, token, retoken, &out->view, clock_behind);
	return out->outcome;
}

/* Fills v from one entry of a list page (key, owner, has_owner, fence,
 * acquired, remaining, expires). False if it does not decode. */
static bool list_entry(const struct keys *k, redisReply *const *e, int64_t now, struct lock_view *v)
{
	char ho[4];

	if (e[0]->type != REDIS_REPLY_STRING || !keys_lock_name(k, e[0]->str, e[0]->len, v->name) ||
	    !replies_str(e[1], v->owner, sizeof v->owner) || !replies_str(e[2], ho, sizeof ho) ||
	    !replies_int(e[3], &v->fence) || !replies_int(e[4], &v->acquired_ms) || !replies_int(e[5], &v->ttl_ms) ||
	    !replies_int(e[6], &v->expires_ms))
		return false;
	v->has_owner = strcmp(ho, "1") == 0;
	v->now_ms = now;
	return true;
}

enum { LIST_HEAD = 5, LIST_ENTRY = 7 }; /* elements of the list reply's head and of each entry */

enum lock_outcome replies_list(const struct keys *k, const redisReply *r, struct list_reply *out,
                               struct replies_skipped *skipped)
{
	struct lock_view *views = NULL;
	char scan[32], after_key[KEYS_KEY_MAX + 1], after[LOCK_NAME_MAX + 1];
	int64_t now, skips;
	size_t n, kept = 0;

	out->count = 0;
	out->locks = NULL;
	out->next_cursor[0] = '\0';
	skipped->count = 0;
	skipped->first[0] = '\0';
	if (r->type != REDIS_REPLY_ARRAY || r->elements < LIST_HEAD || (r->elements - LIST_HEAD) % LIST_ENTRY != 0 ||
	    !replies_int(r->element[0], &now) || !replies_str(r->element[1], scan, sizeof scan) ||
	    !replies_str(r->element[2], after_key, sizeof after_key) || strlen(scan) != r->element[1]->len ||
	    strlen(after_key) != r->element[2]->len || !replies_int(r->element[3], &skips) || skips < 0 ||
	    r->element[4]->type != REDIS_REPLY_STRING)
		return LOCK_BACKEND_ERROR;
	skipped->count = (uint64_t)skips;
	copy_printable(r->element[4]->str, r->element[4]->len, skipped->first, sizeof skipped->first);
	n = (r->elements - LIST_HEAD) / LIST_ENTRY;
	views = calloc(n ? n : 1, sizeof *views);
	if (!views)
		return LOCK_BACKEND_ERROR;
	for (size_t i = 0; i < n; i++) {
		redisReply *const *e = r->element + LIST_HEAD + i * LIST_ENTRY;
		if (list_entry(k, e, now, &views[kept])) {
			kept++;
		} else if (skipped->count++ == 0 && e[0]->type == REDIS_REPLY_STRING) {
			copy_printable(e[0]->str, e[0]->len, skipped->first, sizeof skipped->first);
		}
	}
	if (strcmp(scan, "0") != 0 || after_key[0] != '\0') {
		char check_scan[24], check_after[LOCK_NAME_MAX + 1];
		after[0] = '\0';
		if (after_key[0] && !keys_lock_name(k, after_key, strlen(after_key), after))
			goto bad;
		cursor_node_encode(scan, after, out->next_cursor);
		/* a SCAN cursor that is no 64-bit number would make a cursor we refuse */
		if (!cursor_node_decode(out->next_cursor, check_scan, check_after)) {
			out->next_cursor[0] = '\0';
			goto bad;
		}
	}
	out->count = kept;
	out->locks = views;
	return LOCK_FOUND;
bad:
	free(views);
	return LOCK_BACKEND_ERROR;
}
