#!/bin/sh
# tests/unit/attn_decode_scalar.sh -- test_attn_decode once more on the scalar
# path (GEMMA_CPU=scalar): decode steps split by keys and columns give the
# prompt path's logits there too.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path scalar tests/unit/test_attn_decode
