#!/bin/sh
# Liveness: GET /healthz -> 200 {"status":"ok"} while the process runs (no Redis call).
. "$(dirname "$0")/_common.sh"

call 200 GET /healthz
cat "$tmp/body"; echo
[ "$(field status)" = ok ]
