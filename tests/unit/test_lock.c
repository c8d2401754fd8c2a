/* Unit tests for lock.c (names, prefixes, tokens, owners, Retry-After
 * rounding) and for the text.c helpers they rest on (time formatting,
 * base64url). */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/text.h"
#include "locks/lock.h"
#include "unit.h"

#define NAME_CHARS   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:@"
#define B64URL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* A byte string: len < 0 means strlen(s). */
struct bytes {
	const char *s;
	long len;
};

static size_t blen(struct bytes b)
{
	return b.len < 0 ? strlen(b.s) : (size_t)b.len;
}

static bool in_set(unsigned char c, const char *set)
{
	return c != 0 && strchr(set, c) != NULL;
}

/* A malloc'd string of n copies of the `unit` string, then `tail`. */
static char *repeat(const char *unit_str, size_t n, const char *tail)
{
	size_t ul = strlen(unit_str), tl = strlen(tail);
	char *s = malloc(ul * n + tl + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit_str, ul);
	memcpy(s + ul * n, tail, tl + 1);
	return s;
}

/* ---- names and prefixes ---- */

static void test_name_every_byte(void)
{
	for (int c = 0; c < 256; c++) {
		char s[3] = {(char)c, 0, 0};
		bool want = in_set((unsigned char)c, NAME_CHARS);
		CHECK(lock_name_valid(s, 1) == want, "lock_name_valid(byte 0x%02x): expected %d", c, want);
		CHECK(lock_prefix_valid(s, 1) == want, "lock_prefix_valid(byte 0x%02x): expected %d", c, want);
		/* the byte in the middle and at the end of an otherwise valid name */
		s[0] = 'a';
		s[1] = (char)c;
		s[2] = 'b';
		CHECK(lock_name_valid(s, 3) == want, "lock_name_valid(\"a\\x%02xb\"): expected %d", c, want);
		CHECK(lock_name_valid(s, 2) == want, "lock_name_valid(\"a\\x%02x\"): expected %d", c, want);
	}
}

static void test_name_table(void)
{
	static const struct {
		struct bytes in;
		bool name, prefix;
	} T[] = {
	    {{"", 0}, false, true},
	    {{"a", -1}, true, true},
	    {{NAME_CHARS, -1}, true, true},
	    {{"orders:42@eu-west.prod_v2", -1}, true, true},
	    {{":", -1}, true, true},
	    {{"a/b", -1}, false, false},
	    {{"a b", -1}, false, false},
	    {{"a%41", -1}, false, false}, /* not decoded here */
	    {{"a{b}", -1}, false, false},
	    {{"a\0b", 3}, false, false},
	    {{"\0", 1}, false, false},
	    {{"ab\0", 3}, false, false},
	    {{"caf\xc3\xa9", -1}, false, false},
	    {{"\x80", -1}, false, false},
	    {{"\xff", -1}, false, false},
	    {{"a/b", 1}, true, true}, /* only len bytes are judged */
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t len = blen(T[i].in);
		CHECK(lock_name_valid(T[i].in.s, len) == T[i].name, "lock_name_valid(%s): expected %d",
		      unit_esc(T[i].in.s, len), T[i].name);
		CHECK(lock_prefix_valid(T[i].in.s, len) == T[i].prefix, "lock_prefix_valid(%s): expected %d",
		      unit_esc(T[i].in.s, len), T[i].prefix);
	}
}

static void test_name_lengths(void)
{
	char *s255 = repeat("a", 255, ""), *s256 = repeat("a", 256, ""), *s254x = repeat("a", 254, "/");

	CHECK(lock_name_valid(s255, 255), "lock_name_valid(255 bytes) should be true");
	CHECK(!lock_name_valid(s256, 256), "lock_name_valid(256 bytes) should be false");
	CHECK(lock_prefix_valid(s255, 255), "lock_prefix_valid(255 bytes) should be true");
	CHECK(!lock_prefix_valid(s256, 256), "lock_prefix_valid(256 bytes) should be false");
	CHECK(!lock_name_valid(s254x, 255), "lock_name_valid(254 x 'a' + '/') should be false");
	free(s255);
	free(s256);
	free(s254x);
}

