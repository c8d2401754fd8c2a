/* loadgen: the load generator of dlockd's benchmark suite (bench/run.sh).
 *
 * One thread, epoll, non-blocking sockets, one small state machine per
 * connection, HTTP/1.1 keep-alive (or RESP for the raw-Redis cross-check).
 * Latencies use CLOCK_MONOTONIC; a response's arrival time is the instant
 * epoll_wait returned with it, so two responses that arrive in one batch share
 * a timestamp. All connections live in this process, so hand-off latency (the
 * releasing connection's 204 to the next holder's 201) uses one clock.
 *
 * Modes (see bench/README.md):
 *   pairs      PUT /locks/<name><i> then DELETE it, per connection, repeat
 *   renew      acquire once, then POST /locks/<name><i>/renew, repeat
 *   healthz    GET /healthz, repeat
 *   handoff    every connection: PUT /locks/<name>?wait_ms=W -> 201 -> [hold] ->
 *              DELETE -> 204 -> PUT again (queues behind the others)
 *   poll       like handoff without wait_ms: 409 -> sleep --poll-ms -> PUT again;
 *              after its own release a connection also sleeps --poll-ms
 *   etcd-reuse etcd v3 JSON gateway: lease granted once per connection, then
 *              lock/lock + lock/unlock pairs
 *   etcd-lease per pair: lease/grant, lock/lock, lock/unlock, lease/revoke
 *   conns      open -c connections, one GET /healthz each, then hold them idle
 *   waiters    connection 0 takes --name; -c more connections each PUT it with
 *              wait_ms and stay suspended
 *   redis-pairs RESP: EVALSHA acquire + EVALSHA release (dlockd's own scripts)
 *
 * --api-key KEY: every request carries Authorization: Bearer KEY (dlockd with --auth-file).
 * --tls: every connection speaks HTTPS (GnuTLS client, one handshake per connection,
 * then keep-alive). The server's certificate is not verified: the bench talks to its
 * own dlockd on 127.0.0.1 with a throwaway certificate.
 *
 * Prints one line of JSON on stdout at the end (flat but for the "pcts" lists of
 * percentiles); a summary on stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { IN_CAP = 8192, OUT_CAP = 1024, MAX_EVENTS = 1024, TOKEN_MAX = 96, KEY_MAX = 512 };

enum mode {
	M_PAIRS,
	M_RENEW,
	M_HEALTHZ,
	M_HANDOFF,
	M_POLL,
	M_ETCD_REUSE,
	M_ETCD_LEASE,
	M_CONNS,
	M_WAITERS,
	M_REDIS_PAIRS,
};

static const char *const MODE_NAMES[] = {
    [M_PAIRS] = "pairs",
    [M_RENEW] = "renew",
    [M_HEALTHZ] = "healthz",
    [M_HANDOFF] = "handoff",
    [M_POLL] = "poll",
    [M_ETCD_REUSE] = "etcd-reuse",
    [M_ETCD_LEASE] = "etcd-lease",
    [M_CONNS] = "conns",
    [M_WAITERS] = "waiters",
    [M_REDIS_PAIRS] = "redis-pairs",
};

enum state {
	S_NONE,
	S_CONNECTING,
	S_HANDSHAKE, /* --tls: TLS handshake in progress */
	S_ACQ,     /* PUT sent */
	S_REL,     /* DELETE sent */
	S_RENEW,   /* POST renew sent */
	S_GET,     /* GET sent */
	S_HOLD,    /* holding, timer -> DELETE */
	S_SLEEP,   /* timer -> PUT */
	S_GRANT,   /* etcd lease/grant sent */
	S_LOCK,    /* etcd lock/lock sent */
	S_UNLOCK,  /* etcd lock/unlock sent */
	S_REVOKE,  /* etcd lease/revoke sent */
	S_IDLE,    /* conns: done, holding the connection */
	S_WAITING, /* waiters: request written, suspended */
	S_CLOSED,
};

struct conn {
	int fd;
	gnutls_session_t tls; /* --tls, else NULL */
	int idx;
	enum state state;
	size_t out_len, out_off;
	size_t in_len;
	uint64_t sent_ns;     /* when the current request was written */
	uint64_t op_ns;       /* start of the current pair */
	uint64_t timer_ns;    /* 0: no timer */
	long grant;           /* index of the grant this connection holds (handoff/poll) */
	bool out_armed;       /* EPOLLOUT registered */
	bool pend;            /* conns/waiters: counted in g.pending */
	bool placed;          /* conns/waiters: counted in g.ready */
	bool grant_seen_once; /* poll: the random first delay was done */
	unsigned gen;         /* pairs/renew: bumped after a failure, so a lock left held
	                       * (e.g. a release answered 503) does not block this
	                       * connection until it expires: the name gets a ".<gen>" */
	char token[TOKEN_MAX];
	char lease[32];
	char key[KEY_MAX];
	char out[OUT_CAP];
	char in[IN_CAP + 1];
};

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

/* handoff/poll: the grants of one lock in order; t_rel[k] is when grant k's
 * holder saw its 204, t_grant[k + 1] when the next holder saw its 201. */
struct lockseq {
	struct u64vec t_grant, t_rel;
};

static struct {
	enum mode mode;
	const char *api_key; /* --api-key: sent as Authorization: Bearer on every request */
	const char *host;
	int port;
	int nconns;
	double duration, warmup, max_seconds;
	long count;
	const char *name;
	long ttl_ms, wait_ms, hold_us, hold_jitter_us, poll_ms;
	bool tls;
	int locks; /* handoff/poll: connection i contends for lock <name><i % locks> */
	const char *ready_file;
	const char *sha_acq, *sha_rel, *key_prefix;
	int inflight_max;
	unsigned seed;
} opt = {
    .host = "127.0.0.1",
    .nconns = 1,
    .duration = 3,
    .warmup = 0.5,
    .max_seconds = 120,
    .name = "bench",
    .ttl_ms = 10000,
    .wait_ms = 10000,
    .poll_ms = 100,
    .key_prefix = "dlock:",
    .inflight_max = 256,
    .locks = 1,
    .seed = 12345,
};

