/* Black-box test harness for dlockd: processes, HTTP, raw sockets, runner. */
#include "harness.h"

#include "base/digest.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct dlockd g_dl;
struct redis g_redis;
int g_slow = 1;

static char g_tmpdir[256];
static const char *g_bin;
static char *g_wrapper_buf;
static char *g_wrapper[32];
static int g_nwrapper;
static CURL *g_curl;
static unsigned g_dl_count;
static pthread_t g_main_thread;

/* per-test failure state */
static jmp_buf g_jmp;
static volatile int g_failed;
static char g_msg[2048];
static const char *volatile g_cur_name;
static volatile int g_npassed, g_nfailed;

/* ------------------------------------------------------------ arena */

struct arena_item {
	struct arena_item *next;
	void *p;
	void (*fr)(void *);
};
static struct arena_item *g_arena;
static pthread_mutex_t g_arena_mu = PTHREAD_MUTEX_INITIALIZER;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

static void arena_add(void *p, void (*fr)(void *))
{
	struct arena_item *it = xmalloc(sizeof *it);
	it->p = p;
	it->fr = fr;
	pthread_mutex_lock(&g_arena_mu);
	it->next = g_arena;
	g_arena = it;
	pthread_mutex_unlock(&g_arena_mu);
}

static void arena_free_all(void)
{
	pthread_mutex_lock(&g_arena_mu);
	struct arena_item *it = g_arena;
	g_arena = NULL;
	pthread_mutex_unlock(&g_arena_mu);
	while (it) {
		struct arena_item *n = it->next;
		it->fr(it->p);
		free(it);
		it = n;
	}
}

void *talloc(size_t n)
{
	void *p = xcalloc(n);
	arena_add(p, free);
	return p;
}

char *tstrdup(const char *s)
{
	size_t n = strlen(s);
	char *p = talloc(n + 1);
	memcpy(p, s, n);
	return p;
}

__attribute__((format(printf, 1, 0))) static char *vfmt_alloc(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *tfmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vfmt_alloc(fmt, ap);
	va_end(ap);
	arena_add(p, free);
	return p;
}

char *trepeat(char c, size_t n)
{
	char *p = talloc(n + 1);
	memset(p, c, n);
	return p;
}

char *tesc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *p = talloc(3 * n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			p[j++] = (char)c;
		} else {
			p[j++] = '%';
			p[j++] = hex[c >> 4];
			p[j++] = hex[c & 15];
		}
	}
	return p;
}

/* ------------------------------------------------------------ time */

double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool parse_rfc3339_ms(const char *s, int64_t *out_ms)
{
	/* 2026-11-23T02:53:24.123Z */
	if (!s || strlen(s) != 24)
		return false;
	int Y, M, D, h, m, sec, ms;
	if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
	    s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec) || s[19] != '.' || !digits(s + 20, 3, &ms) || s[23] != 'Z')
		return false;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return false;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*out_ms = (int64_t)t * 1000 + ms;
	return true;
}

const char *token_hash(const char *token)
{
	static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t h[DIGEST_SHA256_LEN + 1] = {0};
	char *out = talloc(3 + 44);
	size_t o = 2;

	digest_sha256(token, strlen(token), h);
	out[0] = 'h';
	out[1] = ':';
	for (size_t i = 0; i < DIGEST_SHA256_LEN; i += 3) { /* 32 bytes: 43 characters, no padding */
		uint32_t v =
		    (uint32_t)h[i] << 16 | (uint32_t)h[i + 1] << 8 | (i + 2 < DIGEST_SHA256_LEN ? h[i + 2] : 0);
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
		if (i + 2 < DIGEST_SHA256_LEN)
			out[o++] = B64URL[v & 63];
	}
	out[o] = '\0';
	return out;
}

bool is_base64url(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(isalnum(c) || c == '-' || c == '_') || c > 127)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ failures */

static bool g_tail_printed;

static void log_tail(const char *path, int nlines)
{
	g_tail_printed = true;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	static char buf[65536];
	if (fseek(f, 0, SEEK_END) == 0) {
		long sz = ftell(f);
		long off = sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0;
		fseek(f, off, SEEK_SET);
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	if (n == 0)
		return;
	int seen = 0;
	size_t start = n;
	while (start > 0) {
		if (buf[start - 1] == '\n' && start != n && ++seen >= nlines)
			break;
		start--;
	}
	fprintf(stderr, "    # --- tail of %s ---\n", path);
	char *line = buf + start;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		fprintf(stderr, "    # %s\n", line);
		line = nl ? nl + 1 : NULL;
	}
	fflush(stderr);
}

__attribute__((format(printf, 3, 0))) static void record_failure(const char *file, int line, const char *fmt,
                                                                 va_list ap)
{
	char reason[1600];
	vsnprintf(reason, sizeof reason, fmt, ap);
	/* keep it on one line */
	for (char *p = reason; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (!g_failed) {
		snprintf(g_msg, sizeof g_msg, "%s (%s:%d)", reason, base, line);
		g_failed = 1;
	} else {
		size_t used = strlen(g_msg);
		snprintf(g_msg + used, sizeof g_msg - used, " [also: %s (%s:%d)]", reason, base, line);
	}
}

_Noreturn void fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record_failure(file, line, fmt, ap);
	va_end(ap);
	if (!pthread_equal(pthread_self(), g_main_thread)) {
		fprintf(stderr, "assertion used from a worker thread: %s\n", g_msg);
		abort();
	}
	longjmp(g_jmp, 1);
}

/* ------------------------------------------------------------ processes */

