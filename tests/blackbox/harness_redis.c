/* Black-box harness, a small Redis client: one command per connection in
 * RESP to g_redis or a Redlock node (scalar or flattened replies), PING,
 * FLUSHALL, EXISTS, plain connections (MONITOR), and CONFIG SET that the
 * runner undoes after the test. Main thread, or any thread for the port. */
#include "harness_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* CONFIG SETs done by the current test, undone by redis_config_undo() */
enum { CONFIG_UNDO_MAX = 8 };
static struct {
	struct {
		char param[64], value[256];
	} v[CONFIG_UNDO_MAX];
	int n;
} g_undo;

/* ------------------------------------------------------------ replies */

static int read_line(int fd, char *buf, size_t sz, double deadline)
{
	size_t n = 0;
	while (n + 1 < sz) {
		int left = (int)(deadline - mono_ms());
		if (left <= 0)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, left) != 1)
			return -1;
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r <= 0)
			return -1;
		if (c == '\n') {
			if (n > 0 && buf[n - 1] == '\r')
				n--;
			buf[n] = 0;
			return (int)n;
		}
		buf[n++] = c;
	}
	return -1;
}

/* ------------------------------------------------------------ commands */

/* one command in RESP (an array of bulk strings) */
static void resp_put(FILE *m, int argc, const char *const *argv)
{
	fprintf(m, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
		fprintf(m, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

/* a connection to the Redis on port with the command sent (after a SELECT
 * if db >= 0); -1 if it could not connect or send */
static int cmd_send(int port, int db, int argc, const char *const *argv)
{
	int fd = connect_port(port, 1000);
	if (fd < 0)
		return -1;
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m = open_memstream(&req, &reqlen);
	if (db >= 0) {
		char dbs[16];
		snprintf(dbs, sizeof dbs, "%d", db);
		const char *select[] = {"SELECT", dbs};
		resp_put(m, 2, select);
	}
	resp_put(m, argc, argv);
	fclose(m);
	bool ok = send_all(fd, req, reqlen);
	free(req);
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

/* the len bytes and CRLF of a bulk reply; what fits goes to out, NUL-terminated */
static void read_bulk(int fd, long len, char *out, size_t outsz)
{
	size_t got = 0;
	char tmp[4096];
	while (got < (size_t)len + 2) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 2000) != 1)
			break;
		size_t want = (size_t)len + 2 - got;
		ssize_t r = recv(fd, tmp, want < sizeof tmp ? want : sizeof tmp, 0);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			size_t pos = got + (size_t)i;
			if (pos < (size_t)len && pos + 1 < outsz) {
				out[pos] = tmp[i];
				out[pos + 1] = 0;
			}
		}
		got += (size_t)r;
	}
}

/* redis_cmd_db() on any port */
static char cmd_at(int port, int db, char *out, size_t outsz, int argc, const char *const *argv)
{
	if (outsz)
		out[0] = 0;
	int fd = cmd_send(port, db, argc, argv);
	if (fd < 0)
		return 0;
	char type = 0;
	char line[4096];
	double dl = mono_ms() + 2000;
	if (db >= 0 && (read_line(fd, line, sizeof line, dl) <= 0 || strcmp(line, "+OK") != 0)) {
		close(fd);
		return 0;
	}
	if (read_line(fd, line, sizeof line, dl) > 0) {
		type = line[0];
		if (type == '$') {
			long len = strtol(line + 1, NULL, 10);
			if (len >= 0)
				read_bulk(fd, len, out, outsz);
		} else if (type != '*' && outsz) {
			size_t L = strlen(line + 1);
			if (L >= outsz)
				L = outsz - 1;
			memcpy(out, line + 1, L);
			out[L] = 0;
		}
	}
	close(fd);
	return type;
}

char redis_cmd(char *out, size_t outsz, int argc, const char *const *argv)
{
	return cmd_at(g_redis.port, -1, out, outsz, argc, argv);
}

