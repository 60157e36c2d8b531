/*
 * engine/cpu/dot_avx2.c -- AVX2/FMA versions of the hot dot products,
 * compiled per function with target attributes (the build does not need
 * -mavx2) and used only when the CPU reports AVX2, FMA and F16C.
 *
 * The quantized kernels keep ggml's arithmetic: exact integer sums inside
 * each block (maddubs/madd), scaled per block in f32. Only the order of
 * the f32 additions differs from the scalar versions in dot_scalar.c.
 * Q6_K follows the AVX-512 Q6_K arithmetic (one f32 step per block on the
 * exact int32 block sum), so GEMMA_CPU=avx2 and avx512 give it the same
 * bits.
 * Q8_0 also has tile and panel kernels for batches of vectors (dot.h's
 * gm_tiles), bit-identical to its one-vector dot. Q4_K takes the f32
 * steps of the AVX-512 kernels (one per block on the exact block sums),
 * so the AVX2 and AVX-512 paths give Q4_K and Q8_0 the same bits.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/dot.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GM_HAVE_AVX2_KERNELS 1

#include <immintrin.h>

#define GM_AVX2 __attribute__((target("avx2,fma,f16c")))
/* Fully unroll the small loops of the 4-vector kernels (accumulators and
 * decoded weights in registers, not on the stack). */
#define GM_UNROLL4 _Pragma("GCC unroll 8")

GM_AVX2 static inline float gm_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

GM_AVX2 static inline float gm_h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 8 int32 sums of products of signed bytes a and b, 4 bytes per lane
 * (ggml's mul_sum_i8_pairs_float without the float). Exact as long as
 * b has no -128, which the activation quantizers never produce. */
GM_AVX2 static inline __m256i gm_dot_i8(__m256i a, __m256i b)
{
    const __m256i ax = _mm256_sign_epi8(a, a);
    const __m256i sy = _mm256_sign_epi8(b, a);
    const __m256i dot16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_madd_epi16(dot16, _mm256_set1_epi16(1));
}

/* Bytes 0xFF where bit i of the 32-bit word is set, 0x00 elsewhere. */
GM_AVX2 static inline __m256i gm_bytes_from_bits_32(const uint8_t *x)
{
    uint32_t x32;
    memcpy(&x32, x, sizeof x32);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    const __m256i bit_mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    bytes = _mm256_or_si256(bytes, bit_mask);
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

/* 32 nibbles from 16 bytes: low nibbles first (elements 0..15), then high. */
GM_AVX2 static inline __m256i gm_nibbles_32(const uint8_t *q)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)q);
    const __m256i both =
        _mm256_insertf128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* The float formats (F32, F16, BF16; activations in the same format).
 * Each output has four 8-lane accumulators over steps of 32 elements, a
 * step of 8 into the first for what is left, one horizontal sum, and one
 * fused multiply-add per element after that. The multi-vector kernels keep
 * exactly that per vector and only share the weight loads between two
 * vectors at a time (four vectors' accumulators would not fit in the 16
 * registers), so every vector gets the bits of the one-vector dot. */
GM_AVX2 static inline float gm_fma_tail(float sum, float a, float b)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(sum)));
}

#define GM_LOAD_F32(p) _mm256_loadu_ps(p)
#define GM_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define GM_LOAD_BF16(p)                                                                            \
    _mm256_castsi256_ps(                                                                           \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define GM_ONE_F32(v) (v)
#define GM_ONE_F16(v) gm_h2f(v)
#define GM_ONE_BF16(v) gm_bf16_to_fp32(v)

/* gm_dot_NAME_avx2 (one vector) and gm_dot4_NAME_avx2 (four vectors at
 * xq + k * stride) for elements of type ELEM loaded 8 at a time by LOAD
 * and one at a time by ONE. */
#define GM_FLOAT_DOTS(NAME, ELEM, LOAD, ONE)                                                       \
    GM_AVX2 static float gm_dot_##NAME##_avx2(uint64_t n, const void *w, const void *xq)          \
    {                                                                                              \
        const ELEM *a = w, *b = xq;                                                                \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                 \
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();                                 \
        uint64_t i = 0;                                                                            \
        for (; i + 32 <= n; i += 32) {                                                             \
            s0 = _mm256_fmadd_ps(LOAD(a + i), LOAD(b + i), s0);                                    \
            s1 = _mm256_fmadd_ps(LOAD(a + i + 8), LOAD(b + i + 8), s1);                            \
            s2 = _mm256_fmadd_ps(LOAD(a + i + 16), LOAD(b + i + 16), s2);                          \
            s3 = _mm256_fmadd_ps(LOAD(a + i + 24), LOAD(b + i + 24), s3);                          \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            s0 = _mm256_fmadd_ps(LOAD(a + i), LOAD(b + i), s0);                                    \
        float sum = gm_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));      \
        for (; i < n; i++)                                                                         \
            sum = gm_fma_tail(sum, ONE(a[i]), ONE(b[i]));                                          \
        return sum;                                                                                \
    }                                                                                              \
    /* two vectors b0, b1 against one row: the one-vector steps, weights loaded once */           \
    GM_AVX2 static inline void gm_dot2_##NAME##_avx2(uint64_t n, const ELEM *a, const ELEM *b0,  \
                                                     const ELEM *b1, float *out0, float *out1)     \
    {                                                                                              \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                 \
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();                                 \
        __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();                                 \
        __m256 t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();                                 \
        uint64_t i = 0;                                                                            \
        for (; i + 32 <= n; i += 32) {                                                             \
            const __m256 w0 = LOAD(a + i), w1 = LOAD(a + i + 8);                                   \
            const __m256 w2 = LOAD(a + i + 16), w3 = LOAD(a + i + 24);                             \
            s0 = _mm256_fmadd_ps(w0, LOAD(b0 + i), s0);                                            \
            t0 = _mm256_fmadd_ps(w0, LOAD(b1 + i), t0);                                            \
            s1 = _mm256_fmadd_ps(w1, LOAD(b0 + i + 8), s1);                                        \
            t1 = _mm256_fmadd_ps(w1, LOAD(b1 + i + 8), t1);                                        \
            s2 = _mm256_fmadd_ps(w2, LOAD(b0 + i + 16), s2);                                       \
            t2 = _mm256_fmadd_ps(w2, LOAD(b1 + i + 16), t2);                                       \
            s3 = _mm256_fmadd_ps(w3, LOAD(b0 + i + 24), s3);                                       \
            t3 = _mm256_fmadd_ps(w3, LOAD(b1 + i + 24), t3);                                       \
        }                                                                                          \
        for (; i + 8 <= n; i += 8) {                                                               \
            const __m256 w0 = LOAD(a + i);                                                         \
            s0 = _mm256_fmadd_ps(w0, LOAD(b0 + i), s0);                                            \
            t0 = _mm256_fmadd_ps(w0, LOAD(b1 + i), t0);                                            \
        }                                                                                          \
        float sum0 = gm_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));     \
        float sum1 = gm_hsum_ps(_mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));     \
        for (; i < n; i++) {                                                                       \
            sum0 = gm_fma_tail(sum0, ONE(a[i]), ONE(b0[i]));                                       \
            sum1 = gm_fma_tail(sum1, ONE(a[i]), ONE(b1[i]));                                       \
        }                                                                                          \
        *out0 = sum0;                                                                              \
        *out1 = sum1;                                                                              \
    }                                                                                              \
    GM_AVX2 static void gm_dot4_##NAME##_avx2(uint64_t n, const void *w, const void *xq,         \
                                              size_t stride, float out[4])                         \
    {                                                                                              \
        const uint8_t *x = xq;                                                                     \
        gm_dot2_##NAME##_avx2(n, w, (const ELEM *)x, (const ELEM *)(x + stride), &out[0],         \
                              &out[1]);                                                            \
        gm_dot2_##NAME##_avx2(n, w, (const ELEM *)(x + 2 * stride),                               \
                              (const ELEM *)(x + 3 * stride), &out[2], &out[3]);                   \
    }

