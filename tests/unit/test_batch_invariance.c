/*
 * tests/unit/test_batch_invariance.c -- what continuous batching and the
 * prefix cache rely on in the engine (engine/gemma.h):
 *
 * - batch invariance: several sequences evaluated in one gm_decode, some
 *   in prefill (chunks), some decoding, admitted at different steps, one
 *   cancelled midway, give each sequence the very logits (bit for bit) it
 *   gets when served alone, on a quantized and on an F32 model;
 * - prefixes: a KV snapshot restored into another sequence, a copy of a
 *   sequence, and a truncated sequence continue exactly like a cold run,
 *   with sliding layers (window 8) far behind; truncating past what a
 *   ring still holds is refused.
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

enum { N_SEQ = 4, GEN = 6, MAX_PROMPT = 32 };

typedef struct fixture {
    char dir[64];
    char quant[128];
    char f32[128];
    gm_model *m_quant;
    gm_model *m_f32;
} fixture;

static int write_model(const char *path, gm_type type)
{
    gm_synth_config cfg;
    cm_err err;
    gm_synth_opts o = {.type = type, .seed = 11, .n_threads = 1};
    if (gm_synth_preset("tiny", &cfg, &err) < 0 || gm_synth_write(&cfg, &o, path, &err) < 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
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
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_batch_inv.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->quant, sizeof(fx->quant), "%s/q8.gguf", fx->dir);
    snprintf(fx->f32, sizeof(fx->f32), "%s/f32.gguf", fx->dir);
    gm_load_opts lo = {.n_threads = 2};
    if (write_model(fx->quant, GM_TYPE_Q8_0) < 0 || write_model(fx->f32, GM_TYPE_F32) < 0
        || gm_model_load(fx->quant, &lo, &fx->m_quant, &err) < 0
        || gm_model_load(fx->f32, &lo, &fx->m_f32, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    gm_model_free(fx->m_quant);
    gm_model_free(fx->m_f32);
    unlink(fx->quant);
    unlink(fx->f32);
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

static gm_context *new_ctx(gm_model *m, uint32_t n_seq)
{
    gm_context_opts co = {.n_ctx = 64, .n_seq_max = n_seq, .n_threads = 2};
    gm_context *ctx = NULL;
    cm_err err;
    assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);
    return ctx;
}

static int32_t argmax(const float *row, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return (int32_t)best;
}

/* One sequence of the mixed batch: its prompt, when it joins, how much
 * of its prompt each step may take, when it is cancelled. */
typedef struct seq_plan {
    uint32_t n_prompt;
    uint32_t start_step;
    uint32_t chunk;
    uint32_t cancel_after; /* generated tokens; 0 = never */
    int32_t prompt[MAX_PROMPT];
    /* progress */
    uint32_t fed, gen;
    bool done;
    int32_t next;
    float *rows; /* [GEN][V]: the logits each generated token came from */
} seq_plan;

/* Greedy generation of one sequence alone: the logits of each step. */
static void run_alone(gm_model *m, const seq_plan *sp, float *rows)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    gm_context *ctx = new_ctx(m, 1);
    cm_err err;
    gm_batch b = {.n_tokens = sp->n_prompt, .tokens = sp->prompt};
    assert_int_equal(gm_decode(ctx, &b, rows, &err), 0);
    for (uint32_t g = 1; g < GEN; g++) {
        int32_t tok = argmax(rows + (size_t)(g - 1) * V, V);
        gm_batch one = {.n_tokens = 1, .tokens = &tok};
        assert_int_equal(gm_decode(ctx, &one, rows + (size_t)g * V, &err), 0);
    }
    gm_context_free(ctx);
}

/* Largest |a-b| / max|a| over all the rows. */
static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double amax = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(a[i]));
        d = fmax(d, fabs((double)a[i] - b[i]));
    }
    return amax > 0 ? d / amax : d;
}

/* Runs the mixed batch; returns the largest relative difference to the
 * sequences served alone, and whether every row matched bit for bit. */
