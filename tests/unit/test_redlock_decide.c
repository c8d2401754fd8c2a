/* Unit tests for redlock.c's decisions, over 3 and 5 fake nodes
 * (fake_backend.h) with a fake fence-floor step: what an acquire, renew,
 * release, inspect or ping answers for each mix of node answers, and what it
 * sends afterwards (the second fence round, give-backs of the caller's old
 * lease, roll-backs of the new token). Tables: one row per mix; each node's
 * answer is one letter:
 *   G granted   R re-acquired   H held   S reserved      W renewed
 *   D released  N not held      M token mismatch         F found
 *   U answered UNAVAILABLE      E answered BACKEND_ERROR
 *   I answered INVALID_DATA (data dlockd did not write)
 *   Z answered FENCE_EXHAUSTED
 *   X refused at start (BACKEND_UNAVAILABLE): never answers
 * What a node is sent after the first round is written per node, nodes
 * separated by spaces, "." for nothing:
 *   n release under the new token   o release under the caller's old token
 *   f fence floor (new token, no adoption)   a fence floor adopting the old token */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/loop.h"
#include "fake_backend.h"
#include "redis/redlock.h"
#include "unit.h"

#define NEW_TOKEN    "NEWTOKEN"
#define OLD_TOKEN    "OLDTOKEN"
#define HOLDER_TOKEN "HOLDERSECRET"
#define DRIFT        0.01

#define NOW0 INT64_C(1700000000000) /* the nodes' clock */

struct env {
	struct loop *loop;
	unsigned n;
	struct fake_backend *fb[REDLOCK_MAX_NODES];
	struct backend *rl;
};

struct got {
	int calls;
	struct lock_reply r;
	bool ping_ok;
};

static bool in_call;
static int early_callbacks;

static void on_lock(void *arg, const struct lock_reply *r)
{
	struct got *g = arg;
	g->calls++;
	g->r = *r;
	early_callbacks += in_call;
}

static void on_ping(void *arg, bool ok)
{
	struct got *g = arg;
	g->calls++;
	g->ping_ok = ok;
	early_callbacks += in_call;
}

static void env_init(struct env *e, unsigned n)
{
	struct backend *nodes[REDLOCK_MAX_NODES];

	memset(e, 0, sizeof *e);
	e->loop = loop_new();
	if (!e->loop) {
		printf("FAIL loop_new() failed\n");
		exit(1);
	}
	e->n = n;
	for (unsigned i = 0; i < n; i++) {
		e->fb[i] = fake_new(e->loop);
		nodes[i] = fake_backend(e->fb[i]);
	}
	e->rl = redlock_new(e->loop, nodes, n, fake_floor, DRIFT);
	if (!e->rl) {
		printf("FAIL redlock_new() failed\n");
		exit(1);
	}
}

static void env_free(struct env *e)
{
	unsigned pending = 0;

	for (unsigned i = 0; i < e->n; i++)
		pending += fake_pending(e->fb[i], FAKE_ANY);
	CHECK(pending == 0, "%u node calls left unanswered", pending);
	backend_free(e->rl); /* frees the nodes */
	loop_free(e->loop);
}

static enum lock_outcome outcome_of(char c)
{
	switch (c) {
	case 'G':
		return LOCK_GRANTED;
	case 'R':
		return LOCK_REACQUIRED;
	case 'H':
		return LOCK_HELD;
	case 'S':
		return LOCK_RESERVED;
	case 'W':
		return LOCK_RENEWED;
	case 'D':
		return LOCK_RELEASED;
	case 'N':
		return LOCK_NOT_HELD;
	case 'M':
		return LOCK_TOKEN_MISMATCH;
	case 'F':
		return LOCK_FOUND;
	case 'E':
		return LOCK_BACKEND_ERROR;
	case 'I':
		return LOCK_INVALID_DATA;
	case 'Z':
		return LOCK_FENCE_EXHAUSTED;
	default:
		return LOCK_UNAVAILABLE;
	}
}

/* The view node i answers with: its clock NOW0 + 10 i, the lease ttl. */
static struct lock_view node_view(char a, unsigned i, int64_t fence, int64_t ttl)
{
	struct lock_view v;

	memset(&v, 0, sizeof v);
	snprintf(v.name, sizeof v.name, "L");
	v.fence = fence;
	v.ttl_ms = ttl;
	v.now_ms = NOW0 + 10 * (int64_t)i;
	v.acquired_ms = v.now_ms - 100 * (int64_t)i;
	v.expires_ms = v.now_ms + ttl;
	if (a == 'G')
		snprintf(v.token, sizeof v.token, NEW_TOKEN);
	else if (a == 'R')
		snprintf(v.token, sizeof v.token, OLD_TOKEN);
	else if (a == 'H' || a == 'M' || a == 'F') {
		snprintf(v.token, sizeof v.token, HOLDER_TOKEN); /* must never reach the caller */
		snprintf(v.owner, sizeof v.owner, "holder-%u", i);
		v.has_owner = true;
	}
	return v;
}

/* Arranges for the nodes marked X to refuse op. */
static void refuse_marked(struct env *e, const char *answers, enum fake_op op)
{
	for (unsigned i = 0; i < e->n; i++)
		if (answers[i] == 'X')
			fake_refuse(e->fb[i], op, BACKEND_UNAVAILABLE, 1);
}

/* Answers the first-round call of every node that took it. */
static void answer_round(struct env *e, const char *answers, const int64_t *fences, int64_t ttl)
{
	for (unsigned i = 0; i < e->n; i++) {
		struct fake_call *c = fake_call_at(e->fb[i], 0);
		struct lock_view v;
		if (answers[i] == 'X' || !c || c->answered)
			continue;
		v = node_view(answers[i], i, fences ? fences[i] : 10, ttl);
		fake_answer(c, outcome_of(answers[i]), &v);
	}
}

