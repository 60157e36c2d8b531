/*
 * engine/cuda/cuda_dequant.cuh -- dequantization of the GGUF weight formats
 * eight elements at a time, the quantization of activations and the
 * integer block dot products, for the CUDA matmul kernels (cuda_matmul.cu).
 * Host and device code alike, so tests/unit/test_cuda_dequant.cu checks
 * every format bit for bit against engine/quant on a machine without a GPU.
 */
#ifndef GM_CUDA_DEQUANT_CUH
#define GM_CUDA_DEQUANT_CUH

#include <cuda_fp16.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include "engine/cuda/cuda.h"

#define GM_HD __host__ __device__

GM_HD static inline float gm_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* a * b and a - b rounded once each (never fused into an FMA), as the
 * CPU code computes them. */
GM_HD static inline float gm_mul_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

GM_HD static inline float gm_sub_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

GM_HD static inline float half_at(const uint8_t *p)
{
    const uint16_t bits = (uint16_t)(p[0] | (p[1] << 8));
    return __half2float(__ushort_as_half(bits));
}

/* 8 elements of group g (elements 8g .. 8g+7) of a row in format T. */
template <int T> GM_HD static inline void dq8(const uint8_t *row, uint32_t g, float *v);

template <> GM_HD inline void dq8<GM_TYPE_F32>(const uint8_t *row, uint32_t g, float *v)
{
    const float4 *p = (const float4 *)(row + (size_t)g * 32);
    const float4 a = p[0], b = p[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

template <> GM_HD inline void dq8<GM_TYPE_F16>(const uint8_t *row, uint32_t g, float *v)
{
    const uint4 u = *(const uint4 *)(row + (size_t)g * 16);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[2 * i] = __half2float(__ushort_as_half((uint16_t)(w[i] & 0xffff)));
        v[2 * i + 1] = __half2float(__ushort_as_half((uint16_t)(w[i] >> 16)));
    }
}

template <> GM_HD inline void dq8<GM_TYPE_BF16>(const uint8_t *row, uint32_t g, float *v)
{
    const uint4 u = *(const uint4 *)(row + (size_t)g * 16);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[2 * i] = gm_bits_f32(w[i] << 16);
        v[2 * i + 1] = gm_bits_f32(w[i] & 0xffff0000u);
    }
}

/* Q8_0: 34-byte blocks of 32: f16 d, int8 qs[32]; value = d * q. */
template <> GM_HD inline void dq8<GM_TYPE_Q8_0>(const uint8_t *row, uint32_t g, float *v)
{
    const uint8_t *b = row + (size_t)(g / 4) * 34;
    const float d = half_at(b);
    const int8_t *qs = (const int8_t *)(b + 2) + (g % 4) * 8;
#pragma unroll
    for (int i = 0; i < 8; i++)
        v[i] = d * (float)qs[i];
}

/* Q4_0: 18-byte blocks: f16 d, qs[16]; element j < 16 low nibble of qs[j],
 * j + 16 the high nibble; value = d * (q - 8). */
template <> GM_HD inline void dq8<GM_TYPE_Q4_0>(const uint8_t *row, uint32_t g, float *v)
{
    const uint8_t *b = row + (size_t)(g / 4) * 18;
    const float d = half_at(b);
    const uint32_t p = g % 4;
    const uint8_t *qs = b + 2 + (p % 2) * 8;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int q = p < 2 ? (qs[i] & 0xF) : (qs[i] >> 4);
        v[i] = d * (float)(q - 8);
    }
}

/* Q5_0: 22-byte blocks: f16 d, qh[4] (bit j: fifth bit of element j),
 * qs[16] as Q4_0; value = d * (q - 16). */
template <> GM_HD inline void dq8<GM_TYPE_Q5_0>(const uint8_t *row, uint32_t g, float *v)
{
    const uint8_t *b = row + (size_t)(g / 4) * 22;
    const float d = half_at(b);
    const uint32_t qh = (uint32_t)b[2] | ((uint32_t)b[3] << 8) | ((uint32_t)b[4] << 16)
                        | ((uint32_t)b[5] << 24);
    const uint32_t p = g % 4;
    const uint8_t *qs = b + 6 + (p % 2) * 8;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t j = p * 8 + i; /* element in the block */
        const int lo = p < 2 ? (qs[i] & 0xF) : (qs[i] >> 4);
        const int q = lo | (int)(((qh >> j) & 1u) << 4);
        v[i] = d * (float)(q - 16);
    }
}

