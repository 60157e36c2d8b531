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

/* The exact sums of 8 consecutive blocks, block b in lane b, from the 4
 * vectors of their lane sums (z[p]: block 2p in lanes 0..7, block 2p + 1
 * in lanes 8..15). */
GM_T static inline __m256i GM_N(gm_q8_0_sum8)(const __m512i z[4])
{
    /* per 128-bit lane: [z0 0+2, z1 0+2, z0 1+3, z1 1+3], and for z2, z3 */
    const __m512i a0 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]),
                                        _mm512_unpackhi_epi32(z[0], z[1]));
    const __m512i a1 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]),
                                        _mm512_unpackhi_epi32(z[2], z[3]));
    /* per 128-bit lane L: the sums of lane L of z0, z1, z2, z3 */
    const __m512i b = _mm512_add_epi32(_mm512_unpacklo_epi64(a0, a1),
                                       _mm512_unpackhi_epi64(a0, a1));
    /* 128-bit lane 0: blocks 0, 2, 4, 6; lane 2: blocks 1, 3, 5, 7 */
    const __m512i c = _mm512_add_epi32(b, _mm512_shuffle_i32x4(b, b, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i order = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, c));
}

/* The fp16 scales of blocks 0..g-1 (g <= 8) from `first` on, as floats in
 * lanes 0..g-1 (0 in the others). Word inserts: a gather measured much
 * slower here. */
GM_T static inline __m256 GM_N(gm_q8_0_scales8)(const gm_block_q8_0 *first, int g)
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

/* Each (row, vector) gets the exact integer sum of every block and then,
 * per block i, one f32 step into lane i % 8 of its accumulator:
 *   acc[i % 8] = fma(d_w * d_x, float(sum_i), acc[i % 8]),
 * and at the end the lanes are added up as gm_hsum256_5 does. How the
 * integer sums are laid out in lanes does not change a bit, so the 16-row
 * panel below (lanes = rows) gives the bits of these tiles (lanes =
 * elements), and so does the one-vector dot (R = V = 1). */
GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q8_0_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    _Static_assert(sizeof(gm_block_q8_0) == 34, "gm_q8_0_scales8 assumes 34-byte blocks");
    const gm_block_q8_0 *x[GM_TILE_R];
    const gm_block_q8_0 *y[GM_TILE_V];
    __m256 acc[GM_TILE_R][GM_TILE_V];
    GM_UNROLL
    for (int r = 0; r < R; r++)
        x[r] = (const gm_block_q8_0 *)((const uint8_t *)w + (size_t)r * w_stride);
    GM_UNROLL
    for (int v = 0; v < V; v++)
        y[v] = (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)v * x_stride);
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm256_setzero_ps();
    const uint64_t nb = n / GM_QK8_0;
    for (uint64_t i0 = 0; i0 < nb; i0 += 8) {
        const int g = nb - i0 < 8 ? (int)(nb - i0) : 8;
        __m512i z[GM_TILE_R][GM_TILE_V][4];
        GM_UNROLL
        for (int p = 0; p < 4; p++) {
            const uint64_t i = i0 + 2 * (uint64_t)p;
            if (2 * p >= g) { /* past the last block: no products */
                GM_UNROLL
                for (int r = 0; r < R; r++)
                    GM_UNROLL
                    for (int v = 0; v < V; v++)
                        z[r][v][p] = _mm512_setzero_si512();
                continue;
            }
            const bool two = 2 * p + 1 < g;
            __m512i qx[GM_TILE_R];
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
                qx[r] = two ? GM_N(gm_load_2x32)(x[r][i].qs, x[r][i + 1].qs)
                            : _mm512_zextsi256_si512(
                                  _mm256_loadu_si256((const __m256i *)x[r][i].qs));
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
                const __m512i qy = two ? GM_N(gm_load_2x32)(y[v][i].qs, y[v][i + 1].qs)
                                       : _mm512_zextsi256_si512(
                                             _mm256_loadu_si256((const __m256i *)y[v][i].qs));
#if GM_VNNI
                const __m512i uy = _mm512_xor_si512(qy, _mm512_set1_epi8(-128));
#endif
                GM_UNROLL
                for (int r = 0; r < R; r++) {
#if GM_VNNI
                    z[r][v][p] = _mm512_dpbusd_epi32(corr[r], uy, qx[r]);
#else
                    /* the sign of x moved onto y, so a is unsigned */
                    const __m512i sy =
                        _mm512_mask_sub_epi8(qy, neg[r], _mm512_setzero_si512(), qy);
                    z[r][v][p] = GM_DPBUSD(_mm512_setzero_si512(), ax[r], sy);
#endif
                }
            }
        }
        /* per block, in block order within each lane: the f32 steps */
        __m256 dx[GM_TILE_R];
        GM_UNROLL
        for (int r = 0; r < R; r++)
            dx[r] = GM_N(gm_q8_0_scales8)(x[r] + i0, g);
        const __mmask8 m = (__mmask8)((1u << g) - 1u);
        GM_UNROLL
        for (int v = 0; v < V; v++) {
            const __m256 dy = GM_N(gm_q8_0_scales8)(y[v] + i0, g);
            GM_UNROLL
            for (int r = 0; r < R; r++) {
                const __m256 sum = _mm256_cvtepi32_ps(GM_N(gm_q8_0_sum8)(z[r][v]));
                acc[r][v] = _mm256_mask3_fmadd_ps(_mm256_mul_ps(dx[r], dy), sum, acc[r][v], m);
            }
        }
    }
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + r] = gm_hsum256_5(acc[r][v]);
}