GM_FLOAT_DOTS(f32, float, GM_LOAD_F32, GM_ONE_F32)
GM_FLOAT_DOTS(f16, uint16_t, GM_LOAD_F16, GM_ONE_F16)
GM_FLOAT_DOTS(bf16, uint16_t, GM_LOAD_BF16, GM_ONE_BF16)

GM_AVX2 static float gm_dot_q4_0_avx2(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q4_0 *x = w;
    const gm_block_q8_0 *y = xq;
    const uint64_t nb = n / GM_QK8_0;
    const __m256i off = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (uint64_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(gm_h2f(x[i].d) * gm_h2f(y[i].d));
        const __m256i qx = _mm256_sub_epi8(gm_nibbles_32(x[i].qs), off);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(gm_dot_i8(qx, qy)), acc);
    }
    return gm_hsum_ps(acc);
}

GM_AVX2 static float gm_dot_q5_0_avx2(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q5_0 *x = w;
    const gm_block_q8_0 *y = xq;
    const uint64_t nb = n / GM_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (uint64_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(gm_h2f(x[i].d) * gm_h2f(y[i].d));
        __m256i qx = gm_nibbles_32(x[i].qs);
        /* nib | 0xF0 where the fifth bit is clear: as int8 that is nib - 16,
         * and nib where it is set: (nib | bit << 4) - 16 either way */
        __m256i hi = gm_bytes_from_bits_32(x[i].qh);
        hi = _mm256_andnot_si256(hi, _mm256_set1_epi8((char)0xF0));
        qx = _mm256_or_si256(qx, hi);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(gm_dot_i8(qx, qy)), acc);
    }
    return gm_hsum_ps(acc);
}

/* The 8 six-bit scales and 8 mins of a Q4_K/Q5_K block, unpacked with
 * ggml's word trick (the same values gm_get_scale_min_k4 gives). */
static inline void gm_k4_unpack(const uint8_t packed[12], uint8_t sc[8], uint8_t mn[8])
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
GM_AVX2 static inline __m128i gm_k4_mins_dot(const uint8_t mn[8], const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    const __m128i pairs = _mm_hadd_epi16(b0, b1); /* group sums of the 8 sub-blocks */
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    return _mm_madd_epi16(pairs, m16);
}

/*
 * Q4_K has the arithmetic of the AVX-512 kernels (dot_avx512_body.h) and
 * of the packed kernels (q4k_packed.c), so every path but the scalar one
 * gives Q4_K the same bits: per block the exact int32 sums
 *   sumi = sum_j sc_j * (4-bit weights . activations of sub-block j),
 *   msum = sum_j mn_j * (activation sum of sub-block j),
 * then, in block order, one f32 step each,
 *   acc = fma(d_w * d_x, float(sumi), acc),
 *   acc_m = fma(dmin_w * d_x, float(msum), acc_m),
 * and the result acc - acc_m. Here lane 0 of one register is acc and lane
 * 1 acc_m (one vector), or lane k is vector k (four vectors); a lane's
 * steps are exactly the scalar ones.
 */

/* The 8 int32 products of sub-block scale x (weights . activations) of one
 * Q4_K block against one vector (lanes add up to sumi). */
