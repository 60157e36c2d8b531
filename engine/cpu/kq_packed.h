/*
 * engine/cpu/kq_packed.h -- what the repacked K-quant matrices share
 * (Q4_K: q4k_packed.h, Q6_K: q6k_packed.h): the matrix record and the
 * repacking plumbing -- size checks, one 64-byte aligned allocation, a
 * pool pass over the groups of 16 rows, and the rows % 16 plain rows left
 * at the end. Each format supplies only how one block of 16 rows is laid
 * out (its block packer) and the kernels that read that layout.
 */
#ifndef GM_CPU_KQ_PACKED_H
#define GM_CPU_KQ_PACKED_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct gm_pool gm_pool; /* engine/cpu/pool.h */

/* Rows per packed group (one row per 32-bit lane of a 512-bit register). */
#define GM_KQ_PACKED_ROWS 16

/* A packed matrix (owned memory). */
typedef struct gm_kq_packed {
    uint64_t rows, cols;
    uint64_t groups;      /* rows / 16 */
    size_t group_bytes;   /* bytes of one group: cols / 256 packed blocks */
    size_t row_bytes;     /* bytes of one plain row in the original format */
    uint8_t *data;        /* the groups (64-byte aligned), then the rest */
    const uint8_t *rest;  /* rows % 16 plain rows (NULL when none) */
    size_t bytes;         /* allocated at data */
} gm_kq_packed;

/* Writes the packed form of block i (256 columns) of the 16 plain rows at
 * w (row_bytes apart) to out. */
typedef void (*gm_kq_pack_block_fn)(const uint8_t *w, size_t row_bytes, uint64_t i, uint8_t *out);

/* The layout of one format: its name (for messages), the bytes of one
 * plain block of 256 elements and of one packed block of 16 rows (a
 * multiple of 64), and its block packer. */
typedef struct gm_kq_format {
    const char *name;
    size_t plain_block_bytes;
    size_t packed_block_bytes;
    gm_kq_pack_block_fn pack_block;
} gm_kq_format;

/* Repack a rows x cols matrix (cols a multiple of 256) of format `fmt`
 * into a new packed copy, spread over `pool` (which may be NULL). */
int gm_kq_pack(const gm_kq_format *fmt, gm_pool *pool, const void *w, uint64_t rows,
               uint64_t cols, gm_kq_packed **out, cm_err *err);
/* Free a packed copy; NULL is ignored. */
void gm_kq_packed_free(gm_kq_packed *p);

#endif
