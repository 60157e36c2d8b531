/*
 * daemon/infer_engine.c -- the inference interface (infer.h) on gemmad's
 * own engine (engine/gemma.h): one gm_model and one gm_context whose
 * sequences are the batch's slots, chat tokenized in the Gemma 4 template
 * (content never parsed for special tokens), each slot's generation a
 * gm_gen (engine/text/generate.h) fed by one gm_decode per step for all
 * slots, and a prefix cache of prompt snapshots (sched_prefix.h). Each
 * slot carries its request's grammar (response_format, tool calls; the
 * model's token index is built once at load) and its logprobs sink, so
 * constrained output and logprobs work in the batch as they do alone.
 */
#include "config.h" /* the build's: HAVE_CUDA, GM_SANITIZERS */

#include "daemon/infer.h"
#include "daemon/sched_prefix.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Where a request's per-token logprobs go (its on_token callback). */
typedef struct logprob_sink {
    const gm_vocab *vocab;
    gmd_infer_logprobs *out;
} logprob_sink;

/* One sequence of the batch. */
typedef struct slot {
    logprob_sink sink;       /* the request's logprobs, when asked for */
    bool active;
    gm_gen *gen;
    int32_t *prompt;
    uint32_t n_prompt;
    uint32_t fed;            /* prompt positions in the cache */
    bool decoding;           /* the prompt is in; `next` is fed next step */
    int32_t next;
    gm_kv_snapshot *snap;    /* the prompt's snapshot being taken, or NULL */
    uint64_t order;          /* when it started: prompts are read first come first */
    unsigned step_tokens;    /* tokens it has in the current step */
    double t_start;
} slot;

struct gmd_infer_model {
    gm_model *model;
    gm_context *ctx;
    uint32_t n_vocab;
    unsigned n_slots;
    slot *slots;
    uint32_t max_step_tokens;
    uint32_t min_window;     /* 0 = no sliding layer */
    uint64_t order;
    gmd_prefix_cache pc;
    /* one step's batch */
    int32_t *b_tok;
    uint32_t *b_seq;
    bool *b_want;
    unsigned *b_owner;       /* slot of each output row */
    float *logits;           /* [n_slots][n_vocab] */
    _Atomic uint64_t kv_used; /* updated by the scheduler, read by the loop */
    _Atomic uint64_t kv_total;
    gm_token_index *grammar_tokens; /* the vocabulary for constrained output */
    gmd_infer_device dev;    /* where it computes, as loaded */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

void gmd_infer_device_info(const gmd_infer_model *m, gmd_infer_device *out)
{
    memset(out, 0, sizeof(*out));
    out->index = -1;
    if (m == NULL || m->model == NULL)
        return;
    *out = m->dev;
    if (out->index >= 0) { /* the GPU's free memory now */
        gm_device_info di;
        gm_model_device_info(m->model, &di);
        out->mem_free = di.mem_free;
    }
}

void gmd_infer_free(gmd_infer_model *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_slots && m->slots; i++) {
        gm_gen_free(m->slots[i].gen);
        free(m->slots[i].prompt);
        gm_kv_snapshot_free(m->slots[i].snap);
    }
    free(m->slots);
    gmd_prefix_free(&m->pc);
    free(m->b_tok);
    free(m->b_seq);
    free(m->b_want);
    free(m->b_owner);
    free(m->logits);
    gm_context_free(m->ctx);
    gm_token_index_free(m->grammar_tokens);
    gm_model_free(m->model);
    free(m);
}

static void update_kv(gmd_infer_model *m)
{
    uint64_t used = 0, total = 0;
    gm_context_kv_usage(m->ctx, &used, &total);
    atomic_store(&m->kv_used, used);
    atomic_store(&m->kv_total, total);
}

/* The model and its context on `device` (m->model and m->ctx; both NULL
 * again on failure). */
