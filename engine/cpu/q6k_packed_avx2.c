/*
 * engine/cpu/q6k_packed_avx2.c -- the AVX2 kernel for Q6_K matrices
 * repacked into 16-row groups (the layout of q6k_packed.h; one packed copy
 * serves the AVX2 and the AVX-512 paths).
 *
 * Each 64-byte line of a packed block is read as two 32-byte halves, rows
 * 0..7 and rows 8..15, one row per 32-bit lane. Per half, per sub-block j
 * and per vector: _mm256_maddubs_epi16 of the unsigned 6-bit values and 4
 * broadcast activation bytes gives exact int16 pair sums (|p| <= 2 * 63 *
 * 128 = 16128), two lines' of them are added before widening (<= 32256),
 * and _mm256_madd_epi16 with the rows' scale of sub-block j (the same
 * int16 twice per 32-bit lane) gives int32. The offset 32 of every value,
 * -32 * sum_j scale_j * bsum_j, is taken from the vector's bsums, also in
 * int32. The block sum is thus exact, and the f32 step per block is the
 * one of the AVX-512 kernels (q6k_packed.c, dot_avx512_body.h):
 * acc = fma(d_w * d_x, float(sum), acc), so every path gives the same bits.
 *
 * Compiled with target attributes (the build does not need -mavx2); used
 * only where the CPU has AVX2, FMA and F16C (gm_q6k_packed_supported).
 */
#include <stdbool.h>
#include <string.h>

#include "engine/cpu/q6k_packed.h"
#include "engine/quant/blocks.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define GM_T_Q6A __attribute__((target("avx2,fma,f16c")))
#define GM_Q6A_UNROLL _Pragma("GCC unroll 8")

/* Vectors whose accumulators live on the stack in one pass over the
 * blocks, and vectors per step inside a block (registers: 4 decoded lines,
 * the scales, one int32 sum per vector and temporaries; 6 and 8 measured
 * slower). */
#define GM_Q6A_PASS 64
#define GM_Q6A_STEP 4

/* Byte offsets inside one packed block (q6k_packed.h). */
#define GM_Q6A_D 0   /* uint16_t d[16] */
#define GM_Q6A_SC 32 /* int8_t sc[16][16]: sub-block j, row r at 16 j + r */
#define GM_Q6A_Q 320 /* line 3 (8h + g) + k of the line triples */

/* 4 activation bytes read as one int32 to broadcast. */
typedef int32_t gm_q6a_i32u __attribute__((aligned(1), may_alias));

/* The int8 scales of sub-block j of 8 rows (at sc) as int16, each twice:
 * lane r of the 32-bit lanes holds (sc[r], sc[r]). (16-byte loads of
 * which 8 bytes are used: they stay inside the block, and the compiler
 * takes them as operands instead of going through the stack.) */
GM_T_Q6A __attribute__((always_inline)) static inline __m256i gm_q6a_scales2(const int8_t *sc)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)sc);
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(b, b));
}

/* The scales of sub-blocks j and j + 1 of 8 rows as int16 pairs: lane r
 * holds (sc_j[r], sc_j+1[r]). */
GM_T_Q6A __attribute__((always_inline)) static inline __m256i gm_q6a_scale_pairs(const int8_t *sc_j)
{
    const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)sc_j);
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(sc_j + 16));
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b));
}

/* Quarter 3 of a line triple's half (a, b, c): bits 6-7 of a, b and c
 * as its bits 0-1, 2-3 and 4-5 (the 16-bit shifts bring neighbour bits
 * along, which the masks clear). */
GM_T_Q6A __attribute__((always_inline)) static inline __m256i gm_q6a_top(__m256i a, __m256i b,
                                                                        __m256i c)
{
    const __m256i m03 = _mm256_set1_epi8(0x03);
    const __m256i m0c = _mm256_set1_epi8(0x0C);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    return _mm256_or_si256(
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 6), m03),
                        _mm256_and_si256(_mm256_srli_epi16(b, 4), m0c)),
        _mm256_and_si256(_mm256_srli_epi16(c, 2), m30));
}

/* The 6-bit values of quarter q of lines (one half of a line triple, 8
 * rows): element 128h + 32q + 4g + k of row r is byte k of lane r. Lines
 * 0..2 hold quarters 0..2 in their low 6 bits and quarter 3's bits 0-1,
 * 2-3 and 4-5 in their bits 6-7 (q6k_packed.h). */
