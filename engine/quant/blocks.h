/*
 * engine/quant/blocks.h -- the byte layouts of the block formats, exactly as
 * ggml lays them out (ggml-common.h), shared by the quantizers in
 * engine/quant/ and the dot products in engine/cpu/.
 *
 * Half-precision fields are stored as raw uint16_t bits (gm_fp16_to_fp32
 * decodes them). All structs are packed by construction: every field is
 * naturally aligned, and the static asserts pin the sizes ggml uses.
 */
#ifndef GM_QUANT_BLOCKS_H
#define GM_QUANT_BLOCKS_H

#include <stdint.h>

#define GM_QK4_0 32
#define GM_QK5_0 32
#define GM_QK8_0 32
#define GM_QK_K 256
#define GM_K_SCALE_SIZE 12

/* Q4_0: value = d * (nibble - 8); element j < 16 is the low nibble of
 * qs[j], element j + 16 the high nibble. */
typedef struct gm_block_q4_0 {
    uint16_t d;
    uint8_t qs[GM_QK4_0 / 2];
} gm_block_q4_0;

/* Q5_0: as Q4_0 with a fifth bit per element in qh (bit j of the
 * little-endian 32-bit word), value = d * (q - 16). */
typedef struct gm_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[GM_QK5_0 / 2];
} gm_block_q5_0;

/* Q8_0: value = d * qs[j]. */
typedef struct gm_block_q8_0 {
    uint16_t d;
    int8_t qs[GM_QK8_0];
} gm_block_q8_0;

/* Q4_K: 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in
 * scales[12]; value = d * sc * q - dmin * m. */
typedef struct gm_block_q4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[GM_K_SCALE_SIZE];
    uint8_t qs[GM_QK_K / 2];
} gm_block_q4_K;

/* Q5_K: as Q4_K plus one high bit per element in qh. */
typedef struct gm_block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[GM_K_SCALE_SIZE];
    uint8_t qh[GM_QK_K / 8];
    uint8_t qs[GM_QK_K / 2];
} gm_block_q5_K;

/* Q6_K: 16 sub-blocks of 16, int8 scale each; value = d * sc * (q - 32). */
typedef struct gm_block_q6_K {
    uint8_t ql[GM_QK_K / 2];
    uint8_t qh[GM_QK_K / 4];
    int8_t scales[GM_QK_K / 16];
    uint16_t d;
} gm_block_q6_K;

/* Q8_K: the activation format of the K-quant dot products; f32 scale and
 * the sums of each group of 16 quants. */
typedef struct gm_block_q8_K {
    float d;
    int8_t qs[GM_QK_K];
    int16_t bsums[GM_QK_K / 16];
} gm_block_q8_K;

_Static_assert(sizeof(gm_block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(gm_block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(gm_block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(gm_block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(gm_block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(gm_block_q6_K) == 210, "q6_K block size");
_Static_assert(sizeof(gm_block_q8_K) == 292, "q8_K block size");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static inline void gm_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

#endif