GM_AVX2 static inline __m256i gm_q4_K_sumi8(const __m256i lo[4], const __m256i hi[4],
                                           const __m256i s_lo[4], const __m256i s_hi[4],
                                           const int8_t *q8)
{
    __m256i sumi = _mm256_setzero_si256();
    GM_UNROLL4
    for (int j = 0; j < 4; j++) {
        const __m256i y_lo = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j));
        const __m256i y_hi = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32));
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[j], y_lo), s_lo[j]);
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[j], y_hi), s_hi[j]);
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
    }
    return sumi;
}

/* A Q4_K block's weights decoded for gm_q4_K_sumi8: its nibbles (low:
 * elements 64j.., high: 64j + 32..) and its sub-block scales, and its
 * mins as 8 int16. */
GM_AVX2 static inline void gm_q4_K_decode(const gm_block_q4_K *b, __m256i lo[4], __m256i hi[4],
                                          __m256i s_lo[4], __m256i s_hi[4], __m128i *m16)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    uint8_t sc[8], mn[8];
    gm_k4_unpack(b->scales, sc, mn);
    GM_UNROLL4
    for (int j = 0; j < 4; j++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
        lo[j] = _mm256_and_si256(bits, m4);
        hi[j] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        s_lo[j] = _mm256_set1_epi16(sc[2 * j]);
        s_hi[j] = _mm256_set1_epi16(sc[2 * j + 1]);
    }
    *m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
}

/* 4 int32 lanes whose sum is msum: mn_j * (bsums[2j] + bsums[2j + 1]). */
GM_AVX2 static inline __m128i gm_q4_K_msum4(__m128i m16, const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    return _mm_madd_epi16(_mm_hadd_epi16(b0, b1), m16);
}

/* d and dmin of a Q4_K block as floats in lanes 0 and 1 (0 in 2 and 3). */
GM_AVX2 static inline __m128 gm_q4_K_d_dmin(const gm_block_q4_K *b)
{
    uint32_t dm;
    memcpy(&dm, b, sizeof dm); /* d, then dmin */
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)dm));
}

GM_AVX2 static float gm_dot_q4_K_avx2(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q4_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    __m128 acc = _mm_setzero_ps(); /* lane 0: acc, lane 1: acc_m */
    for (uint64_t i = 0; i < nb; i++) {
        __m256i lo[4], hi[4], s_lo[4], s_hi[4];
        __m128i m16;
        gm_q4_K_decode(&x[i], lo, hi, s_lo, s_hi, &m16);
        const __m256i s8 = gm_q4_K_sumi8(lo, hi, s_lo, s_hi, y[i].qs);
        const __m128i s4 =
            _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        __m128i sm = _mm_hadd_epi32(s4, gm_q4_K_msum4(m16, y[i].bsums));
        sm = _mm_hadd_epi32(sm, sm); /* [sumi, msum, sumi, msum] */
        const __m128 dd = _mm_mul_ps(gm_q4_K_d_dmin(&x[i]), _mm_set1_ps(y[i].d));
        acc = _mm_fmadd_ps(dd, _mm_cvtepi32_ps(sm), acc);
    }
    return _mm_cvtss_f32(acc) - _mm_cvtss_f32(_mm_movehdup_ps(acc));
}

GM_AVX2 static float gm_dot_q5_K_avx2(uint64_t n, const void *w, const void *xq)
{
    const gm_block_q5_K *x = w;
    const gm_block_q8_K *y = xq;
    const uint64_t nb = n / GM_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        gm_k4_unpack(x[i].scales, sc, mn);
        const float d = gm_h2f(x[i].d) * y[i].d;
        const float dmin = gm_h2f(x[i].dmin) * y[i].d;
        const __m128i prod_m = gm_k4_mins_dot(mn, y[i].bsums);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod_m), acc_m);

        const uint8_t *ql = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(ql + 32 * j));
            /* bit 2j of qh[l] is the fifth bit of element 64j+l, bit 2j+1
             * that of element 64j+32+l; shift them into place as we go */
            const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
            const __m256i h_hi =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), h_lo);
            const __m256i hi =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h_hi);
            const __m256i y_lo = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j));
            const __m256i y_hi = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32));
            __m256i p_lo = _mm256_maddubs_epi16(lo, y_lo);
            __m256i p_hi = _mm256_maddubs_epi16(hi, y_hi);
            p_lo = _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * j]));
            p_hi = _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return gm_hsum_ps(acc) - _mm_cvtss_f32(m);
}

/*
 * Q6_K: the arithmetic of the AVX-512 Q6_K kernels (dot_avx512_body.h's
 * gm_q6_K_tile and the packed kernels of q6k_packed.c), so that both paths
 * give the same bits. Per block and per vector: the exact int32 sum of the
 * block (the 16 sub-block scales and the offset 32 of every value applied
 * in integers), then one f32 step acc = fma(d_w * d_x, float(sum), acc),
 * block after block; the result is acc.
 */

/* The exact sums of the 8 int32 lanes of s[v] for v < V (V <= 4), in
 * lane v (0 in the others). */
GM_AVX2 __attribute__((always_inline)) static inline __m128i gm_q6_K_sum4_avx2(const __m256i *s,
                                                                              const int V)
{
    const __m256i z = _mm256_setzero_si256();
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], V > 1 ? s[1] : z),
                                        _mm256_hadd_epi32(V > 2 ? s[2] : z, V > 3 ? s[3] : z));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* One Q6_K row against V (1..4) converted vectors at xq + v * stride:
 * out[v] for each. The weight blocks are decoded once for all V. */
