#!/bin/sh
# Inspect a lock: GET /locks/{name} -> 200 and its public LockView (owner, fence,
# remaining ttl_ms, expires_at, acquired_at; never the token), 404 if free.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-inspect-$$}

call 201 PUT "/locks/$name?ttl_ms=30000&owner=worker-7"
token=$(field token)

call 200 GET "/locks/$name"
cat "$tmp/body"; echo
if grep -q '"token"' "$tmp/body"; then echo "the view leaks the token" >&2; exit 1; fi

call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
call 404 GET "/locks/$name"
