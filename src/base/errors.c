/* errors: codes and titles. See errors.h. */
#include "base/errors.h"

static const struct {
	const char *code, *title;
} ERRORS[DL_ERROR_COUNT] = {
    [DL_OK] = {"ok", "OK"},
    [DL_INVALID_NAME] = {"invalid_name", "Invalid lock name"},
    [DL_INVALID_TTL] = {"invalid_ttl", "Invalid ttl_ms"},
    [DL_INVALID_WAIT] = {"invalid_wait", "Invalid wait_ms"},
    [DL_INVALID_OWNER] = {"invalid_owner", "Invalid owner"},
    [DL_INVALID_TOKEN] = {"invalid_token", "Invalid token"},
    [DL_MISSING_TOKEN] = {"missing_token", "Missing token"},
    [DL_INVALID_PARAMETER] = {"invalid_parameter", "Invalid parameter"},
    [DL_INVALID_JSON] = {"invalid_json", "Invalid JSON body"},
    [DL_INVALID_PREFIX] = {"invalid_prefix", "Invalid prefix"},
    [DL_INVALID_LIMIT] = {"invalid_limit", "Invalid limit"},
    [DL_INVALID_CURSOR] = {"invalid_cursor", "Invalid cursor"},
    [DL_BODY_TOO_LARGE] = {"body_too_large", "Request body too large"},
    [DL_UNSUPPORTED_MEDIA_TYPE] = {"unsupported_media_type", "Unsupported media type"},
    [DL_BAD_REQUEST] = {"bad_request", "Malformed request"},
    [DL_UNSUPPORTED_CODING] = {"unsupported_transfer_coding", "Unsupported transfer coding"},
    [DL_UNAUTHORIZED] = {"unauthorized", "API key missing or unknown"},
    [DL_FORBIDDEN] = {"forbidden", "Not allowed for this API key"},
    [DL_RATE_LIMITED] = {"rate_limited", "Too many requests for this API key"},
    [DL_NOT_FOUND] = {"not_found", "Not found"},
    [DL_METHOD_NOT_ALLOWED] = {"method_not_allowed", "Method not allowed"},
    [DL_LOCK_HELD] = {"lock_held", "Lock is held"},
    [DL_NOT_HELD] = {"not_held", "Lock is not held"},
    [DL_TOKEN_MISMATCH] = {"token_mismatch", "Token does not hold the lock"},
    [DL_BACKEND_UNAVAILABLE] = {"backend_unavailable", "Lock backend unavailable"},
    [DL_SHUTTING_DOWN] = {"shutting_down", "Service is shutting down"},
    [DL_REQUEST_TIMEOUT] = {"request_timeout", "Request timeout"},
    [DL_TOO_MANY_WAITERS] = {"too_many_waiters", "Too many waiting requests"},
    [DL_TOO_MANY_LISTS] = {"too_many_list_requests", "Too many list requests"},
    [DL_INVALID_LOCK_DATA] = {"invalid_lock_data", "Lock data in Redis is not dlockd's"},
    [DL_FENCE_EXHAUSTED] = {"fence_exhausted", "Fence counter exhausted"},
    [DL_REPLICATION_UNCONFIRMED] = {"replication_unconfirmed", "Redis replicas did not acknowledge the write"},
    [DL_INTERNAL] = {"internal_error", "Internal error"},
};

const char *dl_error_code(enum dl_error e)
{
	return e < DL_ERROR_COUNT ? ERRORS[e].code : "internal_error";
}

const char *dl_strerror(enum dl_error e)
{
	return e < DL_ERROR_COUNT ? ERRORS[e].title : "Internal error";
}