/* ---- Q4_K x Q8_K ------------------------------------------------------------ */

/* Each (row, vector) gets its block's exact integer sums -- sum over the
 * sub-blocks of scale x (4-bit weights . activations), and sum of min x
 * activation sums -- and then, per block, one f32 step each:
 *   acc += (d_w * d_x) * float(sum), acc_m += (dmin_w * d_x) * float(msum),
 * result acc - acc_m (as ggml's repacked Q4_K kernels do). How the integer
 * sums are split over lanes does not change a bit of the result, so the
 * 16-row panel kernel below (lanes = rows) gives the same bits as these
 * tiles (lanes = elements). */
GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q4_K_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q4_K *x[GM_TILE_R];
    const gm_block_q8_K *y[GM_TILE_V];
    float acc[GM_TILE_R][GM_TILE_V], acc_m[GM_TILE_R][GM_TILE_V];
    GM_UNROLL
    for (int r = 0; r < R; r++) {
        x[r] = (const gm_block_q4_K *)((const uint8_t *)w + (size_t)r * w_stride);
        GM_UNROLL
        for (int v = 0; v < V; v++)
            acc[r][v] = acc_m[r][v] = 0.0f;
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
    /* The integer sums of up to 16 blocks wait here (lanes not yet added
     * up) and are then added up 16 blocks at once, which costs far less
     * than adding up each block's 16 lanes on its own. */
    _Alignas(64) int32_t st[GM_TILE_R][GM_TILE_V][GM_K4_GROUP][16];
    _Alignas(64) int32_t mst[GM_TILE_R][GM_TILE_V][GM_K4_GROUP][4];
    /* d_w d_x and dmin_w d_x per block (stored and read as scalars, which
     * store forwarding serves; vector loads of scalar stores stall) */
    float dds[GM_TILE_R][GM_TILE_V][GM_K4_GROUP], ddms[GM_TILE_R][GM_TILE_V][GM_K4_GROUP];
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i0 = 0; i0 < nb; i0 += GM_K4_GROUP) {
        const int g = nb - i0 < GM_K4_GROUP ? (int)(nb - i0) : GM_K4_GROUP;
        for (int b = 0; b < g; b++) {
            const uint64_t i = i0 + (uint64_t)b;
            __m512i sc512[GM_TILE_R];
            __m128i m16[GM_TILE_R];
            float xd[GM_TILE_R], xdmin[GM_TILE_R];
            GM_UNROLL
            for (int r = 0; r < R; r++) {
                GM_PREFETCH(&x[r][i], 3);
                uint8_t sc[8], mn[8];
                gm_k4_unpack5(x[r][i].scales, sc, mn);
                sc512[r] = _mm512_castsi128_si512(
                    _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
                m16[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
                xd[r] = gm_h2f5(x[r][i].d);
                xdmin[r] = gm_h2f5(x[r][i].dmin);
            }
            /* the mins: sum_j mn[j] * (bsums[2j] + bsums[2j+1]) */
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                const __m128i b0 = _mm_loadu_si128((const __m128i *)y[v][i].bsums);
                const __m128i b1 = _mm_loadu_si128((const __m128i *)(y[v][i].bsums + 8));
                const __m128i pairs = _mm_hadd_epi16(b0, b1);
                GM_UNROLL
                for (int r = 0; r < R; r++) {
                    _mm_store_si128((__m128i *)mst[r][v][b], _mm_madd_epi16(pairs, m16[r]));
                    dds[r][v][b] = xd[r] * y[v][i].d;
                    ddms[r][v][b] = xdmin[r] * y[v][i].d;
                }
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
                    const __m256i bits =
                        _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 32 * j));
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
                    _mm512_store_si512((void *)st[r][v][b], sumi[r][v]);
        }
        if (g < GM_K4_GROUP) { /* the last, partial group: zeros in the unused rows */
            const __m512i z = gm_opaque_zero();
            GM_UNROLL
            for (int r = 0; r < R; r++)
                GM_UNROLL
                for (int v = 0; v < V; v++)
                    for (int b = g; b < (g <= 8 ? 8 : GM_K4_GROUP); b++) {
                        _mm512_store_si512((void *)st[r][v][b], z);
                        _mm_store_si128((__m128i *)mst[r][v][b], _mm512_castsi512_si128(z));
                    }
            if (g <= 8)
                GM_UNROLL
                for (int r = 0; r < R; r++)
                    GM_UNROLL
                    for (int v = 0; v < V; v++)
                        for (int b = 8; b < GM_K4_GROUP; b++)
                            _mm_store_si128((__m128i *)mst[r][v][b], _mm512_castsi512_si128(z));
        }
        /* per block, in block order: acc += (d_w d_x) sum, acc_m += (dmin_w d_x) msum */
        GM_UNROLL
        for (int r = 0; r < R; r++)
            GM_UNROLL
            for (int v = 0; v < V; v++) {
                _Alignas(64) float t[GM_K4_GROUP], mt[GM_K4_GROUP];
                const __m512i tot =
                    g <= 8 ? gm_sum8x16_epi32(st[r][v]) : gm_sum16x16_epi32(st[r][v]);
                _mm512_store_ps(t, _mm512_cvtepi32_ps(tot));
                _mm512_store_ps(mt, _mm512_cvtepi32_ps(gm_sum16x4_epi32(mst[r][v])));
                float a = acc[r][v], am = acc_m[r][v];
                for (int b = 0; b < g; b++) {
                    a = gm_fma5(dds[r][v][b], t[b], a);
                    am = gm_fma5(ddms[r][v][b], mt[b], am);
                }
                acc[r][v] = a;
                acc_m[r][v] = am;
            }
    }
    GM_UNROLL
    for (int r = 0; r < R; r++)
        GM_UNROLL
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + r] = acc[r][v] - acc_m[r][v];
}

