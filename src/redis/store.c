/* store: one Redis node over a hiredis async context on our loop. See store.h.
 *
 * Commands go out pipelined on one of two channels, each a connection: the
 * command channel carries every lock operation, the list channel the list
 * pages (and a Redlock list page's checks of its names), so that a slow list
 * delays and resets only its own connection. The list channel connects at
 * its first use. On a channel, sent commands wait in a FIFO (`pending`),
 * oldest first; one timer watches the oldest, and when it overstays the
 * command timeout the connection is dropped: hiredis then fails every
 * pending command on it (503 for the caller) and we reconnect with backoff.
 * Commands that arrive while a connection is being made and set up are
 * parked and sent as soon as it is ready (or failed when it fails, within
 * the connect and command timeouts). Scripts are loaded on connect and
 * called by EVALSHA (their SHA-1s are computed here); a NOSCRIPT reply (a
 * SCRIPT FLUSH behind our back) re-sends as EVAL. Tokens are hashed before
 * they are sent (lock_token_hash). Data that dlockd did not write is counted
 * and logged here (at most once a minute per kind). Beside it: adapter.c
 * (hiredis on our loop, under conn.c: a connection that keeps itself up),
 * replies.c (what the scripts answer), cursor.c (list cursors), acks.c (the
 * batches of writes a WAIT covers, with --redis-wait-replicas). */
#include "redis/store.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/digest.h"
#include "base/log.h"
#include "redis/acks.h"
#include "redis/acl.h"
#include "redis/conn.h"
#include "redis/cursor.h"
#include "redis/replies.h"
#include "base/metrics.h"
#include "redis/scripts.h"

enum script_id { SCRIPT_ACQ, SCRIPT_REN, SCRIPT_REL, SCRIPT_LEV, SCRIPT_FLR, SCRIPT_INS, SCRIPT_LST, SCRIPT_COUNT };

static const char *const SCRIPTS[SCRIPT_COUNT] = {
    [SCRIPT_ACQ] = SCRIPT_ACQUIRE, [SCRIPT_REN] = SCRIPT_RENEW,       [SCRIPT_REL] = SCRIPT_RELEASE,
    [SCRIPT_LEV] = SCRIPT_LEAVE,   [SCRIPT_FLR] = SCRIPT_FENCE_FLOOR, [SCRIPT_INS] = SCRIPT_INSPECT,
    [SCRIPT_LST] = SCRIPT_LIST,
};

enum op_kind {
	OP_ACQUIRE,
	OP_RENEW,
	OP_RELEASE,
	OP_INSPECT,
	OP_LIST,
	OP_PING,
	OP_LEAVE,
	OP_FENCE_FLOOR,
	OP_SETUP,
	OP_POLICY
};
enum {
	MAX_ARGS = 24,
	SHA1_HEX = 2 * DIGEST_SHA1_LEN,
	SETUP_INFO = -2,  /* send_setup()'s script argument for the INFO that names the run */
	SETUP_PROBE = -3, /* ... for the runs of the ACL probe (acl.h) */
	SETUP_ROLE = -4,  /* ... for the ROLE that confirms a master (master_only) */
	HOST_MAX = 255,
};

struct store;
struct chan;

struct op {
	struct op *prev, *next;
	struct store *s;
	struct chan *ch; /* the channel it is sent on (set when started) */
	enum op_kind kind;
	int script;   /* for EVALSHA ops, else -1 */
	bool evalsha; /* argv[0] is EVALSHA (may become EVAL on NOSCRIPT) */
	bool batched; /* a write whose answer waits for the replicas' acknowledgement (acks.h) */
	bool asking;  /* cluster: sent right after an ASKING (store_ask) */
	uint64_t sent_ms;
	union {
		backend_lock_fn *lock;
		backend_list_fn *list;
		backend_ping_fn *ping;
		store_confirm_fn *confirm;
	} cb;
	void *arg;
	char name[LOCK_NAME_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];   /* the token a grant or renewal answers with */
	char retoken[LOCK_TOKEN_MAX + 1]; /* acquire: the caller's token for a re-acquire */
	int run_arg;                      /* index of the argument that names the Redis run (filled when sent), or 0 */
	int argc;
	const char *argv[MAX_ARGS];
	size_t argvlen[MAX_ARGS];
	char buf[]; /* argument bytes */
};

/* A connection and the commands on it. */
struct chan {
	struct conn conn;
	struct store *s;
	bool lists;          /* the list channel: connected at first use; no run or policy in its setup */
	unsigned setup_left; /* setup commands still out */
	struct op pending;   /* sentinel of the FIFO of sent commands */
	struct op parked;    /* sentinel of the commands waiting for the connection being made */
	struct loop_timer timer;
	/* --redis-wait-replicas (the command channel): the batches, the timer that
	 * sends the next WAIT (none out) or bounds the one out, and the releases of
	 * unacknowledged grants that wait for the connection to come back. */
	struct acks acks;
	struct loop_timer ack_timer;
	uint64_t wait_sent_ms, wait_timeout_ms;
	struct op orphans;
};

/* A warning logged at most once per WARN_EVERY_MS; what came meanwhile is
 * counted into the next line. */
enum { WARN_EVERY_MS = 60000 };
struct warn_limit {
	uint64_t next_ms;
	uint64_t held; /* occurrences since the last line */
};

struct store {
	struct backend base;
	struct loop *loop;
	struct store_config cfg;
	struct chan cmd, lst; /* lock operations; lists */
	struct conn sub;      /* the subscriber for wake-ups */
	bool was_connected;   /* the command connection was up before: a reconnect resyncs waiters */
	struct warn_limit skip_warn, data_warn, ack_warn;
	char sha[SCRIPT_COUNT][SHA1_HEX + 1];
	char retention[24]; /* fence retention ms, as text */
	char liveness[24];  /* waiter liveness ms, as text */
	char run[24];       /* Redlock: run_id and master_replid prefixes of the Redis reached ("" otherwise) */
	char warning[160];  /* what is unsafe about this Redis ("" for nothing) */
	/* Why the store does not serve although Redis answers ("" for nothing):
	 * the user lacks permissions, or Redis refused the credentials; set by the
	 * command channel's setup (fault) or the subscriber's (sub_fault). */
	char fault[ACL_LINE_MAX], sub_fault[ACL_LINE_MAX];
	struct acl_missing missing; /* what the command channel's setup found missing so far */
	bool probed;                /* the probe ran in this setup */
	char probe_sha[SHA1_HEX + 1];
	char probe_keys[4][KEYS_KEY_MAX + 1];
	char channel[KEYS_KEY_MAX + 1];
	bool ask_next;       /* cluster: the next lock operation goes after an ASKING */
	bool asking_refused; /* cluster: an ASKING met NOPERM (logged once) */
	backend_wake_fn *wake;
	backend_resync_fn *resync;
	void *watch_arg;
	char host[HOST_MAX + 1]; /* where store_move() pointed the connections */
	char label[HOST_MAX + 16];
};

static struct op *op_new(struct store *s, enum op_kind kind, size_t bytes);

/* ---- a channel's FIFO of sent commands and the command timeout ---- */

static void list_append(struct op *sentinel, struct op *op)
{
	op->prev = sentinel->prev;
	op->next = sentinel;
	sentinel->prev->next = op;
	sentinel->prev = op;
}

static void pending_push(struct chan *ch, struct op *op)
{
	struct store *s = ch->s;

	op->sent_ms = loop_now_ms(s->loop);
	list_append(&ch->pending, op);
	if (!loop_timer_armed(&ch->timer))
		loop_timer_start(s->loop, &ch->timer, op->sent_ms + s->cfg.timeout_ms);
}

static void pending_remove(struct op *op)
{
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->prev = op->next = op;
}

static void finish_op(struct op *op, const redisReply *r);

/* Fails every command parked on ch (the connection being made did not come up). */
static void fail_parked(struct chan *ch)
{
	while (ch->parked.next != &ch->parked) {
		struct op *op = ch->parked.next;
		pending_remove(op);
		finish_op(op, NULL);
	}
}

