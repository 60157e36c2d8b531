/*
 * engine/cpu/kernels.c -- the matrix-vector products of the forward pass
 * (engine/cpu/kernels.h): activation conversion to the weight's vec_dot
 * type, the per-row dot product, and gm_matmul() / gm_matmul_many() spread
 * over a thread pool.
 *
 * The kernels are those of the process's CPU path (cpu_path.h): one-vector
 * dots, tiles of rows x 1..4 vectors and, for some formats, panels of 4 or
 * 16 rows (dot.h). Every one of them gives a (row, vector) the bits of the
 * path's one-vector dot, so every vector of a batch gets exactly the bits
 * it would get alone, on any number of threads.
 *
 * Activation conversion is what ggml's CPU backend does on x86 with AVX2:
 * Q8_0 per block of 32 with d = fp16(amax / 127) and
 * q = round-half-even(x * (127 / amax)) (quantize_row_q8_0, x86 quants.c);
 * Q8_K with the reference quantize_row_q8_K_ref (both in act_convert.c,
 * with AVX2 forms of the same bits on the AVX2 and AVX-512 paths); F16/BF16 element by
 * element with round to nearest even.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/act_convert.h"
#include "engine/cpu/cpu_path.h"
#include "engine/cpu/dot.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_impl.h"

/* Rows per chunk handed to a thread (a multiple of GM_Q4K_PACKED_ROWS). */
#define GM_MATMUL_GRAIN 16
_Static_assert(GM_MATMUL_GRAIN % GM_Q4K_PACKED_ROWS == 0, "chunks cover whole packed groups");
_Static_assert(GM_Q6K_PACKED_ROWS == GM_Q4K_PACKED_ROWS, "Q4_K and Q6_K groups have the same rows");
/* Converted activations up to this size live on the stack: a decode step
 * (one vector; 32 KiB holds a Q8_K row of 28672 elements) allocates
 * nothing. */
#define GM_MATMUL_STACK_BYTES 32768
/* From this many vectors on, formats with a panel kernel use it. */
#define GM_PANEL_MIN_VECS 12
/* Vectors per tile inside a chunk. */
#define GM_MATMUL_VEC_TILE 16

gm_type gm_vec_dot_type(gm_type weight_type)
{
    switch (weight_type) {
    case GM_TYPE_F32:
        return GM_TYPE_F32;
    case GM_TYPE_F16:
        return GM_TYPE_F16;
    case GM_TYPE_BF16:
        return GM_TYPE_BF16;
    case GM_TYPE_Q8_0:
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q5_0:
        return GM_TYPE_Q8_0;
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q5_K:
    case GM_TYPE_Q6_K:
    case GM_TYPE_Q8_K:
        return GM_TYPE_Q8_K;
    default:
        return GM_TYPE_COUNT_MAX; /* no kernel for this format */
    }
}

/* Elements per block and bytes per block of an activation format. */
static int gm_act_layout(gm_type act, uint64_t *qk, uint64_t *bytes)
{
    switch (act) {
    case GM_TYPE_F32:
        *qk = 1;
        *bytes = 4;
        return 0;
    case GM_TYPE_F16:
    case GM_TYPE_BF16:
        *qk = 1;
        *bytes = 2;
        return 0;
    case GM_TYPE_Q8_0:
        *qk = GM_QK8_0;
        *bytes = sizeof(gm_block_q8_0);
        return 0;
    case GM_TYPE_Q8_K:
        *qk = GM_QK_K;
        *bytes = sizeof(gm_block_q8_K);
        return 0;
    default:
        return -1;
    }
}

size_t gm_act_bytes(gm_type weight_type, uint64_t n)
{
    uint64_t qk, bytes;
    if (gm_act_layout(gm_vec_dot_type(weight_type), &qk, &bytes) != 0 || n % qk != 0)
        return 0;
    if (n / qk > SIZE_MAX / bytes)
        return 0;
    return (size_t)(n / qk * bytes);
}

