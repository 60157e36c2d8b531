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
# Reference-quantized rows (--refq-shapes, --refq-types): a synthetic F16
# file of each shape (e2b: the real E2B shape, 35 layers, vocabulary
# 262144; e4b12: E4B shrunk to 12 layers; e2b7: e2b with 7 layers and a
# 65536 vocabulary, small enough to try) is quantized by the REFERENCE's
# own quantizer (llama_model_quantize in libllama, bench/ref_quantize.c)
# to Q4_K_M and Q8_0, so both sides read exactly the bytes llama.cpp's
# tools would write. These files are large (e2b F16 is about 9 GB, its
# Q4_K_M about 3 GB) and the runs are long.
#
# Every row also shows the decode roofline: the weight bytes a decode step
# reads (all tensor data except lookup-only embedding tables:
# per_layer_token_embd, and token_embd when output.weight is separate)
# divided by this machine's read bandwidth (bench/membw.c, same threads),
# i.e. the fastest a memory-bound decode can go; "tg/roof" is ours as a
# fraction of it. And the peak RSS (MiB) of each side's bench process.
#
# --cpu PATH runs our engine with GEMMA_CPU=PATH and the reference with
# the matching ggml CPU build: avx2 -> libggml-cpu-haswell.so, scalar ->
# libggml-cpu-x64.so, avx512 (or nothing) -> the best build for this CPU.
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
                              [--refq-shapes "S ..."] [--refq-types "T ..."] [--cpu PATH]
                              [--keep DIR] [--batch B]

  --quick        e2b in q4_0 and tiny-moe in q4_0, -p 64 -n 16 -r 1, one round,
                 no reference-quantized rows (unless --refq-shapes follows)
  -p N           prompt tokens evaluated as one batch (default 128)
  -n N           tokens generated one at a time (default 32)
  -t N           CPU threads for both (default: all online CPUs)
  -r N           repetitions inside each bench process; best is kept (default 3)
  --rounds K     alternating ours/reference runs per model; best is kept (default 2)
  --vocab V      vocabulary of the synthetic models (default 65536)
  --types "..."  e2b weight types (default "q4_0 q8_0 q4_k f16")
  --moe-types "..."  26b-a4b weight types (default "q4_0 q8_0"; "" skips MoE)
  --refq-shapes "..."  shapes quantized by the reference's quantizer: e2b (35
                 layers, vocab 262144), e4b12, e2b7 (default "e2b e4b12"; "" skips)
  --refq-types "..."   reference quantizer types (default "q4_k_m q8_0")
  --cpu PATH     avx512, avx2 or scalar on both sides (default: each side's best)
  --keep DIR     keep the reference-quantized files in DIR (named SHAPE-TYPE.gguf)
                 and reuse them on later runs, skipping synth and quantizer
  --batch B      also decode B sequences at once, one token each per step, on
                 both sides (gemma-run bench --batch B, ref_bench --batch B):
                 columns tgxB (aggregate tokens/s) and xB/1 (over one stream)
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
refq_shapes="e2b e4b12" refq_types="q4_k_m q8_0" refq_given=0
keep_dir=
cpu_path=
batch=0
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
        --refq-shapes) refq_shapes=$2 refq_given=1 ;;
        --refq-types) refq_types=$2 ;;
        --cpu) cpu_path=$2 ;;
        --keep) keep_dir=$2 ;;
        --batch) batch=$2 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift 2
done
if [ "$quick" = 1 ]; then
    n_prompt=64 n_gen=16 reps=1 rounds=1 types=q4_0 moe_types=q4_0
    moe_preset=tiny-moe moe_layers=''
    [ "$refq_given" = 1 ] || refq_shapes=''
fi
[ -z "$keep_dir" ] || [ -d "$keep_dir" ] || die_usage "--keep: '$keep_dir' is not a directory"
for sh in $refq_shapes; do
    case $sh in
        e2b|e4b12|e2b7) ;;
        *) die_usage "unknown --refq-shapes entry '$sh' (e2b, e4b12 or e2b7)" ;;
    esac
