/* HTTPS (issue 15): dlockd with --tls-cert/--tls-key, against a CA and server certificates
 * made here with openssl (once per run, in the run's scratch directory): lock calls over
 * TLS, a client with another CA refused, plain HTTP on the TLS port closed, TLS 1.1
 * refused, SIGHUP serving a new certificate to new handshakes while an open keep-alive
 * connection keeps working, a broken certificate on SIGHUP leaving the old one in place,
 * reloads while many handshakes run on several threads, the 408 of a slow request written
 * through TLS, start-up errors, `dlockd --healthcheck`, and `dlock --cacert`. */
#include "../../src/base/digest.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The run's certificates: ca (trusted), other-ca (not), srv1 (EC P-256, serial 1001,
 * CN dlockd-test-1) and srv2 (RSA 2048, serial 2002, CN dlockd-test-2), both issued by ca
 * for 127.0.0.1 and localhost. dlockd serves live.pem/live.key, which the tests rewrite. */
static char g_pki[512];

static const char *pki(const char *file)
{
	return tfmt("%s/%s", g_pki, file);
}

/* Runs a shell command (output to the pki log); fails the test unless it exits 0. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	char cmd[4096];
	pid_t pid;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(tfmt("%s/pki.log", harness_tmpdir()), O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "`%s` failed (see %s/pki.log; is openssl installed?)", cmd,
	       harness_tmpdir());
}

static void copy_file(const char *from, const char *to)
{
	sh("cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to);
}

/* Makes the CA and certificates once per run. */
static void make_pki(void)
{
	if (g_pki[0])
		return;
	snprintf(g_pki, sizeof g_pki, "%s/tls", harness_tmpdir());
	sh("mkdir -p '%s' && cd '%s' && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
	   "-days 2 -subj /CN=dlockd-test-ca && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key "
	   "-out other-ca.pem -days 2 -subj /CN=dlockd-other-ca && "
	   "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
	   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv1.key -out srv1.csr "
	   "-subj /CN=dlockd-test-1 && "
	   "openssl x509 -req -in srv1.csr -CA ca.pem -CAkey ca.key -set_serial 0x1001 -days 2 -extfile san.ext "
	   "-out srv1.pem && "
	   "openssl req -newkey rsa:2048 -nodes -keyout srv2.key -out srv2.csr -subj /CN=dlockd-test-2 && "
	   "openssl x509 -req -in srv2.csr -CA ca.pem -CAkey ca.key -set_serial 0x2002 -days 2 -extfile san.ext "
	   "-out srv2.pem",
	   g_pki, g_pki);
}

/* Serves srv<n> as the live certificate. */
static void serve_cert(int n)
{
	copy_file(pki(tfmt("srv%d.pem", n)), pki("live.pem"));
	copy_file(pki(tfmt("srv%d.key", n)), pki("live.key"));
}

/* Starts dlockd over HTTPS with srv1 (log level info: reloads are logged), plus extra
 * flags (up to 6), and points the harness's requests at it. */
static void tls_start(const char *const *extra)
{
	const char *args[16] = {"--tls-cert", NULL, "--tls-key", NULL, "--log-level", "info"};
	size_t n = 6;

	make_pki();
	serve_cert(1);
	args[1] = pki("live.pem");
	args[3] = pki("live.key");
	for (size_t i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	harness_tls(pki("ca.pem"));
	dlockd_start(args);
}

/* ---- one HTTPS GET with its own curl handle ---- */

struct probe {
	long status, connects;
	int curl_code;
	char subject[256], serial[64], err[CURL_ERROR_SIZE];
};

static size_t discard(char *p, size_t sz, size_t nm, void *ud)
{
	(void)p;
	(void)ud;
	return sz * nm;
}

/* GET path over h (which keeps its connection for the next call) trusting ca; the
 * certificate's subject and serial when this call made a new connection. opts_fn may
 * set more options. */
static struct probe get_on(CURL *h, const char *path, const char *ca, void (*opts_fn)(CURL *h))
{
	struct probe p;
	struct curl_certinfo *ci = NULL;

	memset(&p, 0, sizeof p);
	curl_easy_setopt(h, CURLOPT_URL, tfmt("https://127.0.0.1:%d%s", g_dl.port, path));
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L * g_slow);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p.err);
	if (opts_fn)
		opts_fn(h);
	p.curl_code = (int)curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &p.status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &p.connects);
	if (p.connects > 0 && curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0)
		for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
			if (strncmp(l->data, "Subject:", 8) == 0)
				snprintf(p.subject, sizeof p.subject, "%s", l->data + 8);
			else if (strncmp(l->data, "Serial Number:", 14) == 0)
				snprintf(p.serial, sizeof p.serial, "%s", l->data + 14);
		}
	return p;
}