int gm_act_convert(gm_type weight_type, const float *x, void *out, uint64_t n)
{
    const gm_type act = gm_vec_dot_type(weight_type);
    uint64_t qk, bytes;
    if (gm_act_layout(act, &qk, &bytes) != 0 || n % qk != 0)
        return -1;
    if (n > 0 && (x == NULL || out == NULL))
        return -1;
    switch (act) {
    case GM_TYPE_Q8_0:
        /* the AVX2 forms give the bits of the plain C ones; the scalar
         * path keeps those */
        if (gm_cpu_active_path() != GM_CPU_SCALAR && gm_act_avx2_supported())
            gm_act_q8_0_avx2(x, out, n / qk);
        else
            gm_act_q8_0(x, out, n / qk);
        return 0;
    case GM_TYPE_Q8_K:
        if (gm_cpu_active_path() != GM_CPU_SCALAR && gm_act_avx2_supported()) {
            gm_act_q8_K_avx2(x, out, n / qk);
            return 0;
        }
        return gm_quantize_row(act, x, out, n);
    case GM_TYPE_F16:
        if (gm_cpu_active_path() != GM_CPU_SCALAR && gm_act_avx2_supported()) {
            gm_act_f16_avx2(x, out, n);
            return 0;
        }
        return gm_quantize_row(act, x, out, n);
    case GM_TYPE_BF16:
        if (gm_cpu_active_path() != GM_CPU_SCALAR && gm_act_avx2_supported()) {
            gm_act_bf16_avx2(x, out, n);
            return 0;
        }
        return gm_quantize_row(act, x, out, n);
    default:
        /* F32 copy, F16/BF16 element conversion, Q8_K reference quantizer */
        return gm_quantize_row(act, x, out, n);
    }
}

float gm_vec_dot(gm_type type, uint64_t n, const void *w_row, const void *xq)
{
    gm_dot_fn fn = gm_dot_best(type);
    uint64_t qk, bytes;
    if (fn == NULL || gm_act_layout(gm_vec_dot_type(type), &qk, &bytes) != 0 || n % qk != 0 ||
        (n > 0 && (w_row == NULL || xq == NULL)))
        return NAN;
    if (n == 0)
        return 0.0f;
    return fn(n, w_row, xq);
}

/* ---- gm_matmul / gm_matmul_many ------------------------------------------ */

/* The most parts one gm_matmul_many call takes. */
#define GM_MATMUL_MAX_PARTS 16
/* Distinct activation formats: F32, F16, BF16, Q8_0, Q8_K. */
#define GM_MATMUL_MAX_ACTS 5

/* One part as the row loop sees it: its kernels, its weights and where its
 * converted activations are. */
typedef struct gm_matmul_task {
    gm_dot_fn dot;
    gm_dot4_fn dot4;         /* NULL: one vector at a time */
    const gm_tiles *tiles;   /* NULL: dot and dot4 */
    const uint8_t *w;
    size_t w_row_bytes;
    const uint8_t *xq;
    size_t xq_bytes;
    uint64_t rows;
    uint64_t first; /* index of its row 0 in the pool's range over all parts */
    float *y;
    /* repacked Q4_K weights (rows below packed->groups * 16; w then holds
     * the plain rows after them, from row packed_rows on), or NULL */
    const gm_q4k_packed *packed;
    /* or repacked Q6_K weights (the same way), or NULL */
    const gm_q6k_packed *packed6;
    uint64_t packed_rows;
} gm_matmul_task;

typedef struct gm_matmul_job {
    const gm_matmul_task *tasks;
    uint32_t n_tasks;
    uint64_t cols;
    uint32_t n_vec;
} gm_matmul_job;

/* Rows [begin, end) of one part with the tile kernels, one group of up
 * to `vecs` vectors at a time over all the rows of the chunk. The first
 * group runs one row at a time: a single sequential stream through the
 * weights, which the hardware prefetchers follow best (tiles of several
 * rows reading from memory measured several times slower). It leaves the
 * chunk's rows in cache for the later groups, which use the wide tiles.
 * Each output has the bits of the one-vector dot whatever tile computes
 * it. */
static void gm_matmul_task_tiles(const gm_matmul_task *t, uint64_t cols, uint32_t n_vec,
                                 uint64_t begin, uint64_t end)
{
    const gm_tiles *tl = t->tiles;
    const bool big = n_vec >= GM_PANEL_MIN_VECS;
    const gm_panel_fn panel = big ? tl->panel : tl->panel_small;
    const uint64_t panel_rows = big ? tl->panel_rows : tl->panel_small_rows;
    if (panel != NULL) {
        /* whole panels of rows for all vectors; the rows left go below */
        for (; end - begin >= panel_rows; begin += panel_rows)
            panel(cols, t->w + begin * t->w_row_bytes, t->w_row_bytes, t->xq, t->xq_bytes, n_vec,
                  t->y + begin, t->rows);
    }
    for (uint32_t v = 0; v < n_vec;) {
        const uint32_t nv = n_vec - v < tl->vecs ? n_vec - v : tl->vecs;
        for (uint64_t r = begin; r < end;) {
            const bool wide = v > 0 && tl->rows > 1 && end - r >= tl->rows;
            const gm_tile_fn fn = wide ? tl->wide[nv - 1] : tl->one[nv - 1];
            fn(cols, t->w + r * t->w_row_bytes, t->w_row_bytes, t->xq + (size_t)v * t->xq_bytes,
               t->xq_bytes, t->y + (uint64_t)v * t->rows + r, t->rows);
            r += wide ? tl->rows : 1;
        }
        v += nv;
    }
}

