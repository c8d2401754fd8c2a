/* Fuzzes text.h's helpers over untrusted bytes, each against a reference
 * written here: percent-decoding (both modes, any capacity), base64url
 * (encode then decode is the identity; a decode succeeds exactly on
 * canonical input and re-encodes to it), UTF-8 sequences (Unicode's table of
 * well-formed sequences), text_utf8_repair() (valid UTF-8 out, the input's
 * valid sequences kept, U+FFFD per bad byte, a prefix when cut short),
 * lock_owner_valid(), and RFC 3339 times (parse back to the instant, or
 * clamped). */
#include "fuzz.h"

#include <time.h>

#include "base/text.h"
#include "locks/lock.h"

/* A hex digit's value by its place in a table (text.c computes it). */
static int ref_hex(unsigned char c)
{
	static const char DIGITS[] = "0123456789abcdef";
	const char *p = c ? strchr(DIGITS, c >= 'A' && c <= 'F' ? c + ('a' - 'A') : c) : NULL;

	return p ? (int)(p - DIGITS) : -1;
}

/* Percent-decodes in[0..len) into out (len bytes suffice); -1 on a bad escape. */
static long ref_percent(const char *in, size_t len, char *out, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			if (len - i < 3 || ref_hex((unsigned char)in[i + 1]) < 0 ||
			    ref_hex((unsigned char)in[i + 2]) < 0)
				return -1;
			out[o++] = (char)(ref_hex((unsigned char)in[i + 1]) << 4 | ref_hex((unsigned char)in[i + 2]));
			i += 2;
		} else {
			out[o++] = plus && in[i] == '+' ? ' ' : in[i];
		}
	}
	return (long)o;
}

static void check_percent(const char *in, size_t len, size_t small_cap)
{
	char *want = malloc(len + 1), *got = malloc(len + 1), *enc = malloc(3 * len + 1);

	if (!want || !got || !enc)
		abort();
	for (int plus = 0; plus <= 1; plus++) {
		long w = ref_percent(in, len, want, plus), g;
		size_t caps[] = {len + 1, small_cap};
		for (size_t c = 0; c < 2; c++) {
			size_t cap = caps[c] < len + 1 ? caps[c] : len + 1;
			char *out = malloc(cap ? cap : 1);
			if (!out)
				abort();
			g = text_percent_decode(in, len, cap ? out : NULL, cap, plus);
			if (w < 0 || (size_t)w + 1 > cap) {
				FUZZ_CHECK(g == -1, "percent-decode gave %ld where the reference fails (cap %zu)", g,
				           cap);
			} else {
				FUZZ_CHECK(g == w && memcmp(out, want, (size_t)w) == 0 && out[w] == '\0',
				           "percent-decode gave %ld, the reference %ld (cap %zu)", g, w, cap);
			}
			free(out);
		}
	}
	/* every byte encoded, both hex cases: decodes back to the input */
	for (size_t i = 0; i < len; i++)
		snprintf(enc + 3 * i, 4, i % 2 ? "%%%02x" : "%%%02X", (unsigned char)in[i]);
	FUZZ_CHECK(text_percent_decode(enc, 3 * len, got, len + 1, true) == (long)len && memcmp(got, in, len) == 0,
	           "percent-encoded bytes do not decode to themselves");
	free(want);
	free(got);
	free(enc);
}

static int ref_b64_value(char c)
{
	const char *p = c ? strchr(TEXT_B64URL, c) : NULL;
	return p ? (int)(p - TEXT_B64URL) : -1;
}

static void check_b64url(const uint8_t *in, size_t len)
{
	size_t enc_len = (len * 4 + 2) / 3;
	char *enc = malloc(4 * ((len + 2) / 3) + 1);
	unsigned char *dec = malloc(len + 1);
	long n;
	bool alphabet = true;

	if (!enc || !dec)
		abort();
	/* encode, then decode */
	FUZZ_CHECK(text_b64url_encode(in, len, enc) == enc_len && strlen(enc) == enc_len,
	           "base64url of %zu bytes is not %zu characters", len, enc_len);
	for (size_t i = 0; i < enc_len; i++)
		FUZZ_CHECK(ref_b64_value(enc[i]) >= 0, "base64url output outside the alphabet");
	n = text_b64url_decode(enc, enc_len, dec, len);
	FUZZ_CHECK(n == (long)len && memcmp(dec, in, len) == 0, "base64url does not decode to its input");
	if (len > 0)
		FUZZ_CHECK(text_b64url_decode(enc, enc_len, dec, len - 1) == -1, "base64url decode wrote past cap");

	/* decode the input as text: only canonical base64url succeeds */
	for (size_t i = 0; i < len; i++)
		alphabet = alphabet && ref_b64_value((char)in[i]) >= 0;
	n = text_b64url_decode((const char *)in, len, dec, len);
	if (n >= 0) {
		char *again = malloc(4 * (((size_t)n + 2) / 3) + 1);
		if (!again)
			abort();
		FUZZ_CHECK((size_t)n == len * 3 / 4, "decoded %ld bytes from %zu characters", n, len);
		FUZZ_CHECK(text_b64url_encode(dec, (size_t)n, again) == len && memcmp(again, in, len) == 0,
		           "a decoded base64url text does not re-encode to itself");
		free(again);
	} else if (alphabet && len % 4 != 1) {
		int last = len ? ref_b64_value((char)in[len - 1]) : 0;
		FUZZ_CHECK((len % 4 == 2 && (last & 15)) || (len % 4 == 3 && (last & 3)),
		           "base64url decode refused a canonical text of %zu characters", len);
	}
	free(enc);
	free(dec);
}

