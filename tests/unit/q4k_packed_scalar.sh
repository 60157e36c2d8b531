#!/bin/sh
# tests/unit/q4k_packed_scalar.sh -- test_q4k_packed on the scalar path
# (GEMMA_CPU=scalar): no packed kernel runs there, a packed part is
# refused with a clear error, repacking is not wanted.
. "$top_srcdir/tests/lib/cpu-path.sh"
run_on_cpu_path scalar tests/unit/test_q4k_packed
