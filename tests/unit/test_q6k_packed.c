/*
 * tests/unit/test_q6k_packed.c -- unit tests for engine/cpu/q6k_packed.c:
 * the repacked layout holds exactly the Q6_K weights (checked on any CPU by
 * decoding it in plain C here), products with the packed copy are
 * bit-identical to gm_matmul on the plain blocks (1..9, 16, 33, 64 and 70
 * vectors; 5, 16, 37 and 1536 rows; 1 and 3 threads; inside gm_matmul_many
 * beside plain and packed Q4_K parts at offsets that are not multiples of
 * 16), and the errors. The products need the AVX2 or AVX-512 path (the
 * AVX-512 VNNI kernel or the AVX2 one): on other CPUs (or under
 * GEMMA_CPU=scalar) those cases are skipped with the reason printed. The
 * suite also runs this program with GEMMA_CPU=avx2
 * (tests/unit/q6k_packed_avx2.sh), so both kernels are checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

static uint64_t tq_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A uniform value in [-scale, scale). */
static float tq_uniform(uint64_t *s, float scale)
{
    return ((float)(tq_next(s) >> 40) / (float)(1u << 24) * 2.0f - 1.0f) * scale;
}

/* rows x cols weights from random data, rows of different scales. */
static uint8_t *tq_weights(uint64_t *s, uint64_t rows, uint64_t cols, gm_type type)
{
    uint64_t row_bytes;
    assert_true(gm_type_row_bytes(type, cols, &row_bytes));
    uint8_t *w = malloc(rows * row_bytes + 1);
    float *tmp = malloc(cols * sizeof(float));
    assert_non_null(w);
    assert_non_null(tmp);
    for (uint64_t r = 0; r < rows; r++) {
        for (uint64_t c = 0; c < cols; c++)
            tmp[c] = tq_uniform(s, 0.05f + (float)(r % 7) * 0.3f);
        assert_int_equal(gm_quantize_row(type, tmp, w + r * row_bytes, cols), 0);
    }
    free(tmp);
    return w;
}

static float *tq_vectors(uint64_t *s, uint32_t n_vec, uint64_t cols)
{
    float *x = malloc((size_t)n_vec * cols * sizeof(float));
    assert_non_null(x);
    for (uint64_t i = 0; i < n_vec * cols; i++)
        x[i] = tq_uniform(s, 1.0f);
    return x;
}

/* Skip (printing why) when this process cannot run the packed kernels. */
static bool tq_need_packed(void)
{
    if (gm_q6k_packed_supported())
        return true;
    print_message("# packed Q6_K kernels need the AVX2 or AVX-512 CPU path; this process runs "
                  "'%s': skipped\n",
                  gm_cpu_path_name());
    return false;
}

/* ---- the layout (any CPU) ------------------------------------------------ */

/* What one weight element is made of: value = d * sc * (q - 32). */
typedef struct tq_elem {
    uint16_t d;
    int8_t sc;
    uint8_t q;
} tq_elem;

/* Element c of a plain Q6_K row (the element order of ggml's Q6_K). */
static tq_elem tq_plain_elem(const uint8_t *row, uint64_t c)
{
    const gm_block_q6_K *b = (const gm_block_q6_K *)(const void *)row + c / 256;
    const unsigned e = (unsigned)(c % 256), h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const uint8_t lo = b->ql[64 * h + 32 * (quarter % 2) + l];
    const uint8_t hb = b->qh[32 * h + l];
    tq_elem el = {b->d, b->scales[e / 16], 0};
    el.q = (uint8_t)((quarter < 2 ? lo & 0xF : lo >> 4) | (((hb >> (2 * quarter)) & 3) << 4));
    return el;
}

/* Element c of row r of a packed matrix, read from the layout that
 * q6k_packed.h documents. */
