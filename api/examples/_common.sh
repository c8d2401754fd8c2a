# Sourced by every example: base URL, a temp dir, and three helpers.
# Needs only curl, sed, grep and tr (no jq).
set -eu
url=${DLOCK_URL:-http://127.0.0.1:8080}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# call STATUS METHOD PATH [curl options...]: the request must be answered with
# STATUS, else exit 1. The body lands in $tmp/body, the headers in $tmp/headers.
call() {
    want=$1 method=$2 path=$3
    shift 3
    if [ "$method" = HEAD ]; then set -- --head "$@"; else set -- -X "$method" "$@"; fi
    got=$(curl -sS -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@" "$url$path")
    if [ "$got" != "$want" ]; then
        echo "$method $path: expected HTTP $want, got $got: $(cat "$tmp/body")" >&2
        exit 1
    fi
}
# string member of the JSON body (jq-free; enough for dlockd's flat objects)
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$tmp/body"; }
# value of a response header
header() { grep -i "^$1:" "$tmp/headers" | tail -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