static int load_on(const gmd_model_config *mc, int fd, int n_threads, const char *device,
                   gmd_infer_model *m, cm_err *err)
{
    gm_load_opts lo = {.n_threads = n_threads, .vocab_only = false, .device = device};
    int rc = fd >= 0 ? gm_model_load_fd(fd, mc->name, &lo, &m->model, err)
                     : gm_model_load(mc->path, &lo, &m->model, err);
    if (rc < 0)
        return -1;
    gm_context_opts co = {.n_ctx = mc->context, .n_seq_max = m->n_slots,
                          .n_threads = n_threads};
    if (gm_context_new(m->model, &co, &m->ctx, err) < 0) {
        gm_model_free(m->model);
        m->model = NULL;
        m->ctx = NULL;
        return -1;
    }
    return 0;
}

/* The CPU instead of the configured GPU: why (NULL when it was used). */
const char *gmd_infer_fallback(const gmd_infer_model *m)
{
    return m != NULL && m->dev.fallback[0] != '\0' ? m->dev.fallback : NULL;
}

int gmd_infer_load(const gmd_model_config *mc, int fd, int n_threads, gmd_infer_model **out,
                   cm_err *err)
{
    gmd_infer_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cm_err_set(err, "model %s: out of memory", mc->name);
    m->n_slots = mc->max_batch_sequences ? mc->max_batch_sequences : 1;
    if (m->n_slots > GMD_INFER_MAX_SLOTS)
        m->n_slots = GMD_INFER_MAX_SLOTS;
    m->max_step_tokens = mc->max_batch_tokens ? mc->max_batch_tokens : 512;
    if (m->max_step_tokens < m->n_slots)
        m->max_step_tokens = m->n_slots; /* every decoding slot gets its token */
    gmd_prefix_init(&m->pc, (uint64_t)mc->prefix_cache_mb << 20, mc->prefix_cache_min_tokens);
    int rc = load_on(mc, fd, n_threads, mc->device, m, err);
    if (rc < 0 && mc->device_fallback_cpu && strcmp(mc->device, "cpu") != 0) {
        /* the configured GPU cannot be used: the CPU, as configured */
        snprintf(m->dev.fallback, sizeof(m->dev.fallback), "%s", err->msg);
        cm_err cpu_err;
        rc = load_on(mc, fd, n_threads, "cpu", m, &cpu_err);
        if (rc < 0)
            cm_err_set(err, "%s; on the CPU (device_fallback: cpu): %s", m->dev.fallback,
                       cpu_err.msg);
    }
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
    gm_device_info di;
    gm_context_device_info(m->ctx, &di);
    snprintf(m->dev.device, sizeof(m->dev.device), "%s", di.device);
    snprintf(m->dev.name, sizeof(m->dev.name), "%s", di.name);
    snprintf(m->dev.configured, sizeof(m->dev.configured), "%s", mc->device);
    m->dev.index = di.index;
    m->dev.mem_total = di.mem_total;
    m->dev.mem_free = di.mem_free;
    m->dev.weights_bytes = di.model_bytes;
    m->dev.kv_bytes = di.kv_bytes;
    m->dev.scratch_bytes = di.scratch_bytes;
    if (strcmp(di.device, "cpu") != 0) /* snapshots copy the host's KV; a GPU keeps its own */
        gmd_prefix_init(&m->pc, 0, mc->prefix_cache_min_tokens);
    m->n_vocab = gm_model_get_info(m->model)->n_vocab;
    m->min_window = gm_context_min_window(m->ctx);
    const size_t nt = (size_t)m->max_step_tokens;
    m->slots = calloc(m->n_slots, sizeof(*m->slots));
    m->b_tok = calloc(nt, sizeof(*m->b_tok));
    m->b_seq = calloc(nt, sizeof(*m->b_seq));
    m->b_want = calloc(nt, sizeof(*m->b_want));
    m->b_owner = calloc(m->n_slots, sizeof(*m->b_owner));
    m->logits = calloc((size_t)m->n_slots * m->n_vocab, sizeof(*m->logits));
    if (!m->slots || !m->b_tok || !m->b_seq || !m->b_want || !m->b_owner || !m->logits) {
        gmd_infer_free(m);
        return cm_err_set(err, "model %s: out of memory", mc->name);
    }
    update_kv(m);
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
    return m->ctx ? gm_context_n_ctx(m->ctx) : 0;
}

