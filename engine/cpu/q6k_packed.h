/*
 * engine/cpu/q6k_packed.h -- Q6_K weight matrices repacked once (at model
 * load) into a 16-row interleaved layout for an AVX-512 VNNI kernel and an
 * AVX2 kernel (q6k_packed_avx2.c: the AVX2 path, and AVX-512 without
 * VNNI; the same packed copy for both), as q4k_packed.h does for Q4_K
 * (same design: one row per 32-bit lane, the weights read as one
 * sequential stream, whatever the number of vectors).
 *
 * Layout: rows in groups of 16; group k holds, block after block, for
 * block i of its 16 rows (GM_Q6K_PACKED_BLOCK_BYTES bytes):
 *   d[16]: the rows' fp16 scales;
 *   sc[16][16]: the int8 scale of sub-block j of row r;
 *   32 bytes of padding (keeps 64-byte alignment);
 *   for h = 0, 1 and g = 0..7, 3 lines of 64 bytes (a line triple),
 *   whose 32-bit lane r holds the 6-bit values q of row r's elements
 *   128h + 32j + 4g + k (k = 0..3, byte k of the lane): line j = 0, 1, 2
 *   the value of quarter j in bits 0-5, and in bits 6-7 bits 0-1, 2-3,
 *   4-5 of quarter 3's (in the order the kernels read them: the block is
 *   one sequential stream, which the hardware prefetchers follow). A
 *   value is then one AND (quarters 0..2) or three shifts, masks and
 *   two ORs (quarter 3): 11 operations per half line triple on AVX2,
 *   where the plain Q6_K bits (ql nibbles, qh pairs) took 16.
 * The last rows % 16 rows follow as plain Q6_K rows (the tile kernels do
 * those). The packed copy is 0.95% larger than the Q6_K blocks.
 *
 * Every (row, vector) output of the packed kernels has exactly the bits of
 * the AVX-512 and AVX2 Q6_K kernels on the plain blocks (the exact int32 block sum,
 * then acc = fma(d_w * d_x, float(sum), acc) per block in block order), so
 * repacking changes no result and batch invariance holds.
 *
 * GEMMA_CPU_REPACK=0 in the environment turns repacking off.
 */
#ifndef GM_CPU_Q6K_PACKED_H
#define GM_CPU_Q6K_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/cpu/kq_packed.h"

/* Rows per packed group. */
#define GM_Q6K_PACKED_ROWS GM_KQ_PACKED_ROWS
/* Bytes of one block (256 columns) of one group of 16 rows. */
#define GM_Q6K_PACKED_BLOCK_BYTES 3392

/* A packed Q6_K matrix (owned memory; the record of kq_packed.h). */
typedef gm_kq_packed gm_q6k_packed;

/* Whether this process runs packed Q6_K kernels: the CPU path is AVX2 or
 * AVX-512 (the VNNI kernel where the CPU has AVX512-VNNI, else the AVX2
 * one). */
bool gm_q6k_packed_supported(void);
/* Whether a model should repack its Q6_K weights: supported, and
 * GEMMA_CPU_REPACK is not "0". */
bool gm_q6k_repack_wanted(void);

/* Repack a rows x cols Q6_K matrix (cols a multiple of 256) into a new
 * packed copy (spread over `pool`, which may be NULL). Needs no particular
 * CPU; multiplied only where gm_q6k_packed_supported(). */
int gm_q6k_pack(gm_pool *pool, const void *w, uint64_t rows, uint64_t cols, gm_q6k_packed **out,
                cm_err *err);
/* Free a packed copy; NULL is ignored. */
void gm_q6k_packed_free(gm_q6k_packed *p);

/* Internal to engine/cpu/ (kernels.c): rows [begin, end) of the groups
 * (end <= groups * 16) against n_vec Q8_K vectors at xq + v * x_stride;
 * writes y[v * y_stride + r] for the matrix row r. Only where supported. */
void gm_q6k_packed_rows(const gm_q6k_packed *p, uint64_t begin, uint64_t end, const void *xq,
                        size_t x_stride, uint32_t n_vec, float *y, size_t y_stride);

/* Internal to engine/cpu/ (q6k_packed.c): the AVX2 kernel for one group of
 * 16 rows (g: nb packed blocks) against n_vec vectors; stores rows
 * [r0, r1) of the group at out[v * out_stride + r - r0]. */
void gm_q6k_packed_group_avx2(const uint8_t *g, uint64_t nb, const uint8_t *xq, size_t x_stride,
                              uint32_t n_vec, int r0, int r1, float *out, size_t out_stride);

#endif
