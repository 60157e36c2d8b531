/*
 * engine/cuda/cuda_matmul.cu -- y = W x with W kept on the device in its
 * GGUF format (F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q6_K), computed as
 * the CPU backend (and llama.cpp's) computes it.
 *
 * Quantized weights (Q4_0, Q5_0, Q8_0, Q4_K, Q6_K): the activations are
 * quantized exactly as the CPU backend quantizes them (Q8_0 or Q8_K
 * blocks), and each block's dot product is the CPU's integer one
 * (cuda_dequant.cuh gm_block_part/gm_block_finish, dp4a): mmvq, one warp
 * per weight row, 4 or 8 lanes per block, for any number of vectors 8 at
 * a time. Then
 * the GPU and CPU differ only in the order block results are added.
 *
 * F32, F16 and BF16 weights: the activations rounded to the weight's
 * format as the CPU rounds them (F16, BF16; F32 as they are), then two
 * kernels on f32 products of weights widened in the kernel:
 *  - mmv, for up to 8 vectors (decode): one warp per weight row, each lane
 *    reading groups of 8 elements 32 groups apart, so a warp reads a row
 *    front to back in contiguous 256-element stretches; every dequantized
 *    group is used for all the vectors.
 *  - mmm, for more (prefill): 64 rows x 64 vectors per block of 256
 *    threads, each computing 4x4 outputs from 32-element slices of W and x
 *    staged in shared memory; or cuBLAS (GemmEx) where built, above
 *    GM_CUBLAS_MIN_N vectors.
 */
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/cuda_dequant.cuh"
#include "engine/cuda/cuda_impl.cuh"
#ifdef HAVE_CUBLAS
#include <cublas_v2.h>
#endif

#define MMV_MAX 8
#define MMV_WARPS 4

