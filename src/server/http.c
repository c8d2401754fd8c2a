/* http: libmicrohttpd in external-epoll mode on our loop. See http.h.
 *
 * libmicrohttpd calls the handler several times per request: once with the
 * headers, once per body chunk, and once more when the body is complete. We
 * answer on that last call (queueing in the first call would cost the
 * connection its keep-alive). If api needs the backend, the connection is
 * suspended and resumed from the backend's callback; libmicrohttpd then calls
 * the handler again and the stored reply is queued. */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "server/conns.h"
#include "server/head.h"
#include "server/params.h"
#include "server/tls.h"

/* Bodies over PARAMS_BODY_MAX are read and dropped up to DRAIN_MAX, so the
 * 413 reaches the client: closing with unread input would make the kernel
 * reset the connection and the answer would be lost. Beyond it we answer at
 * once and close. */
enum { DRAIN_MAX = 1024 * 1024 };
static const char TOO_LARGE[] = "the request body is limited to 16384 bytes";

enum req_state { REQ_HEADERS, REQ_BODY, REQ_WAITING, REQ_READY, REQ_QUEUED, REQ_ABANDONED };

/* One client connection (libmicrohttpd's socket context). Between requests it
 * waits in the server's `idle` queue for a request line; from the request line
 * to the end of the body, in `reading`. */
struct http_conn {
	int fd;
	struct conn_addr addr;
	bool counted; /* in srv->counts (not a trusted proxy) */
	struct conn_deadline deadline;
	void *tls_session;     /* HTTPS: libmicrohttpd's GnuTLS session, else NULL */
	struct tls_creds *tls; /* HTTPS: the credentials its handshake used, held until it closes */
};

struct http_req {
	struct http_server *srv;
	struct http_conn *hc;    /* NULL if libmicrohttpd gave no socket context */
	bool counted;            /* in srv->active: the headers were complete */
	struct conn_addr client; /* the peer, or whom a trusted proxy forwarded for */
	struct MHD_Connection *conn;
	enum req_state state;
	char *uri;          /* raw request target, as received */
	const char *target; /* uri in origin form (a suffix of uri, or "/") */
	char method[16];
	char request_id[API_REQUEST_ID_MAX + 1];
	uint64_t start_us;
	char *body;
	size_t body_len;
	size_t received;     /* body bytes seen, kept or not */
	bool close;          /* the answer comes before the body was read: close after it */
	enum dl_error early; /* a framing problem found before the body ended */
	/* From the headers, scanned once (the scan itself lives only while they
	 * are checked: a waiter holds its request for as long as it waits). */
	const char *lock_token, *authorization; /* the last of each (libmicrohttpd's strings) */
	unsigned lock_tokens, authorizations;   /* how many of each */
	struct api_reply reply;
	struct api_call *call;        /* while suspended */
	struct loop_watch hangup;     /* a long wait's client socket, while suspended */
	struct http_req *prev, *next; /* in srv->waiting while suspended */
};

struct http_server {
	struct loop *loop;
	const struct config *cfg;
	struct api *api;
	struct MHD_Daemon *daemon;
	struct loop_watch watch;
	bool run_pending;                /* a connection was resumed: run the daemon before sleeping */
	struct conn_counts *counts;      /* open connections per client address */
	struct conn_queue idle, reading; /* connection deadlines (see struct http_conn) */
	struct loop_timer deadlines;
	bool quiescing;
	unsigned active;
	void (*on_drained)(void *arg);
	void *drained_arg;
	struct http_req waiting; /* sentinel */
};

int http_listen(const struct config *cfg, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char port[8];
	int fd = -1, rc, one = 1, zero = 0;

	snprintf(port, sizeof port, "%d", cfg->listen_port);
	rc = getaddrinfo(cfg->listen_host[0] ? cfg->listen_host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve listen address '%s': %s", cfg->listen_host, gai_strerror(rc));
		return -1;
	}
	/* For every interface prefer one dual-stack IPv6 socket. */
	for (ai = res; ai; ai = ai->ai_next)
		if (!cfg->listen_host[0] && ai->ai_family == AF_INET6)
			break;
	if (!ai)
		ai = res;
	for (; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
		if (ai->ai_family == AF_INET6 && !cfg->listen_host[0])
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->listen_host[0] ? cfg->listen_host : "*",
		         cfg->listen_port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && !err[0])
		snprintf(err, errlen, "cannot listen on %s:%d", cfg->listen_host, cfg->listen_port);
	return fd;
}

