/* Black-box: API keys (--auth-file). The matrix of keys × routes (401, 403,
 * what each right allows), namespaces that cannot see or touch each other's
 * locks (a 403 that says nothing of the lock), SIGHUP reloads (good and bad)
 * without dropping a waiting request, a bad file at start, the per-key rate
 * limit, /metrics's right and --metrics-public, the audit lines and request
 * ids, and the warning of a dlockd open beyond loopback without keys. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/digest.h"
#include "harness.h"

/* The secrets; the file holds only their SHA-256. */
#define K_ADMIN   "dlk_admin_0123456789abcdefghij"
#define K_READ    "dlk_reader_0123456789abcdefghi"
#define K_LOCK    "dlk_locker_0123456789abcdefghi"
#define K_TEAM_A  "dlk_team_a_0123456789abcdefghi"
#define K_TEAM_B  "dlk_team_b_0123456789abcdefghi"
#define K_METRICS "dlk_scraper_0123456789abcdefgh"
#define K_NEW     "dlk_new_0123456789abcdefghijkl"

/* The lowercase hex SHA-256 of key, as the auth file holds it. */
static const char *sha256_hex(const char *key)
{
	uint8_t h[DIGEST_SHA256_LEN];
	char *out = talloc(2 * DIGEST_SHA256_LEN + 1);
	digest_sha256(key, strlen(key), h);
	digest_hex(h, sizeof h, out);
	return out;
}

static const char *hash_line(const char *id, const char *key, const char *prefix, const char *rights)
{
	return tfmt("%s sha256:%s %s %s\n", id, sha256_hex(key), prefix, rights);
}

