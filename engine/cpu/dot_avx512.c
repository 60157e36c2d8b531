/*
 * engine/cpu/dot_avx512.c -- AVX-512 versions of the dot products of the
 * formats in Gemma 4 E2B/E4B files (Q8_0, Q4_K, Q6_K), compiled per
 * function with target attributes (the build needs no -mavx512*, and the
 * binary still runs on AVX2-only CPUs) and used only when the CPU reports
 * AVX-512 F, BW and VL; a second copy uses AVX512-VNNI where present.
 *
 * The arithmetic is ggml's: exact integer sums inside each block, scaled
 * per block in f32. Per 512-bit step the kernels cover two Q8_0 blocks or
 * 64 K-quant elements (half the instructions of the AVX2 kernels). The f32
 * accumulation order differs from the scalar kernels (tests/unit/
 * test_kernels.c checks them against the scalar reference); for Q8_0 it is
 * the AVX2 kernels' (one f32 step per block into lane i % 8), so the two
 * paths give Q8_0 the same bits.
 * Formats without an AVX-512 kernel here use the AVX2 one on this path.
 * Q4_0 among them: a 512-bit Q4_0 kernel (two blocks per step) needs as
 * many instructions as the AVX2 one to reorder the nibbles and build the
 * two block scales, and measured about 18% slower on AMD Zen 4 (which
 * runs 512-bit operations as two 256-bit halves), so it was dropped.
 *
 * For several vectors (dot.h's tiles) each format has tile kernels of 1..4
 * vectors (Q8_0 also 4 rows high), the one-vector dot being the 1 x 1
 * tile, so a row and vector get the same bits in any batch. Q8_0 has a
 * 16-row panel for batches (weights transposed so that lanes are rows;
 * with and without VNNI). Q4_K has two more kernels: for 16 or more vectors a 16-row panel (VNNI) with the rows'
 * weights unpacked into quad-major order, one row per 32-bit lane; below
 * that a 4-row kernel reading whole rows in turn. All Q4_K kernels here
 * take one f32 step per block on the exact integer block sums (as ggml's
 * repacked Q4_K gemm does), which makes their bits independent of how the
 * integer work is laid out in lanes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/dot.h"
#include "engine/quant/blocks.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GM_HAVE_AVX512_KERNELS 1

#include <immintrin.h>

#define GM_T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define GM_T_AVX512_VNNI                                                                           \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* Fully unroll the small loops over vectors, sub-blocks and halves, so the
 * per-vector accumulators and decoded weights stay in registers. */
#define GM_UNROLL _Pragma("GCC unroll 8")

GM_T_AVX512 static inline float gm_h2f5(uint16_t h)
{
    return _cvtsh_ss(h);
}

