/*
 * engine/model/ops.c -- RMS norm, RoPE, softmax, GELU and soft-cap, each
 * evaluated in the order llama.cpp's CPU backend uses so that results agree
 * to the last bit or close to it (ops.h, docs/architecture.md E10).
 */
#include "engine/model/ops.h"

#include <math.h>
#include <stddef.h>

#include "engine/cpu/cpu_path.h"
#include "engine/quant/quant.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GM_OPS_X86 1
#endif

float gm_rms_scale(const float *x, uint32_t n, float eps)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    return 1.0f / sqrtf(mean + eps);
}

void gm_rmsnorm(const float *x, const float *w, uint32_t n, float eps, float *y)
{
    const float scale = gm_rms_scale(x, n, eps);
    if (w != NULL)
        for (uint32_t i = 0; i < n; i++)
            y[i] = x[i] * scale * w[i];
    else
        for (uint32_t i = 0; i < n; i++)
            y[i] = x[i] * scale;
}

void gm_rmsnorm_add(const float *t, const float *w, const float *res, uint32_t n, float eps,
                    float *out)
{
    const float scale = gm_rms_scale(t, n, eps);
    for (uint32_t i = 0; i < n; i++)
        out[i] = t[i] * scale * w[i] + res[i];
}

void gm_rmsnorm_rows(const float *x, const float *w, uint32_t n_rows, uint32_t n,
                     float eps, float *y)
{
    for (uint32_t r = 0; r < n_rows; r++)
        gm_rmsnorm(x + (size_t)r * n, w, n, eps, y + (size_t)r * n);
}

void gm_rope_cache(uint32_t pos, uint32_t n_rot, float base, const float *ff, float *cs)
{
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (uint32_t i = 0; i < n_rot / 2; i++) {
        const float f = ff != NULL ? ff[i] : 1.0f;
        const float t = theta / f;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void gm_rope_apply(float *v, uint32_t n_rot, const float *cs)
{
    const uint32_t half = n_rot / 2;
    for (uint32_t i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
    }
}

void gm_softmax(float *x, uint32_t n)
{
    if (n == 0)
        return;
    float max = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (uint32_t i = 0; i < n; i++)
        x[i] *= inv;
}

static const float GELU_COEF_A = 0.044715f;
static const float SQRT_2_OVER_PI = 0.79788456080286535587989211986876f;

static float gelu_f32(float x)
{
    return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x)));
}

void gm_gelu_table_init(uint16_t *table)
{
    for (uint32_t i = 0; i < 65536; i++) {
        const float f = gm_fp16_to_fp32((uint16_t)i);
        table[i] = gm_fp32_to_fp16(gelu_f32(f));
    }
}

float gm_gelu(const uint16_t *table, float x)
{
    if (table == NULL) {
        const double xd = x;
        return (float)(0.5 * xd
                       * (1.0 + tanh(0.79788456080286535587989211986876 * xd
                                     * (1.0 + 0.044715 * xd * xd))));
    }
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    return gm_fp16_to_fp32(table[gm_fp32_to_fp16(x)]);
}

#ifdef GM_OPS_X86
/* gm_geglu through the table, 8 values at a time: fp16 conversions by
 * F16C (as ggml's x86 build converts: round to nearest even, the same bits
 * as gm_fp32_to_fp16 for every number), the table read per value, the
 * +-10 limits by blends, one rounded product. Only a NaN's payload may
 * come out differently from the scalar loop. */
__attribute__((target("avx2,f16c"))) static void geglu_table_f16c(const uint16_t *table,
                                                                  const float *gate,
                                                                  const float *up, uint32_t n,
                                                                  float *out)
{
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        uint16_t h[8], g[8];
        _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        for (int k = 0; k < 8; k++)
            g[k] = table[h[k]];
        __m256 y = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ)); /* x >= 10: x */
        y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y);     /* x <= -10: 0 */
        _mm256_storeu_ps(out + i, _mm256_mul_ps(y, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        out[i] = gm_gelu(table, gate[i]) * up[i];
}
#endif

void gm_geglu(const uint16_t *table, const float *gate, const float *up, uint32_t n,
              float *out)
{
#ifdef GM_OPS_X86
    /* the scalar path (GEMMA_CPU=scalar) keeps the loop below */
    if (table != NULL && gm_cpu_active_path() != GM_CPU_SCALAR) {
        geglu_table_f16c(table, gate, up, n, out);
        return;
    }
#endif
    for (uint32_t i = 0; i < n; i++)
        out[i] = gm_gelu(table, gate[i]) * up[i];
}

