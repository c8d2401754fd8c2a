/* Unit tests for keys.c: Redis key names, SCAN patterns and their inverse. */
#include <stdlib.h>

#include "locks/keys.h"
#include "unit.h"

static const char *const TYPE_NAME[] = {
    [KEYS_LOCK] = "lock",
    [KEYS_FENCE] = "fence",
    [KEYS_QUEUE] = "queue",
    [KEYS_WAITDL] = "waitdl",
};
enum { NTYPES = KEYS_WAITDL + 1 };

/* Valid lock names chosen to look like other names' keys or type tags. */
static const char *const TRICKY[] = {
    "a",       "b",           "a:fence", "a:lock",  "fence:a", "lock:a", "fence",        "lock",
    "queue",   "wake",        "a:queue", "a:wake",  ":",       "::",     "a:",           ":a",
    "fence:",  "lock:",       "@",       "a.b",     "a_b",     "a-b",    "lock:a:fence", "fence:lock",
    "dlock:",  "dlock:lock:", "x",       "A",       "0",       "waitdl", "alive",        "a:waitdl",
    "a:alive", "queue:a",     "alive:a", "waitdl:", "wake:a",
};
enum { NTRICKY = sizeof TRICKY / sizeof TRICKY[0] };

static char *xmalloc(size_t n)
{
	char *p = malloc(n);
	if (!p)
		abort();
	return p;
}

static struct keys make_keys(const char *prefix)
{
	struct keys k;
	memset(&k, 0, sizeof k);
	if (!keys_init(&k, prefix))
		CHECK(false, "keys_init(%s) failed", unit_escz(prefix));
	return k;
}

/* ---- keys_init ---- */

static void test_init(void)
{
	char p64[KEYS_PREFIX_MAX + 1], p65[KEYS_PREFIX_MAX + 2];
	static const struct {
		const char *prefix;
		bool want;
	} T[] = {
	    {"dlock:", true},
	    {"", true},
	    {"app/prod:", true},
	    {"~!#$%^&*()", true},
	    {"a b", false},
	    {" ", false},
	    {"a\tb", false},
	    {"a\nb", false},
	    {"\x01", false},
	    {"a\x7f", false},
	    {"\x80", false},
	    {"caf\xc3\xa9", false},
	    /* braces would break the names' Redis Cluster hash tags (as config.c says) */
	    {"{", false},
	    {"a}", false},
	    {"{x}", false},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct keys k;
		bool ok = keys_init(&k, T[i].prefix);
		CHECK(ok == T[i].want, "keys_init(%s): expected %d", unit_escz(T[i].prefix), T[i].want);
		if (ok && T[i].want) {
			CHECK_STR(k.prefix, T[i].prefix, "keys.prefix");
			CHECK_INT(k.prefix_len, strlen(T[i].prefix), "keys.prefix_len");
		}
	}
	memset(p64, 'p', KEYS_PREFIX_MAX);
	p64[KEYS_PREFIX_MAX] = '\0';
	memset(p65, 'p', KEYS_PREFIX_MAX + 1);
	p65[KEYS_PREFIX_MAX + 1] = '\0';
	{
		struct keys k;
		CHECK(keys_init(&k, p64), "keys_init(64-byte prefix) should succeed");
		CHECK(!keys_init(&k, p65), "keys_init(65-byte prefix) should fail");
	}
}

/* ---- keys_make ---- */