static const char *write_file(const char *name, const char *text)
{
	const char *path = tfmt("%s/%s", harness_tmpdir(), name);
	FILE *f = fopen(path, "w");
	CHECKF(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char *keys_file(void)
{
	return write_file("auth.txt", tfmt("# test keys\n\n%s%s%s%s%s%s", hash_line("admin", K_ADMIN, "*", "admin"),
	                                   hash_line("reader", K_READ, "team-a.", "read"),
	                                   hash_line("locker", K_LOCK, "team-a.", "lock"),
	                                   hash_line("team-a", K_TEAM_A, "team-a.", "read,lock"),
	                                   hash_line("team-b", K_TEAM_B, "team-b.", "lock,read"),
	                                   hash_line("scraper", K_METRICS, "*", "metrics")));
}

static const char *bearer(const char *key)
{
	return tfmt("Authorization: Bearer %s", key);
}

static void start_with_keys(const char *const *more)
{
	const char *args[16] = {"--auth-file", keys_file(), "--log-level", "info"};
	size_t n = 4;
	for (size_t i = 0; more && more[i] && n < 15; i++)
		args[n++] = more[i];
	args[n] = NULL;
	dlockd_start(args);
}

/* An acquire by key; returns the token (fails the test unless 201). */
static const char *take(const char *key, const char *name)
{
	struct resp *r = http("PUT", tfmt("/locks/%s?ttl_ms=30000", name), NULL, NULL, bearer(key), NULL);
	EXPECT_STATUS(r, 201);
	return JSTR(r->json, "token");
}

/* Every lock route and the operational ones, answered as the key (NULL: none) may. */
struct expect {
	long acquire, renew, release, inspect, list, metrics;
};

static void check_key(const char *who, const char *key, const char *name, struct expect e)
{
	const char *hdr = key ? bearer(key) : NULL;
	/* a lock held by the admin key, so renew/release find a real holder */
	const char *held = take(K_ADMIN, tfmt("%s.held", name));
	const char *tok = tfmt("Lock-Token: %s", held);
	struct {
		const char *method, *path, *tok;
		long want;
	} calls[] = {
	    {"PUT", tfmt("/locks/%s?ttl_ms=5000", name), NULL, e.acquire},
	    {"POST", tfmt("/locks/%s.held/renew?ttl_ms=30000", name), tok, e.renew},
	    {"GET", tfmt("/locks/%s.held", name), NULL, e.inspect},
	    {"GET", "/locks", NULL, e.list},
	    {"GET", "/metrics", NULL, e.metrics},
	    {"DELETE", tfmt("/locks/%s.held", name), tok, e.release},
	};
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		struct resp *r = http(calls[i].method, calls[i].path, NULL, NULL, hdr ? hdr : calls[i].tok,
		                      hdr ? calls[i].tok : NULL, NULL);
		CHECKF(r->status == calls[i].want, "%s: %s got %ld, expected %ld: %.200s", who, r->what, r->status,
		       calls[i].want, r->body);
		if (r->status == 401) {
			EXPECT_PROBLEM(r, 401, "unauthorized");
			const char *w = resp_header(r, "WWW-Authenticate");
			CHECKF(w && strncmp(w, "Bearer", 6) == 0, "%s: %s: 401 without WWW-Authenticate: Bearer", who,
			       r->what);
		} else if (r->status == 403) {
			EXPECT_PROBLEM(r, 403, "forbidden");
		}
	}
	/* the open routes stay open to everyone */
	const char *open[] = {"/healthz", "/readyz", "/openapi.yaml"};
	for (size_t i = 0; i < 3; i++)
		EXPECT_STATUS(http("GET", open[i], NULL, NULL, hdr, NULL), 200);
	http("DELETE", tfmt("/locks/%s.held", name), NULL, NULL, bearer(K_ADMIN), tok, NULL);
}

static void t_matrix(void)
{
	start_with_keys(NULL);
	check_key("no key", NULL, "team-a.m0", (struct expect){401, 401, 401, 401, 401, 401});
	check_key("unknown key", "dlk_nobody_0123456789abcdefgh", "team-a.m1",
	          (struct expect){401, 401, 401, 401, 401, 401});
	check_key("read", K_READ, "team-a.m2", (struct expect){403, 403, 403, 200, 200, 403});
	check_key("lock", K_LOCK, "team-a.m3", (struct expect){201, 200, 204, 403, 403, 403});
	check_key("read,lock", K_TEAM_A, "team-a.m4", (struct expect){201, 200, 204, 200, 200, 403});
	check_key("other prefix", K_TEAM_B, "team-a.m5", (struct expect){403, 403, 403, 403, 200, 403});
	check_key("metrics", K_METRICS, "team-a.m6", (struct expect){403, 403, 403, 403, 403, 200});
	check_key("admin", K_ADMIN, "team-zz.m7", (struct expect){201, 200, 204, 200, 200, 200});

	/* the header's forms */
	struct resp *r = http("GET", "/locks", NULL, NULL, tfmt("Authorization: Basic %s", K_ADMIN), NULL);
	EXPECT_PROBLEM(r, 401, "unauthorized");
	CHECKF(strstr(resp_header(r, "WWW-Authenticate"), "invalid_token") != NULL, "Basic: error=invalid_token");
	EXPECT_STATUS(http("GET", "/locks", NULL, NULL, tfmt("Authorization: bearer   %s", K_ADMIN), NULL), 200);
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, bearer(K_ADMIN), bearer(K_ADMIN), NULL), 401, "unauthorized");
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, tfmt("Authorization: Bearer %sX", K_ADMIN), NULL), 401,
	               "unauthorized");
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, "Authorization: Bearer", NULL), 401, "unauthorized");
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, tfmt("Authorization: Bearer %s", trepeat('k', 300)), NULL),
	               401, "unauthorized");

	/* holding still needs the token: not even admin releases another's lock */
	const char *tok = take(K_TEAM_A, "team-a.mine");
	EXPECT_PROBLEM(http("DELETE", "/locks/team-a.mine", NULL, NULL, bearer(K_ADMIN), NULL), 400, "missing_token");
	EXPECT_PROBLEM(http("DELETE", "/locks/team-a.mine", NULL, NULL, bearer(K_ADMIN),
	                    "Lock-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL),
	               409, "token_mismatch");
	EXPECT_STATUS(
	    http("DELETE", "/locks/team-a.mine", NULL, NULL, bearer(K_TEAM_A), tfmt("Lock-Token: %s", tok), NULL), 204);
	int found = 0;
	double v = metric_value(http("GET", "/metrics", NULL, NULL, bearer(K_ADMIN), NULL),
	                        "dlockd_auth_unauthorized_total", &found);
	CHECKF(v >= 12, "dlockd_auth_unauthorized_total counts the 401s (got %.0f)", v);
}

