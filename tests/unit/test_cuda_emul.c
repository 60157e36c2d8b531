/*
 * tests/unit/test_cuda_emul.c -- the CUDA backend's forward pass
 * (engine/cuda/cuda_forward.c) on the host emulation of its kernels
 * (tests/unit/cuda_emul.c), against the CPU backend: synthetic dense (PLE,
 * shared KV, sliding window 8) and MoE models, 40 tokens as one batch
 * (several steps of a ring), token by token, and two interleaved
 * sequences. This runs everywhere; it checks the orchestration (uploads,
 * buffers, step plan, KV cache, MoE grouping), not the GPU kernels.
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

enum { N = 40 };

static double row_err(const float *a, const float *b, uint32_t n)
{
    double md = 0, mb = 0;
    for (uint32_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs((double)b[i]));
    }
    return mb > 0 ? md / mb : md;
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rows 0..N-1: the N tokens as one batch in sequence 0 (steps of 16
 * tokens, n_ctx 48 so the ring of the window-8 layers wraps within a
 * step); rows N..2N-1: the same tokens one at a time in sequence 1,
 * interleaved with tokens of sequence 2 in the same batches. */
static int run(const char *path, const char *device, const int32_t *ids, uint32_t V, float *out,
               uint64_t *kv_total, cm_err *err)
{
    gm_model *m = NULL;
    gm_context *ctx = NULL;
    int rc = -1;
    bool want[N];
    for (uint32_t i = 0; i < N; i++)
        want[i] = true;
    gm_load_opts lo = {.n_threads = 1, .device = device};
    gm_context_opts co = {.n_ctx = 48, .n_seq_max = 3, .n_threads = 1};
    if (gm_model_load(path, &lo, &m, err) < 0 || gm_context_new(m, &co, &ctx, err) < 0)
        goto out;
    for (uint32_t i0 = 0; i0 < N; i0 += 16) {
        const uint32_t nb = N - i0 < 16 ? N - i0 : 16;
        gm_batch b = {.n_tokens = nb, .tokens = ids + i0, .want_logits = want};
        if (gm_decode(ctx, &b, out + (size_t)i0 * V, err) < 0)
            goto out;
    }
    float *scratch = malloc(2 * (size_t)V * sizeof(float));
    if (scratch == NULL)
        goto out;
    for (uint32_t i = 0; i < N; i++) {
        const int32_t toks[2] = {ids[(i * 3) % N], ids[i]};
        const uint32_t seqs[2] = {2, 1};
        gm_batch b = {.n_tokens = 2, .tokens = toks, .seq = seqs};
        if (gm_decode(ctx, &b, scratch, err) < 0) {
            free(scratch);
            goto out;
        }
        memcpy(out + (size_t)(N + i) * V, scratch + V, V * sizeof(float));
    }
    free(scratch);
    gm_context_kv_usage(ctx, NULL, kv_total);
    if (strcmp(device, "cpu") != 0) {
        gm_device_info di;
        gm_model_device_info(m, &di);
        if (strcmp(di.device, "cuda:0") != 0 || strcmp(di.name, "host emulation") != 0
            || di.index != 0 || di.mem_total != 1ull << 35 || di.mem_free != 1ull << 34
            || di.model_bytes == 0 || di.bytes_per_token == 0 || di.bytes_per_token > di.model_bytes
            || di.kv_bytes != 0 || di.scratch_bytes != 0) {
            cm_err_set(err, "device info: %s %s %llu %llu", di.device, di.name,
                       (unsigned long long)di.model_bytes, (unsigned long long)di.bytes_per_token);
            goto out;
        }
        /* the context's KV cache and buffers in device memory: the layout's
         * sums (at least the host cache's K and V, which it mirrors) */
        gm_device_info dc;
        gm_context_device_info(ctx, &dc);
        if (strcmp(dc.device, "cuda:0") != 0 || dc.model_bytes != di.model_bytes
            || dc.kv_bytes < *kv_total || dc.kv_bytes == 0 || dc.scratch_bytes == 0) {
            cm_err_set(err, "context device info: %s kv %llu (host %llu) scratch %llu", dc.device,
                       (unsigned long long)dc.kv_bytes, (unsigned long long)*kv_total,
                       (unsigned long long)dc.scratch_bytes);
            goto out;
        }
    } else {
        gm_device_info dc;
        gm_context_device_info(ctx, &dc);
        if (strcmp(dc.device, "cpu") != 0 || dc.index != -1 || dc.mem_total != 0
            || dc.kv_bytes != *kv_total || dc.scratch_bytes != 0) {
            cm_err_set(err, "cpu context device info: %s kv %llu (cache %llu)", dc.device,
                       (unsigned long long)dc.kv_bytes, (unsigned long long)*kv_total);
            goto out;
        }
    }
    rc = 0;
out:
    gm_context_free(ctx);
    gm_model_free(m);
    return rc;
}

