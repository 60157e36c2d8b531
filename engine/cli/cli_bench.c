/*
 * engine/cli/cli_bench.c -- 'gemma-run bench': prompt-processing and
 * generation speed, in tokens per second, in the spirit of llama-bench's
 * pp/tg tests: a prompt of N_PROMPT token ids evaluated as one batch, then
 * N_GEN single-token decode steps (each token fed back).
 *
 * Each repetition starts from an empty KV cache; the report gives the
 * median, min and max over the repetitions. With --json the last line of
 * stdout is one JSON object whose keys benchmarks and outside checks read
 * (an interface: extend, never rename):
 *   model, threads, n_prompt, n_gen, reps, prefill_tok_s, decode_tok_s,
 *   peak_rss_mb (medians), the same three with _min and _max, cpu_path
 *   (the kernels that ran: engine/cpu/cpu_path.h), cpu_model; with
 *   --batch N also batch (N) and decode_batch_tok_s (+ _min, _max).
 * --batch N times N_GEN decode steps of N sequences x 1 token each (one
 * gm_decode per step, as a server batching N streams runs them), after
 * the prompt was evaluated once and copied into every sequence's KV
 * cache; decode_batch_tok_s is the aggregate rate, N * N_GEN / time.
 * peak_rss_mb is the process's peak resident set (getrusage ru_maxrss)
 * after each repetition: model weights mapped and touched, KV cache,
 * scratch buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "engine/cpu/cpu_path.h"
#include "engine/gemma.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run bench -m FILE [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r REPS]\n"
            "                       [--batch N] [--json] [--device DEV]\n"
            "\n"
            "  -m, --model FILE   the GGUF model\n"
            "  -p N               prompt tokens evaluated as one batch (default 512)\n"
            "  -n N               tokens generated one at a time (default 128)\n"
            "  -t, --threads N    CPU threads (default: all online CPUs)\n"
            "  -r, --reps N       repetitions; the median (and min, max) is reported\n"
            "                     (default 1)\n"
            "  --batch N          also time N_GEN decode steps of N sequences x 1 token\n"
            "                     (each sequence starting from the prompt): aggregate\n"
            "                     tokens/s, JSON key decode_batch_tok_s (2..256)\n"
            "  --device DEV       cpu (default) or cuda:N\n"
            "  --json             also print one JSON object as the last line: model,\n"
            "                     threads, n_prompt, n_gen, reps, prefill_tok_s,\n"
            "                     decode_tok_s, peak_rss_mb (medians), each also with\n"
            "                     _min and _max, cpu_path, cpu_model (with --batch:\n"
            "                     batch, decode_batch_tok_s and its _min and _max)\n"
            "  -h, --help         this help\n"
            "\n"
            "GEMMA_CPU=scalar|avx2|avx512 forces a CPU kernel path (default: the best\n"
            "this CPU runs).\n");
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

/* The median of n values (sorted in place); 0 for none. */
static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak resident set of this process so far, in MiB. */
static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* The CPU's model name from /proc/cpuinfo ("unknown" when there is none). */
static void cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (v == NULL)
            break;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(out, size, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* s as a JSON string (quotes included): escapes quote, backslash and
 * control characters; other bytes pass through (file names are bytes). */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* "KEY": median, "KEY_min": min, "KEY_max": max of n values. */
static void json_stat(FILE *out, const char *key, double *v, uint32_t n)
{
    double lo = 0, hi = 0;
    for (uint32_t i = 0; i < n; i++) {
        lo = i == 0 || v[i] < lo ? v[i] : lo;
        hi = i == 0 || v[i] > hi ? v[i] : hi;
    }
    const double med = median(v, n);
    fprintf(out, ", \"%s\": %.3f, \"%s_min\": %.3f, \"%s_max\": %.3f", key, med, key, lo, key,
            hi);
}

static int argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int)best;
}

/* One repetition of --batch: the prompt into sequence 0, copied into
 * sequences 1..n_batch-1, then n_gen steps of n_batch tokens (one per
 * sequence, each fed its own argmax); the aggregate tokens/s in *rate. */
static int bench_batch(gm_context *ctx, const int32_t *ids, uint32_t n_prompt, uint32_t n_gen,
                       uint32_t n_batch, uint32_t n_vocab, float *logits, double *rate,
                       cm_err *err)
{
    int32_t next[256];
    uint32_t seq[256];
    for (uint32_t q = 0; q < n_batch; q++) {
        if (gm_context_seq_clear(ctx, q, err) < 0)
            return -1;
        seq[q] = q;
        next[q] = (int32_t)(2 + q);
    }
    if (n_prompt > 0) {
        gm_batch b = {.n_tokens = n_prompt, .tokens = ids};
        if (gm_decode(ctx, &b, logits, err) < 0)
            return -1;
        for (uint32_t q = 1; q < n_batch; q++)
            if (gm_context_seq_copy(ctx, 0, q, n_prompt, err) < 0)
                return -1;
        /* different first tokens, so the streams do not stay identical */
        const int32_t first = argmax(logits, n_vocab);
        for (uint32_t q = 0; q < n_batch; q++)
            next[q] = (int32_t)(((uint32_t)first + q) % n_vocab);
    }
    double t0 = now();
    for (uint32_t g = 0; g < n_gen; g++) {
        gm_batch b = {.n_tokens = n_batch, .tokens = next, .seq = seq};
        if (gm_decode(ctx, &b, logits, err) < 0)
            return -1;
        for (uint32_t q = 0; q < n_batch; q++)
            next[q] = argmax(logits + (size_t)q * n_vocab, n_vocab);
    }
    double dt = now() - t0;
    *rate = n_gen > 0 && dt > 0 ? (double)n_batch * n_gen / dt : 0;
    return 0;
}