static void test_make_exact(void)
{
	static const struct {
		const char *prefix, *name;
		enum keys_type type;
		const char *want;
	} T[] = {
	    {"dlock:", "a", KEYS_LOCK, "dlock:lock:{a}"},         {"dlock:", "a", KEYS_FENCE, "dlock:fence:{a}"},
	    {"dlock:", "a", KEYS_QUEUE, "dlock:queue:{a}"},       {"dlock:", "a", KEYS_WAITDL, "dlock:waitdl:{a}"},
	    {"", "orders:42", KEYS_LOCK, "lock:{orders:42}"},     {"", "orders:42", KEYS_FENCE, "fence:{orders:42}"},
	    {"app*", "a:fence", KEYS_LOCK, "app*lock:{a:fence}"}, {"x", "@.-_:", KEYS_WAITDL, "xwaitdl:{@.-_:}"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct keys k = make_keys(T[i].prefix);
		char *out = xmalloc(KEYS_KEY_MAX + 1);
		size_t n = keys_make(&k, T[i].type, T[i].name, out);
		char what[128];
		snprintf(what, sizeof what, "keys_make(%s, %s, %s)", unit_escz(T[i].prefix), TYPE_NAME[T[i].type],
		         unit_escz(T[i].name));
		CHECK_STR(out, T[i].want, what);
		CHECK_INT(n, strlen(T[i].want), "keys_make return value");
		free(out);
	}
}

static void test_make_longest(void)
{
	/* The longest prefix, the longest name, the longest type: fits KEYS_KEY_MAX + 1. */
	char prefix[KEYS_PREFIX_MAX + 1], name[LOCK_NAME_MAX + 1];
	struct keys k;

	memset(prefix, 'p', KEYS_PREFIX_MAX);
	prefix[KEYS_PREFIX_MAX] = '\0';
	memset(name, 'n', LOCK_NAME_MAX);
	name[LOCK_NAME_MAX] = '\0';
	k = make_keys(prefix);
	for (int t = 0; t < NTYPES; t++) {
		char *out = xmalloc(KEYS_KEY_MAX + 1); /* exact: ASan reports any overflow */
		size_t want = KEYS_PREFIX_MAX + strlen(TYPE_NAME[t]) + 2 + LOCK_NAME_MAX + 1;
		size_t n = keys_make(&k, (enum keys_type)t, name, out);
		CHECK(n == want && strlen(out) == want && n <= KEYS_KEY_MAX,
		      "keys_make(longest, %s): length %zu, want %zu", TYPE_NAME[t], n, want);
		CHECK(out[n - 1] == '}' && memcmp(out, prefix, KEYS_PREFIX_MAX) == 0, "keys_make(longest, %s) = %s",
		      TYPE_NAME[t], unit_escz(out));
		free(out);
	}
}

/* No two (type, name) pairs share a key, for several prefixes. */
static void test_no_collisions(void)
{
	static const char *const PREFIXES[] = {"dlock:", "", "a", "lock:", "["};
	enum { N = NTYPES * NTRICKY };
	static char keys_buf[N][KEYS_KEY_MAX + 1];

	for (size_t p = 0; p < sizeof PREFIXES / sizeof PREFIXES[0]; p++) {
		struct keys k = make_keys(PREFIXES[p]);
		size_t collisions = 0;

		for (int t = 0; t < NTYPES; t++)
			for (int i = 0; i < NTRICKY; i++)
				keys_make(&k, (enum keys_type)t, TRICKY[i], keys_buf[t * NTRICKY + i]);
		for (int a = 0; a < N; a++)
			for (int b = a + 1; b < N; b++)
				if (strcmp(keys_buf[a], keys_buf[b]) == 0) {
					collisions++;
					CHECK(false, "prefix %s: (%s, %s) and (%s, %s) share the key %s",
					      unit_escz(PREFIXES[p]), TYPE_NAME[a / NTRICKY], TRICKY[a % NTRICKY],
					      TYPE_NAME[b / NTRICKY], TRICKY[b % NTRICKY], keys_buf[a]);
				}
		CHECK(collisions == 0, "prefix %s: %zu collisions", unit_escz(PREFIXES[p]), collisions);
	}
}

/* ---- keys_lock_pattern ---- */

/* Redis's glob (stringmatchlen): * ? [set] [^set] [a-z] and backslash escapes. */
static bool glob(const char *p, const char *s)
{
	while (*p) {
		switch (*p) {
		case '*':
			while (p[1] == '*')
				p++;
			if (!p[1])
				return true;
			for (; *s; s++)
				if (glob(p + 1, s))
					return true;
			return glob(p + 1, s);
		case '?':
			if (!*s)
				return false;
			s++;
			p++;
			break;
		case '[': {
			bool neg, match = false;
			p++;
			neg = *p == '^';
			if (neg)
				p++;
			while (*p && *p != ']') {
				if (*p == '\\' && p[1]) {
					p++;
					match = match || *p == *s;
				} else if (p[1] == '-' && p[2] && p[2] != ']') {
					char lo = p[0] < p[2] ? p[0] : p[2], hi = p[0] < p[2] ? p[2] : p[0];
					match = match || (*s >= lo && *s <= hi);
					p += 2;
				} else {
					match = match || *p == *s;
				}
				p++;
			}
			if (*p)
				p++;
			if (!*s || match == neg)
				return false;
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (*p != *s)
				return false;
			p++;
			s++;
			break;
		}
	}
	return *s == '\0';
}

static void test_glob_helper(void)
{
	/* the helper itself, so a pattern test cannot pass by accident */
	CHECK(glob("a*", "abc") && glob("a\\*", "a*") && !glob("a\\*", "ab") && glob("[ab]c", "bc") &&
	          !glob("[^ab]c", "bc") && glob("?", "x") && !glob("a", "ab") && glob("\\[x\\]", "[x]"),
	      "the test's glob matcher is wrong");
}

static void test_pattern_exact(void)
{
	static const struct {
		const char *prefix, *name_prefix, *want;
	} T[] = {
	    {"dlock:", "", "dlock:lock:{*"},
	    {"dlock:", "orders:", "dlock:lock:{orders:*"},
	    {"", "a", "lock:{a*"},
	    {"a*b", "", "a\\*block:{*"},
	    {"q?", "", "q\\?lock:{*"},
	    {"[x]", "n", "\\[x\\]lock:{n*"},
	    {"back\\slash", "", "back\\\\slashlock:{*"},
	    {"*?[]\\", "", "\\*\\?\\[\\]\\\\lock:{*"},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct keys k = make_keys(T[i].prefix);
		char *out = xmalloc(2 * KEYS_KEY_MAX + 1);
		size_t n = keys_lock_pattern(&k, T[i].name_prefix, out);
		char what[128];
		snprintf(what, sizeof what, "keys_lock_pattern(%s, %s)", unit_escz(T[i].prefix),
		         unit_escz(T[i].name_prefix));
		CHECK_STR(out, T[i].want, what);
		CHECK_INT(n, strlen(T[i].want), "keys_lock_pattern return value");
		free(out);
	}
}

/* What the pattern matches under Redis's glob: exactly this prefix's lock keys
 * of names starting with name_prefix. */
static void test_pattern_semantics(void)
{
	static const char *const PREFIXES[] = {"dlock:", "",  "a*b", "q?x",  "[ab]", "x\\y",
	                                       "^z",     "]", "*",   "[^a]", "a-z",  "\\*"};
	static const char *const NAME_PREFIXES[] = {"", "a", "a:", "lock", "fence:a"};
	static const char *const OTHER_PREFIXES[] = {"dlock:", "",     "aXb", "a*b",    "qQx", "q?x", "a",
	                                             "[ab]",   "x\\y", "xy",  "x\\\\y", "^z",  "z",   "]",
	                                             "*",      "X",    "b",   "a-z",    "\\*", "\\X"};

	for (size_t p = 0; p < sizeof PREFIXES / sizeof PREFIXES[0]; p++) {
		struct keys k = make_keys(PREFIXES[p]);
		for (size_t q = 0; q < sizeof NAME_PREFIXES / sizeof NAME_PREFIXES[0]; q++) {
			char *pat = xmalloc(2 * KEYS_KEY_MAX + 1);
			size_t n = keys_lock_pattern(&k, NAME_PREFIXES[q], pat);

			CHECK(n > 0 && pat[n - 1] == '*' && strlen(pat) == n, "pattern %s does not end with '*'",
			      unit_escz(pat));
			for (size_t o = 0; o < sizeof OTHER_PREFIXES / sizeof OTHER_PREFIXES[0]; o++) {
				struct keys ko = make_keys(OTHER_PREFIXES[o]);
				for (int t = 0; t < NTYPES; t++)
					for (int i = 0; i < NTRICKY; i++) {
						char key[KEYS_KEY_MAX + 1];
						bool want =
						    t == KEYS_LOCK && strcmp(OTHER_PREFIXES[o], PREFIXES[p]) == 0 &&
						    strncmp(TRICKY[i], NAME_PREFIXES[q], strlen(NAME_PREFIXES[q])) == 0;
						keys_make(&ko, (enum keys_type)t, TRICKY[i], key);
						if (glob(pat, key) != want)
							CHECK(false, "pattern %s %s key %s", unit_escz(pat),
							      want ? "does not match" : "matches", unit_escz(key));
					}
			}
			CHECK(true, "pattern %s", pat); /* one pass per pattern */
			free(pat);
		}
	}
}

static void test_pattern_longest(void)
{
	/* Every prefix byte escaped, the longest name prefix: fits 2 * KEYS_KEY_MAX + 1. */
	char prefix[KEYS_PREFIX_MAX + 1], name[LOCK_NAME_MAX + 1];
	struct keys k;
	char *out = xmalloc(2 * KEYS_KEY_MAX + 1);
	size_t n, want = 2 * KEYS_PREFIX_MAX + strlen("lock:{") + LOCK_NAME_MAX + 1;

	memset(prefix, '*', KEYS_PREFIX_MAX);
	prefix[KEYS_PREFIX_MAX] = '\0';
	memset(name, 'n', LOCK_NAME_MAX);
	name[LOCK_NAME_MAX] = '\0';
	k = make_keys(prefix);
	n = keys_lock_pattern(&k, name, out);
	CHECK(n == want && strlen(out) == want, "keys_lock_pattern(64 x '*', 255 x 'n'): length %zu, want %zu", n,
	      want);
	free(out);
}

/* ---- keys_lock_name ---- */

static void test_lock_name_round_trip(void)
{
	static const char *const PREFIXES[] = {"dlock:", "", "[", "lock:", "a*b"};
	char longest[LOCK_NAME_MAX + 1];

	memset(longest, 'z', LOCK_NAME_MAX);
	longest[LOCK_NAME_MAX] = '\0';
	for (size_t p = 0; p < sizeof PREFIXES / sizeof PREFIXES[0]; p++) {
		struct keys k = make_keys(PREFIXES[p]);
		for (int i = 0; i <= NTRICKY; i++) {
			const char *name = i < NTRICKY ? TRICKY[i] : longest;
			char key[KEYS_KEY_MAX + 1];
			char *got = xmalloc(LOCK_NAME_MAX + 1);
			size_t n = keys_make(&k, KEYS_LOCK, name, key);
			bool ok = keys_lock_name(&k, key, n, got);

			CHECK(ok, "keys_lock_name(prefix %s, %s) failed", unit_escz(PREFIXES[p]), unit_escz(key));
			if (ok)
				CHECK_STR(got, name, key);
			for (int t = 0; t < NTYPES; t++) {
				if (t == KEYS_LOCK)
					continue;
				n = keys_make(&k, (enum keys_type)t, name, key);
				CHECK(!keys_lock_name(&k, key, n, got),
				      "keys_lock_name(prefix %s, %s) accepted a %s key", unit_escz(PREFIXES[p]),
				      unit_escz(key), TYPE_NAME[t]);
			}
			free(got);
		}
	}
}

static void test_lock_name_rejects(void)
{
	static const struct {
		const char *prefix;
		const char *key;
		long len; /* < 0: strlen */
	} T[] = {
	    {"dlock:", "", -1},
	    {"dlock:", "dlock:", -1},
	    {"dlock:", "dlock:lock:", -1},
	    {"dlock:", "dlock:lock:{", -1},
	    {"dlock:", "dlock:lock:{}", -1},
	    {"dlock:", "dlock:lock:}", -1},
	    {"dlock:", "dlock:lock:{a", -1},
	    {"dlock:", "dlock:lock:a}", -1},
	    {"dlock:", "dlock:lock:{a}x", -1},
	    {"dlock:", "dlock:lock:{a}}", -1},
	    {"dlock:", "dlock:lock:{{a}", -1},
	    {"dlock:", "dlock:lock:{a{b}", -1},
	    {"dlock:", "dlock:lock:{a}{b}", -1},
	    {"dlock:", "dlock:lock:{a b}", -1},
	    {"dlock:", "dlock:lock:{a/b}", -1},
	    {"dlock:", "dlock:lock:{caf\xc3\xa9}", -1},
	    {"dlock:", "dlock:lock:{a\0b}", 15},
	    {"dlock:", "dlock:lock:{abc}", 15}, /* len cuts the '}' */
	    {"dlock:", "dlock:lock:{abc}", 5},
	    {"dlock:", "dlock:fence:{a}", -1},
	    {"dlock:", "dlock:queue:{a}", -1},
	    {"dlock:", "dlock:waitdl:{a}", -1},
	    {"dlock:", "dlock:alive:{a}", -1},
	    {"dlock:", "dlock:wake", -1},
	    {"dlock:", "dlock:locks:{a}", -1},
	    {"dlock:", "dlock:lock{a}", -1},
	    {"dlock:", "other:lock:{a}", -1},
	    {"dlock:", "dlocklock:{a}", -1},
	    {"dlock:", "lock:{a}", -1},
	    {"dlock:", "xdlock:lock:{a}", -1},
	    {"", "dlock:lock:{a}", -1},
	    {"", "lock:{}", -1},
	    {"", "fence:{a}", -1},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct keys k = make_keys(T[i].prefix);
		size_t len = T[i].len < 0 ? strlen(T[i].key) : (size_t)T[i].len;
		char *got = xmalloc(LOCK_NAME_MAX + 1);
		CHECK(!keys_lock_name(&k, T[i].key, len, got), "keys_lock_name(prefix %s, %s) should be rejected",
		      unit_escz(T[i].prefix), unit_esc(T[i].key, len));
		free(got);
	}

	/* a name one byte too long must be rejected, not copied */
	{
		struct keys k = make_keys("p:");
		size_t n = 0;
		char *key = xmalloc(2 + 6 + LOCK_NAME_MAX + 1 + 1 + 1);
		char *got = xmalloc(LOCK_NAME_MAX + 1);
		memcpy(key, "p:lock:{", 8);
		n = 8;
		memset(key + n, 'a', LOCK_NAME_MAX + 1);
		n += LOCK_NAME_MAX + 1;
		key[n++] = '}';
		key[n] = '\0';
		CHECK(!keys_lock_name(&k, key, n, got), "keys_lock_name accepted a %d-byte name", LOCK_NAME_MAX + 1);
		free(key);
		free(got);
	}
}

/* ---- keys_wake_channel ---- */

static void test_wake(void)
{
	static const char *const PREFIXES[] = {"dlock:", "", "a*b", "["};
	char longest[KEYS_PREFIX_MAX + 1];

	for (size_t p = 0; p <= sizeof PREFIXES / sizeof PREFIXES[0]; p++) {
		const char *prefix = p < sizeof PREFIXES / sizeof PREFIXES[0] ? PREFIXES[p] : longest;
		struct keys k;
		char *chan = xmalloc(KEYS_KEY_MAX + 1);
		char want[KEYS_KEY_MAX + 1], key[KEYS_KEY_MAX + 1];
		size_t n;

		if (p == sizeof PREFIXES / sizeof PREFIXES[0]) {
			memset(longest, 'p', KEYS_PREFIX_MAX);
			longest[KEYS_PREFIX_MAX] = '\0';
		}
		k = make_keys(prefix);
		n = keys_wake_channel(&k, chan);
		snprintf(want, sizeof want, "%swake", prefix);
		CHECK_STR(chan, want, "keys_wake_channel");
		CHECK_INT(n, strlen(want), "keys_wake_channel return value");
		/* the channel is no key of any name */
		for (int t = 0; t < NTYPES; t++)
			for (int i = 0; i < NTRICKY; i++) {
				keys_make(&k, (enum keys_type)t, TRICKY[i], key);
				if (strcmp(key, chan) == 0)
					CHECK(false, "keys_wake_channel %s equals the %s key of %s", chan, TYPE_NAME[t],
					      TRICKY[i]);
			}
		free(chan);
	}
}

/* ---- keys_lock_head ---- */

static void test_lock_head(void)
{
	static const char *const PREFIXES[] = {"dlock:", "", "a*b", "["};
	char longest[KEYS_PREFIX_MAX + 1];

	memset(longest, 'p', KEYS_PREFIX_MAX);
	longest[KEYS_PREFIX_MAX] = '\0';
	for (size_t p = 0; p <= sizeof PREFIXES / sizeof PREFIXES[0]; p++) {
		const char *prefix = p < sizeof PREFIXES / sizeof PREFIXES[0] ? PREFIXES[p] : longest;
		struct keys k = make_keys(prefix);
		char *head = xmalloc(KEYS_KEY_MAX + 1);
		char want[KEYS_KEY_MAX + 1], key[KEYS_KEY_MAX + 1];
		size_t n = keys_lock_head(&k, head);

		snprintf(want, sizeof want, "%slock:{", prefix);
		CHECK_STR(head, want, "keys_lock_head");
		CHECK_INT(n, strlen(want), "keys_lock_head return value");
		/* every lock key starts with it, and no key of another type does */
		for (int t = 0; t < NTYPES; t++)
			for (int i = 0; i < NTRICKY; i++) {
				keys_make(&k, (enum keys_type)t, TRICKY[i], key);
				CHECK((strncmp(key, head, n) == 0) == (t == KEYS_LOCK),
				      "keys_lock_head %s and the %s key %s", head, TYPE_NAME[t], key);
			}
		free(head);
	}
}

int main(void)
{
	test_init();
	test_make_exact();
	test_make_longest();
	test_no_collisions();
	test_glob_helper();
	test_pattern_exact();
	test_pattern_semantics();
	test_pattern_longest();
	test_lock_name_round_trip();
	test_lock_name_rejects();
	test_wake();
	test_lock_head();
	return unit_done();
}
