/*
 * engine/text/generate.c -- the generation loop: evaluate the prompt, then
 * sample, stream and feed back one token at a time until an end-of-
 * generation token, a stop string, max_tokens, a full context, or a cancel
 * request. Text goes out through the streaming detokenizer (complete UTF-8
 * only) and the stop-string filter (never emits a stop string).
 */
#include "engine/text/generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/grammar/grammar.h"
#include "engine/grammar/logprobs.h"
#include "engine/text/stop.h"
#include "engine/text/vocab.h"

/* Prompt tokens per forward pass. */
#define PROMPT_CHUNK 512u

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct gm_gen {
    const gm_vocab *vocab;
    gm_sampler *smp;
    gm_stop_filter stop;
    bool stop_ready;
    char *stop_copy[GM_MAX_STOP_STRINGS]; /* the filter borrows these */
    gm_detok dt;
    uint32_t max_tokens;
    bool ignore_eos;
    gm_text_cb on_text;
    void *user;
    /* issue 14: constrained decoding, per-token callback, logprobs */
    gm_matcher *matcher;          /* the grammar's state, or NULL */
    gm_token_index *own_index;    /* built here when params gave none */
    gm_token_cb on_token;
    void *token_user;
    uint32_t top_logprobs;
    float *raw;                   /* a copy of the logits for logprobs, or NULL */
    uint32_t n_vocab;
    bool cancelled;   /* the callback asked to stop */
    bool ended;
    double t_first;
    gm_generate_result result;
};

int gm_gen_sampler_new(const gm_model *model, const gm_generate_params *params,
                       const int32_t *prompt, size_t n_prompt, gm_sampler **out,
                       cm_err *err)
{
    *out = NULL;
    const gm_vocab *vocab = gm_model_get_vocab(model);
    const uint32_t n_vocab = gm_model_get_info(model)->n_vocab;
    gm_sampler *smp = NULL;
    if (gm_sampler_new(&params->sample, n_vocab, &smp, err) < 0)
        return -1;
    const int32_t *sup;
    size_t n_sup = vocab ? gm_vocab_suppressed(vocab, &sup) : 0;
    for (size_t i = 0; i < n_sup; i++) /* the vocab may be larger than the output */
        if ((uint32_t)sup[i] < n_vocab && gm_sampler_suppress(smp, &sup[i], 1, err) < 0) {
            gm_sampler_free(smp);
            return -1;
        }
    for (size_t i = 0; i < n_prompt; i++)
        gm_sampler_accept(smp, prompt[i]);
    *out = smp;
    return 0;
}

void gm_gen_free(gm_gen *g)
{
    if (g == NULL)
        return;
    gm_sampler_free(g->smp);
    gm_matcher_free(g->matcher);
    gm_token_index_free(g->own_index);
    free(g->raw);
    if (g->stop_ready)
        gm_stop_free(&g->stop);
    for (size_t i = 0; i < GM_MAX_STOP_STRINGS; i++)
        free(g->stop_copy[i]);
    free(g);
}

int gm_gen_new(const gm_model *model, const int32_t *prompt, size_t n_prompt,
               const gm_generate_params *params, gm_text_cb on_text, void *user,
               gm_gen **out, cm_err *err)
{
    *out = NULL;
    const gm_vocab *vocab = gm_model_get_vocab(model);
    const uint32_t n_vocab = gm_model_get_info(model)->n_vocab;
    if (!vocab)
        return cm_err_set(err, "generate: the model has no vocabulary");
    if (n_prompt == 0)
        return cm_err_set(err, "generate: the prompt is empty");
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= n_vocab)
            return cm_err_set(err, "generate: prompt token %zu (id %d) is out of range", i,
                              (int)prompt[i]);
    gm_gen *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return cm_err_set(err, "generate: out of memory");
    g->vocab = vocab;
    g->max_tokens = params->max_tokens;
    g->ignore_eos = params->ignore_eos;
    g->on_text = on_text;
    g->user = user;
    g->result.n_prompt_tokens = (uint32_t)n_prompt;
    size_t n_stop = 0;
    while (n_stop < GM_MAX_STOP_STRINGS && params->stop[n_stop]) {
        g->stop_copy[n_stop] = strdup(params->stop[n_stop]);
        if (g->stop_copy[n_stop] == NULL) {
            gm_gen_free(g);
            return cm_err_set(err, "generate: out of memory");
        }
        n_stop++;
    }
    if (gm_stop_init(&g->stop, (const char *const *)g->stop_copy, n_stop, err) < 0) {
        gm_gen_free(g);
        return -1;
    }
    g->stop_ready = true;
    gm_detok_init(&g->dt);
    if (gm_gen_sampler_new(model, params, prompt, n_prompt, &g->smp, err) < 0) {
        gm_gen_free(g);
        return -1;
    }
    g->n_vocab = n_vocab;
    g->on_token = params->on_token;
    g->token_user = params->token_user;
    g->top_logprobs = params->top_logprobs;
    if (params->on_token && params->want_logprobs) {
        g->raw = malloc((size_t)n_vocab * sizeof(*g->raw));
        if (!g->raw) {
            gm_gen_free(g);
            return cm_err_set(err, "generate: out of memory");
        }
    }
    if (params->grammar) { /* after the prompt: the matcher sees generated tokens only */
        const gm_token_index *ti = params->grammar_tokens;
        if (!ti) {
            if (gm_token_index_new(vocab, n_vocab, &g->own_index, err) < 0) {
                gm_gen_free(g);
                return -1;
            }
            ti = g->own_index;
        }
        if (gm_token_index_n_vocab(ti) != n_vocab) {
            cm_err_set(err, "generate: the grammar's token index covers %u tokens, the model "
                       "%u", gm_token_index_n_vocab(ti), n_vocab);
            gm_gen_free(g);
            return -1;
        }
        if (gm_matcher_new(params->grammar, ti, &g->matcher, err) < 0) {
            gm_gen_free(g);
            return -1;
        }
        gm_sampler_set_grammar(g->smp, g->matcher);
    }
    *out = g;
    return 0;
}

