/*
 * engine/cpu/pool.c -- the worker-thread pool behind parallel loops
 * (engine/cpu/pool.h).
 *
 * One job at a time: gm_pool_run() publishes the job under the pool mutex
 * and bumps a generation counter; workers wake, take chunks from an atomic
 * counter, and the last thread to finish signals the caller, which also
 * takes chunks itself. Workers sleep on a condition variable between jobs.
 *
 * (Polling instead of sleeping between jobs cut a run's overhead from
 * ~15-35 us to ~5 us on idle cores, but made it 3-10 times worse when the
 * machine had more runnable threads than cores, so the pool sleeps.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/pool.h"

typedef struct gm_pool_job {
    gm_pool_fn fn;
    void *ctx;
    uint64_t n_items;
    uint64_t grain;
    uint64_t n_chunks;
} gm_pool_job;

struct gm_pool {
    uint32_t n_threads;
    pthread_t *workers;     /* n_threads - 1 */
    uint32_t n_started;     /* workers actually running */
    pthread_mutex_t run_mu; /* serializes gm_pool_run() callers */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t done; /* the caller waits here for the job's end */
    uint64_t generation;
    bool stop;
    gm_pool_job job;
    atomic_uint_fast64_t next_chunk;
    uint32_t busy;   /* workers still inside the current job */
    bool active;     /* a job is running ... */
    pthread_t owner; /* ... started by this thread */
};

typedef struct gm_pool_worker_arg {
    gm_pool *pool;
    uint32_t index;
} gm_pool_worker_arg;

static void gm_pool_do_chunks(gm_pool *pool, const gm_pool_job *job, uint32_t worker)
{
    for (;;) {
        uint64_t c = atomic_fetch_add_explicit(&pool->next_chunk, 1, memory_order_relaxed);
        if (c >= job->n_chunks)
            break;
        uint64_t begin = c * job->grain;
        uint64_t end = begin + job->grain;
        if (end > job->n_items || end < begin)
            end = job->n_items;
        job->fn(job->ctx, begin, end, worker);
    }
}

static void *gm_pool_worker(void *arg)
{
    gm_pool_worker_arg *wa = arg;
    gm_pool *pool = wa->pool;
    const uint32_t index = wa->index;
    free(wa);

    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop)
            break;
        seen = pool->generation;
        const gm_pool_job job = pool->job;
        pthread_mutex_unlock(&pool->mu);

        gm_pool_do_chunks(pool, &job, index);

        pthread_mutex_lock(&pool->mu);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int gm_pool_create(uint32_t n_threads, gm_pool **out, cm_err *err)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > GM_POOL_MAX_THREADS)
        return cm_err_set(err, "thread pool: %u threads requested, must be 1..%d", n_threads,
                          GM_POOL_MAX_THREADS);
    gm_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return cm_err_set(err, "thread pool: out of memory");
    pool->n_threads = n_threads;
    atomic_init(&pool->next_chunk, 0);
    if (pthread_mutex_init(&pool->run_mu, NULL) != 0) {
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a mutex");
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        pthread_mutex_destroy(&pool->run_mu);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a mutex");
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->mu);
        pthread_mutex_destroy(&pool->run_mu);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a condition variable");
    }
    if (pthread_cond_init(&pool->done, NULL) != 0) {
        pthread_cond_destroy(&pool->wake);
        pthread_mutex_destroy(&pool->mu);
        pthread_mutex_destroy(&pool->run_mu);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a condition variable");
    }
    if (n_threads > 1) {
        pool->workers = calloc(n_threads - 1, sizeof *pool->workers);
        if (pool->workers == NULL) {
            gm_pool_destroy(pool);
            return cm_err_set(err, "thread pool: out of memory");
        }
    }
    for (uint32_t i = 0; i + 1 < n_threads; i++) {
        gm_pool_worker_arg *wa = malloc(sizeof *wa);
        if (wa == NULL) {
            gm_pool_destroy(pool);
            return cm_err_set(err, "thread pool: out of memory");
        }
        wa->pool = pool;
        wa->index = i + 1;
        int rc = pthread_create(&pool->workers[i], NULL, gm_pool_worker, wa);
        if (rc != 0) {
            free(wa);
            gm_pool_destroy(pool);
            return cm_err_set(err, "thread pool: cannot start worker thread %u of %u: %s", i + 1,
                              n_threads - 1, strerror(rc));
        }
        pool->n_started++;
    }
    *out = pool;
    return 0;
}

void gm_pool_destroy(gm_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (uint32_t i = 0; i < pool->n_started; i++)
        pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->run_mu);
    free(pool);
}

uint32_t gm_pool_threads(const gm_pool *pool)
{
    return pool == NULL ? 1 : pool->n_threads;
}

/* True when the calling thread is running a chunk of this pool's current
 * job (a worker, or the thread that started the job), with its worker
 * number in *worker: a nested gm_pool_run() must then run inline on it, as
 * waiting for the pool would wait for itself. */
static bool gm_pool_called_from_inside(gm_pool *pool, uint32_t *worker)
{
    const pthread_t self = pthread_self();
    for (uint32_t i = 0; i < pool->n_started; i++) {
        if (pthread_equal(pool->workers[i], self)) {
            *worker = i + 1;
            return true;
        }
    }
    pthread_mutex_lock(&pool->mu);
    const bool inside = pool->active && pthread_equal(pool->owner, self);
    pthread_mutex_unlock(&pool->mu);
    *worker = 0;
    return inside;
}

void gm_pool_run(gm_pool *pool, uint64_t n_items, uint64_t grain, gm_pool_fn fn, void *ctx)
{
    if (n_items == 0)
        return;
    if (grain == 0)
        grain = 1;
    const uint64_t n_chunks = n_items / grain + (n_items % grain != 0);
    uint32_t worker = 0;
    if (pool == NULL || pool->n_started == 0 || n_chunks == 1 ||
        gm_pool_called_from_inside(pool, &worker)) {
        for (uint64_t c = 0; c < n_chunks; c++) {
            uint64_t begin = c * grain;
            uint64_t end = n_items - begin < grain ? n_items : begin + grain;
            fn(ctx, begin, end, worker);
        }
        return;
    }

    pthread_mutex_lock(&pool->run_mu);
    pthread_mutex_lock(&pool->mu);
    pool->job = (gm_pool_job){fn, ctx, n_items, grain, n_chunks};
    atomic_store_explicit(&pool->next_chunk, 0, memory_order_relaxed);
    pool->busy = pool->n_started;
    pool->active = true;
    pool->owner = pthread_self();
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    const gm_pool_job job = pool->job;
    pthread_mutex_unlock(&pool->mu);

    gm_pool_do_chunks(pool, &job, 0);

    pthread_mutex_lock(&pool->mu);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    pool->active = false;
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_unlock(&pool->run_mu);
}
