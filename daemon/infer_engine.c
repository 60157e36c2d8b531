/*
 * daemon/infer_engine.c -- the inference interface (infer.h) on gemmad's
 * own engine (engine/gemma.h): one gm_model shared by the workers, one
 * gm_context (one sequence) per worker, chat tokenized in the Gemma 4
 * template (content never parsed for special tokens), generation streamed
 * through gm_generate.
 */
#include "config.h" /* the build's: HAVE_CUDA, GM_SANITIZERS */

#include "daemon/infer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cpu/dot.h"
#include "engine/cuda/cuda.h"
#include "engine/gemma.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/logprobs.h"
#include "engine/grammar/tool_format.h"
#include "engine/text/chat.h"
#include "engine/text/generate.h"
#include "engine/text/sample.h"
#include "engine/text/vocab.h"

struct gmd_infer_model {
    gm_model *model;
    unsigned n_workers;
    gm_context **ctx;
    _Atomic uint64_t *kv_used;   /* per worker, updated after each request */
    _Atomic uint64_t *kv_total;
    gm_token_index *grammar_tokens; /* the vocabulary for constrained output */
};

const char *gmd_infer_backend(void)
{
    return "gemmad-engine";
}

void gmd_infer_build_info(int engine_threads, gmd_infer_build *b)
{
    memset(b, 0, sizeof(*b));
#ifdef HAVE_CUDA
    b->cuda = true;
#endif
#ifdef GM_SANITIZERS
    b->sanitizers = true;
#endif
    b->avx2_fma = gm_cpu_has_avx2();
    /* The engine's own rule for 0 (engine/model/model.c). */
    b->threads = engine_threads;
    if (b->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        b->threads = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
    snprintf(b->device, sizeof(b->device), "cpu (%d thread%s, %s)", b->threads,
             b->threads == 1 ? "" : "s", gm_cpu_path_name());
    cm_err err;
    cm_err_clear(&err);
    int n = gm_cuda_device_count(&err);
    if (n <= 0) {
        snprintf(b->gpu_note, sizeof(b->gpu_note), "%s",
                 err.msg[0] ? err.msg : "no CUDA device found");
        return;
    }
    for (int i = 0; i < n && b->n_gpus < GMD_INFER_MAX_GPUS; i++) {
        cm_err_clear(&err);
        if (gm_cuda_describe(i, b->gpus[b->n_gpus], sizeof(b->gpus[0]), &err) < 0)
            snprintf(b->gpus[b->n_gpus], sizeof(b->gpus[0]), "device %d: %.120s", i, err.msg);
        b->n_gpus++;
    }
}

uint64_t gmd_infer_model_bytes(const gmd_infer_model *m)
{
    if (m == NULL || m->model == NULL)
        return 0;
    const gm_model_info *info = gm_model_get_info(m->model);
    return info ? info->n_bytes : 0;
}

void gmd_infer_free(gmd_infer_model *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_workers && m->ctx; i++)
        gm_context_free(m->ctx[i]);
    free(m->ctx);
    free((void *)m->kv_used);
    free((void *)m->kv_total);
    gm_token_index_free(m->grammar_tokens);
    gm_model_free(m->model);
    free(m);
}

int gmd_infer_load(const gmd_model_config *mc, int fd, int n_threads, gmd_infer_model **out,
                   cm_err *err)
{
    gmd_infer_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cm_err_set(err, "model %s: out of memory", mc->name);
    m->n_workers = mc->workers ? mc->workers : 1;
    m->ctx = calloc(m->n_workers, sizeof(*m->ctx));
    m->kv_used = calloc(m->n_workers, sizeof(*m->kv_used));
    m->kv_total = calloc(m->n_workers, sizeof(*m->kv_total));
    if (m->ctx == NULL || m->kv_used == NULL || m->kv_total == NULL) {
        gmd_infer_free(m);
        return cm_err_set(err, "model %s: out of memory", mc->name);
    }
    gm_load_opts lo = {.n_threads = n_threads, .vocab_only = false, .device = mc->device};
    int rc = fd >= 0 ? gm_model_load_fd(fd, mc->name, &lo, &m->model, err)
                     : gm_model_load(mc->path, &lo, &m->model, err);
    if (rc < 0) {
        cm_err_prefix(err, "model %s", mc->name);
        gmd_infer_free(m);
        return -1;
    }
    const gm_vocab *vocab = gm_model_get_vocab(m->model);
    if (vocab && gm_token_index_new(vocab, gm_model_get_info(m->model)->n_vocab,
                                    &m->grammar_tokens, err) < 0) {
        cm_err_prefix(err, "model %s", mc->name);
        gmd_infer_free(m);
        return -1;
    }
    for (unsigned i = 0; i < m->n_workers; i++) {
        gm_context_opts co = {.n_ctx = mc->context, .n_seq_max = 1, .n_threads = n_threads};
        if (gm_context_new(m->model, &co, &m->ctx[i], err) < 0) {
            cm_err_prefix(err, "model %s: worker %u", mc->name, i);
            gmd_infer_free(m);
            return -1;
        }
        uint64_t used = 0, total = 0;
        gm_context_kv_usage(m->ctx[i], &used, &total);
        atomic_store(&m->kv_used[i], used);
        atomic_store(&m->kv_total[i], total);
    }
    *out = m;
    return 0;
}