GM_T_Q6A __attribute__((always_inline)) static inline __m256i gm_q6a_decode(const uint8_t *lines,
                                                                           const int q)
{
    const __m256i m3f = _mm256_set1_epi8(0x3F);
    if (q < 3)
        return _mm256_and_si256(_mm256_load_si256((const __m256i *)(const void *)(lines + 64 * q)),
                                m3f);
    const __m256i a = _mm256_load_si256((const __m256i *)(const void *)lines);
    const __m256i b = _mm256_load_si256((const __m256i *)(const void *)(lines + 64));
    const __m256i c = _mm256_load_si256((const __m256i *)(const void *)(lines + 128));
    return gm_q6a_top(a, b, c);
}

/* One packed block decoded for several steps of vectors: the 6-bit values
 * of line g = 4s + k of sub-block j = 8h + 2q + s of half `half` (rows
 * 8 half ..), as gm_q6a_decode gives them, in e[half][j][k]; the rows'
 * scales of sub-block j as gm_q6a_scales2 gives them in s2[half][j]; the
 * scale pairs of sub-blocks 2p, 2p + 1 as gm_q6a_scale_pairs gives them
 * in pr[half][p]. */
typedef struct gm_q6a_dec {
    __m256i e[2][16][4];
    __m256i s2[2][16];
    __m256i pr[2][8];
} gm_q6a_dec;

GM_T_Q6A static void gm_q6a_decode_block(const uint8_t *pb, gm_q6a_dec *dec)
{
    for (int half = 0; half < 2; half++) {
        const int8_t *sc = (const int8_t *)(const void *)(pb + GM_Q6A_SC + 8 * half);
        GM_Q6A_UNROLL
        for (int h = 0; h < 2; h++)
            GM_Q6A_UNROLL
            for (int q = 0; q < 4; q++)
                GM_Q6A_UNROLL
                for (int s = 0; s < 2; s++)
                    GM_Q6A_UNROLL
                    for (int k = 0; k < 4; k++)
                        dec->e[half][8 * h + 2 * q + s][k] = gm_q6a_decode(
                            pb + GM_Q6A_Q + 64 * 3 * (8 * h + 4 * s + k) + 32 * half, q);
        GM_Q6A_UNROLL
        for (int j = 0; j < 16; j++)
            dec->s2[half][j] = gm_q6a_scales2(sc + 16 * j);
        GM_Q6A_UNROLL
        for (int p = 0; p < 8; p++)
            dec->pr[half][p] = gm_q6a_scale_pairs(sc + 32 * p);
    }
}

/* V vectors (blocks yb[v]) against rows 8 half .. 8 half + 7 of one packed
 * block: acc[v][8 half + r] takes its f32 step. The weights are decoded
 * here from the block at pb, or, with from_dec, read from dec (the same
 * values). */