GM_HD static inline void scale_min_k4(int j, const uint8_t *q, int *d, int *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* Q4_K: 144-byte super-blocks of 256: f16 d, f16 dmin, scales[12],
 * qs[128]; sub-block j (32 elements) uses the low (j even) or high (j odd)
 * nibbles of qs[32*(j/2) ..]; value = d*sc * q - dmin*m. */
template <> GM_HD inline void dq8<GM_TYPE_Q4_K>(const uint8_t *row, uint32_t g, float *v)
{
    const uint8_t *b = row + (size_t)(g / 32) * 144;
    const uint32_t e0 = (g % 32) * 8;
    const int j = (int)(e0 / 32);
    int sc, m;
    scale_min_k4(j, b + 4, &sc, &m);
    const float d1 = half_at(b) * (float)sc;
    const float m1 = half_at(b + 2) * (float)m;
    const uint8_t *qs = b + 16 + 32 * (j / 2) + e0 % 32;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int q = (j & 1) ? (qs[i] >> 4) : (qs[i] & 0xF);
        v[i] = gm_sub_rn(gm_mul_rn(d1, (float)q), m1);
    }
}

/* Q6_K: 210-byte super-blocks: ql[128], qh[64], int8 scales[16], f16 d;
 * two halves of 128, each four quarters of 32 (engine/quant/quant_k.c). */
template <> GM_HD inline void dq8<GM_TYPE_Q6_K>(const uint8_t *row, uint32_t g, float *v)
{
    const uint8_t *b = row + (size_t)(g / 32) * 210;
    const uint32_t e0 = (g % 32) * 8;
    const uint32_t h = e0 / 128, quarter = (e0 % 128) / 32, l0 = e0 % 32;
    const uint8_t *ql = b + 64 * h + (quarter & 1) * 32 + l0;
    const uint8_t *qh = b + 128 + 32 * h + l0;
    const int8_t *sc = (const int8_t *)(b + 192) + 8 * h;
    const float d = half_at(b + 208);
    const float ds = d * (float)sc[l0 / 16 + 2 * quarter];
    const int shift = 2 * (int)quarter;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int lo = quarter < 2 ? (ql[i] & 0xF) : (ql[i] >> 4);
        const int q = (lo | (((qh[i] >> shift) & 3) << 4)) - 32;
        v[i] = ds * (float)q;
    }
}

GM_HD static inline int gm_round_even(float v)
{
#ifdef __CUDA_ARCH__
    return __float2int_rn(v);
#else
    return (int)rintf(v);
#endif
}

GM_HD static inline float gm_div_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

/* ---- integer block dot products, as engine/cpu/dot_scalar.c ----
 *
 * Activations for quantized weights are quantized exactly as the CPU
 * quantizes them (engine/cpu/kernels.c gm_act_convert), into the same
 * byte layouts (Q8_0: f16 d + int8 qs[32], 34 bytes; Q8_K: f32 d + int8
 * qs[256] + int16 bsums[16], 292 bytes), and each block's dot product is
 * computed as the CPU's scalar reference does: an exact integer sum, then
 * scaled in f32. Only the order in which block results are added differs
 * from the CPU. */
#define GM_Q8_0_BYTES 34
#define GM_Q8_K_BYTES 292

GM_HD static inline uint16_t gm_u16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

GM_HD static inline float gm_f32_at(const uint8_t *p)
{
    return gm_bits_f32((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
                       | ((uint32_t)p[3] << 24));
}

/* One Q8_0 activation block from 32 floats. */
GM_HD static inline void gm_act_quant_q8_0(const float *x, uint8_t *blk)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    const uint16_t dh = __half_as_ushort(__float2half_rn(gm_div_rn(amax, 127.0f)));
    blk[0] = (uint8_t)(dh & 0xff);
    blk[1] = (uint8_t)(dh >> 8);
    const float id = amax != 0.0f ? gm_div_rn(127.0f, amax) : 0.0f;
    for (int j = 0; j < 32; j++) {
        const float v = gm_mul_rn(x[j], id);
        int q = !(fabsf(v) <= 4194303.0f) ? -128 : gm_round_even(v);
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        blk[2 + j] = (uint8_t)(int8_t)q;
    }
}

