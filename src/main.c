/* main: wiring only. Parses the configuration, opens the listening sockets,
 * starts one worker per --threads (each an event loop with its own HTTP
 * daemon and Redis connection), and on SIGTERM/SIGINT drains them and exits 0.
 * SIGHUP reloads the TLS certificate. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "server/api.h"
#include "base/config.h"
#include "server/healthcheck.h"
#include "server/http.h"
#include "locks/keys.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "server/spec.h"
#include "server/tls.h"
#include "redis/cluster.h"
#include "redis/redlock.h"
#include "redis/sentinel.h"
#include "redis/store.h"
#include "locks/waiters.h"

struct worker {
	pthread_t thread;
	unsigned index;
	const struct config *cfg;
	const struct keys *keys;
	char instance[WAITERS_INSTANCE_MAX + 1]; /* "<process id>-<worker>": names its waiters in Redis */
	int listen_fd;
	struct loop *loop;
	struct backend *backend;
	struct waiters *waiters;
	struct api *api;
	struct http_server *http;
	struct loop_timer deadline;
	struct auth *auth;                   /* the keys it starts with (main's reference), or NULL */
	_Atomic(struct auth *) pending_auth; /* new keys from a reload, handed over on a wake */
	atomic_bool stop_requested;
	bool stopping;
	int status;
};

/* Ends the worker: answers whatever still waits (the backend fails its
 * pending calls), writes those answers, closes connections, stops the loop. */
static void worker_finish(void *arg)
{
	struct worker *w = arg;

	loop_timer_stop(w->loop, &w->deadline);
	waiters_cancel_all(w->waiters);
	backend_free(w->backend);
	w->backend = NULL;
	waiters_free(w->waiters);
	w->waiters = NULL;
	http_flush(w->http);
	http_stop(w->http);
	w->http = NULL;
	loop_stop(w->loop);
}

static void on_drained(void *arg)
{
	struct worker *w = arg;
	/* Not from inside libmicrohttpd's completion callback: after this turn. */
	if (loop_defer(w->loop, worker_finish, w) < 0)
		worker_finish(w);
}

static void on_deadline(void *arg)
{
	struct worker *w = arg;
	log_msg(LOG_WARN, "shutdown: %u request(s) still in progress at the deadline; answering 503",
	        http_active(w->http));
	worker_finish(w);
}

/* Takes the keys a reload left for this worker, if any. */
static void take_auth(struct worker *w)
{
	struct auth *a = atomic_exchange(&w->pending_auth, NULL);

	if (!a)
		return;
	api_set_auth(w->api, a);
	auth_unref(a);
}

static void on_wake(void *arg)
{
	struct worker *w = arg;

	take_auth(w);
	if (!atomic_load(&w->stop_requested) || w->stopping)
		return;
	w->stopping = true;
	loop_timer_start(w->loop, &w->deadline, loop_now_ms(w->loop) + w->cfg->redis_timeout_ms + 2000);
	waiters_cancel_all(w->waiters); /* waiting requests: 503 shutting_down now */
	http_quiesce(w->http, on_drained, w);
}

/* One store per Redis node (in Sentinel mode, behind the sentinels); several
 * make a Redlock quorum; a Redis Cluster gets its own backend, which makes a
 * store per master. */
static struct backend *open_backend(struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct backend *nodes[CONFIG_REDIS_MAX];
	bool quorum = cfg->nredis > 1;

	if (cfg->redis_cluster) {
		struct cluster_config cc = {
		    .seeds = cfg->redis,
		    .nseeds = cfg->nredis,
		    .keys = w->keys,
		    .timeout_ms = cfg->redis_timeout_ms,
		    .fence_retention_ms = cfg->fence_retention_ms,
		};
		return cluster_new(w->loop, &cc);
	}

	for (unsigned i = 0; i < cfg->nredis; i++) {
		const struct redis_target *t = &cfg->redis[i];
		struct store_config sc = {
		    .host = t->unix_path[0] ? NULL : t->host,
		    .port = t->port,
		    .unix_path = t->unix_path[0] ? t->unix_path : NULL,
		    .user = t->user[0] ? t->user : NULL,
		    .password = t->password[0] ? t->password : NULL,
		    .db = t->db,
		    .keys = w->keys,
		    .timeout_ms = quorum ? cfg->node_timeout_ms : cfg->redis_timeout_ms,
		    .label = t->label,
		    .fence_retention_ms = cfg->fence_retention_ms,
		    .quorum_node = quorum,
		    .wait_replicas = cfg->wait_replicas,
		};
		nodes[i] = t->sentinel.n ? sentinel_new(w->loop, &t->sentinel, &sc, cfg->redis_timeout_ms)
		                         : store_new(w->loop, &sc);
		if (!nodes[i]) {
			while (i-- > 0)
				backend_free(nodes[i]);
			return NULL;
		}
	}
	return quorum ? redlock_new(w->loop, nodes, cfg->nredis, store_fence_floor, cfg->clock_drift_factor) : nodes[0];
}

