/*
 * tests/unit/test_quant.c -- unit tests for engine/quant/: fp16 and bf16
 * conversions (known values, exhaustive round trips, rounding checked
 * against the neighbouring representable values), known-answer tests on
 * hand-built blocks of every format, quantize/dequantize round-trip error
 * bounds, bad arguments, and the K-quant fallback table.
 *
 * Expected values in the known-answer tests are computed here from the
 * format definitions, never by calling the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct tq_rng {
    uint64_t s;
} tq_rng;

static uint64_t tq_next(tq_rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static float tq_uniform(tq_rng *r) /* [0, 1) */
{
    return (float)((double)(tq_next(r) >> 11) * (1.0 / 9007199254740992.0));
}

static float tq_gauss(tq_rng *r)
{
    double u1 = ((double)(tq_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(tq_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float tq_from_bits(uint32_t w)
{
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static uint32_t tq_bits(float f)
{
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

static uint16_t tq_h(float f)
{
    return gm_fp32_to_fp16(f);
}

typedef struct tq_fmt {
    const char *name;
    gm_type type;
    uint32_t qk;
    uint32_t bytes;
    double max_rel_rmse; /* bound on RMSE / RMS for Gaussian data */
} tq_fmt;

static const tq_fmt tq_formats[] = {
    {"f32", GM_TYPE_F32, 1, 4, 0.0},
    {"f16", GM_TYPE_F16, 1, 2, 4.0e-4},
    {"bf16", GM_TYPE_BF16, 1, 2, 3.0e-3},
    {"q8_0", GM_TYPE_Q8_0, 32, sizeof(gm_block_q8_0), 0.008},
    {"q4_0", GM_TYPE_Q4_0, 32, sizeof(gm_block_q4_0), 0.12},
    {"q5_0", GM_TYPE_Q5_0, 32, sizeof(gm_block_q5_0), 0.06},
    {"q4_k", GM_TYPE_Q4_K, 256, sizeof(gm_block_q4_K), 0.10},
    {"q5_k", GM_TYPE_Q5_K, 256, sizeof(gm_block_q5_K), 0.05},
    {"q6_k", GM_TYPE_Q6_K, 256, sizeof(gm_block_q6_K), 0.025},
    {"q8_k", GM_TYPE_Q8_K, 256, sizeof(gm_block_q8_K), 0.012},
};
#define TQ_NFMT (sizeof tq_formats / sizeof tq_formats[0])

/* ---- fp16 ------------------------------------------------------------- */

static void test_fp16_known_values(void **state)
{
    (void)state;
    assert_int_equal(gm_fp32_to_fp16(0.0f), 0x0000);
    assert_int_equal(gm_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(gm_fp32_to_fp16(1.0f), 0x3C00);
    assert_int_equal(gm_fp32_to_fp16(-2.0f), 0xC000);
    assert_int_equal(gm_fp32_to_fp16(0.333251953125f), 0x3555);
    assert_int_equal(gm_fp32_to_fp16(65504.0f), 0x7BFF); /* largest finite */
    assert_int_equal(gm_fp32_to_fp16(65519.0f), 0x7BFF); /* below the halfway point */
    assert_int_equal(gm_fp32_to_fp16(65520.0f), 0x7C00); /* tie rounds to even = inf */
    assert_int_equal(gm_fp32_to_fp16(1e10f), 0x7C00);
    assert_int_equal(gm_fp32_to_fp16(-INFINITY), 0xFC00);
    assert_int_equal(gm_fp32_to_fp16(ldexpf(1.0f, -24)), 0x0001);        /* smallest subnormal */
    assert_int_equal(gm_fp32_to_fp16(ldexpf(1.0f, -25)), 0x0000);        /* tie to even: 0 */
    assert_int_equal(gm_fp32_to_fp16(ldexpf(3.0f, -25)), 0x0002);        /* tie to even: 2 */
    assert_int_equal(gm_fp32_to_fp16(ldexpf(1.0f, -14)), 0x0400);        /* smallest normal */
    assert_int_equal(gm_fp32_to_fp16(1.0f + ldexpf(1.0f, -11)), 0x3C00); /* tie to even */
    assert_int_equal(gm_fp32_to_fp16(1.0f + ldexpf(3.0f, -11)), 0x3C02);
    assert_int_equal(gm_fp32_to_fp16(tq_from_bits(0x7FC00000u)), 0x7E00);
    assert_int_equal(gm_fp32_to_fp16(tq_from_bits(0xFF800001u)), 0xFE00);
    assert_int_equal(gm_fp32_to_fp16(tq_from_bits(0x00000001u)), 0x0000); /* f32 subnormal */

    assert_true(gm_fp16_to_fp32(0x3C00) == 1.0f);
    assert_true(gm_fp16_to_fp32(0x7BFF) == 65504.0f);
    assert_true(gm_fp16_to_fp32(0x0001) == ldexpf(1.0f, -24));
    assert_true(gm_fp16_to_fp32(0x03FF) == ldexpf(1023.0f, -24));
    assert_true(isinf(gm_fp16_to_fp32(0x7C00)) && gm_fp16_to_fp32(0x7C00) > 0);
    assert_true(isnan(gm_fp16_to_fp32(0x7E00)));
    assert_int_equal(tq_bits(gm_fp16_to_fp32(0x8000)), 0x80000000u);
}

/* Every fp16 value survives fp16 -> f32 -> fp16; NaNs become 0x7E00. */
static void test_fp16_exhaustive_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gm_fp16_to_fp32((uint16_t)h);
        uint16_t back = gm_fp32_to_fp16(f);
        int is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
        uint16_t want = is_nan ? (uint16_t)((h & 0x8000) | 0x7E00) : (uint16_t)h;
        if (back != want)
            fail_msg("fp16 0x%04x -> %g -> 0x%04x", h, (double)f, back);
    }
}

/* For random finite floats in the fp16 range, the result is the nearest
 * fp16 value, ties going to the even mantissa. */
static void test_fp16_rounds_to_nearest_even(void **state)
{
    (void)state;
    tq_rng r = {0x9E3779B97F4A7C15ull};
    for (int i = 0; i < 200000; i++) {
        /* exponents 2^-26 .. 2^16, random mantissa; every 4th a tie */
        int e = (int)(tq_next(&r) % 43) - 26;
        uint32_t mant = (uint32_t)(tq_next(&r) & 0x7FFFFF);
        if (i % 4 == 0)
            mant = (mant & ~0x1FFFu) | 0x1000u; /* halfway between fp16 normals */
        float f = tq_from_bits(((uint32_t)(e + 127) << 23) | mant);
        if (tq_next(&r) & 1)
            f = -f;
        uint16_t h = gm_fp32_to_fp16(f);
        double v = gm_fp16_to_fp32(h);
        double err = fabs(v - (double)f);
        if ((h & 0x7FFF) == 0x7C00) { /* overflowed: f must be >= 65520 */
            assert_true(fabs((double)f) >= 65520.0);
            continue;
        }
        /* neighbours (same sign): h-1 and h+1 in magnitude */
        if ((h & 0x7FFF) != 0) {
            double lo = gm_fp16_to_fp32((uint16_t)(h - 1));
            if (fabs(lo - (double)f) < err)
                fail_msg("fp16(%a) = 0x%04x not nearest (below)", (double)f, h);
            if (fabs(lo - (double)f) == err && (h & 1))
                fail_msg("fp16(%a) = 0x%04x tie not even", (double)f, h);
        }
        if ((h & 0x7FFF) < 0x7BFF) {
            double hi = gm_fp16_to_fp32((uint16_t)(h + 1));
            if (fabs(hi - (double)f) < err)
                fail_msg("fp16(%a) = 0x%04x not nearest (above)", (double)f, h);
            if (fabs(hi - (double)f) == err && (h & 1))
                fail_msg("fp16(%a) = 0x%04x tie not even", (double)f, h);
        }
    }
}

/* ---- bf16 ------------------------------------------------------------- */

static void test_bf16_known_values(void **state)
{
    (void)state;
    assert_int_equal(gm_fp32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(gm_fp32_to_bf16(-2.0f), 0xC000);
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x3F808000u)), 0x3F80); /* tie, even */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x3F818000u)), 0x3F82); /* tie, to even */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x3F808001u)), 0x3F81); /* above tie */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x3F807FFFu)), 0x3F80);
    assert_int_equal(gm_fp32_to_bf16(INFINITY), 0x7F80);
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x7F7FFFFFu)), 0x7F80); /* rounds up to inf */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x7F800001u)), 0x7FC0); /* sNaN quieted */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0xFFA12345u)), 0xFFE1); /* payload kept */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x00008000u)), 0x0000); /* subnormal tie */
    assert_int_equal(gm_fp32_to_bf16(tq_from_bits(0x00018000u)), 0x0002);
    assert_int_equal(tq_bits(gm_bf16_to_fp32(0x3F80)), 0x3F800000u);
    assert_int_equal(tq_bits(gm_bf16_to_fp32(0xFFC1)), 0xFFC10000u);
}

