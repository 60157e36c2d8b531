/*
 * engine/model/attn_split.h -- the attention of a step with few
 * (token, KV head) pairs, typically one decode token, shared out among the
 * threads of a pool so that every key and value byte is read once in all
 * (attn_split.c).
 *
 * A task is one such pair: the n_q query heads of a KV group against the
 * same nk key and value rows. The results are the bits of the plain
 * per-head computation -- gm_attn_scores, gm_softmax, then
 * gm_attn_weighted_sum -- whatever the thread count.
 */
#ifndef GM_ATTN_SPLIT_H
#define GM_ATTN_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/cpu/pool.h"

typedef struct gm_attn_task {
    const float *q;             /* [n_q][d] query heads */
    const float *const *k;      /* [nk] key rows of d floats */
    const float *const *v;      /* [nk] value rows of d floats */
    uint32_t nk;                /* keys (>= 1) */
    float *scores;              /* [n_q][stride] scratch: the probabilities */
    float *out;                 /* [n_q][d] attention output */
} gm_attn_task;

/* Run n_tasks tasks, all with n_q heads of d floats, on the pool; the
 * scratch of each task has stride >= its nk floats per head. Different
 * tasks must not share scores or out. */
void gm_attn_split_run(gm_pool *pool, const gm_attn_task *tasks, uint32_t n_tasks, uint32_t n_q,
                       uint32_t d, size_t stride);

#endif
