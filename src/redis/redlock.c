/* redlock: quorum over N node backends. See redlock.h and docs/redlock.md.
 *
 * A call fans out to every node at once ("legs"); each node backend enforces
 * its own per-node timeout, so every leg answers. When the last leg is in,
 * the call is decided:
 *   acquire  every node is asked to grant the lock under this call's new token
 *            (or, given the caller's token, to extend the lock if that token
 *            holds it there now). Re-acquired on a quorum → the caller's lock,
 *            same token and fence; nodes that granted afresh give it back.
 *            Granted afresh on a quorum and validity > 0 → the lock under the
 *            new token, with fence F = max of the granting nodes' fences; if
 *            fewer than a quorum of them are already at F, a second round
 *            raises the lagging ones (fence_floor) and the grant waits for a
 *            quorum at F; nodes that extended the caller's old lease (a
 *            minority: no lock any more) give that back. Otherwise the new
 *            token's grants are released (never the caller's old lease) and
 *            the answer is 409 (held or reserved, from the nodes that
 *            answered) or 503 (too few answered).
 *   renew    renewed on a quorum within validity.
 *   release  released on some node and released-or-absent on a quorum.
 *   inspect  held on a quorum (the view: highest fence, least time left).
 *   list     node by node: one node's page of names, each checked on all
 *            nodes (beside the lists: `listing`) and kept if held on a
 *            quorum and not already reported from an earlier node.
 *   ping     a quorum answers.
 * A node whose data for the name is not dlockd's (LOCK_INVALID_DATA,
 * LOCK_FENCE_EXHAUSTED) is a failed node for the call, like one that did
 * not answer. When a call fails for want of answers and those nodes would
 * have made up the difference, they decide it: the answer is their outcome
 * (fence exhausted before invalid data), not 503, since retrying will not
 * help until an operator acts (short_of()). A list counts such a node as
 * not holding the name. */
#include "redis/redlock.h"

#include "redis/cursor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/metrics.h"

struct redlock {
	struct backend base;
	struct loop *loop;
	unsigned n, quorum;
	struct backend *nodes[REDLOCK_MAX_NODES];
	redlock_floor_fn *floor;
	double drift_factor;
	backend_wake_fn *wake;
	backend_resync_fn *resync;
	void *watch_arg;
	bool closing; /* rl_free() has begun: no new node calls */
};

enum call_kind { CALL_ACQUIRE, CALL_RENEW, CALL_RELEASE, CALL_INSPECT, CALL_PING };

struct call;

struct leg {
	struct call *call;
	unsigned node;
	bool done;
	uint64_t sent_us;
	struct lock_reply reply; /* or, for pings and fence floors, reply.outcome FOUND = ok */
};

struct call {
	struct redlock *rl;
	enum call_kind kind;
	unsigned pending; /* legs still out */
	uint64_t start_us;
	enum lock_outcome granting; /* acquire: LOCK_GRANTED or LOCK_REACQUIRED, once decided */
	int64_t fence;              /* acquire: the fence being raised to */
	unsigned at_fence;          /* acquire: granting nodes known to be at the fence */
	unsigned pinged;            /* ping: nodes that answered */
	unsigned rolling_back;      /* roll-back releases still out */
	struct lock_reply failure;  /* acquire: the answer once the roll-back is done */
	struct lock_request req;
	char name[LOCK_NAME_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];
	char retoken[LOCK_TOKEN_MAX + 1];
	char owner[LOCK_OWNER_MAX + 1];
	char waiter[64];
	backend_lock_fn *lock_cb;
	backend_ping_fn *ping_cb;
	void *arg;
	struct leg legs[REDLOCK_MAX_NODES];
};

unsigned redlock_quorum(unsigned n)
{
	return n / 2 + 1;
}

int64_t redlock_drift_ms(int64_t ttl_ms, double drift_factor)
{
	double d = (double)ttl_ms * drift_factor;
	int64_t up = (int64_t)d;
	if ((double)up < d)
		up++; /* round up */
	return up + 2;
}

int64_t redlock_validity_ms(int64_t ttl_ms, int64_t elapsed_ms, double drift_factor)
{
	return ttl_ms - elapsed_ms - redlock_drift_ms(ttl_ms, drift_factor);
}

static void leg_answered(struct leg *leg, bool ok)
{
	uint64_t took = loop_clock_us() - leg->sent_us;
	metrics_node(leg->node, ok, took);
	leg->done = true;
}

