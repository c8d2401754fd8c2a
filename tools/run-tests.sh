#!/bin/sh
# make test: unit tests, then the black-box suite (real dlockd, real redis-server).
# Usage: tools/run-tests.sh BUILD_DIR. The last line is the combined "N passed, N failed".
set -u
build=${1:-build}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT INT TERM

./tools/run-unit.sh "$build"/unit/test_* | tee "$log/unit"
DLOCKD_BIN="$build/dlockd" "$build/test_blackbox" 2>&1 | tee "$log/bb"

total_p=0 total_f=0
for f in "$log/unit" "$log/bb"; do
    line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed$' "$f" | tail -n 1 | sed 's/^[a-z]*: //')
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    n=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
    if [ -z "$p" ] || [ -z "$n" ]; then p=0; n=1; echo "no result line from $(basename "$f") suite"; fi
    total_p=$((total_p + p)); total_f=$((total_f + n))
done
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
