/* adapter: plugs a hiredis async context into our event loop (hiredis's
 * adapters/ae.h does the same for Redis's own loop): the context's read and
 * write interest becomes a loop watch on its socket. Knows nothing of what
 * the connection carries. */
#ifndef DLOCKD_REDIS_ADAPTER_H
#define DLOCKD_REDIS_ADAPTER_H

#include <hiredis/async.h>

#include "base/loop.h"

/* Attaches ac to loop. Returns 0, or -1 if ac is attached already or memory
 * ran out. The adapter's state is freed, deferred, when hiredis frees ac. */
int redis_adapter_attach(struct loop *loop, redisAsyncContext *ac);

#endif
