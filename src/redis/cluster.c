/* cluster: a Redis Cluster behind the backend interface. See cluster.h.
 *
 * The map: owner[slot] is an index into nodes[], each node a master (or a
 * node an ASK or MOVED named) with its own store. Node entries are never
 * moved, so an index stays valid; a node that leaves the map has its store
 * freed (its pending calls answer LOCK_UNAVAILABLE and are retried here) and
 * its entry may be reused. The map comes from CLUSTER SLOTS on one topology
 * connection, asked of the known masters and the seeds in turn; it is asked
 * again on every redirection or failure (at most every REFRESH_MIN_MS) and
 * every REFRESH_EVERY_MS.
 *
 * A call (acquire, renew, release, inspect) has a deadline: timeout_ms after
 * it began. It is sent to the master of its name's slot; what comes back:
 *   MOVED        owner[slot] := the named node, the map refreshed, sent again
 *   ASK          sent once to the named node after an ASKING, map untouched
 *   TRYAGAIN     sent again after TRYAGAIN_MS (keys half-migrated)
 *   CLUSTERDOWN  the map refreshed, sent again after DOWN_MS
 *   no answer    (the node's connection failed or timed out; the script may
 *                have run) the map refreshed and, after NODE_RETRY_MS: an
 *                inspect or renew is sent again; an acquire is sent again
 *                with its own new token as the re-acquire token (so a grant
 *                the lost answer carried comes back as that grant, never a
 *                second one; an acquire that carried the caller's token is
 *                not retried); a release is not retried (503: its outcome is
 *                unknown)
 *   not sent     (no map yet, the node not connected) sent again after
 *                NODE_RETRY_MS
 * At the deadline the call answers LOCK_UNAVAILABLE; a store call still out
 * then is waited for, and a grant it brings is released. */
#include "redis/cluster.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "redis/acl.h"
#include "redis/conn.h"
#include "redis/cursor.h"
#include "redis/slot.h"
#include "redis/store.h"

enum {
	NODES_MAX = 64,
	NO_NODE = 0xffff,
	REFRESH_MIN_MS = 100,
	REFRESH_EVERY_MS = 1000,
	TRYAGAIN_MS = 10,
	DOWN_MS = 100,
	NODE_RETRY_MS = 25,
	ATTEMPTS_MAX = 64,
};

struct cnode {
	char host[CONFIG_STR_MAX + 1];
	int port;
	char label[CONFIG_STR_MAX + 16];
	struct backend *store; /* NULL: the entry is free */
	bool master;           /* serves slots in the current map */
	unsigned lowest;       /* its lowest slot in the map (SLOT_COUNT for none) */
};

enum call_kind { CALL_ACQUIRE, CALL_RENEW, CALL_RELEASE, CALL_INSPECT };

struct ccall;

struct cluster {
	struct backend base;
	struct loop *loop;
	struct cluster_config cfg;
	struct cnode *nodes[NODES_MAX];
	uint16_t owner[SLOT_COUNT];
	/* the topology connection */
	struct conn topo;
	char topo_host[CONFIG_STR_MAX + 1];
	char topo_label[CONFIG_STR_MAX + 16];
	int topo_port;
	unsigned topo_next; /* the next candidate to ask: masters first, then seeds */
	bool topo_open, asking_map, map_wanted, have_map;
	/* The Redis user may not ask for the slot map (NOPERM): said in /readyz
	 * and logged as an error once, until a map comes. */
	char topo_fault[ACL_LINE_MAX];
	uint64_t last_ask_ms;
	struct loop_timer topo_timer; /* the CLUSTER SLOTS timeout, or the next attempt */
	struct loop_timer tick;       /* periodic refresh and subscription check */
	/* wake-ups */
	backend_wake_fn *wake;
	backend_resync_fn *resync;
	void *watch_arg;
	int sub_node; /* the node whose subscriber is ours, or -1 */
	uint64_t sub_since_ms;
	struct ccall *calls; /* calls not answered yet */
	bool closing;
};

struct ccall {
	struct ccall *prev, *next;
	struct cluster *cl;
	enum call_kind kind;
	struct lock_request req;
	char name[LOCK_NAME_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];
	char retoken[LOCK_TOKEN_MAX + 1];
	char owner[LOCK_OWNER_MAX + 1];
	char waiter[64];
	unsigned slot;
	uint64_t deadline_ms;
	int ask_node;  /* -1, or the node an ASK named */
	int sent_node; /* where the call in flight went */
	bool in_flight, answered, own_retoken;
	unsigned attempts;
	struct loop_timer timer;
	backend_lock_fn *cb;
	void *arg;
};

static void want_map(struct cluster *cl);
static void send_call(struct ccall *c);

/* ---- redirections ---- */

