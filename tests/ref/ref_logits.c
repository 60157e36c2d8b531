/*
 * tests/ref/ref_logits.c -- reference logits from llama.cpp v0.5.0 for the
 * parity tests. Compiled at test time against the prebuilt libllama in
 * $GEMMA_REF_DIR (never part of the product).
 *
 * usage: ref_logits BINS_DIR MODEL.gguf IDS OUT.f32 [N_GEN]
 *
 * IDS is a comma-separated list of token ids for one sequence (no BOS is
 * added). With N_GEN, the model first continues IDS greedily for N_GEN
 * tokens (one decode call per token), and the continuation is appended.
 * Then the whole list is evaluated as ONE batch at positions 0.. (as
 * `gemma-run logits` does) and OUT.f32 receives the logits of every
 * position, float32 [positions][vocab]; stdout gets the ids evaluated,
 * comma-separated. Precise mode: F32 KV cache, flash attention off, one
 * thread.
 *
 * MoE routing near-ties: OUT.f32.ties receives "first_tie_row R", the
 * first position at which, in some layer, the k-th and (k+1)-th expert
 * probabilities are within 1e-3 (relative) of each other (-1 if none).
 * There an implementation that rounds differently may pick another
 * expert, and that token's change reaches every later row through
 * attention; the comparison then checks those rows more loosely.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* Watches the router probabilities (ffn_moe_probs-N, [n_expert][n_tokens])
 * of the final pass for selection near-ties. */
typedef struct tie_watch {
    bool on;
    int k;         /* experts used per token */
    int first_row; /* -1: none yet */
} tie_watch;

static bool watch_probs(struct ggml_tensor *t, bool ask, void *user)
{
    tie_watch *w = user;
    if (strncmp(ggml_get_name(t), "ffn_moe_probs", 13) != 0 || t->type != GGML_TYPE_F32)
        return ask ? false : true;
    if (ask)
        return true;
    if (!w->on || w->k <= 0 || t->ne[0] <= w->k)
        return true;
    const int n_exp = (int)t->ne[0], n_tok = (int)t->ne[1];
    float *p = malloc(ggml_nbytes(t));
    if (p == NULL)
        return true;
    ggml_backend_tensor_get(t, p, 0, ggml_nbytes(t));
    for (int i = 0; i < n_tok; i++) {
        const float *row = (const float *)((const char *)p + i * t->nb[1]);
        /* the k-th and (k+1)-th largest */
        float top[64];
        int m = w->k + 1 < 64 ? w->k + 1 : 64;
        for (int j = 0; j < m; j++)
            top[j] = -1.0f;
        for (int e = 0; e < n_exp; e++) {
            float v = row[e];
            for (int j = 0; j < m; j++)
                if (v > top[j]) {
                    float tmp = top[j];
                    top[j] = v;
                    v = tmp;
                }
        }
        const float a = top[m - 2], b = top[m - 1];
        if (a > 0 && (a - b) < 1e-3f * a && (w->first_row < 0 || i < w->first_row))
            w->first_row = i;
    }
    free(p);
    return true;
}

static int argmax(const float *row, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* Decode ids[from..n) at positions from.. with logits for every token. */
static int decode(struct llama_context *ctx, struct llama_batch *batch, const llama_token *ids,
                  int from, int n)
{
    batch->n_tokens = n - from;
    for (int i = from; i < n; i++) {
        int k = i - from;
        batch->token[k] = ids[i];
        batch->pos[k] = i;
        batch->n_seq_id[k] = 1;
        batch->seq_id[k][0] = 0;
        batch->logits[k] = 1;
    }
    return llama_decode(ctx, *batch);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: ref_logits BINS_DIR MODEL.gguf IDS OUT.f32 [N_GEN]\n");
        return 2;
    }
    const int n_gen = argc == 6 ? atoi(argv[5]) : 0;
    if (n_gen < 0 || n_gen > 4096) {
        fprintf(stderr, "ref_logits: bad N_GEN\n");
        return 2;
    }
    int n = 0, cap = 64 + n_gen;
    llama_token *ids = malloc(cap * sizeof(*ids));
    for (char *p = argv[3]; ids != NULL && *p != '\0';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            fprintf(stderr, "ref_logits: bad token list\n");
            return 2;
        }
        if (n == cap - n_gen) {
            cap *= 2;
            ids = realloc(ids, cap * sizeof(*ids));
            if (ids == NULL)
                break;
        }
        ids[n++] = (llama_token)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (ids == NULL || n == 0) {
        fprintf(stderr, "ref_logits: no tokens\n");
        return 2;
    }
    const int n_all = n + n_gen;

    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (model == NULL) {
        fprintf(stderr, "ref_logits: llama.cpp cannot load %s\n", argv[2]);
        return 1;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_all < 256 ? 256 : n_all;
    cp.n_batch = n_all;
    cp.n_ubatch = n_all;
    cp.n_seq_max = 1;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    tie_watch watch = {false, 0, -1};
    char kbuf[32];
    if (llama_model_meta_val_str(model, "gemma4.expert_used_count", kbuf, sizeof(kbuf)) > 0)
        watch.k = atoi(kbuf);
    cp.cb_eval = watch_probs;
    cp.cb_eval_user_data = &watch;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "ref_logits: cannot make a context\n");
        return 1;
    }
    struct llama_batch batch = llama_batch_init(n_all, 0, 1);

    /* the greedy continuation, one token at a time */
    if (n_gen > 0) {
        if (decode(ctx, &batch, ids, 0, n) != 0) {
            fprintf(stderr, "ref_logits: llama_decode failed\n");
            return 1;
        }
        for (int g = 0; g < n_gen; g++) {
            ids[n + g] = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
            if (g + 1 < n_gen && decode(ctx, &batch, ids, n + g, n + g + 1) != 0) {
                fprintf(stderr, "ref_logits: llama_decode failed at generated token %d\n", g);
                return 1;
            }
        }
        llama_memory_clear(llama_get_memory(ctx), true);
    }

    /* everything as one batch */
    watch.on = true;
    if (decode(ctx, &batch, ids, 0, n_all) != 0) {
        fprintf(stderr, "ref_logits: llama_decode failed\n");
        return 1;
    }
    FILE *out = fopen(argv[4], "wb");
    if (out == NULL) {
        perror(argv[4]);
        return 1;
    }
    for (int i = 0; i < n_all; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        if (row == NULL || fwrite(row, sizeof(float), n_vocab, out) != (size_t)n_vocab) {
            fprintf(stderr, "ref_logits: no logits for row %d\n", i);
            return 1;
        }
        printf("%s%d", i ? "," : "", ids[i]);
    }
    printf("\n");
    if (fclose(out) != 0) {
        perror(argv[4]);
        return 1;
    }
    char ties[4096];
    snprintf(ties, sizeof(ties), "%s.ties", argv[4]);
    FILE *tf = fopen(ties, "w");
    if (tf == NULL || fprintf(tf, "first_tie_row %d\n", watch.first_row) < 0 || fclose(tf) != 0) {
        perror(ties);
        return 1;
    }
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(ids);
    return 0;
}
