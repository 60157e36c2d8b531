/*
 * tests/unit/cuda_emul.c -- a host emulation of engine/cuda/cuda.h for
 * tests: "device" memory is host memory and every launcher computes what
 * its kernel computes (the engine/cuda .cu files), sequentially. Linked instead of
 * the real kernels, it runs the CUDA backend's forward pass
 * (engine/cuda/cuda_forward.c: the upload, the buffers, the step plan,
 * attention over the GPU KV cache, MoE grouping, PLE) on any machine, so
 * that code is tested where there is no GPU. The kernels themselves are
 * checked on a GPU by tests/unit/test_cuda.c and tests/gpu/check.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/dot.h"
#include "engine/cpu/kernels.h"
#include "engine/cuda/cuda.h"
#include "engine/quant/quant.h"

struct gm_cuda {
    int dev;
};

int gm_cuda_device_count(cm_err *err)
{
    (void)err;
    return 1;
}

int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err)
{
    (void)err;
    snprintf(buf, cap, "host emulation %d", dev);
    return 0;
}

int gm_cuda_mem_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes, char *name,
                     size_t name_cap, cm_err *err)
{
    (void)dev, (void)err;
    *free_bytes = 1ull << 34;
    *total_bytes = 1ull << 35;
    if (name != NULL && name_cap > 0)
        snprintf(name, name_cap, "host emulation");
    return 0;
}

int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows, uint64_t cols,
                   const float *x, float *y, cm_err *err)
{
    (void)dev, (void)type, (void)w, (void)rows, (void)cols, (void)x, (void)y;
    return cm_err_set(err, "not emulated");
}

int gm_cuda_open(int dev, gm_cuda **out, cm_err *err)
{
    if (dev != 0)
        return cm_err_set(err, "no CUDA device cuda:%d: the machine has 1 (cuda:0 to cuda:0)", dev);
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : cm_err_set(err, "out of memory");
}

void gm_cuda_close(gm_cuda *cu)
{
    free(cu);
}

int gm_cuda_alloc(gm_cuda *cu, size_t bytes, void **d_out, cm_err *err)
{
    (void)cu;
    *d_out = calloc(1, bytes ? bytes : 1);
    return *d_out != NULL ? 0 : cm_err_set(err, "out of memory");
}

void gm_cuda_free(gm_cuda *cu, void *d_ptr)
{
    (void)cu;
    free(d_ptr);
}

int gm_cuda_upload(gm_cuda *cu, void *d_dst, const void *src, size_t bytes, cm_err *err)
{
    (void)cu, (void)err;
    memcpy(d_dst, src, bytes);
    return 0;
}

int gm_cuda_download(gm_cuda *cu, void *dst, const void *d_src, size_t bytes, cm_err *err)
{
    (void)cu, (void)err;
    memcpy(dst, d_src, bytes);
    return 0;
}

int gm_cuda_copy2d(gm_cuda *cu, void *d_dst, size_t dst_pitch, const void *d_src,
                   size_t src_pitch, size_t row_bytes, size_t rows, cm_err *err)
{
    (void)cu;
    if (row_bytes > dst_pitch || row_bytes > src_pitch)
        return cm_err_set(err, "copy2d: pitch below the row size");
    for (size_t r = 0; r < rows; r++)
        memmove((char *)d_dst + r * dst_pitch, (const char *)d_src + r * src_pitch, row_bytes);
    return 0;
}

int gm_cuda_sync(gm_cuda *cu, cm_err *err)
{
    (void)cu, (void)err;
    return 0;
}

int gm_cuda_bandwidth(gm_cuda *cu, size_t bytes, int reps, double *bytes_per_s, cm_err *err)
{
    (void)cu, (void)bytes, (void)reps, (void)err;
    *bytes_per_s = 1e9;
    return 0;
}

bool gm_cuda_type_supported(gm_type type)
{
    return type == GM_TYPE_F32 || type == GM_TYPE_F16 || type == GM_TYPE_BF16
           || type == GM_TYPE_Q4_0 || type == GM_TYPE_Q5_0 || type == GM_TYPE_Q8_0
           || type == GM_TYPE_Q4_K || type == GM_TYPE_Q6_K;
}

int gm_cuda_matmul(gm_cuda *cu, gm_type type, const void *d_w, size_t row_bytes, uint32_t rows,
                   uint32_t cols, const float *d_x, uint32_t n, float *d_y, cm_err *err)
{
    (void)cu;
    if (!gm_cuda_type_supported(type) || cols % 8 != 0)
        return cm_err_set(err, "CUDA matmul: no kernel for type %s", gm_type_name(type));
    float *row = malloc(cols * sizeof(float));
    float *xr = malloc((size_t)n * cols * sizeof(float));
    void *xq = malloc(gm_act_bytes(type, cols) + 1);
    if (row == NULL || xr == NULL || xq == NULL)
        return cm_err_set(err, "out of memory");
    /* activations converted to the weight's vec_dot type, as the CPU does
     * (quantized: kept for the block dots; f16/bf16: rounded) */
    void *xq_all = malloc((size_t)n * gm_act_bytes(type, cols) + 1);
    if (xq_all == NULL)
        return cm_err_set(err, "out of memory");
    for (uint32_t v = 0; v < n; v++)
        if (gm_act_convert(type, d_x + (size_t)v * cols, xq, cols) < 0
            || gm_dequantize_row(gm_vec_dot_type(type), xq, xr + (size_t)v * cols, cols) < 0
            || gm_act_convert(type, d_x + (size_t)v * cols,
                              (char *)xq_all + (size_t)v * gm_act_bytes(type, cols), cols) < 0)
            return cm_err_set(err, "activation round trip");
    d_x = xr;
    for (uint32_t r = 0; r < rows; r++) {
        if (gm_dequantize_row(type, (const char *)d_w + (size_t)r * row_bytes, row, cols) < 0) {
            free(row);
            return cm_err_set(err, "dequantize");
        }
        for (uint32_t v = 0; v < n; v++) {
            if (gm_vec_dot_type(type) == GM_TYPE_Q8_0 || gm_vec_dot_type(type) == GM_TYPE_Q8_K) {
                /* mmvq: P lanes per block (4 for Q8_0 activations, 8 for
                 * Q8_K), 32 / P blocks at a time; block b's dot is added
                 * by lane (b % (32 / P)) * P; the warp adds lanes pairwise */
                const uint32_t qk = gm_vec_dot_type(type) == GM_TYPE_Q8_K ? 256 : 32;
                const uint32_t per = 32 / (qk == 256 ? 8 : 4);
                const size_t xb = gm_act_bytes(type, qk), wb = row_bytes / (cols / qk);
                const char *xv = (const char *)xq_all + (size_t)v * gm_act_bytes(type, cols);
                float lane[32] = {0};
                for (uint32_t b = 0; b < cols / qk; b++)
                    lane[(b % per) * (32 / per)] +=
                        gm_dot_scalar(type)(qk, (const char *)d_w + (size_t)r * row_bytes + b * wb,
                                            xv + b * xb);
                for (int o = 16; o > 0; o /= 2)
                    for (int l = 0; l < o; l++)
                        lane[l] += lane[l + o];
                d_y[(size_t)v * rows + r] = lane[0];
                continue;
            }
            float s = 0;
            for (uint32_t c = 0; c < cols; c++)
                s += row[c] * d_x[(size_t)v * cols + c];
            d_y[(size_t)v * rows + r] = s;
        }
    }
    free(row);
    free(xr);
    free(xq);
    free(xq_all);
    return 0;
}