template <int T>
__global__ static void mmv_kernel(const uint8_t *w, size_t row_bytes, uint32_t rows,
                                  uint32_t cols, const float *x, uint32_t n, float *y)
{
    const uint32_t row = blockIdx.x * MMV_WARPS + threadIdx.y;
    const uint32_t lane = threadIdx.x;
    if (row >= rows)
        return;
    const uint8_t *r = w + (size_t)row * row_bytes;
    float acc[MMV_MAX];
#pragma unroll
    for (int j = 0; j < MMV_MAX; j++)
        acc[j] = 0.0f;
    const uint32_t groups = cols / 8;
    for (uint32_t g = lane; g < groups; g += 32) {
        float v[8];
        dq8<T>(r, g, v);
#pragma unroll
        for (int j = 0; j < MMV_MAX; j++) {
            if ((uint32_t)j < n) {
                const float4 *xp = (const float4 *)(x + (size_t)j * cols + (size_t)g * 8);
                const float4 a = xp[0], b = xp[1];
                acc[j] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x
                          + v[5] * b.y + v[6] * b.z + v[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < MMV_MAX; j++) {
        float s = acc[j];
        for (int o = 16; o > 0; o /= 2)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0 && (uint32_t)j < n)
            y[(size_t)j * rows + row] = s;
    }
}

#define MM_TILE 64
#define MM_K 32

template <int T>
__global__ static void __launch_bounds__(256)
mmm_kernel(const uint8_t *w, size_t row_bytes, uint32_t rows, uint32_t cols, const float *x,
           uint32_t n, float *y)
{
    __shared__ float ws[MM_K][MM_TILE + 1];
    __shared__ float xs[MM_K][MM_TILE + 1];
    const uint32_t tid = threadIdx.x;
    const uint32_t r0 = blockIdx.x * MM_TILE, v0 = blockIdx.y * MM_TILE;
    const uint32_t tr = tid % 16, tv = tid / 16;
    const uint32_t lr = tid / 4, lg = tid % 4; /* loading: row/vector lr, group lg */
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0f;

    for (uint32_t k0 = 0; k0 < cols; k0 += MM_K) {
        float v[8];
        if (r0 + lr < rows)
            dq8<T>(w + (size_t)(r0 + lr) * row_bytes, k0 / 8 + lg, v);
        else
#pragma unroll
            for (int i = 0; i < 8; i++)
                v[i] = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; i++)
            ws[lg * 8 + i][lr] = v[i];
        if (v0 + lr < n) {
            const float4 *xp = (const float4 *)(x + (size_t)(v0 + lr) * cols + k0 + lg * 8);
            const float4 a = xp[0], b = xp[1];
            xs[lg * 8 + 0][lr] = a.x, xs[lg * 8 + 1][lr] = a.y;
            xs[lg * 8 + 2][lr] = a.z, xs[lg * 8 + 3][lr] = a.w;
            xs[lg * 8 + 4][lr] = b.x, xs[lg * 8 + 5][lr] = b.y;
            xs[lg * 8 + 6][lr] = b.z, xs[lg * 8 + 7][lr] = b.w;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++)
                xs[lg * 8 + i][lr] = 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < MM_K; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                a[i] = ws[k][tr + 16 * i];
                b[i] = xs[k][tv + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint32_t r = r0 + tr + 16 * i, vv = v0 + tv + 16 * j;
            if (r < rows && vv < n)
                y[(size_t)vv * rows + r] = acc[i][j];
        }
}

template <int T>
static void launch(cudaStream_t st, const uint8_t *w, size_t row_bytes, uint32_t rows,
                   uint32_t cols, const float *x, uint32_t n, float *y)
{
    if (n > MMV_MAX && cols % MM_K == 0) {
        const dim3 grid((rows + MM_TILE - 1) / MM_TILE, (n + MM_TILE - 1) / MM_TILE);
        mmm_kernel<T><<<grid, 256, 0, st>>>(w, row_bytes, rows, cols, x, n, y);
        return;
    }
    for (uint32_t v = 0; v < n; v += MMV_MAX) {
        const uint32_t nv = n - v < MMV_MAX ? n - v : MMV_MAX;
        mmv_kernel<T><<<(rows + MMV_WARPS - 1) / MMV_WARPS, dim3(32, MMV_WARPS), 0, st>>>(
            w, row_bytes, rows, cols, x + (size_t)v * cols, nv, y + (size_t)v * rows);
    }
}

/* ---- activation rounding for F16/BF16 weights (engine/cpu/kernels.c) ---- */

/* F16 or BF16 rounding, elementwise (BF16 as ggml: nearest even, NaN quieted). */
__global__ static void act_half_kernel(const float *x, float *y, size_t n, bool bf16)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    if (!bf16) {
        y[i] = __half2float(__float2half_rn(x[i]));
        return;
    }
    const uint32_t u = __float_as_uint(x[i]);
    const uint32_t h = (u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 64u)
                                                        : ((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
    y[i] = __uint_as_float(h << 16);
}

/* d_x rounded for F16 or BF16 weights into the handle's buffer; d_x
 * itself for F32 weights. NULL with err set on failure. */
static const float *round_activations(gm_cuda *cu, gm_type type, const float *d_x, size_t n,
                                      cm_err *err)
{
    if (type == GM_TYPE_F32)
        return d_x;
    if (gm_cuda_reserve(cu, n, err) < 0)
        return NULL;
    act_half_kernel<<<gm_cuda_blocks(n, 256), 256, 0, cu->stream>>>(d_x, cu->act, n,
                                                                    type == GM_TYPE_BF16);
    return gm_cuda_launched(err, "activation rounding") < 0 ? NULL : cu->act;
}

/* ---- cuBLAS for F16/BF16/F32 weights on prompts ----
 *
 * With more than GM_CUBLAS_MIN_N vectors (prefill), cublasGemmEx computes
 * the product on the tensor cores: the activations rounded to the
 * weight's format as the CPU rounds them (so every product is the CPU's
 * product, exact in f32), accumulated in f32 (CUBLAS_COMPUTE_32F, no
 * TF32). Only the order of the sums differs from the CPU, as with the
 * tiled kernel. Builds without cuBLAS, GEMMA_CUDA_CUBLAS=0, or a handle
 * that cannot be made: the tiled kernel (mmm) instead. */
#define GM_CUBLAS_MIN_N 32

#ifdef HAVE_CUBLAS
/* F16 or BF16 bits of the activations, rounded as act_half_kernel. */
__global__ static void act_16_kernel(const float *x, uint16_t *y, size_t n, bool bf16)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    if (!bf16) {
        y[i] = __half_as_ushort(__float2half_rn(x[i]));
        return;
    }
    const uint32_t u = __float_as_uint(x[i]);
    y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 64u)
                                                        : ((u + (0x7fffu + ((u >> 16) & 1u))) >> 16));
}
#endif

/* y = W x by cuBLAS when it applies: 1 done, 0 not used (the caller's
 * kernel computes it), -1 failed. */
