/*
 * tests/ref/ref_quant.c -- parity harness for engine/quant/ (and, built
 * with -DGM_REF_CPU, engine/cpu/'s activation conversion and dot products)
 * against the reference ggml libraries. Compiled and run at test time by
 * tests/integration/quant_ref.sh; prints TAP.
 *
 * For every format it generates random and adversarial rows, quantizes them
 * with ggml (ggml_quantize_chunk, or from_float_ref for Q8_K) and checks:
 *   - our dequantization of ggml's blocks equals ggml's, bit for bit;
 *   - the same on blocks of random bytes (any NaN equals any NaN);
 *   - our quantized bytes equal ggml's (finite rows);
 * plus fp16/bf16 conversions on a sweep of bit patterns and every rounding
 * midpoint. Rows with NaN/Inf are only reported, as ggml leaves them
 * undefined. With GM_REF_CPU it also compares our activation conversion
 * with ggml-cpu's (haswell build: the x86 AVX2 code paths) byte for byte,
 * and our dot products with ggml-cpu's vec_dot.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#ifdef GM_REF_CPU
#include "ggml-cpu.h"
#endif

#include "engine/quant/quant.h"
#ifdef GM_REF_CPU
#include "engine/cpu/kernels.h"
#endif

#define ROW_LEN 1024 /* a multiple of every block size */

/* Q8_K has no entries in ggml's type_traits; libggml-base.so exports its
 * reference functions (ggml-quants.h). */
void quantize_row_q8_K_ref(const float *x, void *y, int64_t k);
void dequantize_row_q8_K(const void *x, float *y, int64_t k);

static void ggml_to_float(gm_type t, const void *q, float *y)
{
    if (t == GM_TYPE_Q8_K)
        dequantize_row_q8_K(q, y, ROW_LEN);
    else
        ggml_get_type_traits((enum ggml_type)t)->to_float(q, y, ROW_LEN);
}

