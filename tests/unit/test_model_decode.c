/*
 * tests/unit/test_model_decode.c -- loading and decoding synthetic Gemma 4
 * models through engine/gemma.h: a batch gives the same logits as one
 * token at a time, interleaved sequences do not see each other, steps
 * longer than the internal batch, context limits and bad input fail
 * without changing the cache, and a malformed file is refused with an
 * error that names the tensor or key.
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
#include <unistd.h>

#include "engine/format/gguf.h"
#include "engine/format/gguf_write.h"
#include "engine/gemma.h"
#include "engine/synth/synth.h"

typedef struct fixture {
    char dir[64];
    char dense[128];
    char moe[128];
    gm_model *m_dense;
    gm_model *m_moe;
} fixture;

static int write_model(const char *preset, const char *path)
{
    gm_synth_config cfg;
    cm_err err;
    gm_synth_opts o = {.type = GM_TYPE_F32, .seed = 3};
    if (gm_synth_preset(preset, &cfg, &err) < 0 || gm_synth_write(&cfg, &o, path, &err) < 0) {
        fprintf(stderr, "synth %s: %s\n", preset, err.msg);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    cm_err err;
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_model_decode.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->dense, sizeof(fx->dense), "%s/tiny.gguf", fx->dir);
    snprintf(fx->moe, sizeof(fx->moe), "%s/moe.gguf", fx->dir);
    gm_load_opts lo = {.n_threads = 1};
    if (write_model("tiny", fx->dense) < 0 || write_model("tiny-moe", fx->moe) < 0
        || gm_model_load(fx->dense, &lo, &fx->m_dense, &err) < 0
        || gm_model_load(fx->moe, &lo, &fx->m_moe, &err) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    gm_model_free(fx->m_dense);
    gm_model_free(fx->m_moe);
    char path[192];
    const char *names[] = {"tiny.gguf", "moe.gguf", "bad.gguf"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->dir, names[i]);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void make_ids(int32_t *ids, uint32_t n, uint32_t seed, uint32_t vocab)
{
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % vocab);
    }
}

static gm_context *new_ctx(gm_model *m, uint32_t n_ctx, uint32_t n_seq)
{
    gm_context_opts co = {.n_ctx = n_ctx, .n_seq_max = n_seq, .n_threads = 1};
    gm_context *ctx = NULL;
    cm_err err;
    assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);
    return ctx;
}

/* max |a-b| / max |a| over one row. The checks below allow 1e-3 (they
 * are about positions and cache entries, not rounding: test_batch_invariance
 * checks the bits); a wrong position or cache entry shows as > 1e-2. */
static double row_err(const float *a, const float *b, uint32_t n)
{
    double amax = 0, d = 0;
    for (uint32_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(a[i]));
        d = fmax(d, fabs((double)a[i] - b[i]));
    }
    return d / amax;
}

/* All-logits decode of ids on a fresh sequence 0 of a new context. */
static float *run_batch(gm_model *m, const int32_t *ids, uint32_t n)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    gm_context *ctx = new_ctx(m, n, 1);
    float *lg = malloc((size_t)n * V * sizeof(float));
    bool *want = malloc(n * sizeof(bool));
    assert_non_null(lg);
    assert_non_null(want);
    for (uint32_t i = 0; i < n; i++)
        want[i] = true;
    gm_batch b = {.n_tokens = n, .tokens = ids, .want_logits = want};
    cm_err err;
    assert_int_equal(gm_decode(ctx, &b, lg, &err), 0);
    assert_int_equal(gm_context_seq_len(ctx, 0), n);
    free(want);
    gm_context_free(ctx);
    return lg;
}

static void check_batch_vs_steps(gm_model *m)
{
    enum { N = 21 }; /* more than twice the sliding window of 8 */
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    int32_t ids[N];
    make_ids(ids, N, 5, V);
    float *all = run_batch(m, ids, N);
    gm_context *ctx = new_ctx(m, N, 1);
    float *row = malloc(V * sizeof(float));
    cm_err err;
    for (uint32_t i = 0; i < N; i++) {
        gm_batch b = {.n_tokens = 1, .tokens = &ids[i]};
        assert_int_equal(gm_batch_n_outputs(&b), 1);
        assert_int_equal(gm_decode(ctx, &b, row, &err), 0);
        assert_true(row_err(all + (size_t)i * V, row, V) < 1e-3);
    }
    /* and the logits depend on the history: row 5 differs from row 4 */
    assert_true(row_err(all + 4 * V, all + 5 * V, V) > 1e-2);
    free(row);
    free(all);
    gm_context_free(ctx);
}

