/*
 * tests/unit/test_attn_decode.c -- decode steps after a long prompt give
 * the same logits, bit for bit, however attention shares out its work
 * (engine/model/attention.c, attn_split.c).
 *
 * A step with fewer (token, KV head) pairs than threads -- a decode step
 * on 2 or 3 threads -- is split by keys and output columns at a long
 * context, by blocks of query heads at a short one; one thread, or a
 * prompt, splits by (token, KV head). On a synthetic model with group
 * sizes 8 (full layers, one KV head of 160: not a multiple of 64) and 4
 * (sliding layers, two KV heads of 96), a sliding window of 400 cut inside
 * a 600-token prompt, and KV-shared layers, two sequences (600 and 150
 * tokens of prompt: long and short contexts) decode together and then
 * the long one alone, on 1, 2 and 3 threads; every step's logits must
 * equal the others' and those of the same tokens evaluated as one long
 * prompt.
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

enum {
    N_PROMPT0 = 600, /* sequence 0's prompt */
    N_PROMPT1 = 150, /* sequence 1's prompt */
    N_BOTH = 4,      /* decode steps of both sequences */
    N_ALONE = 3,     /* then of sequence 0 alone */
    N_CTX = 620,
    ROWS = 2 * N_BOTH + N_ALONE,
};

static void make_ids(int32_t *ids, uint32_t n, uint32_t seed, uint32_t vocab)
{
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % vocab);
    }
}

/* Sequence 0's tokens (prompt, then the decoded ones) and sequence 1's. */
typedef struct tokens {
    int32_t s0[N_PROMPT0 + N_BOTH + N_ALONE];
    int32_t s1[N_PROMPT1 + N_BOTH];
} tokens;

static gm_context *new_ctx(gm_model *m, int n_threads)
{
    gm_context_opts co = {.n_ctx = N_CTX, .n_seq_max = 2, .n_threads = n_threads};
    gm_context *ctx = NULL;
    cm_err err;
    if (gm_context_new(m, &co, &ctx, &err) < 0)
        fail_msg("context: %s", err.msg);
    return ctx;
}

static void decode(gm_context *ctx, const int32_t *toks, const uint32_t *seq, uint32_t n,
                   const bool *want, float *out)
{
    cm_err err;
    gm_batch b = {.n_tokens = n, .tokens = toks, .seq = seq, .want_logits = want};
    if (gm_decode(ctx, &b, out, &err) < 0)
        fail_msg("decode: %s", err.msg);
}

/* The prompts, then decode steps; the steps' logits go to out: per step
 * of both, sequence 0's row then sequence 1's, then sequence 0's alone. */
static void run_steps(gm_model *m, int n_threads, const tokens *t, float *out, uint32_t V)
{
    gm_context *ctx = new_ctx(m, n_threads);
    float *scratch = malloc(2 * (size_t)V * sizeof(float));
    assert_non_null(scratch);
    uint32_t seq[2] = {0, 1};
    static uint32_t zeros[N_PROMPT0], ones[N_PROMPT1];
    for (uint32_t i = 0; i < N_PROMPT1; i++)
        ones[i] = 1;
    decode(ctx, t->s0, zeros, N_PROMPT0, NULL, scratch);
    decode(ctx, t->s1, ones, N_PROMPT1, NULL, scratch);
    float *row = out;
    for (uint32_t s = 0; s < N_BOTH; s++) {
        const int32_t two[2] = {t->s0[N_PROMPT0 + s], t->s1[N_PROMPT1 + s]};
        decode(ctx, two, seq, 2, NULL, row);
        row += 2 * (size_t)V;
    }
    for (uint32_t s = 0; s < N_ALONE; s++) {
        decode(ctx, &t->s0[N_PROMPT0 + N_BOTH + s], seq, 1, NULL, row);
        row += V;
    }
    free(scratch);
    gm_context_free(ctx);
}

/* The same tokens as one prompt per sequence, the logits of the decoded
 * positions wanted, in the layout of run_steps. */
static void run_prompts(gm_model *m, const tokens *t, float *out, uint32_t V)
{
    enum { N0 = N_PROMPT0 + N_BOTH + N_ALONE, N1 = N_PROMPT1 + N_BOTH };
    gm_context *ctx = new_ctx(m, 2);
    static bool want0[N0], want1[N1];
    static uint32_t zeros[N0], ones[N1];
    for (uint32_t i = 0; i < N0; i++)
        want0[i] = i >= N_PROMPT0;
    for (uint32_t i = 0; i < N1; i++) {
        want1[i] = i >= N_PROMPT1;
        ones[i] = 1;
    }
    float *l0 = malloc((size_t)N0 * V * sizeof(float)), *l1 = malloc((size_t)N1 * V * sizeof(float));
    assert_non_null(l0);
    assert_non_null(l1);
    decode(ctx, t->s0, zeros, N0, want0, l0);
    decode(ctx, t->s1, ones, N1, want1, l1);
    /* wanted row r: after the token that decode step r feeds */
    float *row = out;
    for (uint32_t s = 0; s < N_BOTH; s++) {
        memcpy(row, l0 + (size_t)s * V, V * sizeof(float));
        memcpy(row + V, l1 + (size_t)s * V, V * sizeof(float));
        row += 2 * (size_t)V;
    }
    for (uint32_t s = 0; s < N_ALONE; s++) {
        memcpy(row, l0 + (size_t)(N_BOTH + s) * V, V * sizeof(float));
        row += V;
    }
    free(l0);
    free(l1);
    gm_context_free(ctx);
}

static void test_decode_split(void **state)
{
    (void)state;
    char dir[64], path[128];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/test_attn_decode.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.gguf", dir);

    gm_synth_config cfg;
    cm_err err;
    assert_int_equal(gm_synth_preset("tiny", &cfg, &err), 0);
    cfg.n_head = 8;
    cfg.n_head_kv_swa = 2;   /* group of 4 */
    cfg.n_head_kv_full = 1;  /* group of 8 */
    cfg.head_dim_swa = 96;   /* not multiples of 64 */
    cfg.head_dim_full = 160;
    cfg.sliding_window = 400;
    assert_true(cfg.n_shared_kv > 0);
    gm_synth_opts o = {.type = GM_TYPE_Q8_0, .seed = 13, .n_threads = 1};
    if (gm_synth_write(&cfg, &o, path, &err) < 0)
        fail_msg("synth: %s", err.msg);
    gm_load_opts lo = {.n_threads = 1};
    gm_model *m = NULL;
    if (gm_model_load(path, &lo, &m, &err) < 0)
        fail_msg("load: %s", err.msg);

    const uint32_t V = gm_model_get_info(m)->n_vocab;
    static tokens t;
    make_ids(t.s0, N_PROMPT0 + N_BOTH + N_ALONE, 21, V);
    make_ids(t.s1, N_PROMPT1 + N_BOTH, 22, V);
    const size_t n = (size_t)ROWS * V;
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    assert_non_null(want);
    assert_non_null(got);
    run_prompts(m, &t, want, V);

    /* not vacuous: finite logits, and rows that differ */
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(want[i]));
    assert_true(memcmp(want, want + V, V * sizeof(float)) != 0);

    for (int th = 1; th <= 3; th++) {
        memset(got, 0, n * sizeof(float));
        run_steps(m, th, &t, got, V);
        for (size_t r = 0; r < ROWS; r++)
            if (memcmp(got + r * V, want + r * V, V * sizeof(float)) != 0)
                fail_msg("%d threads: decode row %zu differs from the prompt's logits", th, r);
    }
    free(want);
    free(got);
    gm_model_free(m);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
