/*
 * engine/cpu/dot_avx512_body.h -- the AVX-512 dot kernels, included twice
 * by dot_avx512.c: once for AVX-512 F/BW/VL and once more for CPUs that
 * also have AVX512-VNNI. Before including, dot_avx512.c defines
 *   GM_T         the function target attribute,
 *   GM_N(name)   the name of a kernel in this variant,
 *   GM_VNNI      1 to use vpdpbusd / vpdpwssd, 0 for maddubs + madd + add.
 * Both variants compute the same integer block sums exactly (no
 * intermediate saturation is possible for these value ranges), so they
 * give the same bits.
 *
 * Each format has one tile core, GM_N(*_tile), that computes R weight rows
 * (at w + r * w_stride) against V activation vectors (at xq + v * x_stride)
 * and writes out[v * out_stride + r]. Weight blocks are decoded once for
 * all V vectors, and each vector's blocks are loaded once for all R rows.
 * Every (row, vector) output has its own accumulators and goes through
 * exactly the same float operations in the same order whatever R and V
 * are, so the one-vector dot (R = V = 1), the four-vector dot and every
 * tile give a row and vector the same bits (batch invariance).
 */

/* 16 int32 lanes += sums of 4 products u8 (a) x s8 (b). */
#if GM_VNNI
#define GM_DPBUSD(acc, a, b) _mm512_dpbusd_epi32((acc), (a), (b))
#define GM_DPWSSD(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))
#else
#define GM_DPBUSD(acc, a, b)                                                                       \
    _mm512_add_epi32((acc), _mm512_madd_epi16(_mm512_maddubs_epi16((a), (b)),                      \
                                              _mm512_set1_epi16(1)))
#define GM_DPWSSD(acc, a, b) _mm512_add_epi32((acc), _mm512_madd_epi16((a), (b)))
#endif

/* Two consecutive Q8_0-layout blocks' 32 quants, as one 512-bit vector. */
GM_T static inline __m512i GM_N(gm_load_2x32)(const int8_t *a, const int8_t *b)
{
    const __m256i lo = _mm256_loadu_si256((const __m256i *)a);
    const __m256i hi = _mm256_loadu_si256((const __m256i *)b);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Two fp16 scales as 16 floats: a in lanes 0..7, b in lanes 8..15. */
GM_T static inline __m512 GM_N(gm_h2f_2x8)(uint16_t a, uint16_t b)
{
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)),
                                              _mm_set1_epi16((short)b), 1);
    return _mm512_cvtph_ps(h);
}

/* ---- Q8_0 x Q8_0 ------------------------------------------------------------ */

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q8_0_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q8_0 *x[GM_TILE_R];
    const gm_block_q8_0 *y[GM_TILE_V];
    __m512 acc[GM_TILE_R][GM_TILE_V];
    __m256 acc_t[GM_TILE_R][GM_TILE_V];
    GM_UNROLL
    for (int r = 0; r < R; r++)
        x[r] = (const gm_block_q8_0 *)((const uint8_t *)w + (size_t)r * w_stride);
    GM_UNROLL
    for (int v = 0; v < V; v++)
        y[v] = (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)v * x_stride);
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++) {
            acc[r][v] = _mm512_setzero_ps();
            acc_t[r][v] = _mm256_setzero_ps();
        }
    const uint64_t nb = n / GM_QK8_0;
    uint64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qx[GM_TILE_R];
        __m512 dx[GM_TILE_R];
#if GM_VNNI
        /* y is made unsigned (y + 128) and the 128 * sum(x) this adds is
         * taken off by starting each lane at -128 * (its four x) */
        __m512i corr[GM_TILE_R];
#else
        __m512i ax[GM_TILE_R];
        __mmask64 neg[GM_TILE_R];
#endif
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            GM_PREFETCH(&x[r][i], 2);
            qx[r] = GM_N(gm_load_2x32)(x[r][i].qs, x[r][i + 1].qs);
            dx[r] = GM_N(gm_h2f_2x8)(x[r][i].d, x[r][i + 1].d);