/* ---- per-request state ---- */

/* ---- connections: the per-address cap and deadlines ---- */

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void arm_deadlines(struct http_server *srv)
{
	uint64_t a = conn_queue_next_due(&srv->idle), b = conn_queue_next_due(&srv->reading);
	uint64_t due = a < b ? a : b;

	if (due != UINT64_MAX && (!loop_timer_armed(&srv->deadlines) || srv->deadlines.at_ms > due))
		loop_timer_start(srv->loop, &srv->deadlines, due);
}

/* Starts hc's wait in q (idle: for a request line; reading: for the end of a request). */
static void watch_deadline(struct http_server *srv, struct conn_queue *q, struct http_conn *hc)
{
	conn_queue_push(q, &hc->deadline, loop_now_ms(srv->loop));
	arm_deadlines(srv);
}

/* A request that missed its deadline hears why (problem+json, written here:
 * libmicrohttpd is reading, not writing, on this connection), then the
 * connection is shut down; libmicrohttpd sees the end and closes it. */
static void time_out(struct http_conn *hc, bool reading)
{
	static const char HEAD[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
	                           "Content-Type: application/problem+json\r\nCache-Control: no-store\r\n";
	char buf[1024];
	struct api_reply reply = {0};
	struct api_request req = {.method = "", .path = "/", .path_len = 1};
	int n;

	metrics_inc(METRIC_CONNECTIONS_TIMED_OUT);
	if (reading) {
		api_reject(&req, &reply, DL_REQUEST_TIMEOUT,
		           "the request's headers and body did not arrive within --request-timeout-ms");
		n = snprintf(buf, sizeof buf, "%sContent-Length: %zu\r\n\r\n%.*s", HEAD, reply.body_len,
		             (int)reply.body_len, reply.body);
		/* Over HTTPS the answer goes through the session: a request line
		 * arrived, so its handshake is complete, and nothing else writes on
		 * it now (one thread; libmicrohttpd is waiting to read). */
		if (n > 0 && (size_t)n < sizeof buf && hc->tls_session)
			(void)tls_send(hc->tls_session, buf, (size_t)n);
		else if (n > 0 && (size_t)n < sizeof buf)
			(void)!send(hc->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		metrics_request(ROUTE_OTHER, 408, 0);
		api_reply_release(&reply);
	}
	shutdown(hc->fd, SHUT_RDWR);
}

static void on_deadlines(void *arg)
{
	struct http_server *srv = arg;
	uint64_t now = loop_now_ms(srv->loop);
	struct conn_deadline *d;

	while ((d = conn_queue_pop_due(&srv->reading, now)))
		time_out((struct http_conn *)((char *)d - offsetof(struct http_conn, deadline)), true);
	while ((d = conn_queue_pop_due(&srv->idle, now)))
		time_out((struct http_conn *)((char *)d - offsetof(struct http_conn, deadline)), false);
	srv->run_pending = true; /* let libmicrohttpd see the shut-down sockets now */
	arm_deadlines(srv);
}

static bool proxy_trusted(const struct http_server *srv, const struct conn_addr *a)
{
	return conn_addr_trusted(a, srv->cfg->trusted_proxies, srv->cfg->ntrusted_proxies);
}

/* Accept policy: a client address beyond --max-connections-per-ip is refused
 * (closed at once; nothing has been read, so there is nobody to answer). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct http_server *srv = cls;
	struct conn_addr a;
	unsigned cap = srv->cfg->max_connections_per_ip;

	if (!cap || !conn_addr_from_sockaddr(sa, len, &a) || proxy_trusted(srv, &a) ||
	    conn_counts_get(srv->counts, &a) < cap)
		return MHD_YES;
	metrics_inc(METRIC_CONNECTIONS_REFUSED);
	return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!hc)
			return;
		conn_deadline_remove(&hc->deadline);
		if (hc->counted)
			conn_counts_remove(srv->counts, &hc->addr);
		tls_creds_put(hc->tls);
		free(hc);
		*socket_context = NULL;
		return;
	}
	hc = calloc(1, sizeof *hc);
	if (!hc)
		return; /* served without a deadline or a count: better than refusing */
	conn_deadline_init(&hc->deadline);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	hc->fd = ci ? ci->connect_fd : -1;
	if (srv->cfg->tls_cert[0]) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		hc->tls_session = ci ? ci->tls_session : NULL;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && conn_addr_from_sockaddr(ci->client_addr, sizeof(struct sockaddr_in6), &hc->addr) &&
	    !proxy_trusted(srv, &hc->addr))
		hc->counted = conn_counts_add(srv->counts, &hc->addr, 0);
	*socket_context = hc;
	if (hc->fd >= 0)
		watch_deadline(srv, &srv->idle, hc);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct http_req *r = calloc(1, sizeof *r);

	(void)conn;
	if (!r)
		return NULL;
	r->srv = srv;
	r->uri = strdup(uri ? uri : "");
	if (!r->uri) {
		free(r);
		return NULL; /* on_request() answers MHD_NO: libmicrohttpd closes the connection */
	}
	r->target = head_origin_form(r->uri);
	r->start_us = loop_clock_us();
	api_request_id(srv->api, r->request_id);
	r->prev = r->next = r;
	loop_watch_init(&r->hangup, -1, NULL, NULL);
	r->hc = conn_of(conn);
	if (r->hc)
		watch_deadline(srv, &srv->reading, r->hc);
	return r;
}

