#!/bin/sh
# tests/unit/q6k_packed_avx2.sh -- test_q6k_packed once more on the AVX2
# path (GEMMA_CPU=avx2): the AVX2 packed Q6_K kernels, bit for bit against
# the plain blocks, also where the CPU's best path is AVX-512.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path avx2 tests/unit/test_q6k_packed
