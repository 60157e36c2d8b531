/*
 * engine/cuda/cuda_ops.cu -- the elementwise and per-row operations of the
 * forward pass on the GPU (RMS norm, RoPE, GELU, soft-cap, MoE routing,
 * row gathers) and attention over the GPU KV cache.
 *
 * Each mirrors engine/model/ops.c and the model files operation for
 * operation, in the same order of rounding: products and sums that the
 * CPU code does separately are written with __fmul_rn/__fadd_rn so nvcc
 * does not fuse them, sums of squares are accumulated in double, the GELU
 * goes through ggml's fp16 table. What differs: the order of long sums
 * (reductions across threads), and attention's softmax, which is computed
 * online (running max and sum) instead of in two passes.
 */
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "engine/cuda/cuda_impl.cuh"

#define ROW_THREADS 256

/* ---- RMS norm: one block per row ---- */

/* 1/rms of a row (block-wide; every thread gets it): the sum of squares
 * in double over a fixed tree, so every kernel below scales a row alike. */
__device__ static float row_inv_rms(const float *xr, uint32_t n, float eps, double *part)
{
    double sum = 0.0;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x)
        sum += (double)__fmul_rn(xr[i], xr[i]);
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    const float mean = (float)(part[0] / n);
    const float scale = 1.0f / sqrtf(__fadd_rn(mean, eps));
    __syncthreads(); /* part[0] read by all before it is reused */
    return scale;
}

__global__ static void rmsnorm_kernel(const float *x, const float *w, uint32_t n, float eps,
                                      float *y)
{
    __shared__ double part[ROW_THREADS];
    const float *xr = x + (size_t)blockIdx.x * n;
    float *yr = y + (size_t)blockIdx.x * n;
    const float scale = row_inv_rms(xr, n, eps, part);
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __fmul_rn(xr[i], scale);
        yr[i] = w != NULL ? __fmul_rn(v, w[i]) : v;
    }
}

/* s = rms_norm(x) * w + r, then (y != NULL) y = rms_norm(s) * w2: the
 * residual add after a block's post-norm and the next block's pre-norm in
 * one launch instead of three, each value rounded as by the separate
 * kernels. Each thread reads only the elements it writes, so s may be x
 * or r. */
__global__ static void norm_add_norm_kernel(const float *x, const float *w, const float *r,
                                            uint32_t n, float eps, float *s, const float *w2,
                                            float *y)
{
    __shared__ double part[ROW_THREADS];
    const size_t off = (size_t)blockIdx.x * n;
    const float scale = row_inv_rms(x + off, n, eps, part);
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __fmul_rn(x[off + i], scale);
        s[off + i] = __fadd_rn(w != NULL ? __fmul_rn(v, w[i]) : v, r[off + i]);
    }
    if (y == NULL)
        return;
    __syncthreads();
    const float scale2 = row_inv_rms(s + off, n, eps, part);
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __fmul_rn(s[off + i], scale2);
        y[off + i] = w2 != NULL ? __fmul_rn(v, w2[i]) : v;
    }
}

extern "C" int gm_cuda_norm_add_norm(gm_cuda *cu, const float *d_x, const float *d_w,
                                     const float *d_r, uint32_t rows, uint32_t n, float eps,
                                     float *d_s, const float *d_w2, float *d_y, cm_err *err)
{
    if (rows == 0)
        return 0;
    norm_add_norm_kernel<<<rows, ROW_THREADS, 0, cu->stream>>>(d_x, d_w, d_r, n, eps, d_s, d_w2,
                                                                d_y);
    return gm_cuda_launched(err, "norm, add and norm");
}

extern "C" int gm_cuda_rmsnorm(gm_cuda *cu, const float *d_x, const float *d_w, uint32_t rows,
                               uint32_t n, float eps, float *d_y, cm_err *err)
{
    if (rows == 0)
        return 0;
    rmsnorm_kernel<<<rows, ROW_THREADS, 0, cu->stream>>>(d_x, d_w, n, eps, d_y);
    return gm_cuda_launched(err, "rms norm");
}

/* ---- elementwise ---- */

