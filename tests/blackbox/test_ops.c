/* Operational endpoints, configuration and Redis key layout. */
#include "harness.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void t_healthz_readyz(void)
{
	struct resp *r = http("GET", "/healthz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/json");
	static const char *const hk[] = {"status", NULL};
	expect_keys_at(__FILE__, __LINE__, r->json, hk);
	CHECKF(strcmp(JSTR(r->json, "status"), "ok") == 0, "healthz status should be \"ok\": %s", r->body);
	r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/json");
	expect_keys_at(__FILE__, __LINE__, r->json, hk);
	CHECKF(strcmp(JSTR(r->json, "status"), "ready") == 0, "readyz status should be \"ready\": %s", r->body);
}

static void check_exposition_format(const struct resp *r)
{
	const char *p = r->body;
	int lineno = 0;
	while (p && *p) {
		lineno++;
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[2048];
		snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
		if (line[0] && line[0] != '#') {
			char *sp = strrchr(line, ' ');
			CHECKF(sp && sp != line, "metrics line %d has no value: \"%s\"", lineno, line);
			char *end;
			strtod(sp + 1, &end);
			bool special =
			    strcmp(sp + 1, "NaN") == 0 || strcmp(sp + 1, "+Inf") == 0 || strcmp(sp + 1, "-Inf") == 0;
			CHECKF(special || (end != sp + 1 && *end == 0), "metrics line %d value not numeric: \"%s\"",
			       lineno, line);
			char c = line[0];
			CHECKF((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':',
			       "metrics line %d bad metric name: \"%s\"", lineno, line);
		}
		p = eol ? eol + 1 : NULL;
	}
}

static void t_metrics(void)
{
	struct resp *r = http("GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "text/plain");
	const char *ct = resp_header(r, "Content-Type");
	CHECKF(ct && strstr(ct, "version=0.0.4"), "metrics Content-Type should carry version=0.0.4: %s",
	       ct ? ct : "(none)");
	CHECKF(strstr(r->body, "dlockd_http_requests_total{"), "metrics lack dlockd_http_requests_total{...}");
	CHECKF(strstr(r->body, "dlockd_lock_acquisitions_total"), "metrics lack dlockd_lock_acquisitions_total");
	check_exposition_format(r);
	int found;
	double acq0 = metric_value(r, "dlockd_lock_acquisitions_total", &found);
	CHECKF(found > 0, "no dlockd_lock_acquisitions_total sample");
	double req0 = metric_value(r, "dlockd_http_requests_total", &found);
	CHECKF(found > 0, "no dlockd_http_requests_total sample");

	ACQUIRE("metered", "ttl_ms=5000");
	r = http("GET", "/metrics", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	check_exposition_format(r);
	double acq1 = metric_value(r, "dlockd_lock_acquisitions_total", &found);
	CHECKF(acq1 >= acq0 + 1, "dlockd_lock_acquisitions_total did not go up (%g -> %g)", acq0, acq1);
	double req1 = metric_value(r, "dlockd_http_requests_total", &found);
	CHECKF(req1 >= req0 + 1, "dlockd_http_requests_total did not go up (%g -> %g)", req0, req1);
	/* tokens never appear in metrics */
	struct grant g = ACQUIRE("metered2", "ttl_ms=5000");
	r = http("GET", "/metrics", NULL, NULL, NULL);
	CHECK(!strstr(r->body, g.token));
}

static void t_openapi(void)
{
	struct resp *r = http("GET", "/openapi.yaml", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	EXPECT_CTYPE(r, "application/yaml");
	CHECKF(r->len > 8 && strncmp(r->body, "openapi:", 8) == 0, "openapi.yaml should start with \"openapi:\": %.40s",
	       r->body);
	const char *ops[] = {"acquireLock",  "renewLock",  "releaseLock", "getLock",       "listLocks", "getHealth",
	                     "getReadiness", "getMetrics", "getOpenApi",  "/locks/{name}", NULL};
	for (size_t i = 0; ops[i]; i++)
		CHECKF(strstr(r->body, ops[i]), "openapi.yaml does not mention %s", ops[i]);
}

static void expect_config_error(const char *const *args, const char *what)
{
	char out[4096];
	int rc = run_dlockd_capture(args, out, sizeof out, 5000);
	CHECKF(rc == 2, "%s: expected exit status 2, got %d (output: %.200s)", what, rc, out);
	const char *line = strstr(out, "dlockd: ");
	CHECKF(line && (line == out || line[-1] == '\n'), "%s: no \"dlockd: <problem>\" line (output: %.200s)", what,
	       out);
	if (!getenv("DLOCKD_WRAPPER")) {
		size_t n = strlen(out);
		CHECKF(line == out && n > 8 && out[n - 1] == '\n' && memchr(out, '\n', n - 1) == NULL,
		       "%s: expected exactly one line, got: %.300s", what, out);
	}
}

static void t_config_errors(void)
{
	const char *const a1[] = {"--listen", "not-an-address", NULL};
	expect_config_error(a1, "--listen not-an-address");
	const char *const a2[] = {"--no-such-flag", NULL};
	expect_config_error(a2, "--no-such-flag");
	const char *const a3[] = {"--min-ttl-ms", "abc", NULL};
	expect_config_error(a3, "--min-ttl-ms abc");
	const char *const a4[] = {"--log-level", "loud", NULL};
	expect_config_error(a4, "--log-level loud");
	const char *const a5[] = {"--redis", "http://127.0.0.1:1", NULL};
	expect_config_error(a5, "--redis http://...");
	const char *const a6[] = {"--log-format", "xml", NULL};
	expect_config_error(a6, "--log-format xml");
	const char *const a7[] = {"--min-ttl-ms", "5000", "--max-ttl-ms", "1000", NULL};
	expect_config_error(a7, "--min-ttl-ms > --max-ttl-ms");
	const char *const a8[] = {"--listen", "127.0.0.1:99999", NULL};
	expect_config_error(a8, "--listen port 99999");
}

static char rcmd(char *out, size_t sz, const char *a, const char *b, const char *c)
{
	const char *argv[3] = {a, b, c};
	int argc = c ? 3 : (b ? 2 : 1);
	return redis_cmd(out, sz, argc, argv);
}

static void check_layout(const char *prefix, const char *name)
{
	struct grant g = ACQUIRE(name, "ttl_ms=5000&owner=ow");
	char out[256];
	const char *lk = tfmt("%slock:{%s}", prefix, name);
	const char *fk = tfmt("%sfence:{%s}", prefix, name);
	CHECKF(rcmd(out, sizeof out, "EXISTS", lk, NULL) == ':' && strcmp(out, "1") == 0, "redis key %s missing", lk);
	CHECKF(rcmd(out, sizeof out, "TYPE", lk, NULL) == '+' && strcmp(out, "hash") == 0, "%s is not a hash (%s)", lk,
	       out);
	CHECKF(rcmd(out, sizeof out, "HGET", lk, "token") == '$' && strcmp(out, token_hash(g.token)) == 0,
	       "%s token field is not the hash of the grant's token", lk);
	CHECKF(rcmd(out, sizeof out, "HGET", lk, "fence") == '$' && strtoll(out, NULL, 10) == g.fence,
	       "%s fence field %s != %" PRId64, lk, out, g.fence);
	CHECKF(rcmd(out, sizeof out, "HGET", lk, "owner") == '$' && strcmp(out, "ow") == 0, "%s owner field: %s", lk,
	       out);
	CHECKF(rcmd(out, sizeof out, "PTTL", lk, NULL) == ':', "PTTL failed");
	long long pttl = strtoll(out, NULL, 10);
	CHECKF(pttl > 4000 && pttl <= 5000, "%s PTTL %lld should be the lease (5000)", lk, pttl);
	CHECKF(rcmd(out, sizeof out, "EXISTS", fk, NULL) == ':' && strcmp(out, "1") == 0, "redis key %s missing", fk);
	/* the fence counter lives for the lease plus the retention (10 s by default) */
	CHECKF(rcmd(out, sizeof out, "PTTL", fk, NULL) == ':', "PTTL failed");
	pttl = strtoll(out, NULL, 10);
	CHECKF(pttl > 14000 && pttl <= 15000, "%s PTTL %lld should be the lease plus the retention (15000)", fk, pttl);
	struct resp *r = http("DELETE", tfmt("/locks/%s", name), NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	CHECKF(rcmd(out, sizeof out, "EXISTS", lk, NULL) == ':' && strcmp(out, "0") == 0,
	       "%s still exists after release", lk);
	CHECKF(rcmd(out, sizeof out, "EXISTS", fk, NULL) == ':' && strcmp(out, "1") == 0, "%s vanished after release",
	       fk);
}

static void t_redis_key_layout(void)
{
	check_layout("dlock:", "layout");
	/* the lock disappears from the API when its key is deleted in Redis */
	struct grant g = ACQUIRE("ext", "ttl_ms=5000");
	char out[64];
	rcmd(out, sizeof out, "DEL", "dlock:lock:{ext}", NULL);
	struct resp *r = http("GET", "/locks/ext", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
	r = http("POST", "/locks/ext/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
}

static void t_prefix_flag(void)
{
	check_layout("t1:", "pfx");
	char out[64];
	CHECKF(rcmd(out, sizeof out, "EXISTS", "dlock:fence:{pfx}", NULL) == ':' && strcmp(out, "0") == 0,
	       "default prefix used despite --prefix");
}

static void t_env_config(void)
{
	static const char *const env[] = {"DLOCKD_PREFIX=envp:", NULL};
	dlockd_start_env(NULL, env);
	check_layout("envp:", "envlock");
}

static void t_redis_url_db(void)
{
	const char *url = tfmt("redis://127.0.0.1:%d/3", g_redis.port);
	const char *const args[] = {"--redis", url, NULL};
	dlockd_start(args);
	struct grant g = ACQUIRE("indb", "ttl_ms=5000");
	char out[128];
	const char *ex[] = {"EXISTS", "dlock:lock:{indb}"};
	CHECKF(redis_cmd_db(3, out, sizeof out, 2, ex) == ':' && strcmp(out, "1") == 0,
	       "lock key not in Redis db 3 with --redis %s", url);
	CHECKF(redis_cmd_db(0, out, sizeof out, 2, ex) == ':' && strcmp(out, "0") == 0,
	       "lock key landed in db 0 despite --redis %s", url);
	struct resp *r = http("DELETE", "/locks/indb", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
}

static void t_redis_unix_socket(void)
{
	const char *url = tfmt("unix://%s", g_redis.sock);
	const char *const args[] = {"--redis", url, NULL};
	dlockd_start(args);
	struct grant g = ACQUIRE("viaunix", "ttl_ms=5000");
	check_layout("dlock:", "layout-unix");
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("DELETE", "/locks/viaunix", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
}

static void t_listen_all_interfaces(void)
{
	const char *listen = tfmt(":%d", free_port());
	const char *const args[] = {"--listen", listen, NULL};
	dlockd_start(args); /* reached through 127.0.0.1 */
	ACQUIRE("anyif", "ttl_ms=5000");
}

static void t_expect_100_continue(void)
{
	/* what curl does by default for bodies over 1 KiB */
	const char *body = tfmt("{\"owner\":\"%s\",\"ttl_ms\":5000}%s", trepeat('e', 200), trepeat(' ', 2000));
	const char *hdrs[] = {"Expect: 100-continue", NULL};
	struct resp *r = httpb("PUT", "/locks/expect", body, strlen(body), "application/json", hdrs);
	EXPECT_STATUS(r, 201);
	CHECK_GRANT(r, "expect", 5000, trepeat('e', 200));
	const char *big = tfmt("{\"owner\":\"%s\"}", trepeat('e', 20000));
	r = httpb("PUT", "/locks/expect2", big, strlen(big), "application/json", hdrs);
	EXPECT_PROBLEM(r, 413, "body_too_large");
	r = http("GET", "/locks/expect2", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 404, "not_held");
}

const struct test tests_ops[] = {
    {"healthz_readyz", t_healthz_readyz, {NULL}, 0},
    {"metrics", t_metrics, {NULL}, 0},
    {"openapi_yaml", t_openapi, {NULL}, 0},
    {"config_errors_exit_2", t_config_errors, {NULL}, T_NO_DLOCKD},
    {"redis_key_layout", t_redis_key_layout, {NULL}, 0},
    {"prefix_flag", t_prefix_flag, {"--prefix", "t1:", NULL}, 0},
    {"env_config", t_env_config, {NULL}, T_NO_DLOCKD},
    {"redis_url_db", t_redis_url_db, {NULL}, T_NO_DLOCKD},
    {"redis_unix_socket", t_redis_unix_socket, {NULL}, T_NO_DLOCKD},
    {"expect_100_continue", t_expect_100_continue, {NULL}, 0},
    {"listen_all_interfaces", t_listen_all_interfaces, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