done
for t in $refq_types; do
    case $t in
        q4_k_m|q4_k_s|q6_k|q8_0|q4_0) ;;
        *) die_usage "unknown --refq-types entry '$t' (q4_k_m, q4_k_s, q6_k, q8_0, q4_0)" ;;
    esac
done
for v in "$n_prompt" "$n_gen" "$threads" "$reps" "$rounds" "$vocab" "$batch"; do
    case $v in
        ''|*[!0-9]*) die_usage "'$v' is not a number" ;;
    esac
done
if [ "$threads" -lt 1 ] || [ "$reps" -lt 1 ] || [ "$rounds" -lt 1 ]; then
    die_usage "-t, -r and --rounds must be at least 1"
fi
[ $((n_prompt + n_gen)) -ge 1 ] || die_usage "-p and -n are both 0"
if [ "$batch" -ne 0 ] && { [ "$batch" -lt 2 ] || [ "$batch" -gt 256 ] || [ "$n_gen" -lt 1 ]; }; then
    die_usage "--batch must be 2..256, with -n at least 1"
fi
batch_args=
[ "$batch" -eq 0 ] || batch_args="--batch $batch"

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

ref_cpu_lib=
case $cpu_path in
    '') ;;
    avx512) ;;
    avx2) ref_cpu_lib="$ref/bins/libggml-cpu-haswell.so" ;;
    scalar) ref_cpu_lib="$ref/bins/libggml-cpu-x64.so" ;;
    *) die_usage "--cpu must be avx512, avx2 or scalar" ;;
esac
if [ -n "$ref_cpu_lib" ] && [ ! -f "$ref_cpu_lib" ]; then
    echo "engine_vs_ref.sh: the reference has no $ref_cpu_lib" >&2
    exit 2
fi
if [ -n "$cpu_path" ]; then
    GEMMA_CPU=$cpu_path
    export GEMMA_CPU
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/engine_vs_ref.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

for prog in ref_bench ref_quantize; do
    if ! ${CC:-cc} -std=c11 -O2 -o "$work/$prog" "$here/$prog.c" \
            -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
            -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -lm \
            -Wl,-rpath,"$ref/bins" >"$work/cc.out" 2>&1; then
        echo "engine_vs_ref.sh: could not build bench/$prog.c against $ref:" >&2
        cat "$work/cc.out" >&2
        exit 1
    fi
done
if ! ${CC:-cc} -std=c11 -O3 -march=native -o "$work/membw" "$here/membw.c" -lpthread \
        >"$work/cc.out" 2>&1; then
    echo "engine_vs_ref.sh: could not build bench/membw.c:" >&2
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

