/*
 * engine/model/softcap.c -- the logit soft-cap, x = cap * tanh(x / cap),
 * over the whole vocabulary at every decode step (ops.h).
 *
 * llama.cpp computes the tanh with the C library's tanhf, one value at a
 * time; on the 262144 logits of a Gemma 4 step that took ~3.4 ms of CPU
 * (glibc 2.36, ~13 ns a call), several per cent of a decode step. Here
 * the same function is computed eight values at a time with AVX2, giving
 * the bits glibc 2.36 gives (checked over every float by
 * tests/unit/test_softcap.c where the C library is that one).
 *
 * The method is the classic fdlibm one that glibc's float tanhf and
 * expm1f follow (written here from its description, not copied):
 *   tanh(x) = 1 - 2 / (expm1(2|x|) + 2)          for 1 <= |x| < 22,
 *           = -t / (t + 2), t = expm1(-2|x|)      for |x| < 1,
 *           = +-1 for |x| >= 22, x itself for tiny |x|,
 * and expm1(a) reduces a = k ln2 + r (|r| <= ln2/2, ln2 split in a high
 * and a low part, with the rounding error c of the reduction carried), a
 * rational approximation of r, and one of a few reconstructions chosen by
 * k. Every step is a float operation rounded on its own: no fused
 * multiply-add (the pragmas below keep a compiler from forming them).
 * A scalar copy of the same steps serves the scalar CPU path and the
 * tails, so every path gives the same bits.
 */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"
#include "engine/model/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GM_SOFTCAP_X86 1
#endif

/* The constants of the method, as float bit patterns. */
#define LN2_HI 0x1.62e300p-1f  /* ln 2, high part (0x3f317180) */
#define LN2_LO 0x1.2fefa2p-17f /* ln 2 - LN2_HI (0x3717f7d1) */
#define INV_LN2 0x1.715476p+0f /* 1 / ln 2 (0x3fb8aa3b) */
#define Q1 -0x1.111112p-5f     /* the rational approximation's coefficients */
#define Q2 0x1.a01a02p-10f
#define Q3 -0x1.4ce19ap-14f
#define Q4 0x1.0cfca8p-18f
#define Q5 -0x1.afdb76p-23f

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* expm1(a) for the arguments tanh gives it: finite, -2 < a < 44. */
static float expm1_reduced(float a)
{
    const uint32_t ha = f2u(a) & 0x7fffffffu;
    const bool neg = f2u(a) >> 31;
    float hi, lo, c = 0.0f, x = a;
    int k = 0;
    if (ha > 0x3eb17218u) { /* |a| > ln2 / 2: reduce */
        if (ha < 0x3f851592u) { /* |a| < 1.5 ln2: k = +-1 */
            k = neg ? -1 : 1;
            hi = neg ? a + LN2_HI : a - LN2_HI;
            lo = neg ? -LN2_LO : LN2_LO;
        } else {
            k = (int)(INV_LN2 * a + (neg ? -0.5f : 0.5f));
            const float t = (float)k;
            hi = a - t * LN2_HI;
            lo = t * LN2_LO;
        }
        x = hi - lo;
        c = (hi - x) - lo;
    } else if (ha < 0x33000000u) { /* |a| < 2^-25: expm1(a) rounds to a */
        return a;
    }
    const float hfx = 0.5f * x;
    const float hxs = x * hfx;
    const float r1 = 1.0f + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
    const float t = 3.0f - r1 * hfx;
    float e = hxs * ((r1 - t) / (6.0f - x * t));
    if (k == 0)
        return x - (x * e - hxs);
    e = x * (e - c) - c;
    e -= hxs;
    if (k == -1)
        return 0.5f * (x - e) - 0.5f;
    if (k == 1)
        return x < -0.25f ? -2.0f * (e - (x + 0.5f)) : 1.0f + 2.0f * (x - e);
    const float twopk = u2f((uint32_t)(0x7f + k) << 23);
    if (k <= -2 || k > 56)
        return (1.0f - (e - x)) * twopk - 1.0f;
    if (k < 23)
        return (u2f(0x3f800000u - (0x1000000u >> k)) - (e - x)) * twopk;
    return ((x - (e + u2f((uint32_t)(0x7f - k) << 23))) + 1.0f) * twopk;
}

float gm_tanhf(float x)
{
    const uint32_t ix = f2u(x) & 0x7fffffffu;
    const bool neg = f2u(x) >> 31;
    if (ix >= 0x7f800000u) /* inf or NaN */
        return neg ? 1.0f / x - 1.0f : 1.0f / x + 1.0f;
    float z;
    if (ix >= 0x41b00000u) /* |x| >= 22 */
        z = 1.0f;
    else if (ix == 0)
        return x;
    else if (ix < 0x24000000u) /* |x| < 2^-55 */
        return x * (1.0f + x);
    else if (ix >= 0x3f800000u) /* |x| >= 1 */
        z = 1.0f - 2.0f / (expm1_reduced(2.0f * fabsf(x)) + 2.0f);
    else {
        const float t = expm1_reduced(-2.0f * fabsf(x));
        z = -t / (t + 2.0f);
    }
    return neg ? -z : z;
}