/* Two teams: neither sees nor touches the other's locks, and a 403 reads the
 * same whether or not the lock exists. */
static void t_namespaces(void)
{
	start_with_keys(NULL);
	const char *ta = take(K_TEAM_A, "team-a.build");
	take(K_TEAM_B, "team-b.deploy");
	take(K_TEAM_B, "team-b.build");

	struct resp *la = http("GET", "/locks", NULL, NULL, bearer(K_TEAM_A), NULL);
	EXPECT_STATUS(la, 200);
	json_t *arr = JGET(la->json, "locks");
	CHECKF(json_array_size(arr) == 1 && strcmp(JSTR(json_array_get(arr, 0), "name"), "team-a.build") == 0,
	       "team-a lists only its own lock: %s", la->body);
	struct resp *lb = http("GET", "/locks?prefix=team", NULL, NULL, bearer(K_TEAM_B), NULL);
	EXPECT_STATUS(lb, 200);
	CHECKF(json_array_size(JGET(lb->json, "locks")) == 2 && !strstr(lb->body, "team-a."),
	       "team-b, asking for prefix 'team', sees only team-b.: %s", lb->body);
	EXPECT_STATUS(http("GET", "/locks?prefix=team-b.dep", NULL, NULL, bearer(K_TEAM_B), NULL), 200);
	EXPECT_PROBLEM(http("GET", "/locks?prefix=team-a.", NULL, NULL, bearer(K_TEAM_B), NULL), 403, "forbidden");
	struct resp *all = http("GET", "/locks", NULL, NULL, bearer(K_ADMIN), NULL);
	CHECKF(json_array_size(JGET(all->json, "locks")) == 3, "admin lists every namespace: %s", all->body);

	/* the held lock and a free one: the same answer */
	struct resp *held = http("GET", "/locks/team-a.build", NULL, NULL, bearer(K_TEAM_B), NULL);
	struct resp *free_ = http("GET", "/locks/team-a.nothing", NULL, NULL, bearer(K_TEAM_B), NULL);
	EXPECT_PROBLEM(held, 403, "forbidden");
	EXPECT_PROBLEM(free_, 403, "forbidden");
	CHECKF(strcmp(JSTR(held->json, "detail"), JSTR(free_->json, "detail")) == 0 && !strstr(held->body, "fence") &&
	           !strstr(held->body, "expires"),
	       "a 403 must not tell a held lock from a free one: %s / %s", held->body, free_->body);
	EXPECT_PROBLEM(http("PUT", "/locks/team-a.build", NULL, NULL, bearer(K_TEAM_B), NULL), 403, "forbidden");
	EXPECT_PROBLEM(
	    http("DELETE", "/locks/team-a.build", NULL, NULL, bearer(K_TEAM_B), tfmt("Lock-Token: %s", ta), NULL), 403,
	    "forbidden");
	EXPECT_PROBLEM(
	    http("POST", "/locks/team-a.build/renew", NULL, NULL, bearer(K_TEAM_B), tfmt("Lock-Token: %s", ta), NULL),
	    403, "forbidden");
	/* percent-encoding does not get a name past its prefix check */
	EXPECT_PROBLEM(http("PUT", "/locks/team-a%2Ebuild", NULL, NULL, bearer(K_TEAM_B), NULL), 403, "forbidden");
	/* the lock is untouched */
	struct resp *i = http("GET", "/locks/team-a.build", NULL, NULL, bearer(K_TEAM_A), NULL);
	EXPECT_STATUS(i, 200);
}

/* SIGHUP: a new file takes effect for new requests; a waiting request (an
 * open connection) is not dropped; a bad file keeps the old keys. */
