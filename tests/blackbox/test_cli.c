/* dlock, the command-line client (issue 14): the one-shot commands' exit codes, and
 * `dlock run` with real child processes — exit status passed through, signals forwarded,
 * the token kept from the child, the lock released when it exits, and the child stopped
 * when the lock is lost (key deleted) or can no longer be confirmed (dlockd killed, Redis
 * paused), before the expiry the tool last confirmed. dlock is DLOCK_BIN, else the dlock
 * beside DLOCKD_BIN. The loss-to-SIGTERM delays are printed after the runs that measure them. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct cli {
	pid_t pid;
	char out[600], err[600];
	double t0;
};

/* DLOCK_URL for the next dlock started (a comma list), or NULL: the port's dlockd. */
static const char *g_cli_url;

/* Processes started by the current test: killed if it fails before waiting for them. */
static pid_t g_live[16];

static void forget(pid_t pid)
{
	for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
		if (g_live[i] == pid)
			g_live[i] = 0;
}

static void kill_leftovers(void)
{
	g_cli_url = NULL;
	for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
		if (g_live[i] > 0) {
			kill(g_live[i], SIGKILL);
			waitpid(g_live[i], NULL, 0);
			g_live[i] = 0;
		}
}

static const char *dlock_bin(void)
{
	const char *b = getenv("DLOCK_BIN"), *d = getenv("DLOCKD_BIN");
	const char *slash;

	if (b && *b)
		return b;
	CHECKF(d && *d, "set DLOCK_BIN (or DLOCKD_BIN) to find dlock");
	slash = strrchr(d, '/');
	return slash ? tfmt("%.*s/dlock", (int)(slash - d), d) : "dlock";
}

/* Starts dlock with args (NULL-terminated) and DLOCK_URL set to port's dlockd; stdin from
 * stdin_text (NULL: /dev/null); stdout and stderr to files. */
static struct cli cli_start_at(int port, const char *stdin_text, const char *const *args)
{
	static unsigned seq;
	struct cli c;
	const char *argv[40];
	size_t n = 0;
	char in[600];