/* Copies the optional string src into buf; returns buf, or NULL for no src. */
static const char *keep(char *buf, size_t cap, const char *src)
{
	if (!src)
		return NULL;
	snprintf(buf, cap, "%s", src);
	return buf;
}

static struct call *call_new(struct redlock *rl, enum call_kind kind, const struct lock_request *req)
{
	struct call *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->rl = rl;
	c->kind = kind;
	c->start_us = loop_clock_us();
	for (unsigned i = 0; i < rl->n; i++) {
		c->legs[i].call = c;
		c->legs[i].node = i;
	}
	if (req) {
		c->req = *req;
		c->req.name = keep(c->name, sizeof c->name, req->name);
		c->req.token = keep(c->token, sizeof c->token, req->token);
		/* Only ever a token to match: a grant always carries the new token. */
		c->req.reacquire_token = keep(c->retoken, sizeof c->retoken, req->reacquire_token);
		c->req.owner = keep(c->owner, sizeof c->owner, req->owner);
		c->req.waiter = keep(c->waiter, sizeof c->waiter, req->waiter);
	}
	return c;
}

static void call_free(struct call *c)
{
	explicit_bzero(c->token, sizeof c->token);
	explicit_bzero(c->retoken, sizeof c->retoken);
	for (unsigned i = 0; i < REDLOCK_MAX_NODES; i++)
		explicit_bzero(c->legs[i].reply.view.token, sizeof c->legs[i].reply.view.token);
	free(c);
}

static void ignore_lock(void *arg, const struct lock_reply *r)
{
	(void)arg;
	(void)r;
}

static void answer(struct call *c, const struct lock_reply *r)
{
	c->lock_cb(c->arg, r);
	call_free(c);
}

static void ignore_ping(void *arg, bool ok)
{
	(void)arg;
	(void)ok;
}

static void on_rolled_back(void *arg, const struct lock_reply *r)
{
	struct leg *leg = arg;
	struct call *c = leg->call;

	(void)r;
	if (--c->rolling_back == 0)
		answer(c, &c->failure);
}

/* Node i, for a call made from a leg's callback; NULL once rl_free() has
 * begun: it frees the nodes one by one, and a node's failing legs must not
 * reach a node already gone. */
static struct backend *node_for(const struct redlock *rl, unsigned i)
{
	return rl->closing ? NULL : rl->nodes[i];
}

/* Ends a failed acquire with reply r, once the nodes that granted it have
 * released it again: the caller then sees no stray grant. Nodes that did not
 * answer get the release too, unawaited (they may have granted it all the
 * same). Only this call's new token is released: a lease the caller held
 * before the call (re-acquired on some nodes, or on nodes that did not
 * answer) is left as it was. */
static void fail(struct call *c, const struct lock_reply *r)
{
	struct redlock *rl = c->rl;
	struct lock_request rel = {.name = c->name, .token = c->token};

	c->failure = *r;
	memcpy(c->failure.view.name, c->name, sizeof c->failure.view.name);
	c->failure.view.token[0] = '\0';
	c->rolling_back = 1; /* held while sending */
	for (unsigned i = 0; i < rl->n; i++) {
		enum lock_outcome o = c->legs[i].reply.outcome;
		struct backend *node = node_for(rl, i);
		if (!node)
			continue;
		if (o == LOCK_GRANTED) {
			if (node->ops->release(node, &rel, on_rolled_back, &c->legs[i]) == BACKEND_STARTED)
				c->rolling_back++;
		} else if (o == LOCK_UNAVAILABLE || o == LOCK_BACKEND_ERROR) {
			node->ops->release(node, &rel, ignore_lock, NULL);
		}
	}
	if (--c->rolling_back == 0)
		answer(c, &c->failure);
}

static void fail_outcome(struct call *c, enum lock_outcome o)
{
	struct lock_reply r = {.outcome = o};
	fail(c, &r);
}

static void answer_outcome(struct call *c, enum lock_outcome o)
{
	struct lock_reply r = {.outcome = o};
	memcpy(r.view.name, c->name, sizeof r.view.name);
	answer(c, &r);
}

/* Counts legs by outcome. */
static unsigned count(const struct call *c, enum lock_outcome o)
{
	unsigned k = 0;
	for (unsigned i = 0; i < c->rl->n; i++)
		if (c->legs[i].reply.outcome == o)
			k++;
	return k;
}

