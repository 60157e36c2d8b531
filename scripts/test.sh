#!/bin/sh
# scripts/test.sh -- the README's test command: install dependencies, fetch
# the reference implementation, build, and run the whole suite.
#
# usage: scripts/test.sh [BUILD_DIR] [configure options...]
# Ends with one line "N passed, N failed, N skipped" counting every test
# case (each cmocka case and each integration check is one TAP line).
# Exit status 0 only when nothing failed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
[ $# -gt 0 ] && shift
"$top/scripts/install-deps.sh"
GEMMA_REF_DIR=$("$top/scripts/fetch-reference.sh")
export GEMMA_REF_DIR
"$top/scripts/build.sh" "$build" "$@"
cd "$build"
rc=0
make -j"$(nproc)" check >check.out 2>&1 || rc=$?
grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP|XFAIL):' check.out | grep -v '^PASS' || true
"$top/scripts/count-tests.sh" "$build"
if [ $rc -ne 0 ]; then
    echo "test: failures above; details in $build/test-suite.log and $build/**/*.log" >&2
    [ -f test-suite.log ] && sed -n '1,200p' test-suite.log >&2
fi
exit $rc
