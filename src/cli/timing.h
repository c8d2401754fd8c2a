/* timing: the arithmetic of dlock — durations ("250ms", "30s", "5m", "1h", plain ms) and
 * `dlock run`'s schedule: the renew interval, the safety margin, the grace that fits a ttl,
 * and the SIGTERM/SIGKILL deadlines derived from the last confirmed expiry. Pure: no I/O, no
 * clock; every time is in milliseconds on the caller's monotonic clock. */
#ifndef DLOCK_TIMING_H
#define DLOCK_TIMING_H

#include <stdbool.h>
#include <stdint.h>

/* The longest duration accepted (about 10 years in ms): well inside int64 arithmetic. */
#define TIMING_DUR_MAX INT64_C(315360000000)

/* Parses a duration: decimal digits, then "ms", "s", "m", "h" or nothing (milliseconds).
 * No sign, spaces, fractions or overflow past TIMING_DUR_MAX. True with *out_ms set. */
bool timing_parse_dur(const char *s, int64_t *out_ms);

struct timing_plan {
	int64_t ttl_ms;    /* the lease asked for */
	int64_t renew_ms;  /* renew every ttl/3 */
	int64_t retry_ms;  /* after a failed renew, try again this soon */
	int64_t margin_ms; /* M = max(100 ms, ttl/20) */
	int64_t grace_ms;  /* SIGTERM → SIGKILL, possibly shortened */
	bool grace_shortened;
};

/* The schedule for a lease of ttl_ms and a wanted grace. The grace may be at most
 * ttl − M − 2·(ttl/3), so that SIGTERM for a lease that cannot be confirmed comes after
 * the renew at ttl/3 and its retries have had a full third of the ttl; a longer one is
 * cut to that (or to 0) with plan->grace_shortened set. False when the ttl is too short
 * to renew at all: the first renew (at ttl/3) would not be sent before E − M. */
bool timing_plan(int64_t ttl_ms, int64_t grace_ms, struct timing_plan *plan);

/* The deadlines for a lease confirmed until expiry_ms (the monotonic time the confirming
 * request was sent, plus its ttl): SIGTERM at E − M − grace, SIGKILL at E − M. */
int64_t timing_term_at(const struct timing_plan *plan, int64_t expiry_ms);
int64_t timing_kill_at(const struct timing_plan *plan, int64_t expiry_ms);

/* When the next renew is due after one sent at sent_ms answered OK: sent_ms + renew_ms. */
int64_t timing_next_renew(const struct timing_plan *plan, int64_t sent_ms);

/* The timeout for a renew sent at now_ms: the HTTP timeout, but never past the next
 * deadline (deadline_ms), and at least 1 ms. */
int64_t timing_call_timeout(int64_t http_timeout_ms, int64_t now_ms, int64_t deadline_ms);

/* Failing over between dlockd replicas: the timeout of the next attempt when left_ms of
 * the call's budget remain and `replicas_left` replicas (this one included) are still to
 * be tried: an equal share of what is left beyond wait_ms (a waiting acquire's wait, which
 * every attempt gets in full), so a replica that hangs leaves time for the others; the last
 * one gets all that is left. At least 1 ms. */
int64_t timing_attempt_ms(int64_t left_ms, int64_t wait_ms, unsigned replicas_left);

#endif
