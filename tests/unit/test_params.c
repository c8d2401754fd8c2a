/* Unit tests for params.c: strict query-string and JSON-body parameters. */
#include <stdlib.h>

#include "server/params.h"
#include "unit.h"

#define TTL    PARAMS_BIT(PARAM_TTL)
#define OWNER  PARAMS_BIT(PARAM_OWNER)
#define TOKEN  PARAMS_BIT(PARAM_TOKEN)
#define PREFIX PARAMS_BIT(PARAM_PREFIX)
#define LIMIT  PARAMS_BIT(PARAM_LIMIT)
#define CURSOR PARAMS_BIT(PARAM_CURSOR)
#define WAIT   PARAMS_BIT(PARAM_WAIT)

/* As the routes use them. */
static const struct params_rules ACQUIRE = {
    .allowed = TTL | OWNER | TOKEN,
    .body_allowed = true,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};
static const struct params_rules ACQUIRE_WAIT = {
    .allowed = TTL | OWNER | TOKEN | WAIT,
    .body_allowed = true,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};
static const struct params_rules RENEW = {
    .allowed = TTL | TOKEN,
    .body_allowed = true,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};
static const struct params_rules LIST = {
    .allowed = PREFIX | LIMIT | CURSOR,
    .body_allowed = false,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};
static const struct params_rules INSPECT = {
    .allowed = 0,
    .body_allowed = false,
    .min_ttl_ms = 100,
    .max_ttl_ms = 86400000,
    .max_wait_ms = 60000,
};

#define J "application/json"

struct pcase {
	int line;
	const struct params_rules *rules;
	const char *query; /* NULL is passed as NULL */
	long qlen;         /* 0: strlen(query) */
	const char *body;  /* NULL: no body */
	long blen;         /* 0: strlen(body) */
	const char *ct;
	enum dl_error want;
	/* checked when want == DL_OK */
	unsigned given;
	int64_t ttl, wait;
	const char *owner, *token, *prefix, *cursor; /* checked when given; NULL: "" */
	unsigned limit;                              /* 0: expect the default, 100 */
};

#define ROW(...)                                                                                                       \
	{                                                                                                              \
		.line = __LINE__, __VA_ARGS__                                                                          \
	}

static const char *err_name(enum dl_error e)
{
	static const char *const N[DL_ERROR_COUNT] = {
	    [DL_OK] = "DL_OK",
	    [DL_INVALID_NAME] = "DL_INVALID_NAME",
	    [DL_INVALID_TTL] = "DL_INVALID_TTL",
	    [DL_INVALID_WAIT] = "DL_INVALID_WAIT",
	    [DL_INVALID_OWNER] = "DL_INVALID_OWNER",
	    [DL_INVALID_TOKEN] = "DL_INVALID_TOKEN",
	    [DL_MISSING_TOKEN] = "DL_MISSING_TOKEN",
	    [DL_INVALID_PARAMETER] = "DL_INVALID_PARAMETER",
	    [DL_INVALID_JSON] = "DL_INVALID_JSON",
	    [DL_INVALID_PREFIX] = "DL_INVALID_PREFIX",
	    [DL_INVALID_LIMIT] = "DL_INVALID_LIMIT",
	    [DL_INVALID_CURSOR] = "DL_INVALID_CURSOR",
	    [DL_BODY_TOO_LARGE] = "DL_BODY_TOO_LARGE",
	    [DL_UNSUPPORTED_MEDIA_TYPE] = "DL_UNSUPPORTED_MEDIA_TYPE",
	    [DL_BAD_REQUEST] = "DL_BAD_REQUEST",
	    [DL_NOT_FOUND] = "DL_NOT_FOUND",
	    [DL_METHOD_NOT_ALLOWED] = "DL_METHOD_NOT_ALLOWED",
	    [DL_LOCK_HELD] = "DL_LOCK_HELD",
	    [DL_NOT_HELD] = "DL_NOT_HELD",
	    [DL_TOKEN_MISMATCH] = "DL_TOKEN_MISMATCH",
	    [DL_BACKEND_UNAVAILABLE] = "DL_BACKEND_UNAVAILABLE",
	    [DL_SHUTTING_DOWN] = "DL_SHUTTING_DOWN",
	    [DL_TOO_MANY_WAITERS] = "DL_TOO_MANY_WAITERS",
	    [DL_INTERNAL] = "DL_INTERNAL",
	};
	return (unsigned)e < DL_ERROR_COUNT && N[e] ? N[e] : "(unknown dl_error)";
}

