/*
 * tests/unit/test_model_repack.c -- Q4_K weights repacked at model load
 * (engine/model/repack.c): a synthetic Q4_K model (dense, and MoE with
 * Q4_K experts) loaded with GEMMA_CPU_REPACK=0 and =1 gives the very same
 * logits, bit for bit, for a prompt, for decode steps and for two
 * sequences decoded in one batch; the repacked model really holds packed
 * copies (and the other one none), and the originals' pages given back
 * still read as the file holds them. Runs on the AVX2 and AVX-512 paths
 * (the suite runs this program on the CPU's best path and once more each
 * under GEMMA_CPU=avx2 and =scalar: model_repack_avx2.sh,
 * model_repack_scalar.sh); on the scalar path the comparisons are skipped
 * with the reason printed, and only the check that nothing is repacked
 * there runs.
 *
 * The same for a synthetic Q6_K model (engine/cpu/q6k_packed.h): its
 * matmul weights and the output projection (token_embd, tied) are
 * repacked, REPACK=0 and =1 give the same logits, and the embedding lookup
 * still reads token_embd's rows from the mapping after its pages were
 * given back. That case needs the AVX2 or AVX-512 path; the suite also
 * runs this program with GEMMA_CPU=avx2 (tests/unit/model_repack_avx2.sh).
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

#include "engine/cpu/cpu_path.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/format/gguf.h"
#include "engine/gemma.h"
#include "engine/model/model.h"
#include "engine/synth/synth.h"

typedef struct fixture {
    char dir[64];
    char path[3][128]; /* dense, MoE (Q4_K), dense Q6_K */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_repack.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    static const char *const presets[3] = {"tiny", "tiny-moe", "tiny"};
    static const char *const files[3] = {"tiny", "tiny-moe", "tiny-q6k"};
    for (int k = 0; k < 3; k++) {
        snprintf(fx->path[k], sizeof(fx->path[k]), "%s/%s.gguf", fx->dir, files[k]);
        gm_synth_config cfg;
        cm_err err;
        gm_synth_opts o = {.type = k == 2 ? GM_TYPE_Q6_K : GM_TYPE_Q4_K, .seed = 7, .n_threads = 1};
        if (gm_synth_preset(presets[k], &cfg, &err) < 0 ||
            gm_synth_write(&cfg, &o, fx->path[k], &err) < 0) {
            fprintf(stderr, "synth: %s\n", err.msg);
            return -1;
        }
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < 3; k++)
        unlink(fx->path[k]);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static gm_model *load(const char *path, const char *repack)
{
    assert_int_equal(setenv("GEMMA_CPU_REPACK", repack, 1), 0);
    gm_load_opts lo = {.n_threads = 2};
    gm_model *m = NULL;
    cm_err err;
    if (gm_model_load(path, &lo, &m, &err) < 0)
        fail_msg("load %s: %s", path, err.msg);
    assert_int_equal(unsetenv("GEMMA_CPU_REPACK"), 0);
    return m;
}

enum { N_PROMPT = 11, N_GEN = 4 };

/* The logits of a prompt (every position) and of N_GEN greedy decode steps
 * of sequence 0, and of sequence 1 (another prompt) decoded in the same
 * batches: [N_PROMPT + N_GEN][V] for seq 0 then [N_GEN][V] for seq 1. */
