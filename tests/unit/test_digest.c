/* Unit tests for digest.c: SHA-1 and SHA-256 against the FIPS 180 examples
 * and other published vectors, across the padding boundaries. */
#include <stdlib.h>

#include "base/digest.h"
#include "unit.h"

struct vector {
	const char *input; /* NULL: a million 'a' */
	const char *sha1, *sha256;
};

static const struct vector VECTORS[] = {
    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrs"
     "tnopqrstu",
     "a49b2446a02c645bf419f995b67091253a04a259", "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
     "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"},
    {NULL, "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void check_vector(const struct vector *v)
{
	uint8_t h1[DIGEST_SHA1_LEN], h256[DIGEST_SHA256_LEN];
	char hex[2 * DIGEST_SHA256_LEN + 1];
	char *million = NULL;
	const char *in = v->input;
	size_t len;

	if (!in) {
		million = malloc(1000000);
		if (!million)
			abort();
		memset(million, 'a', 1000000);
		in = million;
		len = 1000000;
	} else {
		len = strlen(in);
	}
	digest_sha1(in, len, h1);
	digest_hex(h1, sizeof h1, hex);
	CHECK(strcmp(hex, v->sha1) == 0, "sha1 of %zu bytes: %s, want %s", len, hex, v->sha1);
	digest_sha256(in, len, h256);
	digest_hex(h256, sizeof h256, hex);
	CHECK(strcmp(hex, v->sha256) == 0, "sha256 of %zu bytes: %s, want %s", len, hex, v->sha256);
	free(million);
}

/* Lengths around the 55/56/64-byte padding edges must each give a distinct
 * digest that does not depend on bytes past the end of the input. */
static void check_boundaries(void)
{
	char buf[200];
	uint8_t a[DIGEST_SHA256_LEN], b[DIGEST_SHA256_LEN];

	memset(buf, 'x', sizeof buf);
	for (size_t len = 50; len <= 130; len++) {
		digest_sha256(buf, len, a);
		buf[len] = 'y';
		digest_sha256(buf, len, b);
		buf[len] = 'x';
		CHECK(memcmp(a, b, sizeof a) == 0, "sha256 of %zu bytes reads past its input", len);
		digest_sha256(buf, len + 1, b);
		CHECK(memcmp(a, b, sizeof a) != 0, "sha256 of %zu and %zu bytes agree", len, len + 1);
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof VECTORS / sizeof VECTORS[0]; i++)
		check_vector(&VECTORS[i]);
	check_boundaries();
	return unit_done();
}
