/* Black-box: requests whose framing is ambiguous (the request-smuggling
 * vectors of RFC 9112 §6.3/§11.2), sent byte for byte: each gets one
 * problem+json answer before any body is read, the connection is closed, and
 * nothing after it runs as another request or touches a lock. Also targets
 * and names at the edges: absolute-form targets, dot segments, cursors. */
#include <string.h>

#include "harness.h"

/* Sends raw bytes; expects exactly one answer: status + code, with
 * Connection: close, and no second response after it. */
static void expect_rejected(int line, const char *raw, long status, const char *code)
{
	struct resp *r = raw_http(raw, strlen(raw));
	expect_problem_at(__FILE__, line, r, status, code);
	if (!resp_header(r, "Connection") || strcasecmp(resp_header(r, "Connection"), "close") != 0)
		fail_at(__FILE__, line, "%s: answered without Connection: close", r->what);
	if (strstr(r->body, "HTTP/1."))
		fail_at(__FILE__, line, "%s: a second response followed the %ld: %s", r->what, r->status, r->body);
}
#define EXPECT_REJECTED(raw, status, code) expect_rejected(__LINE__, (raw), (status), (code))

static void grant_ok(int line, const char *name)
{
	struct resp *r = http("PUT", tfmt("/locks/%s?ttl_ms=5000", name), NULL, NULL, NULL);
	expect_status_at(__FILE__, line, r, 201);
}
#define GRANT_OK(name) grant_ok(__LINE__, (name))

static void expect_free(const char *name)
{
	EXPECT_PROBLEM(http("GET", tfmt("/locks/%s", name), NULL, NULL, NULL), 404, "not_held");
}

/* obs-fold: libmicrohttpd drops the folded Content-Length, and the body ran
 * as a second request (201 and then 200 for /metrics). */