bool cluster_parse_redirect(const char *err, struct cluster_redirect *out)
{
	const char *p, *sp, *colon;
	char *end;
	unsigned long slot, port;
	size_t hl;

	memset(out, 0, sizeof *out);
	if (strncmp(err, "MOVED ", 6) == 0) {
		p = err + 6;
	} else if (strncmp(err, "ASK ", 4) == 0) {
		p = err + 4;
		out->ask = true;
	} else {
		return false;
	}
	if (*p < '0' || *p > '9')
		return false;
	slot = strtoul(p, &end, 10);
	if (*end != ' ' || slot >= SLOT_COUNT)
		return false;
	sp = end + 1;
	colon = strrchr(sp, ':');
	if (!colon || colon[1] < '0' || colon[1] > '9')
		return false;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return false;
	hl = (size_t)(colon - sp);
	if (hl > CONFIG_STR_MAX || memchr(sp, ' ', hl))
		return false;
	if (hl >= 2 && sp[0] == '[' && sp[hl - 1] == ']') { /* a bracketed IPv6 address */
		sp++;
		hl -= 2;
	}
	memcpy(out->host, sp, hl);
	out->host[hl] = '\0';
	out->slot = (unsigned)slot;
	out->port = (int)port;
	return true;
}

/* ---- nodes ---- */

static struct backend *node_store(const struct cluster *cl, int i)
{
	return i >= 0 && i < NODES_MAX && cl->nodes[i] ? cl->nodes[i]->store : NULL;
}

/* The index of the node at host:port, made (with a store, connecting) if
 * `make`; -1 if there is none and no room. */
