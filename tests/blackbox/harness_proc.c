/* Black-box harness, processes: the private redis-server (g_redis), the
 * dlockd under test (g_dl, with DLOCKD_WRAPPER if set), dlockd runs whose
 * output is captured, and for the Redlock tests independent redis-servers
 * (g_nodes) and extra dlockd replicas, and redis-sentinel processes for the
 * Sentinel tests (g_sentinels). Start, stop (checked: exit 0 on
 * SIGTERM), kill, pause, and what the runner cleans up after each test. */
#include "harness_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct dlockd g_dl;
struct redis g_redis;
struct node g_nodes[NODES_MAX];
int g_nnodes;
struct sentinel_proc g_sentinels[SENTINELS_MAX];
int g_nsentinels;
int g_slow = 1;

/* how dlockd is run: DLOCKD_BIN, prefixed by the words of DLOCKD_WRAPPER */
static struct {
	const char *bin;
	char *wrapper_buf; /* the words point into it */
	char *wrapper[32];
	int nwrapper;
	unsigned starts; /* dlockd processes started so far: names their logs */
} g_exec;

/* the replicas started by the current test (nodes_cleanup() stops them) */
static struct {
	struct dlockd v[REPLICAS_MAX];
	int n;
} g_replicas;

/* ------------------------------------------------------------ processes */

void procs_init(void)
{
	g_exec.bin = getenv("DLOCKD_BIN");
	const char *w = getenv("DLOCKD_WRAPPER");
	if (!w || !*w)
		return;
	size_t n = strlen(w);
	g_exec.wrapper_buf = xmalloc(n + 1);
	memcpy(g_exec.wrapper_buf, w, n + 1);
	char *save = NULL;
	for (char *t = strtok_r(g_exec.wrapper_buf, " \t", &save); t && g_exec.nwrapper < 31;
	     t = strtok_r(NULL, " \t", &save))
		g_exec.wrapper[g_exec.nwrapper++] = t;
	g_exec.wrapper[g_exec.nwrapper] = NULL;
	if (g_exec.nwrapper)
		g_slow = 5;
}

void procs_fini(void)
{
	free(g_exec.wrapper_buf);
	g_exec.wrapper_buf = NULL;
}

/* SIGKILL to pid and its process group (wrapper children); async-signal-safe */
static void kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

/* kill_group() and reap it */
static void kill_reap(pid_t pid)
{
	kill_group(pid);
	waitpid(pid, NULL, 0);
}

void procs_kill_all(void)
{
	cluster_kill_all();
	if (g_dl.pid > 0)
		kill_group(g_dl.pid);
	if (g_redis.pid > 0)
		kill_group(g_redis.pid);
}

void procs_reap_all(void)
{
	procs_kill_all();
	cluster_reap_all();
	if (g_dl.pid > 0)
		waitpid(g_dl.pid, NULL, 0);
	if (g_redis.pid > 0)
		waitpid(g_redis.pid, NULL, 0);
	g_dl.pid = 0;
	g_redis.pid = 0;
}

static pid_t spawn_env(char *const argv[], const char *logpath, int out_fd, const char *const *env)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(0);
		int fd = out_fd;
		if (fd < 0)
			fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		int dn = open("/dev/null", O_RDONLY);
		if (dn >= 0) {
			dup2(dn, 0);
			if (dn > 2)
				close(dn);
		}
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execvp(argv[0], argv);
		dprintf(2, "exec %s failed: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

static pid_t spawn(char *const argv[], const char *logpath, int out_fd)
{
	return spawn_env(argv, logpath, out_fd, NULL);
}

/* wait up to timeout_ms for pid; returns true and the status if it exited */
static bool wait_exit(pid_t pid, int timeout_ms, int *status)
{
	double end = mono_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return true; /* already reaped */
		if (mono_ms() > end)
			return false;
		sleep_ms(5);
	}
}

/* ------------------------------------------------------------ redis-server */

/* a redis-server on 127.0.0.1:port without persistence, working in dir
 * (where it loads a dump.rdb a SAVE left), on the unix socket sock if not
 * NULL, and with its users from aclfile if not NULL */