static struct {
	int ep, tfd;
	struct conn *c;
	int nc; /* allocated connections */
	struct sockaddr_in addr;
	uint64_t t0, win_start, win_end, now;
	bool measuring_done;
	/* results */
	struct u64vec lat;    /* per-op latency, ns, completed inside the window */
	uint64_t ops;         /* ops completed inside the window */
	uint64_t requests;    /* requests written inside the window */
	uint64_t errors;      /* unexpected statuses, protocol errors */
	uint64_t disconnects; /* server closed / connect failed */
	uint64_t timeouts;    /* handoff: 409 after waiting */
	uint64_t polls409;    /* poll: 409 answers */
	unsigned status_count[600];
	uint64_t other_status;
	/* handoff / poll */
	struct lockseq *seq;          /* per contended lock */
	long grants, grants_at_start; /* all locks; grants before the window */
	/* conns / waiters */
	int opened, pending, ready;
	bool holder_ok;
	bool ready_written;
	int timers;
	uint64_t armed_ns;
	unsigned rng;
} g;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void vec_push(struct u64vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4096;
		uint64_t *p = realloc(v->v, cap * sizeof *p);
		if (!p) {
			fprintf(stderr, "loadgen: out of memory\n");
			exit(1);
		}
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = x;
}

static void vec_set(struct u64vec *v, size_t i, uint64_t x)
{
	while (v->n <= i)
		vec_push(v, 0);
	v->v[i] = x;
}

static unsigned rnd(void)
{
	/* xorshift32: deterministic start phases for the poll mode */
	unsigned x = g.rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	g.rng = x;
	return x;
}

/* ---- output buffer helpers (no sprintf/strcpy) ---- */

struct w {
	char *p;
	size_t cap, len;
	bool overflow;
};

static void w_mem(struct w *w, const void *s, size_t n)
{
	if (w->len + n > w->cap) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void w_str(struct w *w, const char *s)
{
	w_mem(w, s, strlen(s));
}

static void w_num(struct w *w, long long x)
{
	char b[32];
	int n = snprintf(b, sizeof b, "%lld", x);
	w_mem(w, b, (size_t)n);
}

static void w_b64(struct w *w, const char *s, size_t n)
{
	static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)u[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (unsigned)u[i + 1] << 8;
		if (left > 2)
			v |= u[i + 2];
		char o[4] = {T[(v >> 18) & 63], T[(v >> 12) & 63], left > 1 ? T[(v >> 6) & 63] : '=',
		             left > 2 ? T[v & 63] : '='};
		w_mem(w, o, 4);
	}
}

/* ---- connections ---- */

static void ep_mod(struct conn *c, bool want_out)
{
	if (c->out_armed == want_out)
		return;
	c->out_armed = want_out;
	struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = c};
	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl mod");
}

static bool in_window(uint64_t t)
{
	return t >= g.win_start && t <= g.win_end;
}

static void conn_open(struct conn *c)
{
	int one = 1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket (raise ulimit -n?)");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->in_len = 0;
	c->out_len = c->out_off = 0;
	c->state = S_CONNECTING;
	c->out_armed = true;
	if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof g.addr) < 0 && errno != EINPROGRESS)
		die("connect");
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl add");
}

static void set_timer(struct conn *c, uint64_t at)
{
	if (!c->timer_ns)
		g.timers++;
	c->timer_ns = at ? at : 1;
}

static void clear_timer(struct conn *c)
{
	if (c->timer_ns) {
		g.timers--;
		c->timer_ns = 0;
	}
}

static void conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = c->tls ? gnutls_record_send(c->tls, c->out + c->out_off, c->out_len - c->out_off)
		                   : write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (c->tls && (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)) {
			ep_mod(c, true);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ep_mod(c, true);
				return;
			}
			return; /* the read side reports the failure */
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	ep_mod(c, false);
	if (c->state == S_WAITING && c->pend) {
		/* waiters: a request fully written counts as placed */
		c->pend = false;
		g.pending--;
		c->placed = true;
		g.ready++;
	}
}

/* Queues the request in c->out (already built) and writes it. */
static void conn_send(struct conn *c, struct w *w, enum state st)
{
	if (w->overflow) {
		fprintf(stderr, "loadgen: request too long\n");
		exit(1);
	}
	c->out_len = w->len;
	c->out_off = 0;
	c->state = st;
	c->sent_ns = mono_ns();
	if (in_window(c->sent_ns))
		g.requests++;
	conn_flush(c);
}

static struct w conn_w(struct conn *c)
{
	return (struct w){.p = c->out, .cap = OUT_CAP};
}

static void w_name(struct w *w, const struct conn *c, bool shared)
{
	w_str(w, opt.name);
	if (!shared) {
		w_num(w, c->idx);
		if (c->gen) {
			w_str(w, ".");
			w_num(w, c->gen);
		}
	} else if (opt.locks > 1)
		w_num(w, c->idx % opt.locks);
}

static void w_host(struct w *w)
{
	w_str(w, " HTTP/1.1\r\nHost: ");
	w_str(w, opt.host);
	w_str(w, "\r\n");
	if (opt.api_key) {
		w_str(w, "Authorization: Bearer ");
		w_str(w, opt.api_key);
		w_str(w, "\r\n");
	}
}

/* ---- dlockd requests ---- */

static bool shared_name(void)
{
	return opt.mode == M_HANDOFF || opt.mode == M_POLL || opt.mode == M_WAITERS;
}

static void send_put(struct conn *c, bool wait, long ttl_ms)
{
	struct w w = conn_w(c);
	w_str(&w, "PUT /locks/");
	w_name(&w, c, shared_name());
	w_str(&w, "?ttl_ms=");
	w_num(&w, ttl_ms);
	if (wait) {
		w_str(&w, "&wait_ms=");
		w_num(&w, opt.wait_ms);
	}
	w_host(&w);
	w_str(&w, "Content-Length: 0\r\n\r\n");
	conn_send(c, &w, opt.mode == M_WAITERS && c->idx > 0 ? S_WAITING : S_ACQ);
}