GM_T_Q6A __attribute__((always_inline)) static inline void
gm_q6a_half_vecs(const uint8_t *pb, const gm_q6a_dec *dec, const int from_dec, const int half,
                 const gm_block_q8_K *const *yb, float (*acc)[16], const int V)
{
    const int8_t *sc = (const int8_t *)(const void *)(pb + GM_Q6A_SC + 8 * half);
    __m256i sumi[GM_Q6A_STEP];
    /* the offset: -32 * sum_j sc_j * bsum_j, from pairs of sub-blocks */
    GM_Q6A_UNROLL
    for (int v = 0; v < V; v++)
        sumi[v] = _mm256_setzero_si256();
    GM_Q6A_UNROLL
    for (int j = 0; j < 16; j += 2) {
        const __m256i pairs = from_dec ? dec->pr[half][j / 2] : gm_q6a_scale_pairs(sc + 16 * j);
        GM_Q6A_UNROLL
        for (int v = 0; v < V; v++) {
            const __m256i bs = _mm256_set1_epi32(*(const gm_q6a_i32u *)(yb[v]->bsums + j));
            sumi[v] = _mm256_add_epi32(sumi[v], _mm256_madd_epi16(pairs, bs));
            __asm__("" : "+x"(sumi[v])); /* as below */
        }
    }
    GM_Q6A_UNROLL
    for (int v = 0; v < V; v++)
        sumi[v] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sumi[v], 5));
    /* sub-block j = 8h + 2q + s holds lines g = 4s .. 4s + 3 of quarter q */
    GM_Q6A_UNROLL
    for (int h = 0; h < 2; h++)
        GM_Q6A_UNROLL
        for (int q = 0; q < 4; q++)
            GM_Q6A_UNROLL
            for (int s = 0; s < 2; s++) {
                const int j = 8 * h + 2 * q + s;
                __m256i e[4];
                GM_Q6A_UNROLL
                for (int k = 0; k < 4; k++)
                    e[k] = from_dec ? dec->e[half][j][k]
                                    : gm_q6a_decode(pb + GM_Q6A_Q + 64 * 3 * (8 * h + 4 * s + k) +
                                                        32 * half,
                                                    q);
                const __m256i scj = from_dec ? dec->s2[half][j] : gm_q6a_scales2(sc + 16 * j);
                GM_Q6A_UNROLL
                for (int v = 0; v < V; v++) {
                    const int8_t *x = yb[v]->qs + 128 * h + 32 * q + 16 * s;
                    __m256i t[2];
                    GM_Q6A_UNROLL
                    for (int k = 0; k < 2; k++) {
                        const __m256i x0 = _mm256_set1_epi32(*(const gm_q6a_i32u *)(x + 8 * k));
                        const __m256i x1 =
                            _mm256_set1_epi32(*(const gm_q6a_i32u *)(x + 8 * k + 4));
                        t[k] = _mm256_add_epi16(_mm256_maddubs_epi16(e[2 * k], x0),
                                                _mm256_maddubs_epi16(e[2 * k + 1], x1));
                    }
                    sumi[v] = _mm256_add_epi32(
                        sumi[v], _mm256_add_epi32(_mm256_madd_epi16(t[0], scj),
                                                  _mm256_madd_epi16(t[1], scj)));
                    /* keeps the sums in registers, sub-block after
                     * sub-block (else the compiler regroups the integer
                     * additions over the whole block and spills) */
                    __asm__("" : "+x"(sumi[v]));
                }
            }
    const __m256 d = _mm256_cvtph_ps(
        _mm_load_si128((const __m128i *)(const void *)(pb + GM_Q6A_D + 16 * half)));
    GM_Q6A_UNROLL
    for (int v = 0; v < V; v++) {
        float *a = acc[v] + 8 * half;
        const __m256 yd = _mm256_set1_ps(yb[v]->d);
        _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[v]),
                                           _mm256_load_ps(a)));
    }
}

/* One vector (block yb) against one packed block of 16 rows: acc[r]
 * takes its f32 step. The block is read in memory order, once per half
 * (rows 0..7, then rows 8..15; the second pass finds the lines in L1):
 * each line triple is loaded once and its 4 quarters decoded together
 * (3 loads, 3 masks for quarters 0..2, gm_q6a_top for quarter 3), each
 * quarter going to its own sub-block j = 8h + 2q + s. The
 * int32 sums are the exact ones of gm_q6a_half_vecs (only the order of
 * the integer additions differs), so the outputs keep their bits. Single
 * thread in L1 (1536 columns): 275 -> 215 TSC cycles per block. */
