/* run: `dlock run` (see run.h). One event loop: curl_multi_wait() over the renew in flight
 * plus a signalfd (SIGCHLD, SIGINT, SIGTERM, SIGHUP), woken for the next timer (renew due,
 * SIGTERM deadline, SIGKILL deadline). Deadlines are checked on every turn, so they fire
 * while a renew is still in flight; each renew's timeout also ends at the SIGTERM deadline. */
#include "cli/run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/call.h"
#include "cli/timing.h"

extern char **environ;

enum stop { STOP_NONE, STOP_LOST, STOP_UNCONFIRMED };

struct run {
	const struct cli_global *g;
	const struct run_args *a;
	struct timing_plan plan;
	char *token;
	/* The replicas (from --url): the renew in flight goes to targets.cur, the one that
	 * answered last; a renew with no answer or a 503 moves on to the next at once, until
	 * each was tried in this round (tries), then after retry_ms. */
	struct call_targets targets;
	unsigned tries;
	char *renew_urls[CALL_URLS_MAX];
	char renew_q[64];
	int64_t fence;
	int64_t expiry;      /* E: last confirmed expiry, monotonic ms */
	int64_t expiry_wall; /* the same on the wall clock (for --json) */
	int64_t next_renew;  /* monotonic ms */
	pid_t pid;           /* the child, its process group too */
	enum stop stop;
	bool term_sent, kill_sent;
	int64_t kill_deadline; /* once stopping */
	CURLM *multi;
	struct call renew;
	bool renewing;
	int64_t renew_wall;
};

static int64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(const struct run *r, const char *a, const char *b)
{
	if (!r->g->quiet)
		fprintf(stderr, "dlock run: %s%s\n", a, b);
}

/* One JSON line on stderr (with --json): {"event": ev, ...extra members} */
static void event(const struct run *r, const char *ev, json_t *extra)
{
	json_t *o;
	char *s;

	if (!r->g->json) {
		json_decref(extra);
		return;
	}
	o = extra ? extra : json_object();
	if (!o)
		return;
	json_object_set_new(o, "event", json_string(ev));
	json_object_set_new(o, "at_ms", json_integer(wall_now_ms()));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (s) {
		fprintf(stderr, "%s\n", s);
		fflush(stderr);
		free(s);
	}
	json_decref(o);
}

static void confirm_event(const struct run *r, const char *ev)
{
	json_t *o = json_object();

	if (!o)
		return;
	json_object_set_new(o, "fence", json_integer(r->fence));
	json_object_set_new(o, "confirmed_until_ms", json_integer(r->expiry_wall));
	json_object_set_new(o, "sigterm_at_ms", json_integer(r->expiry_wall - r->plan.margin_ms - r->plan.grace_ms));
	json_object_set_new(o, "sigkill_at_ms", json_integer(r->expiry_wall - r->plan.margin_ms));
	event(r, ev, o);
}

/* A confirmed lease: sent at sent_ms (wall: sent_wall) with the answer's ttl_ms. */
static void confirmed(struct run *r, int64_t sent_ms, int64_t sent_wall, json_t *grant)
{
	json_t *ttl = json_object_get(grant, "ttl_ms");
	int64_t t = r->plan.ttl_ms;

	if (json_is_integer(ttl) && json_integer_value(ttl) < t)
		t = json_integer_value(ttl);
	r->expiry = sent_ms + t;
	r->expiry_wall = sent_wall + t;
	r->next_renew = timing_next_renew(&r->plan, sent_ms);
}

static void signal_group(struct run *r, int sig)
{
	if (r->pid > 0 && kill(-r->pid, sig) != 0 && errno == ESRCH)
		kill(r->pid, sig);
}

static void start_stopping(struct run *r, enum stop why, int64_t now)
{
	json_t *o = json_object();

	r->stop = why;
	r->term_sent = true;
	signal_group(r, SIGTERM);
	r->kill_deadline = why == STOP_LOST ? now + r->plan.grace_ms : timing_kill_at(&r->plan, r->expiry);
	if (o)
		json_object_set_new(o, "reason", json_string(why == STOP_LOST ? "lost" : "unconfirmed"));
	event(r, "sigterm", o);
	note(r, why == STOP_LOST ? "the lock was lost" : "the lock could not be confirmed before its lease runs out",
	     ": sent SIGTERM to the command");
}