/* What node i was sent after its first call, as trace letters. */
static void trace_of(const struct env *e, unsigned i, char *out, size_t cap, int64_t want_fence, int line)
{
	size_t o = 0;

	for (size_t j = 1; j < fake_ncalls(e->fb[i]) && o + 2 < cap; j++) {
		const struct fake_call *c = fake_call_at(e->fb[i], j);
		char ch = '?';
		if (c->op == FAKE_RELEASE) {
			ch = strcmp(c->token, NEW_TOKEN) == 0 ? 'n' : strcmp(c->token, OLD_TOKEN) == 0 ? 'o' : '?';
			unit_check_(strcmp(c->name, "L") == 0, __FILE__, line, "node %u: release of %s", i,
			            unit_escz(c->name));
		} else if (c->op == FAKE_FLOOR) {
			ch = !c->has_adopt ? 'f' : strcmp(c->adopt, OLD_TOKEN) == 0 ? 'a' : '?';
			unit_check_(strcmp(c->token, NEW_TOKEN) == 0 && c->fence == want_fence &&
			                strcmp(c->name, "L") == 0,
			            __FILE__, line, "node %u: floor(%s, %s, %lld), expected floor(\"L\", \"%s\", %lld)",
			            i, unit_escz(c->name), unit_escz(c->token), (long long)c->fence, NEW_TOKEN,
			            (long long)want_fence);
		}
		out[o++] = ch;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
}

static void check_traces(const struct env *e, const char *want, int64_t want_fence, int line)
{
	char got[128] = "", one[32];

	for (unsigned i = 0; i < e->n; i++) {
		trace_of(e, i, one, sizeof one, want_fence, line);
		if (i)
			strcat(got, " ");
		strcat(got, one);
	}
	unit_check_(strcmp(got, want) == 0, __FILE__, line, "sent after the first round: %s, expected %s",
	            unit_escz(got), unit_escz(want));
}

/* ---- acquire ---- */

struct acq_row {
	int line;
	unsigned n;
	const char *answers;
	int64_t fences[REDLOCK_MAX_NODES];
	bool retoken;
	int64_t ttl;        /* 0: 30 s */
	const char *floors; /* per node: how a floor call is answered: 1 ok, 0 failed, x refused */
	enum lock_outcome want;
	int64_t want_fence; /* of the grant, and of every floor call */
	const char *trace;
};

static const struct acq_row ACQ[] = {
    /* 3 nodes, a quorum of 2 */
    {__LINE__, 3, "GGG", {7, 7, 7}, false, 0, "...", LOCK_GRANTED, 7, ". . ."},
    {__LINE__, 3, "GGG", {7, 7, 5}, false, 0, "...", LOCK_GRANTED, 7, ". . ."}, /* a quorum at the max */
    {__LINE__, 3, "GGG", {7, 5, 5}, false, 0, ".11", LOCK_GRANTED, 7, ". f f"}, /* second round */
    {__LINE__, 3, "GGG", {5, 7, 5}, false, 0, "1.0", LOCK_GRANTED, 7, "f . f"}, /* one floor is enough */
    {__LINE__, 3, "GGG", {7, 5, 5}, false, 0, ".00", LOCK_UNAVAILABLE, 7, "n fn fn"},
    {__LINE__, 3, "GGG", {7, 5, 5}, false, 0, ".xx", LOCK_UNAVAILABLE, 7, "n fn fn"},
    {__LINE__, 3, "GGH", {7, 5, 9}, false, 0, ".1.", LOCK_GRANTED, 7, ". f ."}, /* max of the granting nodes */
    {__LINE__, 3, "GGU", {7, 7, 0}, false, 0, "...", LOCK_GRANTED, 7, ". . ."},
    {__LINE__, 3, "GGX", {7, 7, 0}, false, 0, "...", LOCK_GRANTED, 7, ". . ."},
    {__LINE__, 3, "GUU", {7, 0, 0}, false, 0, "...", LOCK_UNAVAILABLE, 0, "n n n"},
    {__LINE__, 3, "UUU", {0, 0, 0}, false, 0, "...", LOCK_UNAVAILABLE, 0, "n n n"},
    {__LINE__, 3, "GXX", {7, 0, 0}, false, 0, "...", LOCK_UNAVAILABLE, 0, "n n n"},
    {__LINE__, 3, "GHH", {7, 9, 8}, false, 0, "...", LOCK_HELD, 0, "n . ."},
    {__LINE__, 3, "GSS", {7, 0, 0}, false, 0, "...", LOCK_RESERVED, 0, "n . ."},
    {__LINE__, 3, "HSU", {9, 0, 0}, false, 0, "...", LOCK_HELD, 0, ". . n"},
    {__LINE__, 3, "SSU", {0, 0, 0}, false, 0, "...", LOCK_RESERVED, 0, ". . n"},
    {__LINE__, 3, "GEH", {7, 0, 9}, false, 0, "...", LOCK_HELD, 0, "n n ."},
    {__LINE__, 3, "HHU", {9, 9, 0}, false, 0, "...", LOCK_HELD, 0, ". . n"},
    {__LINE__, 3, "GGG", {7, 7, 7}, false, 1, "...", LOCK_UNAVAILABLE, 0, "n n n"}, /* validity <= 0 */
    /* re-acquires */
    {__LINE__, 3, "RRR", {5, 5, 5}, true, 0, "...", LOCK_REACQUIRED, 5, ". . ."},
    {__LINE__, 3, "RRG", {5, 5, 9}, true, 0, "..1", LOCK_REACQUIRED, 5, ". . a"},
    {__LINE__, 3, "RGR", {5, 9, 6}, true, 0, ".0.", LOCK_REACQUIRED, 6, ". a ."},
    {__LINE__, 3, "RRH", {5, 5, 9}, true, 0, "...", LOCK_REACQUIRED, 5, ". . ."},
    {__LINE__, 3, "RRU", {5, 5, 0}, true, 0, "...", LOCK_REACQUIRED, 5, ". . ."},
    {__LINE__, 3, "GGR", {8, 8, 5}, true, 0, "...", LOCK_GRANTED, 8, ". . o"},
    {__LINE__, 3, "GGR", {8, 6, 5}, true, 0, ".1.", LOCK_GRANTED, 8, ". f o"},
    {__LINE__, 3, "GRH", {8, 5, 9}, true, 0, "...", LOCK_HELD, 0, "n . ."},
    {__LINE__, 3, "GRS", {8, 5, 0}, true, 0, "...", LOCK_RESERVED, 0, "n . ."},
    {__LINE__, 3, "GRU", {8, 5, 0}, true, 0, "...", LOCK_RESERVED, 0, "n . n"},
    {__LINE__, 3, "RUU", {5, 0, 0}, true, 0, "...", LOCK_UNAVAILABLE, 0, ". n n"},
    {__LINE__, 3, "RGU", {5, 8, 0}, true, 0, "...", LOCK_RESERVED, 0, ". n n"},
    {__LINE__, 3, "RRR", {5, 5, 5}, true, 1, "...", LOCK_UNAVAILABLE, 0, ". . ."}, /* validity <= 0 */
    {__LINE__, 3, "RRG", {5, 5, 9}, true, 2, "..1", LOCK_UNAVAILABLE, 5, ". . an"},
    /* 5 nodes, a quorum of 3 */
    {__LINE__, 5, "GGGHH", {6, 6, 6, 9, 9}, false, 0, ".....", LOCK_GRANTED, 6, ". . . . ."},
    {__LINE__, 5, "GGGHH", {4, 6, 6, 9, 9}, false, 0, "1....", LOCK_GRANTED, 6, "f . . . ."},
    {__LINE__, 5, "GGGHH", {4, 6, 6, 9, 9}, false, 0, "0....", LOCK_UNAVAILABLE, 6, "fn n n . ."},
    {__LINE__, 5, "GGGGG", {1, 2, 3, 4, 5}, false, 0, "1100.", LOCK_GRANTED, 5, "f f f f ."},
    {__LINE__, 5, "GGGGG", {1, 2, 3, 4, 5}, false, 0, "1000.", LOCK_UNAVAILABLE, 5, "fn fn fn fn n"},
    {__LINE__, 5, "GGGGG", {1, 2, 3, 4, 5}, false, 0, "11x0.", LOCK_GRANTED, 5, "f f f f ."},
    {__LINE__, 5, "GGHHH", {6, 6, 9, 11, 10}, false, 0, ".....", LOCK_HELD, 0, "n n . . ."},
    {__LINE__, 5, "GGSHU", {6, 6, 0, 9, 0}, false, 0, ".....", LOCK_HELD, 0, "n n . . n"},
    {__LINE__, 5, "GGUUU", {6, 6, 0, 0, 0}, false, 0, ".....", LOCK_UNAVAILABLE, 0, "n n n n n"},
    {__LINE__, 5, "HHUUE", {9, 9, 0, 0, 0}, false, 0, ".....", LOCK_UNAVAILABLE, 0, ". . n n n"},
    {__LINE__, 5, "GGGXX", {6, 6, 6, 0, 0}, false, 0, ".....", LOCK_GRANTED, 6, ". . . . ."},
    {__LINE__, 5, "RRRGG", {3, 3, 3, 8, 8}, true, 0, "...11", LOCK_REACQUIRED, 3, ". . . a a"},
    {__LINE__, 5, "RRGGG", {3, 3, 8, 8, 8}, true, 0, ".....", LOCK_GRANTED, 8, "o o . . ."},
    {__LINE__, 5, "RRGGU", {3, 3, 8, 8, 0}, true, 0, ".....", LOCK_RESERVED, 0, ". . n n n"},
    {__LINE__, 5, "RRHHG", {3, 3, 9, 9, 8}, true, 0, ".....", LOCK_HELD, 0, ". . . . n"},
    /* nodes whose data is not dlockd's: failed nodes, which decide when they
     * are what keeps a quorum from forming (they wrote nothing: no release) */
    {__LINE__, 3, "GGI", {7, 7, 0}, false, 0, "...", LOCK_GRANTED, 7, ". . ."},
    {__LINE__, 3, "GGZ", {7, 7, 0}, false, 0, "...", LOCK_GRANTED, 7, ". . ."},
    {__LINE__, 3, "GIU", {7, 0, 0}, false, 0, "...", LOCK_INVALID_DATA, 0, "n . n"},
    {__LINE__, 3, "GII", {7, 0, 0}, false, 0, "...", LOCK_INVALID_DATA, 0, "n . ."},
    {__LINE__, 3, "HII", {9, 0, 0}, false, 0, "...", LOCK_INVALID_DATA, 0, ". . ."},
    {__LINE__, 3, "IUU", {0, 0, 0}, false, 0, "...", LOCK_UNAVAILABLE, 0, ". n n"},
    {__LINE__, 3, "GZU", {7, 0, 0}, false, 0, "...", LOCK_FENCE_EXHAUSTED, 0, "n . n"},
    {__LINE__, 3, "GZI", {7, 0, 0}, false, 0, "...", LOCK_FENCE_EXHAUSTED, 0, "n . ."},
    {__LINE__, 3, "ZZZ", {0, 0, 0}, false, 0, "...", LOCK_FENCE_EXHAUSTED, 0, ". . ."},
    {__LINE__, 3, "GHI", {7, 9, 0}, false, 0, "...", LOCK_HELD, 0, "n . ."},
    {__LINE__, 3, "RRI", {5, 5, 0}, true, 0, "...", LOCK_REACQUIRED, 5, ". . ."},
    {__LINE__, 3, "RII", {5, 0, 0}, true, 0, "...", LOCK_INVALID_DATA, 0, ". . ."},
    {__LINE__, 5, "GGGII", {6, 6, 6, 0, 0}, false, 0, ".....", LOCK_GRANTED, 6, ". . . . ."},
    {__LINE__, 5, "GGIIU", {6, 6, 0, 0, 0}, false, 0, ".....", LOCK_INVALID_DATA, 0, "n n . . n"},
    {__LINE__, 5, "GIUUU", {6, 0, 0, 0, 0}, false, 0, ".....", LOCK_UNAVAILABLE, 0, "n . n n n"},
};

static bool any_pending(const struct env *e, enum fake_op op)
{
	for (unsigned i = 0; i < e->n; i++)
		if (fake_pending(e->fb[i], op))
			return true;
	return false;
}

static void run_acquire_row(const struct acq_row *row)
{
	struct env e;
	struct got g = {0};
	int64_t ttl = row->ttl ? row->ttl : 30000;
	char name[8] = "L", token[16] = NEW_TOKEN, retoken[16] = OLD_TOKEN, owner[8] = "me";
	struct lock_request req = {.name = name,
	                           .token = token,
	                           .reacquire_token = row->retoken ? retoken : NULL,
	                           .owner = owner,
	                           .ttl_ms = ttl,
	                           .waiter = "0.1.2",
	                           .wait_left_ms = 700};
	bool all_refused = strspn(row->answers, "X") == row->n;
	bool failure = row->want != LOCK_GRANTED && row->want != LOCK_REACQUIRED;
	enum backend_start st;

	env_init(&e, row->n);
	refuse_marked(&e, row->answers, FAKE_ACQUIRE);
	for (unsigned i = 0; i < row->n; i++)
		if (row->floors[i] == 'x')
			fake_refuse(e.fb[i], FAKE_FLOOR, BACKEND_UNAVAILABLE, 1);
	in_call = true;
	st = e.rl->ops->acquire(e.rl, &req, on_lock, &g);
	in_call = false;
	memset(name, 0, sizeof name); /* the call keeps its own copies */
	memset(token, 0, sizeof token);
	memset(retoken, 0, sizeof retoken);
	if (all_refused) {
		unit_check_(st == BACKEND_UNAVAILABLE, __FILE__, row->line, "%s: every node refused: start %d",
		            row->answers, st);
		env_free(&e);
		return;
	}
	unit_check_(st == BACKEND_STARTED, __FILE__, row->line, "%s: start %d", row->answers, st);
	for (unsigned i = 0; i < row->n; i++) {
		const struct fake_call *c = fake_call_at(e.fb[i], 0);
		bool ok = c && c->op == FAKE_ACQUIRE && strcmp(c->name, "L") == 0 && strcmp(c->token, NEW_TOKEN) == 0 &&
		          c->has_reacquire_token == row->retoken &&
		          (!row->retoken || strcmp(c->reacquire_token, OLD_TOKEN) == 0) &&
		          strcmp(c->owner, "me") == 0 && c->ttl_ms == ttl && strcmp(c->waiter, "0.1.2") == 0 &&
		          c->wait_left_ms == 700;
		unit_check_(ok, __FILE__, row->line, "%s: node %u was not sent the caller's acquire", row->answers, i);
	}
	answer_round(&e, row->answers, row->fences, ttl);
	/* answer what follows, round by round */
	for (int round = 0; round < 8; round++) {
		fake_turn(e.loop);
		if (round == 0 && row->want == LOCK_REACQUIRED)
			unit_check_(g.calls == 1, __FILE__, row->line,
			            "%s: a re-acquire answers at once (the floors are not awaited)", row->answers);
		if (any_pending(&e, FAKE_FLOOR)) {
			unit_check_(row->want == LOCK_REACQUIRED || g.calls == 0, __FILE__, row->line,
			            "%s: answered before the second round was in", row->answers);
			for (unsigned i = 0; i < row->n; i++)
				for (struct fake_call *c; (c = fake_next(e.fb[i], FAKE_FLOOR));)
					fake_answer_ok(c, row->floors[i] == '1');
			continue;
		}
		if (any_pending(&e, FAKE_RELEASE)) {
			bool awaited = false;
			for (unsigned i = 0; i < row->n; i++)
				awaited |= row->answers[i] == 'G' && fake_pending(e.fb[i], FAKE_RELEASE);
			if (failure && awaited)
				unit_check_(g.calls == 0, __FILE__, row->line,
				            "%s: a failed acquire answered before its grants were rolled back",
				            row->answers);
			for (unsigned i = 0; i < row->n; i++)
				for (struct fake_call *c; (c = fake_next(e.fb[i], FAKE_RELEASE));)
					fake_answer(c, LOCK_RELEASED, NULL);
			continue;
		}
		break;
	}
	unit_check_(g.calls == 1, __FILE__, row->line, "%s: %d callbacks, expected 1", row->answers, g.calls);
	unit_check_(g.r.outcome == row->want, __FILE__, row->line, "%s: outcome %s, expected %s", row->answers,
	            lock_outcome_str(g.r.outcome), lock_outcome_str(row->want));
	unit_check_(strcmp(g.r.view.name, "L") == 0, __FILE__, row->line, "%s: view name %s", row->answers,
	            unit_escz(g.r.view.name));
	if (row->want == LOCK_GRANTED || row->want == LOCK_REACQUIRED) {
		const char *want_token = row->want == LOCK_GRANTED ? NEW_TOKEN : OLD_TOKEN;
		int64_t v_max = redlock_validity_ms(ttl, 0, DRIFT), v_min = redlock_validity_ms(ttl, 200, DRIFT);
		unit_check_(g.r.view.fence == row->want_fence, __FILE__, row->line, "%s: fence %lld, expected %lld",
		            row->answers, (long long)g.r.view.fence, (long long)row->want_fence);
		unit_check_(strcmp(g.r.view.token, want_token) == 0, __FILE__, row->line, "%s: token %s, expected %s",
		            row->answers, unit_escz(g.r.view.token), want_token);
		unit_check_(g.r.view.ttl_ms <= v_max && g.r.view.ttl_ms >= v_min, __FILE__, row->line,
		            "%s: ttl_ms %lld, expected the validity, %lld or a little less", row->answers,
		            (long long)g.r.view.ttl_ms, (long long)v_max);
		/* times: the earliest clock among the granting nodes */
		{
			int64_t now_min = INT64_MAX, acq_min = INT64_MAX;
			for (unsigned i = 0; i < row->n; i++) {
				struct lock_view v = node_view(row->answers[i], i, 0, ttl);
				if (outcome_of(row->answers[i]) != row->want || row->answers[i] == 'X')
					continue;
				now_min = v.now_ms < now_min ? v.now_ms : now_min;
				acq_min = v.acquired_ms < acq_min ? v.acquired_ms : acq_min;
			}
			unit_check_(g.r.view.now_ms == now_min && g.r.view.acquired_ms == acq_min &&
			                g.r.view.expires_ms == now_min + ttl - redlock_drift_ms(ttl, DRIFT),
			            __FILE__, row->line, "%s: times now %lld acquired %lld expires %lld", row->answers,
			            (long long)(g.r.view.now_ms - NOW0), (long long)(g.r.view.acquired_ms - NOW0),
			            (long long)(g.r.view.expires_ms - NOW0));
		}
	} else {
		unit_check_(g.r.view.token[0] == '\0', __FILE__, row->line, "%s: a refusal carries token %s",
		            row->answers, unit_escz(g.r.view.token));
	}
	if (row->want == LOCK_HELD) {
		/* the holder's view: the highest fence among the HELD answers */
		int64_t max = -1;
		for (unsigned i = 0; i < row->n; i++)
			if (row->answers[i] == 'H' && row->fences[i] > max)
				max = row->fences[i];
		unit_check_(g.r.view.fence == max && g.r.view.has_owner, __FILE__, row->line,
		            "%s: holder view fence %lld, expected %lld", row->answers, (long long)g.r.view.fence,
		            (long long)max);
	}
	check_traces(&e, row->trace, row->want_fence, row->line);
	env_free(&e);
}

static void test_acquire(void)
{
	for (size_t i = 0; i < sizeof ACQ / sizeof ACQ[0]; i++)
		run_acquire_row(&ACQ[i]);
}

/* ---- renew, release, inspect ---- */

struct simple_row {
	int line;
	unsigned n;
	const char *answers;
	enum lock_outcome want;
};

static const struct simple_row RENEW[] = {
    {__LINE__, 3, "WWW", LOCK_RENEWED},
    {__LINE__, 3, "WWN", LOCK_RENEWED},
    {__LINE__, 3, "WWX", LOCK_RENEWED},
    {__LINE__, 3, "WWM", LOCK_RENEWED},
    {__LINE__, 3, "WNN", LOCK_NOT_HELD},
    {__LINE__, 3, "NNU", LOCK_NOT_HELD}, /* a quorum says not held */
    {__LINE__, 3, "WNU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "WNE", LOCK_UNAVAILABLE},
    {__LINE__, 3, "WMU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "MUU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "WMN", LOCK_TOKEN_MISMATCH}, /* all answered: mismatch 1 >= not held 1 */
    {__LINE__, 3, "MMW", LOCK_TOKEN_MISMATCH},
    {__LINE__, 3, "MMN", LOCK_TOKEN_MISMATCH},
    {__LINE__, 3, "NNM", LOCK_NOT_HELD},
    {__LINE__, 5, "WWWUU", LOCK_RENEWED},
    {__LINE__, 5, "WWMNN", LOCK_NOT_HELD}, /* mismatch 1 < not held 2 */
    {__LINE__, 5, "WWMMN", LOCK_TOKEN_MISMATCH},
    {__LINE__, 5, "NNNUU", LOCK_NOT_HELD},
    {__LINE__, 5, "WWNNU", LOCK_UNAVAILABLE},
    {__LINE__, 5, "WWEMN", LOCK_UNAVAILABLE},
    {__LINE__, 5, "WXMXN", LOCK_UNAVAILABLE},
    /* nodes whose data is not dlockd's */
    {__LINE__, 3, "WWI", LOCK_RENEWED},
    {__LINE__, 3, "NNI", LOCK_NOT_HELD},
    {__LINE__, 3, "WNI", LOCK_INVALID_DATA},
    {__LINE__, 3, "WIU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "III", LOCK_INVALID_DATA},
    {__LINE__, 5, "WWNNI", LOCK_INVALID_DATA},
    {__LINE__, 5, "WWNIU", LOCK_UNAVAILABLE},
};

static const struct simple_row RELEASE[] = {
    {__LINE__, 3, "DDD", LOCK_RELEASED},
    {__LINE__, 3, "DDU", LOCK_RELEASED},
    {__LINE__, 3, "DNU", LOCK_RELEASED},
    {__LINE__, 3, "NND", LOCK_RELEASED},
    {__LINE__, 3, "MND", LOCK_RELEASED},
    {__LINE__, 3, "DUU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "DXX", LOCK_UNAVAILABLE},
    {__LINE__, 3, "MNU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "NNN", LOCK_NOT_HELD},
    {__LINE__, 3, "NNU", LOCK_NOT_HELD},
    {__LINE__, 3, "MNN", LOCK_NOT_HELD},
    {__LINE__, 3, "MMU", LOCK_TOKEN_MISMATCH}, /* a quorum of mismatches settles it */
    {__LINE__, 3, "MMN", LOCK_TOKEN_MISMATCH},
    {__LINE__, 3, "MNF", LOCK_TOKEN_MISMATCH}, /* all answered: mismatch 1 >= not held 1 */
    {__LINE__, 3, "NFF", LOCK_NOT_HELD},
    {__LINE__, 3, "DFF", LOCK_NOT_HELD},
    {__LINE__, 5, "DMMNN", LOCK_RELEASED},
    {__LINE__, 5, "DDNUU", LOCK_RELEASED},
    {__LINE__, 5, "DMMMU", LOCK_TOKEN_MISMATCH},
    {__LINE__, 5, "MMNNU", LOCK_UNAVAILABLE},
    {__LINE__, 5, "MMNFF", LOCK_TOKEN_MISMATCH},
    {__LINE__, 5, "MNNFF", LOCK_NOT_HELD},
    {__LINE__, 5, "NNNMM", LOCK_NOT_HELD},
    /* nodes whose data is not dlockd's */
    {__LINE__, 3, "DDI", LOCK_RELEASED},
    {__LINE__, 3, "DNI", LOCK_RELEASED},
    {__LINE__, 3, "NNI", LOCK_NOT_HELD},
    {__LINE__, 3, "MNI", LOCK_INVALID_DATA},
    {__LINE__, 3, "MIU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "MMI", LOCK_TOKEN_MISMATCH},
};

static const struct simple_row INSPECT[] = {
    {__LINE__, 3, "FFF", LOCK_FOUND},
    {__LINE__, 3, "FFN", LOCK_FOUND},
    {__LINE__, 3, "FFU", LOCK_FOUND},
    {__LINE__, 3, "FNU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "FUE", LOCK_UNAVAILABLE},
    {__LINE__, 3, "FNN", LOCK_NOT_HELD},
    {__LINE__, 3, "NNU", LOCK_NOT_HELD},
    {__LINE__, 3, "NUU", LOCK_UNAVAILABLE},
    {__LINE__, 5, "FFFNN", LOCK_FOUND},
    {__LINE__, 5, "FFNUU", LOCK_UNAVAILABLE},
    {__LINE__, 5, "FNNNU", LOCK_NOT_HELD},
    {__LINE__, 5, "FFNNU", LOCK_UNAVAILABLE},
    {__LINE__, 5, "FFXXN", LOCK_UNAVAILABLE},
    {__LINE__, 5, "NNNXX", LOCK_NOT_HELD},
    /* nodes whose data is not dlockd's */
    {__LINE__, 3, "FFI", LOCK_FOUND},
    {__LINE__, 3, "FII", LOCK_INVALID_DATA},
    {__LINE__, 3, "FNI", LOCK_INVALID_DATA},
    {__LINE__, 3, "FIU", LOCK_UNAVAILABLE},
    {__LINE__, 3, "NNI", LOCK_NOT_HELD},
    {__LINE__, 3, "NII", LOCK_INVALID_DATA},
    {__LINE__, 5, "FFNNI", LOCK_INVALID_DATA},
    {__LINE__, 5, "FNNNI", LOCK_NOT_HELD},
};

/* Runs one renew/release/inspect row; node i answers with fence 10 + i and a
 * lease of 10000 + 1000 i. Returns the env (unfreed) and the answer. */
static void run_simple(const struct simple_row *row, enum fake_op op, struct env *e, struct got *g)
{
	struct lock_request req = {.name = "L", .token = OLD_TOKEN, .ttl_ms = op == FAKE_RENEW ? 9000 : 0};
	enum backend_start st;

	memset(g, 0, sizeof *g);
	env_init(e, row->n);
	refuse_marked(e, row->answers, op);
	in_call = true;
	switch (op) {
	case FAKE_RENEW:
		st = e->rl->ops->renew(e->rl, &req, on_lock, g);
		break;
	case FAKE_RELEASE:
		st = e->rl->ops->release(e->rl, &req, on_lock, g);
		break;
	default:
		req.token = NULL;
		st = e->rl->ops->inspect(e->rl, &req, on_lock, g);
		break;
	}
	in_call = false;
	unit_check_(st == BACKEND_STARTED, __FILE__, row->line, "%s %s: start %d", fake_op_name(op), row->answers, st);
	for (unsigned i = 0; i < row->n; i++) {
		const struct fake_call *c = fake_call_at(e->fb[i], 0);
		unit_check_(c && c->op == op && strcmp(c->name, "L") == 0 &&
		                (op == FAKE_INSPECT || strcmp(c->token, OLD_TOKEN) == 0) && c->ttl_ms == req.ttl_ms,
		            __FILE__, row->line, "%s %s: node %u was not sent the request", fake_op_name(op),
		            row->answers, i);
		if (c && row->answers[i] != 'X') {
			struct lock_view v = node_view(row->answers[i], i, 10 + i, 10000 + 1000 * (int64_t)i);
			fake_answer(fake_call_at(e->fb[i], 0), outcome_of(row->answers[i]), &v);
		}
	}
	fake_turn(e->loop);
	unit_check_(g->calls == 1 && g->r.outcome == row->want, __FILE__, row->line,
	            "%s %s: %d callbacks, outcome %s, expected %s", fake_op_name(op), row->answers, g->calls,
	            lock_outcome_str(g->r.outcome), lock_outcome_str(row->want));
	unit_check_(strcmp(g->r.view.name, "L") == 0, __FILE__, row->line, "%s %s: view name %s", fake_op_name(op),
	            row->answers, unit_escz(g->r.view.name));
	if (row->want == LOCK_TOKEN_MISMATCH)
		unit_check_(g->r.view.token[0] == '\0' && g->r.view.has_owner, __FILE__, row->line,
		            "%s %s: a mismatch shows the holder (owner %s) and no token (%s)", fake_op_name(op),
		            row->answers, unit_escz(g->r.view.owner), unit_escz(g->r.view.token));
	for (unsigned i = 0; i < row->n; i++)
		unit_check_(fake_ncalls(e->fb[i]) == 1, __FILE__, row->line, "%s %s: node %u was sent %zu calls",
		            fake_op_name(op), row->answers, i, fake_ncalls(e->fb[i]));
}

static void test_renew(void)
{
	for (size_t k = 0; k < sizeof RENEW / sizeof RENEW[0]; k++) {
		const struct simple_row *row = &RENEW[k];
		struct env e;
		struct got g;
		run_simple(row, FAKE_RENEW, &e, &g);
		if (row->want == LOCK_RENEWED) {
			/* the shortest lease among the renewing nodes, less time and drift;
			 * the highest fence; the earliest clock; the caller's token */
			int64_t min_ttl = INT64_MAX, now_min = INT64_MAX, fence = 0;
			for (unsigned i = 0; i < row->n; i++) {
				if (row->answers[i] != 'W')
					continue;
				min_ttl = 10000 + 1000 * (int64_t)i < min_ttl ? 10000 + 1000 * (int64_t)i : min_ttl;
				now_min = NOW0 + 10 * (int64_t)i < now_min ? NOW0 + 10 * (int64_t)i : now_min;
				fence = 10 + i > fence ? 10 + i : fence;
			}
			unit_check_(g.r.view.ttl_ms <= redlock_validity_ms(min_ttl, 0, DRIFT) &&
			                g.r.view.ttl_ms >= redlock_validity_ms(min_ttl, 200, DRIFT),
			            __FILE__, row->line, "renew %s: ttl_ms %lld, expected about %lld", row->answers,
			            (long long)g.r.view.ttl_ms, (long long)redlock_validity_ms(min_ttl, 0, DRIFT));
			unit_check_(g.r.view.fence == fence && g.r.view.now_ms == now_min &&
			                g.r.view.expires_ms == now_min + min_ttl - redlock_drift_ms(min_ttl, DRIFT),
			            __FILE__, row->line, "renew %s: fence %lld now +%lld expires +%lld", row->answers,
			            (long long)g.r.view.fence, (long long)(g.r.view.now_ms - NOW0),
			            (long long)(g.r.view.expires_ms - NOW0));
			unit_check_(strcmp(g.r.view.token, OLD_TOKEN) == 0, __FILE__, row->line,
			            "renew %s: token %s, expected the caller's", row->answers,
			            unit_escz(g.r.view.token));
		}
		env_free(&e);
	}

	/* a renewal whose validity is used up by drift: not a lock any more */
	{
		struct env e;
		struct got g = {0};
		struct lock_request req = {.name = "L", .token = OLD_TOKEN};
		env_init(&e, 3);
		CHECK_INT(e.rl->ops->renew(e.rl, &req, on_lock, &g), BACKEND_STARTED, "renew start");
		for (unsigned i = 0; i < 3; i++) {
			struct lock_view v = node_view('W', i, 10, i == 1 ? 2 : 5000); /* one node: 2 ms left */
			fake_answer(fake_call_at(e.fb[i], 0), LOCK_RENEWED, &v);
		}
		fake_turn(e.loop);
		CHECK(g.calls == 1 && g.r.outcome == LOCK_UNAVAILABLE, "renew with validity <= 0: %d, %s", g.calls,
		      lock_outcome_str(g.r.outcome));
		env_free(&e);
	}
}

static void test_release(void)
{
	for (size_t k = 0; k < sizeof RELEASE / sizeof RELEASE[0]; k++) {
		struct env e;
		struct got g;
		run_simple(&RELEASE[k], FAKE_RELEASE, &e, &g);
		env_free(&e);
	}
}

static void test_inspect(void)
{
	for (size_t k = 0; k < sizeof INSPECT / sizeof INSPECT[0]; k++) {
		struct env e;
		struct got g;
		run_simple(&INSPECT[k], FAKE_INSPECT, &e, &g);
		env_free(&e);
	}

	/* the view: the highest fence, of those the least time left; ttl_ms is
	 * the least time left on any node that has it */
	{
		struct env e;
		struct got g = {0};
		struct lock_request req = {.name = "L"};
		static const int64_t FENCE[3] = {5, 7, 7}, LEFT[3] = {100, 300, 200};
		env_init(&e, 3);
		CHECK_INT(e.rl->ops->inspect(e.rl, &req, on_lock, &g), BACKEND_STARTED, "inspect start");
		for (unsigned i = 0; i < 3; i++) {
			struct lock_view v = node_view('F', i, FENCE[i], LEFT[i]);
			fake_answer(fake_call_at(e.fb[i], 0), LOCK_FOUND, &v);
		}
		fake_turn(e.loop);
		CHECK(g.calls == 1 && g.r.outcome == LOCK_FOUND, "inspect: %s", lock_outcome_str(g.r.outcome));
		CHECK_INT(g.r.view.fence, 7, "inspect: the highest fence");
		CHECK_INT(g.r.view.expires_ms, NOW0 + 20 + 200, "inspect: of those, the earliest expiry");
		CHECK_STR(g.r.view.owner, "holder-2", "inspect: that node's owner");
		CHECK_INT(g.r.view.ttl_ms, 100, "inspect: the least time left");
		env_free(&e);
	}
	/* a lease already over on a node's clock: ttl_ms 0, never negative */
	{
		struct env e;
		struct got g = {0};
		struct lock_request req = {.name = "L"};
		env_init(&e, 3);
		CHECK_INT(e.rl->ops->inspect(e.rl, &req, on_lock, &g), BACKEND_STARTED, "inspect start");
		for (unsigned i = 0; i < 3; i++) {
			struct lock_view v = node_view('F', i, 5, 100);
			if (i == 0)
				v.expires_ms = v.now_ms - 5;
			fake_answer(fake_call_at(e.fb[i], 0), LOCK_FOUND, &v);
		}
		fake_turn(e.loop);
		CHECK(g.calls == 1 && g.r.outcome == LOCK_FOUND && g.r.view.ttl_ms == 0, "inspect: %s, ttl_ms %lld",
		      lock_outcome_str(g.r.outcome), (long long)g.r.view.ttl_ms);
		env_free(&e);
	}
}

/* The answer of a call that nodes with bad data decide carries the detail of
 * the first such node (a fence exhausted before invalid data). */
static void test_bad_data_detail(void)
{
	static const struct {
		const char *answers;
		enum lock_outcome want;
		const char *detail;
	} T[] = {
	    {"IIU", LOCK_INVALID_DATA, "node 0 says"},
	    {"UIZ", LOCK_FENCE_EXHAUSTED, "node 2 says"},
	};
	for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
		struct env e;
		struct got g = {0};
		struct lock_request req = {.name = "L", .token = NEW_TOKEN, .ttl_ms = 30000};
		env_init(&e, 3);
		CHECK_INT(e.rl->ops->acquire(e.rl, &req, on_lock, &g), BACKEND_STARTED, "acquire start");
		for (unsigned i = 0; i < 3; i++) {
			struct lock_reply r;
			memset(&r, 0, sizeof r);
			r.outcome = outcome_of(T[k].answers[i]);
			snprintf(r.view.name, sizeof r.view.name, "L");
			snprintf(r.detail, sizeof r.detail, "node %u says", i);
			fake_answer_reply(fake_call_at(e.fb[i], 0), &r);
		}
		for (int round = 0; round < 3; round++) {
			fake_turn(e.loop);
			for (unsigned i = 0; i < 3; i++)
				for (struct fake_call *c; (c = fake_next(e.fb[i], FAKE_RELEASE));)
					fake_answer(c, LOCK_RELEASED, NULL);
		}
		CHECK(g.calls == 1 && g.r.outcome == T[k].want && strcmp(g.r.detail, T[k].detail) == 0,
		      "%s: %d callbacks, %s, detail %s", T[k].answers, g.calls, lock_outcome_str(g.r.outcome),
		      unit_escz(g.r.detail));
		env_free(&e);
	}
}

/* ---- ping, leave, warning, watch ---- */

static void test_ping(void)
{
	static const struct {
		unsigned n;
		const char *oks; /* 1 ok, 0 not, x refused */
		bool want;
	} T[] = {
	    {3, "111", true},  {3, "110", true},   {3, "1x1", true},    {3, "100", false},
	    {3, "1xx", false}, {5, "11100", true}, {5, "11000", false}, {5, "0x111", true},
	};
	for (size_t k = 0; k < sizeof T / sizeof T[0]; k++) {
		struct env e;
		struct got g = {0};
		env_init(&e, T[k].n);
		for (unsigned i = 0; i < T[k].n; i++)
			if (T[k].oks[i] == 'x')
				fake_refuse(e.fb[i], FAKE_PING, BACKEND_UNAVAILABLE, 1);
		in_call = true;
		CHECK_INT(e.rl->ops->ping(e.rl, on_ping, &g), BACKEND_STARTED, "ping start");
		in_call = false;
		for (unsigned i = 0; i < T[k].n; i++)
			if (T[k].oks[i] != 'x')
				fake_answer_ok(fake_call_at(e.fb[i], 0), T[k].oks[i] == '1');
		fake_turn(e.loop);
		CHECK(g.calls == 1 && g.ping_ok == T[k].want, "ping %s: %d callbacks, ok %d, expected %d", T[k].oks,
		      g.calls, g.ping_ok, T[k].want);
		env_free(&e);
	}
	{
		struct env e;
		struct got g = {0};
		env_init(&e, 3);
		for (unsigned i = 0; i < 3; i++)
			fake_refuse(e.fb[i], FAKE_PING, BACKEND_UNAVAILABLE, 1);
		CHECK_INT(e.rl->ops->ping(e.rl, on_ping, &g), BACKEND_UNAVAILABLE, "ping with every node refusing");
		fake_turn(e.loop);
		CHECK_INT(g.calls, 0, "no callback for a refused ping");
		env_free(&e);
	}
}

static int wakes, resyncs;
static char woke[64];

static void on_wake(void *arg, const char *waiter)
{
	(void)arg;
	wakes++;
	snprintf(woke, sizeof woke, "%s", waiter);
}

static void on_resync(void *arg)
{
	(void)arg;
	resyncs++;
}

static void test_waiting_plumbing(void)
{
	struct env e;

	env_init(&e, 3);
	/* leave: every node */
	CHECK_INT(e.rl->ops->leave(e.rl, "L", "0.4.1"), BACKEND_STARTED, "leave");
	for (unsigned i = 0; i < 3; i++) {
		const struct fake_call *c = fake_last(e.fb[i], FAKE_LEAVE);
		CHECK(c && strcmp(c->name, "L") == 0 && strcmp(c->waiter, "0.4.1") == 0, "node %u: leave sent", i);
	}
	fake_refuse(e.fb[0], FAKE_LEAVE, BACKEND_UNAVAILABLE, 1);
	fake_refuse(e.fb[1], FAKE_LEAVE, BACKEND_UNAVAILABLE, 1);
	CHECK_INT(e.rl->ops->leave(e.rl, "L", "0.4.1"), BACKEND_STARTED, "leave with one node up");
	for (unsigned i = 0; i < 3; i++)
		fake_refuse(e.fb[i], FAKE_LEAVE, BACKEND_UNAVAILABLE, 1);
	CHECK_INT(e.rl->ops->leave(e.rl, "L", "0.4.1"), BACKEND_UNAVAILABLE, "leave with every node down");

	/* warning: the first node's that has one */
	CHECK(e.rl->ops->warning(e.rl) == NULL, "no warning from any node");
	fake_set_warning(e.fb[2], "node 2 evicts");
	fake_set_warning(e.fb[1], "node 1 evicts");
	CHECK_STR(e.rl->ops->warning(e.rl), "node 1 evicts", "warning");

	/* watch: wake-ups and resyncs from any node reach the one watcher */
	e.rl->ops->watch(e.rl, on_wake, on_resync, NULL);
	for (unsigned i = 0; i < 3; i++)
		CHECK(fake_watched(e.fb[i]), "node %u is watched", i);
	fake_wake(e.fb[2], "0.9.9");
	fake_resync(e.fb[0]);
	fake_turn(e.loop);
	CHECK(wakes == 1 && strcmp(woke, "0.9.9") == 0, "wake-ups: %d (%s)", wakes, unit_escz(woke));
	CHECK_INT(resyncs, 1, "resyncs");
	env_free(&e);

	/* redlock_new refuses bad node counts, and frees the nodes it was given */
	{
		struct loop *loop = loop_new();
		struct backend *one[1] = {fake_backend(fake_new(loop))};
		CHECK(redlock_new(loop, one, 1, fake_floor, DRIFT) == NULL, "redlock_new with 1 node");
		loop_free(loop);
	}
}

int main(void)
{
	alarm(60);
	test_acquire();
	test_renew();
	test_release();
	test_inspect();
	test_bad_data_detail();
	test_ping();
	test_waiting_plumbing();
	CHECK(early_callbacks == 0, "%d callbacks ran inside the call that started them", early_callbacks);
	return unit_done();
}
