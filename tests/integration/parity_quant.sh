#!/bin/sh
# tests/integration/parity_quant.sh -- end-to-end logits of quantized and
# half-precision synthetic models against llama.cpp v0.5.0 in precise mode.
# 64 token ids fed at once: a 32-token random prompt and the 32 tokens the
# reference then generates greedily; both sides evaluate all 64 in one
# batch. Criterion (issue 4): median row error (max|diff| / max|ref|)
# <= 2e-2 and the same argmax on >= 90% of the rows; the distribution is
# printed.
#
# Rounding flips (gemma4.md section 10.5): a value that differs from
# llama.cpp's in the last bit sometimes lands on the other side of a Q8_0
# activation rounding step, and every later row then differs by 1e-2 to
# 3e-2. Rows before the first flip agree to ~1e-7 (Q8_0 and Q6_K are often
# bit-identical throughout). Over 6 prompts x 12 models the median was 0
# to 2.8e-2 and the argmax agreed on 61..64 of 64 rows: the median mostly
# tells whether a flip came early. The prompt here is fixed (seeded), so
# the outcome is deterministic; a kernel change that moves a flip earlier
# shows up here and is worth a look. A wrong operation gives 1e-1 to 1
# (gemma4.md section 11).
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/parity_lib.sh"

crit="--median-err 2e-2 --argmax-frac 0.9"
t32=$(ids 32 21)
for preset in tiny tiny-moe; do
    for type in f16 bf16 q8_0 q4_0 q4_k q6_k; do
        parity "$preset $type (32+32 tokens)" "$t32" 32 "$crit" -- --preset "$preset" --type "$type"
    done
done
tap_done
