#!/bin/sh
# bench/engine_vs_ref.sh -- CPU speed of our engine side by side with the
# reference llama.cpp v0.5.0, in the same run, on the same GGUF files.
#
# For each model (synthetic Gemma 4 files written by `gemma-run synth`:
# e2b shrunk to 7 layers in q4_0, q8_0, q4_k and f16, and 26b-a4b shrunk
# to 2 layers for MoE, both with a 65536-token vocabulary), it runs
# `gemma-run bench` (ours) and bench/ref_bench.c (the reference, built
# here against $GEMMA_REF_DIR) alternately, ROUNDS times each, with the
# same -p/-n/-t/-r, and keeps the best pp and tg of each side. Both
# measure the same thing the same way: N_PROMPT pseudo-random ids in one
# batch, then N_GEN single-token decodes feeding back the argmax; see the
# top of bench/ref_bench.c. It prints one table row per model: file size,
# prompt and generation tokens/s, ours vs the reference (ratio = ours /
# reference), and the 1-minute load average when the row started.
#
# A benchmark, not a test: it is not part of `make check` (`make bench`
# runs it). Exit 0 when every row was measured, 1 when something failed,
# 2 on a usage error or when gemma-run or the reference is missing.
#
# Environment: GEMMA_RUN (default: ./gemma-run), GEMMA_REF_DIR (default
# ~/.cache/gemmad/reference, see scripts/fetch-reference.sh), CC (the
# compiler for the harness, default cc), TMPDIR.

usage() {
    cat <<'EOF'
usage: bench/engine_vs_ref.sh [--quick] [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r REPS]
                              [--rounds K] [--vocab V] [--types "T ..."] [--moe-types "T ..."]

  --quick        e2b in q4_0 and tiny-moe in q4_0, -p 64 -n 16 -r 1, one round
  -p N           prompt tokens evaluated as one batch (default 128)
  -n N           tokens generated one at a time (default 32)
  -t N           CPU threads for both (default: all online CPUs)
  -r N           repetitions inside each bench process; best is kept (default 3)
  --rounds K     alternating ours/reference runs per model; best is kept (default 2)
  --vocab V      vocabulary of the synthetic models (default 65536)
  --types "..."  e2b weight types (default "q4_0 q8_0 q4_k f16")
  --moe-types "..."  26b-a4b weight types (default "q4_0 q8_0"; "" skips MoE)
EOF
}

die_usage() {
    echo "engine_vs_ref.sh: $*" >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd) || exit 2
n_prompt=128 n_gen=32 reps=3 rounds=2 vocab=65536
threads=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
types="q4_0 q8_0 q4_k f16"
moe_types="q4_0 q8_0"
moe_preset=26b-a4b moe_layers=2
quick=0

while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; shift; continue ;;
        -h|--help) usage; exit 0 ;;
    esac
    [ $# -ge 2 ] || die_usage "$1 needs a value (see --help)"
    case $1 in
        -p) n_prompt=$2 ;;
        -n) n_gen=$2 ;;
        -t) threads=$2 ;;
        -r) reps=$2 ;;
        --rounds) rounds=$2 ;;
        --vocab) vocab=$2 ;;
        --types) types=$2 ;;
        --moe-types) moe_types=$2 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift 2
done
if [ "$quick" = 1 ]; then
    n_prompt=64 n_gen=16 reps=1 rounds=1 types=q4_0 moe_types=q4_0
    moe_preset=tiny-moe moe_layers=
fi
for v in "$n_prompt" "$n_gen" "$threads" "$reps" "$rounds" "$vocab"; do
    case $v in
        ''|*[!0-9]*) die_usage "'$v' is not a number" ;;
    esac
done
if [ "$threads" -lt 1 ] || [ "$reps" -lt 1 ] || [ "$rounds" -lt 1 ]; then
    die_usage "-t, -r and --rounds must be at least 1"
fi
[ $((n_prompt + n_gen)) -ge 1 ] || die_usage "-p and -n are both 0"

gemma_run=${GEMMA_RUN:-./gemma-run}
if [ ! -x "$gemma_run" ]; then
    echo "engine_vs_ref.sh: gemma-run is not built ('$gemma_run' is not an executable;" \
        "build it with 'make gemma-run' or set GEMMA_RUN)" >&2
    exit 2
fi
ref=${GEMMA_REF_DIR:-$HOME/.cache/gemmad/reference}
if [ ! -f "$ref/bins/libllama.v0.5.0.so" ] || [ ! -f "$ref/llsrc/include/llama.h" ]; then
    echo "engine_vs_ref.sh: the reference llama.cpp v0.5.0 is not fetched in '$ref'" \
        "(run scripts/fetch-reference.sh, or set GEMMA_REF_DIR)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/engine_vs_ref.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

