/*
 * engine/model/attn_dot.c -- the two inner loops of attention
 * (attn_dot.h): the scores of one query head against a run of keys, and
 * the softmax-weighted sum of the value rows (docs/architecture.md E6).
 *
 * Rounding is fixed, whatever the code path: a score is q . k summed in 8
 * lanes (lane l takes elements l, l+8, l+16, ...), each lane a running sum
 * of rounded products, then ((0+1)+(2+3))+((4+5)+(6+7)), then the
 * elements past the last multiple of 8 in order (with this order the
 * scores agree bit for bit with llama.cpp's more often than with a plain
 * running sum, measured on Q8_0 models); an output element of the weighted
 * sum is a running sum from zero, in key order, of rounded products. No
 * fused multiply-add anywhere (it rounds once instead of twice).
 *
 * Two implementations give those bits: portable GNU C vectors of 4 floats
 * (SSE2 on x86-64), and AVX2 (8 lanes in one register), used where the
 * process's CPU path (engine/cpu/cpu_path.h) is AVX2 or AVX-512. Both keep
 * their accumulators in registers across the loop: several keys at once
 * for the scores, a block of output elements across all keys for the sum.
 * The AVX2 code also takes four query heads of a KV group at a time, so
 * that each key and value row is read once for the four (at long contexts
 * the rows come from memory, not cache, once per head otherwise).
 *
 * The weighted sum goes over the keys in runs (keys_per_run): every block
 * of output elements takes one run of value rows, which stay in L1/L2 for
 * all the blocks, then the next run; the accumulators go to `out` between
 * runs and come back from it (a float stored and reloaded keeps its bits,
 * so each element is still one running sum in key order). A caller may
 * also ask for a block of output columns only (gm_attn_weighted_sum_cols),
 * to share the columns of a long decode step among threads
 * (attn_split.c).
 */
#include <stdbool.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"
#include "engine/model/attn_dot.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GM_ATTN_X86 1
#endif

/* ---- portable: GNU C vectors of 4 floats --------------------------------- */

typedef float gm_v4f __attribute__((vector_size(16)));

static gm_v4f load4(const float *p)
{
    gm_v4f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The 8-lane reduction of lanes 0-3 (lo) and 4-7 (hi), then the tail. */
static float finish(gm_v4f lo, gm_v4f hi, const float *q, const float *k, uint32_t i,
                    uint32_t n)
{
    float sum = ((lo[0] + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]));
    for (; i < n; i++)
        sum += q[i] * k[i];
    return sum;
}

static float dot_1(const float *q, const float *k, uint32_t n)
{
    gm_v4f lo = {0}, hi = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lo += load4(q + i) * load4(k + i);
        hi += load4(q + i + 4) * load4(k + i + 4);
    }
    return finish(lo, hi, q, k, i, n);
}

/* Two keys at a time: four accumulators, each written out (an array of
 * vectors was kept in memory by GCC, a store and reload every step). */
static void scores_portable(const float *q, const float *const *k, uint32_t nk, uint32_t d,
                            float *scores)
{
    uint32_t j = 0;
    for (; j + 2 <= nk; j += 2) {
        const float *k0 = k[j], *k1 = k[j + 1];
        gm_v4f lo0 = {0}, hi0 = {0}, lo1 = {0}, hi1 = {0};
        uint32_t i = 0;
        for (; i + 8 <= d; i += 8) {
            const gm_v4f qa = load4(q + i), qb = load4(q + i + 4);
            lo0 += qa * load4(k0 + i);
            hi0 += qb * load4(k0 + i + 4);
            lo1 += qa * load4(k1 + i);
            hi1 += qb * load4(k1 + i + 4);
        }
        scores[j] = finish(lo0, hi0, q, k0, i, d);
        scores[j + 1] = finish(lo1, hi1, q, k1, i, d);
    }
    for (; j < nk; j++)
        scores[j] = dot_1(q, k[j], d);
}

/* Output elements [c0, c1) over keys [j0, j1): 16 at a time (four
 * registers), then 4, then 1. The accumulators start from zero on the
 * first run of keys and from what `out` holds otherwise (a stored float
 * reloads with its bits, so the sum is the same running sum). */
