/*
 * engine/cpu/act_convert.c -- Q8_0 and Q8_K activation conversion, in
 * plain C and with AVX2, and F16/BF16 conversion with AVX2
 * (engine/cpu/act_convert.h).
 *
 * F16: vcvtps2ph rounds to nearest even as gm_fp32_to_fp16 does,
 * subnormal and infinite results included; only NaN differs (the
 * instruction keeps the payload's top bits, the C form writes the
 * canonical sign | 0x7E00), so NaN lanes are redone in C. BF16: the C
 * form's integer rounding on 8 lanes, NaN lanes selected by compare.
 *
 * Q8_0 with AVX2 is ggml-cpu's own sequence (magnitudes by vmaxps, the
 * product, vcvtps2dq, vpackssdw, vpacksswb, the lane order restored by
 * vpermd); the plain C form emulates it element for element. Both agree
 * on every block without NaN: there the largest magnitude does not depend
 * on the order of the maxima, a product is NaN or infinite only where
 * 127 / amax or x is infinite (|x| <= amax), and it rounds half to even
 * either way. A block holding a NaN, where the C emulation's sequential
 * maximum and the vector one part ways, goes through the plain C form.
 *
 * Q8_K: the reference (gm_quantize_q8_K) per block of 256: the element of
 * largest magnitude, the first one where several tie (NaN never counts);
 * iscale = -127 / that element; q = min(127, nearest_int(iscale * x))
 * wrapped to int8, nearest_int being ggml's add-1.5*2^23 trick; bsums the
 * int sums of 16 q; d = 1 / iscale; an all-zero block where the largest
 * magnitude is 0. Each step here does the same float operations on 8
 * lanes at a time (a product, then a sum: compiled without FMA, so none
 * is fused) and the same integer ones, so every byte matches:
 *  - magnitudes: the sign bit cleared; vmaxps(|x|, m) keeps m where |x|
 *    is NaN, as the reference's `ax > amax` does;
 *  - the element: the first lane whose magnitude equals the maximum;
 *  - q: the low byte of each int32, gathered by packs of values first
 *    masked to 0..255 (no saturation happens);
 *  - bsums: vpsadbw of q ^ 0x80 sums 8 bytes as unsigned, minus 8 * 128.
 */
#include <math.h>
#include <string.h>

#include "engine/cpu/act_convert.h"
#include "engine/cpu/cpu_path.h"
#include "engine/quant/quant.h"
#include "engine/quant/quant_impl.h"

bool gm_act_avx2_supported(void)
{
    return gm_cpu_has_avx2();
}

/* ggml-cpu's x86 AVX2 quantize_row_q8_0, element for element. */
void gm_act_q8_0(const float *x, gm_block_q8_0 *y, uint64_t nb)
{
    for (uint64_t i = 0; i < nb; i++, x += GM_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < GM_QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127.f;
        y[i].d = gm_fp32_to_fp16(d);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < GM_QK8_0; j++) {
            const float v = x[j] * id;
            int q;
            if (!(fabsf(v) <= 4194303.f))
                q = -128; /* NaN or huge: cvtps_epi32 gives INT_MIN, packs saturate */
            else
                q = gm_nearest_int(v); /* round half to even */
            q = q < -128 ? -128 : q > 127 ? 127 : q;
            y[i].qs[j] = (int8_t)q;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

/* AVX2 only: without FMA in the target the compiler cannot fuse the
 * product and the sum of the rounding step. */
#define GM_T_AQ __attribute__((target("avx2")))

/* The largest |x| of 256 elements (0 when all are zero or NaN). */
GM_T_AQ static float gm_aq_amax(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m[4];
    for (int k = 0; k < 4; k++)
        m[k] = _mm256_setzero_ps();
    for (int j = 0; j < 256; j += 32)
        for (int k = 0; k < 4; k++) /* the magnitude first: a NaN one leaves m */
            m[k] = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j + 8 * k)), m[k]);
    /* no NaN left: the order of the maxima does not matter */
    __m256 a = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}

/* The first element of 256 whose magnitude is amax (there is one). */
GM_T_AQ static float gm_aq_first_with(const float *x, float amax)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 am = _mm256_set1_ps(amax);
    for (int j = 0; j < 256; j += 8) {
        const __m256 eq =
            _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), am, _CMP_EQ_OQ);
        const int mask = _mm256_movemask_ps(eq);
        if (mask != 0)
            return x[j + __builtin_ctz((unsigned)mask)];
    }
    return x[0]; /* not reached */
}

/* min(127, nearest_int(iscale * x)) of 8 elements, as int32. */
GM_T_AQ static inline __m256i gm_aq_round8(const float *x, __m256 iscale)
{
    const __m256 magic = _mm256_set1_ps(12582912.f);
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(iscale, _mm256_loadu_ps(x)), magic);
    const __m256i i = _mm256_sub_epi32(
        _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x007fffff)),
        _mm256_set1_epi32(0x00400000));
    return _mm256_min_epi32(i, _mm256_set1_epi32(127));
}