__global__ static void add_kernel(const float *a, const float *b, size_t n, float scale,
                                  float *y)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        const float s = __fadd_rn(a[i], b[i]);
        y[i] = scale == 1.0f ? s : __fmul_rn(s, scale);
    }
}

extern "C" int gm_cuda_add(gm_cuda *cu, const float *d_a, const float *d_b, size_t n,
                           float scale, float *d_y, cm_err *err)
{
    if (n == 0)
        return 0;
    add_kernel<<<gm_cuda_blocks(n, 256), 256, 0, cu->stream>>>(d_a, d_b, n, scale, d_y);
    return gm_cuda_launched(err, "add");
}

__global__ static void scale_kernel(float *x, size_t n, float s)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = __fmul_rn(x[i], s);
}

extern "C" int gm_cuda_scale(gm_cuda *cu, float *d_x, size_t n, float s, cm_err *err)
{
    if (n == 0)
        return 0;
    scale_kernel<<<gm_cuda_blocks(n, 256), 256, 0, cu->stream>>>(d_x, n, s);
    return gm_cuda_launched(err, "scale");
}

__global__ static void scale_vec_kernel(const float *x, float s, const float *v, uint32_t rows,
                                        uint32_t n, float *y)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)rows * n)
        y[i] = __fmul_rn(__fmul_rn(x[i], s), v[i % n]);
}

extern "C" int gm_cuda_scale_vec(gm_cuda *cu, const float *d_x, float s, const float *d_v,
                                 uint32_t rows, uint32_t n, float *d_y, cm_err *err)
{
    if (rows == 0)
        return 0;
    scale_vec_kernel<<<gm_cuda_blocks((size_t)rows * n, 256), 256, 0, cu->stream>>>(d_x, s, d_v,
                                                                                    rows, n, d_y);
    return gm_cuda_launched(err, "scale by vector");
}

/* ---- RoPE (NEOX pairs (i, i + n_rot/2)); one thread per pair ---- */

__global__ static void rope_kernel(float *v, uint32_t n_tok, uint32_t n_head, uint32_t d,
                                   uint32_t row_stride, const uint32_t *pos, uint32_t n_rot,
                                   float theta_scale, const float *ff)
{
    const uint32_t half = n_rot / 2;
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)n_tok * n_head * half)
        return;
    const uint32_t i = (uint32_t)(item % half);
    const uint32_t h = (uint32_t)((item / half) % n_head);
    const uint32_t t = (uint32_t)(item / half / n_head);
    /* the running product of gm_rope_cache, step by step */
    float theta = (float)pos[t];
    for (uint32_t k = 0; k < i; k++)
        theta = __fmul_rn(theta, theta_scale);
    const float f = ff != NULL ? ff[i] : 1.0f;
    const float a = __fdiv_rn(theta, f);
    const float c = cosf(a), s = sinf(a);
    float *vh = v + (size_t)t * row_stride + (size_t)h * d;
    const float x0 = vh[i], x1 = vh[i + half];
    vh[i] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    vh[i + half] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

extern "C" int gm_cuda_rope(gm_cuda *cu, float *d_v, uint32_t n_tok, uint32_t n_head,
                            uint32_t d, uint32_t row_stride, const uint32_t *d_pos,
                            uint32_t n_rot, float theta_scale, const float *d_ff, cm_err *err)
{
    const size_t items = (size_t)n_tok * n_head * (n_rot / 2);
    if (items == 0)
        return 0;
    rope_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(
        d_v, n_tok, n_head, d, row_stride, d_pos, n_rot, theta_scale, d_ff);
    return gm_cuda_launched(err, "rope");
}

/* ---- GELU: ggml's fp16 table, or the exact formula in double ---- */

__device__ static inline float gelu(const uint16_t *table, float x)
{
    if (table == NULL) {
        const double xd = x;
        return (float)(0.5 * xd
                       * (1.0 + tanh(0.79788456080286535587989211986876 * xd
                                     * (1.0 + 0.044715 * xd * xd))));
    }
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const uint16_t h = __half_as_ushort(__float2half_rn(x));
    return __half2float(__ushort_as_half(table[h]));
}

