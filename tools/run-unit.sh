#!/bin/sh
# Runs unit-test binaries; each prints its own "N passed, N failed" and exits
# non-zero on failure. Prints a combined final line.
set -u
pass=0 fail=0
for t in "$@"; do
    [ -x "$t" ] || continue  # an unmatched glob: no unit tests built
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    [ "$f" != 0 ] && printf '%s\n' "$out"
    printf '  unit %-28s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
    pass=$((pass + p)); fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ]
