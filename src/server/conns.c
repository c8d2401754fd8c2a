/* conns: client addresses, per-address counts, deadline queues. See conns.h. */
#include "server/conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ---- addresses ---- */

bool conn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct conn_addr *out)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(out->b, V4_MAPPED, 12);
		memcpy(out->b + 12, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

bool conn_addr_parse(const char *s, size_t len, struct conn_addr *out)
{
	char buf[CONN_ADDR_TEXT_MAX];

	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, out->b + 12) == 1) {
		memcpy(out->b, V4_MAPPED, 12);
		return true;
	}
	return inet_pton(AF_INET6, buf, out->b) == 1;
}

void conn_addr_format(const struct conn_addr *a, char out[CONN_ADDR_TEXT_MAX])
{
	if (memcmp(a->b, V4_MAPPED, 12) == 0)
		inet_ntop(AF_INET, a->b + 12, out, CONN_ADDR_TEXT_MAX);
	else
		inet_ntop(AF_INET6, a->b, out, CONN_ADDR_TEXT_MAX);
}

static bool in_net(const struct conn_addr *a, const struct config_net *n)
{
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(a->b, n->addr, full) != 0)
		return false;
	return rest == 0 || ((a->b[full] ^ n->addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}

bool conn_addr_trusted(const struct conn_addr *a, const struct config_net *nets, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (in_net(a, &nets[i]))
			return true;
	return false;
}

bool conn_forwarded_client(const char *xff, const struct config_net *nets, unsigned n, struct conn_addr *out)
{
	const char *end = xff + strlen(xff);

	while (end > xff) {
		const char *start = end, *a, *b;
		struct conn_addr addr;

		while (start > xff && start[-1] != ',')
			start--;
		a = start;
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		end = start > xff ? start - 1 : xff;
		if (a == b)
			continue; /* an empty element: "a,,b" */
		if (!conn_addr_parse(a, (size_t)(b - a), &addr))
			return false;
		if (!conn_addr_trusted(&addr, nets, n) || end == xff) {
			*out = addr;
			return true;
		}
	}
	return false;
}

/* ---- per-address counts: open addressing, linear probing ---- */

struct slot {
	struct conn_addr addr;
	unsigned count; /* 0: empty */
};

struct conn_counts {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t used;
};

static size_t hash(const struct conn_addr *a)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ a->b[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct slot *find(const struct conn_counts *c, const struct conn_addr *a)
{
	for (size_t i = hash(a) & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
		if (!c->slots[i].count || memcmp(&c->slots[i].addr, a, sizeof *a) == 0)
			return &c->slots[i];
}

struct conn_counts *conn_counts_new(void)
{
	struct conn_counts *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->cap = 64;
	c->slots = calloc(c->cap, sizeof *c->slots);
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

void conn_counts_free(struct conn_counts *c)
{
	if (c)
		free(c->slots);
	free(c);
}

static bool grow(struct conn_counts *c)
{
	struct conn_counts bigger = {.cap = c->cap * 2, .used = c->used};

	bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
	if (!bigger.slots)
		return false;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i].count)
			*find(&bigger, &c->slots[i].addr) = c->slots[i];
	free(c->slots);
	*c = bigger;
	return true;
}

bool conn_counts_add(struct conn_counts *c, const struct conn_addr *a, unsigned cap)
{
	struct slot *s = find(c, a);

	if (s->count) {
		if (cap && s->count >= cap)
			return false;
		s->count++;
		return true;
	}
	if ((c->used + 1) * 2 > c->cap) {
		if (!grow(c))
			return false;
		s = find(c, a);
	}
	s->addr = *a;
	s->count = 1;
	c->used++;
	return true;
}

void conn_counts_remove(struct conn_counts *c, const struct conn_addr *a)
{
	struct slot *s = find(c, a);
	size_t hole, i;

	if (!s->count || --s->count)
		return;
	/* Backward-shift deletion: move later entries of the probe run into the
	 * hole when their home slot allows, so no tombstones are needed. */
	c->used--;
	hole = (size_t)(s - c->slots);
	for (i = (hole + 1) & (c->cap - 1); c->slots[i].count; i = (i + 1) & (c->cap - 1)) {
		size_t home = hash(&c->slots[i].addr) & (c->cap - 1);
		/* The entry at i may fill the hole unless its home lies in (hole, i]. */
		if (((i - home) & (c->cap - 1)) >= ((i - hole) & (c->cap - 1))) {
			c->slots[hole] = c->slots[i];
			hole = i;
		}
	}
	c->slots[hole].count = 0;
}

unsigned conn_counts_get(const struct conn_counts *c, const struct conn_addr *a)
{
	return find(c, a)->count;
}

/* ---- deadline queues ---- */

void conn_queue_init(struct conn_queue *q, uint64_t limit_ms)
{
	q->limit_ms = limit_ms;
	conn_deadline_init(&q->head);
}

void conn_deadline_init(struct conn_deadline *d)
{
	d->since_ms = 0;
	d->prev = d->next = d;
}

void conn_deadline_remove(struct conn_deadline *d)
{
	d->prev->next = d->next;
	d->next->prev = d->prev;
	d->prev = d->next = d;
}

bool conn_deadline_queued(const struct conn_deadline *d)
{
	return d->next != d;
}

void conn_queue_push(struct conn_queue *q, struct conn_deadline *d, uint64_t now_ms)
{
	conn_deadline_remove(d);
	d->since_ms = now_ms;
	d->next = &q->head;
	d->prev = q->head.prev;
	q->head.prev->next = d;
	q->head.prev = d;
}

struct conn_deadline *conn_queue_pop_due(struct conn_queue *q, uint64_t now_ms)
{
	struct conn_deadline *d = q->head.next;

	if (d == &q->head || d->since_ms + q->limit_ms > now_ms)
		return NULL;
	conn_deadline_remove(d);
	return d;
}

uint64_t conn_queue_next_due(const struct conn_queue *q)
{
	return q->head.next == &q->head ? UINT64_MAX : q->head.next->since_ms + q->limit_ms;
}