static pid_t redis_spawn(int port, const char *dir, const char *log, const char *sock, const char *aclfile)
{
	char ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	char *argv[32] = {
	    "redis-server", "--port", ports,       "--bind",      "127.0.0.1", "--save",           "",  "--appendonly",
	    "no",           "--dir",  (char *)dir, "--daemonize", "no",        "--protected-mode", "no"};
	int n = 15;
	if (sock) {
		argv[n++] = "--unixsocket";
		argv[n++] = (char *)sock;
		argv[n++] = "--unixsocketperm";
		argv[n++] = "700";
	}
	if (aclfile) {
		argv[n++] = "--aclfile";
		argv[n++] = (char *)aclfile;
	}
	argv[n] = NULL;
	return spawn(argv, log, -1);
}

/* remove dir/dump.rdb: a later (re)start of that server must come up empty */
static void remove_snapshot(const char *dir)
{
	char path[600];
	if (!dir[0])
		return;
	snprintf(path, sizeof path, "%s/dump.rdb", dir);
	unlink(path);
}

void redis_restore(void)
{
	redis_config_undo();
	remove_snapshot(g_redis.dir);
}

bool redis_start(void)
{
	if (!g_redis.port)
		g_redis.port = free_port();
	if (!g_redis.dir[0]) {
		snprintf(g_redis.dir, sizeof g_redis.dir, "%s/redis", harness_tmpdir());
		mkdir(g_redis.dir, 0700);
		snprintf(g_redis.log, sizeof g_redis.log, "%s/redis.log", harness_tmpdir());
		snprintf(g_redis.sock, sizeof g_redis.sock, "%s/redis/redis.sock", harness_tmpdir());
	}
	g_redis.pid = redis_spawn(g_redis.port, g_redis.dir, g_redis.log, g_redis.sock, NULL);
	g_redis.stopped = false;
	if (g_redis.pid <= 0)
		return false;
	if (!redis_ping(10000)) {
		log_tail(g_redis.log, 20);
		return false;
	}
	return true;
}

void redis_kill(void)
{
	if (g_redis.pid > 0)
		kill_reap(g_redis.pid);
	g_redis.pid = 0;
	g_redis.stopped = false;
}

void redis_stop_signal(void)
{
	if (g_redis.pid > 0)
		kill(g_redis.pid, SIGSTOP);
	g_redis.stopped = true;
}

void redis_cont_signal(void)
{
	if (g_redis.pid > 0)
		kill(g_redis.pid, SIGCONT);
	g_redis.stopped = false;
}

bool redis_ensure(void)
{
	if (g_redis.pid > 0) {
		kill(g_redis.pid, SIGCONT);
		g_redis.stopped = false;
		if (waitpid(g_redis.pid, NULL, WNOHANG) == 0 && redis_ping(2000))
			return true;
		redis_kill();
	}
	return redis_start();
}

/* ------------------------------------------------------------ dlockd */

/* the wrapper's words and DLOCKD_BIN at the start of argv; their count */
static int exec_prefix(char **argv)
{
	int n = 0;
	for (int i = 0; i < g_exec.nwrapper; i++)
		argv[n++] = g_exec.wrapper[i];
	argv[n++] = (char *)g_exec.bin;
	return n;
}

static bool has_flag(const char *const *extra, const char *flag)
{
	for (size_t i = 0; extra && extra[i]; i++)
		if (strcmp(extra[i], flag) == 0)
			return true;
	return false;
}

static bool healthz_ok(CURL *h, int port, const char *path)
{
	struct resp *r = http_ex(h, port, "GET", path, NULL, 0, NULL, NULL, 1000L * g_slow);
	bool ok = r->status == 200;
	resp_free(r);
	return ok;
}

/* wait until d answers GET /healthz 200, and also /readyz 200 if `ready`;
 * fails the test if it dies or the time is up */