static tq_elem tq_packed_elem(const gm_q6k_packed *p, uint64_t r, uint64_t c)
{
    if (r >= p->groups * 16)
        return tq_plain_elem(p->rest + (r - p->groups * 16) * p->row_bytes, c);
    const uint8_t *pb = p->data + (r / 16) * p->group_bytes + (c / 256) * GM_Q6K_PACKED_BLOCK_BYTES;
    const unsigned e = (unsigned)(c % 256), lane = (unsigned)(r % 16);
    const unsigned h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    /* the line triple 8h + l / 4 (from byte 320), byte l % 4 of lane r of
     * each line: quarters 0..2 in the low 6 bits of lines 0..2, quarter 3
     * in their bits 6-7 (its bits 0-1 in line 0, 2-3 in line 1, 4-5 in
     * line 2) */
    const uint8_t *lines = pb + 320 + 64 * 3 * (8 * h + l / 4) + 4 * lane + l % 4;
    tq_elem el;
    memcpy(&el.d, pb + 2 * lane, 2);
    el.sc = (int8_t)pb[32 + 16 * (e / 16) + lane];
    if (quarter < 3)
        el.q = lines[64 * quarter] & 0x3F;
    else
        el.q = (uint8_t)((lines[0] >> 6) | (lines[64] >> 6) << 2 | (lines[128] >> 6) << 4);
    return el;
}

/* The plain decoding above agrees with the library's dequantization. */
static void test_plain_decoding_matches_dequantize(void **state)
{
    (void)state;
    uint64_t s = 4242;
    const uint64_t cols = 512;
    uint8_t *w = tq_weights(&s, 1, cols, GM_TYPE_Q6_K);
    float ref[512];
    assert_int_equal(gm_dequantize_row(GM_TYPE_Q6_K, w, ref, cols), 0);
    for (uint64_t c = 0; c < cols; c++) {
        const tq_elem el = tq_plain_elem(w, c);
        const float d = gm_fp16_to_fp32(el.d);
        assert_float_equal(d * (float)el.sc * (float)((int)el.q - 32), ref[c], 0.0f);
    }
    free(w);
}

static void test_layout_holds_the_weights(void **state)
{
    (void)state;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    static const uint64_t shapes[][2] = {{16, 256}, {37, 512}, {5, 256}, {48, 768}};
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const uint64_t rows = shapes[k][0], cols = shapes[k][1];
        uint8_t *w = tq_weights(&s, rows, cols, GM_TYPE_Q6_K);
        gm_q6k_packed *p;
        assert_int_equal(gm_q6k_pack(k % 2 ? pool : NULL, w, rows, cols, &p, &err), 0);
        assert_int_equal(p->rows, rows);
        assert_int_equal(p->cols, cols);
        assert_int_equal(p->groups, rows / 16);
        assert_true((rows % 16 == 0) == (p->rest == NULL));
        assert_int_equal((uintptr_t)p->data % 64, 0);
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t c = 0; c < cols; c++) {
                const tq_elem a = tq_packed_elem(p, r, c), b = tq_plain_elem(w + r * p->row_bytes, c);
                if (a.d != b.d || a.sc != b.sc || a.q != b.q)
                    fail_msg("%llu x %llu: row %llu column %llu: packed q %u sc %d d %04x, "
                             "plain q %u sc %d d %04x",
                             (unsigned long long)rows, (unsigned long long)cols,
                             (unsigned long long)r, (unsigned long long)c, a.q, a.sc, a.d, b.q,
                             b.sc, b.d);
            }
        gm_q6k_packed_free(p);
        free(w);
    }
    gm_pool_destroy(pool);
}

static void test_pack_errors(void **state)
{
    (void)state;
    cm_err err;
    gm_q6k_packed *p = (gm_q6k_packed *)&err; /* must be reset to NULL */
    uint8_t w[210] = {0};
    err.msg[0] = '\0';
    assert_int_equal(gm_q6k_pack(NULL, w, 1, 100, &p, &err), -1);
    assert_null(p);
    assert_non_null(strstr(err.msg, "multiple of 256"));
    assert_int_equal(gm_q6k_pack(NULL, NULL, 16, 256, &p, &err), -1);
    assert_int_equal(gm_q6k_pack(NULL, w, (uint64_t)1 << 62, 256, &p, &err), -1);
    assert_non_null(strstr(err.msg, "too large"));
    gm_q6k_packed_free(NULL);
}

