/*
 * tests/unit/test_cuda.c -- the CUDA backend against a double-precision
 * host computation. Without a GPU (or without CUDA) the GPU cases are
 * reported as skipped, and the one case that always runs checks that the
 * backend says clearly why there is no device.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine/cuda/cuda.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float rand_unit(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

/* IEEE half from float, round to nearest even (normal range is enough here). */
static uint16_t to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t mant = u & 0x7fffff;
    if (exp <= 0)
        return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)h;
}

static float from_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t u = exp == 0 ? sign : sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int have_device(void)
{
    cm_err err;
    return gm_cuda_device_count(&err) > 0;
}

static void test_no_device_is_explained(void **state)
{
    (void)state;
    cm_err err;
    cm_err_clear(&err);
    int n = gm_cuda_device_count(&err);
    if (n > 0) {
        char desc[256];
        assert_int_equal(gm_cuda_describe(0, desc, sizeof(desc), &err), 0);
        assert_true(strlen(desc) > 0);
        print_message("# device 0: %s\n", desc);
    } else {
        assert_true(strlen(err.msg) > 0);
    }
}

static void check_matvec(gm_type type, uint64_t rows, uint64_t cols)
{
    if (!have_device())
        skip();
    float *w = malloc(rows * cols * sizeof(float));
    uint16_t *wh = malloc(rows * cols * sizeof(uint16_t));
    float *x = malloc(cols * sizeof(float));
    float *y = malloc(rows * sizeof(float));
    assert_non_null(w);
    assert_non_null(wh);
    assert_non_null(x);
    assert_non_null(y);
    for (uint64_t i = 0; i < rows * cols; i++) {
        w[i] = rand_unit();
        wh[i] = to_half(w[i]);
        if (type == GM_TYPE_F16)
            w[i] = from_half(wh[i]);
    }
    for (uint64_t c = 0; c < cols; c++)
        x[c] = rand_unit();
    cm_err err;
    const void *wdata = type == GM_TYPE_F16 ? (const void *)wh : (const void *)w;
    assert_int_equal(gm_cuda_matvec(0, type, wdata, rows, cols, x, y, &err), 0);
    for (uint64_t r = 0; r < rows; r++) {
        double ref = 0, mag = 0;
        for (uint64_t c = 0; c < cols; c++) {
            ref += (double)w[r * cols + c] * x[c];
            mag += fabs((double)w[r * cols + c] * x[c]);
        }
        assert_true(fabs(y[r] - ref) <= 1e-5 * mag + 1e-6);
    }
    free(w);
    free(wh);
    free(x);
    free(y);
}

static void test_matvec_f32(void **state)
{
    (void)state;
    check_matvec(GM_TYPE_F32, 300, 1000);
}

static void test_matvec_f16(void **state)
{
    (void)state;
    check_matvec(GM_TYPE_F16, 257, 2048);
}

static void test_matvec_rejects_bad_input(void **state)
{
    (void)state;
    if (!have_device())
        skip();
    float x = 1, y = 0, w = 1;
    cm_err err;
    assert_int_equal(gm_cuda_matvec(0, GM_TYPE_Q8_0, &w, 1, 32, &x, &y, &err), -1);
    assert_non_null(strstr(err.msg, "not supported"));
    assert_int_equal(gm_cuda_matvec(0, GM_TYPE_F32, &w, 0, 1, &x, &y, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_device_is_explained),
        cmocka_unit_test(test_matvec_f32),
        cmocka_unit_test(test_matvec_f16),
        cmocka_unit_test(test_matvec_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("cuda", tests, NULL, NULL);
}