GM_T_Q6A __attribute__((noinline)) static void gm_q6a_block_one(const uint8_t *pb,
                                                              const gm_block_q8_K *yb,
                                                              float (*acc)[16])
{
    const __m256i m3f = _mm256_set1_epi8(0x3F);
    const int8_t *sc = (const int8_t *)(const void *)(pb + GM_Q6A_SC);
    __m256i sumi[2];
    sumi[0] = _mm256_setzero_si256();
    sumi[1] = _mm256_setzero_si256();
    /* the offset: -32 * sum_j sc_j * bsum_j, from pairs of sub-blocks; the
     * two 16-byte loads hold the scales of both halves */
    GM_Q6A_UNROLL
    for (int j = 0; j < 16; j += 2) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(sc + 16 * j));
        const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(sc + 16 * j + 16));
        const __m256i bs = _mm256_set1_epi32(*(const gm_q6a_i32u *)(yb->bsums + j));
        sumi[0] = _mm256_add_epi32(
            sumi[0], _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b)), bs));
        sumi[1] = _mm256_add_epi32(
            sumi[1], _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpackhi_epi8(a, b)), bs));
        __asm__("" : "+x"(sumi[0]), "+x"(sumi[1]));
    }
    /* the rows' scales of sub-block j as int16, each twice per 32-bit lane
     * (rows 8 half ..), kept on the stack: read as memory operands */
    __m256i s2[2][16];
    GM_Q6A_UNROLL
    for (int j = 0; j < 16; j++) {
        const __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(sc + 16 * j));
        s2[0][j] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(c, c));
        s2[1][j] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(c, c));
    }
    sumi[0] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sumi[0], 5));
    sumi[1] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sumi[1], 5));
    GM_Q6A_UNROLL
    for (int half = 0; half < 2; half++)
        GM_Q6A_UNROLL
        for (int h = 0; h < 2; h++)
            GM_Q6A_UNROLL
            for (int s = 0; s < 2; s++) {
                /* the activations read anew in each (half, h, s): the
                 * compiler would otherwise keep their broadcasts from the
                 * first half for the second and spill them */
                const int8_t *xs = yb->qs;
                __asm__ volatile("" : "+r"(xs));
                GM_Q6A_UNROLL
                for (int gp = 0; gp < 2; gp++) {
                    /* p[q]: int16 pair sums of lines g = 4s + 2gp, + 1 of
                     * quarter q (<= 2 * 2 * 63 * 128 = 32256) */
                    __m256i p[4];
                    GM_Q6A_UNROLL
                    for (int gg = 0; gg < 2; gg++) {
                        const int g = 4 * s + 2 * gp + gg;
                        const uint8_t *lines = pb + GM_Q6A_Q + 64 * 3 * (8 * h + g) + 32 * half;
                        const __m256i a = _mm256_load_si256((const __m256i *)(const void *)lines);
                        const __m256i b =
                            _mm256_load_si256((const __m256i *)(const void *)(lines + 64));
                        const __m256i c =
                            _mm256_load_si256((const __m256i *)(const void *)(lines + 128));
                        __m256i e[4];
                        e[0] = _mm256_and_si256(a, m3f);
                        e[1] = _mm256_and_si256(b, m3f);
                        e[2] = _mm256_and_si256(c, m3f);
                        e[3] = gm_q6a_top(a, b, c);
                        GM_Q6A_UNROLL
                        for (int q = 0; q < 4; q++) {
                            const __m256i x = _mm256_set1_epi32(
                                *(const gm_q6a_i32u *)(xs + 128 * h + 32 * q + 4 * g));
                            const __m256i m = _mm256_maddubs_epi16(e[q], x);
                            p[q] = gg == 0 ? m : _mm256_add_epi16(p[q], m);
                        }
                    }
                    GM_Q6A_UNROLL
                    for (int q = 0; q < 4; q++) {
                        sumi[half] = _mm256_add_epi32(
                            sumi[half], _mm256_madd_epi16(p[q], s2[half][8 * h + 2 * q + s]));
                        __asm__("" : "+x"(sumi[half])); /* as in gm_q6a_half_vecs */
                    }
                }
            }
    const __m256 yd = _mm256_set1_ps(yb->d);
    GM_Q6A_UNROLL
    for (int half = 0; half < 2; half++) {
        const __m256 d = _mm256_cvtph_ps(
            _mm_load_si128((const __m128i *)(const void *)(pb + GM_Q6A_D + 16 * half)));
        float *a = acc[0] + 8 * half;
        _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[half]),
                                           _mm256_load_ps(a)));
    }
}

/* gm_q6a_half_vecs for both halves and 1..GM_Q6A_STEP vectors, decoding
 * the block or reading it decoded, as
 * functions of their own (inlined into the loop below, the decoding would
 * be hoisted and spilled). */
#define GM_Q6A_FN(nv)                                                                              \
    GM_T_Q6A __attribute__((noinline)) static void gm_q6a_block_##nv(                              \
        const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16])                       \
    {                                                                                              \
        gm_q6a_half_vecs(pb, NULL, 0, 0, yb, acc, nv);                                             \
        gm_q6a_half_vecs(pb, NULL, 0, 1, yb, acc, nv);                                             \
    }
