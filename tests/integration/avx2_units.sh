#!/bin/sh
# tests/integration/avx2_units.sh -- unit tests whose cases depend on the
# CPU path, run again with GEMMA_CPU=avx2: the suite runs every program on
# the best path this CPU has (AVX-512 VNNI here), so without this the AVX2
# kernels for repacked Q6_K weights (engine/cpu/q6k_packed_avx2.c) would
# be checked only on AVX2-only machines. Each case of each program is one
# case here, its skips (with the program's printed reason) skips; a
# program that does not exit 0 is a failed case. Skipped as a whole where
# the CPU has no AVX2/FMA/F16C.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null || ! grep -qw fma /proc/cpuinfo ||
   ! grep -qw f16c /proc/cpuinfo; then
    tap_skip_all "this CPU has no AVX2/FMA/F16C: the avx2 path cannot run"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/avx2_units.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

for prog in test_q6k_packed test_model_repack; do
    bin="$top_builddir/tests/unit/$prog"
    if [ ! -x "$bin" ]; then
        ok 1 "$prog is built"
        continue
    fi
    GEMMA_CPU=avx2 CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$work/out" 2>&1
    rc=$?
    # cmocka's TAP: "ok N - name", "not ok N - name", "not ok N # SKIP name"
    while IFS= read -r line; do
        case $line in
            "not ok "*" # SKIP "*) tap_skip "$prog (GEMMA_CPU=avx2): ${line#* \# SKIP }" ;;
            "not ok "*) ok 1 "$prog (GEMMA_CPU=avx2): ${line#not ok * - }" ;;
            "ok "*) ok 0 "$prog (GEMMA_CPU=avx2): ${line#ok * - }" ;;
            "1.."*) ;;
            *) echo "# $line" ;;
        esac
    done <"$work/out"
    ok "$rc" "$prog exits 0 with GEMMA_CPU=avx2"
done
tap_done
