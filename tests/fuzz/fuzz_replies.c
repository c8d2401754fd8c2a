/* Fuzzes the decoding of the lock scripts' replies (replies.h). The input is
 * RESP as Redis would send it: hiredis's own reader (redisReaderCreate,
 * redisReaderFeed, redisReaderGetReply) builds each redisReply tree, and
 * every replies_* decoder runs on it, each against a reference written here
 * from the reply shapes scripts.h documents: replies_int() and replies_str()
 * on every node, replies_lock() for every script, replies_list(). A reply of
 * any other shape is LOCK_BACKEND_ERROR; a decoded view is within bounds and
 * carries the right token; an error reply is data dlockd did not write only
 * for the scripts' two prefixes, with a printable detail; a list page keeps
 * exactly the entries that decode, counts the rest with the script's skips,
 * its names are lock names and its next cursor is one that
 * cursor_node_decode() accepts, for the same SCAN cursor and resume-after
 * name. */
#include "fuzz.h"

#include <hiredis/hiredis.h>

#include "locks/keys.h"
#include "redis/cursor.h"
#include "redis/replies.h"

#define TOKEN   "NEWxTOKENxxxxxxxxxxxxxxxxxxxxxx1"
#define RETOKEN "OLDxTOKENxxxxxxxxxxxxxxxxxxxxxx2"