	memset(&c, 0, sizeof c);
	seq++;
	snprintf(c.out, sizeof c.out, "%s/cli-%u.out", harness_tmpdir(), seq);
	snprintf(c.err, sizeof c.err, "%s/cli-%u.err", harness_tmpdir(), seq);
	snprintf(in, sizeof in, "%s/cli-%u.in", harness_tmpdir(), seq);
	if (stdin_text) {
		FILE *f = fopen(in, "w");
		CHECK(f);
		fputs(stdin_text, f);
		fclose(f);
	}
	argv[n++] = dlock_bin();
	while (*args && n < 39)
		argv[n++] = *args++;
	argv[n] = NULL;
	c.t0 = mono_ms();
	c.pid = fork();
	CHECK(c.pid >= 0);
	if (c.pid == 0) {
		int i = open(stdin_text ? in : "/dev/null", O_RDONLY);
		int o = open(c.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(c.err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char url[64];
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Default dispositions, whatever the suite inherited (under nohup SIGHUP is
		 * ignored, and an ignored signal is neither seen by dlock nor by the child). */
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (i < 0 || o < 0 || e < 0)
			_exit(120);
		dup2(i, 0);
		dup2(o, 1);
		dup2(e, 2);
		snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
		setenv("DLOCK_URL", g_cli_url ? g_cli_url : url, 1);
		execv(argv[0], (char **)argv);
		_exit(121);
	}
	for (size_t i = 0; i < sizeof g_live / sizeof g_live[0]; i++)
		if (!g_live[i]) {
			g_live[i] = c.pid;
			break;
		}
	return c;
}

static struct cli cli_start(const char *const *args)
{
	return cli_start_at(g_dl.port, NULL, args);
}

/* the file's text (at most 256 KiB; /proc files too), test-owned; "" if unreadable */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = talloc(256 * 1024 + 1);
	size_t n;

	if (!f)
		return buf;
	n = fread(buf, 1, 256 * 1024, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Waits up to limit_ms for c to exit; its exit status (128+N for a signal). */
static int cli_wait(struct cli *c, double limit_ms)
{
	double end = mono_ms() + limit_ms * g_slow;
	int st;

	for (;;) {
		pid_t p = waitpid(c->pid, &st, WNOHANG);
		if (p == c->pid)
			break;
		if (mono_ms() > end) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &st, 0);
			forget(c->pid);
			FAIL("dlock did not exit within %.0f ms; stderr: %s", limit_ms, slurp(c->err));
		}
		sleep_ms(5);
	}
	forget(c->pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs dlock to completion: its exit status; stdout in *out if out is not NULL. */
static int cli(const char *stdin_text, char **out, const char *const *args)
{
	struct cli c = cli_start_at(g_dl.port, stdin_text, args);
	int rc = cli_wait(&c, 20000);
	if (out)
		*out = slurp(c.out);
	return rc;
}
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The pid a child wrote to file path (waits up to 5 s for it). */
static pid_t read_pid(const char *path)
{
	double end = mono_ms() + 5000 * g_slow;
	for (;;) {
		char *s = slurp(path);
		long v = strtol(s, NULL, 10);
		if (v > 0 && strchr(s, '\n'))
			return (pid_t)v;
		CHECKF(mono_ms() < end, "the command never wrote its pid to %s", path);
		sleep_ms(5);
	}
}

static bool alive(pid_t pid)
{
	/* a zombie counts as gone: it has stopped running */
	char *st = slurp(tfmt("/proc/%d/stat", (int)pid));
	char *p = strrchr(st, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Polls until pid is gone; the wall clock then (at most 2 ms late), or fails after limit_ms. */
static int64_t await_gone(pid_t pid, double limit_ms)
{
	double end = mono_ms() + limit_ms * g_slow;
	while (alive(pid)) {
		CHECKF(mono_ms() < end, "process %d still runs after %.0f ms", (int)pid, limit_ms);
		sleep_ms(1);
	}
	return wall_ms();
}

/* The events of `dlock --json run` (stderr), parsed; n in *n. */
static json_t **events(const struct cli *c, size_t *n)
{
	char *s = slurp(c->err), *line, *save = NULL;
	json_t **ev = talloc(sizeof *ev * 256);
	*n = 0;
	for (line = strtok_r(s, "\n", &save); line && *n < 256; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		if (j) {
			ev[(*n)++] = j;
		}
	}
	return ev;
}

static void events_free(json_t **ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);
}

static const char *ev_name(json_t *e)
{
	json_t *v = json_object_get(e, "event");
	return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t ev_int(json_t *e, const char *k)
{
	json_t *v = json_object_get(e, k);
	CHECKF(json_is_integer(v), "event %s has no integer %s", ev_name(e), k);
	return json_integer_value(v);
}

/* Waits until `name` is held (GET 200) on port. */
static void await_held_at(int port, const char *name)
{
	double end = mono_ms() + 5000 * g_slow;
	while (http_at(port, "GET", tfmt("/locks/%s", name), NULL, NULL, NULL)->status != 200) {
		CHECKF(mono_ms() < end, "%s never became held", name);
		sleep_ms(5);
	}
}

/* ------------------------------------------------------- one-shot commands */

static void t_commands(void)
{
	char *out, *tok;

	kill_leftovers();
	CHECK(cli(NULL, &out, ARGS("acquire", "c1", "--ttl", "30s", "--owner", "me")) == 0);
	tok = tstrdup(out);
	tok[strcspn(tok, "\n")] = '\0';
	CHECKF(is_base64url(tok) && strlen(tok) >= 16, "acquire printed %s", out);
	CHECK(cli(NULL, &out, ARGS("status", "c1")) == 0);
	CHECKF(strstr(out, "c1\t") && strstr(out, "\tme"), "status printed %s", out);
	CHECK(cli(NULL, NULL, ARGS("acquire", "c1")) == 75);
	CHECK(cli(NULL, NULL, ARGS("acquire", "c1", "--wait", "200ms")) == 75);
	CHECK(cli(NULL, &out, ARGS("list", "--prefix", "c")) == 0);
	CHECKF(strncmp(out, "c1\t", 3) == 0, "list printed %s", out);
	CHECK(cli(NULL, &out, ARGS("--json", "list")) == 0);
	CHECKF(out[0] == '[' && strstr(out, "\"c1\""), "list --json printed %s", out);
	CHECK(cli(tfmt("%s\n", tok), &out, ARGS("--json", "renew", "c1", "--ttl", "10s", "--token", "-")) == 0);
	CHECKF(strstr(out, "\"ttl_ms\":10000"), "renew --json printed %s", out);
	CHECK(cli(NULL, NULL, ARGS("renew", "c1", "--token", "wrong-token-wrong-token")) == 3);
	CHECK(cli(NULL, NULL, ARGS("release", "c1", "--token", tok)) == 0);
	CHECK(cli(NULL, NULL, ARGS("release", "c1", "--token", tok)) == 3);
	CHECK(cli(NULL, NULL, ARGS("status", "c1")) == 1);
	/* usage errors are 64, never 1 */
	CHECK(cli(NULL, NULL, ARGS("acquire")) == 64);
	CHECK(cli(NULL, NULL, ARGS("acquire", "x", "--ttl", "3q")) == 64);
	CHECK(cli(NULL, NULL, ARGS("frobnicate", "x")) == 64);
	CHECK(cli(NULL, NULL, ARGS("release", "x")) == 64);
	CHECK(cli(NULL, NULL, ARGS("run", "x")) == 64);
	CHECK(cli(NULL, NULL, ARGS("run", "x", "--ttl", "100ms", "--", "true")) == 64);
	CHECK(cli(NULL, &out, ARGS("run", "--help")) == 0 && strstr(out, "usage: dlock run"));
	CHECK(cli(NULL, &out, ARGS("--help")) == 0 && strstr(out, "74") && strstr(out, "75"));
}

static void t_unreachable(void)
{
	int port = free_port();
	struct cli c;

	kill_leftovers();
	c = cli_start_at(port, NULL, ARGS("run", "u", "--", "true"));
	CHECK(cli_wait(&c, 10000) == 69);
	CHECKF(strstr(slurp(c.err), "dlockd"), "stderr: %s", slurp(c.err));
	c = cli_start_at(port, NULL, ARGS("acquire", "u"));
	CHECK(cli_wait(&c, 10000) == 69);
	c = cli_start_at(port, NULL, ARGS("status", "u"));
	CHECK(cli_wait(&c, 10000) == 69);
}

/* ------------------------------------------------------------- dlock run */

static void t_run_status(void)
{
	struct cli c;
	struct grant g;

	kill_leftovers();
	CHECK(cli(NULL, NULL, ARGS("run", "r1", "--", "sh", "-c", "exit 7")) == 7);
	CHECK(cli(NULL, NULL, ARGS("run", "r1", "--", "sh", "-c", "kill -USR1 $$")) == 128 + SIGUSR1);
	CHECK(cli(NULL, NULL, ARGS("run", "r1", "--", "/nonexistent/cmd")) == 127);
	/* released as soon as the child exits: free on the first look, and dlock exits soon */
	c = cli_start(ARGS("run", "r1", "--ttl", "60s", "--", "sh", "-c", "sleep 0.3"));
	CHECK(cli_wait(&c, 10000) == 0);
	CHECKF(mono_ms() - c.t0 < 300 + 5000, "dlock took %.0f ms", mono_ms() - c.t0);
	EXPECT_STATUS(http("GET", "/locks/r1", NULL, NULL, NULL), 404);
	/* 75: held, and a wait that runs out */
	g = ACQUIRE("r1", "ttl_ms=30000");
	CHECK(cli(NULL, NULL, ARGS("run", "r1", "--", "true")) == 75);
	c = cli_start(ARGS("run", "r1", "--wait", "400ms", "--", "true"));
	CHECK(cli_wait(&c, 10000) == 75);
	CHECKF(mono_ms() - c.t0 >= 400, "gave up after %.0f ms", mono_ms() - c.t0);
	/* a wait that ends in a grant */
	c = cli_start(ARGS("run", "r1", "--wait", "10s", "--", "sh", "-c", "exit 3"));
	sleep_ms(300);
	EXPECT_STATUS(http("DELETE", "/locks/r1", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL), 204);
	CHECK(cli_wait(&c, 10000) == 3);
}

/* every 32-character base64url window of buf[0..len) must not hash to the stored token */
static void expect_no_token_in(const char *what, const char *buf, size_t len, const char *stored)
{
	for (size_t i = 0; i + 32 <= len; i++) {
		char w[33];
		bool ok = true;
		memcpy(w, buf + i, 32);
		w[32] = '\0';
		for (size_t k = 0; k < 32 && ok; k++)
			ok = w[k] && strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", w[k]);
		CHECKF(!ok || strcmp(token_hash(w), stored) != 0, "the token is in the child's %s", what);
	}
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = talloc(65536);
	CHECKF(f, "cannot open %s", path);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static void t_run_env_signals(void)
{
	static const int SIGS[] = {SIGTERM, SIGINT, SIGHUP};
	const char *pidf = tfmt("%s/envpid", harness_tmpdir());

	kill_leftovers();
	for (size_t s = 0; s < sizeof SIGS / sizeof SIGS[0]; s++) {
		char stored[200];
		size_t len;
		char *env, *cmd;
		struct cli c;
		pid_t child;

		unlink(pidf);
		setenv("DLOCK_TOKEN", "not-for-the-child", 1);
		c = cli_start(
		    ARGS("run", "e1", "--ttl", "2s", "--", "sh", "-c", "echo $$ > \"$0\"; exec sleep 20", pidf));
		unsetenv("DLOCK_TOKEN");
		child = read_pid(pidf);
		sleep_ms(800); /* renewed at least once */
		CHECK(redis_cmd(stored, sizeof stored, 3, (const char *[]){"HGET", "dlock:lock:{e1}", "token"}) == '$');
		env = read_all(tfmt("/proc/%d/environ", (int)child), &len);
		expect_no_token_in("environment", env, len, stored);
		CHECK(!memmem(env, len, "DLOCK_TOKEN", 11));
		CHECK(memmem(env, len, "DLOCK_NAME=e1", 14));
		CHECK(memmem(env, len, "DLOCK_FENCE=", 12) && memmem(env, len, "DLOCK_EXPIRES_AT=", 17));
		cmd = read_all(tfmt("/proc/%d/cmdline", (int)child), &len);
		expect_no_token_in("argv", cmd, len, stored);
		cmd = read_all(tfmt("/proc/%d/cmdline", (int)c.pid), &len);
		expect_no_token_in("dlock's argv", cmd, len, stored);
		/* the signal is forwarded; sleep dies of it and dlock reports 128+N */
		kill(c.pid, SIGS[s]);
		CHECK(cli_wait(&c, 5000) == 128 + SIGS[s]);
		CHECK(!alive(child));
		EXPECT_STATUS(http("GET", "/locks/e1", NULL, NULL, NULL), 404);
	}
}

static double g_delays[64];
static size_t g_ndelays;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report_delays(void)
{
	double d[64];
	if (!g_ndelays)
		return;
	memcpy(d, g_delays, g_ndelays * sizeof d[0]);
	qsort(d, g_ndelays, sizeof d[0], cmp_double);
	fprintf(stderr, "  dlock run: loss-to-SIGTERM delay over %zu runs: p50 %.0f ms, worst %.0f ms\n", g_ndelays,
	        d[g_ndelays / 2], d[g_ndelays - 1]);
}

/* Deletes the lock key behind dlock's back (on every node if nodes) and checks that the
 * child gets SIGTERM within one renew interval (plus a round trip), exit 74. */
static void lost_once(int port, const char *name, bool nodes)
{
	const int64_t ttl = 1500, renew = ttl / 3;
	const char *pidf = tfmt("%s/lostpid", harness_tmpdir());
	const char *key = tfmt("dlock:lock:{%s}", name);
	struct cli c;
	pid_t child;
	int64_t t_del, t_term = -1;
	size_t n;
	json_t **ev;
	char out[64];

	unlink(pidf);
	c = cli_start_at(
	    port, NULL,
	    ARGS("--json", "run", name, "--ttl", "1500ms", "--", "sh", "-c", "echo $$ > \"$0\"; exec sleep 20", pidf));
	child = read_pid(pidf);
	await_held_at(port, name);
	sleep_ms(100 + (long)(g_ndelays * 97 % renew)); /* a different phase of the renew cycle each run */
	t_del = wall_ms();
	if (nodes)
		for (int i = 0; i < g_nnodes; i++)
			node_cmd(i, out, sizeof out, 2, (const char *[]){"DEL", key});
	else
		redis_cmd(out, sizeof out, 2, (const char *[]){"DEL", key});
	await_gone(child, 10000);
	CHECK(cli_wait(&c, 10000) == 74);
	ev = events(&c, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(ev_name(ev[i]), "sigterm") == 0)
			t_term = ev_int(ev[i], "at_ms");
	events_free(ev, n);
	CHECKF(t_term >= 0, "no sigterm event: %s", slurp(c.err));
	CHECKF(t_term - t_del <= (renew + 1000) * g_slow, "SIGTERM %lld ms after the key was deleted",
	       (long long)(t_term - t_del));
	if (g_ndelays < 64)
		g_delays[g_ndelays++] = (double)(t_term - t_del);
}

static void t_lost(void)
{
	kill_leftovers();
	for (int i = 0; i < 8; i++)
		lost_once(g_dl.port, "lost1", false);
	report_delays();
}

static void t_lost_sigkill(void)
{
	const char *pidf = tfmt("%s/stubborn", harness_tmpdir());
	struct cli c;
	pid_t child;
	int64_t t_term = -1, t_kill = -1;
	size_t n;
	json_t **ev;
	char out[64];

	kill_leftovers();
	unlink(pidf);
	c = cli_start(ARGS("--json", "run", "lost2", "--ttl", "3s", "--grace", "600ms", "--", "sh", "-c",
	                   "trap '' TERM; echo $$ > \"$0\"; while :; do sleep 0.05; done", pidf));
	child = read_pid(pidf);
	await_held_at(g_dl.port, "lost2");
	redis_cmd(out, sizeof out, 2, (const char *[]){"DEL", "dlock:lock:{lost2}"});
	await_gone(child, 10000);
	CHECK(cli_wait(&c, 10000) == 74);
	ev = events(&c, &n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ev_name(ev[i]), "sigterm") == 0)
			t_term = ev_int(ev[i], "at_ms");
		if (strcmp(ev_name(ev[i]), "sigkill") == 0)
			t_kill = ev_int(ev[i], "at_ms");
	}
	events_free(ev, n);
	CHECKF(t_term >= 0 && t_kill >= 0, "events: %s", slurp(c.err));
	CHECKF(t_kill - t_term >= 600 - 5, "SIGKILL %lld ms after SIGTERM, grace 600", (long long)(t_kill - t_term));
}

enum outage { DLOCKD_KILLED, REDIS_PAUSED, DLOCKD_PAUSED };

/* dlockd killed, Redis paused, or dlockd paused (a renew hangs in flight, and dlock's HTTP
 * timeout is the default 10 s, far beyond the lease): the child must be gone before the
 * expiry dlock last confirmed (each confirmation counts from when its request was sent, so
 * the real lease in Redis ends later still). */
static void unconfirmed(enum outage what)
{
	static const char *const WHAT[] = {"dlockd killed", "Redis paused", "dlockd paused"};
	const char *pidf = tfmt("%s/unconf", harness_tmpdir());
	struct cli c;
	pid_t child;
	int64_t t_gone, confirmed = -1, t_term = -1;
	size_t n;
	json_t **ev;

	kill_leftovers();
	unlink(pidf);
	c = cli_start(ARGS("--json", "--timeout", what == DLOCKD_PAUSED ? "10s" : "500ms", "run", "unc", "--ttl", "3s",
	                   "--grace", "300ms", "--", "sh", "-c", "echo $$ > \"$0\"; exec sleep 20", pidf));
	child = read_pid(pidf);
	await_held_at(g_dl.port, "unc");
	sleep_ms(1200); /* a renew or two */
	if (what == DLOCKD_KILLED)
		dlockd_kill();
	else if (what == REDIS_PAUSED)
		redis_stop_signal();
	else
		kill(g_dl.pid, SIGSTOP);
	t_gone = await_gone(child, 10000);
	if (what == REDIS_PAUSED)
		redis_cont_signal();
	else if (what == DLOCKD_PAUSED)
		kill(g_dl.pid, SIGCONT);
	CHECK(cli_wait(&c, 10000) == 74);
	ev = events(&c, &n);
	for (size_t i = 0; i < n && t_term < 0; i++) {
		if (strcmp(ev_name(ev[i]), "acquired") == 0 || strcmp(ev_name(ev[i]), "renewed") == 0)
			confirmed = ev_int(ev[i], "confirmed_until_ms");
		if (strcmp(ev_name(ev[i]), "sigterm") == 0)
			t_term = ev_int(ev[i], "at_ms");
	}
	events_free(ev, n);
	CHECKF(confirmed > 0 && t_term > 0, "events: %s", slurp(c.err));
	CHECKF(t_gone < confirmed, "the child was still running %lld ms after the confirmed expiry",
	       (long long)(t_gone - confirmed));
	CHECKF(t_term <= confirmed - 150 - 300 + 50, "SIGTERM at %lld ms before the confirmed expiry",
	       (long long)(confirmed - t_term));
	fprintf(stderr, "  dlock run, %s: SIGTERM %lld ms and the child gone %lld ms before the confirmed expiry\n",
	        WHAT[what], (long long)(confirmed - t_term), (long long)(confirmed - t_gone));
}

static void t_dlockd_killed(void)
{
	unconfirmed(DLOCKD_KILLED);
}

static void t_redis_paused(void)
{
	unconfirmed(REDIS_PAUSED);
}

static void t_dlockd_paused(void)
{
	unconfirmed(DLOCKD_PAUSED);
}

static void t_grace_shortened(void)
{
	struct cli c;

	kill_leftovers();
	c = cli_start(ARGS("run", "gs", "--ttl", "600ms", "--grace", "5s", "--", "true"));
	CHECK(cli_wait(&c, 10000) == 0);
	CHECKF(strstr(slurp(c.err), "--grace shortened"), "stderr: %s", slurp(c.err));
}

static void t_redlock(void)
{
	kill_leftovers();
	nodes_start(3);
	dlockd_start_nodes(NULL);
	CHECK(cli(NULL, NULL, ARGS("run", "rl", "--ttl", "1500ms", "--", "sh", "-c", "sleep 1; exit 5")) == 5);
	EXPECT_STATUS(http("GET", "/locks/rl", NULL, NULL, NULL), 404);
	for (int i = 0; i < 3; i++)
		lost_once(g_dl.port, "rl", true);
	report_delays();
}

/* ------------------------------------------------------------- API keys */

/* dlock keygen's key works against a dlockd that holds its line; without a
 * key, or outside its prefix, dlock exits 77; the key comes from
 * DLOCK_API_KEY or --api-key-file. */
static void t_api_keys(void)
{
	struct cli c;
	char *out, *key, *line;
	const char *path = tfmt("%s/cli-auth.txt", harness_tmpdir()), *keyfile = tfmt("%s/cli-key", harness_tmpdir());
	FILE *f;

	kill_leftovers();
	c = cli_start_at(free_port(), NULL, ARGS("keygen", "ci", "team-a.", "lock,read"));
	CHECK(cli_wait(&c, 10000) == 0);
	key = tstrdup(slurp(c.out));
	line = tstrdup(slurp(c.err));
	key[strcspn(key, "\n")] = '\0';
	CHECKF(strncmp(key, "dlk_", 4) == 0 && strlen(key) == 47 && is_base64url(key + 4), "keygen printed %s", key);
	CHECKF(strncmp(line, "ci sha256:", 10) == 0 && strstr(line, " team-a. lock,read\n") && !strstr(line, key),
	       "keygen's file line (never the key): %s", line);
	c = cli_start_at(free_port(), NULL, ARGS("keygen", "ci", "team-a.", "lock,write"));
	CHECK(cli_wait(&c, 10000) == 64);
	f = fopen(path, "w");
	CHECK(f);
	fputs(line, f);
	fclose(f);
	f = fopen(keyfile, "w");
	CHECK(f);
	fprintf(f, "%s\n", key);
	fclose(f);
	dlockd_start(ARGS("--auth-file", path));

	CHECK(cli(NULL, NULL, ARGS("acquire", "team-a.k")) == 77);
	c = cli_start(ARGS("status", "team-a.k"));
	CHECK(cli_wait(&c, 10000) == 77);
	CHECKF(strstr(slurp(c.err), "401"), "stderr says 401: %s", slurp(c.err));
	setenv("DLOCK_API_KEY", key, 1);
	CHECK(cli(NULL, &out, ARGS("acquire", "team-a.k", "--ttl", "30s")) == 0);
	CHECKF(is_base64url(strtok(out, "\n")), "acquire with DLOCK_API_KEY printed %s", out);
	CHECK(cli(NULL, NULL, ARGS("acquire", "team-b.k")) == 77); /* 403: outside the prefix */
	CHECK(cli(NULL, NULL, ARGS("run", "team-a.r", "--ttl", "3s", "--", "true")) == 0);
	unsetenv("DLOCK_API_KEY");
	CHECK(cli(NULL, NULL, ARGS("status", "team-a.k", "--api-key-file", keyfile)) == 0);
	CHECK(cli(NULL, NULL, ARGS("status", "team-a.k", "--api-key", "dlk_wrong")) == 77);
	CHECK(cli(NULL, NULL, ARGS("status", "team-a.k", "--api-key-file", tfmt("%s/none", harness_tmpdir()))) == 64);
}

/* --------------------------------------------- several dlockd replicas (--url ×2) */

static const char *url_of(int port)
{
	return tfmt("http://127.0.0.1:%d", port);
}

/* The first replica killed, then stopped (SIGSTOP): every one-shot command still works
 * through the second, within its --timeout (a stopped replica takes its share of it, half). */
static void t_failover_one_shot(void)
{
	int second = replica_start(NULL), first = g_dl.port;
	char *out, *tok;
	double t;

	kill_leftovers();
	dlockd_kill();
#define TWO "--url", url_of(first), "--url", url_of(second)
	CHECK(cli(NULL, &out, ARGS(TWO, "acquire", "f1", "--ttl", "30s")) == 0);
	tok = tstrdup(out);
	tok[strcspn(tok, "\n")] = '\0';
	CHECK(cli(NULL, NULL, ARGS(TWO, "status", "f1")) == 0);
	CHECK(cli(tfmt("%s\n", tok), NULL, ARGS(TWO, "renew", "f1", "--token", "-")) == 0);
	CHECK(cli(NULL, &out, ARGS(TWO, "list", "--prefix", "f")) == 0 && strncmp(out, "f1\t", 3) == 0);
	CHECK(cli(NULL, NULL, ARGS(TWO, "release", "f1", "--token", tok)) == 0);
	CHECK(cli(NULL, NULL, ARGS(TWO, "status", "f1")) == 1);
	/* the other order, and DLOCK_URL's comma list */
	CHECK(cli(NULL, NULL, ARGS("--url", url_of(second), "--url", url_of(first), "acquire", "f3")) == 0);
	g_cli_url = tfmt("%s,%s", url_of(first), url_of(second));
	CHECK(cli(NULL, NULL, ARGS("status", "f3")) == 0);
	g_cli_url = NULL;

	/* a stopped replica: no answer within its share of --timeout, then the second */
	dlockd_start(NULL);
	first = g_dl.port;
	kill(g_dl.pid, SIGSTOP);
	t = mono_ms();
	CHECK(cli(NULL, NULL, ARGS(TWO, "--timeout", "2s", "acquire", "f2")) == 0);
	CHECKF(mono_ms() - t < 1900, "the acquire took %.0f ms with --timeout 2s over two replicas", mono_ms() - t);
	kill(g_dl.pid, SIGCONT);
	CHECK(http_at(second, "GET", "/locks/f2", NULL, NULL, NULL)->status == 200);
#undef TWO
}

/* Which answers move on: a 503 does (a replica whose WAIT for replicas cannot be met
 * answers 503 replication_unconfirmed), a 4xx is final (a 409 from the first, with a
 * second that cannot answer at all: 75, not 69), and DLOCK_URL takes a comma list. */
static void t_failover_rules(void)
{
	int busy =
	    replica_start((const char *const[]){"--redis-wait-replicas", "1", "--redis-timeout-ms", "300", NULL});
	int dead = free_port();
	char *out;

	kill_leftovers();
	CHECK(http_at(busy, "PUT", "/locks/g1", NULL, NULL, NULL)->status == 503);
	CHECK(cli(NULL, &out, ARGS("--url", url_of(busy), "--url", url_of(g_dl.port), "acquire", "g1")) == 0);
	CHECK(http("GET", "/locks/g1", NULL, NULL, NULL)->status == 200);
	CHECK(cli(NULL, NULL, ARGS("--url", url_of(g_dl.port), "--url", url_of(dead), "acquire", "g1")) == 75);
	CHECK(cli(NULL, NULL, ARGS("--url", url_of(dead), "acquire", "g1")) == 69);
	g_cli_url = tfmt("%s,%s", url_of(dead), url_of(g_dl.port));
	CHECK(cli(NULL, NULL, ARGS("status", "g1")) == 0);
	g_cli_url = tfmt("%s", url_of(dead));
	CHECK(cli(NULL, NULL, ARGS("status", "g1")) == 69);
	g_cli_url = NULL;
}

/* dlock run over two replicas keeps renewing through the second when the first dies
 * mid-run: the command runs to its end (exit 0), renewals go on, the lock is released. */
static void t_failover_run(void)
{
	int second = replica_start(NULL), first = g_dl.port;
	struct cli c;
	json_t **ev;
	size_t n, renewed_after = 0;
	double killed_at;

	kill_leftovers();
	g_cli_url = tfmt("%s,%s", url_of(first), url_of(second)); /* renews start on the first */
	c = cli_start_at(first, NULL, ARGS("--json", "run", "fr", "--ttl", "900ms", "--", "sleep", "3"));
	g_cli_url = NULL;
	await_held_at(second, "fr");
	sleep_ms(700);
	dlockd_kill();
	killed_at = mono_ms();
	CHECK(cli_wait(&c, 10000) == 0);
	CHECKF(mono_ms() - killed_at > 1500, "dlock run ended %.0f ms after the first replica died",
	       mono_ms() - killed_at);
	ev = events(&c, &n);
	for (size_t i = 0, seen_fail = 0; i < n; i++) {
		if (strcmp(ev_name(ev[i]), "renew_failed") == 0)
			seen_fail = 1;
		else if (seen_fail && strcmp(ev_name(ev[i]), "renewed") == 0)
			renewed_after++;
		CHECKF(strcmp(ev_name(ev[i]), "sigterm") != 0, "the command was stopped: %s", slurp(c.err));
	}
	events_free(ev, n);
	CHECKF(renewed_after >= 3, "%zu renewals after the first failed renew; stderr: %s", renewed_after,
	       slurp(c.err));
	CHECK(http_at(second, "GET", "/locks/fr", NULL, NULL, NULL)->status == 404);
}

const struct test tests_cli[] = {
    {"cli_commands", t_commands, {NULL}, 0},
    {"cli_unreachable_69", t_unreachable, {NULL}, T_NO_DLOCKD},
    {"cli_run_status", t_run_status, {NULL}, 0},
    {"cli_run_env_signals", t_run_env_signals, {NULL}, 0},
    {"cli_run_lost", t_lost, {NULL}, 0},
    {"cli_run_lost_sigkill", t_lost_sigkill, {NULL}, 0},
    {"cli_run_dlockd_killed", t_dlockd_killed, {NULL}, 0},
    {"cli_run_redis_paused", t_redis_paused, {NULL}, 0},
    {"cli_run_dlockd_paused", t_dlockd_paused, {NULL}, 0},
    {"cli_run_grace_shortened", t_grace_shortened, {NULL}, 0},
    {"cli_run_redlock", t_redlock, {NULL}, T_NO_DLOCKD},
    {"cli_api_keys", t_api_keys, {NULL}, T_NO_DLOCKD},
    {"cli_failover_one_shot", t_failover_one_shot, {NULL}, 0},
    {"cli_failover_rules", t_failover_rules, {NULL}, 0},
    {"cli_failover_run", t_failover_run, {NULL}, 0},
    {NULL, NULL, {NULL}, 0},
};