static void req_free(struct http_req *r)
{
	api_reply_release(&r->reply);
	free(r->body);
	free(r->uri);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *r = *req_cls;
	uint64_t took;
	char path[128], client[CONN_ADDR_TEXT_MAX];
	size_t plen;

	(void)conn;
	if (!r)
		return;
	*req_cls = NULL;
	took = loop_clock_us() - r->start_us;
	snprintf(client, sizeof client, "-");
	if (r->hc && r->counted && log_enabled(LOG_INFO))
		conn_addr_format(&r->client, client);
	if (r->state == REQ_ABANDONED) {
		log_access(client, r->method, "(client left while waiting)", 499, took, r->request_id);
	} else if (r->state == REQ_QUEUED) {
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			api_undelivered(srv->api, &r->reply);
		metrics_request(r->reply.route, r->reply.status, took);
		/* The path only: a query string may carry a token. */
		plen = head_path_len(r->target);
		snprintf(path, sizeof path, "%.*s%s", (int)(plen < 100 ? plen : 100), r->target,
		         plen > 100 ? "..." : "");
		log_access(client, r->method[0] ? r->method : "-", path, r->reply.status, took, r->request_id);
	} else if (r->state == REQ_READY) {
		api_undelivered(srv->api, &r->reply); /* the connection ended before the answer was queued */
	} else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && log_enabled(LOG_DEBUG)) {
		log_msg(LOG_DEBUG, "request ended before an answer (libmicrohttpd code %d)", (int)toe);
	}
	/* The connection waits for its next request line, unless it is closing
	 * (libmicrohttpd reports that later, and the wait ends there). */
	if (r->hc && r->hc->fd >= 0)
		watch_deadline(srv, &srv->idle, r->hc);
	if (r->counted) {
		srv->active--;
		metrics_inflight(-1);
	}
	req_free(r);
	if (srv->quiescing && srv->active == 0 && srv->on_drained)
		srv->on_drained(srv->drained_arg);
}

/* ---- answering ---- */