#define GM_Q6A_DFN(nv)                                                                             \
    GM_T_Q6A __attribute__((noinline)) static void gm_q6a_dblock_##nv(                             \
        const uint8_t *pb, const gm_q6a_dec *dec, const gm_block_q8_K *const *yb,                  \
        float (*acc)[16])                                                                          \
    {                                                                                              \
        gm_q6a_half_vecs(pb, dec, 1, 0, yb, acc, nv);                                              \
        gm_q6a_half_vecs(pb, dec, 1, 1, yb, acc, nv);                                              \
    }
GM_Q6A_DFN(1)
GM_Q6A_FN(2)
GM_Q6A_DFN(2)
GM_Q6A_FN(3)
GM_Q6A_DFN(3)
GM_Q6A_FN(4)
GM_Q6A_DFN(4)
#undef GM_Q6A_DFN
#undef GM_Q6A_FN

#define GM_Q6A_CASE(nv)                                                                            \
    case nv:                                                                                       \
        if (decoded)                                                                               \
            gm_q6a_dblock_##nv(pb, &dec, yb, acc + v);                                             \
        else                                                                                       \
            gm_q6a_block_##nv(pb, yb, acc + v);                                                    \
        break;

GM_T_Q6A void gm_q6k_packed_group_avx2(const uint8_t *g, uint64_t nb, const uint8_t *xq,
                                       size_t x_stride, uint32_t n_vec, int r0, int r1, float *out,
                                       size_t out_stride)
{
    _Alignas(32) float acc[GM_Q6A_PASS][16];
    gm_q6a_dec dec;
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_Q6A_PASS) {
        const uint32_t nv = n_vec - v0 < GM_Q6A_PASS ? n_vec - v0 : GM_Q6A_PASS;
        memset(acc, 0, sizeof(float) * 16 * nv);
        for (uint64_t i = 0; i < nb; i++) {
            const uint8_t *pb = g + (size_t)i * GM_Q6K_PACKED_BLOCK_BYTES;
            /* more than one vector: the kernel reads a block's lines out
             * of order (both halves, sub-block by sub-block); asking for
             * them first in memory order keeps the weights one sequential
             * stream for the hardware prefetchers (from memory: 6.0 -> 3.3
             * cpu-ms; prefetching blocks further ahead measured slower).
             * One vector (gm_q6a_block_one) reads the block in memory
             * order itself, and runs faster without the prefetches (one
             * thread from memory, 1536 columns: 410 -> 370 TSC cycles per
             * block) */
            if (v0 == 0 && nv > 1)
                for (int l = 0; l < GM_Q6K_PACKED_BLOCK_BYTES / 64; l++)
                    _mm_prefetch((const char *)pb + 64 * l, _MM_HINT_T0);
            /* more than one step of vectors: the block decoded once
             * (N=64 in cache: 21 -> 16 cpu-ms) */
            const bool decoded = nv > GM_Q6A_STEP;
            if (decoded)
                gm_q6a_decode_block(pb, &dec);
            for (uint32_t v = 0; v < nv; v += GM_Q6A_STEP) {
                const gm_block_q8_K *yb[GM_Q6A_STEP];
                const uint32_t gv = nv - v < GM_Q6A_STEP ? nv - v : GM_Q6A_STEP;
                for (uint32_t k = 0; k < gv; k++)
                    yb[k] = (const gm_block_q8_K *)(const void *)(xq + (size_t)(v0 + v + k) *
                                                                           x_stride) + i;
                switch (gv) {
                case 1:
                    if (decoded)
                        gm_q6a_dblock_1(pb, &dec, yb, acc + v);
                    else
                        gm_q6a_block_one(pb, yb[0], acc + v);
                    break;
                    GM_Q6A_CASE(2)
                    GM_Q6A_CASE(3)
                    GM_Q6A_CASE(4)
                default:
                    break;
                }
            }
        }
        for (uint32_t v = 0; v < nv; v++)
            for (int r = r0; r < r1; r++)
                out[(size_t)(v0 + v) * out_stride + (size_t)(r - r0)] = acc[v][r];
    }
}

#undef GM_Q6A_CASE

#else /* no x86-64 kernels in this build */

void gm_q6k_packed_group_avx2(const uint8_t *g, uint64_t nb, const uint8_t *xq, size_t x_stride,
                              uint32_t n_vec, int r0, int r1, float *out, size_t out_stride)
{
    (void)g, (void)nb, (void)xq, (void)x_stride, (void)n_vec, (void)r0, (void)r1, (void)out,
        (void)out_stride;
}

#endif