static void renew_start(struct run *r, int64_t now)
{
	int64_t to = timing_call_timeout(r->g->timeout_ms, now, timing_term_at(&r->plan, r->expiry));

	/* what is left of this round's budget is shared by the replicas not yet tried in it */
	to = timing_attempt_ms(to, 0, r->targets.n - r->tries);
	if (!call_init(&r->renew, "POST", r->renew_urls[r->targets.cur], r->token, to)) {
		r->next_renew = now + r->plan.retry_ms;
		return;
	}
	r->renew.sent_ms = now;
	r->renew_wall = wall_now_ms();
	if (curl_multi_add_handle(r->multi, r->renew.h) != CURLM_OK) {
		call_release(&r->renew);
		r->next_renew = now + r->plan.retry_ms;
		return;
	}
	r->renewing = true;
}

static void renew_done(struct run *r, CURLcode rc, int64_t now)
{
	char buf[512];
	json_t *o;

	curl_multi_remove_handle(r->multi, r->renew.h);
	r->renewing = false;
	call_finish(&r->renew, rc);
	if (r->renew.status == 200 && r->renew.json) {
		r->tries = 0;
		confirmed(r, r->renew.sent_ms, r->renew_wall, r->renew.json);
		confirm_event(r, "renewed");
	} else if (r->renew.status == 404 || r->renew.status == 409) {
		if (r->stop != STOP_LOST) {
			if (r->stop == STOP_NONE)
				start_stopping(r, STOP_LOST, now);
			else
				r->stop = STOP_LOST;
		}
	} else {
		const char *url = r->targets.base[r->targets.cur];
		r->next_renew = now + r->plan.retry_ms;
		if (call_try_next(&r->renew) && r->targets.n > 1) {
			/* replicas share Redis: any of them can renew; try the next one now */
			r->targets.cur = (r->targets.cur + 1) % r->targets.n;
			if (++r->tries < r->targets.n)
				r->next_renew = now;
			else
				r->tries = 0;
		}
		o = json_object();
		if (o) {
			json_object_set_new(o, "error", json_string(call_describe(&r->renew, buf, sizeof buf)));
			json_object_set_new(o, "url", json_string(url));
		}
		event(r, "renew_failed", o);
	}
	call_release(&r->renew);
}

static char **child_env(const struct run *r, const char *expires_at)
{
	size_t n = 0, k = 0;
	char **env;
	static const char *const DROP[] = {"DLOCK_TOKEN=", "DLOCK_NAME=", "DLOCK_FENCE=", "DLOCK_EXPIRES_AT="};

	while (environ[n])
		n++;
	env = calloc(n + 4, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;
		for (size_t d = 0; d < sizeof DROP / sizeof DROP[0]; d++)
			if (strncmp(environ[i], DROP[d], strlen(DROP[d])) == 0)
				drop = true;
		if (!drop)
			env[k++] = environ[i];
	}
	if (asprintf(&env[k++], "DLOCK_NAME=%s", r->a->name) < 0 ||
	    asprintf(&env[k++], "DLOCK_FENCE=%lld", (long long)r->fence) < 0 ||
	    asprintf(&env[k++], "DLOCK_EXPIRES_AT=%s", expires_at) < 0) {
		free(env);
		return NULL;
	}
	env[k] = NULL;
	return env;
}

