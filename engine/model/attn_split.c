/*
 * engine/model/attn_split.c -- attention of a step with few (token, KV
 * head) pairs, shared out among threads by keys and by output columns
 * (attn_split.h).
 *
 * Split by heads, as attention.c does for long steps, each thread of a
 * decode step would read all the key and value rows of the group (1-2 KiB
 * per position per layer, from memory: the weights streamed before have
 * flushed the caches). Here instead, in three runs of the pool:
 *
 *  1. scores, an item per run of keys, all heads of the group for those
 *     keys: each score is a dot product of its own, whoever computes it;
 *  2. softmax, an item per head, over all its keys as before;
 *  3. weighted sum, an item per block of output columns, all heads: each
 *     output element is still one running sum over the keys in key order
 *     (attn_dot.c).
 *
 * So each key row and each value row is read from memory once in all,
 * and the bits are those of the plain per-head computation.
 */
#include "engine/model/attn_split.h"

#include "engine/model/attn_dot.h"
#include "engine/model/ops.h"

/* Output columns per item of the weighted sum (16 to 128 measured on
 * E2B's heads of 256 and 512: 64 best, by a little). */
#define COLS_PER_ITEM 64u

typedef struct split_job {
    const gm_attn_task *tasks;
    uint32_t n_q, d;
    size_t stride;
    uint32_t per_task; /* items per task in the current run */
    uint32_t keys;     /* keys per item of the scores */
} split_job;

static void scores_items(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    const split_job *job = arg;
    (void)worker;
    for (uint64_t item = begin; item < end; item++) {
        const gm_attn_task *t = &job->tasks[item / job->per_task];
        const uint32_t j0 = (uint32_t)(item % job->per_task) * job->keys;
        if (j0 >= t->nk)
            continue;
        const uint32_t n = t->nk - j0 < job->keys ? t->nk - j0 : job->keys;
        gm_attn_scores(t->q, job->n_q, t->k + j0, n, job->d, t->scores + j0, job->stride);
    }
}

static void softmax_items(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    const split_job *job = arg;
    (void)worker;
    for (uint64_t item = begin; item < end; item++) {
        const gm_attn_task *t = &job->tasks[item / job->n_q];
        gm_softmax(t->scores + (size_t)(item % job->n_q) * job->stride, t->nk);
    }
}

static void wsum_items(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    const split_job *job = arg;
    (void)worker;
    for (uint64_t item = begin; item < end; item++) {
        const gm_attn_task *t = &job->tasks[item / job->per_task];
        const uint32_t c0 = (uint32_t)(item % job->per_task) * COLS_PER_ITEM;
        const uint32_t c1 = job->d - c0 < COLS_PER_ITEM ? job->d : c0 + COLS_PER_ITEM;
        gm_attn_weighted_sum_cols(t->v, t->scores, job->stride, job->n_q, t->nk, job->d, c0, c1,
                                  t->out);
    }
}

void gm_attn_split_run(gm_pool *pool, const gm_attn_task *tasks, uint32_t n_tasks, uint32_t n_q,
                       uint32_t d, size_t stride)
{
    if (n_tasks == 0 || n_q == 0 || d == 0)
        return;
    uint32_t nk_max = 0;
    for (uint32_t t = 0; t < n_tasks; t++)
        nk_max = tasks[t].nk > nk_max ? tasks[t].nk : nk_max;
    /* about 64 KiB of key rows per item: they stay in L2 while each block
     * of heads goes over them */
    const uint32_t keys = 16384u / d < 16 ? 16 : 16384u / d;
    split_job job = {tasks, n_q, d, stride, (nk_max + keys - 1) / keys, keys};
    gm_pool_run(pool, (uint64_t)n_tasks * job.per_task, 1, scores_items, &job);
    gm_pool_run(pool, (uint64_t)n_tasks * n_q, 1, softmax_items, &job);
    job.per_task = (d + COLS_PER_ITEM - 1) / COLS_PER_ITEM;
    gm_pool_run(pool, (uint64_t)n_tasks * job.per_task, 1, wsum_items, &job);
}