static void send_token_req(struct conn *c, const char *method, const char *suffix, enum state st)
{
	struct w w = conn_w(c);
	w_str(&w, method);
	w_str(&w, " /locks/");
	w_name(&w, c, shared_name());
	w_str(&w, suffix);
	w_host(&w);
	w_str(&w, "Lock-Token: ");
	w_str(&w, c->token);
	w_str(&w, "\r\nContent-Length: 0\r\n\r\n");
	conn_send(c, &w, st);
}

static void send_get(struct conn *c, const char *path)
{
	struct w w = conn_w(c);
	w_str(&w, "GET ");
	w_str(&w, path);
	w_host(&w);
	w_str(&w, "\r\n");
	conn_send(c, &w, S_GET);
}

/* ---- etcd requests ---- */

static void send_etcd(struct conn *c, const char *path, const char *body, size_t blen, enum state st)
{
	struct w w = conn_w(c);
	w_str(&w, "POST ");
	w_str(&w, path);
	w_host(&w);
	w_str(&w, "Content-Type: application/json\r\nContent-Length: ");
	w_num(&w, (long long)blen);
	w_str(&w, "\r\n\r\n");
	w_mem(&w, body, blen);
	conn_send(c, &w, st);
}

static void etcd_grant(struct conn *c)
{
	const char *b = "{\"TTL\":60}";
	c->op_ns = mono_ns();
	send_etcd(c, "/v3/lease/grant", b, strlen(b), S_GRANT);
}

static void etcd_lock(struct conn *c)
{
	char body[512], name[300];
	struct w w = {.p = body, .cap = sizeof body};
	struct w nw = {.p = name, .cap = sizeof name};
	w_name(&nw, c, false);
	w_str(&w, "{\"name\":\"");
	w_b64(&w, name, nw.len);
	w_str(&w, "\",\"lease\":\"");
	w_str(&w, c->lease);
	w_str(&w, "\"}");
	if (opt.mode == M_ETCD_REUSE)
		c->op_ns = mono_ns();
	send_etcd(c, "/v3/lock/lock", body, w.len, S_LOCK);
}

static void etcd_unlock(struct conn *c)
{
	char body[KEY_MAX + 32];
	struct w w = {.p = body, .cap = sizeof body};
	w_str(&w, "{\"key\":\"");
	w_str(&w, c->key);
	w_str(&w, "\"}");
	send_etcd(c, "/v3/lock/unlock", body, w.len, S_UNLOCK);
}

static void etcd_revoke(struct conn *c)
{
	char body[96];
	struct w w = {.p = body, .cap = sizeof body};
	w_str(&w, "{\"ID\":\"");
	w_str(&w, c->lease);
	w_str(&w, "\"}");
	send_etcd(c, "/v3/lease/revoke", body, w.len, S_REVOKE);
}

/* ---- Redis (RESP) requests ---- */

static void w_resp_arg(struct w *w, const char *s, size_t n)
{
	w_str(w, "$");
	w_num(w, (long long)n);
	w_str(w, "\r\n");
	w_mem(w, s, n);
	w_str(w, "\r\n");
}

static void w_resp_key(struct w *w, const char *type, const struct conn *c)
{
	char k[KEY_MAX];
	struct w kw = {.p = k, .cap = sizeof k};
	w_str(&kw, opt.key_prefix);
	w_str(&kw, type);
	w_str(&kw, ":{");
	w_name(&kw, c, false);
	w_str(&kw, "}");
	w_resp_arg(w, k, kw.len);
}

static void w_resp_s(struct w *w, const char *s)
{
	w_resp_arg(w, s, strlen(s));
}

/* The scripts' wake channel, and the "h:" token form they compare (what
 * dlockd sends in place of a token: see src/redis/scripts.h). */
static void redis_channel_token(const struct conn *c, char *chan, size_t ccap, char *tok, size_t tcap)
{
	snprintf(chan, ccap, "%swake", opt.key_prefix);
	snprintf(tok, tcap, "h:%s", c->token[0] ? c->token : "benchtoken0123456789abcdef0123456789abcdef0");
}

/* SCRIPT_ACQUIRE: KEYS lock, fence, queue, waitdl; ARGV token hash, ttl,
 * has_owner, owner, re-acquire hash, its SHA-1, waiter id, wait_ms, final,
 * channel, fence retention, waiter liveness, Redis run id. */
static void redis_acquire(struct conn *c)
{
	char chan[128], tok[128], ttl[24];
	struct w w = conn_w(c);
	redis_channel_token(c, chan, sizeof chan, tok, sizeof tok);
	snprintf(ttl, sizeof ttl, "%ld", opt.ttl_ms);
	c->op_ns = mono_ns();
	w_str(&w, "*20\r\n");
	w_resp_s(&w, "EVALSHA");
	w_resp_s(&w, opt.sha_acq);
	w_resp_s(&w, "4");
	w_resp_key(&w, "lock", c);
	w_resp_key(&w, "fence", c);
	w_resp_key(&w, "queue", c);
	w_resp_key(&w, "waitdl", c);
	w_resp_s(&w, tok);
	w_resp_s(&w, ttl);
	w_resp_s(&w, "0");
	w_resp_s(&w, "");
	w_resp_s(&w, "");
	w_resp_s(&w, "");
	w_resp_s(&w, "");
	w_resp_s(&w, "0");
	w_resp_s(&w, "0");
	w_resp_s(&w, chan);
	w_resp_s(&w, "10000");
	w_resp_s(&w, "3000");
	w_resp_s(&w, ""); /* the run: "" as in single-node mode (a Redlock node's is hex) */
	conn_send(c, &w, S_ACQ);
}

/* SCRIPT_RELEASE: KEYS lock, queue, waitdl, fence; ARGV token hash, its
 * SHA-1, channel, fence retention. */
