/* harness_proxy: a TCP relay in front of a Redis that can stall chosen
 * connections (see harness.h). One thread polls the listening socket and
 * every relayed pair; the test's thread only sets the pattern and reads the
 * count of stalled connections, under the mutex. */
#include "harness_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { PROXY_PAIRS = 64, PROXY_PATTERN_MAX = 128 };

struct pair {
	int client, server;           /* -1 when closed */
	bool stalled;                 /* bytes towards Redis are dropped from now on */
	char tail[PROXY_PATTERN_MAX]; /* the last bytes sent towards Redis, for patterns split across reads */
	size_t tail_len;
};

struct proxy {
	pthread_t thread;
	int listen_fd, wake[2], target_port, port;
	pthread_mutex_t mu;
	char pattern[PROXY_PATTERN_MAX]; /* "" for none */
	unsigned stalled;                /* connections stalled so far */
	bool stop;
	struct pair pairs[PROXY_PAIRS];
};

static struct proxy *g_proxy;

static void pair_close(struct pair *p)
{
	if (p->client >= 0)
		close(p->client);
	if (p->server >= 0)
		close(p->server);
	p->client = p->server = -1;
}

/* Whether the bytes p has sent towards Redis, with data[0..n) after them,
 * now contain the proxy's pattern; keeps the last bytes for the next read. */
static bool pair_matches(struct proxy *px, struct pair *p, const char *data, size_t n)
{
	char buf[PROXY_PATTERN_MAX + 4096];
	size_t len, plen;
	bool hit;

	pthread_mutex_lock(&px->mu);
	plen = strlen(px->pattern);
	len = p->tail_len;
	memcpy(buf, p->tail, len);
	memcpy(buf + len, data, n);
	len += n;
	hit = plen > 0 && memmem(buf, len, px->pattern, plen) != NULL;
	if (hit)
		px->stalled++;
	pthread_mutex_unlock(&px->mu);
	p->tail_len = len < PROXY_PATTERN_MAX - 1 ? len : PROXY_PATTERN_MAX - 1;
	memcpy(p->tail, buf + len - p->tail_len, p->tail_len);
	return hit;
}

/* Moves what is readable on `from` of pair p; false when the pair is done. */
static bool pair_relay(struct proxy *px, struct pair *p, bool towards_redis)
{
	char data[4096];
	ssize_t n = read(towards_redis ? p->client : p->server, data, sizeof data);

	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	if (towards_redis && !p->stalled && pair_matches(px, p, data, (size_t)n))
		p->stalled = true;
	if (towards_redis && p->stalled)
		return true; /* as a Redis that never reads this connection again */
	return send_all(towards_redis ? p->server : p->client, data, (size_t)n);
}

static void proxy_accept(struct proxy *px)
{
	int c = accept(px->listen_fd, NULL, NULL);
	int s;

	if (c < 0)
		return;
	s = connect_port(px->target_port, 2000);
	for (size_t i = 0; s >= 0 && i < PROXY_PAIRS; i++)
		if (px->pairs[i].client < 0) {
			px->pairs[i] = (struct pair){.client = c, .server = s};
			return;
		}
	close(c);
	if (s >= 0)
		close(s);
}

static void *proxy_main(void *arg)
{
	struct proxy *px = arg;
	struct pollfd fds[2 + 2 * PROXY_PAIRS];

	for (;;) {
		size_t n = 0;
		fds[n++] = (struct pollfd){.fd = px->wake[0], .events = POLLIN};
		fds[n++] = (struct pollfd){.fd = px->listen_fd, .events = POLLIN};
		for (size_t i = 0; i < PROXY_PAIRS; i++) {
			fds[n++] = (struct pollfd){.fd = px->pairs[i].client, .events = POLLIN};
			fds[n++] = (struct pollfd){.fd = px->pairs[i].server, .events = POLLIN};
		}
		if (poll(fds, n, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (fds[1].revents & POLLIN)
			proxy_accept(px);
		for (size_t i = 0; i < PROXY_PAIRS; i++) {
			struct pair *p = &px->pairs[i];
			short to_redis = fds[2 + 2 * i].revents, to_client = fds[3 + 2 * i].revents;
			if (p->client < 0)
				continue;
			if ((to_redis && !pair_relay(px, p, true)) || (to_client && !pair_relay(px, p, false)))
				pair_close(p);
		}
	}
	return NULL;
}

static void proxy_free(void *arg)
{
	struct proxy *px = arg;

	if (write(px->wake[1], "x", 1) != 1)
		perror("proxy: wake");
	pthread_join(px->thread, NULL);
	for (size_t i = 0; i < PROXY_PAIRS; i++)
		pair_close(&px->pairs[i]);
	close(px->listen_fd);
	close(px->wake[0]);
	close(px->wake[1]);
	pthread_mutex_destroy(&px->mu);
	if (g_proxy == px)
		g_proxy = NULL;
	free(px);
}

int proxy_start(int target_port)
{
	struct proxy *px;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;

	CHECKF(g_proxy == NULL, "one proxy per test");
	px = xcalloc(sizeof *px);
	px->target_port = target_port;
	pthread_mutex_init(&px->mu, NULL);
	for (size_t i = 0; i < PROXY_PAIRS; i++)
		px->pairs[i].client = px->pairs[i].server = -1;
	px->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (px->listen_fd < 0 || bind(px->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(px->listen_fd, 16) != 0 || getsockname(px->listen_fd, (struct sockaddr *)&a, &al) != 0 ||
	    pipe(px->wake) != 0 || pthread_create(&px->thread, NULL, proxy_main, px) != 0)
		FAIL("proxy: cannot start: %s", strerror(errno));
	px->port = ntohs(a.sin_port);
	g_proxy = px;
	arena_add(px, proxy_free);
	return px->port;
}

void proxy_stall(const char *pattern)
{
	CHECKF(g_proxy, "no proxy running");
	CHECKF(!pattern || strlen(pattern) < PROXY_PATTERN_MAX, "proxy pattern too long");
	pthread_mutex_lock(&g_proxy->mu);
	snprintf(g_proxy->pattern, sizeof g_proxy->pattern, "%s", pattern ? pattern : "");
	pthread_mutex_unlock(&g_proxy->mu);
}

unsigned proxy_stalled(void)
{
	unsigned n;

	CHECKF(g_proxy, "no proxy running");
	pthread_mutex_lock(&g_proxy->mu);
	n = g_proxy->stalled;
	pthread_mutex_unlock(&g_proxy->mu);
	return n;
}