static void test_batch_equals_steps(void **state)
{
    fixture *fx = *state;
    check_batch_vs_steps(fx->m_dense);
    check_batch_vs_steps(fx->m_moe);
}

static void test_interleaved_sequences(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m_dense;
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    enum { NA = 12, NB = 9 };
    int32_t a[NA], b[NB], toks[NA + NB];
    uint32_t seq[NA + NB];
    make_ids(a, NA, 1, V);
    make_ids(b, NB, 2, V);
    float *ra = run_batch(m, a, NA), *rb = run_batch(m, b, NB);
    /* a0 b0 a1 b1 ... then the rest of a; sequence 1 stays empty */
    uint32_t n = 0, ia = 0, ib = 0;
    while (ia < NA || ib < NB) {
        if (ia < NA) {
            toks[n] = a[ia++];
            seq[n++] = 0;
        }
        if (ib < NB) {
            toks[n] = b[ib++];
            seq[n++] = 2;
        }
    }
    gm_context *ctx = new_ctx(m, 16, 3);
    bool want[NA + NB];
    for (uint32_t i = 0; i < n; i++)
        want[i] = true;
    float *lg = malloc((size_t)n * V * sizeof(float));
    gm_batch batch = {.n_tokens = n, .tokens = toks, .seq = seq, .want_logits = want};
    cm_err err;
    assert_int_equal(gm_decode(ctx, &batch, lg, &err), 0);
    ia = ib = 0;
    for (uint32_t i = 0; i < n; i++) {
        const float *ref = seq[i] == 0 ? ra + (size_t)ia++ * V : rb + (size_t)ib++ * V;
        assert_true(row_err(ref, lg + (size_t)i * V, V) < 1e-3);
    }
    assert_int_equal(gm_context_seq_len(ctx, 0), NA);
    assert_int_equal(gm_context_seq_len(ctx, 1), 0);
    assert_int_equal(gm_context_seq_len(ctx, 2), NB);

    /* default outputs: the last token of each sequence, in batch order */
    int32_t t2[3] = {a[0], b[0], a[1]};
    uint32_t s2[3] = {1, 0, 1};
    gm_batch b2 = {.n_tokens = 3, .tokens = t2, .seq = s2};
    assert_int_equal(gm_batch_n_outputs(&b2), 2);
    gm_context_free(ctx);
    ctx = new_ctx(m, 16, 2);
    assert_int_equal(gm_decode(ctx, &b2, lg, &err), 0);
    /* row 0: token 1 (b0, alone in sequence 0); row 1: token 2 (a1 after a0) */
    assert_true(row_err(rb, lg, V) < 1e-3);
    assert_true(row_err(ra + V, lg + V, V) < 1e-3);
    gm_context_free(ctx);
    free(lg);
    free(ra);
    free(rb);
}

static void test_long_step(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m_dense;
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    enum { N = 300 }; /* more than one internal step */
    int32_t ids[N];
    make_ids(ids, N, 9, V);
    float *all = run_batch(m, ids, N);
    /* the same in two calls, last logits only */
    gm_context *ctx = new_ctx(m, N, 1);
    float *row = malloc(V * sizeof(float));
    cm_err err;
    gm_batch b1 = {.n_tokens = 137, .tokens = ids};
    gm_batch b2 = {.n_tokens = N - 137, .tokens = ids + 137};
    assert_int_equal(gm_decode(ctx, &b1, row, &err), 0);
    assert_true(row_err(all + 136 * (size_t)V, row, V) < 1e-3);
    assert_int_equal(gm_decode(ctx, &b2, row, &err), 0);
    assert_true(row_err(all + (size_t)(N - 1) * V, row, V) < 1e-3);
    free(row);
    free(all);
    gm_context_free(ctx);
}

