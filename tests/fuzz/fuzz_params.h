/* fuzz_params: what the query and JSON body targets both check of a parsed
 * struct params: every route's rules (as api.c's table has them), the
 * fields within those rules, and a round trip: the parameters written out
 * again as a canonical query string, and as a JSON body where the route
 * takes one, parse to the same parameters. Header-only. */
#ifndef DLOCKD_FUZZ_PARAMS_H
#define DLOCKD_FUZZ_PARAMS_H

#include <jansson.h>

#include "fuzz.h"
#include "server/params.h"

/* The rules of every route that parses parameters (api.c ROUTES), by index. */
static inline struct params_rules fuzz_route_rules(uint8_t pick)
{
	static const struct {
		unsigned allowed;
		bool body;
	} ROUTE[] = {
	    {PARAMS_BIT(PARAM_PREFIX) | PARAMS_BIT(PARAM_LIMIT) | PARAMS_BIT(PARAM_CURSOR), false}, /* list */
	    {0, false},                                                                             /* inspect */
	    {PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL) | PARAMS_BIT(PARAM_OWNER) | PARAMS_BIT(PARAM_WAIT),
	     true},                                                  /* acquire */
	    {PARAMS_BIT(PARAM_TOKEN), true},                         /* release */
	    {PARAMS_BIT(PARAM_TOKEN) | PARAMS_BIT(PARAM_TTL), true}, /* renew */
	};
	struct params_rules r = {.min_ttl_ms = 100, .max_ttl_ms = 86400000, .max_wait_ms = 60000};

	r.allowed = ROUTE[pick % 5].allowed;
	r.body_allowed = ROUTE[pick % 5].body;
	if (pick & 0x80) { /* other limits a configuration may set */
		r.min_ttl_ms = 1;
		r.max_ttl_ms = 1000;
		r.max_wait_ms = 0;
	}
	return r;
}

static inline bool fuzz_b64url_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* Checks p's fields against rules r. */
static inline void fuzz_params_check(const struct params *p, const struct params_rules *r)
{
	unsigned g = p->given;

	FUZZ_CHECK((g & ~r->allowed) == 0, "parameters 0x%x given where 0x%x are allowed", g, r->allowed);
	if (g & PARAMS_BIT(PARAM_TTL))
		FUZZ_CHECK(p->ttl_ms >= r->min_ttl_ms && p->ttl_ms <= r->max_ttl_ms, "ttl_ms %lld out of range",
		           (long long)p->ttl_ms);
	else
		FUZZ_CHECK(p->ttl_ms == 0, "ttl_ms set but not given");
	if (g & PARAMS_BIT(PARAM_WAIT))
		FUZZ_CHECK(p->wait_ms >= 0 && p->wait_ms <= r->max_wait_ms, "wait_ms %lld out of range",
		           (long long)p->wait_ms);
	else
		FUZZ_CHECK(p->wait_ms == 0, "wait_ms set but not given");
	if (g & PARAMS_BIT(PARAM_LIMIT))
		FUZZ_CHECK(p->limit >= 1 && p->limit <= PARAMS_LIMIT_MAX, "limit %u out of range", p->limit);
	else
		FUZZ_CHECK(p->limit == 100, "limit %u without a limit given", p->limit);
	FUZZ_CHECK((g & PARAMS_BIT(PARAM_OWNER)) ? lock_owner_valid(p->owner, strlen(p->owner)) : !p->owner[0],
	           "bad owner");
	FUZZ_CHECK((g & PARAMS_BIT(PARAM_TOKEN)) ? lock_token_valid(p->token, strlen(p->token)) : !p->token[0],
	           "bad token");
	FUZZ_CHECK((g & PARAMS_BIT(PARAM_PREFIX)) ? lock_prefix_valid(p->prefix, strlen(p->prefix)) : !p->prefix[0],
	           "bad prefix");
	FUZZ_CHECK((g & PARAMS_BIT(PARAM_CURSOR))
	               ? strlen(p->cursor) >= 1 && fuzz_b64url_chars(p->cursor, strlen(p->cursor))
	               : !p->cursor[0],
	           "bad cursor");
}