#if GM_VNNI
            corr[r] = _mm512_sub_epi32(
                _mm512_setzero_si512(),
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), qx[r]));
#else
            ax[r] = _mm512_abs_epi8(qx[r]);
            neg[r] = _mm512_movepi8_mask(qx[r]);
#endif
        }
        GM_UNROLL
        for (int v = 0; v < V; v++) {
            const __m512i qy = GM_N(gm_load_2x32)(y[v][i].qs, y[v][i + 1].qs);
            const __m512 dy = GM_N(gm_h2f_2x8)(y[v][i].d, y[v][i + 1].d);
#if GM_VNNI
            const __m512i uy = _mm512_xor_si512(qy, _mm512_set1_epi8(-128));
#endif
            GM_UNROLL
            for (int r = 0; r < R; r++) {
#if GM_VNNI
                const __m512i s = _mm512_dpbusd_epi32(corr[r], uy, qx[r]);
#else
                /* the sign of x moved onto y, so a is unsigned */
                const __m512i sy = _mm512_mask_sub_epi8(qy, neg[r], _mm512_setzero_si512(), qy);
                const __m512i s = GM_DPBUSD(_mm512_setzero_si512(), ax[r], sy);
#endif
                acc[r][v] =
                    _mm512_fmadd_ps(_mm512_mul_ps(dx[r], dy), _mm512_cvtepi32_ps(s), acc[r][v]);
            }
        }
    }
    for (; i < nb; i++) { /* an odd last block */
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            const __m256i qx = _mm256_loadu_si256((const __m256i *)x[r][i].qs);
            const float dx = gm_h2f5(x[r][i].d);
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                const __m256i qy = _mm256_loadu_si256((const __m256i *)y[v][i].qs);
                const __m256i p = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)),
                    _mm256_set1_epi16(1));
                acc_t[r][v] = _mm256_fmadd_ps(_mm256_set1_ps(dx * gm_h2f5(y[v][i].d)),
                                              _mm256_cvtepi32_ps(p), acc_t[r][v]);
            }
        }
    }
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + r] =
                _mm512_reduce_add_ps(acc[r][v]) + gm_hsum256_5(acc_t[r][v]);
}

/* ---- Q4_K x Q8_K ------------------------------------------------------------ */

/* The mins term keeps 4 float lanes per (row, vector); the lanes of up to
 * four vectors share one 512-bit register per row (slot v = lanes 4v..4v+3),
 * which computes each lane exactly as a 128-bit register of its own would. */
GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q4_K_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q4_K *x[GM_TILE_R];
    const gm_block_q8_K *y[GM_TILE_V];
    __m512 acc[GM_TILE_R][GM_TILE_V];
    __m512 acc_m[GM_TILE_R][(GM_TILE_V + 3) / 4];
    __m128 acc_m1[GM_TILE_R]; /* the mins lanes when V = 1 */
    GM_UNROLL
    for (int r = 0; r < R; r++) {
        acc_m1[r] = _mm_setzero_ps();
        x[r] = (const gm_block_q4_K *)((const uint8_t *)w + (size_t)r * w_stride);
        GM_UNROLL
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm512_setzero_ps();
        GM_UNROLL
        for (int g = 0; g < (V + 3) / 4; g++)
            acc_m[r][g] = _mm512_setzero_ps();
    }
    GM_UNROLL
    for (int v = 0; v < V; v++)
        y[v] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)v * x_stride);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* word lanes 0..15 take scale 2j, lanes 16..31 scale 2j+1 */
    __m512i idx[4];
    GM_UNROLL
    for (int j = 0; j < 4; j++)
        idx[j] = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)(2 * j)),
                                         _mm512_set1_epi16((short)(2 * j + 1)));
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        /* per group of 4 vectors: the 8 sub-block sums of each (hadd of
         * bsums) in its 128-bit slot, and its scale d in that slot's lanes */
        __m512i pairs[(GM_TILE_V + 3) / 4];
        __m512 yd4[(GM_TILE_V + 3) / 4];
        GM_UNROLL
        for (int g = 0; g < (V + 3) / 4; g++) {
            pairs[g] = _mm512_setzero_si512();
            yd4[g] = _mm512_setzero_ps();
        }
        if (V > 1) {
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                const __m128i b0 = _mm_loadu_si128((const __m128i *)y[v][i].bsums);
                const __m128i b1 = _mm_loadu_si128((const __m128i *)(y[v][i].bsums + 8));
                const __mmask16 slot = (__mmask16)(0xFu << (4 * (v % 4)));
                pairs[v / 4] =
                    _mm512_mask_broadcast_i32x4(pairs[v / 4], slot, _mm_hadd_epi16(b0, b1));
                yd4[v / 4] = _mm512_mask_mov_ps(yd4[v / 4], slot, _mm512_set1_ps(y[v][i].d));
            }
        }
        __m512i sc512[GM_TILE_R];
        float xd[GM_TILE_R];
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            GM_PREFETCH(&x[r][i], 3);
            uint8_t sc[8], mn[8];
            gm_k4_unpack5(x[r][i].scales, sc, mn);
            sc512[r] =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
            xd[r] = gm_h2f5(x[r][i].d);
            if (V == 1) { /* one vector: 128-bit operations suffice */
                const float dmin = gm_h2f5(x[r][i].dmin) * y[0][i].d;
                acc_m1[r] = _mm_fmadd_ps(_mm_set1_ps(dmin),
                                         _mm_cvtepi32_ps(gm_k4_mins_dot5(mn, y[0][i].bsums)),
                                         acc_m1[r]);
                continue;
            }
            const __m512i m16 = _mm512_broadcast_i32x4(
                _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn)));
            const __m512 xdmin = _mm512_set1_ps(gm_h2f5(x[r][i].dmin));
            GM_UNROLL
            for (int g = 0; g < (V + 3) / 4; g++)
                acc_m[r][g] =
                    _mm512_fmadd_ps(_mm512_mul_ps(xdmin, yd4[g]),
                                    _mm512_cvtepi32_ps(_mm512_madd_epi16(pairs[g], m16)),
                                    acc_m[r][g]);
        }
        /* elements 64j..64j+63: the low nibbles of qs[32j..32j+31], then
         * their high nibbles; each half has one scale */
        __m512i sumi[GM_TILE_R][GM_TILE_V];
        GM_UNROLL
        for (int r = 0; r < R; r++)
            GM_UNROLL
            for (int v = 0; v < V; v++)
                sumi[r][v] = _mm512_setzero_si512();
        GM_UNROLL
        for (int j = 0; j < 4; j++) {
            __m512i q[GM_TILE_R], s[GM_TILE_R];
            GM_UNROLL
            for (int r = 0; r < R; r++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 32 * j));
                q[r] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bits, m4)),
                                          _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), 1);
                s[r] = _mm512_permutexvar_epi16(idx[j], sc512[r]);
            }
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                const __m512i qy = _mm512_loadu_si512((const void *)(y[v][i].qs + 64 * j));
                GM_UNROLL
                for (int r = 0; r < R; r++)
                    sumi[r][v] = GM_DPWSSD(sumi[r][v], _mm512_maddubs_epi16(q[r], qy), s[r]);
            }
        }
        GM_UNROLL
        for (int r = 0; r < R; r++)
            GM_UNROLL
            for (int v = 0; v < V; v++)
                acc[r][v] = _mm512_fmadd_ps(_mm512_set1_ps(xd[r] * y[v][i].d),
                                            _mm512_cvtepi32_ps(sumi[r][v]), acc[r][v]);
    }
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++) {
            float lanes[16];
            _mm512_storeu_ps(lanes, acc_m[r][v / 4]);
            const __m128 am = V == 1 ? acc_m1[r] : _mm_loadu_ps(lanes + 4 * (v % 4));
            __m128 m = _mm_add_ps(am, _mm_movehl_ps(am, am));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            out[(size_t)v * out_stride + r] = _mm512_reduce_add_ps(acc[r][v]) - _mm_cvtss_f32(m);
        }
}

