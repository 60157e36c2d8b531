#!/bin/sh
# tests/unit/attn_decode_avx2.sh -- test_attn_decode once more on the avx2
# path (GEMMA_CPU=avx2): decode steps split by keys and columns give the
# prompt path's logits there too.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path avx2 tests/unit/test_attn_decode
