#!/bin/sh
# make fuzz: runs each libFuzzer target DIR/fuzz/fuzz_NAME for SECONDS, one
# after the other (one core, nice 10), over a copy of its seeds in
# DIR/corpus/NAME; the repository's tests/fuzz/corpus/NAME and regress/NAME
# are only read. A crash leaves its input in DIR/crashes/ and the log in
# DIR/fuzz-NAME.log. Exits non-zero if any target crashed.
# Usage: tools/fuzz.sh DIR SECONDS NAME...
set -u
dir=$1 secs=$2
shift 2
failed=""
mkdir -p "$dir/crashes"
for name in "$@"; do
    corpus="$dir/corpus/$name"
    log="$dir/fuzz-$name.log"
    mkdir -p "$corpus"
    cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    regress=""
    [ -d tests/fuzz/regress/"$name" ] && regress=tests/fuzz/regress/$name
    printf '  FUZZ   %-12s %ss: ' "$name" "$secs"
    if nice -n 10 "$dir/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$dir/crashes/$name-" "$corpus" $regress >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 | sed -n 's/.*\(cov: [0-9]* ft: [0-9]*\).*/\1/p')
        echo "ok, ${runs:-?} runs, $cov"
    else
        echo "CRASHED (log: $log)"
        grep -E 'ERROR|PROPERTY FAILED|SUMMARY|Test unit written' "$log" | head -n 10
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: crashed:$failed"
    exit 1
fi
echo "fuzz: no crash"
