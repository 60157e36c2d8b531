/*
 * tests/unit/test_model_kv.c -- the KV cache (engine/model/kv_cache.h):
 * sliding layers keep a ring of W positions, full layers every position,
 * shared layers nothing; sequences are independent; usage accounting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "engine/model/kv_cache.h"

enum { W = 4, CTX = 16, SEQ = 2 };

static void put(gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos)
{
    float *k = gm_kv_k(c, il, seq, pos), *v = gm_kv_v(c, il, seq, pos);
    for (uint32_t i = 0; i < c->layers[il].width; i++) {
        k[i] = (float)(1000 * seq + 10 * pos + i);
        v[i] = -(float)(1000 * seq + 10 * pos + i);
    }
}

static bool has(const gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos)
{
    const float *k = gm_kv_k(c, il, seq, pos), *v = gm_kv_v(c, il, seq, pos);
    for (uint32_t i = 0; i < c->layers[il].width; i++)
        if (k[i] != (float)(1000 * seq + 10 * pos + i) || v[i] != -(float)(1000 * seq + 10 * pos + i))
            return false;
    return true;
}

static void make(gm_kv_cache *c)
{
    const uint32_t width[3] = {3, 5, 0}, window[3] = {W, 0, 0};
    cm_err err;
    assert_int_equal(gm_kv_init(c, 3, width, window, CTX, SEQ, &err), 0);
}

static void test_ring(void **state)
{
    (void)state;
    gm_kv_cache c;
    make(&c);
    assert_true(c.layers[0].ring);
    assert_int_equal(c.layers[0].cap, W);
    assert_false(c.layers[1].ring);
    assert_int_equal(c.layers[1].cap, CTX);
    for (uint32_t p = 0; p < 3 * W + 1; p++) {
        put(&c, 0, 0, p);
        put(&c, 1, 0, p);
        c.len[0] = p + 1;
        for (uint32_t q = 0; q <= p; q++) {
            const bool in_window = p - q < W;
            assert_int_equal(gm_kv_holds(&c, 0, q, p + 1), in_window);
            if (in_window)
                assert_true(has(&c, 0, 0, q));
            /* the full layer keeps everything */
            assert_true(gm_kv_holds(&c, 1, q, p + 1));
            assert_true(has(&c, 1, 0, q));
        }
        assert_false(gm_kv_holds(&c, 0, p + 1, p + 1));
    }
    /* slot reuse: position p and p + W share a slot */
    assert_ptr_equal(gm_kv_k(&c, 0, 0, 1), gm_kv_k(&c, 0, 0, 1 + W));
    assert_ptr_not_equal(gm_kv_k(&c, 1, 0, 1), gm_kv_k(&c, 1, 0, 1 + W));
    /* the shared layer holds nothing */
    assert_false(gm_kv_holds(&c, 2, 0, 5));
    gm_kv_free(&c);
}

static void test_sequences(void **state)
{
    (void)state;
    gm_kv_cache c;
    make(&c);
    for (uint32_t p = 0; p < 6; p++) {
        put(&c, 0, 0, p);
        put(&c, 1, 0, p);
    }
    c.len[0] = 6;
    for (uint32_t p = 0; p < 9; p++) {
        put(&c, 0, 1, p);
        put(&c, 1, 1, p);
    }
    c.len[1] = 9;
    for (uint32_t p = 2; p < 6; p++)
        assert_true(has(&c, 0, 0, p));
    for (uint32_t p = 0; p < 6; p++)
        assert_true(has(&c, 1, 0, p));
    for (uint32_t p = 5; p < 9; p++)
        assert_true(has(&c, 0, 1, p));
    gm_kv_seq_clear(&c, 0);
    assert_int_equal(c.len[0], 0);
    assert_int_equal(c.len[1], 9);
    gm_kv_seq_clear(&c, 99); /* ignored */
    gm_kv_free(&c);
}

static void test_usage(void **state)
{
    (void)state;
    gm_kv_cache c;
    make(&c);
    uint64_t used, total;
    gm_kv_usage(&c, &used, &total);
    const uint64_t row0 = 2 * 3 * sizeof(float), row1 = 2 * 5 * sizeof(float);
    assert_int_equal(total, SEQ * (W * row0 + CTX * row1));
    assert_int_equal(used, 0);
    c.len[0] = 2;
    gm_kv_usage(&c, &used, NULL);
    assert_int_equal(used, 2 * row0 + 2 * row1);
    c.len[0] = 10; /* the ring is full at W */
    c.len[1] = 1;
    gm_kv_usage(&c, &used, NULL);
    assert_int_equal(used, W * row0 + 10 * row1 + row0 + row1);
    gm_kv_seq_clear(&c, 0);
    gm_kv_usage(&c, &used, NULL);
    assert_int_equal(used, row0 + row1);
    gm_kv_free(&c);
}

static void test_errors(void **state)
{
    (void)state;
    gm_kv_cache c;
    cm_err err;
    const uint32_t width[1] = {4}, window[1] = {0};
    assert_int_equal(gm_kv_init(&c, 1, width, window, 0, 1, &err), -1);
    assert_non_null(strstr(err.msg, "n_ctx"));
    /* a window larger than the context is just a full cache */
    const uint32_t win[1] = {100};
    assert_int_equal(gm_kv_init(&c, 1, width, win, 8, 1, &err), 0);
    assert_false(c.layers[0].ring);
    assert_int_equal(c.layers[0].cap, 8);
    gm_kv_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
