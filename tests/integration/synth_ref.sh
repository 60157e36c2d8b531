#!/bin/sh
# tests/integration/synth_ref.sh -- every synthetic Gemma 4 preset, in every
# weight type, written by `gemma-run synth` and then loaded and run by the
# reference llama.cpp (tests/ref/ref_run.c, built here against
# $GEMMA_REF_DIR): llama.cpp must accept the file (keys, key types, tensor
# list and shapes), tokenize a chat prompt with the synthetic vocabulary,
# and produce finite logits that vary. One TAP line per (preset, type),
# plus the variant switches.
#
# The real shapes (e2b, e4b, 26b-a4b, 31b) keep their widths (E, heads,
# FFN, experts) and are shrunk only in layers and vocabulary. Even so, one
# 26b-a4b layer holds 0.8 billion weights, so by default they run in the
# cheap types (q8_0, q4_0; SYNTH_REF_REAL_TYPES="..." picks others) in a
# sanitizer build, every type otherwise (about 10 minutes of CPU on 2
# cores, mostly the K-quant encoders and disk writes).

. "$top_srcdir/tests/lib/tap.sh"

ref=${GEMMA_REF_DIR:-}
if [ -z "$ref" ] || [ ! -f "$ref/bins/libllama.v0.5.0.so" ] ||
   [ ! -f "$ref/llsrc/include/llama.h" ]; then
    tap_skip_all "reference llama.cpp not found (GEMMA_REF_DIR='$ref'; run scripts/fetch-reference.sh)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/synth_ref.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

if ! ${REF_CC:-cc} -std=c11 -O1 -o "$work/ref_run" "$top_srcdir/tests/ref/ref_run.c" \
        -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
        -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so -lm \
        -Wl,-rpath,"$ref/bins" >"$work/cc.out" 2>&1; then
    echo "1..1"
    ok 1 "build tests/ref/ref_run.c against $ref"
    sed 's/^/# /' "$work/cc.out"
    exit 1
fi

types="f32 f16 bf16 q8_0 q4_0 q4_k q6_k"
# Every real shape runs in every type, except in a sanitizer build: there
# the large files cost several times more and the plain build of the same
# CI run has already covered them, so only the cheap types run and the
# rest are reported skipped. SYNTH_REF_FULL=0 or 1 forces either mode.
full=1
grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null && full=0
full=${SYNTH_REF_FULL:-$full}
skip_why="sanitizer build: covered by the plain build (SYNTH_REF_FULL=1 forces it)"
[ -n "${SYNTH_REF_FULL:-}" ] && skip_why="SYNTH_REF_FULL=0"
real_types=${SYNTH_REF_REAL_TYPES:-"q8_0 q4_0"}
[ "$full" = 1 ] && real_types=$types

now() { date +%s; }

# run_case LABEL VOCAB SYNTH-ARGS... -- synthesize, then load and run in the reference.
run_case() {
    label=$1 vocab=$2
    shift 2
    model="$work/model.gguf"
    t0=$(now)
    if ! "$GEMMA_RUN" synth "$@" --threads "${SYNTH_REF_THREADS:-2}" -o "$model" >"$work/synth.out" 2>&1; then
        ok 1 "$label: gemma-run synth $*"
        sed 's/^/# /' "$work/synth.out"
        rm -f "$model"
        return
    fi
    t1=$(now)
    merges=
    [ "$vocab" -ge 1024 ] && merges=--check-merges # smaller vocabularies have few merges
    if "$work/ref_run" "$model" --bins "$ref/bins" --expect-vocab "$vocab" $merges \
            --threads 2 >"$work/ref.out" 2>&1; then
        t2=$(now)
        ok 0 "$label loads and runs in llama.cpp (synth $((t1 - t0))s, reference $((t2 - t1))s)"
    else
        ok 1 "$label loads and runs in llama.cpp"
        sed 's/^/# /' "$work/ref.out" | tail -30
    fi
    rm -f "$model"
}

for t in $types; do
    run_case "tiny $t" 1024 --preset tiny --type "$t" --seed 1
done
for t in $types; do
    run_case "tiny-moe $t" 1024 --preset tiny-moe --type "$t" --seed 1
done

# Variant switches (parity tests use them).
run_case "tiny variants (untied, no softcap, no layer scale) q8_0" 1024 --preset tiny \
    --type q8_0 --untied --no-softcap --no-layer-scale
run_case "tiny without KV sharing, window 4, ctx 512, vocab 600 f16" 600 --preset tiny \
    --type f16 --shared-kv 0 --swa 4 --ctx 512 --vocab 600
run_case "tiny-moe separate gate/up experts, untied q4_k" 1024 --preset tiny-moe --type q4_k \
    --separate-gate-up --untied
run_case "tiny 9 layers q6_k" 1024 --preset tiny --type q6_k --layers 9

# The harness must be able to fail: a truncated file and a wrong vocabulary
# size are rejected.
if "$GEMMA_RUN" synth --preset tiny --type q8_0 -o "$work/good.gguf" >/dev/null 2>&1; then
    size=$(wc -c <"$work/good.gguf")
    head -c $((size / 2)) "$work/good.gguf" >"$work/cut.gguf"
    "$work/ref_run" "$work/cut.gguf" --bins "$ref/bins" >"$work/ref.out" 2>&1
    ok $(( $? == 0 )) "the harness rejects a truncated model"
    "$work/ref_run" "$work/good.gguf" --bins "$ref/bins" --expect-vocab 2048 >"$work/ref.out" 2>&1
    rc=$?
    grep -q "vocabulary has 1024 tokens, expected 2048" "$work/ref.out"
    ok $(( rc == 0 || $? != 0 )) "the harness reports a wrong vocabulary size"
    rm -f "$work/good.gguf" "$work/cut.gguf"
else
    ok 1 "write the tiny model for the harness checks"
fi

# The real shapes, fewest layers that keep their structure (e2b: shared
# sliding and shared full layers; 26b-a4b and 31b: a sliding and a full layer).
for spec in "e2b 7" "e4b 7" "26b-a4b 2" "31b 2"; do
    set -- $spec
    preset=$1 layers=$2
    for t in $types; do
        case " $real_types " in
            *" $t "*) run=1 ;;
            *) run=0 ;;
        esac
        if [ "$run" = 1 ]; then
            run_case "$preset ($layers layers) $t" 1024 --preset "$preset" --layers "$layers" \
                --vocab 1024 --type "$t"
        else
            tap_skip "$preset ($layers layers) $t: $skip_why"
        fi
    done
done

tap_done