int gm_cuda_matmul_shared(gm_cuda *cu, const gm_cuda_mm *mm, uint32_t count, uint32_t cols,
                          const float *d_x, uint32_t n, cm_err *err)
{
    /* the same products, one at a time (sharing the quantized input
     * changes how many launches, not what each computes) */
    for (uint32_t i = 0; i < count; i++)
        if (gm_cuda_matmul(cu, mm[i].type, mm[i].d_w, mm[i].row_bytes, mm[i].rows, cols, d_x, n,
                           mm[i].d_y, err) < 0)
            return -1;
    return 0;
}

int gm_cuda_rmsnorm(gm_cuda *cu, const float *d_x, const float *d_w, uint32_t rows, uint32_t n,
                    float eps, float *d_y, cm_err *err)
{
    (void)cu, (void)err;
    for (uint32_t r = 0; r < rows; r++) {
        const float *x = d_x + (size_t)r * n;
        float *y = d_y + (size_t)r * n;
        double sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += (double)(x[i] * x[i]);
        const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
        for (uint32_t i = 0; i < n; i++)
            y[i] = d_w != NULL ? x[i] * scale * d_w[i] : x[i] * scale;
    }
    return 0;
}

int gm_cuda_norm_add_norm(gm_cuda *cu, const float *d_x, const float *d_w, const float *d_r,
                          uint32_t rows, uint32_t n, float eps, float *d_s, const float *d_w2,
                          float *d_y, cm_err *err)
{
    /* the three kernels the fused one stands for, row by row */
    for (uint32_t r = 0; r < rows; r++) {
        const size_t off = (size_t)r * n;
        float *row = malloc(n * sizeof(float));
        if (row == NULL)
            return cm_err_set(err, "out of memory");
        gm_cuda_rmsnorm(cu, d_x + off, d_w, 1, n, eps, row, err);
        gm_cuda_add(cu, row, d_r + off, n, 1.0f, d_s + off, err);
        free(row);
        if (d_y != NULL)
            gm_cuda_rmsnorm(cu, d_s + off, d_w2, 1, n, eps, d_y + off, err);
    }
    return 0;
}