# json_max KEY FILE -- KEY_max from the JSON last line of gemma-run bench
# --json (the best repetition, as ref_bench reports; "" when 0 or absent).
json_max() {
    tail -n 1 "$2" | sed -n "s/.*\"$1_max\": \([0-9.]*\).*/\1/p" |
        awk '{ if ($1 + 0 > 0) print $1 }'
}
# peak RSS in MiB from a bench output ("peak RSS: X MiB").
rss() { sed -n 's/^peak RSS: \([0-9.]*\) MiB$/\1/p' "$1"; }
# weight_bytes FILE -- bytes a decode step reads: all tensor data but the
# lookup-only embedding tables (per_layer_token_embd; token_embd when a
# separate output.weight exists).
weight_bytes() {
    "$gemma_run" inspect "$1" | awk '
        /^tensors:/ { t = 1; next }
        /^totals:/ { t = 0 }
        t && $1 != "name" { b[$1] = $(NF - 1); sum += $(NF - 1) }
        END {
            sum -= b["per_layer_token_embd.weight"]
            if ("output.weight" in b) sum -= b["token_embd.weight"]
            printf "%.0f", sum
        }'
}
# roof BYTES -- decode tokens/s at the measured read bandwidth.
roof() { awk -v b="$1" -v bw="$bandwidth" 'BEGIN { if (b + 0 <= 0 || bw + 0 <= 0) print "-"; else printf "%.2f", bw * 1e9 / b }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
# measure_bandwidth -- raise $bandwidth to the best read GB/s seen so far
# (measured again before each row: on a shared machine other processes
# take bandwidth, and the roofline is what the machine itself can do).
measure_bandwidth() {
    if ! "$work/membw" "$threads" 1024 5 >"$work/membw.out" 2>&1; then
        echo "engine_vs_ref.sh: the memory bandwidth test failed:" >&2
        cat "$work/membw.out" >&2
        exit 1
    fi
    bandwidth=$(best "${bandwidth:-}" "$(sed -n 's/^read GB\/s: \([0-9.]*\).*/\1/p' "$work/membw.out")")
}
bandwidth=''
measure_bandwidth
echo "# engine vs llama.cpp v0.5.0 (reference in $ref), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# machine: ${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') online CPUs;" \
    "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "# method: pp$n_prompt = $n_prompt prompt ids in one batch, tg$n_gen = $n_gen single-token decodes" \
    "(argmax fed back); threads $threads; best of $reps reps x $rounds alternating rounds"
echo "# ours: gemma-run bench ($gemma_run), n_ctx $((n_prompt + n_gen + 1)), KV cache f32," \
    "CPU path ${cpu_path:-best} (GEMMA_CPU=${GEMMA_CPU:-unset})"
echo "# read bandwidth: $bandwidth GB/s at start ($threads threads, bench/membw.c, best so far" \
    "before each row); roof = decode tok/s if only the weight bytes were read at that rate"
failures=0
header_done=0

# bench_file LABEL TYPE FILE -- measure both sides on FILE, print its row.
bench_file() {
    label=$1 type=$2 model=$3
    size=$(wc -c <"$model" | awk '{ printf "%.1f", $1 / 1048576 }')
    wbytes=$(weight_bytes "$model")
    measure_bandwidth
    load=$(loadavg)
    pp_ours='' tg_ours='' pp_ref='' tg_ref='' rss_ours='' rss_ref='' tgb_ours='' tgb_ref=''
    k=0
    while [ "$k" -lt "$rounds" ]; do
        k=$((k + 1))
        # shellcheck disable=SC2086 # batch_args is empty or two words
        if ! "$gemma_run" bench -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" \
                $batch_args --json >"$work/ours.out" 2>&1; then
            echo "engine_vs_ref.sh: gemma-run bench failed on $label $type:" >&2
            cat "$work/ours.out" >&2
            failures=$((failures + 1))
        fi
        # shellcheck disable=SC2086
        if ! "$work/ref_bench" -m "$model" --bins "$ref/bins" -p "$n_prompt" -n "$n_gen" \
                -t "$threads" -r "$reps" $batch_args ${ref_cpu_lib:+--cpu-lib "$ref_cpu_lib"} \
                >"$work/ref.out" 2>&1; then
            echo "engine_vs_ref.sh: ref_bench failed on $label $type:" >&2
            cat "$work/ref.out" >&2
            failures=$((failures + 1))
        fi
        pp_ours=$(best "$pp_ours" "$(json_max prefill_tok_s "$work/ours.out")")
        tg_ours=$(best "$tg_ours" "$(json_max decode_tok_s "$work/ours.out")")
        pp_ref=$(best "$pp_ref" "$(rate pp "$work/ref.out")")
        tg_ref=$(best "$tg_ref" "$(rate tg "$work/ref.out")")
        rss_ours=$(best "$rss_ours" "$(rss "$work/ours.out")")
        rss_ref=$(best "$rss_ref" "$(rss "$work/ref.out")")
        if [ "$batch" -ne 0 ]; then
            tgb_ours=$(best "$tgb_ours" "$(json_max decode_batch_tok_s "$work/ours.out")")
            tgb_ref=$(best "$tgb_ref" "$(sed -n 's/^tg[0-9]* x [0-9]* sequences: \([0-9.]*\) tokens\/s.*/\1/p' "$work/ref.out")")
        fi
    done
    # with --batch: aggregate B-sequence decode of both sides, and each
    # side's speed-up over its own single stream
    bcols=''
    if [ "$batch" -ne 0 ]; then
        bcols=$(printf ' %8s %8s %5s %5s %5s |' "${tgb_ours:--}" "${tgb_ref:--}" \
            "$(ratio "$tgb_ours" "$tgb_ref")" "$(ratio "$tgb_ours" "$tg_ours")" \
            "$(ratio "$tgb_ref" "$tg_ref")")
    fi
    rf=$(roof "$wbytes")
    if [ "$header_done" = 0 ]; then
        echo "# reference: $(sed -n 's/^settings: //p' "$work/ref.out")"
        echo "# ours: $(sed -n 's/^cpu: //p' "$work/ours.out")"
        bhead=''
        [ "$batch" -eq 0 ] || bhead=$(printf ' %8s %8s %5s %5s %5s |' "tgx$batch us" \
            "tgx$batch ref" ratio "x$batch/1" "ref")
        printf '%-22s %-6s %8s | %8s %8s %5s | %8s %8s %5s | %8s %7s | %7s %7s |%s %5s\n' model type \
            MiB "pp ours" "pp ref" ratio "tg ours" "tg ref" ratio "tg roof" tg/roof \
            "RSS us" "RSS ref" "$bhead" load
        header_done=1
    fi
    printf '%-22s %-6s %8s | %8s %8s %5s | %8s %8s %5s | %8s %7s | %7s %7s |%s %5s\n' "$label" \
        "$type" "$size" "${pp_ours:--}" "${pp_ref:--}" "$(ratio "$pp_ours" "$pp_ref")" \
        "${tg_ours:--}" "${tg_ref:--}" "$(ratio "$tg_ours" "$tg_ref")" "$rf" \
        "$(ratio "$tg_ours" "$rf")" "${rss_ours:--}" "${rss_ref:--}" "$bcols" "$load"
}

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
    bench_file "$label" "$type" "$model"
    rm -f "$model"
}

