/*
 * engine/quant/quant_legacy.c -- the 32-element block formats Q4_0, Q5_0
 * and Q8_0: reference quantizers and dequantizers following ggml-quants.c
 * (quantize_row_*_ref, dequantize_row_*) operation for operation, so that
 * both directions give ggml's bytes and floats exactly.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/quant/quant_impl.h"

static int gm_min_i(int a, int b)
{
    return a < b ? a : b;
}

/* The element of largest magnitude (first one wins ties), with its sign. */
static float gm_signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

void gm_quantize_q4_0(const float *x, gm_block_q4_0 *y, uint64_t nb)
{
    const int qk = GM_QK4_0;
    for (uint64_t i = 0; i < nb; i++, x += qk) {
        const float max = gm_signed_absmax(x, qk);
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gm_fp32_to_fp16(d);
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[qk / 2 + j] * id;
            const uint8_t xi0 = (uint8_t)gm_min_i(15, gm_x86_cast_i8(x0 + 8.5f));
            const uint8_t xi1 = (uint8_t)gm_min_i(15, gm_x86_cast_i8(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void gm_dequantize_q4_0(const gm_block_q4_0 *x, float *y, uint64_t nb)
{
    const int qk = GM_QK4_0;
    for (uint64_t i = 0; i < nb; i++, y += qk) {
        const float d = gm_fp16_to_fp32(x[i].d);
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[j] = (float)x0 * d;
            y[j + qk / 2] = (float)x1 * d;
        }
    }
}

void gm_quantize_q5_0(const float *x, gm_block_q5_0 *y, uint64_t nb)
{
    const int qk = GM_QK5_0;
    for (uint64_t i = 0; i < nb; i++, x += qk) {
        const float max = gm_signed_absmax(x, qk);
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gm_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[qk / 2 + j] * id;
            const uint8_t xi0 = (uint8_t)gm_min_i(31, gm_x86_cast_i8(x0 + 16.5f));
            const uint8_t xi1 = (uint8_t)gm_min_i(31, gm_x86_cast_i8(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
        }
        y[i].qh[0] = (uint8_t)(qh);
        y[i].qh[1] = (uint8_t)(qh >> 8);
        y[i].qh[2] = (uint8_t)(qh >> 16);
        y[i].qh[3] = (uint8_t)(qh >> 24);
    }
}

void gm_dequantize_q5_0(const gm_block_q5_0 *x, float *y, uint64_t nb)
{
    const int qk = GM_QK5_0;
    for (uint64_t i = 0; i < nb; i++, y += qk) {
        const float d = gm_fp16_to_fp32(x[i].d);
        const uint32_t qh = (uint32_t)x[i].qh[0] | ((uint32_t)x[i].qh[1] << 8) |
                            ((uint32_t)x[i].qh[2] << 16) | ((uint32_t)x[i].qh[3] << 24);
        for (int j = 0; j < qk / 2; j++) {
            const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
            y[j] = (float)x0 * d;
            y[j + qk / 2] = (float)x1 * d;
        }
    }
}

void gm_quantize_q8_0(const float *x, gm_block_q8_0 *y, uint64_t nb)
{
    const int qk = GM_QK8_0;
    for (uint64_t i = 0; i < nb; i++, x += qk) {
        float amax = 0.0f;
        for (int j = 0; j < qk; j++)
            amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]); /* ggml's MAX(a, b) */
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gm_fp32_to_fp16(d);
        for (int j = 0; j < qk; j++)
            y[i].qs[j] = (int8_t)gm_x86_cast_i8(roundf(x[j] * id));
    }
}

void gm_dequantize_q8_0(const gm_block_q8_0 *x, float *y, uint64_t nb)
{
    const int qk = GM_QK8_0;
    for (uint64_t i = 0; i < nb; i++, y += qk) {
        const float d = gm_fp16_to_fp32(x[i].d);
        for (int j = 0; j < qk; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}
