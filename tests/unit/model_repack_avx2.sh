#!/bin/sh
# tests/unit/model_repack_avx2.sh -- test_model_repack once more on the
# AVX2 path (GEMMA_CPU=avx2): a model repacked there gives the logits of
# the plain one, bit for bit, also where the CPU's best path is AVX-512.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path avx2 tests/unit/test_model_repack