static void check(const char *preset, gm_type type)
{
    char dir[] = "/tmp/test_cuda_emul.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    gm_synth_config cfg;
    gm_synth_opts o = {.type = type, .seed = 4};
    cm_err err;
    assert_int_equal(gm_synth_preset(preset, &cfg, &err), 0);
    assert_int_equal(gm_synth_write(&cfg, &o, path, &err), 0);
    const uint32_t V = cfg.n_vocab;
    int32_t ids[N];
    for (uint32_t i = 0; i < N; i++)
        ids[i] = (int32_t)((i * 7919u + 13u) % V);
    float *cpu = malloc(2 * (size_t)N * V * sizeof(float));
    float *gpu = malloc(2 * (size_t)N * V * sizeof(float));
    assert_non_null(cpu);
    assert_non_null(gpu);
    uint64_t kv_cpu = 0, kv_gpu = 0;
    if (run(path, "cpu", ids, V, cpu, &kv_cpu, &err) < 0
        || run(path, "cuda:0", ids, V, gpu, &kv_gpu, &err) < 0)
        fail_msg("%s %s: %s", preset, gm_type_name(type), err.msg);
    assert_int_equal(kv_cpu, kv_gpu);
    double errs[2 * N], worst = 0;
    uint32_t same = 0;
    for (uint32_t i = 0; i < 2 * N; i++) {
        errs[i] = row_err(gpu + (size_t)i * V, cpu + (size_t)i * V, V);
        worst = fmax(worst, errs[i]);
        same += argmax(gpu + (size_t)i * V, V) == argmax(cpu + (size_t)i * V, V);
    }
    qsort(errs, 2 * N, sizeof(double), cmp_double);
    print_message("# %s %s: median %.3g max %.3g, argmax %u/%u\n", preset, gm_type_name(type),
                  errs[N], worst, same, 2 * N);
    if (type == GM_TYPE_F32) {
        assert_true(worst <= 1e-3);
        assert_int_equal(same, 2 * N);
    } else {
        assert_true(errs[N] <= 2e-2);
        assert_true(same >= (uint32_t)(0.9 * 2 * N));
    }
    free(cpu);
    free(gpu);
    unlink(path);
    rmdir(dir);
}

#define CASE(name, preset, type)                                                                \
    static void test_##name(void **state)                                                       \
    {                                                                                           \
        (void)state;                                                                            \
        check(preset, type);                                                                    \
    }
CASE(dense_f16, "tiny", GM_TYPE_F16)
CASE(dense_bf16, "tiny", GM_TYPE_BF16)
CASE(dense_q8_0, "tiny", GM_TYPE_Q8_0)
CASE(dense_q4_0, "tiny", GM_TYPE_Q4_0)
CASE(dense_q6_k, "tiny", GM_TYPE_Q6_K)
CASE(moe_q4_k, "tiny-moe", GM_TYPE_Q4_K)

static void test_dense_f32(void **state)
{
    (void)state;
    check("tiny", GM_TYPE_F32);
}

static void test_dense_q4_k(void **state)
{
    (void)state;
    check("tiny", GM_TYPE_Q4_K);
}

static void test_moe_f32(void **state)
{
    (void)state;
    check("tiny-moe", GM_TYPE_F32);
}

static void test_moe_q8_0(void **state)
{
    (void)state;
    check("tiny-moe", GM_TYPE_Q8_0);
}

/* Another device index than the machine has is refused by name. */
static void test_bad_index(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cuda_emul.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    gm_synth_config cfg;
    gm_synth_opts o = {.type = GM_TYPE_F32, .seed = 4};
    cm_err err;
    assert_int_equal(gm_synth_preset("tiny", &cfg, &err), 0);
    assert_int_equal(gm_synth_write(&cfg, &o, path, &err), 0);
    gm_model *m = NULL;
    gm_load_opts lo = {.n_threads = 1, .device = "cuda:1"};
    assert_int_equal(gm_model_load(path, &lo, &m, &err), -1);
    assert_non_null(strstr(err.msg, "no CUDA device cuda:1"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_f32), cmocka_unit_test(test_dense_q4_k),
        cmocka_unit_test(test_moe_f32), cmocka_unit_test(test_moe_q8_0),
        cmocka_unit_test(test_dense_f16), cmocka_unit_test(test_dense_bf16),
        cmocka_unit_test(test_dense_q8_0), cmocka_unit_test(test_dense_q4_0),
        cmocka_unit_test(test_dense_q6_k), cmocka_unit_test(test_moe_q4_k),
        cmocka_unit_test(test_bad_index),
    };
    return cmocka_run_group_tests_name("cuda_emul", tests, NULL, NULL);
}
