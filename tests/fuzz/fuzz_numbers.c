/* Fuzzes the numbers and durations dlockd reads: ttl_ms, wait_ms and limit in
 * a query string and in a JSON body (params.c), and the whole-number and
 * ratio options of the command line and environment (config.c). The input's
 * first byte picks a config option; the rest is the value everywhere. A
 * value is accepted only when it is plain decimal digits (JSON: an integer
 * that jansson reads, not negative) within the parameter's range, and then
 * it is that number; plain digits within range (at most 18 of them in a
 * request) are always accepted. */
#include "fuzz.h"

#include <jansson.h>

#include "base/config.h"
#include "server/params.h"

/* The value of s[0..n) if it is 1-19 digits, else -1. */
static int64_t ref_value(const char *s, size_t n)
{
	int64_t v = 0;

	if (!fuzz_digits(s, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static const struct params_rules RULES = {
    .allowed = PARAMS_BIT(PARAM_TTL) | PARAMS_BIT(PARAM_WAIT) | PARAMS_BIT(PARAM_LIMIT),
    .body_allowed = true,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};

static const struct {
	const char *name;
	int id;
	int64_t min, max;
	enum dl_error err;
} PARAMS[] = {
    {"ttl_ms", PARAM_TTL, 100, 86400000, DL_INVALID_TTL},
    {"wait_ms", PARAM_WAIT, 0, 60000, DL_INVALID_WAIT},
    {"limit", PARAM_LIMIT, 1, PARAMS_LIMIT_MAX, DL_INVALID_LIMIT},
};

static int64_t param_value(const struct params *p, int id)
{
	return id == PARAM_TTL ? p->ttl_ms : id == PARAM_WAIT ? p->wait_ms : (int64_t)p->limit;
}

static void check_query(size_t i, const char *v, size_t n)
{
	size_t cap = strlen(PARAMS[i].name) + 1 + 3 * n + 1, o;
	char *q = malloc(cap), detail[256];
	int64_t want = ref_value(v, n);
	bool in_range = want >= PARAMS[i].min && want <= PARAMS[i].max;
	struct params p;
	enum dl_error e;

	if (!q)
		abort();
	o = (size_t)snprintf(q, cap, "%s=", PARAMS[i].name);
	for (size_t k = 0; k < n; k++)
		o += (size_t)snprintf(q + o, cap - o, "%%%02X", (unsigned char)v[k]);
	e = params_parse(&p, &RULES, q, o, NULL, 0, NULL, detail, sizeof detail);
	if (e == DL_OK)
		FUZZ_CHECK(in_range && param_value(&p, PARAMS[i].id) == want, "query %s=%.30s accepted as %lld",
		           PARAMS[i].name, v, (long long)param_value(&p, PARAMS[i].id));
	else
		FUZZ_CHECK(e == PARAMS[i].err && !(in_range && n <= 18), "query %s: error %d for %.30s", PARAMS[i].name,
		           (int)e, v);
	free(q);
}

static void check_body(size_t i, const char *v, size_t n)
{
	size_t cap = strlen(PARAMS[i].name) + n + 8;
	char *body = malloc(cap), detail[256];
	int len = snprintf(body, cap, "{\"%s\":", PARAMS[i].name);
	json_t *doc, *val;
	struct params p;
	enum dl_error e;

	if (!body)
		abort();
	memcpy(body + len, v, n);
	body[len + (int)n] = '}';
	len += (int)n + 1;
	e = params_parse(&p, &RULES, NULL, 0, body, (size_t)len, "application/json", detail, sizeof detail);
	doc = json_loadb(body, (size_t)len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!doc || !json_is_object(doc) || params_json_too_deep(body, (size_t)len, PARAMS_JSON_DEPTH_MAX)) {
		FUZZ_CHECK(e == DL_INVALID_JSON, "body %.40s: %d where jansson refuses it", body, (int)e);
	} else if (json_object_size(doc) == 1 && (val = json_object_get(doc, PARAMS[i].name))) {
		json_int_t x = json_is_integer(val) ? json_integer_value(val) : -1;
		if (json_is_null(val))
			FUZZ_CHECK(e == DL_OK && p.given == 0, "an explicit null is not \"not given\"");
		else if (x >= PARAMS[i].min && x <= PARAMS[i].max)
			FUZZ_CHECK(e == DL_OK && param_value(&p, PARAMS[i].id) == x, "body %.40s: %d", body, (int)e);
		else
			FUZZ_CHECK(e == PARAMS[i].err, "body %.40s: %d, not the parameter's error", body, (int)e);
	}
	json_decref(doc);
	free(body);
}

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static const char *the_value;

static const char *one_env(const char *name)
{
	return strcmp(name, "DLOCKD_THREADS") == 0 ? the_value : NULL;
}

/* Options with the range that is valid next to the other defaults. */
static const struct {
	const char *flag;
	int64_t min, max;
} OPTIONS[] = {
    {"threads", 1, 64},
    {"default-ttl-ms", 100, 86400000},
    {"min-ttl-ms", 1, 30000},
    {"max-ttl-ms", 30000, 86400000LL * 365},
    {"redis-timeout-ms", 10, 600000},
    {"max-connections-per-ip", 0, 1000000},
    {"connection-memory", 4096, 1048576},
    {"max-wait-ms", 0, 3600000},
    {"max-waiters", 0, 10000000},
    {"fence-retention-ms", 1000, 86400000LL * 30},
};

static int64_t option_value(const struct config *c, size_t i)
{
	switch (i) {
	case 0:
		return c->threads;
	case 1:
		return c->default_ttl_ms;
	case 2:
		return c->min_ttl_ms;
	case 3:
		return c->max_ttl_ms;
	case 4:
		return c->redis_timeout_ms;
	case 5:
		return c->max_connections_per_ip;
	case 6:
		return c->connection_memory;
	case 7:
		return c->max_wait_ms;
	case 8:
		return c->max_waiters;
	default:
		return c->fence_retention_ms;
	}
}

static void check_config(size_t i, const char *v)
{
	size_t n = strlen(v), cap = n + 32;
	char *arg = malloc(cap), *argv[] = {(char *)"dlockd", arg, NULL}, err[256];
	int64_t want = ref_value(v, n);
	bool in_range = want >= OPTIONS[i].min && want <= OPTIONS[i].max;
	struct config c;
	enum config_result r;

	if (!arg)
		abort();
	snprintf(arg, cap, "--%s=%s", OPTIONS[i].flag, v);
	r = config_parse(&c, 2, argv, no_env, err, sizeof err);
	FUZZ_CHECK((r == CONFIG_OK) == in_range, "--%s=%.30s: result %d", OPTIONS[i].flag, v, (int)r);
	if (r == CONFIG_OK)
		FUZZ_CHECK(option_value(&c, i) == want, "--%s=%.30s read as %lld", OPTIONS[i].flag, v,
		           (long long)option_value(&c, i));
	/* the same value from the environment */
	the_value = v;
	r = config_parse(&c, 1, argv, one_env, err, sizeof err);
	FUZZ_CHECK((r == CONFIG_OK) == (want >= 1 && want <= 64), "DLOCKD_THREADS=%.30s: result %d", v, (int)r);
	/* a ratio: a plain decimal fraction in 0..0.5 */
	snprintf(arg, cap, "--clock-drift-factor=%s", v);
	r = config_parse(&c, 2, argv, no_env, err, sizeof err);
	if (r == CONFIG_OK)
		FUZZ_CHECK(((v[0] >= '0' && v[0] <= '9') || v[0] == '.') && c.clock_drift_factor >= 0.0 &&
		               c.clock_drift_factor <= 0.5,
		           "--clock-drift-factor=%.30s read as %g", v, c.clock_drift_factor);
	free(arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t opt = fuzz_byte(&in) % (sizeof OPTIONS / sizeof OPTIONS[0]);
	const char *v = (const char *)in.p;
	char *cv;

	if (in.len > 4096)
		return 0;
	for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
		check_query(i, v, in.len);
		check_body(i, v, in.len);
	}
	cv = fuzz_strndup(v, in.len); /* an argument or variable ends at a NUL */
	check_config(opt, cv);
	free(cv);
	return 0;
}
