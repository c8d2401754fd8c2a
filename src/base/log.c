/* log: text or JSON lines on stderr. See log.h. */
#include "base/log.h"

#include "base/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_TEXT;

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, enum log_format format)
{
	min_level = min;
	out_format = format;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

bool log_level_parse(const char *s, enum log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
		if (strcmp(s, LEVELS[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	return false;
}

/* The time of a line, to the millisecond; the date and time up to the second
 * are formatted once per second per thread, only the milliseconds per line. */
static void timestamp(char out[32])
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[TEXT_TIME_LEN + 1];
	struct timeval tv;
	unsigned ms;

	gettimeofday(&tv, NULL);
	ms = (unsigned)(tv.tv_usec / 1000);
	if (tv.tv_sec != cached_sec) {
		text_format_time((int64_t)tv.tv_sec * 1000, cached);
		cached_sec = tv.tv_sec;
	}
	memcpy(out, cached, sizeof cached);
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ": the milliseconds are the 3 digits before the Z */
	out[TEXT_TIME_LEN - 4] = (char)('0' + ms / 100);
	out[TEXT_TIME_LEN - 3] = (char)('0' + ms / 10 % 10);
	out[TEXT_TIME_LEN - 2] = (char)('0' + ms % 10);
}

/* A line under construction: lines are written whole, one by one or in a
 * loop turn's batch. */
struct line {
	char buf[2048];
	size_t len;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof l->buf - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof l->buf - l->len ? (size_t)n : sizeof l->buf - l->len - 1;
}

/* Appends the plain string s (cut at the buffer's end). */
static void put_raw(struct line *l, const char *s)
{
	size_t n = strlen(s), room = sizeof l->buf - 1 - l->len;

	if (l->len >= sizeof l->buf - 1)
		return;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Appends s, every byte that is not printable ASCII written as the four
 * characters \xNN (so a line is always ASCII, and a JSON line valid UTF-8);
 * JSON-escaped too when json. Leaves `room` bytes of the buffer free for
 * what follows (so a JSON line stays whole): a longer s is cut, ending in
 * "...". */
static void put_str(struct line *l, const char *s, bool json, size_t room)
{
	size_t end = sizeof l->buf - room;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (l->len + 5 + 3 > end) { /* an escaped byte is at most 5 characters, then "..." */
			put_raw(l, "...");
			return;
		}
		if (*p < 0x20 || *p >= 0x7f)
			put(l, json ? "\\\\x%02x" : "\\x%02x", *p);
		else if (json && (*p == '"' || *p == '\\'))
			put(l, "\\%c", *p);
		else
			l->buf[l->len++] = (char)*p;
	}
}

/* A worker thread's lines of one loop turn (log_batch_begin), written by
 * log_flush() with one write(2); other threads write each line at once. */
enum { BATCH_CAP = 64 * 1024 };
static _Thread_local char *batch;
static _Thread_local size_t batch_len;

static void write_out(const char *p, size_t n)
{
	fwrite(p, 1, n, stderr);
}

static void emit(struct line *l)
{
	if (l->len >= sizeof l->buf - 1)
		l->len = sizeof l->buf - 2;
	l->buf[l->len++] = '\n';
	if (!batch) {
		write_out(l->buf, l->len);
		return;
	}
	if (batch_len + l->len > BATCH_CAP)
		log_flush();
	memcpy(batch + batch_len, l->buf, l->len);
	batch_len += l->len;
}

void log_batch_begin(void)
{
	if (!batch)
		batch = malloc(BATCH_CAP); /* without it, lines are written one by one */
	batch_len = 0;
}

void log_flush(void)
{
	if (batch_len > 0)
		write_out(batch, batch_len);
	batch_len = 0;
}

void log_batch_end(void)
{
	log_flush();
	free(batch);
	batch = NULL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char ts[32], msg[1024];
	struct line l = {.len = 0};
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	timestamp(ts);
	if (out_format == LOG_JSON) {
		put(&l, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, LEVELS[level]);
		put_str(&l, msg, true, 8);
		put_raw(&l, "\"}");
	} else {
		put(&l, "%s %-5s ", ts, LEVELS[level]);
		put_str(&l, msg, false, 8);
	}
	emit(&l);
	if (level >= LOG_ERROR) /* at once, with what came before it: an abort() may follow */
		log_flush();
}

/* Starts an info line: its time, and in JSON its message. */
static void begin_info(struct line *l, bool json, const char *msg)
{
	char ts[32];

	timestamp(ts);
	if (json) {
		put(l, "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"%s\"", ts, msg);
	} else {
		put_raw(l, ts);
		put_raw(l, " info ");
	}
}

void log_access(const char *client, const char *method, const char *path, int status, uint64_t duration_us,
                const char *request_id)
{
	struct line l = {.len = 0};
	bool json = out_format == LOG_JSON;

	if (!log_enabled(LOG_INFO))
		return;
	begin_info(&l, json, "request");
	put_raw(&l, json ? ",\"client\":\"" : " ");
	/* the client's address, method and path: cut so the line's end fits */
	put_str(&l, client, json, 1024);
	put_raw(&l, json ? "\",\"method\":\"" : " ");
	put_str(&l, method, json, 1024);
	put_raw(&l, json ? "\",\"path\":\"" : " ");
	put_str(&l, path, json, 128);
	if (json)
		put(&l, "\",\"status\":%d,\"duration_ms\":%.3f", status, (double)duration_us / 1000.0);
	else
		put(&l, " %d %.3fms", status, (double)duration_us / 1000.0);
	if (request_id && *request_id) {
		put_raw(&l, json ? ",\"request_id\":\"" : " request=");
		put_str(&l, request_id, json, 8);
		put_raw(&l, json ? "\"" : "");
	}
	put_raw(&l, json ? "}" : "");
	emit(&l);
}

/* " name=value" or ",\"name\":\"value\"": value escaped, cut to leave room. */
static void put_field(struct line *l, bool json, const char *name, const char *value, size_t room)
{
	put_raw(l, json ? ",\"" : " ");
	put_raw(l, name);
	put_raw(l, json ? "\":\"" : "=");
	put_str(l, value && *value ? value : "-", json, room);
	if (json)
		put_raw(l, "\"");
}

void log_audit(const char *event, const char *outcome, const char *key_id, const char *name, int64_t fence,
               const char *client, const char *request_id)
{
	struct line l = {.len = 0};
	bool json = out_format == LOG_JSON;

	if (!log_enabled(LOG_INFO))
		return;
	begin_info(&l, json, "audit");
	put_raw(&l, json ? "" : " audit");
	put_field(&l, json, "event", event, 1024);
	put_field(&l, json, "outcome", outcome, 1024);
	put_field(&l, json, "key", key_id, 900);
	put_field(&l, json, "name", name, 400);
	if (fence >= 0)
		put(&l, json ? ",\"fence\":%lld" : " fence=%lld", (long long)fence);
	put_field(&l, json, "client", client, 100);
	put_field(&l, json, "request_id", request_id, 8);
	put_raw(&l, json ? "}" : "");
	emit(&l);
}