/* Forks and executes the command in its own process group; -1 on failure. */
static pid_t spawn(char **argv, char **env, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid != 0) {
		if (pid > 0)
			setpgid(pid, pid);
		return pid;
	}
	sigset_t mask = *oldmask;

	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	/* the signals dlock forwards must reach the command, even if dlock was started with
	 * them blocked */
	sigdelset(&mask, SIGCHLD);
	sigdelset(&mask, SIGINT);
	sigdelset(&mask, SIGTERM);
	sigdelset(&mask, SIGHUP);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	execvpe(argv[0], argv, env);
	fprintf(stderr, "dlock run: cannot execute %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Runs the loop until the child has exited; its wait status in *status. */
static void loop(struct run *r, int sfd, int *status)
{
	bool exited = false;

	for (;;) {
		int64_t now = call_now_ms(), next = now + 1000;
		struct curl_waitfd wfd = {.fd = sfd, .events = CURL_WAIT_POLLIN};
		struct signalfd_siginfo si;
		CURLMsg *m;
		int running, left;

		if (r->stop == STOP_NONE && now >= timing_term_at(&r->plan, r->expiry))
			start_stopping(r, STOP_UNCONFIRMED, now);
		if (r->stop != STOP_NONE && !r->kill_sent && now >= r->kill_deadline) {
			r->kill_sent = true;
			signal_group(r, SIGKILL);
			event(r, "sigkill", NULL);
			if (!exited)
				note(r, "sent SIGKILL to the command", "");
		}
		if (exited && (r->stop == STOP_NONE || r->kill_sent || kill(-r->pid, 0) != 0))
			return;
		if (r->stop == STOP_NONE && !r->renewing && now >= r->next_renew)
			renew_start(r, now);

		if (r->stop == STOP_NONE) {
			next = min64(next, timing_term_at(&r->plan, r->expiry));
			if (!r->renewing)
				next = min64(next, r->next_renew);
		} else if (!r->kill_sent) {
			next = min64(next, r->kill_deadline);
		}
		if (exited)
			next = min64(next, now + 20);
		curl_multi_wait(r->multi, &wfd, 1, (int)(next > now ? next - now : 0), NULL);
		curl_multi_perform(r->multi, &running);
		while ((m = curl_multi_info_read(r->multi, &left)))
			if (m->msg == CURLMSG_DONE && r->renewing && m->easy_handle == r->renew.h)
				renew_done(r, m->data.result, call_now_ms());
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGCHLD) {
				while (!exited && waitpid(r->pid, status, WNOHANG) == r->pid)
					exited = true;
			} else if (!exited) {
				signal_group(r, (int)si.ssi_signo);
			}
		}
	}
}

static int exit_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_UNAVAILABLE;
}

static char *acquire_url(const char *base, int64_t wait_left_ms, void *arg)
{
	const struct run_args *a = arg;
	return call_acquire_url(base, a->name, a->ttl_ms, wait_left_ms, a->owner);
}

static char *release_url(const char *base, int64_t wait_left_ms, void *arg)
{
	(void)wait_left_ms;
	return call_lock_url(base, arg, NULL);
}

/* PUT the lock (waiting up to wait_ms) on the first replica that answers; 0 with
 * r->token/fence/expiry set, else the exit code. */
static int acquire(struct run *r, char *expires_at, size_t size)
{
	char buf[512];
	struct call c;
	json_t *tok, *fence, *exp;
	int rc = EXIT_UNAVAILABLE;
	int64_t wall = wall_now_ms();

	if (!call_perform_any(&c, &r->targets, "PUT", acquire_url, (void *)r->a, NULL, r->g->timeout_ms, r->a->wait_ms))
		return rc;
	if (c.status == 201 || c.status == 200) {
		tok = json_object_get(c.json, "token");
		fence = json_object_get(c.json, "fence");
		exp = json_object_get(c.json, "expires_at");
		if (!json_is_string(tok) || !json_is_integer(fence) || !json_is_string(exp)) {
			fprintf(stderr, "dlock run: dlockd's grant is malformed; check --url points at dlockd\n");
			goto out_call;
		}
		r->token = strdup(json_string_value(tok));
		r->fence = json_integer_value(fence);
		snprintf(expires_at, size, "%s", json_string_value(exp));
		confirmed(r, c.sent_ms, wall, c.json);
		rc = r->token ? 0 : EXIT_UNAVAILABLE;
	} else if (c.status == 409) {
		if (!r->g->quiet)
			fprintf(stderr, "dlock run: %s is held by another holder; try later or give a longer --wait\n",
			        r->a->name);
		rc = EXIT_NOT_ACQUIRED;
	} else if (c.status == 400) {
		fprintf(stderr, "dlock run: %s; fix the arguments\n", call_describe(&c, buf, sizeof buf));
		rc = EXIT_USAGE;
	} else {
		rc = call_failure_exit(&c);
		if (!rc)
			rc = EXIT_UNAVAILABLE;
		fprintf(stderr, "dlock run: %s; check --url / DLOCK_URL and that dlockd is up\n",
		        call_describe(&c, buf, sizeof buf));
	}
out_call:
	call_release(&c);
	return rc;
}