/* A token's text into a logprob entry (bytes, cut at GMD_LOGPROB_TEXT). */
static void token_text(const gm_vocab *v, int32_t id, gmd_infer_token_text *t, float lp)
{
    size_t n = gm_token_to_piece(v, id, false, t->text, sizeof(t->text));
    t->n_text = (uint8_t)(n < sizeof(t->text) ? n : sizeof(t->text));
    t->logprob = lp;
}

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

unsigned gmd_infer_slots(const gmd_infer_model *m)
{
    return m->n_slots;
}

uint64_t gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens)
{
    const uint32_t n_ctx = gm_context_n_ctx(m->ctx);
    uint64_t n = (uint64_t)n_prompt + (max_tokens ? max_tokens : n_ctx);
    return gm_context_seq_kv_bytes(m->ctx, n < n_ctx ? (uint32_t)n : n_ctx);
}

unsigned gmd_infer_active(const gmd_infer_model *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->n_slots; i++)
        n += m->slots[i].active;
    return n;
}

/* The request's generation parameters: the one translation from the
 * API's to the engine's. */
static void generate_params(const gmd_infer_params *p, gm_generate_params *gp)
{
    memset(gp, 0, sizeof(*gp));
    gm_sample_params_default(&gp->sample);
    gp->sample.temperature = p->temperature;
    gp->sample.top_k = p->top_k;
    gp->sample.top_p = p->top_p;
    gp->sample.min_p = p->min_p;
    gp->sample.frequency_penalty = p->frequency_penalty;
    gp->sample.presence_penalty = p->presence_penalty;
    gp->sample.seed = p->seed;
    gp->max_tokens = p->max_tokens;
    for (size_t i = 0; i < GMD_MAX_STOP && i < GM_MAX_STOP_STRINGS && p->stop[i]; i++)
        gp->stop[i] = p->stop[i];
}

static void slot_release(gmd_infer_model *m, unsigned i)
{
    slot *s = &m->slots[i];
    gm_gen_free(s->gen);
    free(s->prompt);
    gm_kv_snapshot_free(s->snap);
    memset(s, 0, sizeof(*s));
    cm_err err;
    (void)gm_context_seq_clear(m->ctx, i, &err);
}

static void fill_result(const gm_generate_result *gr, gmd_infer_result *r)
{
    memset(r, 0, sizeof(*r));
    r->n_prompt_tokens = gr->n_prompt_tokens;
    r->n_generated_tokens = gr->n_generated_tokens;
    switch (gr->finish) {
    case GM_FINISH_LENGTH: r->finish = GMD_FINISH_LENGTH; break;
    case GM_FINISH_STOP: r->finish = GMD_FINISH_STOP; break;
    case GM_FINISH_CANCELLED: r->finish = GMD_FINISH_CANCELLED; break;
    case GM_FINISH_CONTEXT: r->finish = GMD_FINISH_CONTEXT; break;
    }
}