static int node_at(struct cluster *cl, const char *host, int port, bool make)
{
	int free_i = -1;
	const struct redis_target *seed = &cl->cfg.seeds[0];

	for (int i = 0; i < NODES_MAX; i++) {
		struct cnode *n = cl->nodes[i];
		if (n && n->store && n->port == port && strcmp(n->host, host) == 0)
			return i;
		if (free_i < 0 && (!n || !n->store))
			free_i = i;
	}
	if (!make || free_i < 0 || strlen(host) > CONFIG_STR_MAX)
		return -1;
	if (!cl->nodes[free_i]) {
		cl->nodes[free_i] = calloc(1, sizeof *cl->nodes[free_i]);
		if (!cl->nodes[free_i])
			return -1;
	}
	{
		struct cnode *n = cl->nodes[free_i];
		struct store_config sc = {
		    .host = n->host,
		    .port = port,
		    .user = seed->user[0] ? seed->user : NULL,
		    .password = seed->password[0] ? seed->password : NULL,
		    .keys = cl->cfg.keys,
		    .timeout_ms = cl->cfg.timeout_ms,
		    .label = n->label,
		    .fence_retention_ms = cl->cfg.fence_retention_ms,
		    .cluster_node = true,
		};
		snprintf(n->host, sizeof n->host, "%s", host);
		n->port = port;
		snprintf(n->label, sizeof n->label, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
		n->master = false;
		n->lowest = SLOT_COUNT;
		n->store = store_new(cl->loop, &sc);
		if (!n->store)
			return -1;
	}
	return free_i;
}

/* ---- wake-ups: one master's subscriber ---- */

static void on_node_wake(void *arg, const char *waiter)
{
	struct cluster *cl = arg;
	if (cl->wake)
		cl->wake(cl->watch_arg, waiter);
}

static void on_node_resync(void *arg)
{
	struct cluster *cl = arg;
	if (cl->resync)
		cl->resync(cl->watch_arg);
}

static void unsubscribe(struct cluster *cl)
{
	struct backend *b = node_store(cl, cl->sub_node);

	if (b)
		store_unwatch(b);
	cl->sub_node = -1;
}

/* Subscribes through a connected master, the one with the lowest slot but
 * `avoid` if another will do. */
static void subscribe(struct cluster *cl, int avoid)
{
	int best = -1;

	if (!cl->wake || cl->closing)
		return;
	for (int pass = 0; pass < 2 && best < 0; pass++)
		for (int i = 0; i < NODES_MAX; i++) {
			struct cnode *n = cl->nodes[i];
			if (!n || !n->store || !n->master || (pass == 0 && (i == avoid || !store_connected(n->store))))
				continue;
			if (best < 0 || n->lowest < cl->nodes[best]->lowest)
				best = i;
		}
	if (best < 0)
		return;
	cl->sub_node = best;
	cl->sub_since_ms = loop_now_ms(cl->loop);
	cl->nodes[best]->store->ops->watch(cl->nodes[best]->store, on_node_wake, on_node_resync, cl);
}

/* The subscriber is not subscribed after a connect timeout's grace: move it. */
static void check_subscription(struct cluster *cl)
{
	struct backend *b = node_store(cl, cl->sub_node);
	int was = cl->sub_node;

	if (!cl->wake)
		return;
	if (!b) {
		subscribe(cl, -1);
		return;
	}
	if (store_watching(b)) {
		cl->sub_since_ms = loop_now_ms(cl->loop);
		return;
	}
	if (loop_now_ms(cl->loop) - cl->sub_since_ms < 2 * (uint64_t)cl->cfg.timeout_ms)
		return;
	log_msg(LOG_WARN, "redis cluster: wake-ups: %s does not answer; subscribing through another master",
	        cl->nodes[was]->label);
	unsubscribe(cl);
	subscribe(cl, was);
}

/* ---- the slot map ---- */

static void topo_down(void *owner, struct conn *c, const char *why);
static int topo_setup(void *owner, struct conn *c);
static const struct conn_hooks TOPO_HOOKS = {.setup = topo_setup, .down = topo_down};

/* The candidate to ask for the map: the masters with a store, then the seeds. */
static bool candidate(const struct cluster *cl, unsigned k, char host[CONFIG_STR_MAX + 1], int *port)
{
	unsigned seen = 0;

	for (int i = 0; i < NODES_MAX; i++) {
		const struct cnode *n = cl->nodes[i];
		if (!n || !n->store || !n->master)
			continue;
		if (seen++ == k) {
			snprintf(host, CONFIG_STR_MAX + 1, "%s", n->host);
			*port = n->port;
			return true;
		}
	}
	if (k - seen < cl->cfg.nseeds) {
		snprintf(host, CONFIG_STR_MAX + 1, "%s", cl->cfg.seeds[k - seen].host);
		*port = cl->cfg.seeds[k - seen].port;
		return true;
	}
	return false;
}

static void on_slots(redisAsyncContext *ac, void *reply, void *privdata);

static int send_slots(struct cluster *cl)
{
	const char *argv[] = {"CLUSTER", "SLOTS"};
	size_t lens[] = {7, 5};

	if (!cl->topo.ac || redisAsyncCommandArgv(cl->topo.ac, on_slots, cl, 2, argv, lens) != REDIS_OK)
		return -1;
	cl->asking_map = true;
	cl->last_ask_ms = loop_now_ms(cl->loop);
	loop_timer_start(cl->loop, &cl->topo_timer, cl->last_ask_ms + cl->cfg.timeout_ms);
	return 0;
}

/* Asks the next candidate for the map, over a new topology connection. */
static void topo_connect(struct cluster *cl)
{
	char host[CONFIG_STR_MAX + 1];
	int port;

	if (cl->topo_open) {
		conn_close(&cl->topo);
		cl->topo_open = false;
	}
	if (!candidate(cl, cl->topo_next, host, &port)) {
		cl->topo_next = 0;
		if (!candidate(cl, 0, host, &port))
			return;
	}
	cl->topo_next++;
	snprintf(cl->topo_host, sizeof cl->topo_host, "%s", host);
	cl->topo_port = port;
	snprintf(cl->topo_label, sizeof cl->topo_label, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	conn_init(&cl->topo, cl->loop, cl->topo_host, port, NULL, cl->topo_label, " (cluster map)", cl->cfg.timeout_ms,
	          true, &TOPO_HOOKS, cl);
	cl->topo_open = true;
	cl->asking_map = true;
	cl->last_ask_ms = loop_now_ms(cl->loop);
	loop_timer_start(cl->loop, &cl->topo_timer, cl->last_ask_ms + cl->cfg.timeout_ms);
	conn_start(&cl->topo);
}

/* Asks for the map now if it may (not while an answer is awaited, nor within
 * REFRESH_MIN_MS of the last question); else at the earliest moment. */
static void ask_map(struct cluster *cl)
{
	uint64_t now = loop_now_ms(cl->loop);

	if (cl->closing || cl->asking_map)
		return;
	if (now < cl->last_ask_ms + REFRESH_MIN_MS) {
		if (!loop_timer_armed(&cl->topo_timer))
			loop_timer_start(cl->loop, &cl->topo_timer, cl->last_ask_ms + REFRESH_MIN_MS);
		return;
	}
	cl->map_wanted = false;
	if (cl->topo_open && cl->topo.state == CONN_READY && send_slots(cl) == 0)
		return;
	topo_connect(cl);
}

static void want_map(struct cluster *cl)
{
	cl->map_wanted = true;
	ask_map(cl);
}

/* The question failed (no answer, a bad one, a lost connection): the next
 * candidate is asked, at once while this round has candidates left. */
static void topo_failed(struct cluster *cl, const char *why)
{
	char host[CONFIG_STR_MAX + 1];
	int port;

	log_msg(LOG_DEBUG, "redis cluster: no slot map from %s: %s", cl->topo_label, why);
	cl->asking_map = false;
	if (cl->topo_open) {
		conn_close(&cl->topo);
		cl->topo_open = false;
	}
	cl->map_wanted = true;
	/* past the last candidate: wait REFRESH_MIN_MS before the next round */
	loop_timer_start(cl->loop, &cl->topo_timer,
	                 loop_now_ms(cl->loop) + (candidate(cl, cl->topo_next, host, &port) ? 0 : REFRESH_MIN_MS));
	cl->last_ask_ms = 0;
}

static void topo_timer_fired(void *arg)
{
	struct cluster *cl = arg;

	if (cl->asking_map) {
		topo_failed(cl, "timed out");
		return;
	}
	if (cl->map_wanted)
		ask_map(cl);
}

static void on_topo_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cluster *cl = privdata;
	redisReply *r = reply;

	(void)ac;
	if (r && r->type == REDIS_REPLY_ERROR)
		log_msg(LOG_ERROR, "redis cluster %s (cluster map): AUTH refused: %s", cl->topo_label, r->str);
}

static int topo_setup(void *owner, struct conn *c)
{
	struct cluster *cl = owner;
	const struct redis_target *seed = &cl->cfg.seeds[0];

	if (seed->user[0] || seed->password[0]) {
		const char *argv[3] = {"AUTH"};
		size_t lens[3] = {4};
		int n = 1;
		if (seed->user[0]) {
			argv[n] = seed->user;
			lens[n++] = strlen(seed->user);
		}
		argv[n] = seed->password;
		lens[n++] = strlen(seed->password);
		if (redisAsyncCommandArgv(c->ac, on_topo_auth, cl, n, argv, lens) != REDIS_OK)
			return -1;
	}
	return send_slots(cl);
}

static void topo_down(void *owner, struct conn *c, const char *why)
{
	struct cluster *cl = owner;

	(void)c;
	if (cl->asking_map && !cl->closing) {
		/* not from inside the connection's own teardown: at the timer */
		cl->asking_map = false;
		cl->map_wanted = true;
		cl->last_ask_ms = 0;
		loop_timer_start(cl->loop, &cl->topo_timer, loop_now_ms(cl->loop));
		log_msg(LOG_DEBUG, "redis cluster: no slot map from %s: %s", cl->topo_label, why ? why : "lost");
	}
}

/* The host a CLUSTER SLOTS entry names: "" (unknown endpoint) means the node
 * that answered; "?" means none known. */
static const char *entry_host(const struct cluster *cl, const redisReply *h)
{
	if (h->type != REDIS_REPLY_STRING || strcmp(h->str, "?") == 0)
		return NULL;
	return h->len == 0 ? cl->topo_host : h->str;
}

/* Applies a CLUSTER SLOTS reply: {start, end, {host, port, id, ...}, replicas...}...
 * Returns false if it is not one. */
static bool apply_slots(struct cluster *cl, const redisReply *r)
{
	uint16_t *owner = malloc(sizeof cl->owner);
	bool seen[NODES_MAX] = {false};
	unsigned lowest[NODES_MAX];
	bool ok = false;

	if (!owner || r->type != REDIS_REPLY_ARRAY)
		goto out;
	for (unsigned s = 0; s < SLOT_COUNT; s++)
		owner[s] = NO_NODE;
	for (int i = 0; i < NODES_MAX; i++)
		lowest[i] = SLOT_COUNT;
	for (size_t e = 0; e < r->elements; e++) {
		const redisReply *x = r->element[e], *m;
		const char *host;
		int i;
		if (x->type != REDIS_REPLY_ARRAY || x->elements < 3 || x->element[0]->type != REDIS_REPLY_INTEGER ||
		    x->element[1]->type != REDIS_REPLY_INTEGER || x->element[2]->type != REDIS_REPLY_ARRAY)
			goto out;
		m = x->element[2];
		if (x->element[0]->integer < 0 || x->element[1]->integer >= SLOT_COUNT ||
		    x->element[0]->integer > x->element[1]->integer || m->elements < 2 ||
		    m->element[1]->type != REDIS_REPLY_INTEGER || m->element[1]->integer < 1 ||
		    m->element[1]->integer > 65535)
			goto out;
		host = entry_host(cl, m->element[0]);
		if (!host)
			continue; /* a master without a known address: its slots stay uncovered */
		i = node_at(cl, host, (int)m->element[1]->integer, true);
		if (i < 0)
			continue;
		seen[i] = true;
		if ((unsigned)x->element[0]->integer < lowest[i])
			lowest[i] = (unsigned)x->element[0]->integer;
		for (long long s = x->element[0]->integer; s <= x->element[1]->integer; s++)
			owner[s] = (uint16_t)i;
	}
	memcpy(cl->owner, owner, sizeof cl->owner);
	cl->have_map = true;
	for (int i = 0; i < NODES_MAX; i++) {
		struct cnode *n = cl->nodes[i];
		if (!n || !n->store)
			continue;
		n->master = seen[i];
		n->lowest = lowest[i];
	}
	/* Nodes that left the map go last, when the map is whole: their calls,
	 * answered as their stores close, are retried over the new map. */
	for (int i = 0; i < NODES_MAX; i++) {
		struct cnode *n = cl->nodes[i];
		struct backend *b;
		if (!n || !n->store || seen[i])
			continue;
		log_msg(LOG_INFO, "redis cluster: %s serves no slots any more", n->label);
		if (cl->sub_node == i)
			unsubscribe(cl);
		b = n->store;
		n->store = NULL;
		backend_free(b);
	}
	if (cl->sub_node < 0)
		subscribe(cl, -1);
	ok = true;
out:
	free(owner);
	return ok;
}

static void on_slots(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cluster *cl = privdata;
	struct conn *c = &cl->topo;
	redisReply *r = reply;

	if (!r || cl->closing || !cl->topo_open || ac != c->ac)
		return; /* a closed connection's, or a lost one's (topo_down) */
	loop_timer_stop(cl->loop, &cl->topo_timer);
	cl->asking_map = false;
	if (r->type == REDIS_REPLY_ERROR) {
		char why[160];
		snprintf(why, sizeof why, "CLUSTER SLOTS: %.120s", r->str);
		if (acl_refused(r->str)) {
			if (!cl->topo_fault[0])
				log_msg(
				    LOG_ERROR,
				    "redis cluster %s: the Redis user may not run CLUSTER SLOTS (%s); dlockd stays not "
				    "ready until its ACL rule has +cluster|slots (docs/redis-acl.md)",
				    cl->topo_label, r->str);
			snprintf(cl->topo_fault, sizeof cl->topo_fault,
			         "the Redis user may not run CLUSTER SLOTS: add +cluster|slots to its ACL rule "
			         "(docs/redis-acl.md)");
		}
		topo_failed(cl, why);
		return;
	}
	cl->topo_fault[0] = '\0';
	if (c->state != CONN_READY)
		conn_ready(c);
	if (!apply_slots(cl, r)) {
		topo_failed(cl, "CLUSTER SLOTS answered something else than a slot map");
		return;
	}
	cl->topo_next = 0;
	if (cl->map_wanted)
		ask_map(cl);
}

static void tick_fired(void *arg)
{
	struct cluster *cl = arg;

	check_subscription(cl);
	want_map(cl);
	loop_timer_start(cl->loop, &cl->tick, loop_now_ms(cl->loop) + REFRESH_EVERY_MS);
}

/* ---- calls ---- */

static void unlink_call(struct ccall *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (c->cl->calls == c)
		c->cl->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void call_free(struct ccall *c)
{
	loop_timer_stop(c->cl->loop, &c->timer);
	explicit_bzero(c->token, sizeof c->token);
	explicit_bzero(c->retoken, sizeof c->retoken);
	free(c);
}

/* Answers the call; a store call still out keeps it until it returns. */
static void answer(struct ccall *c, const struct lock_reply *r)
{
	c->answered = true;
	loop_timer_stop(c->cl->loop, &c->timer);
	unlink_call(c);
	c->cb(c->arg, r);
	if (!c->in_flight)
		call_free(c);
}

static void answer_outcome(struct ccall *c, enum lock_outcome o)
{
	struct lock_reply r;

	memset(&r, 0, sizeof r);
	r.outcome = o;
	memcpy(r.view.name, c->name, sizeof r.view.name);
	answer(c, &r);
}

/* Sends the call again after delay_ms, or answers LOCK_UNAVAILABLE if that is
 * past its deadline. */
static void retry_later(struct ccall *c, uint64_t delay_ms)
{
	uint64_t at = loop_now_ms(c->cl->loop) + delay_ms;

	if (c->cl->closing || ++c->attempts > ATTEMPTS_MAX) {
		answer_outcome(c, LOCK_UNAVAILABLE);
		return;
	}
	loop_timer_start(c->cl->loop, &c->timer, at < c->deadline_ms ? at : c->deadline_ms);
}

static void call_timer_fired(void *arg)
{
	struct ccall *c = arg;

	if (c->in_flight || loop_now_ms(c->cl->loop) >= c->deadline_ms)
		answer_outcome(c, LOCK_UNAVAILABLE);
	else
		send_call(c);
}

static void ignore_reply(void *arg, const struct lock_reply *r)
{
	(void)arg;
	(void)r;
}

static enum backend_start lock_call(struct backend *b, enum call_kind kind, const struct lock_request *req,
                                    backend_lock_fn *cb, void *arg);

/* A grant that came after its call was answered: released at once, with
 * the token only it had. */
static void give_back(struct ccall *c, const struct lock_reply *r)
{
	struct lock_request rel = {.name = c->name, .token = r->view.token};

	if (c->cl->closing || !r->view.token[0])
		return;
	log_msg(LOG_WARN, "redis cluster: lock '%s' was granted after its request had its answer (503); released",
	        c->name);
	lock_call(&c->cl->base, CALL_RELEASE, &rel, ignore_reply, NULL);
}

static void on_store_reply(void *arg, const struct lock_reply *reply)
{
	struct ccall *c = arg;
	struct cluster *cl = c->cl;
	struct cluster_redirect rd;

	c->in_flight = false;
	if (c->answered) {
		if (reply->outcome == LOCK_GRANTED || (c->own_retoken && reply->outcome == LOCK_REACQUIRED))
			give_back(c, reply);
		call_free(c);
		return;
	}
	if (store_cluster_error(reply)) {
		if (cluster_parse_redirect(reply->detail, &rd)) {
			/* "MOVED 1 :7000": the node that answered, on another port */
			const char *host = rd.host[0] ? rd.host : cl->nodes[c->sent_node]->host;
			int to = node_at(cl, host, rd.port, true);
			if (to < 0) {
				retry_later(c, NODE_RETRY_MS);
				return;
			}
			if (rd.ask) {
				c->ask_node = to; /* this once; the map stays */
			} else {
				cl->owner[rd.slot] = (uint16_t)to;
				c->ask_node = -1;
				want_map(cl);
			}
			if (++c->attempts > ATTEMPTS_MAX)
				answer_outcome(c, LOCK_UNAVAILABLE);
			else
				send_call(c);
			return;
		}
		c->ask_node = -1;
		if (strncmp(reply->detail, "TRYAGAIN", 8) == 0) {
			retry_later(c, TRYAGAIN_MS);
		} else {
			want_map(cl);
			retry_later(c, DOWN_MS);
		}
		return;
	}
	if (reply->outcome == LOCK_UNAVAILABLE) {
		/* No answer: the script may have run. */
		want_map(cl);
		c->ask_node = -1;
		if (c->kind == CALL_RELEASE || (c->kind == CALL_ACQUIRE && c->retoken[0] && !c->own_retoken)) {
			answer(c, reply);
			return;
		}
		if (c->kind == CALL_ACQUIRE && !c->own_retoken) {
			/* if the lost answer was a grant, the retry re-acquires it */
			c->own_retoken = true;
			snprintf(c->retoken, sizeof c->retoken, "%s", c->token);
			c->req.reacquire_token = c->retoken;
		}
		retry_later(c, NODE_RETRY_MS);
		return;
	}
	if (c->own_retoken && reply->outcome == LOCK_REACQUIRED) {
		/* our own grant, whose first answer was lost: a grant to the caller */
		struct lock_reply g = *reply;
		g.outcome = LOCK_GRANTED;
		answer(c, &g);
		explicit_bzero(g.view.token, sizeof g.view.token);
		return;
	}
	answer(c, reply);
}

static void send_call(struct ccall *c)
{
	struct cluster *cl = c->cl;
	int node = c->ask_node >= 0 ? c->ask_node : cl->have_map ? cl->owner[c->slot] : NO_NODE;
	struct backend *b = node_store(cl, node);
	enum backend_start st;

	if (!b) {
		c->ask_node = -1;
		want_map(cl);
		retry_later(c, NODE_RETRY_MS);
		return;
	}
	if (c->ask_node >= 0)
		store_ask(b);
	c->ask_node = -1;
	switch (c->kind) {
	case CALL_ACQUIRE:
		st = b->ops->acquire(b, &c->req, on_store_reply, c);
		break;
	case CALL_RENEW:
		st = b->ops->renew(b, &c->req, on_store_reply, c);
		break;
	case CALL_RELEASE:
		st = b->ops->release(b, &c->req, on_store_reply, c);
		break;
	default:
		st = b->ops->inspect(b, &c->req, on_store_reply, c);
		break;
	}
	if (st == BACKEND_STARTED) {
		c->in_flight = true;
		c->sent_node = node;
		loop_timer_start(cl->loop, &c->timer, c->deadline_ms);
		return;
	}
	if (st != BACKEND_NO_MEMORY)
		want_map(cl); /* the node is not connected: has the map moved on? */
	retry_later(c, NODE_RETRY_MS);
}

/* Copies the optional string src into buf; returns buf, or NULL for no src. */
static const char *keep(char *buf, size_t cap, const char *src)
{
	if (!src)
		return NULL;
	snprintf(buf, cap, "%s", src);
	return buf;
}

static unsigned slot_of_name(const struct cluster *cl, const char *name)
{
	char key[KEYS_KEY_MAX + 1];
	size_t n = keys_make(cl->cfg.keys, KEYS_LOCK, name, key);
	return slot_of_key(key, n);
}

static enum backend_start lock_call(struct backend *b, enum call_kind kind, const struct lock_request *req,
                                    backend_lock_fn *cb, void *arg)
{
	struct cluster *cl = (struct cluster *)b;
	struct ccall *c;

	if (cl->closing)
		return BACKEND_UNAVAILABLE;
	c = calloc(1, sizeof *c);
	if (!c)
		return BACKEND_NO_MEMORY;
	c->cl = cl;
	c->kind = kind;
	c->req = *req;
	c->req.name = keep(c->name, sizeof c->name, req->name);
	c->req.token = keep(c->token, sizeof c->token, req->token);
	c->req.reacquire_token = keep(c->retoken, sizeof c->retoken, req->reacquire_token);
	c->req.owner = keep(c->owner, sizeof c->owner, req->owner);
	c->req.waiter = keep(c->waiter, sizeof c->waiter, req->waiter);
	c->slot = slot_of_name(cl, c->name);
	c->deadline_ms = loop_now_ms(cl->loop) + cl->cfg.timeout_ms;
	c->ask_node = c->sent_node = -1;
	c->cb = cb;
	c->arg = arg;
	loop_timer_init(&c->timer, call_timer_fired, c);
	c->next = cl->calls;
	if (cl->calls)
		cl->calls->prev = c;
	cl->calls = c;
	/* never answered from inside this call: a first try that cannot go out
	 * is retried from the timer */
	send_call(c);
	return BACKEND_STARTED;
}

static enum backend_start cl_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_ACQUIRE, req, cb, arg);
}