GM_AVX2 __attribute__((always_inline)) static inline void
gm_q6_K_vecs_avx2(uint64_t n, const void *w, const void *xq, size_t stride, float *out, const int V)
{
    const gm_block_q6_K *x = w;
    const gm_block_q8_K *y[4];
    GM_UNROLL4
    for (int v = 0; v < V; v++)
        y[v] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)v * stride);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x03);
    __m128 acc = _mm_setzero_ps(); /* lane v: vector v */
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        const int8_t *sc = x[i].scales;
        /* -32 * scale fits in 16 bits: the offset 32 of every value is
         * -32 * sum_j scale_j * bsum_j, exact */
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const __m256i sc_m32 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5));
        __m256i sumi[4];
        GM_UNROLL4
        for (int v = 0; v < V; v++)
            sumi[v] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[v][i].bsums), sc_m32);
        GM_UNROLL4
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            const uint8_t *qh = x[i].qh + 32 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            /* unsigned 6-bit values 0..63 of elements l, l+32, l+64, l+96 */
            __m256i q[4], s[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[1] = _mm256_or_si256(
                _mm256_and_si256(l1, m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            /* word lanes 0..7 take sub-block 8h + 2k, lanes 8..15 8h + 2k + 1 */
            GM_UNROLL4
            for (int k = 0; k < 4; k++)
                s[k] = _mm256_insertf128_si256(
                    _mm256_castsi128_si256(_mm_set1_epi16(sc[8 * h + 2 * k])),
                    _mm_set1_epi16(sc[8 * h + 2 * k + 1]), 1);
            GM_UNROLL4
            for (int v = 0; v < V; v++) {
                const int8_t *q8 = y[v][i].qs + 128 * h;
                GM_UNROLL4
                for (int k = 0; k < 4; k++) {
                    const __m256i yk = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                    const __m256i p = _mm256_maddubs_epi16(q[k], yk); /* exact: |p| <= 16128 */
                    sumi[v] = _mm256_add_epi32(sumi[v], _mm256_madd_epi16(p, s[k]));
                }
            }
        }
        const __m128 yd = _mm_setr_ps(y[0][i].d, V > 1 ? y[1 % V][i].d : 0.0f,
                                      V > 2 ? y[2 % V][i].d : 0.0f, V > 3 ? y[3 % V][i].d : 0.0f);
        const __m128 dd = _mm_mul_ps(_mm_set1_ps(gm_h2f(x[i].d)), yd);
        acc = _mm_fmadd_ps(dd, _mm_cvtepi32_ps(gm_q6_K_sum4_avx2(sumi, V)), acc);
    }
    _Alignas(16) float res[4];
    _mm_store_ps(res, acc);
    GM_UNROLL4
    for (int v = 0; v < V; v++)
        out[v] = res[v];
}

GM_AVX2 static float gm_dot_q6_K_avx2(uint64_t n, const void *w, const void *xq)
{
    float out[1];
    gm_q6_K_vecs_avx2(n, w, xq, 0, out, 1);
    return out[0];
}

/*
 * Four vectors at once: one weight row against the converted vectors at
 * xq, xq + stride, xq + 2 stride, xq + 3 stride. The weight blocks are
 * decoded once for all four; for each vector the arithmetic is exactly
 * that of the one-vector kernel above, so out[k] is bit-identical to it.
 */

#define GM_Y4(T, xq, stride, k) ((const T *)((const uint8_t *)(xq) + (size_t)(k) * (stride)))

GM_AVX2 static void gm_dot4_q4_0_avx2(uint64_t n, const void *w, const void *xq, size_t stride,
                                      float out[4])
{
    const gm_block_q4_0 *x = w;
    const gm_block_q8_0 *y[4];
    __m256 acc[4];
    GM_UNROLL4
    for (int k = 0; k < 4; k++) {
        y[k] = GM_Y4(gm_block_q8_0, xq, stride, k);
        acc[k] = _mm256_setzero_ps();
    }
    const __m256i off = _mm256_set1_epi8(8);
    const uint64_t nb = n / GM_QK8_0;
    for (uint64_t i = 0; i < nb; i++) {
        const float dx = gm_h2f(x[i].d);
        const __m256i qx = _mm256_sub_epi8(gm_nibbles_32(x[i].qs), off);
        GM_UNROLL4
        for (int k = 0; k < 4; k++) {
            const __m256 d = _mm256_set1_ps(dx * gm_h2f(y[k][i].d));
            const __m256i qy = _mm256_loadu_si256((const __m256i *)y[k][i].qs);
            acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(gm_dot_i8(qx, qy)), acc[k]);
        }
    }
    GM_UNROLL4
    for (int k = 0; k < 4; k++)
        out[k] = gm_hsum_ps(acc[k]);
}

GM_AVX2 static void gm_dot4_q4_K_avx2(uint64_t n, const void *w, const void *xq, size_t stride,
                                      float out[4])
{
    const gm_block_q4_K *x = w;
    const gm_block_q8_K *y[4];
    GM_UNROLL4
    for (int k = 0; k < 4; k++)
        y[k] = GM_Y4(gm_block_q8_K, xq, stride, k);
    __m128 acc = _mm_setzero_ps(), acc_m = _mm_setzero_ps(); /* lane k: vector k */
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        __m256i lo[4], hi[4], s_lo[4], s_hi[4];
        __m128i m16;
        gm_q4_K_decode(&x[i], lo, hi, s_lo, s_hi, &m16);
        __m128i s4[4], m4[4];
        GM_UNROLL4
        for (int k = 0; k < 4; k++) {
            const __m256i s8 = gm_q4_K_sumi8(lo, hi, s_lo, s_hi, y[k][i].qs);
            s4[k] = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
            m4[k] = gm_q4_K_msum4(m16, y[k][i].bsums);
        }
        /* lane k: the sums of vector k */
        const __m128i sumi =
            _mm_hadd_epi32(_mm_hadd_epi32(s4[0], s4[1]), _mm_hadd_epi32(s4[2], s4[3]));
        const __m128i msum =
            _mm_hadd_epi32(_mm_hadd_epi32(m4[0], m4[1]), _mm_hadd_epi32(m4[2], m4[3]));
        const __m128 yd = _mm_setr_ps(y[0][i].d, y[1][i].d, y[2][i].d, y[3][i].d);
        const __m128 dm = gm_q4_K_d_dmin(&x[i]);
        const __m128 d = _mm_mul_ps(_mm_shuffle_ps(dm, dm, 0x00), yd);
        const __m128 dmin = _mm_mul_ps(_mm_shuffle_ps(dm, dm, 0x55), yd);
        acc = _mm_fmadd_ps(d, _mm_cvtepi32_ps(sumi), acc);
        acc_m = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(msum), acc_m);
    }
    _mm_storeu_ps(out, _mm_sub_ps(acc, acc_m));
}