/* Whether a node's outcome is a data problem: it answered, but about data
 * dlockd did not write. */
static bool bad_data(enum lock_outcome o)
{
	return o == LOCK_INVALID_DATA || o == LOCK_FENCE_EXHAUSTED;
}

/* Whether a node failed the call: no answer, or none about the lock. */
static bool failed(enum lock_outcome o)
{
	return o == LOCK_UNAVAILABLE || o == LOCK_BACKEND_ERROR || bad_data(o);
}

/* The nodes that answered about the lock. */
static unsigned answered(const struct call *c)
{
	unsigned k = 0;
	for (unsigned i = 0; i < c->rl->n; i++)
		if (!failed(c->legs[i].reply.outcome))
			k++;
	return k;
}

static unsigned count_bad_data(const struct call *c)
{
	return count(c, LOCK_INVALID_DATA) + count(c, LOCK_FENCE_EXHAUSTED);
}

/* The answer of a call that needed `need` nodes to answer and got fewer:
 * the data problem of the nodes that had one if, with them, enough would
 * have answered (a fence exhausted before invalid data, with the first such
 * node's detail); else LOCK_UNAVAILABLE. */
static struct lock_reply short_of(const struct call *c, unsigned need)
{
	struct lock_reply r = {.outcome = LOCK_UNAVAILABLE};
	enum lock_outcome o = count(c, LOCK_FENCE_EXHAUSTED) ? LOCK_FENCE_EXHAUSTED : LOCK_INVALID_DATA;

	memcpy(r.view.name, c->name, sizeof r.view.name);
	if (answered(c) + count_bad_data(c) < need)
		return r;
	for (unsigned i = 0; i < c->rl->n; i++)
		if (c->legs[i].reply.outcome == o) {
			r.outcome = o;
			memcpy(r.detail, c->legs[i].reply.detail, sizeof r.detail);
			break;
		}
	return r;
}

static void answer_short(struct call *c, unsigned need)
{
	struct lock_reply r = short_of(c, need);
	answer(c, &r);
}

/* The view to report among legs with outcome o: the highest fence, and of
 * those the least time left. Returns NULL if no leg has it. */
static const struct lock_reply *pick(const struct call *c, enum lock_outcome o)
{
	const struct lock_reply *best = NULL;
	for (unsigned i = 0; i < c->rl->n; i++) {
		const struct lock_reply *r = &c->legs[i].reply;
		if (r->outcome != o)
			continue;
		if (!best || r->view.fence > best->view.fence ||
		    (r->view.fence == best->view.fence && r->view.expires_ms < best->view.expires_ms))
			best = r;
	}
	return best;
}

static int64_t elapsed_ms(const struct call *c)
{
	return (int64_t)((loop_clock_us() - c->start_us + 999) / 1000);
}

/* ---- acquire ---- */

/* Releases, unawaited, what the legs with outcome o hold under token. */
static void give_back(struct call *c, enum lock_outcome o, const char *token)
{
	struct redlock *rl = c->rl;
	struct lock_request rel = {.name = c->name, .token = token};

	for (unsigned i = 0; i < rl->n; i++)
		if (c->legs[i].reply.outcome == o && node_for(rl, i))
			rl->nodes[i]->ops->release(rl->nodes[i], &rel, ignore_lock, NULL);
}

/* Answers the grant decided in c->granting, with fence c->fence. */
static void grant(struct call *c)
{
	struct lock_reply r = {.outcome = c->granting};
	int64_t ttl = c->req.ttl_ms, validity = redlock_validity_ms(ttl, elapsed_ms(c), c->rl->drift_factor);
	int64_t now_min = INT64_MAX, acquired_min = INT64_MAX;
	const struct lock_reply *any = NULL;

	if (validity <= 0) {
		fail_outcome(c, LOCK_UNAVAILABLE);
		return;
	}
	for (unsigned i = 0; i < c->rl->n; i++) {
		const struct lock_reply *l = &c->legs[i].reply;
		if (l->outcome != c->granting)
			continue;
		if (l->view.now_ms < now_min)
			now_min = l->view.now_ms;
		if (l->view.acquired_ms < acquired_min)
			acquired_min = l->view.acquired_ms;
		any = l;
	}
	r.view = any->view;
	memcpy(r.view.name, c->name, sizeof r.view.name);
	snprintf(r.view.token, sizeof r.view.token, "%s", c->granting == LOCK_REACQUIRED ? c->retoken : c->token);
	r.view.fence = c->fence;
	r.view.ttl_ms = validity;
	r.view.now_ms = now_min;
	r.view.acquired_ms = acquired_min;
	r.view.expires_ms = now_min + ttl - redlock_drift_ms(ttl, c->rl->drift_factor);
	answer(c, &r);
}

