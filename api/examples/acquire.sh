#!/bin/sh
# Acquire a lock for 30 s, saying who we are: PUT /locks/{name} -> 201 Created,
# a LockGrant (keep its token secret) and Location: /locks/{name}.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-acquire-$$}

call 201 PUT "/locks/$name?ttl_ms=30000&owner=worker-7"
cat "$tmp/body"; echo
echo "Location: $(header Location)"
[ "$(header Location)" = "/locks/$name" ] || { echo "unexpected Location" >&2; exit 1; }
token=$(field token)

# clean up: give it back
call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
