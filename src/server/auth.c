/* auth: the auth file, key lookup, rights, rate budgets. See auth.h. */
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth {
	atomic_uint refs;
	size_t n;
	struct auth_key keys[];
};

static const struct {
	const char *word;
	unsigned bit;
} RIGHTS[] = {{"read", AUTH_READ}, {"lock", AUTH_LOCK}, {"metrics", AUTH_METRICS}, {"admin", AUTH_ADMIN}};

bool auth_rights_parse(const char *s, size_t len, unsigned *out)
{
	const char *end = s + len;

	*out = 0;
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t wlen = (size_t)((comma ? comma : end) - s);
		unsigned bit = 0;

		for (size_t i = 0; i < sizeof RIGHTS / sizeof RIGHTS[0]; i++)
			if (strlen(RIGHTS[i].word) == wlen && memcmp(RIGHTS[i].word, s, wlen) == 0)
				bit = RIGHTS[i].bit;
		if (!bit || (*out & bit))
			return false;
		*out |= bit;
		if (!comma)
			break;
		s = comma + 1;
		if (s == end)
			return false; /* a trailing comma */
	}
	return *out != 0;
}

bool auth_id_valid(const char *s, size_t len)
{
	return len <= AUTH_ID_MAX && lock_name_valid(s, len);
}

bool auth_prefix_valid(const char *s, size_t len)
{
	return (len == 1 && s[0] == '*') || (len > 0 && lock_prefix_valid(s, len));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "sha256:" and 64 lowercase hex digits. */
static bool parse_hash(const char *s, size_t len, uint8_t out[DIGEST_SHA256_LEN])
{
	static const char TAG[] = "sha256:";

	if (len != sizeof TAG - 1 + 2 * DIGEST_SHA256_LEN || memcmp(s, TAG, sizeof TAG - 1) != 0)
		return false;
	s += sizeof TAG - 1;
	for (size_t i = 0; i < DIGEST_SHA256_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

enum { NFIELDS = 4 };

/* Splits a line into whitespace-separated fields; returns how many (at most
 * NFIELDS + 1: more than that is as wrong as one more). */
static size_t split(const char *s, size_t len, const char *f[NFIELDS + 1], size_t flen[NFIELDS + 1])
{
	size_t n = 0, i = 0;

	while (i < len && n <= NFIELDS) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		f[n] = s + i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		flen[n] = (size_t)(s + i - f[n]);
		n++;
	}
	return n;
}

/* Parses one key line into k; false with err (without the line number). */
static bool parse_line(const char *s, size_t len, struct auth_key *k, char *err, size_t errlen)
{
	const char *f[NFIELDS + 1];
	size_t fl[NFIELDS + 1];
	size_t n = split(s, len, f, fl);

	if (n != NFIELDS) {
		snprintf(err, errlen, "expected 4 fields (ID sha256:HEX PREFIX RIGHTS), found %s%zu",
		         n > NFIELDS ? "more than " : "", n > NFIELDS ? (size_t)NFIELDS : n);
		return false;
	}
	if (!auth_id_valid(f[0], fl[0])) {
		snprintf(err, errlen, "the ID must be 1 to %d characters of A-Z a-z 0-9 . _ - : @", AUTH_ID_MAX);
		return false;
	}
	if (!parse_hash(f[1], fl[1], k->hash)) {
		snprintf(err, errlen,
		         "the key must be given as sha256: and the 64 lowercase hex digits of its SHA-256 (never the "
		         "key itself)");
		return false;
	}
	if (!auth_prefix_valid(f[2], fl[2])) {
		snprintf(err, errlen, "the PREFIX must be * or the start of a lock name (A-Z a-z 0-9 . _ - : @)");
		return false;
	}
	if (!auth_rights_parse(f[3], fl[3], &k->rights)) {
		snprintf(err, errlen, "RIGHTS must be a comma list of read, lock, metrics and admin, each once");
		return false;
	}
	memcpy(k->id, f[0], fl[0]);
	k->id[fl[0]] = '\0';
	k->any = fl[2] == 1 && f[2][0] == '*';
	if (!k->any) {
		memcpy(k->prefix, f[2], fl[2]);
		k->prefix[fl[2]] = '\0';
	}
	atomic_init(&k->tat_us, 0);
	atomic_init(&k->requests, 0);
	atomic_init(&k->refused, 0);
	return true;
}

struct auth *auth_parse(const char *text, size_t len, char *err, size_t errlen)
{
	size_t cap = 0, line = 0, *lines; /* each key's line number, for errors */
	const char *p = text, *end = text + len;
	struct auth *a;

	for (const char *q = text; q < end; q++)
		cap += *q == '\n';
	cap = cap + 1 < AUTH_KEYS_MAX ? cap + 1 : AUTH_KEYS_MAX;
	a = calloc(1, sizeof *a + cap * sizeof a->keys[0]);
	lines = calloc(cap, sizeof *lines);
	if (!a || !lines) {
		free(a);
		free(lines);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&a->refs, 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)((nl ? nl : end) - p), skip = 0;
		char why[160];

		line++;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		while (skip < l && (p[skip] == ' ' || p[skip] == '\t'))
			skip++;
		if (skip < l && p[skip] != '#') {
			struct auth_key *k = &a->keys[a->n];
			if (memchr(p, '\0', l)) {
				snprintf(err, errlen, "line %zu: a NUL byte", line);
				goto fail;
			}
			if (a->n == cap) {
				snprintf(err, errlen, "line %zu: more than %d keys", line, AUTH_KEYS_MAX);
				goto fail;
			}
			if (!parse_line(p, l, k, why, sizeof why)) {
				snprintf(err, errlen, "line %zu: %s", line, why);
				goto fail;
			}
			for (size_t i = 0; i < a->n; i++) {
				if (strcmp(a->keys[i].id, k->id) == 0) {
					snprintf(err, errlen, "line %zu: the ID '%s' is used already on line %zu", line,
					         k->id, lines[i]);
					goto fail;
				}
				if (memcmp(a->keys[i].hash, k->hash, sizeof k->hash) == 0) {
					snprintf(err, errlen, "line %zu: the same key as line %zu", line, lines[i]);
					goto fail;
				}
			}
			lines[a->n++] = line;
		}
		p = nl ? nl + 1 : end;
	}
	free(lines);
	return a;
fail:
	explicit_bzero(a, sizeof *a + cap * sizeof a->keys[0]);
	free(a);
	free(lines);
	return NULL;
}

struct auth *auth_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf, why[256];
	size_t len;
	struct auth *a;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(AUTH_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	len = fread(buf, 1, AUTH_FILE_MAX + 1, f);
	if (ferror(f) || len > AUTH_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ? "read error" : "larger than 4 MiB");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	a = auth_parse(buf, len, why, sizeof why);
	free(buf);
	if (!a)
		snprintf(err, errlen, "%s: %s", path, why);
	return a;
}

void auth_ref(struct auth *a)
{
	atomic_fetch_add(&a->refs, 1);
}

void auth_unref(struct auth *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
		explicit_bzero(a->keys, a->n * sizeof a->keys[0]);
		free(a);
	}
}