/* ---- percent-decoding of names ---- */

static void test_name_decode_table(void)
{
	static const struct {
		struct bytes raw;
		const char *want; /* NULL: rejected */
	} T[] = {
	    {{"abc", -1}, "abc"},
	    {{"%41", -1}, "A"},
	    {{"%61", -1}, "a"},
	    {{"%4a", -1}, "J"},
	    {{"%4A", -1}, "J"},
	    {{"%6A%6b", -1}, "jk"},
	    {{"x%41y", -1}, "xAy"},
	    {{"%41%42%43", -1}, "ABC"},
	    {{"%30%39", -1}, "09"},
	    /* dot segments, however spelled, are no name a request may use */
	    {{"%2E", -1}, NULL},
	    {{"%2e", -1}, NULL},
	    {{".", -1}, NULL},
	    {{"..", -1}, NULL},
	    {{"%2E%2e", -1}, NULL},
	    {{"%2E%2E%2E", -1}, "..."},
	    {{"%5F", -1}, "_"},
	    {{"%2D", -1}, "-"},
	    {{"%3A", -1}, ":"},
	    {{"%3a", -1}, ":"},
	    {{"%40", -1}, "@"},
	    {{"a:b@c.d_e-f", -1}, "a:b@c.d_e-f"},
	    {{"%414", 3}, "A"}, /* only len bytes */
	    {{"", 0}, NULL},
	    {{"%2F", -1}, NULL},
	    {{"%2f", -1}, NULL},
	    {{"a%2Fb", -1}, NULL},
	    {{"%00", -1}, NULL},
	    {{"a%00", -1}, NULL},
	    {{"%20", -1}, NULL},
	    {{"%25", -1}, NULL},
	    {{"%7B", -1}, NULL},
	    {{"%7D", -1}, NULL},
	    {{"%7E", -1}, NULL},
	    {{"%2B", -1}, NULL},
	    {{"%C3%A9", -1}, NULL},
	    {{"%80", -1}, NULL},
	    {{"%FF", -1}, NULL},
	    {{"%zz", -1}, NULL},
	    {{"%g1", -1}, NULL},
	    {{"%1g", -1}, NULL},
	    {{"%+1", -1}, NULL},
	    {{"% 1", -1}, NULL},
	    {{"%4", -1}, NULL},
	    {{"a%4", -1}, NULL},
	    {{"%", -1}, NULL},
	    {{"a%", -1}, NULL},
	    {{"%%41", -1}, NULL},
	    {{"%41", 2}, NULL}, /* the escape is cut by len */
	    {{"%41", 1}, NULL},
	    {{"a+b", -1}, NULL}, /* '+' is not a space here, and not a name byte */
	    {{"a b", -1}, NULL},
	    {{"a/b", -1}, NULL},
	    {{"a\0b", 3}, NULL},
	    {{"\xc3\xa9", -1}, NULL},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t len = blen(T[i].raw);
		char *out = malloc(LOCK_NAME_MAX + 1); /* exactly the documented size */
		bool ok = lock_name_decode(T[i].raw.s, len, out);
		CHECK(ok == (T[i].want != NULL), "lock_name_decode(%s): expected %s", unit_esc(T[i].raw.s, len),
		      T[i].want ? "success" : "rejection");
		if (ok && T[i].want)
			CHECK_STR(out, T[i].want, unit_esc(T[i].raw.s, len));
		free(out);
	}
}