GM_AVX2 static void gm_dot4_q5_K_avx2(uint64_t n, const void *w, const void *xq, size_t stride,
                                      float out[4])
{
    const gm_block_q5_K *x = w;
    const gm_block_q8_K *y[4];
    __m256 acc[4];
    __m128 acc_m[4];
    GM_UNROLL4
    for (int k = 0; k < 4; k++) {
        y[k] = GM_Y4(gm_block_q8_K, xq, stride, k);
        acc[k] = _mm256_setzero_ps();
        acc_m[k] = _mm_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        gm_k4_unpack(x[i].scales, sc, mn);
        const float xd = gm_h2f(x[i].d);
        const float xdmin = gm_h2f(x[i].dmin);
        __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i lo[4], hi[4], s_lo[4], s_hi[4];
        GM_UNROLL4
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
            const __m256i h_hi =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            lo[j] = _mm256_or_si256(_mm256_and_si256(bits, m4), h_lo);
            hi[j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h_hi);
            s_lo[j] = _mm256_set1_epi16(sc[2 * j]);
            s_hi[j] = _mm256_set1_epi16(sc[2 * j + 1]);
        }
        GM_UNROLL4
        for (int k = 0; k < 4; k++) {
            const gm_block_q8_K *yb = &y[k][i];
            const float d = xd * yb->d;
            const float dmin = xdmin * yb->d;
            const __m128i prod_m = gm_k4_mins_dot(mn, yb->bsums);
            acc_m[k] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod_m), acc_m[k]);
            __m256i sumi = _mm256_setzero_si256();
            GM_UNROLL4
            for (int j = 0; j < 4; j++) {
                const __m256i y_lo = _mm256_loadu_si256((const __m256i *)(yb->qs + 64 * j));
                const __m256i y_hi = _mm256_loadu_si256((const __m256i *)(yb->qs + 64 * j + 32));
                const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[j], y_lo), s_lo[j]);
                const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[j], y_hi), s_hi[j]);
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[k]);
        }
    }
    GM_UNROLL4
    for (int k = 0; k < 4; k++) {
        __m128 m = _mm_add_ps(acc_m[k], _mm_movehl_ps(acc_m[k], acc_m[k]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[k] = gm_hsum_ps(acc[k]) - _mm_cvtss_f32(m);
    }
}

GM_AVX2 static void gm_dot4_q6_K_avx2(uint64_t n, const void *w, const void *xq, size_t stride,
                                      float out[4])
{
    gm_q6_K_vecs_avx2(n, w, xq, stride, out, 4);
}

/*
 * Q8_0: the one-vector dot, the tiles (R weight rows x V vectors, dot.h's
 * gm_tile_fn) and the panel (8 rows x any number of vectors) all compute,
 * for each (row, vector), the exact integer sum of every block and then,
 * per block i, one f32 step into lane i % 8 of an 8-lane accumulator:
 *   acc[i % 8] = fma(d_w * d_x, float(sum_i), acc[i % 8]),
 * the lanes added up at the end as gm_hsum_ps does. How the integer work
 * is laid out in lanes does not change a bit, so every kernel gives a row
 * and vector the bits of the one-vector dot (batch invariance).
 */
#define GM_Q8_TILE_R 2
#define GM_Q8_TILE_V 4

/* The fp16 scales of blocks 0..g-1 (g <= 8) from `first` on, as floats in
 * lanes 0..g-1 (0 in the others). */
GM_AVX2 __attribute__((always_inline)) static inline __m256
gm_q8_0_scales8_avx2(const gm_block_q8_0 *first, int g)
{
    __m128i h;
    if (g == 8) {
        h = _mm_setr_epi16((short)first[0].d, (short)first[1].d, (short)first[2].d,
                           (short)first[3].d, (short)first[4].d, (short)first[5].d,
                           (short)first[6].d, (short)first[7].d);
    } else {
        _Alignas(16) uint16_t d[8] = {0};
        for (int b = 0; b < g; b++)
            d[b] = first[b].d;
        h = _mm_load_si128((const __m128i *)d);
    }
    return _mm256_cvtph_ps(h);
}

/* Blocks i0 .. i0 + g - 1 (g <= 8) of R rows and V vectors: their integer
 * sums and f32 steps (lane b of acc for block i0 + b). */
GM_AVX2 __attribute__((always_inline)) static inline void
gm_q8_0_group_avx2(const gm_block_q8_0 *const *x, const gm_block_q8_0 *const *y, uint64_t i0,
                   const int g, __m256 (*acc)[GM_Q8_TILE_V], const int R, const int V)
{
    /* the 8-lane sums of the group's blocks, added up as they come
     * (a tree: pairs of blocks, then pairs of pairs, then the two halves) */
    __m256i z[GM_Q8_TILE_R][GM_Q8_TILE_V], h[GM_Q8_TILE_R][GM_Q8_TILE_V][2];
    __m256i q[GM_Q8_TILE_R][GM_Q8_TILE_V][2];
    GM_UNROLL4
    for (int b = 0; b < 8; b++) {
        const uint64_t i = i0 + (uint64_t)b;
        __m256i qx[GM_Q8_TILE_R], ax[GM_Q8_TILE_R];
        GM_UNROLL4
        for (int r = 0; r < R; r++) {
            /* past the last block: zeros, no products */
            qx[r] = b < g ? _mm256_loadu_si256((const __m256i *)x[r][i].qs)
                          : _mm256_setzero_si256();
            ax[r] = _mm256_sign_epi8(qx[r], qx[r]);
        }
        GM_UNROLL4
        for (int v = 0; v < V; v++) {
            const __m256i qy = b < g ? _mm256_loadu_si256((const __m256i *)y[v][i].qs)
                                     : _mm256_setzero_si256();
            GM_UNROLL4
            for (int r = 0; r < R; r++) { /* gm_dot_i8(qx, qy), |qx| shared */
                const __m256i zb = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(ax[r], _mm256_sign_epi8(qy, qx[r])),
                    _mm256_set1_epi16(1));
                if (b % 2 == 0) {
                    z[r][v] = zb;
                    continue;
                }
                h[r][v][(b / 2) % 2] = _mm256_hadd_epi32(z[r][v], zb);
                if (b % 4 == 3)
                    q[r][v][b / 4] = _mm256_hadd_epi32(h[r][v][0], h[r][v][1]);
            }
        }
    }
    __m256 dx[GM_Q8_TILE_R];
    GM_UNROLL4
    for (int r = 0; r < R; r++)
        dx[r] = gm_q8_0_scales8_avx2(x[r] + i0, g);
    /* lanes of blocks past the last one keep their value */
    const __m256 keep = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8), _mm256_set1_epi32(g)));
    GM_UNROLL4
    for (int v = 0; v < V; v++) {
        const __m256 dy = gm_q8_0_scales8_avx2(y[v] + i0, g);
        GM_UNROLL4
        for (int r = 0; r < R; r++) {
            const __m256 sum = _mm256_cvtepi32_ps(
                _mm256_add_epi32(_mm256_permute2x128_si256(q[r][v][0], q[r][v][1], 0x20),
                                 _mm256_permute2x128_si256(q[r][v][0], q[r][v][1], 0x31)));
            const __m256 a = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), sum, acc[r][v]);
            acc[r][v] = g == 8 ? a : _mm256_blendv_ps(a, acc[r][v], keep);
        }
    }
}

