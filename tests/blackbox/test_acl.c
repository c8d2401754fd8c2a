/* Redis ACL users (docs/redis-acl.md): dlockd runs as a user with exactly
 * the rule of docs/redis-acl.conf (read from that file, so the doc and the
 * test cannot drift), against redis-servers ("nodes") whose default user may
 * only PING and ACL SETUSER/LOG. A rule that lacks one part keeps dlockd not
 * ready with a line that names it (never a 500), until the rule is fixed at
 * run time; a wrong password likewise; the password never shows in the log,
 * /readyz or /metrics. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The password: characters that must be percent-encoded in a URL. */
static const char PW[] = "p@ss:w/rd%,x";
static const char PW_URL[] = "p%40ss%3Aw%2Frd%25%2Cx";

static const char *tok_hdr(const char *t)
{
	return tfmt("Lock-Token: %s", t);
}

/* An ACL file with rule and a default user that may only PING (the harness
 * waits for it) and change and read the ACL (the tests fix rules at run time). */
static const char *acl_file(const char *rule)
{
	static unsigned n;
	const char *path = tfmt("%s/acl-%u.conf", harness_tmpdir(), ++n);
	FILE *f = fopen(path, "w");

	CHECKF(f, "cannot write %s", path);
	fprintf(f, "%s\nuser default on nopass resetkeys resetchannels -@all +ping +acl|setuser +acl|log\n", rule);
	fclose(f);
	return path;
}

static const char *user_url(int node, const char *pw_url)
{
	return tfmt("redis://dlockd:%s@127.0.0.1:%d", pw_url, g_nodes[node].port);
}

/* The dlockd log never shows the password, raw or encoded, nor the user:password pair. */
static void expect_no_password(const char *also)
{
	const char *log = dlockd_log_contents(NULL);
	struct resp *m = http("GET", "/metrics", NULL, NULL, NULL);
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	const char *secrets[] = {PW, PW_URL, "w/rd", "p%40ss", also};

	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0] && secrets[i]; i++) {
		CHECKF(!strstr(log, secrets[i]), "the dlockd log shows '%s'", secrets[i]);
		CHECKF(!strstr(m->body, secrets[i]), "/metrics shows '%s'", secrets[i]);
		CHECKF(!strstr(r->body, secrets[i]), "/readyz shows '%s'", secrets[i]);
	}
}

/* Polls the dlockd log for a line with every one of words (NULL-terminated), up to 5 s. */
static const char *wait_log_line(const char *const *words)
{
	double end = mono_ms() + 5000.0 * g_slow;

	for (;;) {
		char *log = dlockd_log_contents(NULL), *save = NULL;
		for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			size_t i = 0;
			while (words[i] && strstr(l, words[i]))
				i++;
			if (!words[i])
				return l;
		}
		CHECKF(mono_ms() < end, "no dlockd log line with '%s' ... within 5 s", words[0]);
		sleep_ms(50);
	}
}

/* Every entry of the node's ACL LOG names one of the allowed objects. */
static void expect_acl_log_only(int node, const char *const *allowed)
{
	size_t n = 0;
	const char **v = node_list(node, 2, ARGS("ACL", "LOG"), &n);

	CHECKF(v, "ACL LOG on node %d failed", node);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(v[i], "object") != 0)
			continue;
		size_t k = 0;
		while (allowed[k] && strcmp(allowed[k], v[i + 1]) != 0)
			k++;
		CHECKF(allowed[k], "Redis refused dlockd's user '%s' (ACL LOG): the documented rule lacks it",
		       v[i + 1]);
	}
}

