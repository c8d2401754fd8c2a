/* Fuzzes the header values dlockd reads itself (libmicrohttpd hands them
 * over as C strings): the Lock-Token value, lock_token_valid(), and the
 * Content-Type value, params_is_json(), each against a reference written
 * here from its contract; a valid token hashes to the stored form "h:" and
 * 43 base64url characters, the same every time. */
#include "fuzz.h"

#include <strings.h>

#include "base/text.h"
#include "locks/lock.h"
#include "server/params.h"

static bool ref_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool ref_token(const char *s, size_t len)
{
	if (len < 1 || len > LOCK_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!ref_b64url_char(s[i]))
			return false;
	return true;
}

/* application/json, any case, optional whitespace around, then the end or
 * ';' and parameters. */
static bool ref_is_json(const char *s)
{
	static const char MT[] = "application/json";

	s += strspn(s, " \t");
	for (size_t i = 0; i < sizeof MT - 1; i++, s++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s + 'a' - 'A') : *s;
		if (c != MT[i])
			return false;
	}
	s += strspn(s, " \t");
	return *s == '\0' || *s == ';';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	char *value = fuzz_strndup(raw, size); /* as a header value: up to a NUL */
	bool ok;

	/* a token as a byte range (Lock-Token as given, a query or JSON value) */
	ok = lock_token_valid(raw, size);
	FUZZ_CHECK(ok == ref_token(raw, size), "lock_token_valid(%zu bytes) says %d", size, ok);
	if (ok) {
		char h1[LOCK_TOKEN_HASH_LEN + 1], h2[LOCK_TOKEN_HASH_LEN + 1];
		char *tok = fuzz_strndup(raw, size);
		lock_token_hash(tok, h1);
		lock_token_hash(tok, h2);
		FUZZ_CHECK(strlen(h1) == LOCK_TOKEN_HASH_LEN && h1[0] == 'h' && h1[1] == ':',
		           "the stored form is not h: and 43 characters");
		FUZZ_CHECK(ref_token(h1 + 2, LOCK_TOKEN_HASH_LEN - 2), "the stored form is not base64url");
		FUZZ_CHECK(strcmp(h1, h2) == 0, "a token hashes to two stored forms");
		free(tok);
	}
	/* the header as libmicrohttpd gives it */
	FUZZ_CHECK(lock_token_valid(value, strlen(value)) == ref_token(value, strlen(value)),
	           "lock_token_valid disagrees on a C string");
	ok = params_is_json(value);
	FUZZ_CHECK(ok == ref_is_json(value), "params_is_json(\"%.40s\") says %d", value, ok);
	FUZZ_CHECK(!params_is_json(NULL), "params_is_json(NULL) is true");
	free(value);
	return 0;
}