# bench_refq SHAPE LABEL SYNTH-ARGS... -- an F16 file of that shape,
# quantized by the reference's quantizer to each --refq-types type,
# measured. With --keep, a quantized file already in the keep directory is
# used as it is, and a new one is left there.
bench_refq() {
    shape=$1 label=$2
    shift 2
    src="$work/src-f16.gguf"
    for qt in $refq_types; do
        if [ -n "$keep_dir" ]; then
            model="$keep_dir/$shape-$qt.gguf"
        else
            model="$work/model-$qt.gguf"
        fi
        if [ ! -s "$model" ]; then
            if [ ! -s "$src" ] &&
                ! "$gemma_run" synth "$@" --type f16 -o "$src" >"$work/synth.out" 2>&1; then
                echo "engine_vs_ref.sh: gemma-run synth $* --type f16 failed:" >&2
                cat "$work/synth.out" >&2
                failures=$((failures + 1))
                rm -f "$src"
                return
            fi
            if ! "$work/ref_quantize" "$src" "$model.part" "$qt" "$threads" >"$work/quant.out" 2>&1; then
                echo "engine_vs_ref.sh: the reference quantizer failed on $label $qt:" >&2
                cat "$work/quant.out" >&2
                failures=$((failures + 1))
                rm -f "$model.part"
                continue
            fi
            mv "$model.part" "$model"
        fi
        bench_file "$label" "$qt" "$model"
        [ -n "$keep_dir" ] || rm -f "$model"
    done
    rm -f "$src"
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
for sh in $refq_shapes; do
    case $sh in
        e2b) bench_refq e2b "e2b (35 layers, refq)" --preset e2b --vocab 262144 ;;
        e4b12) bench_refq e4b12 "e4b (12 layers, refq)" --preset e4b --layers 12 --vocab 262144 ;;
        e2b7) bench_refq "e2b7-v$vocab" "e2b (7 layers, refq)" --preset e2b --layers 7 --vocab "$vocab" ;;
    esac
done
echo "# read bandwidth used for the roofs: best $bandwidth GB/s"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'); ratio = ours / reference"
[ "$failures" -eq 0 ] || exit 1
exit 0
