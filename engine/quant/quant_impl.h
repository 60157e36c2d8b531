/*
 * engine/quant/quant_impl.h -- internal to engine/quant/: the per-format
 * row functions behind gm_quantize_row()/gm_dequantize_row(), and the
 * small integer helpers that make them match ggml bit for bit.
 *
 * Every row function takes nb = number of blocks (the caller has checked
 * that n is a multiple of the block size).
 */
#ifndef GM_QUANT_IMPL_H
#define GM_QUANT_IMPL_H

#include <stdint.h>
#include <string.h>

#include "engine/quant/blocks.h"

/* ggml's nearest_int(): round to nearest even through the 1.5*2^23 trick.
 * Exact for |f| <= 2^22; for larger or non-finite inputs it returns the
 * same (meaningless but deterministic) value ggml does. */
static inline int gm_nearest_int(float fval)
{
    float val = fval + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* What x86-64 produces for a C cast float -> int8_t/uint8_t: truncation to
 * a 32-bit integer (the "integer indefinite" 0x80000000 for NaN and values
 * out of range), of which the low byte is kept. Written without undefined
 * behaviour so odd inputs give ggml's bytes instead of a crash. */
static inline int gm_x86_cast_i8(float f)
{
    int32_t v = INT32_MIN;
    if (f > -2147483904.0f && f < 2147483648.0f)
        v = (int32_t)f;
    int b = (int)((uint32_t)v & 0xFFu);
    return b > 127 ? b - 256 : b;
}

/* An int reduced to its low byte, read as int8_t (the C cast on GCC). */
static inline int8_t gm_wrap_i8(int v)
{
    int b = (int)((unsigned)v & 0xFFu);
    return (int8_t)(b > 127 ? b - 256 : b);
}

void gm_quantize_q4_0(const float *x, gm_block_q4_0 *y, uint64_t nb);
void gm_dequantize_q4_0(const gm_block_q4_0 *x, float *y, uint64_t nb);
void gm_quantize_q5_0(const float *x, gm_block_q5_0 *y, uint64_t nb);
void gm_dequantize_q5_0(const gm_block_q5_0 *x, float *y, uint64_t nb);
void gm_quantize_q8_0(const float *x, gm_block_q8_0 *y, uint64_t nb);
void gm_dequantize_q8_0(const gm_block_q8_0 *x, float *y, uint64_t nb);

void gm_quantize_q4_K(const float *x, gm_block_q4_K *y, uint64_t nb);
void gm_dequantize_q4_K(const gm_block_q4_K *x, float *y, uint64_t nb);
void gm_quantize_q5_K(const float *x, gm_block_q5_K *y, uint64_t nb);
void gm_dequantize_q5_K(const gm_block_q5_K *x, float *y, uint64_t nb);
void gm_quantize_q6_K(const float *x, gm_block_q6_K *y, uint64_t nb);
void gm_dequantize_q6_K(const gm_block_q6_K *x, float *y, uint64_t nb);
void gm_quantize_q8_K(const float *x, gm_block_q8_K *y, uint64_t nb);
void gm_dequantize_q8_K(const gm_block_q8_K *x, float *y, uint64_t nb);

#endif
