/* resolve: getaddrinfo() on a thread of its own. See resolve.h. */
#include "base/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

/* Shared by the loop side and the lookup thread; the last one to let go frees it. */
struct resolve {
	atomic_uint refs;
	struct loop *loop;
	struct loop_watch watch; /* the eventfd the thread signals */
	resolve_fn *cb;
	void *arg;
	struct resolve_result result; /* written by the thread before it signals */
	char host[256];
};

bool resolve_numeric(const char *host, struct resolve_result *r)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return false;
	memset(r, 0, sizeof *r);
	r->n = 1;
	snprintf(r->addr[0], sizeof r->addr[0], "%s", host);
	return true;
}

static void unref(struct resolve *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	close(r->watch.fd);
	free(r);
}

static void unref_deferred(void *arg)
{
	unref(arg);
}

static void collect(struct resolve_result *res, const struct addrinfo *ai)
{
	char buf[RESOLVE_ADDR_MAX];

	for (const struct addrinfo *p = ai; p && res->n < RESOLVE_MAX_ADDRS; p = p->ai_next) {
		bool seen = false;
		if (getnameinfo(p->ai_addr, p->ai_addrlen, buf, sizeof buf, NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		for (unsigned i = 0; i < res->n && !seen; i++)
			seen = strcmp(res->addr[i], buf) == 0;
		if (!seen)
			memcpy(res->addr[res->n++], buf, sizeof buf);
	}
	if (res->n == 0)
		res->err = EAI_NONAME;
}

static void *lookup(void *arg)
{
	struct resolve *r = arg;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *ai = NULL;
	uint64_t one = 1;

	r->result.err = getaddrinfo(r->host, NULL, &hints, &ai);
	if (r->result.err == 0)
		collect(&r->result, ai);
	if (ai)
		freeaddrinfo(ai);
	/* The eventfd write publishes the result to the loop's thread. */
	atomic_thread_fence(memory_order_release);
	(void)!write(r->watch.fd, &one, sizeof one);
	unref(r);
	return NULL;
}

/* The thread has answered: hand the result over, on the loop. */
static void answered(void *arg, unsigned events)
{
	struct resolve *r = arg;
	struct resolve_result res;

	(void)events;
	atomic_thread_fence(memory_order_acquire);
	res = r->result;
	loop_watch_set(r->loop, &r->watch, 0);
	/* No other event of this turn names this watch: freeing it here is safe. */
	r->cb(r->arg, &res);
	unref(r);
}

struct resolve *resolve_start(struct loop *loop, const char *host, resolve_fn *cb, void *arg)
{
	struct resolve *r = calloc(1, sizeof *r);
	pthread_attr_t attr;
	pthread_t thread;
	int fd, rc;

	if (!r)
		return NULL;
	if (strlen(host) >= sizeof r->host) {
		free(r);
		errno = ENAMETOOLONG;
		return NULL;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		free(r);
		return NULL;
	}
	memcpy(r->host, host, strlen(host) + 1);
	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	atomic_init(&r->refs, 2);
	loop_watch_init(&r->watch, fd, answered, r);
	if (loop_watch_set(loop, &r->watch, LOOP_READ) < 0) {
		close(fd);
		free(r);
		return NULL;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	rc = pthread_create(&thread, &attr, lookup, r);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		loop_watch_set(loop, &r->watch, 0);
		close(fd);
		free(r);
		errno = rc;
		return NULL;
	}
	return r;
}

void resolve_cancel(struct resolve *r)
{
	if (!r)
		return;
	loop_watch_set(r->loop, &r->watch, 0);
	r->cb = NULL;
	/* Its event may already be in this turn's batch: let go after the turn. */
	if (loop_defer(r->loop, unref_deferred, r) < 0)
		log_msg(LOG_WARN, "resolve: out of memory; a finished lookup's %zu bytes are not freed", sizeof *r);
}