static void emit(gm_gen *g, const char *text, size_t len)
{
    if (len == 0 || g->cancelled || !g->on_text)
        return;
    if (g->on_text(g->user, text, len) != 0)
        g->cancelled = true;
}

/* The generation ends: unless stopped by a stop string or cancelled,
 * release what is still held (an unfinished character, text that might
 * have become a stop string). */
static int end(gm_gen *g, gm_finish_reason finish, bool stopped, cm_err *err)
{
    g->ended = true;
    if (!stopped && finish != GM_FINISH_CANCELLED) {
        char text[GM_DETOK_OUT_MAX(256)];
        size_t n = gm_detok_flush(&g->dt, text, sizeof(text));
        const char *out_text;
        size_t out_len;
        if (gm_stop_push(&g->stop, text, n, &out_text, &out_len, err) < 0)
            return -1;
        emit(g, out_text, out_len);
        if (!g->stop.matched) {
            gm_stop_finish(&g->stop, &out_text, &out_len);
            emit(g, out_text, out_len);
        } else {
            finish = GM_FINISH_STOP;
        }
        if (g->cancelled)
            finish = GM_FINISH_CANCELLED;
    }
    g->result.finish = finish;
    g->result.generate_seconds =
        g->result.n_generated_tokens > 1 ? now_seconds() - g->t_first : 0.0;
    return 1;
}

int gm_gen_step(gm_gen *g, float *logits, bool room, int32_t *next, cm_err *err)
{
    if (g->ended)
        return 1;
    if (g->cancelled)
        return end(g, GM_FINISH_CANCELLED, false, err);
    gm_token_info ti_info = {0};
    gm_token_logprob top[GM_TOP_LOGPROBS_MAX], chosen = {0};
    if (g->raw) /* the raw logits, before sampling changes them */
        memcpy(g->raw, logits, (size_t)g->n_vocab * sizeof(*g->raw));
    int32_t tok = gm_sampler_sample(g->smp, logits);
    gm_sampler_accept(g->smp, tok);
    if (g->raw)
        ti_info.n_top = gm_logprobs(g->raw, g->n_vocab, tok, g->top_logprobs, &chosen, top);
    if (g->on_token) {
        char pbytes[64];
        size_t pl = gm_token_to_piece(g->vocab, tok, false, pbytes, sizeof(pbytes));
        ti_info.token = tok;
        ti_info.bytes = pbytes;
        ti_info.n_bytes = pl < sizeof(pbytes) ? pl : sizeof(pbytes);
        ti_info.eog = gm_vocab_is_eog(g->vocab, tok);
        ti_info.top = top;
        ti_info.logprob = chosen.logprob;
        if (g->on_token(g->token_user, &ti_info) != 0)
            g->cancelled = true;
    }
    g->result.n_generated_tokens++;
    if (g->result.n_generated_tokens == 1)
        g->t_first = now_seconds();
    if (!g->ignore_eos && gm_vocab_is_eog(g->vocab, tok))
        return end(g, GM_FINISH_STOP, false, err);
    char piece[8];
    size_t plen = gm_token_to_piece(g->vocab, tok, false, piece, sizeof(piece));
    char text[GM_DETOK_OUT_MAX(256)];
    char *big = NULL, *tb = text;
    size_t cap = sizeof(text);
    if (GM_DETOK_OUT_MAX(plen) > cap) {
        cap = GM_DETOK_OUT_MAX(plen);
        big = tb = malloc(cap);
        if (!big)
            return cm_err_set(err, "generate: out of memory for a piece of %zu bytes", plen);
    }
    size_t n = gm_detok_push(&g->dt, g->vocab, tok, tb, cap);
    const char *out_text;
    size_t out_len;
    int m = gm_stop_push(&g->stop, tb, n, &out_text, &out_len, err);
    if (m >= 0)
        emit(g, out_text, out_len);
    free(big);
    if (m < 0)
        return -1;
    if (m == 1)
        return end(g, GM_FINISH_STOP, true, err);
    if (g->cancelled)
        return end(g, GM_FINISH_CANCELLED, false, err);
    if (g->max_tokens && g->result.n_generated_tokens >= g->max_tokens)
        return end(g, GM_FINISH_LENGTH, false, err);
    if (!room)
        return end(g, GM_FINISH_CONTEXT, false, err);
    *next = tok;
    return 0;
}