static void t_reload(void)
{
	start_with_keys(NULL);
	const char *tok = take(K_TEAM_A, "team-a.r");
	struct async_req *w =
	    http_async("PUT", "/locks/team-a.r?ttl_ms=30000&wait_ms=20000", NULL, NULL, bearer(K_TEAM_A));
	sleep_ms(200);
	write_file("auth.txt", tfmt("%s%s", hash_line("team-a", K_TEAM_A, "team-a.", "read,lock"),
	                            hash_line("newcomer", K_NEW, "team-c.", "lock")));
	kill(g_dl.pid, SIGHUP);
	double end = mono_ms() + 5000;
	while (http("GET", "/locks", NULL, NULL, bearer(K_ADMIN), NULL)->status != 401 && mono_ms() < end)
		sleep_ms(20);
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, bearer(K_ADMIN), NULL), 401, "unauthorized");
	take(K_NEW, "team-c.x");
	EXPECT_WAITING(w, "the waiter let in before the reload", "team-a.r");
	EXPECT_STATUS(
	    http("DELETE", "/locks/team-a.r", NULL, NULL, bearer(K_TEAM_A), tfmt("Lock-Token: %s", tok), NULL), 204);
	EXPECT_STATUS(http_async_wait(w), 201);

	/* a bad file: refused, logged with its line, the old keys stay */
	write_file("auth.txt", tfmt("%sbroken line\n", hash_line("team-a", K_TEAM_A, "team-a.", "read,lock")));
	kill(g_dl.pid, SIGHUP);
	end = mono_ms() + 5000;
	while (!strstr(dlockd_log_contents(NULL), "not reloaded") && mono_ms() < end)
		sleep_ms(20);
	const char *log = dlockd_log_contents(NULL);
	CHECKF(strstr(log, "the old keys stay") && strstr(log, "line 2: expected 4 fields"),
	       "a bad reload is logged with its line: %s", log);
	take(K_NEW, "team-c.y");
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, bearer(K_ADMIN), NULL), 401, "unauthorized");
	dlockd_stop_checked();
}

static void t_bad_file_at_start(void)
{
	char out[4096];
	const char *bad = write_file("bad.txt", tfmt("# ok\n%sjoe sha256:%s team-a. read,write\n",
	                                             hash_line("a", K_ADMIN, "*", "admin"), sha256_hex(K_READ)));
	const char *args[] = {"--auth-file", bad, "--listen", tfmt("127.0.0.1:%d", free_port()), NULL};
	int rc = run_dlockd_capture(args, out, sizeof out, 5000);
	CHECKF(rc == 2 && strstr(out, "line 3") && strstr(out, "RIGHTS"),
	       "a bad auth file: exit 2 naming line 3 (got %d: %s)", rc, out);
	const char *missing[] = {"--auth-file", tfmt("%s/none.txt", harness_tmpdir()), NULL};
	rc = run_dlockd_capture(missing, out, sizeof out, 5000);
	CHECKF(rc == 2 && strstr(out, "none.txt"), "a missing auth file: exit 2 naming it (got %d: %s)", rc, out);
	const char *rate[] = {"--rate-limit", "5", NULL};
	rc = run_dlockd_capture(rate, out, sizeof out, 5000);
	CHECKF(rc == 2 && strstr(out, "--auth-file"), "--rate-limit without keys: exit 2 (got %d: %s)", rc, out);
}