static void chan_timer_fired(void *arg)
{
	struct chan *ch = arg;
	struct store *s = ch->s;
	struct op *oldest = ch->pending.next;
	uint64_t now = loop_now_ms(s->loop);

	if (oldest == &ch->pending)
		return;
	if (oldest->sent_ms + s->cfg.timeout_ms <= now) {
		conn_drop(&ch->conn, "command timed out");
		return;
	}
	loop_timer_start(s->loop, &ch->timer, oldest->sent_ms + s->cfg.timeout_ms);
}

/* ---- data that dlockd did not write ---- */

/* Counts n occurrences into w. True if a warning is due now (the caller logs
 * w->held and zeroes it). */
static bool warn_due(struct store *s, struct warn_limit *w, uint64_t n)
{
	uint64_t now = loop_now_ms(s->loop);

	w->held += n;
	if (now < w->next_ms)
		return false;
	w->next_ms = now + WARN_EVERY_MS;
	return true;
}

/* A list page skipped keys that are not dlockd locks. */
static void note_skipped(struct store *s, const struct replies_skipped *sk)
{
	if (sk->count == 0)
		return;
	metrics_add(METRIC_LIST_SKIPPED_KEYS, sk->count);
	if (!warn_due(s, &s->skip_warn, sk->count))
		return;
	log_msg(LOG_WARN,
	        "redis %s: lists skipped %llu key(s) under the prefix that are not dlockd locks (another Redis type, "
	        "missing or malformed fields, no expiry, or not a lock name), e.g. '%s'; dlockd leaves them alone",
	        s->cfg.label, (unsigned long long)s->skip_warn.held, sk->first);
	s->skip_warn.held = 0;
}

/* A script found data under `name` that dlockd did not write (outcome o,
 * what is wrong in why). */
static void note_bad_data(struct store *s, const char *name, enum lock_outcome o, const char *why)
{
	metrics_inc(o == LOCK_FENCE_EXHAUSTED ? METRIC_FENCE_EXHAUSTED : METRIC_INVALID_LOCK_DATA);
	if (!warn_due(s, &s->data_warn, 1))
		return;
	if (o == LOCK_FENCE_EXHAUSTED)
		log_msg(LOG_WARN,
		        "redis %s: lock '%s': the fence counter is at or above 2^53 - 1, which dlockd cannot have "
		        "written; acquires fail until it expires or is deleted (%llu such answer(s) since the previous "
		        "warning of this kind)",
		        s->cfg.label, name, (unsigned long long)s->data_warn.held);
	else
		log_msg(LOG_WARN,
		        "redis %s: lock '%s': %s; dlockd leaves it alone: delete the key to use the name (%llu such "
		        "answer(s) since the previous warning of this kind)",
		        s->cfg.label, name, why, (unsigned long long)s->data_warn.held);
	s->data_warn.held = 0;
}

static void finish_list(struct op *op, const redisReply *r)
{
	struct list_reply out = {.outcome = LOCK_UNAVAILABLE};
	struct replies_skipped skipped;

	if (r)
		out.outcome = replies_list(op->s->cfg.keys, r, &out, &skipped);
	if (out.outcome == LOCK_BACKEND_ERROR)
		metrics_inc(METRIC_REDIS_ERRORS);
	else if (r)
		note_skipped(op->s, &skipped);
	op->cb.list(op->arg, &out);
	free(out.locks);
}

/* Records what `CONFIG GET maxmemory-policy` said: any policy but noeviction
 * may evict a held lock (lock keys carry TTLs). */
static void note_policy(struct store *s, const redisReply *r)
{
	bool was_unsafe = s->warning[0] != '\0';
	const char *policy;

	if (!r)
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
		log_msg(LOG_WARN,
		        "redis %s: could not read maxmemory-policy (%s); make sure it is noeviction, or held locks can "
		        "be evicted",
		        s->cfg.label, r->type == REDIS_REPLY_ERROR ? r->str : "CONFIG GET is not allowed");
		return;
	}
	policy = r->element[1]->str;
	if (strcmp(policy, "noeviction") == 0) {
		s->warning[0] = '\0';
		if (was_unsafe)
			metrics_eviction_unsafe(-1);
		return;
	}
	snprintf(s->warning, sizeof s->warning,
	         "Redis maxmemory-policy is %.40s: held locks can be evicted; set noeviction", policy);
	if (!was_unsafe) {
		metrics_eviction_unsafe(1);
		log_msg(LOG_WARN, "redis %s: %s", s->cfg.label, s->warning);
	}
}

/* How a lock operation's reply reads (replies.h). */
static enum reply_shape shape_of(enum op_kind kind)
{
	switch (kind) {
	case OP_ACQUIRE:
		return REPLY_ACQUIRE;
	case OP_RENEW:
		return REPLY_RENEW;
	case OP_RELEASE:
		return REPLY_RELEASE;
	default:
		return REPLY_INSPECT;
	}
}

static void hold(struct op *op, const struct lock_reply *out);

/* Words that start a cluster's refusal of a command before it ran. */
static const char *const CLUSTER_REFUSALS[] = {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"};

static bool is_cluster_refusal(const char *s)
{
	for (size_t i = 0; i < sizeof CLUSTER_REFUSALS / sizeof CLUSTER_REFUSALS[0]; i++)
		if (strncmp(s, CLUSTER_REFUSALS[i], strlen(CLUSTER_REFUSALS[i])) == 0)
			return true;
	return false;
}

static bool cluster_refusal(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && is_cluster_refusal(r->str);
}

bool store_cluster_error(const struct lock_reply *r)
{
	return r->outcome == LOCK_UNAVAILABLE && is_cluster_refusal(r->detail);
}

static void finish_op(struct op *op, const redisReply *r)
{
	switch (op->kind) {
	case OP_LIST:
		finish_list(op, r);
		break;
	case OP_PING:
		if (!r)
			op->cb.ping(op->arg, false);
		else
			op->cb.ping(op->arg, r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0);
		break;
	case OP_FENCE_FLOOR:
		op->cb.confirm(op->arg, r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
		break;
	case OP_POLICY:
		note_policy(op->s, r);
		break;
	case OP_LEAVE:
		if (r && op->s->cfg.cluster_node && cluster_refusal(r))
			break; /* moved: the entry ends with its liveness window */
		if (r && r->type == REDIS_REPLY_ERROR) {
			char why[BACKEND_DETAIL_MAX + 1];
			enum lock_outcome o = replies_error(r, why, sizeof why);
			if (o != LOCK_BACKEND_ERROR) {
				note_bad_data(op->s, op->name, o, why);
				break;
			}
			metrics_inc(METRIC_REDIS_ERRORS);
			log_msg(LOG_ERROR, "redis %s: %s", op->s->cfg.label, r->str);
		}
		break;
	default: {
		struct lock_reply out;
		memset(&out, 0, sizeof out);
		memcpy(out.view.name, op->name, sizeof out.view.name);
		bool behind = false;
		if (!r) {
			out.outcome = LOCK_UNAVAILABLE;
		} else if (op->s->cfg.cluster_node && cluster_refusal(r)) {
			out.outcome = LOCK_UNAVAILABLE; /* the caller follows it (cluster.c) */
			snprintf(out.detail, sizeof out.detail, "%s", r->str);
		} else
			replies_lock(shape_of(op->kind), r, op->token, op->retoken, &out, &behind);
		if (behind)
			metrics_inc(METRIC_FENCE_CLOCK_BEHIND);
		if (out.outcome == LOCK_INVALID_DATA || out.outcome == LOCK_FENCE_EXHAUSTED)
			note_bad_data(op->s, op->name, out.outcome, out.detail);
		if (out.outcome == LOCK_BACKEND_ERROR) {
			metrics_inc(METRIC_REDIS_ERRORS);
			log_msg(LOG_ERROR, "redis %s: unexpected reply to a lock script (type %d%s%s)",
			        op->s->cfg.label, r->type, r->type == REDIS_REPLY_ERROR ? ": " : "",
			        r->type == REDIS_REPLY_ERROR ? r->str : "");
		}
		if (op->batched && acks_waits_for(out.outcome))
			hold(op, &out);
		else
			op->cb.lock(op->arg, &out);
		explicit_bzero(out.view.token, sizeof out.view.token);
		break;
	}
	}
	explicit_bzero(op->token, sizeof op->token);
	explicit_bzero(op->retoken, sizeof op->retoken);
	free(op);
}

static int send_op(struct op *op);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct op *op = privdata;
	struct store *s = op->s;
	struct chan *ch = op->ch;
	redisReply *r = reply;

	(void)ac;
	pending_remove(op);
	if (r && r->type == REDIS_REPLY_ERROR && op->evalsha && strncmp(r->str, "NOSCRIPT", 8) == 0 && ch->conn.ac) {
		/* The script cache was flushed: send the script itself this once. */
		op->evalsha = false;
		op->argv[0] = "EVAL";
		op->argvlen[0] = 4;
		op->argv[1] = SCRIPTS[op->script];
		op->argvlen[1] = strlen(SCRIPTS[op->script]);
		if (send_op(op) == 0)
			return;
		r = NULL;
	}
	finish_op(op, r);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "READONLY", 8) == 0 && s->cmd.conn.ac == ac)
		conn_drop(&s->cmd.conn, "the node answers as a replica"); /* its run changed: see note_run */
}

