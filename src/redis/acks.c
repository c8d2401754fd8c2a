/* acks: the batches of writes that one WAIT covers. See acks.h. */
#include "redis/acks.h"

#include <stdlib.h>
#include <string.h>

void acks_init(struct acks *a)
{
	memset(a, 0, sizeof *a);
	a->tail = &a->head;
}

bool acks_waits_for(enum lock_outcome o)
{
	return o == LOCK_GRANTED || o == LOCK_REACQUIRED || o == LOCK_RENEWED || o == LOCK_RELEASED;
}

void acks_sent(struct acks *a, uint64_t sent_ms)
{
	if (!a->open || sent_ms < a->open_since_ms)
		a->open_since_ms = sent_ms;
	a->open = true;
}

bool acks_due(const struct acks *a)
{
	return a->open && !a->out;
}

uint64_t acks_wait_timeout(const struct acks *a, uint64_t now_ms, unsigned timeout_ms)
{
	uint64_t end = a->open_since_ms + timeout_ms, left = end > now_ms ? end - now_ms : 0;
	uint64_t slack = left >= 2 * ACKS_SLACK_MS ? ACKS_SLACK_MS : left / 2;

	return left - slack > 0 ? left - slack : 1;
}

void acks_wait_sent(struct acks *a)
{
	a->open = false;
	a->out = true;
}

int acks_hold(struct acks *a, const struct lock_reply *r, backend_lock_fn *cb, void *arg)
{
	struct acks_held *h = malloc(sizeof *h);

	if (!h)
		return -1;
	h->next = NULL;
	h->owner = NULL;
	h->cb = cb;
	h->arg = arg;
	h->reply = *r;
	*a->tail = h;
	a->tail = &h->next;
	return 0;
}

struct acks_held *acks_wait_end(struct acks *a)
{
	struct acks_held *list = a->head;

	a->out = false;
	a->head = NULL;
	a->tail = &a->head;
	return list;
}

void acks_reset(struct acks *a)
{
	a->open = false;
}

void acks_held_free(struct acks_held *h)
{
	if (!h)
		return;
	explicit_bzero(h->reply.view.token, sizeof h->reply.view.token);
	free(h);
}