static float *run(gm_model *m)
{
    const uint32_t V = gm_model_get_info(m)->n_vocab;
    gm_context_opts co = {.n_ctx = 64, .n_seq_max = 2, .n_threads = 3};
    gm_context *ctx = NULL;
    cm_err err;
    assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);
    float *out = calloc((size_t)(N_PROMPT + 2 * N_GEN) * V, sizeof(float));
    assert_non_null(out);
    int32_t toks[2 * N_PROMPT];
    uint32_t seq[2 * N_PROMPT];
    bool want[2 * N_PROMPT];
    for (uint32_t i = 0; i < 2 * N_PROMPT; i++) {
        toks[i] = (int32_t)((i * 7919u + 13u) % V);
        seq[i] = i < N_PROMPT ? 0 : 1;
        want[i] = i < N_PROMPT || i == 2 * N_PROMPT - 1;
    }
    float *logits = calloc((size_t)(N_PROMPT + 1) * V, sizeof(float));
    assert_non_null(logits);
    gm_batch b = {.n_tokens = 2 * N_PROMPT, .tokens = toks, .seq = seq, .want_logits = want};
    if (gm_decode(ctx, &b, logits, &err) < 0)
        fail_msg("decode: %s", err.msg);
    memcpy(out, logits, (size_t)N_PROMPT * V * sizeof(float));
    float *last[2] = {logits + (size_t)(N_PROMPT - 1) * V, logits + (size_t)N_PROMPT * V};
    float step[2 * 4096];
    assert_true(V <= 4096);
    for (uint32_t g = 0; g < N_GEN; g++) {
        int32_t next[2];
        for (int s = 0; s < 2; s++) {
            uint32_t best = 0;
            for (uint32_t i = 1; i < V; i++)
                if (last[s][i] > last[s][best])
                    best = i;
            next[s] = (int32_t)best;
        }
        uint32_t sq[2] = {0, 1};
        bool wt[2] = {true, true};
        gm_batch one = {.n_tokens = 2, .tokens = next, .seq = sq, .want_logits = wt};
        if (gm_decode(ctx, &one, step, &err) < 0)
            fail_msg("decode: %s", err.msg);
        memcpy(out + (size_t)(N_PROMPT + g) * V, step, V * sizeof(float));
        memcpy(out + (size_t)(N_PROMPT + N_GEN + g) * V, step + V, V * sizeof(float));
        memcpy(logits, step, 2 * V * sizeof(float));
        last[0] = logits;
        last[1] = logits + V;
    }
    free(logits);
    gm_context_free(ctx);
    return out;
}

/* Whether any matmul weight of the model holds a packed copy. */
static bool has_packed(const gm_model *m)
{
    if (m->ple_model_proj.packed != NULL || m->ple_model_proj.packed6 != NULL ||
        m->output.packed6 != NULL)
        return true;
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const gm_layer *l = &m->layers[il];
        const gm_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wqkv, &l->wo, &l->ffn_gate,
                                 &l->ffn_up, &l->ffn_down, &l->gate_up_exps, &l->down_exps,
                                 &l->ple_gate, &l->ple_proj};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            if (ws[k]->packed != NULL || ws[k]->packed6 != NULL)
                return true;
    }
    return false;
}

static void check_model(const char *path)
{
    gm_model *m0 = load(path, "0");
    gm_model *m1 = load(path, "1");
    assert_false(has_packed(m0));
    assert_int_equal(m0->repacked_bytes, 0);
    assert_true(has_packed(m1));
    assert_true(m1->repacked_bytes > 0);
    const uint32_t V = gm_model_get_info(m0)->n_vocab;
    float *a = run(m0), *b = run(m1);
    const size_t n = (size_t)(N_PROMPT + 2 * N_GEN) * V;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s: logit %zu (row %zu) is %.9g repacked, %.9g not", path, i, i / V,
                     (double)b[i], (double)a[i]);
    free(a);
    free(b);
    gm_model_free(m0);
    gm_model_free(m1);
}

static void test_dense_repacked_bit_identical(void **state)
{
    const fixture *fx = *state;
    if (!gm_q4k_packed_supported()) {
        print_message("# no Q4_K repacking on the '%s' CPU path (needs AVX2 or AVX-512): "
                      "skipped\n",
                      gm_cpu_path_name());
        skip();
    }
    check_model(fx->path[0]);
}

static void test_moe_repacked_bit_identical(void **state)
{
    const fixture *fx = *state;
    if (!gm_q4k_packed_supported()) {
        print_message("# no Q4_K repacking on the '%s' CPU path (needs AVX2 or AVX-512): "
                      "skipped\n",
                      gm_cpu_path_name());
        skip();
    }
    check_model(fx->path[1]);
    /* the experts are repacked one by one */
    gm_model *m = load(fx->path[1], "1");
    const gm_layer *l = &m->layers[0];
    assert_non_null(l->gate_up_exps.packed);
    for (uint64_t e = 0; e < l->gate_up_exps.ne[2]; e++)
        assert_non_null(l->gate_up_exps.packed[e]);
    assert_null(l->down_exps.packed); /* not Q4_K */
    gm_model_free(m);
}

