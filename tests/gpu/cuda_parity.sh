#!/bin/sh
# tests/gpu/cuda_parity.sh -- logits of the CUDA backend against the CPU
# backend and, where llama.cpp v0.5.0 is at hand ($GEMMA_REF_DIR), against
# the reference, on synthetic dense (tiny) and MoE (tiny-moe) models in
# every weight format, at the CPU parity suite's criteria
# (tests/integration/parity_f32.sh, parity_quant.sh): f32 every row within
# 1e-3 and the same argmax; other formats median row error <= 2e-2 and the
# same argmax on >= 90% of the rows. TAP output; run by tests/gpu/check.sh
# with GEMMA_RUN, CMP (cmp_logits) and top_srcdir set. PARITY_TYPES limits
# the weight formats (default: all); the 64-token prompts go through cuBLAS
# for F32/F16/BF16 weights unless GEMMA_CUDA_CUBLAS=0.
#
# Without a GPU the whole script is skipped ("skipped: no CUDA device").
. "$top_srcdir/tests/lib/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/cuda_parity.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

"$GEMMA_RUN" synth --preset tiny -o "$work/probe.gguf" >/dev/null 2>&1
if ! "$GEMMA_RUN" logits -m "$work/probe.gguf" --tokens 1 -o "$work/probe.f32" --device cuda:0 \
        >"$work/probe.log" 2>&1; then
    tap_skip_all "$(grep -o 'no CUDA device.*' "$work/probe.log" | head -1 || echo 'no CUDA device')"
fi

ref=${GEMMA_REF_DIR:-}
REF_LOGITS=
if [ -n "$ref" ] && [ -f "$ref/bins/libllama.v0.5.0.so" ] && [ -f "$ref/llsrc/include/llama.h" ]; then
    REF_LOGITS="$work/ref_logits"
    if ! ${REF_CC:-cc} -O1 -std=c11 -o "$REF_LOGITS" "$top_srcdir/tests/ref/ref_logits.c" \
            -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
            -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so \
            -Wl,-rpath,"$ref/bins" >"$work/cc.log" 2>&1; then
        echo "# cannot build the reference harness:"; sed 's/^/# /' "$work/cc.log" | head
        REF_LOGITS=
    fi
else
    echo "# reference not found (GEMMA_REF_DIR='$ref'): CUDA is compared with the CPU backend only"
fi

ids=$(awk 'BEGIN { srand(21); for (i = 0; i < 64; i++) printf "%s%d", (i ? "," : ""), int(rand() * 1024) }')
for preset in tiny tiny-moe; do
    for type in ${PARITY_TYPES:-f32 f16 bf16 q8_0 q4_0 q4_k q6_k}; do
        d="$preset $type"
        crit="--median-err 2e-2 --argmax-frac 0.9"
        [ "$type" = f32 ] && crit="--max-err 1e-3 --argmax-frac 1"
        m="$work/m.gguf"
        if ! "$GEMMA_RUN" synth --preset "$preset" --type "$type" -o "$m" >"$work/s.log" 2>&1; then
            ok 1 "$d: synth"; sed 's/^/# /' "$work/s.log"; continue
        fi
        toks=$ids
        if [ -n "$REF_LOGITS" ]; then
            # the reference evaluates 32 tokens and generates 32 (as parity_quant.sh)
            first=$(echo "$ids" | cut -d, -f1-32)
            if "$REF_LOGITS" "$ref/bins" "$m" "$first" "$work/ref.f32" 32 >"$work/ref.ids" 2>"$work/ref.log"; then
                toks=$(cat "$work/ref.ids")
            else
                ok 1 "$d: reference run"; sed 's/^/# /' "$work/ref.log" | head; REF_OK=no
            fi
        fi
        if ! "$GEMMA_RUN" logits -m "$m" --tokens "$toks" -o "$work/cpu.f32" -t 8 >"$work/c.log" 2>&1; then
            ok 1 "$d: CPU logits"; sed 's/^/# /' "$work/c.log" | head; continue
        fi
        t0=$(date +%s.%N)
        if ! "$GEMMA_RUN" logits -m "$m" --tokens "$toks" -o "$work/gpu.f32" --device cuda:0 >"$work/g.log" 2>&1; then
            ok 1 "$d: CUDA logits"; sed 's/^/# /' "$work/g.log" | head; continue
        fi
        t1=$(date +%s.%N)
        # shellcheck disable=SC2086
        res=$("$CMP" "$work/cpu.f32" "$work/gpu.f32" 1024 $crit 2>&1)
        ok $? "$d: CUDA vs CPU: $res ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)"
        if [ -n "$REF_LOGITS" ] && [ "${REF_OK:-yes}" = yes ]; then
            # after a routing near-tie in the reference, later rows within 1e-1
            # (as tests/integration/parity_lib.sh)
            tie=$(awk '/^first_tie_row/ { print $2 }' "$work/ref.f32.ties" 2>/dev/null)
            loose= note=
            if [ -n "$tie" ] && [ "$tie" -ge 0 ]; then
                note="; routing near-tie at row $tie"
                case $crit in *--max-err*) loose="--loose-from $tie --loose-err 1e-1" ;; esac
            fi
            # shellcheck disable=SC2086
            res=$("$CMP" "$work/ref.f32" "$work/gpu.f32" 1024 $crit $loose 2>&1)
            ok $? "$d: CUDA vs llama.cpp: $res$note"
        fi
        REF_OK=yes
    done
done
tap_done
