/*
 * engine/cpu/q4k_packed.c -- repacking Q4_K matrices into 16-row groups,
 * the AVX-512 VNNI block kernels that multiply them and the row loop that
 * runs the block kernels of the CPU path (these, or the AVX2 ones of
 * q4k_packed_avx2.c; q4k_packed_kernels.h).
 *
 * The kernels are compiled per function with target attributes (the build
 * needs no -mavx512*; the binary still runs on AVX2-only CPUs, with the
 * AVX2 kernels). Per block of 16 rows and per vector, the integer
 * work is 64 vpdpbusd (one per 4 columns of 16 rows, the activation bytes
 * broadcast), 8 scale multiplies and 4 vpdpwssd for the mins; the f32
 * steps are those of gm_q4_K_panel_vecs in dot_avx512.c, in the same
 * order: per block acc += (d_w * d_x) * float(sum),
 * acc_m += (dmin_w * d_x) * float(msum), result acc - acc_m.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q4k_packed_kernels.h"
#include "engine/quant/blocks.h"

_Static_assert(GM_QP_MN + 128 == GM_Q4K_PACKED_BLOCK_BYTES, "packed block layout");
_Static_assert(GM_Q4K_PACKED_BLOCK_BYTES % 64 == 0, "packed blocks keep 64-byte alignment");

bool gm_q4k_packed_supported(void)
{
    return gm_cpu_active_path() >= GM_CPU_AVX2;
}

bool gm_q4k_repack_wanted(void)
{
    const char *env = getenv("GEMMA_CPU_REPACK");
    if (env != NULL && strcmp(env, "0") == 0)
        return false;
    return gm_q4k_packed_supported();
}

/* ---- repacking ----------------------------------------------------------------- */

/* Block i of the 16 rows at w (row stride row_bytes) into one packed block. */
static void gm_q4k_pack_block(const uint8_t *w, size_t row_bytes, uint64_t i, uint8_t *pb)
{
    uint16_t *d = (uint16_t *)(void *)(pb + GM_QP_D);
    uint16_t *dmin = (uint16_t *)(void *)(pb + GM_QP_DMIN);
    for (int r = 0; r < GM_Q4K_PACKED_ROWS; r++) {
        const gm_block_q4_K *b = (const gm_block_q4_K *)(const void *)(w + (size_t)r * row_bytes) + i;
        for (int line = 0; line < 32; line++) /* line 8p + g: qs[32p + 4g ..] */
            memcpy(pb + GM_QP_QS + 64 * line + 4 * r, b->qs + 4 * line, 4);
        d[r] = b->d;
        dmin[r] = b->dmin;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            gm_get_scale_min_k4(j, b->scales, &sc, &mn);
            pb[GM_QP_SC + 16 * j + r] = sc;
            pb[GM_QP_MN + 32 * (j / 2) + 2 * r + (j % 2)] = mn;
        }
    }
}

static const gm_kq_format gm_q4k_format = {"Q4_K", sizeof(gm_block_q4_K),
                                             GM_Q4K_PACKED_BLOCK_BYTES, gm_q4k_pack_block};

int gm_q4k_pack(gm_pool *pool, const void *w, uint64_t rows, uint64_t cols, gm_q4k_packed **out,
                cm_err *err)
{
    return gm_kq_pack(&gm_q4k_format, pool, w, rows, cols, out, err);
}

void gm_q4k_packed_free(gm_q4k_packed *p)
{
    gm_kq_packed_free(p);
}

/* ---- the kernels ------------------------------------------------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define GM_T_QP __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define GM_QP_UNROLL _Pragma("GCC unroll 8")

/* Vectors per step inside a block (4 measured faster than 8, whose
 * accumulators do not all fit in registers). */
#define GM_QP_STEP 4
/* No software prefetch: each thread reads its groups as one sequential
 * stream, which the hardware prefetchers follow (prefetching 2 blocks
 * ahead measured 15-25% more CPU time per call). */

/* 4 activation bytes read as one int32 to broadcast. */
typedef int32_t gm_qp_i32u __attribute__((aligned(1), may_alias));