/* The originals' pages given back (MADV_DONTNEED) still read as the file
 * holds them: the mapping stays valid. */
static void test_released_pages_read_back(void **state)
{
    const fixture *fx = *state;
    if (!gm_q4k_packed_supported()) {
        print_message("# no Q4_K repacking on the '%s' CPU path (needs AVX2 or AVX-512): "
                      "skipped\n",
                      gm_cpu_path_name());
        skip();
    }
    gm_model *m = load(fx->path[0], "1");
    gguf_file *f = NULL;
    cm_err err;
    assert_int_equal(gguf_open(fx->path[0], &f, &err), 0);
    int n_checked = 0;
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const gm_layer *l = &m->layers[il];
        const gm_weight *ws[] = {&l->wq, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
            if (ws[k]->packed == NULL)
                continue;
            const gguf_tensor *t = gguf_find_tensor(f, ws[k]->name);
            assert_non_null(t);
            assert_int_equal(memcmp(ws[k]->data, t->data, ws[k]->ne[1] * ws[k]->row_bytes), 0);
            n_checked++;
        }
    }
    assert_true(n_checked > 0);
    gguf_close(f);
    gm_model_free(m);
}

/* A Q6_K model: its weights and the tied output projection are repacked,
 * with the same logits as without; token_embd's given-back pages (the
 * embedding lookup reads them) still hold the file's bytes. */
static void test_q6k_repacked_bit_identical(void **state)
{
    const fixture *fx = *state;
    if (!gm_q6k_packed_supported()) {
        print_message("# no Q6_K repacking on the '%s' CPU path (needs AVX2 or AVX-512): "
                      "skipped\n",
                      gm_cpu_path_name());
        skip();
    }
    check_model(fx->path[2]);
    gm_model *m = load(fx->path[2], "1");
    assert_int_equal(m->tok_embd.type, GM_TYPE_Q6_K);
    assert_ptr_equal(m->output.data, m->tok_embd.data); /* tied */
    assert_non_null(m->output.packed6);
    assert_non_null(m->output.packed6[0]);
    assert_int_equal(m->output.packed6[0]->rows, m->tok_embd.ne[1]);
    assert_null(m->tok_embd.packed6); /* the lookup reads the mapping */
    int n_layer_packed = 0;
    for (uint32_t il = 0; il < m->hp.n_layer; il++)
        if (m->layers[il].ffn_down.packed6 != NULL)
            n_layer_packed++;
    assert_true(n_layer_packed > 0);
    gguf_file *f = NULL;
    cm_err err;
    assert_int_equal(gguf_open(fx->path[2], &f, &err), 0);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(
        memcmp(m->tok_embd.data, t->data, m->tok_embd.ne[1] * m->tok_embd.row_bytes), 0);
    const gm_weight *down = &m->layers[0].ffn_down;
    if (down->packed6 != NULL) {
        t = gguf_find_tensor(f, down->name);
        assert_non_null(t);
        assert_int_equal(memcmp(down->data, t->data, down->ne[1] * down->row_bytes), 0);
    }
    gguf_close(f);
    gm_model_free(m);
}

/* On the scalar path no packed kernel runs: nothing is repacked, Q4_K or
 * Q6_K (the model runs on the plain blocks). */
static void test_no_repack_on_scalar_path(void **state)
{
    const fixture *fx = *state;
    if (gm_cpu_active_path() != GM_CPU_SCALAR) {
        print_message("# this process runs the '%s' path, which repacks: checked by the other "
                      "tests; skipped\n",
                      gm_cpu_path_name());
        skip();
    }
    assert_false(gm_q4k_packed_supported());
    assert_false(gm_q6k_packed_supported());
    for (int k = 0; k < 3; k++) {
        gm_model *m = load(fx->path[k], "1");
        assert_false(has_packed(m));
        assert_int_equal(m->repacked_bytes, 0);
        float *a = run(m);
        free(a);
        gm_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_repacked_bit_identical),
        cmocka_unit_test(test_moe_repacked_bit_identical),
        cmocka_unit_test(test_released_pages_read_back),
        cmocka_unit_test(test_q6k_repacked_bit_identical),
        cmocka_unit_test(test_no_repack_on_scalar_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
