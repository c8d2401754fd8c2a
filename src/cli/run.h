/* run: `dlock run` — acquire a lock, run COMMAND in its own process group while renewing
 * the lease, and stop COMMAND before the lease can run out. Owns the event loop (signalfd,
 * timers, one curl multi handle), the child's environment and its signals. */
#ifndef DLOCK_RUN_H
#define DLOCK_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/call.h"

/* The options every subcommand shares. */
struct cli_global {
	struct call_targets urls; /* the dlockd replicas, in the order tried */
	int64_t timeout_ms;       /* each HTTP call */
	bool quiet, json;
};

struct run_args {
	const char *name;
	const char *owner; /* or NULL */
	int64_t ttl_ms, wait_ms, grace_ms;
	char **argv; /* COMMAND and its arguments, NULL-terminated */
};

/* Runs `dlock run`; returns the exit status (the child's, or 64/69/74/75, see `dlock --help`). */
int run_main(const struct cli_global *g, const struct run_args *a);

#endif
