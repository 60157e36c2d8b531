/*
 * tests/unit/test_softcap.c -- the logit soft-cap (engine/model/softcap.c):
 *  - the AVX2 code gm_softcap runs gives, bit for bit, what the scalar
 *    steps (gm_softcap_scalar, gm_tanhf) give, over floats from every
 *    binade and densely around each point where the method changes branch;
 *  - gm_tanhf gives the bits of glibc 2.36's tanhf (llama.cpp's tanh on the
 *    project's Debian 12), checked where the C library is that glibc and
 *    skipped, with the reason, elsewhere (other versions round tanhf
 *    differently by design).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "engine/cpu/cpu_path.h"
#include "engine/model/ops.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The inputs checked: every 4099th bit pattern (all binades, both signs),
 * and the 20000 floats on each side of each branch point of the method,
 * for both signs. */
static const float branch_points[] = {
    0x1p-55f,        /* tanh: below, x (1 + x) */
    0x1p-26f,        /* expm1 of 2|x|: below, the argument itself */
    0.17328679f,     /* 2|x| = ln2 / 2: reduction starts */
    0.51986039f,     /* 2|x| = 1.5 ln2: k = +-1 ends */
    0.75f,           /* k changes */
    1.0f,            /* tanh: the other formula */
    5.7f,            /* expm1: k = 23 */
    19.5f,           /* expm1: k = 56 */
    22.0f,           /* tanh: +-1 from here */
};

static size_t make_inputs(float **out)
{
    const size_t per_point = 2 * 2 * 20000;
    const size_t n_sparse = (size_t)(0x100000000ull / 4099) + 1;
    const size_t cap = n_sparse + per_point * (sizeof branch_points / sizeof branch_points[0]) + 8;
    float *x = malloc(cap * sizeof *x);
    assert_non_null(x);
    size_t n = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4099)
        x[n++] = from_bits((uint32_t)u);
    for (size_t p = 0; p < sizeof branch_points / sizeof branch_points[0]; p++) {
        const uint32_t c = to_bits(branch_points[p]);
        for (uint32_t d = 0; d < 20000; d++) {
            x[n++] = from_bits(c - 10000 + d);
            x[n++] = from_bits((c - 10000 + d) | 0x80000000u);
            x[n++] = from_bits(c + 10000 + d);
            x[n++] = from_bits((c + 10000 + d) | 0x80000000u);
        }
    }
    x[n++] = INFINITY;
    x[n++] = -INFINITY;
    x[n++] = 0.0f;
    x[n++] = -0.0f;
    *out = x;
    return n;
}

/* The same bits, NaN matching any NaN. */
static bool same(float a, float b)
{
    return (isnan(a) && isnan(b)) || to_bits(a) == to_bits(b);
}

/* gm_softcap (the path's code) against gm_softcap_scalar, caps 1 and 30,
 * arrays of odd lengths and offsets (the 8-wide loop and its tail). */
static void test_vector_matches_scalar(void **state)
{
    (void)state;
    float *x;
    const size_t n = make_inputs(&x);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    const float caps[] = {1.0f, 30.0f};
    for (size_t c = 0; c < 2; c++) {
        memcpy(a, x, n * sizeof *a);
        memcpy(b, x, n * sizeof *b);
        /* pieces of 1..37 values, so every lane position and tail occurs */
        size_t i = 0, len = 1;
        while (i < n) {
            const size_t m = n - i < len ? n - i : len;
            gm_softcap(a + i, (uint32_t)m, caps[c]);
            i += m;
            len = len % 37 + 1;
        }
        gm_softcap_scalar(b, (uint32_t)n, caps[c]);
        size_t bad = 0;
        for (i = 0; i < n; i++)
            if (!same(a[i], b[i]) && bad++ < 5)
                fprintf(stderr, "cap %g: x %a: path %s gives %a, scalar %a\n", caps[c], x[i],
                        gm_cpu_path_name(), a[i], b[i]);
        assert_int_equal(bad, 0);
    }
    free(a);
    free(b);
    free(x);
}

/* gm_tanhf against the C library's tanhf where that is glibc 2.36. */
static void test_tanhf_matches_glibc_2_36(void **state)
{
    (void)state;
#ifdef __GLIBC__
    const char *version = gnu_get_libc_version();
#else
    const char *version = "not glibc";
#endif
    if (strcmp(version, "2.36") != 0) {
        fprintf(stderr, "# SKIP the C library is %s, not glibc 2.36: its tanhf may round "
                        "differently\n", version);
        skip();
    }
    float *x;
    const size_t n = make_inputs(&x);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float want = tanhf(x[i]), got = gm_tanhf(x[i]);
        if (!same(want, got) && bad++ < 5)
            fprintf(stderr, "x %a: tanhf %a, gm_tanhf %a\n", x[i], want, got);
    }
    assert_int_equal(bad, 0);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_matches_scalar),
        cmocka_unit_test(test_tanhf_matches_glibc_2_36),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
