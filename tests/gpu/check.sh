#!/bin/sh
# tests/gpu/check.sh -- the one prepared check of the CUDA backend, for a
# machine with an NVIDIA GPU (an H100 in about 5 minutes). Run from the
# source tree:  sh tests/gpu/check.sh [BUILD_DIR]  (default build-gpu).
#
#  1. builds with CUDA (--with-cuda, -Werror) in a build directory of its own
#  2. the device and its memory bandwidth (a copy kernel)
#  3. tests/unit/test_cuda: kernels and the whole forward pass, CUDA backend
#     against the CPU backend, dense and MoE, every weight format
#  4. tests/gpu/cuda_parity.sh: gemma-run logits --device cuda:0 against the
#     CPU backend and llama.cpp v0.5.0 (if GEMMA_REF_DIR or ./.gpu-ref holds
#     it: bins/ and llsrc/{include,ggml/include} of scripts/fetch-reference.sh);
#     then again for the F32/F16/BF16 models with GEMMA_CUDA_CUBLAS=0, so the
#     prompt products are checked both through cuBLAS (when the build has
#     it) and through the backend's own tiled kernel
#  5. gemma-run bench --device cuda:0 on synthetic E2B-shape Q4_K and Q8_0
#     and a 26B-A4B shape cut to a few layers, and a table beside the HBM
#     roofline (weight bytes read per token / measured bandwidth); E2B Q4_K
#     also with GEMMA_CUDA_GRAPHS=1 (decode replayed from a CUDA graph),
#     whose correctness step 3 checks too
#
# Everything goes to stdout (and $LOG, default BUILD_DIR/gpu-check.log),
# each step timed. Exit status: 0 all passed, 1 a build or parity failure
# (the benchmark never fails the check), 2 no GPU.
#
# Machines without the build dependencies: `sh tests/gpu/check.sh --prepare
# DIR` (on any machine with nvcc and the project's -dev packages) builds
# here and puts the binaries the check runs, and the shared libraries they
# need beyond libc, into DIR; `sh tests/gpu/check.sh DIR` then uses them
# instead of building (LD_LIBRARY_PATH=DIR/lib). The GPU's driver must
# support the CUDA version they were built with. cuBLAS (libcublas and
# libcublasLt, about 600 MB) is not copied: the GPU machine's CUDA toolkit
# provides it (/usr/local/cuda/lib64, or the nvidia-cublas Python package,
# both looked for); PREPARE_CUBLAS=no builds without cuBLAS instead.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BINS="gemma-run tests/unit/test_cuda tests/unit/test_cuda_plan tests/unit/test_cuda_dequant
    tests/tools/cmp_logits tests/tools/cuda_bandwidth"
if [ "${1:-}" = --prepare ]; then
    dest=${2:?usage: check.sh --prepare DIR}
    b="$top/build-gpu"
    mkdir -p "$b" "$dest/lib" || exit 1
    (cd "$top" && { [ -x configure ] || autoreconf -fi; }) || exit 1
    blas=""
    [ "${PREPARE_CUBLAS:-yes}" = no ] && blas=--without-cublas
    # shellcheck disable=SC2086
    (cd "$b" && "$top/configure" --with-cuda --enable-werror $blas >configure.out 2>&1 \
        && make -j"$(nproc)" $BINS >make.out 2>&1) || { tail -n 30 "$b/configure.out" "$b/make.out"; exit 1; }
    grep -E "CUDA backend|cuBLAS" "$b/configure.out"
    for f in $BINS; do
        mkdir -p "$dest/$(dirname "$f")" && cp "$b/$f" "$dest/$f" || exit 1
        ldd "$b/$f" | awk '$3 ~ /^\// { print $3 }'
    done | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' \
        | grep -v -E '/libcublas(Lt)?\.so' \
        | while read -r lib; do cp -L "$lib" "$dest/lib/"; done
    touch "$dest/.prebuilt"
    du -sh "$dest"
    exit 0
fi
build=${1:-"$top/build-gpu"}
mkdir -p "$build" && build=$(cd "$build" && pwd)
LOG=${LOG:-"$build/gpu-check.log"}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 8)}
# run once more with everything through tee into the log; keep the status
if [ -z "${GPU_CHECK_INNER:-}" ]; then
    GPU_CHECK_INNER=1
    export GPU_CHECK_INNER
    rm -f "$build/.check-status"
    sh "$0" "$build" 2>&1 | tee "$LOG"
    st=$(cat "$build/.check-status" 2>/dev/null || echo 1)
    echo "log: $LOG"
    exit "$st"
fi
finish() { echo "$1" >"$build/.check-status"; exit "$1"; }
T0=$(date +%s)
status=0

step() { echo; echo "=== [$(($(date +%s) - T0)) s] $*"; }
run() { echo "+ $*"; "$@"; }

step "machine"
run uname -a
run nvidia-smi || echo "nvidia-smi failed (status $?)"
run nproc
PATH=$PATH:/usr/local/cuda/bin
export PATH
run nvcc --version

if [ -f "$build/.prebuilt" ]; then
    step "prebuilt binaries in $build (no build)"
    LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # cuBLAS from the machine's CUDA toolkit (not carried: too large)
    if ldd "$build/gemma-run" | grep -q 'libcublas.*not found'; then
        for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
                 $(python3 -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null); do
            [ -e "$d/libcublas.so.13" ] || [ -e "$d/libcublas.so.12" ] || continue
            LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; break
        done
    fi
    export LD_LIBRARY_PATH
    ls -la "$build" "$build/lib"
    ldd "$build/gemma-run" | grep -E 'cublas|cudart' || echo "(no cuBLAS in this build)"
    cd "$build" || finish 1