static void test_bf16_exhaustive_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gm_bf16_to_fp32((uint16_t)h);
        assert_int_equal(tq_bits(f), h << 16);
        int is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
        uint16_t want = is_nan ? (uint16_t)(h | 0x40) : (uint16_t)h;
        uint16_t back = gm_fp32_to_bf16(f);
        if (back != want)
            fail_msg("bf16 0x%04x -> 0x%04x", h, back);
    }
}

/* ---- known answers: dequantize hand-built blocks ------------------------- */

static void test_dequant_q4_0_known(void **state)
{
    (void)state;
    gm_block_q4_0 b;
    b.d = tq_h(0.5f);
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q4_0, &b, y, 32), 0);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 0.5f * (float)(j - 8));
        assert_true(y[j + 16] == 0.5f * (float)(15 - j - 8));
    }
}

static void test_dequant_q5_0_known(void **state)
{
    (void)state;
    gm_block_q5_0 b;
    b.d = tq_h(-0.25f);
    /* element j has 5-bit value q[j] = (7 * j + 3) % 32 */
    uint32_t qh = 0;
    int q[32];
    for (int j = 0; j < 32; j++)
        q[j] = (7 * j + 3) % 32;
    for (int j = 0; j < 16; j++) {
        b.qs[j] = (uint8_t)((q[j] & 15) | ((q[j + 16] & 15) << 4));
        qh |= (uint32_t)(q[j] >> 4) << j;
        qh |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++)
        b.qh[k] = (uint8_t)(qh >> (8 * k));
    float y[32];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q5_0, &b, y, 32), 0);
    for (int j = 0; j < 32; j++)
        assert_true(y[j] == -0.25f * (float)(q[j] - 16));
}