static void wsum_portable(const float *const *v, const float *p, uint32_t j0, uint32_t j1,
                          uint32_t c0, uint32_t c1, bool first, float *out)
{
    uint32_t c = c0;
    for (; c + 16 <= c1; c += 16) {
        gm_v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        if (!first) {
            a0 = load4(out + c);
            a1 = load4(out + c + 4);
            a2 = load4(out + c + 8);
            a3 = load4(out + c + 12);
        }
        for (uint32_t j = j0; j < j1; j++) {
            const gm_v4f pj = {p[j], p[j], p[j], p[j]};
            const float *vj = v[j] + c;
            a0 += pj * load4(vj);
            a1 += pj * load4(vj + 4);
            a2 += pj * load4(vj + 8);
            a3 += pj * load4(vj + 12);
        }
        memcpy(out + c, &a0, sizeof(a0));
        memcpy(out + c + 4, &a1, sizeof(a1));
        memcpy(out + c + 8, &a2, sizeof(a2));
        memcpy(out + c + 12, &a3, sizeof(a3));
    }
    for (; c + 4 <= c1; c += 4) {
        gm_v4f a = {0};
        if (!first)
            a = load4(out + c);
        for (uint32_t j = j0; j < j1; j++) {
            const gm_v4f pj = {p[j], p[j], p[j], p[j]};
            a += pj * load4(v[j] + c);
        }
        memcpy(out + c, &a, sizeof(a));
    }
    for (; c < c1; c++) {
        float a = first ? 0.0f : out[c];
        for (uint32_t j = j0; j < j1; j++)
            a += p[j] * v[j][c];
        out[c] = a;
    }
}

/* ---- AVX2: 8 lanes in one register --------------------------------------- */

#ifdef GM_ATTN_X86
#define GM_AVX2 __attribute__((target("avx2")))


/* ((0+1)+(2+3))+((4+5)+(6+7)) of one register, then the tail. */
GM_AVX2 static float finish8(__m256 acc, const float *q, const float *k, uint32_t i,
                             uint32_t n)
{
    float l[8];
    _mm256_storeu_ps(l, acc);
    float sum = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (; i < n; i++)
        sum += q[i] * k[i];
    return sum;
}

/* Four keys at a time, one accumulator each; _mm256_mul_ps then
 * _mm256_add_ps (two roundings, as the portable code). */
GM_AVX2 static void scores_avx2(const float *q, const float *const *k, uint32_t nk, uint32_t d,
                                float *scores)
{
    uint32_t j = 0;
    for (; j + 4 <= nk; j += 4) {
        const float *k0 = k[j], *k1 = k[j + 1], *k2 = k[j + 2], *k3 = k[j + 3];
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        uint32_t i = 0;
        for (; i + 8 <= d; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(qv, _mm256_loadu_ps(k0 + i)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(qv, _mm256_loadu_ps(k1 + i)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(qv, _mm256_loadu_ps(k2 + i)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(qv, _mm256_loadu_ps(k3 + i)));
        }
        scores[j] = finish8(a0, q, k0, i, d);
        scores[j + 1] = finish8(a1, q, k1, i, d);
        scores[j + 2] = finish8(a2, q, k2, i, d);
        scores[j + 3] = finish8(a3, q, k3, i, d);
    }
    for (; j < nk; j++) {
        __m256 a = _mm256_setzero_ps();
        uint32_t i = 0;
        for (; i + 8 <= d; i += 8)
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k[j] + i)));
        scores[j] = finish8(a, q, k[j], i, d);
    }
}

/* Output elements [c0, c1) over keys [j0, j1): 64 at a time (eight
 * registers), then 8, then 1; from zero on the first run of keys, from
 * `out` otherwise. */
