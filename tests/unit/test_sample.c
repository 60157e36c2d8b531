/*
 * tests/unit/test_sample.c -- unit tests for engine/text/sample.c: greedy,
 * top-k, top-p and min-p cut-offs on crafted distributions, the
 * penalties, suppressed tokens, and seed determinism.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/text/sample.h"

static gm_sampler *make(const gm_sample_params *p, uint32_t n)
{
    gm_sampler *s = NULL;
    cm_err err;
    assert_int_equal(gm_sampler_new(p, n, &s, &err), 0);
    assert_non_null(s);
    return s;
}

static int32_t sample_copy(gm_sampler *s, const float *logits, uint32_t n)
{
    float tmp[64];
    assert_true(n <= 64);
    memcpy(tmp, logits, n * sizeof(float));
    return gm_sampler_sample(s, tmp);
}

/* Draw `draws` times; count[i] gets how often id i came out. */
static void histogram(gm_sampler *s, const float *logits, uint32_t n, int draws, int *count)
{
    memset(count, 0, n * sizeof(int));
    for (int i = 0; i < draws; i++) {
        int32_t t = sample_copy(s, logits, n);
        assert_true(t >= 0 && (uint32_t)t < n);
        count[t]++;
    }
}

static void test_defaults(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    assert_true(p.temperature <= 0.0f);
    assert_true(p.top_k <= 0);
    assert_true(p.top_p >= 1.0f);
    assert_true(p.min_p <= 0.0f);
    assert_true(p.repeat_penalty == 1.0f);
    assert_true(p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f);
}

static void test_greedy_is_argmax(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    gm_sampler *s = make(&p, 6);
    const float l1[6] = {0.1f, 2.5f, -1.0f, 2.4f, 0.0f, 1.0f};
    assert_int_equal(sample_copy(s, l1, 6), 1);
    const float l2[6] = {-5.0f, -4.0f, -3.0f, -2.0f, -1.0f, -1.5f};
    assert_int_equal(sample_copy(s, l2, 6), 4);
    /* ties: the lowest id */
    const float l3[6] = {0.0f, 3.0f, 3.0f, 0.0f, 0.0f, 0.0f};
    assert_int_equal(sample_copy(s, l3, 6), 1);
    gm_sampler_free(s);
}

static void test_top_k_1_is_greedy(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.5f;
    p.top_k = 1;
    p.seed = 123;
    gm_sampler *s = make(&p, 8);
    const float l[8] = {1.0f, 1.1f, 0.9f, 1.05f, 0.2f, 1.09f, 0.0f, -1.0f};
    for (int i = 0; i < 200; i++)
        assert_int_equal(sample_copy(s, l, 8), 1);
    gm_sampler_free(s);
}

static void test_top_k_limits_choices(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.top_k = 3;
    p.seed = 9;
    gm_sampler *s = make(&p, 6);
    const float l[6] = {1.0f, 1.0f, 0.5f, 0.9f, 1.2f, 0.95f}; /* best three: 4, 0, 1 */
    int count[6];
    histogram(s, l, 6, 3000, count);
    assert_int_equal(count[2] + count[3] + count[5], 0);
    assert_true(count[4] > 0 && count[0] > 0 && count[1] > 0);
    gm_sampler_free(s);
}

static void test_seed_determinism(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 42;
    const float l[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    gm_sampler *a = make(&p, 8), *b = make(&p, 8);
    p.seed = 43;
    gm_sampler *c = make(&p, 8);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = sample_copy(a, l, 8), y = sample_copy(b, l, 8), z = sample_copy(c, l, 8);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 0); /* another seed gives another sequence */
    gm_sampler_free(a);
    gm_sampler_free(b);
    gm_sampler_free(c);
}

static void test_temperature_spreads(void **state)
{
    (void)state;
    /* p = softmax(logits / T); at T = 1 the draws follow [0.5, 0.3, 0.2] */
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 5;
    gm_sampler *s = make(&p, 3);
    const float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    int count[3];
    histogram(s, l, 3, 20000, count);
    assert_in_range(count[0], 9500, 10500);
    assert_in_range(count[1], 5600, 6400);
    assert_in_range(count[2], 3600, 4400);
    gm_sampler_free(s);
}

