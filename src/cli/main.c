/* dlock: the command-line client of dlockd — option parsing, `--help`, and the one-shot
 * subcommands (acquire, renew, release, status, list); `run` lives in run.c. Wiring only:
 * requests are built in call.c, durations parsed in timing.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/random.h>

#include "base/digest.h"
#include "base/text.h"
#include "cli/call.h"
#include "cli/run.h"
#include "cli/timing.h"
#include "server/auth.h"

static const char USAGE[] =
    "usage: dlock [--url URL]... [--cacert FILE] [--timeout DUR] [-q|--quiet] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  acquire NAME [--ttl DUR] [--wait DUR] [--owner TEXT]   print the token (the grant with --json)\n"
    "  renew NAME [--ttl DUR] [--token T|-]                    extend the lease\n"
    "  release NAME [--token T|-]                              release the lock\n"
    "  status NAME                                             the public view; exit 0 held, 1 free\n"
    "  list [--prefix P]                                       the locks held (a table, or --json)\n"
    "  run NAME [--ttl DUR] [--wait DUR] [--grace DUR] [--owner TEXT] -- COMMAND [ARG...]\n"
    "                                                          run COMMAND while holding the lock\n"
    "  keygen ID PREFIX RIGHTS                                 a new API key (stdout) and its\n"
    "                                                          --auth-file line (stderr)\n"
    "\n"
    "options:\n"
    "  --url URL       dlockd's base URL (env DLOCK_URL; default http://127.0.0.1:8080). Give it\n"
    "                  up to 8 times (DLOCK_URL: a comma list) for dlockd replicas sharing a\n"
    "                  Redis: a call that gets no answer or a 503 goes to the next one\n"
    "  --cacert FILE   for an https:// URL, trust the CA certificate(s) in FILE (PEM) instead of\n"
    "                  the system's (env DLOCK_CACERT)\n"
    "  --timeout DUR   limit of each call (default 10s; a waiting acquire: its --wait plus this),\n"
    "                  shared by the replicas it tries: each gets an equal part of what is left\n"
    "  -q, --quiet     no messages on stderr but errors\n"
    "  --json          JSON output (run: one JSON event per line on stderr)\n"
    "  --api-key-file F  the API key: the first line of file F (env DLOCK_API_KEY; --api-key KEY\n"
    "                  also works, but is visible in /proc)\n"
    "  DUR is 250ms, 30s, 5m, 1h, or plain milliseconds.\n"
    "\n"
    "The token: --token T, --token - (read from stdin) or env DLOCK_TOKEN. Arguments are\n"
    "visible to every user in /proc/<pid>/cmdline: prefer --token - or DLOCK_TOKEN, and\n"
    "--api-key-file or DLOCK_API_KEY.\n"
    "\n"
    "exit status:\n"
    "  0   done (status: held)         1   status: the lock is free\n"
    "  3   renew/release: not held by that token\n"
    "  64  usage error                 69  dlockd unreachable or unavailable (5xx)\n"
    "  74  run: the lock was lost while COMMAND ran (COMMAND was stopped)\n"
    "  75  acquire/run: not acquired (held, or the wait ran out); any: over the key's rate (429)\n"
    "  77  refused by auth (401/403)\n"
    "  run: otherwise COMMAND's own status, 128+N if it died of signal N. A COMMAND that itself\n"
    "  exits 74 or 75 cannot be told apart from dlock's own (as with timeout(1)).\n"
    "\n"
    "`dlock COMMAND --help` describes each command.\n";

static const char HELP_ACQUIRE[] =
    "usage: dlock acquire NAME [--ttl DUR] [--wait DUR] [--owner TEXT]\n"
    "Acquires NAME for --ttl (dlockd's default when absent), waiting up to --wait (default 0),\n"
    "and prints the token on stdout (the whole grant with --json). Exit 0; 75 not acquired.\n";
static const char HELP_RENEW[] = "usage: dlock renew NAME [--ttl DUR] [--token T|-]\n"
                                 "Extends the lease of NAME (to --ttl from now, else its last ttl). The token\n"
                                 "comes from --token T, --token - (stdin) or env DLOCK_TOKEN; T on the command\n"
                                 "line is visible in /proc. Exit 0; 3 when NAME is not held by that token.\n";
static const char HELP_RELEASE[] = "usage: dlock release NAME [--token T|-]\n"
                                   "Releases NAME. The token as for renew. Exit 0; 3 when NAME is not held by\n"
                                   "that token.\n";
static const char HELP_STATUS[] = "usage: dlock status NAME\n"
                                  "Prints the public view of NAME (holder, fence, expiry; JSON with --json).\n"
                                  "Exit 0 held, 1 free.\n";
static const char HELP_LIST[] = "usage: dlock list [--prefix P]\n"
                                "Lists the locks held (whose names start with P), one per line, or a JSON\n"
                                "array with --json; follows the cursors to the end.\n";
static const char HELP_KEYGEN[] =
    "usage: dlock keygen ID PREFIX RIGHTS\n"
    "Makes a new API key (256 random bits) and prints it on stdout, and on stderr the line\n"
    "for dlockd's --auth-file, which holds only the key's SHA-256:  ID sha256:HEX PREFIX RIGHTS.\n"
    "ID: a label for logs (A-Z a-z 0-9 . _ - : @). PREFIX: the lock names the key may use,\n"
    "a plain string prefix (end it with a separator: team-a. does not cover team-ab), or *.\n"
    "RIGHTS: a comma list of read (inspect, list), lock (acquire, renew, release), metrics,\n"
    "admin (all, on every name). Needs no dlockd. Exit 0; 64 for a bad argument.\n";
static const char HELP_RUN[] =
    "usage: dlock run NAME [--ttl DUR] [--wait DUR] [--grace DUR] [--owner TEXT] -- COMMAND [ARG...]\n"
    "Acquires NAME (waiting up to --wait, default 0), runs COMMAND (no shell) in its own process\n"
    "group with DLOCK_NAME, DLOCK_FENCE and DLOCK_EXPIRES_AT in its environment (never the\n"
    "token), renews every ttl/3 (--ttl default 30s), and releases NAME when COMMAND exits.\n"
    "Lock lost (renew refused): SIGTERM at once, SIGKILL after --grace (default 5s).\n"
    "Lock not confirmed (dlockd or Redis unreachable): with E the last confirmed expiry, counted\n"
    "from when that renew was sent, and M = max(100ms, ttl/20): SIGTERM at E-M-grace, SIGKILL at\n"
    "E-M. A --grace longer than ttl-M-2*ttl/3 is shortened (with a note). SIGINT, SIGTERM and\n"
    "SIGHUP are forwarded to COMMAND.\n"
    "Exit: COMMAND's status (128+N for signal N); 74 lock lost; 75 not acquired; 69 dlockd\n"
    "unreachable; 64 usage. A COMMAND that itself exits 74 or 75 cannot be told apart.\n";

struct opts {
	struct cli_global g;
	const char *cmd, *name, *owner, *token, *prefix, *api_key, *api_key_file, *cacert;
	const char *more[2]; /* keygen: PREFIX and RIGHTS after NAME (the ID) */
	int64_t ttl_ms, wait_ms, grace_ms;
	bool have_ttl, help;
	char **argv; /* run: COMMAND */
};