/* GET path on a new connection (its own handle) trusting ca. */
static struct probe get_new(const char *path, const char *ca)
{
	CURL *h = curl_new();
	struct probe p = get_on(h, path, ca, NULL);

	curl_easy_cleanup(h);
	return p;
}

/* The serial as OpenSSL's certinfo prints it ("10:01", or "1001"), without colons or case. */
static bool serial_is(const struct probe *p, const char *hex)
{
	char s[64];
	size_t n = 0;

	for (const char *c = p->serial; *c && n + 1 < sizeof s; c++)
		if (*c != ':' && *c != ' ')
			s[n++] = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
	s[n] = '\0';
	while (s[0] == '0' && s[1])
		memmove(s, s + 1, strlen(s));
	return strcmp(s, hex) == 0;
}

static void expect_cert(const struct probe *p, int n)
{
	const char *serial = n == 1 ? "1001" : "2002";

	CHECKF(p->status == 200, "GET over TLS: status %ld, curl %d (%s)", p->status, p->curl_code, p->err);
	CHECKF(p->connects == 1, "expected a new connection, curl made %ld", p->connects);
	CHECKF(strstr(p->subject, tfmt("dlockd-test-%d", n)) && serial_is(p, serial),
	       "expected certificate %d (serial %s), got subject '%s' serial '%s'", n, serial, p->subject, p->serial);
}

/* Waits (up to 5 s) for text to appear in dlockd's log more than `seen` times. */
static void wait_log(const char *text, int seen)
{
	double end = mono_ms() + 5000.0 * g_slow;

	for (;;) {
		int count = 0;
		const char *log = dlockd_log_contents(NULL);
		for (const char *p = strstr(log, text); p; p = strstr(p + 1, text))
			count++;
		if (count > seen)
			return;
		CHECKF(mono_ms() < end, "dlockd's log did not show '%s' (%d time(s) seen) within 5 s", text, count);
		sleep_ms(20);
	}
}

static void sighup(void)
{
	CHECK(g_dl.pid > 0 && kill(g_dl.pid, SIGHUP) == 0);
}

/* ---- tests ---- */

/* Acquire, inspect, renew and release over HTTPS with libcurl trusting the test CA. */
static void t_lock_calls(void)
{
	tls_start(NULL);
	struct grant g = ACQUIRE("tls-a", "ttl_ms=5000");
	struct resp *r = http("GET", "/locks/tls-a", NULL, NULL, NULL);
	EXPECT_STATUS(r, 200);
	r = http("POST", "/locks/tls-a/renew", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 200);
	r = http("DELETE", "/locks/tls-a", NULL, NULL, tfmt("Lock-Token: %s", g.token), NULL);
	EXPECT_STATUS(r, 204);
	r = http("GET", "/locks/tls-a", NULL, NULL, NULL);
	EXPECT_STATUS(r, 404);
	struct probe p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
}

/* A client that trusts another CA fails the handshake (certificate not verified). */
static void t_wrong_ca(void)
{
	tls_start(NULL);
	struct probe p = get_new("/healthz", pki("other-ca.pem"));
	CHECKF(p.curl_code == CURLE_PEER_FAILED_VERIFICATION, "with another CA: curl %d (%s), status %ld", p.curl_code,
	       p.err, p.status);
	p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
}

/* Plain HTTP to the TLS port: the connection is closed (EOF or reset) within 3 s, no
 * HTTP answer comes back in clear, and dlockd goes on serving HTTPS. */
static void t_plain_http_closed(void)
{
	static const char REQ[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[512];
	size_t got = 0;
	bool closed = false;
	double end;

	tls_start(NULL);
	int fd = dl_connect();
	CHECK(fd >= 0);
	CHECK(send(fd, REQ, sizeof REQ - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof REQ - 1));
	end = mono_ms() + 3000.0 * g_slow;
	while (!closed && mono_ms() < end) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 100) != 1)
			continue;
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n > 0 && got + (size_t)n < sizeof buf - 1)
			got += (size_t)n;
		else
			closed = n == 0 || (n < 0 && errno == ECONNRESET) || got + (size_t)n >= sizeof buf - 1;
	}
	buf[got] = '\0';
	close(fd);
	CHECKF(closed, "plain HTTP on the TLS port: the connection was still open after 3 s");
	CHECKF(strstr(buf, "HTTP/1.") == NULL, "plain HTTP on the TLS port was answered in clear: %.80s", buf);
	struct probe p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
}

