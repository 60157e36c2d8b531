/*
 * engine/cuda/cuda_impl.cuh -- what the .cu files of the CUDA backend
 * share: the device handle and the launch-error check.
 */
#ifndef GM_CUDA_IMPL_CUH
#define GM_CUDA_IMPL_CUH

#include <cuda_runtime.h>

#include "config.h" /* HAVE_CUBLAS */
#include "engine/cuda/cuda.h"

struct gm_cuda {
    int dev;
    cudaStream_t stream;
    float *act;     /* activations rounded for the matmul (cuda_matmul.cu) */
    size_t act_cap; /* floats */
    /* cuBLAS for F16/BF16/F32 products of more than GM_CUBLAS_MIN_N
     * vectors (builds with cuBLAS; GEMMA_CUDA_CUBLAS=0 turns it off):
     * the handle, made at the first such product, on this stream */
    bool blas_on;
    void *blas;
};

/* Set up and free the handle's cuBLAS state (cuda_matmul.cu). */
void gm_cuda_blas_init(gm_cuda *cu);
void gm_cuda_blas_free(gm_cuda *cu);

/* Set err from a CUDA status; -1. */
static inline int gm_cuda_fail(cm_err *err, const char *what, cudaError_t rc)
{
    return cm_err_set(err, "CUDA %s: %s", what, cudaGetErrorString(rc));
}

/* After a launch: -1 with the launch error, else 0. */
static inline int gm_cuda_launched(cm_err *err, const char *what)
{
    cudaError_t rc = cudaGetLastError();
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, what, rc);
}

/* Blocks of `threads` covering n items (at least one). */
static inline unsigned gm_cuda_blocks(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return b == 0 ? 1u : (unsigned)b;
}

#endif
