/* Fuzzes the escaping of untrusted bytes in log lines (log.c): a request's
 * method and path in the access log, a key ID and lock name in an audit
 * line, and a message, in text and JSON. The
 * lines are caught by pointing stderr at a memory stream. Each call writes
 * exactly one line of printable ASCII; a JSON line is a JSON object, however
 * long its fields; and a field shows every input byte, those that are not
 * printable ASCII as \xNN, or a prefix of them cut at a character and
 * marked "...". */
#include "fuzz.h"

#include <jansson.h>

#include "base/log.h"

/* What a field should read as: the first max bytes of s (0: all), the
 * non-printable ones as \xNN (malloc'd). */
static char *escaped(const char *s, size_t max)
{
	size_t n = strlen(s), o = 0;
	char *e = malloc(4 * n + 1);

	if (!e)
		abort();
	if (max && n > max)
		n = max;
	for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n; p++)
		if (*p < 0x20 || *p >= 0x7f)
			o += (size_t)snprintf(e + o, 5, "\\x%02x", *p);
		else
			e[o++] = (char)*p;
	e[o] = '\0';
	return e;
}

enum kind { ACCESS_LINE, AUDIT_LINE, MESSAGE };

/* Runs one log call with stderr caught: an access line for method and text,
 * an audit line with method as the key ID and text as the name, or a message
 * of text. Returns what was written (malloc'd). */
static char *caught(enum kind kind, const char *method, const char *text, size_t *len)
{
	FILE *saved = stderr;
	char *buf = NULL;
	FILE *mem = open_memstream(&buf, len);

	if (!mem)
		abort();
	stderr = mem;
	if (kind == ACCESS_LINE)
		log_access("203.0.113.9", method, text, 200, 1000, "Uhi00B6e9xlc-0-5a");
	else if (kind == AUDIT_LINE)
		log_audit("acquire", "granted", method, text, 1796070893363632, "203.0.113.9", "Uhi00B6e9xlc-0-5a");
	else
		log_msg(LOG_WARN, "%s", text);
	stderr = saved;
	fclose(mem);
	return buf;
}

/* True if v is what a field reads as: want, or a prefix of it marked "...". */
static bool field_ok(const char *v, const char *want)
{
	size_t n = strlen(v);

	if (strcmp(v, want) == 0)
		return true;
	return n >= 3 && strcmp(v + n - 3, "...") == 0 && n - 3 <= strlen(want) && strncmp(v, want, n - 3) == 0;
}

/* Checks one log line; fields[i] (when not NULL) is what the member or word
 * names[i] should read as. */
static void check_line(const char *line, size_t len, bool json, const char *const fields[2], const char *const names[2])
{
	json_t *obj;

	FUZZ_CHECK(len >= 1 && len <= 2048 && line[len - 1] == '\n', "a log line does not end in a newline");
	for (size_t i = 0; i + 1 < len; i++)
		FUZZ_CHECK(line[i] >= 0x20 && line[i] <= 0x7e, "byte 0x%02x at %zu of a log line",
		           (unsigned char)line[i], i);
	if (!json) {
		for (int i = 0; i < 2 && fields[i]; i++)
			FUZZ_CHECK(strstr(line, fields[i]) || strstr(line, "..."),
			           "field %s is not in the line as escaped", names[i]);
		return;
	}
	obj = json_loadb(line, len - 1, 0, NULL);
	FUZZ_CHECK(obj && json_is_object(obj), "a JSON log line of %zu bytes is not a JSON object", len);
	for (int i = 0; i < 2 && fields[i]; i++) {
		const char *v = json_string_value(json_object_get(obj, names[i]));
		FUZZ_CHECK(v, "the JSON line has no \"%s\"", names[i]);
		FUZZ_CHECK(field_ok(v, fields[i]), "the JSON line's \"%s\" is not the escaped input", names[i]);
	}
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ACCESS[2] = {"method", "path"}, *const AUDIT[2] = {"key", "name"},
	                         *const MSG[2] = {"msg", NULL};
	struct fuzz_in in = {data, size};
	bool json = fuzz_byte(&in) & 1;
	const char *m = "";
	size_t mlen = 0, len;
	char *method, *path, *line, *esc[3];

	log_setup(LOG_DEBUG, json ? LOG_JSON : LOG_TEXT);
	fuzz_field(&in, '\n', &m, &mlen);
	method = fuzz_strndup(m, mlen);
	path = fuzz_strndup((const char *)in.p, in.len);
	esc[0] = escaped(method, 0);
	esc[1] = escaped(path, 0);
	esc[2] = escaped(path, 1023); /* log_msg formats into 1024 bytes first */

	line = caught(ACCESS_LINE, method, path, &len);
	check_line(line, len, json, (const char *const[]){esc[0], esc[1]}, ACCESS);
	free(line);
	if (method[0] && path[0]) { /* an audit line shows an empty field as "-" */
		line = caught(AUDIT_LINE, method, path, &len);
		check_line(line, len, json, (const char *const[]){esc[0], esc[1]}, AUDIT);
		free(line);
	}
	line = caught(MESSAGE, NULL, path, &len);
	check_line(line, len, json, (const char *const[]){esc[2], NULL}, MSG);
	free(line);

	for (int i = 0; i < 3; i++)
		free(esc[i]);
	free(method);
	free(path);
	return 0;
}