/* One Q8_K activation block from 256 floats (engine/quant gm_quantize_q8_K). */
GM_HD static inline void gm_act_quant_q8_K(const float *x, uint8_t *blk)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        for (int j = 0; j < GM_Q8_K_BYTES; j++)
            blk[j] = 0;
        return;
    }
    const float iscale = gm_div_rn(-127.0f, max);
    int8_t *qs = (int8_t *)(blk + 4);
    for (int j = 0; j < 256; j++) {
        int v = gm_round_even(gm_mul_rn(iscale, x[j]));
        v = v > 127 ? 127 : v;
        qs[j] = (int8_t)(uint8_t)(v & 0xff);
    }
    for (int j = 0; j < 16; j++) {
        int sum = 0;
        for (int i = 0; i < 16; i++)
            sum += qs[16 * j + i];
        const uint16_t u = (uint16_t)(int16_t)sum;
        blk[260 + 2 * j] = (uint8_t)(u & 0xff);
        blk[261 + 2 * j] = (uint8_t)(u >> 8);
    }
    const float d = gm_div_rn(1.0f, iscale);
    uint32_t u;
    memcpy(&u, &d, sizeof(u));
    blk[0] = (uint8_t)u, blk[1] = (uint8_t)(u >> 8), blk[2] = (uint8_t)(u >> 16),
    blk[3] = (uint8_t)(u >> 24);
}

GM_HD static inline float gm_h2f(uint16_t h)
{
    return __half2float(__ushort_as_half(h));
}

/* ---- dp4a: four int8 products added to an int32 ----
 *
 * __dp4a(a, b, c) on the GPU (one instruction from compute 6.1 on); on
 * the host the same sum computed byte by byte, so the block dots below
 * are run and checked on a machine without a GPU. Every sum here is an
 * exact integer (no overflow: at most 256 products of |q| <= 128), so
 * the order in which dp4a adds them cannot change a result. */
GM_HD static inline int gm_dp4a(int a, int b, int c)
{
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    const uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    for (int i = 0; i < 4; i++)
        c += (int)(int8_t)(uint8_t)(ua >> (8 * i)) * (int)(int8_t)(uint8_t)(ub >> (8 * i));
    return c;
#endif
}

/* Four bytes at p as a little-endian int; p need only be 2-byte aligned
 * (the 18-, 34- and 210-byte blocks are not 4-byte aligned). */
GM_HD static inline int gm_load_i32(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
    const uint16_t *h = (const uint16_t *)p;
    return (int)((uint32_t)h[0] | ((uint32_t)h[1] << 16));
#else
    return (int)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
                 | ((uint32_t)p[3] << 24));
#endif
}

/* Dot of one weight block with one activation block (w: the weight
 * format's block, x: Q8_0 or Q8_K), in GM_PARTS<T> parts that lanes of a
 * warp compute side by side (cuda_matmul.cu mmvq):
 *  - gm_block_part<T>(w, x, p) is part p's share of the block's integer
 *    sums (dp4a over four elements at a time): .x the quants' sum (an
 *    offset, Q4_0's 8, Q5_0's 16, Q6_K's 32, taken out as offset * sum(x),
 *    the same integer), .y the K-quants' minimum term (Q4_K);
 *  - gm_block_finish<T>(w, x, sums) scales the whole block's sums in f32
 *    exactly as engine/cpu's scalar dot does.
 * Integer sums are exact, so however the parts are added the result is
 * the CPU's, bit for bit; gm_block_dot<T> is the parts added in order. */
