/*
 * engine/cpu/q4k_packed_kernels.h -- internal to engine/cpu/: the block
 * kernels of the packed Q4_K layout (q4k_packed.h), one set per CPU path,
 * and what the row loop of q4k_packed.c needs to know of them.
 *
 * A block kernel multiplies one packed block (256 columns of 16 rows)
 * against 1..step vectors and takes, per row r and vector v, the f32
 * steps of the AVX-512 Q4_K kernels on the block's exact integer sums:
 *   acc[v][r] = fma(d_w * d_x, float(sumi), acc[v][r]),
 *   acc_m[v][r] = fma(dmin_w * d_x, float(msum), acc_m[v][r]);
 * the result is acc - acc_m once every block is in. Every set gives the
 * same bits, so which one runs changes no result.
 */
#ifndef GM_CPU_Q4K_PACKED_KERNELS_H
#define GM_CPU_Q4K_PACKED_KERNELS_H

#include <stdint.h>

struct gm_block_q8_K; /* engine/quant/blocks.h */

/* Byte offsets inside one packed block of 16 rows (q4k_packed.h). */
#define GM_QP_QS 0      /* 32 lines of 64 bytes */
#define GM_QP_D 2048    /* uint16_t d[16] */
#define GM_QP_DMIN 2080 /* uint16_t dmin[16] */
#define GM_QP_SC 2112   /* uint8_t sc[8][16] */
#define GM_QP_MN 2240   /* uint8_t mn[4][16][2] */

/* The packed block at pb against the vectors' blocks yb[0..n) (n fixed
 * per function): steps acc[v][r] and acc_m[v][r] for the 16 rows. */
typedef void (*gm_q4k_block_fn)(const uint8_t *pb, const struct gm_block_q8_K *const *yb,
                                float (*acc)[16], float (*acc_m)[16]);

/* One CPU path's block kernels: fn[n - 1] takes n vectors, n <= step. */
typedef struct gm_q4k_block_kernels {
    uint32_t step;
    gm_q4k_block_fn fn[4];
} gm_q4k_block_kernels;

/* The AVX2 set (q4k_packed_avx2.c; needs AVX2, FMA and F16C). */
extern const gm_q4k_block_kernels gm_q4k_block_kernels_avx2;

#endif
