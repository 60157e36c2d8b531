/*
 * tests/tools/grammar_bench.c -- what constrained decoding costs per token,
 * side by side with a decode step.
 *
 * usage: grammar_bench VOCAB.gguf [-m MODEL.gguf] [-t THREADS] [-w WALKS]
 *                      [-n TOKENS] [-T] [-o OUT] SCHEMA.json...
 *
 * Loads the vocabulary of VOCAB.gguf (e.g. the real 262144-token Gemma 4
 * vocabulary), builds the token index (timed), then for each schema runs
 * WALKS random generations of up to TOKENS tokens, each token drawn at
 * random among those the mask allows, timing per token what a sampler
 * adds: the mask (gm_matcher_mask), applying it to a row of logits, and
 * advancing the matcher (-T: each schema as a tool's parameters, the
 * grammar of a Gemma 4 tool call). -o writes each finished output as a
 * line "SCHEMA<TAB>TEXT" (tests/integration/grammar_real_vocab.sh checks
 * them against their schemas). With -m, also times single-token decode steps of
 * MODEL (e.g. `gemma-run synth --preset e2b`), so the overhead is given
 * as a share of a decode step measured in the same run.
 *
 * The mask work runs on one thread and is timed in that thread's CPU time
 * (set GRAMMAR_BENCH_WALL=1 for wall-clock), so that other processes on a
 * shared machine do not inflate it; decode steps use several threads and
 * are timed in wall-clock time.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/format/gguf.h"
#include "engine/gemma.h"
#include "engine/grammar/grammar.h"
#include "engine/text/vocab.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(getenv("GRAMMAR_BENCH_WALL") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall-clock seconds (decode steps run on several threads). */
static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Milliseconds per single-token decode step of the model. */
static double decode_ms(const char *path, int threads, int steps)
{
    cm_err err;
    gm_model *model = NULL;
    gm_load_opts lo = {.n_threads = threads};
    if (gm_model_load(path, &lo, &model, &err) < 0) {
        fprintf(stderr, "grammar_bench: %s\n", err.msg);
        return -1;
    }
    gm_context *ctx = NULL;
    gm_context_opts co = {.n_ctx = 512, .n_seq_max = 1, .n_threads = threads};
    if (gm_context_new(model, &co, &ctx, &err) < 0) {
        fprintf(stderr, "grammar_bench: %s\n", err.msg);
        gm_model_free(model);
        return -1;
    }
    uint32_t nv = gm_model_get_info(model)->n_vocab;
    float *logits = malloc((size_t)nv * sizeof(float));
    int32_t tok = 2;
    gm_batch b = {.n_tokens = 1, .tokens = &tok};
    double best = 1e9, sum = 0;
    for (int i = 0; i < steps + 2; i++) {
        double t0 = wall();
        if (gm_decode(ctx, &b, logits, &err) < 0) {
            fprintf(stderr, "grammar_bench: %s\n", err.msg);
            break;
        }
        double dt = wall() - t0;
        if (i >= 2) { /* the first steps warm caches */
            sum += dt;
            if (dt < best)
                best = dt;
        }
        tok = 100 + i;
    }
    printf("decode step: %s, %d threads: mean %.3f ms, best %.3f ms over %d steps\n", path,
           threads, sum / steps * 1e3, best * 1e3, steps);
    free(logits);
    gm_context_free(ctx);
    gm_model_free(model);
    return sum / steps * 1e3;
}

