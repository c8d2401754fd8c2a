/* Input validation, media types, body limits, routing. */
#include "harness.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

static const char *json_ct = "application/json";

static void still_healthy(void)
{
	struct resp *r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
}

static void t_names(void)
{
	const char *bad[] = {"",    "%00", "%2F", "%2f",   "%20", "%zz", "a%ffb", "a%2", "a%",  "%C3%A9", "%2A", "%7B",
	                     "%7D", "%5C", "%21", "a%3Fb", "%23", "%2C", "%27",   "%0A", "%7F", "%25",    NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct resp *r = http("PUT", tfmt("/locks/%s", bad[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_name");
	}
	struct resp *r = http("PUT", tfmt("/locks/%s", trepeat('n', 256)), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	/* 256 bytes after percent-decoding */
	char *enc = talloc(3 * 256 + 1);
	for (int i = 0; i < 256; i++)
		memcpy(enc + 3 * i, "%41", 3);
	r = http("PUT", tfmt("/locks/%s", enc), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");

	/* the other lock routes validate names too */
	r = http("GET", "/locks/%20", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	r = http("HEAD", "/locks/%20", NULL, NULL, NULL);
	EXPECT_STATUS(r, 400);
	r = http("POST", "/locks/%20/renew", NULL, NULL, "Lock-Token: AAAA", NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	r = http("DELETE", "/locks/%00", NULL, NULL, "Lock-Token: AAAA", NULL);
	EXPECT_PROBLEM(r, 400, "invalid_name");

	/* raw bytes curl would encode or reject */
	r = raw_httpf("PUT /locks/caf\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	r = raw_httpf("PUT /locks/a\x80z HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	r = raw_httpf("PUT /locks/a{b} HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_PROBLEM(r, 400, "invalid_name");
	r = raw_httpf("GET /locks/a*b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_dl.port);
	EXPECT_PROBLEM(r, 400, "invalid_name");

	/* nothing above created a lock */
	r = http("GET", "/locks", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(json_array_size(JGET(r->json, "locks")) == 0, "invalid names created locks: %s", r->body);

	/* valid names */
	ACQUIRE(trepeat('n', 255), "ttl_ms=5000");
	ACQUIRE("AZaz09._-:@", "ttl_ms=5000");
	r = http("GET", "/locks/AZaz09._-:@", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK_VIEW(r->json, "AZaz09._-:@", 5000, NULL);

	/* %41 is "A" */
	r = http("PUT", "/locks/%41?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "A", 5000, NULL);
	const char *loc = resp_header(r, "Location");
	CHECKF(loc && strcmp(loc, "/locks/A") == 0, "Location should be /locks/A, got %s", loc ? loc : "(none)");
	r = http("GET", "/locks/A", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK(CHECK_VIEW(r->json, "A", 5000, NULL).fence == g.fence);
	r = http("PUT", "/locks/A", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 409, "lock_held");
	/* the percent-encoded form addresses the same lock on every route */
	r = http("POST", "/locks/%41/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK_GRANT(r, "A", 5000, NULL);
	r = http("DELETE", "/locks/%41", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	r = http("GET", "/locks/A", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	/* names are case-sensitive */
	struct grant lo = ACQUIRE("case", "ttl_ms=5000");
	struct grant up = ACQUIRE("CASE", "ttl_ms=5000");
	CHECK(strcmp(lo.token, up.token) != 0);
	/* names made only of allowed punctuation, or equal to a route word */
	ACQUIRE("...", "ttl_ms=5000");
	ACQUIRE(".a", "ttl_ms=5000");
	struct grant rn = ACQUIRE("renew", "ttl_ms=5000");
	r = http("POST", "/locks/renew/renew", NULL, NULL, tfmt("Lock-Token: %s", rn.token), NULL);
	EXPECT_STATUS(r, 200);
	CHECK_GRANT(r, "renew", 5000, NULL);
	r = http("GET", "/locks/...", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK_VIEW(r->json, "...", 5000, NULL);
	/* a 1-char token is syntactically fine: on a free lock it is ignored */
	r = http("PUT", "/locks/short-token?token=A&ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECK(strcmp(CHECK_GRANT(r, "short-token", 5000, NULL).token, "A") != 0);
	still_healthy();
	/* 255 'A's percent-encoded is a valid 255-byte name */
	enc[3 * 255] = 0;
	r = http("PUT", tfmt("/locks/%s", enc), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, trepeat('A', 255), -1, NULL);
	still_healthy();
}

static void t_ttl(void)
{
	const char *bad[] = {
	    "99",     "0",      "86400001", "abc", "1.5", "%2B500", "-5", "", "0x10", "1e3", "99999999999999999999999",
	    "%20500", "500%20", "-0",       NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct resp *r = http("PUT", tfmt("/locks/t?ttl_ms=%s", bad[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_ttl");
	}
	const char *badj[] = {"\"500\"", "1.5", "true", "-1", "86400001", "[500]", "{}", "99", "0", NULL};
	for (size_t i = 0; badj[i]; i++) {
		struct resp *r = http("PUT", "/locks/t", tfmt("{\"ttl_ms\":%s}", badj[i]), json_ct, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_ttl");
	}
	struct resp *r = http("PUT", "/locks/t", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant g = CHECK_GRANT(r, "t", 30000, NULL);
	r = http("POST", "/locks/t/renew?ttl_ms=abc", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	r = http("POST", "/locks/t/renew", "{\"ttl_ms\":\"5\"}", json_ct, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_ttl");
	ACQUIRE("t-min", "ttl_ms=100");
	ACQUIRE("t-max", "ttl_ms=86400000");
	r = http("PUT", "/locks/t-json", "{\"ttl_ms\":86400000}", json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "t-json", 86400000, NULL);
	still_healthy();
}

static void t_owner(void)
{
	struct resp *r = http("PUT", tfmt("/locks/o?owner=%s", trepeat('o', 257)), NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_owner");
	r = http("PUT", "/locks/o", tfmt("{\"owner\":\"%s\"}", trepeat('o', 257)), json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_owner");
	/* bytes, not characters: 128 x U+00E9 = 256 bytes ok, +1 byte too long */
	char *e256 = talloc(257 + 1);
	for (int i = 0; i < 128; i++)
		memcpy(e256 + 2 * i, "\xc3\xa9", 2);
	r = http("PUT", "/locks/o", tfmt("{\"owner\":\"%sx\"}", e256), json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_owner");
	const char *badq[] = {"%01", "a%0Ab", "%ff", "%C3", "%ED%A0%80", "%00", NULL};
	for (size_t i = 0; badq[i]; i++) {
		r = http("PUT", tfmt("/locks/o?owner=%s", badq[i]), NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_owner");
	}
	const char *badj[] = {"\"\\u0001\"", "\"a\\nb\"", "\"\\u001f\"", "123", "[\"x\"]", "true", "{}", NULL};
	for (size_t i = 0; badj[i]; i++) {
		r = http("PUT", "/locks/o", tfmt("{\"owner\":%s}", badj[i]), json_ct, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_owner");
	}
	r = http("GET", "/locks/o", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");

	r = http("PUT", tfmt("/locks/o1?owner=%s", trepeat('o', 256)), NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "o1", 30000, trepeat('o', 256));
	r = http("PUT", "/locks/o2", tfmt("{\"owner\":\"%s\"}", e256), json_ct, NULL);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "o2", 30000, e256);
	r = http("GET", "/locks/o2", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK_VIEW(r->json, "o2", 30000, e256);
	still_healthy();
}

static void t_params(void)
{
	const struct req acquire[] = {
	    {"PUT", "/locks/p?foo=1", NULL, NULL, NULL},
	    {"PUT", "/locks/p?ttl_ms=5000&TTL_MS=5000", NULL, NULL, NULL},
	    {"PUT", "/locks/p", "{\"foo\":1}", json_ct, NULL},
	    {"PUT", "/locks/p?ttl_ms=5000", "{\"ttl_ms\":5000}", json_ct, NULL},
	    {"PUT", "/locks/p?owner=a", "{\"owner\":\"a\"}", json_ct, NULL},
	    {"PUT", "/locks/p?ttl_ms=5000&ttl_ms=5000", NULL, NULL, NULL},
	    {"PUT", "/locks/p?owner=a&owner=b", NULL, NULL, NULL},
	};
	EXPECT_PROBLEMS(acquire, 400, "invalid_parameter");
	struct resp *r = http("GET", "/locks/p", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");

	struct grant g = ACQUIRE("p", "ttl_ms=5000");
	const char *h = tfmt("Lock-Token: %s", g.token);
	const struct req renew_release[] = {
	    {"POST", "/locks/p/renew?foo=1", NULL, NULL, h},
	    {"POST", "/locks/p/renew", "{\"foo\":1}", json_ct, h},
	    {"POST", "/locks/p/renew?ttl_ms=5000", "{\"ttl_ms\":5000}", json_ct, h},
	    {"DELETE", "/locks/p?foo=1", NULL, NULL, h},
	};
	EXPECT_PROBLEMS(renew_release, 400, "invalid_parameter");
	r = http("GET", "/locks/p", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	still_healthy();
}

static void t_json(void)
{
	char deep9[64], deep8[64];
	/* top-level object + 8 arrays = 9 levels; + 7 arrays = 8 levels */
	snprintf(deep9, sizeof deep9, "{\"owner\":[[[[[[[[1]]]]]]]]}");
	snprintf(deep8, sizeof deep8, "{\"owner\":[[[[[[[1]]]]]]]}");
	const char *bad[] = {"{\"ttl_ms\":",
	                     "{\"ttl_ms\":500,}",
	                     "[1]",
	                     "[]",
	                     "\"str\"",
	                     "42",
	                     "null",
	                     "{}{}",
	                     "{} x",
	                     "   ",
	                     "{'ttl_ms':500}",
	                     "{\"ttl_ms\":500,\"ttl_ms\":500}",
	                     "{\"owner\":\"a\",\"owner\":\"b\"}",
	                     deep9,
	                     "{\"owner\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}}",
	                     NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct resp *r = http("PUT", "/locks/j", bad[i], json_ct, NULL);
		EXPECT_PROBLEM(r, 400, "invalid_json");
	}
	/* extremely deep nesting must not crash the server (stack) */
	size_t depth = 7000;
	char *deep = talloc(2 * depth + 16);
	size_t n = 0;
	memcpy(deep + n, "{\"owner\":", 9);
	n += 9;
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = 0;
	struct resp *r = http("PUT", "/locks/j", deep, json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_json");
	/* depth 8 parses; the owner is simply of the wrong type */
	r = http("PUT", "/locks/j", deep8, json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_owner");

	struct grant g = ACQUIRE("j", "ttl_ms=5000");
	r = http("POST", "/locks/j/renew", "{\"token\":", json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_json");
	r = http("POST", "/locks/j/renew", "[]", json_ct, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 400, "invalid_json");
	r = http("DELETE", "/locks/j", "{\"token\":\"a\",\"token\":\"b\"}", json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_json");
	r = http("GET", "/locks/j", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	still_healthy();
}

static void t_media_type(void)
{
	const char *body = "{\"ttl_ms\":5000}";
	struct resp *r = http("PUT", "/locks/m", body, "text/plain", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("PUT", "/locks/m", body, NULL, NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("PUT", "/locks/m", "ttl_ms=5000", "application/x-www-form-urlencoded", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("PUT", "/locks/m", body, "application/jsonx", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("PUT", "/locks/m", body, "text/json", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("GET", "/locks/m", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");

	struct grant g = ACQUIRE("m", "ttl_ms=5000");
	r = http("POST", "/locks/m/renew", tfmt("{\"token\":\"%s\"}", g.token), "text/plain", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("DELETE", "/locks/m", tfmt("{\"token\":\"%s\"}", g.token), "text/plain", NULL);
	EXPECT_PROBLEM(r, 415, "unsupported_media_type");
	r = http("GET", "/locks/m", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	/* a parameter on the media type is fine */
	r = http("POST", "/locks/m/renew", tfmt("{\"token\":\"%s\"}", g.token), "application/json; charset=utf-8",
	         NULL);
	EXPECT_STATUS(r, 200);
	still_healthy();
}

static void t_body_size(void)
{
	/* 16 KiB + 1 of otherwise valid JSON */
	size_t limit = 16 * 1024;
	size_t pad = limit + 1 - strlen("{\"owner\":\"\"}");
	const char *big = tfmt("{\"owner\":\"%s\"}", trepeat('x', pad));
	CHECK(strlen(big) == limit + 1);
	struct resp *r = http("PUT", "/locks/big", big, json_ct, NULL);
	EXPECT_PROBLEM(r, 413, "body_too_large");
	/* exactly 16 KiB is accepted by the size check (owner then too long) */
	const char *edge = tfmt("{\"owner\":\"%s\"}", trepeat('x', pad - 1));
	CHECK(strlen(edge) == limit);
	r = http("PUT", "/locks/big", edge, json_ct, NULL);
	EXPECT_PROBLEM(r, 400, "invalid_owner");
	/* much larger */
	const char *huge = tfmt("{\"owner\":\"%s\"}", trepeat('x', 200000));
	r = http("PUT", "/locks/big", huge, json_ct, NULL);
	EXPECT_PROBLEM(r, 413, "body_too_large");
	still_healthy();

	/* chunked: a small chunked body works ... */
	const char *small = "{\"ttl_ms\":5000}";
	r = raw_httpf("PUT /locks/chunked HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
	              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
	              g_dl.port, strlen(small), small);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "chunked", 5000, NULL);

	/* ... and a chunked body over the limit is rejected */
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m = open_memstream(&req, &reqlen);
	fprintf(m,
	        "PUT /locks/chunked2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
	        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
	        g_dl.port);
	fprintf(m, "a\r\n{\"owner\":\"\r\n");
	for (int i = 0; i < 17; i++)
		fprintf(m, "400\r\n%s\r\n", trepeat('y', 1024));
	fprintf(m, "2\r\n\"}\r\n0\r\n\r\n");
	fclose(m);
	r = raw_http(req, reqlen);
	free(req);
	EXPECT_PROBLEM(r, 413, "body_too_large");
	r = http("GET", "/locks/chunked2", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	still_healthy();
}

static void t_conflicting_framing(void)
{
	struct resp *r =
	    raw_httpf("PUT /locks/smug HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
	              "Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	              "2\r\n{}\r\n0\r\n\r\n",
	              g_dl.port);
	EXPECT_PROBLEM(r, 400, "bad_request");
	r = raw_httpf("PUT /locks/smug HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n"
	              "Content-Length: 0\r\nConnection: close\r\n\r\n0\r\n\r\n",
	              g_dl.port);
	EXPECT_PROBLEM(r, 400, "bad_request");
	r = http("GET", "/locks/smug", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	still_healthy();
}

static bool allow_has(const char *allow, const char *method)
{
	size_t ml = strlen(method);
	const char *p = allow;
	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ')
			e++;
		if ((size_t)(e - p) == ml && strncasecmp(p, method, ml) == 0)
			return true;
		p = e;
	}
	return false;
}

static void expect_405(const char *method, const char *path, const char *const *allowed)
{
	struct resp *r = http(method, path, NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 405, "method_not_allowed");
	const char *allow = resp_header(r, "Allow");
	CHECKF(allow, "%s %s: 405 without Allow header", method, path);
	for (size_t i = 0; allowed[i]; i++)
		CHECKF(allow_has(allow, allowed[i]), "%s %s: Allow \"%s\" lacks %s", method, path, allow, allowed[i]);
	CHECKF(!allow_has(allow, method), "%s %s: Allow \"%s\" lists the rejected method", method, path, allow);
}

static void t_routing(void)
{
	const char *nf[] = {"/",          "/nope",   "/lock/a",    "/locks/a/b", "/locks/a/renew/x",
	                    "/healthz/x", "/locksx", "/metrics/x", NULL};
	for (size_t i = 0; nf[i]; i++) {
		struct resp *r = http("GET", nf[i], NULL, NULL, NULL);
		EXPECT_PROBLEM(r, 404, "not_found");
	}
	struct resp *r = http("PUT", "/nope/a", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_found");

	static const char *const lock_allowed[] = {"GET", "HEAD", "PUT", "DELETE", NULL};
	static const char *const renew_allowed[] = {"POST", NULL};
	static const char *const get_allowed[] = {"GET", NULL};
	static const struct {
		const char *method, *path;
		const char *const *allowed;
	} wrong_method[] = {
	    {"PATCH", "/locks/a", lock_allowed},      {"POST", "/locks/a", lock_allowed},
	    {"OPTIONS", "/locks/a", lock_allowed},    {"GET", "/locks/a/renew", renew_allowed},
	    {"PUT", "/locks/a/renew", renew_allowed}, {"DELETE", "/locks/a/renew", renew_allowed},
	    {"POST", "/locks", get_allowed},          {"DELETE", "/locks", get_allowed},
	    {"POST", "/healthz", get_allowed},        {"DELETE", "/readyz", get_allowed},
	    {"PUT", "/metrics", get_allowed},         {"POST", "/openapi.yaml", get_allowed},
	};
	for (size_t i = 0; i < sizeof wrong_method / sizeof wrong_method[0]; i++)
		expect_405(wrong_method[i].method, wrong_method[i].path, wrong_method[i].allowed);
	/* no lock was created by any of that */
	r = http("GET", "/locks/a", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	still_healthy();
}

static void t_garbage_requests(void)
{
	/* a series of hostile/odd requests; the service must keep working */
	const char *reqs[] = {
	    "GARBAGE\r\n\r\n",
	    "GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
	    "PUT /locks/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
	    "PUT /locks/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
	    "PUT /locks/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
	    NULL,
	};
	for (size_t i = 0; reqs[i]; i++) {
		struct resp *r = raw_http(reqs[i], strlen(reqs[i]));
		CHECKF(r->status == 0 || (r->status >= 400 && r->status <= 505), "odd request #%zu answered %ld: %s", i,
		       r->status, r->body);
		still_healthy();
	}
	struct resp *r = http("GET", "/locks/x", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
}

const struct test tests_validation[] = {
    {"validation_names", t_names, {NULL}, 0},
    {"validation_ttl", t_ttl, {NULL}, 0},
    {"validation_owner", t_owner, {NULL}, 0},
    {"validation_parameters", t_params, {NULL}, 0},
    {"validation_json", t_json, {NULL}, 0},
    {"validation_media_type_415", t_media_type, {NULL}, 0},
    {"validation_body_too_large_413", t_body_size, {NULL}, 0},
    {"validation_conflicting_framing_400", t_conflicting_framing, {NULL}, 0},
    {"routing_404_405", t_routing, {NULL}, 0},
    {"garbage_requests_survive", t_garbage_requests, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
