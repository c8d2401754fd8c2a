/* params: a request's parameters, from its query string and/or JSON object
 * body, parsed strictly: unknown or repeated names, wrong types, values out
 * of range and malformed encodings are errors with a human detail. Pure: no
 * I/O, nothing of HTTP beyond the Content-Type value it is handed. */
#ifndef DLOCKD_PARAMS_H
#define DLOCKD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/errors.h"
#include "locks/backend.h"
#include "locks/lock.h"

enum params_id {
	PARAM_TTL,
	PARAM_OWNER,
	PARAM_TOKEN,
	PARAM_PREFIX,
	PARAM_LIMIT,
	PARAM_CURSOR,
	PARAM_WAIT,
	PARAM_COUNT
};

#define PARAMS_BIT(id) (1u << (id))

enum { PARAMS_BODY_MAX = 16384, PARAMS_JSON_DEPTH_MAX = 8, PARAMS_LIMIT_MAX = 1000 };

struct params_rules {
	unsigned allowed;  /* PARAMS_BIT()s this route takes */
	bool body_allowed; /* may the parameters come in a JSON body? */
	int64_t min_ttl_ms, max_ttl_ms;
	int64_t max_wait_ms;
};

struct params {
	unsigned given; /* PARAMS_BIT()s present */
	int64_t ttl_ms;
	char owner[LOCK_OWNER_MAX + 1];
	char token[LOCK_TOKEN_MAX + 1];
	char prefix[LOCK_NAME_MAX + 1];
	unsigned limit;
	char cursor[BACKEND_CURSOR_MAX + 1];
	int64_t wait_ms;
};

/* Parses query (raw, without '?', may be NULL) and body (may be empty) into p.
 * content_type is the request's Content-Type header or NULL. Returns DL_OK, or
 * an error with a sentence in detail (dlen bytes). */
enum dl_error params_parse(struct params *p, const struct params_rules *rules, const char *query, size_t qlen,
                           const char *body, size_t blen, const char *content_type, char *detail, size_t dlen);

/* True if content_type is application/json, with or without parameters. */
bool params_is_json(const char *content_type);

/* True if the JSON text nests arrays/objects deeper than max. */
bool params_json_too_deep(const char *s, size_t len, unsigned max);

#endif
