/*
 * engine/cli/cli_bench.c -- 'gemma-run bench': prompt-processing and
 * generation speed, in tokens per second, in the spirit of llama-bench's
 * pp/tg tests: a prompt of N_PROMPT token ids evaluated as one batch, then
 * N_GEN single-token decode steps (each token fed back).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cli/cli.h"
#include "engine/gemma.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run bench -m FILE [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r REPS]\n"
            "                       [--device DEV]\n"
            "\n"
            "  -m, --model FILE   the GGUF model\n"
            "  -p N               prompt tokens evaluated as one batch (default 128)\n"
            "  -n N               tokens generated one at a time (default 32)\n"
            "  -t, --threads N    CPU threads (default: all online CPUs)\n"
            "  -r N               repetitions; the best run is reported (default 1)\n"
            "  --device DEV       cpu (default) or cuda:N\n"
            "  -h, --help         this help\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v > 1000000)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int)best;
}

int cli_bench(int argc, char **argv)
{
    const char *model_path = NULL;
    uint32_t n_prompt = 128, n_gen = 32, n_threads = 0, reps = 1;
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "gemma-run bench: %s needs a value\n", a);
            return 2;
        }
        int bad = 0;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "-p") == 0)
            bad = parse_u32(v, &n_prompt);
        else if (strcmp(a, "-n") == 0)
            bad = parse_u32(v, &n_gen);
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0)
            bad = parse_u32(v, &n_threads) < 0 || n_threads > 256 ? -1 : 0;
        else if (strcmp(a, "--device") == 0)
            device = v;
        else if (strcmp(a, "-r") == 0)
            bad = parse_u32(v, &reps) < 0 || reps == 0 ? -1 : 0;
        else {
            fprintf(stderr, "gemma-run bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "gemma-run bench: bad value '%s' for %s\n", v, a);
            return 2;
        }
        i++;
    }
    if (model_path == NULL || n_prompt + n_gen == 0) {
        usage(stderr);
        return 2;
    }

    cm_err err = {{0}};
    gm_model *model = NULL;
    gm_context *ctx = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int rc = 1;
    gm_load_opts lo = {.n_threads = (int)n_threads, .device = device};
    if (gm_model_load(model_path, &lo, &model, &err) < 0)
        goto fail;
    const gm_model_info *info = gm_model_get_info(model);
    gm_context_opts co = {.n_ctx = n_prompt + n_gen + 1, .n_seq_max = 1, .n_threads = (int)n_threads};
    if (gm_context_new(model, &co, &ctx, &err) < 0)
        goto fail;
    ids = malloc((n_prompt + 1) * sizeof(*ids));
    logits = malloc(info->n_vocab * sizeof(float));
    if (ids == NULL || logits == NULL) {
        cm_err_set(&err, "out of memory");
        goto fail;
    }
    /* deterministic pseudo-random prompt ids */
    uint32_t s = 12345;
    for (uint32_t i = 0; i < n_prompt; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int32_t)((s >> 8) % info->n_vocab);
    }
    double best_pp = 0, best_tg = 0;
    for (uint32_t r = 0; r < reps; r++) {
        if (gm_context_seq_clear(ctx, 0, &err) < 0)
            goto fail;
        int32_t next = 2;
        if (n_prompt > 0) {
            gm_batch b = {.n_tokens = n_prompt, .tokens = ids};
            double t0 = now();
            if (gm_decode(ctx, &b, logits, &err) < 0)
                goto fail;
            double dt = now() - t0;
            if (dt > 0 && n_prompt / dt > best_pp)
                best_pp = n_prompt / dt;
            next = argmax(logits, info->n_vocab);
        }
        double t0 = now();
        for (uint32_t g = 0; g < n_gen; g++) {
            gm_batch b = {.n_tokens = 1, .tokens = &next};
            if (gm_decode(ctx, &b, logits, &err) < 0)
                goto fail;
            next = argmax(logits, info->n_vocab);
        }
        double dt = now() - t0;
        if (n_gen > 0 && dt > 0 && n_gen / dt > best_tg)
            best_tg = n_gen / dt;
    }
    printf("model: %s (%u layers, embd %u, vocab %u, %.1f MiB)\n", info->name, info->n_layer,
           info->n_embd, info->n_vocab, (double)info->n_bytes / (1024.0 * 1024.0));
    gm_device_info di;
    gm_model_device_info(model, &di);
    if (strcmp(di.device, "cpu") != 0)
        printf("device: %s (%s, %.1f GiB; weights %.1f MiB, %.1f MiB read per token)\n", di.device,
               di.name, (double)di.mem_total / 1073741824.0, (double)di.model_bytes / 1048576.0,
               (double)di.bytes_per_token / 1048576.0);
    if (n_prompt > 0)
        printf("pp%u: %.2f tokens/s\n", n_prompt, best_pp);
    if (n_gen > 0)
        printf("tg%u: %.2f tokens/s\n", n_gen, best_tg);
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "gemma-run bench: %s\n", err.msg);
    free(ids);
    free(logits);
    gm_context_free(ctx);
    gm_model_free(model);
    return rc;
}
