/* Fuzzes the auth file's parser (auth.c): any bytes either parse into keys
 * that each obey the file's rules (an ID and PREFIX that validate, rights
 * among the four, distinct IDs and hashes) or are refused with an error that
 * names a line within the input — never a crash or a half-built table. Each
 * key of a table is found by nothing but its own hash, and the input's first
 * line, used as a presented key, finds at most one entry. */
#include "fuzz.h"

#include "server/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct auth *a = auth_parse((const char *)data, size, err, sizeof err);
	size_t lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (!a) {
		unsigned long line = 0;
		FUZZ_CHECK(sscanf(err, "line %lu:", &line) == 1 || strcmp(err, "out of memory") == 0,
		           "a refusal does not name its line: %s", err);
		FUZZ_CHECK(line <= lines, "the error names line %lu of %zu", line, lines);
		return 0;
	}
	size_t n = auth_count(a);
	FUZZ_CHECK(n <= lines, "%zu keys from %zu lines", n, lines);
	/* auth_find of data's first line: at most one match, and only by hash */
	const uint8_t *nl = memchr(data, '\n', size);
	size_t flen = nl ? (size_t)(nl - data) : size;
	struct auth_key *k = auth_find(a, (const char *)data, flen);
	if (k) {
		uint8_t h[DIGEST_SHA256_LEN];
		digest_sha256(data, flen, h);
		FUZZ_CHECK(memcmp(h, k->hash, sizeof h) == 0, "auth_find returned a key of another hash");
	}
	auth_unref(a);
	/* parse again: a table's keys each obey the rules */
	a = auth_parse((const char *)data, size, err, sizeof err);
	FUZZ_CHECK(a && auth_count(a) == n, "the same input parsed differently");
	for (size_t i = 0; i < n; i++) {
		const struct auth_key *ki = auth_key_at(a, i);
		FUZZ_CHECK(auth_id_valid(ki->id, strlen(ki->id)), "key %zu: an invalid ID was kept", i);
		FUZZ_CHECK(ki->any ? ki->prefix[0] == '\0' : auth_prefix_valid(ki->prefix, strlen(ki->prefix)),
		           "key %zu: an invalid PREFIX was kept", i);
		FUZZ_CHECK(ki->rights && !(ki->rights & ~(unsigned)(AUTH_READ | AUTH_LOCK | AUTH_METRICS | AUTH_ADMIN)),
		           "key %zu: rights 0x%x", i, ki->rights);
		for (size_t j = 0; j < i; j++) {
			const struct auth_key *kj = auth_key_at(a, j);
			FUZZ_CHECK(strcmp(ki->id, kj->id) != 0, "keys %zu and %zu share an ID", j, i);
			FUZZ_CHECK(memcmp(ki->hash, kj->hash, sizeof ki->hash) != 0, "keys %zu and %zu share a hash", j,
			           i);
		}
	}
	auth_unref(a);
	return 0;
}
