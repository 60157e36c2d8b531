/*
 * tests/unit/test_cuda_dequant.cu -- the CUDA kernels' dequantizers
 * (engine/cuda/cuda_dequant.cuh), compiled for the host by nvcc, against
 * engine/quant's reference dequantization: every format the GPU reads,
 * every group of 8 elements of random rows, bit for bit; the quantized
 * activation blocks (Q8_0, Q8_K) byte for
 * byte and the integer block dot products (dp4a, with its host fallback;
 * each block as the sum of the parts that mmvq's lanes compute side by
 * side) bit for bit against engine/cpu's scalar reference, on quantized
 * rows and on blocks of random bytes. Needs nvcc, not a GPU. TAP output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/cuda_dequant.cuh"

extern "C" {
#include "engine/cpu/dot.h"
#include "engine/cpu/kernels.h"
#include "engine/quant/quant.h"
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static float rand_normal(void)
{
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (float)((rng >> 40) & 0xffffff) / (float)0x1000000 - 0.5f;
    }
    return s;
}

template <int T> static int check(const char *name, int *n)
{
    enum { COLS = 1024, ROWS = 3 };
    static float x[COLS], ref[COLS];
    static unsigned char q[COLS * 4];
    int bad = 0;
    for (int r = 0; r < ROWS && !bad; r++) {
        for (int i = 0; i < COLS; i++)
            x[i] = rand_normal() * (r == 2 ? 1e-3f : 1.0f);
        if (gm_quantize_row((gm_type)T, x, q, COLS) < 0
            || gm_dequantize_row((gm_type)T, q, ref, COLS) < 0) {
            printf("not ok %d - %s: engine/quant cannot encode it\n", ++*n, name);
            return 1;
        }
        for (uint32_t g = 0; g < COLS / 8 && !bad; g++) {
            float v[8];
            dq8<T>(q, g, v);
            for (int i = 0; i < 8; i++)
                if (memcmp(&v[i], &ref[g * 8 + i], sizeof(float)) != 0) {
                    printf("# %s row %d element %u: %.9g, engine/quant %.9g\n", name, r, g * 8 + i,
                           v[i], ref[g * 8 + i]);
                    bad = 1;
                    break;
                }
        }
    }
    printf("%s %d - %s: %d rows of %d bit for bit\n", bad ? "not ok" : "ok", ++*n, name, ROWS, COLS);
    return bad;
}

/* Activation blocks (gm_act_quant_*) byte for byte as gm_act_convert, and
 * every block's gm_block_dot<T> bit for bit as the CPU's scalar dot. */
template <int T> static int check_block_dot(const char *name, int *n)
{
    enum { COLS = 1024 };
    static float x[COLS], w[COLS];
    static unsigned char wq[COLS * 4], xq[COLS * 4], mine[COLS * 4];
    const gm_type act = gm_vec_dot_type((gm_type)T);
    const bool k = act == GM_TYPE_Q8_K;
    const int qk = k ? 256 : 32, xb = k ? GM_Q8_K_BYTES : GM_Q8_0_BYTES;
    uint64_t wrow = 0;
    gm_type_row_bytes((gm_type)T, qk, &wrow);
    gm_dot_fn dot = gm_dot_scalar((gm_type)T);
    int bad = 0;
    for (int r = 0; r < 3 && !bad; r++) {
        for (int i = 0; i < COLS; i++) {
            x[i] = r == 2 && i < qk ? 0.0f : rand_normal() * (r == 1 ? 1e-4f : 2.0f);
            w[i] = rand_normal();
        }
        if (dot == NULL || gm_quantize_row((gm_type)T, w, wq, COLS) < 0
            || gm_act_convert((gm_type)T, x, xq, COLS) < 0) {
            printf("not ok %d - %s block dots: engine/cpu cannot encode\n", ++*n, name);
            return 1;
        }
        for (int b = 0; b < COLS / qk; b++) {
            if (k)
                gm_act_quant_q8_K(x + b * qk, mine + b * xb);
            else
                gm_act_quant_q8_0(x + b * qk, mine + b * xb);
        }
        if (memcmp(mine, xq, (size_t)(COLS / qk) * xb) != 0) {
            printf("# %s: activation blocks differ from gm_act_convert (case %d)\n", name, r);
            bad = 1;
            break;
        }
        for (int b = 0; b < COLS / qk && !bad; b++) {
            /* added to 0 as both sides accumulate (a -0 block becomes +0) */
            const float got = 0.0f + gm_block_dot<T>(wq + b * wrow, xq + b * xb);
            const float ref = dot(qk, wq + b * wrow, xq + b * xb);
            if (memcmp(&got, &ref, sizeof(float)) != 0) {
                printf("# %s block %d (case %d): %.9g, engine/cpu %.9g\n", name, b, r, got, ref);
                bad = 1;
            }
        }
    }
    printf("%s %d - %s activation blocks and block dots as engine/cpu\n", bad ? "not ok" : "ok", ++*n,
           name);
    return bad;
}

/* gm_dp4a's host fallback: four signed byte products plus c, against a
 * plain sum, over random words and the extremes (-128 * -128). */