/* The length of the well-formed UTF-8 sequence at s (Unicode 15, table
 * 3-7), with its code point; 0 if there is none. */
static size_t ref_utf8(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	*cp = s[0] & (0xFF >> (n + 1));
	for (size_t i = 1; i < n; i++)
		*cp = *cp << 6 | (s[i] & 0x3F);
	return n;
}

static bool ref_valid_utf8(const unsigned char *s, size_t len)
{
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if (!(n = ref_utf8(s + i, len - i, &cp)))
			return false;
	return true;
}

static void check_utf8(const uint8_t *in, size_t len, size_t small_cap)
{
	size_t full_cap = 3 * len + 1, o = 0, got, cut;
	char *want = malloc(full_cap), *out = malloc(full_cap);
	bool owner_ok = len <= LOCK_OWNER_MAX;

	if (!want || !out)
		abort();
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0, rcp = 0;
		size_t n = text_utf8_seq(in + i, len - i, &cp), r = ref_utf8(in + i, len - i, &rcp);
		FUZZ_CHECK(n == r && (n == 0 || cp == rcp), "text_utf8_seq at %zu: %zu U+%X, the table says %zu U+%X",
		           i, n, (unsigned)cp, r, (unsigned)rcp);
		if (r) {
			memcpy(want + o, in + i, r);
			o += r;
			i += r;
			owner_ok = owner_ok && rcp >= 0x20 && rcp != 0x7F && !(rcp >= 0x80 && rcp < 0xA0);
		} else {
			memcpy(want + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			owner_ok = false;
		}
	}
	FUZZ_CHECK(lock_owner_valid((const char *)in, len) == owner_ok, "lock_owner_valid disagrees");
	got = text_utf8_repair((const char *)in, len, out, full_cap);
	FUZZ_CHECK(got == o && memcmp(out, want, o) == 0 && out[o] == '\0',
	           "text_utf8_repair differs from the reference (%zu vs %zu bytes)", got, o);
	FUZZ_CHECK(ref_valid_utf8((unsigned char *)out, got), "text_utf8_repair wrote invalid UTF-8");

	/* cut short: a prefix that ends on a sequence and leaves room for the NUL */
	cut = text_utf8_repair((const char *)in, len, out, small_cap);
	if (small_cap == 0) {
		FUZZ_CHECK(cut == 0, "text_utf8_repair wrote into no room");
	} else {
		FUZZ_CHECK(cut < small_cap && out[cut] == '\0' && cut <= o && memcmp(out, want, cut) == 0,
		           "a cut-short repair is not a prefix");
		FUZZ_CHECK(ref_valid_utf8((unsigned char *)out, cut), "a cut-short repair is not valid UTF-8");
		FUZZ_CHECK(cut == o || cut + 4 >= small_cap, "the repair stopped early with room left");
	}
	free(want);
	free(out);
}

static int digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(s[i] >= '0' && s[i] <= '9', "a time has a non-digit where a digit belongs");
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static void check_time(const uint8_t *in, size_t len)
{
	/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z */
	const int64_t min_ms = INT64_C(-62167219200000), max_ms = INT64_C(253402300799999);
	char out[TEXT_TIME_LEN + 1];
	int64_t ms = 0;
	struct tm tm = {0};

	for (size_t i = 0; i < 8 && i < len; i++)
		ms = (int64_t)((uint64_t)ms << 8 | in[i]);
	if (len > 8 && in[8] % 2) /* half the time, near the present */
		ms %= INT64_C(4102444800000);
	text_format_time(ms, out);
	FUZZ_CHECK(strlen(out) == TEXT_TIME_LEN && out[4] == '-' && out[7] == '-' && out[10] == 'T' && out[13] == ':' &&
	               out[16] == ':' && out[19] == '.' && out[23] == 'Z',
	           "\"%s\" is not RFC 3339 with milliseconds", out);
	if (ms < min_ms) {
		FUZZ_CHECK(strcmp(out, "0000-01-01T00:00:00.000Z") == 0, "%lld ms is not clamped: %s", (long long)ms,
		           out);
		return;
	}
	if (ms > max_ms) {
		FUZZ_CHECK(strcmp(out, "9999-12-31T23:59:59.999Z") == 0, "%lld ms is not clamped: %s", (long long)ms,
		           out);
		return;
	}
	tm.tm_year = digits(out, 4) - 1900;
	tm.tm_mon = digits(out + 5, 2) - 1;
	tm.tm_mday = digits(out + 8, 2);
	tm.tm_hour = digits(out + 11, 2);
	tm.tm_min = digits(out + 14, 2);
	tm.tm_sec = digits(out + 17, 2);
	FUZZ_CHECK((int64_t)timegm(&tm) * 1000 + digits(out + 20, 3) == ms, "%s is not %lld ms", out, (long long)ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t small_cap = size ? data[0] % 16 : 0;

	check_percent((const char *)data, size, small_cap);
	check_b64url(data, size);
	check_utf8(data, size, small_cap);
	check_time(data, size);
	return 0;
}