static enum MHD_Result queue_reply(struct http_req *r)
{
	struct api_reply *a = &r->reply;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(a->body_len, a->body,
	                                       a->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	if (!a->body_static)
		a->body = NULL; /* libmicrohttpd frees it now */
	if (a->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
	for (unsigned i = 0; i < a->nheaders; i++)
		MHD_add_response_header(resp, a->headers[i].name, a->headers[i].value);
	if (r->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(r->conn, (unsigned)a->status, resp);
	MHD_destroy_response(resp);
	r->state = REQ_QUEUED;
	return ret;
}

/* Takes a suspended request off the waiting list and resumes its connection. */
static void resume(struct http_req *r, enum req_state state)
{
	struct http_server *srv = r->srv;

	if (r->hangup.events)
		loop_watch_set(srv->loop, &r->hangup, 0);
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->prev = r->next = r;
	r->call = NULL;
	r->state = state;
	MHD_resume_connection(r->conn);
	srv->run_pending = true;
}

static void on_api_done(void *arg)
{
	resume(arg, REQ_READY);
}

/* The client of a long wait closed its connection: stop waiting for it. */
static void on_hangup(void *arg, unsigned events)
{
	struct http_req *r = arg;

	if (!(events & LOOP_HANGUP) || r->state != REQ_WAITING)
		return;
	api_abandon(r->call);
	resume(r, REQ_ABANDONED);
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	head_scan_add(cls, key, value);
	return MHD_YES;
}

/* Answers now with an error (used for framing problems); close when the
 * request's body has not been read to its end. */
static enum MHD_Result answer_error(struct http_req *r, enum dl_error e, const char *detail, bool close)
{
	struct api_request req = {
	    .method = r->method,
	    .path = r->target,
	    .path_len = head_path_len(r->target),
	    .request_id = r->request_id,
	};

	r->early = e;
	r->close = close;
	api_reject(&req, &r->reply, e, detail);
	return queue_reply(r);
}

static enum MHD_Result dispatch(struct http_req *r)
{
	struct http_server *srv = r->srv;
	struct api_request req = {0};
	char client[CONN_ADDR_TEXT_MAX];

	if (srv->quiescing)
		return answer_error(r, DL_SHUTTING_DOWN, "dlockd is shutting down; retry on another instance", false);
	req.method = r->method;
	req.path = r->target;
	req.path_len = head_path_len(r->target);
	req.query = r->target[req.path_len] ? r->target + req.path_len + 1 : NULL;
	req.query_len = req.query ? strlen(req.query) : 0;
	req.body = r->body ? r->body : "";
	req.body_len = r->body_len;
	req.content_type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.lock_token = r->lock_token;
	req.lock_token_count = r->lock_tokens;
	req.authorization = r->authorization;
	req.authorization_count = r->authorizations;
	req.request_id = r->request_id;
	if (r->hc && log_enabled(LOG_INFO)) {
		conn_addr_format(&r->client, client);
		req.client = client;
	}
	if (api_handle(srv->api, &req, &r->reply, on_api_done, r, &r->call))
		return queue_reply(r);
	r->state = REQ_WAITING;
	r->next = &srv->waiting;
	r->prev = srv->waiting.prev;
	srv->waiting.prev->next = r;
	srv->waiting.prev = r;
	MHD_suspend_connection(r->conn);
	if (r->reply.long_wait) {
		/* libmicrohttpd does not watch a suspended connection: we do, so a
		 * waiter whose client left does not stay in line. */
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			loop_watch_init(&r->hangup, ci->connect_fd, on_hangup, r);
			loop_watch_set(srv->loop, &r->hangup, LOOP_HANGUP);
		}
	}
	return MHD_YES;
}

static enum MHD_Result handle(struct http_req *r, struct MHD_Connection *conn, const char *method, const char *version,
                              const char *upload, size_t *upload_size)
{
	switch (r->state) {
	case REQ_HEADERS: {
		struct head_scan scan = {0}, *h = &scan;
		const char *cl, *detail;
		enum dl_error e;
		r->conn = conn;
		snprintf(r->method, sizeof r->method, "%s", method);
		r->state = REQ_BODY;
		r->counted = true;
		r->srv->active++;
		metrics_inflight(1);
		MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, h);
		r->lock_token = h->lock_token;
		r->lock_tokens = h->lock_tokens;
		r->authorization = h->authorization;
		r->authorizations = h->authorizations;
		if (r->hc) {
			const struct config *cfg = r->srv->cfg;
			r->client = r->hc->addr;
			if (!r->hc->counted && h->forwarded[0] && proxy_trusted(r->srv, &r->hc->addr))
				conn_forwarded_client(h->forwarded, cfg->trusted_proxies, cfg->ntrusted_proxies,
				                      &r->client);
		}
		e = head_framing_error(h, &detail);
		if (e == DL_OK)
			e = head_request_line_error(method, r->uri, version, h, &detail);
		if (e != DL_OK)
			return answer_error(r, e, detail, true);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && head_length_above(cl, DRAIN_MAX))
			return answer_error(r, DL_BODY_TOO_LARGE, TOO_LARGE, true);
		return MHD_YES;
	}
	case REQ_BODY:
		if (*upload_size > 0) {
			size_t n = *upload_size;
			char *grown;
			*upload_size = 0;
			r->received += n;
			if (r->received > DRAIN_MAX)
				return answer_error(r, DL_BODY_TOO_LARGE, TOO_LARGE, true);
			if (r->received > PARAMS_BODY_MAX) {
				/* Too large: read the rest and drop it, then answer 413. */
				r->early = DL_BODY_TOO_LARGE;
				return MHD_YES;
			}
			grown = realloc(r->body, r->body_len + n + 1);
			if (!grown)
				return MHD_NO;
			r->body = grown;
			memcpy(r->body + r->body_len, upload, n);
			r->body_len += n;
			r->body[r->body_len] = '\0';
			return MHD_YES;
		}
		if (r->early == DL_BODY_TOO_LARGE)
			return answer_error(r, DL_BODY_TOO_LARGE, TOO_LARGE, false);
		return dispatch(r);
	case REQ_READY:
		return queue_reply(r);
	case REQ_ABANDONED:
		return MHD_NO; /* close the connection */
	case REQ_WAITING:
	case REQ_QUEUED:
		*upload_size = 0;
		return MHD_YES;
	}
	return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	struct http_req *r = *req_cls;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	if (!r)
		return MHD_NO; /* out of memory when the request began */
	ret = handle(r, conn, method, version, upload, upload_size);
	/* Read to its end (or answered early): the request's deadline is met. */
	if (r->state > REQ_BODY && r->hc)
		conn_deadline_remove(&r->hc->deadline);
	return ret;
}