static void kill_children(void)
{
	if (g_dl.pid > 0) {
		kill(-g_dl.pid, SIGKILL);
		kill(g_dl.pid, SIGKILL);
	}
	if (g_redis.pid > 0) {
		kill(-g_redis.pid, SIGKILL);
		kill(g_redis.pid, SIGKILL);
	}
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup_at_exit(void)
{
	kill_children();
	if (g_dl.pid > 0)
		waitpid(g_dl.pid, NULL, 0);
	if (g_redis.pid > 0)
		waitpid(g_redis.pid, NULL, 0);
	g_dl.pid = 0;
	g_redis.pid = 0;
	if (g_tmpdir[0] && !getenv("KEEP_TMP"))
		nftw(g_tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_fatal_signal(int sig)
{
	kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* SIGINT/SIGTERM/SIGHUP/SIGQUIT are blocked in every thread and handled
 * here, outside signal context, so cleanup may do anything. */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	if (sigwait(set, &sig) != 0)
		return NULL;
	kill_children();
	if (g_dl.pid > 0)
		waitpid(g_dl.pid, NULL, 0);
	if (g_redis.pid > 0)
		waitpid(g_redis.pid, NULL, 0);
	g_dl.pid = 0;
	g_redis.pid = 0;
	if (g_tmpdir[0] && !getenv("KEEP_TMP"))
		nftw(g_tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	fprintf(stderr, "interrupted by signal %d\n", sig);
	fflush(NULL);
	signal(sig, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, set, NULL);
	raise(sig);
	_exit(128 + sig);
}

static void on_alarm(int sig)
{
	(void)sig;
	char buf[512];
	int n = snprintf(buf, sizeof buf, "FAIL %s: test timed out (watchdog)\n%d passed, %d failed\n",
	                 g_cur_name ? g_cur_name : "?", g_npassed, g_nfailed + 1);
	if (n > 0)
		(void)!write(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	kill_children();
	_exit(1);
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

int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t al = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int connect_port(int port, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = {fd, POLLOUT, 0};
		if (poll(&p, 1, timeout_ms) == 1) {
			int err = 0;
			socklen_t el = sizeof err;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
			rc = err ? -1 : 0;
		} else {
			rc = -1;
		}
	}
	if (rc < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fl);
	return fd;
}

int dl_connect(void)
{
	return connect_port(g_dl.port, 2000);
}

static bool send_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* ------------------------------------------------------------ redis */

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

char redis_cmd(char *out, size_t outsz, int argc, const char *const *argv)
{
	return redis_cmd_db(-1, out, outsz, argc, argv);
}

char redis_cmd_db(int db, char *out, size_t outsz, int argc, const char *const *argv)
{
	if (outsz)
		out[0] = 0;
	int fd = connect_port(g_redis.port, 1000);
	if (fd < 0)
		return 0;
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m = open_memstream(&req, &reqlen);
	if (db >= 0) {
		char dbs[16];
		snprintf(dbs, sizeof dbs, "%d", db);
		fprintf(m, "*2\r\n$6\r\nSELECT\r\n$%zu\r\n%s\r\n", strlen(dbs), dbs);
	}
	fprintf(m, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
		fprintf(m, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
	fclose(m);
	bool ok = send_all(fd, req, reqlen);
	free(req);
	char type = 0;
	if (ok) {
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
				if (len >= 0) {
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
			} else if (type != '*' && outsz) {
				size_t L = strlen(line + 1);
				if (L >= outsz)
					L = outsz - 1;
				memcpy(out, line + 1, L);
				out[L] = 0;
			}
		}
	}
	close(fd);
	return type;
}

/* True once the Redis on port answers an inline PING with +PONG (polls until timeout_ms). */
static bool port_pings(int port, int timeout_ms)
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

const char **redis_list(int argc, const char *const *argv, size_t *n)
{
	struct strlist l = {0};
	*n = 0;
	int fd = connect_port(g_redis.port, 1000);
	if (fd < 0)
		return NULL;
	char *req = NULL;
	size_t reqlen = 0;
	FILE *m = open_memstream(&req, &reqlen);
	fprintf(m, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
		fprintf(m, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
	fclose(m);
	bool ok = send_all(fd, req, reqlen) && resp_flatten(fd, mono_ms() + 5000, &l);
	free(req);
	close(fd);
	if (!ok)
		return NULL;
	if (!l.v)
		l.v = talloc(sizeof *l.v); /* an empty list */
	*n = l.n;
	return l.v;
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

/* CONFIG SET done by the current test, undone by redis_restore() */
enum { CONFIG_UNDO_MAX = 8 };
static struct {
	char param[64], value[256];
} g_config_undo[CONFIG_UNDO_MAX];
static int g_nconfig_undo;

bool redis_config_set(const char *param, const char *value)
{
	size_t n;
	const char *get[] = {"CONFIG", "GET", param};
	const char **old = redis_list(3, get, &n);
	if (!old || n != 2 || g_nconfig_undo >= CONFIG_UNDO_MAX)
		return false;
	snprintf(g_config_undo[g_nconfig_undo].param, sizeof g_config_undo[0].param, "%s", param);
	snprintf(g_config_undo[g_nconfig_undo].value, sizeof g_config_undo[0].value, "%s", old[1]);
	g_nconfig_undo++;
	char out[256];
	const char *set[] = {"CONFIG", "SET", param, value};
	return redis_cmd(out, sizeof out, 4, set) == '+';
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

/* the runner's hook: undo the test's CONFIG SETs (newest first), forget snapshots */
static void redis_restore(void)
{
	while (g_nconfig_undo > 0) {
		g_nconfig_undo--;
		char out[256];
		const char *set[] = {"CONFIG", "SET", g_config_undo[g_nconfig_undo].param,
		                     g_config_undo[g_nconfig_undo].value};
		if (g_redis.pid > 0)
			redis_cmd(out, sizeof out, 4, set);
	}
	remove_snapshot(g_redis.dir);
}

bool redis_start(void)
{
	if (!g_redis.port)
		g_redis.port = free_port();
	if (!g_redis.dir[0]) {
		snprintf(g_redis.dir, sizeof g_redis.dir, "%s/redis", g_tmpdir);
		mkdir(g_redis.dir, 0700);
		snprintf(g_redis.log, sizeof g_redis.log, "%s/redis.log", g_tmpdir);
		snprintf(g_redis.sock, sizeof g_redis.sock, "%s/redis/redis.sock", g_tmpdir);
	}
	char port[16];
	snprintf(port, sizeof port, "%d", g_redis.port);
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
	                g_redis.dir,
	                "--daemonize",
	                "no",
	                "--protected-mode",
	                "no",
	                "--unixsocket",
	                g_redis.sock,
	                "--unixsocketperm",
	                "700",
	                NULL};
	g_redis.pid = spawn(argv, g_redis.log, -1);
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
	if (g_redis.pid > 0) {
		kill(-g_redis.pid, SIGKILL);
		kill(g_redis.pid, SIGKILL);
		waitpid(g_redis.pid, NULL, 0);
	}
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

static bool redis_ensure(void)
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

/* ------------------------------------------------------------ HTTP */

struct growbuf {
	char *p;
	size_t len, cap;
};

static void gb_append(struct growbuf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np)
			abort();
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

char *fd_drain(int fd, int quiet_ms, size_t *len)
{
	struct growbuf b = {0};
	gb_append(&b, "", 0);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, quiet_ms) != 1)
			break;
		char tmp[8192];
		ssize_t r = recv(fd, tmp, sizeof tmp, 0);
		if (r <= 0)
			break;
		gb_append(&b, tmp, (size_t)r);
	}
	arena_add(b.p, free);
	if (len)
		*len = b.len;
	return b.p;
}

static size_t on_body(char *ptr, size_t sz, size_t nm, void *ud)
{
	gb_append(ud, ptr, sz * nm);
	return sz * nm;
}

static void resp_add_header(struct resp *r, const char *line, size_t n)
{
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (n == 0)
		return;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* new response block (e.g. after 100 Continue): reset */
		for (size_t i = 0; i < r->nhdr; i++)
			free(r->hdr[i]);
		r->nhdr = 0;
		return;
	}
	char **nh = realloc(r->hdr, (r->nhdr + 1) * sizeof *nh);
	if (!nh)
		abort();
	r->hdr = nh;
	char *c = xmalloc(n + 1);
	memcpy(c, line, n);
	c[n] = 0;
	r->hdr[r->nhdr++] = c;
}

static size_t on_header(char *ptr, size_t sz, size_t nm, void *ud)
{
	resp_add_header(ud, ptr, sz * nm);
	return sz * nm;
}

const char *resp_header(const struct resp *r, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < r->nhdr; i++) {
		const char *h = r->hdr[i];
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

size_t resp_header_count(const struct resp *r, const char *name)
{
	size_t nl = strlen(name), c = 0;
	for (size_t i = 0; i < r->nhdr; i++)
		if (strncasecmp(r->hdr[i], name, nl) == 0 && r->hdr[i][nl] == ':')
			c++;
	return c;
}

void resp_free(struct resp *r)
{
	if (!r)
		return;
	free(r->body);
	for (size_t i = 0; i < r->nhdr; i++)
		free(r->hdr[i]);
	free(r->hdr);
	if (r->json)
		json_decref(r->json);
	free(r);
}

static void resp_free_void(void *p)
{
	resp_free(p);
}

static void resp_parse_json(struct resp *r)
{
	if (r->len == 0)
		return;
	json_error_t e;
	r->json = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &e);
}

/* ------------------------------------------------------ traffic recording
 *
 * With DLOCKD_RECORD=/path/file.jsonl every exchange made through http_ex()
 * (and so http(), httpb(), http_async()) and raw_http() appends one JSON line:
 *   {"test":..., "via":"curl"|"raw", "method":..., "target":"/path?query",
 *    "request_content_type":str|null, "status":int (0: no response),
 *    "headers":{lower-case name: value}, "body":str, ["body_base64":str],
 *    ["error":str], raw only: "raw_request":str or "raw_request_base64":str}
 * A body that is not valid UTF-8 is also given as body_base64 (and "body"
 * then has '?' for the bytes >= 0x80).
 * api/conformance.mjs validates these against openapi.yaml. Off by default. */

static const char *find_crlfcrlf(const char *p, size_t n);

static int g_rec_fd = -1; /* -1: off */
static pthread_once_t g_rec_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_rec_mu = PTHREAD_MUTEX_INITIALIZER;

static void rec_open(void)
{
	const char *p = getenv("DLOCKD_RECORD");
	if (!p || !*p)
		return;
	g_rec_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (g_rec_fd < 0)
		fprintf(stderr, "# DLOCKD_RECORD: cannot open %s: %s\n", p, strerror(errno));
}

static int rec_fd(void)
{
	pthread_once(&g_rec_once, rec_open);
	return g_rec_fd;
}

/* bytes that are not printable ASCII are percent-encoded (raw targets may
 * hold any byte); the result is always valid UTF-8 */
static json_t *rec_target(const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *p = xmalloc(3 * n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 0x20 && c < 0x7f) {
			p[j++] = (char)c;
		} else {
			p[j++] = '%';
			p[j++] = hex[c >> 4];
			p[j++] = hex[c & 15];
		}
	}
	json_t *v = json_stringn(p, j);
	free(p);
	return v;
}

static json_t *rec_base64(const char *s, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *p = xmalloc(4 * (n / 3 + 1) + 1);
	size_t j = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)(unsigned char)s[i] << 16 | (unsigned)(unsigned char)s[i + 1] << 8 |
		             (unsigned char)s[i + 2];
		p[j++] = b64[v >> 18];
		p[j++] = b64[(v >> 12) & 63];
		p[j++] = b64[(v >> 6) & 63];
		p[j++] = b64[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)(unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)(unsigned char)s[i + 1] << 8;
		p[j++] = b64[v >> 18];
		p[j++] = b64[(v >> 12) & 63];
		p[j++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		p[j++] = '=';
	}
	json_t *r = json_stringn(p, j);
	free(p);
	return r;
}

/* a string value; bytes that are not valid UTF-8 are replaced by '?' */
static json_t *rec_text(const char *s, size_t n)
{
	json_t *v = json_stringn(s, n);
	if (v)
		return v;
	char *p = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	v = json_stringn(p, n);
	free(p);
	return v ? v : json_string("");
}

static void record_exchange(const char *via, const char *method, const char *target, size_t target_len,
                            const char *req_ctype, size_t req_ctype_len, const struct resp *r, const char *raw,
                            size_t raw_len)
{
	if (rec_fd() < 0)
		return;
	json_t *o = json_object();
	const char *test = g_cur_name;
	json_object_set_new(o, "test", test ? json_string(test) : json_null());
	json_object_set_new(o, "via", json_string(via));
	json_object_set_new(o, "method", rec_target(method, strlen(method)));
	json_object_set_new(o, "target", rec_target(target, target_len));
	json_object_set_new(o, "request_content_type", req_ctype ? rec_text(req_ctype, req_ctype_len) : json_null());
	json_object_set_new(o, "status", json_integer(r->status));
	json_t *h = json_object();
	for (size_t i = 0; i < r->nhdr; i++) {
		const char *line = r->hdr[i];
		const char *colon = strchr(line, ':');
		if (!colon || colon == line)
			continue;
		size_t nl = (size_t)(colon - line);
		char *name = xmalloc(nl + 1);
		for (size_t k = 0; k < nl; k++)
			name[k] = (char)tolower((unsigned char)line[k]);
		name[nl] = 0;
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		json_t *val = rec_text(v, strlen(v));
		json_t *old = json_object_get(h, name);
		if (old && json_is_string(old)) {
			/* repeated header: join as a list, as HTTP allows */
			char *j = NULL;
			size_t jl = 0;
			FILE *m = open_memstream(&j, &jl);
			fprintf(m, "%s, %s", json_string_value(old), json_string_value(val));
			fclose(m);
			json_decref(val);
			val = rec_text(j, jl);
			free(j);
		}
		json_t *utf = json_stringn(name, nl);
		if (utf) {
			json_decref(utf);
			json_object_set_new(h, name, val);
		} else {
			json_decref(val);
		}
		free(name);
	}
	json_object_set_new(o, "headers", h);
	json_t *body = json_stringn(r->body ? r->body : "", r->body ? r->len : 0);
	if (body) {
		json_object_set_new(o, "body", body);
	} else {
		json_object_set_new(o, "body", rec_text(r->body, r->len));
		json_object_set_new(o, "body_base64", rec_base64(r->body, r->len));
	}
	if (r->status == 0 && r->err[0])
		json_object_set_new(o, "error", rec_text(r->err, strlen(r->err)));
	if (raw) {
		json_t *rq = json_stringn(raw, raw_len);
		if (rq)
			json_object_set_new(o, "raw_request", rq);
		else
			json_object_set_new(o, "raw_request_base64", rec_base64(raw, raw_len));
	}
	char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!line)
		return;
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: write n + 1 bytes, not a string any more */
	pthread_mutex_lock(&g_rec_mu);
	const char *p = line;
	size_t left = n + 1;
	while (left) {
		ssize_t w = write(g_rec_fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	pthread_mutex_unlock(&g_rec_mu);
	free(line);
}

/* the raw request's method, target and Content-Type, for the recording */
static void record_raw(const char *data, size_t len, const struct resp *r)
{
	if (rec_fd() < 0)
		return;
	const char *eol = memchr(data, '\n', len);
	size_t ll = eol ? (size_t)(eol - data) : len;
	if (ll && data[ll - 1] == '\r')
		ll--;
	const char *sp1 = memchr(data, ' ', ll);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - data)) : NULL;
	char method[32];
	size_t ml = sp1 ? (size_t)(sp1 - data) : ll;
	if (ml >= sizeof method)
		ml = sizeof method - 1;
	memcpy(method, data, ml);
	method[ml] = 0;
	const char *target = sp1 ? sp1 + 1 : "";
	size_t tl = sp1 ? (sp2 ? (size_t)(sp2 - target) : ll - (size_t)(target - data)) : 0;
	const char *ct = NULL;
	size_t ctl = 0;
	const char *hend = find_crlfcrlf(data, len);
	const char *q = eol ? eol + 1 : data + len;
	const char *lim = hend ? hend + 2 : data + len;
	while (q < lim) {
		const char *e = memchr(q, '\n', (size_t)(lim - q));
		size_t hl = e ? (size_t)(e - q) : (size_t)(lim - q);
		if (hl && q[hl - 1] == '\r')
			hl--;
		if (hl > 13 && strncasecmp(q, "content-type:", 13) == 0) {
			ct = q + 13;
			ctl = hl - 13;
			while (ctl && (*ct == ' ' || *ct == '\t')) {
				ct++;
				ctl--;
			}
		}
		q = e ? e + 1 : lim;
	}
	record_exchange("raw", method, target, tl, ct, ctl, r, data, len);
}

CURL *curl_new(void)
{
	CURL *h = curl_easy_init();
	if (!h) {
		fputs("curl_easy_init failed\n", stderr);
		abort();
	}
	return h;
}

struct resp *http_ex(CURL *h, int port, const char *method, const char *path, const char *body, size_t body_len,
                     const char *ctype, const char *const *hdrs, long timeout_ms)
{
	struct resp *r = xcalloc(sizeof *r);
	snprintf(r->what, sizeof r->what, "%s %s", method, path);
	struct growbuf b = {0};
	char url[8192];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);

	bool head = strcmp(method, "HEAD") == 0;
	if (head) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0 || body) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	struct curl_slist *sl = NULL;
	sl = curl_slist_append(sl, "Expect:");
	if (ctype) {
		char line[512];
		snprintf(line, sizeof line, "Content-Type: %s", ctype);
		sl = curl_slist_append(sl, line);
	} else {
		sl = curl_slist_append(sl, "Content-Type:");
	}
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		sl = curl_slist_append(sl, hdrs[i]);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);

	double t0 = mono_ms();
	r->t0_mono = t0;
	r->t0_wall = wall_ms();
	CURLcode rc = curl_easy_perform(h);
	r->t1_wall = wall_ms();
	r->t1_mono = mono_ms();
	r->ms = r->t1_mono - t0;
	r->curl_code = (int)rc;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	} else {
		r->status = 0;
		if (!r->err[0])
			snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(rc));
	}
	curl_slist_free_all(sl);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (!b.p)
		gb_append(&b, "", 0);
	r->body = b.p;
	r->len = b.len;
	resp_parse_json(r);
	if (rec_fd() >= 0) {
		const char *rct = ctype;
		size_t rctl = ctype ? strlen(ctype) : 0;
		for (size_t i = 0; hdrs && hdrs[i]; i++) {
			const char *v = hdrs[i] + 13;
			if (strncasecmp(hdrs[i], "content-type:", 13) != 0)
				continue;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v) {
				rct = v;
				rctl = strlen(v);
			}
		}
		record_exchange("curl", method, path, strlen(path), rct, rctl, r, NULL, 0);
	}
	return r;
}

