/* Unit tests of redis/acl: its command lists agree with the Lua scripts
 * (scripts.h), with the probe script and with the documented rule
 * (docs/redis-acl.conf), so none of the three can drift; refusals are told
 * from other errors; the line for operators names what is missing. */
#include "unit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "locks/keys.h"
#include "redis/acl.h"
#include "redis/scripts.h"

#define CHECK(cond, ...) unit_check_((cond), __FILE__, __LINE__, __VA_ARGS__)

static const char *const SCRIPTS[] = {SCRIPT_ACQUIRE,     SCRIPT_RENEW,   SCRIPT_RELEASE, SCRIPT_LEAVE,
                                      SCRIPT_FENCE_FLOOR, SCRIPT_INSPECT, SCRIPT_LIST};

static bool in_list(const char *const *list, const char *cmd)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], cmd) == 0)
			return true;
	return false;
}

/* Calls every command named in text after one of the openers (e.g.
 * "redis.call('"), lowercased, with fn(name, arg). */
static void each_call(const char *text, const char *const *openers, void (*fn)(const char *, void *), void *arg)
{
	for (size_t o = 0; openers[o]; o++) {
		size_t ol = strlen(openers[o]);
		for (const char *p = strstr(text, openers[o]); p; p = strstr(p + ol, openers[o])) {
			char name[32];
			size_t n = 0;
			for (const char *q = p + ol; *q && *q != '\'' && n + 1 < sizeof name; q++)
				name[n++] = (char)tolower((unsigned char)*q);
			name[n] = '\0';
			fn(name, arg);
		}
	}
}

static void expect_script_command(const char *name, void *arg)
{
	(void)arg;
	CHECK(in_list(ACL_SCRIPT_COMMANDS, name), "the scripts call %s, which ACL_SCRIPT_COMMANDS lacks", name);
}

struct seen {
	const char *names[64];
	size_t n;
};

static bool was_seen(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return true;
	return false;
}

static void note_seen(const char *name, void *arg)
{
	struct seen *s = arg;

	if (was_seen(s, name))
		return;
	if (!unit_check_(s->n < 64, __FILE__, __LINE__, "more than 64 distinct commands"))
		return;
	s->names[s->n] = strdup(name);
	if (s->names[s->n])
		s->n++;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free((char *)s->names[i]);
	s->n = 0;
}

/* Every command a script calls is listed, every listed one is called by some
 * script, and the probe tries exactly the listed ones. */
static void test_script_commands(void)
{
	static const char *const CALLS[] = {"redis.call('", "redis.pcall('", NULL};
	static const char *const TRIES[] = {"try('", NULL};
	struct seen called = {0}, tried = {0};

	for (size_t i = 0; i < sizeof SCRIPTS / sizeof SCRIPTS[0]; i++) {
		each_call(SCRIPTS[i], CALLS, expect_script_command, NULL);
		each_call(SCRIPTS[i], CALLS, note_seen, &called);
	}
	each_call(ACL_PROBE, TRIES, note_seen, &tried);
	for (size_t i = 0; ACL_SCRIPT_COMMANDS[i]; i++) {
		CHECK(was_seen(&called, ACL_SCRIPT_COMMANDS[i]), "ACL_SCRIPT_COMMANDS has %s, which no script calls",
		      ACL_SCRIPT_COMMANDS[i]);
		CHECK(was_seen(&tried, ACL_SCRIPT_COMMANDS[i]), "the probe does not try %s", ACL_SCRIPT_COMMANDS[i]);
	}
	for (size_t i = 0; i < tried.n; i++)
		CHECK(in_list(ACL_SCRIPT_COMMANDS, tried.names[i]), "the probe tries %s, which is not listed",
		      tried.names[i]);
	CHECK(called.n > 0 && tried.n > 0, "no calls found (%zu in the scripts, %zu in the probe)", called.n, tried.n);
	seen_free(&called);
	seen_free(&tried);
}

/* The documented rule grants exactly the needed commands, the default
 * prefix's keys and wake channel, after a reset. */