GM_AVX2 static void wsum_avx2(const float *const *v, const float *p, uint32_t j0, uint32_t j1,
                              uint32_t c0, uint32_t c1, bool first, float *out)
{
    uint32_t c = c0;
    for (; c + 64 <= c1; c += 64) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        if (!first) {
            a0 = _mm256_loadu_ps(out + c);
            a1 = _mm256_loadu_ps(out + c + 8);
            a2 = _mm256_loadu_ps(out + c + 16);
            a3 = _mm256_loadu_ps(out + c + 24);
            a4 = _mm256_loadu_ps(out + c + 32);
            a5 = _mm256_loadu_ps(out + c + 40);
            a6 = _mm256_loadu_ps(out + c + 48);
            a7 = _mm256_loadu_ps(out + c + 56);
        }
        for (uint32_t j = j0; j < j1; j++) {
            const __m256 pj = _mm256_set1_ps(p[j]);
            const float *vj = v[j] + c;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(pj, _mm256_loadu_ps(vj)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 24)));
            a4 = _mm256_add_ps(a4, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 32)));
            a5 = _mm256_add_ps(a5, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 40)));
            a6 = _mm256_add_ps(a6, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 48)));
            a7 = _mm256_add_ps(a7, _mm256_mul_ps(pj, _mm256_loadu_ps(vj + 56)));
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
        _mm256_storeu_ps(out + c + 32, a4);
        _mm256_storeu_ps(out + c + 40, a5);
        _mm256_storeu_ps(out + c + 48, a6);
        _mm256_storeu_ps(out + c + 56, a7);
    }
    for (; c + 8 <= c1; c += 8) {
        __m256 a = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + c);
        for (uint32_t j = j0; j < j1; j++)
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v[j] + c)));
        _mm256_storeu_ps(out + c, a);
    }
    for (; c < c1; c++) {
        float a = first ? 0.0f : out[c];
        for (uint32_t j = j0; j < j1; j++)
            a += p[j] * v[j][c];
        out[c] = a;
    }
}

/* Four query heads against two keys: each key row is loaded once for the
 * four heads (eight accumulators). */
GM_AVX2 static void scores_avx2_4h(const float *q, uint32_t d, const float *const *k,
                                   uint32_t nk, float *scores, size_t stride)
{
    const float *q0 = q, *q1 = q + d, *q2 = q + 2 * (size_t)d, *q3 = q + 3 * (size_t)d;
    uint32_t j = 0;
    for (; j + 2 <= nk; j += 2) {
        const float *ka = k[j], *kb = k[j + 1];
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        uint32_t i = 0;
        for (; i + 8 <= d; i += 8) {
            const __m256 x = _mm256_loadu_ps(ka + i), y = _mm256_loadu_ps(kb + i);
            __m256 qv = _mm256_loadu_ps(q0 + i);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(qv, x));
            b0 = _mm256_add_ps(b0, _mm256_mul_ps(qv, y));
            qv = _mm256_loadu_ps(q1 + i);
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(qv, x));
            b1 = _mm256_add_ps(b1, _mm256_mul_ps(qv, y));
            qv = _mm256_loadu_ps(q2 + i);
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(qv, x));
            b2 = _mm256_add_ps(b2, _mm256_mul_ps(qv, y));
            qv = _mm256_loadu_ps(q3 + i);
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(qv, x));
            b3 = _mm256_add_ps(b3, _mm256_mul_ps(qv, y));
        }
        scores[j] = finish8(a0, q0, ka, i, d);
        scores[stride + j] = finish8(a1, q1, ka, i, d);
        scores[2 * stride + j] = finish8(a2, q2, ka, i, d);
        scores[3 * stride + j] = finish8(a3, q3, ka, i, d);
        scores[j + 1] = finish8(b0, q0, kb, i, d);
        scores[stride + j + 1] = finish8(b1, q1, kb, i, d);
        scores[2 * stride + j + 1] = finish8(b2, q2, kb, i, d);
        scores[3 * stride + j + 1] = finish8(b3, q3, kb, i, d);
    }
    for (int h = 0; h < 4 && j < nk; h++)
        scores_avx2(q + (size_t)h * d, k + j, nk - j, d, scores + (size_t)h * stride + j);
}

/* Eight query heads against one key: each key row is loaded once for the
 * eight (eight accumulators), and read from memory once in all. */
GM_AVX2 static void scores_avx2_8h(const float *q, uint32_t d, const float *const *k,
                                   uint32_t nk, float *scores, size_t stride)
{
    const size_t d2 = 2 * (size_t)d, d4 = 4 * (size_t)d;
    for (uint32_t j = 0; j < nk; j++) {
        const float *kj = k[j];
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        uint32_t i = 0;
        for (; i + 8 <= d; i += 8) {
            const __m256 x = _mm256_loadu_ps(kj + i);
            const float *qi = q + i;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(qi), x));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(qi + d), x));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(qi + d2), x));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(qi + d2 + d), x));
            qi += d4;
            a4 = _mm256_add_ps(a4, _mm256_mul_ps(_mm256_loadu_ps(qi), x));
            a5 = _mm256_add_ps(a5, _mm256_mul_ps(_mm256_loadu_ps(qi + d), x));
            a6 = _mm256_add_ps(a6, _mm256_mul_ps(_mm256_loadu_ps(qi + d2), x));
            a7 = _mm256_add_ps(a7, _mm256_mul_ps(_mm256_loadu_ps(qi + d2 + d), x));
        }
        scores[j] = finish8(a0, q, kj, i, d);
        scores[stride + j] = finish8(a1, q + d, kj, i, d);
        scores[2 * stride + j] = finish8(a2, q + d2, kj, i, d);
        scores[3 * stride + j] = finish8(a3, q + d2 + d, kj, i, d);
        scores[4 * stride + j] = finish8(a4, q + d4, kj, i, d);
        scores[5 * stride + j] = finish8(a5, q + d4 + d, kj, i, d);
        scores[6 * stride + j] = finish8(a6, q + d4 + d2, kj, i, d);
        scores[7 * stride + j] = finish8(a7, q + d4 + d2 + d, kj, i, d);
    }
}