static void test_dequant_q8_0_known(void **state)
{
    (void)state;
    gm_block_q8_0 b[2];
    b[0].d = tq_h(0.125f);
    b[1].d = tq_h(3.0f);
    for (int j = 0; j < 32; j++) {
        b[0].qs[j] = (int8_t)(j * 8 - 128);
        b[1].qs[j] = (int8_t)(127 - j);
    }
    float y[64];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q8_0, b, y, 64), 0);
    for (int j = 0; j < 32; j++) {
        assert_true(y[j] == 0.125f * (float)(j * 8 - 128));
        assert_true(y[32 + j] == 3.0f * (float)(127 - j));
    }
}

/* Pack 8 six-bit scales and mins the way ggml's Q4_K/Q5_K do. */
static void tq_pack_k4(const int sc[8], const int mn[8], uint8_t out[12])
{
    memset(out, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] = (uint8_t)sc[j];
            out[j + 4] = (uint8_t)mn[j];
        } else {
            out[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            out[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            out[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
}

static void test_dequant_q4_K_known(void **state)
{
    (void)state;
    static const int sc[8] = {1, 63, 17, 32, 48, 5, 62, 33};
    static const int mn[8] = {0, 7, 63, 20, 49, 31, 16, 58};
    gm_block_q4_K b;
    b.d = tq_h(0.0625f);
    b.dmin = tq_h(0.03125f);
    tq_pack_k4(sc, mn, b.scales);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 5 + i / 32) % 16;
    /* 64 elements per 32 bytes: low nibbles first, then high nibbles */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b.qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    float y[256];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q4_K, &b, y, 256), 0);
    for (int i = 0; i < 256; i++) {
        int s = i / 32;
        float want = (0.0625f * (float)sc[s]) * (float)q[i] - 0.03125f * (float)mn[s];
        if (y[i] != want)
            fail_msg("q4_K element %d: %g, want %g", i, (double)y[i], (double)want);
    }
}