static void test_name_decode_lengths(void)
{
	static const struct {
		const char *unit_str;
		size_t n;
		const char *tail;
		size_t want_len; /* 0: rejected */
	} T[] = {
	    {"a", 255, "", 255},    {"a", 256, "", 0},    {"%61", 255, "", 255}, /* 765 raw bytes, 255 decoded */
	    {"%61", 256, "", 0},                                                 /* 256 decoded, even though encoded */
	    {"a", 254, "%62", 255}, {"a", 255, "%62", 0}, {"%41", 300, "", 0},   {"a", 1000, "", 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char *raw = repeat(T[i].unit_str, T[i].n, T[i].tail);
		char *out = malloc(LOCK_NAME_MAX + 1);
		bool ok = lock_name_decode(raw, strlen(raw), out);
		CHECK(ok == (T[i].want_len != 0), "lock_name_decode(%zu x \"%s\" + \"%s\"): expected %s", T[i].n,
		      T[i].unit_str, T[i].tail, T[i].want_len ? "success" : "rejection");
		if (ok && T[i].want_len)
			CHECK_INT(strlen(out), T[i].want_len, "decoded length");
		free(raw);
		free(out);
	}
}

/* ---- tokens ---- */

static void test_token_valid(void)
{
	static const struct {
		struct bytes in;
		bool want;
	} T[] = {
	    {{"a", -1}, true},
	    {{B64URL_CHARS, -1}, true}, /* exactly 64 */
	    {{"abc-_XYZ019", -1}, true},
	    {{"", 0}, false},
	    {{"+", -1}, false},
	    {{"/", -1}, false},
	    {{"=", -1}, false},
	    {{"abcd=", -1}, false},
	    {{"ab+cd", -1}, false},
	    {{"ab/cd", -1}, false},
	    {{"ab cd", -1}, false},
	    {{"ab.cd", -1}, false},
	    {{"ab\0c", 4}, false},
	    {{"\0", 1}, false},
	    {{"abc\xc3\xa9", -1}, false},
	    {{"abc+", 3}, true}, /* only len bytes */
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t len = blen(T[i].in);
		CHECK(lock_token_valid(T[i].in.s, len) == T[i].want, "lock_token_valid(%s): expected %d",
		      unit_esc(T[i].in.s, len), T[i].want);
	}
	for (int c = 0; c < 256; c++) {
		char s[1] = {(char)c};
		bool want = in_set((unsigned char)c, B64URL_CHARS);
		CHECK(lock_token_valid(s, 1) == want, "lock_token_valid(byte 0x%02x): expected %d", c, want);
	}
	for (size_t n = 0; n <= 70; n++) {
		char *s = repeat("A", n, "");
		bool want = n >= 1 && n <= LOCK_TOKEN_MAX;
		CHECK(lock_token_valid(s, n) == want, "lock_token_valid(%zu x 'A'): expected %d", n, want);
		free(s);
	}
}

/* ---- owners ---- */

static void test_owner_table(void)
{
	static const struct {
		struct bytes in;
		bool want;
		const char *why;
	} T[] = {
	    {{"", 0}, true, "empty"},
	    {{"alice", -1}, true, "ascii"},
	    {{"worker 7 on host:8080 (pid 42) ~!", -1}, true, "ascii with spaces and punctuation"},
	    {{"\xc3\xa9", -1}, true, "U+00E9"},
	    {{"\xc2\xa0", -1}, true, "U+00A0, first after the C1 block"},
	    {{"\xe2\x82\xac", -1}, true, "U+20AC"},
	    {{"\xed\x9f\xbf", -1}, true, "U+D7FF, just below the surrogates"},
	    {{"\xee\x80\x80", -1}, true, "U+E000, just above the surrogates"},
	    {{"\xef\xbf\xbd", -1}, true, "U+FFFD"},
	    {{"\xf0\x9f\x98\x80", -1}, true, "U+1F600"},
	    {{"\xf4\x8f\xbf\xbf", -1}, true, "U+10FFFF"},
	    {{"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", -1}, true, "mixed"},
	    {{"\xc0\x80", -1}, false, "overlong NUL"},
	    {{"\xc0\xaf", -1}, false, "overlong '/'"},
	    {{"\xc1\xbf", -1}, false, "overlong U+007F"},
	    {{"\xe0\x80\x80", -1}, false, "overlong 3-byte NUL"},
	    {{"\xe0\x9f\xbf", -1}, false, "overlong U+07FF"},
	    {{"\xf0\x80\x80\x80", -1}, false, "overlong 4-byte NUL"},
	    {{"\xf0\x8f\xbf\xbf", -1}, false, "overlong U+FFFF"},
	    {{"\xed\xa0\x80", -1}, false, "surrogate U+D800"},
	    {{"\xed\xbf\xbf", -1}, false, "surrogate U+DFFF"},
	    {{"\xed\xa0\xbd\xed\xb8\x80", -1}, false, "CESU-8 surrogate pair"},
	    {{"\xf4\x90\x80\x80", -1}, false, "U+110000"},
	    {{"\xf5\x80\x80\x80", -1}, false, "lead byte F5"},
	    {{"\xf7\xbf\xbf\xbf", -1}, false, "lead byte F7"},
	    {{"\xf8\x88\x80\x80\x80", -1}, false, "5-byte form"},
	    {{"\xfc\x84\x80\x80\x80\x80", -1}, false, "6-byte form"},
	    {{"\xfe", -1}, false, "byte FE"},
	    {{"\xff", -1}, false, "byte FF"},
	    {{"\x80", -1}, false, "lone continuation 80"},
	    {{"\xbf", -1}, false, "lone continuation BF"},
	    {{"a\x80z", -1}, false, "continuation after ascii"},
	    {{"\xc3", -1}, false, "truncated 2-byte"},
	    {{"a\xc3", -1}, false, "truncated 2-byte at the end"},
	    {{"\xe2\x82", -1}, false, "truncated 3-byte"},
	    {{"\xf0\x9f\x98", -1}, false, "truncated 4-byte"},
	    {{"\xc3\xa9", 1}, false, "sequence cut by len"},
	    {{"\xf0\x9f\x98\x80", 3}, false, "4-byte sequence cut by len"},
	    {{"\xc3\x28", -1}, false, "bad continuation in 2-byte"},
	    {{"\xe2\x28\xa1", -1}, false, "bad 2nd byte in 3-byte"},
	    {{"\xe2\x82\x28", -1}, false, "bad 3rd byte in 3-byte"},
	    {{"\xf0\x28\x8c\xbc", -1}, false, "bad 2nd byte in 4-byte"},
	    {{"\xc3\xa9\xa9", -1}, false, "extra continuation"},
	    {{"a\0b", 3}, false, "NUL inside"},
	    {{"a\tb", -1}, false, "tab"},
	    {{"a\nb", -1}, false, "newline"},
	    {{"a\rb", -1}, false, "carriage return"},
	    {{"\x1b[31m", -1}, false, "escape"},
	    {{"a\x7f", -1}, false, "DEL"},
	    {{"\xc2\x80", -1}, false, "U+0080 (C1)"},
	    {{"\xc2\x85", -1}, false, "U+0085 NEL (C1)"},
	    {{"\xc2\x9f", -1}, false, "U+009F (C1)"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t len = blen(T[i].in);
		CHECK(lock_owner_valid(T[i].in.s, len) == T[i].want, "lock_owner_valid(%s) [%s]: expected %d",
		      unit_esc(T[i].in.s, len), T[i].why, T[i].want);
	}
}

static void test_owner_controls_and_lengths(void)
{
	for (int c = 0; c < 0x80; c++) {
		char s[3] = {'x', (char)c, 'y'};
		bool want = c >= 0x20 && c != 0x7f;
		CHECK(lock_owner_valid(s, 3) == want, "lock_owner_valid(\"x\\x%02xy\"): expected %d", c, want);
	}
	for (int c = 0x80; c < 0xc0; c++) { /* U+0080..U+00BF as C2 xx */
		char s[2] = {(char)0xc2, (char)c};
		bool want = c >= 0xa0;
		CHECK(lock_owner_valid(s, 2) == want, "lock_owner_valid(U+00%02X): expected %d", c, want);
	}

	static const struct {
		const char *unit_str;
		size_t n;
		const char *tail;
		bool want;
	} T[] = {
	    {"a", 256, "", true},
	    {"a", 257, "", false},
	    {"\xc3\xa9", 128, "", true},       /* 256 bytes */
	    {"\xc3\xa9", 128, "a", false},     /* 257 bytes */
	    {"\xe2\x82\xac", 85, "a", true},   /* 256 bytes */
	    {"\xe2\x82\xac", 85, "ab", false}, /* 257 bytes */
	    {"a", 255, "\xc3\xa9", false},     /* 257 bytes, a sequence across the limit */
	    {"a", 254, "\xc3\xa9", true},      /* 256 bytes */
	    {"a", 4096, "", false},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char *s = repeat(T[i].unit_str, T[i].n, T[i].tail);
		size_t len = strlen(s);
		CHECK(lock_owner_valid(s, len) == T[i].want, "lock_owner_valid(%zu bytes: %zu x %s + %s): expected %d",
		      len, T[i].n, unit_escz(T[i].unit_str), unit_escz(T[i].tail), T[i].want);
		free(s);
	}
}

/* ---- token generation ---- */

static int cmp_token(const void *a, const void *b)
{
	return memcmp(a, b, LOCK_TOKEN_LEN + 1);
}

static void test_token_new(void)
{
	enum { N = 1000 };
	char(*toks)[LOCK_TOKEN_LEN + 1] = calloc(N, sizeof *toks);
	unsigned char raw[64];
	size_t dups = 0;

	if (!toks)
		abort();
	for (size_t i = 0; i < N; i++) {
		int rc = lock_token_new(toks[i]);
		if (!CHECK(rc == 0, "lock_token_new() call %zu returned %d", i, rc))
			continue;
		CHECK(strlen(toks[i]) == LOCK_TOKEN_LEN, "token %zu %s is not %d chars", i, unit_escz(toks[i]),
		      LOCK_TOKEN_LEN);
		CHECK(lock_token_valid(toks[i], strlen(toks[i])), "token %s fails lock_token_valid",
		      unit_escz(toks[i]));
		if (i < 5)
			CHECK_INT(text_b64url_decode(toks[i], strlen(toks[i]), raw, sizeof raw), 24,
			          "a token decodes to 24 random bytes");
	}
	CHECK(strcmp(toks[0], toks[1]) != 0, "two tokens are equal: %s", toks[0]);
	qsort(toks, N, sizeof *toks, cmp_token);
	for (size_t i = 1; i < N; i++)
		if (strcmp(toks[i - 1], toks[i]) == 0)
			dups++;
	CHECK(dups == 0, "%zu duplicate tokens among %d", dups, N);
	free(toks);
}

/* ---- time ---- */

static void test_format_time(void)
{
	static const struct {
		int64_t ms;
		const char *want;
	} T[] = {
	    {0, "1970-01-01T00:00:00.000Z"},
	    {1, "1970-01-01T00:00:00.001Z"},
	    {999, "1970-01-01T00:00:00.999Z"},
	    {1000, "1970-01-01T00:00:01.000Z"},
	    {1795402985085, "2026-11-23T03:03:05.085Z"},
	    {951782400000, "2000-02-29T00:00:00.000Z"},
	    {2147483648000, "2038-01-19T03:14:08.000Z"},
	    {4102444800000, "2100-01-01T00:00:00.000Z"},
	    {253402300799999, "9999-12-31T23:59:59.999Z"},
	    {-1, "1969-12-31T23:59:59.999Z"},
	    {-999, "1969-12-31T23:59:59.001Z"},
	    {-1000, "1969-12-31T23:59:59.000Z"},
	    {-1001, "1969-12-31T23:59:58.999Z"},
	    {-86400000, "1969-12-31T00:00:00.000Z"},
	    /* RFC 3339 years are four digits, 0000-9999 */
	    {-30610224000001, "0999-12-31T23:59:59.999Z"},
	    {-62135596800000, "0001-01-01T00:00:00.000Z"},
	    {-62167219200000, "0000-01-01T00:00:00.000Z"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char out[TEXT_TIME_LEN + 1];
		char what[64];
		memset(out, 'X', sizeof out);
		text_format_time(T[i].ms, out);
		snprintf(what, sizeof what, "text_format_time(%lld)", (long long)T[i].ms);
		CHECK_STR(out, T[i].want, what);
	}

	/* Far outside the representable years: no crash, no overflow, still the shape of a time. */
	static const int64_t EXTREME[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 253402300800000};
	for (size_t i = 0; i < sizeof EXTREME / sizeof EXTREME[0]; i++) {
		char *out = malloc(TEXT_TIME_LEN + 1);
		bool shape;
		text_format_time(EXTREME[i], out);
		shape = strlen(out) == TEXT_TIME_LEN && out[4] == '-' && out[7] == '-' && out[10] == 'T' &&
		        out[13] == ':' && out[16] == ':' && out[19] == '.' && out[23] == 'Z';
		CHECK(shape, "text_format_time(%lld) = %s: not YYYY-MM-DDTHH:MM:SS.mmmZ", (long long)EXTREME[i],
		      unit_escz(out));
		free(out);
	}

	/* Times that sort sort the same when formatted, out-of-range ones included (clamped, not wrapped). */
	static const int64_t SORTED[] = {
	    INT64_MIN, INT64_MIN + 1, -62167219200001, -62167219200000, -62135596800000, -1001,    -1, 0,
	    1,         1795402985085, 253402300799999, 253402300800000, INT64_MAX - 1,   INT64_MAX};
	char prev[TEXT_TIME_LEN + 1] = "";
	for (size_t i = 0; i < sizeof SORTED / sizeof SORTED[0]; i++) {
		char out[TEXT_TIME_LEN + 1];
		text_format_time(SORTED[i], out);
		CHECK(strcmp(prev, out) <= 0, "text_format_time(%lld) = %s sorts before the earlier time's %s",
		      (long long)SORTED[i], out, prev);
		memcpy(prev, out, sizeof out);
	}
}

/* Runs lock_retry_after_s(ttl) in a child, so that undefined behaviour caught
 * by a sanitizer (which aborts) fails one check instead of the whole program. */
static void check_retry_isolated(int64_t ttl, int64_t want, int line)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int64_t got = lock_retry_after_s(ttl);
		if (got != want)
			printf("FAIL %s:%d: lock_retry_after_s(%lld): expected %lld, got %lld\n", __FILE__, line,
			       (long long)ttl, (long long)want, (long long)got);
		fflush(stdout);
		_exit(got == want ? 0 : 77);
	}
	if (!CHECK(pid > 0, "fork failed"))
		return;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		unit_failed_++; /* the child printed the FAIL line */
		return;
	}
	unit_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0, __FILE__, line,
	            "lock_retry_after_s(%lld) crashed or was aborted by a sanitizer (wait status 0x%x)", (long long)ttl,
	            status);
}