/* Four heads' weighted sums over keys [j0, j1), output elements [c0, c1):
 * 16 of each head at a time (eight accumulators), each value row loaded
 * once for the four heads; from zero on the first run of keys, from `out`
 * otherwise. */
GM_AVX2 static void wsum_avx2_4h(const float *const *v, const float *p, size_t stride,
                                 uint32_t j0, uint32_t j1, uint32_t c0, uint32_t c1,
                                 uint32_t d, uint32_t ahead, uint32_t nk, bool first, float *out)
{
    const float *p0 = p, *p1 = p + stride, *p2 = p + 2 * stride, *p3 = p + 3 * stride;
    float *o0 = out, *o1 = out + d, *o2 = out + 2 * (size_t)d, *o3 = out + 3 * (size_t)d;
    uint32_t c = c0;
    for (; c + 16 <= c1; c += 16) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        if (!first) {
            a0 = _mm256_loadu_ps(o0 + c);
            b0 = _mm256_loadu_ps(o0 + c + 8);
            a1 = _mm256_loadu_ps(o1 + c);
            b1 = _mm256_loadu_ps(o1 + c + 8);
            a2 = _mm256_loadu_ps(o2 + c);
            b2 = _mm256_loadu_ps(o2 + c + 8);
            a3 = _mm256_loadu_ps(o3 + c);
            b3 = _mm256_loadu_ps(o3 + c + 8);
        }
        for (uint32_t j = j0; j < j1; j++) {
            /* the row of the next run, on its way from memory meanwhile */
            const float *pf = v[j + ahead < nk ? j + ahead : j] + c;
            _mm_prefetch((const char *)pf, _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 15), _MM_HINT_T0);
            const __m256 x = _mm256_loadu_ps(v[j] + c), y = _mm256_loadu_ps(v[j] + c + 8);
            __m256 pj = _mm256_set1_ps(p0[j]);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(pj, x));
            b0 = _mm256_add_ps(b0, _mm256_mul_ps(pj, y));
            pj = _mm256_set1_ps(p1[j]);
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(pj, x));
            b1 = _mm256_add_ps(b1, _mm256_mul_ps(pj, y));
            pj = _mm256_set1_ps(p2[j]);
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(pj, x));
            b2 = _mm256_add_ps(b2, _mm256_mul_ps(pj, y));
            pj = _mm256_set1_ps(p3[j]);
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(pj, x));
            b3 = _mm256_add_ps(b3, _mm256_mul_ps(pj, y));
        }
        _mm256_storeu_ps(o0 + c, a0);
        _mm256_storeu_ps(o0 + c + 8, b0);
        _mm256_storeu_ps(o1 + c, a1);
        _mm256_storeu_ps(o1 + c + 8, b1);
        _mm256_storeu_ps(o2 + c, a2);
        _mm256_storeu_ps(o2 + c + 8, b2);
        _mm256_storeu_ps(o3 + c, a3);
        _mm256_storeu_ps(o3 + c + 8, b3);
    }
    if (c < c1)
        for (int h = 0; h < 4; h++)
            wsum_avx2(v, p + (size_t)h * stride, j0, j1, c, c1, first, out + (size_t)h * d);
}

/* ---- AVX-512: 16 lanes, the same rounding -------------------------------- */

/* GCC contracts a multiply then an add into one fused multiply-add where
 * the target has FMA, as AVX-512 does: this kernel uses the _round forms
 * of the intrinsics (builtins it leaves alone) and no scalar arithmetic.
 * (An AVX-512 score kernel, two keys per register, was slower here than
 * the AVX2 one and slowed the softmax after it: measured, left out.) */
