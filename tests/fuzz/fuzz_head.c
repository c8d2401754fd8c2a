/* Fuzzes the request-head checks (server/head.h) against a reference written
 * here from RFC 9110/9112 with other means (a table of token characters, a
 * case-folding compare): the verdict on a request line and its header fields,
 * with the same precedence of errors; the Lock-Token and X-Forwarded-For
 * values gathered; the Content-Length bound; and the target's origin form (a
 * suffix of the target, or "/") and path length.
 * Input: "METHOD\nTARGET\nVERSION\n" then one header field per line,
 * "name:value" (a line without ':' is a name without a value). */
#include "fuzz.h"

#include "server/head.h"

static bool tchar(unsigned char c)
{
	static const char EXTRA[] = "!#$%&'*+-.^_`|~";
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && memchr(EXTRA, c, 15));
}

static bool ref_token(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!tchar((unsigned char)s[n]))
			return false;
	return n > 0;
}

static bool same(const char *a, const char *b, size_t n) /* case-folded, first n bytes */
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x |= 0x20;
		if (y >= 'A' && y <= 'Z')
			y |= 0x20;
		if (x != y)
			return false;
		if (!x)
			return true;
	}
	return true;
}

static bool named(const char *name, const char *want)
{
	return strlen(name) == strlen(want) && same(name, want, strlen(want));
}

static bool starts(const char *name, const char *prefix)
{
	return strlen(name) >= strlen(prefix) && same(name, prefix, strlen(prefix));
}

static bool ctl_free(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return false;
	return true;
}

struct field {
	char *name, *value;
};

static enum dl_error reference(const char *method, const char *target, const char *version, const struct field *f,
                               size_t n)
{
	unsigned cl = 0, te = 0, host = 0;
	const char *te_value = NULL;
	bool bad_value = false, bad_name = false;

	for (size_t i = 0; i < n; i++) {
		const char *nm = f[i].name;
		if (f[i].value && !ctl_free(f[i].value))
			bad_value = true;
		if (named(nm, "content-length"))
			cl++;
		else if (named(nm, "transfer-encoding"))
			te++, te_value = f[i].value;
		else if (named(nm, "host"))
			host++;
		else if (!named(nm, "lock-token") && !named(nm, "x-forwarded-for") &&
		         (!ref_token(nm) || starts(nm, "content-length") || starts(nm, "transfer-encoding") ||
		          starts(nm, "host")))
			bad_name = true;
	}
	if (bad_value || bad_name || cl > 1 || te > 1 || host > 1 || (cl && te))
		return DL_BAD_REQUEST;
	if (te && !(te_value && named(te_value, "chunked")))
		return DL_UNSUPPORTED_CODING;
	if (!ref_token(method))
		return DL_BAD_REQUEST;
	for (const char *p = target; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return DL_BAD_REQUEST;
	if (strcmp(version, "HTTP/1.1") == 0 && !host)
		return DL_BAD_REQUEST;
	return DL_OK;
}

static void check_target(const char *target)
{
	const char *o = head_origin_form(target);
	size_t tl = strlen(target), ol = strlen(o), pl = head_path_len(o);

	FUZZ_CHECK(strcmp(o, "/") == 0 || (ol <= tl && o == target + (tl - ol)), "origin form is no suffix");
	FUZZ_CHECK(o == target || o[0] == '/' || o[0] == '?', "an absolute target's origin form starts with '%c'",
	           o[0]);
	FUZZ_CHECK(pl <= ol && (o[pl] == '\0' || o[pl] == '?') && !memchr(o, '?', pl), "path length %zu", pl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const char *s;
	size_t n, nf = 0;
	char *line[3];
	struct field f[64];
	struct head_scan h;
	const char *detail = NULL, *want_token = NULL;
	enum dl_error got, want;
	char joined[4096] = "";
	unsigned tokens = 0;

	for (int i = 0; i < 3; i++) {
		if (!fuzz_field(&in, '\n', &s, &n))
			s = "", n = 0;
		line[i] = fuzz_strndup(s, n);
	}
	memset(&h, 0, sizeof h);
	while (nf < 64 && fuzz_field(&in, '\n', &s, &n)) {
		const char *colon = memchr(s, ':', n);
		f[nf].name = fuzz_strndup(s, colon ? (size_t)(colon - s) : n);
		f[nf].value = colon ? fuzz_strndup(colon + 1, n - (size_t)(colon - s) - 1) : NULL;
		head_scan_add(&h, f[nf].name, f[nf].value);
		if (named(f[nf].name, "lock-token"))
			tokens++, want_token = f[nf].value;
		if (named(f[nf].name, "x-forwarded-for") && strlen(joined) < 3000)
			snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", joined[0] ? "," : "",
			         f[nf].value ? f[nf].value : "");
		nf++;
	}
	got = head_framing_error(&h, &detail);
	if (got == DL_OK)
		got = head_request_line_error(line[0], line[1], line[2], &h, &detail);
	want = reference(line[0], line[1], line[2], f, nf);
	FUZZ_CHECK(got == want, "verdict %d, the reference says %d", (int)got, (int)want);
	FUZZ_CHECK(got == DL_OK || (detail && detail[0]), "an error without a detail");
	FUZZ_CHECK(h.lock_tokens == tokens && h.lock_token == want_token, "Lock-Token gathered wrongly");
	FUZZ_CHECK(strlen(h.forwarded) < sizeof h.forwarded && strncmp(h.forwarded, joined, strlen(h.forwarded)) == 0,
	           "X-Forwarded-For is not the joined values, cut at its size");
	if (strlen(joined) < sizeof h.forwarded)
		FUZZ_CHECK(strcmp(h.forwarded, joined) == 0, "X-Forwarded-For cut though it fits");
	check_target(line[1]);
	/* A Content-Length as libmicrohttpd accepts it: digits only. */
	if (line[2][0] && strspn(line[2], "0123456789") == strlen(line[2])) {
		const char *d = line[2] + strspn(line[2], "0");
		bool above = strlen(d) > 7 || (d[0] && atol(d) > 1048576);
		FUZZ_CHECK(head_length_above(line[2], 1048576) == above, "Content-Length %.40s against 1 MiB", line[2]);
	}
	for (size_t i = 0; i < nf; i++) {
		free(f[i].name);
		free(f[i].value);
	}
	for (int i = 0; i < 3; i++)
		free(line[i]);
	return 0;
}