static void release(struct run *r)
{
	struct call c;
	char buf[512];

	if (!call_perform_any(&c, &r->targets, "DELETE", release_url, (void *)r->a->name, r->token, r->g->timeout_ms,
	                      0))
		return;
	if (c.status == 204 || c.status == 200)
		event(r, "released", NULL);
	else if (r->stop == STOP_NONE && !r->g->quiet)
		fprintf(stderr, "dlock run: releasing the lock failed (%s); it expires with its lease\n",
		        call_describe(&c, buf, sizeof buf));
	call_release(&c);
}

int run_main(const struct cli_global *g, const struct run_args *a)
{
	struct run r;
	char expires_at[64] = "";
	char **env = NULL;
	sigset_t mask, old;
	int sfd = -1, status = 0, rc;

	memset(&r, 0, sizeof r);
	r.g = g;
	r.a = a;
	if (!timing_plan(a->ttl_ms, a->grace_ms, &r.plan)) {
		fprintf(stderr,
		        "dlock run: --ttl %lldms is too short to renew the lock before it runs out; give a "
		        "longer --ttl (at least 151ms)\n",
		        (long long)a->ttl_ms);
		return EXIT_USAGE;
	}
	if (r.plan.grace_shortened && !g->quiet)
		fprintf(stderr,
		        "dlock run: note: --grace shortened to %lldms to leave room for renewals within --ttl\n",
		        (long long)r.plan.grace_ms);
	r.targets = g->urls;
	snprintf(r.renew_q, sizeof r.renew_q, "/renew?ttl_ms=%lld", (long long)a->ttl_ms);
	r.multi = curl_multi_init();
	if (!r.multi) {
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	for (unsigned i = 0; i < r.targets.n; i++) {
		r.renew_urls[i] = call_lock_url(r.targets.base[i], a->name, r.renew_q);
		if (!r.renew_urls[i]) {
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_SETMASK, NULL, &old);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "dlock run: signalfd: %s\n", strerror(errno));
		rc = EXIT_UNAVAILABLE;
		goto out_mask;
	}

	/* A waiting acquire can still be interrupted (SIGINT, SIGTERM end dlock, as usual); from
	 * the grant on, the signals are blocked and read from sfd, so none is lost between the
	 * fork and the loop. */
	rc = acquire(&r, expires_at, sizeof expires_at);
	if (rc)
		goto out_mask;
	sigprocmask(SIG_BLOCK, &mask, NULL);
	confirm_event(&r, "acquired");
	/* A grant that took long (a wait) is confirmed only from when it was asked for:
	 * renew at once so that the deadlines count from now. */
	if (call_now_ms() - (r.expiry - a->ttl_ms) > r.plan.margin_ms)
		r.next_renew = call_now_ms();

	env = child_env(&r, expires_at);
	if (!env) {
		rc = EXIT_UNAVAILABLE;
		goto out_release;
	}
	r.pid = spawn(a->argv, env, &old);
	if (r.pid < 0) {
		fprintf(stderr, "dlock run: fork: %s\n", strerror(errno));
		rc = EXIT_UNAVAILABLE;
		goto out_release;
	}
	loop(&r, sfd, &status);
	if (r.renewing) {
		curl_multi_remove_handle(r.multi, r.renew.h);
		call_release(&r.renew);
	}
	rc = r.stop != STOP_NONE ? EXIT_LOST : exit_of(status);
out_release:
	if (r.stop != STOP_LOST)
		release(&r);
	{
		json_t *o = json_object();
		if (o)
			json_object_set_new(o, "exit", json_integer(rc));
		event(&r, "exit", o);
	}
out_mask:
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	if (env) {
		size_t n = 0;
		while (env[n])
			n++;
		/* child_env() put its own three entries last */
		for (size_t i = n - 3; i < n; i++)
			free(env[i]);
		free(env);
	}
	if (r.token) {
		memset(r.token, 0, strlen(r.token));
		free(r.token);
	}
	for (unsigned i = 0; i < CALL_URLS_MAX; i++)
		free(r.renew_urls[i]);
	if (r.multi)
		curl_multi_cleanup(r.multi);
	return rc;
}