GM_T_AVX512 static inline float gm_hsum256_5(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* fma(a, b, c) with one rounding, as the vector fmadd does it per lane. */
GM_T_AVX512 static inline float gm_fma5(float a, float b, float c)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

/* Blocks whose Q4_K integer sums are added up together (lanes of one zmm). */
#define GM_K4_GROUP 16
/* Blocks of a row the 4-row Q4_K kernel takes at once (rows up to 16384
 * columns in one go; longer ones in parts). */
#define GM_R4_MAX_BLOCKS 64

/* The 4 lane sums of 4 rows of 4 int32: lane r of the result is the sum of
 * row r (exact). */
GM_T_AVX512 static inline __m128i gm_sum4x4_epi32(const int32_t (*rows)[4])
{
    const __m128i a = _mm_load_si128((const __m128i *)rows[0]);
    const __m128i b = _mm_load_si128((const __m128i *)rows[1]);
    const __m128i c = _mm_load_si128((const __m128i *)rows[2]);
    const __m128i d = _mm_load_si128((const __m128i *)rows[3]);
    /* [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d */
    const __m128i ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    const __m128i cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
    return _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
}

/* The 16 lane sums of 16 rows of 16 int32: lane b of the result is the sum
 * of row b (a transposing add tree, exact). */
GM_T_AVX512 static inline __m512i gm_sum16x16_epi32(const int32_t (*rows)[16])
{
    __m512i l1[8], l2[4], l3[2];
    for (int k = 0; k < 8; k++) {
        const __m512i a = _mm512_load_si512((const void *)rows[2 * k]);
        const __m512i b = _mm512_load_si512((const void *)rows[2 * k + 1]);
        /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] */
        l1[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    }
    for (int k = 0; k < 4; k++) /* per 128-bit lane: one sum each of rows 4k..4k+3 */
        l2[k] = _mm512_add_epi32(_mm512_unpacklo_epi64(l1[2 * k], l1[2 * k + 1]),
                                 _mm512_unpackhi_epi64(l1[2 * k], l1[2 * k + 1]));
    for (int k = 0; k < 2; k++) /* 128-bit lanes: rows 8k..8k+3 halves, rows 8k+4.. halves */
        l3[k] = _mm512_add_epi32(_mm512_shuffle_i32x4(l2[2 * k], l2[2 * k + 1], 0x88),
                                 _mm512_shuffle_i32x4(l2[2 * k], l2[2 * k + 1], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(l3[0], l3[1], 0x88),
                            _mm512_shuffle_i32x4(l3[0], l3[1], 0xDD));
}

/* The same for 8 rows: lanes 0..7 of the result (the others are not sums). */
GM_T_AVX512 static inline __m512i gm_sum8x16_epi32(const int32_t (*rows)[16])
{
    __m512i l1[4], l2[2];
    for (int k = 0; k < 4; k++) {
        const __m512i a = _mm512_load_si512((const void *)rows[2 * k]);
        const __m512i b = _mm512_load_si512((const void *)rows[2 * k + 1]);
        l1[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    }
    for (int k = 0; k < 2; k++)
        l2[k] = _mm512_add_epi32(_mm512_unpacklo_epi64(l1[2 * k], l1[2 * k + 1]),
                                 _mm512_unpackhi_epi64(l1[2 * k], l1[2 * k + 1]));
    const __m512i l3 = _mm512_add_epi32(_mm512_shuffle_i32x4(l2[0], l2[1], 0x88),
                                        _mm512_shuffle_i32x4(l2[0], l2[1], 0xDD));
    /* 128-bit lanes of l3: rows 0-3 (two halves), rows 4-7 (two halves) */
    return _mm512_add_epi32(_mm512_shuffle_i32x4(l3, l3, 0x88), _mm512_shuffle_i32x4(l3, l3, 0xDD));
}

/* The same for 16 rows of 4 int32. */
GM_T_AVX512 static inline __m512i gm_sum16x4_epi32(const int32_t (*rows)[4])
{
    /* m[k]: rows 4k..4k+3, one per 128-bit lane (128-bit loads, as the rows
     * were stored: store forwarding serves them) */
    __m512i m[4], l1[2];
    for (int k = 0; k < 4; k++)
        m[k] = _mm512_inserti32x4(
            _mm512_inserti32x4(
                _mm512_inserti32x4(
                    _mm512_castsi128_si512(_mm_load_si128((const __m128i *)rows[4 * k])),
                    _mm_load_si128((const __m128i *)rows[4 * k + 1]), 1),
                _mm_load_si128((const __m128i *)rows[4 * k + 2]), 2),
            _mm_load_si128((const __m128i *)rows[4 * k + 3]), 3);
    for (int k = 0; k < 2; k++)
        l1[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(m[2 * k], m[2 * k + 1]),
                                 _mm512_unpackhi_epi32(m[2 * k], m[2 * k + 1]));
    /* lane 4q + k: the sum of row 4k + q */
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi64(l1[0], l1[1]),
                                       _mm512_unpackhi_epi64(l1[0], l1[1]));
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    return _mm512_permutexvar_epi32(order, t);
}

/* A zero the compiler cannot see (so a loop storing it does not become a
 * memset call). */
GM_T_AVX512 static inline __m512i gm_opaque_zero(void)
{
    __m512i z = _mm512_setzero_si512();
    __asm__("" : "+v"(z));
    return z;
}

/* The 8 six-bit scales and 8 mins of a Q4_K block (as gm_get_scale_min_k4). */
static inline void gm_k4_unpack5(const uint8_t packed[12], uint8_t sc[8], uint8_t mn[8])
{
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    uint32_t u[4];
    memcpy(u, packed, 12);
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = uaux;
    u[0] &= kmask1;
    memcpy(sc, &u[0], 8);
    memcpy(mn, &u[2], 8);
}

/* 4 int32 lanes whose sum is sum_j mn[j] * (bsums[2j] + bsums[2j+1]). */
GM_T_AVX512 static inline __m128i gm_k4_mins_dot5(const uint8_t mn[8], const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    const __m128i pairs = _mm_hadd_epi16(b0, b1);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    return _mm_madd_epi16(pairs, m16);
}

/* Prefetch `lines` cache lines of a weight row GM_PF_AHEAD bytes past p.
 * Only the Q4_K kernel does (measured faster from memory with it; for
 * Q8_0 and Q6_K the prefetch instructions cost more than they gained). */
#define GM_PF_AHEAD 2048
#define GM_PREFETCH(p, lines)                                                                      \
    do {                                                                                           \
        GM_UNROLL                                                                                  \
        for (int pf_ = 0; pf_ < (lines); pf_++)                                                    \
            _mm_prefetch((const char *)(p) + GM_PF_AHEAD + 64 * pf_, _MM_HINT_T0);                 \
    } while (0)

/* Weight rows per wide tile; tiles take 1..4 vectors. */
#define GM_TILE_R 4
#define GM_TILE_V 4

/* The Q4_K panel kernel (below), rows it computes at once. */
#define GM_PANEL_ROWS 16
GM_T_AVX512_VNNI static void gm_panel_q4_K_avx512vnni(uint64_t n, const void *w, size_t w_stride,
                                                      const void *xq, size_t x_stride,
                                                      uint32_t n_vec, float *out,
                                                      size_t out_stride);

/* The Q8_0 panel kernel (below), likewise. */
GM_T_AVX512_VNNI static void gm_panel_q8_0_avx512vnni(uint64_t n, const void *w, size_t w_stride,
                                                      const void *xq, size_t x_stride,
                                                      uint32_t n_vec, float *out,
                                                      size_t out_stride);

GM_T_AVX512 static void gm_panel_q8_0_avx512(uint64_t n, const void *w, size_t w_stride,
                                             const void *xq, size_t x_stride, uint32_t n_vec,
                                             float *out, size_t out_stride);

#define GM_T GM_T_AVX512
#define GM_N(name) name##_avx512
#define GM_VNNI 0
#include "engine/cpu/dot_avx512_body.h"
#undef GM_T
#undef GM_N
#undef GM_VNNI

#define GM_T GM_T_AVX512_VNNI
#define GM_N(name) name##_avx512vnni
#define GM_VNNI 1
#include "engine/cpu/dot_avx512_body.h"
#undef GM_T
#undef GM_N
#undef GM_VNNI

/* ---- the Q4_K panel: 16 rows x many vectors (VNNI) ----------------------------- */

/* For a batch of vectors, 16 weight rows at a time: each Q4_K block of the
 * 16 rows is unpacked once into "quad-major" order (wt[g] holds elements
 * 4g..4g+3 of every row, one row per 32-bit lane), so that one vpdpbusd
 * with 4 activation bytes broadcast computes 4 products for all 16 rows.
 * Per (row, vector, block) that is 4 instructions for the products against
 * about 20 in the tiles (whose lanes are elements of one row), and the
 * scales, mins and f32 steps are shared by 16 rows. The integer block sums
 * are the tiles' exactly, and so is every f32 step: same bits. */

/* Vectors per pass over the blocks (their accumulators live on the stack). */
#define GM_PANEL_PASS 64

/* 4 activation bytes read as one int32 to broadcast (a memory operand of
 * vpdpbusd). */
typedef int32_t gm_i32_unaligned __attribute__((aligned(1), may_alias));

/* One block of the 16 rows, unpacked. */
typedef struct gm_q4_K_panel_block {
    _Alignas(64) uint32_t wt[64][GM_PANEL_ROWS]; /* quad g of every row */
    _Alignas(64) int32_t sc[8][GM_PANEL_ROWS];   /* scale of sub-block j */
    _Alignas(64) int32_t mn[4][GM_PANEL_ROWS];   /* mins of sub-blocks 2k, 2k+1 as 2 x int16 */
    _Alignas(64) float d[GM_PANEL_ROWS];
    _Alignas(64) float dmin[GM_PANEL_ROWS];
} gm_q4_K_panel_block;

/* Transpose a 16 x 16 matrix of 32-bit values held one row per register:
 * afterwards m[c] holds column c (lane r = old row r). */
GM_T_AVX512 static inline void gm_transpose16x16_epi32(__m512i m[16])
{
    __m512i a[16], b[16];
    for (int k = 0; k < 8; k++) { /* per 128-bit lane: pairs of rows 2k, 2k+1 */
        a[2 * k] = _mm512_unpacklo_epi32(m[2 * k], m[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_epi32(m[2 * k], m[2 * k + 1]);
    }
    /* b[4q + j], 128-bit lane L: rows 4q..4q+3 of column 4L + j */
    for (int q = 0; q < 4; q++) {
        b[4 * q + 0] = _mm512_unpacklo_epi64(a[4 * q], a[4 * q + 2]);
        b[4 * q + 1] = _mm512_unpackhi_epi64(a[4 * q], a[4 * q + 2]);
        b[4 * q + 2] = _mm512_unpacklo_epi64(a[4 * q + 1], a[4 * q + 3]);
        b[4 * q + 3] = _mm512_unpackhi_epi64(a[4 * q + 1], a[4 * q + 3]);
    }
    /* column 4L + j: lane L of b[j], b[4 + j], b[8 + j], b[12 + j] */
    for (int j = 0; j < 4; j++) {
        const __m512i x0 = _mm512_shuffle_i32x4(b[j], b[4 + j], 0x44);
        const __m512i x1 = _mm512_shuffle_i32x4(b[j], b[4 + j], 0xEE);
        const __m512i x2 = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0x44);
        const __m512i x3 = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0xEE);
        m[j] = _mm512_shuffle_i32x4(x0, x2, 0x88);
        m[4 + j] = _mm512_shuffle_i32x4(x0, x2, 0xDD);
        m[8 + j] = _mm512_shuffle_i32x4(x1, x3, 0x88);
        m[12 + j] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
    }
}

GM_T_AVX512_VNNI static void gm_q4_K_panel_unpack(const uint8_t *w, size_t w_stride, uint64_t i,
                                                  gm_q4_K_panel_block *pb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const gm_block_q4_K *b[GM_PANEL_ROWS];
    for (int r = 0; r < GM_PANEL_ROWS; r++) {
        b[r] = (const gm_block_q4_K *)(w + (size_t)r * w_stride) + i;
        /* 16 rows read block by block are 16 streams, which the hardware
         * prefetchers follow poorly: ask for each row's data ahead */
        GM_PREFETCH(b[r], 3);
        uint8_t sc[8], mn[8];
        gm_k4_unpack5(b[r]->scales, sc, mn);
        for (int j = 0; j < 8; j++)
            pb->sc[j][r] = sc[j];
        for (int k = 0; k < 4; k++)
            pb->mn[k][r] = (int32_t)((uint32_t)mn[2 * k] | ((uint32_t)mn[2 * k + 1] << 16));
        pb->d[r] = gm_h2f5(b[r]->d);
        pb->dmin[r] = gm_h2f5(b[r]->dmin);
    }
    /* elements 64j..64j+63 (quads 16j..16j+15) of each row: the low nibbles
     * of qs[32j..32j+31], then their high nibbles; transposed so that quad
     * g of all 16 rows is one register */
    for (int j = 0; j < 4; j++) {
        __m512i m[GM_PANEL_ROWS];
        for (int r = 0; r < GM_PANEL_ROWS; r++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(b[r]->qs + 32 * j));
            m[r] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bits, m4)),
                                      _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), 1);
        }
        gm_transpose16x16_epi32(m);
        for (int g = 0; g < 16; g++)
            _mm512_store_si512((void *)pb->wt[16 * j + g], m[g]);
    }
}