/* The answer to an ASKING (cluster): refused by the Redis user's ACL rule,
 * the redirected script cannot run (it gets ASK again, and its call 503):
 * said once as an error. */
static void on_asking_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store *s = privdata;
	const redisReply *r = reply;

	(void)ac;
	if (r && r->type == REDIS_REPLY_ERROR && acl_refused(r->str) && !s->asking_refused) {
		s->asking_refused = true;
		log_msg(
		    LOG_ERROR,
		    "redis %s: the Redis user may not send ASKING (%s): calls on slots being migrated fail until its "
		    "ACL rule has +asking (docs/redis-acl.md)",
		    s->cfg.label, r->str);
	}
}

/* Queues op on its channel's connection. Returns 0, or -1 (op untouched, not queued). */
static int send_op(struct op *op)
{
	struct chan *ch = op->ch;

	if (op->run_arg) {
		op->argv[op->run_arg] = op->s->run;
		op->argvlen[op->run_arg] = strlen(op->s->run);
	}
	if (!ch->conn.ac)
		return -1;
	if (op->asking) {
		/* ASKING holds for the next command on the connection: the script */
		const char *argv[] = {"ASKING"};
		size_t lens[] = {6};
		if (redisAsyncCommandArgv(ch->conn.ac, on_asking_reply, op->s, 1, argv, lens) != REDIS_OK)
			return -1;
	}
	if (redisAsyncCommandArgv(ch->conn.ac, on_reply, op, op->argc, op->argv, op->argvlen) != REDIS_OK)
		return -1;
	pending_push(ch, op);
	if (op->batched) {
		/* The WAIT goes out after this turn's writes, or when the one out returns. */
		acks_sent(&ch->acks, op->sent_ms);
		if (!ch->acks.out && !loop_timer_armed(&ch->ack_timer))
			loop_timer_start(op->s->loop, &ch->ack_timer, op->sent_ms);
	}
	return 0;
}

/* ---- replica acknowledgements (--redis-wait-replicas; see acks.h) ---- */

static struct op *build_lock_op(struct store *s, enum op_kind kind, const struct lock_request *req, backend_lock_fn *cb,
                                void *arg);

/* Answers h's request LOCK_UNCONFIRMED (why: how many replicas acknowledged;
 * lease_kept: see lock_reply) and frees h. */
static void answer_unconfirmed(struct acks_held *h, const char *why, bool lease_kept)
{
	struct lock_reply u;

	memset(&u, 0, sizeof u);
	u.outcome = LOCK_UNCONFIRMED;
	u.lease_kept = lease_kept;
	memcpy(u.view.name, h->reply.view.name, sizeof u.view.name);
	snprintf(u.detail, sizeof u.detail, "%s", why);
	h->cb(h->arg, &u);
	acks_held_free(h);
}

/* What the release of an unacknowledged grant came to (name: the lock's). */
static void note_given_back(struct store *s, const char *name, const struct lock_reply *reply)
{
	if (reply->outcome == LOCK_RELEASED)
		metrics_inc(METRIC_UNCONFIRMED_GRANTS);
	else if (reply->outcome != LOCK_NOT_HELD) /* not held: its lease ended meanwhile */
		log_msg(LOG_WARN,
		        "redis %s: lock '%s': the release of a grant the replicas did not acknowledge failed (%s); "
		        "the lock ends with its lease",
		        s->cfg.label, name, lock_outcome_str(reply->outcome));
}

/* The release of an unacknowledged grant answered: now its request is told. */
static void on_given_back(void *arg, const struct lock_reply *reply)
{
	struct acks_held *h = arg;
	char why[BACKEND_DETAIL_MAX + 1];

	note_given_back(h->owner, h->reply.view.name, reply);
	snprintf(why, sizeof why, "%s", h->reply.detail);
	answer_unconfirmed(h, why, false);
}

/* A release that waited for the connection to come back answered. */
static void on_orphan_released(void *arg, const struct lock_reply *reply)
{
	note_given_back(arg, reply->view.name, reply);
}

/* Gives back the grant held in h, which the replicas did not acknowledge, by
 * the release script under the grant's token, then answers the request. When
 * the connection is gone, the release waits for it to come back (ch->orphans)
 * and the request is answered at once. */
static void give_back(struct chan *ch, struct acks_held *h, const char *why)
{
	struct store *s = ch->s;
	struct lock_request rel = {.name = h->reply.view.name, .token = h->reply.view.token};
	struct op *op = build_lock_op(s, OP_RELEASE, &rel, on_given_back, h);

	if (!op) {
		log_msg(LOG_ERROR,
		        "redis %s: lock '%s': no memory to release a grant the replicas did not acknowledge; "
		        "it ends with its lease",
		        s->cfg.label, h->reply.view.name);
		answer_unconfirmed(h, why, false);
		return;
	}
	op->batched = false; /* its answer must not wait for another WAIT */
	op->ch = ch;
	snprintf(h->reply.detail, sizeof h->reply.detail, "%s", why);
	h->owner = s;
	if (ch->conn.ac && ch->conn.state == CONN_READY && send_op(op) == 0)
		return;
	op->cb.lock = on_orphan_released;
	op->arg = s;
	list_append(&ch->orphans, op);
	answer_unconfirmed(h, why, false);
}

/* The WAIT out on ch came back with `acked` acknowledgements (-1: it failed,
 * err: Redis's error or NULL when it was lost with the connection): every
 * answer held is given, or, short of the replicas asked for, a grant is
 * given back and answered LOCK_UNCONFIRMED, a renewal or re-acquire answered
 * LOCK_UNCONFIRMED (its lease stands), and a release answered as done (it is
 * done on the master; losing it in a failover delays the next holder until
 * the lease ends, never grants twice). */
static void wait_ended(struct chan *ch, long long acked, const char *err)
{
	struct store *s = ch->s;
	struct acks_held *h = acks_wait_end(&ch->acks), *next;
	bool ok = acked >= (long long)s->cfg.wait_replicas;
	char why[BACKEND_DETAIL_MAX + 1] = "";
	unsigned n = 0;

	if (!ok) {
		if (acked >= 0)
			snprintf(why, sizeof why,
			         "%lld of the %u Redis replica(s) asked for acknowledged the write within %llu ms",
			         acked, s->cfg.wait_replicas, (unsigned long long)ch->wait_timeout_ms);
		else if (err)
			snprintf(why, sizeof why, "Redis refused WAIT (%.60s)", err);
		else
			snprintf(why, sizeof why,
			         "the Redis connection was lost before the replicas acknowledged the write");
	}
	for (; h; h = next) {
		next = h->next;
		h->next = NULL;
		n++;
		metrics_inc(METRIC_REPLICA_WAITED);
		if (ok) {
			h->cb(h->arg, &h->reply);
			acks_held_free(h);
		} else if (h->reply.outcome == LOCK_GRANTED) {
			give_back(ch, h, why);
		} else if (h->reply.outcome == LOCK_RELEASED) {
			metrics_inc(METRIC_UNCONFIRMED_RELEASES);
			h->cb(h->arg, &h->reply);
			acks_held_free(h);
		} else {
			metrics_inc(METRIC_UNCONFIRMED_RENEWALS);
			answer_unconfirmed(h, why, true);
		}
	}
	if (!ok && (acked >= 0 || err)) {
		metrics_inc(METRIC_REPLICA_WAITS_SHORT);
		if (warn_due(s, &s->ack_warn, 1)) {
			log_msg(
			    LOG_WARN,
			    "redis %s: %s (%u answer(s) of this batch; %llu such WAIT(s) since the previous warning): "
			    "grants were released and answered 503",
			    s->cfg.label, why, n, (unsigned long long)s->ack_warn.held);
			s->ack_warn.held = 0;
		}
	} else if (!ok) {
		metrics_inc(METRIC_REPLICA_WAITS_SHORT);
	}
}

