#!/bin/sh
# tests/integration/parity_f32.sh -- end-to-end logits of F32 synthetic
# models against llama.cpp v0.5.0 in precise mode (F32 KV cache, no flash
# attention): every row within 1e-3 of the row's max |logit|, same argmax
# on every row (near-ties excepted). Dense and MoE models and their
# variants; prompts of 24 tokens (3x the sliding window of 8) and 48.
# Where the reference's MoE router has a near-tie between the k-th and
# (k+1)-th expert, the rows from that token on are held to 1e-1 (another
# expert choice is as right; see tests/ref/ref_logits.c).
#
# The remaining differences are GELU-table flips (gemma4.md section 10.5):
# with Q8_0 weights the pass is bit-identical to llama.cpp, with F32
# weights the F32 products are summed in another order, a pre-GELU value
# then sometimes rounds to the neighbouring fp16 entry, and the change
# grows with depth: 6-layer models stay under ~6e-4, 9-layer ones reach
# ~1.3e-3, so the variants here keep 6 layers.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/parity_lib.sh"

crit="--max-err 1e-3 --argmax-frac 1"
t48=$(ids 48 11)
t24=$(ids 24 12)
parity "tiny (PLE, shared KV, window 8, 48 tokens)" "$t48" 0 "$crit" -- --preset tiny
parity "tiny --untied" "$t24" 0 "$crit" -- --preset tiny --untied
parity "tiny --no-softcap" "$t24" 0 "$crit" -- --preset tiny --no-softcap
parity "tiny --no-layer-scale" "$t24" 0 "$crit" -- --preset tiny --no-layer-scale
parity "tiny --swa 4" "$t48" 0 "$crit" -- --preset tiny --swa 4
parity "tiny --swa 16" "$t24" 0 "$crit" -- --preset tiny --swa 16
parity "tiny --shared-kv 0" "$t24" 0 "$crit" -- --preset tiny --shared-kv 0
parity "tiny-moe (K==V, fused experts, 48 tokens)" "$t48" 0 "$crit" -- --preset tiny-moe
parity "tiny-moe --separate-gate-up" "$t24" 0 "$crit" -- --preset tiny-moe --separate-gate-up
parity "tiny-moe --untied --no-softcap" "$t24" 0 "$crit" -- --preset tiny-moe --untied --no-softcap
parity "tiny-moe --swa 5 --no-layer-scale" "$t24" 0 "$crit" -- --preset tiny-moe --swa 5 --no-layer-scale

# The comparison must be able to fail: logits of another model (tied vs
# untied output) are far outside the tolerance.
"$GEMMA_RUN" synth --preset tiny -o "$work/a.gguf" >/dev/null 2>&1
"$GEMMA_RUN" synth --preset tiny --untied -o "$work/b.gguf" >/dev/null 2>&1
"$REF_LOGITS" "$ref/bins" "$work/a.gguf" "$t24" "$work/ref.f32" 0 >/dev/null 2>&1
"$GEMMA_RUN" logits -m "$work/b.gguf" --tokens "$t24" -o "$work/ours.f32" -t 2 >/dev/null 2>&1
# shellcheck disable=SC2086
res=$("$CMP" "$work/ref.f32" "$work/ours.f32" 1024 $crit)
if [ $? -eq 1 ]; then ok 0 "negative control: a different model fails ($res)"; else
    ok 1 "negative control: a different model fails ($res)"; fi
tap_done
