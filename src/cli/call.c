/* call: requests to dlockd over libcurl (see call.h). */
#include "cli/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BODY_MAX = 4 * 1024 * 1024 };

int64_t call_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;
	char *nb;
	size_t ncap;

	if (c->len + len + 1 > BODY_MAX) {
		c->oom = true;
		return 0;
	}
	if (c->len + len + 1 > c->cap) {
		ncap = c->cap ? c->cap : 1024;
		while (ncap < c->len + len + 1)
			ncap *= 2;
		nb = realloc(c->body, ncap);
		if (!nb) {
			c->oom = true;
			return 0;
		}
		c->body = nb;
		c->cap = ncap;
	}
	memcpy(c->body + c->len, data, len);
	c->len += len;
	c->body[c->len] = '\0';
	return len;
}

/* "Authorization: Bearer KEY", or NULL. A secret: wiped when replaced. */
static char *auth_line;

bool call_set_api_key(const char *key)
{
	char *line = NULL;

	if (key && asprintf(&line, "Authorization: Bearer %s", key) < 0)
		return false;
	if (auth_line) {
		explicit_bzero(auth_line, strlen(auth_line));
		free(auth_line);
	}
	auth_line = line;
	return true;
}

/* --cacert / DLOCK_CACERT, or NULL */
static const char *g_cacert;

void call_set_cacert(const char *file)
{
	g_cacert = file;
}

bool call_init(struct call *c, const char *method, const char *url, const char *token, int64_t timeout_ms)
{
	char *line = NULL;
	size_t n;

	memset(c, 0, sizeof *c);
	c->h = curl_easy_init();
	if (!c->h)
		return false;
	if (auth_line) {
		c->hdrs = curl_slist_append(NULL, auth_line);
		if (!c->hdrs)
			goto fail;
	}
	if (token) {
		n = strlen(token) + sizeof "Lock-Token: ";
		line = malloc(n);
		if (!line)
			goto fail;
		snprintf(line, n, "Lock-Token: %s", token);
		struct curl_slist *l = curl_slist_append(c->hdrs, line);
		/* the token is a secret: do not leave a copy behind */
		memset(line, 0, n);
		free(line);
		if (!l)
			goto fail;
		c->hdrs = l;
	}
	if (c->hdrs)
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g_cacert)
		curl_easy_setopt(c->h, CURLOPT_CAINFO, g_cacert);
	return true;
fail:
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	c->h = NULL;
	c->hdrs = NULL;
	return false;
}

void call_finish(struct call *c, CURLcode rc)
{
	c->curl_code = (int)rc;
	if (rc != CURLE_OK) {
		c->status = 0;
		if (!c->err[0])
			snprintf(c->err, sizeof c->err, "%s", curl_easy_strerror(rc));
		return;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->body)
		c->json = json_loadb(c->body, c->len, 0, NULL);
}

void call_perform(struct call *c)
{
	c->sent_ms = call_now_ms();
	call_finish(c, curl_easy_perform(c->h));
}

void call_release(struct call *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	free(c->body);
	json_decref(c->json);
	memset(c, 0, sizeof *c);
}

char *call_escape(const char *s)
{
	return curl_easy_escape(NULL, s, 0);
}

char *call_lock_url(const char *base, const char *name, const char *suffix)
{
	char *esc = call_escape(name), *url = NULL;
	size_t bl = strlen(base), n;

	if (!esc)
		return NULL;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	n = bl + strlen(esc) + (suffix ? strlen(suffix) : 0) + sizeof "/locks/";
	url = malloc(n);
	if (url)
		snprintf(url, n, "%.*s/locks/%s%s", (int)bl, base, esc, suffix ? suffix : "");
	curl_free(esc);
	return url;
}

char *call_acquire_url(const char *base, const char *name, int64_t ttl_ms, int64_t wait_ms, const char *owner)
{
	char q[128], *own = NULL, *query = NULL, *url;

	if (ttl_ms)
		snprintf(q, sizeof q, "?ttl_ms=%lld&wait_ms=%lld", (long long)ttl_ms, (long long)wait_ms);
	else
		snprintf(q, sizeof q, "?wait_ms=%lld", (long long)wait_ms);
	if (owner) {
		own = call_escape(owner);
		if (!own || asprintf(&query, "%s&owner=%s", q, own) < 0) {
			curl_free(own);
			return NULL;
		}
	}
	url = call_lock_url(base, name, query ? query : q);
	free(query);
	curl_free(own);
	return url;
}

int call_failure_exit(const struct call *c)
{
	if (c->status == 0 || c->status >= 500)
		return EXIT_UNAVAILABLE;
	if (c->status == 401 || c->status == 403)
		return EXIT_AUTH;
	if (c->status == 429)
		return EXIT_NOT_ACQUIRED;
	return 0;
}

const char *call_describe(const struct call *c, char *buf, size_t size)
{
	json_t *d = c->json ? json_object_get(c->json, "detail") : NULL;

	if (c->status == 0)
		snprintf(buf, size, "no answer from dlockd (%s)", c->err);
	else if (json_is_string(d))
		snprintf(buf, size, "dlockd answered %ld: %s", c->status, json_string_value(d));
	else
		snprintf(buf, size, "dlockd answered %ld", c->status);
	return buf;
}

bool call_try_next(const struct call *c)
{
	return c->status == 0 || c->status == 503;
}

bool call_perform_any(struct call *c, struct call_targets *t, const char *method, call_url_fn *url, void *arg,
                      const char *token, int64_t timeout_ms, int64_t wait_ms)
{
	int64_t start = call_now_ms(), end = start + timeout_ms + wait_ms;
	bool answered = false;

	if (t->cur >= t->n)
		t->cur = 0;
	for (unsigned k = 0; k < t->n; k++) {
		unsigned i = (t->cur + k) % t->n;
		int64_t now = call_now_ms(), waited = now - start;
		int64_t wait_left = wait_ms > waited ? wait_ms - waited : 0;
		char *u;

		if (k > 0 && now >= end)
			break;
		u = url(t->base[i], wait_left, arg);
		if (answered)
			call_release(c);
		if (!u || !call_init(c, method, u, token, timing_attempt_ms(end - now, wait_left, t->n - k))) {
			free(u);
			return false;
		}
		free(u);
		call_perform(c);
		answered = true;
		t->cur = i;
		if (!call_try_next(c))
			break;
	}
	return answered;
}
