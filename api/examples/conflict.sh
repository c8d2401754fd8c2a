#!/bin/sh
# Someone else holds the lock: PUT /locks/{name} -> 409 application/problem+json,
# code lock_held, the holder's public view in "lock", and Retry-After (seconds).
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-conflict-$$}

call 201 PUT "/locks/$name?ttl_ms=30000&owner=worker-7"
token=$(field token)

call 409 PUT "/locks/$name?owner=worker-8"
echo "Content-Type: $(header Content-Type)"
echo "Retry-After: $(header Retry-After)"
cat "$tmp/body"; echo
[ "$(field code)" = lock_held ] || { echo "expected code lock_held" >&2; exit 1; }
case $(header Content-Type) in application/problem+json*) ;; *) echo "not a problem" >&2; exit 1 ;; esac
[ -n "$(header Retry-After)" ] || { echo "no Retry-After" >&2; exit 1; }

call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
