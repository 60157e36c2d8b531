/*
 * engine/model/attn_dot.h -- the inner loops of attention (attn_dot.c):
 * scores of one query head against nk keys, and the weighted sum of nk
 * value rows. Keys and values are given as row pointers (they come from
 * the KV cache and from the step's own batch). The bits of the results do
 * not depend on the CPU path: the AVX2 code and the portable code round
 * the same way (attn_dot.c says how).
 */
#ifndef GM_ATTN_DOT_H
#define GM_ATTN_DOT_H

#include <stdint.h>

/* scores[j] = q . k[j] for j < nk, rows of d floats. */
void gm_attn_scores(const float *q, const float *const *k, uint32_t nk, uint32_t d,
                    float *scores);
/* out[c] = sum over j < nk of p[j] * v[j][c], for c < d. */
void gm_attn_weighted_sum(const float *const *v, const float *p, uint32_t nk, uint32_t d,
                          float *out);

/* The portable code alone, whatever the CPU path (for tests). */
void gm_attn_scores_portable(const float *q, const float *const *k, uint32_t nk, uint32_t d,
                             float *scores);
void gm_attn_weighted_sum_portable(const float *const *v, const float *p, uint32_t nk,
                                   uint32_t d, float *out);

#endif