int main(int argc, char **argv)
{
    const char *vocab_path = NULL, *model_path = NULL;
    int threads = 2, walks = 5, max_tokens = 200;
    bool tool = false; /* -T: each schema as a tool's parameters (Gemma's tool syntax) */
    FILE *out = NULL;  /* -o FILE: each finished output, "SCHEMA<TAB>TEXT" a line */
    const char *schemas[64];
    int n_schemas = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            model_path = argv[++i];
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            walks = atoi(argv[++i]);
        else if (strcmp(argv[i], "-T") == 0)
            tool = true;
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = fopen(argv[++i], "w");
            if (!out) {
                perror(argv[i]);
                return 1;
            }
        }
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            max_tokens = atoi(argv[++i]);
        else if (!vocab_path)
            vocab_path = argv[i];
        else if (n_schemas < 64)
            schemas[n_schemas++] = argv[i];
    }
    if (!vocab_path || n_schemas == 0) {
        fprintf(stderr, "usage: grammar_bench VOCAB.gguf [-m MODEL.gguf] [-t THREADS] "
                        "[-w WALKS] [-n TOKENS] [-T] [-o OUT] SCHEMA.json...\n");
        return 2;
    }
    cm_err err;
    gguf_file *f = NULL;
    gm_vocab *v = NULL;
    if (gguf_open(vocab_path, &f, &err) < 0 || gm_vocab_load(f, &v, &err) < 0) {
        fprintf(stderr, "grammar_bench: %s\n", err.msg);
        return 1;
    }
    gguf_close(f);
    uint32_t nv = gm_vocab_n_tokens(v);
    double t0 = now();
    gm_token_index *ti = NULL;
    if (gm_token_index_new(v, nv, &ti, &err) < 0) {
        fprintf(stderr, "grammar_bench: %s\n", err.msg);
        return 1;
    }
    printf("token index: %u tokens, built in %.1f ms\n", nv, (now() - t0) * 1e3);
    float *logits = malloc((size_t)nv * sizeof(float));
    int32_t *allowed = malloc((size_t)nv * sizeof(int32_t));
    double *samples = malloc((size_t)walks * (size_t)max_tokens * sizeof(double));
    double all_sum = 0;
    size_t all_n = 0;
    for (int s = 0; s < n_schemas; s++) {
        size_t len;
        char *txt = read_file(schemas[s], &len);
        gm_grammar *g = NULL;
        const char *name = "f", *schema_txt = txt;
        int grc = !txt ? -1
                  : tool ? gm_grammar_tool_call(&name, &schema_txt, 1, &g, NULL, 0, &err)
                         : gm_grammar_from_schema(txt, len, &g, NULL, 0, &err);
        if (grc < 0) {
            fprintf(stderr, "grammar_bench: %s: %s\n", schemas[s], txt ? err.msg : "unreadable");
            return 1;
        }
        free(txt);
        size_t n = 0;
        uint64_t computed = 0, cached = 0;
        int ended = 0;
        for (int w = 0; w < walks; w++) {
            gm_matcher *m = NULL;
            if (gm_matcher_new(g, ti, &m, &err) < 0)
                return 1;
            char text[65536];
            size_t text_len = 0;
            bool lost = false;
            for (int k = 0; k < max_tokens; k++) {
                for (uint32_t i = 0; i < nv; i++)
                    logits[i] = (float)(i % 97) * 0.01f;
                double a = now();
                const uint32_t *bits = gm_matcher_mask(m);
                for (uint32_t wd = 0; wd * 32 < nv; wd++) { /* as the sampler applies it */
                    uint32_t word = bits[wd];
                    if (word == UINT32_MAX)
                        continue;
                    uint32_t end = wd * 32 + 32 < nv ? wd * 32 + 32 : nv;
                    for (uint32_t i = wd * 32; i < end; i++)
                        if (!(word & (1u << (i % 32))))
                            logits[i] = -INFINITY;
                }
                double mask_t = now() - a;
                size_t na = 0;
                for (uint32_t i = 0; i < nv; i++)
                    if (logits[i] > -INFINITY)
                        allowed[na++] = (int32_t)i;
                if (na == 0)
                    break;
                int32_t tok = allowed[rnd((uint32_t)na)];
                if (gm_vocab_is_eog(v, tok)) {
                    samples[n++] = mask_t;
                    ended++;
                    if (out && !lost)
                        fprintf(out, "%s\t%.*s\n", schemas[s], (int)text_len, text);
                    break;
                }
                if (getenv("GRAMMAR_BENCH_SLOW") && mask_t > atof(getenv("GRAMMAR_BENCH_SLOW")))
                    fprintf(stderr, "slow mask %.2f ms after: %.*s\n", mask_t * 1e3,
                            (int)(text_len > 60 ? 60 : text_len),
                            text + (text_len > 60 ? text_len - 60 : 0));
                {
                    char piece[256];
                    size_t pl = gm_token_to_piece(v, tok, false, piece, sizeof(piece));
                    if (pl < sizeof(piece) && text_len + pl < sizeof(text)) {
                        memcpy(text + text_len, piece, pl);
                        text_len += pl;
                    } else {
                        lost = true; /* not written with -o */
                    }
                }
                a = now();
                if (!gm_matcher_accept_token(m, tok)) {
                    fprintf(stderr, "grammar_bench: the mask allowed token %d but the matcher "
                                    "refused it\n", tok);
                    return 1;
                }
                samples[n++] = mask_t + (now() - a);
            }
            uint64_t c1, c2;
            gm_matcher_stats(m, &c1, &c2);
            computed += c1;
            cached += c2;
            gm_matcher_free(m);
        }
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += samples[i];
        all_sum += sum;
        all_n += n;
        qsort(samples, n, sizeof(double), cmp_double);
        printf("%s: %zu tokens (%d/%d walks ended), per token: mean %.3f ms, p50 %.3f ms, "
               "p99 %.3f ms, max %.3f ms; masks computed %llu, from cache %llu\n",
               schemas[s], n, ended, walks, n ? sum / (double)n * 1e3 : 0.0,
               n ? samples[n / 2] * 1e3 : 0.0, n ? samples[(n * 99) / 100] * 1e3 : 0.0,
               n ? samples[n - 1] * 1e3 : 0.0, (unsigned long long)computed,
               (unsigned long long)cached);
        gm_grammar_free(g);
    }
    double mean_ms = all_n ? all_sum / (double)all_n * 1e3 : 0.0;
    printf("all schemas: %zu tokens, mean mask overhead %.3f ms per token\n", all_n, mean_ms);
    if (model_path) {
        double d = decode_ms(model_path, threads, 16);
        if (d > 0)
            printf("overhead: %.1f%% of a decode step\n", 100.0 * mean_ms / d);
    }
    if (out)
        fclose(out);
    free(logits);
    free(allowed);
    free(samples);
    gm_token_index_free(ti);
    gm_vocab_free(v);
    return 0;
}
