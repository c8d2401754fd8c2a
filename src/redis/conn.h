/* conn: one Redis connection that keeps itself up — it connects (TCP or a
 * unix socket) on our loop, looks a host name up off the loop (resolve.h)
 * before each round of attempts, bounds lookup and connecting by a timeout, reconnects with
 * backoff after a failure or a loss, and tells its owner when it is connected
 * (to send the setup) and when it is gone. What it carries is the owner's:
 * the owner sends commands on `ac` and says when the setup is done. */
#ifndef DLOCKD_REDIS_CONN_H
#define DLOCKD_REDIS_CONN_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "base/resolve.h"

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_SETUP, CONN_READY };

struct conn;

struct conn_hooks {
	/* Connected: queue the setup commands on c->ac. Returns 0, or -1 to
	 * drop the connection. The owner calls conn_ready() when they are done. */
	int (*setup)(void *owner, struct conn *c);
	/* The connection failed or was lost; commands sent on it have been
	 * failed already. why: hiredis's reason when it ended the connection (an
	 * error reply no command waited for, e.g. a refused SUBSCRIBE), or NULL. */
	void (*down)(void *owner, struct conn *c, const char *why);
};

/* Embedded in its owner; fields below `ac` and `state` are private. */
struct conn {
	redisAsyncContext *ac; /* NULL while down */
	enum conn_state state;
	struct loop *loop;
	const char *host, *unix_path, *label, *role; /* role: "" or " (wake-ups)", for logs */
	int port;
	unsigned timeout_ms;
	bool setup_timed; /* the connect timeout also bounds the setup */
	bool closing;
	bool was_ready; /* for logging transitions once */
	uint64_t backoff_ms;
	struct loop_timer connect_timer, retry_timer;
	struct resolve *resolving;   /* a host-name lookup in progress, or NULL */
	struct resolve_result addrs; /* the host's addresses: tried in order, looked up again when used up */
	unsigned next_addr;
	const struct conn_hooks *hooks;
	void *owner;
};

/* Prepares c (strings not copied: they must outlive it). Does not connect. */
void conn_init(struct conn *c, struct loop *loop, const char *host, int port, const char *unix_path, const char *label,
               const char *role, unsigned timeout_ms, bool setup_timed, const struct conn_hooks *hooks, void *owner);
/* Connects now if down and no retry is pending. */
void conn_start(struct conn *c);
/* The setup is done: the connection is ready (logged on the first time after
 * a loss; the backoff starts over). */
void conn_ready(struct conn *c);
/* Drops the connection (hiredis fails every command sent on it with a NULL
 * reply, then down() runs) and retries after the backoff. */
void conn_drop(struct conn *c, const char *why);
/* Points c at host:port from now on (host not copied: it must outlive c or
 * the next retarget). A connection up or being made is closed — commands sent
 * on it fail now, without the down() hook — and made again at once to the new
 * address; an idle c only remembers it (conn_start connects). A c without a
 * host and without a unix path (host NULL at init) does not connect until
 * retargeted. */
void conn_retarget(struct conn *c, const char *host, int port);
/* Closes for good: no more retries; commands sent on it fail now. */
void conn_close(struct conn *c);
/* The conn that owns hiredis context ac, or NULL for one already dropped. */
struct conn *conn_of(const redisAsyncContext *ac);

#endif
