/* Black-box harness, talking to dlockd: HTTP requests with libcurl (the
 * test's own handle, other ports, worker threads, async threads), raw bytes
 * over TCP and the parsing of their answers, plain socket helpers, and
 * Prometheus metrics scraping. Every exchange goes to harness_record.c. */
#include "harness_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* the current test's curl handle and its async requests; the CA to trust
 * when it speaks HTTPS (harness_tls), else NULL */
static struct {
	CURL *curl;
	struct async_req *async;
	char *tls_ca;
} g_http;

/* ------------------------------------------------------------ sockets */

/* 127.0.0.1:port (0: any free port) */
static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	return a;
}

int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = loopback(0);
	socklen_t al = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int connect_port(int port, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = loopback(port);
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

bool send_all(int fd, const void *data, size_t len)
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

/* ------------------------------------------------------------ answers */

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

/* ------------------------------------------------------------ curl */

CURL *curl_new(void)
{
	CURL *h = curl_easy_init();
	if (!h) {
		fputs("curl_easy_init failed\n", stderr);
		abort();
	}
	return h;
}

/* the request's options on h; the returned header list goes to
 * CURLOPT_HTTPHEADER and is freed by the caller after the transfer */
static struct curl_slist *curl_prepare(CURL *h, struct resp *r, struct growbuf *b, const char *url, const char *method,
                                       const char *body, size_t body_len, const char *ctype, const char *const *hdrs,
                                       long timeout_ms)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
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
	return sl;
}

struct resp *http_ex(CURL *h, int port, const char *method, const char *path, const char *body, size_t body_len,
                     const char *ctype, const char *const *hdrs, long timeout_ms)
{
	struct resp *r = xcalloc(sizeof *r);
	snprintf(r->what, sizeof r->what, "%s %s", method, path);
	struct growbuf b = {0};
	char url[8192];
	snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", g_http.tls_ca ? "https" : "http", port, path);
	struct curl_slist *sl = curl_prepare(h, r, &b, url, method, body, body_len, ctype, hdrs, timeout_ms);
	if (g_http.tls_ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, g_http.tls_ca);

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
	record_curl(method, path, ctype, hdrs, r);
	return r;
}

void http_test_begin(void)
{
	g_http.curl = curl_new();
}

void harness_tls(const char *cafile)
{
	free(g_http.tls_ca);
	g_http.tls_ca = cafile ? strdup(cafile) : NULL;
	if (cafile && !g_http.tls_ca)
		abort();
}

void http_test_end(void)
{
	harness_tls(NULL);
	if (g_http.curl) {
		curl_easy_cleanup(g_http.curl);
		g_http.curl = NULL;
	}
}

/* httpb() to any port */
static struct resp *httpb_at(int port, const char *method, const char *path, const char *body, size_t body_len,
                             const char *ctype, const char *const *hdrs)
{
	if (!g_http.curl)
		g_http.curl = curl_new();
	struct resp *r = http_ex(g_http.curl, port, method, path, body, body_len, ctype, hdrs, 10000L * g_slow);
	r->tracked = true;
	arena_add(r, resp_free_void);
	return r;
}

/* http() to any port: the NULL-terminated header lines in ap */
static struct resp *vhttp_at(int port, const char *method, const char *path, const char *body, const char *ctype,
                             va_list ap)
{
	const char *hdrs[32];
	size_t n = 0;
	const char *h;
	while ((h = va_arg(ap, const char *)) != NULL && n + 1 < sizeof hdrs / sizeof hdrs[0])
		hdrs[n++] = h;
	hdrs[n] = NULL;
	return httpb_at(port, method, path, body, body ? strlen(body) : 0, ctype, hdrs);
}

struct resp *httpb(const char *method, const char *path, const char *body, size_t body_len, const char *ctype,
                   const char *const *hdrs)
{
	return httpb_at(g_dl.port, method, path, body, body_len, ctype, hdrs);
}

struct resp *http(const char *method, const char *path, const char *body, const char *ctype, ...)
{
	va_list ap;
	va_start(ap, ctype);
	struct resp *r = vhttp_at(g_dl.port, method, path, body, ctype, ap);
	va_end(ap);
	return r;
}

struct resp *http_at(int port, const char *method, const char *path, const char *body, const char *ctype, ...)
{
	va_list ap;
	va_start(ap, ctype);
	struct resp *r = vhttp_at(port, method, path, body, ctype, ap);
	va_end(ap);
	return r;
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

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *p = xmalloc(n + 1);
	memcpy(p, s, n + 1);
	return p;
}

static void async_free(struct async_req *a)
{
	free(a->method);
	free(a->path);
	free(a->body);
	free(a->ctype);
	free(a->hdr);
	free(a);
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
		async_free(a);
		FAIL("pthread_create failed");
	}
	a->next = g_http.async;
	g_http.async = a;
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

void http_join_async(void)
{
	struct async_req *a = g_http.async;
	g_http.async = NULL;
	while (a) {
		struct async_req *n = a->next;
		if (!a->joined) {
			pthread_join(a->th, NULL);
			resp_free(a->r);
		}
		async_free(a);
		a = n;
	}
}

/* ------------------------------------------------------------ raw HTTP */

const char *find_crlfcrlf(const char *p, size_t n)
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

/* true once b holds a whole response: the header block and then as many
 * bytes as its Content-Length, or a chunked body's last chunk */
static bool raw_complete(const struct growbuf *b, const char *hend)
{
	const char *cl = NULL;
	for (const char *q = b->p; q < hend; q++) {
		if ((q == b->p || q[-1] == '\n') && strncasecmp(q, "content-length:", 15) == 0) {
			cl = q + 15;
			break;
		}
	}
	size_t hl = (size_t)(hend - b->p) + 4;
	if (cl && b->len - hl >= strtoul(cl, NULL, 10))
		return true;
	return !cl && b->len >= hl + 5 && memcmp(b->p + b->len - 5, "0\r\n\r\n", 5) == 0;
}

/* every byte of the answer on fd into b: until EOF, a complete response, 5 s
 * (r->err says so), or for HEAD 300 ms of quiet after the header block */
static void raw_read(int fd, bool head, struct growbuf *b, struct resp *r)
{
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
		gb_append(b, tmp, (size_t)n);
		const char *hend = find_crlfcrlf(b->p, b->len);
		if (hend && head && !quiet_deadline)
			quiet_deadline = mono_ms() + 300;
		if (hend && !head && raw_complete(b, hend)) /* stop early if the response is complete */
			break;
	}
}

/* the status line, headers and body of the bytes in b (NUL-terminated) into r */
static void raw_parse(const struct growbuf *b, bool head, struct resp *r)
{
	const char *hend = find_crlfcrlf(b->p, b->len);
	size_t hlen = hend ? (size_t)(hend - b->p) : b->len;
	if (b->len >= 12 && strncmp(b->p, "HTTP/1.", 7) == 0)
		r->status = strtol(b->p + 9, NULL, 10);
	const char *line = b->p;
	const char *hlimit = b->p + hlen;
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
		size_t bl = b->len - (size_t)(bp - b->p);
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
	r->body = body.p;
	r->len = body.len;
	resp_parse_json(r);
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
	raw_read(fd, head, &b, r);
	close(fd);
	r->t1_wall = wall_ms();
	r->t1_mono = mono_ms();
	r->ms = r->t1_mono - r->t0_mono;
	if (!b.p)
		gb_append(&b, "", 0);
	raw_parse(&b, head, r);
	free(b.p);
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

/* ------------------------------------------------------------ metrics */

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
