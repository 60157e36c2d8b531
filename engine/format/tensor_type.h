/*
 * engine/format/tensor_type.h -- the tensor element formats gemmad understands,
 * numbered as ggml numbers them (the ids are stored in GGUF files).
 *
 * Each quantized format stores a row as consecutive blocks of
 * gm_type_block_elems() elements, gm_type_block_bytes() bytes each. The
 * block layouts are bit-identical to ggml's (engine/quant/quant.h).
 */
#ifndef GM_TENSOR_TYPE_H
#define GM_TENSOR_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gm_type {
    GM_TYPE_F32 = 0,
    GM_TYPE_F16 = 1,
    GM_TYPE_Q4_0 = 2,
    GM_TYPE_Q4_1 = 3,
    GM_TYPE_Q5_0 = 6,
    GM_TYPE_Q5_1 = 7,
    GM_TYPE_Q8_0 = 8,
    GM_TYPE_Q8_1 = 9,
    GM_TYPE_Q2_K = 10,
    GM_TYPE_Q3_K = 11,
    GM_TYPE_Q4_K = 12,
    GM_TYPE_Q5_K = 13,
    GM_TYPE_Q6_K = 14,
    GM_TYPE_Q8_K = 15,
    /* Known to the container (sizes, names) but not computed with. */
    GM_TYPE_IQ2_XXS = 16,
    GM_TYPE_IQ2_XS = 17,
    GM_TYPE_IQ3_XXS = 18,
    GM_TYPE_IQ1_S = 19,
    GM_TYPE_IQ4_NL = 20,
    GM_TYPE_IQ3_S = 21,
    GM_TYPE_IQ2_S = 22,
    GM_TYPE_IQ4_XS = 23,
    GM_TYPE_I8 = 24,
    GM_TYPE_I16 = 25,
    GM_TYPE_I32 = 26,
    GM_TYPE_I64 = 27,
    GM_TYPE_F64 = 28,
    GM_TYPE_IQ1_M = 29,
    GM_TYPE_BF16 = 30,
    GM_TYPE_TQ1_0 = 34,
    GM_TYPE_TQ2_0 = 35,
    GM_TYPE_MXFP4 = 39,
    GM_TYPE_NVFP4 = 40,
    GM_TYPE_Q1_0 = 41,
    GM_TYPE_Q2_0 = 42,
    GM_TYPE_COUNT_MAX = 64
} gm_type;

/* True for the formats this engine can dequantize and compute with. */
bool gm_type_supported(uint32_t type);
/* True for every id above (the ggml formats whose layout we know); a GGUF
 * file with any other tensor type is rejected when opened. */
bool gm_type_known(uint32_t type);
/* ggml's name ("f32", "q4_K", ...); "unknown" for an unknown id. The
 * string is static. */
const char *gm_type_name(gm_type type);
/* Parse "f32", "q4_k", ... (case-insensitive); -1 if unknown. */
int gm_type_from_name(const char *name, gm_type *out);
/* Elements per block (1 for F32/F16/BF16, 32 for Q8_0/Q4_0, 256 for K);
 * 0 for an unknown id (likewise gm_type_block_bytes). */
uint32_t gm_type_block_elems(gm_type type);
/* Bytes per block. */
uint32_t gm_type_block_bytes(gm_type type);
/* Bytes of a row of n elements; false when n is not a multiple of the
 * block size or the result overflows. */
bool gm_type_row_bytes(gm_type type, uint64_t n, uint64_t *out);

#endif
