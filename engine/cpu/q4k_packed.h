/*
 * engine/cpu/q4k_packed.h -- Q4_K weight matrices repacked once (at model
 * load) into a 16-row interleaved layout for the AVX-512 VNNI and the AVX2
 * kernels (one packed copy serves both).
 *
 * The AVX-512 VNNI panel kernel (dot_avx512.c) computes 16 rows at once
 * with one row per 32-bit lane, but has to transpose the rows' blocks into
 * that "quad-major" order on every call, which costs more than the
 * products themselves. A packed matrix holds the rows already in that
 * order, so every product -- one vector (decode) or many (prefill,
 * batches) -- reads the weights as one sequential stream and spends its
 * instructions on the products.
 *
 * Layout: rows in groups of 16; group k holds, block after block, for
 * block i of its 16 rows (GM_Q4K_PACKED_BLOCK_BYTES bytes):
 *   32 lines of 64 bytes: line 8p + g, 32-bit lane r = bytes
 *      qs[32p + 4g .. 32p + 4g + 3] of row r's block (low nibbles:
 *      elements 64p + 4g.., of sub-block 2p; high nibbles: elements
 *      64p + 32 + 4g.., of sub-block 2p + 1), kept packed;
 *   d[16], dmin[16]: the rows' fp16 scales;
 *   sc[8][16]: the 6-bit scale of sub-block j of row r, one byte each;
 *   mn[4][16][2]: the mins of sub-blocks 2k and 2k + 1 of row r.
 * The last rows % 16 rows follow as plain Q4_K rows (the tile kernels do
 * those). The packed copy is 2.8% larger than the Q4_K blocks.
 *
 * Every (row, vector) output of the packed kernels has exactly the bits
 * of the AVX-512 and AVX2 Q4_K kernels on the plain blocks (same exact
 * integer block sums, same f32 steps in the same order), so repacking
 * changes no result, and batch invariance holds. The AVX-512 VNNI path
 * runs the VNNI block kernels (q4k_packed.c), the AVX2 path and AVX-512
 * without VNNI the AVX2 ones (q4k_packed_avx2.c).
 *
 * GEMMA_CPU_REPACK=0 in the environment turns repacking off.
 */
#ifndef GM_CPU_Q4K_PACKED_H
#define GM_CPU_Q4K_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/cpu/kq_packed.h"

/* Rows per packed group. */
#define GM_Q4K_PACKED_ROWS GM_KQ_PACKED_ROWS
/* Bytes of one block (256 columns) of one group of 16 rows. */
#define GM_Q4K_PACKED_BLOCK_BYTES 2368

/* A packed Q4_K matrix (owned memory; the record of kq_packed.h). */
typedef gm_kq_packed gm_q4k_packed;

/* Whether this process runs packed Q4_K kernels: the CPU path is AVX2 or
 * AVX-512 (not the scalar reference). */
bool gm_q4k_packed_supported(void);
/* Whether a model should repack its Q4_K weights: supported, and
 * GEMMA_CPU_REPACK is not "0". */
bool gm_q4k_repack_wanted(void);

/* Repack a rows x cols Q4_K matrix (cols a multiple of 256) into a new
 * packed copy (spread over `pool`, which may be NULL). Needs no particular
 * CPU: the copy can be made anywhere, but only multiplied where supported. */
int gm_q4k_pack(gm_pool *pool, const void *w, uint64_t rows, uint64_t cols, gm_q4k_packed **out,
                cm_err *err);
/* Free a packed copy; NULL is ignored. */
void gm_q4k_packed_free(gm_q4k_packed *p);

/* Internal to engine/cpu/ (kernels.c): rows [begin, end) of the groups
 * (end <= groups * 16; whole groups are computed, only these rows stored)
 * against n_vec Q8_K vectors at xq + v * x_stride; writes
 * y[v * y_stride + r] for the matrix row r. Only where supported. */
void gm_q4k_packed_rows(const gm_q4k_packed *p, uint64_t begin, uint64_t end, const void *xq,
                        size_t x_stride, uint32_t n_vec, float *y, size_t y_stride);

#endif
