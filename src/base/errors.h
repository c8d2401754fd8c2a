/* errors: the one list of request failures dlockd reports, each with its
 * stable machine-readable code and a human title. The HTTP status of each is
 * decided in exactly one table, in api.c. */
#ifndef DLOCKD_ERRORS_H
#define DLOCKD_ERRORS_H

enum dl_error {
	DL_OK,
	DL_INVALID_NAME,
	DL_INVALID_TTL,
	DL_INVALID_WAIT,
	DL_INVALID_OWNER,
	DL_INVALID_TOKEN,
	DL_MISSING_TOKEN,
	DL_INVALID_PARAMETER,
	DL_INVALID_JSON,
	DL_INVALID_PREFIX,
	DL_INVALID_LIMIT,
	DL_INVALID_CURSOR,
	DL_BODY_TOO_LARGE,
	DL_UNSUPPORTED_MEDIA_TYPE,
	DL_BAD_REQUEST,
	DL_UNSUPPORTED_CODING, /* a Transfer-Encoding other than chunked */
	DL_UNAUTHORIZED,       /* no API key, or one not known */
	DL_FORBIDDEN,          /* a known key without the right, or outside its prefix */
	DL_RATE_LIMITED,       /* the key is over --rate-limit */
	DL_NOT_FOUND,
	DL_METHOD_NOT_ALLOWED,
	DL_LOCK_HELD,
	DL_NOT_HELD,
	DL_TOKEN_MISMATCH,
	DL_BACKEND_UNAVAILABLE,
	DL_SHUTTING_DOWN,
	DL_REQUEST_TIMEOUT, /* the request did not arrive in time */
	DL_TOO_MANY_WAITERS,
	DL_TOO_MANY_LISTS,
	DL_INVALID_LOCK_DATA,       /* Redis holds data under the name that dlockd did not write */
	DL_FENCE_EXHAUSTED,         /* the name's fence counter leaves no room for a higher fence */
	DL_REPLICATION_UNCONFIRMED, /* fewer Redis replicas than --redis-wait-replicas acknowledged the write */
	DL_INTERNAL,
	DL_ERROR_COUNT
};

/* The stable code, e.g. "lock_held". */
const char *dl_error_code(enum dl_error e);
/* A short human title, e.g. "Lock is held". */
const char *dl_strerror(enum dl_error e);

#endif
