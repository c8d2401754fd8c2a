/* healthcheck: GET /readyz on the listen address. See healthcheck.h. */
#include "server/healthcheck.h"

#include "base/loop.h"
#include "server/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits for fd to be ready for events before the deadline. */
static bool wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	long long left = deadline - (long long)(loop_clock_us() / 1000u);
	return left > 0 && poll(&p, 1, (int)left) == 1;
}

static bool connected(int fd)
{
	int err = 0;
	socklen_t len = sizeof err;
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/* The connection to the instance: a plain socket, or TLS over it. */
struct probe {
	int fd;
	gnutls_session_t tls;                  /* NULL: plain HTTP */
	gnutls_certificate_credentials_t cred; /* empty: the server is not verified */
	long long deadline;
};

/* With --tls-cert: a TLS session on p->fd and its handshake. The server's
 * certificate is not verified: this is dlockd asking its own listener on
 * loopback (or on its own listen address), with no secret in the request,
 * and the certificate's name need not match the address it is reached at. */
static bool tls_open(struct probe *p, char *why, size_t whylen)
{
	int rc;

	if (gnutls_certificate_allocate_credentials(&p->cred) < 0 ||
	    gnutls_init(&p->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0 ||
	    gnutls_priority_set_direct(p->tls, TLS_PRIORITIES, NULL) < 0 ||
	    gnutls_credentials_set(p->tls, GNUTLS_CRD_CERTIFICATE, p->cred) < 0) {
		snprintf(why, whylen, "cannot set up TLS");
		return false;
	}
	gnutls_transport_set_int(p->tls, p->fd);
	for (;;) {
		rc = gnutls_handshake(p->tls);
		if (rc == GNUTLS_E_SUCCESS)
			return true;
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(rc)) {
			snprintf(why, whylen, "TLS handshake failed: %s", gnutls_strerror(rc));
			return false;
		}
		if (!wait_fd(p->fd, gnutls_record_get_direction(p->tls) ? POLLOUT : POLLIN, p->deadline)) {
			snprintf(why, whylen, "TLS handshake timed out");
			return false;
		}
	}
}

static bool probe_send(struct probe *p, const char *data, size_t len)
{
	ssize_t n;

	if (!p->tls)
		return send(p->fd, data, len, MSG_NOSIGNAL) == (ssize_t)len;
	while (len > 0) {
		n = gnutls_record_send(p->tls, data, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			if (!wait_fd(p->fd, POLLOUT, p->deadline))
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Some bytes of the answer into buf: > 0, or 0 at the end, the deadline or an error. */
static ssize_t probe_recv(struct probe *p, char *buf, size_t len)
{
	ssize_t n;

	for (;;) {
		if (p->tls && gnutls_record_check_pending(p->tls) == 0 && !wait_fd(p->fd, POLLIN, p->deadline))
			return 0;
		if (!p->tls)
			return wait_fd(p->fd, POLLIN, p->deadline) && (n = recv(p->fd, buf, len, 0)) > 0 ? n : 0;
		n = gnutls_record_recv(p->tls, buf, len);
		if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
			return n > 0 ? n : 0;
	}
}

static void probe_close(struct probe *p)
{
	if (p->tls)
		gnutls_deinit(p->tls);
	if (p->cred)
		gnutls_certificate_free_credentials(p->cred);
	if (p->fd >= 0)
		close(p->fd);
}

int healthcheck_run(const struct config *cfg, unsigned timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	const char *host = cfg->listen_host[0] ? cfg->listen_host : "127.0.0.1";
	struct probe p = {.fd = -1, .deadline = (long long)(loop_clock_us() / 1000u) + timeout_ms};
	char port[8], req[512], buf[64] = "", why[160];
	size_t got = 0;
	int rc, status = 1;

	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(port, sizeof port, "%d", cfg->listen_port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "dlockd: healthcheck: cannot resolve %s: %s\n", host, gai_strerror(rc));
		return 1;
	}
	p.fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p.fd < 0 || (connect(p.fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) ||
	    !wait_fd(p.fd, POLLOUT, p.deadline) || !connected(p.fd)) {
		fprintf(stderr, "dlockd: healthcheck: cannot connect to %s:%s\n", host, port);
		goto close_probe;
	}
	if (cfg->tls_cert[0] && !tls_open(&p, why, sizeof why)) {
		fprintf(stderr, "dlockd: healthcheck: %s:%s: %s\n", host, port, why);
		goto close_probe;
	}
	rc = snprintf(req, sizeof req, "GET /readyz HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", host, port);
	if (!probe_send(&p, req, (size_t)rc)) {
		fprintf(stderr, "dlockd: healthcheck: cannot send the request\n");
		goto close_probe;
	}
	while (got < 12) {
		ssize_t n = probe_recv(&p, buf + got, sizeof buf - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 200", 12) == 0)
		status = 0;
	else
		fprintf(stderr, "dlockd: healthcheck: not ready (%.12s)\n", got ? buf : "no answer");
close_probe:
	probe_close(&p);
	freeaddrinfo(res);
	return status;
}
