#!/usr/bin/env bash
# Runs every curl example in api/examples/ against a private dlockd (and its own
# redis-server) started here, so the examples never rot. Each example must exit 0.
# Usage: tools/api-examples.sh [DLOCKD_BIN]   (default build/dlockd)
# The last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
bin=${1:-build/dlockd}
. tools/live-dlockd.sh
trap live_stop EXIT
trap 'exit 130' INT TERM

if ! live_start "$bin"; then
    echo "0 passed, 1 failed"
    exit 1
fi
echo "# examples against $DLOCK_URL"
passed=0 failed=0
for ex in api/examples/*.sh; do
    case $(basename "$ex") in _*) continue ;; esac
    out=$(timeout 60 sh "$ex" 2>&1)
    rc=$?
    if [ $rc = 0 ]; then
        passed=$((passed + 1))
        echo "ok   $ex"
    else
        failed=$((failed + 1))
        echo "FAIL $ex (exit $rc):"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
    fi
    [ -n "${VERBOSE:-}" ] && printf '%s\n' "$out" | sed 's/^/    | /'
done
if ! live_stop; then
    echo "FAIL dlockd did not exit cleanly on SIGTERM"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