/* V vectors (blocks yb[v]) against one unpacked block of the 16 rows:
 * acc[v][r] and acc_m[v][r] take their f32 steps. */
GM_T_AVX512_VNNI __attribute__((always_inline)) static inline void
gm_q4_K_panel_vecs(const gm_q4_K_panel_block *pb, const gm_block_q8_K *const *yb,
                   float (*acc)[GM_PANEL_ROWS], float (*acc_m)[GM_PANEL_ROWS], const int V)
{
    __m512i sumi[8];
    GM_UNROLL
    for (int v = 0; v < V; v++)
        sumi[v] = _mm512_setzero_si512();
    for (int j = 0; j < 8; j++) {
        __m512i s[8];
        GM_UNROLL
        for (int v = 0; v < V; v++)
            s[v] = _mm512_setzero_si512();
        GM_UNROLL
        for (int g = 0; g < 8; g++) {
            const __m512i wq = _mm512_load_si512((const void *)pb->wt[8 * j + g]);
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                const gm_i32_unaligned *y4 =
                    (const gm_i32_unaligned *)(yb[v]->qs + 32 * j + 4 * g);
                s[v] = _mm512_dpbusd_epi32(s[v], wq, _mm512_set1_epi32(*y4));
            }
        }
        const __m512i sc = _mm512_load_si512((const void *)pb->sc[j]);
        GM_UNROLL
        for (int v = 0; v < V; v++)
            sumi[v] = _mm512_add_epi32(sumi[v], _mm512_mullo_epi32(s[v], sc));
    }
    const __m512 d = _mm512_load_ps(pb->d), dmin = _mm512_load_ps(pb->dmin);
    GM_UNROLL
    for (int v = 0; v < V; v++) {
        const __m128i b0 = _mm_loadu_si128((const __m128i *)yb[v]->bsums);
        const __m128i b1 = _mm_loadu_si128((const __m128i *)(yb[v]->bsums + 8));
        _Alignas(16) int32_t pairs[4]; /* sub-block sums 2k, 2k+1 as 2 x int16 */
        _mm_store_si128((__m128i *)pairs, _mm_hadd_epi16(b0, b1));
        __m512i msum = _mm512_setzero_si512();
        GM_UNROLL
        for (int k = 0; k < 4; k++)
            msum = _mm512_dpwssd_epi32(msum, _mm512_load_si512((const void *)pb->mn[k]),
                                       _mm512_set1_epi32(pairs[k]));
        const __m512 yd = _mm512_set1_ps(yb[v]->d);
        _mm512_store_ps(acc[v], _mm512_fmadd_ps(_mm512_mul_ps(d, yd), _mm512_cvtepi32_ps(sumi[v]),
                                                _mm512_load_ps(acc[v])));
        _mm512_store_ps(acc_m[v], _mm512_fmadd_ps(_mm512_mul_ps(dmin, yd),
                                                  _mm512_cvtepi32_ps(msum),
                                                  _mm512_load_ps(acc_m[v])));
    }
}

