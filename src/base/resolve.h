/* resolve: host names to addresses without blocking the event loop.
 * getaddrinfo() blocks for as long as the DNS servers take to answer —
 * seconds, when one does not answer at all — and a loop blocked that long
 * answers nobody (nor a SIGTERM). So a lookup runs on a short-lived thread of
 * its own and its answer comes back to the loop through an eventfd. A
 * numeric address needs no lookup: resolve_numeric() answers it at once. */
#ifndef DLOCKD_RESOLVE_H
#define DLOCKD_RESOLVE_H

#include <stdbool.h>

#include "base/loop.h"

enum { RESOLVE_MAX_ADDRS = 8, RESOLVE_ADDR_MAX = 46 /* INET6_ADDRSTRLEN */ };

struct resolve_result {
	int err; /* 0, or getaddrinfo()'s EAI_* code (gai_strerror() says it) */
	unsigned n;
	char addr[RESOLVE_MAX_ADDRS][RESOLVE_ADDR_MAX]; /* numeric, in getaddrinfo()'s order */
};

struct resolve;
typedef void resolve_fn(void *arg, const struct resolve_result *r);

/* Whether host is an IPv4 or IPv6 address already; then *r holds it alone. */
bool resolve_numeric(const char *host, struct resolve_result *r);

/* Looks host up (its TCP addresses). cb(arg, result) runs later on loop's
 * thread, never inside this call. Returns NULL on failure (errno set). */
struct resolve *resolve_start(struct loop *loop, const char *host, resolve_fn *cb, void *arg);

/* The caller no longer wants the answer: cb will not run. A lookup still in
 * progress finishes on its thread and cleans up after itself. */
void resolve_cancel(struct resolve *r);

#endif