static void test_context_limits(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m_dense;
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    int32_t ids[9];
    make_ids(ids, 9, 4, V);
    float *ref = run_batch(m, ids, 8);
    gm_context *ctx = new_ctx(m, 8, 1);
    float *row = malloc(V * sizeof(float));
    cm_err err;
    gm_batch b1 = {.n_tokens = 6, .tokens = ids};
    assert_int_equal(gm_decode(ctx, &b1, row, &err), 0);
    gm_batch too_many = {.n_tokens = 3, .tokens = ids + 6};
    assert_int_equal(gm_decode(ctx, &too_many, row, &err), -1);
    assert_non_null(strstr(err.msg, "context full"));
    assert_int_equal(gm_context_seq_len(ctx, 0), 6);
    /* bad ids and sequences fail without touching the cache */
    int32_t bad[2] = {ids[6], (int32_t)V};
    gm_batch bb = {.n_tokens = 2, .tokens = bad};
    assert_int_equal(gm_decode(ctx, &bb, row, &err), -1);
    assert_non_null(strstr(err.msg, "vocabulary"));
    bad[1] = -1;
    assert_int_equal(gm_decode(ctx, &bb, row, &err), -1);
    uint32_t sq[1] = {1};
    gm_batch bs = {.n_tokens = 1, .tokens = ids, .seq = sq};
    assert_int_equal(gm_decode(ctx, &bs, row, &err), -1);
    assert_non_null(strstr(err.msg, "sequence 1"));
    assert_int_equal(gm_context_seq_len(ctx, 0), 6);
    /* the rest still fits and matches the one-batch run */
    gm_batch b2 = {.n_tokens = 2, .tokens = ids + 6};
    assert_int_equal(gm_decode(ctx, &b2, row, &err), 0);
    assert_true(row_err(ref + 7 * (size_t)V, row, V) < 1e-3);
    assert_int_equal(gm_context_seq_clear(ctx, 3, &err), -1);
    free(row);
    free(ref);
    gm_context_free(ctx);
}

static void test_clear_and_usage(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m_moe;
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    int32_t ids[10];
    make_ids(ids, 10, 8, V);
    gm_context *ctx = new_ctx(m, 32, 2);
    float *r1 = malloc(V * sizeof(float)), *r2 = malloc(V * sizeof(float));
    cm_err err;
    uint64_t used, total;
    gm_context_kv_usage(ctx, &used, &total);
    assert_int_equal(used, 0);
    assert_true(total > 0);
    gm_batch b = {.n_tokens = 10, .tokens = ids};
    assert_int_equal(gm_decode(ctx, &b, r1, &err), 0);
    gm_context_kv_usage(ctx, &used, NULL);
    assert_true(used > 0 && used <= total);
    assert_int_equal(gm_context_seq_clear(ctx, 0, &err), 0);
    assert_int_equal(gm_context_seq_len(ctx, 0), 0);
    gm_context_kv_usage(ctx, &used, NULL);
    assert_int_equal(used, 0);
    assert_int_equal(gm_decode(ctx, &b, r2, &err), 0);
    assert_memory_equal(r1, r2, V * sizeof(float));
    assert_ptr_equal(gm_context_get_model(ctx), m);
    assert_int_equal(gm_context_n_ctx(ctx), 32);
    assert_int_equal(gm_context_n_seq_max(ctx), 2);
    free(r1);
    free(r2);
    gm_context_free(ctx);
}

/* --- malformed files: a copy of the tiny model with one thing changed --- */

typedef struct edit {
    const char *drop_key;
    const char *drop_tensor;
    const char *halve_tensor;  /* ne[1] / 2 */
    bool extra_tensor;
    const char *scalar_key;    /* an array key written as a u32 scalar */
    const char *i32_key;       /* a u32 key written as i32 */
} edit;

