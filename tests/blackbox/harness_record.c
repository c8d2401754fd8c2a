/* Black-box harness, traffic recording for the API contract checks.
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
#include "harness_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* the recording file, opened on first use; lines from any thread */
static struct {
	int fd; /* -1: off */
	pthread_once_t once;
	pthread_mutex_t mu;
} g_rec = {-1, PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER};

static void rec_open(void)
{
	const char *p = getenv("DLOCKD_RECORD");
	if (!p || !*p)
		return;
	g_rec.fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (g_rec.fd < 0)
		fprintf(stderr, "# DLOCKD_RECORD: cannot open %s: %s\n", p, strerror(errno));
}

static int rec_fd(void)
{
	pthread_once(&g_rec.once, rec_open);
	return g_rec.fd;
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

/* the answer's headers: lower-case names, repeated ones joined with ", " */
static json_t *rec_headers(const struct resp *r)
{
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
	return h;
}

/* one line (the object's JSON and a newline) to the file, whole */
static void rec_write(json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!line)
		return;
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: write n + 1 bytes, not a string any more */
	pthread_mutex_lock(&g_rec.mu);
	const char *p = line;
	size_t left = n + 1;
	while (left) {
		ssize_t w = write(g_rec.fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	pthread_mutex_unlock(&g_rec.mu);
	free(line);
}

static void record_exchange(const char *via, const char *method, const char *target, size_t target_len,
                            const char *req_ctype, size_t req_ctype_len, const struct resp *r, const char *raw,
                            size_t raw_len)
{
	if (rec_fd() < 0)
		return;
	json_t *o = json_object();
	const char *test = harness_test_name();
	json_object_set_new(o, "test", test ? json_string(test) : json_null());
	json_object_set_new(o, "via", json_string(via));
	json_object_set_new(o, "method", rec_target(method, strlen(method)));
	json_object_set_new(o, "target", rec_target(target, target_len));
	json_object_set_new(o, "request_content_type", req_ctype ? rec_text(req_ctype, req_ctype_len) : json_null());
	json_object_set_new(o, "status", json_integer(r->status));
	json_object_set_new(o, "headers", rec_headers(r));
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
	rec_write(o);
	json_decref(o);
}

/* the Content-Type sent: ctype, or the last non-empty one among the extra header lines */
void record_curl(const char *method, const char *path, const char *ctype, const char *const *hdrs, const struct resp *r)
{
	if (rec_fd() < 0)
		return;
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

/* the raw request's method, target and Content-Type, for the recording */
void record_raw(const char *data, size_t len, const struct resp *r)
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