static inline bool fuzz_params_equal(const struct params *a, const struct params *b)
{
	return a->given == b->given && a->ttl_ms == b->ttl_ms && a->wait_ms == b->wait_ms && a->limit == b->limit &&
	       strcmp(a->owner, b->owner) == 0 && strcmp(a->token, b->token) == 0 &&
	       strcmp(a->prefix, b->prefix) == 0 && strcmp(a->cursor, b->cursor) == 0;
}

enum { FUZZ_QUERY_MAX = 4096 }; /* more than every parameter at its longest, encoded */

/* Appends "&name=value" to q (FUZZ_QUERY_MAX bytes, o used), every byte of
 * value but the unreserved ones percent-encoded. Returns the length. */
static inline size_t fuzz_query_add(char *q, size_t o, const char *name, const char *value)
{
	o += (size_t)snprintf(q + o, FUZZ_QUERY_MAX - o, "%s%s=", o ? "&" : "", name);
	for (const unsigned char *c = (const unsigned char *)value; *c; c++)
		if ((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    strchr("-_.~", *c))
			o += (size_t)snprintf(q + o, FUZZ_QUERY_MAX - o, "%c", *c);
		else
			o += (size_t)snprintf(q + o, FUZZ_QUERY_MAX - o, "%%%02X", *c);
	return o;
}

/* Writes p out again as a query string, and as a JSON body when the route
 * takes one, and parses each with rules r: both must give p. */
static inline void fuzz_params_round_trip(const struct params *p, const struct params_rules *r)
{
	char q[FUZZ_QUERY_MAX], num[24], detail[256];
	size_t o = 0;
	struct params again;
	enum dl_error e;
	json_t *obj;
	char *body;

	q[0] = '\0';
	if (p->given & PARAMS_BIT(PARAM_TTL)) {
		snprintf(num, sizeof num, "%lld", (long long)p->ttl_ms);
		o = fuzz_query_add(q, o, "ttl_ms", num);
	}
	if (p->given & PARAMS_BIT(PARAM_WAIT)) {
		snprintf(num, sizeof num, "%lld", (long long)p->wait_ms);
		o = fuzz_query_add(q, o, "wait_ms", num);
	}
	if (p->given & PARAMS_BIT(PARAM_LIMIT)) {
		snprintf(num, sizeof num, "%u", p->limit);
		o = fuzz_query_add(q, o, "limit", num);
	}
	if (p->given & PARAMS_BIT(PARAM_OWNER))
		o = fuzz_query_add(q, o, "owner", p->owner);
	if (p->given & PARAMS_BIT(PARAM_TOKEN))
		o = fuzz_query_add(q, o, "token", p->token);
	if (p->given & PARAMS_BIT(PARAM_PREFIX))
		o = fuzz_query_add(q, o, "prefix", p->prefix);
	if (p->given & PARAMS_BIT(PARAM_CURSOR))
		o = fuzz_query_add(q, o, "cursor", p->cursor);
	e = params_parse(&again, r, q, o, NULL, 0, NULL, detail, sizeof detail);
	FUZZ_CHECK(e == DL_OK && fuzz_params_equal(p, &again), "canonical query \"%.80s\" gives %d: %s", q, (int)e,
	           detail);

	if (!r->body_allowed)
		return;
	obj = json_object();
	if (!obj)
		abort();
	if (p->given & PARAMS_BIT(PARAM_TTL))
		json_object_set_new(obj, "ttl_ms", json_integer(p->ttl_ms));
	if (p->given & PARAMS_BIT(PARAM_WAIT))
		json_object_set_new(obj, "wait_ms", json_integer(p->wait_ms));
	if (p->given & PARAMS_BIT(PARAM_OWNER))
		json_object_set_new(obj, "owner", json_string(p->owner));
	if (p->given & PARAMS_BIT(PARAM_TOKEN))
		json_object_set_new(obj, "token", json_string(p->token));
	body = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!body)
		abort();
	e = params_parse(&again, r, NULL, 0, body, strlen(body), "application/json", detail, sizeof detail);
	FUZZ_CHECK(e == DL_OK && fuzz_params_equal(p, &again), "as a JSON body %.80s gives %d: %s", body, (int)e,
	           detail);
	free(body);
}

#endif