static void on_fence_floor(void *arg, bool ok)
{
	struct leg *leg = arg;
	struct call *c = leg->call;

	leg_answered(leg, ok);
	if (ok)
		c->at_fence++;
	if (--c->pending > 0)
		return;
	if (c->at_fence >= c->rl->quorum)
		grant(c);
	else
		fail_outcome(c, LOCK_UNAVAILABLE);
}

static void decide_acquire(struct call *c)
{
	struct redlock *rl = c->rl;

	if (count(c, LOCK_REACQUIRED) >= rl->quorum) {
		/* The caller's lock, held now on a quorum: it keeps its token and
		 * fence. Nodes where it was gone granted it afresh under the new
		 * token: there it takes the caller's token and fence (the quorum
		 * proves the token), so the lock stands on those nodes again. */
		c->granting = LOCK_REACQUIRED;
		c->fence = pick(c, LOCK_REACQUIRED)->view.fence;
		for (unsigned i = 0; i < rl->n; i++)
			if (c->legs[i].reply.outcome == LOCK_GRANTED && node_for(rl, i))
				rl->floor(rl->nodes[i], c->name, c->token, c->fence, c->retoken, ignore_ping, NULL);
		grant(c);
		return;
	}
	if (count(c, LOCK_GRANTED) >= rl->quorum) {
		int64_t fence = 0;
		/* The caller's old lease, if some nodes extended it, is on fewer
		 * than a quorum: it is no lock any more. */
		give_back(c, LOCK_REACQUIRED, c->retoken);
		c->granting = LOCK_GRANTED;
		for (unsigned i = 0; i < rl->n; i++) {
			const struct lock_reply *l = &c->legs[i].reply;
			if (l->outcome == LOCK_GRANTED && l->view.fence > fence)
				fence = l->view.fence;
		}
		c->fence = fence;
		c->at_fence = 0;
		for (unsigned i = 0; i < rl->n; i++) {
			const struct lock_reply *l = &c->legs[i].reply;
			if (l->outcome == LOCK_GRANTED && l->view.fence == fence)
				c->at_fence++;
		}
		if (c->at_fence >= rl->quorum) {
			grant(c);
			return;
		}
		/* Round two: bring the lagging granting nodes up to the fence, so
		 * every later majority meets a node that has seen it. */
		for (unsigned i = 0; i < rl->n; i++) {
			struct leg *leg = &c->legs[i];
			const struct lock_reply *l = &leg->reply;
			if (l->outcome != LOCK_GRANTED || l->view.fence == fence || !node_for(rl, i))
				continue;
			leg->sent_us = loop_clock_us();
			if (rl->floor(rl->nodes[i], c->name, c->token, fence, NULL, on_fence_floor, leg) ==
			    BACKEND_STARTED)
				c->pending++;
		}
		if (c->pending == 0)
			fail_outcome(c, LOCK_UNAVAILABLE);
		return;
	}
	if (answered(c) < rl->quorum) {
		struct lock_reply r = short_of(c, rl->quorum);
		fail(c, &r);
	} else if (pick(c, LOCK_HELD))
		fail(c, pick(c, LOCK_HELD));
	else
		/* Free on some nodes, but not grantable on a quorum: a hand-off to an
		 * earlier waiter, or a race with another acquirer. */
		fail_outcome(c, LOCK_RESERVED);
}

/* ---- renew, release, inspect ---- */

static void answer_mismatch(struct call *c, const struct lock_reply *holder)
{
	struct lock_reply r = *holder;
	r.view.token[0] = '\0';
	answer(c, &r);
}