#define GM_PANEL_VECS_CASE(nv)                                                                     \
    case nv:                                                                                       \
        gm_q4_K_panel_vecs(&pb, yb, acc + v, acc_m + v, nv);                                       \
        break;

GM_T_AVX512_VNNI static void gm_panel_q4_K_avx512vnni(uint64_t n, const void *w, size_t w_stride,
                                                      const void *xq, size_t x_stride,
                                                      uint32_t n_vec, float *out,
                                                      size_t out_stride)
{
    gm_q4_K_panel_block pb;
    _Alignas(64) float acc[GM_PANEL_PASS][GM_PANEL_ROWS];
    _Alignas(64) float acc_m[GM_PANEL_PASS][GM_PANEL_ROWS];
    const uint64_t nb = n / GM_QK_K;
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_PANEL_PASS) {
        const uint32_t nv = n_vec - v0 < GM_PANEL_PASS ? n_vec - v0 : GM_PANEL_PASS;
        memset(acc, 0, sizeof acc);
        memset(acc_m, 0, sizeof acc_m);
        for (uint64_t i = 0; i < nb; i++) {
            gm_q4_K_panel_unpack(w, w_stride, i, &pb);
            for (uint32_t v = 0; v < nv; v += 8) {
                const gm_block_q8_K *yb[8];
                const uint32_t gv = nv - v < 8 ? nv - v : 8;
                for (uint32_t k = 0; k < gv; k++)
                    yb[k] = (const gm_block_q8_K *)((const uint8_t *)xq +
                                                    (size_t)(v0 + v + k) * x_stride) + i;
                switch (gv) {
                    GM_PANEL_VECS_CASE(1)
                    GM_PANEL_VECS_CASE(2)
                    GM_PANEL_VECS_CASE(3)
                    GM_PANEL_VECS_CASE(4)
                    GM_PANEL_VECS_CASE(5)
                    GM_PANEL_VECS_CASE(6)
                    GM_PANEL_VECS_CASE(7)
                    GM_PANEL_VECS_CASE(8)
                default:
                    break;
                }
            }
        }
        for (uint32_t v = 0; v < nv; v++)
            for (int r = 0; r < GM_PANEL_ROWS; r++)
                out[(size_t)(v0 + v) * out_stride + r] = acc[v][r] - acc_m[v][r];
    }
}