static void test_retry_after(void)
{
	static const struct {
		int64_t ttl, want;
	} T[] = {
	    {0, 1},    {1, 1},    {999, 1},    {1000, 1},         {1001, 2}, {1999, 2},  {2000, 2},
	    {2001, 3}, {4965, 5}, {30000, 30}, {86400000, 86400}, {-1, 1},   {-5000, 1}, {INT64_MIN, 1},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "lock_retry_after_s(%lld)", (long long)T[i].ttl);
		CHECK_INT(lock_retry_after_s(T[i].ttl), T[i].want, what);
	}
	/* ceil(INT64_MAX / 1000): rounding up must not overflow */
	check_retry_isolated(INT64_MAX, INT64_MAX / 1000 + 1, __LINE__);
	check_retry_isolated(INT64_MAX - 998, INT64_MAX / 1000, __LINE__); /* ...774809 ms -> ...775 s */
}

/* ---- base64url ---- */

static void test_b64_vectors(void)
{
	static const struct {
		const char *raw;
		size_t len;
		const char *enc;
	} T[] = {
	    {"", 0, ""},
	    {"f", 1, "Zg"},
	    {"fo", 2, "Zm8"},
	    {"foo", 3, "Zm9v"},
	    {"foob", 4, "Zm9vYg"},
	    {"fooba", 5, "Zm9vYmE"},
	    {"foobar", 6, "Zm9vYmFy"},
	    {"\xfb\xef\xbe", 3, "----"},
	    {"\xff\xff\xff", 3, "____"},
	    {"\xfb\xff", 2, "-_8"},
	    {"\x00", 1, "AA"},
	    {"\x00\x00\x00", 3, "AAAA"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char *enc = malloc(4 * ((T[i].len + 2) / 3) + 1);
		unsigned char dec[16];
		size_t n = text_b64url_encode((const unsigned char *)T[i].raw, T[i].len, enc);
		long d;

		CHECK_STR(enc, T[i].enc, unit_esc(T[i].raw, T[i].len));
		CHECK_INT(n, strlen(T[i].enc), "encoded length");
		d = text_b64url_decode(T[i].enc, strlen(T[i].enc), dec, sizeof dec);
		CHECK(d == (long)T[i].len && memcmp(dec, T[i].raw, T[i].len) == 0,
		      "decode(%s): expected %s (%zu), got %ld", T[i].enc, unit_esc(T[i].raw, T[i].len), T[i].len, d);
		free(enc);
	}
}

static void test_b64_round_trip(void)
{
	uint32_t seed = 12345;

	for (size_t len = 0; len <= 40; len++) {
		for (int pattern = 0; pattern < 3; pattern++) {
			unsigned char in[40], dec[64];
			size_t want_len = (len * 4 + 2) / 3, n;
			char *enc = malloc(4 * ((len + 2) / 3) + 1);
			bool alphabet = true;
			long d;

			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				in[i] = pattern == 0 ? (unsigned char)(seed >> 16) : pattern == 1 ? 0xff : 0x00;
			}
			n = text_b64url_encode(in, len, enc);
			CHECK(n == want_len && strlen(enc) == want_len,
			      "encode(%zu bytes, pattern %d): length %zu, strlen %zu, expected %zu", len, pattern, n,
			      strlen(enc), want_len);
			for (size_t i = 0; i < strlen(enc); i++)
				alphabet = alphabet && in_set((unsigned char)enc[i], B64URL_CHARS);
			CHECK(alphabet, "encode(%zu bytes): %s has characters outside base64url", len, enc);
			d = text_b64url_decode(enc, strlen(enc), dec, sizeof dec);
			CHECK(d == (long)len && memcmp(dec, in, len) == 0,
			      "round trip of %zu bytes (pattern %d) via %s: got %ld", len, pattern, enc, d);
			/* exactly enough room is enough */
			d = text_b64url_decode(enc, strlen(enc), dec, len);
			CHECK(d == (long)len, "decode %s with cap %zu: got %ld", enc, len, d);
			free(enc);
		}
	}
}