int gmd_infer_seq_start(gmd_infer_model *m, unsigned i, const gmd_infer_params *p,
                        gmd_infer_text_cb on_text, void *user, cm_err *err)
{
    if (i >= m->n_slots || m->slots[i].active)
        return cm_err_set(err, "slot %u is not free", i);
    slot *s = &m->slots[i];
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
    const uint32_t n_ctx = gm_context_n_ctx(m->ctx);
    if (n == 0 || n >= n_ctx) {
        free(toks);
        return n == 0 ? cm_err_set(err, "the prompt is empty")
                      : cm_err_set(err, "the prompt is %zu tokens; this model's context "
                                        "holds %u", n, n_ctx);
    }
    gm_generate_params gp;
    generate_params(p, &gp);
    gp.grammar = p->grammar;
    gp.grammar_tokens = m->grammar_tokens;
    s->sink.vocab = gm_model_get_vocab(m->model);
    s->sink.out = p->logprobs_out;
    if (p->logprobs && p->logprobs_out) {
        gp.on_token = on_token;
        gp.token_user = &s->sink;
        gp.want_logprobs = true;
        gp.top_logprobs = p->top_logprobs;
    }
    if (gm_gen_new(m->model, toks, n, &gp, on_text, user, &s->gen, err) < 0) {
        free(toks);
        memset(s, 0, sizeof(*s));
        return -1;
    }
    s->prompt = toks;
    s->n_prompt = (uint32_t)n;
    s->active = true;
    s->order = ++m->order;
    s->t_start = now_seconds();
    if (gm_context_seq_clear(m->ctx, i, err) < 0) {
        slot_release(m, i);
        return -1;
    }
    /* what the prefix cache holds of this prompt */
    uint32_t reuse = 0;
    const gmd_prefix_entry *e = gmd_prefix_lookup(&m->pc, toks, n, &reuse);
    cm_err ignored;
    if (e != NULL && gm_kv_snapshot_restore(e->snap, m->ctx, i, reuse, &ignored) == 0)
        s->fed = reuse;
    else
        (void)gm_context_seq_clear(m->ctx, i, &ignored);
    /* A snapshot of this prompt when nothing matched, or when it extends
     * a whole entry (a chat's next turn: it replaces the entry). A prompt
     * that shares only part of an entry (the same instructions, another
     * document) takes none: the shared part is cached already, and the
     * entries stay one per distinct prefix instead of one per request. */
    if (gmd_prefix_wanted(&m->pc, n) && (e == NULL || (reuse == e->n_tokens && reuse + 1 < n))) {
        if (gm_kv_snapshot_new(m->ctx, (uint32_t)n, &s->snap, &ignored) == 0 && s->fed > 0
            && gm_kv_snapshot_copy(s->snap, e->snap, s->fed, &ignored) < 0) {
            gm_kv_snapshot_free(s->snap);
            s->snap = NULL;
        }
    }
    update_kv(m);
    return 0;
}

void gmd_infer_seq_cancel(gmd_infer_model *m, unsigned i, gmd_infer_result *result)
{
    memset(result, 0, sizeof(*result));
    if (i >= m->n_slots || !m->slots[i].active)
        return;
    gm_gen_cancel(m->slots[i].gen);
    fill_result(gm_gen_result(m->slots[i].gen), result);
    result->finish = GMD_FINISH_CANCELLED;
    slot_release(m, i);
    update_kv(m);
}

/* Slots still reading their prompt, first started first. */
static unsigned prefill_order(const gmd_infer_model *m, unsigned *idx)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->n_slots; i++)
        if (m->slots[i].active && !m->slots[i].decoding)
            idx[n++] = i;
    for (unsigned a = 1; a < n; a++) /* insertion sort: a handful of slots */
        for (unsigned b = a; b > 0 && m->slots[idx[b]].order < m->slots[idx[b - 1]].order; b--) {
            unsigned t = idx[b];
            idx[b] = idx[b - 1];
            idx[b - 1] = t;
        }
    return n;
}

static void end_slot(gmd_infer_model *m, unsigned i, int rc, const char *error,
                     gmd_infer_done_cb on_done, void *user)
{
    gmd_infer_result r;
    fill_result(gm_gen_result(m->slots[i].gen), &r);
    if (r.n_prompt_tokens == 0)
        r.n_prompt_tokens = m->slots[i].n_prompt;
    slot_release(m, i);
    on_done(user, i, rc, &r, error);
}

