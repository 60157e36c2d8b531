/*
 * tests/unit/test_attn_dot.c -- the inner loops of attention
 * (engine/model/attn_dot.h) give, bit for bit, the rounding attn_dot.c
 * documents: a score summed in 8 lanes then ((0+1)+(2+3))+((4+5)+(6+7))
 * then the tail; a weighted-sum element summed from zero in key order.
 * Checked for the code the CPU path runs (AVX2 where the CPU has it) and
 * the portable code, for head sizes with and without a multiple of 8 or
 * 64 (tails), and key counts around the blocks of 2 and 4 keys.
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

enum { MAX_D = 520, MAX_K = 13 };

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

static void check(bool portable)
{
    static float q[MAX_D], rows[MAX_K][MAX_D + 3], p[MAX_K], got[MAX_D], want[MAX_D];
    const float *k[MAX_K];
    uint32_t seed = 3;
    const uint32_t dims[] = {1, 7, 8, 9, 31, 64, 65, 72, 100, 256, 263, 512, 520};
    for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
        const uint32_t d = dims[di];
        for (uint32_t nk = 1; nk <= MAX_K; nk++) {
            for (uint32_t i = 0; i < d; i++)
                q[i] = rnd(&seed) * 3.0f;
            for (uint32_t j = 0; j < nk; j++) {
                /* rows at odd offsets: no alignment assumed */
                k[j] = rows[j] + (j % 3);
                for (uint32_t i = 0; i < d; i++)
                    rows[j][i + (j % 3)] = rnd(&seed);
                p[j] = (rnd(&seed) + 1.0f) / (float)nk;
            }
            if (portable)
                gm_attn_scores_portable(q, k, nk, d, got);
            else
                gm_attn_scores(q, k, nk, d, got);
            for (uint32_t j = 0; j < nk; j++) {
                want[j] = score_ref(q, k[j], d);
                if (memcmp(&got[j], &want[j], sizeof(float)) != 0)
                    fail_msg("%s scores d=%u nk=%u key %u: %a, want %a",
                             portable ? "portable" : "dispatched", d, nk, j, (double)got[j],
                             (double)want[j]);
            }
            if (portable)
                gm_attn_weighted_sum_portable(k, p, nk, d, got);
            else
                gm_attn_weighted_sum(k, p, nk, d, got);
            for (uint32_t c = 0; c < d; c++) {
                want[c] = wsum_ref(k, p, nk, c);
                if (memcmp(&got[c], &want[c], sizeof(float)) != 0)
                    fail_msg("%s weighted sum d=%u nk=%u element %u: %a, want %a",
                             portable ? "portable" : "dispatched", d, nk, c, (double)got[c],
                             (double)want[c]);
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
