#!/bin/sh
# Readiness: GET /readyz -> 200 {"status":"ready"} when Redis answers PING,
# else 503 backend_unavailable.
. "$(dirname "$0")/_common.sh"

call 200 GET /readyz
cat "$tmp/body"; echo
[ "$(field status)" = ready ]
