/*
 * tests/unit/test_attn_dot.c -- the inner loops of attention
 * (engine/model/attn_dot.h) give, bit for bit, the rounding attn_dot.c
 * documents: a score summed in 8 lanes then ((0+1)+(2+3))+((4+5)+(6+7))
 * then the tail; a weighted-sum element summed from zero in key order.
 * Checked for the code the CPU path runs (AVX2 where the CPU has it) and
 * the portable code, for several query heads at once, head sizes with and
 * without a multiple of 8, 16 or 64 (tails), and key counts around the
 * blocks of 2 and 4 keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model/attn_dot.h"

enum { MAX_D = 520, MAX_K = 13, MAX_Q = 9, STRIDE = 17 };

static float score_ref(const float *q, const float *k, uint32_t d)
{
    float lane[8] = {0};
    uint32_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int l = 0; l < 8; l++) {
            const float prod = q[i + l] * k[i + l];
            lane[l] = lane[l] + prod;
        }
    float sum = ((lane[0] + lane[1]) + (lane[2] + lane[3]))
                + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < d; i++) {
        const float prod = q[i] * k[i];
        sum = sum + prod;
    }
    return sum;
}

static float wsum_ref(const float *const *v, const float *p, uint32_t nk, uint32_t c)
{
    float a = 0.0f;
    for (uint32_t j = 0; j < nk; j++) {
        const float prod = p[j] * v[j][c];
        a = a + prod;
    }
    return a;
}

static float rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 8388608.0f - 1.0f;
}

/* n_q heads at once (the AVX2 code's blocks of four heads and the rest),
 * head sizes with and without a multiple of 8, 16 or 64, key counts
 * around the blocks of 2 and 4 keys. */
static void check(bool portable)
{
    static float q[MAX_Q * MAX_D], rows[MAX_K][MAX_D + 3], p[MAX_Q * STRIDE];
    static float got[MAX_Q * STRIDE], out[MAX_Q * MAX_D];
    const float *k[MAX_K];
    uint32_t seed = 3;
    const uint32_t dims[] = {1, 7, 8, 9, 16, 31, 64, 65, 72, 100, 256, 263, 512, 520};
    const uint32_t heads[] = {1, 2, 3, 4, 5, 8, 9};
    for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
        const uint32_t d = dims[di];
        for (size_t hi = 0; hi < sizeof(heads) / sizeof(heads[0]); hi++) {
            const uint32_t n_q = heads[hi];
            for (uint32_t nk = 1; nk <= MAX_K; nk++) {
                for (uint32_t i = 0; i < n_q * d; i++)
                    q[i] = rnd(&seed) * 3.0f;
                for (uint32_t j = 0; j < nk; j++) {
                    /* rows at odd offsets: no alignment assumed */
                    k[j] = rows[j] + (j % 3);
                    for (uint32_t i = 0; i < d; i++)
                        rows[j][i + (j % 3)] = rnd(&seed);
                }
                for (uint32_t h = 0; h < n_q; h++)
                    for (uint32_t j = 0; j < nk; j++)
                        p[h * STRIDE + j] = (rnd(&seed) + 1.0f) / (float)nk;
                const char *how = portable ? "portable" : "dispatched";
                if (portable)
                    gm_attn_scores_portable(q, n_q, k, nk, d, got, STRIDE);
                else
                    gm_attn_scores(q, n_q, k, nk, d, got, STRIDE);
                for (uint32_t h = 0; h < n_q; h++)
                    for (uint32_t j = 0; j < nk; j++) {
                        const float want = score_ref(q + h * d, k[j], d);
                        if (memcmp(&got[h * STRIDE + j], &want, sizeof(float)) != 0)
                            fail_msg("%s scores d=%u heads=%u nk=%u head %u key %u: %a, want %a",
                                     how, d, n_q, nk, h, j, (double)got[h * STRIDE + j],
                                     (double)want);
                    }
                if (portable)
                    gm_attn_weighted_sum_portable(k, p, STRIDE, n_q, nk, d, out);
                else
                    gm_attn_weighted_sum(k, p, STRIDE, n_q, nk, d, out);
                for (uint32_t h = 0; h < n_q; h++)
                    for (uint32_t c = 0; c < d; c++) {
                        const float want = wsum_ref(k, p + h * STRIDE, nk, c);
                        if (memcmp(&out[h * d + c], &want, sizeof(float)) != 0)
                            fail_msg("%s weighted sum d=%u heads=%u nk=%u head %u element %u: "
                                     "%a, want %a",
                                     how, d, n_q, nk, h, c, (double)out[h * d + c],
                                     (double)want);
                    }
            }
        }
    }
}

static void test_dispatched(void **state)
{
    (void)state;
    check(false);
}

static void test_portable(void **state)
{
    (void)state;
    check(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatched),
        cmocka_unit_test(test_portable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
