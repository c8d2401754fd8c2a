/* sentinel: the sentinels' conversation and the store they point. See sentinel.h.
 *
 * Each sentinel has two connections (conn.c: they reconnect by themselves):
 * one to ask, one subscribed to +switch-master. A round asks the sentinels in
 * order and stops at the first that names the master; a sentinel that is not
 * connected, answers an error or nothing in time, or does not know the name
 * passes the question to the next. A round runs at start, whenever a
 * subscription is (re)made (a switch may have been missed), and when the
 * store says the master may have moved — at most one every ROUND_GAP_MS, and
 * after a failed round again after a backoff. The address a round or a
 * +switch-master gives is handed to the store when it differs from the one it
 * has; the store's own setup (ROLE) decides whether it is a master. */
#include "redis/sentinel.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "redis/conn.h"

enum { ROUND_GAP_MS = 200, AGAIN_MIN_MS = 250, AGAIN_MAX_MS = 2000, FAULT_MAX = 420 };

struct sentinel;

struct snode {
	struct sentinel *sn;
	unsigned idx;
	struct conn ask, sub;
	char label[CONFIG_STR_MAX + 24];
};

struct sentinel {
	struct backend base;
	struct backend *store;
	struct loop *loop;
	const struct redis_sentinels *cfg;
	struct snode nodes[CONFIG_SENTINELS_MAX];
	int asking;       /* the sentinel asked now, or -1 between rounds */
	unsigned unknown; /* sentinels of this round that do not know the name */
	bool pending;     /* a round is due as soon as a sentinel is connected */
	uint64_t last_round_ms;
	uint64_t again_ms;              /* the backoff after a failed round */
	struct loop_timer answer_timer; /* the asked sentinel's deadline */
	struct loop_timer round_timer;  /* the next round */
	bool known;                     /* host:port is the master's, as last heard */
	char host[SENTINEL_HOST_MAX + 1];
	int port;
	char fault[FAULT_MAX]; /* why no master is known ("" when one is) */
	char warning[FAULT_MAX];
	unsigned timeout_ms;
};

static void ask_next(struct sentinel *sn);
static void round_start(struct sentinel *sn);

/* ---- pure parsing ---- */