#define GM_AVX512 __attribute__((target("avx512f,avx2")))
#define MUL16(a, b) _mm512_mul_round_ps((a), (b), _MM_FROUND_CUR_DIRECTION)
#define ADD16(a, b) _mm512_add_round_ps((a), (b), _MM_FROUND_CUR_DIRECTION)

/* Eight heads' weighted sums over keys [j0, j1), output elements [c0, c1)
 * in blocks of 16 (eight accumulators, one per head), each value row
 * loaded once for the eight heads; from zero on the first run of keys,
 * from `out` otherwise. Returns the first column not done (the rest, fewer
 * than 16, are the AVX2 code's). */
GM_AVX512 static uint32_t wsum_avx512_8h(const float *const *v, const float *p, size_t stride,
                                         uint32_t j0, uint32_t j1, uint32_t c0, uint32_t c1,
                                         uint32_t d, uint32_t ahead, uint32_t nk, bool first,
                                         float *out)
{
    uint32_t c = c0;
    for (; c + 16 <= c1; c += 16) {
        __m512 a[8];
        for (int h = 0; h < 8; h++)
            a[h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(out + (size_t)h * d + c);
        __m512 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6],
               a7 = a[7];
        const float *p0 = p, *p4 = p + 4 * stride;
        for (uint32_t j = j0; j < j1; j++) {
            /* the row of the next run, on its way from memory meanwhile */
            const float *pf = v[j + ahead < nk ? j + ahead : j] + c;
            _mm_prefetch((const char *)pf, _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 15), _MM_HINT_T0);
            const __m512 x = _mm512_loadu_ps(v[j] + c);
            a0 = ADD16(a0, MUL16(_mm512_set1_ps(p0[j]), x));
            a1 = ADD16(a1, MUL16(_mm512_set1_ps(p0[stride + j]), x));
            a2 = ADD16(a2, MUL16(_mm512_set1_ps(p0[2 * stride + j]), x));
            a3 = ADD16(a3, MUL16(_mm512_set1_ps(p0[3 * stride + j]), x));
            a4 = ADD16(a4, MUL16(_mm512_set1_ps(p4[j]), x));
            a5 = ADD16(a5, MUL16(_mm512_set1_ps(p4[stride + j]), x));
            a6 = ADD16(a6, MUL16(_mm512_set1_ps(p4[2 * stride + j]), x));
            a7 = ADD16(a7, MUL16(_mm512_set1_ps(p4[3 * stride + j]), x));
        }
        _mm512_storeu_ps(out + c, a0);
        _mm512_storeu_ps(out + d + c, a1);
        _mm512_storeu_ps(out + 2 * (size_t)d + c, a2);
        _mm512_storeu_ps(out + 3 * (size_t)d + c, a3);
        _mm512_storeu_ps(out + 4 * (size_t)d + c, a4);
        _mm512_storeu_ps(out + 5 * (size_t)d + c, a5);
        _mm512_storeu_ps(out + 6 * (size_t)d + c, a6);
        _mm512_storeu_ps(out + 7 * (size_t)d + c, a7);
    }
    return c;
}
#endif

/* ---- dispatch ------------------------------------------------------------- */

/* Which code runs: the portable code, AVX2, or AVX-512 where it has a
 * kernel (AVX2 for the rest). */
enum { PATH_PORTABLE, PATH_AVX2, PATH_AVX512 };

static int active_path(void)
{
#ifdef GM_ATTN_X86
    switch (gm_cpu_active_path()) {
    case GM_CPU_AVX512:
        return PATH_AVX512;
    case GM_CPU_AVX2:
        return PATH_AVX2;
    default:
        return PATH_PORTABLE;
    }
#else
    return PATH_PORTABLE;
#endif
}

void gm_attn_scores(const float *q, uint32_t n_q, const float *const *k, uint32_t nk,
                    uint32_t d, float *scores, size_t stride)
{
    uint32_t h = 0;
#ifdef GM_ATTN_X86
    const int path = active_path();
    if (path != PATH_PORTABLE) {
        for (; h + 8 <= n_q; h += 8)
            scores_avx2_8h(q + (size_t)h * d, d, k, nk, scores + (size_t)h * stride, stride);
        for (; h + 4 <= n_q; h += 4)
            scores_avx2_4h(q + (size_t)h * d, d, k, nk, scores + (size_t)h * stride, stride);
        for (; h < n_q; h++)
            scores_avx2(q + (size_t)h * d, k, nk, d, scores + (size_t)h * stride);
        return;
    }
#endif
    for (; h < n_q; h++)
        scores_portable(q + (size_t)h * d, k, nk, d, scores + (size_t)h * stride);
}