static void tls11_only(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1));
	/* OpenSSL 3 refuses TLS 1.1 at its default security level */
	curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
}

static void tls12_only(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
}

/* TLS 1.1 is refused, TLS 1.2 and 1.3 work. So that the refusal is dlockd's, the same
 * client first reaches an `openssl s_server -tls1_1` with the same certificate (the test
 * is skipped, saying why, if that fails). */
static void t_old_versions_refused(void)
{
	int port = free_port();
	pid_t srv;
	struct probe p;
	CURL *h;

	make_pki();
	fflush(NULL);
	srv = fork();
	CHECK(srv >= 0);
	if (srv == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("openssl", "openssl", "s_server", "-accept", tfmt("127.0.0.1:%d", port), "-cert",
		       pki("srv1.pem"), "-key", pki("srv1.key"), "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-www",
		       "-quiet", (char *)NULL);
		_exit(127);
	}
	h = curl_new();
	for (int i = 0; i < 100; i++) { /* until s_server listens */
		curl_easy_setopt(h, CURLOPT_URL, tfmt("https://127.0.0.1:%d/", port));
		curl_easy_setopt(h, CURLOPT_CAINFO, pki("ca.pem"));
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
		tls11_only(h);
		if (curl_easy_perform(h) == CURLE_OK)
			break;
		sleep_ms(30);
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	if (status != 200) {
		fprintf(stderr, "    # tls_old_versions_refused skipped: this libcurl/OpenSSL cannot speak TLS 1.1 "
		                "even to openssl s_server -tls1_1\n");
		return;
	}

	tls_start(NULL);
	h = curl_new();
	p = get_on(h, "/healthz", pki("ca.pem"), tls11_only);
	curl_easy_cleanup(h);
	CHECKF(p.status == 0 && p.curl_code == CURLE_SSL_CONNECT_ERROR,
	       "TLS 1.1 was not refused: status %ld, curl %d (%s)", p.status, p.curl_code, p.err);
	h = curl_new();
	p = get_on(h, "/healthz", pki("ca.pem"), tls12_only);
	curl_easy_cleanup(h);
	expect_cert(&p, 1);
	p = get_new("/healthz", pki("ca.pem")); /* TLS 1.3, libcurl's default */
	expect_cert(&p, 1);
}

/* SIGHUP with a new certificate and key (EC → RSA): new handshakes get it, while a
 * keep-alive connection opened before goes on working (without a new handshake). */
static void t_reload(void)
{
	CURL *keep = curl_new();

	tls_start(NULL);
	struct probe p = get_on(keep, "/healthz", pki("ca.pem"), NULL);
	expect_cert(&p, 1);
	serve_cert(2);
	sighup();
	wait_log("TLS certificate reloaded", 0);
	p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 2);
	for (int i = 0; i < 3; i++) {
		p = get_on(keep, "/readyz", pki("ca.pem"), NULL);
		CHECKF(p.status == 200 && p.connects == 0,
		       "the connection opened before SIGHUP: status %ld, curl %d (%s), %ld new connection(s)", p.status,
		       p.curl_code, p.err, p.connects);
	}
	curl_easy_cleanup(keep);
	/* and back */
	serve_cert(1);
	sighup();
	wait_log("TLS certificate reloaded", 1);
	p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
}

/* SIGHUP with a broken certificate file, then with a key of another certificate: each
 * time the old certificate is still served, the log says why, and dlockd is alive. */
static void t_reload_broken(void)
{
	tls_start(NULL);
	sh("printf -- '-----BEGIN CERTIFICATE-----\\nnot base64!\\n' > '%s'", pki("live.pem"));
	sighup();
	wait_log("TLS certificate not reloaded", 0);
	struct probe p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
	copy_file(pki("srv2.pem"), pki("live.pem"));
	copy_file(pki("srv1.key"), pki("live.key"));
	sighup();
	wait_log("TLS certificate not reloaded", 1);
	CHECK(strstr(dlockd_log_contents(NULL), "does not belong to the certificate"));
	p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 1);
	struct grant g = ACQUIRE("tls-after-bad-reload", NULL);
	(void)g;
}

/* Reloads while 4 threads open new TLS connections to 3 worker threads: every request
 * is answered 200 with one of the two certificates (under ASan a credentials set freed
 * too early shows here). */
