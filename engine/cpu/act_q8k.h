/*
 * engine/cpu/act_q8k.h -- activations quantized to Q8_K blocks with AVX2,
 * bit for bit what the reference quantizer gm_quantize_q8_K
 * (engine/quant/quant_k.c, ggml's quantize_row_q8_K_ref) writes.
 *
 * Every decode matmul on K-quant weights converts its activation vector
 * first, on one thread, while the other threads wait: the scalar reference
 * took ~3.6 TSC cycles per element (a third of a 256 x 1536 Q4_K product
 * in cache).
 */
#ifndef GM_CPU_ACT_Q8K_H
#define GM_CPU_ACT_Q8K_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/quant/blocks.h"

/* Whether gm_act_q8_K_avx2 may run here (the CPU has AVX2). */
bool gm_act_q8_K_avx2_supported(void);

/* nb blocks of 256 activations at x into y, with the bits of
 * gm_quantize_q8_K (NaN and infinite inputs included). Only where
 * gm_act_q8_K_avx2_supported(). */
void gm_act_q8_K_avx2(const float *x, gm_block_q8_K *y, uint64_t nb);

#endif
