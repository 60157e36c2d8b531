/*
 * tests/unit/test_attn_split.c -- the attention of a decode step shared
 * out among threads by keys and output columns (engine/model/attn_split.h)
 * gives, bit for bit, the plain per-head computation: scores summed in 8
 * lanes then ((0+1)+(2+3))+((4+5)+(6+7)) then the tail, gm_softmax over
 * all keys, each output element a running sum from zero in key order
 * (engine/model/attn_dot.c).
 *
 * Over group sizes 1 to 9 (the kernels' blocks of 8, 4 and 1 heads), head
 * sizes 64, 256, 512 and ones not a multiple of 16 or 8, key counts 1 to
 * 700 (around the runs of keys and the blocks of the kernels), one to
 * three tasks at once, on pools of 1, 2 and 3 threads; also the unsplit
 * calls (gm_attn_scores, gm_attn_weighted_sum) and the column blocks of
 * gm_attn_weighted_sum_cols. Run on the CPU's best path here, and on the
 * AVX2 and scalar paths by attn_split_avx2.sh and attn_split_scalar.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/pool.h"
#include "engine/model/attn_dot.h"
#include "engine/model/attn_split.h"
#include "engine/model/ops.h"

enum { MAX_D = 520, MAX_K = 700, MAX_Q = 9, MAX_TASKS = 3, STRIDE = 701 };

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

/* The plain computation of one task: scores, softmax, weighted sum. */
static void attend_ref(const float *q, uint32_t n_q, const float *const *k,
                       const float *const *v, uint32_t nk, uint32_t d, float *p, float *out)
{
    for (uint32_t h = 0; h < n_q; h++) {
        float *ph = p + (size_t)h * STRIDE;
        for (uint32_t j = 0; j < nk; j++)
            ph[j] = score_ref(q + (size_t)h * d, k[j], d);
        gm_softmax(ph, nk);
        for (uint32_t c = 0; c < d; c++) {
            float a = 0.0f;
            for (uint32_t j = 0; j < nk; j++) {
                const float prod = ph[j] * v[j][c];
                a = a + prod;
            }
            out[(size_t)h * d + c] = a;
        }
    }
}

static float rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 8388608.0f - 1.0f;
}

typedef struct data {
    float q[MAX_TASKS][MAX_Q * MAX_D];
    float rows[2][MAX_K][MAX_D + 3];
    const float *k[MAX_K], *v[MAX_K];
    float p_ref[MAX_Q * STRIDE], out_ref[MAX_TASKS][MAX_Q * MAX_D];
    float scores[MAX_TASKS][MAX_Q * STRIDE], out[MAX_TASKS][MAX_Q * MAX_D];
} data;

/* Random rows at odd offsets (no alignment assumed), in a rotated order
 * (as a ring buffer hands them out); values of several magnitudes, so
 * that another order of summation gives other bits. */
static void fill(data *x, uint32_t d, uint32_t nk, uint32_t *seed)
{
    const uint32_t rot = nk / 3;
    for (uint32_t j = 0; j < nk; j++) {
        const uint32_t r = (j + rot) % nk;
        x->k[j] = x->rows[0][r] + (r % 3);
        x->v[j] = x->rows[1][r] + (r % 2);
        const float scale = (r % 5 == 0) ? 8.0f : 1.0f;
        for (uint32_t i = 0; i < d; i++) {
            x->rows[0][r][i + (r % 3)] = rnd(seed) * scale;
            x->rows[1][r][i + (r % 2)] = rnd(seed) * scale;
        }
    }
    for (uint32_t t = 0; t < MAX_TASKS; t++)
        for (uint32_t i = 0; i < MAX_Q * d; i++)
            x->q[t][i] = rnd(seed) * 0.5f;
}

static void expect_same(const float *got, const float *want, size_t n, const char *what,
                        uint32_t threads, uint32_t n_q, uint32_t d, uint32_t nk)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
            fail_msg("%s: threads=%u heads=%u d=%u nk=%u: element %zu is %a, want %a", what,
                     threads, n_q, d, nk, i, (double)got[i], (double)want[i]);
}