static int tap_n;
static int tap_failed;

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok)
        tap_failed++;
    fflush(stdout);
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static float runi(rng *r) /* [-1, 1) */
{
    return (float)((double)(rnext(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static float rgauss(rng *r)
{
    double u1 = ((double)(rnext(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float from_bits(uint32_t w)
{
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

/* ---- test rows -------------------------------------------------------- */

#define N_KINDS 16
static const char *const kind_names[N_KINDS] = {
    "gaussian",   "gaussian-scaled", "uniform",     "outliers",  "zeros",    "constant",
    "one-hot",    "f32-denormal",    "tiny",        "huge",      "int-grid", "half-ties",
    "fp16-edges", "sparse",          "mixed-scale", "nonfinite",
};

/* Fill one row of kind k (variant v); returns false for rows holding
 * NaN/Inf (kind "nonfinite"). */
static bool make_row(rng *r, int k, int v, float *x)
{
    const int n = ROW_LEN;
    switch (k) {
    case 0:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r);
        break;
    case 1: {
        float s = powf(10.0f, (float)(v % 13) - 6.0f);
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r) * s;
        break;
    }
    case 2:
        for (int i = 0; i < n; i++)
            x[i] = runi(r) * (v % 2 ? 3.0f : 0.25f);
        break;
    case 3:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r) * ((rnext(r) % 97) == 0 ? 60.0f : 1.0f);
        break;
    case 4:
        memset(x, 0, n * sizeof *x);
        if (v % 2)
            for (int i = 0; i < n; i += 3)
                x[i] = -0.0f;
        break;
    case 5:
        for (int i = 0; i < n; i++)
            x[i] = (v % 2 ? -1.0f : 1.0f) * (0.37f + (float)v);
        break;
    case 6:
        memset(x, 0, n * sizeof *x);
        for (int i = (int)(rnext(r) % 32); i < n; i += 32 + (int)(rnext(r) % 7))
            x[i] = rgauss(r) * 4.0f;
        break;
    case 7:
        for (int i = 0; i < n; i++)
            x[i] = from_bits((uint32_t)(rnext(r) & 0x807FFFFFu));
        break;
    case 8:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r) * 1e-30f;
        break;
    case 9:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r) * (v % 2 ? 1e30f : 1e6f);
        break;
    case 10: {
        static const int spans[4] = {8, 16, 32, 127};
        int s = spans[v % 4];
        for (int i = 0; i < n; i++)
            x[i] = (float)((int)(rnext(r) % (uint64_t)(2 * s)) - s);
        break;
    }
    case 11:
        /* amax 127 per block so the Q8 scale is 1 and x.5 values are ties */
        for (int i = 0; i < n; i++)
            x[i] = (float)((int)(rnext(r) % 254) - 127) + 0.5f;
        for (int i = 0; i < n; i += 32)
            x[i] = (v % 2) ? 127.0f : -127.0f;
        break;
    case 12: {
        static const float edges[] = {65504.0f,       65519.99f,      65520.0f,
                                      6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f,
                                      8.940697e-08f,  1.0009766f,     0.33325195f};
        for (int i = 0; i < n; i++)
            x[i] = edges[rnext(r) % (sizeof edges / sizeof edges[0])] * (rnext(r) & 1 ? -1.f : 1.f);
        break;
    }
    case 13:
        memset(x, 0, n * sizeof *x);
        for (int i = 0; i < 20; i++)
            x[rnext(r) % (uint64_t)n] = rgauss(r);
        break;
    case 14:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r) * powf(10.0f, (float)((i / 32) % 9) - 4.0f);
        break;
    default:
        for (int i = 0; i < n; i++)
            x[i] = rgauss(r);
        for (int i = (int)(rnext(r) % 50); i < n; i += 50 + (int)(rnext(r) % 50)) {
            uint64_t c = rnext(r) % 4;
            x[i] = c == 0 ? NAN : c == 1 ? INFINITY : c == 2 ? -INFINITY : from_bits(0x7F800123u);
        }
        return false;
    }
    return true;
}

/* ---- formats ------------------------------------------------------------- */

typedef struct fmt {
    const char *name;
    gm_type type;
} fmt;

static const fmt formats[] = {
    {"f16", GM_TYPE_F16},   {"bf16", GM_TYPE_BF16}, {"q8_0", GM_TYPE_Q8_0},
    {"q4_0", GM_TYPE_Q4_0}, {"q5_0", GM_TYPE_Q5_0}, {"q4_K", GM_TYPE_Q4_K},
    {"q5_K", GM_TYPE_Q5_K}, {"q6_K", GM_TYPE_Q6_K}, {"q8_K", GM_TYPE_Q8_K},
};
#define N_FMT (sizeof formats / sizeof formats[0])

static size_t row_size(gm_type t)
{
    const struct ggml_type_traits *tr = ggml_get_type_traits((enum ggml_type)t);
    return (size_t)(ROW_LEN / tr->blck_size) * tr->type_size;
}

static void ggml_quant(gm_type t, const float *x, void *dst)
{
    memset(dst, 0, row_size(t)); /* Q8_K leaves bsums unset for zero blocks */
    if (t == GM_TYPE_Q8_K)
        quantize_row_q8_K_ref(x, dst, ROW_LEN);
    else
        ggml_quantize_chunk((enum ggml_type)t, x, dst, 0, 1, ROW_LEN, NULL);
}

static bool same_floats(const float *a, const float *b, int n, int *where)
{
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i]))
            continue;
        if (to_bits(a[i]) != to_bits(b[i])) {
            *where = i;
            return false;
        }
    }
    return true;
}

#define ROWS_PER_KIND 24