static double run_mixed(gm_model *m, bool *bit_exact)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    seq_plan plan[N_SEQ] = {
        {.n_prompt = 5, .start_step = 0, .chunk = 100},
        {.n_prompt = 13, .start_step = 0, .chunk = 7},
        {.n_prompt = 21, .start_step = 2, .chunk = 10},      /* joins mid-stream */
        {.n_prompt = 3, .start_step = 3, .chunk = 3, .cancel_after = 2},
    };
    float *alone[N_SEQ];
    for (uint32_t s = 0; s < N_SEQ; s++) {
        make_ids(plan[s].prompt, plan[s].n_prompt, 100 + s, V);
        plan[s].rows = calloc((size_t)GEN * V, sizeof(float));
        alone[s] = calloc((size_t)GEN * V, sizeof(float));
        assert_non_null(plan[s].rows);
        assert_non_null(alone[s]);
        run_alone(m, &plan[s], alone[s]);
    }

    gm_context *ctx = new_ctx(m, N_SEQ);
    int32_t toks[128];
    uint32_t seq[128];
    bool want[128];
    uint32_t owner[N_SEQ];
    float *out = malloc((size_t)N_SEQ * V * sizeof(float));
    assert_non_null(out);
    cm_err err;
    for (uint32_t step = 0; step < 64; step++) {
        uint32_t n = 0, n_out = 0;
        for (uint32_t s = 0; s < N_SEQ; s++) {
            seq_plan *sp = &plan[s];
            if (sp->done || step < sp->start_step)
                continue;
            if (sp->fed < sp->n_prompt) {
                uint32_t k = sp->n_prompt - sp->fed < sp->chunk ? sp->n_prompt - sp->fed
                                                                : sp->chunk;
                for (uint32_t i = 0; i < k; i++) {
                    toks[n] = sp->prompt[sp->fed + i];
                    seq[n] = s;
                    want[n] = sp->fed + i + 1 == sp->n_prompt;
                    n_out += want[n];
                    n++;
                }
                sp->fed += k;
            } else {
                toks[n] = sp->next;
                seq[n] = s;
                want[n] = true;
                n_out++;
                n++;
            }
        }
        if (n == 0)
            break;
        gm_batch b = {.n_tokens = n, .tokens = toks, .seq = seq, .want_logits = want};
        assert_int_equal(gm_batch_n_outputs(&b), n_out);
        assert_int_equal(gm_decode(ctx, &b, out, &err), 0);
        uint32_t r = 0;
        for (uint32_t i = 0; i < n; i++)
            if (want[i])
                owner[r++] = seq[i];
        for (uint32_t k = 0; k < n_out; k++) {
            seq_plan *sp = &plan[owner[k]];
            const float *row = out + (size_t)k * V;
            memcpy(sp->rows + (size_t)sp->gen * V, row, V * sizeof(float));
            sp->next = argmax(row, V);
            sp->gen++;
            if (sp->gen == GEN || (sp->cancel_after && sp->gen == sp->cancel_after)) {
                sp->done = true;
                assert_int_equal(gm_context_seq_clear(ctx, owner[k], &err), 0);
            }
        }
    }
    double worst = 0;
    *bit_exact = true;
    for (uint32_t s = 0; s < N_SEQ; s++) {
        uint32_t n_rows = plan[s].cancel_after ? plan[s].cancel_after : GEN;
        assert_true(plan[s].done);
        assert_int_equal(plan[s].gen, n_rows);
        size_t nf = (size_t)n_rows * V;
        if (memcmp(plan[s].rows, alone[s], nf * sizeof(float)) != 0)
            *bit_exact = false;
        double d = max_rel_diff(alone[s], plan[s].rows, nf);
        worst = fmax(worst, d);
        free(plan[s].rows);
        free(alone[s]);
    }
    free(out);
    gm_context_free(ctx);
    return worst;
}

static void test_mixed_batch_quant_bit_exact(void **state)
{
    fixture *fx = *state;
    bool exact = false;
    double d = run_mixed(fx->m_quant, &exact);
    printf("# Q8_0: mixed batch vs alone: max relative logit difference %g (%s)\n", d,
           exact ? "bit-identical" : "NOT bit-identical");
    assert_true(exact);
}

static void test_mixed_batch_f32_bit_exact(void **state)
{
    fixture *fx = *state;
    bool exact = false;
    double d = run_mixed(fx->m_f32, &exact);
    printf("# F32: mixed batch vs alone: max relative logit difference %g (%s)\n", d,
           exact ? "bit-identical" : "NOT bit-identical");
    assert_true(exact);
}

/* All-logits cold run of ids on a fresh context. */
static float *cold_rows(gm_model *m, const int32_t *ids, uint32_t n)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    gm_context *ctx = new_ctx(m, 1);
    float *lg = malloc((size_t)n * V * sizeof(float));
    bool want[MAX_PROMPT];
    assert_non_null(lg);
    for (uint32_t i = 0; i < n; i++)
        want[i] = true;
    gm_batch b = {.n_tokens = n, .tokens = ids, .want_logits = want};
    cm_err err;
    assert_int_equal(gm_decode(ctx, &b, lg, &err), 0);
    gm_context_free(ctx);
    return lg;
}