/* ---- Q6_K x Q8_K ------------------------------------------------------------ */

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q6_K_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q6_K *x[GM_TILE_R];
    const gm_block_q8_K *y[GM_TILE_V];
    __m512 acc[GM_TILE_R][GM_TILE_V];
    GM_UNROLL
    for (int r = 0; r < R; r++) {
        x[r] = (const gm_block_q6_K *)((const uint8_t *)w + (size_t)r * w_stride);
        GM_UNROLL
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm512_setzero_ps();
    }
    GM_UNROLL
    for (int v = 0; v < V; v++)
        y[v] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)v * x_stride);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m2 = _mm512_set1_epi8(0x03);
    /* word lane l of the products of elements 64p + 2l, 64p + 2l + 1 of
     * half h takes scale 8h + 4p + l / 8 */
    __m512i idx[2][2];
    GM_UNROLL
    for (int h = 0; h < 2; h++)
        GM_UNROLL
        for (int p = 0; p < 2; p++) {
            const short b = (short)(8 * h + 4 * p);
            idx[h][p] = _mm512_mask_blend_epi16(
                0xFF000000u,
                _mm512_mask_blend_epi16(
                    0x00FF0000u,
                    _mm512_mask_blend_epi16(0x0000FF00u, _mm512_set1_epi16(b),
                                            _mm512_set1_epi16((short)(b + 1))),
                    _mm512_set1_epi16((short)(b + 2))),
                _mm512_set1_epi16((short)(b + 3)));
        }
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        __m512i sc512[GM_TILE_R];
        __m256i sc_m32[GM_TILE_R];
        __m512i sumi[GM_TILE_R][GM_TILE_V];
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            GM_PREFETCH(&x[r][i], 4);
            const __m256i sc16 =
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[r][i].scales));
            sc512[r] = _mm512_castsi256_si512(sc16);
            /* -32 * scale fits in 16 bits: the products below are exact */
            sc_m32[r] = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5));
        }
        /* the offset 32 of every value: -32 * sum_g scale_g * bsum_g */
        GM_UNROLL
        for (int v = 0; v < V; v++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)y[v][i].bsums);
            GM_UNROLL
            for (int r = 0; r < R; r++)
                sumi[r][v] = _mm512_zextsi256_si512(_mm256_madd_epi16(bs, sc_m32[r]));
        }
        GM_UNROLL
        for (int h = 0; h < 2; h++) {
            __m512i q[GM_TILE_R][2], s[GM_TILE_R][2];
            GM_UNROLL
            for (int r = 0; r < R; r++) {
                const __m512i l = _mm512_loadu_si512((const void *)(x[r][i].ql + 64 * h));
                const __m256i hb = _mm256_loadu_si256((const __m256i *)(x[r][i].qh + 32 * h));
                /* high bits: [hb, hb >> 2] for elements 0..63, >> 4 more for 64..127 */
                const __m512i hh =
                    _mm512_inserti64x4(_mm512_castsi256_si512(hb), _mm256_srli_epi16(hb, 2), 1);
                q[r][0] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                          _mm512_slli_epi16(_mm512_and_si512(hh, m2), 4));
                q[r][1] = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hh, 4), m2), 4));
                s[r][0] = _mm512_permutexvar_epi16(idx[h][0], sc512[r]);
                s[r][1] = _mm512_permutexvar_epi16(idx[h][1], sc512[r]);
            }
            GM_UNROLL
            for (int p = 0; p < 2; p++)
                GM_UNROLL
                for (int v = 0; v < V; v++) {
                    const __m512i qy =
                        _mm512_loadu_si512((const void *)(y[v][i].qs + 128 * h + 64 * p));
                    GM_UNROLL
                    for (int r = 0; r < R; r++)
                        sumi[r][v] =
                            GM_DPWSSD(sumi[r][v], _mm512_maddubs_epi16(q[r][p], qy), s[r][p]);
                }
        }
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            const float xd = gm_h2f5(x[r][i].d);
            GM_UNROLL
            for (int v = 0; v < V; v++)
                acc[r][v] = _mm512_fmadd_ps(_mm512_set1_ps(xd * y[v][i].d),
                                            _mm512_cvtepi32_ps(sumi[r][v]), acc[r][v]);
        }
    }
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + r] = _mm512_reduce_add_ps(acc[r][v]);
}