static int blas_matmul(gm_cuda *cu, gm_type type, const void *w, size_t row_bytes,
                       uint32_t rows, uint32_t cols, const float *x, uint32_t n, float *y,
                       cm_err *err)
{
#ifdef HAVE_CUBLAS
    const size_t es = type == GM_TYPE_F32 ? 4 : 2;
    if (!cu->blas_on || n <= GM_CUBLAS_MIN_N || row_bytes != (size_t)cols * es
        || (type != GM_TYPE_F32 && type != GM_TYPE_F16 && type != GM_TYPE_BF16))
        return 0;
    if (cu->blas == NULL) {
        cublasHandle_t h;
        if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
            cu->blas_on = false; /* the tiled kernel from now on */
            return 0;
        }
        cublasSetStream(h, cu->stream);
        cu->blas = h;
    }
    const void *xb = x;
    cudaDataType_t t = CUDA_R_32F;
    if (type != GM_TYPE_F32) {
        const size_t nx = (size_t)n * cols;
        if (gm_cuda_reserve(cu, nx, err) < 0) /* 2 bytes each of 4 */
            return -1;
        act_16_kernel<<<gm_cuda_blocks(nx, 256), 256, 0, cu->stream>>>(
            x, (uint16_t *)cu->act, nx, type == GM_TYPE_BF16);
        if (gm_cuda_launched(err, "activation rounding") < 0)
            return -1;
        xb = cu->act;
        t = type == GM_TYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
    }
    /* column-major: y (rows x n, ld rows) = W^T-as-stored (W is cols x rows,
     * ld cols, transposed) times x (cols x n, ld cols) */
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t st =
        cublasGemmEx((cublasHandle_t)cu->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, (int)n,
                     (int)cols, &one, w, t, (int)cols, xb, t, (int)cols, &zero, y, CUDA_R_32F,
                     (int)rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return cm_err_set(err, "cuBLAS GemmEx (%s, %u x %u, %u vectors): status %d",
                          gm_type_name(type), rows, cols, n, (int)st);
    return 1;
#else
    (void)cu, (void)type, (void)w, (void)row_bytes, (void)rows, (void)cols, (void)x, (void)n,
        (void)y, (void)err;
    return 0;
#endif
}

/* ---- quantized weights: integer block dots (cuda_dequant.cuh) ---- */

/* One thread per activation block: Q8_0 (k false) or Q8_K blocks in the
 * CPU's byte layout, n_blocks of them back to back. */
__global__ static void act_quant_kernel(const float *x, uint8_t *q, size_t n_blocks, bool k)
{
    const size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (b >= n_blocks)
        return;
    if (k)
        gm_act_quant_q8_K(x + b * 256, q + b * GM_Q8_K_BYTES);
    else
        gm_act_quant_q8_0(x + b * 32, q + b * GM_Q8_0_BYTES);
}

/* Weight block size (elements and bytes) and activation block bytes. */
template <int T> struct qk_of;
template <> struct qk_of<GM_TYPE_Q8_0> { enum { QK = 32, WB = 34, XB = GM_Q8_0_BYTES }; };
template <> struct qk_of<GM_TYPE_Q4_0> { enum { QK = 32, WB = 18, XB = GM_Q8_0_BYTES }; };
template <> struct qk_of<GM_TYPE_Q5_0> { enum { QK = 32, WB = 22, XB = GM_Q8_0_BYTES }; };
template <> struct qk_of<GM_TYPE_Q4_K> { enum { QK = 256, WB = 144, XB = GM_Q8_K_BYTES }; };
template <> struct qk_of<GM_TYPE_Q6_K> { enum { QK = 256, WB = 210, XB = GM_Q8_K_BYTES }; };

/* One warp per weight row, 32 / P blocks at a time (P = gm_parts<T>::N
 * lanes per block): each lane computes its part of a block's integer
 * sums, the P lanes add theirs (integers: exact, any order), and the
 * block's first lane scales the sums as the CPU does and adds the result
 * to its f32 total; at the end the warp adds its lanes pairwise. Every
 * lane runs the same iterations (a lane past the last block adds zeros),
 * so the shuffles always see the whole warp. Up to MMV_MAX vectors. */