static void redis_release(struct conn *c)
{
	char chan[128], tok[128];
	struct w w = conn_w(c);
	redis_channel_token(c, chan, sizeof chan, tok, sizeof tok);
	w_str(&w, "*11\r\n");
	w_resp_s(&w, "EVALSHA");
	w_resp_s(&w, opt.sha_rel);
	w_resp_s(&w, "4");
	w_resp_key(&w, "lock", c);
	w_resp_key(&w, "queue", c);
	w_resp_key(&w, "waitdl", c);
	w_resp_key(&w, "fence", c);
	w_resp_s(&w, tok);
	w_resp_s(&w, "");
	w_resp_s(&w, chan);
	w_resp_s(&w, "10000");
	conn_send(c, &w, S_REL);
}

/* ---- per-mode logic ---- */

static void record(uint64_t start)
{
	if (in_window(g.now) && !g.measuring_done) {
		g.ops++;
		vec_push(&g.lat, g.now > start ? g.now - start : 0);
	}
}

static void count_status(int st)
{
	if (st >= 100 && st < 600)
		g.status_count[st]++;
	else
		g.other_status++;
}

static void start_op(struct conn *c)
{
	if (g_stop || g.measuring_done)
		return;
	switch (opt.mode) {
	case M_PAIRS:
		c->op_ns = mono_ns();
		send_put(c, false, opt.ttl_ms);
		break;
	case M_RENEW:
		if (c->token[0]) {
			c->op_ns = mono_ns();
			send_token_req(c, "POST", "/renew", S_RENEW);
		} else {
			send_put(c, false, 600000);
		}
		break;
	case M_HEALTHZ:
	case M_CONNS:
		c->op_ns = mono_ns();
		send_get(c, "/healthz");
		break;
	case M_HANDOFF:
		send_put(c, true, opt.ttl_ms);
		break;
	case M_POLL:
		send_put(c, false, opt.ttl_ms);
		break;
	case M_ETCD_REUSE:
		if (c->lease[0])
			etcd_lock(c);
		else
			etcd_grant(c);
		break;
	case M_ETCD_LEASE:
		etcd_grant(c);
		break;
	case M_WAITERS:
		if (c->idx == 0)
			send_put(c, false, 600000);
		else
			send_put(c, true, opt.ttl_ms);
		break;
	case M_REDIS_PAIRS:
		redis_acquire(c);
		break;
	}
}