static void t_rate_limit(void)
{
	const char *more[] = {"--rate-limit", "5", NULL};
	int limited = 0, ok = 0;
	start_with_keys(more);
	for (int i = 0; i < 15; i++) {
		struct resp *r = http("GET", "/locks/team-a.x", NULL, NULL, bearer(K_READ), NULL);
		if (r->status == 429) {
			limited++;
			EXPECT_PROBLEM(r, 429, "rate_limited");
			const char *ra = resp_header(r, "Retry-After");
			CHECKF(ra && atoi(ra) >= 1, "429 with Retry-After in whole seconds (got %s)", ra ? ra : "none");
		} else {
			ok += r->status == 404;
		}
	}
	/* 5 a second with bursts of 5: the first five pass; the test's 15 quick
	 * requests take well under a second more than the budget refills */
	CHECKF(ok >= 5 && limited >= 5, "15 quick requests at 5/s: %d passed, %d limited", ok, limited);
	/* another key has its own budget */
	EXPECT_STATUS(http("GET", "/locks", NULL, NULL, bearer(K_TEAM_A), NULL), 200);
	sleep_ms(1100);
	EXPECT_STATUS(http("GET", "/locks/team-a.x", NULL, NULL, bearer(K_READ), NULL), 404);
	int found = 0;
	double v = metric_value(http("GET", "/metrics", NULL, NULL, bearer(K_ADMIN), NULL), "dlockd_rate_limited_total",
	                        &found);
	CHECKF(v == limited, "dlockd_rate_limited_total %.0f, 429s seen %d", v, limited);
	/* per key: every request it authenticated (15 + 1), and the refused ones */
	struct resp *m = http("GET", "/metrics", NULL, NULL, bearer(K_ADMIN), NULL);
	double req = metric_value(m, "dlockd_key_requests_total{key=\"reader\"}", &found);
	double ref = metric_value(m, "dlockd_key_refused_total{key=\"reader\"}", &found);
	CHECKF(req == 16 && ref == limited,
	       "per-key metrics for reader: %.0f requests (want 16), %.0f refused (want %d)", req, ref, limited);
	CHECKF(metric_value(m, "dlockd_key_requests_total{key=\"team-a\"}", &found) == 1,
	       "per-key metrics for team-a: one request");
}

static void t_metrics_public(void)
{
	const char *more[] = {"--metrics-public", NULL};
	start_with_keys(more);
	EXPECT_STATUS(http("GET", "/metrics", NULL, NULL, NULL), 200);
	EXPECT_PROBLEM(http("GET", "/locks", NULL, NULL, NULL), 401, "unauthorized");
}

/* Audit lines: every grant, renewal, release, hand-off and refusal, with
 * key, name, fence, client and the request id the answer carried — never a
 * token. JSON lines parse. */
static void t_audit(void)
{
	const char *more[] = {"--log-format", "json", NULL};
	start_with_keys(more);
	struct resp *g = http("PUT", "/locks/team-a.job?ttl_ms=30000", NULL, NULL, bearer(K_TEAM_A), NULL);
	EXPECT_STATUS(g, 201);
	const char *tok = JSTR(g->json, "token"), *rid = resp_header(g, "X-Request-Id");
	CHECKF(rid && *rid, "a grant carries X-Request-Id");
	rid = tstrdup(rid);
	struct async_req *w =
	    http_async("PUT", "/locks/team-a.job?ttl_ms=30000&wait_ms=10000", NULL, NULL, bearer(K_LOCK));
	EXPECT_WAITING(w, "the waiter", "team-a.job");
	/* its first try was refused (it is in the line in Redis), and the renew
	 * below queues behind that answer: its grant will be a hand-off */
	char n[32] = "";
	const char *zcard[] = {"ZCARD", "dlock:queue:{team-a.job}"};
	double end = mono_ms() + 5000;
	while ((redis_cmd(n, sizeof n, 2, zcard) != ':' || strcmp(n, "1") != 0) && mono_ms() < end)
		sleep_ms(10);
	CHECKF(strcmp(n, "1") == 0, "the waiter is not in the line in Redis (ZCARD %s)", n);
	EXPECT_STATUS(
	    http("POST", "/locks/team-a.job/renew", NULL, NULL, bearer(K_TEAM_A), tfmt("Lock-Token: %s", tok), NULL),
	    200);
	EXPECT_STATUS(
	    http("DELETE", "/locks/team-a.job", NULL, NULL, bearer(K_TEAM_A), tfmt("Lock-Token: %s", tok), NULL), 204);
	struct resp *h = http_async_wait(w);
	EXPECT_STATUS(h, 201);
	const char *tok2 = JSTR(h->json, "token");
	struct resp *d = http("PUT", "/locks/team-b.x", NULL, NULL, bearer(K_TEAM_A), NULL);
	EXPECT_PROBLEM(d, 403, "forbidden");
	const char *inst = JSTR(d->json, "instance");
	CHECKF(inst && resp_header(d, "X-Request-Id") &&
	           strcmp(inst, tfmt("urn:dlockd:request:%s", resp_header(d, "X-Request-Id"))) == 0,
	       "a problem's instance names its request id: %s", d->body);
	CHECKF(strcmp(resp_header(d, "X-Request-Id"), rid) != 0, "request ids differ");
	sleep_ms(100);

	const char *log = dlockd_log_contents(NULL);
	CHECKF(!strstr(log, tok) && !strstr(log, tok2), "a token appears in the log");
	const char *want[][3] = {{"acquire", "granted", "team-a"},
	                         {"renew", "renewed", "team-a"},
	                         {"release", "released", "team-a"},
	                         {"acquire", "handed_off", "locker"},
	                         {"acquire", "forbidden", "team-a"}};
	bool found[5] = {0}, rid_seen = false;
	for (const char *line = log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *nl = strchr(line, '\n');
		json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
		if (!j)
			continue;
		json_t *msg = json_object_get(j, "msg");
		if (msg && strcmp(json_string_value(msg), "audit") == 0) {
			const char *ev = json_string_value(json_object_get(j, "event"));
			const char *oc = json_string_value(json_object_get(j, "outcome"));
			const char *key = json_string_value(json_object_get(j, "key"));
			const char *client = json_string_value(json_object_get(j, "client"));
			const char *id = json_string_value(json_object_get(j, "request_id"));
			for (int i = 0; i < 5; i++)
				if (ev && oc && key && !strcmp(ev, want[i][0]) && !strcmp(oc, want[i][1]) &&
				    !strcmp(key, want[i][2]))
					found[i] = true;
			CHECKF(client && strcmp(client, "127.0.0.1") == 0, "audit line without the client: %.*s",
			       (int)(nl ? nl - line : 200), line);
			if (ev && oc && !strcmp(ev, "acquire") && !strcmp(oc, "granted")) {
				rid_seen = id && strcmp(id, rid) == 0;
				CHECKF(json_integer_value(json_object_get(j, "fence")) == JINT(g->json, "fence") &&
				           !strcmp(json_string_value(json_object_get(j, "name")), "team-a.job"),
				       "the grant's audit line has its name and fence: %.*s",
				       (int)(nl ? nl - line : 200), line);
			}
		}
		json_decref(j);
	}
	for (int i = 0; i < 5; i++)
		CHECKF(found[i], "no audit line %s/%s for key %s in: %s", want[i][0], want[i][1], want[i][2], log);
	CHECKF(rid_seen, "the grant's audit line carries the X-Request-Id of its answer (%s)", rid);
}

