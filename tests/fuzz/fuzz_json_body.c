/* Fuzzes params_parse() on JSON bodies, with each route's rules and a
 * Content-Type (the input's first two bytes pick them; the rest is the
 * body), and params_json_too_deep() against the depth jansson finds.
 * Whatever jansson refuses (duplicates, bad UTF-8, ...) is refused; an
 * accepted body is a JSON object whose members are allowed parameters, the
 * non-null ones given, each within its rules and round-tripping as a query
 * and a body; a refusal comes with a detail. (A detail need not be UTF-8:
 * jansson's messages quote the bytes near an error, and api.c repairs it.) */
#include "fuzz_params.h"

static const char *const TYPES[] = {
    "application/json",   "Application/JSON; charset=utf-8",
    " application/json ", "application/jsonx",
    "text/plain",         NULL,
};

/* The deepest nesting of arrays and objects in j. */
static unsigned depth_of(json_t *j)
{
	unsigned max = 0, d;
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
		{
			d = depth_of(v);
			max = d > max ? d : max;
		}
		return max + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			d = depth_of(v);
			max = d > max ? d : max;
		}
		return max + 1;
	}
	return 0;
}

static int param_of(const char *key, size_t len)
{
	static const char *const NAMES[PARAM_COUNT] = {
	    [PARAM_TTL] = "ttl_ms",  [PARAM_OWNER] = "owner",   [PARAM_TOKEN] = "token",  [PARAM_PREFIX] = "prefix",
	    [PARAM_LIMIT] = "limit", [PARAM_CURSOR] = "cursor", [PARAM_WAIT] = "wait_ms",
	};

	for (int i = 0; i < PARAM_COUNT; i++)
		if (strlen(NAMES[i]) == len && memcmp(NAMES[i], key, len) == 0)
			return i;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct params_rules r = fuzz_route_rules(fuzz_byte(&in));
	const char *ct = TYPES[fuzz_byte(&in) % (sizeof TYPES / sizeof TYPES[0])];
	const char *body = (const char *)in.p;
	size_t blen = in.len;
	char detail[256];
	struct params p;
	enum dl_error e;
	json_t *any, *doc;
	bool deep;

	/* the pre-check against the depth of what jansson reads */
	any = json_loadb(body, blen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (any) {
		unsigned d = depth_of(any);
		for (unsigned max = 0; max <= PARAMS_JSON_DEPTH_MAX + 2; max++)
			FUZZ_CHECK(params_json_too_deep(body, blen, max) == (d > max),
			           "params_json_too_deep(max %u) is wrong for depth %u", max, d);
		json_decref(any);
	}
	deep = params_json_too_deep(body, blen, PARAMS_JSON_DEPTH_MAX);

	e = params_parse(&p, &r, NULL, 0, body, blen, ct, detail, sizeof detail);
	FUZZ_CHECK((e == DL_OK) == !detail[0], "result %d with detail \"%s\"", (int)e, detail);
	if (blen == 0) {
		FUZZ_CHECK(e == DL_OK && p.given == 0, "an empty body gave %d", (int)e);
		return 0;
	}
	if (!r.body_allowed) {
		FUZZ_CHECK(e == DL_INVALID_PARAMETER, "a body where none is allowed gave %d", (int)e);
		return 0;
	}
	if (!params_is_json(ct)) {
		FUZZ_CHECK(e == DL_UNSUPPORTED_MEDIA_TYPE, "a body of type %s gave %d", ct ? ct : "(none)", (int)e);
		return 0;
	}
	doc = json_loadb(body, blen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!doc || !json_is_object(doc) || deep) {
		FUZZ_CHECK(e == DL_INVALID_JSON, "a body jansson refuses (or too deep) gave %d", (int)e);
	} else if (e == DL_OK) {
		const char *key;
		size_t klen;
		json_t *v;
		unsigned want = 0;
		json_object_keylen_foreach(doc, key, klen, v)
		{
			int id = param_of(key, klen);
			FUZZ_CHECK(id >= 0 && (r.allowed & PARAMS_BIT(id)), "member \"%.*s\" accepted", (int)klen, key);
			if (!json_is_null(v))
				want |= PARAMS_BIT(id);
		}
		FUZZ_CHECK(p.given == want, "given 0x%x for members 0x%x", p.given, want);
		fuzz_params_check(&p, &r);
		fuzz_params_round_trip(&p, &r);
	} else {
		FUZZ_CHECK(e != DL_INVALID_JSON && e != DL_UNSUPPORTED_MEDIA_TYPE, "a valid object gave %d", (int)e);
	}
	json_decref(doc);
	return 0;
}