#ifdef GM_SOFTCAP_X86
#define GM_AVX2 __attribute__((target("avx2")))

/* tanh of 8 finite values with 2^-55 <= |x| < 22, lane by lane the steps
 * of gm_tanhf (every branch computed, the lane's one blended in). */
GM_AVX2 static __m256 tanh8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 big = _mm256_cmp_ps(ax, one, _CMP_GE_OQ); /* |x| >= 1 */
    /* a = 2|x| where |x| >= 1, else -2|x| */
    const __m256 a2 = _mm256_mul_ps(two, ax);
    const __m256 a = _mm256_blendv_ps(_mm256_xor_ps(a2, sign), a2, big);

    /* ---- expm1(a) ---- */
    const __m256i ha = _mm256_castps_si256(_mm256_andnot_ps(sign, a));
    const __m256 aneg = _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256i reduce = _mm256_cmpgt_epi32(ha, _mm256_set1_epi32(0x3eb17218));
    const __m256i near = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3f851592), ha);
    const __m256i tiny = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x33000000), ha);
    /* k = +-1 near ln2, else (int)(a / ln2 +- 0.5) truncated */
    const __m256 rnd = _mm256_blendv_ps(half, _mm256_set1_ps(-0.5f), aneg);
    __m256i k = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(INV_LN2), a), rnd));
    const __m256i kpm1 = _mm256_blendv_epi8(_mm256_set1_epi32(1), _mm256_set1_epi32(-1),
                                            _mm256_castps_si256(aneg));
    k = _mm256_blendv_epi8(k, kpm1, _mm256_and_si256(reduce, near));
    k = _mm256_and_si256(k, reduce); /* k = 0 without reduction */
    const __m256 t = _mm256_cvtepi32_ps(k);
    /* hi = a - t ln2_hi, lo = t ln2_lo; for k = +-1 the same two values
     * (t ln2_hi and t ln2_lo are then exact) */
    const __m256 hi = _mm256_sub_ps(a, _mm256_mul_ps(t, _mm256_set1_ps(LN2_HI)));
    const __m256 lo = _mm256_mul_ps(t, _mm256_set1_ps(LN2_LO));
    const __m256 rmask = _mm256_castsi256_ps(reduce);
    const __m256 xr = _mm256_sub_ps(hi, lo);
    const __m256 r = _mm256_blendv_ps(a, xr, rmask);
    const __m256 c = _mm256_and_ps(_mm256_sub_ps(_mm256_sub_ps(hi, xr), lo), rmask);
    const __m256 hfx = _mm256_mul_ps(half, r);
    const __m256 hxs = _mm256_mul_ps(r, hfx);
    __m256 p = _mm256_mul_ps(hxs, _mm256_set1_ps(Q5));
    p = _mm256_mul_ps(hxs, _mm256_add_ps(_mm256_set1_ps(Q4), p));
    p = _mm256_mul_ps(hxs, _mm256_add_ps(_mm256_set1_ps(Q3), p));
    p = _mm256_mul_ps(hxs, _mm256_add_ps(_mm256_set1_ps(Q2), p));
    p = _mm256_mul_ps(hxs, _mm256_add_ps(_mm256_set1_ps(Q1), p));
    const __m256 r1 = _mm256_add_ps(one, p);
    const __m256 tt = _mm256_sub_ps(_mm256_set1_ps(3.0f), _mm256_mul_ps(r1, hfx));
    __m256 e = _mm256_mul_ps(hxs, _mm256_div_ps(_mm256_sub_ps(r1, tt),
                                                _mm256_sub_ps(_mm256_set1_ps(6.0f),
                                                              _mm256_mul_ps(r, tt))));
    /* k == 0 */
    const __m256 y0 = _mm256_sub_ps(r, _mm256_sub_ps(_mm256_mul_ps(r, e), hxs));
    /* k != 0 */
    e = _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(r, _mm256_sub_ps(e, c)), c), hxs);
    const __m256 ym1 = _mm256_sub_ps(_mm256_mul_ps(half, _mm256_sub_ps(r, e)), half);
    const __m256 yp1lo = _mm256_mul_ps(_mm256_set1_ps(-2.0f),
                                       _mm256_sub_ps(e, _mm256_add_ps(r, half)));
    const __m256 yp1hi = _mm256_add_ps(one, _mm256_mul_ps(two, _mm256_sub_ps(r, e)));
    const __m256 yp1 = _mm256_blendv_ps(yp1hi, yp1lo,
                                        _mm256_cmp_ps(r, _mm256_set1_ps(-0.25f), _CMP_LT_OQ));
    /* 2^k; and for 2 <= k < 23 the value 1 - 2^-k, for k >= 23 2^-k */
    const __m256 twopk = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(0x7f)), 23));
    const __m256 yfar = _mm256_sub_ps(
        _mm256_mul_ps(_mm256_sub_ps(one, _mm256_sub_ps(e, r)), twopk), one);
    const __m256i kc = _mm256_min_epi32(_mm256_max_epi32(k, _mm256_set1_epi32(0)),
                                        _mm256_set1_epi32(31));
    const __m256 t1 = _mm256_castsi256_ps(_mm256_sub_epi32(
        _mm256_set1_epi32(0x3f800000), _mm256_srlv_epi32(_mm256_set1_epi32(0x1000000), kc)));
    const __m256 ymid = _mm256_mul_ps(_mm256_sub_ps(t1, _mm256_sub_ps(e, r)), twopk);
    const __m256 t2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_sub_epi32(_mm256_set1_epi32(0x7f), k), 23));
    const __m256 yhigh = _mm256_mul_ps(
        _mm256_add_ps(_mm256_sub_ps(r, _mm256_add_ps(e, t2)), one), twopk);
    /* choose by k */
    const __m256i km1 = _mm256_cmpeq_epi32(k, _mm256_set1_epi32(-1));
    const __m256i kp1 = _mm256_cmpeq_epi32(k, _mm256_set1_epi32(1));
    const __m256i kfar = _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(-1), k),
                                         _mm256_cmpgt_epi32(k, _mm256_set1_epi32(56)));
    const __m256i klow = _mm256_cmpgt_epi32(_mm256_set1_epi32(23), k);
    __m256 em1 = _mm256_blendv_ps(yhigh, ymid, _mm256_castsi256_ps(klow));
    em1 = _mm256_blendv_ps(em1, yfar, _mm256_castsi256_ps(kfar));
    em1 = _mm256_blendv_ps(em1, yp1, _mm256_castsi256_ps(kp1));
    em1 = _mm256_blendv_ps(em1, ym1, _mm256_castsi256_ps(km1));
    em1 = _mm256_blendv_ps(em1, y0, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256())));
    em1 = _mm256_blendv_ps(em1, a, _mm256_castsi256_ps(tiny));

    /* ---- tanh from expm1 ---- */
    /* |x| >= 1: 1 - 2 / (t + 2); else -t / (t + 2) (one division) */
    const __m256 q = _mm256_div_ps(_mm256_blendv_ps(_mm256_xor_ps(em1, sign), two, big),
                                   _mm256_add_ps(em1, two));
    const __m256 z = _mm256_blendv_ps(q, _mm256_sub_ps(one, q), big);
    return _mm256_or_ps(z, _mm256_and_ps(x, sign));
}

