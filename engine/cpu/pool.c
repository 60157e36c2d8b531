/*
 * engine/cpu/pool.c -- the worker-thread pool behind parallel loops
 * (engine/cpu/pool.h).
 *
 * One job at a time: gm_pool_run() publishes the job under the pool mutex
 * and bumps a generation counter; workers see it, take chunks, and the
 * last one to finish tells the caller, which also takes chunks itself.
 *
 * The chunks are cut into one contiguous span per thread, each with its own
 * atomic counter on its own cache line. A thread takes the chunks of its
 * own span in order, then helps with the others' spans (a late or slow
 * thread just ends up with fewer chunks). Handing out neighbouring chunks
 * to alternating threads, as one shared counter does, made every thread
 * read the weights of a matrix product in short strided pieces: the
 * hardware prefetchers lost the stream at each chunk, and on matrices
 * larger than the caches a second thread gained ~5% instead of doubling
 * the speed (engine/cpu/kernels-bench 2 1 64 1536, q4_0).
 *
 * Waiting is spin-then-sleep: a worker that finished a job polls for the
 * next one for up to GM_POOL_SPIN_NS before it sleeps on a condition
 * variable, and the caller polls for the workers' end the same way. A
 * single-token decode runs ~65 short parallel loops with little serial
 * work between them, and a sleeping worker takes tens of microseconds to
 * wake (more on a virtual machine), each time. The bound keeps the waste
 * small when the machine has more runnable threads than cores (polling
 * without a bound, tried earlier, made runs 3-10 times slower there).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cpu/pool.h"

/* How long a thread polls before it sleeps (worker: for the next job,
 * caller: for the workers to finish). On 2 cores, e2b-shaped q4_0 decode
 * with 2 threads: 10 us polls got the whole gain over sleeping at once
 * (45 -> 75 tokens/s idle) and lost nothing with a busy loop running
 * beside it (36-40 tokens/s either way); 100 us lost 20% there, 300 us
 * more than half. */
#define GM_POOL_SPIN_NS 10000u

/* The chunks [next, end) of one thread's span; `next` runs past `end` as
 * threads find it empty. Aligned so that two spans never share a line. */
typedef struct gm_pool_span {
    _Alignas(64) atomic_uint_fast64_t next;
    uint64_t end;
} gm_pool_span;

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
    /* Written under mu; read without it by polling threads. A new job is
     * published by the release increment of `generation`, after `job` and
     * `spans` are set; `busy` reaches 0 (release) once no worker reads them
     * any more. */
    atomic_uint_fast64_t generation;
    atomic_bool stop;
    gm_pool_job job;
    gm_pool_span *spans;       /* n_threads, index = worker number */
    atomic_uint_fast32_t busy; /* workers still inside the current job */
    bool active;               /* a job is running ... (under mu) */
    pthread_t owner;           /* ... started by this thread */
};

typedef struct gm_pool_worker_arg {
    gm_pool *pool;
    uint32_t index;
} gm_pool_worker_arg;

/* Run the chunks of the current job this thread can get: its own span's,
 * then whatever is left of the other spans. Each fetch_add hands out a
 * distinct chunk number, so every chunk runs exactly once. */
static void gm_pool_do_chunks(gm_pool *pool, const gm_pool_job *job, uint32_t worker)
{
    const uint32_t n = pool->n_started + 1;
    for (uint32_t k = 0; k < n; k++) {
        gm_pool_span *span = &pool->spans[(worker + k) % n];
        for (;;) {
            uint64_t c = atomic_fetch_add_explicit(&span->next, 1, memory_order_relaxed);
            if (c >= span->end)
                break;
            uint64_t begin = c * job->grain;
            uint64_t end = begin + job->grain;
            if (end > job->n_items || end < begin)
                end = job->n_items;
            job->fn(job->ctx, begin, end, worker);
        }
    }
}

static uint64_t gm_pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A hint to the CPU that this is a polling loop. */
static inline void gm_pool_pause(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();
#endif
}

/* Polling state: true while the poll may go on (checks the clock every
 * 16 calls, first call included). */
