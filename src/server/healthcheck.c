/* healthcheck: GET /readyz on the listen address. See healthcheck.h. */
#include "server/healthcheck.h"

#include "base/loop.h"

#include <errno.h>
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

int healthcheck_run(const struct config *cfg, unsigned timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	const char *host = cfg->listen_host[0] ? cfg->listen_host : "127.0.0.1";
	long long deadline = (long long)(loop_clock_us() / 1000u) + timeout_ms;
	char port[8], req[512], buf[64] = "";
	size_t got = 0;
	int fd = -1, rc;

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
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) ||
	    !wait_fd(fd, POLLOUT, deadline) || !connected(fd)) {
		fprintf(stderr, "dlockd: healthcheck: cannot connect to %s:%s\n", host, port);
		goto fail;
	}
	rc = snprintf(req, sizeof req, "GET /readyz HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", host, port);
	if (send(fd, req, (size_t)rc, MSG_NOSIGNAL) != rc) {
		fprintf(stderr, "dlockd: healthcheck: cannot send the request\n");
		goto fail;
	}
	while (got < 12 && wait_fd(fd, POLLIN, deadline)) {
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	freeaddrinfo(res);
	if (strncmp(buf, "HTTP/1.1 200", 12) == 0)
		return 0;
	fprintf(stderr, "dlockd: healthcheck: not ready (%.12s)\n", got ? buf : "no answer");
	return 1;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return 1;
}