static void test_dequant_q5_K_known(void **state)
{
    (void)state;
    static const int sc[8] = {63, 1, 2, 40, 16, 47, 0, 31};
    static const int mn[8] = {3, 60, 0, 33, 15, 63, 8, 44};
    gm_block_q5_K b;
    b.d = tq_h(0.5f);
    b.dmin = tq_h(0.25f);
    tq_pack_k4(sc, mn, b.scales);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 11 + 3) % 32;
    memset(b.qh, 0, sizeof b.qh);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
            b.qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            b.qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        }
    float y[256];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q5_K, &b, y, 256), 0);
    for (int i = 0; i < 256; i++) {
        int s = i / 32;
        float want = (0.5f * (float)sc[s]) * (float)q[i] - 0.25f * (float)mn[s];
        if (y[i] != want)
            fail_msg("q5_K element %d: %g, want %g", i, (double)y[i], (double)want);
    }
}

static void test_dequant_q6_K_known(void **state)
{
    (void)state;
    gm_block_q6_K b;
    b.d = tq_h(0.125f);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 13 + 7) % 64;
    for (int s = 0; s < 16; s++)
        b.scales[s] = (int8_t)(s * 17 - 128);
    /* halves of 128: ql[l] holds q[l] | q[l+64] << 4, ql[l+32] q[l+32] | q[l+96] << 4,
     * qh[l] the top two bits of q[l], q[l+32], q[l+64], q[l+96] */
    for (int h = 0; h < 2; h++) {
        const int *qq = q + 128 * h;
        uint8_t *ql = b.ql + 64 * h;
        uint8_t *qhp = b.qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
            ql[l + 32] = (uint8_t)((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
            qhp[l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                               ((qq[l + 96] >> 4) << 6));
        }
    }
    float y[256];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q6_K, &b, y, 256), 0);
    for (int i = 0; i < 256; i++) {
        float want = 0.125f * (float)b.scales[i / 16] * (float)(q[i] - 32);
        if (y[i] != want)
            fail_msg("q6_K element %d: %g, want %g", i, (double)y[i], (double)want);
    }
}

static void test_dequant_q8_K_known(void **state)
{
    (void)state;
    gm_block_q8_K b;
    b.d = 0.001f;
    for (int i = 0; i < 256; i++)
        b.qs[i] = (int8_t)(i - 128);
    float y[256];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q8_K, &b, y, 256), 0);
    for (int i = 0; i < 256; i++)
        assert_true(y[i] == 0.001f * (float)(i - 128));
}

/* ---- known answers: quantize ---------------------------------------------- */

/* Integers -8..7 with -8 the largest magnitude: d = 1, exact. */
static void test_quant_q4_0_exact_grid(void **state)
{
    (void)state;
    float x[32], y[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)((j * 7) % 16 - 8);
    x[5] = -8.0f;
    gm_block_q4_0 b;
    assert_int_equal(gm_quantize_row(GM_TYPE_Q4_0, x, &b, 32), 0);
    assert_int_equal(b.d, 0x3C00);
    for (int j = 0; j < 16; j++) {
        assert_int_equal(b.qs[j] & 15, (int)x[j] + 8);
        assert_int_equal(b.qs[j] >> 4, (int)x[j + 16] + 8);
    }
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q4_0, &b, y, 32), 0);
    assert_memory_equal(x, y, sizeof x);
}