__global__ static void geglu_kernel(const uint16_t *table, const float *gate, size_t gs,
                                    const float *up, size_t us, uint32_t rows, uint32_t n,
                                    float *out, size_t os)
{
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)rows * n)
        return;
    const size_t r = item / n, c = item % n;
    out[r * os + c] = __fmul_rn(gelu(table, gate[r * gs + c]), up[r * us + c]);
}

extern "C" int gm_cuda_geglu(gm_cuda *cu, const uint16_t *d_table, const float *d_gate,
                             size_t gate_stride, const float *d_up, size_t up_stride,
                             uint32_t rows, uint32_t n, float *d_out, size_t out_stride,
                             cm_err *err)
{
    const size_t items = (size_t)rows * n;
    if (items == 0)
        return 0;
    geglu_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(
        d_table, d_gate, gate_stride, d_up, up_stride, rows, n, d_out, out_stride);
    return gm_cuda_launched(err, "geglu");
}

__global__ static void softcap_kernel(float *x, size_t n, float cap, float inv)
{
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = __fmul_rn(tanhf(__fmul_rn(x[i], inv)), cap);
}

extern "C" int gm_cuda_softcap(gm_cuda *cu, float *d_x, size_t n, float cap, cm_err *err)
{
    if (n == 0)
        return 0;
    softcap_kernel<<<gm_cuda_blocks(n, 256), 256, 0, cu->stream>>>(d_x, n, cap, 1.0f / cap);
    return gm_cuda_launched(err, "softcap");
}

/* ---- row gathers for MoE and the output rows ---- */

__global__ static void gather_kernel(const float *src, const uint32_t *idx, uint32_t div,
                                     uint32_t rows, uint32_t n, float *dst)
{
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)rows * n)
        return;
    const size_t r = item / n, c = item % n;
    dst[item] = src[(size_t)(idx[r] / div) * n + c];
}

extern "C" int gm_cuda_gather(gm_cuda *cu, const float *d_src, const uint32_t *d_idx,
                              uint32_t div, uint32_t rows, uint32_t n, float *d_dst, cm_err *err)
{
    const size_t items = (size_t)rows * n;
    if (items == 0)
        return 0;
    gather_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(d_src, d_idx, div, rows, n,
                                                                      d_dst);
    return gm_cuda_launched(err, "gather");
}

__global__ static void scatter_kernel(const float *src, const uint32_t *idx, const float *w,
                                      float scale, bool has_scale, uint32_t rows, uint32_t n,
                                      float *dst)
{
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)rows * n)
        return;
    const size_t r = item / n, c = item % n;
    const uint32_t g = idx[r];
    const float v = has_scale ? __fmul_rn(src[item], scale) : src[item];
    dst[(size_t)g * n + c] = __fmul_rn(v, w[g]);
}

extern "C" int gm_cuda_scatter_scaled(gm_cuda *cu, const float *d_src, const uint32_t *d_idx,
                                      const float *d_w, float scale, uint32_t rows, uint32_t n,
                                      float *d_dst, cm_err *err)
{
    const size_t items = (size_t)rows * n;
    if (items == 0)
        return 0;
    /* scale is NaN when there is none (moe.c: y * w without down_exps_scale) */
    const bool has = !isnan(scale);
    scatter_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(d_src, d_idx, d_w, scale,
                                                                       has, rows, n, d_dst);
    return gm_cuda_launched(err, "scatter");
}

__global__ static void sum_k_kernel(const float *in, uint32_t rows, uint32_t k, uint32_t ks,
                                    uint32_t n, float *out)
{
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)rows * n)
        return;
    const size_t r = item / n, c = item % n;
    const float *ex = in + r * ks * n;
    float s = ex[c];
    for (uint32_t j = 1; j < k; j++)
        s = __fadd_rn(s, ex[(size_t)j * n + c]);
    out[item] = s;
}

extern "C" int gm_cuda_sum_k(gm_cuda *cu, const float *d_in, uint32_t rows, uint32_t k,
                             uint32_t k_stride, uint32_t n, float *d_out, cm_err *err)
{
    const size_t items = (size_t)rows * n;
    if (items == 0)
        return 0;
    sum_k_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(d_in, rows, k, k_stride, n,
                                                                     d_out);
    return gm_cuda_launched(err, "expert sum");
}

/* ---- MoE routing: one thread per token (moe.c route) ---- */