static int check_dp4a(int *n)
{
    static const uint32_t edge[] = {0x80808080u, 0x7f7f7f7fu, 0xffffffffu, 0x00000000u,
                                    0x807f01ffu, 0x01010101u};
    int bad = 0;
    for (int t = 0; t < 20000 && !bad; t++) {
        uint32_t a, b;
        if (t < 36) {
            a = edge[t % 6], b = edge[t / 6];
        } else {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            a = (uint32_t)rng, b = (uint32_t)(rng >> 32);
        }
        const int c = (int)(t * 7919) - 50000;
        int want = c;
        for (int i = 0; i < 4; i++)
            want += (signed char)((a >> (8 * i)) & 0xff) * (signed char)((b >> (8 * i)) & 0xff);
        const int got = gm_dp4a((int)a, (int)b, c);
        if (got != want) {
            printf("# dp4a(%08x, %08x, %d) = %d, wanted %d\n", a, b, c, got, want);
            bad = 1;
        }
    }
    printf("%s %d - dp4a host fallback: signed byte products, extremes included\n",
           bad ? "not ok" : "ok", ++*n);
    return bad;
}

/* Weight blocks of random bytes (every quant value, not only those
 * engine/quant writes; valid f16 scales) against the CPU's scalar dot,
 * bit for bit. */
template <int T> static int check_block_dot_bytes(const char *name, int *n)
{
    enum { COLS = 1024 };
    static float x[COLS];
    static unsigned char wq[COLS * 4], xq[COLS * 4];
    const gm_type act = gm_vec_dot_type((gm_type)T);
    const bool k = act == GM_TYPE_Q8_K;
    const int qk = k ? 256 : 32, xb = k ? GM_Q8_K_BYTES : GM_Q8_0_BYTES;
    uint64_t wrow = 0;
    gm_type_row_bytes((gm_type)T, qk, &wrow);
    gm_dot_fn dot = gm_dot_scalar((gm_type)T);
    int bad = 0;
    for (int r = 0; r < 4 && !bad; r++) {
        for (int i = 0; i < COLS; i++)
            x[i] = rand_normal() * 3.0f;
        for (int i = 0; i < COLS / qk * (int)wrow; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            wq[i] = (unsigned char)(rng >> 24);
        }
        /* the f16 scales: 0x3c00 (1.0) and 0x3400 (0.25) */
        for (int b = 0; b < COLS / qk; b++) {
            unsigned char *blk = wq + b * wrow;
            const int at = T == GM_TYPE_Q6_K ? 208 : 0;
            blk[at] = 0x00, blk[at + 1] = 0x3c;
            if (T == GM_TYPE_Q4_K)
                blk[2] = 0x00, blk[3] = 0x34;
        }
        if (dot == NULL || gm_act_convert((gm_type)T, x, xq, COLS) < 0) {
            printf("not ok %d - %s random blocks: engine/cpu cannot encode\n", ++*n, name);
            return 1;
        }
        for (int b = 0; b < COLS / qk && !bad; b++) {
            const float got = 0.0f + gm_block_dot<T>(wq + b * wrow, xq + b * xb);
            const float ref = dot(qk, wq + b * wrow, xq + b * xb);
            if (memcmp(&got, &ref, sizeof(float)) != 0) {
                printf("# %s random block %d (case %d): %.9g, engine/cpu %.9g\n", name, b, r, got,
                       ref);
                bad = 1;
            }
        }
    }
    printf("%s %d - %s dp4a block dots of random bytes as engine/cpu\n", bad ? "not ok" : "ok",
           ++*n, name);
    return bad;
}

int main(void)
{
    int n = 0, bad = 0;
    printf("1..19\n");
    bad += check<GM_TYPE_F32>("f32", &n);
    bad += check<GM_TYPE_F16>("f16", &n);
    bad += check<GM_TYPE_BF16>("bf16", &n);
    bad += check<GM_TYPE_Q4_0>("q4_0", &n);
    bad += check<GM_TYPE_Q5_0>("q5_0", &n);
    bad += check<GM_TYPE_Q8_0>("q8_0", &n);
    bad += check<GM_TYPE_Q4_K>("q4_K", &n);
    bad += check<GM_TYPE_Q6_K>("q6_K", &n);
    bad += check_block_dot<GM_TYPE_Q8_0>("q8_0", &n);
    bad += check_block_dot<GM_TYPE_Q4_0>("q4_0", &n);
    bad += check_block_dot<GM_TYPE_Q5_0>("q5_0", &n);
    bad += check_block_dot<GM_TYPE_Q4_K>("q4_K", &n);
    bad += check_block_dot<GM_TYPE_Q6_K>("q6_K", &n);
    bad += check_dp4a(&n);
    bad += check_block_dot_bytes<GM_TYPE_Q8_0>("q8_0", &n);
    bad += check_block_dot_bytes<GM_TYPE_Q4_0>("q4_0", &n);
    bad += check_block_dot_bytes<GM_TYPE_Q5_0>("q5_0", &n);
    bad += check_block_dot_bytes<GM_TYPE_Q4_K>("q4_K", &n);
    bad += check_block_dot_bytes<GM_TYPE_Q6_K>("q6_K", &n);
    return bad ? 1 : 0;
}