static bool json_str(const char *body, size_t len, const char *field, char *out, size_t cap)
{
	char pat[40];
	int pl = snprintf(pat, sizeof pat, "\"%s\":\"", field);
	const char *p = memmem(body, len, pat, (size_t)pl);
	if (!p)
		return false;
	p += pl;
	const char *end = memchr(p, '"', (size_t)(body + len - p));
	if (!end || (size_t)(end - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

static void grant_seen(struct conn *c)
{
	struct lockseq *q = &g.seq[c->idx % opt.locks];
	c->grant = (long)q->t_grant.n;
	vec_push(&q->t_grant, g.now);
	g.grants++;
	if (g.now < g.win_start)
		g.grants_at_start = g.grants;
	if (opt.count > 0 && g.grants - g.grants_at_start > opt.count && !g.measuring_done) {
		g.win_end = g.now;
		g.measuring_done = true;
	}
}

static void handoff_granted(struct conn *c, const char *body, size_t blen)
{
	if (!json_str(body, blen, "token", c->token, sizeof c->token)) {
		g.errors++;
		return;
	}
	grant_seen(c);
	if (opt.hold_us > 0 || opt.hold_jitter_us > 0) {
		uint64_t hold = (uint64_t)opt.hold_us;
		if (opt.hold_jitter_us > 0)
			hold += rnd() % (unsigned long)opt.hold_jitter_us;
		c->state = S_HOLD;
		set_timer(c, g.now + hold * 1000u);
	} else {
		send_token_req(c, "DELETE", "", S_REL);
	}
}

static void sleep_then_put(struct conn *c, uint64_t delay_ns)
{
	c->state = S_SLEEP;
	set_timer(c, g.now + delay_ns);
}

static void on_http(struct conn *c, int st, const char *body, size_t blen)
{
	count_status(st);
	if (st >= 500 && g.status_count[st] <= 2)
		fprintf(stderr, "loadgen: %d: %.*s\n", st, (int)(blen > 300 ? 300 : blen), body);
	switch (opt.mode) {
	case M_PAIRS:
		if (c->state == S_ACQ && st == 201 && json_str(body, blen, "token", c->token, sizeof c->token)) {
			send_token_req(c, "DELETE", "", S_REL);
			return;
		}
		if (c->state == S_REL && st == 204) {
			record(c->op_ns);
		} else {
			g.errors++;
			c->gen++;
		}
		start_op(c);
		return;
	case M_RENEW:
		if (c->state == S_ACQ) {
			if (st != 201 || !json_str(body, blen, "token", c->token, sizeof c->token)) {
				g.errors++;
				c->token[0] = '\0';
				c->gen++;
			}
		} else if (st == 200) {
			record(c->op_ns);
		} else {
			g.errors++;
			c->token[0] = '\0';
		}
		start_op(c);
		return;
	case M_HEALTHZ:
		if (st == 200)
			record(c->op_ns);
		else
			g.errors++;
		start_op(c);
		return;
	case M_CONNS:
		if (st == 200) {
			c->state = S_IDLE;
			if (c->pend) {
				c->pend = false;
				g.pending--;
				c->placed = true;
				g.ready++;
			}
		} else {
			g.errors++;
			start_op(c);
		}
		return;
	case M_WAITERS:
		if (c->idx == 0) {
			if (st == 201) {
				g.holder_ok = true;
				c->state = S_IDLE;
			} else {
				g.errors++;
				fprintf(stderr, "loadgen: holder PUT got %d\n", st);
				g_stop = 1;
			}
		} else {
			g.errors++; /* a suspended waiter should not be answered */
			c->state = S_IDLE;
		}
		return;
	case M_HANDOFF:
	case M_POLL:
		if (c->state == S_ACQ) {
			if (st == 201) {
				handoff_granted(c, body, blen);
			} else if (st == 409 && opt.mode == M_POLL) {
				g.polls409++;
				sleep_then_put(c, (uint64_t)opt.poll_ms * 1000000u);
			} else if (st == 409) {
				g.timeouts++;
				start_op(c);
			} else {
				g.errors++;
				sleep_then_put(c, 10000000u);
			}
		} else if (c->state == S_REL) {
			if (st == 204) {
				vec_set(&g.seq[c->idx % opt.locks].t_rel, (size_t)c->grant, g.now);
				if (opt.mode == M_POLL)
					sleep_then_put(c, (uint64_t)opt.poll_ms * 1000000u);
				else
					start_op(c);
			} else {
				g.errors++;
				start_op(c);
			}
		}
		return;
	case M_ETCD_REUSE:
	case M_ETCD_LEASE:
		if (st != 200) {
			g.errors++;
			c->lease[0] = '\0';
			start_op(c);
			return;
		}
		switch (c->state) {
		case S_GRANT:
			if (!json_str(body, blen, "ID", c->lease, sizeof c->lease)) {
				g.errors++;
				start_op(c);
				return;
			}
			etcd_lock(c);
			return;
		case S_LOCK:
			if (!json_str(body, blen, "key", c->key, sizeof c->key)) {
				g.errors++;
				start_op(c);
				return;
			}
			etcd_unlock(c);
			return;
		case S_UNLOCK:
			if (opt.mode == M_ETCD_LEASE) {
				etcd_revoke(c);
				return;
			}
			record(c->op_ns);
			start_op(c);
			return;
		case S_REVOKE:
			c->lease[0] = '\0';
			record(c->op_ns);
			start_op(c);
			return;
		default:
			g.errors++;
			start_op(c);
			return;
		}
	case M_REDIS_PAIRS:
		return;
	}
}

static void on_timer(struct conn *c)
{
	clear_timer(c);
	if (c->state == S_HOLD)
		send_token_req(c, "DELETE", "", S_REL);
	else if (c->state == S_SLEEP)
		start_op(c);
}

/* ---- response parsing ---- */

struct hresp {
	int status;
	const char *body;
	size_t body_len;
	bool close;
};

static bool hdr_is(const char *line, size_t ll, const char *name)
{
	size_t n = strlen(name);
	return ll >= n && strncasecmp(line, name, n) == 0;
}

static bool hdr_has(const char *line, size_t ll, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i + n <= ll; i++)
		if (strncasecmp(line + i, word, n) == 0)
			return true;
	return false;
}

/* Returns the length of one complete response at p, 0 if incomplete, -1 if malformed. */
static long http_parse(const char *p, size_t n, struct hresp *r)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	if (!end)
		return n >= IN_CAP ? -1 : 0;
	size_t hlen = (size_t)(end - p) + 4;
	if (hlen < 14 || memcmp(p, "HTTP/1.", 7) != 0)
		return -1;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	r->close = false;
	long clen = -1;
	bool chunked = false;
	const char *line = memchr(p, '\n', hlen);
	line = line ? line + 1 : p + hlen;
	while (line < p + hlen - 2) {
		const char *eol = memchr(line, '\n', (size_t)(p + hlen - line));
		if (!eol)
			break;
		size_t ll = (size_t)(eol - line);
		if (hdr_is(line, ll, "content-length:"))
			clen = strtol(line + 15, NULL, 10);
		else if (hdr_is(line, ll, "transfer-encoding:") && hdr_has(line, ll, "chunked"))
			chunked = true;
		else if (hdr_is(line, ll, "connection:") && hdr_has(line, ll, "close"))
			r->close = true;
		line = eol + 1;
	}
	if (chunked) {
		size_t pos = hlen;
		for (;;) {
			const char *nl = memchr(p + pos, '\n', n - pos);
			if (!nl)
				return 0;
			long sz = strtol(p + pos, NULL, 16);
			pos = (size_t)(nl - p) + 1;
			if (sz < 0)
				return -1;
			if (sz == 0) {
				if (n < pos + 2)
					return 0;
				r->body = p + hlen;
				r->body_len = pos - hlen;
				return (long)(pos + 2);
			}
			if (n < pos + (size_t)sz + 2)
				return n >= IN_CAP ? -1 : 0;
			pos += (size_t)sz + 2;
		}
	}
	if (clen < 0 || r->status == 204 || r->status == 304)
		clen = 0;
	if (hlen + (size_t)clen > IN_CAP)
		return -1;
	if (n < hlen + (size_t)clen)
		return 0;
	r->body = p + hlen;
	r->body_len = (size_t)clen;
	return (long)(hlen + (size_t)clen);
}

/* One complete RESP reply at p: its length, 0 if incomplete, -1 if malformed. */
static long resp_skip(const char *p, size_t n, int depth)
{
	if (n < 1)
		return 0;
	if (depth > 8)
		return -1;
	const char *nl = memchr(p, '\n', n);
	if (!nl)
		return 0;
	size_t line = (size_t)(nl - p) + 1;
	long v;
	switch (p[0]) {
	case '+':
	case '-':
	case ':':
		return (long)line;
	case '$':
		v = strtol(p + 1, NULL, 10);
		if (v < 0)
			return (long)line;
		if (n < line + (size_t)v + 2)
			return 0;
		return (long)(line + (size_t)v + 2);
	case '*': {
		v = strtol(p + 1, NULL, 10);
		size_t off = line;
		for (long i = 0; i < v; i++) {
			long r = resp_skip(p + off, n - off, depth + 1);
			if (r <= 0)
				return r;
			off += (size_t)r;
		}
		return (long)off;
	}
	default:
		return -1;
	}
}

static void on_resp(struct conn *c, const char *p, size_t n)
{
	if (c->state == S_ACQ) {
		if (n >= 8 && memcmp(p, "*9\r\n:1\r\n", 8) == 0) {
			redis_release(c);
			return;
		}
		g.errors++;
		if (g.errors < 3)
			fprintf(stderr, "loadgen: unexpected acquire reply: %.*s\n", (int)(n > 80 ? 80 : n), p);
	} else if (c->state == S_REL) {
		if (n >= 8 && memcmp(p, "*1\r\n:1\r\n", 8) == 0)
			record(c->op_ns);
		else
			g.errors++;
	}
	start_op(c);
}

/* --tls: one step of the handshake; false if it failed (the connection is lost). */
static gnutls_certificate_credentials_t g_tls_cred;

static bool tls_step(struct conn *c)
{
	int rc;

	if (!c->tls) {
		if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0 || gnutls_set_default_priority(c->tls) < 0 ||
		    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, g_tls_cred) < 0)
			die("gnutls_init");
		gnutls_transport_set_int(c->tls, c->fd);
		c->state = S_HANDSHAKE;
	}
	rc = gnutls_handshake(c->tls);
	if (rc == GNUTLS_E_SUCCESS) {
		c->state = S_NONE;
		ep_mod(c, false);
		return true;
	}
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc)) {
		ep_mod(c, gnutls_record_get_direction(c->tls) == 1);
		return true;
	}
	if (g.disconnects < 3)
		fprintf(stderr, "loadgen: TLS handshake: %s\n", gnutls_strerror(rc));
	return false;
}