template <int T>
__global__ static void mmvq_kernel(const uint8_t *w, size_t row_bytes, uint32_t rows,
                                   uint32_t cols, const uint8_t *xq, uint32_t n, float *y)
{
    const uint32_t row = blockIdx.x * MMV_WARPS + threadIdx.y;
    const uint32_t lane = threadIdx.x;
    if (row >= rows)
        return; /* the whole warp: row depends on threadIdx.y only */
    constexpr uint32_t P = gm_parts<T>::N, PER = 32 / P;
    const uint32_t part = lane % P, first = lane / P;
    const uint8_t *r = w + (size_t)row * row_bytes;
    const uint32_t nb = cols / qk_of<T>::QK;
    const size_t x_row = (size_t)nb * qk_of<T>::XB;
    float acc[MMV_MAX];
#pragma unroll
    for (int j = 0; j < MMV_MAX; j++)
        acc[j] = 0.0f;
    for (uint32_t b0 = 0; b0 < nb; b0 += PER) {
        const bool have = b0 + first < nb;
        const uint32_t b = have ? b0 + first : 0; /* a lane past the end reads nothing */
        const uint8_t *wb = r + (size_t)b * qk_of<T>::WB;
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *xb = xq + j * x_row + (size_t)b * qk_of<T>::XB;
            int2 s = have ? gm_block_part<T>(wb, xb, (int)part) : make_int2(0, 0);
#pragma unroll
            for (uint32_t o = P / 2; o > 0; o /= 2) {
                s.x += __shfl_xor_sync(0xffffffffu, s.x, o);
                s.y += __shfl_xor_sync(0xffffffffu, s.y, o);
            }
            if (have && part == 0)
                acc[j] += gm_block_finish<T>(wb, xb, s);
        }
    }
#pragma unroll
    for (int j = 0; j < MMV_MAX; j++) {
        float s = acc[j];
        for (int o = 16; o > 0; o /= 2)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0 && (uint32_t)j < n)
            y[(size_t)j * rows + row] = s;
    }
}

/* The activations as Q8_0 (k false) or Q8_K blocks into the handle's
 * buffer; NULL with err set on failure. */
static const uint8_t *quantize_activations(gm_cuda *cu, bool k, const float *x, uint32_t n,
                                           uint32_t cols, cm_err *err)
{
    const size_t nb = (size_t)n * (cols / (k ? 256 : 32));
    /* the quantized activations are smaller than n * cols floats */
    if (gm_cuda_reserve(cu, (size_t)n * cols, err) < 0)
        return NULL;
    uint8_t *xq = (uint8_t *)cu->act;
    act_quant_kernel<<<gm_cuda_blocks(nb, 64), 64, 0, cu->stream>>>(x, xq, nb, k);
    return gm_cuda_launched(err, "activation quantization") < 0 ? NULL : xq;
}

template <int T>
static void launch_mmvq(gm_cuda *cu, const uint8_t *w, size_t row_bytes, uint32_t rows,
                        uint32_t cols, const uint8_t *xq, uint32_t n, float *y)
{
    const size_t x_row = (size_t)(cols / qk_of<T>::QK) * qk_of<T>::XB;
    for (uint32_t v = 0; v < n; v += MMV_MAX) {
        const uint32_t nv = n - v < MMV_MAX ? n - v : MMV_MAX;
        mmvq_kernel<T><<<(rows + MMV_WARPS - 1) / MMV_WARPS, dim3(32, MMV_WARPS), 0, cu->stream>>>(
            w, row_bytes, rows, cols, xq + (size_t)v * x_row, nv, y + (size_t)v * rows);
    }
}

/* The mmvq launches of one quantized weight on already quantized
 * activations; false for a format that is not quantized. */
static bool launch_mmvq_of(gm_cuda *cu, gm_type type, const uint8_t *w, size_t row_bytes,
                           uint32_t rows, uint32_t cols, const uint8_t *xq, uint32_t n, float *y)
{
    switch (type) {
    case GM_TYPE_Q4_0: launch_mmvq<GM_TYPE_Q4_0>(cu, w, row_bytes, rows, cols, xq, n, y); return true;
    case GM_TYPE_Q5_0: launch_mmvq<GM_TYPE_Q5_0>(cu, w, row_bytes, rows, cols, xq, n, y); return true;
    case GM_TYPE_Q8_0: launch_mmvq<GM_TYPE_Q8_0>(cu, w, row_bytes, rows, cols, xq, n, y); return true;
    case GM_TYPE_Q4_K: launch_mmvq<GM_TYPE_Q4_K>(cu, w, row_bytes, rows, cols, xq, n, y); return true;
    case GM_TYPE_Q6_K: launch_mmvq<GM_TYPE_Q6_K>(cu, w, row_bytes, rows, cols, xq, n, y); return true;
    default: return false;
    }
}

/* 1 for the formats whose activations are Q8_K blocks, 0 for Q8_0
 * blocks, -1 for the others (not quantized). */
static int act_blocks_k(gm_type type)
{
    switch (type) {
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q5_0:
    case GM_TYPE_Q8_0: return 0;
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q6_K: return 1;
    default: return -1;
    }
}