static enum backend_start cl_renew(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_RENEW, req, cb, arg);
}

static enum backend_start cl_release(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_RELEASE, req, cb, arg);
}

static enum backend_start cl_inspect(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_call(b, CALL_INSPECT, req, cb, arg);
}

static enum backend_start cl_leave(struct backend *b, const char *name, const char *waiter)
{
	struct cluster *cl = (struct cluster *)b;
	struct backend *n = cl->have_map ? node_store(cl, cl->owner[slot_of_name(cl, name)]) : NULL;

	return n ? n->ops->leave(n, name, waiter) : BACKEND_UNAVAILABLE;
}

/* ---- ping: every slot served by a master that answers ---- */

struct cping {
	unsigned pending;
	bool ok;
	backend_ping_fn *cb;
	void *arg;
};

static void on_node_ping(void *arg, bool ok)
{
	struct cping *p = arg;

	if (!ok)
		p->ok = false;
	if (--p->pending > 0)
		return;
	p->cb(p->arg, p->ok);
	free(p);
}

static bool covered(const struct cluster *cl)
{
	if (!cl->have_map)
		return false;
	for (unsigned s = 0; s < SLOT_COUNT; s++) {
		struct backend *b = node_store(cl, cl->owner[s] == NO_NODE ? -1 : cl->owner[s]);
		if (!b || !store_connected(b))
			return false;
	}
	return true;
}

