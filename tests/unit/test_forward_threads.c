/*
 * tests/unit/test_forward_threads.c -- the forward pass gives the same bits
 * on any number of threads (engine/model/forward.c, ops_par.c,
 * attention.c).
 *
 * The stages spread over the thread pool (projections in one pass, norms,
 * GeGLU, soft-cap, per-token RoPE, attention per (token, head block), or
 * for a long decode step by keys and output columns, test_attn_decode.c)
 * cut their work into chunks whose size does not depend on the thread
 * count, and each thread has its own scratch. A race, a shared scratch buffer or a
 * chunking that follows the thread count would show here as logits that
 * differ between 1, 2, 3 and 4 threads.
 *
 * The scenario has a long prefill (100 tokens, every position's logits:
 * several chunks of every stage on the tiny models), a second sequence
 * in the same batch, sliding layers (window 8) far behind, then decode
 * steps of three sequences, one joining with its prompt mid-way; on a
 * dense model with per-layer embeddings and shared KV (q8_0) and on MoE
 * models (q4_K with fused gate/up experts, q8_0 with separate ones). On
 * each, the same tokens decoded one at a time also give the bits of one
 * batch of them (the one-token path of MoE layers, the F32 router).
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

#include "engine/gemma.h"
#include "engine/synth/synth.h"

enum { N_LONG = 100, N_SHORT = 37, N_LATE = 5, STEPS = 6, MAX_THREADS = 4 };

static void make_ids(int32_t *ids, uint32_t n, uint32_t seed, uint32_t vocab)
{
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % vocab);
    }
}

static int32_t argmax(const float *row, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return (int32_t)best;
}

/* Rows of logits the scenario produces. */
static size_t scenario_rows(void)
{
    return (size_t)N_LONG + N_SHORT + (size_t)STEPS * 3;
}

/* Runs the scenario on n_threads threads; all logits go to out. */
static void run_scenario(gm_model *m, int n_threads, float *out)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    gm_context_opts co = {.n_ctx = 160, .n_seq_max = 3, .n_threads = n_threads};
    gm_context *ctx = NULL;
    cm_err err;
    assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);

    /* one prefill step: seq 0 (N_LONG tokens) and seq 1 (N_SHORT), every
     * position's logits */
    int32_t toks[N_LONG + N_SHORT];
    uint32_t seq[N_LONG + N_SHORT];
    bool want[N_LONG + N_SHORT];
    make_ids(toks, N_LONG, 7, V);
    make_ids(toks + N_LONG, N_SHORT, 8, V);
    for (uint32_t i = 0; i < N_LONG + N_SHORT; i++) {
        seq[i] = i < N_LONG ? 0 : 1;
        want[i] = true;
    }
    gm_batch b = {.n_tokens = N_LONG + N_SHORT, .tokens = toks, .seq = seq, .want_logits = want};
    assert_int_equal(gm_decode(ctx, &b, out, &err), 0);
    float *row = out + (size_t)(N_LONG + N_SHORT) * V;

    /* decode steps: seqs 0 and 1 one token each; seq 2 joins with its
     * prompt at the first step, then decodes */
    int32_t next[3] = {argmax(out + (size_t)(N_LONG - 1) * V, V),
                       argmax(out + (size_t)(N_LONG + N_SHORT - 1) * V, V), 0};
    int32_t late[N_LATE];
    make_ids(late, N_LATE, 9, V);
    for (uint32_t step = 0; step < STEPS; step++) {
        uint32_t n = 0;
        for (uint32_t q = 0; q < 2; q++) {
            toks[n] = next[q];
            seq[n] = q;
            want[n++] = true;
        }
        if (step == 0) {
            for (uint32_t i = 0; i < N_LATE; i++) {
                toks[n] = late[i];
                seq[n] = 2;
                want[n++] = i + 1 == N_LATE;
            }
        } else {
            toks[n] = next[2];
            seq[n] = 2;
            want[n++] = true;
        }
        gm_batch s = {.n_tokens = n, .tokens = toks, .seq = seq, .want_logits = want};
        assert_int_equal(gm_decode(ctx, &s, row, &err), 0);
        for (uint32_t q = 0; q < 3; q++)
            next[q] = argmax(row + (size_t)q * V, V);
        row += (size_t)3 * V;
    }
    gm_context_free(ctx);
}