void gm_gen_cancel(gm_gen *g)
{
    if (g->ended)
        return;
    g->cancelled = true;
    cm_err err;
    end(g, GM_FINISH_CANCELLED, false, &err);
}

const gm_generate_result *gm_gen_result(const gm_gen *g)
{
    return &g->result;
}

void gm_gen_set_prompt_seconds(gm_gen *g, double seconds)
{
    g->result.prompt_seconds = seconds;
}

/* ---- gm_generate: one sequence, prompt in chunks, then token by token ---- */

/* Feed tokens to `seq`; the logits of the last one land in `logits`.
 * Returns 1 when `cancel` was set between two chunks, -1 on error. */
static int feed(gm_context *ctx, uint32_t *seq_ids, bool *want, float *logits,
                const int32_t *tokens, size_t n, const volatile int *cancel, cm_err *err)
{
    for (size_t at = 0; at < n;) {
        if (at > 0 && cancel && *cancel)
            return 1;
        uint32_t k = n - at > PROMPT_CHUNK ? PROMPT_CHUNK : (uint32_t)(n - at);
        bool last = at + k == n;
        for (uint32_t i = 0; i < k; i++)
            want[i] = last && i + 1 == k;
        gm_batch b = {.n_tokens = k, .tokens = tokens + at, .seq = seq_ids, .want_logits = want};
        if (gm_decode(ctx, &b, logits, err) < 0)
            return -1;
        at += k;
    }
    return 0;
}

int gm_generate(gm_context *ctx, uint32_t seq, const int32_t *prompt, size_t n_prompt,
                const gm_generate_params *params, gm_text_cb on_text, void *user,
                const volatile int *cancel, gm_generate_result *result, cm_err *err)
{
    memset(result, 0, sizeof(*result));
    const gm_model *model = gm_context_get_model(ctx);
    if (!gm_model_get_vocab(model))
        return cm_err_set(err, "generate: the model has no vocabulary");
    if (n_prompt == 0)
        return cm_err_set(err, "generate: the prompt is empty");
    if (seq >= gm_context_n_seq_max(ctx))
        return cm_err_set(err, "generate: sequence %u is out of range (the context holds %u)",
                          seq, gm_context_n_seq_max(ctx));
    const uint32_t n_ctx = gm_context_n_ctx(ctx);
    if (n_prompt > n_ctx)
        return cm_err_set(err, "generate: the prompt of %zu tokens does not fit the context "
                               "of %u positions", n_prompt, n_ctx);
    const uint32_t n_vocab = gm_model_get_info(model)->n_vocab;
    gm_gen *g = NULL;
    if (gm_gen_new(model, prompt, n_prompt, params, on_text, user, &g, err) < 0)
        return -1;
    int rc = -1;
    uint32_t *seq_ids = malloc(PROMPT_CHUNK * sizeof(*seq_ids));
    bool *want = malloc(PROMPT_CHUNK * sizeof(*want));
    float *logits = malloc((size_t)n_vocab * sizeof(*logits));
    if (!seq_ids || !want || !logits) {
        cm_err_set(err, "generate: out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < PROMPT_CHUNK; i++)
        seq_ids[i] = seq;
    if (gm_context_seq_clear(ctx, seq, err) < 0)
        goto out;
    double t0 = now_seconds();
    int fed = feed(ctx, seq_ids, want, logits, prompt, n_prompt, cancel, err);
    if (fed < 0) {
        cm_err_prefix(err, "generate: prompt");
        goto out;
    }
    gm_gen_set_prompt_seconds(g, now_seconds() - t0);
    if (fed == 1) { /* cancelled while reading a long prompt */
        gm_gen_cancel(g);
        *result = *gm_gen_result(g);
        rc = 0;
        goto out;
    }
    for (;;) {
        if (cancel && *cancel) {
            gm_gen_cancel(g);
            break;
        }
        int32_t tok;
        int st = gm_gen_step(g, logits, gm_context_seq_len(ctx, seq) < n_ctx, &tok, err);
        if (st < 0)
            goto out;
        if (st == 1)
            break;
        if (feed(ctx, seq_ids, want, logits, &tok, 1, NULL, err) < 0) {
            cm_err_prefix(err, "generate: token %u", gm_gen_result(g)->n_generated_tokens);
            goto out;
        }
    }
    *result = *gm_gen_result(g);
    rc = 0;
out:
    gm_gen_free(g);
    free(seq_ids);
    free(want);
    free(logits);
    return rc;
}