static void decide_renew(struct call *c)
{
	struct redlock *rl = c->rl;
	const struct lock_reply *best;

	if (count(c, LOCK_RENEWED) >= rl->quorum) {
		struct lock_reply r;
		int64_t ttl = INT64_MAX, now_min = INT64_MAX;
		for (unsigned i = 0; i < rl->n; i++) {
			const struct lock_reply *l = &c->legs[i].reply;
			if (l->outcome != LOCK_RENEWED)
				continue;
			if (l->view.ttl_ms < ttl)
				ttl = l->view.ttl_ms;
			if (l->view.now_ms < now_min)
				now_min = l->view.now_ms;
		}
		best = pick(c, LOCK_RENEWED);
		r = *best;
		r.view.ttl_ms = redlock_validity_ms(ttl, elapsed_ms(c), rl->drift_factor);
		if (r.view.ttl_ms <= 0) {
			answer_outcome(c, LOCK_UNAVAILABLE);
			return;
		}
		r.view.now_ms = now_min;
		r.view.expires_ms = now_min + ttl - redlock_drift_ms(ttl, rl->drift_factor);
		snprintf(r.view.token, sizeof r.view.token, "%s", c->token);
		answer(c, &r);
		return;
	}
	/* Not renewed on a quorum: say why only if the nodes that answered
	 * settle it; a node that did not answer might hold the caller's lock. */
	best = pick(c, LOCK_TOKEN_MISMATCH);
	if (count(c, LOCK_NOT_HELD) >= rl->quorum)
		answer_outcome(c, LOCK_NOT_HELD);
	else if (answered(c) < rl->n)
		answer_short(c, rl->n);
	else if (best && count(c, LOCK_TOKEN_MISMATCH) >= count(c, LOCK_NOT_HELD))
		answer_mismatch(c, best);
	else
		answer_outcome(c, LOCK_NOT_HELD);
}

static void decide_release(struct call *c)
{
	struct redlock *rl = c->rl;
	unsigned released = count(c, LOCK_RELEASED), gone = count(c, LOCK_NOT_HELD);
	const struct lock_reply *mismatch = pick(c, LOCK_TOKEN_MISMATCH);

	if (released > 0 && released + gone >= rl->quorum)
		answer_outcome(c, LOCK_RELEASED);
	else if (gone >= rl->quorum)
		answer_outcome(c, LOCK_NOT_HELD);
	else if (mismatch && count(c, LOCK_TOKEN_MISMATCH) >= rl->quorum)
		answer_mismatch(c, mismatch);
	else if (answered(c) < rl->n)
		answer_short(c, rl->n); /* unsettled: the silent nodes decide */
	else if (mismatch && count(c, LOCK_TOKEN_MISMATCH) >= gone)
		answer_mismatch(c, mismatch);
	else
		answer_outcome(c, LOCK_NOT_HELD);
}

static void decide_inspect(struct call *c)
{
	struct redlock *rl = c->rl;
	unsigned found = count(c, LOCK_FOUND), bad = count_bad_data(c), silent = rl->n - answered(c) - bad;

	if (found >= rl->quorum) {
		struct lock_reply r = *pick(c, LOCK_FOUND);
		int64_t left = INT64_MAX;
		for (unsigned i = 0; i < rl->n; i++) {
			const struct lock_reply *l = &c->legs[i].reply;
			if (l->outcome == LOCK_FOUND && l->view.expires_ms - l->view.now_ms < left)
				left = l->view.expires_ms - l->view.now_ms;
		}
		r.view.ttl_ms = left > 0 ? left : 0;
		answer(c, &r);
	} else if (found + silent >= rl->quorum) {
		answer_outcome(c, LOCK_UNAVAILABLE); /* the silent nodes could make a quorum */
	} else if (found + silent + bad >= rl->quorum) {
		answer_short(c, 0); /* so could the nodes with bad data */
	} else {
		answer_outcome(c, LOCK_NOT_HELD);
	}
}

static void on_leg(void *arg, const struct lock_reply *reply)
{
	struct leg *leg = arg;
	struct call *c = leg->call;

	leg->reply = *reply;
	leg_answered(leg, !failed(reply->outcome));
	if (--c->pending > 0)
		return;
	switch (c->kind) {
	case CALL_ACQUIRE:
		decide_acquire(c);
		break;
	case CALL_RENEW:
		decide_renew(c);
		break;
	case CALL_RELEASE:
		decide_release(c);
		break;
	default:
		decide_inspect(c);
		break;
	}
}

/* Sends the call's first round to every node. */
static enum backend_start fan_out(struct call *c)
{
	struct redlock *rl = c->rl;