template <int T> struct gm_parts;
template <> struct gm_parts<GM_TYPE_Q8_0> { enum { N = 4 }; };
template <> struct gm_parts<GM_TYPE_Q4_0> { enum { N = 4 }; };
template <> struct gm_parts<GM_TYPE_Q5_0> { enum { N = 4 }; };
template <> struct gm_parts<GM_TYPE_Q4_K> { enum { N = 8 }; };
template <> struct gm_parts<GM_TYPE_Q6_K> { enum { N = 8 }; };

template <int T> GM_HD static inline int2 gm_block_part(const uint8_t *w, const uint8_t *x, int p);
template <int T> GM_HD static inline float gm_block_finish(const uint8_t *w, const uint8_t *x, int2 s);

/* Q8_0: words 2p and 2p+1 of the 32 int8 quants */
template <> GM_HD inline int2 gm_block_part<GM_TYPE_Q8_0>(const uint8_t *w, const uint8_t *x, int p)
{
    int sumi = 0;
    for (int i = 2 * p; i < 2 * p + 2; i++)
        sumi = gm_dp4a(gm_load_i32(w + 2 + 4 * i), gm_load_i32(x + 2 + 4 * i), sumi);
    return make_int2(sumi, 0);
}

/* Q4_0: element j < 16 is the low nibble of qs[j], j + 16 its high
 * nibble; part p: qs[4p .. 4p+3], both nibbles */
template <> GM_HD inline int2 gm_block_part<GM_TYPE_Q4_0>(const uint8_t *w, const uint8_t *x, int p)
{
    const int q = gm_load_i32(w + 2 + 4 * p);
    const int xl = gm_load_i32(x + 2 + 4 * p), xh = gm_load_i32(x + 18 + 4 * p);
    int sumi = gm_dp4a(q & 0x0F0F0F0F, xl, 0);
    sumi = gm_dp4a((q >> 4) & 0x0F0F0F0F, xh, sumi);
    sumi -= 8 * gm_dp4a(0x01010101, xh, gm_dp4a(0x01010101, xl, 0));
    return make_int2(sumi, 0);
}

/* Bits b..b+3 of qh as bit 4 of four bytes. */
GM_HD static inline int gm_qh_bytes(uint32_t qh, int b)
{
    const uint32_t v = qh >> b;
    return (int)(((v & 1u) << 4) | ((v & 2u) << 11) | ((v & 4u) << 18) | ((v & 8u) << 25));
}

/* Q5_0: as Q4_0, each element's fifth bit in qh (bit j, element j) */
template <> GM_HD inline int2 gm_block_part<GM_TYPE_Q5_0>(const uint8_t *w, const uint8_t *x, int p)
{
    const uint32_t qh = (uint32_t)w[2] | ((uint32_t)w[3] << 8) | ((uint32_t)w[4] << 16)
                        | ((uint32_t)w[5] << 24);
    const int q = gm_load_i32(w + 6 + 4 * p);
    const int xl = gm_load_i32(x + 2 + 4 * p), xh = gm_load_i32(x + 18 + 4 * p);
    int sumi = gm_dp4a((q & 0x0F0F0F0F) | gm_qh_bytes(qh, 4 * p), xl, 0);
    sumi = gm_dp4a(((q >> 4) & 0x0F0F0F0F) | gm_qh_bytes(qh, 16 + 4 * p), xh, sumi);
    sumi -= 16 * gm_dp4a(0x01010101, xh, gm_dp4a(0x01010101, xl, 0));
    return make_int2(sumi, 0);
}

/* Q8_0, Q4_0, Q5_0: sumi * (d_w * d_x) */
GM_HD static inline float gm_finish_q0(const uint8_t *w, const uint8_t *x, int sumi)
{
    return gm_mul_rn((float)sumi, gm_mul_rn(gm_h2f(gm_u16_at(w)), gm_h2f(gm_u16_at(x))));
}
template <> GM_HD inline float gm_block_finish<GM_TYPE_Q8_0>(const uint8_t *w, const uint8_t *x, int2 s)
{
    return gm_finish_q0(w, x, s.x);
}
template <> GM_HD inline float gm_block_finish<GM_TYPE_Q4_0>(const uint8_t *w, const uint8_t *x, int2 s)
{
    return gm_finish_q0(w, x, s.x);
}
template <> GM_HD inline float gm_block_finish<GM_TYPE_Q5_0>(const uint8_t *w, const uint8_t *x, int2 s)
{
    return gm_finish_q0(w, x, s.x);
}