static int copy_edited(const char *src, const char *dst, const edit *e)
{
    cm_err err;
    gguf_file *f;
    gguf_writer *w;
    if (gguf_open(src, &f, &err) < 0 || gguf_writer_new(&w, &err) < 0)
        return -1;
    char **strs = NULL;
    int rc = 0;
    for (int64_t i = 0; i < gguf_n_kv(f) && rc == 0; i++) {
        gguf_str k = gguf_key_name(f, i);
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)k.len, k.ptr);
        gguf_value_type t = gguf_kv_type(f, i);
        if (e->drop_key && strcmp(key, e->drop_key) == 0)
            continue;
        if (e->scalar_key && strcmp(key, e->scalar_key) == 0) {
            rc = gguf_writer_add_u32(w, key, 1, &err);
        } else if (t == GGUF_TYPE_STRING) {
            gguf_str v;
            rc = gguf_get_str(f, key, &v, &err);
            char *s = strndup(v.ptr, v.len);
            rc = rc ? rc : gguf_writer_add_str(w, key, s, &err);
            free(s);
        } else if (t == GGUF_TYPE_ARRAY) {
            gguf_value_type et;
            uint64_t count;
            gguf_arr_info(f, i, &et, &count);
            if (et == GGUF_TYPE_STRING) {
                strs = calloc(count + 1, sizeof(*strs));
                for (uint64_t j = 0; j < count; j++) {
                    gguf_str v = gguf_arr_str(f, i, j);
                    strs[j] = strndup(v.ptr, v.len);
                }
                rc = gguf_writer_add_arr_str(w, key, (const char *const *)strs, count, &err);
                for (uint64_t j = 0; j < count; j++)
                    free(strs[j]);
                free(strs);
            } else {
                rc = gguf_writer_add_arr(w, key, et, gguf_arr_data(f, i), count, &err);
            }
        } else {
            const void *val;
            gguf_kv_scalar(f, i, &t, &val);
            if (e->i32_key && strcmp(key, e->i32_key) == 0) {
                uint32_t v;
                memcpy(&v, val, 4);
                rc = gguf_writer_add_i32(w, key, (int32_t)v, &err);
            } else {
                rc = gguf_writer_add_scalar(w, key, t, val, &err);
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f) && rc == 0; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)t->name.len, t->name.ptr);
        if (e->drop_tensor && strcmp(name, e->drop_tensor) == 0)
            continue;
        uint64_t ne[4];
        memcpy(ne, t->ne, sizeof(ne));
        if (e->halve_tensor && strcmp(name, e->halve_tensor) == 0)
            ne[1] /= 2;
        rc = gguf_writer_add_tensor_data(w, name, t->type, t->n_dims, ne, t->data, &err);
    }
    static const float extra[32];
    const uint64_t ne_extra[1] = {32};
    if (rc == 0 && e->extra_tensor)
        rc = gguf_writer_add_tensor_data(w, "blk.0.extra.weight", GM_TYPE_F32, 1, ne_extra, extra, &err);
    if (rc == 0)
        rc = gguf_writer_write(w, dst, &err);
    if (rc != 0)
        fprintf(stderr, "copy: %s\n", err.msg);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

static void expect_load_error(fixture *fx, const edit *e, const char *want1, const char *want2)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/bad.gguf", fx->dir);
    assert_int_equal(copy_edited(fx->dense, path, e), 0);
    gm_model *m = NULL;
    cm_err err;
    err.msg[0] = '\0';
    assert_int_equal(gm_model_load(path, NULL, &m, &err), -1);
    assert_null(m);
    if (strstr(err.msg, want1) == NULL || (want2 && strstr(err.msg, want2) == NULL))
        fail_msg("error '%s' does not mention '%s' %s", err.msg, want1, want2 ? want2 : "");
}

static void test_load_errors(void **state)
{
    fixture *fx = *state;
    /* the unedited copy loads */
    char path[192];
    snprintf(path, sizeof(path), "%s/bad.gguf", fx->dir);
    edit none = {0};
    assert_int_equal(copy_edited(fx->dense, path, &none), 0);
    gm_model *m = NULL;
    cm_err err;
    assert_int_equal(gm_model_load(path, NULL, &m, &err), 0);
    gm_model_free(m);

    expect_load_error(fx, &(edit){.drop_tensor = "blk.1.attn_q.weight"}, "blk.1.attn_q.weight", "missing");
    expect_load_error(fx, &(edit){.drop_tensor = "rope_freqs.weight"}, "rope_freqs.weight", NULL);
    expect_load_error(fx, &(edit){.halve_tensor = "blk.2.ffn_up.weight"}, "blk.2.ffn_up.weight", "shape");
    expect_load_error(fx, &(edit){.extra_tensor = true}, "blk.0.extra.weight", "unexpected");
    expect_load_error(fx, &(edit){.drop_key = "gemma4.attention.key_length_swa"},
                      "gemma4.attention.key_length_swa", NULL);
    expect_load_error(fx, &(edit){.drop_key = "gemma4.embedding_length_per_layer_input"},
                      "embedding_length_per_layer_input", NULL);
    expect_load_error(fx, &(edit){.scalar_key = "gemma4.attention.sliding_window_pattern"},
                      "sliding_window_pattern", "array");
    expect_load_error(fx, &(edit){.i32_key = "gemma4.block_count"}, "gemma4.block_count", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_steps),
        cmocka_unit_test(test_interleaved_sequences),
        cmocka_unit_test(test_long_step),
        cmocka_unit_test(test_context_limits),
        cmocka_unit_test(test_clear_and_usage),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