/* ---- products ------------------------------------------------------------ */

/* The packed product of rows x cols against 1..9, 16, 33, 64, 70 vectors, on 1
 * and 3 threads, has gm_matmul's bits on the plain blocks. */
static void tq_check_shape(gm_pool *pool, uint64_t *s, uint64_t rows, uint64_t cols)
{
    static const uint32_t nvs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 64, 70};
    enum { MAXV = 70 };
    uint8_t *w = tq_weights(s, rows, cols, GM_TYPE_Q6_K);
    float *x = tq_vectors(s, MAXV, cols);
    float *y = malloc(MAXV * rows * sizeof(float));
    float *y_ref = malloc(MAXV * rows * sizeof(float));
    assert_non_null(y);
    assert_non_null(y_ref);
    cm_err err;
    gm_q6k_packed *p;
    assert_int_equal(gm_q6k_pack(pool, w, rows, cols, &p, &err), 0);
    for (size_t k = 0; k < sizeof nvs / sizeof nvs[0]; k++) {
        const uint32_t nv = nvs[k];
        for (int threaded = 0; threaded < 2; threaded++) {
            gm_pool *pl = threaded ? pool : NULL;
            assert_int_equal(gm_matmul(pl, GM_TYPE_Q6_K, w, rows, cols, x, nv, y_ref, &err), 0);
            memset(y, 0xFF, MAXV * rows * sizeof(float));
            /* w NULL: the packed copy alone must do */
            const gm_matmul_part part = {GM_TYPE_Q6_K, NULL, rows, y, NULL, p};
            if (gm_matmul_many(pl, &part, 1, cols, x, nv, &err) != 0)
                fail_msg("%s", err.msg);
            for (uint64_t i = 0; i < nv * rows; i++)
                if (memcmp(&y[i], &y_ref[i], sizeof(float)) != 0)
                    fail_msg("%llu x %llu, %u vectors, %s: row %llu vector %llu is %.9g packed, "
                             "%.9g plain",
                             (unsigned long long)rows, (unsigned long long)cols, nv,
                             threaded ? "3 threads" : "1 thread", (unsigned long long)(i % rows),
                             (unsigned long long)(i / rows), (double)y[i], (double)y_ref[i]);
        }
    }
    gm_q6k_packed_free(p);
    free(w);
    free(x);
    free(y);
    free(y_ref);
}

static void test_packed_matmul_bit_identical(void **state)
{
    (void)state;
    if (!tq_need_packed())
        skip();
    uint64_t s = 12345;
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    tq_check_shape(pool, &s, 16, 256);
    tq_check_shape(pool, &s, 5, 256); /* no whole group: the plain rows only */
    tq_check_shape(pool, &s, 37, 512);
    tq_check_shape(pool, &s, 1536, 1536);
    tq_check_shape(pool, &s, 50, 4608);
    gm_pool_destroy(pool);
}

/* The packed kernel on weights with extreme values (q 0 and 63, scales
 * -128 and 127, activations -127/127) still has the bits of gm_matmul,
 * for one vector and for two (different kernels): the integer sums are
 * exact at the edges of their ranges. */