/* Rows [begin, end) of one part. */
static void gm_matmul_task_rows(const gm_matmul_task *t, uint64_t cols, uint32_t n_vec,
                                uint64_t begin, uint64_t end)
{
    if (t->packed != NULL || t->packed6 != NULL) {
        const uint64_t pr = t->packed_rows;
        if (begin < pr && t->packed != NULL)
            gm_q4k_packed_rows(t->packed, begin, end < pr ? end : pr, t->xq, t->xq_bytes, n_vec,
                               t->y, t->rows);
        else if (begin < pr)
            gm_q6k_packed_rows(t->packed6, begin, end < pr ? end : pr, t->xq, t->xq_bytes, n_vec,
                               t->y, t->rows);
        if (end > pr) { /* the plain rows after the groups: the path's tiles or dots */
            gm_matmul_task rest = *t;
            rest.packed = NULL;
            rest.packed6 = NULL;
            rest.y = t->y + pr; /* rest.rows stays the output's row stride */
            gm_matmul_task_rows(&rest, cols, n_vec, (begin > pr ? begin : pr) - pr, end - pr);
        }
        return;
    }
    if (t->tiles != NULL) {
        gm_matmul_task_tiles(t, cols, n_vec, begin, end);
        return;
    }
    /* tiles of (rows of this chunk) x GM_MATMUL_VEC_TILE vectors, so both
     * the weight rows and the converted vectors stay in cache */
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_MATMUL_VEC_TILE) {
        const uint32_t v1 = n_vec - v0 < GM_MATMUL_VEC_TILE ? n_vec : v0 + GM_MATMUL_VEC_TILE;
        for (uint64_t r = begin; r < end; r++) {
            const uint8_t *wr = t->w + r * t->w_row_bytes;
            uint32_t v = v0;
            if (t->dot4 != NULL) {
                for (; v + 4 <= v1; v += 4) {
                    float out[4];
                    t->dot4(cols, wr, t->xq + (size_t)v * t->xq_bytes, t->xq_bytes, out);
                    for (int k = 0; k < 4; k++)
                        t->y[(uint64_t)(v + k) * t->rows + r] = out[k];
                }
            }
            for (; v < v1; v++)
                t->y[(uint64_t)v * t->rows + r] = t->dot(cols, wr, t->xq + (size_t)v * t->xq_bytes);
        }
    }
}

/* A chunk of the range over all parts' rows: split where it crosses from
 * one part into the next. */
static void gm_matmul_rows(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    const gm_matmul_job *job = ctx;
    /* parts may be separated by unused indices (packed parts start at a
     * multiple of 16, so that chunks cover whole groups of their rows) */
    for (uint32_t i = 0; i < job->n_tasks && begin < end; i++) {
        const gm_matmul_task *t = &job->tasks[i];
        const uint64_t t_end = t->first + t->rows;
        if (begin >= t_end)
            continue;
        const uint64_t start = begin > t->first ? begin : t->first;
        const uint64_t stop = end < t_end ? end : t_end;
        if (start < stop)
            gm_matmul_task_rows(t, job->cols, job->n_vec, start - t->first, stop - t->first);
        begin = stop;
    }
}

typedef struct gm_convert_job {
    gm_type type;
    const float *x;
    uint8_t *xq;
    uint64_t cols;
    size_t xq_bytes;
} gm_convert_job;

static void gm_convert_vecs(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    const gm_convert_job *job = ctx;
    for (uint64_t v = begin; v < end; v++)
        (void)gm_act_convert(job->type, job->x + v * job->cols, job->xq + v * job->xq_bytes,
                             job->cols);
}

