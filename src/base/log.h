/* log: diagnostic messages and the access log, as text or JSON lines on
 * stderr. Configured once at start-up; safe to call from any thread. Callers
 * never pass secrets (tokens, passwords, query strings) to it. */
#ifndef DLOCKD_LOG_H
#define DLOCKD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_level min, enum log_format format);
bool log_enabled(enum log_level level);
/* Parses "debug", "info", "warn" or "error". */
bool log_level_parse(const char *s, enum log_level *out);

/* Batching, for a thread that runs an event loop: from log_batch_begin() on,
 * the thread's lines are kept (whole, in order) until log_flush(), which the
 * worker calls before it sleeps and before libmicrohttpd may send answers
 * (so a line made before an answer is out first), and written with one write(2)
 * (also when 64 KiB are waiting); log_batch_end() flushes and stops it. A
 * line is therefore written at most one loop turn after it was made; lines
 * of a turn in progress are lost if the process is killed. An error line
 * (LOG_ERROR) is written at once, with the lines kept before it. */
void log_batch_begin(void);
void log_flush(void);
void log_batch_end(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One access-log line: the client's address, and the request path without
 * its query string. */
void log_access(const char *client, const char *method, const char *path, int status, uint64_t duration_us,
                const char *request_id);
/* One audit line (info): what happened to a lock (event: acquire, renew,
 * release; or a refused request's route), its outcome, the API key's ID ("-"
 * without keys), the lock's name and fence (fence < 0: none), the client's
 * address and the request id. Never a token. */
void log_audit(const char *event, const char *outcome, const char *key_id, const char *name, int64_t fence,
               const char *client, const char *request_id);

#endif
