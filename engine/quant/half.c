/*
 * engine/quant/half.c -- IEEE binary16 and bfloat16 conversions, bit for
 * bit as ggml computes them (ggml-impl.h: the branch-free FP16 code after
 * Maratyszcza/FP16, and ggml_compute_fp32_to_bf16).
 *
 * fp32 -> fp16 rounds to nearest even, overflows to infinity, keeps
 * subnormals, and turns every NaN into the quiet NaN 0x7E00 (with sign).
 * fp32 -> bf16 rounds to nearest even and quiets NaNs by setting bit 6.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant/quant.h"

static float gm_f32_from_bits(uint32_t w)
{
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static uint32_t gm_f32_to_bits(float f)
{
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

float gm_fp16_to_fp32(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & UINT32_C(0x80000000);
    const uint32_t two_w = w + w;

    const uint32_t exp_offset = UINT32_C(0xE0) << 23;
    const float exp_scale = 0x1.0p-112f;
    const float normalized_value = gm_f32_from_bits((two_w >> 4) + exp_offset) * exp_scale;

    const uint32_t magic_mask = UINT32_C(126) << 23;
    const float magic_bias = 0.5f;
    const float denormalized_value = gm_f32_from_bits((two_w >> 17) | magic_mask) - magic_bias;

    const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? gm_f32_to_bits(denormalized_value)
                                                                : gm_f32_to_bits(normalized_value));
    return gm_f32_from_bits(result);
}

uint16_t gm_fp32_to_fp16(float f)
{
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;

    const uint32_t w = gm_f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & UINT32_C(0x80000000);
    uint32_t bias = shl1_w & UINT32_C(0xFF000000);
    if (bias < UINT32_C(0x71000000))
        bias = UINT32_C(0x71000000);

    base = gm_f32_from_bits((bias >> 1) + UINT32_C(0x07800000)) + base;
    const uint32_t bits = gm_f32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
    const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

float gm_bf16_to_fp32(uint16_t h)
{
    return gm_f32_from_bits((uint32_t)h << 16);
}

uint16_t gm_fp32_to_bf16(float f)
{
    const uint32_t u = gm_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep the top bits, force quiet */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}