GM_AVX2 __attribute__((always_inline)) static inline void
gm_q8_0_tile_avx2(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                  float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q8_0 *x[GM_Q8_TILE_R];
    const gm_block_q8_0 *y[GM_Q8_TILE_V];
    __m256 acc[GM_Q8_TILE_R][GM_Q8_TILE_V];
    GM_UNROLL4
    for (int r = 0; r < R; r++) {
        x[r] = (const gm_block_q8_0 *)((const uint8_t *)w + (size_t)r * w_stride);
        GM_UNROLL4
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm256_setzero_ps();
    }
    GM_UNROLL4
    for (int v = 0; v < V; v++)
        y[v] = GM_Y4(gm_block_q8_0, xq, x_stride, v);
    const uint64_t nb = n / GM_QK8_0;
    for (uint64_t i0 = 0; i0 < nb; i0 += 8) {
        if (nb - i0 >= 8) /* g == 8 known here: no tests per block */
            gm_q8_0_group_avx2(x, y, i0, 8, acc, R, V);
        else
            gm_q8_0_group_avx2(x, y, i0, (int)(nb - i0), acc, R, V);
    }
    GM_UNROLL4
    for (int r = 0; r < R; r++)
        GM_UNROLL4
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + (size_t)r] = gm_hsum_ps(acc[r][v]);
}

GM_AVX2 static float gm_dot_q8_0_avx2(uint64_t n, const void *w, const void *xq)
{
    float out[1];
    gm_q8_0_tile_avx2(n, w, 0, xq, 0, out, 1, 1, 1);
    return out[0];
}

GM_AVX2 static void gm_dot4_q8_0_avx2(uint64_t n, const void *w, const void *xq, size_t stride,
                                      float out[4])
{
    gm_q8_0_tile_avx2(n, w, 0, xq, stride, out, 1, 1, 4);
}

#define GM_Q8_TILE_FN(name, R, V)                                                                  \
    GM_AVX2 static void gm_tile_q8_0_##name##_avx2(uint64_t n, const void *w, size_t w_stride,     \
                                                   const void *xq, size_t x_stride, float *y,      \
                                                   size_t y_stride)                                \
    {                                                                                              \
        gm_q8_0_tile_avx2(n, w, w_stride, xq, x_stride, y, y_stride, R, V);                        \
    }
GM_Q8_TILE_FN(1x1, 1, 1)
GM_Q8_TILE_FN(1x2, 1, 2)
GM_Q8_TILE_FN(1x3, 1, 3)
GM_Q8_TILE_FN(1x4, 1, 4)
GM_Q8_TILE_FN(Rx1, GM_Q8_TILE_R, 1)
GM_Q8_TILE_FN(Rx2, GM_Q8_TILE_R, 2)
GM_Q8_TILE_FN(Rx3, GM_Q8_TILE_R, 3)
GM_Q8_TILE_FN(Rx4, GM_Q8_TILE_R, 4)
#undef GM_Q8_TILE_FN