int cli_bench(int argc, char **argv)
{
    const char *model_path = NULL;
    uint32_t n_prompt = 512, n_gen = 128, n_threads = 0, reps = 1, n_batch = 0;
    const char *device = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
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
        else if (strcmp(a, "--batch") == 0)
            bad = parse_u32(v, &n_batch) < 0 || n_batch < 2 || n_batch > 256 ? -1 : 0;
        else if (strcmp(a, "-r") == 0 || strcmp(a, "--reps") == 0)
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
    gm_context *ctx = NULL, *ctx_batch = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    double *pp = calloc(reps, sizeof(double)), *tg = calloc(reps, sizeof(double));
    double *rss = calloc(reps, sizeof(double)), *tgb = calloc(reps, sizeof(double));
    int rc = 1;
    if (pp == NULL || tg == NULL || rss == NULL || tgb == NULL) {
        cm_err_set(&err, "out of memory");
        goto fail;
    }
    gm_load_opts lo = {.n_threads = (int)n_threads, .device = device};
    if (gm_model_load(model_path, &lo, &model, &err) < 0)
        goto fail;
    const gm_model_info *info = gm_model_get_info(model);
    gm_context_opts co = {.n_ctx = n_prompt + n_gen + 1, .n_seq_max = 1, .n_threads = (int)n_threads};
    if (gm_context_new(model, &co, &ctx, &err) < 0)
        goto fail;
    ids = malloc((n_prompt + 1) * sizeof(*ids));
    logits = malloc((size_t)(n_batch > 1 ? n_batch : 1) * info->n_vocab * sizeof(float));
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
            pp[r] = dt > 0 ? n_prompt / dt : 0;
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
        tg[r] = n_gen > 0 && dt > 0 ? n_gen / dt : 0;
        rss[r] = peak_rss_mb();
    }
    if (n_batch > 0) {
        gm_context_opts cb = {.n_ctx = n_prompt + n_gen + 1, .n_seq_max = n_batch,
                              .n_threads = (int)n_threads};
        if (gm_context_new(model, &cb, &ctx_batch, &err) < 0)
            goto fail;
        for (uint32_t r = 0; r < reps; r++)
            if (bench_batch(ctx_batch, ids, n_prompt, n_gen, n_batch, info->n_vocab, logits,
                            &tgb[r], &err) < 0)
                goto fail;
    }
    const uint32_t threads_used =
        n_threads > 0 ? n_threads : (uint32_t)(sysconf(_SC_NPROCESSORS_ONLN) > 0
                                                   ? sysconf(_SC_NPROCESSORS_ONLN)
                                                   : 1);
    printf("model: %s (%u layers, embd %u, vocab %u, %.1f MiB)\n", info->name, info->n_layer,
           info->n_embd, info->n_vocab, (double)info->n_bytes / (1024.0 * 1024.0));
    gm_device_info di;
    gm_model_device_info(model, &di);
    if (strcmp(di.device, "cpu") != 0)
        printf("device: %s (%s, %.1f GiB; weights %.1f MiB, %.1f MiB read per token)\n", di.device,
               di.name, (double)di.mem_total / 1073741824.0, (double)di.model_bytes / 1048576.0,
               (double)di.bytes_per_token / 1048576.0);
    printf("cpu: %s path, %u threads, %u repetition%s (median shown)\n", gm_cpu_path_name(),
           threads_used, reps, reps == 1 ? "" : "s");
    /* the median on the ppN/tgN lines (bench/engine_vs_ref.sh reads them);
     * median() sorts, which leaves min and max for json_stat unchanged */
    if (n_prompt > 0)
        printf("pp%u: %.2f tokens/s\n", n_prompt, median(pp, reps));
    if (n_gen > 0)
        printf("tg%u: %.2f tokens/s\n", n_gen, median(tg, reps));
    if (n_batch > 0 && n_gen > 0)
        printf("tg%u x %u sequences: %.2f tokens/s (aggregate)\n", n_gen, n_batch,
               median(tgb, reps));
    printf("peak RSS: %.1f MiB\n", rss[reps - 1]);
    if (json) {
        char cpu[256];
        cpu_model_name(cpu, sizeof(cpu));
        printf("{\"model\": ");
        json_string(stdout, model_path);
        printf(", \"model_name\": ");
        json_string(stdout, info->name);
        printf(", \"threads\": %u, \"n_prompt\": %u, \"n_gen\": %u, \"reps\": %u", threads_used,
               n_prompt, n_gen, reps);
        json_stat(stdout, "prefill_tok_s", pp, reps);
        json_stat(stdout, "decode_tok_s", tg, reps);
        json_stat(stdout, "peak_rss_mb", rss, reps);
        if (n_batch > 0) {
            printf(", \"batch\": %u", n_batch);
            json_stat(stdout, "decode_batch_tok_s", tgb, reps);
        }
        printf(", \"cpu_path\": ");
        json_string(stdout, gm_cpu_path_name());
        printf(", \"cpu_model\": ");
        json_string(stdout, cpu);
        printf(", \"device\": ");
        json_string(stdout, di.device);
        printf("}\n");
    }
    fflush(stdout);
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "gemma-run bench: %s\n", err.msg);
    free(ids);
    free(logits);
    free(pp);
    free(tg);
    free(rss);
    free(tgb);
    gm_context_free(ctx_batch);
    gm_context_free(ctx);
    gm_model_free(model);
    return rc;
}