static void dlockd_wait_started(struct dlockd *d, bool ready)
{
	CURL *h = curl_new();
	double start_limit_s = g_exec.nwrapper ? 20 : 10;
	const char *sts = getenv("DLOCKD_START_TIMEOUT_S");
	if (sts && strtod(sts, NULL) > 0)
		start_limit_s = strtod(sts, NULL);
	double end = mono_ms() + 1000.0 * start_limit_s;
	for (;;) {
		int st;
		pid_t w = waitpid(d->pid, &st, WNOHANG);
		if (w == d->pid) {
			curl_easy_cleanup(h);
			d->running = false;
			d->pid = 0;
			log_tail(d->log, 20);
			if (WIFEXITED(st))
				FAIL("dlockd exited during startup with status %d", WEXITSTATUS(st));
			FAIL("dlockd died during startup with signal %d", WTERMSIG(st));
		}
		if (healthz_ok(h, d->port, "/healthz")) {
			/* Redis is connected asynchronously: also wait until the
			 * service reports ready, so tests don't race the connect */
			while (ready && !healthz_ok(h, d->port, "/readyz")) {
				if (mono_ms() > end) {
					curl_easy_cleanup(h);
					log_tail(d->log, 20);
					FAIL("dlockd answered /healthz but not GET /readyz 200 within %.0f s",
					     start_limit_s);
				}
				sleep_ms(10);
			}
			break;
		}
		if (mono_ms() > end) {
			curl_easy_cleanup(h);
			log_tail(d->log, 20);
			FAIL("dlockd did not answer GET /healthz 200 within %.0f s", start_limit_s);
		}
		sleep_ms(20);
	}
	curl_easy_cleanup(h);
}

/* start dlockd as d: the default flags that extra does not give, then extra */
static void dlockd_launch(struct dlockd *d, const char *const *extra, const char *const *env, bool ready)
{
	if (!g_exec.bin)
		FAIL("DLOCKD_BIN is not set");
	if (access(g_exec.bin, X_OK) != 0)
		FAIL("DLOCKD_BIN %s is not executable: %s", g_exec.bin, strerror(errno));
	d->port = free_port();
	for (size_t i = 0; extra && extra[i] && extra[i + 1]; i++) {
		if (strcmp(extra[i], "--listen") == 0) {
			/* caller-chosen address: talk to its port on 127.0.0.1 */
			const char *c = strrchr(extra[i + 1], ':');
			if (c)
				d->port = (int)strtol(c + 1, NULL, 10);
		}
	}
	g_exec.starts++;
	snprintf(d->log, sizeof d->log, "%s/dlockd-%03u.log", harness_tmpdir(), g_exec.starts);
	char listen[64], redis[96];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", d->port);
	snprintf(redis, sizeof redis, "redis://127.0.0.1:%d", g_redis.port);
	char *defaults[][2] = {
	    {"--listen", listen}, {"--redis", redis}, {"--redis-timeout-ms", "300"}, {"--log-level", "warn"}};
	char *argv[96];
	int n = exec_prefix(argv);
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		if (has_flag(extra, defaults[i][0]))
			continue;
		argv[n++] = defaults[i][0];
		argv[n++] = defaults[i][1];
	}
	for (size_t i = 0; extra && extra[i] && n < 94; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;

	d->pid = spawn_env(argv, d->log, -1, env);
	if (d->pid <= 0)
		FAIL("fork failed: %s", strerror(errno));
	d->running = true;
	dlockd_wait_started(d, ready);
}

void dlockd_start(const char *const *extra)
{
	dlockd_launch(&g_dl, extra, NULL, true);
}

void dlockd_start_env(const char *const *extra, const char *const *env)
{
	dlockd_launch(&g_dl, extra, env, true);
}

void dlockd_start_healthy(const char *const *extra)
{
	dlockd_launch(&g_dl, extra, NULL, false);
}

void dlockd_kill(void)
{
	if (g_dl.pid > 0)
		kill_reap(g_dl.pid);
	g_dl.pid = 0;
	g_dl.running = false;
}