#undef GM_PANEL_VECS_CASE

/* ---- the Q8_0 panel: 16 rows x many vectors (VNNI) ----------------------------- */

/* As the Q4_K panel: two blocks of the 16 rows are transposed at a time
 * into quad-major order (wt[c] holds bytes 4c..4c+3 of the pair of every
 * row, one row per 32-bit lane: quads 0..7 are block i, 8..15 block i + 1),
 * so one vpdpbusd with 4 activation bytes broadcast computes 4 products
 * for all 16 rows. The weights stay signed; the activations are made
 * unsigned (y + 128) once per block and vector, and each row's sum starts
 * at -128 * (the sum of its block's weights), computed once per block. The
 * integer block sums are the tiles' exactly, and every f32 step is the
 * tiles' too (gm_q8_0_tile: block i into lane i % 8, lanes added up as
 * gm_hsum256_5 does): the same bits. */

/* Vectors per pass over the blocks (their 8 accumulators of 16 rows each,
 * 512 bytes a vector, stay in the L1 cache). */
#define GM_Q8_PANEL_PASS 32

/* 16 rows read a block or two at a time are 16 streams, which the hardware
 * prefetchers follow poorly (from memory, a batch of 16 vectors ran no
 * faster than the tiles): ask for `lines` cache lines of each row 16
 * blocks ahead. */
#define GM_Q8_PREFETCH(b, lines)                                                                   \
    do {                                                                                           \
        GM_UNROLL                                                                                  \
        for (int pf_ = 0; pf_ < (lines); pf_++)                                                    \
            _mm_prefetch((const char *)((b) + 16) + 64 * pf_, _MM_HINT_T0);                        \
    } while (0)

/* V vectors (u: their blocks i, i + 1 made unsigned; dy: their scales)
 * against the transposed pair: the f32 steps into
 * acc[v][i % 8] and, when `two`, acc[v][(i + 1) % 8]. */
GM_T_AVX512_VNNI __attribute__((always_inline)) static inline void
gm_q8_0_panel_vecs(const uint32_t (*wt)[GM_PANEL_ROWS], __m512i corr_a, __m512i corr_b,
                   __m512 dx_a, __m512 dx_b, const uint32_t (*u)[16], const float (*dy)[2],
                   bool two, float (*acc)[8][GM_PANEL_ROWS], int la, int lb, const int V)
{
    /* two sums per block (quads 0..3 and 4..7): shorter dependency chains */
    __m512i s[4][4];
    GM_UNROLL
    for (int k = 0; k < V; k++) {
        s[k][0] = corr_a;
        s[k][1] = _mm512_setzero_si512();
        s[k][2] = corr_b;
        s[k][3] = _mm512_setzero_si512();
    }
    GM_UNROLL
    for (int c = 0; c < 4; c++) {
        GM_UNROLL
        for (int h = 0; h < 4; h++) {
            const __m512i wq = _mm512_load_si512((const void *)wt[4 * h + c]);
            GM_UNROLL
            for (int k = 0; k < V; k++)
                s[k][h] = _mm512_dpbusd_epi32(s[k][h], _mm512_set1_epi32((int)u[k][4 * h + c]), wq);
        }
    }
    GM_UNROLL
    for (int k = 0; k < V; k++) {
        const __m512i sa = _mm512_add_epi32(s[k][0], s[k][1]);
        _mm512_store_ps(acc[k][la],
                        _mm512_fmadd_ps(_mm512_mul_ps(dx_a, _mm512_set1_ps(dy[k][0])),
                                        _mm512_cvtepi32_ps(sa), _mm512_load_ps(acc[k][la])));
        if (two) {
            const __m512i sb = _mm512_add_epi32(s[k][2], s[k][3]);
            _mm512_store_ps(acc[k][lb],
                            _mm512_fmadd_ps(_mm512_mul_ps(dx_b, _mm512_set1_ps(dy[k][1])),
                                            _mm512_cvtepi32_ps(sb), _mm512_load_ps(acc[k][lb])));
        }
    }
}