static void check_format(const fmt *f)
{
    const gm_type t = f->type;
    const size_t rs = row_size(t);
    float *x = malloc(ROW_LEN * sizeof(float));
    float *ya = malloc(ROW_LEN * sizeof(float));
    float *yb = malloc(ROW_LEN * sizeof(float));
    uint8_t *qa = malloc(rs);
    uint8_t *qb = malloc(rs);
    if (!x || !ya || !yb || !qa || !qb) {
        tap(false, "%s: out of memory", f->name);
        exit(1);
    }
    rng r = {0x5EED0000ull + (uint64_t)t};

    int deq_rows = 0, deq_bad = 0, q_rows = 0, q_bad = 0, nf_rows = 0, nf_same = 0;
    int first_bad_kind = -1, first_q_kind = -1, first_q_byte = -1;
    char bad_msg[200] = "";
    for (int k = 0; k < N_KINDS; k++) {
        for (int v = 0; v < ROWS_PER_KIND; v++) {
            bool finite = make_row(&r, k, v, x);
            ggml_quant(t, x, qa);
            if (gm_quantize_row(t, x, qb, ROW_LEN) != 0) {
                tap(false, "%s: gm_quantize_row failed", f->name);
                exit(1);
            }
            if (!finite) {
                nf_rows++;
                nf_same += memcmp(qa, qb, rs) == 0;
                continue;
            }
            /* our dequantization of ggml's blocks */
            ggml_to_float(t, qa, ya);
            memset(yb, 0, ROW_LEN * sizeof(float));
            gm_dequantize_row(t, qa, yb, ROW_LEN);
            int where;
            deq_rows++;
            if (!same_floats(ya, yb, ROW_LEN, &where)) {
                if (deq_bad++ == 0)
                    snprintf(bad_msg, sizeof bad_msg, "kind %s row %d element %d: ggml %a ours %a",
                             kind_names[k], v, where, (double)ya[where], (double)yb[where]);
            }
            q_rows++;
            if (memcmp(qa, qb, rs) != 0) {
                if (q_bad++ == 0) {
                    first_q_kind = k;
                    for (size_t i = 0; i < rs; i++)
                        if (qa[i] != qb[i]) {
                            first_q_byte = (int)i;
                            break;
                        }
                }
            }
            (void)first_bad_kind;
        }
    }
    tap(deq_bad == 0, "%s: dequantize ggml-quantized rows bit-identical (%d rows)%s%s", f->name,
        deq_rows, deq_bad ? ": first difference " : "", bad_msg);

    /* random block bytes */
    int rnd_bad = 0;
    for (int it = 0; it < 400; it++) {
        for (size_t i = 0; i < rs; i++)
            qa[i] = (uint8_t)rnext(&r);
        if (t == GM_TYPE_Q8_K && it % 2 == 0) {
            /* keep d finite in half of the Q8_K rows */
            for (size_t b = 0; b < rs; b += 292) {
                float d = runi(&r);
                memcpy(qa + b, &d, sizeof d);
            }
        }
        ggml_to_float(t, qa, ya);
        gm_dequantize_row(t, qa, yb, ROW_LEN);
        int where;
        if (!same_floats(ya, yb, ROW_LEN, &where) && rnd_bad++ == 0)
            printf("# %s random blocks: element %d ggml %a ours %a\n", f->name, where,
                   (double)ya[where], (double)yb[where]);
    }
    tap(rnd_bad == 0, "%s: dequantize random blocks bit-identical (400 rows of %d)", f->name,
        ROW_LEN);

    if (q_bad)
        printf("# %s: %d of %d rows differ, first in kind %s at byte %d\n", f->name, q_bad, q_rows,
               kind_names[first_q_kind], first_q_byte);
    tap(q_bad == 0, "%s: quantized bytes equal ggml's (%d/%d finite rows)", f->name, q_rows - q_bad,
        q_rows);
    if (t == GM_TYPE_F16 || t == GM_TYPE_BF16)
        tap(nf_same == nf_rows, "%s: NaN/Inf rows convert as ggml does (%d/%d rows)", f->name,
            nf_same, nf_rows);
    else
        printf("# %s: rows with NaN/Inf (undefined in ggml): %d/%d identical\n", f->name, nf_same,
               nf_rows);
    free(x);
    free(ya);
    free(yb);
    free(qa);
    free(qb);
}

/* fp16/bf16 scalar conversions on a sweep of f32 bit patterns and on every
 * midpoint between neighbouring half values (and one ulp either side). */
static void check_half_conversions(void)
{
    uint64_t n = 0, bad16 = 0, badbf = 0;
    for (uint64_t w = 0; w <= 0xFFFFFFFFull; w += 4099) {
        float f = from_bits((uint32_t)w);
        n++;
        bad16 += gm_fp32_to_fp16(f) != ggml_fp32_to_fp16(f);
        badbf += gm_fp32_to_bf16(f) != ggml_fp32_to_bf16(f).bits;
    }
    for (uint32_t h = 0; h < 65536; h++) {
        /* midpoints between h and h+1 in f32, and +-1 ulp */
        float a = ggml_fp16_to_fp32((ggml_fp16_t)h);
        float b = ggml_fp16_to_fp32((ggml_fp16_t)(h + 1));
        float mid = (float)(((double)a + (double)b) / 2);
        uint32_t mb = to_bits(mid);
        for (int d = -1; d <= 1; d++) {
            float f = from_bits(mb + (uint32_t)d);
            n++;
            bad16 += gm_fp32_to_fp16(f) != ggml_fp32_to_fp16(f);
        }
        uint32_t bm = (h << 16) | 0x8000u; /* bf16 midpoint */
        for (int d = -1; d <= 1; d++) {
            float f = from_bits(bm + (uint32_t)d);
            n++;
            badbf += gm_fp32_to_bf16(f) != ggml_fp32_to_bf16(f).bits;
        }
        bad16 +=
            to_bits(gm_fp16_to_fp32((uint16_t)h)) != to_bits(ggml_fp16_to_fp32((ggml_fp16_t)h));
        ggml_bf16_t hb = {(uint16_t)h};
        badbf += to_bits(gm_bf16_to_fp32((uint16_t)h)) != to_bits(ggml_bf16_to_fp32(hb));
    }
    tap(bad16 == 0,
        "fp16 conversions equal ggml_fp32_to_fp16/ggml_fp16_to_fp32 (%llu values, %llu differ)",
        (unsigned long long)n, (unsigned long long)bad16);
    tap(badbf == 0,
        "bf16 conversions equal ggml_fp32_to_bf16/ggml_bf16_to_fp32 (%llu values, %llu differ)",
        (unsigned long long)n, (unsigned long long)badbf);
}

