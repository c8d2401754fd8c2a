/* Fuzzes the list cursors a client sends back (cursor.h): a node cursor and
 * a Redlock walk cursor are decoded from any text a `cursor` parameter may
 * hold. Whatever decodes re-encodes to exactly the same text (a cursor has
 * one spelling), its parts are within their bounds, and every cursor we
 * encode from valid parts decodes to those parts. */
#include "fuzz.h"

#include "locks/lock.h"
#include "redis/cursor.h"

/* A SCAN cursor: 1-20 digits, at most 2^64 - 1. */
static bool scan_ok(const char *s, size_t n)
{
	return fuzz_digits(s, n) && n <= 20 && (n < 20 || memcmp(s, "18446744073709551615", 20) <= 0);
}

static void check_node(const char *cursor)
{
	char scan[24], after[LOCK_NAME_MAX + 1], again[BACKEND_CURSOR_MAX + 1];

	if (!cursor_node_decode(cursor, scan, after))
		return;
	FUZZ_CHECK(scan_ok(scan, strlen(scan)), "decoded SCAN cursor \"%s\" is not a 64-bit number", scan);
	FUZZ_CHECK(!after[0] || lock_name_valid(after, strlen(after)), "decoded resume name is not a lock name");
	cursor_node_encode(scan, after, again);
	FUZZ_CHECK(strcmp(again, cursor) == 0, "node cursor \"%.60s\" re-encodes as \"%.60s\"", cursor, again);
}

static void check_walk(const char *cursor, unsigned n)
{
	unsigned node = 99, skipped = 99999;
	const char *inner = NULL;
	char again[BACKEND_CURSOR_MAX + 1];

	if (!cursor_walk_decode(cursor, n, &node, &skipped, &inner))
		return;
	FUZZ_CHECK(node < n, "walk cursor names node %u of %u", node, n);
	FUZZ_CHECK(skipped < 4096, "walk cursor's skipped mask %u is beyond 12 bits", skipped);
	FUZZ_CHECK(inner == cursor + 3, "walk cursor's inner part does not start after 3 characters");
	cursor_walk_encode(again, node, skipped, inner);
	FUZZ_CHECK(strcmp(again, cursor) == 0, "walk cursor \"%.60s\" re-encodes as \"%.60s\"", cursor, again);
}

/* Encodes parts taken from the input; valid parts must come back. */
static void check_encode(struct fuzz_in in)
{
	const char *scan, *name;
	size_t slen, nlen;
	char s[24], a[LOCK_NAME_MAX + 1], cur[BACKEND_CURSOR_MAX + 1], s2[24], a2[LOCK_NAME_MAX + 1];
	char walk[BACKEND_CURSOR_MAX + 1];
	unsigned node, skipped, n = 1 + fuzz_byte(&in) % 9, want_node, want_skipped;
	const char *inner;

	want_node = fuzz_byte(&in) % n;
	want_skipped = (unsigned)fuzz_byte(&in) << 4;
	want_skipped |= fuzz_byte(&in) % 16u;
	if (!fuzz_field(&in, '/', &scan, &slen) || !scan_ok(scan, slen))
		return;
	name = (const char *)in.p;
	nlen = in.len;
	if (nlen > 0 && !lock_name_valid(name, nlen))
		return;
	memcpy(s, scan, slen);
	s[slen] = '\0';
	memcpy(a, name, nlen);
	a[nlen] = '\0';
	cursor_node_encode(s, a, cur);
	FUZZ_CHECK(strlen(cur) <= BACKEND_CURSOR_MAX - 3, "a node cursor leaves no room for the walk's 3 characters");
	FUZZ_CHECK(cursor_node_decode(cur, s2, a2) && strcmp(s2, s) == 0 && strcmp(a2, a) == 0,
	           "node cursor for \"%s\"/\"%.40s\" does not decode to its parts", s, a);
	cursor_walk_encode(walk, want_node, want_skipped, cur);
	FUZZ_CHECK(cursor_walk_decode(walk, n, &node, &skipped, &inner) && node == want_node &&
	               skipped == want_skipped && strcmp(inner, cur) == 0,
	           "walk cursor does not decode to its parts");
	/* a cluster walk's cursor: a slot (0..16383), then the node cursor */
	{
		unsigned want_slot = (want_node * 2731u + want_skipped * 7u) % 16384, slot;
		cursor_cluster_encode(walk, want_slot, cur);
		FUZZ_CHECK(cursor_cluster_decode(walk, &slot, &inner) && slot == want_slot && strcmp(inner, cur) == 0,
		           "cluster cursor does not decode to its parts");
		FUZZ_CHECK(!cursor_cluster_decode(cur, &slot, &inner), "a node cursor passes for a cluster cursor");
	}
}

/* A cursor the cluster takes: 'C', a slot below 16384 in 3 base64url chars, and
 * nothing or a node cursor; re-encoded, the same string. */
static void check_cluster(const char *cursor)
{
	unsigned slot;
	const char *inner;
	char again[BACKEND_CURSOR_MAX + 1], scan[24], after[LOCK_NAME_MAX + 1];

	if (!cursor_cluster_decode(cursor, &slot, &inner))
		return;
	FUZZ_CHECK(cursor[0] == 'C' && slot < 16384, "cluster cursor with slot %u", slot);
	FUZZ_CHECK(!inner[0] || cursor_node_decode(inner, scan, after), "cluster cursor with a bad node cursor");
	cursor_cluster_encode(again, slot, inner);
	FUZZ_CHECK(strcmp(again, cursor) == 0, "cluster cursor does not re-encode to itself");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* what a `cursor` parameter can hold: at most 512 bytes, no NUL */
	char *cursor = fuzz_strndup((const char *)data, size < BACKEND_CURSOR_MAX ? size : BACKEND_CURSOR_MAX);

	check_node(cursor);
	check_cluster(cursor);
	for (unsigned n = 1; n <= 9; n++)
		check_walk(cursor, n);
	check_encode((struct fuzz_in){data, size});
	free(cursor);
	return 0;
}
