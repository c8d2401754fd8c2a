/* conn: a Redis connection that keeps itself up. See conn.h. */
#include "redis/conn.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "redis/adapter.h"

enum { BACKOFF_MIN_MS = 50, BACKOFF_MAX_MS = 2000 };

static void connect_timer_fired(void *arg);
static void retry_timer_fired(void *arg);

void conn_init(struct conn *c, struct loop *loop, const char *host, int port, const char *unix_path, const char *label,
               const char *role, unsigned timeout_ms, bool setup_timed, const struct conn_hooks *hooks, void *owner)
{
	*c = (struct conn){
	    .loop = loop,
	    .host = host,
	    .port = port,
	    .unix_path = unix_path,
	    .label = label,
	    .role = role,
	    .timeout_ms = timeout_ms,
	    .setup_timed = setup_timed,
	    .backoff_ms = BACKOFF_MIN_MS,
	    .hooks = hooks,
	    .owner = owner,
	};
	loop_timer_init(&c->connect_timer, connect_timer_fired, c);
	loop_timer_init(&c->retry_timer, retry_timer_fired, c);
}

struct conn *conn_of(const redisAsyncContext *ac)
{
	struct conn *c = ac->data;
	return c && c->ac == ac ? c : NULL;
}

static void schedule_retry(struct conn *c, uint64_t delay_ms)
{
	if (!c->closing && !loop_timer_armed(&c->retry_timer))
		loop_timer_start(c->loop, &c->retry_timer, loop_now_ms(c->loop) + delay_ms);
}

/* The connection is gone (why: see conn_hooks): tell the owner, try again
 * after delay_ms. */
static void went_down(struct conn *c, uint64_t delay_ms, const char *why)
{
	c->ac = NULL;
	c->state = CONN_DOWN;
	c->was_ready = false;
	loop_timer_stop(c->loop, &c->connect_timer);
	c->hooks->down(c->owner, c, why);
	schedule_retry(c, delay_ms);
}

void conn_drop(struct conn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;

	if (!ac)
		return;
	metrics_inc(METRIC_REDIS_ERRORS);
	log_msg(LOG_WARN, "redis %s%s: %s; reconnecting", c->label, c->role, why);
	c->ac = NULL; /* on_disconnect() then finds no conn */
	redisAsyncFree(ac);
	went_down(c, c->backoff_ms, NULL);
}

void conn_ready(struct conn *c)
{
	loop_timer_stop(c->loop, &c->connect_timer);
	c->state = CONN_READY;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->addrs.n = 0; /* after a loss, look the name up again: its address may have moved */
	if (!c->was_ready)
		log_msg(LOG_INFO, "redis %s%s: connected", c->label, c->role);
	c->was_ready = true;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	struct conn *c = conn_of(cac);

	if (!c)
		return;
	loop_timer_stop(c->loop, &c->connect_timer);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		metrics_inc(METRIC_REDIS_ERRORS);
		bool more = c->next_addr < c->addrs.n;
		if (!more && (c->was_ready || c->backoff_ms == BACKOFF_MIN_MS))
			log_msg(LOG_WARN, "redis %s%s: connect failed: %s", c->label, c->role, cac->errstr);
		went_down(c, more ? 0 : c->backoff_ms, NULL); /* another address: try it now */
		return;
	}
	c->state = CONN_SETUP;
	if (c->setup_timed)
		loop_timer_start(c->loop, &c->connect_timer, loop_now_ms(c->loop) + c->timeout_ms);
	if (c->hooks->setup(c->owner, c) < 0)
		conn_drop(c, "out of memory during setup");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	struct conn *c = conn_of(cac);
	/* Lost during its setup: a failed attempt, retried after the backoff. */
	uint64_t delay = c && c->state == CONN_READY ? BACKOFF_MIN_MS : c ? c->backoff_ms : 0;

	(void)status;
	if (!c)
		return; /* we dropped it ourselves */
	metrics_inc(METRIC_REDIS_ERRORS);
	log_msg(LOG_WARN, "redis %s%s: connection lost: %s", c->label, c->role,
	        cac->errstr[0] ? cac->errstr : "closed");
	went_down(c, delay, cac->errstr[0] ? cac->errstr : NULL);
}

static void connect_timer_fired(void *arg)
{
	struct conn *c = arg;
	if (c->resolving) {
		resolve_cancel(c->resolving);
		c->resolving = NULL;
		metrics_inc(METRIC_REDIS_ERRORS);
		if (c->was_ready || c->backoff_ms == BACKOFF_MIN_MS)
			log_msg(LOG_WARN, "redis %s%s: looking up %s timed out", c->label, c->role, c->host);
		went_down(c, c->backoff_ms, NULL);
		return;
	}
	if (c->state == CONN_CONNECTING || (c->setup_timed && c->state == CONN_SETUP))
		conn_drop(c, "connect timed out");
}