/*
 * The Q8_0 panel: 16 weight rows x any number of vectors, as two groups of
 * 8 rows, one row per 32-bit lane. Each block of the 16 rows is widened to
 * int16 and transposed once (wt[k][p]: elements 2p, 2p + 1 of every row of
 * group k), so that one vpmaddwd with an activation pair broadcast computes
 * 2 products for 8 rows (exact), the broadcast serves both groups, and the
 * scales and f32 steps are shared by 8 rows.
 */
#define GM_Q8_PANEL_ROWS 16
/* Vectors per pass over the blocks (their accumulators, 512 bytes each). */
#define GM_Q8_PANEL_PASS 32

/* Transpose 8 x 8 32-bit values held one row per register. */
GM_AVX2 static inline void gm_transpose8x8_epi32(__m256i m[8])
{
    __m256i a[8], b[8];
    for (int k = 0; k < 4; k++) {
        a[2 * k] = _mm256_unpacklo_epi32(m[2 * k], m[2 * k + 1]);
        a[2 * k + 1] = _mm256_unpackhi_epi32(m[2 * k], m[2 * k + 1]);
    }
    for (int q = 0; q < 2; q++) {
        b[4 * q + 0] = _mm256_unpacklo_epi64(a[4 * q], a[4 * q + 2]);
        b[4 * q + 1] = _mm256_unpackhi_epi64(a[4 * q], a[4 * q + 2]);
        b[4 * q + 2] = _mm256_unpacklo_epi64(a[4 * q + 1], a[4 * q + 3]);
        b[4 * q + 3] = _mm256_unpackhi_epi64(a[4 * q + 1], a[4 * q + 3]);
    }
    /* b[j] (rows 0..3), b[4 + j] (rows 4..7): columns j (low half), 4 + j (high half) */
    for (int j = 0; j < 4; j++) {
        m[j] = _mm256_permute2x128_si256(b[j], b[4 + j], 0x20);
        m[4 + j] = _mm256_permute2x128_si256(b[j], b[4 + j], 0x31);
    }
}

/* V vectors (yp: their block's pairs as int16, dy: their scales) against
 * one transposed block of the 16 rows: the f32 steps into acc[v][lane]. */
GM_AVX2 __attribute__((always_inline)) static inline void
gm_q8_0_panel_vecs_avx2(const int32_t (*wt)[16][8], const __m256 *dx, const int32_t (*yp)[16],
                        const float *dy, float (*acc)[8][GM_Q8_PANEL_ROWS], int lane, const int V)
{
    __m256i s[4][2];
    GM_UNROLL4
    for (int k = 0; k < V; k++)
        s[k][0] = s[k][1] = _mm256_setzero_si256();
    for (int p = 0; p < 16; p++) {
        const __m256i w0 = _mm256_load_si256((const __m256i *)wt[0][p]);
        const __m256i w1 = _mm256_load_si256((const __m256i *)wt[1][p]);
        GM_UNROLL4
        for (int k = 0; k < V; k++) {
            const __m256i yb = _mm256_set1_epi32(yp[k][p]);
            s[k][0] = _mm256_add_epi32(s[k][0], _mm256_madd_epi16(w0, yb));
            s[k][1] = _mm256_add_epi32(s[k][1], _mm256_madd_epi16(w1, yb));
            /* keep the adds in this order (reassociated, they spill) */
            __asm__("" : "+x"(s[k][0]), "+x"(s[k][1]));
        }
    }
    GM_UNROLL4
    for (int k = 0; k < V; k++) {
        const __m256 d = _mm256_set1_ps(dy[k]);
        GM_UNROLL4
        for (int h = 0; h < 2; h++) {
            float *a = acc[k][lane] + 8 * h;
            _mm256_store_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(dx[h], d),
                                               _mm256_cvtepi32_ps(s[k][h]), _mm256_load_ps(a)));
        }
    }
}

#define GM_Q8_PANEL_VECS_CASE(nv)                                                                  \
    case nv:                                                                                       \
        gm_q8_0_panel_vecs_avx2(wt, dx, yp + v, dy + v, acc + v, lane, nv);                        \
        break;

