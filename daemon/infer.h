/*
 * daemon/infer.h -- what gemmad asks of the inference engine, in the
 * daemon's terms: load a model, run many requests in one batch step by
 * step (streaming text to callbacks), report KV-cache use.
 *
 * infer_engine.c implements it on engine/gemma.h; the daemon's other
 * files never include engine headers, so the request path can be read
 * (and tested) apart from the engine.
 */
#ifndef GMD_INFER_H
#define GMD_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "common/err.h"
#include "daemon/conf.h"

#define GMD_MAX_STOP 8

typedef struct gmd_infer_model gmd_infer_model;

typedef struct gmd_infer_message {
    char *role;      /* "system", "developer", "user", "assistant", "tool" */
    char *content;
    /* --- additions (released by gmd_api_params_release) --- */
    char *tool_calls_json;   /* assistant: OpenAI's tool_calls array, or NULL */
    char *tool_call_id;      /* tool: the call it answers */
} gmd_infer_message;

/* tool_choice */
enum {
    GMD_TOOL_CHOICE_NONE = 0,    /* no tools, or "none": never parsed as calls */
    GMD_TOOL_CHOICE_AUTO,        /* the model may call one */
    GMD_TOOL_CHOICE_REQUIRED,    /* it must (p->grammar: a call of one of them) */
    GMD_TOOL_CHOICE_NAMED,       /* it must call tool_choice_name */
};

typedef struct gmd_infer_params {
    bool chat;                   /* messages (chat) or prompt (completion) */
    gmd_infer_message *messages;
    size_t n_messages;
    char *prompt;
    uint32_t max_tokens;
    float temperature;
    float top_p;
    int32_t top_k;
    float min_p;
    float frequency_penalty;
    float presence_penalty;
    uint64_t seed;
    char *stop[GMD_MAX_STOP];    /* NULL-terminated unless full */
    int32_t *prompt_ids;         /* the prompt as gmd_infer_tokenize() gave it
                                    (malloc'ed), or NULL: gmd_infer_seq_start tokenizes */
    size_t n_prompt_ids;
    /* --- additions: structured output and logprobs (api_request.c fills
     * and releases them, gmd_api_params_release) --- */
    struct gm_grammar *grammar;  /* response_format as a grammar, or NULL */
    const char *format_kind;     /* "json_schema", "json_object", "tool_call" or NULL
                                    (its name, for the audit log) */
    enum gmd_format {            /* the same, to decide on */
        GMD_FORMAT_TEXT = 0,
        GMD_FORMAT_JSON_OBJECT,
        GMD_FORMAT_JSON_SCHEMA,
        GMD_FORMAT_TOOL_CALL,
    } format;
    char schema_sha256[65];      /* hex SHA-256 of the schema (compact JSON), or "" */
    bool logprobs;               /* report each token's logprob */
    uint32_t top_logprobs;       /* and this many alternatives (<= 20) */
    struct gmd_infer_logprobs *logprobs_out; /* where the scheduler puts them */
    char *tools_json;            /* OpenAI's tools array (compact JSON), or NULL */
    int tool_choice;             /* GMD_TOOL_CHOICE_* */
    size_t text_streamed;        /* loop only: bytes of the answer streamed as content
                                    while tool calls may still come */
} gmd_infer_params;

/* One generated token's log-probability (the raw logits' log-softmax)
 * and the best alternatives; texts are the tokens' bytes. */
#define GMD_LOGPROB_TEXT 48
#define GMD_TOP_LOGPROBS_MAX 20
typedef struct gmd_infer_token_text {
    char text[GMD_LOGPROB_TEXT];
    uint8_t n_text;
    float logprob;
} gmd_infer_token_text;

typedef struct gmd_infer_logprob {
    gmd_infer_token_text chosen;
    uint8_t n_top;
    gmd_infer_token_text top[GMD_TOP_LOGPROBS_MAX];
} gmd_infer_logprob;

/* Filled by the model's scheduler thread as tokens are sampled (before their text is
 * posted), drained by the loop with each text event. */
typedef struct gmd_infer_logprobs {
    pthread_mutex_t mu;
    gmd_infer_logprob *items;
    size_t n, cap;
    size_t taken;                /* items the loop has drained (loop only) */
    size_t text_offset;          /* bytes of text before item `taken` (loop only) */
} gmd_infer_logprobs;

typedef enum gmd_infer_finish {
    GMD_FINISH_LENGTH = 0,
    GMD_FINISH_STOP,
    GMD_FINISH_CANCELLED,
    GMD_FINISH_CONTEXT,
} gmd_infer_finish;

typedef struct gmd_infer_result {
    gmd_infer_finish finish;
    uint32_t n_prompt_tokens;
    uint32_t n_generated_tokens;
} gmd_infer_result;

/* Text as it becomes final; return non-zero to stop. */
typedef int (*gmd_infer_text_cb)(void *user, const char *text, size_t len);

/* Which engine this gemmad was built with (for /admin/v1/status). */
const char *gmd_infer_backend(void);

#define GMD_INFER_MAX_GPUS 8

/* How this gemmad was built and what it computes on (/admin/v1/status). */
typedef struct gmd_infer_build {
    bool cuda;                  /* built with the CUDA backend */
    bool sanitizers;            /* built with ASan/UBSan */
    bool avx2_fma;              /* this CPU runs the AVX2/FMA kernels */
    int threads;                /* engine threads per model */
    char device[96];            /* "cpu (16 threads, avx2+fma)" */
    int n_gpus;                 /* usable CUDA devices (0: none or not built) */
    char gpus[GMD_INFER_MAX_GPUS][160]; /* each one described */
    char gpu_note[CM_ERR_MAX];  /* why there is none ("" when there are) */
} gmd_infer_build;