/* 4 rows against up to 4 vectors (decode, small batches): one whole row
 * after the other (a single stream through the weights, as the hardware
 * prefetchers like), each block decoded once for the V vectors and its
 * integer sums kept, added down to 4 lanes; with the last row, per block
 * and vector a transposing add tree gives the 4 rows' sums in the lanes of
 * one 128-bit register, and the f32 steps run for the 4 rows at once. */
GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q4_K_rows4_core)(uint64_t n, const void *w, size_t w_stride, const void *xq,
                         size_t x_stride, float *out, size_t out_stride, const int V)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512i idx[4];
    GM_UNROLL
    for (int j = 0; j < 4; j++)
        idx[j] = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)(2 * j)),
                                         _mm512_set1_epi16((short)(2 * j + 1)));
    const gm_block_q8_K *y[4];
    __m128 acc[4], acc_m[4];
    GM_UNROLL
    for (int v = 0; v < V; v++) {
        y[v] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)v * x_stride);
        acc[v] = acc_m[v] = _mm_setzero_ps();
    }
    /* [block * V + vector][row][lane] */
    _Alignas(64) int32_t st[GM_R4_MAX_BLOCKS * 4][4][4];
    _Alignas(64) int32_t mst[GM_R4_MAX_BLOCKS * 4][4][4];
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i0 = 0; i0 < nb; i0 += GM_R4_MAX_BLOCKS) {
        const int g = nb - i0 < GM_R4_MAX_BLOCKS ? (int)(nb - i0) : GM_R4_MAX_BLOCKS;
        for (int r = 0; r < 4; r++) {
            const gm_block_q4_K *x =
                (const gm_block_q4_K *)((const uint8_t *)w + (size_t)r * w_stride) + i0;
            for (int b = 0; b < g; b++) {
                GM_PREFETCH(&x[b], 3);
                uint8_t sc[8], mn[8];
                gm_k4_unpack5(x[b].scales, sc, mn);
                const __m512i sc512 = _mm512_castsi128_si512(
                    _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
                const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
                __m512i q[4], s[4];
                GM_UNROLL
                for (int j = 0; j < 4; j++) {
                    const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
                    q[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bits, m4)),
                                              _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), 1);
                    s[j] = _mm512_permutexvar_epi16(idx[j], sc512);
                }
                GM_UNROLL
                for (int v = 0; v < V; v++) {
                    const gm_block_q8_K *yb = &y[v][i0 + (uint64_t)b];
                    const __m128i pairs =
                        _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)yb->bsums),
                                       _mm_loadu_si128((const __m128i *)(yb->bsums + 8)));
                    _mm_store_si128((__m128i *)mst[b * V + v][r], _mm_madd_epi16(pairs, m16));
                    __m512i sumi = _mm512_setzero_si512();
                    GM_UNROLL
                    for (int j = 0; j < 4; j++)
                        sumi = GM_DPWSSD(sumi,
                                         _mm512_maddubs_epi16(
                                             q[j], _mm512_loadu_si512((const void *)(yb->qs + 64 * j))),
                                         s[j]);
                    const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi),
                                                        _mm512_extracti64x4_epi64(sumi, 1));
                    _mm_store_si128((__m128i *)st[b * V + v][r],
                                    _mm_add_epi32(_mm256_castsi256_si128(s8),
                                                  _mm256_extracti128_si256(s8, 1)));
                }
                if (r < 3)
                    continue;
                /* the last row: this block's sums of all 4 rows are in, so
                 * its f32 steps run now, between this row's loads */
                const uint64_t i = i0 + (uint64_t)b;
                const gm_block_q4_K *x0 = (const gm_block_q4_K *)w + i;
                uint32_t dm[4]; /* d | dmin << 16 of block i of each row */
                GM_UNROLL
                for (int k = 0; k < 4; k++)
                    memcpy(&dm[k], (const uint8_t *)x0 + (size_t)k * w_stride, sizeof dm[k]);
                const __m128i dh = _mm_shuffle_epi8(
                    _mm_setr_epi32((int)dm[0], (int)dm[1], (int)dm[2], (int)dm[3]),
                    _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
                const __m256 dboth = _mm256_cvtph_ps(dh);
                const __m128 d = _mm256_castps256_ps128(dboth);
                const __m128 dmin = _mm256_extractf128_ps(dboth, 1);
                GM_UNROLL
                for (int v = 0; v < V; v++) {
                    const __m128 yd = _mm_set1_ps(y[v][i].d);
                    acc[v] = _mm_fmadd_ps(_mm_mul_ps(d, yd),
                                          _mm_cvtepi32_ps(gm_sum4x4_epi32(st[b * V + v])), acc[v]);
                    acc_m[v] = _mm_fmadd_ps(_mm_mul_ps(dmin, yd),
                                            _mm_cvtepi32_ps(gm_sum4x4_epi32(mst[b * V + v])),
                                            acc_m[v]);
                }
            }
        }
    }
    GM_UNROLL
    for (int v = 0; v < V; v++) {
        _Alignas(16) float res[4];
        _mm_store_ps(res, _mm_sub_ps(acc[v], acc_m[v]));
        for (int r = 0; r < 4; r++)
            out[(size_t)v * out_stride + (size_t)r] = res[r];
    }
}

