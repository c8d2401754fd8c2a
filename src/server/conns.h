/* conns: the front door's bookkeeping for client connections, kept apart from
 * libmicrohttpd so it can be tested alone. It owns three things:
 *  - client addresses: one 16-byte form for IPv4 and IPv6, trusted-proxy
 *    networks, and who the client is when a trusted proxy forwarded the
 *    request (X-Forwarded-For);
 *  - how many connections each client address holds (the per-address cap);
 *  - deadline queues: connections waiting for an event that must come within
 *    a fixed time (the same for every entry of a queue, so a queue is simply
 *    in arrival order and costs O(1) per push and removal).
 * Pure logic on the caller's clock: no I/O. */
#ifndef DLOCKD_CONNS_H
#define DLOCKD_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/config.h"

/* An address as IPv6; IPv4 is held IPv4-mapped (::ffff:a.b.c.d). */
struct conn_addr {
	unsigned char b[16];
};

enum { CONN_ADDR_TEXT_MAX = 46 }; /* INET6_ADDRSTRLEN */

/* From a socket address (AF_INET or AF_INET6); false for other families. */
bool conn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct conn_addr *out);
/* Parses an IPv4 or IPv6 address of len bytes, nothing around it. */
bool conn_addr_parse(const char *s, size_t len, struct conn_addr *out);
/* Writes the usual text form (IPv4 for mapped addresses). */
void conn_addr_format(const struct conn_addr *a, char out[CONN_ADDR_TEXT_MAX]);

/* Whether a is inside one of the n networks. */
bool conn_addr_trusted(const struct conn_addr *a, const struct config_net *nets, unsigned n);

/* The client of a request that came from a trusted proxy: xff is the
 * X-Forwarded-For list (several headers joined by commas). Entries are read
 * from the right; the first that is not itself a trusted proxy is the client.
 * Returns false (out untouched) when the list is empty or an entry that must
 * be read is not an address: the caller keeps the peer's address. */
bool conn_forwarded_client(const char *xff, const struct config_net *nets, unsigned n, struct conn_addr *out);

/* Open connections per address. */
struct conn_counts;
struct conn_counts *conn_counts_new(void);
void conn_counts_free(struct conn_counts *c);
/* Counts one more connection from a unless a already has cap (0 = no cap).
 * Returns false, counting nothing, at the cap or when out of memory. */
bool conn_counts_add(struct conn_counts *c, const struct conn_addr *a, unsigned cap);
/* Counts one connection from a less (a must have been added). */
void conn_counts_remove(struct conn_counts *c, const struct conn_addr *a);
/* How many connections a holds. */
unsigned conn_counts_get(const struct conn_counts *c, const struct conn_addr *a);

/* A deadline queue. Entries are embedded in their owner's struct. */
struct conn_deadline {
	uint64_t since_ms;
	struct conn_deadline *prev, *next; /* self-linked when in no queue */
};
struct conn_queue {
	uint64_t limit_ms;         /* each entry is due limit_ms after it was pushed */
	struct conn_deadline head; /* sentinel */
};

void conn_queue_init(struct conn_queue *q, uint64_t limit_ms);
void conn_deadline_init(struct conn_deadline *d);
/* Puts d (taken out of any queue first) at the end of q, due at now + limit. */
void conn_queue_push(struct conn_queue *q, struct conn_deadline *d, uint64_t now_ms);
/* Takes d out of its queue, if any. */
void conn_deadline_remove(struct conn_deadline *d);
bool conn_deadline_queued(const struct conn_deadline *d);
/* The first entry due at or before now, taken out of q; NULL when none. */
struct conn_deadline *conn_queue_pop_due(struct conn_queue *q, uint64_t now_ms);
/* When the first entry is due, or UINT64_MAX when q is empty. */
uint64_t conn_queue_next_due(const struct conn_queue *q);

#endif
