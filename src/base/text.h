/* text: small string helpers shared by the parsers — percent-decoding.
 * Pure; no allocation. */
#ifndef DLOCKD_TEXT_H
#define DLOCKD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes %XX escapes (and '+' as a space when plus_is_space, as in query
 * strings) from in[0..len) into out, which holds cap bytes; a NUL is added.
 * Returns the decoded length, or -1 on a malformed escape or if it does not
 * fit. Decoded bytes may include NUL: callers judge the content. */
long text_percent_decode(const char *in, size_t len, char *out, size_t cap, bool plus_is_space);

#endif