static void test_packed_extremes(void **state)
{
    (void)state;
    if (!tq_need_packed())
        skip();
    const uint64_t rows = 32, cols = 512;
    const size_t row_bytes = 2 * sizeof(gm_block_q6_K);
    uint8_t *w = malloc(rows * row_bytes);
    assert_non_null(w);
    uint64_t s = 5;
    for (uint64_t r = 0; r < rows; r++)
        for (int b = 0; b < 2; b++) {
            gm_block_q6_K *blk = (gm_block_q6_K *)(void *)(w + r * row_bytes) + b;
            const int mode = (int)((r + (uint64_t)b) % 4);
            memset(blk->ql, mode & 1 ? 0xFF : 0x00, sizeof blk->ql);
            memset(blk->qh, mode & 1 ? 0xFF : 0x00, sizeof blk->qh);
            if (mode >= 2)
                for (size_t k = 0; k < sizeof blk->ql; k++)
                    blk->ql[k] = (uint8_t)tq_next(&s);
            for (int j = 0; j < 16; j++)
                blk->scales[j] = (int8_t)(mode & 2 ? (j % 2 ? 127 : -128) : (j % 2 ? -128 : 127));
            blk->d = 0x3C00; /* 1.0 */
        }
    float x[2 * 512];
    for (uint64_t i = 0; i < 2 * cols; i++)
        x[i] = i < cols ? ((i % 3) ? 1.0f : -1.0f) : 1.0f;
    float y[64], y_ref[64];
    cm_err err;
    gm_q6k_packed *p;
    assert_int_equal(gm_q6k_pack(NULL, w, rows, cols, &p, &err), 0);
    /* one vector (the decode kernel) and two (the multi-vector one) */
    for (uint32_t n_vec = 1; n_vec <= 2; n_vec++) {
        assert_int_equal(gm_matmul(NULL, GM_TYPE_Q6_K, w, rows, cols, x, n_vec, y_ref, &err), 0);
        const gm_matmul_part part = {GM_TYPE_Q6_K, NULL, rows, y, NULL, p};
        assert_int_equal(gm_matmul_many(NULL, &part, 1, cols, x, n_vec, &err), 0);
        assert_memory_equal(y, y_ref, sizeof(float) * n_vec * rows);
    }
    gm_q6k_packed_free(p);
    free(w);
}

/* Packed Q6_K parts inside gm_matmul_many beside plain parts and packed
 * Q4_K parts, at offsets in the pool's range that are not multiples of
 * 16: each part has the bits of gm_matmul on its plain blocks alone. */
static void test_packed_in_matmul_many(void **state)
{
    (void)state;
    if (!tq_need_packed())
        skip();
    uint64_t s = 777;
    const uint64_t cols = 768;
    static const gm_type types[] = {GM_TYPE_Q8_0, GM_TYPE_Q6_K, GM_TYPE_Q6_K,
                                    GM_TYPE_Q4_K, GM_TYPE_Q6_K, GM_TYPE_Q6_K};
    static const uint64_t rows[] = {5, 37, 7, 48, 3, 21};
    static const bool pack[] = {false, true, false, true, false, true};
    enum { NP = sizeof types / sizeof types[0], MAXV = 17 };
    uint8_t *w[NP];
    float *y[NP], *y_ref[NP];
    gm_q4k_packed *pk4[NP];
    gm_q6k_packed *pk6[NP];
    gm_matmul_part parts[NP];
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    for (int p = 0; p < NP; p++) {
        w[p] = tq_weights(&s, rows[p], cols, types[p]);
        y[p] = malloc(MAXV * rows[p] * sizeof(float));
        y_ref[p] = malloc(MAXV * rows[p] * sizeof(float));
        assert_non_null(y[p]);
        assert_non_null(y_ref[p]);
        pk4[p] = NULL;
        pk6[p] = NULL;
        if (pack[p] && types[p] == GM_TYPE_Q4_K && gm_q4k_packed_supported())
            assert_int_equal(gm_q4k_pack(pool, w[p], rows[p], cols, &pk4[p], &err), 0);
        if (pack[p] && types[p] == GM_TYPE_Q6_K)
            assert_int_equal(gm_q6k_pack(pool, w[p], rows[p], cols, &pk6[p], &err), 0);
        const bool packed = pk4[p] != NULL || pk6[p] != NULL;
        parts[p] = (gm_matmul_part){types[p], packed ? NULL : w[p], rows[p], y[p], pk4[p], pk6[p]};
    }
    float *x = tq_vectors(&s, MAXV, cols);
    static const uint32_t nvs[] = {1, 3, 5, 12, 17};
    for (size_t k = 0; k < sizeof nvs / sizeof nvs[0]; k++) {
        for (int threaded = 0; threaded < 2; threaded++) {
            gm_pool *pl = threaded ? pool : NULL;
            for (int p = 0; p < NP; p++)
                memset(y[p], 0xFF, MAXV * rows[p] * sizeof(float));
            if (gm_matmul_many(pl, parts, NP, cols, x, nvs[k], &err) != 0)
                fail_msg("%s", err.msg);
            for (int p = 0; p < NP; p++) {
                assert_int_equal(
                    gm_matmul(pl, types[p], w[p], rows[p], cols, x, nvs[k], y_ref[p], &err), 0);
                if (memcmp(y[p], y_ref[p], nvs[k] * rows[p] * sizeof(float)) != 0)
                    fail_msg("part %d (%s%s, %llu rows), %u vectors, %s: differs from gm_matmul",
                             p, gm_type_name(types[p]),
                             pk4[p] != NULL || pk6[p] != NULL ? ", packed" : "",
                             (unsigned long long)rows[p], nvs[k],
                             threaded ? "3 threads" : "1 thread");
            }
        }
    }
    gm_pool_destroy(pool);
    for (int p = 0; p < NP; p++) {
        gm_q4k_packed_free(pk4[p]);
        gm_q6k_packed_free(pk6[p]);
        free(w[p]);
        free(y[p]);
        free(y_ref[p]);
    }
    free(x);
}