/* ---- the entry points ---------------------------------------------------------- */

/* A tile of R rows x V vectors of one format, as a function. */
#define GM_TILE_FN(fmt, name, R, V)                                                                \
    GM_T static void GM_N(gm_tile_##fmt##_##name)(uint64_t n, const void *w, size_t w_stride,     \
                                                   const void *xq, size_t x_stride, float *y,     \
                                                   size_t y_stride)                               \
    {                                                                                              \
        GM_N(gm_##fmt##_tile)(n, w, w_stride, xq, x_stride, y, y_stride, R, V);                    \
    }

/* The one-row tiles for 1..4 vectors, and the one- and four-vector dots
 * (the same core). */
#define GM_ENTRY_POINTS(fmt)                                                                       \
    GM_TILE_FN(fmt, 1x1, 1, 1)                                                                     \
    GM_TILE_FN(fmt, 1x2, 1, 2)                                                                     \
    GM_TILE_FN(fmt, 1x3, 1, 3)                                                                     \
    GM_TILE_FN(fmt, 1x4, 1, 4)                                                                     \
    GM_T static float GM_N(gm_dot_##fmt)(uint64_t n, const void *w, const void *xq)                \
    {                                                                                              \
        float out[1];                                                                              \
        GM_N(gm_##fmt##_tile)(n, w, 0, xq, 0, out, 1, 1, 1);                                       \
        return out[0];                                                                             \
    }                                                                                              \
    GM_T static void GM_N(gm_dot4_##fmt)(uint64_t n, const void *w, const void *xq, size_t stride, \
                                         float out[4])                                             \
    {                                                                                              \
        GM_N(gm_##fmt##_tile)(n, w, 0, xq, stride, out, 1, 1, 4);                                  \
    }

#define GM_ONE_ROW_TILES(fmt)                                                                      \
    {GM_N(gm_tile_##fmt##_1x1), GM_N(gm_tile_##fmt##_1x2), GM_N(gm_tile_##fmt##_1x3),              \
     GM_N(gm_tile_##fmt##_1x4)}

/* Q8_0 also has tiles of GM_TILE_R rows: with its cheap decoding, sharing
 * each vector's loads over several rows pays. The K-quants' tiles stay one
 * row high (more rows spill registers and measured slower). */
GM_ENTRY_POINTS(q8_0)
GM_TILE_FN(q8_0, Rx1, GM_TILE_R, 1)
GM_TILE_FN(q8_0, Rx2, GM_TILE_R, 2)
GM_TILE_FN(q8_0, Rx3, GM_TILE_R, 3)
GM_TILE_FN(q8_0, Rx4, GM_TILE_R, 4)
static const gm_tiles GM_N(gm_tiles_q8_0) = {
    GM_TILE_R,
    4,
    GM_ONE_ROW_TILES(q8_0),
    {GM_N(gm_tile_q8_0_Rx1), GM_N(gm_tile_q8_0_Rx2), GM_N(gm_tile_q8_0_Rx3),
     GM_N(gm_tile_q8_0_Rx4)},
};

GM_ENTRY_POINTS(q4_K)
static const gm_tiles GM_N(gm_tiles_q4_K) = {1, 4, GM_ONE_ROW_TILES(q4_K), GM_ONE_ROW_TILES(q4_K)};

GM_ENTRY_POINTS(q6_K)
static const gm_tiles GM_N(gm_tiles_q6_K) = {1, 4, GM_ONE_ROW_TILES(q6_K), GM_ONE_ROW_TILES(q6_K)};

#undef GM_TILE_FN
#undef GM_ONE_ROW_TILES
#undef GM_ENTRY_POINTS
#undef GM_DPBUSD
#undef GM_DPWSSD