else
step "build with CUDA in $build (-j$JOBS)"
cd "$top" || finish 1
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    run autoreconf -fi || { echo "FAIL: autoreconf"; finish 1; }
fi
cd "$build" || finish 1
if ! run "$top/configure" --with-cuda --enable-werror >configure.out 2>&1; then
    tail -40 configure.out; echo "FAIL: configure --with-cuda"; finish 1
fi
grep -i -E "cuda|cublas" configure.out | tail -6
# what the check runs (FULL_BUILD=1: everything, daemon included)
targets=$BINS
[ "${FULL_BUILD:-0}" = 1 ] && targets="all $targets"
# shellcheck disable=SC2086
if ! run make -j"$JOBS" $targets >make.out 2>&1; then
    grep -E "error|Error" make.out | head -40; tail -20 make.out; echo "FAIL: build"; finish 1
fi
echo "build ok"
fi
GEMMA_RUN="$build/gemma-run"
CMP="$build/tests/tools/cmp_logits"
export GEMMA_RUN CMP
top_srcdir=$top
export top_srcdir

step "device and bandwidth"
if ! run "$build/tests/tools/cuda_bandwidth" 0 2048 >bw.out 2>&1; then
    cat bw.out; echo "FAIL: no usable CUDA device"; finish 2
fi
cat bw.out
BW=$(awk '/^bandwidth_gbs/ { print $2 }' bw.out)

step "unit tests: CUDA backend against the CPU backend (tests/unit/test_cuda)"
if run env CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$build/tests/unit/test_cuda"; then
    echo "test_cuda: passed"
else
    echo "FAIL: test_cuda"; status=1
fi
if run env GEMMA_CUDA_GRAPHS=1 CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$build/tests/unit/test_cuda"; then
    echo "test_cuda with GEMMA_CUDA_GRAPHS=1: passed"
else
    echo "FAIL: test_cuda with GEMMA_CUDA_GRAPHS=1 (CUDA graphs for decode)"; status=1
fi
run env CMOCKA_MESSAGE_OUTPUT=TAP timeout 120 "$build/tests/unit/test_cuda_plan" || { echo "FAIL: test_cuda_plan"; status=1; }
run timeout 60 "$build/tests/unit/test_cuda_dequant" || { echo "FAIL: test_cuda_dequant"; status=1; }

step "parity: gemma-run logits --device cuda:0 (tests/gpu/cuda_parity.sh)"
if [ -z "${GEMMA_REF_DIR:-}" ] && [ -d "$top/.gpu-ref/bins" ]; then
    GEMMA_REF_DIR="$top/.gpu-ref"
fi
export GEMMA_REF_DIR="${GEMMA_REF_DIR:-}"
if run timeout 300 sh "$top/tests/gpu/cuda_parity.sh" >parity.out 2>&1; then
    cat parity.out; echo "parity: passed"
else
    cat parity.out; echo "FAIL: parity"; status=1
fi
step "parity of the F32/F16/BF16 models without cuBLAS (GEMMA_CUDA_CUBLAS=0: the tiled kernel)"
if run env GEMMA_CUDA_CUBLAS=0 PARITY_TYPES="f32 f16 bf16" timeout 200 \
        sh "$top/tests/gpu/cuda_parity.sh" >parity-nocublas.out 2>&1; then
    cat parity-nocublas.out; echo "parity without cuBLAS: passed"
else
    cat parity-nocublas.out; echo "FAIL: parity without cuBLAS"; status=1
fi

step "benchmarks: synthetic models"
models="e2b-q4_k:--preset e2b --type q4_k
e2b-q8_0:--preset e2b --type q8_0
26b-a4b-4L-q4_k:--preset 26b-a4b --type q4_k --layers 4"
table="$build/bench-table.txt"
printf '%-18s %10s %12s %12s %12s %10s %9s\n' model weights_MiB read/tok_MiB roofline_t/s tg64_t/s pp512_t/s of_roof >"$table"
echo "$models" | while IFS=: read -r name args; do
    m="$build/$name.gguf"
    step "synth $name ($args)"
    # shellcheck disable=SC2086
    run timeout 240 "$GEMMA_RUN" synth $args --threads "$JOBS" -o "$m" || { echo "synth $name failed"; continue; }
    variants="$name"
    case $name in e2b-q4_k) variants="$name $name+graphs" ;; esac
    for v in $variants; do
    step "bench $v on cuda:0"
    case $v in
    *+graphs) run env GEMMA_CUDA_GRAPHS=1 timeout 180 "$GEMMA_RUN" bench -m "$m" --device cuda:0 -p 512 -n 64 -r 2 >"$v.bench" 2>&1 ;;
    *) run timeout 180 "$GEMMA_RUN" bench -m "$m" --device cuda:0 -p 512 -n 64 -r 2 >"$v.bench" 2>&1 ;;
    esac
    cat "$v.bench"
    awk -v name="$v" -v bw="$BW" '
        /^device:/ { for (i = 1; i <= NF; i++) { if ($i == "weights") w = $(i + 1); if ($(i + 1) == "MiB" && $(i + 2) == "read") r = $i } }
        /^pp512:/ { pp = $2 }
        /^tg64:/ { tg = $2 }
        END {
            roof = (r > 0) ? bw * 1e9 / (r * 1048576) : 0
            printf "%-18s %10s %12s %12.1f %12s %10s %8.0f%%\n", name, w, r, roof, tg, pp, (roof > 0 ? 100 * tg / roof : 0)
        }' "$v.bench" >>"$table"
    done
    rm -f "$m"
done
step "results (device bandwidth ${BW:-?} GB/s)"
cat "$table"
echo "target: e2b-q4_k tg >= 70% of the roofline (issue 16)"

step "done in $(($(date +%s) - T0)) s: $( [ $status -eq 0 ] && echo PASSED || echo FAILED)"
finish $status
