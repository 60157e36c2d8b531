/*
 * tests/ref/ref_run.c -- load a GGUF model with the reference llama.cpp
 * (v0.5.0, prebuilt libllama) and run it: the check that a synthetic
 * Gemma 4 model is a model llama.cpp accepts.
 *
 * Built at test time by tests/integration/synth_ref.sh against
 * $GEMMA_REF_DIR (never part of the build). It loads the model, checks
 * the vocabulary (size, special ids, attributes, that BPE merges build
 * multi-character tokens), the chat template, tokenizes a chat prompt,
 * decodes it in one batch and then a few greedy tokens one at a time,
 * and checks that every logit is finite and that logits vary across the
 * vocabulary and across positions. Prints one line per problem; exits 0
 * when everything holds, 1 otherwise, 2 on a usage error.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

typedef struct ref_opts {
    const char *model;
    const char *bins;
    int n_gen;
    int threads;
    int expect_vocab; /* 0: do not check */
    bool check_merges;
    bool verbose;
} ref_opts;

typedef struct ref_state {
    int failures;
    bool verbose;
} ref_state;

static void fail(ref_state *st, const char *what)
{
    fprintf(stderr, "ref_run: %s\n", what);
    st->failures++;
}

static void log_cb(enum ggml_log_level level, const char *text, void *user)
{
    const ref_state *st = user;
    if (st->verbose || level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int usage(void)
{
    fprintf(stderr, "usage: ref_run MODEL.gguf --bins DIR [--n-gen N] [--threads N] "
                    "[--expect-vocab N] [--check-merges] [-v]\n");
    return 2;
}

static int parse(int argc, char **argv, ref_opts *o)
{
    o->n_gen = 3;
    o->threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--bins") && i + 1 < argc)
            o->bins = argv[++i];
        else if (!strcmp(a, "--n-gen") && i + 1 < argc)
            o->n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            o->threads = atoi(argv[++i]);
        else if (!strcmp(a, "--expect-vocab") && i + 1 < argc)
            o->expect_vocab = atoi(argv[++i]);
        else if (!strcmp(a, "--check-merges"))
            o->check_merges = true;
        else if (!strcmp(a, "-v"))
            o->verbose = true;
        else if (a[0] != '-' && !o->model)
            o->model = a;
        else
            return -1;
    }
    return o->model && o->bins && o->n_gen >= 0 && o->threads > 0 ? 0 : -1;
}

static int tokenize(const struct llama_vocab *vocab, const char *text, bool parse_special,
                    llama_token *out, int cap)
{
    return llama_tokenize(vocab, text, (int32_t)strlen(text), out, cap, false, parse_special);
}

static void check_vocab(ref_state *st, const ref_opts *o, const struct llama_model *model)
{
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    char msg[256];
    int n_vocab = llama_vocab_n_tokens(vocab);
    if (o->expect_vocab && n_vocab != o->expect_vocab) {
        snprintf(msg, sizeof(msg), "vocabulary has %d tokens, expected %d", n_vocab,
                 o->expect_vocab);
        fail(st, msg);
    }
    if (llama_vocab_bos(vocab) != 2 || llama_vocab_eos(vocab) != 1 || llama_vocab_pad(vocab) != 0)
        fail(st, "special ids: expected bos 2, eos 1, pad 0");
    static const struct {
        int id;
        const char *text;
        int attr;
    } fixed[] = {
        {0, "<pad>", LLAMA_TOKEN_ATTR_CONTROL},
        {2, "<bos>", LLAMA_TOKEN_ATTR_CONTROL},
        {48, "<|tool_call>", LLAMA_TOKEN_ATTR_USER_DEFINED},
        {98, "<|think|>", LLAMA_TOKEN_ATTR_CONTROL},
        {100, "<|channel>", LLAMA_TOKEN_ATTR_USER_DEFINED},
        {101, "<channel|>", LLAMA_TOKEN_ATTR_USER_DEFINED},
        {105, "<|turn>", LLAMA_TOKEN_ATTR_CONTROL},
        {106, "<turn|>", LLAMA_TOKEN_ATTR_CONTROL},
        {107, "\n", LLAMA_TOKEN_ATTR_NORMAL},
        {238, "<0x00>", LLAMA_TOKEN_ATTR_BYTE},
        {493, "<0xFF>", LLAMA_TOKEN_ATTR_BYTE},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        const char *t = fixed[i].id < n_vocab ? llama_vocab_get_text(vocab, fixed[i].id) : NULL;
        if (!t || strcmp(t, fixed[i].text) != 0 ||
            !(llama_vocab_get_attr(vocab, fixed[i].id) & fixed[i].attr)) {
            snprintf(msg, sizeof(msg), "token %d is not %s with attribute %d", fixed[i].id,
                     fixed[i].id == 107 ? "\"\\n\"" : fixed[i].text, fixed[i].attr);
            fail(st, msg);
        }
    }
    if (!llama_vocab_is_eog(vocab, 106))
        fail(st, "<turn|> (106) is not an end-of-generation token");
    const char *tmpl = llama_model_chat_template(model, NULL);
    if (!tmpl || !strstr(tmpl, "<|turn>") || !strstr(tmpl, "<|channel>thought\\n<channel|>"))
        fail(st, "tokenizer.chat_template is missing or lacks the Gemma 4 turn markers");

    /* Specials are split out of a chat prompt. */
    llama_token ids[256];
    const char *chat = "<bos><|turn>user\nHello world<turn|>\n<|turn>model\n";
    int n = tokenize(vocab, chat, true, ids, 256);
    if (n < 8 || ids[0] != 2 || ids[1] != 105 || ids[n - 1] != 107) {
        snprintf(msg, sizeof(msg), "chat prompt tokenized to %d tokens starting %d %d", n,
                 n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1);
        fail(st, msg);
    }
    if (o->check_merges) {
        const char *text = "Hello world, why is the sky blue? The answer is in the model.";
        n = tokenize(vocab, text, false, ids, 256);
        if (n <= 0 || (size_t)n * 2 > strlen(text)) {
            snprintf(msg, sizeof(msg), "merges do not build words: %d tokens for %zu bytes", n,
                     strlen(text));
            fail(st, msg);
        }
        printf("merge check: %d tokens for %zu bytes\n", n, strlen(text));
    }
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Check one row of logits; copy it to `keep` for the cross-row check. */
static void check_row(ref_state *st, const float *lg, int n_vocab, int row, float *keep)
{
    char msg[160];
    int bad = 0;
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < n_vocab; j++) {
        if (!isfinite(lg[j])) {
            bad++;
            continue;
        }
        lo = lg[j] < lo ? lg[j] : lo;
        hi = lg[j] > hi ? lg[j] : hi;
    }
    if (bad) {
        snprintf(msg, sizeof(msg), "row %d: %d non-finite logits", row, bad);
        fail(st, msg);
    } else if (!(hi - lo > 1e-3f)) {
        snprintf(msg, sizeof(msg), "row %d: logits do not vary (range %g)", row,
                 (double)(hi - lo));
        fail(st, msg);
    }
    memcpy(keep, lg, (size_t)n_vocab * sizeof(*lg));
}

static void run_model(ref_state *st, const ref_opts *o, struct llama_model *model)
{
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token prompt[256];
    const char *chat = "<bos><|turn>user\nWhy is the sky blue?<turn|>\n<|turn>model\n";
    int n_prompt = tokenize(vocab, chat, true, prompt, 256);
    if (n_prompt <= 1) {
        fail(st, "could not tokenize the prompt");
        return;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_ubatch = 256;
    cp.n_seq_max = 1;
    cp.n_threads = o->threads;
    cp.n_threads_batch = o->threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fail(st, "llama_init_from_model failed");
        return;
    }
    const int n_rows = n_prompt + o->n_gen;
    float *rows = malloc((size_t)n_rows * (size_t)n_vocab * sizeof(float));
    struct llama_batch batch = llama_batch_init(n_prompt, 0, 1);
    if (!rows) {
        fail(st, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_prompt; i++) {
        batch.token[i] = prompt[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n_prompt;
    if (llama_decode(ctx, batch) != 0) {
        fail(st, "llama_decode of the prompt failed");
        goto done;
    }
    for (int i = 0; i < n_prompt; i++) {
        const float *lg = llama_get_logits_ith(ctx, i);
        if (!lg) {
            fail(st, "no logits for a prompt row");
            goto done;
        }
        check_row(st, lg, n_vocab, i, rows + (size_t)i * n_vocab);
    }
    printf("prompt %d tokens; argmax:", n_prompt);
    for (int i = 0; i < n_prompt; i++)
        printf(" %d", argmax(rows + (size_t)i * n_vocab, n_vocab));
    printf("\ngenerated:");
    for (int g = 0; g < o->n_gen; g++) {
        int row = n_prompt + g;
        llama_token next = argmax(rows + (size_t)(row - 1) * n_vocab, n_vocab);
        batch.token[0] = next;
        batch.pos[0] = row;
        batch.n_seq_id[0] = 1;
        batch.seq_id[0][0] = 0;
        batch.logits[0] = 1;
        batch.n_tokens = 1;
        if (llama_decode(ctx, batch) != 0) {
            fail(st, "llama_decode of a generated token failed");
            goto done;
        }
        const float *lg = llama_get_logits_ith(ctx, 0);
        if (!lg) {
            fail(st, "no logits for a generated token");
            goto done;
        }
        check_row(st, lg, n_vocab, row, rows + (size_t)row * n_vocab);
        printf(" %d", next);
    }
    printf("\n");
    /* The logits must depend on the input: rows differ between positions. */
    int differing = 0;
    for (int i = 1; i < n_rows; i++)
        differing += memcmp(rows, rows + (size_t)i * n_vocab, (size_t)n_vocab * sizeof(float)) != 0;
    if (differing < n_rows - 1)
        fail(st, "logits are the same at different positions");
done:
    llama_batch_free(batch);
    free(rows);
    llama_free(ctx);
}

int main(int argc, char **argv)
{
    ref_opts o;
    memset(&o, 0, sizeof(o));
    if (parse(argc, argv, &o) < 0)
        return usage();
    ref_state st = {0, o.verbose};
    llama_log_set(log_cb, &st);
    ggml_backend_load_all_from_path(o.bins);
    llama_backend_init();
    if (ggml_backend_reg_count() == 0) {
        fprintf(stderr, "ref_run: no ggml backend could be loaded from %s\n", o.bins);
        return 1;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(o.model, mp);
    if (!model) {
        fprintf(stderr, "ref_run: llama.cpp could not load %s\n", o.model);
        llama_backend_free();
        return 1;
    }
    char desc[128];
    llama_model_desc(model, desc, sizeof(desc));
    printf("loaded %s: %s, %llu parameters\n", o.model, desc,
           (unsigned long long)llama_model_n_params(model));
    check_vocab(&st, &o, model);
    run_model(&st, &o, model);
    llama_model_free(model);
    llama_backend_free();
    printf("%s\n", st.failures ? "FAILED" : "OK");
    return st.failures ? 1 : 0;
}
