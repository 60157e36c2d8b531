#!/bin/sh
# scripts/count-tests.sh -- count test cases from automake's .trs files.
#
# usage: scripts/count-tests.sh BUILD_DIR...
# Prints "N passed, N failed, N skipped" for all directories together.
# XPASS and ERROR count as failed. XFAIL (a TAP "# TODO" check that failed,
# i.e. a known gap) is not a pass: it is counted with the skipped.
set -eu
pass=0 fail=0 skip=0
for dir in "$@"; do
    counts=$(find "$dir" -name '*.trs' -exec grep -h '^:test-result:' {} + 2>/dev/null \
        | awk '{c[$2]++} END {printf "%d %d %d\n", c["PASS"], c["FAIL"]+c["XPASS"]+c["ERROR"], c["SKIP"]+c["XFAIL"]}')
    set -- $counts "$@"
    pass=$((pass + $1)); fail=$((fail + $2)); skip=$((skip + $3))
    shift 3
done
echo "$pass passed, $fail failed, $skip skipped"