/* libmicrohttpd answers some malformed requests itself, before any handler
 * runs (see openapi.yaml, "Errors dlockd cannot shape"); its log message is
 * the only place that names the status, so it is counted from there. */
static const char MHD_ERROR_PREFIX[] = "Error processing request (HTTP response code is ";

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	va_list copy;

	(void)cls;
	if (strncmp(fmt, MHD_ERROR_PREFIX, sizeof MHD_ERROR_PREFIX - 1) == 0) {
		va_copy(copy, ap);
		unsigned status = va_arg(copy, unsigned);
		va_end(copy);
		metrics_request(ROUTE_OTHER, (int)status, 0);
		log_access("-", "-", "(malformed request, answered by libmicrohttpd)", (int)status, 0, NULL);
	}
	if (!log_enabled(LOG_DEBUG))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* ---- HTTPS ---- */

/* tls.c's certificate callback asks for the slot of the connection a
 * handshake belongs to. libmicrohttpd sets each GnuTLS session's pointer to
 * its connection (its own PSK callback relies on that); the session is
 * checked against the one the connection was opened with. */
static struct tls_creds **tls_slot(void *session_ptr, const void *session)
{
	struct http_conn *hc = session_ptr ? conn_of(session_ptr) : NULL;

	return hc && hc->tls_session == session ? &hc->tls : NULL;
}

bool http_tls_init(const struct config *cfg, char *err, size_t errlen)
{
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
		snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without HTTPS (GnuTLS) support");
		return false;
	}
	return tls_init(cfg->tls_cert, cfg->tls_key, tls_slot, err, errlen);
}