static void on_wait_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct chan *ch = privdata;
	redisReply *r = reply;

	(void)ac;
	loop_timer_stop(ch->s->loop, &ch->ack_timer);
	if (r && r->type == REDIS_REPLY_ERROR)
		metrics_inc(METRIC_REDIS_ERRORS);
	wait_ended(ch, r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1,
	           r && r->type == REDIS_REPLY_ERROR ? r->str
	           : r                               ? "an answer that is not a number"
	                                             : NULL);
	if (acks_due(&ch->acks) && ch->conn.ac)
		loop_timer_start(ch->s->loop, &ch->ack_timer, loop_now_ms(ch->s->loop)); /* written meanwhile */
}

/* Sends the WAIT for ch's open batch (none is out). It is bounded by what
 * remains of the command timeout for the batch's oldest write; Redis answers
 * by then, and if it does not, ack_timer drops the connection. */
static void send_wait(struct chan *ch)
{
	struct store *s = ch->s;
	uint64_t now = loop_now_ms(s->loop);
	char n[16], t[24];
	const char *argv[3] = {"WAIT", n, t};
	size_t lens[3] = {4, 0, 0};

	if (!acks_due(&ch->acks) || !ch->conn.ac || ch->conn.state != CONN_READY)
		return;
	ch->wait_timeout_ms = acks_wait_timeout(&ch->acks, now, s->cfg.timeout_ms);
	lens[1] = (size_t)snprintf(n, sizeof n, "%u", s->cfg.wait_replicas);
	lens[2] = (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)ch->wait_timeout_ms);
	if (redisAsyncCommandArgv(ch->conn.ac, on_wait_reply, ch, 3, argv, lens) != REDIS_OK) {
		/* out of memory, or the connection is going away (chan_down then answers what is held) */
		loop_timer_start(s->loop, &ch->ack_timer, now + 10);
		return;
	}
	acks_wait_sent(&ch->acks);
	ch->wait_sent_ms = now;
	metrics_inc(METRIC_REPLICA_WAITS);
	loop_timer_start(s->loop, &ch->ack_timer, now + s->cfg.timeout_ms);
}

static void ack_timer_fired(void *arg)
{
	struct chan *ch = arg;

	if (ch->acks.out)
		conn_drop(&ch->conn, "WAIT for the replicas' acknowledgement timed out");
	else
		send_wait(ch);
}

/* op's answer reports a write: it waits for the WAIT sent after it. */
static void hold(struct op *op, const struct lock_reply *out)
{
	if (acks_hold(&op->ch->acks, out, op->cb.lock, op->arg) == 0)
		return;
	/* No memory to hold it: a grant is given back, unacknowledged. */
	if (out->outcome == LOCK_GRANTED) {
		struct lock_request rel = {.name = out->view.name, .token = out->view.token};
		struct op *undo = build_lock_op(op->s, OP_RELEASE, &rel, on_orphan_released, op->s);
		if (undo) {
			undo->batched = false;
			undo->ch = op->ch;
			if (send_op(undo) < 0)
				free(undo);
		}
	}
	{
		struct lock_reply fail;
		memset(&fail, 0, sizeof fail);
		fail.outcome = LOCK_BACKEND_ERROR;
		memcpy(fail.view.name, out->view.name, sizeof fail.view.name);
		op->cb.lock(op->arg, &fail);
	}
}

/* ---- connection lifecycle ---- */

/* A channel's connection is set up: requests that came meanwhile go out. */
static void chan_ready(struct chan *ch)
{
	struct store *s = ch->s;

	conn_ready(&ch->conn);
	if (!ch->lists) {
		/* The attempts of waiters failed with the previous connection:
		 * every waiter tries again. */
		if (s->resync && s->was_connected)
			s->resync(s->watch_arg);
		s->was_connected = true;
	}
	while (ch->parked.next != &ch->parked) {
		struct op *op = ch->parked.next;
		pending_remove(op);
		if (send_op(op) < 0)
			finish_op(op, NULL);
	}
	/* Grants the replicas did not acknowledge when the last connection was lost. */
	while (ch->orphans.next != &ch->orphans) {
		struct op *op = ch->orphans.next;
		pending_remove(op);
		if (send_op(op) < 0)
			finish_op(op, NULL);
	}
}

/* The subscriber is up: wake-ups may have been missed meanwhile. */
static void sub_ready(struct store *s)
{
	conn_ready(&s->sub);
	if (s->resync)
		s->resync(s->watch_arg);
}

/* Notes which run of which Redis the connection reached, from INFO: the
 * process's run_id and its replication id, which change with every restart
 * and every promotion, the only ways its data can go back in time. A Redlock
 * node trusts fence counters written in its current run as they are (see
 * SCRIPT_ACQUIRE). A restart ends the connection; a promotion or demotion
 * while we stay connected does not, so a write refused with READONLY drops
 * the connection (see on_reply), and Sentinel closes client connections when
 * it changes roles. Without the ids, every grant consults the clock. */
static void note_run(struct store *s, const redisReply *r)
{
	const char *id = r->type == REDIS_REPLY_STRING ? strstr(r->str, "\nrun_id:") : NULL;
	const char *repl = r->type == REDIS_REPLY_STRING ? strstr(r->str, "\nmaster_replid:") : NULL;

	s->run[0] = '\0';
	if (!id || !repl || strspn(id + 8, "0123456789abcdef") < 10 || strspn(repl + 15, "0123456789abcdef") < 10) {
		log_msg(LOG_WARN,
		        "redis %s: INFO gave no run_id and master_replid (%s); every grant then consults the clock",
		        s->cfg.label, r->type == REDIS_REPLY_ERROR ? r->str : "not in the answer");
		return;
	}
	snprintf(s->run, sizeof s->run, "%.10s%.10s", id + 8, repl + 15);
}

/* The probe's answer (acl.h): the script commands Redis refused, in pairs. */
static void note_probe(struct store *s, const char *cmd, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR && s->cfg.cluster_node && is_cluster_refusal(r->str)) {
		/* Its keys' slot is another master's: that master's setup checks them. */
		s->probed = true;
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (acl_refused(r->str))
			acl_missing_add(&s->missing, cmd, r->str);
		else if (strncmp(r->str, "NOSCRIPT", 8) != 0) /* NOSCRIPT: SCRIPT LOAD was refused, and said so */
			log_msg(LOG_WARN, "redis %s: the permission probe failed (%s); its commands were not checked",
			        s->cfg.label, r->str);
		return;
	}
	s->probed = true;
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING && r->element[i + 1]->type == REDIS_REPLY_STRING)
			acl_missing_add(&s->missing, r->element[i]->str, r->element[i + 1]->str);
}

/* Redis refused the credentials, or wants some: what to tell the operator. */
static bool auth_refused(const char *err, const char *what, char *out, size_t cap)
{
	if (strncmp(err, "WRONGPASS", 9) == 0 || strncmp(err, "NOAUTH", 6) == 0 ||
	    strncmp(err, "ERR invalid password", 20) == 0 || strstr(err, "AUTH <password> called without")) {
		snprintf(out, cap,
		         "Redis refused the %s (%.160s); check the user and password of --redis / DLOCKD_REDIS "
		         "(redis://USER:PASSWORD@host, docs/redis-acl.md)",
		         what, err);
		return true;
	}
	return false;
}

