/*
 * bench/ref_bench.c -- the reference llama.cpp (v0.5.0, prebuilt libllama)
 * measured exactly the way `gemma-run bench` (engine/cli/cli_bench.c)
 * measures our engine, so that bench/engine_vs_ref.sh can put the two side
 * by side on the same GGUF file.
 *
 * The method, as in cli_bench.c: the same pseudo-random prompt ids (an LCG
 * seeded 12345, id = (s >> 8) % n_vocab), evaluated as ONE batch with
 * logits for the last token only; then N_GEN single-token decode steps,
 * each feeding back the argmax of the previous logits (token 2 when there
 * is no prompt). Each repetition starts from an empty KV cache; the best
 * pp and the best tg over the repetitions are reported. The clock is
 * CLOCK_MONOTONIC around the prompt's decode, and around the whole
 * generation loop (decode, read logits, argmax), as in ours.
 *
 * llama.cpp runs on its CPU backend only (n_gpu_layers 0, the best
 * libggml-cpu-*.so for this CPU) with its default context settings except
 * the sizes: n_ctx = N_PROMPT + N_GEN + 1 (llama.cpp pads it to 256),
 * n_batch = n_ubatch = N_PROMPT (one batch, one ubatch), n_seq_max 1,
 * n_threads = n_threads_batch = THREADS, flash attention "auto" (what it
 * resolved to is printed), KV cache F16/F16, mmap on.
 *
 * Built at run time by bench/engine_vs_ref.sh against $GEMMA_REF_DIR
 * (never part of the build). Output, parsed by the script:
 *   model: DESC (N layers, embd N, vocab N, X MiB)
 *   settings: ...
 *   ppN: X tokens/s
 *   tgN: X tokens/s
 *   tgN x B sequences: X tokens/s (aggregate)     (with --batch B)
 *   peak RSS: X MiB          (getrusage ru_maxrss of this process)
 * --batch B also times N_GEN decode steps of B sequences x 1 token, as
 * `gemma-run bench --batch B` does: the prompt into sequence 0, its KV
 * cache copied into sequences 1..B-1 (llama_memory_seq_cp; each sequence
 * has its own KV stream, kv_unified off, so attention reads only its own
 * cells), first tokens (argmax + q) % n_vocab, then each sequence fed its
 * own argmax; the rate is B * N_GEN / time, best over the repetitions.
 * --cpu-lib FILE loads that one ggml CPU backend (e.g. the AVX2 build,
 * libggml-cpu-haswell.so) instead of the best one for this CPU.
 * Exits 0 on success, 1 on a failure (one line on stderr), 2 on usage.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

typedef struct rb_opts {
    const char *model;
    const char *bins;
    const char *cpu_lib; /* NULL: the best CPU backend in bins */
    unsigned n_prompt;
    unsigned n_gen;
    unsigned threads;
    unsigned reps;
    unsigned batch; /* 0: no batched decode */
    bool verbose;
} rb_opts;

/* What the log tells us about the settings llama.cpp resolved. */
typedef struct rb_log {
    bool verbose;
    char cpu_lib[128]; /* which libggml-cpu-*.so was loaded */
    char fa[32];       /* flash attention: "enabled" or "disabled" */
} rb_log;