static void test_split_matches_plain(void **state)
{
    (void)state;
    static data x;
    gm_pool *pools[3];
    cm_err err;
    for (uint32_t t = 0; t < 3; t++)
        assert_int_equal(gm_pool_create(t + 1, &pools[t], &err), 0);
    const uint32_t dims[] = {64, 256, 512, 72, 36, 100};
    const uint32_t groups[] = {1, 2, 4, 8, 3, 9};
    const uint32_t keys[] = {1,   2,   3,   7,   15,  16,  17,  31,  33,  63,  64,  65,
                             100, 127, 129, 255, 257, 300, 511, 512, 513, 640, 700};
    uint32_t seed = 7;
    for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
        const uint32_t d = dims[di];
        for (size_t gi = 0; gi < sizeof(groups) / sizeof(groups[0]); gi++) {
            const uint32_t n_q = groups[gi];
            for (size_t ki = 0; ki < sizeof(keys) / sizeof(keys[0]); ki++) {
                const uint32_t nk = keys[ki];
                /* the big shapes on fewer group sizes: enough for the
                 * kernels' blocks, and the test stays short */
                if (d > 100 && nk > 129 && n_q != 8 && n_q != 1 && n_q != 3)
                    continue;
                fill(&x, d, nk, &seed);
                /* task t has the first nk - 5t keys (at least one) */
                uint32_t nks[MAX_TASKS];
                for (uint32_t t = 0; t < MAX_TASKS; t++) {
                    nks[t] = nk > 5 * t ? nk - 5 * t : 1;
                    attend_ref(x.q[t], n_q, x.k, x.v, nks[t], d, x.p_ref, x.out_ref[t]);
                }
                for (uint32_t th = 0; th < 3; th++) {
                    const uint32_t n_tasks = 1 + (uint32_t)(ki + th) % MAX_TASKS;
                    gm_attn_task tasks[MAX_TASKS];
                    for (uint32_t t = 0; t < n_tasks; t++) {
                        memset(x.out[t], 0xff, sizeof(x.out[t])); /* NaN: nothing left over */
                        tasks[t] = (gm_attn_task){x.q[t], x.k, x.v, nks[t], x.scores[t],
                                                  x.out[t]};
                    }
                    gm_attn_split_run(pools[th], tasks, n_tasks, n_q, d, STRIDE);
                    for (uint32_t t = 0; t < n_tasks; t++)
                        expect_same(x.out[t], x.out_ref[t], (size_t)n_q * d, "split", th + 1,
                                    n_q, d, nks[t]);
                }
                /* the unsplit calls (the path of long steps), task 0 */
                float *sc = x.scores[0], *out = x.out[0];
                gm_attn_scores(x.q[0], n_q, x.k, nk, d, sc, STRIDE);
                for (uint32_t h = 0; h < n_q; h++)
                    gm_softmax(sc + (size_t)h * STRIDE, nk);
                gm_attn_weighted_sum(x.v, sc, STRIDE, n_q, nk, d, out);
                expect_same(out, x.out_ref[0], (size_t)n_q * d, "unsplit", 1, n_q, d, nk);
                gm_attn_weighted_sum_portable(x.v, sc, STRIDE, n_q, nk, d, out);
                expect_same(out, x.out_ref[0], (size_t)n_q * d, "portable", 1, n_q, d, nk);
                /* column blocks of odd sizes, the portable ones too */
                memset(out, 0xff, (size_t)n_q * d * sizeof(float));
                for (uint32_t c0 = 0; c0 < d; c0 += 23) {
                    const uint32_t c1 = c0 + 23 < d ? c0 + 23 : d;
                    if ((c0 / 23) % 2 == 0)
                        gm_attn_weighted_sum_cols(x.v, sc, STRIDE, n_q, nk, d, c0, c1, out);
                    else
                        gm_attn_weighted_sum_cols_portable(x.v, sc, STRIDE, n_q, nk, d, c0, c1,
                                                           out);
                }
                expect_same(out, x.out_ref[0], (size_t)n_q * d, "columns", 1, n_q, d, nk);
            }
        }
    }
    for (uint32_t t = 0; t < 3; t++)
        gm_pool_destroy(pools[t]);
}

/* Not vacuous: on these values the order of summation shows in the bits
 * (a sum over the keys backwards differs somewhere), so a split that
 * reordered the keys would fail above. */
static void test_order_shows(void **state)
{
    (void)state;
    static data x;
    uint32_t seed = 9;
    const uint32_t d = 256, nk = 512, n_q = 8;
    fill(&x, d, nk, &seed);
    attend_ref(x.q[0], n_q, x.k, x.v, nk, d, x.p_ref, x.out_ref[0]);
    size_t differ = 0;
    for (uint32_t h = 0; h < n_q; h++)
        for (uint32_t c = 0; c < d; c++) {
            float a = 0.0f;
            for (uint32_t j = nk; j-- > 0;)
                a += x.p_ref[(size_t)h * STRIDE + j] * x.v[j][c];
            differ += memcmp(&a, &x.out_ref[0][(size_t)h * d + c], sizeof(float)) != 0;
        }
    assert_true(differ > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_matches_plain),
        cmocka_unit_test(test_order_shows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
