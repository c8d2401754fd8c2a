/* Black-box harness, a Redis Cluster for the cluster suite: CLUSTER_MASTERS
 * masters made with `redis-cli --cluster create`, one replica of master 0
 * (CLUSTER MEET + CLUSTER REPLICATE), each a redis-server on a loopback port
 * with its own directory and nodes.conf. Made once and kept across the
 * suite's tests (a test that leaves it unfit calls cluster_broken()). */
#include "harness_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
	pid_t pid[CLUSTER_NODES];
	int port[CLUSTER_NODES];
	char dir[CLUSTER_NODES][512];
	char log[CLUSTER_NODES][512];
	bool up, broken;
} g_cl;

static pid_t run_logged(char *const argv[], const char *log)
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
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
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
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* starts node i on its port; false (and no process) if it did not answer PING,
 * e.g. because its cluster bus port (port + 10000) was taken */
static bool node_try_spawn(int i)
{
	char port[16], conf[600];
	snprintf(port, sizeof port, "%d", g_cl.port[i]);
	snprintf(conf, sizeof conf, "%s/nodes.conf", g_cl.dir[i]);
	char *argv[] = {"redis-server",
	                "--port",
	                port,
	                "--bind",
	                "127.0.0.1",
	                "--save",
	                "",
	                "--appendonly",
	                "no",
	                "--dir",
	                g_cl.dir[i],
	                "--protected-mode",
	                "no",
	                "--cluster-enabled",
	                "yes",
	                "--cluster-config-file",
	                conf,
	                "--cluster-node-timeout",
	                "1000",
	                NULL};
	g_cl.pid[i] = run_logged(argv, g_cl.log[i]);
	if (g_cl.pid[i] <= 0) {
		g_cl.pid[i] = 0;
		FAIL("fork failed for cluster node %d", i);
	}
	if (port_pings(g_cl.port[i], 10000))
		return true;
	cluster_node_kill(i);
	return false;
}

static void node_spawn(int i)
{
	if (!node_try_spawn(i)) {
		log_tail(g_cl.log[i], 20);
		FAIL("cluster node %d (port %d) did not answer PING", i, g_cl.port[i]);
	}
}

void cluster_kill_all(void)
{
	for (int i = 0; i < CLUSTER_NODES; i++)
		if (g_cl.pid[i] > 0)
			kill(g_cl.pid[i], SIGKILL);
}

void cluster_reap_all(void)
{
	cluster_kill_all();
	for (int i = 0; i < CLUSTER_NODES; i++)
		if (g_cl.pid[i] > 0) {
			waitpid(g_cl.pid[i], NULL, 0);
			g_cl.pid[i] = 0;
		}
	g_cl.up = false;
}

void cluster_node_kill(int i)
{
	if (g_cl.pid[i] > 0) {
		kill(g_cl.pid[i], SIGKILL);
		waitpid(g_cl.pid[i], NULL, 0);
	}
	g_cl.pid[i] = 0;
}

void cluster_node_restart(int i)
{
	if (g_cl.pid[i] > 0)
		FAIL("cluster node %d is running", i);
	node_spawn(i);
}

int cluster_port(int i)
{
	return g_cl.port[i];
}

const char *cluster_url(void)
{
	return tfmt("redis+cluster://127.0.0.1:%d,127.0.0.1:%d", g_cl.port[0], g_cl.port[1]);
}

static bool info_has(int port, const char *section, const char *needle)
{
	char out[8192];
	const char *argv[] = {"INFO", section};
	if (port_cmd(port, out, sizeof out, 2, argv) != '$')
		return false;
	return strstr(out, needle) != NULL;
}

static bool cluster_ok(int port)
{
	char out[4096];
	const char *argv[] = {"CLUSTER", "INFO"};
	return port_cmd(port, out, sizeof out, 2, argv) == '$' && strstr(out, "cluster_state:ok");
}

const char *cluster_node_id(int i)
{
	char out[128];
	const char *argv[] = {"CLUSTER", "MYID"};
	if (port_cmd(g_cl.port[i], out, sizeof out, 2, argv) != '$' || strlen(out) != 40)
		FAIL("CLUSTER MYID on node %d: %s", i, out);
	return tstrdup(out);
}

unsigned cluster_keyslot(const char *key)
{
	char out[64];
	const char *argv[] = {"CLUSTER", "KEYSLOT", key};
	if (port_cmd(g_cl.port[0], out, sizeof out, 3, argv) != ':')
		FAIL("CLUSTER KEYSLOT %s failed", key);
	return (unsigned)strtoul(out, NULL, 10);
}

