/* Unit tests for auth: the auth file's lines (each wrong field named, with
 * its line), lookup by hash, rights, prefixes (plain string prefixes), list
 * scoping, and the rate budget. */
#include "server/auth.h"

#include <stdlib.h>

#include "unit.h"

/* "sha256:" and the hex SHA-256 of key. */
static const char *hash_of(const char *key)
{
	static char buf[4][8 + 2 * DIGEST_SHA256_LEN];
	static unsigned next;
	char *b = buf[next++ % 4];
	uint8_t h[DIGEST_SHA256_LEN];

	digest_sha256(key, strlen(key), h);
	memcpy(b, "sha256:", 7);
	digest_hex(h, sizeof h, b + 7);
	return b;
}

static struct auth *parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return auth_parse(text, strlen(text), err, errlen);
}

static void expect_bad(const char *text, const char *want)
{
	char err[256];
	struct auth *a = parse(text, err, sizeof err);

	CHECK(!a && strstr(err, want), "%s: expected an error containing '%s', got %s", unit_escz(text), want,
	      a ? "a table" : unit_escz(err));
	auth_unref(a);
}

static void test_file(void)
{
	char err[256], text[1024];
	struct auth *a;

	snprintf(text, sizeof text,
	         "# keys of the payments team\n"
	         "\n"
	         "  ci-runner   %s team-a. lock,read\r\n"
	         "\tscraper %s * metrics  \n"
	         "ops %s * admin",
	         hash_of("k1"), hash_of("k2"), hash_of("k3"));
	a = parse(text, err, sizeof err);
	if (!CHECK(a != NULL, "a good file parses: %s", err))
		return;
	CHECK_INT(auth_count(a), 3, "keys");
	struct auth_key *k = auth_find(a, "k1", 2);
	CHECK(k && strcmp(k->id, "ci-runner") == 0 && strcmp(k->prefix, "team-a.") == 0 && !k->any &&
	          k->rights == (AUTH_LOCK | AUTH_READ),
	      "line 3 read");
	k = auth_find(a, "k2", 2);
	CHECK(k && k->any && k->rights == AUTH_METRICS, "line 4 read (tabs, trailing spaces)");
	CHECK(auth_find(a, "k3", 2) && auth_find(a, "k3", 2)->rights == AUTH_ADMIN, "line 5 (no final newline)");
	CHECK(auth_find(a, "k4", 2) == NULL && auth_find(a, "k1 ", 3) == NULL && auth_find(a, "", 0) == NULL,
	      "unknown keys are not found");
	auth_unref(a);

	a = parse("# nobody\n\n", err, sizeof err);
	CHECK(a && auth_count(a) == 0, "a file of comments is an empty table");
	auth_unref(a);

	snprintf(text, sizeof text, "a %s * read\nb %s\n", hash_of("x"), hash_of("y"));
	expect_bad(text, "line 2: expected 4 fields");
	snprintf(text, sizeof text, "a %s * read extra\n", hash_of("x"));
	expect_bad(text, "line 1: expected 4 fields (ID sha256:HEX PREFIX RIGHTS), found more than 4");
	snprintf(text, sizeof text, "bad/id %s * read\n", hash_of("x"));
	expect_bad(text, "line 1: the ID");
	expect_bad("a secret-key-in-clear * read\n", "line 1: the key must be given as sha256:");
	expect_bad("a sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000 * read\n",
	           "lowercase hex");
	expect_bad("a sha256:abcd * read\n", "line 1: the key");
	snprintf(text, sizeof text, "a %s team/a read\n", hash_of("x"));
	expect_bad(text, "line 1: the PREFIX");
	snprintf(text, sizeof text, "a %s * read,write\n", hash_of("x"));
	expect_bad(text, "line 1: RIGHTS");
	snprintf(text, sizeof text, "a %s * read,read\n", hash_of("x"));
	expect_bad(text, "line 1: RIGHTS");
	snprintf(text, sizeof text, "a %s * read,\n", hash_of("x"));
	expect_bad(text, "line 1: RIGHTS");
	snprintf(text, sizeof text, "a %s * read\n# c\na %s * read\n", hash_of("x"), hash_of("y"));
	expect_bad(text, "line 3: the ID 'a' is used already on line 1");
	snprintf(text, sizeof text, "a %s * read\nb %s * lock\n", hash_of("x"), hash_of("x"));
	expect_bad(text, "line 2: the same key as line 1");
	char nul[128];
	size_t n = (size_t)snprintf(nul, sizeof nul, "a %s * read", hash_of("x"));
	nul[2] = '\0';
	a = auth_parse(nul, n, err, sizeof err);
	CHECK(!a && strstr(err, "line 1: a NUL byte"), "a NUL byte is refused: %s", err);
	auth_unref(a);
}

