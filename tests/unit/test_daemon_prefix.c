/*
 * tests/unit/test_daemon_prefix.c -- gemmad's prefix cache
 * (daemon/sched_prefix.h): the longest shared prefix is found, at least
 * min_tokens of it and never the prompt's last token; an entry covered by
 * a new one is replaced, a new one already covered is dropped; the byte
 * budget holds, least recently used entries going first; a budget of 0
 * turns the cache off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/sched_prefix.h"
#include "engine/gemma.h"
#include "engine/synth/synth.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    gm_model *model;
    gm_context *ctx;
    gm_kv_snapshot *full;   /* positions 0..39 of one sequence */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_prefix.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/tiny.gguf", fx->dir);
    gm_synth_config cfg;
    cm_err err;
    gm_synth_opts o = {.type = GM_TYPE_Q8_0, .seed = 5, .n_threads = 1};
    gm_load_opts lo = {.n_threads = 1};
    gm_context_opts co = {.n_ctx = 128, .n_seq_max = 1, .n_threads = 1};
    if (gm_synth_preset("tiny", &cfg, &err) < 0 || gm_synth_write(&cfg, &o, fx->path, &err) < 0
        || gm_model_load(fx->path, &lo, &fx->model, &err) < 0
        || gm_context_new(fx->model, &co, &fx->ctx, &err) < 0
        || gm_kv_snapshot_new(fx->ctx, 40, &fx->full, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    /* 40 positions read in chunks of the window (8), each chunk saved */
    int32_t ids[40];
    uint32_t seq[8] = {0};
    float *row = malloc(1024 * sizeof(float));
    for (int i = 0; i < 40; i++)
        ids[i] = 3 + i;
    for (uint32_t at = 0; at < 40; at += 8) {
        gm_batch b = {.n_tokens = 8, .tokens = ids + at, .seq = seq};
        if (row == NULL || gm_decode(fx->ctx, &b, row, &err) < 0
            || gm_kv_snapshot_append(fx->full, fx->ctx, 0, at + 8, &err) < 0) {
            free(row);
            return -1;
        }
    }
    free(row);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    gm_kv_snapshot_free(fx->full);
    gm_context_free(fx->ctx);
    gm_model_free(fx->model);
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* A snapshot of the first n positions. */
static gm_kv_snapshot *snap_of(fixture *fx, uint32_t n)
{
    cm_err err;
    gm_kv_snapshot *s = NULL;
    assert_int_equal(gm_kv_snapshot_new(fx->ctx, n, &s, &err), 0);
    assert_int_equal(gm_kv_snapshot_copy(s, fx->full, n, &err), 0);
    return s;
}

static void tokens(int32_t *t, uint32_t n, int32_t first)
{
    for (uint32_t i = 0; i < n; i++)
        t[i] = first + (int32_t)i;
}

static void test_lookup_rules(void **state)
{
    fixture *fx = *state;
    gmd_prefix_cache pc;
    gmd_prefix_init(&pc, 64u << 20, 8);
    int32_t a[40], p[60];
    tokens(a, 40, 3);
    gmd_prefix_insert(&pc, a, 30, snap_of(fx, 30));
    assert_int_equal(pc.n, 1);
    uint32_t reuse = 0;
    /* a prompt sharing 20 tokens reuses 20 */
    tokens(p, 60, 3);
    p[20] = 999;
    const gmd_prefix_entry *e = gmd_prefix_lookup(&pc, p, 60, &reuse);
    assert_non_null(e);
    assert_int_equal(reuse, 20);
    /* the same 30 tokens as the prompt: the last one is evaluated again */
    e = gmd_prefix_lookup(&pc, a, 30, &reuse);
    assert_non_null(e);
    assert_int_equal(reuse, 29);
    /* fewer than min_tokens shared: a miss */
    tokens(p, 60, 3);
    p[5] = 999;
    assert_null(gmd_prefix_lookup(&pc, p, 60, &reuse));
    assert_int_equal(reuse, 0);
    assert_int_equal(pc.hits, 2);
    assert_int_equal(pc.misses, 1);
    assert_int_equal(pc.hit_tokens, 49);
    /* a new entry covering the old one replaces it; one covered is dropped */
    gmd_prefix_insert(&pc, a, 40, snap_of(fx, 40));
    assert_int_equal(pc.n, 1);
    assert_int_equal(pc.entries[0].n_tokens, 40);
    gmd_prefix_insert(&pc, a, 35, snap_of(fx, 35));
    assert_int_equal(pc.n, 1);
    assert_int_equal(pc.entries[0].n_tokens, 40);
    assert_int_equal(pc.bytes, gm_kv_snapshot_bytes(pc.entries[0].snap));
    /* shorter than min_tokens: not kept */
    int32_t b[8];
    tokens(b, 8, 500);
    gmd_prefix_insert(&pc, b, 7, snap_of(fx, 7));
    assert_int_equal(pc.n, 1);
    gmd_prefix_free(&pc);
}

static void test_lru_budget(void **state)
{
    fixture *fx = *state;
    gm_kv_snapshot *probe = snap_of(fx, 20);
    const uint64_t one = gm_kv_snapshot_bytes(probe);
    gm_kv_snapshot_free(probe);
    gmd_prefix_cache pc;
    gmd_prefix_init(&pc, 2 * one + one / 2, 8); /* room for two entries */
    int32_t t1[20], t2[20], t3[20];
    tokens(t1, 20, 100);
    tokens(t2, 20, 200);
    tokens(t3, 20, 300);
    gmd_prefix_insert(&pc, t1, 20, snap_of(fx, 20));
    gmd_prefix_insert(&pc, t2, 20, snap_of(fx, 20));
    assert_int_equal(pc.n, 2);
    /* t1 used again: t2 is now the least recently used */
    uint32_t reuse;
    assert_non_null(gmd_prefix_lookup(&pc, t1, 20, &reuse));
    gmd_prefix_insert(&pc, t3, 20, snap_of(fx, 20));
    assert_int_equal(pc.n, 2);
    assert_int_equal(pc.evictions, 1);
    assert_true(pc.bytes <= pc.budget_bytes);
    assert_non_null(gmd_prefix_lookup(&pc, t1, 20, &reuse));
    assert_non_null(gmd_prefix_lookup(&pc, t3, 20, &reuse));
    assert_null(gmd_prefix_lookup(&pc, t2, 20, &reuse));
    /* an entry of twice the size evicts both others */
    int32_t big[40];
    tokens(big, 40, 400);
    gmd_prefix_insert(&pc, big, 40, snap_of(fx, 40));
    assert_int_equal(pc.n, 1);
    assert_int_equal(pc.evictions, 3);
    assert_true(pc.bytes <= pc.budget_bytes);
    assert_non_null(gmd_prefix_lookup(&pc, big, 40, &reuse));
    gmd_prefix_free(&pc);
    /* one larger than the whole budget is not kept */
    gmd_prefix_init(&pc, one / 2, 8);
    gmd_prefix_insert(&pc, t1, 20, snap_of(fx, 20));
    assert_int_equal(pc.n, 0);
    assert_int_equal(pc.bytes, 0);
    gmd_prefix_free(&pc);

    /* budget 0: off */
    gmd_prefix_init(&pc, 0, 8);
    assert_false(gmd_prefix_wanted(&pc, 100));
    gmd_prefix_insert(&pc, t1, 20, snap_of(fx, 20));
    assert_int_equal(pc.n, 0);
    assert_null(gmd_prefix_lookup(&pc, t1, 20, &reuse));
    gmd_prefix_free(&pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_rules),
        cmocka_unit_test(test_lru_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