struct resp *httpb(const char *method, const char *path, const char *body, size_t body_len, const char *ctype,
                   const char *const *hdrs)
{
	if (!g_curl)
		g_curl = curl_new();
	struct resp *r = http_ex(g_curl, g_dl.port, method, path, body, body_len, ctype, hdrs, 10000L * g_slow);
	r->tracked = true;
	arena_add(r, resp_free_void);
	return r;
}

struct resp *http(const char *method, const char *path, const char *body, const char *ctype, ...)
{
	const char *hdrs[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, ctype);
	const char *h;
	while ((h = va_arg(ap, const char *)) != NULL && n + 1 < sizeof hdrs / sizeof hdrs[0])
		hdrs[n++] = h;
	va_end(ap);
	hdrs[n] = NULL;
	return httpb(method, path, body, body ? strlen(body) : 0, ctype, hdrs);
}

/* ------------------------------------------------------------ async HTTP */

struct async_req {
	struct async_req *next;
	pthread_t th;
	int port;
	char *method, *path, *body, *ctype, *hdr;
	struct resp *r;
	volatile int done;
	bool joined;
};
static struct async_req *g_async;

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *p = xmalloc(n + 1);
	memcpy(p, s, n + 1);
	return p;
}

static void *async_main(void *arg)
{
	struct async_req *a = arg;
	CURL *h = curl_new();
	const char *hdrs[2] = {a->hdr, NULL};
	a->r = http_ex(h, a->port, a->method, a->path, a->body, a->body ? strlen(a->body) : 0, a->ctype, hdrs,
	               30000L * g_slow);
	curl_easy_cleanup(h);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct async_req *http_async(const char *method, const char *path, const char *body, const char *ctype, const char *hdr)
{
	return http_async_at(g_dl.port, method, path, body, ctype, hdr);
}

struct async_req *http_async_at(int port, const char *method, const char *path, const char *body, const char *ctype,
                                const char *hdr)
{
	struct async_req *a = xcalloc(sizeof *a);
	a->port = port;
	a->method = dup_or_null(method);
	a->path = dup_or_null(path);
	a->body = dup_or_null(body);
	a->ctype = dup_or_null(ctype);
	a->hdr = dup_or_null(hdr);
	if (pthread_create(&a->th, NULL, async_main, a) != 0) {
		free(a->method);
		free(a->path);
		free(a->body);
		free(a->ctype);
		free(a->hdr);
		free(a);
		FAIL("pthread_create failed");
	}
	a->next = g_async;
	g_async = a;
	return a;
}

bool http_async_done(struct async_req *a)
{
	return __atomic_load_n(&a->done, __ATOMIC_ACQUIRE) != 0;
}

struct resp *http_async_wait(struct async_req *a)
{
	if (!a->joined) {
		pthread_join(a->th, NULL);
		a->joined = true;
		a->r->tracked = true;
		arena_add(a->r, resp_free_void);
	}
	return a->r;
}

static void async_join_all(void)
{
	struct async_req *a = g_async;
	g_async = NULL;
	while (a) {
		struct async_req *n = a->next;
		if (!a->joined) {
			pthread_join(a->th, NULL);
			resp_free(a->r);
		}
		free(a->method);
		free(a->path);
		free(a->body);
		free(a->ctype);
		free(a->hdr);
		free(a);
		a = n;
	}
}

/* ------------------------------------------------------------ raw HTTP */

static const char *find_crlfcrlf(const char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i;
	return NULL;
}

static bool dechunk(const char *p, size_t n, struct growbuf *out)
{
	size_t i = 0;
	for (;;) {
		char *end;
		char tmp[32];
		size_t k = 0;
		while (i < n && p[i] != '\r' && k + 1 < sizeof tmp)
			tmp[k++] = p[i++];
		tmp[k] = 0;
		if (i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n')
			return false;
		i += 2;
		unsigned long sz = strtoul(tmp, &end, 16);
		if (end == tmp)
			return false;
		if (sz == 0)
			return true;
		if (i + sz + 2 > n)
			return false;
		gb_append(out, p + i, sz);
		i += sz + 2;
	}
}

struct raw_conn {
	int fd;
	const char *data; /* test-owned copy */
	size_t len;
	struct resp *r;
};

static void raw_conn_close(void *p)
{
	struct raw_conn *c = p;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

struct raw_conn *raw_send(const void *data, size_t len, bool half_close)
{
	struct resp *r = xcalloc(sizeof *r);
	r->tracked = true;
	arena_add(r, resp_free_void);
	struct raw_conn *c = xcalloc(sizeof *c);
	c->r = r;
	c->data = talloc(len + 1);
	memcpy((char *)c->data, data, len);
	c->len = len;
	arena_add(c, raw_conn_close);
	size_t wl = 0;
	const char *d = data;
	while (wl < len && wl + 1 < sizeof r->what && d[wl] != '\r' && d[wl] != '\n')
		wl++;
	snprintf(r->what, sizeof r->what, "raw %.*s", (int)wl, d);
	r->t0_mono = mono_ms();
	r->t0_wall = wall_ms();
	c->fd = connect_port(g_dl.port, 2000);
	if (c->fd < 0) {
		snprintf(r->err, sizeof r->err, "connect failed: %s", strerror(errno));
		return c;
	}
	send_all(c->fd, data, len); /* the server may answer early and close */
	if (half_close)
		shutdown(c->fd, SHUT_WR);
	return c;
}

void raw_reset(struct raw_conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->fd < 0)
		return;
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(c->fd);
	c->fd = -1;
}

struct resp *raw_http(const void *data, size_t len)
{
	return raw_recv(raw_send(data, len, false));
}

struct resp *raw_recv(struct raw_conn *c)
{
	struct resp *r = c->r;
	const char *data = c->data;
	size_t len = c->len;
	bool head = len >= 5 && memcmp(data, "HEAD ", 5) == 0;
	int fd = c->fd;
	c->fd = -1;
	struct growbuf b = {0};
	if (fd < 0) {
		gb_append(&b, "", 0);
		r->body = b.p;
		record_raw(data, len, r);
		return r;
	}
	double deadline = mono_ms() + 5000.0 * g_slow;
	double quiet_deadline = 0;
	for (;;) {
		double now = mono_ms();
		if (now > deadline) {
			snprintf(r->err, sizeof r->err, "timed out reading response");
			break;
		}
		if (quiet_deadline && now > quiet_deadline)
			break;
		int wait = (int)((quiet_deadline ? quiet_deadline : deadline) - now) + 1;
		struct pollfd p = {fd, POLLIN, 0};
		int pr = poll(&p, 1, wait);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char tmp[8192];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF or reset */
		gb_append(&b, tmp, (size_t)n);
		const char *hend = find_crlfcrlf(b.p, b.len);
		if (hend && head && !quiet_deadline)
			quiet_deadline = mono_ms() + 300;
		if (hend && !head) {
			/* stop early if the response is complete */
			const char *cl = NULL;
			for (const char *q = b.p; q < hend; q++) {
				if ((q == b.p || q[-1] == '\n') && strncasecmp(q, "content-length:", 15) == 0) {
					cl = q + 15;
					break;
				}
			}
			size_t hl = (size_t)(hend - b.p) + 4;
			if (cl && b.len - hl >= strtoul(cl, NULL, 10))
				break;
			if (!cl && b.len >= hl + 5 && memcmp(b.p + b.len - 5, "0\r\n\r\n", 5) == 0)
				break;
		}
	}
	close(fd);
	r->t1_wall = wall_ms();
	r->t1_mono = mono_ms();
	r->ms = r->t1_mono - r->t0_mono;
	if (!b.p)
		gb_append(&b, "", 0);

	/* parse */
	const char *hend = find_crlfcrlf(b.p, b.len);
	size_t hlen = hend ? (size_t)(hend - b.p) : b.len;
	if (b.len >= 12 && strncmp(b.p, "HTTP/1.", 7) == 0)
		r->status = strtol(b.p + 9, NULL, 10);
	const char *line = b.p;
	const char *hlimit = b.p + hlen;
	bool first = true;
	while (line < hlimit) {
		const char *eol = memchr(line, '\n', (size_t)(hlimit - line));
		if (!eol)
			eol = hlimit;
		if (!first)
			resp_add_header(r, line, (size_t)(eol - line));
		first = false;
		line = eol + 1;
	}
	struct growbuf body = {0};
	if (hend) {
		const char *bp = hend + 4;
		size_t bl = b.len - (size_t)(bp - b.p);
		const char *te = resp_header(r, "Transfer-Encoding");
		const char *cl = resp_header(r, "Content-Length");
		if (head) {
			gb_append(&body, bp, bl);
		} else if (te && strcasestr(te, "chunked")) {
			if (!dechunk(bp, bl, &body))
				snprintf(r->err, sizeof r->err, "bad chunked response body");
		} else if (cl) {
			size_t want = strtoul(cl, NULL, 10);
			gb_append(&body, bp, bl < want ? bl : want);
		} else {
			gb_append(&body, bp, bl);
		}
	}
	if (!body.p)
		gb_append(&body, "", 0);
	free(b.p);
	r->body = body.p;
	r->len = body.len;
	resp_parse_json(r);
	record_raw(data, len, r);
	return r;
}

struct resp *raw_httpf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vfmt_alloc(fmt, ap);
	va_end(ap);
	struct resp *r = raw_http(p, strlen(p));
	free(p);
	return r;
}

/* Sum the values of every sample of metric `name` (any labels). */
double metric_value(const struct resp *r, const char *name, int *found)
{
	double sum = 0;
	*found = 0;
	size_t nl = strlen(name);
	const char *p = r->body;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && (p[nl] == '{' || p[nl] == ' ')) {
			char line[1024];
			snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
			char *sp = strrchr(line, ' ');
			if (sp) {
				sum += strtod(sp + 1, NULL);
				(*found)++;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return sum;
}

/* ------------------------------------------------------------ checks */

static const char *short_body(const struct resp *r)
{
	static char buf[400];
	size_t n = r->len < 300 ? r->len : 300;
	size_t j = 0;
	for (size_t i = 0; i < n && j + 5 < sizeof buf; i++) {
		unsigned char c = (unsigned char)r->body[i];
		if (c >= 32 && c < 127) {
			buf[j++] = (char)c;
		} else {
			j += (size_t)snprintf(buf + j, sizeof buf - j, "\\x%02x", c);
		}
	}
	buf[j] = 0;
	return buf;
}

void expect_status_at(const char *f, int l, const struct resp *r, long status)
{
	if (r->status == status)
		return;
	if (r->status == 0)
		fail_at(f, l, "%s: expected HTTP %ld, got no response (%s)", r->what, status, r->err);
	fail_at(f, l, "%s: expected HTTP %ld, got %ld (body: %s)", r->what, status, r->status, short_body(r));
}

static bool media_is(const char *ct, const char *media)
{
	if (!ct)
		return false;
	size_t n = strlen(media);
	if (strncasecmp(ct, media, n) != 0)
		return false;
	const char *rest = ct + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	return *rest == 0 || *rest == ';';
}

void expect_ctype_at(const char *f, int l, const struct resp *r, const char *media)
{
	const char *ct = resp_header(r, "Content-Type");
	if (!media_is(ct, media))
		fail_at(f, l, "%s (HTTP %ld): expected Content-Type %s, got %s", r->what, r->status, media,
		        ct ? ct : "(none)");
}

json_t *jget_at(const char *f, int l, json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		fail_at(f, l, "expected a JSON object to read \"%s\" from", key);
	json_t *v = json_object_get(obj, key);
	if (!v)
		fail_at(f, l, "JSON member \"%s\" missing", key);
	return v;
}

const char *jstr_at(const char *f, int l, json_t *obj, const char *key)
{
	json_t *v = jget_at(f, l, obj, key);
	if (!json_is_string(v))
		fail_at(f, l, "JSON member \"%s\" is not a string", key);
	return json_string_value(v);
}

int64_t jint_at(const char *f, int l, json_t *obj, const char *key)
{
	json_t *v = jget_at(f, l, obj, key);
	if (!json_is_integer(v))
		fail_at(f, l, "JSON member \"%s\" is not an integer", key);
	return (int64_t)json_integer_value(v);
}

void expect_keys_at(const char *f, int l, json_t *obj, const char *const *keys)
{
	if (!json_is_object(obj))
		fail_at(f, l, "expected a JSON object");
	size_t n = 0;
	for (; keys[n]; n++)
		if (!json_object_get(obj, keys[n]))
			fail_at(f, l, "JSON member \"%s\" missing", keys[n]);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < n; i++)
			if (strcmp(keys[i], k) == 0)
				known = true;
		if (!known)
			fail_at(f, l, "unexpected JSON member \"%s\"", k);
	}
}

