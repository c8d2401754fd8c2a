/* head: what dlockd checks of a request's head itself — the request line and
 * the header fields as libmicrohttpd hands them over, before any body byte is
 * read: framing that two parsers could read differently (the smuggling
 * vectors of RFC 9112 §6.3/§11.2), tokens and control characters, Host, and
 * the request target's form. Pure: strings in, a verdict out; no I/O. */
#ifndef DLOCKD_HEAD_H
#define DLOCKD_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/errors.h"

/* What the header fields said, gathered one field at a time. */
struct head_scan {
	unsigned lock_tokens;
	const char *lock_token; /* the last Lock-Token value (points into the caller's strings) */
	unsigned authorizations;
	const char *authorization; /* the last Authorization value (likewise) */
	unsigned content_lengths, transfer_encodings, hosts;
	const char *transfer_encoding;
	const char *bad_name; /* the first name that is no token, or a mangled framing header's */
	bool bad_value;       /* a value holds a control character */
	char forwarded[256];  /* the X-Forwarded-For values, joined by commas (cut at the size) */
};

/* Adds one header field (value may be NULL: none). h must start zeroed. */
void head_scan_add(struct head_scan *h, const char *name, const char *value);

/* Whether the request's framing is unambiguous: header names are tokens
 * (RFC 9110 §5.1), values hold no control characters but HTAB,
 * Content-Length, Transfer-Encoding and Host come at most once and not both
 * length headers, and the only transfer coding is chunked. Else the error to
 * answer (before any body is read, closing the connection: bytes after a
 * request we cannot frame must never run as another request), with *detail. */
enum dl_error head_framing_error(const struct head_scan *h, const char **detail);

/* The request line: the method must be a token, the target (as received) free
 * of spaces and control characters, and an HTTP/1.1 request must name its
 * Host. DL_OK, or the error with *detail. */
enum dl_error head_request_line_error(const char *method, const char *target, const char *version,
                                      const struct head_scan *h, const char **detail);

/* Whether a Content-Length value (1*DIGIT, as libmicrohttpd accepted it)
 * exceeds max, leading zeros and all. */
bool head_length_above(const char *content_length, unsigned long max);

/* A request target in origin form: an absolute-form target
 * ("http://host/path?query") is served by its path (RFC 9112 §3.2.2); the
 * result is a suffix of target, or "/". */
const char *head_origin_form(const char *target);

/* The length of a target's path: up to the '?' of its query. */
size_t head_path_len(const char *target);

#endif