int gm_cuda_add(gm_cuda *cu, const float *d_a, const float *d_b, size_t n, float scale, float *d_y,
                cm_err *err)
{
    (void)cu, (void)err;
    for (size_t i = 0; i < n; i++)
        d_y[i] = scale == 1.0f ? d_a[i] + d_b[i] : (d_a[i] + d_b[i]) * scale;
    return 0;
}

int gm_cuda_scale(gm_cuda *cu, float *d_x, size_t n, float s, cm_err *err)
{
    (void)cu, (void)err;
    for (size_t i = 0; i < n; i++)
        d_x[i] *= s;
    return 0;
}

int gm_cuda_scale_vec(gm_cuda *cu, const float *d_x, float s, const float *d_v, uint32_t rows,
                      uint32_t n, float *d_y, cm_err *err)
{
    (void)cu, (void)err;
    for (size_t i = 0; i < (size_t)rows * n; i++)
        d_y[i] = d_x[i] * s * d_v[i % n];
    return 0;
}

int gm_cuda_rope(gm_cuda *cu, float *d_v, uint32_t n_tok, uint32_t n_head, uint32_t d,
                 uint32_t row_stride, const uint32_t *d_pos, uint32_t n_rot, float theta_scale,
                 const float *d_ff, cm_err *err)
{
    (void)cu, (void)err;
    const uint32_t half = n_rot / 2;
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t h = 0; h < n_head; h++)
            for (uint32_t i = 0; i < half; i++) {
                float theta = (float)d_pos[t];
                for (uint32_t k = 0; k < i; k++)
                    theta *= theta_scale;
                const float a = theta / (d_ff != NULL ? d_ff[i] : 1.0f);
                const float c = cosf(a), s = sinf(a);
                float *vh = d_v + (size_t)t * row_stride + (size_t)h * d;
                const float x0 = vh[i], x1 = vh[i + half];
                vh[i] = x0 * c - x1 * s;
                vh[i + half] = x0 * s + x1 * c;
            }
    return 0;
}

static float gelu(const uint16_t *table, float x)
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
    return gm_fp16_to_fp32(table[gm_fp32_to_fp16(x)]);
}

