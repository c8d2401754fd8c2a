/* head: the request head's checks. See head.h. */
#include "server/head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2: 1*tchar. */
static bool is_token(const char *s)
{
	static const char TCHAR[] = "!#$%&'*+-.^_`|~";

	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      strchr(TCHAR, *s)))
			return false;
	return true;
}

/* A name that starts as a framing header's and goes on: what libmicrohttpd
 * makes of a folded framing header ("Content-Length37") or of whitespace
 * before its colon ("Content-Length "). */
static bool mangled_framing(const char *name)
{
	static const char *const FRAMING[] = {"Content-Length", "Transfer-Encoding", "Host"};

	for (size_t i = 0; i < sizeof FRAMING / sizeof FRAMING[0]; i++)
		if (strncasecmp(name, FRAMING[i], strlen(FRAMING[i])) == 0)
			return true;
	return false;
}

/* RFC 9110 §5.5: field values hold no control characters but HTAB. */
static bool value_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

void head_scan_add(struct head_scan *h, const char *name, const char *value)
{
	if (value && !value_ok(value))
		h->bad_value = true;
	if (strcasecmp(name, "Lock-Token") == 0) {
		h->lock_tokens++;
		h->lock_token = value;
	} else if (strcasecmp(name, "Authorization") == 0) {
		h->authorizations++;
		h->authorization = value;
	} else if (strcasecmp(name, "Content-Length") == 0) {
		h->content_lengths++;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		h->transfer_encodings++;
		h->transfer_encoding = value;
	} else if (strcasecmp(name, "Host") == 0) {
		h->hosts++;
	} else if (strcasecmp(name, "X-Forwarded-For") == 0) {
		size_t n = strlen(h->forwarded);
		snprintf(h->forwarded + n, sizeof h->forwarded - n, "%s%s", n ? "," : "", value ? value : "");
	} else if (!h->bad_name && (!is_token(name) || mangled_framing(name))) {
		h->bad_name = name;
	}
}

enum dl_error head_framing_error(const struct head_scan *h, const char **detail)
{
	if (h->bad_value) {
		*detail = "a header value holds a control character";
		return DL_BAD_REQUEST;
	}
	if (h->bad_name) {
		*detail = "a header name is not a token (obs-fold, or whitespace before the colon?)";
		return DL_BAD_REQUEST;
	}
	if (h->content_lengths > 1 || h->transfer_encodings > 1 || h->hosts > 1) {
		*detail = "Content-Length, Transfer-Encoding and Host may each be sent once";
		return DL_BAD_REQUEST;
	}
	if (h->content_lengths && h->transfer_encodings) {
		*detail = "Content-Length and Transfer-Encoding must not both be sent";
		return DL_BAD_REQUEST;
	}
	if (h->transfer_encodings && (!h->transfer_encoding || strcasecmp(h->transfer_encoding, "chunked") != 0)) {
		*detail = "the only transfer coding dlockd accepts is chunked";
		return DL_UNSUPPORTED_CODING;
	}
	return DL_OK;
}

enum dl_error head_request_line_error(const char *method, const char *target, const char *version,
                                      const struct head_scan *h, const char **detail)
{
	if (!is_token(method)) {
		*detail = "the method is not a token";
		return DL_BAD_REQUEST;
	}
	for (const unsigned char *p = (const unsigned char *)target; *p; p++)
		if (*p <= 0x20 || *p == 0x7f) {
			*detail = "the request target holds a space or a control character";
			return DL_BAD_REQUEST;
		}
	if (strcmp(version, "HTTP/1.1") == 0 && h->hosts == 0) {
		*detail = "an HTTP/1.1 request must carry a Host header";
		return DL_BAD_REQUEST;
	}
	return DL_OK;
}

bool head_length_above(const char *content_length, unsigned long max)
{
	const char *digits = content_length + strspn(content_length, "0");

	return strlen(digits) > 18 || strtoull(digits, NULL, 10) > max;
}

const char *head_origin_form(const char *target)
{
	const char *p;

	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return target;
	p = strchr(target, ':') + 3;
	p += strcspn(p, "/?");
	return *p ? p : "/";
}

size_t head_path_len(const char *target)
{
	return strcspn(target, "?");
}
