/*
 * tests/unit/test_act_convert.c -- unit tests for engine/cpu/act_convert.c:
 * the AVX2 Q8_K activation quantizer writes exactly the bytes of the
 * reference (gm_quantize_row to Q8_K), and the AVX2 Q8_0 one those of the
 * plain C gm_act_q8_0, on random blocks of many scales, on blocks whose
 * largest magnitude appears with both signs (Q8_K: the first one wins),
 * at the last element, on all-zero blocks, blocks with NaN, infinities,
 * huge and subnormal values, and on values that round half to even; F16
 * and BF16 with AVX2 give the bits of gm_fp32_to_fp16 / gm_fp32_to_bf16
 * on random bit patterns and the rounding, overflow and NaN edges; and
 * gm_act_convert gives those bytes on the process's CPU path. Without
 * AVX2 the AVX2 cases are skipped with the reason printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/act_convert.h"
#include "engine/cpu/kernels.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

#define TA_BLOCKS 8
#define TA_N (256 * TA_BLOCKS)

static uint64_t ta_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A uniform value in [-scale, scale). */
static float ta_uniform(uint64_t *s, float scale)
{
    return ((float)(ta_next(s) >> 40) / (float)(1u << 24) * 2.0f - 1.0f) * scale;
}

/* The AVX2 quantizers and the plain C ones agree byte for byte on x. */
static void ta_check(const float *x, const char *what)
{
    gm_block_q8_0 got0[TA_N / 32], want0[TA_N / 32];
    memset(got0, 0xA5, sizeof got0);
    memset(want0, 0x5A, sizeof want0);
    gm_act_q8_0_avx2(x, got0, TA_N / 32);
    gm_act_q8_0(x, want0, TA_N / 32);
    for (int b = 0; b < TA_N / 32; b++) {
        if (memcmp(&got0[b], &want0[b], sizeof got0[b]) != 0) {
            fprintf(stderr, "%s: q8_0 block %d differs (d %04x vs %04x)\n", what, b,
                    (unsigned)got0[b].d, (unsigned)want0[b].d);
            fail();
        }
    }

    gm_block_q8_K got[TA_BLOCKS], want[TA_BLOCKS];
    memset(got, 0xA5, sizeof got);
    memset(want, 0x5A, sizeof want);
    gm_act_q8_K_avx2(x, got, TA_BLOCKS);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_K, x, want, TA_N), 0);
    for (int b = 0; b < TA_BLOCKS; b++) {
        if (memcmp(&got[b], &want[b], sizeof got[b]) != 0) {
            fprintf(stderr, "%s: q8_K block %d differs (d %a vs %a)\n", what, b, (double)got[b].d,
                    (double)want[b].d);
            fail();
        }
    }
}

static int ta_skip_without_avx2(void)
{
    if (gm_act_avx2_supported())
        return 0;
    fprintf(stderr, "skipped: this CPU has no AVX2\n");
    return 1;
}

static void test_random_blocks(void **state)
{
    (void)state;
    if (ta_skip_without_avx2())
        skip();
    uint64_t s = 0x9E3779B97F4A7C15u;
    float *x = malloc(TA_N * sizeof *x);
    assert_non_null(x);
    for (int round = 0; round < 400; round++) {
        /* blocks of scales from 1e-30 to 1e30, some with one outlier */
        for (int b = 0; b < TA_BLOCKS; b++) {
            const float scale = powf(10.0f, (float)((int)(ta_next(&s) % 61) - 30));
            for (int j = 0; j < 256; j++)
                x[256 * b + j] = ta_uniform(&s, scale);
            if (ta_next(&s) % 3 == 0)
                x[256 * b + (int)(ta_next(&s) % 256)] = ta_uniform(&s, 40.0f * scale);
        }
        ta_check(x, "random");
    }
    free(x);
}

static void test_special_blocks(void **state)
{
    (void)state;
    if (ta_skip_without_avx2())
        skip();
    float *x = calloc(TA_N, sizeof *x);
    assert_non_null(x);
    uint64_t s = 42;
    for (int j = 0; j < TA_N; j++)
        x[j] = ta_uniform(&s, 1.0f);
    /* block 0: the largest magnitude with both signs, the negative first */
    x[10] = -3.0f;
    x[200] = 3.0f;
    /* block 1: the positive first */
    x[256 + 7] = 5.0f;
    x[256 + 100] = -5.0f;
    /* block 2: all zero, with negative zeros */
    for (int j = 0; j < 256; j++)
        x[512 + j] = j % 2 ? -0.0f : 0.0f;
    /* block 3: NaNs among ordinary values, one of them first */
    x[768] = NAN;
    x[768 + 77] = -NAN;
    /* block 4: an infinity; block 5: both infinities and a NaN */
    x[1024 + 30] = INFINITY;
    x[1280 + 3] = -INFINITY;
    x[1280 + 9] = INFINITY;
    x[1280 + 11] = NAN;
    /* block 6: the maximum at the last element, huge values */
    for (int j = 0; j < 256; j++)
        x[1536 + j] = ta_uniform(&s, 1e37f);
    x[1536 + 255] = -3e38f;
    /* block 7 (and its Q8_0 blocks): subnormals only, the smallest
     * ones too (127 / amax is then infinite) */
    for (int j = 0; j < 256; j++)
        x[1792 + j] = ta_uniform(&s, 1e-39f);
    for (int j = 1792 + 32; j < 1792 + 64; j++) /* one Q8_0 block of just those */
        x[j] = 0.0f;
    x[1792 + 40] = 1e-45f;
    x[1792 + 41] = -1e-45f;
    ta_check(x, "special");

    /* values that land on k + 0.5 after scaling (max 127: iscale -1) */
    for (int b = 0; b < TA_BLOCKS; b++) {
        x[256 * b] = -127.0f;
        for (int j = 1; j < 256; j++)
            x[256 * b + j] = (float)((j % 255) - 127) + 0.5f * (float)(j % 2);
    }
    ta_check(x, "halves");

    /* NaN only (the largest magnitude is then 0: a zero block) */
    for (int j = 0; j < 256; j++)
        x[j] = NAN;
    ta_check(x, "nan block");
    free(x);
}