	for (unsigned i = 0; i < rl->n; i++) {
		struct backend *b = rl->nodes[i];
		struct leg *leg = &c->legs[i];
		enum backend_start st;

		leg->reply.outcome = LOCK_UNAVAILABLE;
		leg->sent_us = loop_clock_us();
		switch (c->kind) {
		case CALL_ACQUIRE:
			st = b->ops->acquire(b, &c->req, on_leg, leg);
			break;
		case CALL_RENEW:
			st = b->ops->renew(b, &c->req, on_leg, leg);
			break;
		case CALL_RELEASE:
			st = b->ops->release(b, &c->req, on_leg, leg);
			break;
		default:
			st = b->ops->inspect(b, &c->req, on_leg, leg);
			break;
		}
		if (st == BACKEND_STARTED)
			c->pending++;
		else
			metrics_node(i, false, 0);
	}
	if (c->pending == 0) {
		call_free(c);
		return BACKEND_UNAVAILABLE;
	}
	return BACKEND_STARTED;
}

static enum backend_start lock_call(struct backend *b, enum call_kind kind, const struct lock_request *req,
                                    backend_lock_fn *cb, void *arg)
{
	struct call *c = call_new((struct redlock *)b, kind, req);

	if (!c)
		return BACKEND_NO_MEMORY;
	c->lock_cb = cb;
	c->arg = arg;
	return fan_out(c);
}

static enum backend_start rl_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_ACQUIRE, req, cb, arg);
}

static enum backend_start rl_renew(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_RENEW, req, cb, arg);
}

static enum backend_start rl_release(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_RELEASE, req, cb, arg);
}

static enum backend_start rl_inspect(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_INSPECT, req, cb, arg);
}

/* ---- ping ---- */

static void on_ping_leg(void *arg, bool ok)
{
	struct leg *leg = arg;
	struct call *c = leg->call;

	leg_answered(leg, ok);
	if (ok)
		c->pinged++;
	if (--c->pending > 0)
		return;
	c->ping_cb(c->arg, c->pinged >= c->rl->quorum);
	call_free(c);
}

static enum backend_start rl_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	struct redlock *rl = (struct redlock *)b;
	struct call *c = call_new(rl, CALL_PING, NULL);

	if (!c)
		return BACKEND_NO_MEMORY;
	c->ping_cb = cb;
	c->arg = arg;
	for (unsigned i = 0; i < rl->n; i++) {
		c->legs[i].sent_us = loop_clock_us();
		if (rl->nodes[i]->ops->ping(rl->nodes[i], on_ping_leg, &c->legs[i]) == BACKEND_STARTED)
			c->pending++;
	}
	if (c->pending == 0) {
		call_free(c);
		return BACKEND_UNAVAILABLE;
	}
	return BACKEND_STARTED;
}

/* ---- list: node by node, each name checked on a quorum ---- */

struct list_call {
	struct redlock *rl;
	unsigned node;    /* the node whose keyspace this page scans */
	unsigned skipped; /* bit j: node j was down when the walk passed it */
	char next_cursor[BACKEND_CURSOR_MAX + 1];
	size_t count;
	struct lock_view *names;  /* the page's candidates (from the scanned node) */
	struct lock_reply *found; /* [count][n]: each candidate on each node */
	unsigned pending;
	backend_list_fn *cb;
	void *arg;
};

struct list_leg {
	struct list_call *lc;
	size_t idx;
	unsigned node;
};

static void list_answer(struct list_call *lc, enum lock_outcome o, struct lock_view *locks, size_t n)
{
	struct list_reply r = {.outcome = o, .count = n, .locks = locks};
	snprintf(r.next_cursor, sizeof r.next_cursor, "%s", o == LOCK_FOUND ? lc->next_cursor : "");
	lc->cb(lc->arg, &r);
	free(lc->names);
	free(lc->found);
	free(lc);
}