static int usage_error(const char *cmd, const char *msg, const char *arg)
{
	fprintf(stderr, "dlock%s%s: %s%s; see dlock %s%s--help\n", cmd ? " " : "", cmd ? cmd : "", msg, arg ? arg : "",
	        cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* Value of option argv[*i] ("--opt V" or "--opt=V"), advancing *i; NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool is_opt(const char *arg, const char *opt)
{
	size_t n = strlen(opt);
	return strncmp(arg, opt, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Adds url to the replicas to try; false (with a message) when there are too many. */
static bool add_url(struct opts *o, const char *url)
{
	if (o->g.urls.n == CALL_URLS_MAX) {
		usage_error(o->cmd, "too many dlockd URLs (at most 8): ", url);
		return false;
	}
	o->g.urls.base[o->g.urls.n++] = url;
	return true;
}

/* DLOCK_URL's copy, split at its commas; freed at exit. */
static char *g_env_urls;

static void free_env_urls(void)
{
	free(g_env_urls);
}

/* DLOCK_URL, a comma-separated list, into o's replicas (empty items skipped). */
static int env_urls(struct opts *o, const char *env)
{
	char *save = NULL;

	if (!env || !*env)
		return 0;
	g_env_urls = strdup(env);
	if (!g_env_urls || atexit(free_env_urls) != 0)
		return EXIT_UNAVAILABLE;
	for (char *p = g_env_urls; p; p = save) {
		save = strchr(p, ',');
		if (save)
			*save++ = '\0';
		if (*p && !add_url(o, p))
			return EXIT_USAGE;
	}
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const char *const DUR_OPTS[] = {"--timeout", "--ttl", "--wait", "--grace"};
	const char *env;
	bool url_flag = false;
	int rc = env_urls(o, getenv("DLOCK_URL"));

	if (rc)
		return rc;
	env = getenv("DLOCK_CACERT");
	o->cacert = env && *env ? env : NULL;
	o->g.timeout_ms = 10000;
	o->grace_ms = 5000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		bool dur = false;

		for (size_t k = 0; k < sizeof DUR_OPTS / sizeof DUR_OPTS[0]; k++) {
			int64_t ms;
			if (!is_opt(a, DUR_OPTS[k]))
				continue;
			dur = true;
			v = opt_value(argc, argv, &i, DUR_OPTS[k]);
			if (!v)
				return usage_error(o->cmd, "missing value for ", DUR_OPTS[k]);
			if (!timing_parse_dur(v, &ms))
				return usage_error(o->cmd, "not a duration (250ms, 30s, 5m, 1h or plain ms): ", v);
			if (k == 0)
				o->g.timeout_ms = ms;
			else if (k == 1) {
				o->ttl_ms = ms;
				o->have_ttl = true;
			} else if (k == 2)
				o->wait_ms = ms;
			else
				o->grace_ms = ms;
		}
		if (dur)
			continue;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->help = true;
		else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			o->g.quiet = true;
		else if (strcmp(a, "--json") == 0)
			o->g.json = true;
		else if (is_opt(a, "--url") || is_opt(a, "--owner") || is_opt(a, "--token") || is_opt(a, "--prefix") ||
		         is_opt(a, "--api-key") || is_opt(a, "--api-key-file") || is_opt(a, "--cacert")) {
			const char *name = is_opt(a, "--url")            ? "--url"
			                   : is_opt(a, "--owner")        ? "--owner"
			                   : is_opt(a, "--token")        ? "--token"
			                   : is_opt(a, "--api-key")      ? "--api-key"
			                   : is_opt(a, "--api-key-file") ? "--api-key-file"
			                   : is_opt(a, "--cacert")       ? "--cacert"
			                                                 : "--prefix";
			v = opt_value(argc, argv, &i, name);
			if (!v)
				return usage_error(o->cmd, "missing value for ", name);
			if (name[2] == 'u') {
				if (!url_flag)
					o->g.urls.n = 0; /* the flags replace DLOCK_URL's list */
				url_flag = true;
				if (!add_url(o, v))
					return EXIT_USAGE;
			} else if (name[2] == 'o')
				o->owner = v;
			else if (name[2] == 'c')
				o->cacert = v;
			else if (name[2] == 't')
				o->token = v;
			else if (strcmp(name, "--api-key") == 0)
				o->api_key = v;
			else if (name[2] == 'a')
				o->api_key_file = v;
			else
				o->prefix = v;
		} else if (strcmp(a, "--") == 0 || (a[0] != '-' && o->name && o->cmd && strcmp(o->cmd, "run") == 0)) {
			if (!o->cmd || strcmp(o->cmd, "run") != 0)
				return usage_error(o->cmd, "unexpected ", a);
			o->argv = argv + i + (strcmp(a, "--") == 0);
			break;
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error(o->cmd, "unknown option ", a);
		} else if (!o->cmd) {
			o->cmd = a;
		} else if (!o->name) {
			o->name = a;
		} else if (strcmp(o->cmd, "keygen") == 0 && !o->more[1]) {
			o->more[o->more[0] ? 1 : 0] = a;
		} else {
			return usage_error(o->cmd, "unexpected argument ", a);
		}
	}
	if (o->g.urls.n == 0)
		o->g.urls.base[o->g.urls.n++] = "http://127.0.0.1:8080";
	return 0;
}

/* The token from --token T, --token - (one line on stdin) or DLOCK_TOKEN; malloc'd. */
static char *read_token(const struct opts *o)
{
	char line[1024];
	size_t n;
	const char *t = o->token ? o->token : getenv("DLOCK_TOKEN");

	if (t && strcmp(t, "-") != 0)
		return *t ? strdup(t) : NULL;
	if (!t)
		return NULL;
	if (!fgets(line, sizeof line, stdin))
		return NULL;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return n ? strdup(line) : NULL;
}

static int failed(const char *cmd, const struct call *c)
{
	char buf[512];
	int rc = call_failure_exit(c);

	if (!rc)
		rc = c->status == 400 ? EXIT_USAGE : EXIT_UNAVAILABLE;
	fprintf(stderr, "dlock %s: %s; %s\n", cmd, call_describe(c, buf, sizeof buf),
	        rc == EXIT_AUTH    ? "check the credentials"
	        : rc == EXIT_USAGE ? "fix the arguments"
	                           : "check --url / DLOCK_URL and that dlockd is up");
	return rc;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s) {
		puts(s);
		free(s);
	}
}

/* call_url_fn of an acquire (arg: the opts) */
static char *acquire_url(const char *base, int64_t wait_left_ms, void *arg)
{
	const struct opts *o = arg;
	return call_acquire_url(base, o->name, o->have_ttl ? o->ttl_ms : 0, wait_left_ms, o->owner);
}

/* A request on one lock: its name and what follows it in the URL ("/renew?…"), or NULL. */
struct lock_target {
	const char *name, *suffix;
};

static char *lock_url(const char *base, int64_t wait_left_ms, void *arg)
{
	const struct lock_target *l = arg;
	(void)wait_left_ms;
	return call_lock_url(base, l->name, l->suffix);
}

static int cmd_acquire(const struct opts *o)
{
	struct call_targets t = o->g.urls;
	struct call c;
	int rc = EXIT_UNAVAILABLE;
	json_t *tok;

	/* A retry on another replica after no answer is a fresh acquire: a grant the first
	 * one may have made is never seen (no token) and ends with its lease. */
	if (!call_perform_any(&c, &t, "PUT", acquire_url, (void *)o, NULL, o->g.timeout_ms, o->wait_ms))
		return rc;
	tok = c.json ? json_object_get(c.json, "token") : NULL;
	if ((c.status == 201 || c.status == 200) && json_is_string(tok)) {
		if (o->g.json)
			print_json(c.json);
		else
			puts(json_string_value(tok));
		rc = 0;
	} else if (c.status == 409) {
		if (!o->g.quiet)
			fprintf(stderr, "dlock acquire: %s is held; try later or give a longer --wait\n", o->name);
		rc = EXIT_NOT_ACQUIRED;
	} else {
		rc = failed("acquire", &c);
	}
	call_release(&c);
	return rc;
}

/* renew or release with the token */
static int cmd_with_token(const struct opts *o, bool renew)
{
	const char *cmd = renew ? "renew" : "release";
	char q[64] = "", *token = read_token(o);
	struct call_targets t = o->g.urls;
	struct lock_target l = {.name = o->name, .suffix = q};
	struct call c;
	int rc = EXIT_UNAVAILABLE;

	if (!token)
		return usage_error(cmd, "no token: give --token -, set DLOCK_TOKEN, or --token T", NULL);
	if (renew)
		snprintf(q, sizeof q, o->have_ttl ? "/renew?ttl_ms=%lld" : "/renew", (long long)o->ttl_ms);
	if (!call_perform_any(&c, &t, renew ? "POST" : "DELETE", lock_url, &l, token, o->g.timeout_ms, 0))
		goto out;
	if (c.status == 200 || c.status == 204) {
		if (renew && o->g.json && c.json)
			print_json(c.json);
		rc = 0;
	} else if (c.status == 404 || c.status == 409) {
		if (!o->g.quiet)
			fprintf(stderr, "dlock %s: %s is not held by that token; acquire it again\n", cmd, o->name);
		rc = EXIT_NOT_HELD;
	} else {
		rc = failed(cmd, &c);
	}
	call_release(&c);
out:
	memset(token, 0, strlen(token));
	free(token);
	return rc;
}

static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : "-";
}

static void print_view(const json_t *v)
{
	printf("%s\t%lld\t%s\t%s\n", jstr(v, "name"), (long long)json_integer_value(json_object_get(v, "fence")),
	       jstr(v, "expires_at"), jstr(v, "owner"));
}

static int cmd_status(const struct opts *o)
{
	struct call_targets t = o->g.urls;
	struct lock_target l = {.name = o->name};
	struct call c;
	int rc = EXIT_UNAVAILABLE;

	if (!call_perform_any(&c, &t, "GET", lock_url, &l, NULL, o->g.timeout_ms, 0))
		return rc;
	if (c.status == 200 && c.json) {
		if (o->g.json)
			print_json(c.json);
		else
			print_view(c.json);
		rc = 0;
	} else if (c.status == 404) {
		if (!o->g.quiet && !o->g.json)
			printf("%s is free\n", o->name);
		rc = 1;
	} else {
		rc = failed("status", &c);
	}
	call_release(&c);
	return rc;
}

/* A list page's URL on one replica. */
struct list_target {
	const char *prefix, *cursor; /* or NULL */
};

static char *list_url(const char *base, int64_t wait_left_ms, void *arg)
{
	const struct list_target *l = arg;
	char *p = l->prefix ? call_escape(l->prefix) : NULL, *cu = l->cursor ? call_escape(l->cursor) : NULL;
	char *url = NULL;
	size_t bl = strlen(base);

	(void)wait_left_ms;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if ((!l->prefix || p) && (!l->cursor || cu) &&
	    asprintf(&url, "%.*s/locks?limit=1000%s%s%s%s", (int)bl, base, p ? "&prefix=" : "", p ? p : "",
	             cu ? "&cursor=" : "", cu ? cu : "") < 0)
		url = NULL;
	curl_free(p);
	curl_free(cu);
	return url;
}

static int cmd_list(const struct opts *o)
{
	json_t *all = json_array(), *locks, *next;
	char *cursor = NULL;
	struct call_targets t = o->g.urls;
	struct list_target l = {.prefix = o->prefix};
	struct call c;
	int rc = EXIT_UNAVAILABLE;

	if (!all)
		return rc;
	for (;;) {
		l.cursor = cursor;
		if (!call_perform_any(&c, &t, "GET", list_url, &l, NULL, o->g.timeout_ms, 0))
			goto out;
		locks = c.json ? json_object_get(c.json, "locks") : NULL;
		if (c.status != 200 || !json_is_array(locks)) {
			rc = failed("list", &c);
			call_release(&c);
			goto out;
		}
		json_array_extend(all, locks);
		next = json_object_get(c.json, "next_cursor");
		free(cursor);
		cursor = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
		call_release(&c);
		if (!cursor)
			break;
	}
	if (o->g.json) {
		print_json(all);
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(all, i, v) print_view(v);
	}
	rc = 0;
out:
	free(cursor);
	json_decref(all);
	return rc;
}

/* keygen: a key from the OS's random numbers; stdout gets the key, stderr the file line. */
static int cmd_keygen(const struct opts *o)
{
	static const char TAG[] = "dlk_";
	unsigned char raw[32];
	char key[sizeof TAG + 44], hex[2 * DIGEST_SHA256_LEN + 1];
	uint8_t h[DIGEST_SHA256_LEN];
	unsigned rights;

	if (!o->more[1])
		return usage_error(o->cmd, "needs ID PREFIX RIGHTS", NULL);
	if (!auth_id_valid(o->name, strlen(o->name)))
		return usage_error(o->cmd, "ID: 1 to 64 characters of A-Z a-z 0-9 . _ - : @, not ", o->name);
	if (!auth_prefix_valid(o->more[0], strlen(o->more[0])))
		return usage_error(o->cmd, "PREFIX: * or the start of a lock name, not ", o->more[0]);
	if (!auth_rights_parse(o->more[1], strlen(o->more[1]), &rights))
		return usage_error(o->cmd, "RIGHTS: a comma list of read, lock, metrics, admin, not ", o->more[1]);
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		fprintf(stderr, "dlock keygen: the system random number generator failed\n");
		return EXIT_UNAVAILABLE;
	}
	memcpy(key, TAG, sizeof TAG - 1);
	text_b64url_encode(raw, sizeof raw, key + sizeof TAG - 1);
	digest_sha256(key, strlen(key), h);
	digest_hex(h, sizeof h, hex);
	printf("%s\n", key);
	fflush(stdout);
	fprintf(stderr, "%s sha256:%s %s %s\n", o->name, hex, o->more[0], o->more[1]);
	explicit_bzero(raw, sizeof raw);
	explicit_bzero(key, sizeof key);
	return 0;
}

