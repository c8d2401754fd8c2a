/* Unit tests for slot.c: CRC16/XMODEM against known vectors and the hash-tag
 * rule against slots Redis itself computed (CLUSTER KEYSLOT on Redis 7.0). */
#include "redis/cluster.h"
#include "redis/slot.h"
#include "locks/keys.h"
#include "unit.h"

static void test_crc16(void)
{
	static const struct {
		const char *in;
		uint16_t want;
	} T[] = {
	    {"123456789", 0x31C3}, /* the check value of CRC-16/XMODEM, and the Redis Cluster spec's example */
	    {"", 0x0000},
	    {"A", 0x58E5},
	    {"foo", 0xAF96},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
		CHECK(slot_crc16(T[i].in, strlen(T[i].in)) == T[i].want, "crc16(%s) = 0x%04X, want 0x%04X", T[i].in,
		      slot_crc16(T[i].in, strlen(T[i].in)), T[i].want);
	/* bytes above 0x7f count as unsigned */
	CHECK(slot_crc16("\xff", 1) == 0x1EF0, "crc16(\\xff) = 0x%04X", slot_crc16("\xff", 1));
}

static void test_slots(void)
{
	/* CLUSTER KEYSLOT answers, from a Redis 7.0.15 node */
	static const struct {
		const char *key;
		unsigned want;
	} T[] = {
	    {"foo", 12182},
	    {"{x}wake", 16287},
	    {"{a}wake", 15495},
	    {"{b}wake", 3300},
	    {"123456789", 12739},
	    {"{user1000}.following", 3443},
	    {"{user1000}.followers", 3443},
	    {"foo{}{bar}", 8363},    /* an empty tag: the whole key */
	    {"foo{{bar}}zap", 4015}, /* the tag is "{bar" */
	    {"foo{bar}{zap}", 5061}, /* the first tag only: "bar" */
	    {"{", 4092},             /* no closing brace: the whole key */
	    {"}{", 12793},
	    {"dlock:lock:{orders}", 105},
	    {"dlock:fence:{orders}", 105},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
		CHECK(slot_of_key(T[i].key, strlen(T[i].key)) == T[i].want, "slot_of_key(%s) = %u, want %u", T[i].key,
		      slot_of_key(T[i].key, strlen(T[i].key)), T[i].want);
}

/* Every key of a lock hashes to its name's slot, whatever the prefix. */
static void test_lock_keys_share_a_slot(void)
{
	static const char *const names[] = {"a", "orders", "x:y", "@"};
	static const char *const prefixes[] = {"dlock:", "", "a:b:"};

	for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
		struct keys k;
		if (!keys_init(&k, prefixes[p]))
			continue;
		for (size_t i = 0; i < 4; i++) {
			char key[KEYS_KEY_MAX + 1];
			unsigned want = slot_crc16(names[i], strlen(names[i])) & (SLOT_COUNT - 1);
			for (int t = KEYS_LOCK; t <= KEYS_WAITDL; t++) {
				size_t n = keys_make(&k, (enum keys_type)t, names[i], key);
				CHECK(slot_of_key(key, n) == want, "%s: slot %u, want %u", key, slot_of_key(key, n),
				      want);
			}
		}
	}
}

/* MOVED and ASK replies as cluster nodes word them; anything else is not one. */
static void test_redirects(void)
{
	static const struct {
		const char *err;
		bool ok, ask;
		unsigned slot;
		const char *host;
		int port;
	} T[] = {
	    {"MOVED 3999 127.0.0.1:6381", true, false, 3999, "127.0.0.1", 6381},
	    {"ASK 3999 127.0.0.1:6381", true, true, 3999, "127.0.0.1", 6381},
	    {"MOVED 16383 redis-3.internal:7000", true, false, 16383, "redis-3.internal", 7000},
	    {"MOVED 0 ::1:7000", true, false, 0, "::1", 7000},
	    {"MOVED 1 [::1]:7000", true, false, 1, "::1", 7000},
	    {"MOVED 12 :7000", true, false, 12, "", 7000}, /* unknown endpoint: the node that answered */
	    {"MOVED 16384 h:1", false, false, 0, NULL, 0},
	    {"MOVED -1 h:1", false, false, 0, NULL, 0},
	    {"MOVED 1 h", false, false, 0, NULL, 0},
	    {"MOVED 1 h:0", false, false, 0, NULL, 0},
	    {"MOVED 1 h:65536", false, false, 0, NULL, 0},
	    {"MOVED 1 h:1x", false, false, 0, NULL, 0},
	    {"MOVED 1  h:1", false, false, 0, NULL, 0},
	    {"MOVED1 h:1", false, false, 0, NULL, 0},
	    {"TRYAGAIN Multiple keys request during rehashing of slot", false, false, 0, NULL, 0},
	    {"CLUSTERDOWN Hash slot not served", false, false, 0, NULL, 0},
	    {"ERR unknown", false, false, 0, NULL, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct cluster_redirect r;
		bool ok = cluster_parse_redirect(T[i].err, &r);
		if (!CHECK(ok == T[i].ok, "cluster_parse_redirect(%s): %d", T[i].err, ok) || !ok)
			continue;
		CHECK(r.ask == T[i].ask && r.slot == T[i].slot && r.port == T[i].port && strcmp(r.host, T[i].host) == 0,
		      "cluster_parse_redirect(%s): ask %d slot %u host %s port %d", T[i].err, r.ask, r.slot, r.host,
		      r.port);
	}
}

int main(void)
{
	test_redirects();
	test_crc16();
	test_slots();
	test_lock_keys_share_a_slot();
	return unit_done();
}
