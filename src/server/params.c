/* params: query-string and JSON-body parameters. See params.h. */
#include "server/params.h"

#include "base/text.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const NAMES[PARAM_COUNT] = {
    [PARAM_TTL] = "ttl_ms",  [PARAM_OWNER] = "owner",   [PARAM_TOKEN] = "token",  [PARAM_PREFIX] = "prefix",
    [PARAM_LIMIT] = "limit", [PARAM_CURSOR] = "cursor", [PARAM_WAIT] = "wait_ms",
};

static int param_lookup(const char *name, size_t len)
{
	for (int i = 0; i < PARAM_COUNT; i++)
		if (strlen(NAMES[i]) == len && memcmp(NAMES[i], name, len) == 0)
			return i;
	return -1;
}

bool params_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

bool params_json_too_deep(const char *s, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return true;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return false;
}

static bool parse_decimal(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool b64url_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!lock_token_valid(s + i, 1))
			return false;
	return true;
}

/* What a value came as: numbers may only come as query text or JSON integers. */
enum value_form {
	FORM_NUMBER_OK, /* query text, or a JSON integer's digits */
	FORM_STRING,    /* a JSON string */
	FORM_BAD,       /* undecodable, or a JSON type no parameter takes: the parameter's own error */
};

/* Validates and stores one value of parameter id, given as text v[0..len). */
static enum dl_error set_string(struct params *p, const struct params_rules *r, int id, const char *v, size_t len,
                                enum value_form form, char *detail, size_t dlen)
{
	bool number_ok = form == FORM_NUMBER_OK, usable = form != FORM_BAD;
	int64_t n;

	switch (id) {
	case PARAM_TTL:
		if (!number_ok || !parse_decimal(v, len, &n)) {
			snprintf(detail, dlen, "ttl_ms must be an integer number of milliseconds");
			return DL_INVALID_TTL;
		}
		if (n < r->min_ttl_ms || n > r->max_ttl_ms) {
			snprintf(detail, dlen, "ttl_ms must be between %lld and %lld", (long long)r->min_ttl_ms,
			         (long long)r->max_ttl_ms);
			return DL_INVALID_TTL;
		}
		p->ttl_ms = n;
		return DL_OK;
	case PARAM_WAIT:
		if (!number_ok || !parse_decimal(v, len, &n) || n > r->max_wait_ms) {
			snprintf(detail, dlen, "wait_ms must be an integer between 0 and %lld",
			         (long long)r->max_wait_ms);
			return DL_INVALID_WAIT;
		}
		p->wait_ms = n;
		return DL_OK;
	case PARAM_LIMIT:
		if (!number_ok || !parse_decimal(v, len, &n) || n < 1 || n > PARAMS_LIMIT_MAX) {
			snprintf(detail, dlen, "limit must be an integer between 1 and %d", PARAMS_LIMIT_MAX);
			return DL_INVALID_LIMIT;
		}
		p->limit = (unsigned)n;
		return DL_OK;
	case PARAM_OWNER:
		if (!usable || !lock_owner_valid(v, len)) {
			snprintf(detail, dlen,
			         "owner must be at most %d bytes of UTF-8 text without control characters",
			         LOCK_OWNER_MAX);
			return DL_INVALID_OWNER;
		}
		memcpy(p->owner, v, len);
		p->owner[len] = '\0';
		return DL_OK;
	case PARAM_TOKEN:
		if (!usable || !lock_token_valid(v, len)) {
			snprintf(detail, dlen, "token must be the token returned by an acquire");
			return DL_INVALID_TOKEN;
		}
		memcpy(p->token, v, len);
		p->token[len] = '\0';
		return DL_OK;
	case PARAM_PREFIX:
		if (!usable || !lock_prefix_valid(v, len)) {
			snprintf(detail, dlen, "prefix must be at most %d bytes of A-Z a-z 0-9 . _ - : @",
			         LOCK_NAME_MAX);
			return DL_INVALID_PREFIX;
		}
		memcpy(p->prefix, v, len);
		p->prefix[len] = '\0';
		return DL_OK;
	case PARAM_CURSOR:
		if (!usable || len == 0 || len > BACKEND_CURSOR_MAX || !b64url_chars(v, len)) {
			snprintf(detail, dlen, "cursor must be a next_cursor value from a previous page");
			return DL_INVALID_CURSOR;
		}
		memcpy(p->cursor, v, len);
		p->cursor[len] = '\0';
		return DL_OK;
	}
	return DL_INTERNAL;
}

