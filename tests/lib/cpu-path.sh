# tests/lib/cpu-path.sh -- run a cmocka test program once more on a forced
# CPU path (GEMMA_CPU), so that a path below the CPU's best one is tested
# too. Source it from a test script, then
#   run_on_cpu_path PATH PROGRAM
# PROGRAM is relative to the build tree. Where this CPU cannot run PATH
# the whole script is skipped (TAP "1..0 # SKIP"), with the reason.

# cpu_can_run PATH -- whether /proc/cpuinfo lists what PATH needs.
cpu_can_run() {
    case $1 in
    scalar) return 0 ;;
    avx2) flags="avx2 fma f16c" ;;
    avx512) flags="avx512f avx512bw avx512vl avx2 fma f16c" ;;
    *) return 1 ;;
    esac
    for f in $flags; do
        grep -qw "$f" /proc/cpuinfo 2>/dev/null || return 1
    done
    return 0
}

run_on_cpu_path() {
    if ! cpu_can_run "$1"; then
        echo "1..0 # SKIP this CPU cannot run the $1 path"
        exit 0
    fi
    GEMMA_CPU=$1
    export GEMMA_CPU
    exec /bin/sh "$top_srcdir/tests/lib/run-cmocka.sh" "$top_builddir/$2"
}