static void test_top_p_cutoff(void **state)
{
    (void)state;
    /* probabilities 0.5, 0.3, 0.15, 0.05 (ids shuffled) */
    const float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 77;
    int count[4];
    p.top_p = 0.75f; /* 0.5 + 0.3 >= 0.75: ids 1 and 3 */
    gm_sampler *s = make(&p, 4);
    histogram(s, l, 4, 4000, count);
    assert_int_equal(count[0] + count[2], 0);
    assert_true(count[1] > 0 && count[3] > 0);
    gm_sampler_free(s);
    p.top_p = 0.9f; /* 0.5 + 0.3 + 0.15 >= 0.9: id 2 never */
    s = make(&p, 4);
    histogram(s, l, 4, 4000, count);
    assert_int_equal(count[2], 0);
    assert_true(count[0] > 0 && count[1] > 0 && count[3] > 0);
    gm_sampler_free(s);
    p.top_p = 0.4f; /* the best alone */
    s = make(&p, 4);
    histogram(s, l, 4, 500, count);
    assert_int_equal(count[1], 500);
    gm_sampler_free(s);
}

static void test_top_p_large_vocab(void **state)
{
    (void)state;
    /* 10000 equal logits: ties go to the lowest ids, so top_p = 0.5 keeps
     * ids 0..4999 (the cut is found past several growing selections) */
    enum { NV = 10000 };
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.top_p = 0.5f;
    p.seed = 1;
    gm_sampler *s = make(&p, NV);
    float *l = malloc(NV * sizeof(float));
    assert_non_null(l);
    int32_t max_seen = -1;
    for (int i = 0; i < 300; i++) {
        for (int k = 0; k < NV; k++)
            l[k] = 0.25f;
        int32_t t = gm_sampler_sample(s, l);
        assert_true(t >= 0 && t < NV / 2 + 1);
        if (t > max_seen)
            max_seen = t;
    }
    assert_true(max_seen > NV / 4); /* not stuck at the first few */
    free(l);
    gm_sampler_free(s);
}

static void test_min_p_cutoff(void **state)
{
    (void)state;
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 3;
    int count[4];
    p.min_p = 0.2f; /* keep p >= 0.1: ids 0, 1, 2 */
    gm_sampler *s = make(&p, 4);
    histogram(s, l, 4, 4000, count);
    assert_int_equal(count[3], 0);
    assert_true(count[0] > 0 && count[1] > 0 && count[2] > 0);
    gm_sampler_free(s);
    p.min_p = 0.5f; /* keep p >= 0.25: ids 0, 1 */
    s = make(&p, 4);
    histogram(s, l, 4, 4000, count);
    assert_int_equal(count[2] + count[3], 0);
    assert_true(count[0] > 0 && count[1] > 0);
    gm_sampler_free(s);
}

static void test_repeat_penalty(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.repeat_penalty = 1.1f;
    gm_sampler *s = make(&p, 4);
    const float l[4] = {2.0f, 1.9f, -1.0f, -1.05f};
    assert_int_equal(sample_copy(s, l, 4), 0);
    gm_sampler_accept(s, 0); /* 2.0 / 1.1 = 1.82 < 1.9 */
    assert_int_equal(sample_copy(s, l, 4), 1);
    /* negative logits are multiplied: -1.0 * 1.1 = -1.1 < -1.05 */
    const float m[4] = {-5.0f, -5.0f, -1.0f, -1.05f};
    assert_int_equal(sample_copy(s, m, 4), 2);
    gm_sampler_accept(s, 2);
    assert_int_equal(sample_copy(s, m, 4), 3);
    /* the logits after the penalty, exactly */
    float t[4] = {2.0f, 1.9f, -1.0f, -1.05f};
    gm_sampler_sample(s, t);
    assert_true(fabsf(t[0] - 2.0f / 1.1f) < 1e-6f);
    assert_true(fabsf(t[2] - (-1.1f)) < 1e-6f);
    assert_true(t[1] == 1.9f && t[3] == -1.05f);
    gm_sampler_free(s);
}