/* The last setup reply came: the channel is ready, unless the command
 * channel's setup found permissions missing; then the store stays not ready
 * and says why at every attempt. */
static void setup_done(struct chan *ch)
{
	struct store *s = ch->s;

	if (!ch->lists && !s->probed)
		s->missing.unchecked = true;
	if (!ch->lists && acl_missing_any(&s->missing)) {
		acl_missing_describe(&s->missing, s->cfg.user, s->cfg.keys->prefix, s->channel, s->fault,
		                     sizeof s->fault);
		log_msg(LOG_ERROR, "redis %s: %s", s->cfg.label, s->fault);
		conn_drop(&ch->conn, "the Redis user lacks permissions dlockd needs");
		return;
	}
	if (!ch->lists)
		s->fault[0] = '\0';
	chan_ready(ch);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct op *op = privdata;
	struct store *s = op->s;
	struct chan *ch = op->ch;
	redisReply *r = reply;
	int script = op->script;
	char cmd[sizeof op->name];

	snprintf(cmd, sizeof cmd, "%s", op->name);
	pending_remove(op);
	free(op);
	if (!r || ac != ch->conn.ac)
		return; /* the connection went away; its loss is handled elsewhere */
	if (script == SETUP_INFO) {
		note_run(s, r); /* informative: an error here fails nothing */
	} else if (script == SETUP_ROLE && r->type != REDIS_REPLY_ERROR) {
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(r->element[0]->str, "master") != 0) {
			log_msg(LOG_WARN, "redis %s: ROLE says it is %s, not a master", s->cfg.label,
			        r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
			                r->element[0]->type == REDIS_REPLY_STRING
			            ? r->element[0]->str
			            : "something else");
			conn_drop(&ch->conn, "the node is not a master"); /* chan_down tells the owner */
			return;
		}
	} else if (script == SETUP_PROBE) {
		note_probe(s, cmd, r);
	} else if (r->type == REDIS_REPLY_ERROR && acl_refused(r->str)) {
		acl_missing_add(&s->missing, cmd, r->str); /* told with the rest at the end of the setup */
	} else if (r->type == REDIS_REPLY_ERROR) {
		char why[ACL_LINE_MAX];
		/* the command channel's verdict stands until its next setup; the list channel's is only logged */
		if (auth_refused(r->str, strcmp(cmd, "auth") == 0 ? "credentials" : "connection", why, sizeof why)) {
			log_msg(LOG_ERROR, "redis %s%s: %s", s->cfg.label, ch->conn.role, why);
			if (!ch->lists)
				snprintf(s->fault, sizeof s->fault, "%s", why);
			conn_drop(&ch->conn, "not authenticated");
			return;
		}
		snprintf(why, sizeof why, "setup failed: %s", r->str);
		conn_drop(&ch->conn, why);
		return;
	} else if (script >= 0 && r->type == REDIS_REPLY_STRING &&
	           (r->len != SHA1_HEX || memcmp(s->sha[script], r->str, SHA1_HEX) != 0)) {
		log_msg(LOG_WARN, "redis %s: SCRIPT LOAD answered another SHA-1 than ours", s->cfg.label);
	}
	if (--ch->setup_left == 0)
		setup_done(ch);
}

/* Sends a connection-setup command on ch; cmd names it for a refusal (lowercase,
 * as ACL rules spell it); for SCRIPT LOAD, script names the script whose SHA1
 * the reply carries (else -1, or SETUP_*). */
static int send_setup(struct chan *ch, int script, const char *cmd, int argc, const char **argv, const size_t *lens)
{
	struct op *op = calloc(1, sizeof *op);

	if (!op)
		return -1;
	snprintf(op->name, sizeof op->name, "%s", cmd);
	op->s = ch->s;
	op->ch = ch;
	op->kind = OP_SETUP;
	op->script = script;
	op->prev = op->next = op;
	if (redisAsyncCommandArgv(ch->conn.ac, on_setup_reply, op, argc, argv, lens) != REDIS_OK) {
		free(op);
		return -1;
	}
	pending_push(ch, op);
	ch->setup_left++;
	return 0;
}

/* If err is Redis refusing the subscriber a permission or the credentials,
 * notes it (the store is not ready until the subscriber subscribes), logs
 * it, and returns true. */
static bool sub_fault_set(struct store *s, const char *err)
{
	if (acl_refused(err)) {
		struct acl_missing m;
		acl_missing_init(&m);
		acl_missing_add(&m, "subscribe", err);
		acl_missing_describe(&m, s->cfg.user, s->cfg.keys->prefix, s->channel, s->sub_fault,
		                     sizeof s->sub_fault);
	} else if (!auth_refused(err, "credentials", s->sub_fault, sizeof s->sub_fault)) {
		return false;
	}
	log_msg(LOG_ERROR, "redis %s (wake-ups): %s", s->cfg.label, s->sub_fault);
	return true;
}

/* An error reply on the subscriber: it reconnects after the backoff. */
static void sub_refused(struct store *s, const char *err)
{
	char why[ACL_LINE_MAX];

	if (sub_fault_set(s, err)) {
		conn_drop(&s->sub, "not subscribed");
		return;
	}
	snprintf(why, sizeof why, "subscribe failed: %s", err);
	conn_drop(&s->sub, why);
}

/* Subscriber replies: the subscription confirmation, then one message per
 * wake-up. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store *s = privdata;
	redisReply *r = reply;

	if (!r || ac != s->sub.ac)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		sub_refused(s, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		s->sub_fault[0] = '\0';
		sub_ready(s);
	} else if (strcmp(r->element[0]->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING && s->wake) {
		s->wake(s->watch_arg, r->element[2]->str); /* the watcher tells its own waiters */
	}
}

/* The subscriber's AUTH answer. */
static void on_sub_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store *s = privdata;
	redisReply *r = reply;

	if (r && ac == s->sub.ac && r->type == REDIS_REPLY_ERROR)
		sub_refused(s, r->str);
}

/* AUTH's arguments: AUTH user password for an ACL user, AUTH password alone
 * without one. Returns argc, 0 for no AUTH. */
static int auth_args(const struct store *s, const char *argv[3], size_t lens[3])
{
	const char *pw = s->cfg.password ? s->cfg.password : "";
	int n = 0;

	if (!s->cfg.user && !s->cfg.password)
		return 0;
	argv[n] = "AUTH";
	lens[n++] = 4;
	if (s->cfg.user) {
		argv[n] = s->cfg.user;
		lens[n++] = strlen(s->cfg.user);
	}
	argv[n] = pw;
	lens[n++] = strlen(pw);
	return n;
}

/* Queues ch's setup: AUTH, SELECT, the scripts; on the command channel also
 * the permission checks (PING, the ACL probe by EVALSHA and by EVAL), the INFO
 * that names the run (Redlock) and the eviction policy check. */