static void test_b64_decode_rejects(void)
{
	static const struct {
		struct bytes in;
		const char *why;
	} T[] = {
	    {{"Zm9v+", -1}, "'+' and length 5"},
	    {{"Zm+v", -1}, "'+'"},
	    {{"Zm/v", -1}, "'/'"},
	    {{"Zm9=", -1}, "'=' padding"},
	    {{"Zg==", -1}, "'==' padding"},
	    {{"Zm9vYg==", -1}, "padding after a full group"},
	    {{"Zm 9v", -1}, "space"},
	    {{"Zm\n9v", -1}, "newline"},
	    {{"Zm.v", -1}, "'.'"},
	    {{"Zm\0v", 4}, "NUL"},
	    {{"Zm\xc3\xa9", -1}, "non-ASCII"},
	    {{"Z", -1}, "length 1"},
	    {{"Zm9vY", -1}, "length 5"},
	    {{"Zm9vYmFyZ", -1}, "length 9"},
	    {{"Zh", -1}, "non-canonical: 4 trailing bits set"},
	    {{"Zm9", -1}, "non-canonical: 2 trailing bits set"},
	    {{"AB", -1}, "non-canonical 'AB'"},
	    {{"AAB", -1}, "non-canonical 'AAB'"},
	    {{"__", -1}, "non-canonical '__'"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		unsigned char out[16];
		size_t len = blen(T[i].in);
		long d = text_b64url_decode(T[i].in.s, len, out, sizeof out);
		CHECK(d == -1, "text_b64url_decode(%s) [%s]: expected -1, got %ld", unit_esc(T[i].in.s, len), T[i].why,
		      d);
	}
}

static void test_b64_decode_capacity(void)
{
	static const struct {
		const char *in;
		size_t cap;
		long want;
	} T[] = {
	    {"Zm9vYmFy", 6, 6}, {"Zm9vYmFy", 5, -1}, {"Zm9vYmFy", 0, -1}, {"Zm9vYmE", 5, 5},
	    {"Zm9vYmE", 4, -1}, {"Zg", 1, 1},        {"Zg", 0, -1},       {"", 0, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		unsigned char out[16];
		long d;
		bool canary = true;

		memset(out, 0xAA, sizeof out);
		d = text_b64url_decode(T[i].in, strlen(T[i].in), out, T[i].cap);
		CHECK(d == T[i].want, "text_b64url_decode(\"%s\", cap %zu): expected %ld, got %ld", T[i].in, T[i].cap,
		      T[i].want, d);
		for (size_t j = T[i].cap; j < sizeof out; j++)
			canary = canary && out[j] == 0xAA;
		CHECK(canary, "text_b64url_decode(\"%s\", cap %zu) wrote past cap", T[i].in, T[i].cap);
	}
}

/* ---- outcomes ---- */

static void test_utf8_repair(void)
{
	static const struct {
		const char *in, *want;
	} T[] = {
	    {"", ""},
	    {"plain", "plain"},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"a\xff"
	     "b",
	     "a\xef\xbf\xbd"
	     "b"},
	    {"\xc3", "\xef\xbf\xbd"},                                 /* cut short */
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
	    {"\xf0\x9f\x94\x92", "\xf0\x9f\x94\x92"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t n = text_utf8_repair(T[i].in, strlen(T[i].in), out, sizeof out);
		CHECK_STR(out, T[i].want, unit_escz(T[i].in));
		CHECK_INT(n, strlen(T[i].want), "text_utf8_repair length");
	}
	/* a tight buffer stops before a sequence that does not fit */
	CHECK_INT(text_utf8_repair("ab\xff", 3, out, 4), 2, "text_utf8_repair into 4 bytes");
	CHECK_STR(out, "ab", "text_utf8_repair into 4 bytes");
}

static void test_outcome_str(void)
{
	for (int o = LOCK_GRANTED; o <= LOCK_FENCE_EXHAUSTED; o++) {
		const char *s = lock_outcome_str((enum lock_outcome)o);
		CHECK(s && *s && strcmp(s, "unknown") != 0, "lock_outcome_str(%d) = %s", o, unit_escz(s));
		for (int p = LOCK_GRANTED; p < o; p++)
			CHECK(strcmp(s, lock_outcome_str((enum lock_outcome)p)) != 0,
			      "lock_outcome_str(%d) == (%d): %s", o, p, s);
	}
}

int main(void)
{
	test_name_every_byte();
	test_name_table();
	test_name_lengths();
	test_name_decode_table();
	test_name_decode_lengths();
	test_token_valid();
	test_owner_table();
	test_owner_controls_and_lengths();
	test_token_new();
	test_format_time();
	test_retry_after();
	test_b64_vectors();
	test_b64_round_trip();
	test_b64_decode_rejects();
	test_b64_decode_capacity();
	test_utf8_repair();
	test_outcome_str();
	return unit_done();
}
