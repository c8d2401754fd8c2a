#!/bin/sh
# Is the lock held? HEAD /locks/{name} -> 200 if held, 404 if free; no body.
. "$(dirname "$0")/_common.sh"
name=${LOCK_NAME:-example-head-$$}

call 404 HEAD "/locks/$name"
echo "free: HTTP 404"
call 201 PUT "/locks/$name?ttl_ms=30000"
token=$(field token)
call 200 HEAD "/locks/$name"
echo "held: HTTP 200 ($(header Content-Type), Content-Length $(header Content-Length), no body)"

call 204 DELETE "/locks/$name" -H "Lock-Token: $token"
