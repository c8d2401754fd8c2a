/* digest: SHA-1 and SHA-256 (FIPS 180-4) over byte strings, and lowercase hex.
 * Pure computation, no I/O. Used to keep lock tokens out of Redis (only their
 * SHA-256 is stored) and to name the Lua scripts by their SHA-1, as Redis does. */
#ifndef DLOCKD_DIGEST_H
#define DLOCKD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum { DIGEST_SHA1_LEN = 20, DIGEST_SHA256_LEN = 32 };

void digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_LEN]);
void digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_LEN]);

/* Writes the 2 * len lowercase hex digits of bytes and a NUL into out. */
void digest_hex(const uint8_t *bytes, size_t len, char *out);

#endif