/* A port in decimal digits, 1..65535. */
static bool parse_port(const char *s, size_t len, int *port)
{
	long v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

bool sentinel_parse_switch(const char *msg, size_t len, const char *name, char *host, int *port)
{
	const char *word[5], *end = msg + len, *p = msg;
	size_t wlen[5];
	int n = 0;

	while (p < end && n < 5) {
		const char *sp = memchr(p, ' ', (size_t)(end - p)), *stop = sp ? sp : end;
		word[n] = p;
		wlen[n++] = (size_t)(stop - p);
		p = sp ? sp + 1 : end;
	}
	if (n != 5 || word[4] + wlen[4] != end || strlen(name) != wlen[0] || memcmp(name, word[0], wlen[0]) != 0)
		return false;
	for (int i = 0; i < 5; i++)
		if (wlen[i] == 0)
			return false;
	if (wlen[3] > SENTINEL_HOST_MAX || memchr(word[3], '\0', wlen[3]) || !parse_port(word[4], wlen[4], port))
		return false;
	memcpy(host, word[3], wlen[3]);
	host[wlen[3]] = '\0';
	return true;
}

/* ---- where the master is ---- */

/* host:port is the master now (as `who` says): the store goes there unless it is there already. */
static void adopt(struct sentinel *sn, const char *host, int port, const char *who)
{
	sn->fault[0] = '\0';
	if (sn->known && sn->port == port && strcmp(sn->host, host) == 0)
		return;
	log_msg(LOG_INFO, "redis sentinel: master %s is at %s%s%s:%d (%s)%s", sn->cfg->master_name,
	        strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, who,
	        sn->known ? "; moving there" : "");
	snprintf(sn->host, sizeof sn->host, "%s", host);
	sn->port = port;
	sn->known = true;
	store_move(sn->store, sn->host, sn->port);
}

/* The next round runs at once if none ran within ROUND_GAP_MS, else then;
 * one already due or running is enough. */
static void round_soon(struct sentinel *sn)
{
	uint64_t now = loop_now_ms(sn->loop), at = sn->last_round_ms + ROUND_GAP_MS;

	if (sn->asking >= 0 || loop_timer_armed(&sn->round_timer))
		return;
	loop_timer_start(sn->loop, &sn->round_timer, at > now ? at : now);
}

static void round_timer_fired(void *arg)
{
	round_start(arg);
}

/* No sentinel named the master: say why, and try again after the backoff
 * (or as soon as a sentinel connects). */
static void round_failed(struct sentinel *sn)
{
	char why[FAULT_MAX];

	sn->asking = -1;
	sn->pending = true;
	if (sn->unknown)
		snprintf(why, sizeof why,
		         "no master named '%s': %u of %u sentinels answered, and none knows it (check the name in "
		         "--redis redis+sentinel://.../NAME)",
		         sn->cfg->master_name, sn->unknown, sn->cfg->n);
	else
		snprintf(why, sizeof why, "no sentinel answered where master '%s' is (%u configured)",
		         sn->cfg->master_name, sn->cfg->n);
	if (strcmp(why, sn->fault) != 0)
		log_msg(LOG_ERROR, "redis sentinel: %s; asking again", why);
	snprintf(sn->fault, sizeof sn->fault, "%s", why);
	loop_timer_start(sn->loop, &sn->round_timer, loop_now_ms(sn->loop) + sn->again_ms);
	sn->again_ms = sn->again_ms * 2 > AGAIN_MAX_MS ? AGAIN_MAX_MS : sn->again_ms * 2;
}

/* SENTINEL get-master-addr-by-name's answer: [ip, port], nil for a name the
 * sentinel does not know, or NULL when the connection went away. */
static void on_master_addr(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct snode *nd = privdata;
	struct sentinel *sn = nd->sn;
	redisReply *r = reply;
	int port;

	(void)ac;
	if (sn->asking != (int)nd->idx)
		return; /* an answer from a round that moved on */
	loop_timer_stop(sn->loop, &sn->answer_timer);
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len > 0 &&
	    r->element[0]->len <= SENTINEL_HOST_MAX && !memchr(r->element[0]->str, '\0', r->element[0]->len) &&
	    parse_port(r->element[1]->str, r->element[1]->len, &port)) {
		sn->asking = -1;
		sn->again_ms = AGAIN_MIN_MS;
		adopt(sn, r->element[0]->str, port, nd->label);
		return;
	}
	if (r && r->type == REDIS_REPLY_NIL)
		sn->unknown++;
	else if (r)
		log_msg(LOG_WARN, "redis %s: unexpected answer to SENTINEL get-master-addr-by-name%s%s", nd->label,
		        r->type == REDIS_REPLY_ERROR ? ": " : "", r->type == REDIS_REPLY_ERROR ? r->str : "");
	sn->asking++;
	ask_next(sn);
}

/* Asks the sentinels from sn->asking on, skipping those not connected. */
static void ask_next(struct sentinel *sn)
{
	for (; sn->asking < (int)sn->cfg->n; sn->asking++) {
		struct snode *nd = &sn->nodes[sn->asking];
		const char *argv[] = {"SENTINEL", "get-master-addr-by-name", sn->cfg->master_name};
		size_t lens[] = {8, 23, strlen(sn->cfg->master_name)};

		if (nd->ask.state != CONN_READY ||
		    redisAsyncCommandArgv(nd->ask.ac, on_master_addr, nd, 3, argv, lens) != REDIS_OK)
			continue;
		loop_timer_start(sn->loop, &sn->answer_timer, loop_now_ms(sn->loop) + sn->timeout_ms);
		return;
	}
	round_failed(sn);
}

static void round_start(struct sentinel *sn)
{
	if (sn->asking >= 0)
		return;
	loop_timer_stop(sn->loop, &sn->round_timer);
	sn->pending = false;
	sn->last_round_ms = loop_now_ms(sn->loop);
	sn->unknown = 0;
	sn->asking = 0;
	ask_next(sn);
}

/* The asked sentinel said nothing in time: dropping its connection fails the
 * question (on_master_addr gets NULL), which passes it to the next. */
static void answer_timer_fired(void *arg)
{
	struct sentinel *sn = arg;

	if (sn->asking >= 0 && sn->asking < (int)sn->cfg->n)
		conn_drop(&sn->nodes[sn->asking].ask, "no answer to SENTINEL get-master-addr-by-name in time");
}

/* The store's command connection failed, or the node is no master. */
static void store_lost(void *arg)
{
	round_soon(arg);
}

/* ---- the sentinels' connections ---- */

