/*
 * engine/quant/quant_k.c -- the 256-element "K" super-block formats Q4_K,
 * Q5_K, Q6_K and Q8_K: reference quantizers and dequantizers that follow
 * ggml-quants.c (quantize_row_*_ref with make_qkx2_quants/make_qx_quants,
 * dequantize_row_*) operation for operation.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/quant/quant_impl.h"

#define GM_GROUP_MAX_EPS 1e-15f

static int gm_max_i(int a, int b)
{
    return a > b ? a : b;
}
static int gm_min_i(int a, int b)
{
    return a < b ? a : b;
}

/* ggml's make_qkx2_quants: fit x ~ scale * L - the_min with L in 0..nmax,
 * searching nstep+1 candidate scales for the least weighted error. */
static float gm_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                                 float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                                 bool use_mad)
{
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = gm_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)gm_max_i(0, gm_min_i(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = gm_nearest_int(iscale * (x[i] - min));
            l = gm_max_i(0, gm_min_i(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i)
                    L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ggml's make_qx_quants for rmse_type 1 without importance weights (the
 * case quantize_row_q6_K_ref uses): symmetric L in 0..2*nmax-1. */
static float gm_make_qx_quants_rmse1(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GM_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = gm_nearest_int(iscale * x[i]);
        l = gm_max_i(-nmax, gm_min_i(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = gm_nearest_int(iscale * x[i]);
            l = gm_max_i(-nmax, gm_min_i(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = gm_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + gm_max_i(-nmax, gm_min_i(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* The shared first half of the Q4_K/Q5_K quantizers: per-sub-block scales
 * and mins, packed to 6 bits in `scales`, and the final quants L. */
static void gm_quantize_k_scales(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
                                 uint16_t *dmin_out, uint8_t packed[GM_K_SCALE_SIZE],
                                 uint8_t L[GM_QK_K])
{
    uint8_t Laux[32];
    float weights[32];
    float mins[GM_QK_K / 32];
    float scales[GM_QK_K / 32];
    float max_scale = 0;
    float max_min = 0;

    for (int j = 0; j < GM_QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = gm_make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                        rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }

    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, GM_K_SCALE_SIZE);
    for (int j = 0; j < GM_QK_K / 32; ++j) {
        uint8_t ls = (uint8_t)gm_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)gm_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = gm_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = gm_fp32_to_fp16(max_min / 63.f);

    for (int j = 0; j < GM_QK_K / 32; ++j) {
        uint8_t sc, m;
        gm_get_scale_min_k4(j, packed, &sc, &m);
        const float d = gm_fp16_to_fp32(*d_out) * (float)sc;
        if (d == 0.0f)
            continue;
        const float dm = gm_fp16_to_fp32(*dmin_out) * (float)m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = gm_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)gm_max_i(0, gm_min_i(nmax, l));
        }
    }
}

/* Sub-block j of a Q4_K or Q5_K block: its scale d * sc and its min
 * dmin * m, from the packed 6-bit scales. */
static void k4_sub_scale(const uint8_t *scales, int j, float d, float dmin, float *scale,
                         float *min)
{
    uint8_t sc, m;
    gm_get_scale_min_k4(j, scales, &sc, &m);
    *scale = d * (float)sc;
    *min = dmin * (float)m;
}

void gm_quantize_q4_K(const float *x, gm_block_q4_K *y, uint64_t nb)
{
    uint8_t L[GM_QK_K];
    for (uint64_t i = 0; i < nb; i++, x += GM_QK_K) {
        gm_quantize_k_scales(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < GM_QK_K; j += 64) {
            for (int l = 0; l < 32; ++l)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

void gm_dequantize_q4_K(const gm_block_q4_K *x, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = gm_fp16_to_fp32(x[i].d);
        const float min = gm_fp16_to_fp32(x[i].dmin);
        int is = 0;
        for (int j = 0; j < GM_QK_K; j += 64) {
            float d1, m1, d2, m2;
            k4_sub_scale(x[i].scales, is + 0, d, min, &d1, &m1);
            k4_sub_scale(x[i].scales, is + 1, d, min, &d2, &m2);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

void gm_quantize_q5_K(const float *x, gm_block_q5_K *y, uint64_t nb)
{
    uint8_t L[GM_QK_K];
    for (uint64_t i = 0; i < nb; i++, x += GM_QK_K) {
        gm_quantize_k_scales(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *qh = y[i].qh;
        uint8_t *ql = y[i].qs;
        memset(qh, 0, GM_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < GM_QK_K; n += 64) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
            ql += 32;
        }
    }
}

void gm_dequantize_q5_K(const gm_block_q5_K *x, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        const float d = gm_fp16_to_fp32(x[i].d);
        const float min = gm_fp16_to_fp32(x[i].dmin);
        int is = 0;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < GM_QK_K; j += 64) {
            float d1, m1, d2, m2;
            k4_sub_scale(x[i].scales, is + 0, d, min, &d1, &m1);
            k4_sub_scale(x[i].scales, is + 1, d, min, &d2, &m2);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

void gm_quantize_q6_K(const float *x, gm_block_q6_K *y, uint64_t nb)
{
    int8_t L[GM_QK_K];
    float scales[GM_QK_K / 16];
    for (uint64_t i = 0; i < nb; i++, x += GM_QK_K) {
        float max_scale = 0;
        float max_abs_scale = 0;
        for (int ib = 0; ib < GM_QK_K / 16; ++ib) {
            const float scale = gm_make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GM_GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof(gm_block_q6_K));
            y[i].d = gm_fp32_to_fp16(0.f);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = gm_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < GM_QK_K / 16; ++ib)
            y[i].scales[ib] = gm_wrap_i8(gm_min_i(127, gm_nearest_int(iscale * scales[ib])));

        for (int j = 0; j < GM_QK_K / 16; ++j) {
            float d = gm_fp16_to_fp32(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = gm_nearest_int(x[16 * j + ii] / d);
                l = gm_max_i(-32, gm_min_i(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }

        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < GM_QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF;
                const uint8_t q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF;
                const uint8_t q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

void gm_dequantize_q6_K(const gm_block_q6_K *x, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++) {
        const float d = gm_fp16_to_fp32(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < GM_QK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                int is = l / 16;
                const int8_t q1 =
                    (int8_t)((int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                const int8_t q2 =
                    (int8_t)((int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                const int8_t q3 =
                    (int8_t)((int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                const int8_t q4 =
                    (int8_t)((int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void gm_quantize_q8_K(const float *x, gm_block_q8_K *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, x += GM_QK_K) {
        float max = 0;
        float amax = 0;
        for (int j = 0; j < GM_QK_K; ++j) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            /* ggml leaves bsums unset here; zero is their true value. */
            memset(&y[i], 0, sizeof(gm_block_q8_K));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < GM_QK_K; ++j) {
            int v = gm_nearest_int(iscale * x[j]);
            y[i].qs[j] = gm_wrap_i8(gm_min_i(127, v));
        }
        for (int j = 0; j < GM_QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii)
                sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void gm_dequantize_q8_K(const gm_block_q8_K *x, float *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++)
        for (int j = 0; j < GM_QK_K; ++j)
            *y++ = x[i].d * (float)x[i].qs[j];
}
