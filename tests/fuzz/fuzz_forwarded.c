/* Fuzzes the client-address parsers of the front door (server/conns.h):
 * conn_addr_parse() on any bytes, and conn_forwarded_client() on an
 * X-Forwarded-For value from a trusted proxy. An address that parses prints
 * and parses back to itself; the forwarded client is one of the list's
 * entries, is not a trusted proxy unless every entry is, and nothing left of
 * it was needed (the same client comes back when the entries left of it are
 * replaced by garbage). (When every entry is a trusted proxy the leftmost is
 * the client; the left side then matters, and is not replaced.) The input: the first byte picks the trusted networks,
 * the rest is the header value. */
#include "fuzz.h"

#include "server/conns.h"

static struct config_net net(const char *addr, unsigned bits)
{
	struct config_net n;
	struct conn_addr a;

	if (!conn_addr_parse(addr, strlen(addr), &a))
		abort();
	memcpy(n.addr, a.b, 16);
	n.bits = bits;
	return n;
}

static void check_roundtrip(const char *s, size_t len)
{
	struct conn_addr a, b;
	char text[CONN_ADDR_TEXT_MAX];

	if (!conn_addr_parse(s, len, &a))
		return;
	conn_addr_format(&a, text);
	FUZZ_CHECK(strlen(text) < CONN_ADDR_TEXT_MAX, "formatted address beyond its buffer");
	FUZZ_CHECK(conn_addr_parse(text, strlen(text), &b) && memcmp(&a, &b, sizeof a) == 0,
	           "\"%.*s\" prints as \"%s\", which does not parse back", (int)len, s, text);
}

/* Whether a is one of the comma-separated entries of xff (trimmed). */
static bool is_entry(const char *xff, const struct conn_addr *a)
{
	const char *p = xff;

	for (;;) {
		const char *end = strchr(p, ','), *b = p, *e;
		struct conn_addr x;
		e = end ? end : p + strlen(p);
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (conn_addr_parse(b, (size_t)(e - b), &x) && memcmp(&x, a, sizeof x) == 0)
			return true;
		if (!end)
			return false;
		p = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_net nets[3];
	unsigned n;
	char *xff;
	struct conn_addr client, again;

	if (size == 0 || size > 4096)
		return 0;
	nets[0] = net("10.0.0.0", 96 + 8);
	nets[1] = net("fd00::", 8);
	nets[2] = net("192.0.2.1", 128);
	n = data[0] % 4;
	xff = malloc(size);
	if (!xff)
		abort();
	memcpy(xff, data + 1, size - 1);
	xff[size - 1] = '\0';
	check_roundtrip((const char *)data + 1, size - 1);
	if (conn_forwarded_client(xff, nets, n, &client) && !conn_addr_trusted(&client, nets, n)) {
		size_t len = strlen(xff), cut;
		FUZZ_CHECK(is_entry(xff, &client), "the client is not one of the entries");
		/* Everything left of the client's entry may be forged: replace it. */
		for (cut = len; cut > 0; cut--) {
			struct conn_addr x;
			const char *b = xff + cut, *e = strchr(b, ',');
			size_t el = e ? (size_t)(e - b) : strlen(b);
			while (el && (*b == ' ' || *b == '\t'))
				b++, el--;
			while (el && (b[el - 1] == ' ' || b[el - 1] == '\t'))
				el--;
			if (xff[cut - 1] == ',' && conn_addr_parse(b, el, &x) && memcmp(&x, &client, sizeof x) == 0)
				break;
		}
		if (cut > 0) {
			char *forged = malloc(len + 16);
			if (!forged)
				abort();
			memcpy(forged, "junk,junk", 9);
			memcpy(forged + 9, xff + cut - 1, len - cut + 2);
			FUZZ_CHECK(conn_forwarded_client(forged, nets, n, &again) &&
			               memcmp(&again, &client, sizeof again) == 0,
			           "what lies left of the client changed the answer");
			free(forged);
		}
	}
	free(xff);
	return 0;
}