/* Q4_K: part j is sub-block j (32 elements, the low (j even) or high
 * nibbles of qs[32*(j/2) ..]): sc_j * its sum, and m_j * the activation
 * block's sums over it (bsums) */
template <> GM_HD inline int2 gm_block_part<GM_TYPE_Q4_K>(const uint8_t *w, const uint8_t *x, int j)
{
    int sc, mn;
    scale_min_k4(j, w + 4, &sc, &mn);
    const uint8_t *q = w + 16 + 32 * (j / 2), *b = x + 4 + 32 * j;
    const int shift = 4 * (j & 1);
    int part = 0;
    for (int i = 0; i < 8; i++)
        part = gm_dp4a((gm_load_i32(q + 4 * i) >> shift) & 0x0F0F0F0F, gm_load_i32(b + 4 * i), part);
    const int16_t bs0 = (int16_t)gm_u16_at(x + 260 + 4 * j);
    const int16_t bs1 = (int16_t)gm_u16_at(x + 262 + 4 * j);
    return make_int2(sc * part, mn * (bs0 + bs1));
}

template <> GM_HD inline float gm_block_finish<GM_TYPE_Q4_K>(const uint8_t *w, const uint8_t *x, int2 s)
{
    const float yd = gm_f32_at(x);
    const float d = gm_mul_rn(gm_h2f(gm_u16_at(w)), yd);
    const float dmin = gm_mul_rn(gm_h2f(gm_u16_at(w + 2)), yd);
    return gm_sub_rn(gm_mul_rn(d, (float)s.x), gm_mul_rn(dmin, (float)s.y));
}

/* Q6_K: part p is groups 2p and 2p+1 of 16 elements, each with its
 * int8 scale (half h, quarter, l0 as in dq8<Q6_K>) */
template <> GM_HD inline int2 gm_block_part<GM_TYPE_Q6_K>(const uint8_t *w, const uint8_t *x, int p)
{
    const int8_t *sc = (const int8_t *)(w + 192);
    const uint8_t *b = x + 4;
    int sumi = 0;
    for (int j = 2 * p; j < 2 * p + 2; j++) {
        const int e0 = 16 * j, h = e0 / 128, quarter = (e0 % 128) / 32, l0 = e0 % 32;
        const uint8_t *ql = w + 64 * h + (quarter & 1) * 32 + l0;
        const uint8_t *qh = w + 128 + 32 * h + l0;
        const int lo_shift = quarter < 2 ? 0 : 4, hi_shift = 2 * quarter;
        int part = 0, xsum = 0;
        for (int i = 0; i < 4; i++) {
            const int lo = (gm_load_i32(ql + 4 * i) >> lo_shift) & 0x0F0F0F0F;
            const int hi = ((gm_load_i32(qh + 4 * i) >> hi_shift) & 0x03030303) << 4;
            const int xv = gm_load_i32(b + e0 + 4 * i);
            part = gm_dp4a(lo | hi, xv, part);
            xsum = gm_dp4a(0x01010101, xv, xsum);
        }
        sumi += (int32_t)sc[j] * (part - 32 * xsum);
    }
    return make_int2(sumi, 0);
}

template <> GM_HD inline float gm_block_finish<GM_TYPE_Q6_K>(const uint8_t *w, const uint8_t *x, int2 s)
{
    return gm_mul_rn(gm_mul_rn(gm_h2f(gm_u16_at(w + 208)), gm_f32_at(x)), (float)s.x);
}

/* The whole block: its parts added in order, then scaled. */
template <int T> GM_HD static inline float gm_block_dot(const uint8_t *w, const uint8_t *x)
{
    int2 s = make_int2(0, 0);
    for (int p = 0; p < gm_parts<T>::N; p++) {
        const int2 v = gm_block_part<T>(w, x, p);
        s.x += v.x;
        s.y += v.y;
    }
    return gm_block_finish<T>(w, x, s);
}

#endif