/* An integer reply, or a string of an optional '-' and 1-19 digits that fits. */
static bool ref_int(const redisReply *r, int64_t *out)
{
	const char *s = r->str;
	size_t i = 0;
	uint64_t v = 0, lim = (uint64_t)INT64_MAX;
	bool neg;

	if (r->type == REDIS_REPLY_INTEGER) {
		*out = r->integer;
		return true;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
		return false;
	neg = s[0] == '-';
	i = neg;
	if (!fuzz_digits(s + i, r->len - i))
		return false;
	for (; i < r->len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (lim + neg - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static bool ref_str(const redisReply *r, size_t cap)
{
	return r->type == REDIS_REPLY_STRING && r->len < cap;
}

/* replies_int and replies_str on r and everything under it. */
static void check_nodes(const redisReply *r)
{
	int64_t got = 0, want = 0;
	char small[4], big[LOCK_OWNER_MAX + 1];
	bool ok = replies_int(r, &got), rok = ref_int(r, &want);

	FUZZ_CHECK(ok == rok && (!ok || got == want), "replies_int on type %d \"%.30s\": %d %lld, reference %d %lld",
	           r->type, r->type == REDIS_REPLY_STRING ? r->str : "", ok, (long long)got, rok, (long long)want);
	FUZZ_CHECK(replies_str(r, small, sizeof small) == ref_str(r, sizeof small), "replies_str, cap 4");
	ok = replies_str(r, big, sizeof big);
	FUZZ_CHECK(ok == ref_str(r, sizeof big) && (!ok || (memcmp(big, r->str, r->len) == 0 && big[r->len] == '\0')),
	           "replies_str, cap %zu", sizeof big);
	if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			check_nodes(r->element[i]);
}

/* {status, fence, ttl, now, acquired, has_owner, owner, expires, ...} */
static bool ref_view(const redisReply *r)
{
	int64_t x;

	return r->elements >= 8 && ref_int(r->element[1], &x) && ref_int(r->element[2], &x) &&
	       ref_int(r->element[3], &x) && ref_int(r->element[4], &x) && ref_str(r->element[5], 4) &&
	       ref_str(r->element[6], LOCK_OWNER_MAX + 1) && ref_int(r->element[7], &x);
}

/* A script's error reply: the two that name data dlockd did not write. */
static enum lock_outcome ref_error(const redisReply *r)
{
	if (r->len >= 20 && memcmp(r->str, "DLOCKD_INVALID_DATA ", 20) == 0)
		return LOCK_INVALID_DATA;
	if (r->len >= 22 && memcmp(r->str, "DLOCKD_FENCE_EXHAUSTED", 22) == 0)
		return LOCK_FENCE_EXHAUSTED;
	return LOCK_BACKEND_ERROR;
}

/* What scripts.h says each script's reply means. */
static enum lock_outcome ref_lock(enum reply_shape shape, const redisReply *r)
{
	int64_t st;
	bool view;

	if (r->type == REDIS_REPLY_ERROR)
		return ref_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !ref_int(r->element[0], &st))
		return LOCK_BACKEND_ERROR;
	view = ref_view(r);
	switch (shape) {
	case REPLY_ACQUIRE:
		if (st == 3 && r->elements == 1)
			return LOCK_RESERVED;
		if (!view || st < 0 || st > 2)
			return LOCK_BACKEND_ERROR;
		return st == 1 ? LOCK_GRANTED : st == 2 ? LOCK_REACQUIRED : LOCK_HELD;
	case REPLY_RENEW:
	case REPLY_RELEASE:
		if (st == 0)
			return LOCK_NOT_HELD;
		if (st == 1 && shape == REPLY_RELEASE)
			return LOCK_RELEASED;
		if (!view || (st != 1 && st != -1))
			return LOCK_BACKEND_ERROR;
		return st == 1 ? LOCK_RENEWED : LOCK_TOKEN_MISMATCH;
	case REPLY_INSPECT:
		if (st == 0)
			return LOCK_NOT_HELD;
		return view && st == 1 ? LOCK_FOUND : LOCK_BACKEND_ERROR;
	}
	return LOCK_BACKEND_ERROR;
}

static void check_lock(const redisReply *r)
{
	static const char *const SHAPES[] = {"acquire", "renew", "release", "inspect"};

	for (int shape = REPLY_ACQUIRE; shape <= REPLY_INSPECT; shape++) {
		struct lock_reply out;
		const struct lock_view *v = &out.view;
		bool behind = true;
		enum lock_outcome o, want = ref_lock((enum reply_shape)shape, r);

		memset(&out, 0, sizeof out);
		o = replies_lock((enum reply_shape)shape, r, TOKEN, RETOKEN, &out, &behind);
		FUZZ_CHECK(o == want, "%s reply decoded as %s, the script's shapes say %s", SHAPES[shape],
		           lock_outcome_str(o), lock_outcome_str(want));
		FUZZ_CHECK(o == out.outcome, "the outcome returned is not the one stored");
		/* A detail only for data dlockd did not write: printable ASCII, bounded. */
		FUZZ_CHECK(o == LOCK_INVALID_DATA || !out.detail[0], "%s with a detail", lock_outcome_str(o));
		FUZZ_CHECK(strlen(out.detail) < sizeof out.detail, "a detail beyond its buffer");
		for (const char *c = out.detail; *c; c++)
			FUZZ_CHECK(*c >= 0x20 && *c < 0x7f, "a detail byte 0x%02x", (unsigned char)*c);
		FUZZ_CHECK(!behind || o == LOCK_GRANTED, "clock_behind on %s", lock_outcome_str(o));
		if (o == LOCK_GRANTED || o == LOCK_REACQUIRED || o == LOCK_HELD || o == LOCK_RENEWED ||
		    o == LOCK_TOKEN_MISMATCH || o == LOCK_FOUND) {
			FUZZ_CHECK(v->ttl_ms >= 0, "a view with ttl_ms %lld", (long long)v->ttl_ms);
			FUZZ_CHECK(strlen(v->owner) <= LOCK_OWNER_MAX, "an owner beyond its buffer");
			FUZZ_CHECK(v->has_owner == (strcmp(r->element[5]->str, "1") == 0),
			           "has_owner is not ho == \"1\"");
		}
		if (o == LOCK_GRANTED || o == LOCK_RENEWED)
			FUZZ_CHECK(strcmp(v->token, TOKEN) == 0, "%s without the new token", lock_outcome_str(o));
		else if (o == LOCK_REACQUIRED)
			FUZZ_CHECK(strcmp(v->token, RETOKEN) == 0, "re-acquired without the caller's token");
		else
			FUZZ_CHECK(!v->token[0], "%s carries a token", lock_outcome_str(o));
	}
}

/* A SCAN cursor: 1-20 digits, at most 2^64 - 1. */
static bool scan_cursor(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING && r->len <= 20 && fuzz_digits(r->str, r->len) &&
	       (r->len < 20 || memcmp(r->str, "18446744073709551615", 20) <= 0);
}

/* One list entry {key, owner, has_owner, fence, acquired, remaining, expires}
 * that decodes into a view (else the page skips it). */
static bool ref_entry(const struct keys *k, redisReply *const *e)
{
	char name[LOCK_NAME_MAX + 1];
	int64_t x;

	return e[0]->type == REDIS_REPLY_STRING && keys_lock_name(k, e[0]->str, e[0]->len, name) &&
	       ref_str(e[1], LOCK_OWNER_MAX + 1) && ref_str(e[2], 4) && ref_int(e[3], &x) && ref_int(e[4], &x) &&
	       ref_int(e[5], &x) && ref_int(e[6], &x);
}

/* The head {now, scan cursor, resume-after key, keys skipped, first skipped}:
 * whether the page decodes at all; *good and *skips: the entries it keeps and
 * the keys it skipped (the script's and its own). */
static bool ref_list(const struct keys *k, const redisReply *r, size_t *good, uint64_t *skips)
{
	char name[LOCK_NAME_MAX + 1];
	int64_t x, skipped;

	*good = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 5 || (r->elements - 5) % 7 != 0 ||
	    !ref_int(r->element[0], &x) || !scan_cursor(r->element[1]) || !ref_str(r->element[2], KEYS_KEY_MAX + 1) ||
	    memchr(r->element[2]->str, 0, r->element[2]->len) || !ref_int(r->element[3], &skipped) || skipped < 0 ||
	    r->element[4]->type != REDIS_REPLY_STRING)
		return false;
	if (r->element[2]->len && !keys_lock_name(k, r->element[2]->str, r->element[2]->len, name))
		return false;
	*skips = (uint64_t)skipped;
	for (size_t i = 5; i < r->elements; i += 7) {
		if (ref_entry(k, r->element + i))
			++*good;
		else
			++*skips;
	}
	return true;
}

static void check_list(const struct keys *k, const redisReply *r)
{
	struct list_reply out;
	struct replies_skipped skipped;
	enum lock_outcome o;
	size_t good;
	uint64_t skips = 0;
	bool want = ref_list(k, r, &good, &skips);
	char scan[24], after[LOCK_NAME_MAX + 1], name[LOCK_NAME_MAX + 1];

	memset(&out, 0, sizeof out);
	o = replies_list(k, r, &out, &skipped);
	FUZZ_CHECK(o == (want ? LOCK_FOUND : LOCK_BACKEND_ERROR), "list reply decoded as %s, the shape says %s",
	           lock_outcome_str(o), want ? "found" : "backend error");
	if (o != LOCK_FOUND) {
		FUZZ_CHECK(out.count == 0 && !out.locks && !out.next_cursor[0], "a refused page holds something");
		return;
	}
	FUZZ_CHECK(out.count == good, "%zu locks kept, the entries say %zu", out.count, good);
	FUZZ_CHECK(skipped.count == skips, "%llu keys skipped, the page says %llu", (unsigned long long)skipped.count,
	           (unsigned long long)skips);
	FUZZ_CHECK(strlen(skipped.first) < sizeof skipped.first, "the first skipped key beyond its buffer");
	for (const char *c = skipped.first; *c; c++)
		FUZZ_CHECK(*c >= 0x20 && *c < 0x7f, "a skipped key shown with byte 0x%02x", (unsigned char)*c);
	for (size_t i = 0; i < out.count; i++) {
		FUZZ_CHECK(lock_name_valid(out.locks[i].name, strlen(out.locks[i].name)),
		           "a listed name is no lock name");
		FUZZ_CHECK(strlen(out.locks[i].owner) <= LOCK_OWNER_MAX, "a listed owner beyond its buffer");
	}
	if (strcmp(r->element[1]->str, "0") == 0 && r->element[2]->len == 0) {
		FUZZ_CHECK(!out.next_cursor[0], "the last page has a next cursor");
	} else {
		FUZZ_CHECK(out.next_cursor[0], "a page that is not the last has no next cursor");
		FUZZ_CHECK(cursor_node_decode(out.next_cursor, scan, after), "next cursor \"%.40s\" does not decode",
		           out.next_cursor);
		FUZZ_CHECK(strcmp(scan, r->element[1]->str) == 0, "next cursor resumes SCAN at %s, not %s", scan,
		           r->element[1]->str);
		name[0] = '\0';
		if (r->element[2]->len)
			keys_lock_name(k, r->element[2]->str, r->element[2]->len, name);
		FUZZ_CHECK(strcmp(after, name) == 0, "next cursor resumes after \"%s\", not \"%s\"", after, name);
	}
	free(out.locks);
}

/* hiredis 0.14 allocates a multi-bulk's element array as soon as it reads
 * the count (it has no limit of its own): leave out inputs that announce
 * huge arrays, which would only measure the allocator. */
static bool huge_array(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		uint64_t n = 0;
		if (data[i] != '*')
			continue;
		for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9' && n <= 4096; j++)
			n = n * 10 + (data[j] - '0');
		if (n > 4096)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keys k;
	redisReader *reader;
	void *reply;

	if (!k.prefix_len && !keys_init(&k, "dlock:"))
		abort();
	if (huge_array(data, size))
		return 0;
	reader = redisReaderCreate();
	if (!reader)
		abort();
	if (redisReaderFeed(reader, (const char *)data, size) != REDIS_OK)
		abort();
	for (int i = 0; i < 16; i++) {
		reply = NULL;
		if (redisReaderGetReply(reader, &reply) != REDIS_OK || !reply)
			break;
		check_nodes(reply);
		check_lock(reply);
		check_list(&k, reply);
		freeReplyObject(reply);
	}
	redisReaderFree(reader);
	return 0;
}
