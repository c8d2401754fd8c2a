#!/bin/sh
# make test: unit tests, the fuzz targets' replays (seeds and regression inputs), the
# chaos checker's and the bench picture's own tests,
# the black-box suite (real dlockd, real redis-server), and —
# when npm is present and API_TESTS is not 0 — the API contract checks, which validate
# the black-box suite's recorded traffic against openapi.yaml (tools/api-tests.sh).
# Usage: tools/run-tests.sh BUILD_DIR. The last line is the combined "N passed, N failed".
set -u
build=${1:-build}
log=$(mktemp -d "${TMPDIR:-/tmp}/dlockd-test.XXXXXX")
trap 'rm -rf "$log"' EXIT INT TERM

api=${API_TESTS:-1}
command -v npm >/dev/null 2>&1 || api=0

# The chaos checker's, report's and runner's own tests and those of the bench picture (bench/plot.py)
# (Python, no processes) count as unit tests; so does the Redis-over-TLS recipe (tests/tls:
# stunnel + redis-server's tls-port; skips without stunnel).
DLOCKD_BIN="$build/dlockd" PYTHONDONTWRITEBYTECODE=1 ./tools/run-unit.sh "$build"/unit/test_* "$build"/fuzz/replay_* \
    tests/chaos/test_*.py bench/test_plot.py tests/tls/redis_tls_test.sh |
    tee "$log/unit"
if [ "$api" != 0 ]; then
    DLOCKD_RECORD="$log/traffic.jsonl" DLOCKD_BIN="$build/dlockd" "$build/test_blackbox" 2>&1 | tee "$log/bb"
    ./tools/api-tests.sh --record "$log/traffic.jsonl" "$build" 2>&1 | tee "$log/api"
else
    DLOCKD_BIN="$build/dlockd" "$build/test_blackbox" 2>&1 | tee "$log/bb"
fi

total_p=0 total_f=0
for f in "$log/unit" "$log/bb" "$log/api"; do
    [ -f "$f" ] || continue
    line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed$' "$f" | tail -n 1 | sed 's/^[a-z]*: //')
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    n=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
    if [ -z "$p" ] || [ -z "$n" ]; then p=0; n=1; echo "no result line from the $(basename "$f") suite"; fi
    total_p=$((total_p + p)); total_f=$((total_f + n))
done
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