static void test_rights_and_names(void)
{
	struct auth_key k = {.rights = AUTH_READ};

	snprintf(k.prefix, sizeof k.prefix, "team-a");
	CHECK(auth_has(&k, AUTH_READ) && !auth_has(&k, AUTH_LOCK) && !auth_has(&k, AUTH_METRICS), "read only");
	CHECK(auth_covers(&k, "team-a") && auth_covers(&k, "team-a.x") && auth_covers(&k, "team-ab"),
	      "a plain string prefix: team-a covers team-ab too");
	CHECK(!auth_covers(&k, "team-") && !auth_covers(&k, "team-b.x") && !auth_covers(&k, "xteam-a"),
	      "names outside the prefix");
	k.rights = AUTH_ADMIN;
	CHECK(auth_has(&k, AUTH_LOCK) && auth_has(&k, AUTH_METRICS) && auth_covers(&k, "anything"),
	      "admin: every right on every name");
	k.rights = AUTH_LOCK;
	k.any = true;
	k.prefix[0] = '\0';
	CHECK(auth_covers(&k, "x") && !auth_has(&k, AUTH_READ), "* covers every name, rights still apply");

	unsigned r;
	CHECK(auth_rights_parse("metrics", 7, &r) && r == AUTH_METRICS, "metrics");
	CHECK(!auth_rights_parse("", 0, &r) && !auth_rights_parse(",read", 5, &r) && !auth_rights_parse("Read", 4, &r),
	      "empty, leading comma, case");
}

static void test_list_prefix(void)
{
	struct auth_key k = {.rights = AUTH_READ};
	char out[LOCK_NAME_MAX + 1];

	snprintf(k.prefix, sizeof k.prefix, "team-a.");
	CHECK(auth_list_prefix(&k, "", out) && strcmp(out, "team-a.") == 0, "no prefix asked: the key's");
	CHECK(auth_list_prefix(&k, "team", out) && strcmp(out, "team-a.") == 0, "a shorter one: the key's");
	CHECK(auth_list_prefix(&k, "team-a.jobs", out) && strcmp(out, "team-a.jobs") == 0, "a longer one: as asked");
	CHECK(!auth_list_prefix(&k, "team-b", out) && !auth_list_prefix(&k, "team-a-", out) &&
	          !auth_list_prefix(&k, "zzzzzzzzzzzz", out),
	      "namespaces that share no name");
	k.rights |= AUTH_ADMIN;
	CHECK(auth_list_prefix(&k, "team-b", out) && strcmp(out, "team-b") == 0, "admin lists anything");
}

static void test_rate(void)
{
	struct auth_key k = {0};
	uint64_t retry = 0, t = 5000000;
	unsigned ok = 0;

	for (int i = 0; i < 20; i++)
		ok += auth_rate_take(&k, t, 10, &retry);
	CHECK_INT(ok, 10, "a burst of one second's budget, then no more");
	CHECK(retry >= 1 && retry <= 100, "the next request fits within 100 ms (got %llu)", (unsigned long long)retry);
	CHECK(!auth_rate_take(&k, t + 50000, 10, &retry), "50 ms later: not yet");
	CHECK(auth_rate_take(&k, t + 100000, 10, &retry), "100 ms later: one more");
	ok = 0;
	for (int i = 0; i < 100; i++) /* 10 s at 10 a second: the steady rate */
		ok += auth_rate_take(&k, t + 200000 + (uint64_t)i * 100000, 10, &retry);
	CHECK_INT(ok, 100, "one every 100 ms, forever");
	ok = 0;
	for (int i = 0; i < 30; i++)
		ok += auth_rate_take(&k, t + 60000000, 10, &retry);
	CHECK_INT(ok, 10, "after a long pause: one burst, not the unused past");
}

int main(void)
{
	test_file();
	test_rights_and_names();
	test_list_prefix();
	test_rate();
	return unit_done();
}
