/* Fuzzes the lock name a request path carries: lock_name_decode() (percent-
 * decoding and validation of a raw URI segment), lock_name_valid() and
 * lock_prefix_valid(), against a reference written here from the rules in
 * lock.h. A decoded name re-validates, and decodes again to itself both as
 * it is and fully percent-encoded. */
#include "fuzz.h"

#include "locks/lock.h"

static bool ref_name_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || strchr("._-:@", c);
}

static int ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes in[0..len) into out (len + 1 bytes); -1 on a bad escape. */
static long ref_decode(const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (len - i < 3 || ref_hex((unsigned char)in[i + 1]) < 0 || ref_hex((unsigned char)in[i + 2]) < 0)
			return -1;
		out[o++] = (char)(ref_hex((unsigned char)in[i + 1]) * 16 + ref_hex((unsigned char)in[i + 2]));
		i += 2;
	}
	return (long)o;
}

static bool ref_prefix(const char *s, size_t len)
{
	if (len > LOCK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!ref_name_byte((unsigned char)s[i]) || s[i] == '\0')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	char out[LOCK_NAME_MAX + 1], again[LOCK_NAME_MAX + 1], enc[3 * LOCK_NAME_MAX + 1];
	char *ref = malloc(size + 1);
	long n;
	bool ok, want;

	if (!ref)
		abort();
	FUZZ_CHECK(lock_prefix_valid(raw, size) == ref_prefix(raw, size), "lock_prefix_valid disagrees");
	FUZZ_CHECK(lock_name_valid(raw, size) == (size >= 1 && ref_prefix(raw, size)), "lock_name_valid disagrees");

	n = ref_decode(raw, size, ref);
	want = n >= 1 && ref_prefix(ref, (size_t)n) && !(n == 1 && ref[0] == '.') &&
	       !(n == 2 && ref[0] == '.' && ref[1] == '.');
	ok = lock_name_decode(raw, size, out);
	FUZZ_CHECK(ok == want, "lock_name_decode says %d, the rules say %d", ok, want);
	if (ok) {
		size_t len = strlen(out);
		FUZZ_CHECK((long)len == n && memcmp(out, ref, len) == 0, "decoded name differs from the reference");
		FUZZ_CHECK(lock_name_valid(out, len), "a decoded name does not re-validate");
		FUZZ_CHECK(lock_name_decode(out, len, again) && strcmp(again, out) == 0,
		           "a decoded name does not decode to itself");
		for (size_t i = 0; i < len; i++)
			snprintf(enc + 3 * i, 4, "%%%02X", (unsigned char)out[i]);
		FUZZ_CHECK(lock_name_decode(enc, 3 * len, again) && strcmp(again, out) == 0,
		           "a fully percent-encoded name does not decode to itself");
	}
	free(ref);
	return 0;
}
