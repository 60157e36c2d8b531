/*
 * engine/model/ops_par.c -- the elementwise stages of the forward pass
 * (ops.h) spread over the context's thread pool: RMS norms of many rows,
 * post-norm plus residual add, GeGLU and the logit soft-cap.
 *
 * Each stage is cut into chunks of a fixed size (GM_PAR_CHUNK elements or
 * whole rows of about that size), never into "one piece per thread", and
 * each element or row is computed exactly as the single-threaded op does:
 * the results have the same bits on any number of threads. A stage small
 * enough for one chunk (a decode step's norms) runs on the calling thread
 * without waking the pool.
 */
#include <stddef.h>

#include "engine/cpu/pool.h"
#include "engine/model/ops.h"

/* Elements per chunk: large enough that the pool's hand-off (a few
 * microseconds) is small beside the work, small enough that a decode
 * step's soft-cap (tanhf of the whole vocabulary) splits. */
#define GM_PAR_CHUNK 4096u
/* GeGLU costs about a nanosecond a value on the F16C path: a decode step's
 * (6144 or 12288 values) runs on the calling thread, not worth a
 * hand-off; prefill's splits. */
#define GM_PAR_GEGLU_CHUNK 16384u

typedef enum { PAR_RMSNORM, PAR_RMSNORM_ADD, PAR_GEGLU, PAR_SOFTCAP } par_op;

typedef struct par_job {
    par_op op;
    const float *x;   /* rows (norms), gate (GeGLU), values (soft-cap) */
    const float *w;   /* norm weight (may be NULL for PAR_RMSNORM) */
    const float *res; /* residual (PAR_RMSNORM_ADD), up (PAR_GEGLU) */
    float *y;
    uint32_t n;       /* row width (norms) */
    float eps;        /* norms; the cap for PAR_SOFTCAP */
    const uint16_t *table;
} par_job;

static void par_chunk(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    const par_job *j = arg;
    switch (j->op) {
    case PAR_RMSNORM:
        for (uint64_t r = begin; r < end; r++)
            gm_rmsnorm(j->x + r * j->n, j->w, j->n, j->eps, j->y + r * j->n);
        break;
    case PAR_RMSNORM_ADD:
        for (uint64_t r = begin; r < end; r++)
            gm_rmsnorm_add(j->x + r * j->n, j->w, j->res + r * j->n, j->n, j->eps,
                           j->y + r * j->n);
        break;
    case PAR_GEGLU:
        gm_geglu(j->table, j->x + begin, j->res + begin, (uint32_t)(end - begin), j->y + begin);
        break;
    case PAR_SOFTCAP:
        gm_softcap(j->y + begin, (uint32_t)(end - begin), j->eps);
        break;
    }
}

/* Rows per chunk for rows of n elements. */
static uint64_t rows_per_chunk(uint32_t n)
{
    return n >= GM_PAR_CHUNK ? 1 : GM_PAR_CHUNK / n;
}

void gm_rmsnorm_rows_par(gm_pool *pool, const float *x, const float *w, uint32_t n_rows,
                         uint32_t n, float eps, float *y)
{
    par_job j = {.op = PAR_RMSNORM, .x = x, .w = w, .y = y, .n = n, .eps = eps};
    gm_pool_run(pool, n_rows, rows_per_chunk(n), par_chunk, &j);
}

void gm_rmsnorm_add_rows(gm_pool *pool, const float *t, const float *w, const float *res,
                         uint32_t n_rows, uint32_t n, float eps, float *out)
{
    par_job j = {.op = PAR_RMSNORM_ADD, .x = t, .w = w, .res = res, .y = out, .n = n,
                 .eps = eps};
    gm_pool_run(pool, n_rows, rows_per_chunk(n), par_chunk, &j);
}

void gm_geglu_par(gm_pool *pool, const uint16_t *table, const float *gate, const float *up,
                  size_t count, float *out)
{
    par_job j = {.op = PAR_GEGLU, .x = gate, .res = up, .y = out, .table = table};
    gm_pool_run(pool, count, GM_PAR_GEGLU_CHUNK, par_chunk, &j);
}

void gm_softcap_par(gm_pool *pool, float *x, size_t count, float cap)
{
    par_job j = {.op = PAR_SOFTCAP, .y = x, .eps = cap};
    gm_pool_run(pool, count, GM_PAR_CHUNK, par_chunk, &j);
}
