/* lock: names, tokens, owners. See lock.h. */
#include "locks/lock.h"

#include "base/digest.h"
#include "base/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

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
	case LOCK_INVALID_DATA:
		return "invalid lock data";
	case LOCK_FENCE_EXHAUSTED:
		return "fence exhausted";
	case LOCK_UNCONFIRMED:
		return "not acknowledged by replicas";
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
	/* "." and ".." are dot segments: clients rewrite them (RFC 3986 §5.2.4),
	 * so such a lock could never be addressed again */
	return n > 0 && lock_name_valid(out, (size_t)n) && strcmp(out, ".") != 0 && strcmp(out, "..") != 0;
}

bool lock_token_valid(const char *s, size_t len)
{
	if (len < 1 || len > LOCK_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!memchr(TEXT_B64URL, s[i], 64) || s[i] == '\0')
			return false;
	return true;
}

/* Length of the UTF-8 sequence starting at s (at most len bytes), or 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
bool lock_owner_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	if (len > LOCK_OWNER_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = text_utf8_seq(p + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
			return false;
		i += n;
	}
	return true;
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
	text_b64url_encode(raw, sizeof raw, out);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

void lock_token_hash(const char *token, char out[LOCK_TOKEN_HASH_LEN + 1])
{
	uint8_t h[DIGEST_SHA256_LEN];

	digest_sha256(token, strlen(token), h);
	out[0] = 'h';
	out[1] = ':';
	text_b64url_encode(h, sizeof h, out + 2);
	explicit_bzero(h, sizeof h);
}

int64_t lock_retry_after_s(int64_t ttl_ms)
{
	if (ttl_ms <= 1000)
		return 1;
	return ttl_ms / 1000 + (ttl_ms % 1000 != 0);
}