/* Whether one of 32 elements is NaN. */
GM_T_AQ static inline bool gm_aq_has_nan(const __m256 *v)
{
    const __m256 u = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(v[0], v[0], _CMP_UNORD_Q),
                                               _mm256_cmp_ps(v[1], v[1], _CMP_UNORD_Q)),
                                  _mm256_or_ps(_mm256_cmp_ps(v[2], v[2], _CMP_UNORD_Q),
                                               _mm256_cmp_ps(v[3], v[3], _CMP_UNORD_Q)));
    return _mm256_movemask_ps(u) != 0;
}

GM_T_AQ void gm_act_q8_0_avx2(const float *x, gm_block_q8_0 *y, uint64_t nb)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (uint64_t i = 0; i < nb; i++, x += GM_QK8_0) {
        __m256 v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm256_loadu_ps(x + 8 * k);
        if (gm_aq_has_nan(v)) {
            gm_act_q8_0(x, y + i, 1);
            continue;
        }
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]),
                                               _mm256_andnot_ps(sign, v[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]),
                                               _mm256_andnot_ps(sign, v[3])));
        __m128 b = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        b = _mm_max_ps(b, _mm_movehl_ps(b, b));
        b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
        const float amax = _mm_cvtss_f32(b);
        y[i].d = gm_fp32_to_fp16(amax / 127.f);
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; k++) /* rounds half to even (the default MXCSR mode) */
            q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                             _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(void *)y[i].qs, _mm256_permutevar8x32_epi32(p, order));
    }
}

/* F16C for the F16 conversion (round to nearest even by the immediate,
 * whatever MXCSR says). */
#define GM_T_AQH __attribute__((target("avx2,f16c")))

GM_T_AQH void gm_act_f16_avx2(const float *x, uint16_t *y, uint64_t n)
{
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        const int nan = _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        if (nan != 0) /* NaN: the C form's canonical quiet NaN, not the payload */
            for (int k = 0; k < 8; k++)
                if (nan & (1 << k))
                    y[i + k] = gm_fp32_to_fp16(x[i + k]);
    }
    for (; i < n; i++)
        y[i] = gm_fp32_to_fp16(x[i]);
}

GM_T_AQ void gm_act_bf16_avx2(const float *x, uint16_t *y, uint64_t n)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i half = _mm256_set1_epi32(0x7fff);
    const __m256i quiet = _mm256_set1_epi32(64);
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int k = 0; k < 2; k++) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(x + i + 8 * k));
            const __m256i top = _mm256_srli_epi32(u, 16);
            /* (u + 0x7fff + (top & 1)) >> 16, wrapping as uint32 */
            const __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(top, one))), 16);
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
            r[k] = _mm256_blendv_epi8(rounded, _mm256_or_si256(top, quiet), nan);
        }
        /* 0..0xffff in each int32: packus keeps them; then the lane order */
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(void *)(y + i), p);
    }
    for (; i < n; i++)
        y[i] = gm_fp32_to_bf16(x[i]);
}

GM_T_AQ void gm_act_q8_K_avx2(const float *x, gm_block_q8_K *y, uint64_t nb)
{
    const __m256i low = _mm256_set1_epi32(0xFF);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (uint64_t i = 0; i < nb; i++, x += 256) {
        const float amax = gm_aq_amax(x);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(gm_block_q8_K));
            continue;
        }
        const float max = gm_aq_first_with(x, amax);
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        _Alignas(32) int64_t sums[32];
        for (int j = 0; j < 256; j += 32) {
            __m256i v[4];
            for (int k = 0; k < 4; k++)
                v[k] = _mm256_and_si256(gm_aq_round8(x + j + 8 * k, is), low);
            /* bytes of v0[0..3] v1[0..3] v2[0..3] v3[0..3] v0[4..7] ... */
            const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]),
                                                  _mm256_packus_epi32(v[2], v[3]));
            const __m256i q = _mm256_permutevar8x32_epi32(p, order);
            _mm256_storeu_si256((__m256i *)(void *)(y[i].qs + j), q);
            _mm256_store_si256((__m256i *)(void *)(sums + j / 8),
                               _mm256_sad_epu8(_mm256_xor_si256(q, flip), _mm256_setzero_si256()));
        }
        for (int j = 0; j < 16; j++)
            y[i].bsums[j] = (int16_t)(sums[2 * j] + sums[2 * j + 1] - 16 * 128);
        y[i].d = 1 / iscale;
    }
}

#else /* no x86-64 kernels in this build */

void gm_act_q8_0_avx2(const float *x, gm_block_q8_0 *y, uint64_t nb)
{
    gm_act_q8_0(x, y, nb);
}

void gm_act_q8_K_avx2(const float *x, gm_block_q8_K *y, uint64_t nb)
{
    (void)x, (void)y, (void)nb;
}

void gm_act_f16_avx2(const float *x, uint16_t *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        y[i] = gm_fp32_to_fp16(x[i]);
}

void gm_act_bf16_avx2(const float *x, uint16_t *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        y[i] = gm_fp32_to_bf16(x[i]);
}

#endif