/* AUTH for the sentinels (?sentinel_user=, ?sentinel_password=): argc, 0 for none. */
static int auth_args(const struct sentinel *sn, const char *argv[3], size_t lens[3])
{
	int n = 0;

	if (!sn->cfg->password[0] && !sn->cfg->user[0])
		return 0;
	argv[n] = "AUTH";
	lens[n++] = 4;
	if (sn->cfg->user[0]) {
		argv[n] = sn->cfg->user;
		lens[n++] = strlen(sn->cfg->user);
	}
	argv[n] = sn->cfg->password;
	lens[n++] = strlen(sn->cfg->password);
	return n;
}

/* An AUTH answer on either connection: an error drops it (retried after the backoff). */
static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = privdata;
	redisReply *r = reply;
	char why[200];

	if (!r || c->ac != ac || r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(why, sizeof why, "the sentinel refused AUTH (%.120s); check sentinel_user/sentinel_password", r->str);
	log_msg(LOG_ERROR, "redis %s%s: %s", c->label, c->role, why);
	conn_drop(c, why);
}

/* PING after AUTH: its answer means the asking connection is set up. */
static void on_ask_ready(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct snode *nd = privdata;
	struct sentinel *sn = nd->sn;
	redisReply *r = reply;

	if (!r || nd->ask.ac != ac || r->type == REDIS_REPLY_ERROR)
		return; /* an AUTH refusal dropped it already, or it is gone */
	conn_ready(&nd->ask);
	if (sn->pending && sn->asking < 0)
		round_start(sn);
}

static int ask_setup(void *owner, struct conn *c)
{
	struct snode *nd = owner;
	const char *argv[3];
	size_t lens[3];
	int argc = auth_args(nd->sn, argv, lens);
	const char *ping[] = {"PING"};
	size_t ping_len[] = {4};

	if (argc && redisAsyncCommandArgv(c->ac, on_auth, c, argc, argv, lens) != REDIS_OK)
		return -1;
	return redisAsyncCommandArgv(c->ac, on_ask_ready, nd, 1, ping, ping_len) == REDIS_OK ? 0 : -1;
}

/* The subscription's replies: the confirmation, then one message per switch. */
static void on_switch(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct snode *nd = privdata;
	struct sentinel *sn = nd->sn;
	redisReply *r = reply;
	char host[SENTINEL_HOST_MAX + 1], who[sizeof nd->label + 24];
	int port;

	if (!r || nd->sub.ac != ac)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		char why[200];
		snprintf(why, sizeof why, "subscribe failed: %.150s", r->str);
		conn_drop(&nd->sub, why);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		conn_ready(&nd->sub);
		round_soon(sn); /* a switch may have happened while no subscription was up */
	} else if (strcmp(r->element[0]->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING &&
	           sentinel_parse_switch(r->element[2]->str, r->element[2]->len, sn->cfg->master_name, host, &port)) {
		/* each sentinel tells each switch: logged every time, acted on once */
		log_msg(LOG_INFO, "redis sentinel: +switch-master from %s: master %s moved to %s%s%s:%d", nd->label,
		        sn->cfg->master_name, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
		snprintf(who, sizeof who, "+switch-master from %s", nd->label);
		adopt(sn, host, port, who);
	}
}

static int sub_setup(void *owner, struct conn *c)
{
	struct snode *nd = owner;
	const char *argv[3];
	size_t lens[3];
	int argc = auth_args(nd->sn, argv, lens);
	const char *sub[] = {"SUBSCRIBE", "+switch-master"};
	size_t sub_lens[] = {9, 14};

	if (argc && redisAsyncCommandArgv(c->ac, on_auth, c, argc, argv, lens) != REDIS_OK)
		return -1;
	return redisAsyncCommandArgv(c->ac, on_switch, nd, 2, sub, sub_lens) == REDIS_OK ? 0 : -1;
}

/* A question in flight on a lost connection is failed by hiredis (NULL reply). */
static void node_down(void *owner, struct conn *c, const char *why)
{
	(void)owner;
	(void)c;
	(void)why;
}

static const struct conn_hooks ASK_HOOKS = {.setup = ask_setup, .down = node_down};
static const struct conn_hooks SUB_HOOKS = {.setup = sub_setup, .down = node_down};

/* ---- the backend: the store, and why it does not serve ---- */

static enum backend_start s_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->acquire(st, req, cb, arg);
}

static enum backend_start s_renew(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->renew(st, req, cb, arg);
}

static enum backend_start s_release(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->release(st, req, cb, arg);
}