struct hammer {
	int port;
	const char *ca;
	double end;
	unsigned ok, fails, seen1, seen2;
	char err[256];
};

static void *hammer_main(void *arg)
{
	struct hammer *hm = arg;

	while (mono_ms() < hm->end) {
		CURL *h = curl_easy_init();
		struct curl_certinfo *ci = NULL;
		long status = 0;
		char errbuf[CURL_ERROR_SIZE] = "";
		if (!h)
			break;
		char url[64];
		snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", hm->port);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_CAINFO, hm->ca);
		curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200) {
			hm->ok++;
			if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0)
				for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
					hm->seen1 += strstr(l->data, "CN = dlockd-test-1") ||
					             strstr(l->data, "CN=dlockd-test-1");
					hm->seen2 += strstr(l->data, "CN = dlockd-test-2") ||
					             strstr(l->data, "CN=dlockd-test-2");
				}
		} else if (hm->fails++ == 0) {
			snprintf(hm->err, sizeof hm->err, "curl %d (%.200s), status %ld", (int)rc, errbuf, status);
		}
		curl_easy_cleanup(h);
	}
	return NULL;
}

static void t_reload_under_load(void)
{
	enum { N = 4 };
	struct hammer hs[N];
	pthread_t th[N];
	unsigned ok = 0, seen1 = 0, seen2 = 0;
	int started = 0;

	tls_start((const char *const[]){"--threads", "3", "--log-level", "warn", NULL});
	for (int i = 0; i < N; i++) {
		memset(&hs[i], 0, sizeof hs[i]);
		hs[i].port = g_dl.port;
		hs[i].ca = pki("ca.pem");
		hs[i].end = mono_ms() + 2500.0 * g_slow;
		if (pthread_create(&th[i], NULL, hammer_main, &hs[i]) != 0)
			break;
		started++;
	}
	for (int k = 0; k < 20; k++) {
		serve_cert(k % 2 ? 1 : 2);
		sighup();
		sleep_ms(100);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	CHECK(started == N);
	for (int i = 0; i < N; i++) {
		CHECKF(hs[i].fails == 0, "thread %d: %u of %u requests failed; first: %s", i, hs[i].fails,
		       hs[i].ok + hs[i].fails, hs[i].err);
		ok += hs[i].ok;
		seen1 += hs[i].seen1;
		seen2 += hs[i].seen2;
	}
	CHECKF(ok >= 20 && seen1 > 0 && seen2 > 0, "%u requests, certificate 1 seen %u times, 2 seen %u times", ok,
	       seen1, seen2);
}

/* A request that stops half-way through its head gets its 408 through TLS (readable by
 * the client), and the connection is closed. */
static void t_request_timeout(void)
{
	static const char PART[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	CURL *h = curl_new();
	char buf[2048];
	size_t got = 0, sent = 0;
	double end;

	tls_start((const char *const[]){"--request-timeout-ms", "300", NULL});
	curl_easy_setopt(h, CURLOPT_URL, tfmt("https://127.0.0.1:%d/", g_dl.port));
	curl_easy_setopt(h, CURLOPT_CAINFO, pki("ca.pem"));
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L * g_slow);
	CHECK(curl_easy_perform(h) == CURLE_OK);
	CHECK(curl_easy_send(h, PART, sizeof PART - 1, &sent) == CURLE_OK && sent == sizeof PART - 1);
	end = mono_ms() + 3000.0 * g_slow;
	while (mono_ms() < end && got < sizeof buf - 1) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(h, buf + got, sizeof buf - 1 - got, &n);
		if (rc == CURLE_AGAIN) {
			sleep_ms(20);
			continue;
		}
		if (rc != CURLE_OK || n == 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	curl_easy_cleanup(h);
	CHECKF(strncmp(buf, "HTTP/1.1 408", 12) == 0 && strstr(buf, "request_timeout"),
	       "a slow request over TLS: expected a 408 problem, got %zu byte(s): %.100s", got, buf);
}

/* Bad TLS settings stop dlockd at start with exit 2 and a reason naming the file. */
static void t_start_errors(void)
{
	char out[2048];
	int port = free_port();
	const char *listen = tfmt("127.0.0.1:%d", port);

	make_pki();
	struct {
		const char *cert, *key, *needle;
	} cases[] = {
	    {pki("srv1.pem"), NULL, "--tls-key"},
	    {NULL, pki("srv1.key"), "--tls-cert"},
	    {pki("missing.pem"), pki("srv1.key"), "missing.pem"},
	    {pki("srv1.pem"), pki("srv2.key"), "srv2.key"},
	    {pki("srv1.key"), pki("srv1.key"), "srv1.key"},
	    {pki("srv1.pem"), pki("srv1.pem"), "srv1.pem"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[10] = {"--listen", listen};
		size_t n = 2;
		if (cases[i].cert) {
			args[n++] = "--tls-cert";
			args[n++] = cases[i].cert;
		}
		if (cases[i].key) {
			args[n++] = "--tls-key";
			args[n++] = cases[i].key;
		}
		args[n] = NULL;
		out[0] = '\0';
		int st = run_dlockd_capture(args, out, sizeof out, 5000);
		CHECKF(st == 2 && strstr(out, cases[i].needle), "case %zu: exit %d, output: %s (expected 2 naming %s)",
		       i, st, out, cases[i].needle);
	}
	/* the environment variables, alone */
	const char *env_cmd =
	    tfmt("DLOCKD_TLS_CERT='%s' '%s' --listen %s; test $? -eq 2", pki("srv1.pem"), getenv("DLOCKD_BIN"), listen);
	sh("%s", env_cmd);
}

/* `dlockd --healthcheck` speaks TLS when --tls-cert is set (as in the container, from
 * DLOCKD_TLS_CERT/KEY): 0 when ready; without TLS settings the same probe gets no HTTP
 * answer from the TLS port (1). */
static void t_healthcheck(void)
{
	char out[1024] = "";

	tls_start(NULL);
	const char *listen = tfmt("127.0.0.1:%d", g_dl.port);
	int st = run_dlockd_capture((const char *const[]){"--healthcheck", "--listen", listen, "--tls-cert",
	                                                  pki("live.pem"), "--tls-key", pki("live.key"), NULL},
	                            out, sizeof out, 5000);
	CHECKF(st == 0, "--healthcheck with TLS: exit %d, output: %s", st, out);
	out[0] = '\0';
	st =
	    run_dlockd_capture((const char *const[]){"--healthcheck", "--listen", listen, NULL}, out, sizeof out, 5000);
	CHECKF(st == 1, "--healthcheck without TLS settings on the TLS port: exit %d, output: %s", st, out);
	/* and with TLS on but Redis away: not ready (1) */
	redis_stop_signal();
	out[0] = '\0';
	st =
	    run_dlockd_capture((const char *const[]){"--healthcheck", "--listen", listen, "--tls-cert", pki("live.pem"),
	                                             "--tls-key", pki("live.key"), "--redis-timeout-ms", "300", NULL},
	                       out, sizeof out, 10000);
	redis_cont_signal();
	CHECKF(st == 1 && strstr(out, "not ready"), "--healthcheck with TLS, Redis paused: exit %d, output: %s", st,
	       out);
}

/* dlock with --cacert (or DLOCK_CACERT) reaches dlockd over HTTPS; without it the
 * certificate is not trusted (69). Returns dlock's exit status; its stdout in out. */
static int run_dlock(const char *cacert_env, const char *const *args, char *out, size_t outsz)
{
	const char *d = getenv("DLOCKD_BIN"), *b = getenv("DLOCK_BIN");
	const char *bin = b && *b ? b : tfmt("%.*s/dlock", (int)(strrchr(d, '/') - d), d);
	const char *argv[16];
	const char *outf = tfmt("%s/dlock-tls.out", harness_tmpdir());
	size_t n = 0;
	int st;

	argv[n++] = bin;
	argv[n++] = "--url";
	argv[n++] = tfmt("https://127.0.0.1:%d", g_dl.port);
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int o = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600), dn = open("/dev/null", O_RDWR);
		dup2(dn, 0);
		dup2(o, 1);
		dup2(dn, 2);
		if (cacert_env)
			setenv("DLOCK_CACERT", cacert_env, 1);
		else
			unsetenv("DLOCK_CACERT");
		execv(bin, (char **)argv);
		_exit(121);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	FILE *f = fopen(outf, "r");
	out[0] = '\0';
	if (f) {
		size_t got = fread(out, 1, outsz - 1, f);
		out[got] = '\0';
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void t_dlock_cacert(void)
{
	char out[512];

	tls_start(NULL);
	int st = run_dlock(NULL, (const char *const[]){"--cacert", pki("ca.pem"), "acquire", "tls-cli", NULL}, out,
	                   sizeof out);
	out[strcspn(out, "\n")] = '\0';
	CHECKF(st == 0 && is_base64url(out), "dlock --cacert acquire: exit %d, out %s", st, out);
	st = run_dlock(pki("ca.pem"), (const char *const[]){"status", "tls-cli", NULL}, out, sizeof out);
	CHECKF(st == 0, "DLOCK_CACERT status of a held lock: exit %d", st);
	st = run_dlock(NULL, (const char *const[]){"status", "tls-cli", NULL}, out, sizeof out);
	CHECKF(st == 69, "dlock without --cacert against a private CA: exit %d (expected 69)", st);
	st = run_dlock(NULL, (const char *const[]){"--cacert", pki("other-ca.pem"), "status", "tls-cli", NULL}, out,
	               sizeof out);
	CHECKF(st == 69, "dlock --cacert with another CA: exit %d (expected 69)", st);
	st = run_dlock(NULL, (const char *const[]){"--cacert", pki("missing.pem"), "status", "tls-cli", NULL}, out,
	               sizeof out);
	CHECKF(st == 64, "dlock --cacert with a missing file: exit %d (expected 64)", st);
}

/* HTTPS and API keys together: the key rides in the encrypted request, and one
 * SIGHUP reloads both the certificate and the auth file. */
static void t_keys_over_tls(void)
{
	static const char K1[] = "dlk_tls_key_one_0123456789abcdef", K2[] = "dlk_tls_key_two_0123456789abcdef";
	uint8_t h[DIGEST_SHA256_LEN];
	char hex[2 * DIGEST_SHA256_LEN + 1];
	const char *auth = tfmt("%s/tls-auth.txt", harness_tmpdir());

	digest_sha256(K1, strlen(K1), h);
	digest_hex(h, sizeof h, hex);
	sh("printf 'one sha256:%s tls. lock,read\\n' > '%s'", hex, auth);
	tls_start((const char *const[]){"--auth-file", auth, NULL});
	EXPECT_PROBLEM(http("PUT", "/locks/tls.k?ttl_ms=5000", NULL, NULL, NULL), 401, "unauthorized");
	EXPECT_STATUS(http("PUT", "/locks/tls.k?ttl_ms=5000", NULL, NULL, tfmt("Authorization: Bearer %s", K1), NULL),
	              201);
	digest_sha256(K2, strlen(K2), h);
	digest_hex(h, sizeof h, hex);
	sh("printf 'two sha256:%s tls. lock,read\\n' > '%s'", hex, auth);
	serve_cert(2);
	sighup();
	wait_log("TLS certificate reloaded", 0);
	wait_log("auth file", 1); /* the start's line, then the reload's */
	struct probe p = get_new("/healthz", pki("ca.pem"));
	expect_cert(&p, 2);
	EXPECT_PROBLEM(http("GET", "/locks/tls.k", NULL, NULL, tfmt("Authorization: Bearer %s", K1), NULL), 401,
	               "unauthorized");
	EXPECT_STATUS(http("GET", "/locks/tls.k", NULL, NULL, tfmt("Authorization: Bearer %s", K2), NULL), 200);
}

const struct test tests_tls[] = {
    {"tls_keys_and_certificate_reloaded_together", t_keys_over_tls, {NULL}, T_NO_DLOCKD},
    {"tls_lock_calls", t_lock_calls, {NULL}, T_NO_DLOCKD},
    {"tls_wrong_ca_refused", t_wrong_ca, {NULL}, T_NO_DLOCKD},
    {"tls_plain_http_closed", t_plain_http_closed, {NULL}, T_NO_DLOCKD},
    {"tls_old_versions_refused", t_old_versions_refused, {NULL}, T_NO_DLOCKD},
    {"tls_sighup_new_cert_keepalive_kept", t_reload, {NULL}, T_NO_DLOCKD},
    {"tls_sighup_broken_cert_keeps_old", t_reload_broken, {NULL}, T_NO_DLOCKD},
    {"tls_sighup_under_load_threads", t_reload_under_load, {NULL}, T_NO_DLOCKD},
    {"tls_request_timeout_408", t_request_timeout, {NULL}, T_NO_DLOCKD},
    {"tls_start_errors_exit_2", t_start_errors, {NULL}, T_NO_DLOCKD},
    {"tls_healthcheck", t_healthcheck, {NULL}, T_NO_DLOCKD},
    {"tls_dlock_cacert", t_dlock_cacert, {NULL}, T_NO_DLOCKD},
    {NULL, NULL, {NULL}, 0},
};