static void test_frequency_presence_and_window(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.penalty_last_n = 3;
    gm_sampler *s = make(&p, 4);
    gm_sampler_accept(s, 1);
    gm_sampler_accept(s, 1);
    gm_sampler_accept(s, 2);
    float t[4] = {0.0f, 3.0f, 3.0f, 3.0f};
    gm_sampler_sample(s, t);
    assert_true(fabsf(t[1] - (3.0f - 2 * 0.5f - 0.25f)) < 1e-6f);
    assert_true(fabsf(t[2] - (3.0f - 0.5f - 0.25f)) < 1e-6f);
    assert_true(t[3] == 3.0f && t[0] == 0.0f);
    /* two more tokens push the two 1s out of the window of 3 */
    gm_sampler_accept(s, 3);
    gm_sampler_accept(s, 3);
    float u[4] = {0.0f, 3.0f, 3.0f, 3.0f};
    int32_t best = gm_sampler_sample(s, u);
    assert_true(u[1] == 3.0f);
    assert_true(fabsf(u[3] - (3.0f - 1.0f - 0.25f)) < 1e-6f);
    assert_int_equal(best, 1);
    gm_sampler_reset(s);
    float w[4] = {0.0f, 3.0f, 3.0f, 3.0f};
    gm_sampler_sample(s, w);
    assert_true(w[2] == 3.0f && w[3] == 3.0f);
    gm_sampler_free(s);
}

static void test_unlimited_window(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.frequency_penalty = 0.01f;
    p.penalty_last_n = -1;
    gm_sampler *s = make(&p, 3);
    for (int i = 0; i < 1000; i++)
        gm_sampler_accept(s, i % 2);
    float t[3] = {1.0f, 1.0f, 1.0f};
    gm_sampler_sample(s, t);
    assert_true(fabsf(t[0] - (1.0f - 500 * 0.01f)) < 1e-4f);
    assert_true(fabsf(t[1] - (1.0f - 500 * 0.01f)) < 1e-4f);
    assert_true(t[2] == 1.0f);
    gm_sampler_free(s);
}

static void test_suppressed_tokens(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    gm_sampler *s = make(&p, 5);
    const int32_t sup[2] = {3, 0};
    cm_err err;
    assert_int_equal(gm_sampler_suppress(s, sup, 2, &err), 0);
    const float l[5] = {9.0f, 1.0f, 2.0f, 10.0f, 0.5f};
    assert_int_equal(sample_copy(s, l, 5), 2);
    gm_sampler_free(s);
    /* with sampling too: never drawn */
    p.temperature = 2.0f;
    p.seed = 11;
    s = make(&p, 5);
    assert_int_equal(gm_sampler_suppress(s, sup, 2, &err), 0);
    int count[5];
    histogram(s, l, 5, 2000, count);
    assert_int_equal(count[0] + count[3], 0);
    const int32_t bad = 5;
    assert_int_equal(gm_sampler_suppress(s, &bad, 1, &err), -1);
    assert_non_null(strstr(err.msg, "suppress"));
    gm_sampler_free(s);
}

static void test_bad_params(void **state)
{
    (void)state;
    gm_sample_params p;
    gm_sample_params_default(&p);
    gm_sampler *s = NULL;
    cm_err err;
    assert_int_equal(gm_sampler_new(&p, 0, &s, &err), -1);
    assert_null(s);
    p.repeat_penalty = -1.0f;
    assert_int_equal(gm_sampler_new(&p, 4, &s, &err), -1);
    assert_non_null(strstr(err.msg, "repeat_penalty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_top_k_1_is_greedy),
        cmocka_unit_test(test_top_k_limits_choices),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_temperature_spreads),
        cmocka_unit_test(test_top_p_cutoff),
        cmocka_unit_test(test_top_p_large_vocab),
        cmocka_unit_test(test_min_p_cutoff),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_frequency_presence_and_window),
        cmocka_unit_test(test_unlimited_window),
        cmocka_unit_test(test_suppressed_tokens),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
