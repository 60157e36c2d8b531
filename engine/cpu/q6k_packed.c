/*
 * engine/cpu/q6k_packed.c -- repacking Q6_K matrices into 16-row groups
 * and the AVX-512 VNNI kernel that multiplies them (q6k_packed.h); the
 * AVX2 kernel for the same layout is in q6k_packed_avx2.c.
 *
 * Compiled per function with target attributes, as q4k_packed.c. Per
 * block of 16 rows and per vector, the integer work is 64 vpdpbusd (one
 * per 4 columns of 16 rows, the activation bytes broadcast), then per
 * sub-block j: (dot_j - 32 * bsum_j) * scale_j added to the block sum,
 * all exact in int32. The f32 step per block is the one of the AVX-512
 * Q6_K tile kernels (dot_avx512_body.h): acc = fma(d_w * d_x, float(sum),
 * acc), so both give the same bits.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/quant/blocks.h"

/* Whether the AVX-512 VNNI kernel below runs (else the AVX2 one of
 * q6k_packed_avx2.c: the AVX2 path, and AVX-512 without VNNI). */
static bool gm_q6k_packed_vnni(void)
{
    return gm_cpu_active_path() == GM_CPU_AVX512 && gm_cpu_has_avx512_vnni();
}

bool gm_q6k_packed_supported(void)
{
    const gm_cpu_path path = gm_cpu_active_path();
    return (path == GM_CPU_AVX2 || path == GM_CPU_AVX512) && gm_cpu_has_avx2();
}

bool gm_q6k_repack_wanted(void)
{
    const char *env = getenv("GEMMA_CPU_REPACK");
    if (env != NULL && strcmp(env, "0") == 0)
        return false;
    return gm_q6k_packed_supported();
}

/* Byte offsets inside one packed block of 16 rows. */
#define GM_Q6P_D 0    /* uint16_t d[16] */
#define GM_Q6P_SC 32  /* int8_t sc[16][16] */
#define GM_Q6P_PAD 288 /* 32 bytes of padding */
#define GM_Q6P_Q 320  /* 16 x 3 lines of 64 bytes: line 3 (8h + g) + k */

_Static_assert(GM_Q6P_Q + 48 * 64 == GM_Q6K_PACKED_BLOCK_BYTES, "packed block layout");
_Static_assert(GM_Q6K_PACKED_BLOCK_BYTES % 64 == 0, "packed blocks keep 64-byte alignment");

/* ---- repacking ----------------------------------------------------------------- */

/* Block i of the 16 rows at w (row stride row_bytes) into one packed block. */
static void gm_q6k_pack_block(const uint8_t *w, size_t row_bytes, uint64_t i, uint8_t *pb)
{
    uint16_t *d = (uint16_t *)(void *)(pb + GM_Q6P_D);
    for (int r = 0; r < GM_Q6K_PACKED_ROWS; r++) {
        const gm_block_q6_K *b = (const gm_block_q6_K *)(const void *)(w + (size_t)r * row_bytes) + i;
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                /* the 6-bit values of elements 128h + 32q + l, q = 0..3 */
                const uint8_t lo0 = b->ql[64 * h + l], lo1 = b->ql[64 * h + 32 + l];
                const uint8_t hb = b->qh[32 * h + l];
                const uint8_t q0 = (uint8_t)((lo0 & 0xF) | ((hb & 3) << 4));
                const uint8_t q1 = (uint8_t)((lo1 & 0xF) | (((hb >> 2) & 3) << 4));
                const uint8_t q2 = (uint8_t)((lo0 >> 4) | (((hb >> 4) & 3) << 4));
                const uint8_t q3 = (uint8_t)((lo1 >> 4) | (((hb >> 6) & 3) << 4));
                uint8_t *line = pb + GM_Q6P_Q + 64 * 3 * (8 * h + l / 4) + 4 * r + l % 4;
                line[0] = (uint8_t)(q0 | (q3 & 3) << 6);
                line[64] = (uint8_t)(q1 | ((q3 >> 2) & 3) << 6);
                line[128] = (uint8_t)(q2 | (q3 >> 4) << 6);
            }
        d[r] = b->d;
        for (int j = 0; j < 16; j++)
            pb[GM_Q6P_SC + 16 * j + r] = (uint8_t)b->scales[j];
    }
    memset(pb + GM_Q6P_PAD, 0, GM_Q6P_Q - GM_Q6P_PAD);
}

static const gm_kq_format gm_q6k_format = {"Q6_K", sizeof(gm_block_q6_K),
                                             GM_Q6K_PACKED_BLOCK_BYTES, gm_q6k_pack_block};

