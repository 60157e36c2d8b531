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

typedef struct gen_state {
    gm_context *ctx;
    uint32_t seq;
    uint32_t *seq_ids;    /* PROMPT_CHUNK copies of seq */
    bool *want;           /* PROMPT_CHUNK flags */
    float *logits;        /* n_vocab */
    gm_text_cb on_text;
    void *user;
    bool cancelled;
} gen_state;

/* Feed tokens; the logits of the last one land in st->logits. Returns 1
 * when `cancel` was set between two chunks, -1 on error. */
static int feed(gen_state *st, const int32_t *tokens, size_t n, const volatile int *cancel,
                cm_err *err)
{
    for (size_t at = 0; at < n;) {
        if (at > 0 && cancel && *cancel)
            return 1;
        uint32_t k = n - at > PROMPT_CHUNK ? PROMPT_CHUNK : (uint32_t)(n - at);
        bool last = at + k == n;
        for (uint32_t i = 0; i < k; i++)
            st->want[i] = last && i + 1 == k;
        gm_batch b = {.n_tokens = k, .tokens = tokens + at, .seq = st->seq_ids,
                      .want_logits = st->want};
        if (gm_decode(st->ctx, &b, st->logits, err) < 0)
            return -1;
        at += k;
    }
    return 0;
}

static void emit(gen_state *st, const char *text, size_t len)
{
    if (len == 0 || st->cancelled || !st->on_text)
        return;
    if (st->on_text(st->user, text, len) != 0)
        st->cancelled = true;
}

