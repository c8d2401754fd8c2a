#!/bin/sh
# Release: DELETE /locks/{name} with the token in Lock-Token -> 204 No Content.
# Releasing again (or after expiry) is 404 not_held; a wrong token is 409.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-release-$$}

call 201 PUT "/locks/$name?ttl_ms=30000"
token=$(field token)

call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
echo "released: HTTP 204"
call 404 DELETE "/locks/$name" -H "Lock-Token: $token"
cat "$tmp/body"; echo
[ "$(field code)" = not_held ] || { echo "expected code not_held" >&2; exit 1; }
