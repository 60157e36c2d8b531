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
 * Each format has one core, GM_N(*_core), that takes NV activation vectors
 * at xq + k * stride (k < NV) and decodes each weight block once for all
 * of them. The one-vector and four-vector kernels are that same core with
 * NV = 1 and NV = 4, so a vector's result never depends on how many
 * vectors were in the batch (batch invariance).
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

/* ---- Q8_0 x Q8_0 ------------------------------------------------------------ */

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q8_0_core)(uint64_t n, const void *w, const void *xq, size_t stride, int NV, float *out)
{
    const gm_block_q8_0 *x = w;
    const gm_block_q8_0 *y[4];
    __m512 acc[4];
    __m256 acc_t[4];
    GM_UNROLL
    for (int k = 0; k < NV; k++) {
        y[k] = (const gm_block_q8_0 *)((const uint8_t *)xq + (size_t)k * stride);
        acc[k] = _mm512_setzero_ps();
        acc_t[k] = _mm256_setzero_ps();
    }
    const uint64_t nb = n / GM_QK8_0;
    uint64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qx = GM_N(gm_load_2x32)(x[i].qs, x[i + 1].qs);
        const __m512i ax = _mm512_abs_epi8(qx);
        const __mmask64 neg = _mm512_movepi8_mask(qx);
        const float dx0 = gm_h2f5(x[i].d), dx1 = gm_h2f5(x[i + 1].d);
        GM_UNROLL
        for (int k = 0; k < NV; k++) {
            const __m512i qy = GM_N(gm_load_2x32)(y[k][i].qs, y[k][i + 1].qs);
            /* the sign of x moved onto y, so a is unsigned */
            const __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
            const __m512i s = GM_DPBUSD(_mm512_setzero_si512(), ax, sy);
            const __m512 d = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(dx0 * gm_h2f5(y[k][i].d)),
                                                  _mm512_set1_ps(dx1 * gm_h2f5(y[k][i + 1].d)));
            acc[k] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[k]);
        }
    }
    for (; i < nb; i++) { /* an odd last block */
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const float dx = gm_h2f5(x[i].d);
        GM_UNROLL
        for (int k = 0; k < NV; k++) {
            const __m256i qy = _mm256_loadu_si256((const __m256i *)y[k][i].qs);
            const __m256i p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)),
                _mm256_set1_epi16(1));
            acc_t[k] = _mm256_fmadd_ps(_mm256_set1_ps(dx * gm_h2f5(y[k][i].d)),
                                       _mm256_cvtepi32_ps(p), acc_t[k]);
        }
    }
    GM_UNROLL
    for (int k = 0; k < NV; k++)
        out[k] = _mm512_reduce_add_ps(acc[k]) + gm_hsum256_5(acc_t[k]);
}