typedef struct gm_pool_spin {
    uint32_t n;
    uint64_t deadline;
} gm_pool_spin;

static bool gm_pool_spin_on(gm_pool_spin *spin)
{
    if (spin->n++ % 16 == 0) {
        const uint64_t now = gm_pool_now_ns();
        if (spin->deadline == 0)
            spin->deadline = now + GM_POOL_SPIN_NS;
        else if (now >= spin->deadline)
            return false;
    }
    gm_pool_pause();
    return true;
}

/* Wait, polling then sleeping, until the generation differs from `seen`
 * or the pool stops; the generation seen (acquire: the job is visible). */
static uint64_t gm_pool_await_job(gm_pool *pool, uint64_t seen)
{
    gm_pool_spin spin = {0, 0};
    uint64_t g;
    do {
        g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed))
            return g;
    } while (gm_pool_spin_on(&spin));
    pthread_mutex_lock(&pool->mu);
    while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&pool->stop, memory_order_relaxed))
        pthread_cond_wait(&pool->wake, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *gm_pool_worker(void *arg)
{
    gm_pool_worker_arg *wa = arg;
    gm_pool *pool = wa->pool;
    const uint32_t index = wa->index;
    free(wa);

    uint64_t seen = 0;
    for (;;) {
        seen = gm_pool_await_job(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_relaxed))
            break;
        const gm_pool_job job = pool->job;

        gm_pool_do_chunks(pool, &job, index);

        /* the last one out wakes the caller if it sleeps; under mu, so
         * that it cannot be between its check of busy and its wait */
        if (atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
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
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->busy, 0);
    pool->spans = aligned_alloc(_Alignof(gm_pool_span), n_threads * sizeof *pool->spans);
    if (pool->spans == NULL) {
        free(pool);
        return cm_err_set(err, "thread pool: out of memory");
    }
    for (uint32_t i = 0; i < n_threads; i++) {
        atomic_init(&pool->spans[i].next, 0);
        pool->spans[i].end = 0;
    }
    if (pthread_mutex_init(&pool->run_mu, NULL) != 0) {
        free(pool->spans);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a mutex");
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        pthread_mutex_destroy(&pool->run_mu);
        free(pool->spans);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a mutex");
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->mu);
        pthread_mutex_destroy(&pool->run_mu);
        free(pool->spans);
        free(pool);
        return cm_err_set(err, "thread pool: cannot create a condition variable");
    }
    if (pthread_cond_init(&pool->done, NULL) != 0) {
        pthread_cond_destroy(&pool->wake);
        pthread_mutex_destroy(&pool->mu);
        pthread_mutex_destroy(&pool->run_mu);
        free(pool->spans);
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
    atomic_store_explicit(&pool->stop, true, memory_order_relaxed);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (uint32_t i = 0; i < pool->n_started; i++)
        pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->run_mu);
    free(pool->spans);
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
    /* thread i's share: a contiguous run of n_chunks / n chunks, one more
     * for the first n_chunks % n threads */
    const uint32_t n = pool->n_started + 1;
    const uint64_t share = n_chunks / n, extra = n_chunks % n;
    uint64_t first = 0;
    for (uint32_t i = 0; i < n; i++) {
        atomic_store_explicit(&pool->spans[i].next, first, memory_order_relaxed);
        first += share + (i < extra);
        pool->spans[i].end = first;
    }
    atomic_store_explicit(&pool->busy, pool->n_started, memory_order_relaxed);
    pool->active = true;
    pool->owner = pthread_self();
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    const gm_pool_job job = pool->job;
    pthread_mutex_unlock(&pool->mu);

    gm_pool_do_chunks(pool, &job, 0);

    /* wait for the workers (acquire: they no longer read job and spans) */
    gm_pool_spin spin = {0, 0};
    while (atomic_load_explicit(&pool->busy, memory_order_acquire) > 0 && gm_pool_spin_on(&spin)) {
        /* poll */
    }
    pthread_mutex_lock(&pool->mu);
    while (atomic_load_explicit(&pool->busy, memory_order_acquire) > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    pool->active = false;
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_unlock(&pool->run_mu);
}
