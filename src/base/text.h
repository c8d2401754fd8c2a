/* text: small string and format helpers shared across modules —
 * percent-decoding, base64url, RFC 3339 times. Pure; no allocation. */
#ifndef DLOCKD_TEXT_H
#define DLOCKD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TEXT_TIME_LEN = 24 /* "2026-11-23T02:53:24.123Z" */ };

/* Decodes %XX escapes (and '+' as a space when plus_is_space, as in query
 * strings) from in[0..len) into out, which holds cap bytes; a NUL is added.
 * Returns the decoded length, or -1 on a malformed escape or if it does not
 * fit. Decoded bytes may include NUL: callers judge the content. */
long text_percent_decode(const char *in, size_t len, char *out, size_t cap, bool plus_is_space);

/* The base64url alphabet (RFC 4648 §5), 64 characters and a NUL. */
extern const char TEXT_B64URL[];

/* base64url without padding. Encode returns the length written (out must hold
 * 4*ceil(len/3)+1 bytes). Decode returns the decoded length, or -1 for a
 * character outside the alphabet, a length that cannot be base64url, output
 * beyond cap, or non-zero trailing bits. */
size_t text_b64url_encode(const unsigned char *in, size_t len, char *out);
long text_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Formats epoch milliseconds as RFC 3339 UTC with milliseconds into out;
 * times beyond years 0000..9999 are clamped to those bounds. */
void text_format_time(int64_t epoch_ms, char out[TEXT_TIME_LEN + 1]);

#endif