/* ---- Q4_K x Q8_K ------------------------------------------------------------ */

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q4_K_core)(uint64_t n, const void *w, const void *xq, size_t stride, int NV, float *out)
{
    const gm_block_q4_K *x = w;
    const gm_block_q8_K *y[4];
    __m512 acc[4];
    __m128 acc_m[4];
    GM_UNROLL
    for (int k = 0; k < NV; k++) {
        y[k] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)k * stride);
        acc[k] = _mm512_setzero_ps();
        acc_m[k] = _mm_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* word lanes 0..15 take scale 2j, lanes 16..31 scale 2j+1 */
    __m512i idx[4];
    GM_UNROLL
    for (int j = 0; j < 4; j++)
        idx[j] = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)(2 * j)),
                                         _mm512_set1_epi16((short)(2 * j + 1)));
    const uint64_t nb = n / GM_QK_K;
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        gm_k4_unpack5(x[i].scales, sc, mn);
        const __m512i sc512 =
            _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        const float xd = gm_h2f5(x[i].d), xdmin = gm_h2f5(x[i].dmin);
        /* elements 64j..64j+63: the low nibbles of qs[32j..32j+31], then
         * their high nibbles; each half has one scale */
        __m512i q[4], s[4];
        GM_UNROLL
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            q[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bits, m4)),
                                      _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), 1);
            s[j] = _mm512_permutexvar_epi16(idx[j], sc512);
        }
        GM_UNROLL
        for (int k = 0; k < NV; k++) {
            const gm_block_q8_K *yb = &y[k][i];
            const __m128i prod_m = gm_k4_mins_dot5(mn, yb->bsums);
            acc_m[k] = _mm_fmadd_ps(_mm_set1_ps(xdmin * yb->d), _mm_cvtepi32_ps(prod_m), acc_m[k]);
            __m512i sumi = _mm512_setzero_si512();
            GM_UNROLL
            for (int j = 0; j < 4; j++) {
                const __m512i qy = _mm512_loadu_si512((const void *)(yb->qs + 64 * j));
                sumi = GM_DPWSSD(sumi, _mm512_maddubs_epi16(q[j], qy), s[j]);
            }
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(xd * yb->d), _mm512_cvtepi32_ps(sumi), acc[k]);
        }
    }
    GM_UNROLL
    for (int k = 0; k < NV; k++) {
        __m128 m = _mm_add_ps(acc_m[k], _mm_movehl_ps(acc_m[k], acc_m[k]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[k] = _mm512_reduce_add_ps(acc[k]) - _mm_cvtss_f32(m);
    }
}

/* ---- Q6_K x Q8_K ------------------------------------------------------------ */

GM_T __attribute__((always_inline)) static inline void
GM_N(gm_q6_K_core)(uint64_t n, const void *w, const void *xq, size_t stride, int NV, float *out)
{
    const gm_block_q6_K *x = w;
    const gm_block_q8_K *y[4];
    __m512 acc[4];
    GM_UNROLL
    for (int k = 0; k < NV; k++) {
        y[k] = (const gm_block_q8_K *)((const uint8_t *)xq + (size_t)k * stride);
        acc[k] = _mm512_setzero_ps();
    }
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
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc512 = _mm512_castsi256_si512(sc16);
        __m512i q[2][2], s[2][2];
        GM_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            /* high bits: [hb, hb >> 2] for elements 0..63, >> 4 more for 64..127 */
            const __m512i hh =
                _mm512_inserti64x4(_mm512_castsi256_si512(hb), _mm256_srli_epi16(hb, 2), 1);
            q[h][0] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                      _mm512_slli_epi16(_mm512_and_si512(hh, m2), 4));
            q[h][1] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hh, 4), m2), 4));
            s[h][0] = _mm512_permutexvar_epi16(idx[h][0], sc512);
            s[h][1] = _mm512_permutexvar_epi16(idx[h][1], sc512);
        }
        const float xd = gm_h2f5(x[i].d);
        GM_UNROLL
        for (int k = 0; k < NV; k++) {
            const gm_block_q8_K *yb = &y[k][i];
            /* the offset 32 of every value: 32 * sum_g scale_g * bsum_g */
            const __m256i bs = _mm256_loadu_si256((const __m256i *)yb->bsums);
            __m512i sumi = _mm512_inserti64x4(
                _mm512_setzero_si512(),
                _mm256_sub_epi32(_mm256_setzero_si256(),
                                 _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5)),
                0);
            GM_UNROLL
            for (int h = 0; h < 2; h++)
                GM_UNROLL
                for (int p = 0; p < 2; p++) {
                    const __m512i qy =
                        _mm512_loadu_si512((const void *)(yb->qs + 128 * h + 64 * p));
                    sumi = GM_DPWSSD(sumi, _mm512_maddubs_epi16(q[h][p], qy), s[h][p]);
                }
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(xd * yb->d), _mm512_cvtepi32_ps(sumi), acc[k]);
        }
    }
    GM_UNROLL
    for (int k = 0; k < NV; k++)
        out[k] = _mm512_reduce_add_ps(acc[k]);
}

/* ---- the one- and four-vector entry points ------------------------------------ */

#define GM_ENTRY_POINTS(fmt)                                                                       \
    GM_T static float GM_N(gm_dot_##fmt)(uint64_t n, const void *w, const void *xq)                \
    {                                                                                              \
        float out[1];                                                                              \
        GM_N(gm_##fmt##_core)(n, w, xq, 0, 1, out);                                                \
        return out[0];                                                                             \
    }                                                                                              \
    GM_T static void GM_N(gm_dot4_##fmt)(uint64_t n, const void *w, const void *xq, size_t stride, \
                                         float out[4])                                             \
    {                                                                                              \
        GM_N(gm_##fmt##_core)(n, w, xq, stride, 4, out);                                           \
    }

GM_ENTRY_POINTS(q8_0)
GM_ENTRY_POINTS(q4_K)
GM_ENTRY_POINTS(q6_K)

#undef GM_ENTRY_POINTS
#undef GM_DPBUSD
#undef GM_DPWSSD
