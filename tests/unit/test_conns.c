/* Unit tests for conns: addresses, trusted proxies and X-Forwarded-For,
 * per-address counts (against a plain array model), deadline queues. */
#include "server/conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "unit.h"

static struct conn_addr addr(const char *s)
{
	struct conn_addr a;

	memset(&a, 0xee, sizeof a);
	if (!conn_addr_parse(s, strlen(s), &a))
		CHECK(false, "conn_addr_parse(%s) failed", s);
	return a;
}

static const char *text(const struct conn_addr *a)
{
	static char buf[4][CONN_ADDR_TEXT_MAX];
	static unsigned next;
	char *b = buf[next++ % 4];

	conn_addr_format(a, b);
	return b;
}

static struct config_net net(const char *s, unsigned bits)
{
	struct config_net n;
	struct conn_addr a = addr(s);

	memcpy(n.addr, a.b, 16);
	n.bits = bits;
	return n;
}

static void test_addresses(void)
{
	static const struct {
		const char *in, *out; /* out NULL: rejected */
	} T[] = {
	    {"127.0.0.1", "127.0.0.1"},
	    {"10.20.30.40", "10.20.30.40"},
	    {"::1", "::1"},
	    {"2001:db8::1", "2001:db8::1"},
	    {"::ffff:10.0.0.1", "10.0.0.1"}, /* a mapped IPv6 address is the IPv4 one */
	    {"", NULL},
	    {"127.0.0.1 ", NULL},
	    {" 127.0.0.1", NULL},
	    {"127.0.0", NULL},
	    {"256.0.0.1", NULL},
	    {"[::1]", NULL},
	    {"::1%lo", NULL},
	    {"unknown", NULL},
	    {"1234567890123456789012345678901234567890123456789", NULL},
	};
	struct sockaddr_in in4 = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	struct conn_addr a;

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		bool ok = conn_addr_parse(T[i].in, strlen(T[i].in), &a);
		CHECK(ok == (T[i].out != NULL), "parse(%s): %d", unit_escz(T[i].in), ok);
		if (ok && T[i].out)
			CHECK_STR(text(&a), T[i].out, T[i].in);
	}
	/* A length shorter than the string reads only that much. */
	CHECK(conn_addr_parse("10.0.0.1,junk", 8, &a) && strcmp(text(&a), "10.0.0.1") == 0, "prefix parse");

	inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
	CHECK(conn_addr_from_sockaddr((struct sockaddr *)&in4, sizeof in4, &a), "from sockaddr_in");
	CHECK_STR(text(&a), "192.0.2.7", "from sockaddr_in");
	CHECK(!conn_addr_from_sockaddr((struct sockaddr *)&in4, sizeof in4 - 1, &a), "short sockaddr_in");
	inet_pton(AF_INET6, "2001:db8::7", &in6.sin6_addr);
	CHECK(conn_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &a), "from sockaddr_in6");
	CHECK_STR(text(&a), "2001:db8::7", "from sockaddr_in6");
	in6.sin6_family = AF_UNIX;
	CHECK(!conn_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &a), "AF_UNIX is no client address");
}

static void test_trusted(void)
{
	struct config_net nets[] = {net("10.0.0.0", 104), net("192.168.1.1", 128), net("fd00::", 8)};
	static const struct {
		const char *a;
		bool trusted;
	} T[] = {
	    {"10.0.0.0", true},        {"10.255.255.255", true}, {"11.0.0.0", false},    {"9.255.255.255", false},
	    {"192.168.1.1", true},     {"192.168.1.2", false},   {"fd12:3456::1", true}, {"fe00::1", false},
	    {"::ffff:10.1.1.1", true}, {"::10.1.1.1", false},    {"127.0.0.1", false},
	};
	struct config_net odd[] = {net("172.16.0.0", 96 + 12)}; /* a prefix that is not a whole byte */

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct conn_addr a = addr(T[i].a);
		CHECK(conn_addr_trusted(&a, nets, 3) == T[i].trusted, "trusted(%s) should be %d", T[i].a, T[i].trusted);
	}
	struct conn_addr in = addr("172.31.255.255"), out = addr("172.32.0.0"), any = addr("10.0.0.1");

	CHECK(conn_addr_trusted(&in, odd, 1), "172.31.255.255 in /12");
	CHECK(!conn_addr_trusted(&out, odd, 1), "172.32.0.0 not in /12");
	CHECK(!conn_addr_trusted(&any, nets, 0), "no networks: nothing trusted");
}