if ! ${CC:-cc} -std=c11 -O2 -o "$work/ref_bench" "$here/ref_bench.c" \
        -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
        -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -lm \
        -Wl,-rpath,"$ref/bins" >"$work/cc.out" 2>&1; then
    echo "engine_vs_ref.sh: could not build bench/ref_bench.c against $ref:" >&2
    cat "$work/cc.out" >&2
    exit 1
fi

loadavg() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'; }
# rate KIND FILE -- the tokens/s of the ppN or tgN line in a bench output.
rate() { sed -n "s/^$1[0-9]*: \\([0-9.]*\\) tokens\\/s\$/\\1/p" "$2"; }
# best A B -- the larger of two rates ("" counts as nothing).
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || (a != "" && a + 0 >= b + 0)) print a; else print b }'; }
# ratio A B -- A / B with two decimals, "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 <= 0) print "-"; else printf "%.2f", a / b }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "# engine vs llama.cpp v0.5.0 (reference in $ref), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# machine: ${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') online CPUs;" \
    "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "# method: pp$n_prompt = $n_prompt prompt ids in one batch, tg$n_gen = $n_gen single-token decodes" \
    "(argmax fed back); threads $threads; best of $reps reps x $rounds alternating rounds"
echo "# ours: gemma-run bench ($gemma_run), n_ctx $((n_prompt + n_gen + 1)), KV cache f32"
failures=0
header_done=0

# bench_model LABEL TYPE SYNTH-ARGS... -- synthesize one file, measure both, print its row.
bench_model() {
    label=$1 type=$2
    shift 2
    model="$work/model.gguf"
    if ! "$gemma_run" synth "$@" --type "$type" -o "$model" >"$work/synth.out" 2>&1; then
        echo "engine_vs_ref.sh: gemma-run synth $* --type $type failed:" >&2
        cat "$work/synth.out" >&2
        failures=$((failures + 1))
        return
    fi
    size=$(wc -c <"$model" | awk '{ printf "%.1f", $1 / 1048576 }')
    load=$(loadavg)
    pp_ours='' tg_ours='' pp_ref='' tg_ref=''
    k=0
    while [ "$k" -lt "$rounds" ]; do
        k=$((k + 1))
        if ! "$gemma_run" bench -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
                >"$work/ours.out" 2>&1; then
            echo "engine_vs_ref.sh: gemma-run bench failed on $label $type:" >&2
            cat "$work/ours.out" >&2
            failures=$((failures + 1))
        fi
        if ! "$work/ref_bench" -m "$model" --bins "$ref/bins" -p "$n_prompt" -n "$n_gen" \
                -t "$threads" -r "$reps" >"$work/ref.out" 2>&1; then
            echo "engine_vs_ref.sh: ref_bench failed on $label $type:" >&2
            cat "$work/ref.out" >&2
            failures=$((failures + 1))
        fi
        pp_ours=$(best "$pp_ours" "$(rate pp "$work/ours.out")")
        tg_ours=$(best "$tg_ours" "$(rate tg "$work/ours.out")")
        pp_ref=$(best "$pp_ref" "$(rate pp "$work/ref.out")")
        tg_ref=$(best "$tg_ref" "$(rate tg "$work/ref.out")")
    done
    if [ "$header_done" = 0 ]; then
        echo "# reference: $(sed -n 's/^settings: //p' "$work/ref.out")"
        printf '%-22s %-5s %9s | %9s %9s %6s | %9s %9s %6s | %5s\n' model type MiB \
            "pp ours" "pp ref" ratio "tg ours" "tg ref" ratio load
        header_done=1
    fi
    printf '%-22s %-5s %9s | %9s %9s %6s | %9s %9s %6s | %5s\n' "$label" "$type" "$size" \
        "${pp_ours:--}" "${pp_ref:--}" "$(ratio "$pp_ours" "$pp_ref")" \
        "${tg_ours:--}" "${tg_ref:--}" "$(ratio "$tg_ours" "$tg_ref")" "$load"
    rm -f "$model"
}

for t in $types; do
    bench_model "e2b (7 layers)" "$t" --preset e2b --layers 7 --vocab "$vocab"
done
for t in $moe_types; do
    if [ -n "$moe_layers" ]; then
        bench_model "$moe_preset ($moe_layers layers)" "$t" --preset "$moe_preset" \
            --layers "$moe_layers" --vocab "$vocab"
    else
        bench_model "$moe_preset" "$t" --preset "$moe_preset"
    fi
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'); ratio = ours / reference"
[ "$failures" -eq 0 ] || exit 1
exit 0
