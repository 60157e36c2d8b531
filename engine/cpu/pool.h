/*
 * engine/cpu/pool.h -- a fixed set of worker threads that run parallel-for
 * loops over index ranges (rows of a matrix product, heads, ...).
 *
 * A pool of n threads uses the calling thread plus n - 1 workers. The range
 * [0, n_items) is cut into chunks of `grain` items (the last may be
 * shorter); threads take chunks until none are left, so each index is
 * handed to exactly one call of the function. Which thread runs which chunk
 * varies from run to run: functions must not depend on it for their
 * results (the `worker` number, 0..n-1, is for per-thread scratch space).
 *
 * gm_pool_run() may be called from several threads; calls are serialized.
 * Called from inside a running chunk (nested parallelism), it runs the
 * inner range on the calling thread, with that thread's worker number. A NULL pool runs everything
 * on the calling thread.
 */
#ifndef GM_POOL_H
#define GM_POOL_H

#include <stdint.h>

#include "common/err.h"

typedef struct gm_pool gm_pool;

/* Called with a chunk [begin, end) of the range. */
typedef void (*gm_pool_fn)(void *ctx, uint64_t begin, uint64_t end, uint32_t worker);

/* The largest thread count a pool accepts. */
#define GM_POOL_MAX_THREADS 256

/* Start a pool of n_threads (1..GM_POOL_MAX_THREADS) threads. */
int gm_pool_create(uint32_t n_threads, gm_pool **out, cm_err *err);
/* Stop and join the workers and free the pool. NULL is ignored. */
void gm_pool_destroy(gm_pool *pool);
/* Threads a pool runs with (1 for NULL). */
uint32_t gm_pool_threads(const gm_pool *pool);
/* Run fn over [0, n_items) in chunks of `grain` (0 is taken as 1) and
 * return when every chunk is done. */
void gm_pool_run(gm_pool *pool, uint64_t n_items, uint64_t grain, gm_pool_fn fn, void *ctx);

#endif