int gm_cuda_geglu(gm_cuda *cu, const uint16_t *d_table, const float *d_gate, size_t gate_stride,
                  const float *d_up, size_t up_stride, uint32_t rows, uint32_t n, float *d_out,
                  size_t out_stride, cm_err *err)
{
    (void)cu, (void)err;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < n; c++)
            d_out[r * out_stride + c] = gelu(d_table, d_gate[r * gate_stride + c]) * d_up[r * up_stride + c];
    return 0;
}

int gm_cuda_softcap(gm_cuda *cu, float *d_x, size_t n, float cap, cm_err *err)
{
    (void)cu, (void)err;
    const float inv = 1.0f / cap;
    for (size_t i = 0; i < n; i++)
        d_x[i] = tanhf(d_x[i] * inv) * cap;
    return 0;
}

int gm_cuda_gather(gm_cuda *cu, const float *d_src, const uint32_t *d_idx, uint32_t div,
                   uint32_t rows, uint32_t n, float *d_dst, cm_err *err)
{
    (void)cu, (void)err;
    for (uint32_t r = 0; r < rows; r++)
        memcpy(d_dst + (size_t)r * n, d_src + (size_t)(d_idx[r] / div) * n, n * sizeof(float));
    return 0;
}

int gm_cuda_scatter_scaled(gm_cuda *cu, const float *d_src, const uint32_t *d_idx,
                           const float *d_w, float scale, uint32_t rows, uint32_t n, float *d_dst,
                           cm_err *err)
{
    (void)cu, (void)err;
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < n; c++) {
            const float v = isnan(scale) ? d_src[(size_t)r * n + c] : d_src[(size_t)r * n + c] * scale;
            d_dst[(size_t)d_idx[r] * n + c] = v * d_w[d_idx[r]];
        }
    return 0;
}

int gm_cuda_sum_k(gm_cuda *cu, const float *d_in, uint32_t rows, uint32_t k, uint32_t k_stride,
                  uint32_t n, float *d_out, cm_err *err)
{
    (void)cu, (void)err;
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < n; c++) {
            const float *ex = d_in + (size_t)r * k_stride * n;
            float s = ex[c];
            for (uint32_t j = 1; j < k; j++)
                s += ex[(size_t)j * n + c];
            d_out[(size_t)r * n + c] = s;
        }
    return 0;
}

int gm_cuda_route(gm_cuda *cu, float *d_logits, uint32_t n_tok, uint32_t X, uint32_t k,
                  uint32_t ks, int32_t *d_sel, float *d_sel_w, cm_err *err)
{
    (void)cu, (void)err;
    for (uint32_t i = 0; i < n_tok; i++) {
        float *p = d_logits + (size_t)i * X, max = -INFINITY;
        for (uint32_t e = 0; e < X; e++)
            max = p[e] > max ? p[e] : max;
        double sum = 0;
        for (uint32_t e = 0; e < X; e++) {
            p[e] = expf(p[e] - max);
            sum += p[e];
        }
        const float inv = (float)(1.0 / sum);
        for (uint32_t e = 0; e < X; e++)
            p[e] *= inv;
        int32_t *sel = d_sel + (size_t)i * ks;
        float *w = d_sel_w + (size_t)i * ks;
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
        double ws = 0;
        for (uint32_t j = 0; j < k; j++) {
            w[j] = p[sel[j]];
            ws += w[j];
        }
        float fs = (float)ws;
        if (!(fs >= 6.103515625e-5f))
            fs = 6.103515625e-5f;
        for (uint32_t j = 0; j < k; j++)
            w[j] /= fs;
    }
    return 0;
}

static const float *kv_row(const float *cache, const float *batch, uint32_t cap, bool ring,
                           uint32_t width, uint32_t sq, uint32_t j, uint32_t p0,
                           const gm_cuda_step *st)
{
    if (j < p0)
        return cache + ((size_t)sq * cap + (ring ? j % cap : j)) * width;
    return batch + (size_t)st->tok_of[st->seq_off[sq] + j - p0] * width;
}