/* Feed ids[from, n) to seq and compare each row with the cold run. */
static void continue_and_check(gm_context *ctx, uint32_t seq, const int32_t *ids, uint32_t from,
                               uint32_t n, const float *cold, uint32_t V)
{
    int32_t toks[MAX_PROMPT];
    uint32_t sq[MAX_PROMPT];
    bool want[MAX_PROMPT];
    float *lg = malloc((size_t)MAX_PROMPT * V * sizeof(float));
    assert_non_null(lg);
    for (uint32_t i = from; i < n; i++) {
        toks[i - from] = ids[i];
        sq[i - from] = seq;
        want[i - from] = true;
    }
    gm_batch b = {.n_tokens = n - from, .tokens = toks, .seq = sq, .want_logits = want};
    cm_err err;
    assert_int_equal(gm_decode(ctx, &b, lg, &err), 0);
    assert_memory_equal(lg, cold + (size_t)from * V, (size_t)(n - from) * V * sizeof(float));
    free(lg);
}

static void test_prefix_snapshot_copy_truncate(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m_quant;
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    enum { N = 30, PREFIX = 20 };
    int32_t ids[N];
    make_ids(ids, N, 7, V);
    float *cold = cold_rows(m, ids, N);
    gm_context *ctx = new_ctx(m, 3);
    cm_err err;
    const uint32_t W = gm_context_min_window(ctx);
    assert_int_equal(W, 8); /* the tiny preset's sliding window */

    /* sequence 0 reads the prefix in chunks of W, a snapshot taken after
     * each, then the rest: its rings move far past the prefix */
    gm_kv_snapshot *snap = NULL;
    assert_int_equal(gm_kv_snapshot_new(ctx, PREFIX, &snap, &err), 0);
    uint32_t seq0[N] = {0};
    for (uint32_t at = 0; at < PREFIX; at += W) {
        uint32_t k = PREFIX - at < W ? PREFIX - at : W;
        gm_batch b = {.n_tokens = k, .tokens = ids + at, .seq = seq0};
        float row[1024];
        assert_true(V <= 1024);
        assert_int_equal(gm_decode(ctx, &b, row, &err), 0);
        assert_int_equal(gm_kv_snapshot_append(snap, ctx, 0, at + k, &err), 0);
    }
    assert_int_equal(gm_kv_snapshot_len(snap), PREFIX);
    assert_true(gm_kv_snapshot_bytes(snap) > 0);
    continue_and_check(ctx, 0, ids, PREFIX, N, cold, V);

    /* the whole prefix, then a shorter one, restored into sequence 1 */
    assert_int_equal(gm_kv_snapshot_restore(snap, ctx, 1, PREFIX, &err), 0);
    assert_int_equal(gm_context_seq_len(ctx, 1), PREFIX);
    continue_and_check(ctx, 1, ids, PREFIX, N, cold, V);
    assert_int_equal(gm_context_seq_clear(ctx, 1, &err), 0);
    assert_int_equal(gm_kv_snapshot_restore(snap, ctx, 1, 13, &err), 0);
    continue_and_check(ctx, 1, ids, 13, N, cold, V);
    /* more than the snapshot holds is refused */
    assert_int_equal(gm_kv_snapshot_restore(snap, ctx, 2, PREFIX + 1, &err), -1);

    /* sequence 0 holds N: its rings hold the last W positions only, so
     * cutting back to 13 or N - 2 is refused (and changes nothing: position
     * N - 2 needs N - 9, overwritten by N - 1), to N - 1 works */
    assert_int_equal(gm_context_seq_truncate(ctx, 0, 13, &err), -1);
    assert_int_equal(gm_context_seq_len(ctx, 0), N);
    assert_int_equal(gm_context_seq_copy(ctx, 0, 2, 13, &err), -1);
    assert_int_equal(gm_context_seq_truncate(ctx, 0, N - 2, &err), -1);
    assert_int_equal(gm_context_seq_copy(ctx, 0, 2, N - 1, &err), 0);
    continue_and_check(ctx, 2, ids, N - 1, N, cold, V);
    assert_int_equal(gm_context_seq_truncate(ctx, 0, N - 1, &err), 0);
    continue_and_check(ctx, 0, ids, N - 1, N, cold, V);

    /* KV bytes of a sequence: sliding layers stop growing at W */
    uint64_t b7 = gm_context_seq_kv_bytes(ctx, 7), b8 = gm_context_seq_kv_bytes(ctx, 8),
             b9 = gm_context_seq_kv_bytes(ctx, 9), b10 = gm_context_seq_kv_bytes(ctx, 10);
    assert_true(b7 > 0 && b9 > b8);
    assert_true(b8 - b7 > b9 - b8);  /* the 9th position goes to full layers only */
    assert_true(b10 - b9 == b9 - b8);
    gm_kv_snapshot_free(snap);
    gm_context_free(ctx);
    free(cold);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_batch_quant_bit_exact),
        cmocka_unit_test(test_mixed_batch_f32_bit_exact),
        cmocka_unit_test(test_prefix_snapshot_copy_truncate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