__global__ static void route_kernel(float *logits, uint32_t n_tok, uint32_t X, uint32_t k,
                                    uint32_t ks, int32_t *sel_out, float *w_out)
{
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_tok)
        return;
    float *p = logits + (size_t)i * X;
    float max = -INFINITY;
    for (uint32_t e = 0; e < X; e++)
        if (p[e] > max)
            max = p[e];
    double sum = 0.0;
    for (uint32_t e = 0; e < X; e++) {
        p[e] = expf(__fsub_rn(p[e], max));
        sum += (double)p[e];
    }
    const float inv = (float)(1.0 / sum);
    for (uint32_t e = 0; e < X; e++)
        p[e] = __fmul_rn(p[e], inv);
    int32_t *sel = sel_out + (size_t)i * ks;
    float *w = w_out + (size_t)i * ks;
    for (uint32_t j = 0; j < k; j++) {
        int32_t best = -1;
        for (uint32_t e = 0; e < X; e++) {
            bool taken = false;
            for (uint32_t t = 0; t < j && !taken; t++)
                taken = sel[t] == (int32_t)e;
            if (!taken && (best < 0 || p[e] > p[best]))
                best = (int32_t)e;
        }
        sel[j] = best;
    }
    double ws = 0.0;
    for (uint32_t j = 0; j < k; j++) {
        w[j] = p[sel[j]];
        ws += (double)w[j];
    }
    float fsum = (float)ws;
    if (!(fsum >= 6.103515625e-5f))
        fsum = 6.103515625e-5f;
    for (uint32_t j = 0; j < k; j++)
        w[j] = __fdiv_rn(w[j], fsum);
}

extern "C" int gm_cuda_route(gm_cuda *cu, float *d_logits, uint32_t n_tok, uint32_t n_expert,
                             uint32_t k, uint32_t k_stride, int32_t *d_sel, float *d_sel_w,
                             cm_err *err)
{
    if (n_tok == 0)
        return 0;
    route_kernel<<<gm_cuda_blocks(n_tok, 64), 64, 0, cu->stream>>>(d_logits, n_tok, n_expert, k,
                                                                   k_stride, d_sel, d_sel_w);
    return gm_cuda_launched(err, "moe routing");
}

/* ---- attention ---- */

#define ATT_WARPS 4
#define ATT_PER_LANE (GM_CUDA_MAX_HEAD_DIM / 32)

/* Row of K or V for position j of the token's sequence: the cache before
 * the step's first position p0, the step's batch from there on. */
__device__ static inline const float *kv_row(const float *cache, const float *batch,
                                             uint32_t cap, bool ring, uint32_t width,
                                             uint32_t sq, uint32_t j, uint32_t p0,
                                             const gm_cuda_step &st)
{
    if (j < p0) {
        const uint32_t slot = ring ? j % cap : j;
        return cache + ((size_t)sq * cap + slot) * width;
    }
    return batch + (size_t)st.tok_of[st.seq_off[sq] + j - p0] * width;
}

/* One block per (token, head): each warp takes every ATT_WARPS-th key and
 * keeps a running max, sum and weighted V; the warps then merge. */
