#!/bin/sh
# Wait for a held lock instead of polling: PUT /locks/{name}?wait_ms=... keeps the
# request open and answers 201 the moment the lock is ours (here when the first
# holder's 1 s lease runs out), or 409 lock_held when wait_ms is up.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-wait-$$}

call 201 PUT "/locks/$name?ttl_ms=1000&owner=first"
first_fence=$(sed -n 's/.*"fence":\([0-9]*\).*/\1/p' "$tmp/body")

call 201 PUT "/locks/$name?wait_ms=10000&ttl_ms=30000&owner=second"
cat "$tmp/body"; echo
fence=$(sed -n 's/.*"fence":\([0-9]*\).*/\1/p' "$tmp/body")
[ "$fence" -gt "$first_fence" ] || { echo "fence did not grow" >&2; exit 1; }

call 204 DELETE "/locks/$name" -H "Lock-Token: $(field token)"
