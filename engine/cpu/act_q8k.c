/*
 * engine/cpu/act_q8k.c -- Q8_K activation quantization with AVX2
 * (engine/cpu/act_q8k.h).
 *
 * The reference (gm_quantize_q8_K) per block of 256: the element of
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
#include <string.h>

#include "engine/cpu/act_q8k.h"
#include "engine/cpu/cpu_path.h"

bool gm_act_q8_K_avx2_supported(void)
{
    return gm_cpu_has_avx2();
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

void gm_act_q8_K_avx2(const float *x, gm_block_q8_K *y, uint64_t nb)
{
    (void)x, (void)y, (void)nb;
}

#endif