void expect_problem_at(const char *f, int l, const struct resp *r, long status, const char *code)
{
	expect_status_at(f, l, r, status);
	const char *ct = resp_header(r, "Content-Type");
	if (!media_is(ct, "application/problem+json"))
		fail_at(f, l, "%s (HTTP %ld): expected Content-Type application/problem+json, got %s (body: %s)",
		        r->what, r->status, ct ? ct : "(none)", short_body(r));
	if (!json_is_object(r->json))
		fail_at(f, l, "%s (HTTP %ld): problem body is not a JSON object: %s", r->what, r->status,
		        short_body(r));
	json_t *c = json_object_get(r->json, "code");
	if (!json_is_string(c) || strcmp(json_string_value(c), code) != 0)
		fail_at(f, l, "%s (HTTP %ld): expected problem code \"%s\", body: %s", r->what, r->status, code,
		        short_body(r));
	char type[128];
	snprintf(type, sizeof type, "urn:dlockd:problem:%s", code);
	json_t *t = json_object_get(r->json, "type");
	if (!json_is_string(t) || strcmp(json_string_value(t), type) != 0)
		fail_at(f, l, "%s: problem \"type\" should be %s, body: %s", r->what, type, short_body(r));
	json_t *ti = json_object_get(r->json, "title");
	if (!json_is_string(ti) || !*json_string_value(ti))
		fail_at(f, l, "%s: problem \"title\" missing/empty, body: %s", r->what, short_body(r));
	json_t *de = json_object_get(r->json, "detail");
	if (!json_is_string(de) || !*json_string_value(de))
		fail_at(f, l, "%s: problem \"detail\" missing/empty, body: %s", r->what, short_body(r));
	json_t *st = json_object_get(r->json, "status");
	if (!json_is_integer(st) || json_integer_value(st) != status)
		fail_at(f, l, "%s: problem \"status\" should be %ld, body: %s", r->what, status, short_body(r));
}

