/* Unit tests for replies.c: what the scripts' replies (scripts.h) mean. The
 * replies are written as RESP text and parsed by hiredis's own reader, so
 * they are the trees store.c gets. Tables: error replies (data that dlockd
 * did not write, an exhausted fence counter, anything else) for every reply
 * shape; list pages with their head (skipped keys), entries that do not
 * decode, and malformed heads. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locks/keys.h"
#include "redis/cursor.h"
#include "redis/replies.h"
#include "unit.h"

/* The reply tree RESP text `text` parses to; aborts if it does not. */
static redisReply *parse(const char *text, size_t len)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	if (!rd || redisReaderFeed(rd, text, len) != REDIS_OK || redisReaderGetReply(rd, &reply) != REDIS_OK ||
	    !reply) {
		printf("FAIL test bug: RESP does not parse: %s\n", unit_esc(text, len));
		exit(1);
	}
	redisReaderFree(rd);
	return reply;
}

#define PARSE(lit) parse((lit), sizeof(lit) - 1)

/* ---- error replies ---- */

static void test_errors(void)
{
	static const struct {
		int line;
		const char *resp;
		enum lock_outcome want;
		const char *why;
	} T[] = {
	    {__LINE__, "-DLOCKD_INVALID_DATA the lock key holds a string, not a hash\r\n", LOCK_INVALID_DATA,
	     "the lock key holds a string, not a hash"},
	    {__LINE__, "-DLOCKD_INVALID_DATA the fence counter is not a number\r\n", LOCK_INVALID_DATA,
	     "the fence counter is not a number"},
	    {__LINE__, "-DLOCKD_INVALID_DATA odd\x01\xe9 bytes\r\n", LOCK_INVALID_DATA, "odd?? bytes"},
	    {__LINE__, "-DLOCKD_INVALID_DATA \r\n", LOCK_INVALID_DATA, ""},
	    {__LINE__, "-DLOCKD_FENCE_EXHAUSTED the fence counter is at or above 2^53 - 1\r\n", LOCK_FENCE_EXHAUSTED,
	     ""},
	    {__LINE__, "-DLOCKD_INVALID_DATAX\r\n", LOCK_BACKEND_ERROR, ""},
	    {__LINE__, "-DLOCKD_INVALID\r\n", LOCK_BACKEND_ERROR, ""},
	    {__LINE__, "-ERR Error running script: attempt to compare nil with number\r\n", LOCK_BACKEND_ERROR, ""},
	    {__LINE__, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", LOCK_BACKEND_ERROR,
	     ""},
	    {__LINE__, "-dlockd_invalid_data lower case\r\n", LOCK_BACKEND_ERROR, ""},
	    {__LINE__, "+DLOCKD_INVALID_DATA a status, not an error\r\n", LOCK_BACKEND_ERROR, ""},
	};
	static const enum reply_shape SHAPES[] = {REPLY_ACQUIRE, REPLY_RENEW, REPLY_RELEASE, REPLY_INSPECT};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		redisReply *r = parse(T[i].resp, strlen(T[i].resp));
		char why[BACKEND_DETAIL_MAX + 1] = "junk";
		enum lock_outcome o = replies_error(r, why, sizeof why);
		unit_check_(o == T[i].want && strcmp(why, T[i].why) == 0, __FILE__, T[i].line,
		            "replies_error(%s): %s, %s; expected %s, %s", unit_escz(T[i].resp), lock_outcome_str(o),
		            unit_escz(why), lock_outcome_str(T[i].want), unit_escz(T[i].why));
		/* the same from every lock script */
		for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
			struct lock_reply out;
			bool behind = true;
			memset(&out, 0, sizeof out);
			snprintf(out.view.name, sizeof out.view.name, "n");
			snprintf(out.detail, sizeof out.detail, "stale");
			o = replies_lock(SHAPES[s], r, "TOKEN", NULL, &out, &behind);
			unit_check_(o == T[i].want && out.outcome == o && strcmp(out.detail, T[i].why) == 0 &&
			                !behind && strcmp(out.view.name, "n") == 0 && out.view.token[0] == '\0',
			            __FILE__, T[i].line, "replies_lock(shape %zu, %s): %s, detail %s", s,
			            unit_escz(T[i].resp), lock_outcome_str(o), unit_escz(out.detail));
		}
		freeReplyObject(r);
	}

	/* a long detail is cut to fit, and says so */
	{
		char text[600], why[BACKEND_DETAIL_MAX + 1];
		int n = snprintf(text, sizeof text, "-DLOCKD_INVALID_DATA %0300d\r\n", 7);
		redisReply *r = parse(text, (size_t)n);
		CHECK(replies_error(r, why, sizeof why) == LOCK_INVALID_DATA, "a long detail");
		CHECK_INT(strlen(why), BACKEND_DETAIL_MAX, "a long detail's length");
		CHECK(strcmp(why + BACKEND_DETAIL_MAX - 3, "...") == 0, "a cut detail ends in ...: %s", unit_escz(why));
		freeReplyObject(r);
	}
	/* a reply of the right shape is no error: it decodes as before */
	{
		redisReply *r = PARSE("*9\r\n:1\r\n$16\r\n1796061323863123\r\n:30000\r\n:1796061323863\r\n"
		                      "$13\r\n1796061323863\r\n$1\r\n0\r\n$0\r\n\r\n$13\r\n1796061353863\r\n:0\r\n");
		struct lock_reply out;
		bool behind = true;
		memset(&out, 0, sizeof out);
		snprintf(out.detail, sizeof out.detail, "stale");
		CHECK(replies_lock(REPLY_ACQUIRE, r, "TOKEN", NULL, &out, &behind) == LOCK_GRANTED, "a grant: %s",
		      lock_outcome_str(out.outcome));
		CHECK(out.view.fence == INT64_C(1796061323863123) && strcmp(out.view.token, "TOKEN") == 0 &&
		          out.detail[0] == '\0' && !behind,
		      "a grant's view");
		freeReplyObject(r);
	}
}