static void check_field(int line, const char *field, const char *got, const char *want)
{
	if (!want)
		want = "";
	unit_check_(strcmp(got, want) == 0, __FILE__, line, "%s: expected %s, got %s", field, unit_escz(want),
	            unit_escz(got));
}

static void run(const struct pcase *c)
{
	struct params p;
	char detail[256];
	size_t qlen = c->query ? (c->qlen ? (size_t)c->qlen : strlen(c->query)) : 0;
	size_t blen = c->body ? (c->blen ? (size_t)c->blen : strlen(c->body)) : 0;
	const char *in_q = c->query ? unit_esc(c->query, qlen) : "(null)";
	const char *in_b = c->body ? unit_esc(c->body, blen) : "(none)";
	enum dl_error e;
	bool printable = true;

	memset(&p, 0x5a, sizeof p); /* params_parse must initialise everything */
	memset(detail, 'X', sizeof detail);
	detail[sizeof detail - 1] = '\0';
	e = params_parse(&p, c->rules, c->query, qlen, c->body ? c->body : "", blen, c->ct, detail, sizeof detail);
	if (!unit_check_(e == c->want, __FILE__, c->line, "query %s body %s ct %s: expected %s, got %s (detail: %s)",
	                 in_q, in_b, unit_escz(c->ct), err_name(c->want), err_name(e), unit_escz(detail)))
		return;
	if (e != DL_OK) {
		size_t dl = strnlen(detail, sizeof detail);
		for (size_t i = 0; i < dl; i++)
			printable = printable && detail[i] >= 0x20 && detail[i] <= 0x7e;
		unit_check_(dl > 0 && dl < sizeof detail, __FILE__, c->line, "%s: empty or unterminated detail",
		            err_name(e));
		unit_check_(printable, __FILE__, c->line, "%s: detail has unprintable bytes: %s", err_name(e),
		            unit_esc(detail, dl));
		return;
	}
	unit_check_(p.given == c->given, __FILE__, c->line, "given: expected 0x%x, got 0x%x", c->given, p.given);
	if (c->given & TTL)
		unit_check_(p.ttl_ms == c->ttl, __FILE__, c->line, "ttl_ms: expected %lld, got %lld", (long long)c->ttl,
		            (long long)p.ttl_ms);
	if (c->given & WAIT)
		unit_check_(p.wait_ms == c->wait, __FILE__, c->line, "wait_ms: expected %lld, got %lld",
		            (long long)c->wait, (long long)p.wait_ms);
	/* string fields are only meaningful when given */
	if (c->given & OWNER)
		check_field(c->line, "owner", p.owner, c->owner);
	if (c->given & TOKEN)
		check_field(c->line, "token", p.token, c->token);
	if (c->given & PREFIX)
		check_field(c->line, "prefix", p.prefix, c->prefix);
	if (c->given & CURSOR)
		check_field(c->line, "cursor", p.cursor, c->cursor);
	unit_check_(p.limit == (c->limit ? c->limit : 100), __FILE__, c->line, "limit: expected %u, got %u",
	            c->limit ? c->limit : 100, p.limit);
}

