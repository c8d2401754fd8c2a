/* lock: names, tokens, owners, time formatting. See lock.h. */
#include "locks/lock.h"

#include "base/digest.h"
#include "base/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char *lock_outcome_str(enum lock_outcome o)
{
	switch (o) {
	case LOCK_GRANTED:
		return "granted";
	case LOCK_REACQUIRED:
		return "reacquired";
	case LOCK_RENEWED:
		return "renewed";
	case LOCK_RELEASED:
		return "released";
	case LOCK_FOUND:
		return "found";
	case LOCK_HELD:
		return "held";
	case LOCK_RESERVED:
		return "reserved for a waiter";
	case LOCK_NOT_HELD:
		return "not held";
	case LOCK_TOKEN_MISMATCH:
		return "token mismatch";
	case LOCK_UNAVAILABLE:
		return "backend unavailable";
	case LOCK_CANCELLED:
		return "cancelled";
	case LOCK_BACKEND_ERROR:
		return "backend error";
	}
	return "unknown";
}

static bool name_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == ':' || c == '@';
}

bool lock_prefix_valid(const char *s, size_t len)
{
	if (len > LOCK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_byte((unsigned char)s[i]))
			return false;
	return true;
}

bool lock_name_valid(const char *s, size_t len)
{
	return len >= 1 && lock_prefix_valid(s, len);
}

bool lock_name_decode(const char *raw, size_t len, char out[LOCK_NAME_MAX + 1])
{
	long n = text_percent_decode(raw, len, out, LOCK_NAME_MAX + 1, false);
	return n > 0 && lock_name_valid(out, (size_t)n);
}

bool lock_token_valid(const char *s, size_t len)
{
	if (len < 1 || len > LOCK_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!memchr(B64URL, s[i], sizeof B64URL - 1) || s[i] == '\0')
			return false;
	return true;
}

/* Length of the UTF-8 sequence starting at s (at most len bytes), or 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		v = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		v = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

bool lock_owner_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	if (len > LOCK_OWNER_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_seq(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
			return false;
		i += n;
	}
	return true;
}

size_t lock_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = B64URL[(v >> 18) & 63];
		out[o++] = B64URL[(v >> 12) & 63];
		out[o++] = B64URL[(v >> 6) & 63];
		out[o++] = B64URL[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = B64URL[(v >> 18) & 63];
		out[o++] = B64URL[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = B64URL[(v >> 18) & 63];
		out[o++] = B64URL[(v >> 12) & 63];
		out[o++] = B64URL[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(char c)
{
	const char *p = c ? memchr(B64URL, c, sizeof B64URL - 1) : NULL;
	return p ? (int)(p - B64URL) : -1;
}

long lock_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		return -1;
	return (long)o;
}

int lock_token_new(char out[LOCK_TOKEN_LEN + 1])
{
	unsigned char raw[LOCK_TOKEN_LEN * 3 / 4];
	size_t got = 0;

	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	lock_b64url_encode(raw, sizeof raw, out);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

void lock_token_hash(const char *token, char out[LOCK_TOKEN_HASH_LEN + 1])
{
	uint8_t h[DIGEST_SHA256_LEN];

	digest_sha256(token, strlen(token), h);
	out[0] = 'h';
	out[1] = ':';
	lock_b64url_encode(h, sizeof h, out + 2);
	explicit_bzero(h, sizeof h);
}

void lock_format_time(int64_t epoch_ms, char out[LOCK_TIME_LEN + 1])
{
	time_t secs = (time_t)(epoch_ms / 1000);
	int ms = (int)(epoch_ms % 1000);
	struct tm tm;

	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		snprintf(out, LOCK_TIME_LEN + 1, "%s",
		         epoch_ms < 0 ? "0000-01-01T00:00:00.000Z" : "9999-12-31T23:59:59.999Z");
		return;
	}
	/* The modulos only tell the compiler the fields' widths. */
	snprintf(out, LOCK_TIME_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
	         (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
	         (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
}

int64_t lock_retry_after_s(int64_t ttl_ms)
{
	if (ttl_ms <= 1000)
		return 1;
	return ttl_ms / 1000 + (ttl_ms % 1000 != 0);
}
