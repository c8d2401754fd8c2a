/* keys: Redis key naming. See keys.h. */
#include "locks/keys.h"

#include <string.h>

static const char *const TYPE_TAG[] = {
    [KEYS_LOCK] = "lock:{",
    [KEYS_FENCE] = "fence:{",
    [KEYS_QUEUE] = "queue:{",
    [KEYS_WAITDL] = "waitdl:{",
};

bool keys_init(struct keys *k, const char *prefix)
{
	size_t len = strlen(prefix);

	if (len > KEYS_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (prefix[i] < 0x21 || prefix[i] > 0x7e || prefix[i] == '{' || prefix[i] == '}')
			return false;
	memcpy(k->prefix, prefix, len + 1);
	k->prefix_len = len;
	return true;
}

size_t keys_make(const struct keys *k, enum keys_type type, const char *name, char *out)
{
	size_t n = 0, tl = strlen(TYPE_TAG[type]), nl = strnlen(name, LOCK_NAME_MAX);

	memcpy(out + n, k->prefix, k->prefix_len);
	n += k->prefix_len;
	memcpy(out + n, TYPE_TAG[type], tl);
	n += tl;
	memcpy(out + n, name, nl);
	n += nl;
	out[n++] = '}';
	out[n] = '\0';
	return n;
}

size_t keys_wake_channel(const struct keys *k, char *out)
{
	memcpy(out, k->prefix, k->prefix_len);
	memcpy(out + k->prefix_len, "wake", 5);
	return k->prefix_len + 4;
}

static size_t glob_escape(const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (strchr("*?[]\\^", in[i]))
			out[n++] = '\\';
		out[n++] = in[i];
	}
	return n;
}

size_t keys_lock_pattern(const struct keys *k, const char *name_prefix, char *out)
{
	size_t n = glob_escape(k->prefix, k->prefix_len, out);
	const char *tag = TYPE_TAG[KEYS_LOCK];

	n += glob_escape(tag, strlen(tag), out + n);
	n += glob_escape(name_prefix, strnlen(name_prefix, LOCK_NAME_MAX), out + n);
	out[n++] = '*';
	out[n] = '\0';
	return n;
}

size_t keys_lock_head(const struct keys *k, char *out)
{
	const char *tag = TYPE_TAG[KEYS_LOCK];
	size_t tl = strlen(tag);

	memcpy(out, k->prefix, k->prefix_len);
	memcpy(out + k->prefix_len, tag, tl + 1);
	return k->prefix_len + tl;
}

bool keys_lock_name(const struct keys *k, const char *key, size_t len, char name[LOCK_NAME_MAX + 1])
{
	const char *tag = TYPE_TAG[KEYS_LOCK];
	size_t tl = strlen(tag), head = k->prefix_len + tl, nl;

	if (len < head + 2 || memcmp(key, k->prefix, k->prefix_len) != 0 || memcmp(key + k->prefix_len, tag, tl) != 0 ||
	    key[len - 1] != '}')
		return false;
	nl = len - head - 1;
	if (!lock_name_valid(key + head, nl))
		return false;
	memcpy(name, key + head, nl);
	name[nl] = '\0';
	return true;
}
