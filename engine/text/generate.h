/*
 * engine/text/generate.h -- the generation loop shared by `gemma-run generate`
 * and gemmad: feed a prompt, then sample token after token, streaming
 * detokenized text to a callback, until a stop condition.
 */
#ifndef GM_GENERATE_H
#define GM_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/gemma.h"
#include "engine/text/sample.h"

#define GM_MAX_STOP_STRINGS 8

typedef enum gm_finish_reason {
    GM_FINISH_LENGTH = 0,   /* max_tokens reached */
    GM_FINISH_STOP,         /* EOS / end-of-turn token or a stop string */
    GM_FINISH_CANCELLED,    /* the callback or the cancel flag asked to stop */
    GM_FINISH_CONTEXT,      /* the context is full */
} gm_finish_reason;

struct gm_grammar;
struct gm_token_index;

/* One generated token, as gm_generate_params.on_token sees it. */
typedef struct gm_token_info {
    int32_t token;
    const char *bytes;       /* its text (gm_token_to_piece, special = false) */
    size_t n_bytes;
    bool eog;                /* an end-of-generation token (no text shown) */
    float logprob;           /* log-softmax of the raw logits (want_logprobs) */
    size_t n_top;            /* top_logprobs alternatives, best first */
    const struct gm_token_logprob *top;
} gm_token_info;

/* Called for each sampled token before its text goes out; non-zero stops
 * generation (finish = CANCELLED). */
typedef int (*gm_token_cb)(void *user, const gm_token_info *info);

typedef struct gm_generate_params {
    gm_sample_params sample;
    uint32_t max_tokens;                        /* 0 = until the context is full */
    const char *stop[GM_MAX_STOP_STRINGS];      /* NULL-terminated or full */
    bool ignore_eos;
    /* --- additions (all optional; zero means off) --- */
    const struct gm_grammar *grammar;           /* constrain the output */
    const struct gm_token_index *grammar_tokens; /* the model's index; NULL: built here */
    gm_token_cb on_token;
    void *token_user;
    bool want_logprobs;                         /* fill logprob (and top) */
    uint32_t top_logprobs;                      /* alternatives, at most 20 */
} gm_generate_params;

typedef struct gm_generate_result {
    gm_finish_reason finish;
    uint32_t n_prompt_tokens;
    uint32_t n_generated_tokens;
    double prompt_seconds;       /* prompt evaluation time */
    double generate_seconds;     /* generation time after the first token */
} gm_generate_result;

/* Called with each piece of text as it becomes final (valid UTF-8, with
 * stop strings held back until they can no longer match). Return non-zero
 * to stop generation (finish = CANCELLED). */
typedef int (*gm_text_cb)(void *user, const char *text, size_t len);

/* `cancel`, when not NULL, is polled between tokens (another thread may set
 * it). The sequence `seq` is cleared first.
 *
 * As implemented: the prompt is evaluated in chunks of 512 tokens and
 * `cancel` is polled between chunks too; prompt tokens and generated ones
 * are seen by the penalties; tokenizer.ggml.suppress_tokens are never
 * sampled; an end-of-generation token ends with GM_FINISH_STOP and is
 * counted in n_generated_tokens but has no text; with GM_FINISH_CONTEXT
 * the last token sampled is shown but not evaluated. Text is rendered as
 * gm_token_to_piece(special = false) gives it (USER_DEFINED tokens such as
 * <|channel> appear, CONTROL tokens do not). Returns -1 only for bad
 * arguments, a prompt that does not fit, or a forward-pass error. */
int gm_generate(gm_context *ctx, uint32_t seq, const int32_t *prompt,
                size_t n_prompt, const gm_generate_params *params,
                gm_text_cb on_text, void *user, const volatile int *cancel,
                gm_generate_result *result, cm_err *err);

/* ---- one sequence's generation, step by step (for batch schedulers) ----
 *
 * gm_generate above is this state driven by a loop over one sequence. A
 * scheduler that evaluates many sequences in one gm_decode keeps one
 * gm_gen per sequence: it feeds the prompt itself (in chunks, mixed with
 * other sequences' tokens), then hands each row of logits to gm_gen_step,
 * which samples, streams text through on_text and says what to feed next.
 * The behaviour (stop strings, end-of-generation tokens, max_tokens,
 * penalties over prompt and output, suppressed tokens, and the additions:
 * a grammar mask, on_token before each token's text, logprobs of the raw
 * logits) is gm_generate's: gm_generate is this state in a loop. */
typedef struct gm_gen gm_gen;

/* The sampler of one request: params->sample, the vocabulary's suppressed
 * tokens, and the prompt accepted for the penalties. The one place a
 * request's sampler is built. */
int gm_gen_sampler_new(const gm_model *model, const gm_generate_params *params,
                       const int32_t *prompt, size_t n_prompt, gm_sampler **out,
                       cm_err *err);

/* A generation for `prompt` (checked against the vocabulary). The stop
 * strings are copied; `params` need not outlive the call, but
 * params->grammar, params->grammar_tokens and params->token_user must
 * outlive the gm_gen (its matcher reads them at each step). */
int gm_gen_new(const gm_model *model, const int32_t *prompt, size_t n_prompt,
               const gm_generate_params *params, gm_text_cb on_text, void *user,
               gm_gen **out, cm_err *err);
void gm_gen_free(gm_gen *g);

/* Sample from the logits after the last token fed (the array is
 * modified) and stream its text. Returns 0 with *next set: feed it and
 * call again with the next logits; 1 when the generation has ended
 * (gm_gen_result says how); -1 on error. `room` is false when the
 * sequence's context is full (the token would not fit): the generation
 * then ends with GM_FINISH_CONTEXT. */
int gm_gen_step(gm_gen *g, float *logits, bool room, int32_t *next, cm_err *err);
/* End now as cancelled (nothing more is streamed). */
void gm_gen_cancel(gm_gen *g);
/* Counters and finish reason so far (finish is final once ended). */
const gm_generate_result *gm_gen_result(const gm_gen *g);
/* Record the prompt evaluation time (gm_generate_result.prompt_seconds). */
void gm_gen_set_prompt_seconds(gm_gen *g, double seconds);

#endif