static const struct pcase QUERY[] = {
    /* defaults */
    ROW(.rules = &ACQUIRE, .query = NULL, .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE, .query = "", .want = DL_OK, .given = 0),
    ROW(.rules = &LIST, .query = NULL, .want = DL_OK, .given = 0),
    ROW(.rules = &INSPECT, .query = "", .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE, .query = "&", .want = DL_OK, .given = 0),
    /* ttl_ms */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=5000", .want = DL_OK, .given = TTL, .ttl = 5000),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=100", .want = DL_OK, .given = TTL, .ttl = 100),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=86400000", .want = DL_OK, .given = TTL, .ttl = 86400000),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=%35%30%30", .want = DL_OK, .given = TTL, .ttl = 500),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=99", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=86400001", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=0", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=-1", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=-5000", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=1e3", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=5000.0", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=0x1000", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=abc", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=+5000", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=%2B5000", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=%205000", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=5000%20", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=5000%00", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=%zz", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=99999999999999999999999", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=9223372036854775807", .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=18446744073709551716", .want = DL_INVALID_TTL), /* wraps to 100 */
    /* wait_ms: 0..max_wait_ms, only where the route takes it */
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=0", .want = DL_OK, .given = WAIT, .wait = 0),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=1", .want = DL_OK, .given = WAIT, .wait = 1),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=60000", .want = DL_OK, .given = WAIT, .wait = 60000),
    ROW(.rules = &ACQUIRE_WAIT, .query = "ttl_ms=500&wait_ms=250", .want = DL_OK, .given = TTL | WAIT, .ttl = 500,
        .wait = 250),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=60001", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=-1", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=1e3", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=abc", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=99999999999999999999", .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=5&wait_ms=5", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "wait_ms=5", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &LIST, .query = "wait_ms=5", .want = DL_INVALID_PARAMETER),
    /* owner */
    ROW(.rules = &ACQUIRE, .query = "owner=alice", .want = DL_OK, .given = OWNER, .owner = "alice"),
    ROW(.rules = &ACQUIRE, .query = "owner=alice+smith", .want = DL_OK, .given = OWNER, .owner = "alice smith"),
    ROW(.rules = &ACQUIRE, .query = "owner=alice%20smith", .want = DL_OK, .given = OWNER, .owner = "alice smith"),
    ROW(.rules = &ACQUIRE, .query = "owner=a%2Bb", .want = DL_OK, .given = OWNER, .owner = "a+b"),
    ROW(.rules = &ACQUIRE, .query = "owner=a%26b%3Dc", .want = DL_OK, .given = OWNER, .owner = "a&b=c"),
    ROW(.rules = &ACQUIRE, .query = "owner=a=b", .want = DL_OK, .given = OWNER, .owner = "a=b"),
    ROW(.rules = &ACQUIRE, .query = "owner=caf%C3%A9", .want = DL_OK, .given = OWNER, .owner = "caf\xc3\xa9"),
    ROW(.rules = &ACQUIRE, .query = "owner=caf%c3%a9", .want = DL_OK, .given = OWNER, .owner = "caf\xc3\xa9"),
    ROW(.rules = &ACQUIRE, .query = "owner=", .want = DL_OK, .given = OWNER, .owner = ""),
    ROW(.rules = &ACQUIRE, .query = "owner", .want = DL_OK, .given = OWNER, .owner = ""),
    ROW(.rules = &ACQUIRE, .query = "owner=%00", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=a%0Ab", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=a%7F", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=%C2%85", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=%C3", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=%ED%A0%80", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=%zz", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=abc%4", .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .query = "owner=abc%", .want = DL_INVALID_OWNER),
    /* token */
    ROW(.rules = &ACQUIRE, .query = "token=abc-_XYZ019", .want = DL_OK, .given = TOKEN, .token = "abc-_XYZ019"),
    ROW(.rules = &RENEW, .query = "token=t", .want = DL_OK, .given = TOKEN, .token = "t"),
    ROW(.rules = &ACQUIRE, .query = "token=", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token=a+b", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token=a%2Bb", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token=a%2Fb", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token=abc%3D", .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .query = "token=abc%00", .want = DL_INVALID_TOKEN),
    /* several */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=1000&owner=bob&token=tok", .want = DL_OK, .given = TTL | OWNER | TOKEN,
        .ttl = 1000, .owner = "bob", .token = "tok"),
    ROW(.rules = &ACQUIRE, .query = "&&ttl_ms=1000&&owner=bob&", .want = DL_OK, .given = TTL | OWNER, .ttl = 1000,
        .owner = "bob"),
    ROW(.rules = &ACQUIRE, .query = "ttl%5Fms=700", .want = DL_OK, .given = TTL, .ttl = 700),
    /* only qlen bytes are parsed */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=500&foo=1", .qlen = 10, .want = DL_OK, .given = TTL, .ttl = 500),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=5000", .qlen = 10, .want = DL_OK, .given = TTL, .ttl = 500),
    /* unknown names */
    ROW(.rules = &ACQUIRE, .query = "foo=1", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "foo", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "=5", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=500&bogus=1", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "TTL_MS=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms%3D500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms%00=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "%0A%1B%7F%FF=1", .want = DL_INVALID_PARAMETER), /* detail stays printable */
    ROW(.rules = &ACQUIRE, .query = "a%zz=1", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1",
        .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "prefix=a", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "limit=5", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &RENEW, .query = "owner=x", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &LIST, .query = "ttl_ms=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &LIST, .query = "token=abc", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &INSPECT, .query = "ttl_ms=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &INSPECT, .query = "x", .want = DL_INVALID_PARAMETER),
    /* repeated names */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=100&ttl_ms=200", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=100&ttl_ms=100", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "owner=a&owner=a", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "owner=&owner=", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "token=a&ttl_ms=500&token=b", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=500&ttl%5Fms=500", .want = DL_INVALID_PARAMETER),
    ROW(.rules = &LIST, .query = "limit=5&limit=6", .want = DL_INVALID_PARAMETER),
    /* list */
    ROW(.rules = &LIST, .query = "limit=1", .want = DL_OK, .given = LIMIT, .limit = 1),
    ROW(.rules = &LIST, .query = "limit=1000", .want = DL_OK, .given = LIMIT, .limit = 1000),
    ROW(.rules = &LIST, .query = "limit=100", .want = DL_OK, .given = LIMIT, .limit = 100),
    ROW(.rules = &LIST, .query = "limit=0", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=1001", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=abc", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=-1", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=1.5", .want = DL_INVALID_LIMIT),
    ROW(.rules = &LIST, .query = "limit=4294967297", .want = DL_INVALID_LIMIT), /* 2^32 + 1 */
    ROW(.rules = &LIST, .query = "prefix=", .want = DL_OK, .given = PREFIX, .prefix = ""),
    ROW(.rules = &LIST, .query = "prefix=app%3A", .want = DL_OK, .given = PREFIX, .prefix = "app:"),
    ROW(.rules = &LIST, .query = "prefix=a.b_c-d:e@f", .want = DL_OK, .given = PREFIX, .prefix = "a.b_c-d:e@f"),
    ROW(.rules = &LIST, .query = "prefix=a%2Fb", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "prefix=a+b", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "prefix=a*", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "prefix=%7B", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "prefix=%00", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "prefix=%zz", .want = DL_INVALID_PREFIX),
    ROW(.rules = &LIST, .query = "cursor=abc", .want = DL_OK, .given = CURSOR, .cursor = "abc"),
    ROW(.rules = &LIST, .query = "cursor=", .want = DL_INVALID_CURSOR),
    ROW(.rules = &LIST, .query = "cursor=a%2Bb", .want = DL_INVALID_CURSOR),
    ROW(.rules = &LIST, .query = "cursor=a+b", .want = DL_INVALID_CURSOR),
    ROW(.rules = &LIST, .query = "cursor=ab%3D", .want = DL_INVALID_CURSOR),
    ROW(.rules = &LIST, .query = "prefix=x&limit=5&cursor=AAAA", .want = DL_OK, .given = PREFIX | LIMIT | CURSOR,
        .prefix = "x", .limit = 5, .cursor = "AAAA"),
};