/* ---- the daemon on our loop ---- */

static void run_daemon(struct http_server *srv)
{
	srv->run_pending = false;
	/* The log lines kept so far (a worker writes its log once per loop turn,
	 * see log.h) go out before the answers this run may send: a line that
	 * explains an answer, a Redis timeout say, is in the log when the client
	 * has the answer. */
	log_flush();
	MHD_run(srv->daemon);
}

static void on_daemon_ready(void *arg, unsigned events)
{
	(void)events;
	run_daemon(arg);
}

static int before_wait(void *arg)
{
	struct http_server *srv = arg;
	MHD_UNSIGNED_LONG_LONG timeout;

	if (!srv->daemon)
		return -1;
	if (srv->run_pending)
		run_daemon(srv);
	/* A zero timeout means libmicrohttpd has connections ready that no new
	 * epoll event will report (edge-triggered): run it now, a few rounds at most. */
	for (int round = 0; round < 4; round++) {
		if (MHD_get_timeout(srv->daemon, &timeout) != MHD_YES)
			return -1;
		if (timeout > 0)
			return timeout > 60000 ? 60000 : (int)timeout;
		run_daemon(srv);
	}
	return 0;
}

struct http_server *http_start(struct loop *loop, const struct config *cfg, struct api *api, int listen_fd)
{
	struct http_server *srv = calloc(1, sizeof *srv);
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	/* HTTPS: certificates come from tls.c's callback. */
	struct MHD_OptionItem tls_opts[] = {
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
	    {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, tls_cert_callback()},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};

	if (!srv) {
		close(listen_fd);
		return NULL;
	}
	srv->loop = loop;
	srv->cfg = cfg;
	srv->api = api;
	srv->waiting.prev = srv->waiting.next = &srv->waiting;
	srv->counts = conn_counts_new();
	conn_queue_init(&srv->idle, (uint64_t)cfg->connection_timeout_s * 1000);
	conn_queue_init(&srv->reading, cfg->request_timeout_ms);
	loop_timer_init(&srv->deadlines, on_deadlines, srv);
	if (!srv->counts) {
		close(listen_fd);
		free(srv);
		return NULL;
	}
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert[0])
		flags |= MHD_USE_TLS;
	/* Not strict: with it, libmicrohttpd closes on a space in the target
	 * without an answer, and sends its missing-Host 400 twice; both are
	 * checked (and answered as problems) in head_request_line_error(). */
	srv->daemon = MHD_start_daemon(
	    flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_URI_LOG_CALLBACK,
	    on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
	    srv, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
	    MHD_OPTION_STRICT_FOR_CLIENT, 0, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_ARRAY,
	    cfg->tls_cert[0] ? tls_opts : no_opts, MHD_OPTION_END);
	if (!srv->daemon) {
		close(listen_fd);
		conn_counts_free(srv->counts);
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	loop_watch_init(&srv->watch, info ? info->epoll_fd : -1, on_daemon_ready, srv);
	if (!info || loop_watch_set(loop, &srv->watch, LOOP_READ) < 0 || loop_add_prepare(loop, before_wait, srv) < 0) {
		MHD_stop_daemon(srv->daemon);
		loop_timer_stop(loop, &srv->deadlines);
		conn_counts_free(srv->counts);
		free(srv);
		return NULL;
	}
	return srv;
}

void http_quiesce(struct http_server *srv, void (*on_drained)(void *arg), void *arg)
{
	MHD_socket fd;

	if (srv->quiescing)
		return;
	srv->quiescing = true;
	srv->on_drained = on_drained;
	srv->drained_arg = arg;
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	if (srv->active == 0 && on_drained)
		on_drained(arg);
}

unsigned http_active(const struct http_server *srv)
{
	return srv->active;
}

void http_flush(struct http_server *srv)
{
	if (srv && srv->daemon)
		run_daemon(srv);
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	srv->on_drained = NULL;
	loop_watch_set(srv->loop, &srv->watch, 0);
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	loop_timer_stop(srv->loop, &srv->deadlines);
	conn_counts_free(srv->counts);
	free(srv);
}
