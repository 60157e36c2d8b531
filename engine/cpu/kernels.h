/*
 * engine/cpu/kernels.h -- CPU compute kernels for the forward pass.
 *
 * A matrix-vector product y = W x, where W is a weight tensor of `rows`
 * rows with `cols` elements each, stored in its own format (any supported
 * gm_type), used in place from the mmap. As in llama.cpp's CPU backend, the
 * f32 activation x is first converted to the weight's "vec_dot type" (F16,
 * BF16, Q8_0 or Q8_K; none for F32) and each row's dot product is computed
 * against that converted vector, so results agree with the reference up to
 * summation order.
 *
 * gm_matmul() applies the same to a batch of n_vec vectors (x is
 * [n_vec][cols], y is [n_vec][rows]) and spreads rows over threads.
 */
#ifndef GM_KERNELS_H
#define GM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/tensor_type.h"

typedef struct gm_pool gm_pool; /* engine/cpu/pool.h: a fixed set of worker threads */

/* The activation format a weight of `type` pairs with (GM_TYPE_COUNT_MAX
 * for a format without a CPU kernel). */
gm_type gm_vec_dot_type(gm_type weight_type);
/* Bytes needed to hold n activations converted for `weight_type` (0 when
 * n is not a multiple of that format's block size or there is none). */
size_t gm_act_bytes(gm_type weight_type, uint64_t n);
/* Convert n f32 activations into the vec_dot type of `weight_type`;
 * -1 for a bad n or format. */
int gm_act_convert(gm_type weight_type, const float *x, void *out, uint64_t n);
/* Dot product of one weight row (n elements, format `type`) with converted
 * activations `xq` (from gm_act_convert for the same type). NaN for an
 * unsupported format or an n that is not a multiple of its block size. */
float gm_vec_dot(gm_type type, uint64_t n, const void *w_row, const void *xq);

/* y[v][r] = sum_c W[r][c] * x[v][c]. `pool` may be NULL (single thread).
 * Runs the kernels of the process's CPU path (engine/cpu/cpu_path.h) and
 * fails when GEMMA_CPU names a path that cannot run. Every y[v][r] has the
 * same bits whatever the thread count and whatever the other vectors of
 * the batch (batch invariance: n_vec = 1 gives the same as any batch), for
 * every weight format. */
int gm_matmul(gm_pool *pool, gm_type type, const void *w, uint64_t rows, uint64_t cols,
              const float *x, uint32_t n_vec, float *y, cm_err *err);

/* One weight matrix of a gm_matmul_many() call and where its product goes. */
typedef struct gm_matmul_part {
    gm_type type;  /* weight format */
    const void *w; /* rows x cols weights */
    uint64_t rows;
    float *y; /* out: y[v * rows + r] */
    /* When not NULL, the same Q4_K weights repacked (q4k_packed.h; its
     * rows and cols must match): they are read instead of w (which may
     * then be NULL), with the same bits. Needs gm_q4k_packed_supported(). */
    const struct gm_kq_packed *packed;
    /* The same for Q6_K weights (q6k_packed.h); at most one of packed
     * and packed6 is set. */
    const struct gm_kq_packed *packed6;
} gm_matmul_part;

/* y_p = W_p x for every part p; all parts share x (n_vec vectors of cols
 * floats) and run in ONE pass of the pool over all parts' rows; x is
 * converted once per distinct vec_dot type. Each part's output is
 * bit-identical to gm_matmul() on that part alone. At most 16 parts. */
int gm_matmul_many(gm_pool *pool, const gm_matmul_part *parts, uint32_t n_parts, uint64_t cols,
                   const float *x, uint32_t n_vec, cm_err *err);

#endif