static int setup_commands(struct chan *ch)
{
	struct store *s = ch->s;
	const char *auth[3];
	size_t auth_lens[3];
	int auth_argc = auth_args(s, auth, auth_lens);
	char db[16];

	if (auth_argc && send_setup(ch, -1, "auth", auth_argc, auth, auth_lens) < 0)
		return -1;
	if (s->cfg.db > 0) {
		const char *argv[] = {"SELECT", db};
		size_t lens[] = {6, (size_t)snprintf(db, sizeof db, "%d", s->cfg.db)};
		if (send_setup(ch, -1, "select", 2, argv, lens) < 0)
			return -1;
	}
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		const char *argv[] = {"SCRIPT", "LOAD", SCRIPTS[i]};
		size_t lens[] = {6, 4, strlen(SCRIPTS[i])};
		if (send_setup(ch, i, "script|load", 3, argv, lens) < 0)
			return -1;
	}
	if (ch->lists)
		return 0;
	acl_missing_init(&s->missing);
	s->probed = false;
	{
		const char *argv[] = {"PING"};
		size_t lens[] = {4};
		if (send_setup(ch, -1, "ping", 1, argv, lens) < 0)
			return -1;
	}
	{
		/* the probe by EVALSHA (loaded first) and by EVAL: each command is checked */
		const char *load[] = {"SCRIPT", "LOAD", ACL_PROBE};
		size_t load_lens[] = {6, 4, strlen(ACL_PROBE)};
		const char *argv[] = {"EVALSHA",        s->probe_sha,     "4",       s->probe_keys[0], s->probe_keys[1],
		                      s->probe_keys[2], s->probe_keys[3], s->channel};
		size_t lens[8] = {7, SHA1_HEX, 1};
		for (int i = 3; i < 8; i++)
			lens[i] = strlen(argv[i]);
		if (send_setup(ch, -1, "script|load", 3, load, load_lens) < 0 ||
		    send_setup(ch, SETUP_PROBE, "evalsha", 8, argv, lens) < 0)
			return -1;
		argv[0] = "EVAL";
		argv[1] = ACL_PROBE;
		lens[0] = 4;
		lens[1] = strlen(ACL_PROBE);
		if (send_setup(ch, SETUP_PROBE, "eval", 8, argv, lens) < 0)
			return -1;
	}
	if (s->cfg.wait_replicas) {
		/* WAIT 0 0 answers at once: it checks only that the user may send WAIT. */
		const char *argv[] = {"WAIT", "0", "0"};
		size_t lens[] = {4, 1, 1};
		if (send_setup(ch, -1, "wait", 3, argv, lens) < 0)
			return -1;
	}
	if (s->cfg.master_only) {
		const char *argv[] = {"ROLE"};
		size_t lens[] = {4};
		if (send_setup(ch, SETUP_ROLE, "role", 1, argv, lens) < 0)
			return -1;
	}
	if (s->cfg.quorum_node) {
		const char *argv[] = {"INFO"};
		size_t lens[] = {4};
		if (send_setup(ch, SETUP_INFO, "info", 1, argv, lens) < 0)
			return -1;
	}
	{
		/* Informative only: an error (CONFIG refused) is a warning, not a failed setup. */
		struct op *op = op_new(s, OP_POLICY, 0);
		if (!op)
			return -1;
		op->argv[0] = "CONFIG";
		op->argv[1] = "GET";
		op->argv[2] = "maxmemory-policy";
		op->argc = 3;
		op->ch = ch;
		for (int i = 0; i < op->argc; i++)
			op->argvlen[i] = strlen(op->argv[i]);
		if (send_op(op) < 0) {
			free(op);
			return -1;
		}
	}
	return 0;
}

static int setup_wakeups(struct store *s)
{
	redisAsyncContext *ac = s->sub.ac;
	const char *auth[3];
	size_t auth_lens[3];
	int auth_argc = auth_args(s, auth, auth_lens);

	if (auth_argc && redisAsyncCommandArgv(ac, on_sub_auth, s, auth_argc, auth, auth_lens) != REDIS_OK)
		return -1;
	{
		const char *argv[] = {"SUBSCRIBE", s->channel};
		size_t lens[] = {9, strlen(s->channel)};
		if (redisAsyncCommandArgv(ac, on_sub_reply, s, 2, argv, lens) != REDIS_OK)
			return -1;
	}
	return 0;
}

static int chan_setup(void *owner, struct conn *c)
{
	struct chan *ch = owner;

	(void)c;
	ch->setup_left = 0;
	return setup_commands(ch);
}

static void chan_down(void *owner, struct conn *c, const char *why)
{
	struct chan *ch = owner;

	(void)c;
	(void)why;
	fail_parked(ch);
	/* The batch's writes failed with the connection; answers held for a WAIT
	 * that never went out are told now (one that went out was failed). */
	loop_timer_stop(ch->s->loop, &ch->ack_timer);
	acks_reset(&ch->acks);
	if (ch->acks.head)
		wait_ended(ch, -1, NULL);
	if (!ch->lists && ch->s->cfg.lost)
		ch->s->cfg.lost(ch->s->cfg.lost_arg);
}

static int sub_setup(void *owner, struct conn *c)
{
	(void)c;
	return setup_wakeups(owner);
}

/* A refused SUBSCRIBE reaches us here: hiredis ends the connection with it. */
static void sub_down(void *owner, struct conn *c, const char *why)
{
	struct store *s = owner;

	(void)c;
	if (why && acl_refused(why))
		sub_fault_set(s, why);
}

static const struct conn_hooks CHAN_HOOKS = {.setup = chan_setup, .down = chan_down};
static const struct conn_hooks SUB_HOOKS = {.setup = sub_setup, .down = sub_down};

/* ---- the backend operations ---- */

static struct op *op_new(struct store *s, enum op_kind kind, size_t bytes)
{
	struct op *op = calloc(1, sizeof *op + bytes);
	if (!op)
		return NULL;
	op->s = s;
	op->kind = kind;
	op->script = -1;
	op->prev = op->next = op;
	return op;
}