/* Check one part and fill its task (all but xq and first). */
static int gm_matmul_task_init(gm_cpu_path path, const gm_matmul_part *p, uint64_t cols,
                               uint32_t n_vec, gm_matmul_task *t, cm_err *err)
{
    memset(t, 0, sizeof *t);
    t->dot = gm_dot_for_path(path, p->type);
    if (t->dot == NULL)
        return cm_err_set(err, "matmul: no CPU kernel for weight format %s",
                          gm_type_name(p->type));
    uint64_t qk, act_block;
    if (gm_act_layout(gm_vec_dot_type(p->type), &qk, &act_block) != 0)
        return cm_err_set(err, "matmul: weight format %s has no activation format",
                          gm_type_name(p->type));
    uint64_t w_row_bytes;
    if (cols == 0 || !gm_type_row_bytes(p->type, cols, &w_row_bytes))
        return cm_err_set(err,
                          "matmul: row length %llu is not a positive multiple of the block "
                          "size of format %s",
                          (unsigned long long)cols, gm_type_name(p->type));
    if (p->rows > SIZE_MAX / w_row_bytes || p->rows > SIZE_MAX / sizeof(float) / n_vec)
        return cm_err_set(err, "matmul: %llu x %llu matrix is too large",
                          (unsigned long long)p->rows, (unsigned long long)cols);
    if (p->packed != NULL) {
        if (p->type != GM_TYPE_Q4_K || p->packed->rows != p->rows || p->packed->cols != cols)
            return cm_err_set(err, "matmul: repacked weights do not match the %s %llu x %llu matrix",
                              gm_type_name(p->type), (unsigned long long)p->rows,
                              (unsigned long long)cols);
        if (!gm_q4k_packed_supported())
            return cm_err_set(err, "matmul: repacked Q4_K weights need the AVX2 or AVX-512 CPU "
                                   "path (path now: %s)",
                              gm_cpu_path_name());
        if (p->packed6 != NULL)
            return cm_err_set(err, "matmul: a part has both Q4_K and Q6_K repacked weights");
    } else if (p->packed6 != NULL) {
        if (p->type != GM_TYPE_Q6_K || p->packed6->rows != p->rows || p->packed6->cols != cols)
            return cm_err_set(err, "matmul: repacked weights do not match the %s %llu x %llu matrix",
                              gm_type_name(p->type), (unsigned long long)p->rows,
                              (unsigned long long)cols);
        if (!gm_q6k_packed_supported())
            return cm_err_set(err, "matmul: repacked Q6_K weights need the AVX2 or AVX-512 CPU "
                                   "path (path now: %s)",
                              gm_cpu_path_name());
    } else if (p->rows > 0 && p->w == NULL) {
        return cm_err_set(err, "matmul: missing weight buffer");
    }
    if (p->rows > 0 && p->y == NULL)
        return cm_err_set(err, "matmul: missing output buffer");
    t->w = p->w;
    t->w_row_bytes = (size_t)w_row_bytes;
    t->packed = p->packed;
    if (p->packed != NULL) {
        t->packed_rows = p->packed->groups * GM_Q4K_PACKED_ROWS;
        t->w = p->packed->rest;
    }
    t->packed6 = p->packed6;
    if (p->packed6 != NULL) {
        t->packed_rows = p->packed6->groups * GM_Q6K_PACKED_ROWS;
        t->w = p->packed6->rest;
    }
    t->xq_bytes = gm_act_bytes(p->type, cols);
    if (t->xq_bytes == 0 || t->xq_bytes > SIZE_MAX / n_vec)
        return cm_err_set(err, "matmul: activation buffer size overflows");
    t->rows = p->rows;
    t->y = p->y;
    /* the 4-vector kernel gives each vector the same bits as `dot`, so a
     * row's result does not depend on the batch size (batch invariance) */
    t->dot4 = n_vec >= 4 ? gm_dot4_for_path(path, p->type) : NULL;
    t->tiles = gm_tiles_for_path(path, p->type);
    return 0;
}