/* The fp16 scales of block i of the 16 rows, as floats. */
GM_T_AVX512 static inline __m512 gm_q8_0_panel_scales(const uint8_t *w, size_t w_stride,
                                                          uint64_t i)
{
    uint16_t h[GM_PANEL_ROWS];
    GM_UNROLL
    for (int r = 0; r < GM_PANEL_ROWS; r++)
        h[r] = ((const gm_block_q8_0 *)(w + (size_t)r * w_stride))[i].d;
    return _mm512_cvtph_ps(_mm256_setr_epi16(
        (short)h[0], (short)h[1], (short)h[2], (short)h[3], (short)h[4], (short)h[5], (short)h[6],
        (short)h[7], (short)h[8], (short)h[9], (short)h[10], (short)h[11], (short)h[12],
        (short)h[13], (short)h[14], (short)h[15]));
}

#define GM_Q8_PANEL_VECS_CASE(nv)                                                                  \
    case nv:                                                                                       \
        gm_q8_0_panel_vecs(wt, corr_a, corr_b, dx_a, dx_b, u + v, dy + v, two, acc + v, la, lb,    \
                           nv);                                                                    \
        break;

GM_T_AVX512_VNNI static void gm_panel_q8_0_avx512vnni(uint64_t n, const void *w, size_t w_stride,
                                                      const void *xq, size_t x_stride,
                                                      uint32_t n_vec, float *out,
                                                      size_t out_stride)
{
    _Alignas(64) float acc[GM_Q8_PANEL_PASS][8][GM_PANEL_ROWS];
    _Alignas(64) uint32_t wt[16][GM_PANEL_ROWS];
    _Alignas(64) uint32_t u[GM_Q8_PANEL_PASS][16];
    float dy[GM_Q8_PANEL_PASS][2];
    const uint8_t *wb = w;
    const uint64_t nb = n / GM_QK8_0;
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_Q8_PANEL_PASS) {
        const uint32_t nv = n_vec - v0 < GM_Q8_PANEL_PASS ? n_vec - v0 : GM_Q8_PANEL_PASS;
        memset(acc, 0, nv * sizeof acc[0]);
        for (uint64_t i = 0; i < nb; i += 2) {
            const bool two = i + 1 < nb;
            __m512i m[GM_PANEL_ROWS];
            for (int r = 0; r < GM_PANEL_ROWS; r++) {
                const gm_block_q8_0 *b = (const gm_block_q8_0 *)(wb + (size_t)r * w_stride) + i;
                GM_Q8_PREFETCH(b, 2);
                m[r] = two ? gm_load_2x32_avx512vnni(b[0].qs, b[1].qs)
                           : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs));
            }
            gm_transpose16x16_epi32(m);
            __m512i ta = _mm512_setzero_si512(), tb = _mm512_setzero_si512();
            const __m512i u128 = _mm512_set1_epi8(-128);
            for (int c = 0; c < 8; c++) {
                ta = _mm512_dpbusd_epi32(ta, u128, m[c]);
                tb = _mm512_dpbusd_epi32(tb, u128, m[8 + c]);
            }
            for (int c = 0; c < 16; c++)
                _mm512_store_si512((void *)wt[c], m[c]);
            const __m512i corr_a = _mm512_sub_epi32(_mm512_setzero_si512(), ta);
            const __m512i corr_b = _mm512_sub_epi32(_mm512_setzero_si512(), tb);
            const __m512 dx_a = gm_q8_0_panel_scales(wb, w_stride, i);
            const __m512 dx_b = two ? gm_q8_0_panel_scales(wb, w_stride, i + 1) : dx_a;
            /* the activations of the pair, made unsigned */
            for (uint32_t v = 0; v < nv; v++) {
                const gm_block_q8_0 *y =
                    (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)(v0 + v) * x_stride) + i;
                const __m512i q = two ? gm_load_2x32_avx512vnni(y[0].qs, y[1].qs)
                                      : _mm512_zextsi256_si512(
                                            _mm256_loadu_si256((const __m256i *)y[0].qs));
                _mm512_store_si512((void *)u[v], _mm512_xor_si512(q, u128));
                dy[v][0] = gm_h2f5(y[0].d);
                dy[v][1] = two ? gm_h2f5(y[1].d) : 0.0f;
            }
            const int la = (int)(i % 8), lb = (int)((i + 1) % 8);
            for (uint32_t v = 0; v < nv; v += 4) {
                const uint32_t gv = nv - v < 4 ? nv - v : 4;
                switch (gv) {
                    GM_Q8_PANEL_VECS_CASE(1)
                    GM_Q8_PANEL_VECS_CASE(2)
                    GM_Q8_PANEL_VECS_CASE(3)
                default:
                    gm_q8_0_panel_vecs(wt, corr_a, corr_b, dx_a, dx_b, u + v, dy + v, two,
                                       acc + v, la, lb, 4);
                    break;
                }
            }
        }
        /* lanes added up as gm_hsum256_5 adds up the tiles' 8 lanes */
        for (uint32_t v = 0; v < nv; v++) {
            const float(*a)[GM_PANEL_ROWS] = acc[v];
            __m512 t[4];
            for (int j = 0; j < 4; j++)
                t[j] = _mm512_add_ps(_mm512_load_ps(a[j]), _mm512_load_ps(a[j + 4]));
            const __m512 s =
                _mm512_add_ps(_mm512_add_ps(t[0], t[2]), _mm512_add_ps(t[1], t[3]));
            _mm512_storeu_ps(out + (size_t)(v0 + v) * out_stride, s);
        }
    }
}

