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
 * accumulation order differs from both the AVX2 and the scalar kernels
 * (tests/unit/test_kernels.c checks them against the scalar reference).
 * Formats without an AVX-512 kernel here use the AVX2 one on this path.
 * Q4_0 among them: a 512-bit Q4_0 kernel (two blocks per step) needs as
 * many instructions as the AVX2 one to reorder the nibbles and build the
 * two block scales, and measured about 18% slower on AMD Zen 4 (which
 * runs 512-bit operations as two 256-bit halves), so it was dropped.
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

/* Prefetch `lines` cache lines of a weight row GM_PF_AHEAD bytes past p:
 * a tile streams several rows at once, which the hardware prefetchers
 * follow less well than one row. */
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