/* V vectors (blocks yb[v]) against one packed block of 16 rows: acc[v][r]
 * and acc_m[v][r] take their f32 steps. */
GM_T_QP __attribute__((always_inline)) static inline void
gm_qp_block_vecs(const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16],
                 float (*acc_m)[16], const int V)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i sumi[GM_QP_STEP];
    GM_QP_UNROLL
    for (int v = 0; v < V; v++)
        sumi[v] = _mm512_setzero_si512();
    GM_QP_UNROLL
    for (int p = 0; p < 4; p++) {
        __m512i slo[GM_QP_STEP], shi[GM_QP_STEP];
        GM_QP_UNROLL
        for (int v = 0; v < V; v++)
            slo[v] = shi[v] = _mm512_setzero_si512();
        GM_QP_UNROLL
        for (int g = 0; g < 8; g++) {
            const __m512i line = _mm512_load_si512((const void *)(pb + GM_QP_QS + 64 * (8 * p + g)));
            const __m512i lo = _mm512_and_si512(line, m4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(line, 4), m4);
            GM_QP_UNROLL
            for (int v = 0; v < V; v++) {
                const int8_t *q = yb[v]->qs + 64 * p + 4 * g;
                slo[v] = _mm512_dpbusd_epi32(slo[v], lo,
                                             _mm512_set1_epi32(*(const gm_qp_i32u *)q));
                shi[v] = _mm512_dpbusd_epi32(shi[v], hi,
                                             _mm512_set1_epi32(*(const gm_qp_i32u *)(q + 32)));
            }
        }
        const __m512i sc_lo = _mm512_cvtepu8_epi32(
            _mm_load_si128((const __m128i *)(const void *)(pb + GM_QP_SC + 16 * (2 * p))));
        const __m512i sc_hi = _mm512_cvtepu8_epi32(
            _mm_load_si128((const __m128i *)(const void *)(pb + GM_QP_SC + 16 * (2 * p + 1))));
        GM_QP_UNROLL
        for (int v = 0; v < V; v++)
            sumi[v] = _mm512_add_epi32(sumi[v], _mm512_add_epi32(_mm512_mullo_epi32(slo[v], sc_lo),
                                                                 _mm512_mullo_epi32(shi[v], sc_hi)));
    }
    __m512i mn[4]; /* lane r: mins of sub-blocks 2k, 2k + 1 as 2 x int16 */
    GM_QP_UNROLL
    for (int k = 0; k < 4; k++)
        mn[k] = _mm512_cvtepu8_epi16(
            _mm256_load_si256((const __m256i *)(const void *)(pb + GM_QP_MN + 32 * k)));
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(pb + GM_QP_D)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(pb + GM_QP_DMIN)));
    GM_QP_UNROLL
    for (int v = 0; v < V; v++) {
        const __m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)yb[v]->bsums);
        const __m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)(yb[v]->bsums + 8));
        _Alignas(16) int32_t pairs[4]; /* sub-block sums 2k, 2k + 1 as 2 x int16 */
        _mm_store_si128((__m128i *)(void *)pairs, _mm_hadd_epi16(b0, b1));
        __m512i msum = _mm512_setzero_si512();
        GM_QP_UNROLL
        for (int k = 0; k < 4; k++)
            msum = _mm512_dpwssd_epi32(msum, mn[k], _mm512_set1_epi32(pairs[k]));
        const __m512 yd = _mm512_set1_ps(yb[v]->d);
        _mm512_store_ps(acc[v], _mm512_fmadd_ps(_mm512_mul_ps(d, yd), _mm512_cvtepi32_ps(sumi[v]),
                                                _mm512_load_ps(acc[v])));
        _mm512_store_ps(acc_m[v], _mm512_fmadd_ps(_mm512_mul_ps(dmin, yd),
                                                  _mm512_cvtepi32_ps(msum),
                                                  _mm512_load_ps(acc_m[v])));
    }
}

/* gm_qp_block_vecs for 1..4 vectors as functions of their own: inlined
 * into the loop over vector groups, the block's decoding (invariant in
 * that loop) would be hoisted out of it and spilled to the stack. */
