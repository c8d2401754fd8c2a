#!/bin/sh
# List held locks: GET /locks?prefix=...&limit=... -> 200 {"locks":[...],"next_cursor":...}.
# Follow next_cursor until it is null (a page may be short, even empty, before that).
. "$(dirname "$0")/_common.sh"
prefix=${LOCK_PREFIX:-example-list-$$-}

tokens=
for i in 1 2 3; do
    call 201 PUT "/locks/$prefix$i?ttl_ms=30000&owner=job-$i"
    tokens="$tokens $i:$(field token)"
done

cursor= total=0
while :; do
    call 200 GET "/locks?prefix=$prefix&limit=2${cursor:+&cursor=$cursor}"
    cat "$tmp/body"; echo
    total=$((total + $(grep -o '"name":"[^"]*"' "$tmp/body" | wc -l)))
    cursor=$(field next_cursor)
    [ -n "$cursor" ] || break # "next_cursor":null on the last page
done
[ "$total" = 3 ] || { echo "listed $total locks, expected 3" >&2; exit 1; }

for t in $tokens; do call 204 DELETE "/locks/$prefix${t%%:*}" -H "Lock-Token: ${t#*:}"; done