static bool json_has_key_deep(json_t *j, const char *key)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
		{
			if (strcmp(k, key) == 0 || json_has_key_deep(v, key))
				return true;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			if (json_has_key_deep(v, key))
				return true;
		}
	}
	return false;
}

void expect_no_token_at(const char *f, int l, const struct resp *r, const char *token)
{
	if (token && *token && r->len && memmem(r->body, r->len, token, strlen(token)))
		fail_at(f, l, "%s: body leaks the lock token: %s", r->what, short_body(r));
	if (r->json && json_has_key_deep(r->json, "token"))
		fail_at(f, l, "%s: body has a \"token\" member: %s", r->what, short_body(r));
	for (size_t i = 0; token && *token && i < r->nhdr; i++)
		if (strstr(r->hdr[i], token))
			fail_at(f, l, "%s: header leaks the lock token: %s", r->what, r->hdr[i]);
}

static void check_owner(const char *f, int l, json_t *o, const char *owner)
{
	json_t *v = jget_at(f, l, o, "owner");
	if (owner && strcmp(owner, "*") == 0) {
		if (!json_is_null(v) && !json_is_string(v))
			fail_at(f, l, "owner must be a string or null");
		return;
	}
	if (!owner) {
		if (!json_is_null(v))
			fail_at(f, l, "owner should be null");
		return;
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), owner) != 0)
		fail_at(f, l, "owner should be \"%.60s\", got %s", owner,
		        json_is_string(v) ? json_string_value(v) : "(not a string)");
}