/* acquire, renew, inspect, list, release and a hand-off to a waiter */
static void exercise(void)
{
	struct resp *r = http("PUT", "/locks/acl-a?ttl_ms=10000&owner=o", NULL, NULL, NULL);
	EXPECT_STATUS(r, 201);
	struct grant a = CHECK_GRANT(r, "acl-a", -1, "o"); /* Redlock: the validity */
	r = http("POST", "/locks/acl-a/renew?ttl_ms=20000", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(r, 200);
	r = http("GET", "/locks/acl-a", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECK_VIEW(r->json, "acl-a", 20000, "o");
	r = http("GET", "/locks?prefix=acl-", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(json_array_size(JGET(r->json, "locks")) == 1, "the list does not show the one lock");

	struct async_req *w = http_async("PUT", "/locks/acl-a?ttl_ms=5000&wait_ms=5000&owner=w", NULL, NULL, NULL);
	sleep_ms(300);
	EXPECT_WAITING(w, "waiter", "the lock was still held");
	struct resp *rel = http("DELETE", "/locks/acl-a", NULL, NULL, tok_hdr(a.token), NULL);
	EXPECT_STATUS(rel, 204);
	struct resp *rw = http_async_wait(w);
	EXPECT_STATUS(rw, 201);
	struct grant g = CHECK_GRANT(rw, "acl-a", -1, "w");
	double lag = rw->t1_mono - rel->t1_mono;
	CHECKF(lag < 750.0 * g_slow, "hand-off took %.0f ms after the release: no wake-up?", lag);
	r = http("DELETE", "/locks/acl-a", NULL, NULL, tok_hdr(g.token), NULL);
	EXPECT_STATUS(r, 204);
}

static void t_documented_rule(void)
{
	nodes_start_acl(1, acl_file(acl_rule_for(NULL, PW)));
	dlockd_start(ARGS("--redis", user_url(0, PW_URL)));
	exercise();
	/* CONFIG GET maxmemory-policy is outside the rule: a warning, not a failure */
	wait_log_line(ARGS("could not read maxmemory-policy", "NOPERM"));
	expect_acl_log_only(0, ARGS("config|get"));
	expect_no_password(NULL);
}

/* dlockd with the rule lacking `drop`: not ready, naming `missing`; every
 * request 503 (never 500); ready once ACL SETUSER gives it back. */
static void missing_case(const char *drop, const char *missing)
{
	nodes_start_acl(1, acl_file(acl_rule_for(drop, PW)));
	dlockd_start_healthy(ARGS("--redis", user_url(0, PW_URL)));
	wait_log_line(ARGS("error", "lacks what dlockd needs", missing, "docs/redis-acl.md"));
	const struct req reqs[] = {
	    {"GET", "/readyz", NULL, NULL, NULL},
	    {"PUT", "/locks/acl-m?ttl_ms=5000", NULL, NULL, NULL},
	    {"PUT", "/locks/acl-m?ttl_ms=5000&wait_ms=200", NULL, NULL, NULL},
	    {"POST", "/locks/acl-m/renew", NULL, NULL, "Lock-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {"DELETE", "/locks/acl-m", NULL, NULL, "Lock-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {"GET", "/locks/acl-m", NULL, NULL, NULL},
	    {"GET", "/locks", NULL, NULL, NULL},
	};
	EXPECT_PROBLEMS(reqs, 503, "backend_unavailable");
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	const char *detail = JSTR(r->json, "detail");
	CHECKF(strstr(detail, missing) && strstr(detail, "docs/redis-acl.md"),
	       "/readyz does not say what is missing (%s): %s", missing, detail);
	expect_no_password(NULL);

	char out[256];
	CHECKF(node_cmd(0, out, sizeof out, 4, ARGS("ACL", "SETUSER", "dlockd", drop)) == '+', "ACL SETUSER %s: %s",
	       drop, out);
	double end = mono_ms() + 6000.0 * g_slow;
	while ((r = http("GET", "/readyz", NULL, NULL, NULL))->status != 200) {
		CHECKF(mono_ms() < end, "not ready 6 s after the rule got '%s' back: %s", drop, r->body);
		sleep_ms(100);
	}
	exercise();
}

static void t_missing_script_command(void)
{
	missing_case("+scan", "scan");
}

static void t_missing_evalsha(void)
{
	missing_case("+evalsha", "evalsha");
}

static void t_missing_script_load(void)
{
	missing_case("+script|load", "script|load");
}

static void t_missing_subscribe(void)
{
	missing_case("+subscribe", "subscribe");
}

static void t_missing_channel(void)
{
	missing_case("&dlock:wake", "the channel dlock:wake");
}

static void t_missing_keys(void)
{
	missing_case("~dlock:*", "the keys dlock:*");
}

static void t_wrong_password(void)
{
	static const char WRONG[] = "Wr0ng-s3cr3t";

	nodes_start_acl(1, acl_file(acl_rule_for(NULL, PW)));
	dlockd_start_healthy(ARGS("--redis", user_url(0, WRONG)));
	wait_log_line(ARGS("error", "Redis refused the credentials", "WRONGPASS"));
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	CHECKF(strstr(JSTR(r->json, "detail"), "refused the credentials"), "/readyz does not say why: %s", r->body);
	r = http("PUT", "/locks/acl-w?ttl_ms=5000", NULL, NULL, NULL);
	EXPECT_PROBLEM(r, 503, "backend_unavailable");
	expect_no_password(WRONG);
}

/* Redlock over three nodes, each as the ACL user (INFO, outside the rule, only
 * warns); a third node with a wrong password leaves a working quorum that
 * /readyz warns about. */
static void t_redlock_users(void)
{
	nodes_start_acl(3, acl_file(acl_rule_for(NULL, PW)));
	dlockd_start(ARGS("--redis", user_url(0, PW_URL), "--redis", user_url(1, PW_URL), "--redis",
	                  user_url(2, "Wr0ng-s3cr3t")));
	exercise();
	wait_log_line(ARGS("INFO gave no run_id", "NOPERM"));
	struct resp *r = http("GET", "/readyz", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	CHECKF(strstr(r->body, "refused the credentials"), "/readyz does not warn about node 3: %s", r->body);
	expect_acl_log_only(0, ARGS("config|get", "info"));
	expect_acl_log_only(1, ARGS("config|get", "info"));
	expect_no_password("Wr0ng-s3cr3t");
}

const struct test tests_acl[] = {
    {"acl_documented_rule", t_documented_rule, {NULL}, T_NO_DLOCKD},
    {"acl_missing_script_command", t_missing_script_command, {NULL}, T_NO_DLOCKD},
    {"acl_missing_evalsha", t_missing_evalsha, {NULL}, T_NO_DLOCKD},
    {"acl_missing_script_load", t_missing_script_load, {NULL}, T_NO_DLOCKD},
    {"acl_missing_subscribe", t_missing_subscribe, {NULL}, T_NO_DLOCKD},
    {"acl_missing_channel", t_missing_channel, {NULL}, T_NO_DLOCKD},
    {"acl_missing_keys", t_missing_keys, {NULL}, T_NO_DLOCKD},
    {"acl_wrong_password", t_wrong_password, {NULL}, T_NO_DLOCKD},
    {"acl_redlock_users", t_redlock_users, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
