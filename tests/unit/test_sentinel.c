/* Unit tests for sentinel.c's pure part: reading a +switch-master message
 * ("NAME OLD-IP OLD-PORT NEW-IP NEW-PORT") for one master name. */
#include "redis/sentinel.h"
#include "unit.h"

static void test_switch_messages(void)
{
	static const struct {
		int line;
		const char *msg, *name;
		bool ok;
		const char *host;
		int port;
	} T[] = {
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 6380", "mym", true, "127.0.0.1", 6380},
	    {__LINE__, "mym 10.0.0.1 6379 ::1 65535", "mym", true, "::1", 65535},
	    {__LINE__, "m.x-1 a 1 redis-2.internal 1", "m.x-1", true, "redis-2.internal", 1},
	    /* another master, or a name that only starts the same */
	    {__LINE__, "other 127.0.0.1 6379 127.0.0.1 6380", "mym", false, NULL, 0},
	    {__LINE__, "mymaster 127.0.0.1 6379 127.0.0.1 6380", "mym", false, NULL, 0},
	    {__LINE__, "my 127.0.0.1 6379 127.0.0.1 6380", "mym", false, NULL, 0},
	    /* malformed */
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 6380 x", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 0", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 65536", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 63x", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 +638", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379  6380", "mym", false, NULL, 0},
	    {__LINE__, "mym 127.0.0.1 6379 127.0.0.1 6380 ", "mym", false, NULL, 0},
	    {__LINE__, "", "mym", false, NULL, 0},
	};
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		char host[SENTINEL_HOST_MAX + 1] = "";
		int port = 0;
		bool ok = sentinel_parse_switch(T[i].msg, strlen(T[i].msg), T[i].name, host, &port);
		if (unit_check_(ok == T[i].ok, __FILE__, T[i].line, "%s for %s: expected %s", unit_escz(T[i].msg),
		                T[i].name, T[i].ok ? "the new address" : "a rejection") &&
		    ok)
			unit_check_(strcmp(host, T[i].host) == 0 && port == T[i].port, __FILE__, T[i].line,
			            "%s: got %s:%d", unit_escz(T[i].msg), unit_escz(host), port);
	}
	/* a host longer than SENTINEL_HOST_MAX bytes, and an embedded NUL */
	{
		char msg[2 * SENTINEL_HOST_MAX], host[SENTINEL_HOST_MAX + 1];
		int port, n = snprintf(msg, sizeof msg, "m a 1 ");
		memset(msg + n, 'h', SENTINEL_HOST_MAX + 1);
		snprintf(msg + n + SENTINEL_HOST_MAX + 1, sizeof msg - (size_t)n - SENTINEL_HOST_MAX - 1, " 1");
		unit_check_(!sentinel_parse_switch(msg, strlen(msg), "m", host, &port), __FILE__, __LINE__,
		            "a %d-byte host was taken", SENTINEL_HOST_MAX + 1);
		unit_check_(!sentinel_parse_switch("m a 1 b\0c 2", 11, "m", host, &port), __FILE__, __LINE__,
		            "a host with a NUL was taken");
	}
}

int main(void)
{
	test_switch_messages();
	return unit_done();
}