/* Keys per run of the weighted sum: the value rows of a run (their
 * columns [c0, c1)) stay in cache while every block of output elements
 * and every block of heads goes over them, instead of coming from L3 or
 * memory again for each, and the next run's rows are asked for
 * meanwhile. About WSUM_RUN_BYTES of rows, at least 16 keys. */
#define WSUM_RUN_BYTES 8192u
static uint32_t keys_per_run(uint32_t c0, uint32_t c1)
{
    const uint32_t cols = c1 > c0 ? c1 - c0 : 1;
    const uint32_t keys = WSUM_RUN_BYTES / 4 / cols;
    return keys < 16 ? 16 : keys;
}

static void weighted_sum(int path, const float *const *v, const float *p, size_t stride,
                         uint32_t n_q, uint32_t nk, uint32_t d, uint32_t c0, uint32_t c1,
                         float *out)
{
    const uint32_t run = keys_per_run(c0, c1);
    if (nk == 0) { /* a sum of nothing is zero */
        for (uint32_t h = 0; h < n_q; h++)
            for (uint32_t c = c0; c < c1; c++)
                out[(size_t)h * d + c] = 0.0f;
        return;
    }
    for (uint32_t j0 = 0; j0 < nk; j0 += run) {
        const uint32_t j1 = nk - j0 > run ? j0 + run : nk;
        const bool first = j0 == 0;
        uint32_t h = 0;
#ifdef GM_ATTN_X86
        if (path != PATH_PORTABLE) {
            for (; h + 8 <= n_q && path == PATH_AVX512; h += 8) {
                const float *ph = p + (size_t)h * stride;
                float *oh = out + (size_t)h * d;
                const uint32_t c = wsum_avx512_8h(v, ph, stride, j0, j1, c0, c1, d, run,
                                                  nk, first, oh);
                if (c < c1)
                    for (uint32_t h4 = 0; h4 < 8; h4 += 4)
                        wsum_avx2_4h(v, ph + h4 * stride, stride, j0, j1, c, c1, d, run,
                                     nk, first, oh + (size_t)h4 * d);
            }
            for (; h + 4 <= n_q; h += 4)
                wsum_avx2_4h(v, p + (size_t)h * stride, stride, j0, j1, c0, c1, d, run, nk,
                             first, out + (size_t)h * d);
            for (; h < n_q; h++)
                wsum_avx2(v, p + (size_t)h * stride, j0, j1, c0, c1, first, out + (size_t)h * d);
            continue;
        }
#else
        (void)path;
#endif
        for (; h < n_q; h++)
            wsum_portable(v, p + (size_t)h * stride, j0, j1, c0, c1, first, out + (size_t)h * d);
    }
}

void gm_attn_weighted_sum(const float *const *v, const float *p, size_t stride, uint32_t n_q,
                          uint32_t nk, uint32_t d, float *out)
{
    weighted_sum(active_path(), v, p, stride, n_q, nk, d, 0, d, out);
}

void gm_attn_weighted_sum_cols(const float *const *v, const float *p, size_t stride,
                               uint32_t n_q, uint32_t nk, uint32_t d, uint32_t c0, uint32_t c1,
                               float *out)
{
    weighted_sum(active_path(), v, p, stride, n_q, nk, d, c0, c1, out);
}

void gm_attn_scores_portable(const float *q, uint32_t n_q, const float *const *k, uint32_t nk,
                             uint32_t d, float *scores, size_t stride)
{
    for (uint32_t h = 0; h < n_q; h++)
        scores_portable(q + (size_t)h * d, k, nk, d, scores + (size_t)h * stride);
}

void gm_attn_weighted_sum_portable(const float *const *v, const float *p, size_t stride,
                                   uint32_t n_q, uint32_t nk, uint32_t d, float *out)
{
    weighted_sum(PATH_PORTABLE, v, p, stride, n_q, nk, d, 0, d, out);
}

void gm_attn_weighted_sum_cols_portable(const float *const *v, const float *p, size_t stride,
                                        uint32_t n_q, uint32_t nk, uint32_t d, uint32_t c0,
                                        uint32_t c1, float *out)
{
    weighted_sum(PATH_PORTABLE, v, p, stride, n_q, nk, d, c0, c1, out);
}
