#!/bin/sh
# tests/unit/model_repack_scalar.sh -- test_model_repack on the scalar
# path (GEMMA_CPU=scalar): nothing is repacked there, and the models run.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path scalar tests/unit/test_model_repack