/* SIGHUP: the TLS certificate and key are read again; a bad pair keeps the
 * current one. */
static void reload_tls(const struct config *cfg)
{
	char err[512];

	if (!cfg->tls_cert[0])
		log_msg(LOG_INFO, "received SIGHUP: no TLS certificate to reload");
	else if (!tls_reload(err, sizeof err))
		log_msg(LOG_ERROR, "received SIGHUP: TLS certificate not reloaded, still serving the previous one: %s",
		        err);
}

/* The last prepare hook of a worker's loop: its log lines of the turn, in one
 * write before it sleeps (the HTTP server also writes them out before it
 * answers requests). */
static int flush_log(void *arg)
{
	(void)arg;
	log_flush();
	return -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t spec_len;
	const char *spec = spec_text(&spec_len);

	w->status = 1;
	w->backend = open_backend(w);
	w->waiters = w->backend ? waiters_new(w->loop, w->backend, w->instance, w->cfg->max_waiters) : NULL;
	w->api = w->waiters ? api_new(w->cfg, w->backend, w->waiters, spec, spec_len, w->instance, w->auth) : NULL;
	w->http = w->api ? http_start(w->loop, w->cfg, w->api, w->listen_fd) : NULL;
	w->listen_fd = -1; /* owned by the daemon now, or closed */
	if (!w->http) {
		log_msg(LOG_ERROR, "cannot start the HTTP server");
		backend_free(w->backend);
		waiters_free(w->waiters);
		api_free(w->api);
		return NULL;
	}
	/* registered after the HTTP server's hook, which answers requests */
	if (loop_add_prepare(w->loop, flush_log, NULL) == 0)
		log_batch_begin();
	loop_timer_init(&w->deadline, on_deadline, w);
	loop_set_wake_handler(w->loop, on_wake, w);
	take_auth(w); /* a reload that came before the wake handler was set */
	if (atomic_load(&w->stop_requested))
		on_wake(w);
	if (loop_run(w->loop) == 0)
		w->status = 0;
	else
		log_msg(LOG_ERROR, "event loop failed: %s", strerror(errno));
	if (w->http) { /* the loop failed: tear down what is left */
		waiters_cancel_all(w->waiters);
		backend_free(w->backend);
		waiters_free(w->waiters);
		http_stop(w->http);
	}
	api_free(w->api);
	log_batch_end();
	return NULL;
}

/* Whether dlockd listens beyond this host: every interface, or an address
 * that is not loopback. */
static bool listens_beyond_loopback(const struct config *cfg)
{
	const char *h = cfg->listen_host;
	return !(strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "[::1]") == 0 ||
	         strcmp(h, "localhost") == 0);
}

/* SIGHUP: the auth file again. A good one goes to every worker (each takes
 * it on its own thread); a bad one is logged and the old keys stay. */
