/*
 * tests/unit/test_cuda_plan.c -- the host side of the CUDA backend, on any
 * machine: device names ("cpu", "cuda:N"), the weight upload plan (which
 * tensors, their sizes, alignment, formats refused by name), the layout
 * of a context's GPU buffers and KV cache, and the clear error when a GPU
 * is asked for and there is none.
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

#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_plan.h"
#include "engine/gemma.h"
#include "engine/model/model.h"
#include "engine/synth/synth.h"

typedef struct fixture {
    char dir[64];
    char path[3][128];
    gm_model *m[3]; /* tiny f32, tiny q4_k (untied), tiny-moe q4_k */
} fixture;

static int write_model(const char *preset, gm_type type, bool untied, const char *path)
{
    gm_synth_config cfg;
    cm_err err;
    gm_synth_opts o = {.type = type, .seed = 5};
    if (gm_synth_preset(preset, &cfg, &err) < 0)
        return -1;
    cfg.untied = untied;
    if (gm_synth_write(&cfg, &o, path, &err) < 0) {
        fprintf(stderr, "synth %s: %s\n", preset, err.msg);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_cuda_plan.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    const char *preset[3] = {"tiny", "tiny", "tiny-moe"};
    const gm_type type[3] = {GM_TYPE_F32, GM_TYPE_Q4_K, GM_TYPE_Q4_K};
    gm_load_opts lo = {.n_threads = 1};
    cm_err err;
    for (int i = 0; i < 3; i++) {
        snprintf(fx->path[i], sizeof(fx->path[i]), "%s/m%d.gguf", fx->dir, i);
        if (write_model(preset[i], type[i], i == 1, fx->path[i]) < 0
            || gm_model_load(fx->path[i], &lo, &fx->m[i], &err) < 0)
            return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++) {
        gm_model_free(fx->m[i]);
        unlink(fx->path[i]);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void test_device_parse(void **state)
{
    (void)state;
    cm_err err;
    int idx = 7;
    assert_int_equal(gm_device_parse(NULL, &idx, &err), 0);
    assert_int_equal(idx, -1);
    assert_int_equal(gm_device_parse("cpu", &idx, &err), 0);
    assert_int_equal(idx, -1);
    assert_int_equal(gm_device_parse("cuda", &idx, &err), 0);
    assert_int_equal(idx, 0);
    assert_int_equal(gm_device_parse("cuda:0", &idx, &err), 0);
    assert_int_equal(idx, 0);
    assert_int_equal(gm_device_parse("cuda:13", &idx, &err), 0);
    assert_int_equal(idx, 13);
    const char *bad[] = {"cuda:x", "cuda:", "gpu", "cuda:-1", "cuda:0x", "CPU", "cuda:99999",
                         " cuda:0", "cuda0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cm_err_clear(&err);
        assert_int_equal(gm_device_parse(bad[i], &idx, &err), -1);
        assert_non_null(strstr(err.msg, "expected cpu, cuda or cuda:N"));
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

static void test_slots_round_trip(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++) {
        const gm_model *m = fx->m[i];
        const uint32_t n = GM_CUDA_N_GLOBAL_SLOTS + m->hp.n_layer * (uint32_t)GM_CUDA_LAYER_SLOTS;
        for (uint32_t s = 0; s < n; s++)
            assert_int_equal(gm_cuda_weight_slot(m, gm_cuda_slot_weight(m, s)), s);
        gm_weight other;
        assert_int_equal(gm_cuda_weight_slot(m, &other), -1);
        assert_ptr_equal(gm_cuda_slot_weight(m, GM_CUDA_N_GLOBAL_SLOTS + 1), &m->layers[0].wq);
    }
}

static bool is_name(const gguf_tensor *t, const char *name)
{
    return t->name.len == strlen(name) && memcmp(t->name.ptr, name, t->name.len) == 0;
}

/* The plan holds every tensor of the file but the two embedding tables,
 * plus the token embedding again as the LM head when the output is tied;
 * sizes are the tensors' own, each aligned, in slot order without overlap. */
static void test_upload_plan(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++) {
        const gm_model *m = fx->m[i];
        gm_cuda_plan p;
        cm_err err;
        assert_int_equal(gm_cuda_plan_weights(m, &p, &err), 0);
        uint64_t expect = 0, tok = 0;
        uint32_t count = 0;
        bool tied = true;
        for (int64_t t = 0; t < gguf_n_tensors(m->file); t++) {
            const gguf_tensor *gt = gguf_tensor_at(m->file, t);
            if (is_name(gt, "output.weight"))
                tied = false;
            if (is_name(gt, "token_embd.weight"))
                tok = gt->nbytes;
            if (is_name(gt, "token_embd.weight") || is_name(gt, "per_layer_token_embd.weight"))
                continue;
            expect += gt->nbytes;
            count++;
        }
        if (tied) {
            expect += tok;
            count++;
        }
        assert_int_equal(tied, i != 1);
        assert_int_equal(p.n_tensors, count);
        assert_true(p.weight_bytes >= expect);
        assert_true(p.weight_bytes < expect + (uint64_t)GM_CUDA_ALIGN * count);
        uint64_t end = 0;
        for (uint32_t s = 0; s < p.n_slots; s++) {
            if (p.offset[s] == GM_CUDA_NOT_UPLOADED)
                continue;
            const gm_weight *w = gm_cuda_slot_weight(m, s);
            assert_non_null(w->data);
            assert_int_equal(p.offset[s] % GM_CUDA_ALIGN, 0);
            assert_true(p.offset[s] >= end);
            end = p.offset[s] + w->row_bytes * w->ne[1] * w->ne[2];
            assert_true(end <= p.weight_bytes);
        }
        /* dense: a step reads every uploaded byte; MoE: k of n experts */
        if (m->hp.n_expert == 0) {
            assert_true(p.bytes_per_token >= expect && p.bytes_per_token <= p.weight_bytes);
        } else {
            uint64_t exp = 0;
            for (uint32_t il = 0; il < m->hp.n_layer; il++) {
                const gm_layer *l = &m->layers[il];
                const gm_weight *ew[] = {&l->gate_up_exps, &l->gate_exps, &l->up_exps, &l->down_exps};
                for (int k = 0; k < 4; k++)
                    if (ew[k]->data != NULL)
                        exp += ew[k]->row_bytes * ew[k]->ne[1] * ew[k]->ne[2];
            }
            assert_true(exp > 0);
            const uint64_t kx = m->hp.layer[0].n_expert_used, X = m->hp.n_expert;
            assert_int_equal(p.bytes_per_token, expect - exp + exp / X * kx);
        }
        assert_int_equal(p.offset[GM_CUDA_SLOT_TOK_EMBD], GM_CUDA_NOT_UPLOADED);
        assert_true(p.offset[GM_CUDA_SLOT_OUTPUT] != GM_CUDA_NOT_UPLOADED);
        gm_cuda_plan_free(&p);
    }
}

static void test_plan_refuses_format(void **state)
{
    fixture *fx = *state;
    gm_model *m = fx->m[1];
    const gm_type saved = m->layers[2].wo.type;
    m->layers[2].wo.type = GM_TYPE_Q5_1;
    gm_cuda_plan p;
    cm_err err;
    cm_err_clear(&err);
    assert_int_equal(gm_cuda_plan_weights(m, &p, &err), -1);
    m->layers[2].wo.type = saved;
    assert_non_null(strstr(err.msg, "blk.2.attn_output.weight"));
    assert_non_null(strstr(err.msg, "q5_1"));
    assert_null(p.offset);
    /* a norm that is not f32 is refused too */
    const gm_type nsaved = m->output_norm.type;
    m->output_norm.type = GM_TYPE_F16;
    assert_int_equal(gm_cuda_plan_weights(m, &p, &err), -1);
    m->output_norm.type = nsaved;
    assert_non_null(strstr(err.msg, "output_norm.weight"));
}

/* The GPU KV cache mirrors the host cache's shape: its size is the host
 * cache's total (gm_context_kv_usage) up to per-layer alignment; the
 * buffers hold a step of n_max tokens. */
static void test_context_layout(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++) {
        gm_model *m = fx->m[i];
        gm_context *ctx = NULL;
        cm_err err;
        gm_context_opts co = {.n_ctx = 40, .n_seq_max = 3, .n_threads = 1};
        assert_int_equal(gm_context_new(m, &co, &ctx, &err), 0);
        gm_cuda_layout lay;
        assert_int_equal(gm_cuda_plan_layout(&m->hp, ctx->s.n_max, 3, &ctx->kv, &lay, &err), 0);
        uint64_t used = 0, total = 0;
        gm_context_kv_usage(ctx, &used, &total);
        assert_true(total > 0);
        assert_true(lay.kv_bytes >= total);
        assert_true(lay.kv_bytes < total + (uint64_t)GM_CUDA_ALIGN * m->hp.n_layer);
        assert_int_equal(lay.n_max, ctx->s.n_max);
        assert_int_equal(lay.size[GM_CB_LOGITS], (uint64_t)lay.n_max * m->hp.n_vocab * 4);
        assert_int_equal(lay.size[GM_CB_X], (uint64_t)lay.n_max * m->hp.n_embd * 4);
        assert_int_equal(lay.step_seq_off + 3, lay.size[GM_CB_STEP] / 4);
        assert_int_equal(lay.k_max, m->hp.n_expert > 0 ? m->hp.layer[0].n_expert_used : 1);
        uint64_t end = 0;
        for (int b = 0; b < GM_CB_COUNT; b++) {
            assert_true(lay.off[b] >= end);
            assert_int_equal(lay.off[b] % GM_CUDA_ALIGN, 0);
            end = lay.off[b] + lay.size[b];
        }
        assert_true(end <= lay.scratch_bytes);
        gm_context_free(ctx);
    }
}

/* Asking for a GPU where there is none fails at load, naming the cause. */
static void test_no_device_load_error(void **state)
{
    fixture *fx = *state;
    cm_err err;
    cm_err_clear(&err);
    gm_model *m = NULL;
    gm_load_opts lo = {.n_threads = 1, .device = "cuda:x"};
    assert_int_equal(gm_model_load(fx->path[0], &lo, &m, &err), -1);
    assert_non_null(strstr(err.msg, "expected cpu, cuda or cuda:N"));
    assert_null(m);

    cm_err why;
    if (gm_cuda_device_count(&why) > 0) {
        print_message("# skipped: a CUDA device is present (the no-device error cannot be seen)\n");
        skip();
    }
    lo.device = "cuda:0";
    assert_int_equal(gm_model_load(fx->path[0], &lo, &m, &err), -1);
    assert_null(m);
    assert_non_null(strstr(err.msg, "no CUDA device"));
    print_message("# %s\n", err.msg);
}

static void test_cpu_device_info(void **state)
{
    fixture *fx = *state;
    gm_device_info di;
    gm_model_device_info(fx->m[0], &di);
    assert_string_equal(di.device, "cpu");
    assert_int_equal(di.model_bytes, gm_model_get_info(fx->m[0])->n_bytes);
    assert_int_equal(di.mem_total, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_parse),
        cmocka_unit_test(test_slots_round_trip),
        cmocka_unit_test(test_upload_plan),
        cmocka_unit_test(test_plan_refuses_format),
        cmocka_unit_test(test_context_layout),
        cmocka_unit_test(test_no_device_load_error),
        cmocka_unit_test(test_cpu_device_info),
    };
    return cmocka_run_group_tests_name("cuda_plan", tests, setup, teardown);
}