/* The API key from --api-key-file, --api-key or DLOCK_API_KEY (in that order); sets it
 * for every call. Returns 0 or an exit status. */
static int use_api_key(const struct opts *o)
{
	char line[AUTH_KEY_MAX + 2];
	const char *key = o->api_key ? o->api_key : getenv("DLOCK_API_KEY");
	int rc = 0;

	if (o->api_key_file) {
		FILE *f = fopen(o->api_key_file, "r");
		if (!f || !fgets(line, sizeof line, f)) {
			fprintf(stderr, "dlock: --api-key-file %s: %s\n", o->api_key_file,
			        f ? "empty" : strerror(errno));
			if (f)
				fclose(f);
			return EXIT_USAGE;
		}
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		key = line;
	}
	if (key && *key && !call_set_api_key(key)) {
		fprintf(stderr, "dlock: out of memory\n");
		rc = EXIT_UNAVAILABLE;
	}
	explicit_bzero(line, sizeof line);
	return rc;
}

static const char *help_of(const char *cmd)
{
	static const struct {
		const char *cmd, *help;
	} H[] = {{"acquire", HELP_ACQUIRE}, {"renew", HELP_RENEW}, {"release", HELP_RELEASE}, {"status", HELP_STATUS},
	         {"list", HELP_LIST},       {"run", HELP_RUN},     {"keygen", HELP_KEYGEN}};

	for (size_t i = 0; cmd && i < sizeof H / sizeof H[0]; i++)
		if (strcmp(cmd, H[i].cmd) == 0)
			return H[i].help;
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc;
	bool needs_name;

	memset(&o, 0, sizeof o);
	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	if (o.help || !o.cmd) {
		const char *h = help_of(o.cmd);
		if (!o.help)
			return usage_error(NULL, "no command given", NULL);
		fputs(h ? h : USAGE, stdout);
		return 0;
	}
	if (!help_of(o.cmd))
		return usage_error(NULL, "unknown command ", o.cmd);
	needs_name = strcmp(o.cmd, "list") != 0;
	if (needs_name && !o.name)
		return usage_error(o.cmd, "missing NAME", NULL);
	if (!needs_name && o.name)
		return usage_error(o.cmd, "unexpected argument ", o.name);
	if (strcmp(o.cmd, "run") == 0 && (!o.argv || !o.argv[0]))
		return usage_error(o.cmd, "missing COMMAND after --", NULL);
	if (strcmp(o.cmd, "keygen") == 0)
		return cmd_keygen(&o);
	rc = use_api_key(&o);
	if (rc)
		return rc;
	if (o.cacert && access(o.cacert, R_OK) != 0)
		return usage_error(o.cmd, "cannot read --cacert ", o.cacert);
	call_set_cacert(o.cacert);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "dlock: libcurl failed to start\n");
		return EXIT_UNAVAILABLE;
	}
	if (strcmp(o.cmd, "acquire") == 0)
		rc = cmd_acquire(&o);
	else if (strcmp(o.cmd, "renew") == 0)
		rc = cmd_with_token(&o, true);
	else if (strcmp(o.cmd, "release") == 0)
		rc = cmd_with_token(&o, false);
	else if (strcmp(o.cmd, "status") == 0)
		rc = cmd_status(&o);
	else if (strcmp(o.cmd, "list") == 0)
		rc = cmd_list(&o);
	else {
		struct run_args a = {.name = o.name,
		                     .owner = o.owner,
		                     .ttl_ms = o.have_ttl ? o.ttl_ms : 30000,
		                     .wait_ms = o.wait_ms,
		                     .grace_ms = o.grace_ms,
		                     .argv = o.argv};
		rc = run_main(&o.g, &a);
	}
	call_set_api_key(NULL);
	curl_global_cleanup();
	return rc;
}
