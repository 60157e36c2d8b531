/*
 * engine/quant/quant.h -- element formats: half floats, and the reference
 * (scalar) quantize/dequantize of every block format, bit-identical to
 * ggml's block layouts.
 *
 * Rows are given as element counts n, which must be a multiple of the
 * format's block size (gm_type_block_elems()); functions return -1 when it
 * is not or when the type is not supported.
 */
#ifndef GM_QUANT_H
#define GM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/format/tensor_type.h"

/* IEEE half and bfloat16, round to nearest even (bf16 quiets NaNs), as ggml. */
uint16_t gm_fp32_to_fp16(float f);
float gm_fp16_to_fp32(uint16_t h);
uint16_t gm_fp32_to_bf16(float f);
float gm_bf16_to_fp32(uint16_t h);

/* Decode n elements of a row in format `type` to f32. */
int gm_dequantize_row(gm_type type, const void *src, float *dst, uint64_t n);
/* Encode n f32 elements to format `type` (reference quantizer). */
int gm_quantize_row(gm_type type, const float *src, void *dst, uint64_t n);

/* The format a model writer falls back to for a K-quant tensor whose rows
 * are not a multiple of 256, as llama.cpp's quantizer does (e.g. Q4_K ->
 * Q5_0, Q6_K -> Q8_0). Returns `type` itself when no fallback is needed. */
gm_type gm_quant_fallback(gm_type type, uint64_t row_len);

#endif
