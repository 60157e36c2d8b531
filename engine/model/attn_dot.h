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

/* For n_q query heads of d floats at q (head h at q + h*d) that share
 * the keys: scores[h*stride + j] = q_h . k[j] for j < nk. */
void gm_attn_scores(const float *q, uint32_t n_q, const float *const *k, uint32_t nk,
                    uint32_t d, float *scores, size_t stride);
/* For n_q heads: out[h*d + c] = sum over j < nk of p[h*stride + j] * v[j][c]. */
void gm_attn_weighted_sum(const float *const *v, const float *p, size_t stride, uint32_t n_q,
                          uint32_t nk, uint32_t d, float *out);
/* The same for the output elements c0 <= c < c1 of each head only (the
 * rest of out is left alone); each element gets the bits the whole call
 * gives it, so blocks of columns can be shared out among threads. */
void gm_attn_weighted_sum_cols(const float *const *v, const float *p, size_t stride,
                               uint32_t n_q, uint32_t nk, uint32_t d, uint32_t c0, uint32_t c1,
                               float *out);

/* The portable code alone, whatever the CPU path (for tests). */
void gm_attn_scores_portable(const float *q, uint32_t n_q, const float *const *k, uint32_t nk,
                             uint32_t d, float *scores, size_t stride);
void gm_attn_weighted_sum_portable(const float *const *v, const float *p, size_t stride,
                                   uint32_t n_q, uint32_t nk, uint32_t d, float *out);
void gm_attn_weighted_sum_cols_portable(const float *const *v, const float *p, size_t stride,
                                        uint32_t n_q, uint32_t nk, uint32_t d, uint32_t c0,
                                        uint32_t c1, float *out);

#endif
