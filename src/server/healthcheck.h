/* healthcheck: `dlockd --healthcheck` — asks the local instance's /readyz over
 * a plain socket, or over TLS (GnuTLS) when --tls-cert is set (no extra
 * packages in the container), and turns the answer into an exit status. */
#ifndef DLOCKD_HEALTHCHECK_H
#define DLOCKD_HEALTHCHECK_H

#include "base/config.h"

/* Returns 0 if GET /readyz on cfg's listen address answers 200 within
 * timeout_ms, else 1 (with a one-line reason on stderr). */
int healthcheck_run(const struct config *cfg, unsigned timeout_ms);

#endif
