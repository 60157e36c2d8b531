/*
 * engine/cpu/act_convert.h -- activation conversion to the integer formats
 * the quantized dot products read (engine/cpu/kernels.c gm_act_convert):
 * Q8_0 as ggml-cpu's x86 AVX2 quantize_row_q8_0 does it, Q8_K as the
 * reference quantizer gm_quantize_q8_K (engine/quant/quant_k.c, ggml's
 * quantize_row_q8_K_ref) does, each in plain C and with AVX2, the two
 * forms writing the same bytes; F16 and BF16 with AVX2 (and F16C), with
 * the bits of the element conversions of engine/quant/half.c.
 *
 * Every decode matmul converts its activation vector first, on one thread,
 * while the other threads wait: the plain C forms took ~4.6 (Q8_0) and
 * ~3.6 (Q8_K) TSC cycles per element, a third of a 256 x 1536 Q4_K
 * product in cache; F16 ~5.4, BF16 ~3.5.
 */
#ifndef GM_CPU_ACT_CONVERT_H
#define GM_CPU_ACT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/quant/blocks.h"

/* Whether the AVX2 forms may run here (the CPU has AVX2). */
bool gm_act_avx2_supported(void);

/* nb blocks of 32 activations at x into y: per block d = fp16(amax / 127)
 * and q = round-half-even(x * (127 / amax)), saturated to int8, -128 for
 * NaN and infinite products (what cvtps_epi32 and the packs give);
 * element for element ggml-cpu's AVX2 quantize_row_q8_0. */
void gm_act_q8_0(const float *x, gm_block_q8_0 *y, uint64_t nb);
/* The same bytes with AVX2 (blocks holding a NaN go through gm_act_q8_0).
 * Only where gm_act_avx2_supported(). */
void gm_act_q8_0_avx2(const float *x, gm_block_q8_0 *y, uint64_t nb);

/* nb blocks of 256 activations at x into y, with the bits of
 * gm_quantize_q8_K (NaN and infinite inputs included). Only where
 * gm_act_avx2_supported(). */
void gm_act_q8_K_avx2(const float *x, gm_block_q8_K *y, uint64_t nb);

/* n activations to F16 / BF16 with the bits of gm_fp32_to_fp16 /
 * gm_fp32_to_bf16 (engine/quant/half.c) element by element. Only where
 * gm_act_avx2_supported(). */
void gm_act_f16_avx2(const float *x, uint16_t *y, uint64_t n);
void gm_act_bf16_avx2(const float *x, uint16_t *y, uint64_t n);

#endif
