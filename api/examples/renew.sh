#!/bin/sh
# Renew (extend) a lease: POST /locks/{name}/renew with the token in the
# Lock-Token header -> 200, a LockGrant with the same token and fence.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-renew-$$}

call 201 PUT "/locks/$name?ttl_ms=30000"
token=$(field token)

call 200 POST "/locks/$name/renew?ttl_ms=60000" -H "Lock-Token: $token"
cat "$tmp/body"; echo
[ "$(field token)" = "$token" ] || { echo "renew changed the token" >&2; exit 1; }

call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
