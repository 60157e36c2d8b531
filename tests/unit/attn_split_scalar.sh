#!/bin/sh
# tests/unit/attn_split_scalar.sh -- test_attn_split once more on the scalar
# path (GEMMA_CPU=scalar): the split attention gives the bits of the plain
# computation there too.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path scalar tests/unit/test_attn_split