template <int T>
static int launch_q(gm_cuda *cu, const uint8_t *w, size_t row_bytes, uint32_t rows,
                    uint32_t cols, const float *x, uint32_t n, float *y, cm_err *err)
{
    const uint8_t *xq = quantize_activations(cu, qk_of<T>::QK == 256, x, n, cols, err);
    if (xq == NULL)
        return -1;
    launch_mmvq<T>(cu, w, row_bytes, rows, cols, xq, n, y);
    return gm_cuda_launched(err, "matmul");
}

extern "C" int gm_cuda_matmul_shared(gm_cuda *cu, const gm_cuda_mm *mm, uint32_t count,
                                     uint32_t cols, const float *d_x, uint32_t n, cm_err *err)
{
    if (count == 0 || n == 0)
        return 0;
    const int k = act_blocks_k(mm[0].type);
    bool same = k >= 0 && cols % (k ? 256 : 32) == 0;
    for (uint32_t i = 1; i < count && same; i++)
        same = act_blocks_k(mm[i].type) == k;
    if (!same) { /* one at a time, each quantizing or rounding its own */
        for (uint32_t i = 0; i < count; i++)
            if (gm_cuda_matmul(cu, mm[i].type, mm[i].d_w, mm[i].row_bytes, mm[i].rows, cols, d_x,
                               n, mm[i].d_y, err) < 0)
                return -1;
        return 0;
    }
    const uint8_t *xq = quantize_activations(cu, k == 1, d_x, n, cols, err);
    if (xq == NULL)
        return -1;
    for (uint32_t i = 0; i < count; i++)
        if (mm[i].rows > 0)
            launch_mmvq_of(cu, mm[i].type, (const uint8_t *)mm[i].d_w, mm[i].row_bytes, mm[i].rows,
                           cols, xq, n, mm[i].d_y);
    return gm_cuda_launched(err, "matmul");
}

extern "C" bool gm_cuda_type_supported(gm_type type)
{
    switch (type) {
    case GM_TYPE_F32:
    case GM_TYPE_F16:
    case GM_TYPE_BF16:
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q5_0:
    case GM_TYPE_Q8_0:
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

extern "C" int gm_cuda_matmul(gm_cuda *cu, gm_type type, const void *d_w, size_t row_bytes,
                              uint32_t rows, uint32_t cols, const float *d_x, uint32_t n,
                              float *d_y, cm_err *err)
{
    if (n == 0 || rows == 0)
        return 0;
    if (cols % 8 != 0)
        return cm_err_set(err, "CUDA matmul: rows of %u elements (not a multiple of 8)", cols);
    const uint8_t *w = (const uint8_t *)d_w;
    cudaStream_t st = cu->stream;
    /* quantized: activations quantized as the CPU's, integer block dots */
    switch (type) {
    case GM_TYPE_Q4_0: return launch_q<GM_TYPE_Q4_0>(cu, w, row_bytes, rows, cols, d_x, n, d_y, err);
    case GM_TYPE_Q5_0: return launch_q<GM_TYPE_Q5_0>(cu, w, row_bytes, rows, cols, d_x, n, d_y, err);
    case GM_TYPE_Q8_0: return launch_q<GM_TYPE_Q8_0>(cu, w, row_bytes, rows, cols, d_x, n, d_y, err);
    case GM_TYPE_Q4_K: return launch_q<GM_TYPE_Q4_K>(cu, w, row_bytes, rows, cols, d_x, n, d_y, err);
    case GM_TYPE_Q6_K: return launch_q<GM_TYPE_Q6_K>(cu, w, row_bytes, rows, cols, d_x, n, d_y, err);
    default: break;
    }
    /* f32, f16, bf16 on prompts: cuBLAS where built and on */
    const int blas = blas_matmul(cu, type, w, row_bytes, rows, cols, d_x, n, d_y, err);
    if (blas != 0)
        return blas < 0 ? -1 : 0;
    /* f32, f16, bf16: activations rounded to the weight's format, f32 products */
    if (gm_cuda_type_supported(type)) {
        d_x = round_activations(cu, type, d_x, (size_t)n * cols, err);
        if (d_x == NULL)
            return -1;
    }
    switch (type) {
    case GM_TYPE_F32: launch<GM_TYPE_F32>(st, w, row_bytes, rows, cols, d_x, n, d_y); break;
    case GM_TYPE_F16: launch<GM_TYPE_F16>(st, w, row_bytes, rows, cols, d_x, n, d_y); break;
    case GM_TYPE_BF16: launch<GM_TYPE_BF16>(st, w, row_bytes, rows, cols, d_x, n, d_y); break;
    default:
        return cm_err_set(err, "CUDA matmul: no kernel for type %s", gm_type_name(type));
    }
    return gm_cuda_launched(err, "matmul");
}