#undef GM_Q8_PANEL_VECS_CASE

/* ---- the Q8_0 panel without VNNI ------------------------------------------------ */

/* The same 16 rows per lane, one block at a time: the block of the 16 rows
 * widened to int16 and transposed (wt[p]: elements 2p, 2p + 1 of every
 * row), so that one vpmaddwd with an activation pair broadcast computes 2
 * products for all 16 rows (exact; maddubs on unsigned-made activations
 * could saturate). The integer block sums and the f32 steps are the
 * tiles': the same bits as the VNNI panel. */

/* V vectors (yp: their block's pairs as int16, dy: their scales) against
 * the transposed block: the f32 step into acc[v][lane]. */
GM_T_AVX512 __attribute__((always_inline)) static inline void
gm_q8_0_panel_vecs_plain(const uint32_t (*wt)[GM_PANEL_ROWS], __m512 dx, const int32_t (*yp)[16],
                         const float *dy, float (*acc)[8][GM_PANEL_ROWS], int lane, const int V)
{
    __m512i s[4];
    GM_UNROLL
    for (int k = 0; k < V; k++)
        s[k] = _mm512_setzero_si512();
    for (int p = 0; p < 16; p++) {
        const __m512i wq = _mm512_load_si512((const void *)wt[p]);
        GM_UNROLL
        for (int k = 0; k < V; k++) {
            s[k] = _mm512_add_epi32(s[k], _mm512_madd_epi16(wq, _mm512_set1_epi32(yp[k][p])));
            /* keep the adds in this order (reassociated, they spill) */
            __asm__("" : "+v"(s[k]));
        }
    }
    GM_UNROLL
    for (int k = 0; k < V; k++)
        _mm512_store_ps(acc[k][lane],
                        _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_set1_ps(dy[k])),
                                        _mm512_cvtepi32_ps(s[k]), _mm512_load_ps(acc[k][lane])));
}

#define GM_Q8_PANEL_VECS_CASE(nv)                                                                  \
    case nv:                                                                                       \
        gm_q8_0_panel_vecs_plain(wt, dx, yp + v, dy + v, acc + v, lane, nv);                       \
        break;