int gmd_infer_step(gmd_infer_model *m, gmd_infer_done_cb on_done, void *user,
                   gmd_infer_step_stats *st, cm_err *err)
{
    memset(st, 0, sizeof(*st));
    uint32_t n = 0;
    unsigned n_out = 0;
    /* one token for every decoding slot */
    for (unsigned i = 0; i < m->n_slots; i++) {
        slot *s = &m->slots[i];
        s->step_tokens = 0;
        if (!s->active || !s->decoding)
            continue;
        m->b_tok[n] = s->next;
        m->b_seq[n] = i;
        m->b_want[n] = true;
        m->b_owner[n_out++] = i;
        s->step_tokens = 1;
        n++;
        st->n_seqs++;
    }
    /* then prompt chunks, first come first, within the step's budget */
    unsigned order[GMD_INFER_MAX_SLOTS], n_pre = prefill_order(m, order);
    for (unsigned k = 0; k < n_pre && n < m->max_step_tokens; k++) {
        const unsigned i = order[k];
        slot *s = &m->slots[i];
        uint32_t take = s->n_prompt - s->fed;
        if (take > m->max_step_tokens - n)
            take = m->max_step_tokens - n;
        /* a snapshot reads the step's positions from the rings afterwards */
        if (s->snap != NULL && m->min_window > 0 && take > m->min_window)
            take = m->min_window;
        for (uint32_t t = 0; t < take; t++) {
            m->b_tok[n] = s->prompt[s->fed + t];
            m->b_seq[n] = i;
            m->b_want[n] = s->fed + t + 1 == s->n_prompt;
            if (m->b_want[n])
                m->b_owner[n_out++] = i;
            n++;
        }
        s->step_tokens = take;
        st->n_prefill += take;
        st->n_seqs++;
    }
    st->n_tokens = n;
    if (n == 0)
        return 0;
    gm_batch b = {.n_tokens = n, .tokens = m->b_tok, .seq = m->b_seq, .want_logits = m->b_want};
    if (gm_decode(m->ctx, &b, m->logits, err) < 0) {
        for (unsigned i = 0; i < m->n_slots; i++)
            if (m->slots[i].active && m->slots[i].step_tokens > 0)
                end_slot(m, i, -1, err->msg, on_done, user);
        update_kv(m);
        return -1;
    }
    /* prompts: what was read, snapshots, prompts complete */
    const double now = now_seconds();
    for (unsigned k = 0; k < n_pre; k++) {
        slot *s = &m->slots[order[k]];
        if (s->step_tokens == 0)
            continue;
        s->fed += s->step_tokens;
        cm_err ignored;
        if (s->snap != NULL && gm_kv_snapshot_append(s->snap, m->ctx, order[k], s->fed,
                                                     &ignored) < 0) {
            gm_kv_snapshot_free(s->snap);
            s->snap = NULL;
        }
        if (s->fed == s->n_prompt) {
            s->decoding = true;
            gm_gen_set_prompt_seconds(s->gen, now - s->t_start);
            if (s->snap != NULL) {
                gmd_prefix_insert(&m->pc, s->prompt, s->n_prompt, s->snap);
                s->snap = NULL;
            }
        }
    }
    /* sample every output row with its own slot's sampler */
    const uint32_t n_ctx = gm_context_n_ctx(m->ctx);
    for (unsigned r = 0; r < n_out; r++) {
        const unsigned i = m->b_owner[r];
        slot *s = &m->slots[i];
        int32_t next = 0;
        cm_err serr;
        cm_err_clear(&serr);
        int rc = gm_gen_step(s->gen, m->logits + (size_t)r * m->n_vocab,
                             gm_context_seq_len(m->ctx, i) < n_ctx, &next, &serr);
        if (rc == 0)
            s->next = next;
        else
            end_slot(m, i, rc < 0 ? -1 : 0, rc < 0 ? serr.msg : NULL, on_done, user);
    }
    update_kv(m);
    return 0;
}

void gmd_infer_cache_stats_get(const gmd_infer_model *m, gmd_infer_cache_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->hits = m->pc.hits;
    o->misses = m->pc.misses;
    o->hit_tokens = m->pc.hit_tokens;
    o->evictions = m->pc.evictions;
    o->bytes = m->pc.bytes;
    o->budget_bytes = m->pc.budget_bytes;
    o->entries = (unsigned)m->pc.n;
}

void gmd_infer_kv_usage(gmd_infer_model *m, uint64_t *used, uint64_t *total)
{
    *used = 0;
    *total = 0;
    if (m == NULL)
        return;
    *used = atomic_load(&m->kv_used);
    *total = atomic_load(&m->kv_total);
}
