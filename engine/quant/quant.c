/*
 * engine/quant/quant.c -- gm_quantize_row()/gm_dequantize_row() for every
 * supported format (dispatch to the per-format code in quant_legacy.c and
 * quant_k.c; F32/F16/BF16 here), and llama.cpp's fallback rule for K-quant
 * tensors whose rows are not a multiple of 256.
 */
#include <stdint.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/quant/quant_impl.h"

/* Block size of the formats this file handles; 0 for any other type. */
static uint64_t gm_quant_block_elems(gm_type type)
{
    switch (type) {
    case GM_TYPE_F32:
    case GM_TYPE_F16:
    case GM_TYPE_BF16:
        return 1;
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q5_0:
    case GM_TYPE_Q8_0:
        return 32;
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q5_K:
    case GM_TYPE_Q6_K:
    case GM_TYPE_Q8_K:
        return GM_QK_K;
    default:
        return 0;
    }
}

int gm_dequantize_row(gm_type type, const void *src, float *dst, uint64_t n)
{
    const uint64_t qk = gm_quant_block_elems(type);
    if (qk == 0 || n % qk != 0 || (n > 0 && (src == NULL || dst == NULL)))
        return -1;
    const uint64_t nb = n / qk;
    switch (type) {
    case GM_TYPE_F32:
        if (n > 0)
            memmove(dst, src, n * sizeof(float));
        return 0;
    case GM_TYPE_F16: {
        const uint16_t *h = src;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = gm_fp16_to_fp32(h[i]);
        return 0;
    }
    case GM_TYPE_BF16: {
        const uint16_t *h = src;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = gm_bf16_to_fp32(h[i]);
        return 0;
    }
    case GM_TYPE_Q4_0:
        gm_dequantize_q4_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q5_0:
        gm_dequantize_q5_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q8_0:
        gm_dequantize_q8_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q4_K:
        gm_dequantize_q4_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q5_K:
        gm_dequantize_q5_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q6_K:
        gm_dequantize_q6_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q8_K:
        gm_dequantize_q8_K(src, dst, nb);
        return 0;
    default:
        return -1;
    }
}

int gm_quantize_row(gm_type type, const float *src, void *dst, uint64_t n)
{
    const uint64_t qk = gm_quant_block_elems(type);
    if (qk == 0 || n % qk != 0 || (n > 0 && (src == NULL || dst == NULL)))
        return -1;
    const uint64_t nb = n / qk;
    switch (type) {
    case GM_TYPE_F32:
        if (n > 0)
            memmove(dst, src, n * sizeof(float));
        return 0;
    case GM_TYPE_F16: {
        uint16_t *h = dst;
        for (uint64_t i = 0; i < n; i++)
            h[i] = gm_fp32_to_fp16(src[i]);
        return 0;
    }
    case GM_TYPE_BF16: {
        uint16_t *h = dst;
        for (uint64_t i = 0; i < n; i++)
            h[i] = gm_fp32_to_bf16(src[i]);
        return 0;
    }
    case GM_TYPE_Q4_0:
        gm_quantize_q4_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q5_0:
        gm_quantize_q5_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q8_0:
        gm_quantize_q8_0(src, dst, nb);
        return 0;
    case GM_TYPE_Q4_K:
        gm_quantize_q4_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q5_K:
        gm_quantize_q5_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q6_K:
        gm_quantize_q6_K(src, dst, nb);
        return 0;
    case GM_TYPE_Q8_K:
        gm_quantize_q8_K(src, dst, nb);
        return 0;
    default:
        return -1;
    }
}

/*
 * llama.cpp (llama-quant.cpp, tensor_type_fallback): a tensor whose row
 * length is not a multiple of the target's block size is demoted --
 * Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 -- and to F16
 * when the row is not a multiple of that block size either (which is also
 * what happens to a 32-block target).
 *
 * Q5_1 is not a format this engine supports, so Q5_K falls back to Q5_0
 * (same bits per weight, symmetric instead of offset): a deliberate
 * difference from llama.cpp.
 */
gm_type gm_quant_fallback(gm_type type, uint64_t row_len)
{
    uint64_t qk;
    switch (type) {
    case GM_TYPE_Q2_K:
    case GM_TYPE_Q3_K:
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q5_K:
    case GM_TYPE_Q6_K:
    case GM_TYPE_Q8_K:
        qk = GM_QK_K;
        break;
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q4_1:
    case GM_TYPE_Q5_0:
    case GM_TYPE_Q5_1:
    case GM_TYPE_Q8_0:
    case GM_TYPE_Q8_1:
        qk = 32;
        break;
    default:
        return type; /* F32, F16, BF16: every length fits */
    }
    if (row_len % qk == 0)
        return type;

    gm_type ret;
    switch (type) {
    case GM_TYPE_Q2_K:
    case GM_TYPE_Q3_K:
        ret = GM_TYPE_Q4_0;
        break;
    case GM_TYPE_Q4_K:
        ret = GM_TYPE_Q5_0;
        break;
    case GM_TYPE_Q5_K:
        ret = GM_TYPE_Q5_0;
        break; /* llama.cpp: Q5_1 (unsupported) */
    case GM_TYPE_Q6_K:
        ret = GM_TYPE_Q8_0;
        break;
    case GM_TYPE_Q8_K:
        ret = GM_TYPE_Q8_0;
        break; /* not a storage type in llama.cpp */
    default:
        ret = type;
        break; /* already a 32-block type */
    }
    if (row_len % 32 != 0)
        ret = GM_TYPE_F16;
    return ret;
}