static void t_obs_fold(void)
{
	EXPECT_REJECTED("PUT /locks/smug HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 37\r\n\r\n"
	                "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	                400, "bad_request");
	expect_free("smug");
}

/* Whitespace before the colon: the header was ignored and the body became the
 * next request's method. */
static void t_space_before_colon(void)
{
	EXPECT_REJECTED("PUT /locks/s2 HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\nXY", 400, "bad_request");
	expect_free("s2");
}

/* Two Content-Lengths, two Transfer-Encodings, two Hosts. */
static void t_duplicate_framing_headers(void)
{
	EXPECT_REJECTED("PUT /locks/s3 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n"
	                "DELETE /locks/s3 HTTP/1.1\r\nHost: x\r\n\r\n",
	                400, "bad_request");
	EXPECT_REJECTED("PUT /locks/s3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	                "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
	                400, "bad_request");
	EXPECT_REJECTED("GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "bad_request");
	expect_free("s3");
}

/* A transfer coding other than chunked: no answer until the idle timeout
 * before; now 501 at once. */
static void t_unknown_transfer_coding(void)
{
	static const char *const CODINGS[] = {"identity", "gzip, chunked", "xchunked", "chunked, gzip"};
	for (size_t i = 0; i < sizeof CODINGS / sizeof CODINGS[0]; i++) {
		double t0 = mono_ms();
		EXPECT_REJECTED(
		    tfmt("PUT /locks/s4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n", CODINGS[i]),
		    501, "unsupported_transfer_coding");
		CHECKF(mono_ms() - t0 < 3000.0 * g_slow, "Transfer-Encoding: %s answered after %.0f ms", CODINGS[i],
		       mono_ms() - t0);
	}
	expect_free("s4");
	/* chunked itself, in any case, still works */
	EXPECT_STATUS(raw_httpf("PUT /locks/s5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n"
	                        "Connection: close\r\n\r\n0\r\n\r\n"),
	              201);
}

/* An absolute-form target is served by its path (RFC 9112 §3.2.2): it was 404. */
static void t_absolute_form(void)
{
	struct resp *r = raw_httpf("GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	EXPECT_STATUS(r, 200);
	r = raw_httpf("PUT HTTP://x/locks/abs?ttl_ms=5000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "abs", 5000, NULL);
}

/* "." and ".." are dot segments that clients rewrite: such a lock could never
 * be addressed again (it was 201 with Location: /locks/..). */
static void t_dot_names(void)
{
	static const char *const NAMES[] = {".", "..", "%2E", "%2e%2E"};
	for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
		EXPECT_PROBLEM(
		    raw_httpf("PUT /locks/%s?ttl_ms=5000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NAMES[i]),
		    400, "invalid_name");
	/* names that merely contain dots are fine */
	GRANT_OK("...");
	GRANT_OK(".a");
}

/* A list cursor whose SCAN position is beyond 64 bits is no cursor we issued:
 * 400, not 500. ("18446744073709551616/" in base64url.) */
static void t_cursor_out_of_range(void)
{
	EXPECT_PROBLEM(http("GET", "/locks?cursor=MTg0NDY3NDQwNzM3MDk1NTE2MTYv", NULL, NULL, NULL), 400,
	               "invalid_cursor");
	EXPECT_STATUS(http("GET", "/locks?cursor=MTg0NDY3NDQwNzM3MDk1NTE2MTUv", NULL, NULL, NULL), 200);
}

/* An owner that is not UTF-8 in Redis (written by something else) is shown
 * with U+FFFD for the bad bytes: it was silently dropped from the JSON. */
static void t_owner_not_utf8(void)
{
	char out[64];
	const char *hset[] = {"HSET", "dlock:lock:{utf}", "owner",
	                      "a\xff"
	                      "b"};

	EXPECT_STATUS(http("PUT", "/locks/utf?owner=x&ttl_ms=5000", NULL, NULL, NULL), 201);
	CHECKF(redis_cmd(out, sizeof out, 4, hset) == ':', "HSET failed: %s", out);
	struct resp *r = http("GET", "/locks/utf", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	json_t *owner = json_object_get(r->json, "owner");
	CHECKF(json_is_string(owner) && strcmp(json_string_value(owner), "a\xef\xbf\xbd"
	                                                                 "b") == 0,
	       "owner not escaped: %s", r->body);
}

/* Bytes that are not printable ASCII reach the log only as \xNN: the text
 * log wrote them raw, and JSON lines were not valid UTF-8. */
static void log_escapes(bool json)
{
	raw_httpf("GET /\xff\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	dlockd_stop_checked(); /* flushes its log */
	const char *log = dlockd_log_contents(NULL);
	CHECKF(strstr(log, json ? "\\\\xff\\\\xc3" : "\\xff\\xc3"), "no escaped path in the log:\n%s", log);
	for (const unsigned char *p = (const unsigned char *)log; *p; p++)
		CHECKF(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "the log holds byte 0x%02x:\n%s", *p, log);
	if (json)
		for (const char *line = log; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
			json_error_t err;
			json_t *j = json_loadb(line, strcspn(line, "\n"), 0, &err);
			CHECKF(j, "a JSON log line does not parse (%s): %.*s", err.text, (int)strcspn(line, "\n"),
			       line);
			json_decref(j);
		}
}

static void t_log_text_escapes(void)
{
	log_escapes(false);
}

static void t_log_json_escapes(void)
{
	log_escapes(true);
}

const struct test tests_framing[] = {
    {"framing_obs_fold", t_obs_fold, {NULL}, 0},
    {"framing_space_before_colon", t_space_before_colon, {NULL}, 0},
    {"framing_duplicate_headers", t_duplicate_framing_headers, {NULL}, 0},
    {"framing_unknown_transfer_coding", t_unknown_transfer_coding, {NULL}, 0},
    {"framing_absolute_form_target", t_absolute_form, {NULL}, 0},
    {"edge_dot_names_400", t_dot_names, {NULL}, 0},
    {"edge_cursor_out_of_range_400", t_cursor_out_of_range, {NULL}, 0},
    {"edge_owner_not_utf8_escaped", t_owner_not_utf8, {NULL}, 0},
    {"edge_log_text_escapes", t_log_text_escapes, {"--log-level", "info", NULL}, 0},
    {"edge_log_json_escapes", t_log_json_escapes, {"--log-level", "info", "--log-format", "json", NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