static void test_act_convert_matches_reference(void **state)
{
    (void)state;
    float *x = malloc(TA_N * sizeof *x);
    assert_non_null(x);
    uint64_t s = 7;
    for (int j = 0; j < TA_N; j++)
        x[j] = ta_uniform(&s, 3.0f);
    gm_block_q8_K got[TA_BLOCKS], want[TA_BLOCKS];
    assert_int_equal(gm_act_bytes(GM_TYPE_Q4_K, TA_N), sizeof got);
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_K, x, got, TA_N), 0);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_K, x, want, TA_N), 0);
    assert_memory_equal(got, want, sizeof got);
    assert_int_equal(gm_act_convert(GM_TYPE_Q6_K, x, got, TA_N), 0);
    assert_memory_equal(got, want, sizeof got);
    assert_int_equal(gm_act_convert(GM_TYPE_Q6_K, x, got, 100), -1);
    gm_block_q8_0 got0[TA_N / 32], want0[TA_N / 32];
    x[40] = NAN; /* one block through the plain C form */
    assert_int_equal(gm_act_convert(GM_TYPE_Q8_0, x, got0, TA_N), 0);
    gm_act_q8_0(x, want0, TA_N / 32);
    assert_memory_equal(got0, want0, sizeof got0);
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_0, x, got0, TA_N), 0);
    assert_memory_equal(got0, want0, sizeof got0);
    free(x);
}

/* F16 and BF16 with AVX2 against the element conversions, over random
 * bit patterns (every exponent, NaN payloads included), the rounding and
 * overflow boundaries, and lengths that leave tails. */
static void test_half_conversions(void **state)
{
    (void)state;
    if (ta_skip_without_avx2())
        skip();
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x);
    uint16_t *got = malloc((N + 1) * sizeof *got); /* one more: no write past n */
    assert_non_null(x);
    assert_non_null(got);
    static const uint32_t edges[] = {
        0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u,
        0x7f800001u, 0x7fffffffu, 0xffa5a5a5u, 0x477fe000u, /* 65504 */
        0x477fefffu, 0x477ff000u, /* just under and at 65520: rounds to inf */
        0x33800000u, 0x33000000u, 0x33000001u, 0x337fffffu, /* 2^-24, 2^-25 (tie) */
        0x38800000u, 0x387fe000u, 0x387ff000u, /* smallest normal, subnormal ties */
        0x3f801000u, 0x3f803000u, 0x3f808000u, 0x3f818000u, /* F16 / BF16 ties */
        0x7f7fffffu, 0x00000001u, 0x807fffffu};
    uint64_t s = 99;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < N; i++) {
            uint32_t u = (uint32_t)ta_next(&s);
            if (i % 5 == 0) /* many near the F16 range */
                u = (u & 0x83ffffffu) | ((uint32_t)(100 + ta_next(&s) % 60) << 23);
            if (i < (int)(sizeof edges / sizeof edges[0]))
                u = edges[(i + round) % (sizeof edges / sizeof edges[0])];
            memcpy(&x[i], &u, sizeof u);
        }
        for (int n = N; n >= N - 17; n -= 17) {
            memset(got, 0xA5, (N + 1) * sizeof *got);
            gm_act_f16_avx2(x, got, (uint64_t)n);
            for (int i = 0; i < n; i++)
                if (got[i] != gm_fp32_to_fp16(x[i])) {
                    fprintf(stderr, "f16: %a -> %04x, C form %04x\n", (double)x[i],
                            (unsigned)got[i], (unsigned)gm_fp32_to_fp16(x[i]));
                    fail();
                }
            assert_int_equal(got[n], 0xA5A5);
            memset(got, 0xA5, (N + 1) * sizeof *got);
            gm_act_bf16_avx2(x, got, (uint64_t)n);
            for (int i = 0; i < n; i++)
                if (got[i] != gm_fp32_to_bf16(x[i])) {
                    fprintf(stderr, "bf16: %a -> %04x, C form %04x\n", (double)x[i],
                            (unsigned)got[i], (unsigned)gm_fp32_to_bf16(x[i]));
                    fail();
                }
            assert_int_equal(got[n], 0xA5A5);
        }
    }
    /* gm_act_convert on this path gives the same bytes */
    uint16_t *want = malloc(N * sizeof *want);
    assert_non_null(want);
    assert_int_equal(gm_act_convert(GM_TYPE_F16, x, got, N), 0);
    assert_int_equal(gm_quantize_row(GM_TYPE_F16, x, want, N), 0);
    assert_memory_equal(got, want, N * sizeof *got);
    assert_int_equal(gm_act_convert(GM_TYPE_BF16, x, got, N), 0);
    assert_int_equal(gm_quantize_row(GM_TYPE_BF16, x, want, N), 0);
    assert_memory_equal(got, want, N * sizeof *got);
    free(want);
    free(got);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_blocks),
        cmocka_unit_test(test_special_blocks),
        cmocka_unit_test(test_act_convert_matches_reference),
        cmocka_unit_test(test_half_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