static void reload_auth(const struct config *cfg, struct worker *workers, unsigned started, struct auth **cur)
{
	char err[512];
	struct auth *a = auth_load(cfg->auth_file, err, sizeof err);

	if (!a) {
		metrics_inc(METRIC_AUTH_RELOAD_FAILURES);
		log_msg(LOG_ERROR, "SIGHUP: the auth file was not reloaded, the old keys stay: %s", err);
		return;
	}
	for (unsigned i = 0; i < started; i++) {
		struct auth *old;
		auth_ref(a);
		old = atomic_exchange(&workers[i].pending_auth, a);
		auth_unref(old);
		loop_wake(workers[i].loop);
	}
	auth_unref(*cur);
	*cur = a;
	metrics_inc(METRIC_AUTH_RELOADS);
	log_msg(LOG_INFO, "SIGHUP: auth file %s reloaded: %zu key(s)", cfg->auth_file, auth_count(a));
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct keys keys;
	char instance[LOCK_TOKEN_LEN + 1];
	struct worker *workers;
	char err[512] = "";
	sigset_t sigs;
	int sig = 0, status = 0;
	unsigned started = 0;
	struct auth *auth = NULL;

	switch (config_parse(&cfg, argc, argv, (config_getenv_fn *)getenv, err, sizeof err)) {
	case CONFIG_DONE:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "dlockd: %s\n", err);
		return 2;
	case CONFIG_OK:
		break;
	}
	if (cfg.healthcheck)
		return healthcheck_run(&cfg, cfg.redis_timeout_ms + 1000);

	if (!keys_init(&keys, cfg.prefix)) {
		fprintf(stderr, "dlockd: --prefix: invalid\n");
		return 2;
	}
	log_setup(cfg.log_level, cfg.log_format);
	if (cfg.tls_cert[0] && !http_tls_init(&cfg, err, sizeof err)) {
		fprintf(stderr, "dlockd: %s\n", err);
		return 2;
	}
	if (cfg.auth_file[0]) {
		auth = auth_load(cfg.auth_file, err, sizeof err);
		if (!auth) {
			fprintf(stderr, "dlockd: --auth-file: %s\n", err);
			return 2;
		}
		log_msg(LOG_INFO, "auth file %s: %zu key(s); requests need Authorization: Bearer <key>", cfg.auth_file,
		        auth_count(auth));
	} else if (listens_beyond_loopback(&cfg)) {
		log_msg(LOG_WARN,
		        "NO AUTHENTICATION: dlockd listens on %s:%d beyond loopback without --auth-file; anyone who "
		        "reaches it may take, list and inspect every lock. See docs/security.md",
		        cfg.listen_host[0] ? cfg.listen_host : "*", cfg.listen_port);
	}
	if (cfg.nredis > 1 && !cfg.redis_cluster) {
		if (cfg.nredis % 2 == 0)
			log_msg(LOG_WARN,
			        "Redlock over %u nodes: an even count tolerates no more failures than %u nodes; "
			        "use an odd number",
			        cfg.nredis, cfg.nredis - 1);
		for (unsigned i = 0; i < cfg.nredis; i++)
			metrics_node_label(i, cfg.redis[i].label);
	}
	metrics_set_routes(api_route_labels(), ROUTE_COUNT);
	/* This process's id in the waiters' lines (no secret: 12 random chars). */
	if (lock_token_new(instance) < 0) {
		fprintf(stderr, "dlockd: the system random number generator failed\n");
		return 1;
	}
	instance[12] = '\0';
	json_object_seed(0); /* seed jansson's hashing now, not in the first request */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* workers inherit the mask */

	workers = calloc(cfg.threads, sizeof *workers);
	if (!workers) {
		fprintf(stderr, "dlockd: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < cfg.threads; i++) {
		struct worker *w = &workers[i];
		w->index = i;
		w->cfg = &cfg;
		w->keys = &keys;
		w->auth = auth;
		snprintf(w->instance, sizeof w->instance, "%.12s-%u", instance, i);
		w->listen_fd = http_listen(&cfg, err, sizeof err);
		w->loop = w->listen_fd >= 0 ? loop_new() : NULL;
		if (!w->loop) {
			fprintf(stderr, "dlockd: %s\n", err[0] ? err : "cannot create an event loop");
			if (w->listen_fd >= 0)
				close(w->listen_fd);
			status = 1;
			break;
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			fprintf(stderr, "dlockd: cannot start a thread\n");
			close(w->listen_fd);
			loop_free(w->loop);
			w->loop = NULL;
			status = 1;
			break;
		}
		started++;
	}
	if (status == 0) {
		log_msg(LOG_INFO, "dlockd %s listening on %s://%s:%d with %u thread(s), %s %s%s, key prefix '%s'",
		        DLOCKD_VERSION, cfg.tls_cert[0] ? "https" : "http", cfg.listen_host[0] ? cfg.listen_host : "*",
		        cfg.listen_port, cfg.threads,
		        cfg.redis_cluster ? "Redis Cluster from"
		        : cfg.nredis > 1  ? "Redlock over"
		                          : "Redis",
		        cfg.redis[0].label, cfg.nredis > 1 ? " and more" : "", cfg.prefix);
		for (;;) {
			sig = 0;
			if (sigwait(&sigs, &sig) != 0)
				continue;
			if (sig == SIGTERM || sig == SIGINT)
				break;
			if (sig != SIGHUP)
				continue;
			if (!cfg.auth_file[0] && !cfg.tls_cert[0])
				log_msg(LOG_INFO, "SIGHUP: nothing to reload (no --auth-file, no --tls-cert)");
			if (cfg.auth_file[0])
				reload_auth(&cfg, workers, started, &auth);
			if (cfg.tls_cert[0])
				reload_tls(&cfg);
		}
		log_msg(LOG_INFO, "received %s: finishing requests in progress", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	}
	for (unsigned i = 0; i < started; i++) {
		atomic_store(&workers[i].stop_requested, true);
		loop_wake(workers[i].loop);
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].status != 0)
			status = 1;
		loop_free(workers[i].loop);
		auth_unref(atomic_exchange(&workers[i].pending_auth, NULL));
	}
	free(workers);
	auth_unref(auth);
	tls_shutdown();
	if (status == 0)
		log_msg(LOG_INFO, "stopped");
	return status;
}