/* dlockd_stop() for d */
static bool stop_one(struct dlockd *d, char *why, size_t whysz)
{
	if (whysz)
		why[0] = 0;
	if (!d->running || d->pid <= 0)
		return true;
	d->running = false;
	pid_t pid = d->pid;
	int st = 0;
	const char *when = "after SIGTERM";
	bool exited = waitpid(pid, &st, WNOHANG) == pid;
	if (exited) {
		when = "before SIGTERM (it crashed or quit during the test)";
	} else {
		kill(pid, SIGTERM);
		exited = wait_exit(pid, 10000 * (g_exec.nwrapper ? 3 : 1), &st);
	}
	if (!exited)
		kill_reap(pid);
	d->pid = 0;
	/* reap anything else left in its process group (wrapper children) */
	kill(-pid, SIGKILL);
	if (!exited) {
		log_tail(d->log, 25);
		snprintf(why, whysz, "dlockd did not exit within 10 s of SIGTERM");
		return false;
	}
	if (WIFSIGNALED(st)) {
		log_tail(d->log, 25);
		snprintf(why, whysz, "dlockd was killed by signal %d %s", WTERMSIG(st), when);
		return false;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		log_tail(d->log, 25);
		snprintf(why, whysz, "dlockd exited with status %d %s (sanitizer/valgrind error?)", WEXITSTATUS(st),
		         when);
		return false;
	}
	return true;
}

bool dlockd_stop(char *why, size_t whysz)
{
	return stop_one(&g_dl, why, whysz);
}

void dlockd_stop_checked(void)
{
	char why[256];
	if (!dlockd_stop(why, sizeof why))
		FAIL("%s", why);
}

char *dlockd_log_contents(size_t *len)
{
	FILE *f = fopen(g_dl.log, "rb");
	struct growbuf b = {0};
	if (f) {
		char tmp[8192];
		size_t n;
		while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
			gb_append(&b, tmp, n);
		fclose(f);
	}
	if (!b.p)
		gb_append(&b, "", 0);
	arena_add(b.p, free);
	if (len)
		*len = b.len;
	return b.p;
}

/* what fd gives until EOF or `end` (mono_ms), as much as fits into out */
static void read_until(int fd, double end, char *out, size_t outsz)
{
	size_t got = 0;
	if (outsz)
		out[0] = 0;
	for (;;) {
		int left = (int)(end - mono_ms());
		if (left <= 0)
			break;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			continue;
		char tmp[1024];
		ssize_t r = read(fd, tmp, sizeof tmp);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r && got + 1 < outsz; i++) {
			out[got++] = tmp[i];
			out[got] = 0;
		}
	}
}

