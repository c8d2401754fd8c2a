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

/* The length of the valid UTF-8 sequence at s[0..len) (1-4, no overlongs or
 * surrogates), with its code point in *cp; 0 if it is not one. */
size_t text_utf8_seq(const unsigned char *s, size_t len, uint32_t *cp);
/* Copies in[0..len) into out (cap bytes, NUL added), each byte that starts
 * no valid UTF-8 sequence replaced by U+FFFD; stops before a sequence that
 * would not fit. Returns the length written. Cap 3 * len + 1 always fits. */
size_t text_utf8_repair(const char *in, size_t len, char *out, size_t cap);

#endif
