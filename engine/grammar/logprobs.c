/*
 * engine/grammar/logprobs.c -- log-softmax of one token and the best few
 * (see logprobs.h). Two passes over the row: the maximum and the top-n
 * (kept sorted by insertion, n <= 20), then the sum of exponentials.
 */
#include "engine/grammar/logprobs.h"

#include <math.h>

size_t gm_logprobs(const float *logits, uint32_t n, int32_t token, size_t top_n,
                   gm_token_logprob *chosen, gm_token_logprob *top)
{
    if (top_n > GM_TOP_LOGPROBS_MAX)
        top_n = GM_TOP_LOGPROBS_MAX;
    float maxl = -INFINITY;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        float x = logits[i];
        if (isnan(x))
            continue;
        if (x > maxl)
            maxl = x;
        if (top_n == 0 || (k == top_n && !(x > top[k - 1].logprob)))
            continue;
        size_t at = k < top_n ? k++ : top_n - 1;
        while (at > 0 && x > top[at - 1].logprob) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (gm_token_logprob){(int32_t)i, x};
    }
    double sum = 0.0;
    if (maxl > -INFINITY)
        for (uint32_t i = 0; i < n; i++)
            if (!isnan(logits[i]))
                sum += exp((double)logits[i] - (double)maxl);
    double lse = maxl > -INFINITY ? (double)maxl + log(sum) : 0.0;
    for (size_t i = 0; i < k; i++)
        top[i].logprob = (float)((double)top[i].logprob - lse);
    if (chosen) {
        chosen->token = token;
        float x = token >= 0 && (uint32_t)token < n ? logits[token] : -INFINITY;
        chosen->logprob = isnan(x) || maxl == -INFINITY ? -INFINITY : (float)((double)x - lse);
    }
    return k;
}