int gm_q6k_pack(gm_pool *pool, const void *w, uint64_t rows, uint64_t cols, gm_q6k_packed **out,
                cm_err *err)
{
    return gm_kq_pack(&gm_q6k_format, pool, w, rows, cols, out, err);
}

void gm_q6k_packed_free(gm_q6k_packed *p)
{
    gm_kq_packed_free(p);
}

/* ---- the kernel ------------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define GM_T_Q6P __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define GM_Q6P_UNROLL _Pragma("GCC unroll 8")

/* Vectors whose accumulators live on the stack in one pass over the
 * blocks, and vectors per step inside a block. */
#define GM_Q6P_PASS 64
#define GM_Q6P_STEP 4

/* 4 activation bytes read as one int32 to broadcast. */
typedef int32_t gm_q6p_i32u __attribute__((aligned(1), may_alias));

/* V vectors (blocks yb[v]) against one packed block of 16 rows: acc[v][r]
 * takes its f32 step. Element 128h + 32q + 4g + k (g 0..7) of a row is
 * quarter q of lines 3 (8h + g) .. + 2; sub-block 8h + 2q + g / 4. */
GM_T_Q6P __attribute__((always_inline)) static inline void
gm_q6p_block_vecs(const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16], const int V)
{
    const __m512i m3f = _mm512_set1_epi8(0x3F);
    const __m512i m03 = _mm512_set1_epi8(0x03);
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    __m512i sumi[GM_Q6P_STEP];
    GM_Q6P_UNROLL
    for (int v = 0; v < V; v++)
        sumi[v] = _mm512_setzero_si512();
    GM_Q6P_UNROLL
    for (int h = 0; h < 2; h++) {
        GM_Q6P_UNROLL
        for (int s = 0; s < 2; s++) {
            __m512i t[4][GM_Q6P_STEP]; /* dots of sub-blocks 8h + 2q + s */
            GM_Q6P_UNROLL
            for (int q = 0; q < 4; q++)
                GM_Q6P_UNROLL
                for (int v = 0; v < V; v++)
                    t[q][v] = _mm512_setzero_si512();
            GM_Q6P_UNROLL
            for (int g = 4 * s; g < 4 * s + 4; g++) {
                const uint8_t *lines = pb + GM_Q6P_Q + 64 * 3 * (8 * h + g);
                const __m512i a = _mm512_load_si512((const void *)lines);
                const __m512i b = _mm512_load_si512((const void *)(lines + 64));
                const __m512i c = _mm512_load_si512((const void *)(lines + 128));
                __m512i e[4];
                e[0] = _mm512_and_si512(a, m3f);
                e[1] = _mm512_and_si512(b, m3f);
                e[2] = _mm512_and_si512(c, m3f);
                /* bits 0-1 from a >> 6, 2-3 from b >> 4 (0xCA: select
                 * by the mask m03), then 4-5 from c >> 2 (by m0f); the
                 * 16-bit shifts bring the neighbour byte's bits into 6-7,
                 * cleared last */
                const __m512i ab = _mm512_ternarylogic_epi32(
                    m03, _mm512_srli_epi16(a, 6), _mm512_srli_epi16(b, 4), 0xCA);
                e[3] = _mm512_and_si512(
                    _mm512_ternarylogic_epi32(m0f, ab, _mm512_srli_epi16(c, 2), 0xCA), m3f);
                GM_Q6P_UNROLL
                for (int q = 0; q < 4; q++)
                    GM_Q6P_UNROLL
                    for (int v = 0; v < V; v++) {
                        const int8_t *x = yb[v]->qs + 128 * h + 32 * q + 4 * g;
                        t[q][v] = _mm512_dpbusd_epi32(t[q][v], e[q],
                                                      _mm512_set1_epi32(*(const gm_q6p_i32u *)x));
                    }
            }
            GM_Q6P_UNROLL
            for (int q = 0; q < 4; q++) {
                const int j = 8 * h + 2 * q + s;
                const __m512i sc = _mm512_cvtepi8_epi32(
                    _mm_load_si128((const __m128i *)(const void *)(pb + GM_Q6P_SC + 16 * j)));
                GM_Q6P_UNROLL
                for (int v = 0; v < V; v++) {
                    const __m512i off = _mm512_set1_epi32(32 * (int32_t)yb[v]->bsums[j]);
                    sumi[v] = _mm512_add_epi32(
                        sumi[v], _mm512_mullo_epi32(_mm512_sub_epi32(t[q][v], off), sc));
                }
            }
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(pb + GM_Q6P_D)));
    GM_Q6P_UNROLL
    for (int v = 0; v < V; v++) {
        const __m512 yd = _mm512_set1_ps(yb[v]->d);
        _mm512_store_ps(acc[v], _mm512_fmadd_ps(_mm512_mul_ps(d, yd), _mm512_cvtepi32_ps(sumi[v]),
                                                _mm512_load_ps(acc[v])));
    }
}

