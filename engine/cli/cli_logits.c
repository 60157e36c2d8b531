/*
 * engine/cli/cli_logits.c -- 'gemma-run logits': run the forward pass over
 * a list of token ids (or a tokenized text) and write the logits of every
 * position as raw little-endian float32, row-major [positions][vocab].
 * The parity tests compare this file with llama.cpp's logits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/gemma.h"
#include "engine/text/vocab.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run logits -m FILE (--tokens 1,2,3 | -p TEXT) -o OUT.f32 [options]\n"
            "\n"
            "Write the logits after every input token as float32 [positions][vocab].\n"
            "\n"
            "  -m, --model FILE   the GGUF model\n"
            "  --tokens IDS       comma-separated token ids, used as given (no BOS added)\n"
            "  -p, --prompt TEXT  text, tokenized with BOS and special tokens parsed\n"
            "  -o, --output FILE  where to write the logits\n"
            "  -t, --threads N    CPU threads (default: all online CPUs)\n"
            "  --ctx N            context size (default: the number of tokens)\n"
            "  --gelu-exact       GELU by the exact formula instead of ggml's fp16 table\n"
            "  --device DEV       cpu (default) or cuda:N\n"
            "  -h, --help         this help\n");
}

static int parse_ids(const char *s, int32_t **out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof(*ids));
    if (ids == NULL)
        return -1;
    const char *p = s;
    while (*p != '\0') {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < INT32_MIN || v > INT32_MAX
            || (*end != ',' && *end != '\0')) {
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *bigger = realloc(ids, 2 * cap * sizeof(*ids));
            if (bigger == NULL) {
                free(ids);
                return -1;
            }
            ids = bigger;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_logits(int argc, char **argv)
{
    const char *model_path = NULL, *ids_arg = NULL, *prompt = NULL, *out_path = NULL;
    uint32_t n_threads = 0, n_ctx = 0;
    bool gelu_exact = false;
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--gelu-exact") == 0) {
            gelu_exact = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "gemma-run logits: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "--tokens") == 0)
            ids_arg = v;
        else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0)
            prompt = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            out_path = v;
        else if (strcmp(a, "--device") == 0)
            device = v;
        else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0)) {
            if (parse_u32(v, &n_threads) < 0 || n_threads > 256) {
                fprintf(stderr, "gemma-run logits: bad thread count '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--ctx") == 0) {
            if (parse_u32(v, &n_ctx) < 0 || n_ctx == 0) {
                fprintf(stderr, "gemma-run logits: bad context size '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "gemma-run logits: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (model_path == NULL || out_path == NULL || (ids_arg == NULL) == (prompt == NULL)) {
        usage(stderr);
        return 2;
    }

    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (ids_arg != NULL && (parse_ids(ids_arg, &ids, &n_ids) < 0 || n_ids == 0)) {
        fprintf(stderr, "gemma-run logits: bad token list '%s'\n", ids_arg);
        return 2;
    }

    cm_err err = {{0}};
    gm_model *model = NULL;
    gm_context *ctx = NULL;
    float *logits = NULL;
    bool *want = NULL;
    FILE *out = NULL;
    int rc = 1;
    gm_load_opts lo = {.n_threads = (int)n_threads, .gelu_exact = gelu_exact, .device = device};
    if (gm_model_load(model_path, &lo, &model, &err) < 0)
        goto fail;
    if (prompt != NULL
        && gm_tokenize(gm_model_get_vocab(model), prompt, strlen(prompt), true, true, &ids,
                       &n_ids, &err) < 0)
        goto fail;
    if (n_ids == 0 || n_ids > UINT32_MAX) {
        cm_err_set(&err, "no tokens to evaluate");
        goto fail;
    }
    gm_context_opts co = {.n_ctx = n_ctx ? n_ctx : (uint32_t)n_ids, .n_seq_max = 1,
                          .n_threads = (int)n_threads};
    if (gm_context_new(model, &co, &ctx, &err) < 0)
        goto fail;
    const uint32_t n_vocab = gm_model_get_info(model)->n_vocab;
    logits = malloc(n_ids * n_vocab * sizeof(float));
    want = malloc(n_ids * sizeof(bool));
    if (logits == NULL || want == NULL) {
        cm_err_set(&err, "out of memory for %zu x %u logits", n_ids, n_vocab);
        goto fail;
    }
    for (size_t i = 0; i < n_ids; i++)
        want[i] = true;
    gm_batch batch = {.n_tokens = (uint32_t)n_ids, .tokens = ids, .want_logits = want};
    if (gm_decode(ctx, &batch, logits, &err) < 0)
        goto fail;
    out = fopen(out_path, "wb");
    if (out == NULL) {
        cm_err_errno(&err, "cannot open %s", out_path);
        goto fail;
    }
    if (fwrite(logits, sizeof(float) * n_vocab, n_ids, out) != n_ids || fclose(out) != 0) {
        out = NULL;
        cm_err_errno(&err, "cannot write %s", out_path);
        goto fail;
    }
    out = NULL;
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "gemma-run logits: %s\n", err.msg);
    if (out != NULL)
        fclose(out);
    free(want);
    free(logits);
    free(ids);
    gm_context_free(ctx);
    gm_model_free(model);
    return rc;
}