/* Q8_0: d = amax/127 in fp16, q = round(x/d) half away from zero. */
static void test_quant_q8_0_known(void **state)
{
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) * 0.5f;
    x[31] = 12.7f; /* amax: d = 0.1 */
    gm_block_q8_0 b;
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_0, x, &b, 32), 0);
    assert_int_equal(b.d, gm_fp32_to_fp16(12.7f / 127.0f));
    for (int j = 0; j < 31; j++)
        assert_int_equal(b.qs[j], (int)lround((j - 16) * 5.0));
    assert_int_equal(b.qs[31], 127);
}

/* Integers -32..31 in every sub-block: Q6_K reproduces them exactly. */
static void test_quant_q6_K_exact_grid(void **state)
{
    (void)state;
    float x[256], y[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)((i * 37 + 11) % 64 - 32);
    for (int s = 0; s < 16; s++)
        x[16 * s + 3] = -32.0f; /* every sub-block reaches -32 */
    gm_block_q6_K b;
    assert_int_equal(gm_quantize_row(GM_TYPE_Q6_K, x, &b, 256), 0);
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q6_K, &b, y, 256), 0);
    for (int i = 0; i < 256; i++)
        if (fabsf(y[i] - x[i]) > 1e-3f * 32)
            fail_msg("q6_K element %d: %g, want %g", i, (double)y[i], (double)x[i]);
}

/* Q8_K: d = max / -127 (signed), bsums are sums of each 16 quants. */
static void test_quant_q8_K_known(void **state)
{
    (void)state;
    tq_rng r = {12345};
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = tq_gauss(&r);
    x[100] = -9.0f;
    x[300] = 5.0f;
    x[301] = -5.0f;
    gm_block_q8_K b[2];
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_K, x, b, 512), 0);
    assert_true(b[0].d == 1.0f / (-127.0f / -9.0f));
    assert_int_equal(b[0].qs[100], -127);
    for (int k = 0; k < 2; k++)
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++)
                s += b[k].qs[16 * g + i];
            assert_int_equal(b[k].bsums[g], s);
        }
    /* first element of largest magnitude wins: 5.0 at 300 -> d = -5/127,
     * and that element becomes -127 */
    assert_true(b[1].d == 1.0f / (-127.0f / 5.0f));
    assert_int_equal(b[1].qs[300 - 256], -127);
    assert_int_equal(b[1].qs[301 - 256], 127);
}

/* ---- round trips ------------------------------------------------------------ */

static void test_round_trip_all_types(void **state)
{
    (void)state;
    enum { N = 8192 };
    float *x = malloc(N * sizeof(float));
    float *y = malloc(N * sizeof(float));
    void *q = malloc(N * 4);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(q);
    tq_rng r = {0xC0FFEEull};
    for (int i = 0; i < N; i++)
        x[i] = tq_gauss(&r) * ((i / 256) % 3 == 0 ? 0.02f : 1.5f);
    for (size_t t = 0; t < TQ_NFMT; t++) {
        const tq_fmt *f = &tq_formats[t];
        memset(y, 0, N * sizeof(float));
        assert_int_equal(gm_quantize_row(f->type, x, q, N), 0);
        assert_int_equal(gm_dequantize_row(f->type, q, y, N), 0);
        /* per 256-element stretch: relative RMSE against the stretch's RMS */
        double worst = 0;
        for (int s = 0; s < N / 256; s++) {
            double se = 0, ss = 0;
            for (int i = 256 * s; i < 256 * (s + 1); i++) {
                double d = (double)y[i] - (double)x[i];
                se += d * d;
                ss += (double)x[i] * x[i];
            }
            double rel = sqrt(se / ss);
            if (rel > worst)
                worst = rel;
        }
        if (f->type == GM_TYPE_F32)
            assert_memory_equal(x, y, N * sizeof(float));
        print_message("# %s: worst relative RMSE %.5f (bound %.4f)\n", f->name, worst,
                      f->max_rel_rmse);
        if (worst > f->max_rel_rmse)
            fail_msg("%s: relative RMSE %g above %g", f->name, worst, f->max_rel_rmse);
    }
    free(x);
    free(y);
    free(q);
}