static enum backend_start s_inspect(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->inspect(st, req, cb, arg);
}

static enum backend_start s_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->list(st, req, cb, arg);
}

static enum backend_start s_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->ping(st, cb, arg);
}

static enum backend_start s_leave(struct backend *b, const char *name, const char *waiter)
{
	struct backend *st = ((struct sentinel *)b)->store;
	return st->ops->leave(st, name, waiter);
}

/* The store's fault (credentials, permissions), else why no master is known. */
static const char *s_fault(struct backend *b)
{
	struct sentinel *sn = (struct sentinel *)b;
	const char *f = sn->store->ops->fault(sn->store);

	return f ? f : sn->fault[0] ? sn->fault : NULL;
}

/* The store's warning, else: no +switch-master subscription is up, so a
 * failover would be noticed only when the old master fails us. */
static const char *s_warning(struct backend *b)
{
	struct sentinel *sn = (struct sentinel *)b;
	const char *w = sn->store->ops->warning(sn->store);

	if (w)
		return w;
	for (unsigned i = 0; i < sn->cfg->n; i++)
		if (sn->nodes[i].sub.state == CONN_READY)
			return NULL;
	snprintf(sn->warning, sizeof sn->warning,
	         "no sentinel of master '%s' is reachable: a planned failover would not be followed until one is",
	         sn->cfg->master_name);
	return sn->warning;
}

static void s_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	struct backend *st = ((struct sentinel *)b)->store;
	st->ops->watch(st, wake, resync, arg);
}

static void s_free(struct backend *b)
{
	struct sentinel *sn = (struct sentinel *)b;

	if (!sn)
		return;
	loop_timer_stop(sn->loop, &sn->answer_timer);
	loop_timer_stop(sn->loop, &sn->round_timer);
	sn->asking = (int)sn->cfg->n; /* answers failed by the closes below find no round */
	for (unsigned i = 0; i < sn->cfg->n; i++) {
		conn_close(&sn->nodes[i].sub);
		conn_close(&sn->nodes[i].ask);
	}
	backend_free(sn->store);
	free(sn);
}

static const struct backend_ops SENTINEL_OPS = {
    .acquire = s_acquire,
    .renew = s_renew,
    .release = s_release,
    .inspect = s_inspect,
    .list = s_list,
    .ping = s_ping,
    .leave = s_leave,
    .warning = s_warning,
    .fault = s_fault,
    .watch = s_watch,
    .free = s_free,
};

struct backend *sentinel_new(struct loop *loop, const struct redis_sentinels *sc, const struct store_config *store_cfg,
                             unsigned timeout_ms)
{
	struct sentinel *sn = calloc(1, sizeof *sn);
	struct store_config cfg = *store_cfg;

	if (!sn)
		return NULL;
	sn->base.ops = &SENTINEL_OPS;
	sn->loop = loop;
	sn->cfg = sc;
	sn->asking = -1;
	sn->pending = true;
	sn->again_ms = AGAIN_MIN_MS;
	sn->timeout_ms = timeout_ms;
	snprintf(sn->fault, sizeof sn->fault, "no sentinel has named master '%s' yet", sc->master_name);
	loop_timer_init(&sn->answer_timer, answer_timer_fired, sn);
	loop_timer_init(&sn->round_timer, round_timer_fired, sn);
	cfg.host = NULL;
	cfg.unix_path = NULL;
	cfg.master_only = true;
	cfg.lost = store_lost;
	cfg.lost_arg = sn;
	sn->store = store_new(loop, &cfg);
	if (!sn->store) {
		free(sn);
		return NULL;
	}
	for (unsigned i = 0; i < sc->n; i++) {
		struct snode *nd = &sn->nodes[i];
		const char *h = sc->addr[i].host;
		nd->sn = sn;
		nd->idx = i;
		snprintf(nd->label, sizeof nd->label, strchr(h, ':') ? "sentinel [%s]:%d" : "sentinel %s:%d", h,
		         sc->addr[i].port);
		conn_init(&nd->ask, loop, h, sc->addr[i].port, NULL, nd->label, "", timeout_ms, true, &ASK_HOOKS, nd);
		conn_init(&nd->sub, loop, h, sc->addr[i].port, NULL, nd->label, " (switch-master)", timeout_ms, true,
		          &SUB_HOOKS, nd);
		conn_start(&nd->ask);
		conn_start(&nd->sub);
	}
	return &sn->base;
}
