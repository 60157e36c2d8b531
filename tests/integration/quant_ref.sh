#!/bin/sh
# tests/integration/quant_ref.sh -- engine/quant/ and engine/cpu/ against
# the reference ggml: compiles tests/ref/ref_quant.c with our quantization
# sources against $GEMMA_REF_DIR's libggml-base.so (and, on CPUs with AVX2,
# libggml-cpu-haswell.so for the activation conversion and dot products)
# and runs it. The harness prints the TAP lines: per format, dequantization
# of ggml's blocks bit for bit, on random blocks, and whether our quantized
# bytes equal ggml's. Skips, visibly, without the reference.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

ref=${GEMMA_REF_DIR:-}
if [ -z "$ref" ] || [ ! -f "$ref/bins/libggml-base.so" ] || \
   [ ! -f "$ref/llsrc/ggml/include/ggml.h" ]; then
    tap_skip_all "reference not found (set GEMMA_REF_DIR, see scripts/fetch-reference.sh)"
fi
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || tap_skip_all "no C compiler ($CC) to build the harness"

work=$(mktemp -d "${TMPDIR:-/tmp}/quant_ref.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

s=$top_srcdir
srcs="$s/tests/ref/ref_quant.c $s/engine/quant/half.c $s/engine/quant/quant.c
      $s/engine/quant/quant_legacy.c $s/engine/quant/quant_k.c"
libs="-L$ref/bins -l:libggml-base.so"
defs=""
# The ggml-cpu comparison needs the haswell (AVX2/FMA/F16C) build of ggml-cpu
# and a CPU that runs it.
if [ -f "$ref/bins/libggml-cpu-haswell.so" ] && [ -f "$ref/llsrc/ggml/include/ggml-cpu.h" ] && \
   grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && \
   grep -qw f16c /proc/cpuinfo; then
    defs="-DGM_REF_CPU"
    srcs="$srcs $s/engine/cpu/kernels.c $s/engine/cpu/pool.c $s/engine/cpu/dot_scalar.c
          $s/engine/cpu/dot_avx2.c $s/engine/format/tensor_type.c $s/common/err.c
          $s/engine/cpu/cpu_path.c $s/engine/cpu/dot_dispatch.c $s/engine/cpu/dot_avx512.c
          $s/engine/cpu/kq_packed.c $s/engine/cpu/q4k_packed.c $s/engine/cpu/q6k_packed.c
          $s/engine/cpu/q4k_packed_avx2.c
          $s/engine/cpu/q6k_packed_avx2.c $s/engine/cpu/act_convert.c"
    libs="$libs -l:libggml-cpu-haswell.so"
else
    tap_diag "no AVX2/FMA/F16C CPU or no haswell ggml-cpu build: CPU kernel parity not checked"
fi

# shellcheck disable=SC2086
if ! $CC -std=c11 -O2 -D_GNU_SOURCE $defs -I"$s" -I"$ref/llsrc/ggml/include" $srcs -o "$work/ref_quant" \
        $libs -lm -lpthread -Wl,-rpath,"$ref/bins" >"$work/cc.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - build tests/ref/ref_quant.c against the reference"
    sed 's/^/# /' "$work/cc.log" | head -40
    exit 1
fi
"$work/ref_quant"