static const struct pcase BODY[] = {
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":5000}", .ct = J, .want = DL_OK, .given = TTL, .ttl = 5000),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"bob\"}", .ct = J, .want = DL_OK, .given = OWNER, .owner = "bob"),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":\"abc\"}", .ct = J, .want = DL_OK, .given = TOKEN, .token = "abc"),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":100,\"owner\":\"a b\",\"token\":\"t-_\"}", .ct = J, .want = DL_OK,
        .given = TTL | OWNER | TOKEN, .ttl = 100, .owner = "a b", .token = "t-_"),
    ROW(.rules = &ACQUIRE, .body = "{}", .ct = J, .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE, .body = " \n\t{ \"ttl_ms\" : 86400000 }\r\n ", .ct = J, .want = DL_OK, .given = TTL,
        .ttl = 86400000),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"\"}", .ct = J, .want = DL_OK, .given = OWNER, .owner = ""),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"caf\\u00e9\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "caf\xc3\xa9"),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"\\ud83d\\ude00\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "\xf0\x9f\x98\x80"),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"caf\xc3\xa9\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "caf\xc3\xa9"),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a+b%20c\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "a+b%20c"), /* no form decoding in JSON */
    ROW(.rules = &RENEW, .body = "{\"token\":\"abc\",\"ttl_ms\":2000}", .ct = J, .want = DL_OK, .given = TTL | TOKEN,
        .ttl = 2000, .token = "abc"),
    /* only blen bytes are parsed */
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}garbage", .blen = 14, .ct = J, .want = DL_OK, .given = TTL,
        .ttl = 500),
    /* null means not given */
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":null}", .ct = J, .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":null,\"token\":null}", .ct = J, .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=700", .body = "{\"ttl_ms\":null}", .ct = J, .want = DL_OK, .given = TTL,
        .ttl = 700),
    /* query and body together */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=700", .body = "{\"owner\":\"x\"}", .ct = J, .want = DL_OK,
        .given = TTL | OWNER, .ttl = 700, .owner = "x"),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=700", .body = "{\"ttl_ms\":700}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=700", .body = "{\"ttl_ms\":800}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .query = "owner=a", .body = "{\"owner\":\"a\"}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &RENEW, .query = "token=a", .body = "{\"token\":\"b\"}", .ct = J, .want = DL_INVALID_PARAMETER),
    /* wrong types and values */
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":\"5000\"}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":5000.0}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":5000.5}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":5e3}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":true}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":false}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":[5000]}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":{}}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":-1}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":0}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":99}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":86400001}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":9223372036854775807}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":-9223372036854775808}", .ct = J, .want = DL_INVALID_TTL),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":5}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":true}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":[\"a\"]}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":{\"a\":1}}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a\\u0001\"}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a\\nb\"}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a\\u007f\"}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"\\u0085\"}", .ct = J, .want = DL_INVALID_OWNER),
    /* valid JSON (RFC 8259 allows \u0000 in strings), but a control character in the owner */
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a\\u0000b\"}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":123}", .ct = J, .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":\"\"}", .ct = J, .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":\"a+b\"}", .ct = J, .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":\"ab=\"}", .ct = J, .want = DL_INVALID_TOKEN),
    ROW(.rules = &ACQUIRE, .body = "{\"token\":[\"abc\"]}", .ct = J, .want = DL_INVALID_TOKEN),
    /* wait_ms in the body */
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":0}", .ct = J, .want = DL_OK, .given = WAIT, .wait = 0),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":60000}", .ct = J, .want = DL_OK, .given = WAIT, .wait = 60000),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":null}", .ct = J, .want = DL_OK, .given = 0),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":60001}", .ct = J, .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":-1}", .ct = J, .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":\"5\"}", .ct = J, .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":5.0}", .ct = J, .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .body = "{\"wait_ms\":true}", .ct = J, .want = DL_INVALID_WAIT),
    ROW(.rules = &ACQUIRE_WAIT, .query = "wait_ms=5", .body = "{\"wait_ms\":5}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"wait_ms\":5}", .ct = J, .want = DL_INVALID_PARAMETER),
    /* unknown members */
    ROW(.rules = &ACQUIRE, .body = "{\"foo\":1}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"foo\":null}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500,\"foo\":1}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"limit\":5}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"TTL_MS\":500}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &ACQUIRE, .body = "{\"\\u001b[31m\\n\\u00e9\":1}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &RENEW, .body = "{\"owner\":\"x\"}", .ct = J, .want = DL_INVALID_PARAMETER),
    /* not JSON, or not an object */
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500,\"ttl_ms\":500}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"a\",\"owner\":null}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500,}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{'ttl_ms':500}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{ttl_ms:500}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{} {}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{}x", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "nope", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = " ", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"\xc3\"}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}\0", .blen = 15, .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "[]", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "[{\"ttl_ms\":500}]", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "1", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "\"s\"", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "null", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "true", .ct = J, .want = DL_INVALID_JSON),
    /* depth: the object itself is level 1; 8 levels parse, 9 do not */
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":[[[[[[[1]]]]]]]}", .ct = J, .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":[[[[[[[[1]]]]]]]]}", .ct = J, .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{}}}}}}}}", .ct = J,
        .want = DL_INVALID_OWNER),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}}", .ct = J,
        .want = DL_INVALID_JSON),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"[[[[[[[[[[[[{{{{{{{{{{\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "[[[[[[[[[[[[{{{{{{{{{{"),
    ROW(.rules = &ACQUIRE, .body = "{\"owner\":\"\\\"[[[[[[[[[[\"}", .ct = J, .want = DL_OK, .given = OWNER,
        .owner = "\"[[[[[[[[[["),
    /* content types */
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = NULL, .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "", .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "text/plain", .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "ttl_ms=500", .ct = "application/x-www-form-urlencoded",
        .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/jsonx", .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/json-patch+json",
        .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/problem+json",
        .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/jso", .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "text/json", .want = DL_UNSUPPORTED_MEDIA_TYPE),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/json; charset=utf-8", .want = DL_OK,
        .given = TTL, .ttl = 500),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "application/json;charset=UTF-8", .want = DL_OK,
        .given = TTL, .ttl = 500),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "Application/JSON", .want = DL_OK, .given = TTL,
        .ttl = 500),
    ROW(.rules = &ACQUIRE, .body = "{\"ttl_ms\":500}", .ct = "APPLICATION/JSON ; charset=utf-8", .want = DL_OK,
        .given = TTL, .ttl = 500),
    /* a content type without a body is ignored */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=500", .ct = "text/plain", .want = DL_OK, .given = TTL, .ttl = 500),
    ROW(.rules = &LIST, .ct = J, .want = DL_OK, .given = 0),
    /* routes without a body */
    ROW(.rules = &LIST, .body = "{}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &LIST, .body = "{\"limit\":5}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &INSPECT, .body = "{}", .ct = J, .want = DL_INVALID_PARAMETER),
    ROW(.rules = &INSPECT, .body = "x", .ct = "text/plain", .want = DL_INVALID_PARAMETER),
    /* query errors come before body errors */
    ROW(.rules = &ACQUIRE, .query = "ttl_ms=1", .body = "{", .ct = J, .want = DL_INVALID_TTL),
};

static char *repeat(char c, size_t n, const char *head, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	if (!s)
		abort();
	memcpy(s, head, hl);
	memset(s + hl, c, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

/* Cases whose inputs are built at run time: lengths at their limits. */
static void test_lengths(void)
{
	static const struct {
		int line;
		const struct params_rules *rules;
		bool in_body;
		const char *head, *tail;
		char fill;
		size_t n;
		enum dl_error want;
		unsigned given;
	} T[] = {
	    {__LINE__, &ACQUIRE, false, "owner=", "", 'o', 256, DL_OK, OWNER},
	    {__LINE__, &ACQUIRE, false, "owner=", "", 'o', 257, DL_INVALID_OWNER, 0},
	    {__LINE__, &ACQUIRE, false, "owner=", "", 'o', 100000, DL_INVALID_OWNER, 0},
	    {__LINE__, &ACQUIRE, true, "{\"owner\":\"", "\"}", 'o', 256, DL_OK, OWNER},
	    {__LINE__, &ACQUIRE, true, "{\"owner\":\"", "\"}", 'o', 257, DL_INVALID_OWNER, 0},
	    {__LINE__, &ACQUIRE, false, "token=", "", 't', 64, DL_OK, TOKEN},
	    {__LINE__, &ACQUIRE, false, "token=", "", 't', 65, DL_INVALID_TOKEN, 0},
	    {__LINE__, &ACQUIRE, true, "{\"token\":\"", "\"}", 't', 64, DL_OK, TOKEN},
	    {__LINE__, &ACQUIRE, true, "{\"token\":\"", "\"}", 't', 65, DL_INVALID_TOKEN, 0},
	    {__LINE__, &LIST, false, "prefix=", "", 'p', 255, DL_OK, PREFIX},
	    {__LINE__, &LIST, false, "prefix=", "", 'p', 256, DL_INVALID_PREFIX, 0},
	    {__LINE__, &LIST, false, "cursor=", "", 'c', 512, DL_OK, CURSOR},
	    {__LINE__, &LIST, false, "cursor=", "", 'c', 513, DL_INVALID_CURSOR, 0},
	    {__LINE__, &LIST, false, "cursor=", "", 'c', 5000, DL_INVALID_CURSOR, 0},
	    {__LINE__, &ACQUIRE, false, "ttl_ms=", "", '0', 30, DL_INVALID_TTL, 0},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char *s = repeat(T[i].fill, T[i].n, T[i].head, T[i].tail);
		struct pcase c = {.line = T[i].line, .rules = T[i].rules, .want = T[i].want, .given = T[i].given};
		char *val = repeat(T[i].fill, T[i].n, "", "");

		if (T[i].in_body) {
			c.body = s;
			c.ct = J;
		} else {
			c.query = s;
		}
		if (T[i].given & OWNER)
			c.owner = val;
		if (T[i].given & TOKEN)
			c.token = val;
		if (T[i].given & PREFIX)
			c.prefix = val;
		if (T[i].given & CURSOR)
			c.cursor = val;
		if (T[i].given & TTL)
			c.ttl = 500;
		run(&c);
		free(s);
		free(val);
	}
}

/* A detail buffer just big enough for a few bytes is not overrun. */
static void test_small_detail(void)
{
	static const struct {
		const char *query, *body, *ct;
	} T[] = {
	    {"foo=1", NULL, NULL},      {"ttl_ms=1", NULL, NULL},  {NULL, "{", J},
	    {NULL, "{}", "text/plain"}, {"owner=%zz", NULL, NULL},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct params p;
		char *detail = malloc(8); /* exact: ASan reports an overrun */
		enum dl_error e;
		if (!detail)
			abort();
		e = params_parse(&p, &ACQUIRE, T[i].query, T[i].query ? strlen(T[i].query) : 0,
		                 T[i].body ? T[i].body : "", T[i].body ? strlen(T[i].body) : 0, T[i].ct, detail, 8);
		CHECK(e != DL_OK && strnlen(detail, 8) > 0 && strnlen(detail, 8) < 8,
		      "case %zu: error %d, detail not a non-empty string within 8 bytes", i, (int)e);
		free(detail);
	}
}

static void test_is_json(void)
{
	static const struct {
		const char *ct;
		bool want;
	} T[] = {
	    {"application/json", true},
	    {"application/json; charset=utf-8", true},
	    {"application/json;charset=utf-8", true},
	    {"Application/JSON", true},
	    {"APPLICATION/JSON", true},
	    {NULL, false},
	    {"", false},
	    {"application/jsonx", false},
	    {"application/json-seq", false},
	    {"application/problem+json", false},
	    {"application/js", false},
	    {"text/plain", false},
	    {"json", false},
	    {"application/json,text/plain", false},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
		CHECK(params_is_json(T[i].ct) == T[i].want, "params_is_json(%s): expected %d", unit_escz(T[i].ct),
		      T[i].want);
}

static void test_too_deep(void)
{
	static const struct {
		const char *s;
		long len; /* < 0: strlen */
		unsigned max;
		bool want;
	} T[] = {
	    {"{}", -1, 8, false},
	    {"{}", -1, 1, false},
	    {"{}", -1, 0, true},
	    {"1", -1, 0, false},
	    {"\"{\"", -1, 0, false},
	    {"[[[[[[[[]]]]]]]]", -1, 8, false},
	    {"[[[[[[[[[]]]]]]]]]", -1, 8, true},
	    {"{\"a\":[{\"b\":[{\"c\":[{\"d\":[{}]}]}]}]}", -1, 8, true}, /* 9 */
	    {"{\"a\":[{\"b\":[{\"c\":[{\"d\":[]}]}]}]}", -1, 8, false},  /* 8 */
	    {"[][][][][][][][][][]", -1, 1, false},                      /* siblings, not nesting */
	    {"[[],[],[[]]]", -1, 2, true},
	    {"\"[[[[[[[[[[\"", -1, 1, false}, /* brackets in a string */
	    {"{\"a\":\"[[[{{{\",\"b\":\"]]]}}}\"}", -1, 1, false},
	    {"{\"a\":\"\\\"[[[[[[[[[\"}", -1, 1, false},   /* an escaped quote stays inside */
	    {"{\"a\":\"\\\\\",\"b\":[[1]]}", -1, 2, true}, /* an escaped backslash ends the escape */
	    {"{\"a\":\"\\\\\",\"b\":[[1]]}", -1, 3, false},
	    {"{\"a\\\\\":[[1]]}", -1, 2, true}, /* the same in a key */
	    {"{\"\\u005b\":1}", -1, 1, false},
	    {"]]]][[", -1, 2, false}, /* stray closers do not go below zero */
	    {"]]]][[[", -1, 2, true},
	    {"[[[", 1, 1, false}, /* only len bytes */
	    {"[[[", 2, 1, true},
	    {"\"\\", -1, 0, false}, /* an escape at the very end */
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t len = T[i].len < 0 ? strlen(T[i].s) : (size_t)T[i].len;
		char *copy = malloc(len ? len : 1); /* exact: no terminator to lean on */
		if (!copy)
			abort();
		memcpy(copy, T[i].s, len);
		CHECK(params_json_too_deep(copy, len, T[i].max) == T[i].want,
		      "params_json_too_deep(%s, max %u): expected %d", unit_esc(T[i].s, len), T[i].max, T[i].want);
		free(copy);
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof QUERY / sizeof QUERY[0]; i++)
		run(&QUERY[i]);
	for (size_t i = 0; i < sizeof BODY / sizeof BODY[0]; i++)
		run(&BODY[i]);
	test_lengths();
	test_small_detail();
	test_is_json();
	test_too_deep();
	return unit_done();
}