static void test_documented_rule(void)
{
	FILE *f = fopen("docs/redis-acl.conf", "r");
	char line[2048], *rule = NULL, *save = NULL;
	struct keys k;
	char channel[KEYS_KEY_MAX + 1];
	bool keys_ok = false, channel_ok = false, reset = false, grants_after_reset = true;
	size_t granted = 0, needed = 0;

	if (!CHECK(f != NULL, "cannot open docs/redis-acl.conf (run from the repository root)"))
		return;
	while (!rule && fgets(line, sizeof line, f))
		if (strncmp(line, "user ", 5) == 0)
			rule = line;
	fclose(f);
	if (!CHECK(rule != NULL, "docs/redis-acl.conf has no 'user ' line"))
		return;
	rule[strcspn(rule, "\r\n")] = '\0';
	keys_init(&k, "dlock:");
	keys_wake_channel(&k, channel);
	for (char *w = strtok_r(rule + 5, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "reset") == 0)
			reset = true;
		else if (w[0] == '+' || w[0] == '~' || w[0] == '&' || w[0] == '%')
			grants_after_reset = grants_after_reset && reset;
		if (w[0] == '+') {
			granted++;
			CHECK(w[1] != '@', "the rule grants a category (%s): name the commands", w);
			CHECK(in_list(ACL_SCRIPT_COMMANDS, w + 1) || in_list(ACL_DIRECT_COMMANDS, w + 1),
			      "the rule grants %s, which dlockd does not need", w);
		} else if (w[0] == '~') {
			keys_ok = strcmp(w + 1, "dlock:*") == 0;
			CHECK(keys_ok, "the rule's key pattern is %s, not ~dlock:*", w);
		} else if (w[0] == '&') {
			channel_ok = strcmp(w + 1, channel) == 0;
			CHECK(channel_ok, "the rule's channel is %s, not &%s", w, channel);
		} else if (strcmp(w, "allkeys") == 0 || strcmp(w, "allchannels") == 0 ||
		           strcmp(w, "allcommands") == 0 || strcmp(w, "nopass") == 0) {
			CHECK(false, "the rule grants %s", w);
		}
	}
	for (size_t i = 0; ACL_SCRIPT_COMMANDS[i]; i++)
		needed++;
	for (size_t i = 0; ACL_DIRECT_COMMANDS[i]; i++)
		needed++;
	CHECK(granted == needed, "the rule grants %zu commands, dlockd needs %zu", granted, needed);
	CHECK(keys_ok && channel_ok, "the rule lacks ~dlock:* or &%s", channel);
	CHECK(reset && grants_after_reset, "the rule must start from reset, before any grant");
}

static void test_refused(void)
{
	static const struct {
		int line;
		const char *err;
		bool refused;
	} T[] = {
	    {__LINE__, "NOPERM this user has no permissions to run the 'scan' command", true},
	    {__LINE__, "NOPERM this user has no permissions to access one of the keys used as arguments", true},
	    {__LINE__, "NOPERM this user has no permissions to access one of the channels used as arguments", true},
	    {__LINE__, "ERR The user executing the script can't run this command or subcommand", true},
	    {__LINE__, "ERR The user executing the script can't publish to the channel mentioned in the command", true},
	    {__LINE__,
	     "ERR The user executing the script can't access at least one of the keys mentioned in the command", true},
	    {__LINE__, "WRONGPASS invalid username-password pair or user is disabled.", false},
	    {__LINE__, "NOAUTH Authentication required.", false},
	    {__LINE__, "NOSCRIPT No matching script. Please use EVAL.", false},
	    {__LINE__, "WRONGTYPE Operation against a key holding the wrong kind of value", false},
	    {__LINE__, "ERR Wrong number of args calling Redis command from script", false},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
		unit_check_(acl_refused(T[i].err) == T[i].refused, __FILE__, T[i].line, "acl_refused(%s) should be %d",
		            T[i].err, T[i].refused);
}

static void test_describe(void)
{
	struct acl_missing m;
	char out[ACL_LINE_MAX];

	acl_missing_init(&m);
	CHECK(!acl_missing_any(&m), "a fresh report has something missing");
	acl_missing_add(&m, "scan", "ERR The user executing the script can't run this command or subcommand");
	acl_missing_add(&m, "publish", "ERR The user executing the script can't publish to the channel mentioned");
	acl_missing_add(&m, "script|load", "NOPERM this user has no permissions to run the 'script|load' command");
	acl_missing_add(&m, "script|load", "NOPERM this user has no permissions to run the 'script|load' command");
	acl_missing_add(&m, "eval", "NOPERM this user has no permissions to access one of the keys used as arguments");
	CHECK(acl_missing_any(&m), "nothing missing after refusals");
	CHECK(strcmp(m.commands, "scan, script|load") == 0, "commands %s: want each once, channel/keys apart",
	      m.commands);
	CHECK(m.keys && m.channel, "keys %d channel %d", m.keys, m.channel);
	acl_missing_describe(&m, "dl", "app:", "app:wake", out, sizeof out);
	CHECK(strstr(out, "'dl'") && strstr(out, "scan, script|load") && strstr(out, "~app:*") &&
	          strstr(out, "&app:wake") && strstr(out, "docs/redis-acl.md") && !strchr(out, '\n'),
	      "describe: %s", out);
	acl_missing_describe(&m, NULL, "app:", "app:wake", out, 40);
	CHECK(strlen(out) == 39, "describe into 40 bytes: %zu", strlen(out));

	/* a long list ends in "..." rather than overflowing */
	acl_missing_init(&m);
	for (int i = 0; i < 100; i++) {
		char cmd[16];
		snprintf(cmd, sizeof cmd, "cmd%d", i);
		acl_missing_add(&m, cmd, "NOPERM this user has no permissions to run the command");
	}
	CHECK(strlen(m.commands) < sizeof m.commands && strstr(m.commands, "..."), "long list: %s", m.commands);
	m.commands[0] = '\0';
	m.unchecked = true;
	CHECK(acl_missing_any(&m), "unchecked is something missing");
}

int main(void)
{
	test_script_commands();
	test_documented_rule();
	test_refused();
	test_describe();
	return unit_done();
}