/* The same tokens one at a time (a decode step: on MoE layers all the
 * selected experts' gate/up projections in one pass) and as one batch
 * (experts grouped by token; the F32 router in steps of 3 rows, moe.c)
 * give the same bits. */
static void check_steps_equal_batch(gm_model *m)
{
    enum { N = 21 }; /* more than twice the sliding window of 8 */
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    int32_t ids[N];
    bool want[N];
    make_ids(ids, N, 11, V);
    for (uint32_t i = 0; i < N; i++)
        want[i] = true;
    float *all = malloc((size_t)N * V * sizeof(float)), *row = malloc(V * sizeof(float));
    assert_non_null(all);
    assert_non_null(row);
    gm_context_opts co = {.n_ctx = N, .n_seq_max = 1, .n_threads = 2};
    gm_context *ctx = NULL;
    cm_err err;
    assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);
    gm_batch b = {.n_tokens = N, .tokens = ids, .want_logits = want};
    assert_int_equal(gm_decode(ctx, &b, all, &err), 0);
    assert_int_equal(gm_context_seq_clear(ctx, 0, &err), 0);
    for (uint32_t i = 0; i < N; i++) {
        gm_batch one = {.n_tokens = 1, .tokens = &ids[i]};
        assert_int_equal(gm_decode(ctx, &one, row, &err), 0);
        if (memcmp(row, all + (size_t)i * V, V * sizeof(float)) != 0)
            fail_msg("token %u alone differs from the batch", i);
    }
    free(all);
    free(row);
    gm_context_free(ctx);
}

static void check_model(const char *preset, gm_type type, bool separate_gate_up)
{
    char dir[64], path[128];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/test_fwd_threads.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    gm_synth_config cfg;
    cm_err err;
    gm_synth_opts o = {.type = type, .seed = 5, .n_threads = 1};
    assert_int_equal(gm_synth_preset(preset, &cfg, &err), 0);
    if (separate_gate_up)
        cfg.fused_gate_up = false;
    assert_int_equal(gm_synth_write(&cfg, &o, path, &err), 0);
    gm_load_opts lo = {.n_threads = 1};
    gm_model *m = NULL;
    assert_int_equal(gm_model_load(path, &lo, &m, &err), 0);

    const uint32_t V = gm_model_get_info(m)->n_vocab;
    const size_t n = scenario_rows() * V;
    float *one = malloc(n * sizeof(float)), *many = malloc(n * sizeof(float));
    assert_non_null(one);
    assert_non_null(many);
    run_scenario(m, 1, one);

    /* not vacuous: finite logits, and rows that differ */
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(one[i]));
    assert_true(memcmp(one, one + V, V * sizeof(float)) != 0);
    assert_true(memcmp(one + (size_t)N_LONG * V, one + (size_t)(N_LONG + N_SHORT + 1) * V,
                       V * sizeof(float)) != 0);

    for (int t = 2; t <= MAX_THREADS; t++) {
        memset(many, 0, n * sizeof(float));
        run_scenario(m, t, many);
        for (size_t r = 0; r < scenario_rows(); r++)
            if (memcmp(one + r * V, many + r * V, V * sizeof(float)) != 0)
                fail_msg("%s: %d threads: row %zu differs from 1 thread", preset, t, r);
    }
    check_steps_equal_batch(m);
    free(one);
    free(many);
    gm_model_free(m);
    unlink(path);
    rmdir(dir);
}

static void test_dense_ple_shared_kv(void **state)
{
    (void)state;
    check_model("tiny", GM_TYPE_Q8_0, false);
}

static void test_moe(void **state)
{
    (void)state;
    check_model("tiny-moe", GM_TYPE_Q4_K, false);
}

static void test_moe_separate_gate_up(void **state)
{
    (void)state;
    check_model("tiny-moe", GM_TYPE_Q8_0, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_ple_shared_kv),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_moe_separate_gate_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