GM_AVX2 static void gm_panel_q8_0_avx2(uint64_t n, const void *w, size_t w_stride, const void *xq,
                                       size_t x_stride, uint32_t n_vec, float *out,
                                       size_t out_stride)
{
    _Alignas(32) float acc[GM_Q8_PANEL_PASS][8][GM_Q8_PANEL_ROWS];
    _Alignas(32) int32_t wt[2][16][8];
    _Alignas(32) int32_t yp[GM_Q8_PANEL_PASS][16];
    float dy[GM_Q8_PANEL_PASS];
    const uint8_t *wb = w;
    const uint64_t nb = n / GM_QK8_0;
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_Q8_PANEL_PASS) {
        const uint32_t nv = n_vec - v0 < GM_Q8_PANEL_PASS ? n_vec - v0 : GM_Q8_PANEL_PASS;
        memset(acc, 0, nv * sizeof acc[0]);
        for (uint64_t i = 0; i < nb; i++) {
            __m256 dx[2];
            for (int k = 0; k < 2; k++) {
                /* block i of rows 8k..8k+7: elements 0..15, then 16..31, as int16 pairs */
                __m256i lo[8], hi[8];
                uint16_t dh[8];
                for (int r = 0; r < 8; r++) {
                    const gm_block_q8_0 *b =
                        (const gm_block_q8_0 *)(wb + (size_t)(8 * k + r) * w_stride) + i;
                    /* 16 rows read a block at a time are 16 streams, which the
                     * hardware prefetchers follow poorly: ask 16 blocks ahead */
                    _mm_prefetch((const char *)(b + 16), _MM_HINT_T0);
                    const __m256i q = _mm256_loadu_si256((const __m256i *)b->qs);
                    lo[r] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
                    hi[r] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
                    dh[r] = b->d;
                }
                gm_transpose8x8_epi32(lo);
                gm_transpose8x8_epi32(hi);
                for (int p = 0; p < 8; p++) {
                    _mm256_store_si256((__m256i *)wt[k][p], lo[p]);
                    _mm256_store_si256((__m256i *)wt[k][8 + p], hi[p]);
                }
                dx[k] = _mm256_cvtph_ps(
                    _mm_setr_epi16((short)dh[0], (short)dh[1], (short)dh[2], (short)dh[3],
                                   (short)dh[4], (short)dh[5], (short)dh[6], (short)dh[7]));
            }
            for (uint32_t v = 0; v < nv; v++) {
                const gm_block_q8_0 *y =
                    (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)(v0 + v) * x_stride) + i;
                const __m256i q = _mm256_loadu_si256((const __m256i *)y->qs);
                _mm256_store_si256((__m256i *)yp[v],
                                   _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)));
                _mm256_store_si256((__m256i *)(yp[v] + 8),
                                   _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)));
                dy[v] = gm_h2f(y->d);
            }
            const int lane = (int)(i % 8);
            for (uint32_t v = 0; v < nv; v += 4) {
                switch (nv - v < 4 ? nv - v : 4) {
                    GM_Q8_PANEL_VECS_CASE(1)
                    GM_Q8_PANEL_VECS_CASE(2)
                    GM_Q8_PANEL_VECS_CASE(3)
                default:
                    gm_q8_0_panel_vecs_avx2(wt, dx, yp + v, dy + v, acc + v, lane, 4);
                    break;
                }
            }
        }
        /* lanes added up as gm_hsum_ps adds up the dot's 8 lanes */
        for (uint32_t v = 0; v < nv; v++) {
            const float(*a)[GM_Q8_PANEL_ROWS] = acc[v];
            for (int h = 0; h < 2; h++) {
                __m256 t[4];
                for (int j = 0; j < 4; j++)
                    t[j] = _mm256_add_ps(_mm256_load_ps(a[j] + 8 * h),
                                         _mm256_load_ps(a[j + 4] + 8 * h));
                _mm256_storeu_ps(
                    out + (size_t)(v0 + v) * out_stride + 8 * h,
                    _mm256_add_ps(_mm256_add_ps(t[0], t[2]), _mm256_add_ps(t[1], t[3])));
            }
        }
    }
}

#undef GM_Q8_PANEL_VECS_CASE

static const gm_tiles gm_tiles_q8_0_avx2 = {
    GM_Q8_TILE_R,
    GM_Q8_TILE_V,
    {gm_tile_q8_0_1x1_avx2, gm_tile_q8_0_1x2_avx2, gm_tile_q8_0_1x3_avx2, gm_tile_q8_0_1x4_avx2},
    {gm_tile_q8_0_Rx1_avx2, gm_tile_q8_0_Rx2_avx2, gm_tile_q8_0_Rx3_avx2, gm_tile_q8_0_Rx4_avx2},
    GM_Q8_PANEL_ROWS,
    gm_panel_q8_0_avx2,
    0,
    NULL,
};

#endif /* GM_HAVE_AVX2_KERNELS */

gm_dot_fn gm_dot_avx2(gm_type type)
{
#ifdef GM_HAVE_AVX2_KERNELS
    if (!gm_cpu_has_avx2())
        return NULL;
    switch (type) {
    case GM_TYPE_F32:
        return gm_dot_f32_avx2;
    case GM_TYPE_F16:
        return gm_dot_f16_avx2;
    case GM_TYPE_BF16:
        return gm_dot_bf16_avx2;
    case GM_TYPE_Q8_0:
        return gm_dot_q8_0_avx2;
    case GM_TYPE_Q4_0:
        return gm_dot_q4_0_avx2;
    case GM_TYPE_Q5_0:
        return gm_dot_q5_0_avx2;
    case GM_TYPE_Q4_K:
        return gm_dot_q4_K_avx2;
    case GM_TYPE_Q5_K:
        return gm_dot_q5_K_avx2;
    case GM_TYPE_Q6_K:
        return gm_dot_q6_K_avx2;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

gm_dot4_fn gm_dot4_avx2(gm_type type)
{
#ifdef GM_HAVE_AVX2_KERNELS
    if (!gm_cpu_has_avx2())
        return NULL;
    switch (type) {
    case GM_TYPE_F32:
        return gm_dot4_f32_avx2;
    case GM_TYPE_F16:
        return gm_dot4_f16_avx2;
    case GM_TYPE_BF16:
        return gm_dot4_bf16_avx2;
    case GM_TYPE_Q8_0:
        return gm_dot4_q8_0_avx2;
    case GM_TYPE_Q4_0:
        return gm_dot4_q4_0_avx2;
    case GM_TYPE_Q4_K:
        return gm_dot4_q4_K_avx2;
    case GM_TYPE_Q5_K:
        return gm_dot4_q5_K_avx2;
    case GM_TYPE_Q6_K:
        return gm_dot4_q6_K_avx2;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}

const gm_tiles *gm_tiles_avx2(gm_type type)
{
#ifdef GM_HAVE_AVX2_KERNELS
    if (!gm_cpu_has_avx2())
        return NULL;
    switch (type) {
    case GM_TYPE_Q8_0:
        return &gm_tiles_q8_0_avx2;
    default:
        return NULL;
    }
#else
    (void)type;
    return NULL;
#endif
}
