# tests/lib/tap.sh -- TAP helpers for the shell integration tests.
#
# Source it, call `tap_plan N` (or nothing, and `tap_done` at the end),
# then `ok COND_EXIT_STATUS "description"` for each check. Every check is
# one test case in the suite's count. `tap_skip "why"` skips one case,
# `tap_skip_all "why"` the whole script.

tap_n=0
tap_failed=0

tap_plan() { echo "1..$1"; tap_planned=1; }

# ok STATUS DESCRIPTION -- STATUS 0 passes.
ok() {
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

# check DESCRIPTION COMMAND... -- runs the command, passes on exit 0.
check() {
    desc=$1; shift
    if "$@" >"${TAP_TMP:-/tmp}/check.out" 2>&1; then ok 0 "$desc"; else
        ok 1 "$desc"; sed 's/^/# /' "${TAP_TMP:-/tmp}/check.out" | head -40
    fi
}

tap_skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n # SKIP $1"; }
tap_skip_all() { echo "1..0 # SKIP $1"; exit 0; }
tap_diag() { echo "# $*"; }
tap_done() {
    [ -n "${tap_planned:-}" ] || echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}

# Where things are (set by make check's environment).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
GEMMA_RUN="$top_builddir/gemma-run"