GM_T static void GM_N(gm_q4_K_rows4)(uint64_t n, const void *w, size_t w_stride, const void *xq,
                                      size_t x_stride, uint32_t n_vec, float *out,
                                      size_t out_stride)
{
    for (uint32_t v = 0; v < n_vec; v += 4) {
        const uint8_t *xv = (const uint8_t *)xq + (size_t)v * x_stride;
        float *ov = out + (size_t)v * out_stride;
        switch (n_vec - v < 4 ? n_vec - v : 4) {
        case 1:
            GM_N(gm_q4_K_rows4_core)(n, w, w_stride, xv, x_stride, ov, out_stride, 1);
            break;
        case 2:
            GM_N(gm_q4_K_rows4_core)(n, w, w_stride, xv, x_stride, ov, out_stride, 2);
            break;
        case 3:
            GM_N(gm_q4_K_rows4_core)(n, w, w_stride, xv, x_stride, ov, out_stride, 3);
            break;
        default:
            GM_N(gm_q4_K_rows4_core)(n, w, w_stride, xv, x_stride, ov, out_stride, 4);
            break;
        }
    }
}

/* ---- Q6_K x Q8_K ------------------------------------------------------------ */

/* The exact sums of the 16 int32 lanes of s[v] for v < V (V <= 4), in
 * lane v (0 in the others). */
