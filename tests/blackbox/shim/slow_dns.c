/* slow_dns: an LD_PRELOAD shim for tests — a DNS server that does not
 * answer. getaddrinfo() of a name ending in ".stall.test" sleeps for
 * SLOW_DNS_MS (default 5000) milliseconds, then fails with EAI_AGAIN, as
 * glibc does when its servers time out; every other name is looked up as
 * usual. Built as a shared object beside the test binary. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int gai_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	static const char SUFFIX[] = ".stall.test";
	size_t n = node ? strlen(node) : 0;
	gai_fn *real;

	if (n >= sizeof SUFFIX && strcmp(node + n - (sizeof SUFFIX - 1), SUFFIX) == 0) {
		const char *ms = getenv("SLOW_DNS_MS");
		long v = ms ? strtol(ms, NULL, 10) : 5000;
		struct timespec ts = {.tv_sec = v / 1000, .tv_nsec = (v % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0)
			;
		return EAI_AGAIN;
	}
	real = (gai_fn *)dlsym(RTLD_NEXT, "getaddrinfo");
	return real ? real(node, service, hints, res) : EAI_SYSTEM;
}