#define GM_QP_FN(nv)                                                                               \
    GM_T_QP __attribute__((noinline)) static void gm_qp_block_##nv(                               \
        const uint8_t *pb, const gm_block_q8_K *const *yb, float (*acc)[16], float (*acc_m)[16])   \
    {                                                                                              \
        gm_qp_block_vecs(pb, yb, acc, acc_m, nv);                                                  \
    }
GM_QP_FN(1)
GM_QP_FN(2)
GM_QP_FN(3)
GM_QP_FN(4)
#undef GM_QP_FN

static const gm_q4k_block_kernels gm_q4k_block_kernels_avx512vnni = {
    GM_QP_STEP, {gm_qp_block_1, gm_qp_block_2, gm_qp_block_3, gm_qp_block_4}};

#endif /* x86-64 */

/* ---- the row loop (any CPU path's block kernels) ------------------------------------- */

/* Vectors whose accumulators live on the stack in one pass over the
 * blocks. */
#define GM_QP_PASS 64

/* One group of 16 rows (nb packed blocks at g) against n_vec vectors with
 * the block kernels k; stores rows [r0, r1) of the group at
 * out[v * out_stride + r - r0]. */
static void gm_qp_group(const gm_q4k_block_kernels *k, const uint8_t *g, uint64_t nb,
                        const uint8_t *xq, size_t x_stride, uint32_t n_vec, int r0, int r1,
                        float *out, size_t out_stride)
{
    _Alignas(64) float acc[GM_QP_PASS][16];
    _Alignas(64) float acc_m[GM_QP_PASS][16];
    for (uint32_t v0 = 0; v0 < n_vec; v0 += GM_QP_PASS) {
        const uint32_t nv = n_vec - v0 < GM_QP_PASS ? n_vec - v0 : GM_QP_PASS;
        memset(acc, 0, sizeof(float) * 16 * nv);
        memset(acc_m, 0, sizeof(float) * 16 * nv);
        for (uint64_t i = 0; i < nb; i++) {
            const uint8_t *pb = g + (size_t)i * GM_Q4K_PACKED_BLOCK_BYTES;
            for (uint32_t v = 0; v < nv; v += k->step) {
                const gm_block_q8_K *yb[4];
                const uint32_t gv = nv - v < k->step ? nv - v : k->step;
                for (uint32_t j = 0; j < gv; j++) {
                    const uint8_t *xv = xq + (size_t)(v0 + v + j) * x_stride;
                    yb[j] = (const gm_block_q8_K *)(const void *)xv + i;
                }
                k->fn[gv - 1](pb, yb, acc + v, acc_m + v);
            }
        }
        for (uint32_t v = 0; v < nv; v++)
            for (int r = r0; r < r1; r++)
                out[(size_t)(v0 + v) * out_stride + (size_t)(r - r0)] = acc[v][r] - acc_m[v][r];
    }
}

void gm_q4k_packed_rows(const gm_q4k_packed *p, uint64_t begin, uint64_t end, const void *xq,
                        size_t x_stride, uint32_t n_vec, float *y, size_t y_stride)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const gm_q4k_block_kernels *k =
        gm_cpu_active_path() == GM_CPU_AVX512 && gm_cpu_has_avx512_vnni()
            ? &gm_q4k_block_kernels_avx512vnni
            : &gm_q4k_block_kernels_avx2;
#else
    const gm_q4k_block_kernels *k = &gm_q4k_block_kernels_avx2;
#endif
    if (k->step == 0)
        return; /* no kernels in this build: never supported */
    const uint64_t nb = p->cols / GM_QK_K;
    while (begin < end) {
        const uint64_t grp = begin / GM_Q4K_PACKED_ROWS;
        const uint64_t g_end = (grp + 1) * GM_Q4K_PACKED_ROWS;
        const uint64_t stop = end < g_end ? end : g_end;
        gm_qp_group(k, p->data + (size_t)grp * p->group_bytes, nb, (const uint8_t *)xq, x_stride,
                    n_vec, (int)(begin % GM_Q4K_PACKED_ROWS),
                    (int)(stop - grp * GM_Q4K_PACKED_ROWS), y + begin, y_stride);
        begin = stop;
    }
}