static void conn_lost(struct conn *c)
{
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	clear_timer(c);
	c->state = S_CLOSED;
	g.disconnects++;
	if (c->pend) {
		c->pend = false;
		g.pending--;
	}
	if (c->placed) {
		c->placed = false;
		g.ready--;
	}
	if (opt.mode == M_CONNS || opt.mode == M_WAITERS) {
		if (c->idx == 0 && opt.mode == M_WAITERS)
			g_stop = 1; /* the holder is gone */
		return;
	}
	if (!g_stop && !g.measuring_done) {
		if (opt.mode != M_REDIS_PAIRS)
			c->token[0] = '\0';
		c->lease[0] = '\0';
		conn_open(c);
	}
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (c->state == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			errno = err;
			if (g.disconnects < 3)
				fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
			conn_lost(c);
			return;
		}
		c->state = S_NONE;
		ep_mod(c, false);
		if (opt.tls) {
			if (!tls_step(c))
				conn_lost(c);
			if (c->state != S_NONE)
				return;
		}
		if (opt.mode == M_POLL && !c->grant_seen_once) {
			/* spread the pollers' first tries over one poll interval */
			c->grant_seen_once = true;
			sleep_then_put(c, (uint64_t)(rnd() % (unsigned)(opt.poll_ms * 1000)) * 1000u);
			return;
		}
		start_op(c);
		return;
	}
	if (c->state == S_HANDSHAKE) {
		if (!tls_step(c)) {
			conn_lost(c);
			return;
		}
		if (c->state == S_HANDSHAKE)
			return;
		if (opt.mode == M_POLL && !c->grant_seen_once) {
			c->grant_seen_once = true;
			sleep_then_put(c, (uint64_t)(rnd() % (unsigned)(opt.poll_ms * 1000)) * 1000u);
			return;
		}
		start_op(c);
		return;
	}
	if ((ev & EPOLLOUT) && c->out_off < c->out_len)
		conn_flush(c);
	if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	/* One read per event: a response to a request sent while handling this
	 * batch waits for the next epoll_wait, so it gets a fresh arrival time. */
	{
		if (c->in_len >= IN_CAP) {
			g.errors++;
			conn_lost(c);
			return;
		}
		ssize_t r = c->tls ? gnutls_record_recv(c->tls, c->in + c->in_len, IN_CAP - c->in_len)
		                   : read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		if (c->tls && (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED))
			return;
		if (c->tls && r < 0) {
			conn_lost(c);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_lost(c);
			return;
		}
		if (r == 0) {
			conn_lost(c);
			return;
		}
		c->in_len += (size_t)r;
		c->in[c->in_len] = '\0';
		size_t off = 0;
		for (;;) {
			long used;
			if (opt.mode == M_REDIS_PAIRS) {
				used = resp_skip(c->in + off, c->in_len - off, 0);
				if (used > 0)
					on_resp(c, c->in + off, (size_t)used);
			} else {
				struct hresp h;
				used = http_parse(c->in + off, c->in_len - off, &h);
				if (used > 0) {
					on_http(c, h.status, h.body, h.body_len);
					if (h.close && c->fd >= 0) {
						off += (size_t)used;
						conn_lost(c);
						return;
					}
				}
			}
			if (used < 0) {
				g.errors++;
				conn_lost(c);
				return;
			}
			if (used == 0)
				break;
			off += (size_t)used;
			if (c->fd < 0)
				return;
		}
		if (off > 0) {
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
		}
	}
}

/* conns / waiters: keep at most inflight_max connections being set up. */
static void open_more(void)
{
	if (opt.mode == M_WAITERS && !g.holder_ok)
		return;
	while (g.pending < opt.inflight_max && g.opened < g.nc && !g_stop) {
		struct conn *c = &g.c[g.opened++];
		c->pend = true;
		g.pending++;
		conn_open(c);
	}
}