/* Bounds on the single worst element for the symmetric formats: at most
 * half a step (a full step for Q4_0/Q5_0, whose grid is asymmetric) plus
 * the fp16 rounding of the scale; scales kept in fp16's normal range. */
static void test_max_error_symmetric_blocks(void **state)
{
    (void)state;
    tq_rng r = {77};
    float x[32], y[32];
    for (int it = 0; it < 2000; it++) {
        float scale = expf(tq_uniform(&r) * 11.0f - 3.0f);
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            x[j] = tq_gauss(&r) * scale;
            amax = fmaxf(amax, fabsf(x[j]));
        }
        gm_block_q8_0 b8;
        gm_quantize_row(GM_TYPE_Q8_0, x, &b8, 32);
        gm_dequantize_row(GM_TYPE_Q8_0, &b8, y, 32);
        for (int j = 0; j < 32; j++)
            assert_true(fabsf(y[j] - x[j]) <= amax / 127.0f * 0.5f + amax * 1.0e-3f);
        gm_block_q4_0 b4;
        gm_quantize_row(GM_TYPE_Q4_0, x, &b4, 32);
        gm_dequantize_row(GM_TYPE_Q4_0, &b4, y, 32);
        for (int j = 0; j < 32; j++)
            assert_true(fabsf(y[j] - x[j]) <= amax / 8.0f * 1.0f + amax * 1.0e-3f);
        gm_block_q5_0 b5;
        gm_quantize_row(GM_TYPE_Q5_0, x, &b5, 32);
        gm_dequantize_row(GM_TYPE_Q5_0, &b5, y, 32);
        for (int j = 0; j < 32; j++)
            assert_true(fabsf(y[j] - x[j]) <= amax / 16.0f * 1.0f + amax * 1.0e-3f);
    }
}

/* All-zero input: every format gives blocks that decode to exact zeros. */
static void test_zero_rows(void **state)
{
    (void)state;
    float x[512] = {0}, y[512];
    uint8_t q[512 * 4];
    for (size_t t = 0; t < TQ_NFMT; t++) {
        memset(y, 0xAB, sizeof y);
        assert_int_equal(gm_quantize_row(tq_formats[t].type, x, q, 512), 0);
        assert_int_equal(gm_dequantize_row(tq_formats[t].type, q, y, 512), 0);
        for (int i = 0; i < 512; i++)
            assert_true(y[i] == 0.0f);
    }
    /* Q8_K zero block: d = 0 and bsums = 0 */
    gm_block_q8_K b;
    memset(&b, 0x5A, sizeof b);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_K, x, &b, 256), 0);
    assert_true(b.d == 0.0f);
    for (int g = 0; g < 16; g++)
        assert_int_equal(b.bsums[g], 0);
}

/* Constant and one-hot blocks, tiny and huge magnitudes: finite results
 * with small error (exercise the degenerate branches of the fitters). */
