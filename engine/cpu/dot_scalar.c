/*
 * engine/cpu/dot_scalar.c -- portable reference dot products of one weight
 * row with converted activations, one per weight format.
 *
 * As in ggml-cpu (quants.c, vec.cpp): quantized formats sum integer
 * products exactly inside each block and scale the block sum once by the
 * product of the two block scales; F32/F16/BF16 multiply in f32 and
 * accumulate (here in double, as ggml's scalar code does).
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/cpu/dot.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

static float gm_dot_f32_scalar(uint64_t n, const void *w, const void *xq)
{
    const float *a = w, *b = xq;
    double sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += (double)(a[i] * b[i]);
    return (float)sum;
}

static float gm_dot_f16_scalar(uint64_t n, const void *w, const void *xq)
{
    const uint16_t *a = w, *b = xq;
    double sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += (double)(gm_fp16_to_fp32(a[i]) * gm_fp16_to_fp32(b[i]));
    return (float)sum;
}

static float gm_dot_bf16_scalar(uint64_t n, const void *w, const void *xq)
{
    const uint16_t *a = w, *b = xq;
    double sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += (double)(gm_bf16_to_fp32(a[i]) * gm_bf16_to_fp32(b[i]));
    return (float)sum;
}

static float gm_dot_q8_0_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q8_0 *x = w;
    const gm_block_q8_0 *y = xq;
    const uint64_t nb = n / GM_QK8_0;
    float sumf = 0;
    for (uint64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < GM_QK8_0; j++)
            sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (gm_fp16_to_fp32(x[ib].d) * gm_fp16_to_fp32(y[ib].d));
    }
    return sumf;
}

static float gm_dot_q4_0_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q4_0 *x = w;
    const gm_block_q8_0 *y = xq;
    const uint64_t nb = n / GM_QK8_0;
    float sumf = 0;
    for (uint64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < GM_QK8_0 / 2; j++) {
            const int v0 = (x[ib].qs[j] & 0x0F) - 8;
            const int v1 = (x[ib].qs[j] >> 4) - 8;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + GM_QK8_0 / 2];
        }
        sumf += (float)sumi * (gm_fp16_to_fp32(x[ib].d) * gm_fp16_to_fp32(y[ib].d));
    }
    return sumf;
}

static float gm_dot_q5_0_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q5_0 *x = w;
    const gm_block_q8_0 *y = xq;
    const uint64_t nb = n / GM_QK8_0;
    float sumf = 0;
    for (uint64_t ib = 0; ib < nb; ib++) {
        const uint32_t qh = (uint32_t)x[ib].qh[0] | ((uint32_t)x[ib].qh[1] << 8) |
                            ((uint32_t)x[ib].qh[2] << 16) | ((uint32_t)x[ib].qh[3] << 24);
        int sumi = 0;
        for (int j = 0; j < GM_QK8_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            const int v0 = ((x[ib].qs[j] & 0x0F) | h0) - 16;
            const int v1 = ((x[ib].qs[j] >> 4) | h1) - 16;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + GM_QK8_0 / 2];
        }
        sumf += (float)sumi * (gm_fp16_to_fp32(x[ib].d) * gm_fp16_to_fp32(y[ib].d));
    }
    return sumf;
}

/* Integer part of a Q4_K/Q5_K super-block dot: sum over the 8 sub-blocks of
 * scale * sum(q * q8), and sum over the 16 groups of bsums * min. */
static void gm_k4_block_sums(const uint8_t scales_packed[12], const int q[GM_QK_K],
                             const gm_block_q8_K *y, int32_t *sum_qs, int32_t *sum_mins)
{
    int32_t s = 0, m = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        gm_get_scale_min_k4(j, scales_packed, &sc, &mn);
        int32_t part = 0;
        for (int l = 0; l < 32; l++)
            part += q[32 * j + l] * y->qs[32 * j + l];
        s += (int32_t)sc * part;
        m += (int32_t)mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    *sum_qs = s;
    *sum_mins = m;
}

static float gm_dot_q4_K_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q4_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    int q[GM_QK_K];
    float sumf = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *q4 = x[i].qs;
        for (int c = 0; c < 4; c++, q4 += 32)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = q4[l] & 0xF;
                q[64 * c + 32 + l] = q4[l] >> 4;
            }
        int32_t sum_qs, sum_mins;
        gm_k4_block_sums(x[i].scales, q, &y[i], &sum_qs, &sum_mins);
        const float d = gm_fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = gm_fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf += d * (float)sum_qs - dmin * (float)sum_mins;
    }
    return sumf;
}

static float gm_dot_q5_K_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q5_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    int q[GM_QK_K];
    float sumf = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        for (int c = 0; c < 4; c++, ql += 32)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = (ql[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
                q[64 * c + 32 + l] = (ql[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
            }
        int32_t sum_qs, sum_mins;
        gm_k4_block_sums(x[i].scales, q, &y[i], &sum_qs, &sum_mins);
        const float d = gm_fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = gm_fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf += d * (float)sum_qs - dmin * (float)sum_mins;
    }
    return sumf;
}

static float gm_dot_q6_K_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q6_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    int q[GM_QK_K];
    float sumf = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            int *a = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                a[l + 0] = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                a[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                a[l + 64] = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                a[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int32_t part = 0;
            for (int l = 0; l < 16; l++)
                part += q[16 * j + l] * y[i].qs[16 * j + l];
            sumi += (int32_t)x[i].scales[j] * part;
        }
        sumf += gm_fp16_to_fp32(x[i].d) * y[i].d * (float)sumi;
    }
    return sumf;
}

static float gm_dot_q8_K_scalar(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q8_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    float sumf = 0;
    for (uint64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < GM_QK_K; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sumf += x[i].d * y[i].d * (float)sumi;
    }
    return sumf;
}

gm_dot_fn gm_dot_scalar(gm_type type)
{
    switch (type) {
    case GM_TYPE_F32:
        return gm_dot_f32_scalar;
    case GM_TYPE_F16:
        return gm_dot_f16_scalar;
    case GM_TYPE_BF16:
        return gm_dot_bf16_scalar;
    case GM_TYPE_Q8_0:
        return gm_dot_q8_0_scalar;
    case GM_TYPE_Q4_0:
        return gm_dot_q4_0_scalar;
    case GM_TYPE_Q5_0:
        return gm_dot_q5_0_scalar;
    case GM_TYPE_Q4_K:
        return gm_dot_q4_K_scalar;
    case GM_TYPE_Q5_K:
        return gm_dot_q5_K_scalar;
    case GM_TYPE_Q6_K:
        return gm_dot_q6_K_scalar;
    case GM_TYPE_Q8_K:
        return gm_dot_q8_K_scalar;
    default:
        return NULL;
    }
}
