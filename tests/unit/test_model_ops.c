/*
 * tests/unit/test_model_ops.c -- the elementwise ops of the forward pass
 * (engine/model/ops.h) against direct formulas: RMS norm, NEOX RoPE,
 * softmax, GELU (ggml's fp16 table and the exact form), soft-cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model/ops.h"
#include "engine/quant/quant.h"

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_rmsnorm(void **state)
{
    (void)state;
    enum { N = 256 };
    float x[N], w[N], y[N], y2[N];
    uint32_t seed = 1;
    for (int i = 0; i < N; i++) {
        x[i] = 3.0f * frand(&seed);
        w[i] = 1.0f + frand(&seed);
    }
    const float eps = 1e-6f;
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (double)x[i] * x[i];
    const double scale = 1.0 / sqrt(ss / N + eps);
    gm_rmsnorm(x, w, N, eps, y);
    gm_rmsnorm(x, NULL, N, eps, y2);
    double mean_sq = 0;
    for (int i = 0; i < N; i++) {
        assert_float_equal(y[i], x[i] * scale * w[i], 1e-5 * (1 + fabs(x[i] * scale * w[i])));
        assert_float_equal(y2[i], x[i] * scale, 1e-5);
        mean_sq += (double)y2[i] * y2[i];
    }
    assert_float_equal(mean_sq / N, 1.0, 1e-4);
    /* in place gives the same */
    memcpy(y2, x, sizeof(x));
    gm_rmsnorm(y2, w, N, eps, y2);
    assert_memory_equal(y, y2, sizeof(y));
    /* a zero vector stays finite (eps) */
    memset(x, 0, sizeof(x));
    gm_rmsnorm(x, w, N, eps, y);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == 0.0f);
}

/* Direct NEOX rope: pair i is (v[i], v[i + n/2]), angle p * base^(-2i/n) / ff[i]. */
static void rope_direct(const float *in, float *out, uint32_t d, uint32_t n, uint32_t p,
                        double base, const float *ff)
{
    memcpy(out, in, d * sizeof(float));
    for (uint32_t i = 0; i < n / 2; i++) {
        double th = p * pow(base, -2.0 * i / n) / (ff ? ff[i] : 1.0);
        double a = in[i], b = in[i + n / 2];
        out[i] = (float)(a * cos(th) - b * sin(th));
        out[i + n / 2] = (float)(a * sin(th) + b * cos(th));
    }
}

static void test_rope(void **state)
{
    (void)state;
    enum { D = 64 };
    float v[D], ref[D], got[D], cs[D];
    float ff[D / 2];
    uint32_t seed = 7;
    for (int i = 0; i < D; i++)
        v[i] = frand(&seed);
    for (int i = 0; i < D / 2; i++)
        ff[i] = i < 8 ? 1.0f : 1e30f; /* proportional rope: only 8 pairs turn */
    const uint32_t positions[] = {0, 1, 7, 100};
    const uint32_t rots[] = {64, 32};
    for (size_t r = 0; r < 2; r++)
        for (size_t k = 0; k < 4; k++)
            for (int use_ff = 0; use_ff < 2; use_ff++) {
                const uint32_t n = rots[r], p = positions[k];
                const float *f = use_ff ? ff : NULL;
                rope_direct(v, ref, D, n, p, 10000.0, f);
                memcpy(got, v, sizeof(v));
                gm_rope_cache(p, n, 10000.0f, f, cs);
                gm_rope_apply(got, n, cs);
                for (int i = 0; i < D; i++)
                    assert_float_equal(got[i], ref[i], 2e-5 * (1 + p / 10.0));
                for (uint32_t i = n; i < D; i++) /* dims past n_rot untouched */
                    assert_true(got[i] == v[i]);
                if (use_ff)
                    for (int i = 8; i < 32 && i < (int)n / 2; i++) /* ff 1e30: no rotation */
                        assert_float_equal(got[i], v[i], 1e-6);
            }
    /* position 0 is the identity */
    memcpy(got, v, sizeof(v));
    gm_rope_cache(0, D, 1e6f, NULL, cs);
    gm_rope_apply(got, D, cs);
    assert_memory_equal(got, v, sizeof(v));
}

static void test_softmax(void **state)
{
    (void)state;
    float x[5] = {1.0f, 2.0f, -INFINITY, 0.5f, 2.0f};
    gm_softmax(x, 5);
    double z = exp(-1.0) + 1 + exp(-1.5) + 1;
    assert_float_equal(x[0], exp(-1.0) / z, 1e-6);
    assert_float_equal(x[1], 1 / z, 1e-6);
    assert_true(x[2] == 0.0f);
    assert_float_equal(x[3], exp(-1.5) / z, 1e-6);
    assert_float_equal(x[1], x[4], 0);
    double sum = 0;
    for (int i = 0; i < 5; i++)
        sum += x[i];
    assert_float_equal(sum, 1.0, 1e-6);
    /* large values do not overflow */
    float big[3] = {1000.0f, 999.0f, 1000.0f};
    gm_softmax(big, 3);
    assert_float_equal(big[0], 1.0 / (2 + exp(-1.0)), 1e-6);
}