static void write_ready(void)
{
	if (!opt.ready_file || g.ready_written)
		return;
	g.ready_written = true;
	int fd = open(opt.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("ready file");
	char b[64];
	int n = snprintf(b, sizeof b, "ready %d\n", g.ready);
	if (write(fd, b, (size_t)n) != n)
		die("ready file write");
	close(fd);
}

static void run_timers(void)
{
	uint64_t next = 0;
	for (int i = 0; i < g.nc && g.timers > 0; i++) {
		struct conn *c = &g.c[i];
		if (!c->timer_ns)
			continue;
		if (c->timer_ns <= g.now)
			on_timer(c);
		if (c->timer_ns && (!next || c->timer_ns < next))
			next = c->timer_ns;
	}
	if (next && next != g.armed_ns) {
		struct itimerspec its = {
		    .it_value = {.tv_sec = (time_t)(next / 1000000000u), .tv_nsec = (long)(next % 1000000000u)}};
		if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
			die("timerfd_settime");
		g.armed_ns = next;
	}
}

/* ---- results ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(struct u64vec *v, double p)
{
	if (!v->n)
		return -1;
	size_t i = (size_t)(p * (double)v->n);
	if (i >= v->n)
		i = v->n - 1;
	return (double)v->v[i] / 1000.0;
}

/* The percentiles (in %) listed as "PFXpcts": [[q, us], ...] for bench/plot.py. */
static const double PCTS[] = {1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100};

/* Sorts v, then prints its summary as JSON members with names prefixed by pfx:
 * p50/p90/p99/max/mean in µs (-1 when v is empty) and the PCTS list ([] when empty). */
static void print_lat(const char *pfx, struct u64vec *v)
{
	qsort(v->v, v->n, sizeof *v->v, cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < v->n; i++)
		sum += (double)v->v[i];
	printf(",\"%sp50_us\":%.1f,\"%sp90_us\":%.1f,\"%sp99_us\":%.1f,\"%smax_us\":%.1f,\"%smean_us\":%.1f", pfx,
	       pct_us(v, 0.5), pfx, pct_us(v, 0.9), pfx, pct_us(v, 0.99), pfx,
	       v->n ? (double)v->v[v->n - 1] / 1000.0 : -1, pfx, v->n ? sum / (double)v->n / 1000.0 : -1);
	printf(",\"%spcts\":[", pfx);
	for (size_t k = 0; v->n && k < sizeof PCTS / sizeof PCTS[0]; k++)
		printf("%s[%g,%.1f]", k ? "," : "", PCTS[k], pct_us(v, PCTS[k] / 100));
	printf("]");
}

static void report(void)
{
	uint64_t end = g.measuring_done ? g.win_end : (g.now < g.win_end ? g.now : g.win_end);
	double secs = end > g.win_start ? (double)(end - g.win_start) / 1e9 : 0;
	printf("{\"mode\":\"%s\",\"conns\":%d,\"seconds\":%.3f,\"ops\":%llu,\"rate\":%.1f", MODE_NAMES[opt.mode],
	       opt.nconns, secs, (unsigned long long)g.ops, secs > 0 ? (double)g.ops / secs : 0);
	print_lat("", &g.lat);
	printf(",\"requests\":%llu,\"req_rate\":%.1f", (unsigned long long)g.requests,
	       secs > 0 ? (double)g.requests / secs : 0);
	if (opt.mode == M_HANDOFF || opt.mode == M_POLL) {
		struct u64vec ho = {0};
		unsigned long reordered = 0;
		for (int l = 0; l < opt.locks; l++)
			for (size_t k = 0; k + 1 < g.seq[l].t_grant.n; k++) {
				struct lockseq *q = &g.seq[l];
				if (k >= q->t_rel.n || !q->t_rel.v[k])
					continue;
				uint64_t rel = q->t_rel.v[k], next = q->t_grant.v[k + 1];
				if (rel < g.win_start || rel > end)
					continue;
				if (next < rel) {
					if (getenv("LOADGEN_DEBUG"))
						fprintf(stderr, "k=%zu rel=%.3fms next-rel=-%.1fus\n", k,
						        (double)(rel - g.t0) / 1e6, (double)(rel - next) / 1e3);
					reordered++;
					next = rel;
				}
				vec_push(&ho, next - rel);
			}
		printf(",\"handoffs\":%zu,\"handoff_rate\":%.1f", ho.n, secs > 0 ? (double)ho.n / secs : 0);
		print_lat("ho_", &ho);
		printf(",\"ho_201_before_204\":%lu,\"wait_timeouts\":%llu,\"polls_409\":%llu", reordered,
		       (unsigned long long)g.timeouts, (unsigned long long)g.polls409);
		free(ho.v);
	}
	if (opt.mode == M_CONNS || opt.mode == M_WAITERS)
		printf(",\"ready\":%d,\"holder_ok\":%s", g.ready, g.holder_ok ? "true" : "false");
	printf(",\"errors\":%llu,\"disconnects\":%llu,\"statuses\":\"", (unsigned long long)g.errors,
	       (unsigned long long)g.disconnects);
	bool first = true;
	for (int s = 100; s < 600; s++) {
		if (!g.status_count[s])
			continue;
		printf("%s%d:%u", first ? "" : " ", s, g.status_count[s]);
		first = false;
	}
	printf("\"}\n");
	fflush(stdout);
	fprintf(stderr, "loadgen %s: c=%d %.2fs ops=%llu (%.0f/s) errors=%llu disconnects=%llu\n", MODE_NAMES[opt.mode],
	        opt.nconns, secs, (unsigned long long)g.ops, secs > 0 ? (double)g.ops / secs : 0,
	        (unsigned long long)g.errors, (unsigned long long)g.disconnects);
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen MODE --port P [-c N] [-d SECONDS] [--warmup S] [-n COUNT] [--name NAME]\n"
	                "       [--ttl-ms MS] [--wait-ms MS] [--hold-us US] [--hold-jitter-us US] [--locks K]\n"
	                "       [--poll-ms MS] [--ready-file F]\n"
	                "       [--max-seconds S] [--sha-acquire SHA --sha-release SHA] [--key-prefix P] [--tls]\n"
	                "       [--api-key KEY]\n"
	                "modes: pairs renew healthz handoff poll etcd-reuse etcd-lease conns waiters redis-pairs\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"host", required_argument, 0, 'H'},
	    {"port", required_argument, 0, 'p'},
	    {"conns", required_argument, 0, 'c'},
	    {"duration", required_argument, 0, 'd'},
	    {"warmup", required_argument, 0, 'w'},
	    {"count", required_argument, 0, 'n'},
	    {"name", required_argument, 0, 'N'},
	    {"ttl-ms", required_argument, 0, 't'},
	    {"wait-ms", required_argument, 0, 'W'},
	    {"hold-us", required_argument, 0, 'o'},
	    {"poll-ms", required_argument, 0, 'P'},
	    {"ready-file", required_argument, 0, 'r'},
	    {"max-seconds", required_argument, 0, 'm'},
	    {"sha-acquire", required_argument, 0, 'A'},
	    {"sha-release", required_argument, 0, 'R'},
	    {"key-prefix", required_argument, 0, 'K'},
	    {"inflight", required_argument, 0, 'i'},
	    {"seed", required_argument, 0, 's'},
	    {"hold-jitter-us", required_argument, 0, 'j'},
	    {"locks", required_argument, 0, 'L'},
	    {"tls", no_argument, 0, 'T'},
	    {"api-key", required_argument, 0, 'k'},
	    {0, 0, 0, 0},
	};
	if (argc < 2)
		usage();
	bool found = false;
	for (size_t m = 0; m < sizeof MODE_NAMES / sizeof *MODE_NAMES; m++)
		if (strcmp(argv[1], MODE_NAMES[m]) == 0) {
			opt.mode = (enum mode)m;
			found = true;
		}
	if (!found)
		usage();
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:d:n:p:", lo, NULL)) != -1) {
		switch (ch) {
		case 'H':
			opt.host = optarg;
			break;
		case 'k':
			opt.api_key = optarg;
			break;
		case 'T':
			opt.tls = true;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 'c':
			opt.nconns = atoi(optarg);
			break;
		case 'd':
			opt.duration = atof(optarg);
			break;
		case 'w':
			opt.warmup = atof(optarg);
			break;
		case 'n':
			opt.count = atol(optarg);
			break;
		case 'N':
			opt.name = optarg;
			break;
		case 't':
			opt.ttl_ms = atol(optarg);
			break;
		case 'W':
			opt.wait_ms = atol(optarg);
			break;
		case 'o':
			opt.hold_us = atol(optarg);
			break;
		case 'j':
			opt.hold_jitter_us = atol(optarg);
			break;
		case 'L':
			opt.locks = atoi(optarg);
			break;
		case 'P':
			opt.poll_ms = atol(optarg);
			break;
		case 'r':
			opt.ready_file = optarg;
			break;
		case 'm':
			opt.max_seconds = atof(optarg);
			break;
		case 'A':
			opt.sha_acq = optarg;
			break;
		case 'R':
			opt.sha_rel = optarg;
			break;
		case 'K':
			opt.key_prefix = optarg;
			break;
		case 'i':
			opt.inflight_max = atoi(optarg);
			break;
		case 's':
			opt.seed = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (opt.port <= 0 || opt.nconns <= 0 || opt.locks <= 0 ||
	    (opt.mode == M_REDIS_PAIRS && (!opt.sha_acq || !opt.sha_rel)))
		usage();

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	g.addr.sin_family = AF_INET;
	g.addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &g.addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
		return 2;
	}
	g.rng = opt.seed ? opt.seed : 1;
	if (opt.tls && gnutls_certificate_allocate_credentials(&g_tls_cred) < 0)
		die("gnutls_certificate_allocate_credentials");
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (g.ep < 0 || g.tfd < 0)
		die("epoll/timerfd");
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &tev) < 0)
		die("epoll_ctl timerfd");

	bool idle_mode = opt.mode == M_CONNS || opt.mode == M_WAITERS;
	g.nc = opt.nconns + (opt.mode == M_WAITERS ? 1 : 0);
	g.c = calloc((size_t)g.nc, sizeof *g.c);
	g.seq = calloc((size_t)opt.locks, sizeof *g.seq);
	if (!g.c || !g.seq)
		die("calloc");
	for (int i = 0; i < g.nc; i++) {
		g.c[i].idx = i;
		g.c[i].fd = -1;
		g.c[i].grant = -1;
		/* the raw-Redis mode uses a fixed token: the pair needs no reply parsing */
		snprintf(g.c[i].token, sizeof g.c[i].token, "%s",
		         opt.mode == M_REDIS_PAIRS ? "benchtoken0123456789abcdef012345" : "");
	}

	g.t0 = g.now = mono_ns();
	g.win_start = g.t0 + (uint64_t)(opt.warmup * 1e9);
	g.win_end = idle_mode ? UINT64_MAX : g.win_start + (uint64_t)(opt.duration * 1e9);
	uint64_t hard_end = g.t0 + (uint64_t)(opt.max_seconds * 1e9);

	if (idle_mode) {
		g.win_start = g.t0;
		if (opt.mode == M_WAITERS) {
			/* the holder first; waiters once it holds */
			conn_open(&g.c[0]);
			g.opened = 1;
		} else {
			open_more();
		}
	} else {
		for (int i = 0; i < g.nc; i++)
			conn_open(&g.c[i]);
	}

	struct epoll_event evs[MAX_EVENTS];
	while (!g_stop) {
		int timeout = 50;
		if (!idle_mode && !g.measuring_done) {
			uint64_t left = g.win_end > g.now ? g.win_end - g.now : 0;
			if (left / 1000000u < 50u)
				timeout = (int)(left / 1000000u) + 1;
		}
		int n = epoll_wait(g.ep, evs, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		g.now = mono_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				uint64_t x;
				if (read(g.tfd, &x, sizeof x) < 0 && errno != EAGAIN)
					die("timerfd read");
				g.armed_ns = 0;
				continue;
			}
			if (c->fd >= 0)
				conn_event(c, evs[i].events);
		}
		if (g.timers > 0)
			run_timers();
		if (idle_mode) {
			open_more();
			if (g.opened == g.nc && g.pending == 0 && (opt.mode != M_WAITERS || g.holder_ok))
				write_ready();
		} else if (g.now >= g.win_end || g.measuring_done) {
			g.measuring_done = true;
			break;
		}
		if (g.now >= hard_end) {
			fprintf(stderr, "loadgen: --max-seconds reached\n");
			break;
		}
	}
	/* Nothing to drain: closing the sockets takes waiters out of line, and
	 * locks left held expire with their lease (each workload uses its own names). */
	report();
	return 0;
}