int gm_matmul_many(gm_pool *pool, const gm_matmul_part *parts, uint32_t n_parts, uint64_t cols,
                   const float *x, uint32_t n_vec, cm_err *err)
{
    if (gm_cpu_path_check(err) < 0)
        return -1;
    if (n_parts > GM_MATMUL_MAX_PARTS)
        return cm_err_set(err, "matmul: %u parts, at most %d", n_parts, GM_MATMUL_MAX_PARTS);
    if (n_parts > 0 && parts == NULL)
        return cm_err_set(err, "matmul: missing parts");
    if (n_vec == 0)
        return 0;
    const gm_cpu_path path = gm_cpu_active_path();
    gm_matmul_task tasks[GM_MATMUL_MAX_PARTS];
    uint64_t total_rows = 0;
    for (uint32_t i = 0; i < n_parts; i++) {
        if (gm_matmul_task_init(path, &parts[i], cols, n_vec, &tasks[i], err) < 0)
            return -1;
        if (tasks[i].packed != NULL || tasks[i].packed6 != NULL) /* chunks of GM_MATMUL_GRAIN cover whole groups */
            total_rows = (total_rows + GM_Q4K_PACKED_ROWS - 1) / GM_Q4K_PACKED_ROWS *
                         GM_Q4K_PACKED_ROWS;
        tasks[i].first = total_rows;
        total_rows += parts[i].rows;
    }
    if (total_rows == 0)
        return 0;
    if (x == NULL)
        return cm_err_set(err, "matmul: missing input buffer");

    /* one converted copy of x per distinct activation format */
    gm_type act_types[GM_MATMUL_MAX_ACTS];
    size_t act_bytes[GM_MATMUL_MAX_ACTS], act_off[GM_MATMUL_MAX_ACTS];
    uint32_t n_acts = 0;
    size_t conv_total = 0;
    for (uint32_t i = 0; i < n_parts; i++) {
        const gm_type act = gm_vec_dot_type(parts[i].type);
        if (parts[i].rows == 0 || act == GM_TYPE_F32)
            continue;
        uint32_t a = 0;
        while (a < n_acts && act_types[a] != act)
            a++;
        if (a < n_acts)
            continue;
        const size_t bytes = tasks[i].xq_bytes * n_vec;
        if (n_acts == GM_MATMUL_MAX_ACTS || bytes > SIZE_MAX - 64 - conv_total)
            return cm_err_set(err, "matmul: activation buffer size overflows");
        act_types[n_acts] = act;
        act_bytes[n_acts] = tasks[i].xq_bytes;
        act_off[n_acts] = conv_total;
        conv_total += (bytes + 63) & ~(size_t)63;
        n_acts++;
    }
    uint8_t *buf = NULL;
    _Alignas(64) uint8_t stack_buf[GM_MATMUL_STACK_BYTES];
    uint8_t *conv = stack_buf;
    if (conv_total > sizeof(stack_buf))
        conv = buf = malloc(conv_total);
    if (conv == NULL)
        return cm_err_set(err, "matmul: out of memory for %u converted vectors of %llu", n_vec,
                          (unsigned long long)cols);
    for (uint32_t a = 0; a < n_acts; a++) {
        /* any weight type whose vec_dot type is act_types[a] converts the same way */
        gm_type wtype = act_types[a];
        for (uint32_t i = 0; i < n_parts; i++)
            if (gm_vec_dot_type(parts[i].type) == act_types[a])
                wtype = parts[i].type;
        gm_convert_job cj = {wtype, x, conv + act_off[a], cols, act_bytes[a]};
        gm_pool_run(pool, n_vec, 1, gm_convert_vecs, &cj);
    }

    bool any_pool = false;
    for (uint32_t i = 0; i < n_parts; i++) {
        const gm_type act = gm_vec_dot_type(parts[i].type);
        if (act == GM_TYPE_F32) {
            tasks[i].xq = (const uint8_t *)x; /* no conversion */
        } else {
            for (uint32_t a = 0; a < n_acts; a++)
                if (act_types[a] == act)
                    tasks[i].xq = conv + act_off[a];
        }
        any_pool = any_pool || tasks[i].rows > 0;
    }
    if (any_pool) {
        gm_matmul_job job = {tasks, n_parts, cols, n_vec};
        gm_pool_run(pool, total_rows, GM_MATMUL_GRAIN, gm_matmul_rows, &job);
    }
    free(buf);
    return 0;
}

int gm_matmul(gm_pool *pool, gm_type type, const void *w, uint64_t rows, uint64_t cols,
              const float *x, uint32_t n_vec, float *y, cm_err *err)
{
    if (gm_cpu_path_check(err) < 0)
        return -1;
    gm_matmul_task t;
    const gm_matmul_part part = {type, w, rows, y, NULL, NULL};
    /* the format and size checks apply even to an empty product */
    if (gm_matmul_task_init(gm_cpu_active_path(), &part, cols, n_vec > 0 ? n_vec : 1, &t, err) < 0)
        return -1;
    if (rows == 0 || n_vec == 0)
        return 0;
    if (w == NULL || x == NULL || y == NULL)
        return cm_err_set(err, "matmul: missing weight, input or output buffer");
    return gm_matmul_many(pool, &part, 1, cols, x, n_vec, err);
}
