/*
 * engine/cpu/q4k_packed_avx2.c -- the AVX2 block kernels of the packed
 * Q4_K layout (q4k_packed.h, q4k_packed_kernels.h): the same packed copy
 * the AVX-512 VNNI kernels read, the same bits.
 *
 * Each 64-byte line of a packed block is taken as two 32-byte halves, rows
 * 0..7 and rows 8..15 (one row per 32-bit lane). For line 8p + g and one
 * vector, vpmaddubsw of the line's nibbles with the vector's 4 activation
 * bytes broadcast gives, per row, two exact int16 sums of 2 products
 * (|sum| <= 2 * 15 * 128); the 8 lines of a sub-block are added as int16
 * (8 * 3840 = 30720 < 32768: still exact), and one vpmaddwd with the
 * rows' sub-block scale in both int16 of the lane gives the int32
 * scale x (weights . activations) of that sub-block. The mins are one
 * vpmaddwd per pair of sub-blocks: the rows' two mins against the
 * vector's two sub-block sums. Then the f32 steps of q4k_packed_kernels.h,
 * lane by lane as the AVX-512 kernel takes them.
 *
 * Compiled per function with target attributes; used only on CPUs with
 * AVX2, FMA and F16C (q4k_packed.c decides).
 */
#include <stddef.h>

#include "engine/cpu/q4k_packed_kernels.h"
#include "engine/quant/blocks.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define GM_T_QP2 __attribute__((target("avx2,fma,f16c")))
#define GM_QP2_UNROLL _Pragma("GCC unroll 8")

/* Vectors per call (the sums take 3 ymm registers a vector, beside the
 * decoded line and the broadcasts). 4 measured best (kernels-bench, 1
 * thread, 1 MB of weights in cache, 1536 columns, best CPU ms per call
 * with 2 / 3 / 4 vectors a step: 4 vectors 0.096 / 0.091 / 0.088, 8
 * vectors 0.187 / 0.181 / 0.174, 64 vectors 1.44 / 1.30 / 1.26). */
#define GM_QP2_STEP 4

/* The sum so far, kept in a register in this order: without it the
 * compiler reassociates the chains of int16 adds into trees over all the
 * block's products, whose operands then spill to the stack. */
#define GM_QP2_KEEP(x) __asm__("" : "+x"(x))

/* 4 activation bytes read as one int32 to broadcast. */
typedef int32_t gm_qp2_i32u __attribute__((aligned(1), may_alias));

/* The rows' sub-block scales sc[j][8h..8h+7], each in both int16 of its
 * 32-bit lane. */
GM_T_QP2 static inline __m256i gm_qp2_scales(const uint8_t *pb, int j, int h)
{
    const __m128i b =
        _mm_loadl_epi64((const __m128i *)(const void *)(pb + GM_QP_SC + 16 * j + 8 * h));
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(b, b));
}

/* The rows' mins of sub-blocks 2k and 2k + 1, mn[k][8h..8h+7][2], as the
 * two int16 of each row's 32-bit lane. */
GM_T_QP2 static inline __m256i gm_qp2_mins(const uint8_t *pb, int k, int h)
{
    return _mm256_cvtepu8_epi16(
        _mm_load_si128((const __m128i *)(const void *)(pb + GM_QP_MN + 32 * k + 16 * h)));
}

/* V vectors (blocks yb[v]) against one packed block; acc[v][r] and
 * acc_m[v][r] take their f32 steps. One vector takes both halves of each
 * line in one pass (each activation broadcast serves 16 rows); several
 * vectors take one half (rows 8h..8h+7) per pass, so that their sums stay
 * in registers. */
