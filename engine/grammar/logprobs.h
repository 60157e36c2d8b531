/*
 * engine/grammar/logprobs.h -- log-probabilities of tokens from a row of
 * raw logits (the model's own distribution: log-softmax, before any
 * sampling step, temperature or grammar mask), as OpenAI's logprobs and
 * top_logprobs report them.
 */
#ifndef GM_LOGPROBS_H
#define GM_LOGPROBS_H

#include <stddef.h>
#include <stdint.h>

#define GM_TOP_LOGPROBS_MAX 20

typedef struct gm_token_logprob {
    int32_t token;
    float logprob;
} gm_token_logprob;

/* The log-softmax of `token` in logits[n] into *chosen, and the top_n
 * (<= GM_TOP_LOGPROBS_MAX) most likely tokens, best first (ties: lower id
 * first), into top[]. Returns how many went into top. NaN logits count as
 * -inf. */
size_t gm_logprobs(const float *logits, uint32_t n, int32_t token, size_t top_n,
                   gm_token_logprob *chosen, gm_token_logprob *top);

#endif
