/* adapter: hiredis's event hooks on our loop. See adapter.h. */
#include "redis/adapter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* The adapter between hiredis's event hooks and our loop. Freed deferred. */
struct redis_ev {
	struct loop *loop;
	struct loop_watch w;
	redisAsyncContext *ac;
	unsigned want;
};

static void ev_io(void *arg, unsigned events)
{
	struct redis_ev *ev = arg;

	if ((events & LOOP_READ) && ev->ac)
		redisAsyncHandleRead(ev->ac);
	if ((events & LOOP_WRITE) && ev->ac)
		redisAsyncHandleWrite(ev->ac);
}

static void ev_update(struct redis_ev *ev, unsigned want)
{
	ev->want = want;
	if (loop_watch_set(ev->loop, &ev->w, want) < 0)
		log_msg(LOG_ERROR, "redis: epoll_ctl failed: %s", strerror(errno));
}

static void ev_add_read(void *p)
{
	struct redis_ev *ev = p;
	ev_update(ev, ev->want | LOOP_READ);
}
static void ev_del_read(void *p)
{
	struct redis_ev *ev = p;
	ev_update(ev, ev->want & ~(unsigned)LOOP_READ);
}
static void ev_add_write(void *p)
{
	struct redis_ev *ev = p;
	ev_update(ev, ev->want | LOOP_WRITE);
}
static void ev_del_write(void *p)
{
	struct redis_ev *ev = p;
	ev_update(ev, ev->want & ~(unsigned)LOOP_WRITE);
}

static void ev_cleanup(void *p)
{
	struct redis_ev *ev = p;
	ev_update(ev, 0);
	ev->ac = NULL;
	if (loop_defer(ev->loop, free, ev) < 0)
		free(ev); /* no memory to defer: the turn is not dispatching this fd */
}

int redis_adapter_attach(struct loop *loop, redisAsyncContext *ac)
{
	struct redis_ev *ev;

	if (ac->ev.data)
		return -1; /* attached already */
	ev = calloc(1, sizeof *ev);
	if (!ev)
		return -1;
	ev->loop = loop;
	ev->ac = ac;
	loop_watch_init(&ev->w, ac->c.fd, ev_io, ev);
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	ac->ev.data = ev;
	return 0;
}