int gmd_infer_tokenize(const gmd_infer_model *m, const gmd_infer_params *p, int32_t **toks,
                       size_t *n, cm_err *err)
{
    *toks = NULL;
    *n = 0;
    const gm_vocab *v = gm_model_get_vocab(m->model);
    if (v == NULL)
        return cm_err_set(err, "the model has no tokenizer");
    if (!p->chat) { /* BOS, then the prompt as text: no special token is matched */
        int32_t *text_ids = NULL;
        size_t n_text = 0;
        if (gm_tokenize_plain(v, p->prompt, strlen(p->prompt), &text_ids, &n_text, err) < 0)
            return -1;
        int32_t bos = gm_vocab_bos(v);
        *toks = malloc((n_text + 1) * sizeof(int32_t));
        if (*toks == NULL) {
            free(text_ids);
            return cm_err_set(err, "out of memory");
        }
        size_t k = 0;
        if (bos >= 0)
            (*toks)[k++] = bos;
        memcpy(*toks + k, text_ids, n_text * sizeof(int32_t));
        *n = k + n_text;
        free(text_ids);
        return 0;
    }
    bool tools = p->tools_json != NULL;
    for (size_t i = 0; i < p->n_messages; i++)
        tools |= p->messages[i].tool_calls_json || p->messages[i].tool_call_id ||
                 strcmp(p->messages[i].role, "tool") == 0;
    if (tools) { /* the chat template's tool format (engine/grammar/tool_format.h) */
        gm_tool_message *tm = calloc(p->n_messages ? p->n_messages : 1, sizeof(*tm));
        if (tm == NULL)
            return cm_err_set(err, "out of memory");
        for (size_t i = 0; i < p->n_messages; i++)
            tm[i] = (gm_tool_message){p->messages[i].role, p->messages[i].content,
                                      p->messages[i].tool_calls_json,
                                      p->messages[i].tool_call_id};
        int trc = gm_tool_chat_tokenize(v, tm, p->n_messages, p->tools_json, toks, n, err);
        free(tm);
        return trc;
    }
    gm_chat_message *msgs = calloc(p->n_messages ? p->n_messages : 1, sizeof(*msgs));
    if (msgs == NULL)
        return cm_err_set(err, "out of memory");
    for (size_t i = 0; i < p->n_messages; i++) {
        if (gm_chat_role_from_name(p->messages[i].role, &msgs[i].role) < 0) {
            free(msgs);
            return cm_err_set(err, "messages[%zu]: unknown role '%s'", i, p->messages[i].role);
        }
        msgs[i].content = p->messages[i].content;
    }
    gm_chat_opts co = {.add_generation_prompt = true, .enable_thinking = false};
    int rc = gm_chat_tokenize(v, msgs, p->n_messages, &co, toks, n, err);
    free(msgs);
    return rc;
}

uint32_t gmd_infer_context(const gmd_infer_model *m)
{
    return m->n_workers > 0 && m->ctx[0] ? gm_context_n_ctx(m->ctx[0]) : 0;
}

/* A token's text into a logprob entry (bytes, cut at GMD_LOGPROB_TEXT). */
static void token_text(const gm_vocab *v, int32_t id, gmd_infer_token_text *t, float lp)
{
    size_t n = gm_token_to_piece(v, id, false, t->text, sizeof(t->text));
    t->n_text = (uint8_t)(n < sizeof(t->text) ? n : sizeof(t->text));
    t->logprob = lp;
}

typedef struct logprob_sink {
    const gm_vocab *vocab;
    gmd_infer_logprobs *out;
} logprob_sink;

