/* http: libmicrohttpd glue — one daemon driven by our loop (its epoll fd is
 * one of the loop's watches; no internal thread). It reads requests (raw URI,
 * headers, bodies up to 16 KiB), hands them to api, suspends connections
 * whose answer needs the backend and resumes them when it comes, writes the
 * access log and request metrics, and drains on shutdown; with --tls-cert it
 * serves HTTPS (libmicrohttpd's GnuTLS, certificates from tls). It knows
 * nothing of Redis or of lock semantics. */
#ifndef DLOCKD_HTTP_H
#define DLOCKD_HTTP_H

#include "server/api.h"
#include "base/config.h"
#include "base/loop.h"

struct http_server;

/* With --tls-cert: checks that this libmicrohttpd serves HTTPS (it is built
 * with GnuTLS) and loads the certificate and key (tls_init). Call once before
 * http_start(). Returns false with a reason in err. */
bool http_tls_init(const struct config *cfg, char *err, size_t errlen);

/* Opens a listening socket for cfg->listen_host/port (SO_REUSEPORT, so each
 * worker may open its own). Returns the fd, or -1 with a reason in err. */
int http_listen(const struct config *cfg, char *err, size_t errlen);

/* Starts serving on listen_fd (ownership passes to the server). Returns NULL
 * on failure. */
struct http_server *http_start(struct loop *loop, const struct config *cfg, struct api *api, int listen_fd);

/* Stops accepting connections; requests already received are answered, new
 * requests on open connections get 503. on_drained(arg) is called from the
 * loop once no request is in progress. */
void http_quiesce(struct http_server *srv, void (*on_drained)(void *arg), void *arg);

/* Requests received and not yet answered. */
unsigned http_active(const struct http_server *srv);

/* Closes every connection and frees the server (NULL is fine). Suspended
 * requests must have been answered first. */
void http_stop(struct http_server *srv);

/* Runs the daemon once: writes out answers that were just resumed. */
void http_flush(struct http_server *srv);

#endif
