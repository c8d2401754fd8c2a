/* timing: durations and `dlock run`'s schedule (see timing.h). */
#include "cli/timing.h"

#include <string.h>

bool timing_parse_dur(const char *s, int64_t *out_ms)
{
	int64_t v = 0, unit = 1;
	size_t i = 0;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > TIMING_DUR_MAX / 10)
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > TIMING_DUR_MAX)
			return false;
	}
	if (strcmp(s + i, "") == 0 || strcmp(s + i, "ms") == 0)
		unit = 1;
	else if (strcmp(s + i, "s") == 0)
		unit = 1000;
	else if (strcmp(s + i, "m") == 0)
		unit = 60 * 1000;
	else if (strcmp(s + i, "h") == 0)
		unit = 3600 * 1000;
	else
		return false;
	if (v > TIMING_DUR_MAX / unit)
		return false;
	*out_ms = v * unit;
	return true;
}

bool timing_plan(int64_t ttl_ms, int64_t grace_ms, struct timing_plan *plan)
{
	struct timing_plan p;
	int64_t max_grace;

	if (ttl_ms <= 0 || grace_ms < 0)
		return false;
	memset(&p, 0, sizeof p);
	p.ttl_ms = ttl_ms;
	p.renew_ms = ttl_ms / 3;
	p.margin_ms = ttl_ms / 20 > 100 ? ttl_ms / 20 : 100;
	p.retry_ms = p.renew_ms / 8 > 1000 ? 1000 : p.renew_ms / 8;
	if (p.retry_ms < 10)
		p.retry_ms = 10;
	if (p.renew_ms <= 0 || ttl_ms - p.margin_ms <= p.renew_ms)
		return false;
	max_grace = ttl_ms - p.margin_ms - 2 * p.renew_ms;
	if (max_grace < 0)
		max_grace = 0;
	p.grace_ms = grace_ms;
	if (grace_ms > max_grace) {
		p.grace_ms = max_grace;
		p.grace_shortened = true;
	}
	*plan = p;
	return true;
}

int64_t timing_term_at(const struct timing_plan *plan, int64_t expiry_ms)
{
	return expiry_ms - plan->margin_ms - plan->grace_ms;
}

int64_t timing_kill_at(const struct timing_plan *plan, int64_t expiry_ms)
{
	return expiry_ms - plan->margin_ms;
}

int64_t timing_next_renew(const struct timing_plan *plan, int64_t sent_ms)
{
	return sent_ms + plan->renew_ms;
}

int64_t timing_call_timeout(int64_t http_timeout_ms, int64_t now_ms, int64_t deadline_ms)
{
	int64_t t = http_timeout_ms;

	if (deadline_ms - now_ms < t)
		t = deadline_ms - now_ms;
	return t < 1 ? 1 : t;
}

int64_t timing_attempt_ms(int64_t left_ms, int64_t wait_ms, unsigned replicas_left)
{
	int64_t spare = left_ms - (wait_ms > 0 ? wait_ms : 0), t;

	if (left_ms < 1)
		return 1;
	if (replicas_left <= 1 || spare <= 0)
		return left_ms;
	t = left_ms - spare + spare / replicas_left;
	return t < 1 ? 1 : t;
}