/* gm_generate's per-token callback: keep the logprobs for the loop. */
static int on_token(void *user, const gm_token_info *info)
{
    logprob_sink *s = user;
    if (info->eog) /* OpenAI reports no entry for the end token */
        return 0;
    gmd_infer_logprob e;
    memset(&e, 0, sizeof(e));
    token_text(s->vocab, info->token, &e.chosen, info->logprob);
    e.n_top = (uint8_t)(info->n_top < GMD_TOP_LOGPROBS_MAX ? info->n_top : GMD_TOP_LOGPROBS_MAX);
    for (size_t i = 0; i < e.n_top; i++)
        token_text(s->vocab, info->top[i].token, &e.top[i], info->top[i].logprob);
    gmd_infer_logprobs *o = s->out;
    pthread_mutex_lock(&o->mu);
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        gmd_infer_logprob *it = realloc(o->items, nc * sizeof(*it));
        if (it == NULL) {
            pthread_mutex_unlock(&o->mu);
            return 1; /* out of memory: stop rather than answer without them */
        }
        o->items = it;
        o->cap = nc;
    }
    o->items[o->n++] = e;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

int gmd_infer_run(gmd_infer_model *m, unsigned worker, const gmd_infer_params *p,
                  gmd_infer_text_cb on_text, void *user, const volatile int *cancel,
                  gmd_infer_result *result, cm_err *err)
{
    memset(result, 0, sizeof(*result));
    if (worker >= m->n_workers)
        return cm_err_set(err, "worker %u out of range", worker);
    gm_context *ctx = m->ctx[worker];
    int32_t *toks = NULL;
    size_t n = 0;
    if (p->prompt_ids != NULL) { /* tokenized before the policy decided */
        toks = malloc((p->n_prompt_ids ? p->n_prompt_ids : 1) * sizeof(*toks));
        if (toks == NULL)
            return cm_err_set(err, "out of memory");
        memcpy(toks, p->prompt_ids, p->n_prompt_ids * sizeof(*toks));
        n = p->n_prompt_ids;
    } else if (gmd_infer_tokenize(m, p, &toks, &n, err) < 0) {
        return -1;
    }
    uint32_t n_ctx = gm_context_n_ctx(ctx);
    if (n >= n_ctx) {
        free(toks);
        return cm_err_set(err, "the prompt is %zu tokens; this model's context holds %u", n,
                          n_ctx);
    }
    gm_generate_params gp;
    memset(&gp, 0, sizeof(gp));
    gm_sample_params_default(&gp.sample);
    gp.sample.temperature = p->temperature;
    gp.sample.top_k = p->top_k;
    gp.sample.top_p = p->top_p;
    gp.sample.min_p = p->min_p;
    gp.sample.frequency_penalty = p->frequency_penalty;
    gp.sample.presence_penalty = p->presence_penalty;
    gp.sample.seed = p->seed;
    gp.max_tokens = p->max_tokens;
    for (size_t i = 0; i < GMD_MAX_STOP && i < GM_MAX_STOP_STRINGS && p->stop[i]; i++)
        gp.stop[i] = p->stop[i];
    gp.grammar = p->grammar;
    gp.grammar_tokens = m->grammar_tokens;
    logprob_sink sink = {gm_model_get_vocab(m->model), p->logprobs_out};
    if (p->logprobs && p->logprobs_out) {
        gp.on_token = on_token;
        gp.token_user = &sink;
        gp.want_logprobs = true;
        gp.top_logprobs = p->top_logprobs;
    }
    gm_generate_result gr;
    memset(&gr, 0, sizeof(gr));
    int rc = gm_generate(ctx, 0, toks, n, &gp, on_text, user, cancel, &gr, err);
    free(toks);
    uint64_t used = 0, total = 0;
    gm_context_kv_usage(ctx, &used, &total);
    atomic_store(&m->kv_used[worker], used);
    atomic_store(&m->kv_total[worker], total);
    if (rc < 0)
        return -1;
    result->n_prompt_tokens = gr.n_prompt_tokens ? gr.n_prompt_tokens : (uint32_t)n;
    result->n_generated_tokens = gr.n_generated_tokens;
    switch (gr.finish) {
    case GM_FINISH_LENGTH: result->finish = GMD_FINISH_LENGTH; break;
    case GM_FINISH_STOP: result->finish = GMD_FINISH_STOP; break;
    case GM_FINISH_CANCELLED: result->finish = GMD_FINISH_CANCELLED; break;
    case GM_FINISH_CONTEXT: result->finish = GMD_FINISH_CONTEXT; break;
    }
    return 0;
}

void gmd_infer_kv_usage(gmd_infer_model *m, uint64_t *used, uint64_t *total)
{
    *used = 0;
    *total = 0;
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_workers; i++) {
        *used += atomic_load(&m->kv_used[i]);
        *total += atomic_load(&m->kv_total[i]);
    }
}
