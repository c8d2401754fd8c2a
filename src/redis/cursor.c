/* cursor: the list cursors dlockd hands out. See cursor.h. */
#include "redis/cursor.h"

#include <stdio.h>
#include <string.h>

#include "base/text.h"

void cursor_node_encode(const char *scan_cursor, const char *after_name, char out[BACKEND_CURSOR_MAX + 1])
{
	char raw[32 + LOCK_NAME_MAX];
	int n = snprintf(raw, sizeof raw, "%s/%s", scan_cursor, after_name);
	text_b64url_encode((const unsigned char *)raw, (size_t)n, out);
}

bool cursor_node_decode(const char *cursor, char scan[24], char after[LOCK_NAME_MAX + 1])
{
	unsigned char raw[32 + LOCK_NAME_MAX];
	long n = text_b64url_decode(cursor, strlen(cursor), raw, sizeof raw);
	unsigned char *slash;
	size_t digits, name_len;

	if (n < 2)
		return false;
	slash = memchr(raw, '/', (size_t)n);
	if (!slash)
		return false;
	digits = (size_t)(slash - raw);
	if (digits < 1 || digits > 20)
		return false;
	for (size_t i = 0; i < digits; i++)
		if (raw[i] < '0' || raw[i] > '9')
			return false;
	/* a SCAN cursor is an unsigned 64-bit number */
	if (digits == 20 && memcmp(raw, "18446744073709551615", 20) > 0)
		return false;
	name_len = (size_t)n - digits - 1;
	if (name_len > 0 && !lock_name_valid((char *)slash + 1, name_len))
		return false;
	memcpy(scan, raw, digits);
	scan[digits] = '\0';
	memcpy(after, slash + 1, name_len);
	after[name_len] = '\0';
	return true;
}

void cursor_walk_encode(char out[BACKEND_CURSOR_MAX + 1], unsigned node, unsigned skipped, const char *inner)
{
	size_t len = strnlen(inner, BACKEND_CURSOR_MAX - 3); /* node cursors are about 370 chars */
	out[0] = (char)('0' + node);
	out[1] = TEXT_B64URL[(skipped >> 6) & 63];
	out[2] = TEXT_B64URL[skipped & 63];
	memcpy(out + 3, inner, len);
	out[len + 3] = '\0';
}

bool cursor_walk_decode(const char *cursor, unsigned n, unsigned *node, unsigned *skipped, const char **inner)
{
	const char *hi, *lo;

	if (cursor[0] < '0' || cursor[0] > '9' || (unsigned)(cursor[0] - '0') >= n || !cursor[1] || !cursor[2])
		return false;
	hi = strchr(TEXT_B64URL, cursor[1]);
	lo = strchr(TEXT_B64URL, cursor[2]);
	if (!hi || !lo)
		return false;
	*node = (unsigned)(cursor[0] - '0');
	*skipped = (unsigned)((hi - TEXT_B64URL) << 6 | (lo - TEXT_B64URL));
	*inner = cursor + 3;
	return true;
}

void cursor_cluster_encode(char out[BACKEND_CURSOR_MAX + 1], unsigned slot, const char *inner)
{
	size_t len = strnlen(inner, BACKEND_CURSOR_MAX - 4);
	out[0] = 'C';
	out[1] = TEXT_B64URL[(slot >> 12) & 63];
	out[2] = TEXT_B64URL[(slot >> 6) & 63];
	out[3] = TEXT_B64URL[slot & 63];
	memcpy(out + 4, inner, len);
	out[len + 4] = '\0';
}

bool cursor_cluster_decode(const char *cursor, unsigned *slot, const char **inner)
{
	unsigned v = 0;
	char scan[24], after[LOCK_NAME_MAX + 1];

	if (cursor[0] != 'C')
		return false;
	for (int i = 1; i <= 3; i++) {
		const char *p = cursor[i] ? strchr(TEXT_B64URL, cursor[i]) : NULL;
		if (!p)
			return false;
		v = v << 6 | (unsigned)(p - TEXT_B64URL);
	}
	if (v >= 16384 || (cursor[4] && !cursor_node_decode(cursor + 4, scan, after)))
		return false;
	*slot = v;
	*inner = cursor + 4;
	return true;
}