struct grant check_grant_at(const char *f, int l, const struct resp *r, const char *name, int64_t ttl_ms,
                            const char *owner)
{
	struct grant g;
	memset(&g, 0, sizeof g);
	expect_ctype_at(f, l, r, "application/json");
	if (!json_is_object(r->json))
		fail_at(f, l, "%s: grant body is not a JSON object: %s", r->what, short_body(r));
	static const char *const keys[] = {"name", "token", "fence", "ttl_ms", "expires_at", "owner", NULL};
	expect_keys_at(f, l, r->json, keys);
	g.name = jstr_at(f, l, r->json, "name");
	if (name && strcmp(g.name, name) != 0)
		fail_at(f, l, "%s: grant name should be \"%.60s\", got \"%.60s\"", r->what, name, g.name);
	g.token = jstr_at(f, l, r->json, "token");
	if (strlen(g.token) != 32 || !is_base64url(g.token))
		fail_at(f, l, "%s: token should be 32 base64url chars, got \"%s\"", r->what, g.token);
	g.fence = jint_at(f, l, r->json, "fence");
	if (g.fence <= 0)
		fail_at(f, l, "%s: fence should be positive, got %" PRId64, r->what, g.fence);
	g.ttl_ms = jint_at(f, l, r->json, "ttl_ms");
	if (ttl_ms >= 0 && g.ttl_ms != ttl_ms)
		fail_at(f, l, "%s: ttl_ms should be %" PRId64 ", got %" PRId64, r->what, ttl_ms, g.ttl_ms);
	const char *exp = jstr_at(f, l, r->json, "expires_at");
	if (!parse_rfc3339_ms(exp, &g.expires_ms))
		fail_at(f, l, "%s: expires_at not RFC3339 with ms and Z: \"%s\"", r->what, exp);
	int64_t lo = r->t0_wall + g.ttl_ms - 50, hi = r->t1_wall + g.ttl_ms + 50;
	if (g.expires_ms < lo || g.expires_ms > hi)
		fail_at(f, l, "%s: expires_at %s is not now+ttl_ms (%" PRId64 " ms off)", r->what, exp,
		        g.expires_ms - (r->t1_wall + g.ttl_ms));
	check_owner(f, l, r->json, owner);
	g.name = tstrdup(g.name);
	g.token = tstrdup(g.token);
	return g;
}

struct view check_view_at(const char *f, int l, json_t *v, const char *name, int64_t max_ttl, const char *owner)
{
	struct view w;
	memset(&w, 0, sizeof w);
	static const char *const keys[] = {"name", "owner", "fence", "ttl_ms", "expires_at", "acquired_at", NULL};
	if (!json_is_object(v))
		fail_at(f, l, "lock view is not a JSON object");
	expect_keys_at(f, l, v, keys);
	w.name = jstr_at(f, l, v, "name");
	if (name && strcmp(w.name, name) != 0)
		fail_at(f, l, "view name should be \"%.60s\", got \"%.60s\"", name, w.name);
	w.fence = jint_at(f, l, v, "fence");
	if (w.fence <= 0)
		fail_at(f, l, "view fence should be positive");
	w.ttl_ms = jint_at(f, l, v, "ttl_ms");
	if (w.ttl_ms < 0 || (max_ttl >= 0 && w.ttl_ms > max_ttl))
		fail_at(f, l, "view ttl_ms (remaining) %" PRId64 " out of [0, %" PRId64 "]", w.ttl_ms, max_ttl);
	const char *e = jstr_at(f, l, v, "expires_at");
	const char *a = jstr_at(f, l, v, "acquired_at");
	if (!parse_rfc3339_ms(e, &w.expires_ms))
		fail_at(f, l, "view expires_at not RFC3339 ms Z: \"%s\"", e);
	if (!parse_rfc3339_ms(a, &w.acquired_ms))
		fail_at(f, l, "view acquired_at not RFC3339 ms Z: \"%s\"", a);
	if (w.acquired_ms > w.expires_ms)
		fail_at(f, l, "view acquired_at %s after expires_at %s", a, e);
	int64_t now = wall_ms();
	if (w.acquired_ms > now + 50)
		fail_at(f, l, "view acquired_at %s is in the future", a);
	int64_t diff = w.expires_ms - (now + w.ttl_ms);
	if (diff > 50 || diff < -3000L * g_slow)
		fail_at(f, l, "view expires_at %s inconsistent with remaining ttl_ms %" PRId64 " (%" PRId64 " ms off)",
		        e, w.ttl_ms, diff);
	check_owner(f, l, v, owner);
	w.name = tstrdup(w.name);
	return w;
}

struct grant acquire_at(const char *f, int l, const char *name, const char *query)
{
	const char *path = query && *query ? tfmt("/locks/%s?%s", name, query) : tfmt("/locks/%s", name);
	struct resp *r = http("PUT", path, NULL, NULL, NULL);
	expect_status_at(f, l, r, 201);
	int64_t ttl = -1;
	const char *t = query ? strstr(query, "ttl_ms=") : NULL;
	if (t)
		ttl = strtoll(t + 7, NULL, 10);
	const char *loc = resp_header(r, "Location");
	const char *want = tfmt("/locks/%s", name);
	if (!loc || strcmp(loc, want) != 0)
		fail_at(f, l, "%s: Location should be %s, got %s", r->what, want, loc ? loc : "(none)");
	return check_grant_at(f, l, r, strchr(name, '%') ? NULL : name, ttl, "*");
}

/* ------------------------------------------------------------ dlockd */

static bool has_flag(const char *const *extra, const char *flag)
{
	for (size_t i = 0; extra && extra[i]; i++)
		if (strcmp(extra[i], flag) == 0)
			return true;
	return false;
}

static bool healthz_ok(CURL *h, const char *path)
{
	struct resp *r = http_ex(h, g_dl.port, "GET", path, NULL, 0, NULL, NULL, 1000L * g_slow);
	bool ok = r->status == 200;
	resp_free(r);
	return ok;
}

static void dlockd_launch(const char *const *extra, const char *const *env, bool ready);

void dlockd_start(const char *const *extra)
{
	dlockd_launch(extra, NULL, true);
}

void dlockd_start_env(const char *const *extra, const char *const *env)
{
	dlockd_launch(extra, env, true);
}

void dlockd_start_healthy(const char *const *extra)
{
	dlockd_launch(extra, NULL, false);
}

void dlockd_kill(void)
{
	if (g_dl.pid > 0) {
		kill(-g_dl.pid, SIGKILL);
		kill(g_dl.pid, SIGKILL);
		waitpid(g_dl.pid, NULL, 0);
	}
	g_dl.pid = 0;
	g_dl.running = false;
}