static void test_degenerate_blocks(void **state)
{
    (void)state;
    static const float mags[] = {1e-30f, 1e-6f, 1.0f, 3e4f, 1e30f};
    float x[256], y[256];
    uint8_t q[256 * 4];
    for (size_t m = 0; m < sizeof mags / sizeof mags[0]; m++) {
        for (int kind = 0; kind < 3; kind++) {
            for (int i = 0; i < 256; i++)
                x[i] = kind == 0   ? mags[m]
                       : kind == 1 ? (i == 77 ? -mags[m] : 0.0f)
                                   : (i % 2 ? mags[m] : -0.5f * mags[m]);
            for (size_t t = 0; t < TQ_NFMT; t++) {
                gm_type type = tq_formats[t].type;
                const char *name = tq_formats[t].name;
                assert_int_equal(gm_quantize_row(type, x, q, 256), 0);
                assert_int_equal(gm_dequantize_row(type, q, y, 256), 0);
                for (int i = 0; i < 256; i++) {
                    /* fp16 scales cannot hold 1e30 or 1e-30; only check
                     * what the format can represent */
                    if (mags[m] > 6e4f && type != GM_TYPE_F32 && type != GM_TYPE_BF16 &&
                        type != GM_TYPE_Q8_K)
                        continue;
                    if (mags[m] < 1e-4f && type != GM_TYPE_F32 && type != GM_TYPE_BF16 &&
                        type != GM_TYPE_Q8_K) {
                        assert_true(fabsf(y[i]) <= 2.0f * mags[m] + 1e-7f);
                        continue;
                    }
                    if (!(fabsf(y[i] - x[i]) <= 0.15f * mags[m]))
                        fail_msg("%s mag %g kind %d element %d: %g want %g", name, (double)mags[m],
                                 kind, i, (double)y[i], (double)x[i]);
                }
            }
        }
    }
}

/* ---- arguments and the fallback table --------------------------------------- */

static void test_bad_arguments(void **state)
{
    (void)state;
    float x[300] = {0}, y[300];
    uint8_t q[2048];
    assert_int_equal(gm_quantize_row(GM_TYPE_Q4_0, x, q, 33), -1);
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q4_0, q, y, 31), -1);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q4_K, x, q, 288), -1);
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q6_K, q, y, 128), -1);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q4_1, x, q, 32), -1);
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q2_K, q, y, 256), -1);
    assert_int_equal(gm_dequantize_row((gm_type)99, q, y, 256), -1);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_0, NULL, q, 32), -1);
    assert_int_equal(gm_dequantize_row(GM_TYPE_F16, q, NULL, 4), -1);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_0, x, q, 0), 0); /* empty row is fine */
    assert_int_equal(gm_quantize_row(GM_TYPE_F16, x, q, 3), 0);  /* any length for F16 */
}

static void test_fallback_table(void **state)
{
    (void)state;
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q4_K, 2560), GM_TYPE_Q4_K);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q4_K, 2880), GM_TYPE_Q5_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q5_K, 2880), GM_TYPE_Q5_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q6_K, 2880), GM_TYPE_Q8_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q6_K, 512), GM_TYPE_Q6_K);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q2_K, 96), GM_TYPE_Q4_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q3_K, 96), GM_TYPE_Q4_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q4_K, 100), GM_TYPE_F16);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q6_K, 48), GM_TYPE_F16);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q8_0, 100), GM_TYPE_F16);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q8_0, 96), GM_TYPE_Q8_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_Q4_0, 64), GM_TYPE_Q4_0);
    assert_int_equal(gm_quant_fallback(GM_TYPE_F32, 7), GM_TYPE_F32);
    assert_int_equal(gm_quant_fallback(GM_TYPE_BF16, 7), GM_TYPE_BF16);
    assert_int_equal(gm_quant_fallback(GM_TYPE_F16, 7), GM_TYPE_F16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_known_values),
        cmocka_unit_test(test_fp16_exhaustive_round_trip),
        cmocka_unit_test(test_fp16_rounds_to_nearest_even),
        cmocka_unit_test(test_bf16_known_values),
        cmocka_unit_test(test_bf16_exhaustive_round_trip),
        cmocka_unit_test(test_dequant_q4_0_known),
        cmocka_unit_test(test_dequant_q5_0_known),
        cmocka_unit_test(test_dequant_q8_0_known),
        cmocka_unit_test(test_dequant_q4_K_known),
        cmocka_unit_test(test_dequant_q5_K_known),
        cmocka_unit_test(test_dequant_q6_K_known),
        cmocka_unit_test(test_dequant_q8_K_known),
        cmocka_unit_test(test_quant_q4_0_exact_grid),
        cmocka_unit_test(test_quant_q8_0_known),
        cmocka_unit_test(test_quant_q6_K_exact_grid),
        cmocka_unit_test(test_quant_q8_K_known),
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_max_error_symmetric_blocks),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_degenerate_blocks),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_fallback_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