static void list_decide(struct list_call *lc)
{
	struct redlock *rl = lc->rl;
	struct lock_view *out = calloc(lc->count ? lc->count : 1, sizeof *out);
	size_t k = 0;

	if (!out) {
		list_answer(lc, LOCK_BACKEND_ERROR, NULL, 0);
		return;
	}
	for (size_t i = 0; i < lc->count; i++) {
		struct lock_reply *row = lc->found + i * rl->n;
		const struct lock_reply *best = NULL;
		unsigned held = 0;
		bool earlier = false;
		unsigned silent = 0;
		for (unsigned j = 0; j < rl->n; j++) {
			if (row[j].outcome == LOCK_UNAVAILABLE || row[j].outcome == LOCK_BACKEND_ERROR)
				silent++;
			if (row[j].outcome != LOCK_FOUND)
				continue;
			held++;
			if (j < lc->node && !(lc->skipped & (1u << j)))
				earlier = true; /* reported when that node was scanned */
			if (!best || row[j].view.fence > best->view.fence)
				best = &row[j];
		}
		if (held < rl->quorum && held + silent >= rl->quorum) {
			/* Too few nodes answered to tell whether a quorum holds it. */
			free(out);
			list_answer(lc, LOCK_UNAVAILABLE, NULL, 0);
			return;
		}
		if (held >= rl->quorum && !earlier) {
			out[k] = best->view;
			snprintf(out[k].name, sizeof out[k].name, "%s", lc->names[i].name);
			k++;
		}
	}
	list_answer(lc, LOCK_FOUND, out, k);
	free(out);
}

static void on_list_inspect(void *arg, const struct lock_reply *reply)
{
	struct list_leg *leg = arg;
	struct list_call *lc = leg->lc;

	lc->found[leg->idx * lc->rl->n + leg->node] = *reply;
	free(leg);
	if (--lc->pending == 0)
		list_decide(lc);
}

/* Cursor: "<node digit><skipped-nodes mask: 2 base64url chars><that node's
 * cursor>"; "" for the first page. */
static void node_page_down(void *arg);

/* An empty page whose cursor moves past the scanned node (marked skipped:
 * a lock held on a quorum is also on a node the walk still visits). */
static void skip_node(struct list_call *lc)
{
	if (lc->node + 1 < lc->rl->n)
		cursor_walk_encode(lc->next_cursor, lc->node + 1, lc->skipped | 1u << lc->node, "");
	else
		lc->next_cursor[0] = '\0';
	list_answer(lc, LOCK_FOUND, NULL, 0);
}

static void on_node_page(void *arg, const struct list_reply *page)
{
	struct list_call *lc = arg;
	struct redlock *rl = lc->rl;

	if (page->outcome != LOCK_FOUND) {
		node_page_down(lc);
		return;
	}
	if (page->next_cursor[0])
		cursor_walk_encode(lc->next_cursor, lc->node, lc->skipped, page->next_cursor);
	else if (lc->node + 1 < rl->n)
		cursor_walk_encode(lc->next_cursor, lc->node + 1, lc->skipped, "");
	else
		lc->next_cursor[0] = '\0';
	if (page->count == 0) {
		list_answer(lc, LOCK_FOUND, NULL, 0);
		return;
	}
	lc->count = page->count;
	lc->names = calloc(page->count, sizeof *lc->names);
	lc->found = calloc(page->count * rl->n, sizeof *lc->found);
	if (!lc->names || !lc->found) {
		list_answer(lc, LOCK_BACKEND_ERROR, NULL, 0);
		return;
	}
	memcpy(lc->names, page->locks, page->count * sizeof *lc->names);
	lc->pending = 1; /* held while fanning out */
	for (size_t i = 0; i < lc->count; i++) {
		struct lock_request req = {.name = lc->names[i].name, .listing = true};
		for (unsigned j = 0; j < rl->n; j++) {
			struct list_leg *leg = malloc(sizeof *leg);
			lc->found[i * rl->n + j].outcome = LOCK_UNAVAILABLE;
			if (!leg)
				continue;
			leg->lc = lc;
			leg->idx = i;
			leg->node = j;
			if (node_for(rl, j) &&
			    rl->nodes[j]->ops->inspect(rl->nodes[j], &req, on_list_inspect, leg) == BACKEND_STARTED)
				lc->pending++;
			else
				free(leg);
		}
	}
	if (--lc->pending == 0)
		list_decide(lc);
}

/* The scanned node is down: if a quorum answers, an empty page whose cursor
 * moves on to the next node; if not, 503. */
static void on_list_quorum(void *arg, bool ok)
{
	struct list_call *lc = arg;

	if (ok)
		skip_node(lc);
	else
		list_answer(lc, LOCK_UNAVAILABLE, NULL, 0);
}

static void node_page_down(void *arg)
{
	struct list_call *lc = arg;

	if (rl_ping(&lc->rl->base, on_list_quorum, lc) != BACKEND_STARTED)
		list_answer(lc, LOCK_UNAVAILABLE, NULL, 0);
}