/* start g_dl; wait for GET /healthz 200, and also /readyz 200 if `ready` */
static void dlockd_launch(const char *const *extra, const char *const *env, bool ready)
{
	if (!g_bin)
		FAIL("DLOCKD_BIN is not set");
	if (access(g_bin, X_OK) != 0)
		FAIL("DLOCKD_BIN %s is not executable: %s", g_bin, strerror(errno));
	g_dl.port = free_port();
	for (size_t i = 0; extra && extra[i] && extra[i + 1]; i++) {
		if (strcmp(extra[i], "--listen") == 0) {
			/* caller-chosen address: talk to its port on 127.0.0.1 */
			const char *c = strrchr(extra[i + 1], ':');
			if (c)
				g_dl.port = (int)strtol(c + 1, NULL, 10);
		}
	}
	g_dl_count++;
	snprintf(g_dl.log, sizeof g_dl.log, "%s/dlockd-%03u.log", g_tmpdir, g_dl_count);
	char listen[64], redis[96], port[16];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", g_dl.port);
	snprintf(redis, sizeof redis, "redis://127.0.0.1:%d", g_redis.port);
	(void)port;
	char *argv[96];
	int n = 0;
	for (int i = 0; i < g_nwrapper; i++)
		argv[n++] = g_wrapper[i];
	argv[n++] = (char *)g_bin;
	if (!has_flag(extra, "--listen")) {
		argv[n++] = "--listen";
		argv[n++] = listen;
	}
	if (!has_flag(extra, "--redis")) {
		argv[n++] = "--redis";
		argv[n++] = redis;
	}
	if (!has_flag(extra, "--redis-timeout-ms")) {
		argv[n++] = "--redis-timeout-ms";
		argv[n++] = "300";
	}
	if (!has_flag(extra, "--log-level")) {
		argv[n++] = "--log-level";
		argv[n++] = "warn";
	}
	for (size_t i = 0; extra && extra[i] && n < 94; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;

	g_dl.pid = spawn_env(argv, g_dl.log, -1, env);
	if (g_dl.pid <= 0)
		FAIL("fork failed: %s", strerror(errno));
	g_dl.running = true;
	CURL *h = curl_new();
	double start_limit_s = g_nwrapper ? 20 : 10;
	const char *sts = getenv("DLOCKD_START_TIMEOUT_S");
	if (sts && strtod(sts, NULL) > 0)
		start_limit_s = strtod(sts, NULL);
	double end = mono_ms() + 1000.0 * start_limit_s;
	for (;;) {
		int st;
		pid_t w = waitpid(g_dl.pid, &st, WNOHANG);
		if (w == g_dl.pid) {
			curl_easy_cleanup(h);
			g_dl.running = false;
			g_dl.pid = 0;
			log_tail(g_dl.log, 20);
			if (WIFEXITED(st))
				FAIL("dlockd exited during startup with status %d", WEXITSTATUS(st));
			FAIL("dlockd died during startup with signal %d", WTERMSIG(st));
		}
		if (healthz_ok(h, "/healthz")) {
			/* Redis is connected asynchronously: also wait until the
			 * service reports ready, so tests don't race the connect */
			while (ready && !healthz_ok(h, "/readyz")) {
				if (mono_ms() > end) {
					curl_easy_cleanup(h);
					log_tail(g_dl.log, 20);
					FAIL("dlockd answered /healthz but not GET /readyz 200 within %.0f s",
					     start_limit_s);
				}
				sleep_ms(10);
			}
			break;
		}
		if (mono_ms() > end) {
			curl_easy_cleanup(h);
			log_tail(g_dl.log, 20);
			FAIL("dlockd did not answer GET /healthz 200 within %.0f s", start_limit_s);
		}
		sleep_ms(20);
	}
	curl_easy_cleanup(h);
}

bool dlockd_stop(char *why, size_t whysz)
{
	if (whysz)
		why[0] = 0;
	if (!g_dl.running || g_dl.pid <= 0)
		return true;
	g_dl.running = false;
	pid_t pid = g_dl.pid;
	int st = 0;
	const char *when = "after SIGTERM";
	bool exited = waitpid(pid, &st, WNOHANG) == pid;
	if (exited) {
		when = "before SIGTERM (it crashed or quit during the test)";
	} else {
		kill(pid, SIGTERM);
		exited = wait_exit(pid, 10000 * (g_nwrapper ? 3 : 1), &st);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	g_dl.pid = 0;
	/* reap anything else left in its process group (wrapper children) */
	kill(-pid, SIGKILL);
	if (!exited) {
		log_tail(g_dl.log, 25);
		snprintf(why, whysz, "dlockd did not exit within 10 s of SIGTERM");
		return false;
	}
	if (WIFSIGNALED(st)) {
		log_tail(g_dl.log, 25);
		snprintf(why, whysz, "dlockd was killed by signal %d %s", WTERMSIG(st), when);
		return false;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		log_tail(g_dl.log, 25);
		snprintf(why, whysz, "dlockd exited with status %d %s (sanitizer/valgrind error?)", WEXITSTATUS(st),
		         when);
		return false;
	}
	return true;
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

int run_dlockd_capture(const char *const *args, char *out, size_t outsz, int timeout_ms)
{
	if (!g_bin)
		FAIL("DLOCKD_BIN is not set");
	char *argv[64];
	int n = 0;
	for (int i = 0; i < g_nwrapper; i++)
		argv[n++] = g_wrapper[i];
	argv[n++] = (char *)g_bin;
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
	size_t got = 0;
	if (outsz)
		out[0] = 0;
	double end = mono_ms() + timeout_ms * g_slow;
	for (;;) {
		int left = (int)(end - mono_ms());
		if (left <= 0)
			break;
		struct pollfd p = {pfd[0], POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			continue;
		char tmp[1024];
		ssize_t r = read(pfd[0], tmp, sizeof tmp);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r && got + 1 < outsz; i++) {
			out[got++] = tmp[i];
			out[got] = 0;
		}
	}
	close(pfd[0]);
	int st = 0;
	int left = (int)(end - mono_ms());
	if (!wait_exit(pid, left > 0 ? left : 1, &st)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	kill(-pid, SIGKILL);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return -1;
}

/* ------------------------------------------------------------ runner */

static void split_wrapper(void)
{
	const char *w = getenv("DLOCKD_WRAPPER");
	if (!w || !*w)
		return;
	size_t n = strlen(w);
	g_wrapper_buf = xmalloc(n + 1);
	memcpy(g_wrapper_buf, w, n + 1);
	char *save = NULL;
	for (char *t = strtok_r(g_wrapper_buf, " \t", &save); t && g_nwrapper < 31; t = strtok_r(NULL, " \t", &save))
		g_wrapper[g_nwrapper++] = t;
	g_wrapper[g_nwrapper] = NULL;
	if (g_nwrapper)
		g_slow = 5;
}

static const struct test *volatile g_cur_test;

static void run_one(const struct test *test, bool redis_ok)
{
	g_cur_test = test;
	g_cur_name = test->name;
	g_tail_printed = false;
	g_failed = 0;
	g_msg[0] = 0;
	alarm((unsigned)(120 * g_slow));
	volatile double t0 = mono_ms();
	if (setjmp(g_jmp) == 0) {
		if (!redis_ok || !redis_ensure())
			FAIL("could not start redis-server on port %d", g_redis.port);
		if (!redis_flushall())
			FAIL("redis FLUSHALL failed");
		g_curl = curl_new();
		if (!(g_cur_test->flags & T_NO_DLOCKD))
			dlockd_start(g_cur_test->args);
		g_cur_test->fn();
	}
	if (setjmp(g_jmp) == 0)
		dlockd_stop_checked();
	/* Redlock nodes and replicas, if the test started any */
	if (setjmp(g_jmp) == 0)
		nodes_cleanup();
	async_join_all(); /* their requests end with dlockd */
	alarm(0);
	const struct test *t = g_cur_test;
	if (g_redis.stopped)
		redis_cont_signal();
	redis_restore();
	if (g_failed && g_dl.log[0] && !g_tail_printed)
		log_tail(g_dl.log, 15);
	if (g_curl) {
		curl_easy_cleanup(g_curl);
		g_curl = NULL;
	}
	arena_free_all();
	double dt = mono_ms() - t0;
	if (g_failed) {
		g_nfailed++;
		printf("FAIL %s: %s\n", t->name, g_msg);
	} else {
		g_npassed++;
		printf("ok   %s\n", t->name);
		if (getenv("VERBOSE"))
			fprintf(stderr, "    # %s took %.0f ms\n", t->name, dt);
	}
	fflush(stdout);
	g_dl.log[0] = 0;
}

/* TEST_FILTER: comma-separated substrings; a test runs if its name holds one */
static bool filter_match(const char *filter, const char *name)
{
	if (!filter)
		return true;
	for (const char *p = filter;;) {
		size_t n = strcspn(p, ",");
		if (n && memmem(name, strlen(name), p, n))
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

int harness_main(const struct test *const *suites)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_main_thread = pthread_self();
	g_bin = getenv("DLOCKD_BIN");
	split_wrapper();
	const char *filter = getenv("TEST_FILTER");
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	curl_global_init(CURL_GLOBAL_ALL);

	const char *tmpbase = getenv("TMPDIR");
	snprintf(g_tmpdir, sizeof g_tmpdir, "%s/dlockd-blackbox-XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
	if (!mkdtemp(g_tmpdir)) {
		perror("mkdtemp");
		g_tmpdir[0] = 0;
		printf("0 passed, 1 failed\n");
		return 1;
	}
	atexit(cleanup_at_exit);
	static sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_t sigth;
	if (pthread_create(&sigth, NULL, signal_thread, &sigs) == 0)
		pthread_detach(sigth);
	if (getenv("KEEP_TMP"))
		fprintf(stderr, "# temp dir: %s\n", g_tmpdir);

	int any = 0;
	for (size_t s = 0; suites[s]; s++)
		for (const struct test *t = suites[s]; t->name; t++)
			if (filter_match(filter, t->name))
				any = 1;
	bool redis_ok = !any || redis_start();

	double t_start = mono_ms();
	for (size_t s = 0; suites[s]; s++)
		for (const struct test *t = suites[s]; t->name; t++)
			if (filter_match(filter, t->name))
				run_one(t, redis_ok);
	g_cur_name = NULL;
	fprintf(stderr, "# total %.1f s\n", (mono_ms() - t_start) / 1000.0);
	fflush(stderr);
	cleanup_at_exit();
	curl_global_cleanup();
	free(g_wrapper_buf);
	printf("%d passed, %d failed\n", g_npassed, g_nfailed);
	fflush(stdout);
	return g_nfailed ? 1 : 0;
}

/* ------------------------------------------------------------ Redlock nodes
 *
 * Independent redis-servers and extra dlockd replicas (see harness.h). */

struct node g_nodes[NODES_MAX];
int g_nnodes;

static struct dlockd g_replicas[REPLICAS_MAX];
static int g_nreplicas;
static struct dlockd g_saved_dl; /* g_dl while replica_start() borrows it */
static bool g_dl_borrowed;

static bool port_taken(int port, int self)
{
	if (port <= 0 || port == g_redis.port || port == g_dl.port)
		return true;
	for (int i = 0; i < NODES_MAX; i++)
		if (i != self && g_nodes[i].port == port)
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
		snprintf(nd->dir, sizeof nd->dir, "%s/node-%d", g_tmpdir, i);
		mkdir(nd->dir, 0700);
		snprintf(nd->log, sizeof nd->log, "%s/node-%d.log", g_tmpdir, i);
	}
	char port[16];
	snprintf(port, sizeof port, "%d", nd->port);
	char *argv[] = {"redis-server", "--port", port,    "--bind", "127.0.0.1",   "--save", "",
	                "--appendonly", "no",     "--dir", nd->dir,  "--daemonize", "no",     "--protected-mode",
	                "no",           NULL};
	nd->pid = spawn(argv, nd->log, -1);
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

void node_kill(int i)
{
	if (i < 0 || i >= NODES_MAX)
		return;
	struct node *nd = &g_nodes[i];
	if (nd->pid > 0) {
		kill(-nd->pid, SIGKILL);
		kill(nd->pid, SIGKILL);
		waitpid(nd->pid, NULL, 0);
	}
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

char node_cmd(int i, char *out, size_t outsz, int argc, const char *const *argv)
{
	if (outsz)
		out[0] = 0;
	if (i < 0 || i >= NODES_MAX || g_nodes[i].pid <= 0)
		return 0;
	int saved = g_redis.port; /* redis_cmd() talks to g_redis.port */
	g_redis.port = g_nodes[i].port;
	char t = redis_cmd(out, outsz, argc, argv);
	g_redis.port = saved;
	return t;
}

const char **node_list(int i, int argc, const char *const *argv, size_t *n)
{
	*n = 0;
	if (i < 0 || i >= NODES_MAX || g_nodes[i].pid <= 0)
		return NULL;
	int saved = g_redis.port; /* redis_list() talks to g_redis.port */
	g_redis.port = g_nodes[i].port;
	const char **r = redis_list(argc, argv, n);
	g_redis.port = saved;
	return r;
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
	if (g_nreplicas >= REPLICAS_MAX)
		FAIL("at most %d replicas", REPLICAS_MAX);
	const char *const *args = g_nnodes ? nodes_args(extra) : extra;
	/* dlockd_start() starts g_dl: lend it out; nodes_cleanup() gives it back
	 * if the start fails the test */
	g_saved_dl = g_dl;
	g_dl_borrowed = true;
	memset(&g_dl, 0, sizeof g_dl);
	dlockd_start(args);
	g_replicas[g_nreplicas++] = g_dl;
	g_dl = g_saved_dl;
	g_dl_borrowed = false;
	return g_replicas[g_nreplicas - 1].port;
}

struct resp *http_at(int port, const char *method, const char *path, const char *body, const char *ctype, ...)
{
	const char *hdrs[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, ctype);
	const char *h;
	while ((h = va_arg(ap, const char *)) != NULL && n + 1 < sizeof hdrs / sizeof hdrs[0])
		hdrs[n++] = h;
	va_end(ap);
	hdrs[n] = NULL;
	int saved = g_dl.port; /* httpb() talks to g_dl.port */
	g_dl.port = port;
	struct resp *r = httpb(method, path, body, body ? strlen(body) : 0, ctype, hdrs);
	g_dl.port = saved;
	return r;
}

void nodes_cleanup(void)
{
	char why[256], first[400] = "";
	for (int i = 0; i < NODES_MAX; i++)
		if (g_nodes[i].paused)
			node_resume(i);
	if (g_dl_borrowed) {
		/* a replica failed to start: the runner stopped it as g_dl */
		g_dl_borrowed = false;
		g_dl = g_saved_dl;
		if (!dlockd_stop(why, sizeof why))
			snprintf(first, sizeof first, "%s", why);
	}
	struct dlockd saved = g_dl;
	for (int i = 0; i < g_nreplicas; i++) {
		g_dl = g_replicas[i];
		if (!dlockd_stop(why, sizeof why) && !first[0])
			snprintf(first, sizeof first, "replica on port %d: %s", g_replicas[i].port, why);
	}
	g_dl = saved;
	g_nreplicas = 0;
	for (int i = 0; i < NODES_MAX; i++) {
		node_kill(i);
		remove_snapshot(g_nodes[i].dir);
	}
	memset(g_nodes, 0, sizeof g_nodes);
	g_nnodes = 0;
	if (first[0])
		FAIL("%s", first);
}