static enum backend_start cl_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	struct cluster *cl = (struct cluster *)b;
	struct cping *p;

	if (cl->closing || !covered(cl))
		return BACKEND_UNAVAILABLE;
	p = calloc(1, sizeof *p);
	if (!p)
		return BACKEND_NO_MEMORY;
	p->ok = true;
	p->cb = cb;
	p->arg = arg;
	p->pending = 1; /* held while sending */
	for (int i = 0; i < NODES_MAX; i++) {
		struct cnode *n = cl->nodes[i];
		if (!n || !n->store || !n->master)
			continue;
		if (n->store->ops->ping(n->store, on_node_ping, p) == BACKEND_STARTED)
			p->pending++;
		else
			p->ok = false; /* not ready; the others still answer into p */
	}
	if (--p->pending == 0) {
		free(p);
		return BACKEND_UNAVAILABLE;
	}
	return BACKEND_STARTED;
}

/* ---- list: master after master, in the order of their lowest slots ---- */

struct clist {
	struct cluster *cl;
	unsigned at; /* the slot that names the master walked: its lowest when the walk got there */
	backend_list_fn *cb;
	void *arg;
};

/* The master walked after the one whose lowest slot is `after`, or -1. */
static int next_master(const struct cluster *cl, unsigned after)
{
	int best = -1;

	for (int i = 0; i < NODES_MAX; i++) {
		const struct cnode *n = cl->nodes[i];
		if (!n || !n->store || !n->master || n->lowest >= SLOT_COUNT ||
		    (after < SLOT_COUNT && n->lowest <= after))
			continue;
		if (best < 0 || n->lowest < cl->nodes[best]->lowest)
			best = i;
	}
	return best;
}