GM_T_QP2 __attribute__((always_inline)) static inline void
gm_qp2_block_vecs(const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16],
                  float (*acc_m)[16], const int V)
{
    const int HP = V == 1 ? 2 : 1; /* halves per pass */
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    GM_QP2_UNROLL
    for (int h0 = 0; h0 < 2; h0 += HP) {
        __m256i sumi[2][GM_QP2_STEP];
        GM_QP2_UNROLL
        for (int hh = 0; hh < HP; hh++)
            GM_QP2_UNROLL
        for (int v = 0; v < V; v++)
            sumi[hh][v] = _mm256_setzero_si256();
        GM_QP2_UNROLL
        for (int p = 0; p < 4; p++) {
            __m256i slo[2][GM_QP2_STEP], shi[2][GM_QP2_STEP];
            GM_QP2_UNROLL
            for (int hh = 0; hh < HP; hh++)
                GM_QP2_UNROLL
            for (int v = 0; v < V; v++)
                slo[hh][v] = shi[hh][v] = _mm256_setzero_si256();
            GM_QP2_UNROLL
            for (int g = 0; g < 8; g++) {
                __m256i lo[2], hi[2];
                GM_QP2_UNROLL
                for (int hh = 0; hh < HP; hh++) {
                    const __m256i line = _mm256_load_si256(
                        (const __m256i *)(const void *)(pb + GM_QP_QS + 64 * (8 * p + g) +
                                                        32 * (h0 + hh)));
                    lo[hh] = _mm256_and_si256(line, m4);
                    hi[hh] = _mm256_and_si256(_mm256_srli_epi16(line, 4), m4);
                }
                GM_QP2_UNROLL
                for (int v = 0; v < V; v++) {
                    const int8_t *q = yb[v]->qs + 64 * p + 4 * g;
                    const __m256i y_lo = _mm256_set1_epi32(*(const gm_qp2_i32u *)q);
                    const __m256i y_hi = _mm256_set1_epi32(*(const gm_qp2_i32u *)(q + 32));
                    GM_QP2_UNROLL
                    for (int hh = 0; hh < HP; hh++) {
                        slo[hh][v] =
                            _mm256_add_epi16(slo[hh][v], _mm256_maddubs_epi16(lo[hh], y_lo));
                        shi[hh][v] =
                            _mm256_add_epi16(shi[hh][v], _mm256_maddubs_epi16(hi[hh], y_hi));
                        GM_QP2_KEEP(slo[hh][v]);
                        GM_QP2_KEEP(shi[hh][v]);
                    }
                }
            }
            GM_QP2_UNROLL
            for (int hh = 0; hh < HP; hh++) {
                const __m256i sc_lo = gm_qp2_scales(pb, 2 * p, h0 + hh);
                const __m256i sc_hi = gm_qp2_scales(pb, 2 * p + 1, h0 + hh);
                GM_QP2_UNROLL
                for (int v = 0; v < V; v++) {
                    sumi[hh][v] = _mm256_add_epi32(
                        sumi[hh][v], _mm256_add_epi32(_mm256_madd_epi16(slo[hh][v], sc_lo),
                                                      _mm256_madd_epi16(shi[hh][v], sc_hi)));
                    GM_QP2_KEEP(sumi[hh][v]);
                }
            }
        }
        GM_QP2_UNROLL
        for (int hh = 0; hh < HP; hh++) {
            const int h = h0 + hh;
            const __m256 d = _mm256_cvtph_ps(
                _mm_load_si128((const __m128i *)(const void *)(pb + GM_QP_D + 16 * h)));
            const __m256 dmin = _mm256_cvtph_ps(
                _mm_load_si128((const __m128i *)(const void *)(pb + GM_QP_DMIN + 16 * h)));
            GM_QP2_UNROLL
            for (int v = 0; v < V; v++) {
                /* lane r: mins of sub-blocks 2k, 2k + 1 (int16 pair) against
                 * the vector's sums of those two sub-blocks (int16 pairs) */
                const __m128i pairs = _mm_hadd_epi16(
                    _mm_loadu_si128((const __m128i *)(const void *)yb[v]->bsums),
                    _mm_loadu_si128((const __m128i *)(const void *)(yb[v]->bsums + 8)));
                const __m256i pv = _mm256_broadcastsi128_si256(pairs);
                const __m256i pk[4] = {
                    _mm256_shuffle_epi32(pv, 0x00), _mm256_shuffle_epi32(pv, 0x55),
                    _mm256_shuffle_epi32(pv, 0xAA), _mm256_shuffle_epi32(pv, 0xFF)};
                __m256i msum = _mm256_setzero_si256();
                GM_QP2_UNROLL
                for (int k = 0; k < 4; k++)
                    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(gm_qp2_mins(pb, k, h), pk[k]));
                const __m256 yd = _mm256_set1_ps(yb[v]->d);
                float *a = acc[v] + 8 * h, *am = acc_m[v] + 8 * h;
                _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(d, yd),
                                                   _mm256_cvtepi32_ps(sumi[hh][v]),
                                                   _mm256_load_ps(a)));
                _mm256_store_ps(am, _mm256_fmadd_ps(_mm256_mul_ps(dmin, yd),
                                                    _mm256_cvtepi32_ps(msum), _mm256_load_ps(am)));
            }
        }
    }
}

/* gm_qp2_block_vecs for 1..4 vectors as functions of their own (inlined
 * into the loop over vector groups, the block's decoding would be hoisted
 * out of it and spilled). */
#define GM_QP2_FN(nv)                                                                              \
    GM_T_QP2 __attribute__((noinline)) static void gm_qp2_block_##nv(                              \
        const uint8_t *pb, const gm_block_q8_K *const *yb, float(*acc)[16], float(*acc_m)[16])     \
    {                                                                                              \
        gm_qp2_block_vecs(pb, yb, acc, acc_m, nv);                                                 \
    }
GM_QP2_FN(1)
GM_QP2_FN(2)
GM_QP2_FN(3)
GM_QP2_FN(4)
#undef GM_QP2_FN
_Static_assert(GM_QP2_STEP == 4, "one block function per vector count up to the step");

const gm_q4k_block_kernels gm_q4k_block_kernels_avx2 = {
    GM_QP2_STEP, {gm_qp2_block_1, gm_qp2_block_2, gm_qp2_block_3, gm_qp2_block_4}};

#else /* no x86-64: never used (no CPU path runs packed Q4_K) */

const gm_q4k_block_kernels gm_q4k_block_kernels_avx2 = {0, {NULL, NULL, NULL, NULL}};

#endif