/* Appends an argument, copying its bytes into op->buf at *used. */
static void op_arg(struct op *op, size_t *used, const char *p, size_t len)
{
	char *dst = op->buf + *used;

	if (op->argc == MAX_ARGS) {
		log_msg(LOG_ERROR, "store: too many arguments for one command (a bug)");
		abort();
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
	*used += len + 1;
	op->argv[op->argc] = dst;
	op->argvlen[op->argc] = len;
	op->argc++;
}

static void op_evalsha(struct store *s, struct op *op, int script, const char *numkeys)
{
	op->script = script;
	op->evalsha = true;
	op->argv[0] = "EVALSHA";
	op->argvlen[0] = 7;
	op->argv[1] = s->sha[script];
	op->argvlen[1] = 40;
	op->argv[2] = numkeys;
	op->argvlen[2] = strlen(numkeys);
	op->argc = 3;
}

/* Sends op on ch now, or parks it while ch's connection is being made and
 * set up (the list channel's is made at its first use).
 * Returns BACKEND_STARTED (the callback will run), or BACKEND_UNAVAILABLE
 * with op freed when the connection is down or the store has a fault. */
static enum backend_start start(struct chan *ch, struct op *op)
{
	op->ch = ch;
	/* Not while the store has a fault, though a channel may be up (lists, the command channel). */
	if (!ch->s->fault[0] && !ch->s->sub_fault[0]) {
		if (ch->lists && ch->conn.state == CONN_DOWN)
			conn_start(&ch->conn);
		if (ch->conn.state == CONN_CONNECTING || ch->conn.state == CONN_SETUP) {
			list_append(&ch->parked, op);
			return BACKEND_STARTED;
		}
		if (ch->conn.state == CONN_READY && send_op(op) == 0)
			return BACKEND_STARTED;
	}
	explicit_bzero(op->token, sizeof op->token);
	explicit_bzero(op->retoken, sizeof op->retoken);
	free(op);
	return BACKEND_UNAVAILABLE;
}

/* The two forms in which a script is given a token: its "h:" SHA-256 hash
 * (what new locks store), and its SHA-1 hex (to match a lock of dlockd 0.1,
 * which stored the token itself). Both empty for no token. */
struct token_forms {
	char hash[LOCK_TOKEN_HASH_LEN + 1];
	char sha1[SHA1_HEX + 1];
};

static void token_forms(const char *token, struct token_forms *f)
{
	uint8_t h[DIGEST_SHA1_LEN];

	f->hash[0] = f->sha1[0] = '\0';
	if (!token || !token[0])
		return;
	lock_token_hash(token, f->hash);
	digest_sha1(token, strlen(token), h);
	digest_hex(h, sizeof h, f->sha1);
}

/* A new token's hash only: it is stored, never matched against a 0.1 lock. */
static void new_token_hash(const char *token, struct token_forms *f)
{
	f->sha1[0] = '\0';
	lock_token_hash(token, f->hash);
}

static void token_args(struct op *op, size_t *used, const struct token_forms *f)
{
	op_arg(op, used, f->hash, strlen(f->hash));
	op_arg(op, used, f->sha1, strlen(f->sha1));
}

/* The keys of a lock and its line, in the order the scripts declare them. */
static void line_keys(struct op *op, size_t *used, const char *lock, size_t ll, const char *queue, size_t ql,
                      const char *waitdl, size_t dl)
{
	op_arg(op, used, lock, ll);
	op_arg(op, used, queue, ql);
	op_arg(op, used, waitdl, dl);
}

/* Builds the command of a lock operation (not sent yet), or returns NULL when
 * out of memory. */
static struct op *build_lock_op(struct store *s, enum op_kind kind, const struct lock_request *req, backend_lock_fn *cb,
                                void *arg)
{
	char lock_key[KEYS_KEY_MAX + 1], fence_key[KEYS_KEY_MAX + 1], queue_key[KEYS_KEY_MAX + 1];
	char dl_key[KEYS_KEY_MAX + 1], ttl[24] = "", wait[24] = "0";
	size_t lk = keys_make(s->cfg.keys, KEYS_LOCK, req->name, lock_key);
	size_t fk = keys_make(s->cfg.keys, KEYS_FENCE, req->name, fence_key);
	size_t qk = keys_make(s->cfg.keys, KEYS_QUEUE, req->name, queue_key);
	size_t dk = keys_make(s->cfg.keys, KEYS_WAITDL, req->name, dl_key);
	const char *owner = req->owner ? req->owner : "";
	char waiter[128] = "";
	size_t ol = strlen(owner), wl = 0, used = 0;
	struct token_forms tok, re;
	struct op *op;

	if (req->ttl_ms > 0)
		snprintf(ttl, sizeof ttl, "%lld", (long long)req->ttl_ms);
	if (req->waiter) {
		snprintf(wait, sizeof wait, "%lld", (long long)req->wait_left_ms);
		wl = (size_t)snprintf(waiter, sizeof waiter, "%s", req->waiter);
	}
	op = op_new(s, kind, lk + fk + qk + dk + ol + wl + 3 * sizeof tok + 5 * sizeof ttl + 2 * KEYS_KEY_MAX + 32);
	if (!op)
		return NULL;
	op->batched = s->cfg.wait_replicas > 0 && (kind == OP_ACQUIRE || kind == OP_RENEW || kind == OP_RELEASE);
	op->cb.lock = cb;
	op->arg = arg;
	snprintf(op->name, sizeof op->name, "%s", req->name);
	if (req->token)
		snprintf(op->token, sizeof op->token, "%s", req->token);
	if (req->reacquire_token)
		snprintf(op->retoken, sizeof op->retoken, "%s", req->reacquire_token);
	if (kind == OP_ACQUIRE)
		new_token_hash(req->token, &tok);
	else
		token_forms(req->token, &tok);
	token_forms(req->reacquire_token, &re);
	switch (kind) {
	case OP_ACQUIRE:
		op_evalsha(s, op, SCRIPT_ACQ, "4");
		op_arg(op, &used, lock_key, lk);
		op_arg(op, &used, fence_key, fk);
		op_arg(op, &used, queue_key, qk);
		op_arg(op, &used, dl_key, dk);
		op_arg(op, &used, tok.hash, strlen(tok.hash));
		op_arg(op, &used, ttl, strlen(ttl));
		op_arg(op, &used, req->owner ? "1" : "0", 1);
		op_arg(op, &used, owner, ol);
		token_args(op, &used, &re);
		op_arg(op, &used, waiter, wl);
		op_arg(op, &used, wait, strlen(wait));
		op_arg(op, &used, req->final ? "1" : "0", 1);
		op_arg(op, &used, s->channel, strlen(s->channel));
		op_arg(op, &used, s->retention, strlen(s->retention));
		op_arg(op, &used, s->liveness, strlen(s->liveness));
		op->run_arg = op->argc;
		op_arg(op, &used, "", 0);
		break;
	case OP_RENEW:
		op_evalsha(s, op, SCRIPT_REN, "1");
		op_arg(op, &used, lock_key, lk);
		token_args(op, &used, &tok);
		op_arg(op, &used, ttl, strlen(ttl));
		break;
	case OP_RELEASE:
		op_evalsha(s, op, SCRIPT_REL, "4");
		line_keys(op, &used, lock_key, lk, queue_key, qk, dl_key, dk);
		op_arg(op, &used, fence_key, fk);
		token_args(op, &used, &tok);
		op_arg(op, &used, s->channel, strlen(s->channel));
		op_arg(op, &used, s->retention, strlen(s->retention));
		break;
	case OP_LEAVE:
		op_evalsha(s, op, SCRIPT_LEV, "3");
		line_keys(op, &used, lock_key, lk, queue_key, qk, dl_key, dk);
		op_arg(op, &used, waiter, wl);
		op_arg(op, &used, s->channel, strlen(s->channel));
		break;
	default:
		op_evalsha(s, op, SCRIPT_INS, "1");
		op_arg(op, &used, lock_key, lk);
		break;
	}
	explicit_bzero(&tok, sizeof tok);
	explicit_bzero(&re, sizeof re);
	return op;
}

static enum backend_start lock_op(struct backend *b, enum op_kind kind, const struct lock_request *req,
                                  backend_lock_fn *cb, void *arg)
{
	struct store *s = (struct store *)b;
	bool asking = s->ask_next; /* this operation's (store_ask), whatever becomes of it */
	struct op *op;

	s->ask_next = false;
	op = build_lock_op(s, kind, req, cb, arg);
	if (!op)
		return BACKEND_NO_MEMORY;
	op->asking = asking;
	return start(kind == OP_INSPECT && req->listing ? &s->lst : &s->cmd, op);
}

static enum backend_start store_acquire(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
                                        void *arg)
{
	return lock_op(b, OP_ACQUIRE, req, cb, arg);
}

static enum backend_start store_renew(struct backend *b, const struct lock_request *req, backend_lock_fn *cb, void *arg)
{
	return lock_op(b, OP_RENEW, req, cb, arg);
}

static enum backend_start store_release(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
                                        void *arg)
{
	return lock_op(b, OP_RELEASE, req, cb, arg);
}

static enum backend_start store_inspect(struct backend *b, const struct lock_request *req, backend_lock_fn *cb,
                                        void *arg)
{
	return lock_op(b, OP_INSPECT, req, cb, arg);
}

static enum backend_start store_list(struct backend *b, const struct list_request *req, backend_list_fn *cb, void *arg)
{
	struct store *s = (struct store *)b;
	char pattern[2 * KEYS_KEY_MAX + 1], scan[24] = "0", after[LOCK_NAME_MAX + 1] = "";
	char after_key[KEYS_KEY_MAX + 1] = "", limit[16], count[16], head[KEYS_KEY_MAX + 1];
	size_t pl, hl = keys_lock_head(s->cfg.keys, head), used = 0;
	struct op *op;

	if (req->cursor && req->cursor[0] && !cursor_node_decode(req->cursor, scan, after))
		return BACKEND_BAD_CURSOR;
	if (after[0])
		keys_make(s->cfg.keys, KEYS_LOCK, after, after_key);
	pl = keys_lock_pattern(s->cfg.keys, req->prefix, pattern);
	snprintf(limit, sizeof limit, "%u", req->limit);
	snprintf(count, sizeof count, "%u", req->limit < 100 ? 100 : req->limit);
	op = op_new(s, OP_LIST, pl + strlen(scan) + strlen(after_key) + hl + 2 * sizeof limit + 8);
	if (!op)
		return BACKEND_NO_MEMORY;
	op->cb.list = cb;
	op->arg = arg;
	op_evalsha(s, op, SCRIPT_LST, "0");
	op_arg(op, &used, pattern, pl);
	op_arg(op, &used, scan, strlen(scan));
	op_arg(op, &used, after_key, strlen(after_key));
	op_arg(op, &used, limit, strlen(limit));
	op_arg(op, &used, count, strlen(count));
	op_arg(op, &used, head, hl);
	return start(&s->lst, op);
}

static enum backend_start store_ping(struct backend *b, backend_ping_fn *cb, void *arg)
{
	struct store *s = (struct store *)b;
	struct op *op = op_new(s, OP_PING, 0);

	if (!op)
		return BACKEND_NO_MEMORY;
	op->cb.ping = cb;
	op->arg = arg;
	op->argv[0] = "PING";
	op->argvlen[0] = 4;
	op->argc = 1;
	return start(&s->cmd, op);
}

static enum backend_start store_leave(struct backend *b, const char *name, const char *waiter)
{
	struct lock_request req = {.name = name, .waiter = waiter};
	return lock_op(b, OP_LEAVE, &req, NULL, NULL);
}

enum backend_start store_fence_floor(struct backend *b, const char *name, const char *token, int64_t fence,
                                     const char *adopt, store_confirm_fn *cb, void *arg)
{
	struct store *s = (struct store *)b;
	char lock_key[KEYS_KEY_MAX + 1], fence_key[KEYS_KEY_MAX + 1], f[24];
	size_t lk = keys_make(s->cfg.keys, KEYS_LOCK, name, lock_key);
	size_t fk = keys_make(s->cfg.keys, KEYS_FENCE, name, fence_key);
	size_t fl = (size_t)snprintf(f, sizeof f, "%lld", (long long)fence), used = 0;
	struct token_forms tok, adopted;
	struct op *op = op_new(s, OP_FENCE_FLOOR, lk + fk + 2 * sizeof tok + fl + sizeof s->retention + 8);

	if (!op)
		return BACKEND_NO_MEMORY;
	op->cb.confirm = cb;
	op->arg = arg;
	token_forms(token, &tok);
	token_forms(adopt, &adopted);
	op_evalsha(s, op, SCRIPT_FLR, "2");
	op_arg(op, &used, lock_key, lk);
	op_arg(op, &used, fence_key, fk);
	token_args(op, &used, &tok);
	op_arg(op, &used, f, fl);
	op_arg(op, &used, s->retention, strlen(s->retention));
	op_arg(op, &used, adopted.hash, strlen(adopted.hash));
	op->run_arg = op->argc;
	op_arg(op, &used, "", 0);
	explicit_bzero(&tok, sizeof tok);
	explicit_bzero(&adopted, sizeof adopted);
	return start(&s->cmd, op);
}

void store_move(struct backend *b, const char *host, int port)
{
	struct store *s = (struct store *)b;

	snprintf(s->host, sizeof s->host, "%s", host);
	snprintf(s->label, sizeof s->label, strchr(s->host, ':') ? "[%s]:%d" : "%s:%d", s->host, port);
	s->cfg.host = s->host;
	s->cfg.port = port;
	s->cfg.unix_path = NULL;
	conn_retarget(&s->cmd.conn, s->host, port);
	conn_retarget(&s->lst.conn, s->host, port);
	conn_retarget(&s->sub, s->host, port);
	conn_start(&s->cmd.conn);
	if (s->wake)
		conn_start(&s->sub);
}

static const char *store_fault(struct backend *b)
{
	struct store *s = (struct store *)b;
	return s->fault[0] ? s->fault : s->sub_fault[0] ? s->sub_fault : NULL;
}

/* A fault first: in a Redlock quorum that serves without this node, it is
 * what /readyz warns about. */
static const char *store_warning(struct backend *b)
{
	struct store *s = (struct store *)b;
	const char *fault = store_fault(b);
	return fault ? fault : s->warning[0] ? s->warning : NULL;
}

static void sub_init(struct store *s);

static void store_watch(struct backend *b, backend_wake_fn *wake, backend_resync_fn *resync, void *arg)
{
	struct store *s = (struct store *)b;

	s->wake = wake;
	s->resync = resync;
	s->watch_arg = arg;
	if (s->sub.closing)
		sub_init(s); /* after store_unwatch() */
	conn_start(&s->sub);
}

void store_ask(struct backend *b)
{
	((struct store *)b)->ask_next = true;
}

bool store_connected(struct backend *b)
{
	struct store *s = (struct store *)b;
	return s->cmd.conn.state == CONN_READY && !s->fault[0];
}

bool store_watching(struct backend *b)
{
	struct store *s = (struct store *)b;
	return s->sub.state == CONN_READY && !s->sub.closing;
}

void store_unwatch(struct backend *b)
{
	struct store *s = (struct store *)b;

	s->wake = NULL;
	s->resync = NULL;
	conn_close(&s->sub);
}

static void store_free(struct backend *b)
{
	struct store *s = (struct store *)b;

	if (!s)
		return;
	loop_timer_stop(s->loop, &s->cmd.timer);
	loop_timer_stop(s->loop, &s->lst.timer);
	loop_timer_stop(s->loop, &s->cmd.ack_timer);
	conn_close(&s->sub);
	conn_close(&s->lst.conn);
	conn_close(&s->cmd.conn);
	fail_parked(&s->lst);
	fail_parked(&s->cmd);
	if (s->cmd.acks.head)
		wait_ended(&s->cmd, -1, NULL); /* held for a WAIT that never went out */
	while (s->cmd.orphans.next != &s->cmd.orphans) {
		struct op *op = s->cmd.orphans.next;
		pending_remove(op);
		free(op);
	}
	if (s->warning[0])
		metrics_eviction_unsafe(-1);
	free(s);
}

static const struct backend_ops STORE_OPS = {
    .acquire = store_acquire,
    .renew = store_renew,
    .release = store_release,
    .inspect = store_inspect,
    .list = store_list,
    .ping = store_ping,
    .leave = store_leave,
    .warning = store_warning,
    .fault = store_fault,
    .watch = store_watch,
    .free = store_free,
};

/* Prepares channel ch of s (role: for logs); it does not connect yet. */
static void chan_init(struct store *s, struct chan *ch, const char *role, bool lists)
{
	const struct store_config *cfg = &s->cfg;

	ch->s = s;
	ch->lists = lists;
	ch->pending.prev = ch->pending.next = &ch->pending;
	ch->parked.prev = ch->parked.next = &ch->parked;
	ch->orphans.prev = ch->orphans.next = &ch->orphans;
	acks_init(&ch->acks);
	loop_timer_init(&ch->ack_timer, ack_timer_fired, ch);
	conn_init(&ch->conn, s->loop, cfg->host, cfg->port, cfg->unix_path, cfg->label, role, cfg->timeout_ms, false,
	          &CHAN_HOOKS, ch);
	loop_timer_init(&ch->timer, chan_timer_fired, ch);
}

/* Prepares the subscriber; it does not connect yet. The subscriber sends no
 * commands the FIFO's timeout watches: the connect timeout bounds its setup
 * too. */
static void sub_init(struct store *s)
{
	const struct store_config *cfg = &s->cfg;

	conn_init(&s->sub, s->loop, cfg->host, cfg->port, cfg->unix_path, cfg->label, " (wake-ups)", cfg->timeout_ms,
	          true, &SUB_HOOKS, s);
}

struct backend *store_new(struct loop *loop, const struct store_config *cfg)
{
	struct store *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->base.ops = &STORE_OPS;
	s->loop = loop;
	s->cfg = *cfg;
	snprintf(s->label, sizeof s->label, "%s", cfg->label);
	s->cfg.label = s->label; /* store_move() renames it */
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		uint8_t h[DIGEST_SHA1_LEN];
		digest_sha1(SCRIPTS[i], strlen(SCRIPTS[i]), h);
		digest_hex(h, sizeof h, s->sha[i]);
	}
	snprintf(s->retention, sizeof s->retention, "%lld", (long long)cfg->fence_retention_ms);
	snprintf(s->liveness, sizeof s->liveness, "%d", BACKEND_WAITER_LIVENESS_MS);
	keys_wake_channel(cfg->keys, s->channel);
	{
		uint8_t h[DIGEST_SHA1_LEN];
		const enum keys_type probe[4] = {KEYS_LOCK, KEYS_FENCE, KEYS_QUEUE, KEYS_WAITDL};
		digest_sha1(ACL_PROBE, strlen(ACL_PROBE), h);
		digest_hex(h, sizeof h, s->probe_sha);
		for (int i = 0; i < 4; i++)
			keys_make(cfg->keys, probe[i], ACL_PROBE_NAME, s->probe_keys[i]);
	}
	chan_init(s, &s->cmd, "", false);
	chan_init(s, &s->lst, " (lists)", true);
	sub_init(s);
	conn_start(&s->cmd.conn);
	return &s->base;
}
