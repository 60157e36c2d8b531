/*
 * engine/cpu/dot.h -- internal to engine/cpu/: the per-format dot products
 * behind gm_vec_dot(), in a portable scalar version (dot_scalar.c, the
 * reference), AVX2/FMA versions (dot_avx2.c) and AVX-512 versions
 * (dot_avx512.c), picked at run time by the CPU path (cpu_path.h,
 * dot_dispatch.c).
 *
 * A dot function takes n weights of one row in the weight format and the
 * same n activations already converted to the weight's vec_dot type
 * (gm_act_convert); n is a multiple of the block size.
 */
#ifndef GM_CPU_DOT_H
#define GM_CPU_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cpu/cpu_path.h"
#include "engine/format/tensor_type.h"

typedef float (*gm_dot_fn)(uint64_t n, const void *w, const void *xq);

/* The scalar reference dot for a weight format; NULL if unsupported. */
gm_dot_fn gm_dot_scalar(gm_type type);
/* The AVX2/FMA dot for a weight format, or NULL when there is none or the
 * CPU lacks AVX2/FMA/F16C. */
gm_dot_fn gm_dot_avx2(gm_type type);
/* The AVX-512 dot (the VNNI variant where the CPU has VNNI), or NULL
 * when there is none for the format or the CPU lacks AVX-512 F/BW/VL. */
gm_dot_fn gm_dot_avx512(gm_type type);
/* The AVX-512 dot without VNNI (tests compare it with the VNNI one). */
gm_dot_fn gm_dot_avx512_plain(gm_type type);
/* The dot a CPU path runs for the format: that path's kernel, else the
 * next narrower path's, else the scalar one; NULL if unsupported. */
gm_dot_fn gm_dot_for_path(gm_cpu_path path, gm_type type);
/* gm_dot_for_path for the process's path (gm_cpu_active_path()). */
gm_dot_fn gm_dot_best(gm_type type);

/* One weight row against 4 converted vectors at xq + k * stride (k = 0..3):
 * out[k] is bit-identical to the one-vector AVX2 dot with that vector, at
 * a lower cost per vector (the weights are decoded once). */
typedef void (*gm_dot4_fn)(uint64_t n, const void *w, const void *xq, size_t stride, float out[4]);
/* The 4-vector AVX2 dot for a format, or NULL (none, or no AVX2). */
gm_dot4_fn gm_dot4_avx2(gm_type type);
/* The 4-vector AVX-512 dot, bit-identical to gm_dot_avx512, or NULL. */
gm_dot4_fn gm_dot4_avx512(gm_type type);
/* The 4-vector dot paired with gm_dot_for_path(path, type) (bit-identical
 * to it for every vector), or NULL when that kernel has none. */
gm_dot4_fn gm_dot4_for_path(gm_cpu_path path, gm_type type);

/* A tile kernel: R weight rows (at w + r * w_stride) against V converted
 * vectors (at xq + v * x_stride), with R and V fixed per function; writes
 * y[v * y_stride + r] for r < R, v < V. Each output is bit-identical to the
 * one-vector dot of the same path with that row and vector. */
typedef void (*gm_tile_fn)(uint64_t n, const void *w, size_t w_stride, const void *xq,
                           size_t x_stride, float *y, size_t y_stride);

/* The most vectors a tile kernel takes. */
#define GM_TILE_MAX_VECS 4

/* A panel kernel: `panel_rows` weight rows against any number of vectors,
 * same layout and same bits as the tiles. */
typedef void (*gm_panel_fn)(uint64_t n, const void *w, size_t w_stride, const void *xq,
                            size_t x_stride, uint32_t n_vec, float *y, size_t y_stride);

/* A format's tile kernels on one path. */
typedef struct gm_tiles {
    uint32_t rows;                     /* R of the wide tiles */
    uint32_t vecs;                     /* the largest V (<= GM_TILE_MAX_VECS) */
    gm_tile_fn one[GM_TILE_MAX_VECS];  /* R = 1, V = index + 1 */
    gm_tile_fn wide[GM_TILE_MAX_VECS]; /* R = rows, V = index + 1 */
    uint32_t panel_rows;               /* rows of `panel` (0: none) */
    gm_panel_fn panel;                 /* for batches of vectors, or NULL */
    uint32_t panel_small_rows;         /* rows of `panel_small` (0: none) */
    gm_panel_fn panel_small;           /* for one to a few vectors, or NULL */
} gm_tiles;

/* The AVX2 / AVX-512 tile kernels of a format, or NULL (none, or the CPU
 * lacks the instructions). */
const gm_tiles *gm_tiles_avx2(gm_type type);
const gm_tiles *gm_tiles_avx512(gm_type type);
/* The AVX-512 tile kernels without VNNI (tests compare them with the VNNI
 * ones), or NULL. */
const gm_tiles *gm_tiles_avx512_plain(gm_type type);
/* The tile kernels paired with gm_dot_for_path(path, type), or NULL when
 * that kernel has none. */
const gm_tiles *gm_tiles_for_path(gm_cpu_path path, gm_type type);

#endif