static enum dl_error parse_query(struct params *p, const struct params_rules *r, const char *q, size_t qlen,
                                 char *detail, size_t dlen)
{
	size_t i = 0;

	while (i < qlen) {
		size_t end = i, eq;
		char key[32], val[BACKEND_CURSOR_MAX + 1];
		long kl, vl;
		int id;
		enum dl_error e;

		while (end < qlen && q[end] != '&')
			end++;
		if (end == i) {
			i++;
			continue;
		}
		eq = i;
		while (eq < end && q[eq] != '=')
			eq++;
		kl = text_percent_decode(q + i, eq - i, key, sizeof key, true);
		id = kl < 0 ? -1 : param_lookup(key, (size_t)kl);
		if (id < 0 || !(r->allowed & PARAMS_BIT(id))) {
			snprintf(detail, dlen, "unknown query parameter '%s'", kl < 0 ? "?" : key);
			/* Echo only short, printable names back. */
			for (char *c = detail; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					*c = '?';
			return DL_INVALID_PARAMETER;
		}
		if (p->given & PARAMS_BIT(id)) {
			snprintf(detail, dlen, "query parameter '%s' is given twice", NAMES[id]);
			return DL_INVALID_PARAMETER;
		}
		vl = eq < end ? text_percent_decode(q + eq + 1, end - eq - 1, val, sizeof val, true) : 0;
		if (eq == end)
			val[0] = '\0';
		/* Too long or badly escaped: the error names the parameter. */
		e = set_string(p, r, id, val, vl < 0 ? 0 : (size_t)vl, vl < 0 ? FORM_BAD : FORM_NUMBER_OK, detail,
		               dlen);
		if (e != DL_OK)
			return e;
		p->given |= PARAMS_BIT(id);
		i = end + 1;
	}
	return DL_OK;
}

static enum dl_error parse_body(struct params *p, const struct params_rules *r, const char *body, size_t blen,
                                char *detail, size_t dlen)
{
	json_error_t jerr;
	json_t *root;
	const char *key;
	size_t key_len;
	json_t *value;
	enum dl_error e = DL_OK;

	if (params_json_too_deep(body, blen, PARAMS_JSON_DEPTH_MAX)) {
		snprintf(detail, dlen, "the JSON body nests deeper than %d levels", PARAMS_JSON_DEPTH_MAX);
		return DL_INVALID_JSON;
	}
	/* NUL inside strings is valid JSON: let the parameter's own rule reject it. */
	root = json_loadb(body, blen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		snprintf(detail, dlen, "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
		         jerr.column);
		return DL_INVALID_JSON;
	}
	if (!json_is_object(root)) {
		snprintf(detail, dlen, "the body must be a JSON object");
		e = DL_INVALID_JSON;
		goto out;
	}
	/* Keys may hold NUL bytes: compare them by their full length. */
	json_object_keylen_foreach(root, key, key_len, value)
	{
		int id = param_lookup(key, key_len);
		if (id < 0 || !(r->allowed & PARAMS_BIT(id))) {
			snprintf(detail, dlen, "unknown body member '%.*s'", (int)(key_len < 40 ? key_len : 40), key);
			for (char *c = detail; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					*c = '?';
			e = DL_INVALID_PARAMETER;
			goto out;
		}
		if (json_is_null(value))
			continue; /* an explicit null means "not given" */
		if (p->given & PARAMS_BIT(id)) {
			snprintf(detail, dlen, "'%s' is given both in the query and in the body", NAMES[id]);
			e = DL_INVALID_PARAMETER;
			goto out;
		}
		if (id == PARAM_TTL || id == PARAM_LIMIT || id == PARAM_WAIT) {
			json_int_t n = json_is_integer(value) ? json_integer_value(value) : -1;
			char digits[24];
			int len = snprintf(digits, sizeof digits, "%lld", (long long)n);
			e = set_string(p, r, id, digits, (size_t)len,
			               json_is_integer(value) && n >= 0 ? FORM_NUMBER_OK : FORM_STRING, detail, dlen);
		} else if (json_is_string(value)) {
			e = set_string(p, r, id, json_string_value(value), json_string_length(value), FORM_STRING,
			               detail, dlen);
		} else {
			/* A wrong type is reported as that parameter's own error. */
			e = set_string(p, r, id, "", 0, FORM_BAD, detail, dlen);
		}
		if (e != DL_OK)
			goto out;
		p->given |= PARAMS_BIT(id);
	}
out:
	json_decref(root);
	return e;
}

enum dl_error params_parse(struct params *p, const struct params_rules *r, const char *query, size_t qlen,
                           const char *body, size_t blen, const char *content_type, char *detail, size_t dlen)
{
	enum dl_error e;

	memset(p, 0, sizeof *p);
	p->limit = 100;
	detail[0] = '\0';
	if (query && qlen) {
		e = parse_query(p, r, query, qlen, detail, dlen);
		if (e != DL_OK)
			return e;
	}
	if (blen == 0)
		return DL_OK;
	if (!r->body_allowed) {
		snprintf(detail, dlen, "this request takes no body");
		return DL_INVALID_PARAMETER;
	}
	if (!params_is_json(content_type)) {
		snprintf(detail, dlen,
		         "send parameters as a JSON object with Content-Type: application/json, "
		         "or in the query string");
		return DL_UNSUPPORTED_MEDIA_TYPE;
	}
	return parse_body(p, r, body, blen, detail, dlen);
}