/* ---- list pages ---- */

static void test_list(void)
{
	struct keys k;
	struct list_reply out;
	struct replies_skipped sk;
	redisReply *r;
	char want_cursor[BACKEND_CURSOR_MAX + 1];

	if (!keys_init(&k, "dlock:")) {
		printf("FAIL keys_init\n");
		exit(1);
	}
	/* the last page: only skipped keys */
	r = PARSE("*5\r\n:1700000000000\r\n$1\r\n0\r\n$0\r\n\r\n:3\r\n$16\r\ndlock:lock:{a b}\r\n");
	CHECK(replies_list(&k, r, &out, &sk) == LOCK_FOUND, "a page of skipped keys");
	CHECK(out.count == 0 && out.next_cursor[0] == '\0', "no locks, no next page: %zu, %s", out.count,
	      unit_escz(out.next_cursor));
	CHECK(sk.count == 3 && strcmp(sk.first, "dlock:lock:{a b}") == 0, "skipped %llu, first %s",
	      (unsigned long long)sk.count, unit_escz(sk.first));
	free(out.locks);
	freeReplyObject(r);

	/* a lock, and an entry whose key is not a lock key (counted as skipped) */
	r = PARSE("*19\r\n:1700000000000\r\n$2\r\n17\r\n$14\r\ndlock:lock:{b}\r\n:0\r\n$0\r\n\r\n"
	          "$14\r\ndlock:lock:{b}\r\n$3\r\nown\r\n$1\r\n1\r\n$2\r\n42\r\n$13\r\n1699999990000\r\n"
	          ":5000\r\n$13\r\n1700000005000\r\n"
	          "$13\r\ndlock:lock:{c\r\n$0\r\n\r\n$1\r\n0\r\n$2\r\n43\r\n$1\r\n1\r\n:5000\r\n$1\r\n9\r\n");
	CHECK(replies_list(&k, r, &out, &sk) == LOCK_FOUND, "a page with a lock");
	if (CHECK(out.count == 1, "one lock listed, not %zu", out.count)) {
		CHECK(strcmp(out.locks[0].name, "b") == 0 && strcmp(out.locks[0].owner, "own") == 0 &&
		          out.locks[0].has_owner && out.locks[0].fence == 42 && out.locks[0].ttl_ms == 5000 &&
		          out.locks[0].now_ms == INT64_C(1700000000000) &&
		          out.locks[0].expires_ms == INT64_C(1700000005000),
		      "the lock's view: %s", unit_escz(out.locks[0].name));
	}
	CHECK(sk.count == 1 && strcmp(sk.first, "dlock:lock:{c") == 0, "skipped %llu, first %s",
	      (unsigned long long)sk.count, unit_escz(sk.first));
	cursor_node_encode("17", "b", want_cursor);
	CHECK_STR(out.next_cursor, want_cursor, "the next page resumes after b");
	free(out.locks);
	freeReplyObject(r);

	/* heads that are not the list script's: no page */
	{
		static const struct {
			int line;
			const char *resp;
		} BAD[] = {
		    {__LINE__, "*3\r\n:1\r\n$1\r\n0\r\n$0\r\n\r\n"},                      /* the head before skips */
		    {__LINE__, "*5\r\n:1\r\n$1\r\n0\r\n$0\r\n\r\n:-1\r\n$0\r\n\r\n"},     /* negative skips */
		    {__LINE__, "*5\r\n:1\r\n$1\r\n0\r\n$0\r\n\r\n$1\r\nx\r\n$0\r\n\r\n"}, /* skips not a number */
		    {__LINE__, "*5\r\n:1\r\n$1\r\n0\r\n$0\r\n\r\n:0\r\n:0\r\n"}, /* first skipped not a string */
		    {__LINE__, "*6\r\n:1\r\n$1\r\n0\r\n$0\r\n\r\n:0\r\n$0\r\n\r\n$1\r\nx\r\n"}, /* half an entry */
		    {__LINE__, "-DLOCKD_INVALID_DATA lists never answer this\r\n"},
		    {__LINE__, "$2\r\nno\r\n"},
		};
		for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
			r = parse(BAD[i].resp, strlen(BAD[i].resp));
			unit_check_(replies_list(&k, r, &out, &sk) == LOCK_BACKEND_ERROR && out.count == 0 &&
			                out.locks == NULL,
			            __FILE__, BAD[i].line, "replies_list(%s) took it", unit_escz(BAD[i].resp));
			freeReplyObject(r);
		}
	}
}

int main(void)
{
	test_errors();
	test_list();
	return unit_done();
}