static void retry_timer_fired(void *arg)
{
	struct conn *c = arg;
	if (c->next_addr >= c->addrs.n) /* a new round: the last one failed on every address */
		c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	conn_start(c);
}

static void connect_to(struct conn *c, const char *addr);

static void resolved(void *arg, const struct resolve_result *r)
{
	struct conn *c = arg;

	c->resolving = NULL;
	loop_timer_stop(c->loop, &c->connect_timer);
	if (r->err) {
		metrics_inc(METRIC_REDIS_ERRORS);
		if (c->was_ready || c->backoff_ms == BACKOFF_MIN_MS)
			log_msg(LOG_WARN, "redis %s%s: cannot look up %s: %s", c->label, c->role, c->host,
			        gai_strerror(r->err));
		went_down(c, c->backoff_ms, NULL);
		return;
	}
	c->addrs = *r;
	c->next_addr = 1;
	connect_to(c, c->addrs.addr[0]);
}

void conn_start(struct conn *c)
{
	if (c->ac || c->resolving || c->closing || loop_timer_armed(&c->retry_timer) || (!c->unix_path && !c->host))
		return;
	if (c->unix_path) {
		connect_to(c, NULL);
	} else if (c->next_addr < c->addrs.n) {
		connect_to(c, c->addrs.addr[c->next_addr++]);
	} else if (resolve_numeric(c->host, &c->addrs)) {
		c->next_addr = 1;
		connect_to(c, c->addrs.addr[0]);
	} else {
		/* A name: looked up off the loop, within the connect timeout. */
		c->addrs.n = c->next_addr = 0;
		c->resolving = resolve_start(c->loop, c->host, resolved, c);
		if (!c->resolving) {
			metrics_inc(METRIC_REDIS_ERRORS);
			log_msg(LOG_WARN, "redis %s%s: cannot start looking up %s: %s", c->label, c->role, c->host,
			        strerror(errno));
			schedule_retry(c, c->backoff_ms);
			return;
		}
		c->state = CONN_CONNECTING;
		loop_timer_start(c->loop, &c->connect_timer, loop_now_ms(c->loop) + c->timeout_ms);
	}
}

/* Connects to addr (numeric) on the conn's port, or to its unix socket. */
static void connect_to(struct conn *c, const char *addr)
{
	redisAsyncContext *ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(addr, c->port);
	if (!ac || ac->err || redis_adapter_attach(c->loop, ac) < 0) {
		metrics_inc(METRIC_REDIS_ERRORS);
		bool more = c->next_addr < c->addrs.n;
		if (!more && (c->was_ready || c->backoff_ms == BACKOFF_MIN_MS))
			log_msg(LOG_WARN, "redis %s%s: connect failed: %s", c->label, c->role,
			        ac && ac->err ? ac->errstr : "out of memory");
		c->was_ready = false;
		c->state = CONN_DOWN;
		if (ac)
			redisAsyncFree(ac);
		schedule_retry(c, more ? 0 : c->backoff_ms); /* another address: try it now */
		return;
	}
	ac->data = c;
	c->ac = ac;
	c->state = CONN_CONNECTING;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	loop_timer_start(c->loop, &c->connect_timer, loop_now_ms(c->loop) + c->timeout_ms);
}

void conn_retarget(struct conn *c, const char *host, int port)
{
	redisAsyncContext *ac = c->ac;
	bool active = ac || c->resolving || loop_timer_armed(&c->retry_timer);

	c->host = host;
	c->port = port;
	c->unix_path = NULL;
	resolve_cancel(c->resolving);
	c->resolving = NULL;
	loop_timer_stop(c->loop, &c->connect_timer);
	loop_timer_stop(c->loop, &c->retry_timer);
	c->addrs.n = c->next_addr = 0;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->ac = NULL;
	c->state = CONN_DOWN;
	c->was_ready = false;
	if (ac)
		redisAsyncFree(ac); /* fails the commands sent on it: their callbacks run now */
	if (active)
		conn_start(c);
}

void conn_close(struct conn *c)
{
	redisAsyncContext *ac = c->ac;

	c->closing = true;
	resolve_cancel(c->resolving);
	c->resolving = NULL;
	loop_timer_stop(c->loop, &c->connect_timer);
	loop_timer_stop(c->loop, &c->retry_timer);
	c->ac = NULL;
	c->state = CONN_DOWN;
	if (ac)
		redisAsyncFree(ac); /* fails pending commands: their callbacks run now */
}