char redis_cmd_db(int db, char *out, size_t outsz, int argc, const char *const *argv)
{
	return cmd_at(g_redis.port, db, out, outsz, argc, argv);
}

/* True once the Redis on port answers an inline PING with +PONG (polls until timeout_ms). */
bool port_pings(int port, int timeout_ms)
{
	double end = mono_ms() + timeout_ms;
	do {
		int fd = connect_port(port, 200);
		if (fd >= 0) {
			char line[64];
			if (send_all(fd, "PING\r\n", 6) && read_line(fd, line, sizeof line, mono_ms() + 300) >= 0 &&
			    strcmp(line, "+PONG") == 0) {
				close(fd);
				return true;
			}
			close(fd);
		}
		sleep_ms(10);
	} while (mono_ms() < end);
	return false;
}

bool redis_ping(int timeout_ms)
{
	return port_pings(g_redis.port, timeout_ms);
}

bool redis_flushall(void)
{
	char out[64];
	const char *argv[] = {"FLUSHALL"};
	return redis_cmd(out, sizeof out, 1, argv) == '+';
}

/* ------------------------------------------------------------ flattened replies */

static bool read_exact(int fd, char *buf, size_t n, double deadline)
{
	size_t got = 0;
	while (got < n) {
		int left = (int)(deadline - mono_ms());
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) != 1)
			return false;
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

struct strlist {
	const char **v;
	size_t n, cap;
};

static void strlist_push(struct strlist *l, const char *s, size_t n)
{
	if (l->n + 2 > l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		const char **nv = talloc(l->cap * sizeof *nv);
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof *nv);
		l->v = nv;
	}
	char *c = talloc(n + 1);
	memcpy(c, s, n);
	l->v[l->n++] = c;
	l->v[l->n] = NULL;
}

/* One RESP reply, its scalars appended to l in order (nested arrays
 * flattened, nil as ""); false on an error reply or a broken connection. */
static bool resp_flatten(int fd, double deadline, struct strlist *l)
{
	char line[4096];
	if (read_line(fd, line, sizeof line, deadline) <= 0)
		return false;
	long n = strtol(line + 1, NULL, 10);
	switch (line[0]) {
	case '*':
		for (long i = 0; i < n; i++)
			if (!resp_flatten(fd, deadline, l))
				return false;
		return true;
	case '$':
		if (n < 0) {
			strlist_push(l, "", 0);
			return true;
		} else {
			char *buf = xmalloc((size_t)n + 2);
			bool ok = read_exact(fd, buf, (size_t)n + 2, deadline);
			if (ok)
				strlist_push(l, buf, (size_t)n);
			free(buf);
			return ok;
		}
	case '+':
	case ':':
		strlist_push(l, line + 1, strlen(line + 1));
		return true;
	default:
		return false;
	}
}

/* redis_list() on any port */
static const char **list_at(int port, int argc, const char *const *argv, size_t *n)
{
	struct strlist l = {0};
	*n = 0;
	int fd = cmd_send(port, -1, argc, argv);
	if (fd < 0)
		return NULL;
	bool ok = resp_flatten(fd, mono_ms() + 5000, &l);
	close(fd);
	if (!ok)
		return NULL;
	if (!l.v)
		l.v = talloc(sizeof *l.v); /* an empty list */
	*n = l.n;
	return l.v;
}

const char **redis_list(int argc, const char *const *argv, size_t *n)
{
	return list_at(g_redis.port, argc, argv, n);
}

static void fd_close(void *p)
{
	close(*(int *)p);
	free(p);
}

int redis_conn(void)
{
	int fd = connect_port(g_redis.port, 1000);
	if (fd >= 0) {
		int *p = xmalloc(sizeof *p);
		*p = fd;
		arena_add(p, fd_close);
	}
	return fd;
}