#ifdef GM_REF_CPU
/* Our activation conversion against ggml-cpu's from_float for the vec_dot
 * type, and our vec_dot against ggml-cpu's, per weight format. */
static void check_cpu(const fmt *f)
{
    const gm_type t = f->type;
    if (t == GM_TYPE_Q8_K)
        return; /* not a weight format */
    const struct ggml_type_traits_cpu *wt = ggml_get_type_traits_cpu((enum ggml_type)t);
    const enum ggml_type vt = wt->vec_dot_type;
    const struct ggml_type_traits_cpu *at = ggml_get_type_traits_cpu(vt);
    if ((int)vt != (int)gm_vec_dot_type(t)) {
        tap(false, "%s: vec_dot type %d, ggml-cpu says %d", f->name, (int)gm_vec_dot_type(t),
            (int)vt);
        return;
    }
    tap(true, "%s: vec_dot type is ggml-cpu's (%s)", f->name, ggml_type_name(vt));
    const size_t ws = row_size(t);
    const size_t as = row_size((gm_type)vt);
    float *x = malloc(ROW_LEN * sizeof(float));
    float *wf = malloc(ROW_LEN * sizeof(float));
    float *wd = malloc(ROW_LEN * sizeof(float));
    float *xd = malloc(ROW_LEN * sizeof(float));
    uint8_t *w = malloc(ws);
    uint8_t *qa = malloc(as);
    uint8_t *qb = malloc(as);
    if (!x || !wf || !wd || !xd || !w || !qa || !qb) {
        tap(false, "%s: out of memory", f->name);
        exit(1);
    }
    rng r = {0xC0DE0000ull + (uint64_t)t};
    int rows = 0, conv_bad = 0, dot_bad = 0;
    double worst = 0;
    for (int k = 0; k < N_KINDS - 1; k++) {
        for (int v = 0; v < ROWS_PER_KIND; v++) {
            make_row(&r, k, v, x);
            rows++;
            memset(qa, 0, as);
            memset(qb, 0, as);
            if (vt == GGML_TYPE_F32)
                memcpy(qa, x, as);
            else
                at->from_float(x, qa, ROW_LEN);
            gm_act_convert(t, x, qb, ROW_LEN);
            if (memcmp(qa, qb, as) != 0 && conv_bad++ == 0)
                printf("# %s: activation row kind %s differs\n", f->name, kind_names[k]);

            /* weights: a Gaussian row quantized by ggml */
            for (int i = 0; i < ROW_LEN; i++)
                wf[i] = rgauss(&r) * 0.1f;
            ggml_quant(t, wf, w);
            float s_ggml = 0;
            wt->vec_dot(ROW_LEN, &s_ggml, 0, w, 0, qa, 0, 1);
            float s_ours = gm_vec_dot(t, ROW_LEN, w, qa);
            gm_dequantize_row(t, w, wd, ROW_LEN);
            gm_dequantize_row((gm_type)vt, qa, xd, ROW_LEN);
            double abs_sum = 0;
            for (int i = 0; i < ROW_LEN; i++)
                abs_sum += fabs((double)wd[i] * xd[i]);
            if (!(abs_sum > 0) || !isfinite(abs_sum))
                continue;
            double rel = fabs((double)s_ggml - (double)s_ours) / abs_sum;
            if (!(rel <= 2e-6)) {
                if (dot_bad++ == 0)
                    printf("# %s: kind %s dot ggml %.9g ours %.9g\n", f->name, kind_names[k],
                           (double)s_ggml, (double)s_ours);
            }
            if (rel > worst)
                worst = rel;
        }
    }
    tap(conv_bad == 0, "%s: activation conversion to %s equals ggml-cpu's bytes (%d rows)", f->name,
        ggml_type_name(vt), rows);
    tap(dot_bad == 0, "%s: vec_dot within 2e-6 of sum|w x| of ggml-cpu's (%d rows, worst %.2e)",
        f->name, rows, worst);
    free(x);
    free(wf);
    free(wd);
    free(xd);
    free(w);
    free(qa);
    free(qb);
}
#endif

int main(void)
{
#ifdef GM_REF_CPU
    ggml_cpu_init();
#endif
    check_half_conversions();
    for (size_t i = 0; i < N_FMT; i++)
        check_format(&formats[i]);
#ifdef GM_REF_CPU
    for (size_t i = 0; i < N_FMT; i++)
        check_cpu(&formats[i]);
#endif
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