int run_dlockd_capture(const char *const *args, char *out, size_t outsz, int timeout_ms)
{
	if (!g_exec.bin)
		FAIL("DLOCKD_BIN is not set");
	char *argv[64];
	int n = exec_prefix(argv);
	for (size_t i = 0; args && args[i] && n < 62; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		FAIL("pipe failed");
	pid_t pid = spawn(argv, NULL, pfd[1]);
	close(pfd[1]);
	if (pid <= 0) {
		close(pfd[0]);
		FAIL("fork failed");
	}
	double end = mono_ms() + timeout_ms * g_slow;
	read_until(pfd[0], end, out, outsz);
	close(pfd[0]);
	int st = 0;
	int left = (int)(end - mono_ms());
	if (!wait_exit(pid, left > 0 ? left : 1, &st)) {
		kill_reap(pid);
		return -1;
	}
	kill(-pid, SIGKILL);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return -1;
}

/* ------------------------------------------------------------ Redlock nodes and replicas */

static bool port_taken(int port, int self)
{
	if (port <= 0 || port == g_redis.port || port == g_dl.port)
		return true;
	for (int i = 0; i < NODES_MAX; i++)
		if (i != self && g_nodes[i].port == port)
			return true;
	for (int i = 0; i < SENTINELS_MAX; i++)
		if (g_sentinels[i].port == port)
			return true;
	return false;
}

void node_start(int i)
{
	if (i < 0 || i >= NODES_MAX)
		FAIL("node %d out of range", i);
	struct node *nd = &g_nodes[i];
	if (nd->pid > 0)
		FAIL("node %d is already running", i);
	for (int tries = 0; !nd->port || port_taken(nd->port, i); tries++) {
		if (tries > 20)
			FAIL("no free port for node %d", i);
		nd->port = free_port();
	}
	if (!nd->dir[0]) {
		snprintf(nd->dir, sizeof nd->dir, "%s/node-%d", harness_tmpdir(), i);
		mkdir(nd->dir, 0700);
		snprintf(nd->log, sizeof nd->log, "%s/node-%d.log", harness_tmpdir(), i);
	}
	nd->pid = redis_spawn(nd->port, nd->dir, nd->log, NULL, nd->aclfile[0] ? nd->aclfile : NULL);
	nd->paused = false;
	if (nd->pid <= 0) {
		nd->pid = 0;
		FAIL("fork failed for node %d: %s", i, strerror(errno));
	}
	if (!port_pings(nd->port, 10000)) {
		log_tail(nd->log, 20);
		node_kill(i);
		FAIL("node %d (redis-server on port %d) did not answer PING", i, nd->port);
	}
}

void nodes_start(int n)
{
	if (n < 1 || n > NODES_MAX)
		FAIL("nodes_start(%d): 1..%d nodes", n, NODES_MAX);
	if (g_nnodes)
		FAIL("nodes_start: nodes already started");
	g_nnodes = n;
	for (int i = 0; i < n; i++)
		node_start(i);
}

void nodes_start_acl(int n, const char *aclfile)
{
	if (n < 1 || n > NODES_MAX)
		FAIL("nodes_start_acl(%d): 1..%d nodes", n, NODES_MAX);
	for (int i = 0; i < n; i++)
		snprintf(g_nodes[i].aclfile, sizeof g_nodes[i].aclfile, "%s", aclfile);
	nodes_start(n);
}

void node_kill(int i)
{
	if (i < 0 || i >= NODES_MAX)
		return;
	struct node *nd = &g_nodes[i];
	if (nd->pid > 0)
		kill_reap(nd->pid);
	nd->pid = 0;
	nd->paused = false;
}

void node_pause(int i)
{
	if (i >= 0 && i < NODES_MAX && g_nodes[i].pid > 0) {
		kill(g_nodes[i].pid, SIGSTOP);
		g_nodes[i].paused = true;
	}
}

void node_resume(int i)
{
	if (i >= 0 && i < NODES_MAX && g_nodes[i].pid > 0) {
		kill(g_nodes[i].pid, SIGCONT);
		g_nodes[i].paused = false;
	}
}

const char *const *nodes_args(const char *const *extra)
{
	size_t ne = 0;
	while (extra && extra[ne])
		ne++;
	const char **a = talloc((2 * (size_t)g_nnodes + ne + 1) * sizeof *a);
	size_t k = 0;
	for (int i = 0; i < g_nnodes; i++) {
		a[k++] = "--redis";
		a[k++] = tfmt("redis://127.0.0.1:%d", g_nodes[i].port);
	}
	for (size_t i = 0; i < ne; i++)
		a[k++] = extra[i];
	a[k] = NULL;
	return a;
}

void dlockd_start_nodes(const char *const *extra)
{
	if (!g_nnodes)
		FAIL("dlockd_start_nodes: no nodes started");
	dlockd_start(nodes_args(extra));
}

int replica_start(const char *const *extra)
{
	if (g_replicas.n >= REPLICAS_MAX)
		FAIL("at most %d replicas", REPLICAS_MAX);
	const char *const *args = g_nnodes ? nodes_args(extra) : extra;
	/* counted before it starts: nodes_cleanup() stops it also when its start fails the test */
	struct dlockd *d = &g_replicas.v[g_replicas.n++];
	memset(d, 0, sizeof *d);
	dlockd_launch(d, args, NULL, true);
	return d->port;
}

/* ------------------------------------------------------------ sentinels */

/* a fixed 40-hex-digit run id for sentinel i, so the others can be told of it */
static const char *sentinel_id(int i)
{
	return tfmt("%040d", 1000 + i);
}

void sentinels_start(int n, const char *name, int master_port, int replica_port, int quorum, int down_after_ms,
                     int failover_ms)
{
	if (n < 1 || n > SENTINELS_MAX || g_nsentinels)
		FAIL("sentinels_start(%d): 1..%d sentinels, once per test", n, SENTINELS_MAX);
	if (access("/usr/bin/redis-sentinel", X_OK) != 0 && system("command -v redis-sentinel >/dev/null 2>&1") != 0)
		FAIL("redis-sentinel is not installed: the Sentinel tests need the Debian package redis-sentinel "
		     "(as root: tools/deps.sh install)");
	g_nsentinels = n;
	for (int i = 0; i < n; i++)
		for (int tries = 0; !g_sentinels[i].port; tries++) {
			if (tries > 20)
				FAIL("no free port for sentinel %d", i);
			int p = free_port();
			if (!port_taken(p, -1))
				g_sentinels[i].port = p;
		}
	for (int i = 0; i < n; i++) {
		struct sentinel_proc *sp = &g_sentinels[i];
		snprintf(sp->conf, sizeof sp->conf, "%s/sentinel-%d.conf", harness_tmpdir(), i);
		snprintf(sp->log, sizeof sp->log, "%s/sentinel-%d.log", harness_tmpdir(), i);
		FILE *f = fopen(sp->conf, "w");
		if (!f)
			FAIL("cannot write %s: %s", sp->conf, strerror(errno));
		fprintf(f,
		        "port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %s\nsentinel myid %s\n"
		        "sentinel monitor %s 127.0.0.1 %d %d\nsentinel down-after-milliseconds %s %d\n"
		        "sentinel failover-timeout %s %d\n",
		        sp->port, harness_tmpdir(), sentinel_id(i), name, master_port, quorum, name, down_after_ms,
		        name, failover_ms);
		if (replica_port)
			fprintf(f, "sentinel known-replica %s 127.0.0.1 %d\n", name, replica_port);
		for (int j = 0; j < n; j++)
			if (j != i)
				fprintf(f, "sentinel known-sentinel %s 127.0.0.1 %d %s\n", name, g_sentinels[j].port,
				        sentinel_id(j));
		fclose(f);
		char *argv[] = {"redis-sentinel", sp->conf, NULL};
		sp->pid = spawn(argv, sp->log, -1);
		if (sp->pid <= 0) {
			sp->pid = 0;
			FAIL("fork failed for sentinel %d: %s", i, strerror(errno));
		}
	}
	for (int i = 0; i < n; i++)
		if (!port_pings(g_sentinels[i].port, 10000)) {
			log_tail(g_sentinels[i].log, 20);
			FAIL("sentinel %d (redis-sentinel on port %d) did not answer PING", i, g_sentinels[i].port);
		}
}

void sentinel_kill(int i)
{
	if (i < 0 || i >= SENTINELS_MAX)
		return;
	if (g_sentinels[i].pid > 0)
		kill_reap(g_sentinels[i].pid);
	g_sentinels[i].pid = 0;
}

void nodes_cleanup(void)
{
	char why[256], first[400] = "";
	for (int i = 0; i < NODES_MAX; i++)
		if (g_nodes[i].paused)
			node_resume(i);
	for (int i = 0; i < g_replicas.n; i++)
		if (!stop_one(&g_replicas.v[i], why, sizeof why) && !first[0])
			snprintf(first, sizeof first, "replica on port %d: %s", g_replicas.v[i].port, why);
	g_replicas.n = 0;
	for (int i = 0; i < NODES_MAX; i++) {
		node_kill(i);
		remove_snapshot(g_nodes[i].dir);
	}
	memset(g_nodes, 0, sizeof g_nodes);
	g_nnodes = 0;
	for (int i = 0; i < SENTINELS_MAX; i++)
		sentinel_kill(i);
	memset(g_sentinels, 0, sizeof g_sentinels);
	g_nsentinels = 0;
	if (first[0])
		FAIL("%s", first);
}