static void on_master_page(void *arg, const struct list_reply *page)
{
	struct clist *lc = arg;
	struct cluster *cl = lc->cl;
	struct list_reply r = *page;

	if (page->outcome != LOCK_FOUND) {
		r.outcome = LOCK_UNAVAILABLE; /* a master that cannot list: its locks cannot be skipped */
		r.count = 0;
		r.locks = NULL;
		r.next_cursor[0] = '\0';
	} else if (page->next_cursor[0]) {
		cursor_cluster_encode(r.next_cursor, lc->at, page->next_cursor);
	} else {
		int next = cl->closing ? -1 : next_master(cl, lc->at);
		if (next >= 0)
			cursor_cluster_encode(r.next_cursor, cl->nodes[next]->lowest, "");
		else
			r.next_cursor[0] = '\0';
	}
	lc->cb(lc->arg, &r);
	free(lc);
}

static enum backend_start cl_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	struct cluster *cl = (struct cluster *)b;
	struct list_request inner = *req;
	unsigned at;
	int node;
	struct backend *store;
	struct clist *lc;
	enum backend_start st;

	inner.cursor = "";
	if (req->cursor && req->cursor[0]) {
		if (!cursor_cluster_decode(req->cursor, &at, &inner.cursor))
			return BACKEND_BAD_CURSOR;
		if (!cl->have_map || cl->owner[at] == NO_NODE)
			return BACKEND_UNAVAILABLE;
		node = cl->owner[at];
	} else {
		node = cl->have_map ? next_master(cl, SLOT_COUNT) : -1;
		if (node < 0)
			return BACKEND_UNAVAILABLE;
		at = cl->nodes[node]->lowest;
	}
	store = node_store(cl, node);
	if (!store || cl->closing)
		return BACKEND_UNAVAILABLE;
	if (cl->nodes[node]->lowest < SLOT_COUNT && cl->nodes[node]->lowest > at)
		at = cl->nodes[node]->lowest;
	lc = calloc(1, sizeof *lc);
	if (!lc)
		return BACKEND_NO_MEMORY;
	lc->cl = cl;
	lc->at = at;
	lc->cb = cb;
	lc->arg = arg;
	st = store->ops->list(store, &inner, on_master_page, lc);
	if (st != BACKEND_STARTED)
		free(lc);
	return st;
}