static void log_cb(enum ggml_log_level level, const char *text, void *user)
{
    rb_log *lg = user;
    const char *p;
    if ((p = strstr(text, "loaded CPU backend from ")) != NULL) {
        p += strlen("loaded CPU backend from ");
        const char *base = strrchr(p, '/');
        snprintf(lg->cpu_lib, sizeof(lg->cpu_lib), "%s", base ? base + 1 : p);
        lg->cpu_lib[strcspn(lg->cpu_lib, "\n")] = '\0';
    }
    if (strstr(text, "Flash Attention enabled") != NULL)
        snprintf(lg->fa, sizeof(lg->fa), "enabled");
    else if (strstr(text, "Flash Attention not supported") != NULL)
        snprintf(lg->fa, sizeof(lg->fa), "disabled (not supported)");
    if (lg->verbose || level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int usage(FILE *out)
{
    fprintf(out, "usage: ref_bench -m FILE --bins DIR [-p N_PROMPT] [-n N_GEN] [-t THREADS] "
                 "[-r REPS] [--batch B] [--cpu-lib FILE] [-v]\n");
    return 2;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse(int argc, char **argv, rb_opts *o)
{
    o->n_prompt = 128;
    o->n_gen = 32;
    o->threads = 2;
    o->reps = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            o->verbose = true;
            continue;
        }
        if (v == NULL)
            return -1;
        int bad = 0;
        if (!strcmp(a, "-m"))
            o->model = v;
        else if (!strcmp(a, "--bins"))
            o->bins = v;
        else if (!strcmp(a, "--cpu-lib"))
            o->cpu_lib = v;
        else if (!strcmp(a, "-p"))
            bad = parse_uint(v, 1000000, &o->n_prompt);
        else if (!strcmp(a, "-n"))
            bad = parse_uint(v, 1000000, &o->n_gen);
        else if (!strcmp(a, "-t"))
            bad = parse_uint(v, 256, &o->threads) < 0 || o->threads == 0 ? -1 : 0;
        else if (!strcmp(a, "-r"))
            bad = parse_uint(v, 1000000, &o->reps) < 0 || o->reps == 0 ? -1 : 0;
        else if (!strcmp(a, "--batch"))
            bad = parse_uint(v, 256, &o->batch) < 0 || o->batch < 2 ? -1 : 0;
        else
            return -1;
        if (bad)
            return -1;
        i++;
    }
    return o->model && o->bins && o->n_prompt + o->n_gen > 0 ? 0 : -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* One repetition: fills *pp and *tg with tokens/s (0 where not measured). */
static int run_once(struct llama_context *ctx, const rb_opts *o, llama_token *ids, int n_vocab,
                    double *pp, double *tg)
{
    llama_memory_clear(llama_get_memory(ctx), false);
    llama_token next = 2;
    *pp = *tg = 0;
    if (o->n_prompt > 0) {
        double t0 = now();
        if (llama_decode(ctx, llama_batch_get_one(ids, (int32_t)o->n_prompt)) != 0) {
            fprintf(stderr, "ref_bench: llama_decode of the %u-token prompt failed\n",
                    o->n_prompt);
            return -1;
        }
        llama_synchronize(ctx);
        double dt = now() - t0;
        const float *lg = llama_get_logits_ith(ctx, -1);
        if (lg == NULL) {
            fprintf(stderr, "ref_bench: no logits after the prompt\n");
            return -1;
        }
        *pp = dt > 0 ? o->n_prompt / dt : 0;
        next = argmax(lg, n_vocab);
    }
    double t0 = now();
    for (unsigned g = 0; g < o->n_gen; g++) {
        if (llama_decode(ctx, llama_batch_get_one(&next, 1)) != 0) {
            fprintf(stderr, "ref_bench: llama_decode of generated token %u failed\n", g);
            return -1;
        }
        const float *lg = llama_get_logits_ith(ctx, -1);
        if (lg == NULL) {
            fprintf(stderr, "ref_bench: no logits for generated token %u\n", g);
            return -1;
        }
        next = argmax(lg, n_vocab);
    }
    double dt = now() - t0;
    *tg = o->n_gen > 0 && dt > 0 ? o->n_gen / dt : 0;
    return 0;
}

/* One repetition of --batch on a context of o->batch sequences: the
 * aggregate decode tokens/s in *rate. */
static int run_batch(struct llama_context *ctx, const rb_opts *o, llama_token *ids, int n_vocab,
                     struct llama_batch *b, double *rate)
{
    const unsigned nb = o->batch;
    llama_memory_t mem = llama_get_memory(ctx);
    llama_memory_clear(mem, false);
    llama_token next[256];
    for (unsigned q = 0; q < nb; q++)
        next[q] = (llama_token)(2 + q);
    if (o->n_prompt > 0) {
        if (llama_decode(ctx, llama_batch_get_one(ids, (int32_t)o->n_prompt)) != 0) {
            fprintf(stderr, "ref_bench: llama_decode of the %u-token prompt failed (batch)\n",
                    o->n_prompt);
            return -1;
        }
        const float *lg = llama_get_logits_ith(ctx, -1);
        if (lg == NULL) {
            fprintf(stderr, "ref_bench: no logits after the prompt (batch)\n");
            return -1;
        }
        const int first = argmax(lg, n_vocab);
        for (unsigned q = 1; q < nb; q++)
            llama_memory_seq_cp(mem, 0, (llama_seq_id)q, -1, -1);
        for (unsigned q = 0; q < nb; q++)
            next[q] = (llama_token)(((unsigned)first + q) % (unsigned)n_vocab);
    }
    double t0 = now();
    for (unsigned g = 0; g < o->n_gen; g++) {
        b->n_tokens = (int32_t)nb;
        for (unsigned q = 0; q < nb; q++) {
            b->token[q] = next[q];
            b->pos[q] = (llama_pos)(o->n_prompt + g);
            b->n_seq_id[q] = 1;
            b->seq_id[q][0] = (llama_seq_id)q;
            b->logits[q] = 1;
        }
        if (llama_decode(ctx, *b) != 0) {
            fprintf(stderr, "ref_bench: llama_decode of batched step %u failed\n", g);
            return -1;
        }
        for (unsigned q = 0; q < nb; q++) {
            const float *lg = llama_get_logits_ith(ctx, (int32_t)q);
            if (lg == NULL) {
                fprintf(stderr, "ref_bench: no logits for sequence %u at step %u\n", q, g);
                return -1;
            }
            next[q] = argmax(lg, n_vocab);
        }
    }
    double dt = now() - t0;
    *rate = o->n_gen > 0 && dt > 0 ? (double)nb * o->n_gen / dt : 0;
    return 0;
}

/* The --batch measurement: its own context of o->batch sequences. */
static int bench_batch(const rb_opts *o, struct llama_model *model, llama_token *ids, int n_vocab,
                       double *best)
{
    struct llama_context_params cp = llama_context_default_params();
    unsigned n_batch = o->n_prompt > o->batch ? o->n_prompt : o->batch;
    cp.n_ctx = o->batch * (o->n_prompt + o->n_gen + 1);
    cp.n_batch = n_batch;
    cp.n_ubatch = n_batch;
    cp.n_seq_max = o->batch;
    cp.kv_unified = false;
    cp.n_threads = (int32_t)o->threads;
    cp.n_threads_batch = (int32_t)o->threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "ref_bench: llama_init_from_model failed (batch %u, n_ctx %u)\n",
                o->batch, cp.n_ctx);
        return -1;
    }
    struct llama_batch b = llama_batch_init((int32_t)o->batch, 0, 1);
    int rc = 0;
    *best = 0;
    for (unsigned r = 0; r < o->reps && rc == 0; r++) {
        double rate = 0;
        rc = run_batch(ctx, o, ids, n_vocab, &b, &rate);
        *best = rate > *best ? rate : *best;
    }
    llama_batch_free(b);
    llama_free(ctx);
    return rc;
}