int cluster_owner(int ask, unsigned slot)
{
	/* CLUSTER SLOTS flattened: start, end, host, port, id, [host, port, id]... per range; a
	 * range's first port is its master's */
	const char *sl[] = {"CLUSTER", "SLOTS"};
	size_t n = 0;
	const char **v = port_list(g_cl.port[ask], 2, sl, &n);
	if (!v)
		return -1;
	for (size_t i = 0; i + 4 < n;) {
		/* a range: two integers, then (host, port, id) triples; the next range starts at
		 * the next pair of numbers that is not followed by a host */
		unsigned a = (unsigned)strtoul(v[i], NULL, 10), b = (unsigned)strtoul(v[i + 1], NULL, 10);
		int port = atoi(v[i + 3]);
		size_t j = i + 2;
		while (j + 2 < n && strchr(v[j], '.'))
			j += 3;
		if (slot >= a && slot <= b)
			for (int k = 0; k < CLUSTER_NODES; k++)
				if (g_cl.port[k] == port)
					return k;
		i = j;
	}
	return -1;
}

void cluster_broken(void)
{
	g_cl.broken = true;
}

/* every node answers cluster_state:ok and sees the replica attached */
static bool cluster_settled(void)
{
	for (int i = 0; i < CLUSTER_NODES; i++)
		if (g_cl.pid[i] <= 0 || !cluster_ok(g_cl.port[i]))
			return false;
	for (int i = 0; i < CLUSTER_NODES; i++)
		if (info_has(g_cl.port[i], "replication", "role:slave") &&
		    !info_has(g_cl.port[i], "replication", "master_link_status:up"))
			return false;
	return true;
}

static void cluster_create(void)
{
	cluster_reap_all();
	for (int i = 0; i < CLUSTER_NODES; i++) {
		for (int tries = 0;; tries++) {
			int p = free_port();
			bool taken = p == g_redis.port || p + 10000 > 65535;
			for (int k = 0; k < i; k++)
				taken |= g_cl.port[k] == p || g_cl.port[k] + 10000 == p || g_cl.port[k] == p + 10000;
			if (tries > 50)
				FAIL("no free port for cluster node %d", i);
			if (taken)
				continue;
			g_cl.port[i] = p;
			snprintf(g_cl.dir[i], sizeof g_cl.dir[i], "%s/cluster-%d-%d", harness_tmpdir(), i, p);
			mkdir(g_cl.dir[i], 0700);
			snprintf(g_cl.log[i], sizeof g_cl.log[i], "%s/cluster-%d-%d/redis.log", harness_tmpdir(), i, p);
			if (node_try_spawn(i))
				break;
			log_tail(g_cl.log[i], 5); /* another port: its bus port may have been taken */
		}
	}
	char *argv[16];
	int n = 0;
	argv[n++] = "redis-cli";
	argv[n++] = "--cluster";
	argv[n++] = "create";
	for (int i = 0; i < CLUSTER_MASTERS; i++)
		argv[n++] = tfmt("127.0.0.1:%d", g_cl.port[i]);
	argv[n++] = "--cluster-yes";
	argv[n] = NULL;
	char *log = tfmt("%s/cluster-create.log", harness_tmpdir());
	pid_t pid = run_logged(argv, log);
	int st = 0;
	if (pid <= 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_tail(log, 20);
		FAIL("redis-cli --cluster create failed (is redis-tools installed?)");
	}
	/* the replica of master 0 */
	const char *id0 = cluster_node_id(0);
	char out[256], port0[16];
	snprintf(port0, sizeof port0, "%d", g_cl.port[0]);
	const char *meet[] = {"CLUSTER", "MEET", "127.0.0.1", port0};
	if (port_cmd(g_cl.port[CLUSTER_MASTERS], out, sizeof out, 4, meet) != '+')
		FAIL("CLUSTER MEET: %s", out);
	double end = mono_ms() + 15000;
	for (;;) {
		const char *rep[] = {"CLUSTER", "REPLICATE", id0};
		if (port_cmd(g_cl.port[CLUSTER_MASTERS], out, sizeof out, 3, rep) == '+')
			break;
		if (mono_ms() > end)
			FAIL("CLUSTER REPLICATE: %s", out);
		sleep_ms(50);
	}
	while (!cluster_settled()) {
		if (mono_ms() > end)
			FAIL("the cluster did not settle (cluster_state:ok everywhere, the replica in sync) within 15 "
			     "s");
		sleep_ms(50);
	}
	g_cl.up = true;
	g_cl.broken = false;
}

void cluster_ensure(void)
{
	if (!g_cl.up || g_cl.broken || !cluster_settled())
		cluster_create();
	for (int i = 0; i < CLUSTER_NODES; i++) {
		char out[64];
		const char *flush[] = {"FLUSHALL"};
		if (info_has(g_cl.port[i], "replication", "role:master") &&
		    port_cmd(g_cl.port[i], out, sizeof out, 1, flush) != '+')
			FAIL("FLUSHALL on cluster node %d: %s", i, out);
	}
}
