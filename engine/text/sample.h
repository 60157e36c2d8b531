/*
 * engine/text/sample.h -- choosing the next token from a row of logits.
 *
 * The order of operations follows llama.cpp's common sampler: logit bias
 * (suppressed tokens) -> penalties (repetition, frequency, presence over
 * the last penalty_last_n tokens) -> top-k -> top-p -> min-p ->
 * temperature -> draw with the seeded generator. temperature <= 0 means
 * greedy (argmax). Same seed and same logits give the same tokens.
 */
#ifndef GM_SAMPLE_H
#define GM_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct gm_sample_params {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    int32_t penalty_last_n;  /* tokens considered by the penalties; 0 = 64 */
    uint64_t seed;
} gm_sample_params;

/* Defaults: greedy, everything else off, seed 0. */
void gm_sample_params_default(gm_sample_params *p);

typedef struct gm_sampler gm_sampler;

int gm_sampler_new(const gm_sample_params *params, uint32_t n_vocab,
                   gm_sampler **out, cm_err *err);
void gm_sampler_free(gm_sampler *s);
/* Forbid these ids (logit -inf), e.g. tokenizer.ggml.suppress_tokens. */
int gm_sampler_suppress(gm_sampler *s, const int32_t *ids, size_t n, cm_err *err);
/* Record a token as seen (prompt and generated) for the penalties. */
void gm_sampler_accept(gm_sampler *s, int32_t token);
/* Pick a token from logits[n_vocab]; the array may be modified. */
int32_t gm_sampler_sample(gm_sampler *s, float *logits);

/* --- additions (the API above is unchanged) ---------------------------
 * penalty_last_n < 0 makes the penalties see the whole history; a
 * repeat_penalty of 0 counts as 1 (off); a negative one is refused. */
/* Forget the accepted tokens (the suppressed set and the generator stay). */
void gm_sampler_reset(gm_sampler *s);

/* Constrained decoding (engine/grammar/grammar.h): from now on every
 * gm_sampler_sample() allows only the tokens the matcher's mask allows
 * (applied first, before the penalties and cut-offs), and the first
 * gm_sampler_accept() after a gm_sampler_sample() advances the matcher by
 * the accepted token (accepts of prompt tokens, before any sample, do
 * not). The matcher stays the caller's and must outlive its use; NULL
 * removes it. */
struct gm_matcher;
void gm_sampler_set_grammar(gm_sampler *s, struct gm_matcher *m);

#endif