size_t auth_count(const struct auth *a)
{
	return a->n;
}

const struct auth_key *auth_key_at(const struct auth *a, size_t i)
{
	return &a->keys[i];
}

struct auth_key *auth_find(struct auth *a, const char *key, size_t len)
{
	uint8_t h[DIGEST_SHA256_LEN];
	struct auth_key *found = NULL;

	digest_sha256(key, len, h);
	for (size_t i = 0; i < a->n; i++) {
		unsigned diff = 0;
		for (size_t j = 0; j < sizeof h; j++)
			diff |= (unsigned)(a->keys[i].hash[j] ^ h[j]);
		/* no branch on secret data: select by mask */
		uintptr_t mask = (uintptr_t)0 - (uintptr_t)(diff == 0);
		found = (struct auth_key *)(((uintptr_t)&a->keys[i] & mask) | ((uintptr_t)found & ~mask));
	}
	explicit_bzero(h, sizeof h);
	return found;
}

bool auth_has(const struct auth_key *k, unsigned right)
{
	return (k->rights & (right | AUTH_ADMIN)) != 0;
}

bool auth_covers(const struct auth_key *k, const char *name)
{
	return k->any || (k->rights & AUTH_ADMIN) || strncmp(name, k->prefix, strlen(k->prefix)) == 0;
}

bool auth_list_prefix(const struct auth_key *k, const char *asked, char out[LOCK_NAME_MAX + 1])
{
	size_t la = strlen(asked), lk = strlen(k->prefix);

	if (k->any || (k->rights & AUTH_ADMIN) || (la >= lk && memcmp(asked, k->prefix, lk) == 0)) {
		memcpy(out, asked, la + 1);
		return true;
	}
	if (la < lk && memcmp(k->prefix, asked, la) == 0) {
		memcpy(out, k->prefix, lk + 1);
		return true;
	}
	return false;
}

void auth_count_request(struct auth_key *k)
{
	atomic_fetch_add_explicit(&k->requests, 1, memory_order_relaxed);
}

void auth_count_refused(struct auth_key *k)
{
	atomic_fetch_add_explicit(&k->refused, 1, memory_order_relaxed);
}

bool auth_rate_take(struct auth_key *k, uint64_t now_us, unsigned per_s, uint64_t *retry_ms)
{
	uint64_t interval = 1000000u / per_s, window = interval * per_s;
	uint64_t tat = atomic_load(&k->tat_us), next;

	if (interval == 0)
		return true; /* more than a million a second: no limit worth the name */
	do {
		next = (tat > now_us ? tat : now_us) + interval;
		if (next - now_us > window) {
			*retry_ms = (next - now_us - window + 999) / 1000;
			return false;
		}
	} while (!atomic_compare_exchange_weak(&k->tat_us, &tat, next));
	return true;
}