GM_T __attribute__((always_inline)) static inline __m128i GM_N(gm_q6_K_sum4)(const __m512i *s,
                                                                            const int V)
{
    __m256i a[4];
    GM_UNROLL
    for (int v = 0; v < 4; v++)
        a[v] = v < V ? _mm256_add_epi32(_mm512_castsi512_si256(s[v]),
                                        _mm512_extracti64x4_epi64(s[v], 1))
                     : _mm256_setzero_si256();
    const __m256i t =
        _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q6_K_tile)(uint64_t n, const void *w, size_t w_stride, const void *xq, size_t x_stride,
                   float *out, size_t out_stride, const int R, const int V)
{
    const gm_block_q6_K *x[GM_TILE_R];
    const gm_block_q8_K *y[GM_TILE_V];
    /* per block: the exact int32 block sum, then one f32 step
     * acc = fma(d_w * d_x, float(sum), acc) -- the steps of the packed
     * Q6_K kernel (q6k_packed.c), so both give the same bits; lane v of
     * acc[r] is vector v */
    __m128 acc[GM_TILE_R];
    GM_UNROLL
    for (int r = 0; r < R; r++) {
        x[r] = (const gm_block_q6_K *)((const uint8_t *)w + (size_t)r * w_stride);
        acc[r] = _mm_setzero_ps();
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
        const __m128 yd = _mm_setr_ps(y[0][i].d, V > 1 ? y[1 % V][i].d : 0.0f,
                                      V > 2 ? y[2 % V][i].d : 0.0f, V > 3 ? y[3 % V][i].d : 0.0f);
        GM_UNROLL
        for (int r = 0; r < R; r++) {
            const __m128 dd = _mm_mul_ps(_mm_set1_ps(gm_h2f5(x[r][i].d)), yd);
            acc[r] = _mm_fmadd_ps(dd, _mm_cvtepi32_ps(GM_N(gm_q6_K_sum4)(sumi[r], V)), acc[r]);
        }
    }
    GM_UNROLL
    for (int r = 0; r < R; r++) {
        _Alignas(16) float res[4];
        _mm_store_ps(res, acc[r]);
        GM_UNROLL
        for (int v = 0; v < V; v++)
            out[(size_t)v * out_stride + r] = res[v];
    }
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
    GM_PANEL_ROWS,
#if GM_VNNI
    gm_panel_q8_0_avx512vnni,
#else
    gm_panel_q8_0_avx512,
#endif
    0,
    NULL,
};

GM_ENTRY_POINTS(q4_K)
static const gm_tiles GM_N(gm_tiles_q4_K) = {1,
                                             4,
                                             GM_ONE_ROW_TILES(q4_K),
                                             GM_ONE_ROW_TILES(q4_K),
#if GM_VNNI
                                             GM_PANEL_ROWS,
                                             gm_panel_q4_K_avx512vnni,
#else
                                             4,
                                             GM_N(gm_q4_K_rows4),
#endif
                                             4,
                                             GM_N(gm_q4_K_rows4)};

GM_ENTRY_POINTS(q6_K)
static const gm_tiles GM_N(gm_tiles_q6_K) = {1, 4, GM_ONE_ROW_TILES(q6_K), GM_ONE_ROW_TILES(q6_K),
                                             0, NULL, 0, NULL};

#undef GM_TILE_FN
#undef GM_ONE_ROW_TILES
#undef GM_ENTRY_POINTS
#undef GM_DPBUSD
#undef GM_DPWSSD