static void test_forwarded(void)
{
	struct config_net nets[] = {net("10.0.0.0", 104)};
	static const struct {
		const char *xff, *client; /* client NULL: false (keep the peer) */
	} T[] = {
	    {"203.0.113.5", "203.0.113.5"},
	    {"203.0.113.5, 10.0.0.2", "203.0.113.5"},     /* a second trusted hop is skipped */
	    {"198.51.100.1, 203.0.113.5", "203.0.113.5"}, /* the rightmost untrusted one: the left may be forged */
	    {"evil, 203.0.113.5", "203.0.113.5"},         /* what lies left of the client is never read */
	    {"  203.0.113.5\t", "203.0.113.5"},
	    {"203.0.113.5,,", "203.0.113.5"},   /* empty elements are skipped */
	    {"10.0.0.9, 10.0.0.8", "10.0.0.9"}, /* all trusted: the leftmost */
	    {"2001:db8::5", "2001:db8::5"},
	    {"", NULL},
	    {" , ", NULL},
	    {"unknown", NULL},
	    {"203.0.113.5, junk", NULL}, /* the hop we must read is no address */
	    {"203.0.113.5:4711", NULL},
	    {"[2001:db8::5]", NULL},
	};

	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		struct conn_addr out = addr("127.0.0.1");
		bool ok = conn_forwarded_client(T[i].xff, nets, 1, &out);
		CHECK(ok == (T[i].client != NULL), "forwarded(%s): %d", unit_escz(T[i].xff), ok);
		CHECK_STR(text(&out), T[i].client ? T[i].client : "127.0.0.1", T[i].xff);
	}
}

/* Random adds and removes over a few hundred addresses, checked against an
 * array; enough of them to make the table grow and shift on removal. */
static void test_counts(void)
{
	enum { N = 700, STEPS = 60000 };
	static unsigned model[N];
	struct conn_counts *c = conn_counts_new();
	struct conn_addr a[N];
	unsigned seed = 12345, cap = 5, refused = 0;

	CHECK(c != NULL, "conn_counts_new");
	if (!c)
		return;
	for (int i = 0; i < N; i++) {
		memset(&a[i], 0, sizeof a[i]);
		a[i].b[10] = a[i].b[11] = 0xff;
		a[i].b[14] = (unsigned char)(i >> 8);
		a[i].b[15] = (unsigned char)i;
	}
	for (int step = 0; step < STEPS; step++) {
		unsigned i, bad = 0;
		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % N;
		if ((seed >> 20) % 3 != 0) {
			bool ok = conn_counts_add(c, &a[i], cap);
			if (ok != (model[i] < cap))
				bad++;
			if (ok)
				model[i]++;
			else
				refused++;
		} else if (model[i]) {
			conn_counts_remove(c, &a[i]);
			model[i]--;
		}
		if (step % 997 == 0)
			for (int k = 0; k < N; k++)
				if (conn_counts_get(c, &a[k]) != model[k])
					bad++;
		if (!CHECK(bad == 0, "counts disagree with the model at step %d", step))
			break;
	}
	CHECK(refused > 0, "the cap refused some adds");
	/* Drain everything: every count reaches 0 and the table stays searchable. */
	for (int i = 0; i < N; i++)
		while (model[i]) {
			conn_counts_remove(c, &a[i]);
			model[i]--;
		}
	for (int i = 0; i < N; i++)
		if (!CHECK(conn_counts_get(c, &a[i]) == 0, "address %d still counted", i))
			break;
	/* Cap 0: no cap. */
	for (int k = 0; k < 5000; k++)
		conn_counts_add(c, &a[0], 0);
	CHECK_INT(conn_counts_get(c, &a[0]), 5000, "uncapped count");
	conn_counts_free(c);
}

static void test_queues(void)
{
	struct conn_queue q;
	struct conn_deadline d[4];

	conn_queue_init(&q, 100);
	for (int i = 0; i < 4; i++)
		conn_deadline_init(&d[i]);
	CHECK(conn_queue_next_due(&q) == UINT64_MAX, "empty queue: nothing due");
	CHECK(conn_queue_pop_due(&q, 1000000) == NULL, "empty queue pops nothing");
	conn_queue_push(&q, &d[0], 10);
	conn_queue_push(&q, &d[1], 20);
	conn_queue_push(&q, &d[2], 30);
	CHECK(conn_deadline_queued(&d[1]) && !conn_deadline_queued(&d[3]), "queued flags");
	CHECK_INT(conn_queue_next_due(&q), 110, "first due");
	CHECK(conn_queue_pop_due(&q, 109) == NULL, "nothing due before 110");
	CHECK(conn_queue_pop_due(&q, 110) == &d[0], "d0 due at 110");
	conn_deadline_remove(&d[1]); /* met its deadline */
	conn_deadline_remove(&d[1]); /* twice is harmless */
	CHECK_INT(conn_queue_next_due(&q), 130, "d2 next");
	conn_queue_push(&q, &d[2], 50); /* pushed again: moves to the end, due later */
	conn_queue_push(&q, &d[3], 60);
	CHECK(conn_queue_pop_due(&q, 1000) == &d[2] && conn_queue_pop_due(&q, 1000) == &d[3], "order kept");
	CHECK(conn_queue_pop_due(&q, 1000) == NULL && !conn_deadline_queued(&d[2]), "empty again");
}

int main(void)
{
	test_addresses();
	test_trusted();
	test_forwarded();
	test_counts();
	test_queues();
	return unit_done();
}