/* gm_q6p_block_vecs for 1..4 vectors as functions of their own (see
 * q4k_packed.c: inlined, the block's decoding would be hoisted and
 * spilled). */
#define GM_Q6P_FN(nv)                                                                              \
    GM_T_Q6P __attribute__((noinline)) static void gm_q6p_block_##nv(                              \
        const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16])                       \
    {                                                                                              \
        gm_q6p_block_vecs(pb, yb, acc, nv);                                                        \
    }
GM_Q6P_FN(1)
GM_Q6P_FN(2)
GM_Q6P_FN(3)
GM_Q6P_FN(4)
#undef GM_Q6P_FN

#define GM_Q6P_CASE(nv)                                                                            \
    case nv:                                                                                       \
        gm_q6p_block_##nv(pb, yb, acc + v);                                                        \
        break;

/* One group of 16 rows (nb packed blocks at g) against n_vec vectors;
 * stores rows [r0, r1) of the group at out[v * out_stride + r - r0]. */
GM_T_Q6P static void gm_q6p_group(const uint8_t *g, uint64_t nb, const uint8_t *xq, size_t x_stride,
                                  uint32_t n_vec, int r0, int r1, float *out, size_t out_stride)
{
    _Alignas(64) float acc[GM_Q6P_PASS][16];
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_Q6P_PASS) {
        const uint32_t nv = n_vec - v0 < GM_Q6P_PASS ? n_vec - v0 : GM_Q6P_PASS;
        memset(acc, 0, sizeof(float) * 16 * nv);
        for (uint64_t i = 0; i < nb; i++) {
            const uint8_t *pb = g + (size_t)i * GM_Q6K_PACKED_BLOCK_BYTES;
            /* the block's scales (its first 5 lines) asked for first: the
             * kernel reads them after the quant lines, and that step back
             * against the stream cost the hardware prefetchers (one
             * vector, 2 threads from memory, 131072 x 1536: 47.2 -> 53.6
             * GB/s; 1 thread 29.1 -> 31.2; in cache 176.7 -> 169.9 TSC
             * cycles per block; asking for the next block's scales, or
             * for its lines, measured slower) */
            if (v0 == 0)
                for (int l = 0; l < GM_Q6P_Q / 64; l++)
                    _mm_prefetch((const char *)pb + 64 * l, _MM_HINT_T0);
            for (uint32_t v = 0; v < nv; v += GM_Q6P_STEP) {
                const gm_block_q8_K *yb[GM_Q6P_STEP];
                const uint32_t gv = nv - v < GM_Q6P_STEP ? nv - v : GM_Q6P_STEP;
                for (uint32_t k = 0; k < gv; k++)
                    yb[k] = (const gm_block_q8_K *)(const void *)(xq + (size_t)(v0 + v + k) *
                                                                           x_stride) + i;
                switch (gv) {
                    GM_Q6P_CASE(1)
                    GM_Q6P_CASE(2)
                    GM_Q6P_CASE(3)
                    GM_Q6P_CASE(4)
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

#undef GM_Q6P_CASE

void gm_q6k_packed_rows(const gm_q6k_packed *p, uint64_t begin, uint64_t end, const void *xq,
                        size_t x_stride, uint32_t n_vec, float *y, size_t y_stride)
{
    const uint64_t nb = p->cols / GM_QK_K;
    void (*group)(const uint8_t *, uint64_t, const uint8_t *, size_t, uint32_t, int, int, float *,
                  size_t) = gm_q6k_packed_vnni() ? gm_q6p_group : gm_q6k_packed_group_avx2;
    while (begin < end) {
        const uint64_t k = begin / GM_Q6K_PACKED_ROWS;
        const uint64_t g_end = (k + 1) * GM_Q6K_PACKED_ROWS;
        const uint64_t stop = end < g_end ? end : g_end;
        group(p->data + (size_t)k * p->group_bytes, nb, xq, x_stride, n_vec,
              (int)(begin % GM_Q6K_PACKED_ROWS), (int)(stop - k * GM_Q6K_PACKED_ROWS), y + begin,
              y_stride);
        begin = stop;
    }
}

#else /* no x86-64 kernels in this build */

void gm_q6k_packed_rows(const gm_q6k_packed *p, uint64_t begin, uint64_t end, const void *xq,
                        size_t x_stride, uint32_t n_vec, float *y, size_t y_stride)
{
    (void)p, (void)begin, (void)end, (void)xq, (void)x_stride, (void)n_vec, (void)y, (void)y_stride;
    (void)gm_q6k_packed_vnni;
}

#endif
