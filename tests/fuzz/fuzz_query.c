/* Fuzzes params_parse() on query strings, with each route's rules (the
 * input's first byte picks the route and the configured limits; the rest is
 * the raw query). An accepted query holds one parameter per non-empty
 * '&'-separated pair, each allowed and within its rules, and writes out
 * again as a canonical query, and a JSON body, that parse to the same
 * parameters; a refused one gets a parameter error whose detail is
 * printable ASCII (it names the parameter, never echoes raw bytes). */
#include "fuzz_params.h"

static bool query_error(enum dl_error e)
{
	return e == DL_INVALID_PARAMETER || e == DL_INVALID_TTL || e == DL_INVALID_WAIT || e == DL_INVALID_OWNER ||
	       e == DL_INVALID_TOKEN || e == DL_INVALID_PREFIX || e == DL_INVALID_LIMIT || e == DL_INVALID_CURSOR;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct params_rules r = fuzz_route_rules(fuzz_byte(&in));
	const char *q = (const char *)in.p;
	char detail[256];
	struct params p;
	enum dl_error e;
	unsigned pairs = 0;

	e = params_parse(&p, &r, q, in.len, NULL, 0, NULL, detail, sizeof detail);
	FUZZ_CHECK(fuzz_printable(detail), "detail has bytes that are not printable ASCII");
	if (e != DL_OK) {
		FUZZ_CHECK(query_error(e) && detail[0], "query refused with %d, detail \"%s\"", (int)e, detail);
		return 0;
	}
	for (size_t i = 0; i < in.len; i++)
		if (q[i] != '&' && (i + 1 == in.len || q[i + 1] == '&'))
			pairs++;
	FUZZ_CHECK((unsigned)__builtin_popcount(p.given) == pairs, "%u pairs gave parameters 0x%x", pairs, p.given);
	fuzz_params_check(&p, &r);
	fuzz_params_round_trip(&p, &r);
	return 0;
}
