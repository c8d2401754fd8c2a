/* spec: the OpenAPI document (openapi.yaml at the repository root), embedded
 * in the binary at build time so the served spec is always the built one. */
#ifndef DLOCKD_SPEC_H
#define DLOCKD_SPEC_H

#include <stddef.h>

/* The spec's bytes (static, not NUL-terminated in general) and its length. */
const char *spec_text(size_t *len);

#endif