/* ---- the rest of the interface ---- */

static const char *cl_warning(struct backend *b)
{
	struct cluster *cl = (struct cluster *)b;

	for (int i = 0; i < NODES_MAX; i++) {
		struct backend *s = node_store(cl, i);
		const char *w = s ? s->ops->warning(s) : NULL;
		if (w)
			return w;
	}
	return NULL;
}

static const char *cl_fault(struct backend *b)
{
	struct cluster *cl = (struct cluster *)b;

	if (cl->closing)
		return NULL;
	if (cl->topo_fault[0])
		return cl->topo_fault;
	for (int i = 0; i < NODES_MAX; i++) {
		struct backend *s = node_store(cl, i);
		const char *f = s ? s->ops->fault(s) : NULL;
		if (f)
			return f;
	}
	return NULL;
}

static void cl_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	struct cluster *cl = (struct cluster *)b;

	cl->wake = wake;
	cl->resync = resync;
	cl->watch_arg = arg;
	if (cl->sub_node < 0)
		subscribe(cl, -1);
}

static void cl_free(struct backend *b)
{
	struct cluster *cl = (struct cluster *)b;

	if (!cl)
		return;
	cl->closing = true;
	loop_timer_stop(cl->loop, &cl->tick);
	loop_timer_stop(cl->loop, &cl->topo_timer);
	if (cl->topo_open)
		conn_close(&cl->topo);
	while (cl->calls)
		answer_outcome(cl->calls, LOCK_UNAVAILABLE);
	for (int i = 0; i < NODES_MAX; i++) {
		if (cl->nodes[i]) {
			backend_free(cl->nodes[i]->store); /* calls still out on it are freed as it answers them */
			free(cl->nodes[i]);
		}
	}
	free(cl);
}

static const struct backend_ops CLUSTER_OPS = {
    .acquire = cl_acquire,
    .renew = cl_renew,
    .release = cl_release,
    .inspect = cl_inspect,
    .list = cl_list,
    .ping = cl_ping,
    .leave = cl_leave,
    .warning = cl_warning,
    .fault = cl_fault,
    .watch = cl_watch,
    .free = cl_free,
};

struct backend *cluster_new(struct loop *loop, const struct cluster_config *cfg)
{
	struct cluster *cl;

	if (cfg->nseeds == 0)
		return NULL;
	cl = calloc(1, sizeof *cl);
	if (!cl)
		return NULL;
	cl->base.ops = &CLUSTER_OPS;
	cl->loop = loop;
	cl->cfg = *cfg;
	cl->sub_node = -1;
	for (unsigned s = 0; s < SLOT_COUNT; s++)
		cl->owner[s] = NO_NODE;
	loop_timer_init(&cl->topo_timer, topo_timer_fired, cl);
	loop_timer_init(&cl->tick, tick_fired, cl);
	loop_timer_start(loop, &cl->tick, loop_now_ms(loop) + REFRESH_EVERY_MS);
	want_map(cl);
	return &cl->base;
}