/* x = cap * tanh(x * (1/cap)) for n values; lanes outside the range tanh8
 * covers (zero, tiny, |x| >= 22, inf, NaN) are redone with gm_tanhf. */
GM_AVX2 static void softcap_avx2(float *x, uint32_t n, float cap)
{
    const float inv = 1.0f / cap;
    const __m256 vinv = _mm256_set1_ps(inv), vcap = _mm256_set1_ps(cap);
    const __m256i lo = _mm256_set1_epi32(0x24000000 - 1), hi = _mm256_set1_epi32(0x41b00000);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
        const __m256i iv = _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff));
        /* in range: 2^-55 <= |v| < 22 */
        const __m256i ok = _mm256_and_si256(_mm256_cmpgt_epi32(iv, lo), _mm256_cmpgt_epi32(hi, iv));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(tanh8(v), vcap));
        const int bad = ~_mm256_movemask_ps(_mm256_castsi256_ps(ok)) & 0xff;
        if (bad != 0) {
            float vs[8];
            _mm256_storeu_ps(vs, v);
            for (int l = 0; l < 8; l++)
                if (bad >> l & 1)
                    x[i + l] = gm_tanhf(vs[l]) * cap;
        }
    }
    for (; i < n; i++)
        x[i] = gm_tanhf(x[i] * inv) * cap;
}
#endif

void gm_softcap_scalar(float *x, uint32_t n, float cap)
{
    const float inv = 1.0f / cap;
    for (uint32_t i = 0; i < n; i++)
        x[i] = gm_tanhf(x[i] * inv) * cap;
}

void gm_softcap(float *x, uint32_t n, float cap)
{
#ifdef GM_SOFTCAP_X86
    if (gm_cpu_active_path() != GM_CPU_SCALAR) {
        softcap_avx2(x, n, cap);
        return;
    }
#endif
    gm_softcap_scalar(x, n, cap);
}