GM_T_AVX512 static void gm_panel_q8_0_avx512(uint64_t n, const void *w, size_t w_stride,
                                             const void *xq, size_t x_stride, uint32_t n_vec,
                                             float *out, size_t out_stride)
{
    _Alignas(64) float acc[GM_Q8_PANEL_PASS][8][GM_PANEL_ROWS];
    _Alignas(64) uint32_t wt[16][GM_PANEL_ROWS];
    _Alignas(64) int32_t yp[GM_Q8_PANEL_PASS][16];
    float dy[GM_Q8_PANEL_PASS];
    const uint8_t *wb = w;
    const uint64_t nb = n / GM_QK8_0;
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_Q8_PANEL_PASS) {
        const uint32_t nv = n_vec - v0 < GM_Q8_PANEL_PASS ? n_vec - v0 : GM_Q8_PANEL_PASS;
        memset(acc, 0, nv * sizeof acc[0]);
        for (uint64_t i = 0; i < nb; i++) {
            __m512i m[GM_PANEL_ROWS];
            for (int r = 0; r < GM_PANEL_ROWS; r++) {
                const gm_block_q8_0 *b = (const gm_block_q8_0 *)(wb + (size_t)r * w_stride) + i;
                GM_Q8_PREFETCH(b, 1);
                m[r] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)b->qs));
            }
            gm_transpose16x16_epi32(m);
            for (int p = 0; p < 16; p++)
                _mm512_store_si512((void *)wt[p], m[p]);
            const __m512 dx = gm_q8_0_panel_scales(wb, w_stride, i);
            for (uint32_t v = 0; v < nv; v++) {
                const gm_block_q8_0 *y =
                    (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)(v0 + v) * x_stride) + i;
                _mm512_store_si512((void *)yp[v], _mm512_cvtepi8_epi16(_mm256_loadu_si256(
                                                      (const __m256i *)y->qs)));
                dy[v] = gm_h2f5(y->d);
            }
            const int lane = (int)(i % 8);
            for (uint32_t v = 0; v < nv; v += 4) {
                switch (nv - v < 4 ? nv - v : 4) {
                    GM_Q8_PANEL_VECS_CASE(1)
                    GM_Q8_PANEL_VECS_CASE(2)
                    GM_Q8_PANEL_VECS_CASE(3)
                default:
                    gm_q8_0_panel_vecs_plain(wt, dx, yp + v, dy + v, acc + v, lane, 4);
                    break;
                }
            }
        }
        /* lanes added up as gm_hsum256_5 adds up the tiles' 8 lanes */
        for (uint32_t v = 0; v < nv; v++) {
            const float(*a)[GM_PANEL_ROWS] = acc[v];
            __m512 t[4];
            for (int j = 0; j < 4; j++)
                t[j] = _mm512_add_ps(_mm512_load_ps(a[j]), _mm512_load_ps(a[j + 4]));
            const __m512 s =
                _mm512_add_ps(_mm512_add_ps(t[0], t[2]), _mm512_add_ps(t[1], t[3]));
            _mm512_storeu_ps(out + (size_t)(v0 + v) * out_stride, s);
        }
    }
}

#undef GM_Q8_PANEL_VECS_CASE
#undef GM_Q8_PREFETCH

#endif /* GM_HAVE_AVX512_KERNELS */

gm_dot_fn gm_dot_avx512(gm_type type)
{
#ifdef GM_HAVE_AVX512_KERNELS
    if (!gm_cpu_has_avx512())
        return NULL;
    const bool vnni = gm_cpu_has_avx512_vnni();
    switch (type) {
    case GM_TYPE_Q8_0:
        return vnni ? gm_dot_q8_0_avx512vnni : gm_dot_q8_0_avx512;
    case GM_TYPE_Q4_K:
        return vnni ? gm_dot_q4_K_avx512vnni : gm_dot_q4_K_avx512;
    case GM_TYPE_Q6_K:
        return vnni ? gm_dot_q6_K_avx512vnni : gm_dot_q6_K_avx512;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

gm_dot4_fn gm_dot4_avx512(gm_type type)
{
#ifdef GM_HAVE_AVX512_KERNELS
    if (!gm_cpu_has_avx512())
        return NULL;
    const bool vnni = gm_cpu_has_avx512_vnni();
    switch (type) {
    case GM_TYPE_Q8_0:
        return vnni ? gm_dot4_q8_0_avx512vnni : gm_dot4_q8_0_avx512;
    case GM_TYPE_Q4_K:
        return vnni ? gm_dot4_q4_K_avx512vnni : gm_dot4_q4_K_avx512;
    case GM_TYPE_Q6_K:
        return vnni ? gm_dot4_q6_K_avx512vnni : gm_dot4_q6_K_avx512;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

const gm_tiles *gm_tiles_avx512(gm_type type)
{
#ifdef GM_HAVE_AVX512_KERNELS
    if (!gm_cpu_has_avx512())
        return NULL;
    const bool vnni = gm_cpu_has_avx512_vnni();
    switch (type) {
    case GM_TYPE_Q8_0:
        return vnni ? &gm_tiles_q8_0_avx512vnni : &gm_tiles_q8_0_avx512;
    case GM_TYPE_Q4_K:
        return vnni ? &gm_tiles_q4_K_avx512vnni : &gm_tiles_q4_K_avx512;
    case GM_TYPE_Q6_K:
        return vnni ? &gm_tiles_q6_K_avx512vnni : &gm_tiles_q6_K_avx512;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

const gm_tiles *gm_tiles_avx512_plain(gm_type type)
{
#ifdef GM_HAVE_AVX512_KERNELS
    if (!gm_cpu_has_avx512())
        return NULL;
    switch (type) {
    case GM_TYPE_Q8_0:
        return &gm_tiles_q8_0_avx512;
    case GM_TYPE_Q4_K:
        return &gm_tiles_q4_K_avx512;
    case GM_TYPE_Q6_K:
        return &gm_tiles_q6_K_avx512;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

gm_dot_fn gm_dot_avx512_plain(gm_type type)
{
#ifdef GM_HAVE_AVX512_KERNELS
    if (!gm_cpu_has_avx512())
        return NULL;
    switch (type) {
    case GM_TYPE_Q8_0:
        return gm_dot_q8_0_avx512;
    case GM_TYPE_Q4_K:
        return gm_dot_q4_K_avx512;
    case GM_TYPE_Q6_K:
        return gm_dot_q6_K_avx512;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}