/* Without keys, dlockd still serves everyone, and says so loudly when it
 * listens beyond loopback. */
static void t_open_warning(void)
{
	int port = free_port();
	const char *args[] = {"--listen", tfmt("0.0.0.0:%d", port), "--log-level", "info", NULL};
	dlockd_start(args);
	CHECKF(strstr(dlockd_log_contents(NULL), "NO AUTHENTICATION") != NULL,
	       "no warning for a dlockd open to the network without keys");
	EXPECT_STATUS(http("GET", "/locks", NULL, NULL, NULL), 200);
	struct resp *r = http("GET", "/healthz", NULL, NULL, NULL);
	CHECKF(resp_header(r, "X-Request-Id") != NULL, "every answer carries X-Request-Id");
	dlockd_stop_checked();
	const char *local[] = {"--log-level", "info", NULL};
	dlockd_start(local);
	CHECKF(strstr(dlockd_log_contents(NULL), "NO AUTHENTICATION") == NULL, "the warning on loopback");
}

const struct test tests_auth[] = {
    {"auth_matrix", t_matrix, {NULL}, T_NO_DLOCKD},
    {"auth_namespaces", t_namespaces, {NULL}, T_NO_DLOCKD},
    {"auth_reload", t_reload, {NULL}, T_NO_DLOCKD},
    {"auth_bad_file_at_start", t_bad_file_at_start, {NULL}, T_NO_DLOCKD},
    {"auth_rate_limit", t_rate_limit, {NULL}, T_NO_DLOCKD},
    {"auth_metrics_public", t_metrics_public, {NULL}, T_NO_DLOCKD},
    {"auth_audit", t_audit, {NULL}, T_NO_DLOCKD},
    {"auth_open_warning", t_open_warning, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