/* A packed copy that does not match the part is refused; on a path
 * without the packed kernels, so is any packed part. */
static void test_packed_part_errors(void **state)
{
    (void)state;
    uint64_t s = 99;
    const uint64_t cols = 512;
    uint8_t *w = tq_weights(&s, 32, cols, GM_TYPE_Q6_K);
    float *x = tq_vectors(&s, 1, cols);
    float y[64];
    cm_err err;
    gm_q6k_packed *p;
    assert_int_equal(gm_q6k_pack(NULL, w, 32, cols, &p, &err), 0);
    gm_matmul_part part = {GM_TYPE_Q6_K, NULL, 32, y, NULL, p};
    if (!gm_q6k_packed_supported()) {
        err.msg[0] = '\0';
        assert_int_equal(gm_matmul_many(NULL, &part, 1, cols, x, 1, &err), -1);
        assert_non_null(strstr(err.msg, "AVX2 or AVX-512"));
    } else {
        assert_int_equal(gm_matmul_many(NULL, &part, 1, cols, x, 1, &err), 0);
    }
    part.rows = 31; /* rows differ */
    err.msg[0] = '\0';
    assert_int_equal(gm_matmul_many(NULL, &part, 1, cols, x, 1, &err), -1);
    assert_non_null(strstr(err.msg, "do not match"));
    part.rows = 32;
    part.type = GM_TYPE_Q4_K; /* not Q6_K */
    assert_int_equal(gm_matmul_many(NULL, &part, 1, cols, x, 1, &err), -1);
    assert_non_null(strstr(err.msg, "do not match"));
    part.type = GM_TYPE_Q6_K; /* columns differ */
    float x2[1024] = {0};
    assert_int_equal(gm_matmul_many(NULL, &part, 1, 1024, x2, 1, &err), -1);
    gm_q6k_packed_free(p);
    free(w);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_decoding_matches_dequantize),
        cmocka_unit_test(test_layout_holds_the_weights),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_packed_matmul_bit_identical),
        cmocka_unit_test(test_packed_extremes),
        cmocka_unit_test(test_packed_in_matmul_many),
        cmocka_unit_test(test_packed_part_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