static int bench(const rb_opts *o, struct llama_model *model, const rb_log *lg)
{
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_context_params cp = llama_context_default_params();
    unsigned n_batch = o->n_prompt > 0 ? o->n_prompt : 1;
    cp.n_ctx = o->n_prompt + o->n_gen + 1;
    cp.n_batch = n_batch;
    cp.n_ubatch = n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = (int32_t)o->threads;
    cp.n_threads_batch = (int32_t)o->threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "ref_bench: llama_init_from_model failed (n_ctx %u)\n", cp.n_ctx);
        return -1;
    }
    llama_token *ids = malloc((size_t)n_batch * sizeof(*ids));
    if (ids == NULL) {
        fprintf(stderr, "ref_bench: out of memory\n");
        llama_free(ctx);
        return -1;
    }
    /* The same deterministic pseudo-random prompt ids as gemma-run bench. */
    unsigned s = 12345;
    for (unsigned i = 0; i < o->n_prompt; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (llama_token)((s >> 8) % (unsigned)n_vocab);
    }
    double best_pp = 0, best_tg = 0;
    int rc = 0;
    for (unsigned r = 0; r < o->reps && rc == 0; r++) {
        double pp, tg;
        rc = run_once(ctx, o, ids, n_vocab, &pp, &tg);
        best_pp = pp > best_pp ? pp : best_pp;
        best_tg = tg > best_tg ? tg : best_tg;
    }
    double best_batch = 0;
    if (rc == 0 && o->batch > 0 && o->n_gen > 0)
        rc = bench_batch(o, model, ids, n_vocab, &best_batch);
    if (rc == 0) {
        char desc[128];
        llama_model_desc(model, desc, sizeof(desc));
        printf("model: %s (%d layers, embd %d, vocab %d, %.1f MiB)\n", desc,
               llama_model_n_layer(model), llama_model_n_embd(model), n_vocab,
               (double)llama_model_size(model) / (1024.0 * 1024.0));
        printf("settings: CPU backend %s, threads %u, n_ctx %u (asked %u), n_batch %u, "
               "n_ubatch %u, flash_attn auto -> %s, KV cache %s/%s\n",
               lg->cpu_lib[0] ? lg->cpu_lib : "(built in)", o->threads, llama_n_ctx(ctx),
               cp.n_ctx, llama_n_batch(ctx), llama_n_ubatch(ctx), lg->fa[0] ? lg->fa : "?",
               ggml_type_name(cp.type_k), ggml_type_name(cp.type_v));
        if (o->n_prompt > 0)
            printf("pp%u: %.2f tokens/s\n", o->n_prompt, best_pp);
        if (o->n_gen > 0)
            printf("tg%u: %.2f tokens/s\n", o->n_gen, best_tg);
        if (o->batch > 0 && o->n_gen > 0)
            printf("tg%u x %u sequences: %.2f tokens/s (aggregate)\n", o->n_gen, o->batch,
                   best_batch);
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    }
    free(ids);
    llama_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    rb_opts o;
    memset(&o, 0, sizeof(o));
    if (parse(argc, argv, &o) < 0)
        return usage(stderr);
    rb_log lg;
    memset(&lg, 0, sizeof(lg));
    lg.verbose = o.verbose;
    llama_log_set(log_cb, &lg);
    if (o.cpu_lib != NULL) {
        if (ggml_backend_load(o.cpu_lib) == NULL) {
            fprintf(stderr, "ref_bench: could not load the CPU backend %s\n", o.cpu_lib);
            return 1;
        }
        snprintf(lg.cpu_lib, sizeof(lg.cpu_lib), "%s", o.cpu_lib);
    } else {
        ggml_backend_load_all_from_path(o.bins);
    }
    llama_backend_init();
    if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == NULL) {
        fprintf(stderr, "ref_bench: no ggml CPU backend could be loaded from %s\n", o.bins);
        llama_backend_free();
        return 1;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(o.model, mp);
    if (model == NULL) {
        fprintf(stderr, "ref_bench: llama.cpp could not load %s\n", o.model);
        llama_backend_free();
        return 1;
    }
    int rc = bench(&o, model, &lg);
    llama_model_free(model);
    llama_backend_free();
    return rc == 0 ? 0 : 1;
}
