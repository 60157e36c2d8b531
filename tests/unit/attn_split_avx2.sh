#!/bin/sh
# tests/unit/attn_split_avx2.sh -- test_attn_split once more on the avx2
# path (GEMMA_CPU=avx2): the split attention gives the bits of the plain
# computation there too.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path avx2 tests/unit/test_attn_split