int gm_generate(gm_context *ctx, uint32_t seq, const int32_t *prompt, size_t n_prompt,
                const gm_generate_params *params, gm_text_cb on_text, void *user,
                const volatile int *cancel, gm_generate_result *result, cm_err *err)
{
    memset(result, 0, sizeof(*result));
    const gm_model *model = gm_context_get_model(ctx);
    const gm_vocab *vocab = gm_model_get_vocab(model);
    const gm_model_info *info = gm_model_get_info(model);
    if (!vocab)
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
    const uint32_t n_vocab = info->n_vocab;
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= n_vocab)
            return cm_err_set(err, "generate: prompt token %zu (id %d) is out of range", i,
                              (int)prompt[i]);
    size_t n_stop = 0;
    while (n_stop < GM_MAX_STOP_STRINGS && params->stop[n_stop])
        n_stop++;

    gen_state st = {.ctx = ctx, .seq = seq, .on_text = on_text, .user = user};
    gm_sampler *smp = NULL;
    gm_token_index *own_index = NULL;
    gm_matcher *matcher = NULL;
    float *raw = NULL; /* a copy of the logits for logprobs */
    gm_stop_filter stop;
    int rc = -1;
    if (gm_stop_init(&stop, params->stop, n_stop, err) < 0)
        return -1;
    st.seq_ids = malloc(PROMPT_CHUNK * sizeof(*st.seq_ids));
    st.want = malloc(PROMPT_CHUNK * sizeof(*st.want));
    st.logits = malloc((size_t)n_vocab * sizeof(*st.logits));
    if (!st.seq_ids || !st.want || !st.logits) {
        cm_err_set(err, "generate: out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < PROMPT_CHUNK; i++)
        st.seq_ids[i] = seq;
    if (gm_sampler_new(&params->sample, n_vocab, &smp, err) < 0)
        goto out;
    const int32_t *sup;
    size_t n_sup = gm_vocab_suppressed(vocab, &sup);
    for (size_t i = 0; i < n_sup; i++) /* the vocab may be larger than the output */
        if ((uint32_t)sup[i] < n_vocab && gm_sampler_suppress(smp, &sup[i], 1, err) < 0)
            goto out;
    for (size_t i = 0; i < n_prompt; i++)
        gm_sampler_accept(smp, prompt[i]);
    if (params->on_token && params->want_logprobs) {
        raw = malloc((size_t)n_vocab * sizeof(*raw));
        if (!raw) {
            cm_err_set(err, "generate: out of memory");
            goto out;
        }
    }
    if (params->grammar) { /* after the prompt: the matcher sees generated tokens only */
        const gm_token_index *ti = params->grammar_tokens;
        if (!ti) {
            if (gm_token_index_new(vocab, n_vocab, &own_index, err) < 0)
                goto out;
            ti = own_index;
        }
        if (gm_token_index_n_vocab(ti) != n_vocab) {
            cm_err_set(err, "generate: the grammar's token index covers %u tokens, the model "
                       "%u", gm_token_index_n_vocab(ti), n_vocab);
            goto out;
        }
        if (gm_matcher_new(params->grammar, ti, &matcher, err) < 0)
            goto out;
        gm_sampler_set_grammar(smp, matcher);
    }

    if (gm_context_seq_clear(ctx, seq, err) < 0)
        goto out;
    double t0 = now_seconds();
    int fed = feed(&st, prompt, n_prompt, cancel, err);
    if (fed < 0) {
        cm_err_prefix(err, "generate: prompt");
        goto out;
    }
    double t1 = now_seconds(), t_first = t1;
    result->n_prompt_tokens = (uint32_t)n_prompt;
    result->prompt_seconds = t1 - t0;
    if (fed == 1) { /* cancelled while reading a long prompt */
        result->finish = GM_FINISH_CANCELLED;
        rc = 0;
        goto out;
    }

    gm_detok dt;
    gm_detok_init(&dt);
    char text[GM_DETOK_OUT_MAX(256)];
    gm_finish_reason finish = GM_FINISH_LENGTH;
    bool stopped = false;
    for (;;) {
        if ((cancel && *cancel) || st.cancelled) {
            finish = GM_FINISH_CANCELLED;
            break;
        }
        gm_token_info ti_info = {0};
        gm_token_logprob top[GM_TOP_LOGPROBS_MAX], chosen = {0};
        if (raw) /* the raw logits, before sampling changes them */
            memcpy(raw, st.logits, (size_t)n_vocab * sizeof(*raw));
        int32_t tok = gm_sampler_sample(smp, st.logits);
        gm_sampler_accept(smp, tok);
        if (raw)
            ti_info.n_top = gm_logprobs(raw, n_vocab, tok, params->top_logprobs, &chosen, top);
        if (params->on_token) {
            char pbytes[64];
            size_t pl = gm_token_to_piece(vocab, tok, false, pbytes, sizeof(pbytes));
            ti_info.token = tok;
            ti_info.bytes = pbytes;
            ti_info.n_bytes = pl < sizeof(pbytes) ? pl : sizeof(pbytes);
            ti_info.eog = gm_vocab_is_eog(vocab, tok);
            ti_info.top = top;
            ti_info.logprob = chosen.logprob;
            if (params->on_token(params->token_user, &ti_info) != 0)
                st.cancelled = true;
        }
        result->n_generated_tokens++;
        if (result->n_generated_tokens == 1)
            t_first = now_seconds();
        if (!params->ignore_eos && gm_vocab_is_eog(vocab, tok)) {
            finish = GM_FINISH_STOP;
            break;
        }
        char piece[8];
        size_t plen = gm_token_to_piece(vocab, tok, false, piece, sizeof(piece));
        char *big = NULL, *tb = text;
        size_t cap = sizeof(text);
        if (GM_DETOK_OUT_MAX(plen) > cap) {
            cap = GM_DETOK_OUT_MAX(plen);
            big = tb = malloc(cap);
            if (!big) {
                cm_err_set(err, "generate: out of memory for a piece of %zu bytes", plen);
                goto out;
            }
        }
        size_t n = gm_detok_push(&dt, vocab, tok, tb, cap);
        const char *out_text;
        size_t out_len;
        int m = gm_stop_push(&stop, tb, n, &out_text, &out_len, err);
        if (m >= 0)
            emit(&st, out_text, out_len);
        free(big);
        if (m < 0)
            goto out;
        if (m == 1) {
            finish = GM_FINISH_STOP;
            stopped = true;
            break;
        }
        if (st.cancelled) {
            finish = GM_FINISH_CANCELLED;
            break;
        }
        if (params->max_tokens && result->n_generated_tokens >= params->max_tokens) {
            finish = GM_FINISH_LENGTH;
            break;
        }
        if (gm_context_seq_len(ctx, seq) >= n_ctx) {
            finish = GM_FINISH_CONTEXT;
            break;
        }
        if (feed(&st, &tok, 1, NULL, err) < 0) {
            cm_err_prefix(err, "generate: token %u", result->n_generated_tokens);
            goto out;
        }
    }
    if (!stopped && finish != GM_FINISH_CANCELLED) {
        /* release what is still held: an unfinished character, text that
         * might have become a stop string */
        size_t n = gm_detok_flush(&dt, text, sizeof(text));
        const char *out_text;
        size_t out_len;
        if (gm_stop_push(&stop, text, n, &out_text, &out_len, err) < 0)
            goto out;
        emit(&st, out_text, out_len);
        if (!stop.matched) {
            gm_stop_finish(&stop, &out_text, &out_len);
            emit(&st, out_text, out_len);
        } else {
            finish = GM_FINISH_STOP;
        }
        if (st.cancelled)
            finish = GM_FINISH_CANCELLED;
    }
    result->finish = finish;
    result->generate_seconds = result->n_generated_tokens > 1 ? now_seconds() - t_first : 0.0;
    rc = 0;
out:
    gm_sampler_free(smp);
    gm_matcher_free(matcher);
    free(raw);
    gm_token_index_free(own_index);
    gm_stop_free(&stop);
    free(st.seq_ids);
    free(st.want);
    free(st.logits);
    return rc;
}