int gm_cuda_attention(gm_cuda *cu, const gm_cuda_attn *a, const gm_cuda_step *st, cm_err *err)
{
    (void)cu;
    if (a->head_dim == 0 || a->head_dim > GM_CUDA_MAX_HEAD_DIM || a->n_head % a->n_head_kv != 0)
        return cm_err_set(err, "CUDA attention: unsupported shape");
    const uint32_t d = a->head_dim, group = a->n_head / a->n_head_kv, width = a->n_head_kv * d;
    for (uint32_t i = 0; i < a->n_tok; i++)
        for (uint32_t h = 0; h < a->n_head; h++) {
            const uint32_t sq = st->seq[i], p = st->pos[i], p0 = st->seq_p0[sq];
            const uint32_t lo = a->window > 0 && p + 1 > a->window ? p + 1 - a->window : 0;
            const float *q = a->q + ((size_t)i * a->n_head + h) * d;
            const size_t ho = (size_t)(h / group) * d;
            float m = -INFINITY, l = 0, acc[GM_CUDA_MAX_HEAD_DIM] = {0};
            for (uint32_t j = lo; j <= p; j++) {
                const float *k = kv_row(a->cache_k, a->batch_k, a->cap, a->ring, width, sq, j, p0, st) + ho;
                const float *v = kv_row(a->cache_v, a->batch_v, a->cap, a->ring, width, sq, j, p0, st) + ho;
                float s = 0;
                for (uint32_t c = 0; c < d; c++)
                    s += q[c] * k[c];
                const float mn = s > m ? s : m, corr = expf(m - mn), pj = expf(s - mn);
                l = l * corr + pj;
                for (uint32_t c = 0; c < d; c++)
                    acc[c] = acc[c] * corr + pj * v[c];
                m = mn;
            }
            float *out = a->out + ((size_t)i * a->n_head + h) * d;
            for (uint32_t c = 0; c < d; c++)
                out[c] = acc[c] / l;
        }
    return 0;
}

int gm_cuda_kv_store(gm_cuda *cu, const float *d_bk, const float *d_bv, float *d_ck, float *d_cv,
                     uint32_t cap, bool ring, uint32_t width, uint32_t n_tok,
                     const gm_cuda_step *st, cm_err *err)
{
    (void)cu, (void)err;
    /* in reverse, each slot written once, as the kernel's rule leaves it */
    for (uint32_t i = n_tok; i-- > 0;) {
        const uint32_t p = st->pos[i], sq = st->seq[i];
        if (ring) {
            const uint32_t end = sq + 1 < st->n_seq ? st->seq_off[sq + 1] : n_tok;
            if (p + cap <= st->seq_p0[sq] + (end - st->seq_off[sq]) - 1)
                continue;
        }
        const size_t dst = ((size_t)sq * cap + (ring ? p % cap : p)) * width;
        memcpy(d_ck + dst, d_bk + (size_t)i * width, width * sizeof(float));
        memcpy(d_cv + dst, d_bv + (size_t)i * width, width * sizeof(float));
    }
    return 0;
}

int gm_cuda_reserve(gm_cuda *cu, size_t floats, cm_err *err)
{
    (void)cu, (void)floats, (void)err;
    return 0;
}

int gm_cuda_capture_begin(gm_cuda *cu, cm_err *err)
{
    (void)cu;
    return cm_err_set(err, "not emulated");
}

int gm_cuda_capture_end(gm_cuda *cu, void **graph_out, cm_err *err)
{
    (void)cu;
    *graph_out = NULL;
    return cm_err_set(err, "not emulated");
}

int gm_cuda_graph_launch(gm_cuda *cu, void *graph, cm_err *err)
{
    (void)cu, (void)graph;
    return cm_err_set(err, "not emulated");
}

void gm_cuda_graph_free(void *graph)
{
    (void)graph;
}

int gm_cuda_use(gm_cuda *cu, cm_err *err)
{
    (void)cu, (void)err;
    return 0;
}