static double gelu_ref(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

static void test_gelu(void **state)
{
    (void)state;
    uint16_t *table = malloc(65536 * sizeof(*table));
    assert_non_null(table);
    gm_gelu_table_init(table);
    for (float x = -12.0f; x <= 12.0f; x += 0.0371f) {
        const double r = gelu_ref(x);
        /* exact form */
        assert_float_equal(gm_gelu(NULL, x), r, 1e-6 * (1 + fabs(r)));
        /* table: the fp16 GELU of fp16(x), as ggml */
        const float t = gm_gelu(table, x);
        if (x <= -10.0f)
            assert_true(t == 0.0f);
        else if (x >= 10.0f)
            assert_true(t == x);
        else {
            const float xh = gm_fp16_to_fp32(gm_fp32_to_fp16(x));
            assert_float_equal(t, gelu_ref(xh), 2e-3 * fabs(gelu_ref(xh)) + 1e-6);
            assert_true(gm_fp32_to_fp16(t) == table[gm_fp32_to_fp16(x)]);
        }
    }
    assert_true(gm_gelu(table, 0.0f) == 0.0f);
    /* geglu = gelu(gate) * up */
    float g[3] = {-1.0f, 0.5f, 11.0f}, u[3] = {2.0f, -3.0f, 0.5f}, o[3];
    gm_geglu(table, g, u, 3, o);
    for (int i = 0; i < 3; i++)
        assert_true(o[i] == gm_gelu(table, g[i]) * u[i]);
    free(table);
}

/* gm_geglu on long arrays (the 8-wide F16C loop where the CPU path has
 * it, and its tail) gives, value for value, the bits of gm_gelu(table, g)
 * * u: every fp16 number as a gate, values between fp16 numbers (rounding
 * ties included), the +-10 limits, and huge, tiny and subnormal values. */
static void test_geglu_every_half(void **state)
{
    (void)state;
    uint16_t *table = malloc(65536 * sizeof(*table));
    const uint32_t n = 3 * 65536 + 13;
    float *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    float *o = malloc(n * sizeof(float));
    assert_non_null(table);
    assert_non_null(g);
    assert_non_null(u);
    assert_non_null(o);
    gm_gelu_table_init(table);
    uint32_t seed = 99;
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        const float r = (float)(seed >> 8) / 16777216.0f;
        if (i < 65536) {
            g[i] = gm_fp16_to_fp32((uint16_t)i); /* every fp16 number */
        } else if (i < 2 * 65536) {
            /* halfway between this fp16 number and the next: a tie */
            const float a = gm_fp16_to_fp32((uint16_t)(i - 65536));
            const float b = gm_fp16_to_fp32((uint16_t)(i - 65536 + 1));
            g[i] = a + (b - a) * 0.5f;
        } else {
            const float span[] = {1e-7f, 0.01f, 1.0f, 9.99f, 10.0f, 10.01f, 1e5f, 1e30f};
            g[i] = (2.0f * r - 1.0f) * span[i % 8];
        }
        u[i] = 4.0f * r - 2.0f;
    }
    gm_geglu(table, g, u, n, o);
    for (uint32_t i = 0; i < n; i++) {
        if (isnan(g[i])) /* only a NaN payload may differ */
            continue;
        const float want = gm_gelu(table, g[i]) * u[i];
        if (memcmp(&want, &o[i], sizeof(float)) != 0)
            fail_msg("geglu of gate %a, up %a: %a, want %a", (double)g[i], (double)u[i],
                     (double)o[i], (double)want);
    }
    free(table);
    free(g);
    free(u);
    free(o);
}

static void test_softcap(void **state)
{
    (void)state;
    float x[4] = {0.0f, 10.0f, -100.0f, 1e6f};
    gm_softcap(x, 4, 30.0f);
    assert_true(x[0] == 0.0f);
    assert_float_equal(x[1], 30.0 * tanh(10.0 / 30.0), 1e-5);
    assert_float_equal(x[2], 30.0 * tanh(-100.0 / 30.0), 1e-5);
    assert_float_equal(x[3], 30.0, 1e-5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm), cmocka_unit_test(test_rope),
        cmocka_unit_test(test_softmax), cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_softcap), cmocka_unit_test(test_geglu_every_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