static enum backend_start rl_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	struct redlock *rl = (struct redlock *)b;
	struct list_call *lc;
	struct list_request inner = *req;
	unsigned node = 0;
	enum backend_start st;

	unsigned skipped = 0;

	if (req->cursor && req->cursor[0] && !cursor_walk_decode(req->cursor, rl->n, &node, &skipped, &inner.cursor))
		return BACKEND_BAD_CURSOR;
	lc = calloc(1, sizeof *lc);
	if (!lc)
		return BACKEND_NO_MEMORY;
	lc->rl = rl;
	lc->node = node;
	lc->skipped = skipped;
	lc->cb = cb;
	lc->arg = arg;
	st = rl->nodes[node]->ops->list(rl->nodes[node], &inner, on_node_page, lc);
	if (st == BACKEND_UNAVAILABLE && loop_defer(rl->loop, node_page_down, lc) == 0)
		return BACKEND_STARTED; /* an empty page that moves on to the next node */
	if (st != BACKEND_STARTED)
		free(lc);
	return st;
}

/* ---- waiting ---- */

static enum backend_start rl_leave(struct backend *b, const char *name, const char *waiter)
{
	struct redlock *rl = (struct redlock *)b;
	unsigned started = 0;

	for (unsigned i = 0; i < rl->n; i++)
		if (rl->nodes[i]->ops->leave(rl->nodes[i], name, waiter) == BACKEND_STARTED)
			started++;
	return started ? BACKEND_STARTED : BACKEND_UNAVAILABLE;
}

static const char *rl_warning(struct backend *b)
{
	struct redlock *rl = (struct redlock *)b;

	for (unsigned i = 0; i < rl->n; i++) {
		const char *w = rl->nodes[i]->ops->warning(rl->nodes[i]);
		if (w)
			return w;
	}
	return NULL;
}

/* The first node's fault: when the quorum fails, what /readyz names. None
 * once rl_free has begun (its nodes' failed calls answer meanwhile). */
static const char *rl_fault(struct backend *b)
{
	struct redlock *rl = (struct redlock *)b;

	if (rl->closing)
		return NULL;
	for (unsigned i = 0; i < rl->n; i++) {
		const char *f = rl->nodes[i]->ops->fault(rl->nodes[i]);
		if (f)
			return f;
	}
	return NULL;
}

static void on_node_wake(void *arg, const char *waiter)
{
	struct redlock *rl = arg;
	if (rl->wake)
		rl->wake(rl->watch_arg, waiter);
}

static void on_node_resync(void *arg)
{
	struct redlock *rl = arg;
	if (rl->resync)
		rl->resync(rl->watch_arg);
}

static void rl_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	struct redlock *rl = (struct redlock *)b;

	rl->wake = wake;
	rl->resync = resync;
	rl->watch_arg = arg;
	for (unsigned i = 0; i < rl->n; i++)
		rl->nodes[i]->ops->watch(rl->nodes[i], on_node_wake, on_node_resync, rl);
}

static void rl_free(struct backend *b)
{
	struct redlock *rl = (struct redlock *)b;

	if (!rl)
		return;
	rl->closing = true;
	for (unsigned i = 0; i < rl->n; i++)
		backend_free(rl->nodes[i]);
	free(rl);
}

static const struct backend_ops REDLOCK_OPS = {
    .acquire = rl_acquire,
    .renew = rl_renew,
    .release = rl_release,
    .inspect = rl_inspect,
    .list = rl_list,
    .ping = rl_ping,
    .leave = rl_leave,
    .warning = rl_warning,
    .fault = rl_fault,
    .watch = rl_watch,
    .free = rl_free,
};

struct backend *redlock_new(struct loop *loop, struct backend **nodes, unsigned n, redlock_floor_fn *floor,
                            double drift_factor)
{
	struct redlock *rl = n >= 2 && n <= REDLOCK_MAX_NODES ? calloc(1, sizeof *rl) : NULL;

	if (!rl) {
		for (unsigned i = 0; i < n; i++)
			backend_free(nodes[i]);
		return NULL;
	}
	rl->base.ops = &REDLOCK_OPS;
	rl->loop = loop;
	rl->n = n;
	rl->quorum = redlock_quorum(n);
	rl->drift_factor = drift_factor;
	rl->floor = floor;
	memcpy(rl->nodes, nodes, n * sizeof *nodes);
	return &rl->base;
}
