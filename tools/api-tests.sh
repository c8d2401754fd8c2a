#!/usr/bin/env bash
# make api-test: the API-contract checks of openapi.yaml against the real server.
#   1. npm ci in api/ (exact versions from api/package-lock.json)
#   2. lint openapi.yaml with Redocly CLI (zero errors)
#   3. generate TypeScript types from the spec (openapi-typescript -> api/generated/)
#      and compile api/client-test.ts with strict tsc
#   4. run the client test (openapi-fetch) against a private dlockd + redis-server
#   5. run every curl example in api/examples/ against a private dlockd
#   6. conformance: run the black-box suite with DLOCKD_RECORD and validate every
#      recorded response against the spec (api/conformance.mjs)
# Usage: tools/api-tests.sh [--record FILE] [BUILD_DIR]
#   --record FILE  validate an existing recording (made with DLOCKD_RECORD=FILE)
#                  instead of running the black-box suite again
# Without npm it prints a notice and exits 0. The last line is "N passed, N failed"
# (the sum of all parts).
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
record= build=build
while [ $# -gt 0 ]; do
    case $1 in
    --record) record=$2; shift 2 ;;
    --record=*) record=${1#--record=}; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) build=$1; shift ;;
    esac
done

if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: skipping API contract checks"
    exit 0
fi

. tools/live-dlockd.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-api.XXXXXX")
cleanup() { live_stop >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# no telemetry, update checks or funding notices (and no network waits for them)
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

total_p=0 total_f=0 t_start=$SECONDS
indent() { sed 's/^/  /'; }

# step NAME CMD...: one check, passed if CMD exits 0 (its output is shown on failure)
step() {
    local name=$1 t0=$SECONDS
    shift
    if "$@" >"$tmp/step.log" 2>&1; then
        total_p=$((total_p + 1))
        echo "ok   $name ($((SECONDS - t0)) s)"
        [ -n "${VERBOSE:-}" ] && indent <"$tmp/step.log"
        return 0
    fi
    total_f=$((total_f + 1))
    echo "FAIL $name ($((SECONDS - t0)) s):"
    tail -n 40 "$tmp/step.log" | indent
    return 1
}

# suite NAME CMD...: a runner whose last line is "N passed, N failed"
suite() {
    local name=$1 t0=$SECONDS line p n
    shift
    echo "== $name"
    "$@" >"$tmp/suite.log" 2>&1
    indent <"$tmp/suite.log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/suite.log" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    n=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
    if [ -z "$p" ] || [ -z "$n" ]; then
        echo "FAIL $name: no result line"
        p=0 n=1
    fi
    total_p=$((total_p + p)) total_f=$((total_f + n))
    echo "== $name: done in $((SECONDS - t0)) s"
}

finish() {
    echo "# api-test took $((SECONDS - t_start)) s"
    echo "$total_p passed, $total_f failed"
    [ "$total_f" = 0 ]
    exit
}

node_ok() {
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)'
}
if ! step "node >= 18.17 ($(node --version 2>/dev/null || echo missing))" node_ok; then
    finish
fi
# npm ci (a clean install of exactly api/package-lock.json) unless node_modules
# already is one for this lockfile and node: then it would only redo the same
# 20k files. Always in CI (CI set) or with API_NPM_CI=1.
stamp=api/node_modules/.dlockd-npm-ci
want_stamp="$(cat api/package-lock.json api/package.json | sha256sum | cut -d' ' -f1) node $(node --version)"
if [ -z "${CI:-}" ] && [ -z "${API_NPM_CI:-}" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
    total_p=$((total_p + 1))
    echo "ok   npm ci: api/node_modules is a clean install of package-lock.json already (API_NPM_CI=1 redoes it)"
elif step "npm ci (api/package-lock.json)" sh -c 'cd api && npm ci --no-audit --no-fund --prefer-offline'; then
    echo "$want_stamp" >"$stamp"
else
    finish
fi

step "redocly lint openapi.yaml" sh -c 'cd api && node_modules/.bin/redocly lint ../openapi.yaml'
grep -E 'error|warning|valid' "$tmp/step.log" | grep -v '^$' | tail -n 3 | indent

gen_ok=0
if step "openapi-typescript: api/generated/schema.ts" \
    sh -c 'cd api && rm -rf generated .out && node_modules/.bin/openapi-typescript ../openapi.yaml --output generated/schema.ts' &&
    step "tsc --strict: api/client-test.ts" sh -c 'cd api && node_modules/.bin/tsc -p tsconfig.json'; then
    gen_ok=1
fi

# the generated client against a live dlockd started with the given flags; DLOCK_API_KEY, if
# set, is the key the client sends
client_test() {
    live_start "$root/$build/dlockd" "$@" || { echo "0 passed, 1 failed"; return 1; }
    node api/.out/client-test.js
    local rc=$?
    if ! live_stop; then
        echo "FAIL dlockd did not exit 0 on SIGTERM"
        echo "0 passed, 1 failed"
        return 1
    fi
    return $rc
}
# the same client against a dlockd with an auth file, passing an admin key (the
# auth file's line made with sha256sum, as docs/security.md shows)
client_test_auth() {
    local auth=$tmp/auth.txt
    DLOCK_API_KEY="dlk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    printf 'api-test sha256:%s * admin\n' "$(printf '%s' "$DLOCK_API_KEY" | sha256sum | cut -c1-64)" >"$auth"
    DLOCK_API_KEY=$DLOCK_API_KEY client_test --auth-file "$auth"
}
if [ $gen_ok = 1 ]; then
    suite "client test (openapi-fetch, generated types)" client_test
    suite "client test with an API key (--auth-file)" client_test_auth
else
    total_f=$((total_f + 2))
    echo "FAIL client test: not run (no compiled client)"
fi

suite "curl examples (api/examples)" tools/api-examples.sh "$root/$build/dlockd"

# conformance of the black-box suite's traffic
if [ -z "$record" ]; then
    record=$tmp/traffic.jsonl
    t0=$SECONDS
    echo "== black-box suite with DLOCKD_RECORD (its own results count in make test, not here)"
    DLOCKD_RECORD=$record DLOCKD_BIN="$root/$build/dlockd" "$root/$build/test_blackbox" >"$tmp/bb.log" 2>&1
    bb_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/bb.log" | tail -n 1)
    grep '^FAIL' "$tmp/bb.log" | indent
    echo "  black-box suite: ${bb_line:-no result line} -- $(wc -l <"$record" 2>/dev/null || echo 0) exchanges recorded in $((SECONDS - t0)) s"
fi
if [ -s "$record" ]; then
    suite "conformance of the recorded traffic (api/conformance.mjs)" node api/conformance.mjs "$record"
else
    total_f=$((total_f + 1))
    echo "FAIL conformance: no recorded traffic in $record"
fi

finish