__global__ static void __launch_bounds__(32 * ATT_WARPS)
attention_kernel(gm_cuda_attn a, gm_cuda_step st)
{
    __shared__ float s_m[ATT_WARPS], s_l[ATT_WARPS];
    __shared__ float s_acc[ATT_WARPS][GM_CUDA_MAX_HEAD_DIM];
    const uint32_t i = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head;
    const uint32_t lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const uint32_t d = a.head_dim, group = a.n_head / a.n_head_kv;
    const uint32_t width = a.n_head_kv * d;
    const uint32_t sq = st.seq[i], p = st.pos[i], p0 = st.seq_p0[sq];
    const uint32_t lo = a.window > 0 && p + 1 > a.window ? p + 1 - a.window : 0;
    const size_t ho = (size_t)(h / group) * d;
    const float *qh = a.q + (size_t)i * a.n_head * d + (size_t)h * d;

    float q[ATT_PER_LANE], acc[ATT_PER_LANE];
#pragma unroll
    for (int t = 0; t < ATT_PER_LANE; t++) {
        const uint32_t c = lane + 32 * t;
        q[t] = c < d ? qh[c] : 0.0f;
        acc[t] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (uint32_t j = lo + warp; j <= p; j += ATT_WARPS) {
        const float *kj = kv_row(a.cache_k, a.batch_k, a.cap, a.ring, width, sq, j, p0, st) + ho;
        float s = 0.0f;
#pragma unroll
        for (int t = 0; t < ATT_PER_LANE; t++) {
            const uint32_t c = lane + 32 * t;
            if (c < d)
                s += q[t] * kj[c];
        }
        for (int o = 16; o > 0; o /= 2)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);
        const float pj = expf(s - m_new);
        l = l * corr + pj;
        const float *vj = kv_row(a.cache_v, a.batch_v, a.cap, a.ring, width, sq, j, p0, st) + ho;
#pragma unroll
        for (int t = 0; t < ATT_PER_LANE; t++) {
            const uint32_t c = lane + 32 * t;
            if (c < d)
                acc[t] = acc[t] * corr + pj * vj[c];
        }
        m = m_new;
    }
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
#pragma unroll
    for (int t = 0; t < ATT_PER_LANE; t++) {
        const uint32_t c = lane + 32 * t;
        if (c < d)
            s_acc[warp][c] = acc[t];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++)
        M = fmaxf(M, s_m[w]);
    float L = 0.0f, f[ATT_WARPS];
    for (int w = 0; w < ATT_WARPS; w++) {
        f[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - M);
        L += s_l[w] * f[w];
    }
    float *out = a.out + (size_t)i * a.n_head * d + (size_t)h * d;
    for (uint32_t c = threadIdx.x; c < d; c += blockDim.x) {
        float v = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            v += s_acc[w][c] * f[w];
        out[c] = v / L;
    }
}

extern "C" int gm_cuda_attention(gm_cuda *cu, const gm_cuda_attn *a, const gm_cuda_step *st,
                                 cm_err *err)
{
    if (a->head_dim == 0 || a->head_dim > GM_CUDA_MAX_HEAD_DIM || a->n_head_kv == 0
        || a->n_head % a->n_head_kv != 0)
        return cm_err_set(err, "CUDA attention: head size %u (at most %u) or %u/%u heads not supported",
                          a->head_dim, GM_CUDA_MAX_HEAD_DIM, a->n_head, a->n_head_kv);
    if (a->n_tok == 0)
        return 0;
    attention_kernel<<<a->n_tok * a->n_head, 32 * ATT_WARPS, 0, cu->stream>>>(*a, *st);
    return gm_cuda_launched(err, "attention");
}

__global__ static void kv_store_kernel(const float *bk, const float *bv, float *ck, float *cv,
                                       uint32_t cap, bool ring, uint32_t width, uint32_t n_tok,
                                       gm_cuda_step st)
{
    const size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (item >= (size_t)n_tok * width)
        return;
    const size_t i = item / width, c = item % width;
    const uint32_t p = st.pos[i], sq = st.seq[i];
    if (ring) {
        /* the sequence's last position in this step */
        const uint32_t end = sq + 1 < st.n_seq ? st.seq_off[sq + 1] : n_tok;
        const uint32_t last = st.seq_p0[sq] + (end - st.seq_off[sq]) - 1;
        if (p + cap <= last)
            return; /* a later position of the step takes this slot */
    }
    const size_t dst = ((size_t)sq * cap + (ring ? p % cap : p)) * width + c;
    ck[dst] = bk[item];
    cv[dst] = bv[item];
}

extern "C" int gm_cuda_kv_store(gm_cuda *cu, const float *d_bk, const float *d_bv, float *d_ck,
                                float *d_cv, uint32_t cap, bool ring, uint32_t width,
                                uint32_t n_tok, const gm_cuda_step *st, cm_err *err)
{
    const size_t items = (size_t)n_tok * width;
    if (items == 0)
        return 0;
    kv_store_kernel<<<gm_cuda_blocks(items, 256), 256, 0, cu->stream>>>(d_bk, d_bv, d_ck, d_cv,
                                                                        cap, ring, width, n_tok,
                                                                        *st);
    return gm_cuda_launched(err, "kv store");
}
