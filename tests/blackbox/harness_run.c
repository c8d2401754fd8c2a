/* Black-box harness, the runner: walks the suites, runs each test (longjmp
 * back here when an assertion fails), prints "N passed, N failed". Also owns
 * what every part uses: test-owned memory (the arena), growing buffers, time,
 * the temp dir, fatal signals and the per-test watchdog. */
#include "harness_int.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* the runner's state; the signal handlers read the volatile members */
static struct {
	jmp_buf jmp;
	pthread_t main_thread;
	const struct test *volatile cur; /* NULL between tests */
	volatile int failed;             /* the current test */
	char msg[2048];                  /* its failure message(s) */
	bool tail_printed;               /* a log tail went to stderr during it */
	volatile int npassed, nfailed;
	char tmpdir[256];
} g_run;

/* ------------------------------------------------------------ arena */

struct arena_item {
	struct arena_item *next;
	void *p;
	void (*fr)(void *);
};
/* what the current test owns: freed by arena_free_all() when it ends */
static struct {
	struct arena_item *head;
	pthread_mutex_t mu;
} g_arena = {NULL, PTHREAD_MUTEX_INITIALIZER};

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

void arena_add(void *p, void (*fr)(void *))
{
	struct arena_item *it = xmalloc(sizeof *it);
	it->p = p;
	it->fr = fr;
	pthread_mutex_lock(&g_arena.mu);
	it->next = g_arena.head;
	g_arena.head = it;
	pthread_mutex_unlock(&g_arena.mu);
}

static void arena_free_all(void)
{
	pthread_mutex_lock(&g_arena.mu);
	struct arena_item *it = g_arena.head;
	g_arena.head = NULL;
	pthread_mutex_unlock(&g_arena.mu);
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

char *vfmt_alloc(const char *fmt, va_list ap)
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

/* ------------------------------------------------------------ buffers */

void gb_append(struct growbuf *b, const void *data, size_t n)
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

/* ------------------------------------------------------------ failures */

const char *harness_tmpdir(void)
{
	return g_run.tmpdir;
}

const char *harness_test_name(void)
{
	const struct test *t = g_run.cur;
	return t ? t->name : NULL;
}

void log_tail(const char *path, int nlines)
{
	g_run.tail_printed = true;
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
	if (!g_run.failed) {
		snprintf(g_run.msg, sizeof g_run.msg, "%s (%s:%d)", reason, base, line);
		g_run.failed = 1;
	} else {
		size_t used = strlen(g_run.msg);
		snprintf(g_run.msg + used, sizeof g_run.msg - used, " [also: %s (%s:%d)]", reason, base, line);
	}
}

_Noreturn void fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record_failure(file, line, fmt, ap);
	va_end(ap);
	if (!pthread_equal(pthread_self(), g_run.main_thread)) {
		fprintf(stderr, "assertion used from a worker thread: %s\n", g_run.msg);
		abort();
	}
	longjmp(g_run.jmp, 1);
}

/* ------------------------------------------------------------ exit and signals */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* at exit, and on SIGINT & co.: no dlockd or redis-server left, no temp dir */
static void cleanup_at_exit(void)
{
	procs_reap_all();
	if (g_run.tmpdir[0] && !getenv("KEEP_TMP"))
		nftw(g_run.tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_fatal_signal(int sig)
{
	procs_kill_all();
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
	cleanup_at_exit();
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
	const struct test *t = g_run.cur;
	int n = snprintf(buf, sizeof buf, "FAIL %s: test timed out (watchdog)\n%d passed, %d failed\n",
	                 t ? t->name : "?", g_run.npassed, g_run.nfailed + 1);
	if (n > 0)
		(void)!write(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	procs_kill_all();
	_exit(1);
}

/* ------------------------------------------------------------ runner */

static void run_one(const struct test *test, bool redis_ok)
{
	g_run.cur = test;
	g_run.tail_printed = false;
	g_run.failed = 0;
	g_run.msg[0] = 0;
	alarm((unsigned)(120 * g_slow));
	volatile double t0 = mono_ms();
	if (setjmp(g_run.jmp) == 0) {
		if (!redis_ok || !redis_ensure())
			FAIL("could not start redis-server on port %d", g_redis.port);
		if (!redis_flushall())
			FAIL("redis FLUSHALL failed");
		http_test_begin();
		if (!(g_run.cur->flags & T_NO_DLOCKD))
			dlockd_start(g_run.cur->args);
		g_run.cur->fn();
	}
	if (setjmp(g_run.jmp) == 0)
		dlockd_stop_checked();
	/* Redlock nodes and replicas, if the test started any */
	if (setjmp(g_run.jmp) == 0)
		nodes_cleanup();
	http_join_async(); /* their requests end with dlockd */
	alarm(0);
	const struct test *t = g_run.cur;
	if (g_redis.stopped)
		redis_cont_signal();
	redis_restore();
	if (g_run.failed && g_dl.log[0] && !g_run.tail_printed)
		log_tail(g_dl.log, 15);
	http_test_end();
	arena_free_all();
	double dt = mono_ms() - t0;
	if (g_run.failed) {
		g_run.nfailed++;
		printf("FAIL %s: %s\n", t->name, g_run.msg);
	} else {
		g_run.npassed++;
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

/* SIGSEGV, SIGBUS, SIGABRT kill the children first; SIGALRM is the watchdog */
static void fatal_signals_install(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

/* SIGINT, SIGTERM, SIGHUP, SIGQUIT: blocked here and in every thread made
 * later, and waited for by signal_thread() */
static void interrupt_thread_start(void)
{
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
}

/* run (or with run false, only count) the tests TEST_FILTER selects, in order */
static int each_selected(const struct test *const *suites, const char *filter, bool run, bool redis_ok)
{
	int n = 0;
	for (size_t s = 0; suites[s]; s++)
		for (const struct test *t = suites[s]; t->name; t++)
			if (filter_match(filter, t->name)) {
				n++;
				if (run)
					run_one(t, redis_ok);
			}
	return n;
}

int harness_main(const struct test *const *suites)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_run.main_thread = pthread_self();
	procs_init();
	const char *filter = getenv("TEST_FILTER");
	fatal_signals_install();
	curl_global_init(CURL_GLOBAL_ALL);

	const char *tmpbase = getenv("TMPDIR");
	snprintf(g_run.tmpdir, sizeof g_run.tmpdir, "%s/dlockd-blackbox-XXXXXX",
	         tmpbase && *tmpbase ? tmpbase : "/tmp");
	if (!mkdtemp(g_run.tmpdir)) {
		perror("mkdtemp");
		g_run.tmpdir[0] = 0;
		printf("0 passed, 1 failed\n");
		return 1;
	}
	atexit(cleanup_at_exit);
	interrupt_thread_start();
	if (getenv("KEEP_TMP"))
		fprintf(stderr, "# temp dir: %s\n", g_run.tmpdir);

	bool redis_ok = !each_selected(suites, filter, false, false) || redis_start();
	double t_start = mono_ms();
	each_selected(suites, filter, true, redis_ok);
	g_run.cur = NULL;
	fprintf(stderr, "# total %.1f s\n", (mono_ms() - t_start) / 1000.0);
	fflush(stderr);
	cleanup_at_exit();
	curl_global_cleanup();
	procs_fini();
	printf("%d passed, %d failed\n", g_run.npassed, g_run.nfailed);
	fflush(stdout);
	return g_run.nfailed ? 1 : 0;
}