/* Fill `b`; `engine_threads` is the configured value (0 = all CPUs).
 * Never fails: a CUDA query that fails is described in gpu_note. */
void gmd_infer_build_info(int engine_threads, gmd_infer_build *b);

/* Load mc->path, or, when fd >= 0, the already verified descriptor fd
 * (signed bundles; the descriptor stays the caller's). */
int gmd_infer_load(const gmd_model_config *mc, int fd, int n_threads, gmd_infer_model **out,
                   cm_err *err);
/* The prompt of `params` as the model will read it: a completion prompt
 * with BOS, a chat in the Gemma 4 template (engine/text/chat.h
 * gm_chat_tokenize). Special-token text in message content or prompts is
 * plain text, never a control token. *ids is malloc'ed. The vocabulary is
 * read-only: any thread may call this while the model stays loaded. */
int gmd_infer_tokenize(const gmd_infer_model *m, const gmd_infer_params *params,
                       int32_t **ids, size_t *n_ids, cm_err *err);
/* Positions one sequence holds (the prompt must be shorter). */
uint32_t gmd_infer_context(const gmd_infer_model *m);

/* ---- batch serving: one context, many sequences (daemon/sched.c) ----
 *
 * A loaded model has one context of mc->max_batch_sequences sequences
 * ("slots") and a prefix cache. One thread -- the model's scheduler --
 * starts requests in free slots and calls gmd_infer_step, which runs ONE
 * forward pass over every started slot: one token for each decoding
 * slot, then a chunk of prompt for slots still reading theirs (in the
 * order they started, within mc->max_batch_tokens per step), samples
 * each slot with its own parameters, streams text through each slot's
 * callback and ends the slots that finished (on_done). Nothing here
 * blocks on another thread. */
#define GMD_INFER_MAX_SLOTS 64

typedef struct gmd_infer_step_stats {
    unsigned n_seqs;            /* sequences in the forward pass */
    unsigned n_tokens;          /* tokens evaluated */
    unsigned n_prefill;         /* of which prompt tokens */
} gmd_infer_step_stats;

typedef struct gmd_infer_cache_stats {
    uint64_t hits, misses, hit_tokens, evictions;
    uint64_t bytes, budget_bytes;
    unsigned entries;
} gmd_infer_cache_stats;

/* A slot has ended: rc 0 (with its result) or -1 (with error). The slot
 * is free again when this is called. */
typedef void (*gmd_infer_done_cb)(void *user, unsigned slot, int rc,
                                  const gmd_infer_result *result, const char *error);

unsigned gmd_infer_slots(const gmd_infer_model *m);
/* KV-cache bytes a request may come to hold: its prompt plus max_tokens
 * (0: up to the context), sliding layers capped at their window. */
uint64_t gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens);
/* Start `params` in free slot `slot`: tokenize (unless prompt_ids are
 * given), take what the prefix cache holds of the prompt, build the
 * sampler. -1 with a message for a prompt that cannot run. */
int gmd_infer_seq_start(gmd_infer_model *m, unsigned slot, const gmd_infer_params *params,
                        gmd_infer_text_cb on_text, void *user, cm_err *err);
/* End a started slot now (finish CANCELLED); the slot is free after. */
void gmd_infer_seq_cancel(gmd_infer_model *m, unsigned slot, gmd_infer_result *result);
/* Started slots. */
unsigned gmd_infer_active(const gmd_infer_model *m);
/* One forward pass over the started slots (nothing to do: returns 0 with
 * st->n_tokens 0). A failed pass ends its slots with the error through
 * on_done and returns -1. */
int gmd_infer_step(gmd_infer_model *m, gmd_infer_done_cb on_done, void *user,
                   gmd_infer_step_stats *st, cm_err *err);
/* Prefix-cache counters (read by the scheduler thread only). */
void gmd_infer_cache_stats_get(const gmd_infer_model *m, gmd_infer_cache_stats *out);
void gmd_infer_kv_usage(gmd_infer_model *m, uint64_t *used, uint64_t *total);
/* Bytes of the model's tensors (0 for NULL). */
uint64_t gmd_infer_model_bytes(const gmd_infer_model *m);

/* Where a loaded model computes (/admin/v1/status "device"). */
typedef struct gmd_infer_device {
    char device[16];        /* used: "cpu" or "cuda:N" */
    int index;              /* N of cuda:N; -1 on the CPU */
    char name[128];         /* the GPU's name ("" on the CPU) */
    uint64_t mem_total;     /* the GPU's memory (0 on the CPU) */
    uint64_t mem_free;      /* free now */
    uint64_t weights_bytes; /* the model's weights in that memory */
    uint64_t kv_bytes;      /* its KV cache there (host memory on the CPU) */
    uint64_t scratch_bytes; /* its working buffers there (GPU only) */
    char configured[16];    /* models[].device */
    char fallback[CM_ERR_MAX]; /* why the configured device was not used
                                  (device_fallback: cpu); "" when it was */
} gmd_infer_device;
/* Fill `out` (zeroes for NULL). The GPU's free memory is asked for anew;
 * the rest was recorded at load. */
void gmd_infer_device_info(const gmd_infer_model *m, gmd_infer_device *out);
/* Why the model runs on the CPU instead of its configured GPU
 * (device_fallback: cpu), or NULL when it runs where configured. */
const char *gmd_infer_fallback(const gmd_infer_model *m);
void gmd_infer_free(gmd_infer_model *m);

#endif