bool redis_config_set(const char *param, const char *value)
{
	size_t n;
	const char *get[] = {"CONFIG", "GET", param};
	const char **old = redis_list(3, get, &n);
	if (!old || n != 2 || g_undo.n >= CONFIG_UNDO_MAX)
		return false;
	snprintf(g_undo.v[g_undo.n].param, sizeof g_undo.v[0].param, "%s", param);
	snprintf(g_undo.v[g_undo.n].value, sizeof g_undo.v[0].value, "%s", old[1]);
	g_undo.n++;
	char out[256];
	const char *set[] = {"CONFIG", "SET", param, value};
	return redis_cmd(out, sizeof out, 4, set) == '+';
}

void redis_config_undo(void)
{
	while (g_undo.n > 0) {
		g_undo.n--;
		char out[256];
		const char *set[] = {"CONFIG", "SET", g_undo.v[g_undo.n].param, g_undo.v[g_undo.n].value};
		if (g_redis.pid > 0)
			redis_cmd(out, sizeof out, 4, set);
	}
}

/* ------------------------------------------------------------ Redlock nodes */

char port_cmd(int port, char *out, size_t outsz, int argc, const char *const *argv)
{
	return cmd_at(port, -1, out, outsz, argc, argv);
}

const char **port_list(int port, int argc, const char *const *argv, size_t *n)
{
	return list_at(port, argc, argv, n);
}

char node_cmd(int i, char *out, size_t outsz, int argc, const char *const *argv)
{
	if (outsz)
		out[0] = 0;
	if (i < 0 || i >= NODES_MAX || g_nodes[i].pid <= 0)
		return 0;
	return cmd_at(g_nodes[i].port, -1, out, outsz, argc, argv);
}

const char **node_list(int i, int argc, const char *const *argv, size_t *n)
{
	*n = 0;
	if (i < 0 || i >= NODES_MAX || g_nodes[i].pid <= 0)
		return NULL;
	return list_at(g_nodes[i].port, argc, argv, n);
}

bool node_flushall(int i)
{
	char out[64];
	const char *argv[] = {"FLUSHALL"};
	return node_cmd(i, out, sizeof out, 1, argv) == '+';
}

int node_exists(int i, const char *key)
{
	char out[64];
	const char *argv[] = {"EXISTS", key};
	if (node_cmd(i, out, sizeof out, 2, argv) != ':')
		return -1;
	return atoi(out);
}

/* ------------------------------------------------------------ ACL rules */

/* The documented rule: the first line of docs/redis-acl.conf that starts with "user ". */
const char *acl_documented_rule(void)
{
	FILE *f = fopen("docs/redis-acl.conf", "r");
	char line[2048];
	const char *rule = NULL;

	CHECKF(f, "cannot open docs/redis-acl.conf (run the suite from the repository root)");
	while (!rule && fgets(line, sizeof line, f))
		if (strncmp(line, "user ", 5) == 0) {
			line[strcspn(line, "\r\n")] = '\0';
			rule = tstrdup(line);
		}
	fclose(f);
	CHECKF(rule, "docs/redis-acl.conf has no 'user ' line");
	return rule;
}

/* rule with the word `drop` taken out (it must be there), the password set to pw */
const char *acl_rule_for(const char *drop, const char *pw)
{
	const char *rule = acl_documented_rule();
	size_t cap = strlen(rule) + strlen(pw) + 2, n = 0;
	char *out = talloc(cap);
	char *copy = tstrdup(rule), *save = NULL;
	bool dropped = false;

	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (drop && strcmp(w, drop) == 0) {
			dropped = true;
			continue;
		}
		if (strcmp(w, ">CHANGE-ME") == 0)
			w = tfmt(">%s", pw);
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", w);
	}
	CHECKF(!drop || dropped, "the documented rule has no '%s'", drop);
	CHECKF(strstr(out, pw), "the documented rule has no '>CHANGE-ME' password to set");
	return out;
}
