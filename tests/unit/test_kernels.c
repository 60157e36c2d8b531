/*
 * tests/unit/test_kernels.c -- unit tests for engine/cpu/: the thread pool,
 * activation conversion (ggml's AVX2 Q8_0 rounding, Q8_K, F16, BF16),
 * every format's dot product against a double-precision dot of the
 * dequantized operands, every CPU path this machine has (AVX2, AVX-512
 * with and without VNNI) against the scalar ones, and gm_matmul (1..N
 * threads give identical results, batch invariance, odd sizes, bad sizes).
 * Run it under GEMMA_CPU=scalar|avx2|avx512 to put gm_matmul on one path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "engine/cpu/dot.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/pool.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quant.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct tk_rng {
    uint64_t s;
} tk_rng;

static uint64_t tk_next(tk_rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static float tk_gauss(tk_rng *r)
{
    double u1 = ((double)(tk_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(tk_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void tk_fill(tk_rng *r, float *x, uint64_t n, float scale)
{
    for (uint64_t i = 0; i < n; i++)
        x[i] = tk_gauss(r) * scale;
}

typedef struct tk_fmt {
    const char *name;
    gm_type type;
    uint32_t qk;
    uint32_t bytes;
} tk_fmt;

static const tk_fmt tk_formats[] = {
    {"f32", GM_TYPE_F32, 1, 4},
    {"f16", GM_TYPE_F16, 1, 2},
    {"bf16", GM_TYPE_BF16, 1, 2},
    {"q8_0", GM_TYPE_Q8_0, 32, sizeof(gm_block_q8_0)},
    {"q4_0", GM_TYPE_Q4_0, 32, sizeof(gm_block_q4_0)},
    {"q5_0", GM_TYPE_Q5_0, 32, sizeof(gm_block_q5_0)},
    {"q4_K", GM_TYPE_Q4_K, 256, sizeof(gm_block_q4_K)},
    {"q5_K", GM_TYPE_Q5_K, 256, sizeof(gm_block_q5_K)},
    {"q6_K", GM_TYPE_Q6_K, 256, sizeof(gm_block_q6_K)},
    {"q8_K", GM_TYPE_Q8_K, 256, sizeof(gm_block_q8_K)},
};
#define TK_NFMT (sizeof tk_formats / sizeof tk_formats[0])

/* A weight matrix of rows x cols quantized to fmt from Gaussian data. */
static uint8_t *tk_make_weights(tk_rng *r, const tk_fmt *f, uint64_t rows, uint64_t cols)
{
    float *tmp = malloc(cols * sizeof(float));
    uint64_t row_bytes = cols / f->qk * f->bytes;
    uint8_t *w = malloc(rows * row_bytes + 1);
    assert_non_null(tmp);
    assert_non_null(w);
    for (uint64_t i = 0; i < rows; i++) {
        tk_fill(r, tmp, cols, 0.05f + (float)(i % 7) * 0.3f);
        assert_int_equal(gm_quantize_row(f->type, tmp, w + i * row_bytes, cols), 0);
    }
    free(tmp);
    return w;
}

/* Double-precision dot of the dequantized weight row and the dequantized
 * converted activations; also returns sum |w_i x_i| for error bounds. */
static double tk_ref_dot(const tk_fmt *f, const void *wrow, const void *xq, uint64_t n,
                         double *abs_sum)
{
    float *wd = malloc(n * sizeof(float));
    float *xd = malloc(n * sizeof(float));
    assert_non_null(wd);
    assert_non_null(xd);
    assert_int_equal(gm_dequantize_row(f->type, wrow, wd, n), 0);
    assert_int_equal(gm_dequantize_row(gm_vec_dot_type(f->type), xq, xd, n), 0);
    double s = 0, a = 0;
    for (uint64_t i = 0; i < n; i++) {
        s += (double)wd[i] * (double)xd[i];
        a += fabs((double)wd[i] * (double)xd[i]);
    }
    free(wd);
    free(xd);
    *abs_sum = a;
    return s;
}

/* ---- pool ------------------------------------------------------------- */

typedef struct tk_count {
    uint32_t *hits;
    uint32_t *worker_of;
} tk_count;

static void tk_count_fn(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    tk_count *c = ctx;
    for (uint64_t i = begin; i < end; i++) {
        c->hits[i]++; /* each index belongs to exactly one chunk: no race */
        c->worker_of[i] = worker;
    }
}

static void test_pool_covers_every_index_once(void **state)
{
    (void)state;
    enum { N = 10007 };
    uint32_t *hits = calloc(N, sizeof *hits);
    uint32_t *worker_of = calloc(N, sizeof *worker_of);
    assert_non_null(hits);
    assert_non_null(worker_of);
    tk_count c = {hits, worker_of};
    for (uint32_t nt = 1; nt <= 5; nt++) {
        gm_pool *pool = NULL;
        cm_err err;
        assert_int_equal(gm_pool_create(nt, &pool, &err), 0);
        assert_int_equal(gm_pool_threads(pool), nt);
        static const uint64_t grains[] = {0, 1, 7, 64, 20000};
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
            for (int rep = 0; rep < 3; rep++) {
                memset(hits, 0, N * sizeof *hits);
                gm_pool_run(pool, N, grains[g], tk_count_fn, &c);
                for (uint32_t i = 0; i < N; i++) {
                    if (hits[i] != 1)
                        fail_msg("%u threads, grain %llu: index %u run %u times", nt,
                                 (unsigned long long)grains[g], i, hits[i]);
                    assert_true(worker_of[i] < nt);
                }
            }
        }
        memset(hits, 0, N * sizeof *hits);
        gm_pool_run(pool, 0, 1, tk_count_fn, &c); /* empty range: no calls */
        for (uint32_t i = 0; i < N; i++)
            assert_int_equal(hits[i], 0);
        gm_pool_destroy(pool);
    }
    /* NULL pool: the caller runs everything */
    memset(hits, 0, N * sizeof *hits);
    gm_pool_run(NULL, N, 100, tk_count_fn, &c);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(hits[i], 1);
    assert_int_equal(gm_pool_threads(NULL), 1);
    gm_pool_destroy(NULL);
    free(hits);
    free(worker_of);
}

typedef struct tk_caller {
    gm_pool *pool;
    uint32_t *hits;
    uint64_t n;
    int ok;
} tk_caller;

static void tk_inc_fn(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    uint32_t *hits = ctx;
    for (uint64_t i = begin; i < end; i++)
        hits[i]++;
}

static void *tk_caller_main(void *arg)
{
    tk_caller *c = arg;
    c->ok = 1;
    for (int rep = 0; rep < 50; rep++) {
        memset(c->hits, 0, c->n * sizeof *c->hits);
        gm_pool_run(c->pool, c->n, 3, tk_inc_fn, c->hits);
        for (uint64_t i = 0; i < c->n; i++)
            if (c->hits[i] != 1)
                c->ok = 0;
    }
    return NULL;
}

/* One thread stalls in its first chunk: the others must take over the rest
 * of its span (each thread starts on a span of its own), and every index
 * is still handed out exactly once. */
typedef struct tk_stall {
    tk_count count;
    uint32_t stalled_worker; /* UINT32_MAX until a chunk has stalled */
    uint32_t *chunks_by_worker;
} tk_stall;

static void tk_stall_fn(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    tk_stall *st = ctx;
    uint32_t none = UINT32_MAX;
    if (__atomic_compare_exchange_n(&st->stalled_worker, &none, worker, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 300 * 1000 * 1000}; /* 300 ms */
        nanosleep(&ts, NULL);
    }
    __atomic_fetch_add(&st->chunks_by_worker[worker], 1, __ATOMIC_RELAXED);
    tk_count_fn(&st->count, begin, end, worker);
}

static void test_pool_stalled_thread(void **state)
{
    (void)state;
    enum { N = 4000, NT = 3 };
    gm_pool *pool = NULL;
    cm_err err;
    assert_int_equal(gm_pool_create(NT, &pool, &err), 0);
    uint32_t *hits = calloc(N, sizeof(*hits));
    uint32_t *worker_of = calloc(N, sizeof(*worker_of));
    uint32_t chunks[NT] = {0};
    assert_non_null(hits);
    assert_non_null(worker_of);
    tk_stall st = {{hits, worker_of}, UINT32_MAX, chunks};
    gm_pool_run(pool, N, 10, tk_stall_fn, &st); /* 400 chunks */
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(hits[i], 1);
    assert_true(st.stalled_worker < NT);
    uint32_t total = 0;
    for (int w = 0; w < NT; w++)
        total += chunks[w];
    assert_int_equal(total, N / 10);
    /* In 300 ms the others finish everything else, its span included: the
     * stalled thread ran far fewer than its third of the chunks. */
    assert_true(chunks[st.stalled_worker] < N / 10 / NT / 2);
    free(hits);
    free(worker_of);
    gm_pool_destroy(pool);
}

/* Two threads sharing one pool: their runs are serialized, and each sees
 * its own range done completely before gm_pool_run returns. */
static void test_pool_concurrent_callers(void **state)
{
    (void)state;
    gm_pool *pool;
    cm_err err;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    enum { N = 997 };
    tk_caller c[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        c[i].pool = pool;
        c[i].n = N;
        c[i].hits = calloc(N, sizeof(uint32_t));
        assert_non_null(c[i].hits);
        assert_int_equal(pthread_create(&th[i], NULL, tk_caller_main, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].ok, 1);
        free(c[i].hits);
    }
    gm_pool_destroy(pool);
}

typedef struct tk_nested {
    gm_pool *pool;
    uint32_t *hits;     /* [64][32] */
    uint32_t *inner_ok; /* [64]: inner chunks ran with the outer worker number */
    uint32_t outer_worker;
} tk_nested;

static void tk_nested_inner(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    tk_nested *t = ctx;
    for (uint64_t i = begin; i < end; i++)
        t->hits[i]++;
    if (worker != t->outer_worker)
        t->inner_ok[0] = 0;
}

static void tk_nested_outer(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    tk_nested *t = ctx;
    for (uint64_t i = begin; i < end; i++) {
        tk_nested inner = {t->pool, t->hits + 32 * i, t->inner_ok + i, worker};
        t->inner_ok[i] = 1;
        gm_pool_run(t->pool, 32, 4, tk_nested_inner, &inner);
    }
}

/* A function running on the pool may itself call gm_pool_run on the same
 * pool (e.g. a matmul inside a parallel loop): no deadlock, all done. */
static void test_pool_nested_run(void **state)
{
    (void)state;
    gm_pool *pool;
    cm_err err;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    uint32_t *hits = calloc(64 * 32, sizeof *hits);
    uint32_t *inner_ok = calloc(64, sizeof *inner_ok);
    assert_non_null(hits);
    assert_non_null(inner_ok);
    tk_nested t = {pool, hits, inner_ok, 0};
    gm_pool_run(pool, 64, 1, tk_nested_outer, &t);
    for (int i = 0; i < 64 * 32; i++)
        assert_int_equal(hits[i], 1);
    for (int i = 0; i < 64; i++)
        assert_int_equal(inner_ok[i], 1);
    gm_pool_destroy(pool);
    free(hits);
    free(inner_ok);
}

static void test_pool_bad_thread_counts(void **state)
{
    (void)state;
    gm_pool *pool = (gm_pool *)&pool;
    cm_err err;
    assert_int_equal(gm_pool_create(0, &pool, &err), -1);
    assert_null(pool);
    assert_non_null(strstr(err.msg, "thread pool"));
    assert_int_equal(gm_pool_create(GM_POOL_MAX_THREADS + 1, &pool, &err), -1);
    assert_null(pool);
}

/* ---- activation conversion ---------------------------------------------- */

static void test_vec_dot_types(void **state)
{
    (void)state;
    assert_int_equal(gm_vec_dot_type(GM_TYPE_F32), GM_TYPE_F32);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_F16), GM_TYPE_F16);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_BF16), GM_TYPE_BF16);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q8_0), GM_TYPE_Q8_0);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q4_0), GM_TYPE_Q8_0);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q5_0), GM_TYPE_Q8_0);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q4_K), GM_TYPE_Q8_K);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q5_K), GM_TYPE_Q8_K);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q6_K), GM_TYPE_Q8_K);
    assert_int_equal(gm_vec_dot_type(GM_TYPE_Q4_1), GM_TYPE_COUNT_MAX);

    assert_int_equal(gm_act_bytes(GM_TYPE_F32, 10), 40);
    assert_int_equal(gm_act_bytes(GM_TYPE_F16, 10), 20);
    assert_int_equal(gm_act_bytes(GM_TYPE_BF16, 3), 6);
    assert_int_equal(gm_act_bytes(GM_TYPE_Q4_0, 64), 68);
    assert_int_equal(gm_act_bytes(GM_TYPE_Q6_K, 512), 584);
    assert_int_equal(gm_act_bytes(GM_TYPE_Q4_0, 48), 0); /* not a multiple of 32 */
    assert_int_equal(gm_act_bytes(GM_TYPE_Q4_K, 32), 0);
    assert_int_equal(gm_act_bytes(GM_TYPE_Q4_1, 32), 0);
}

/* ggml's AVX2 Q8_0: d = fp16(amax/127), q = round-half-even(x * 127/amax). */
static void test_act_q8_0_rounding(void **state)
{
    (void)state;
    float x[64];
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    x[0] = 127.0f; /* id = 1 exactly */
    x[1] = 2.5f;
    x[2] = 3.5f;
    x[3] = -2.5f;
    x[4] = -0.5f;
    x[5] = 0.5f;
    x[6] = 1.5f;
    x[7] = -127.0f;
    x[8] = 100.49f;
    for (int j = 32; j < 64; j++)
        x[j] = 0.0f; /* all-zero block */
    gm_block_q8_0 b[2];
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_0, x, b, 64), 0);
    assert_int_equal(b[0].d, gm_fp32_to_fp16(1.0f));
    static const int want[9] = {127, 2, 4, -2, 0, 0, 2, -127, 100};
    for (int j = 0; j < 9; j++)
        assert_int_equal(b[0].qs[j], want[j]);
    assert_int_equal(b[1].d, 0);
    for (int j = 0; j < 32; j++)
        assert_int_equal(b[1].qs[j], 0);
    /* the reference (model-file) quantizer rounds half away from zero: the
     * activation path must not be that one */
    gm_block_q8_0 r;
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_0, x, &r, 32), 0);
    assert_int_equal(r.qs[1], 3);
}

static void test_act_convert_formats(void **state)
{
    (void)state;
    tk_rng r = {99};
    enum { N = 512 };
    float x[N];
    tk_fill(&r, x, N, 3.0f);
    x[5] = 1e-30f;
    x[6] = 70000.0f;

    uint16_t h[N];
    assert_int_equal(gm_act_convert(GM_TYPE_F16, x, h, N), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(h[i], gm_fp32_to_fp16(x[i]));
    assert_int_equal(h[6], 0x7C00);
    assert_int_equal(gm_act_convert(GM_TYPE_BF16, x, h, N), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(h[i], gm_fp32_to_bf16(x[i]));
    float f[N];
    assert_int_equal(gm_act_convert(GM_TYPE_F32, x, f, N), 0);
    assert_memory_equal(f, x, sizeof x);

    gm_block_q8_K k1[2], k2[2];
    assert_int_equal(gm_act_convert(GM_TYPE_Q6_K, x, k1, N), 0);
    assert_int_equal(gm_quantize_row(GM_TYPE_Q8_K, x, k2, N), 0);
    assert_memory_equal(k1, k2, sizeof k1);

    /* Q8_0 against the definition, block by block */
    gm_block_q8_0 q[N / 32];
    assert_int_equal(gm_act_convert(GM_TYPE_Q8_0, x, q, N), 0);
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        assert_int_equal(q[b].d, gm_fp32_to_fp16(amax / 127.f));
        for (int j = 0; j < 32; j++) {
            float v = x[32 * b + j] * (127.f / amax);
            assert_int_equal(q[b].qs[j], (int)nearbyintf(v));
        }
    }

    assert_int_equal(gm_act_convert(GM_TYPE_Q4_0, x, q, 33), -1);
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_K, x, k1, 128), -1);
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_1, x, q, 32), -1);
}

/* NaN and infinities in one block: no crash, the other blocks unaffected,
 * and the odd block gets what ggml's AVX2 code stores (NaN -> -128). */
static void test_act_nonfinite(void **state)
{
    (void)state;
    float x[512];
    tk_rng r = {5};
    tk_fill(&r, x, 512, 1.0f);
    x[3] = NAN;
    x[7] = INFINITY;
    x[300] = -INFINITY;
    gm_block_q8_0 a[16], b;
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_0, x, a, 512), 0);
    for (int k = 1; k < 16; k++) {
        if (k == 300 / 32)
            continue;
        assert_int_equal(gm_act_convert(GM_TYPE_Q4_0, x + 32 * k, &b, 32), 0);
        assert_memory_equal(&a[k], &b, sizeof b);
    }
    assert_int_equal(a[0].qs[3], -128);
    gm_block_q8_K k2[2];
    assert_int_equal(gm_act_convert(GM_TYPE_Q4_K, x, k2, 512), 0);
    float y[2];
    uint8_t w[2 * 144] = {0};
    cm_err err;
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q4_K, w, 1, 512, x, 1, y, &err), 0);
}

/* ---- dot products -------------------------------------------------------- */

static void test_vec_dot_matches_double_reference(void **state)
{
    (void)state;
    tk_rng r = {4242};
    static const uint64_t sizes[] = {256, 512, 2816};
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const uint64_t n = sizes[s];
            uint8_t *w = tk_make_weights(&r, f, 4, n);
            float *x = malloc(n * sizeof(float));
            uint8_t *xq = malloc(gm_act_bytes(f->type, n));
            assert_non_null(x);
            assert_non_null(xq);
            const uint64_t row_bytes = n / f->qk * f->bytes;
            for (int row = 0; row < 4; row++) {
                tk_fill(&r, x, n, row == 3 ? 1e-3f : 2.0f);
                assert_int_equal(gm_act_convert(f->type, x, xq, n), 0);
                double abs_sum;
                double want = tk_ref_dot(f, w + row * row_bytes, xq, n, &abs_sum);
                float got = gm_vec_dot(f->type, n, w + row * row_bytes, xq);
                float got_ref = gm_dot_scalar(f->type)(n, w + row * row_bytes, xq);
                double tol = 2e-6 * abs_sum + 1e-30;
                if (fabs((double)got - want) > tol || fabs((double)got_ref - want) > tol)
                    fail_msg("%s n=%llu row %d: dot %.9g (scalar %.9g), reference %.9g, tol %g",
                             f->name, (unsigned long long)n, row, (double)got, (double)got_ref,
                             want, tol);
            }
            free(w);
            free(x);
            free(xq);
        }
    }
}

/* The real error of the whole path (weights and activations both rounded)
 * against the exact f64 dot of the original f32 data stays small. */
static void test_vec_dot_close_to_exact(void **state)
{
    (void)state;
    static const double bound[TK_NFMT] = {5e-8, 5e-5, 5e-4, 1e-4, 2e-2,
                                          1e-2, 2e-2, 1e-2, 5e-3, 3e-3};
    tk_rng r = {777};
    enum { N = 4096 };
    float *wf = malloc(N * sizeof(float));
    float *x = malloc(N * sizeof(float));
    uint8_t *w = malloc(N * 4);
    uint8_t *xq = malloc(N * 4);
    assert_non_null(wf);
    assert_non_null(x);
    assert_non_null(w);
    assert_non_null(xq);
    tk_fill(&r, wf, N, 0.1f);
    tk_fill(&r, x, N, 1.0f);
    double exact = 0, norm = 0, wn = 0, xn = 0;
    for (int i = 0; i < N; i++) {
        exact += (double)wf[i] * x[i];
        wn += (double)wf[i] * wf[i];
        xn += (double)x[i] * x[i];
    }
    norm = sqrt(wn * xn);
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        assert_int_equal(gm_quantize_row(f->type, wf, w, N), 0);
        assert_int_equal(gm_act_convert(f->type, x, xq, N), 0);
        double got = gm_vec_dot(f->type, N, w, xq);
        double rel = fabs(got - exact) / norm;
        print_message("# %s: |dot - exact| / (|w||x|) = %.2e (bound %.0e)\n", f->name, rel,
                      bound[t]);
        if (rel > bound[t])
            fail_msg("%s: relative error %g above %g", f->name, rel, bound[t]);
    }
    free(wf);
    free(x);
    free(w);
    free(xq);
}

static void test_avx2_matches_scalar(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx2()) {
        print_message("# this CPU has no AVX2/FMA/F16C: nothing to compare\n");
        skip();
    }
    tk_rng r = {31337};
    int n_compared = 0;
    static const uint64_t sizes[] = {256, 768, 4096, 5376};
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        gm_dot_fn simd = gm_dot_avx2(f->type);
        gm_dot_fn ref = gm_dot_scalar(f->type);
        assert_non_null(ref);
        if (simd == NULL)
            continue;
        n_compared++;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const uint64_t n = sizes[s];
            uint8_t *w = tk_make_weights(&r, f, 3, n);
            float *x = malloc(n * sizeof(float));
            uint8_t *xq = malloc(gm_act_bytes(f->type, n));
            assert_non_null(x);
            assert_non_null(xq);
            const uint64_t row_bytes = n / f->qk * f->bytes;
            for (int row = 0; row < 3; row++) {
                tk_fill(&r, x, n, 1.0f);
                assert_int_equal(gm_act_convert(f->type, x, xq, n), 0);
                double abs_sum;
                (void)tk_ref_dot(f, w + row * row_bytes, xq, n, &abs_sum);
                float a = simd(n, w + row * row_bytes, xq);
                float b = ref(n, w + row * row_bytes, xq);
                if (fabs((double)a - (double)b) > 2e-6 * abs_sum)
                    fail_msg("%s n=%llu: avx2 %.9g scalar %.9g", f->name, (unsigned long long)n,
                             (double)a, (double)b);
            }
            free(w);
            free(x);
            free(xq);
        }
    }
    print_message("# AVX2 kernels compared with scalar: %d formats\n", n_compared);
    assert_true(n_compared >= 1);
}

/* The 4-vector kernels give, for each vector, exactly the bits of the
 * one-vector kernel (batched and single-token products agree). */
static void test_dot4_matches_single(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx2()) {
        print_message("# this CPU has no AVX2/FMA/F16C: no 4-vector kernels\n");
        skip();
    }
    tk_rng r = {8080};
    int n_checked = 0;
    const uint64_t n = 1536;
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        gm_dot4_fn dot4 = gm_dot4_avx2(f->type);
        if (dot4 == NULL)
            continue;
        gm_dot_fn dot = gm_dot_avx2(f->type);
        assert_non_null(dot);
        n_checked++;
        uint8_t *w = tk_make_weights(&r, f, 2, n);
        const size_t ab = gm_act_bytes(f->type, n);
        uint8_t *xq = malloc(4 * ab);
        float *x = malloc(n * sizeof(float));
        assert_non_null(xq);
        assert_non_null(x);
        for (int k = 0; k < 4; k++) {
            tk_fill(&r, x, n, k == 2 ? 1e-3f : 1.0f);
            assert_int_equal(gm_act_convert(f->type, x, xq + k * ab, n), 0);
        }
        for (int row = 0; row < 2; row++) {
            const uint8_t *wr = w + row * (n / f->qk * f->bytes);
            float out[4];
            dot4(n, wr, xq, ab, out);
            for (int k = 0; k < 4; k++) {
                float one = dot(n, wr, xq + k * ab);
                if (memcmp(&one, &out[k], sizeof one) != 0)
                    fail_msg("%s vector %d: dot4 %.9g, dot %.9g", f->name, k, (double)out[k],
                             (double)one);
            }
        }
        free(w);
        free(xq);
        free(x);
    }
    print_message("# 4-vector kernels checked: %d formats\n", n_checked);
    assert_true(n_checked >= 1);
}

static void test_vec_dot_bad_input(void **state)
{
    (void)state;
    uint8_t buf[1024] = {0};
    assert_true(isnan(gm_vec_dot(GM_TYPE_Q4_0, 33, buf, buf)));
    assert_true(isnan(gm_vec_dot(GM_TYPE_Q4_K, 32, buf, buf)));
    assert_true(isnan(gm_vec_dot(GM_TYPE_Q4_1, 32, buf, buf)));
    assert_true(isnan(gm_vec_dot(GM_TYPE_Q8_0, 32, NULL, buf)));
    assert_true(gm_vec_dot(GM_TYPE_Q8_0, 0, buf, buf) == 0.0f);
}

/* ---- matmul -------------------------------------------------------------- */

static void test_matmul_threads_identical(void **state)
{
    (void)state;
    tk_rng r = {2024};
    static const struct {
        uint64_t rows, cols;
        uint32_t n_vec;
    } shapes[] = {{1, 256, 1},   {17, 512, 3},  {33, 256, 2},
                  {203, 768, 5}, {64, 1024, 1}, {40, 512, 21}};
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const uint64_t rows = shapes[s].rows, cols = shapes[s].cols;
            const uint32_t nv = shapes[s].n_vec;
            uint8_t *w = tk_make_weights(&r, f, rows, cols);
            float *x = malloc(nv * cols * sizeof(float));
            float *y0 = malloc(nv * rows * sizeof(float));
            float *y = malloc(nv * rows * sizeof(float));
            uint8_t *xq = malloc(gm_act_bytes(f->type, cols));
            assert_non_null(x);
            assert_non_null(y0);
            assert_non_null(y);
            assert_non_null(xq);
            tk_fill(&r, x, nv * cols, 1.0f);
            cm_err err;
            assert_int_equal(gm_matmul(NULL, f->type, w, rows, cols, x, nv, y0, &err), 0);
            for (uint32_t nt = 1; nt <= 4; nt++) {
                gm_pool *pool;
                assert_int_equal(gm_pool_create(nt, &pool, &err), 0);
                memset(y, 0xFF, nv * rows * sizeof(float));
                assert_int_equal(gm_matmul(pool, f->type, w, rows, cols, x, nv, y, &err), 0);
                if (memcmp(y, y0, nv * rows * sizeof(float)) != 0)
                    fail_msg("%s %llux%llu x %u: %u threads differ from 1", f->name,
                             (unsigned long long)rows, (unsigned long long)cols, nv, nt);
                gm_pool_destroy(pool);
            }
            /* each output is the row's dot product against the converted
             * vector (bit-identical: same kernel) and close to f64 */
            const uint64_t row_bytes = cols / f->qk * f->bytes;
            for (uint32_t v = 0; v < nv; v++) {
                assert_int_equal(gm_act_convert(f->type, x + v * cols, xq, cols), 0);
                for (uint64_t i = 0; i < rows; i++) {
                    double abs_sum;
                    double want = tk_ref_dot(f, w + i * row_bytes, xq, cols, &abs_sum);
                    float got = y0[v * rows + i];
                    if (fabs((double)got - want) > 2e-6 * abs_sum + 1e-30)
                        fail_msg("%s row %llu vec %u: %.9g want %.9g", f->name,
                                 (unsigned long long)i, v, (double)got, want);
                    assert_true(got == gm_vec_dot(f->type, cols, w + i * row_bytes, xq));
                }
            }
            free(w);
            free(x);
            free(y0);
            free(y);
            free(xq);
        }
    }
}

static void test_matmul_errors(void **state)
{
    (void)state;
    float x[512] = {0}, y[16];
    uint8_t w[4096] = {0};
    cm_err err;
    err.msg[0] = '\0';
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q4_0, w, 2, 48, x, 1, y, &err), -1);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q4_K, w, 2, 128, x, 1, y, &err), -1);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q4_1, w, 2, 32, x, 1, y, &err), -1);
    assert_non_null(strstr(err.msg, "matmul"));
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, w, 2, 0, x, 1, y, &err), -1);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, NULL, 2, 32, x, 1, y, &err), -1);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, w, 2, 32, NULL, 1, y, &err), -1);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, w, 2, 32, x, 1, NULL, &err), -1);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, w, 0, 32, x, 1, y, NULL), 0);
    assert_int_equal(gm_matmul(NULL, GM_TYPE_Q8_0, w, 2, 32, x, 0, y, NULL), 0);
}

/* ---- CPU paths ------------------------------------------------------------ */

static const gm_cpu_path tk_paths[] = {GM_CPU_SCALAR, GM_CPU_AVX2, GM_CPU_AVX512};
static const char *const tk_path_names[] = {"scalar", "avx2", "avx512"};

/* Every path this CPU has, for every format, against the scalar reference
 * (including sizes with an odd number of blocks, which the AVX-512 kernels
 * finish with a tail loop); the AVX-512 VNNI and plain kernels agree bit
 * for bit. */
static void test_paths_match_scalar(void **state)
{
    (void)state;
    tk_rng r = {4242};
    static const uint64_t sizes[] = {32, 96, 256, 288, 768, 2304, 5376};
    int n_paths = 0;
    for (size_t p = 0; p < 3; p++) {
        if (!gm_cpu_path_supported(tk_paths[p])) {
            print_message("# this CPU cannot run the %s path: not compared\n", tk_path_names[p]);
            continue;
        }
        n_paths++;
        for (size_t t = 0; t < TK_NFMT; t++) {
            const tk_fmt *f = &tk_formats[t];
            gm_dot_fn fn = gm_dot_for_path(tk_paths[p], f->type);
            gm_dot_fn ref = gm_dot_scalar(f->type);
            gm_dot_fn plain = tk_paths[p] == GM_CPU_AVX512 ? gm_dot_avx512_plain(f->type) : NULL;
            assert_non_null(fn);
            assert_non_null(ref);
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const uint64_t n = sizes[s];
                if (n % f->qk != 0)
                    continue;
                uint8_t *w = tk_make_weights(&r, f, 3, n);
                float *x = malloc(n * sizeof(float));
                uint8_t *xq = malloc(gm_act_bytes(f->type, n));
                assert_non_null(x);
                assert_non_null(xq);
                const uint64_t row_bytes = n / f->qk * f->bytes;
                for (int row = 0; row < 3; row++) {
                    tk_fill(&r, x, n, row == 1 ? 1e-3f : 1.0f);
                    assert_int_equal(gm_act_convert(f->type, x, xq, n), 0);
                    double abs_sum;
                    const double exact = tk_ref_dot(f, w + row * row_bytes, xq, n, &abs_sum);
                    const float a = fn(n, w + row * row_bytes, xq);
                    const float b = ref(n, w + row * row_bytes, xq);
                    if (fabs((double)a - (double)b) > 2e-6 * abs_sum + 1e-30 ||
                        fabs((double)a - exact) > 2e-6 * abs_sum + 1e-30)
                        fail_msg("%s path %s n=%llu: %.9g scalar %.9g exact %.9g", f->name,
                                 tk_path_names[p], (unsigned long long)n, (double)a, (double)b,
                                 exact);
                    if (plain != NULL) {
                        const float c = plain(n, w + row * row_bytes, xq);
                        if (memcmp(&a, &c, sizeof a) != 0)
                            fail_msg("%s n=%llu: avx512 vnni %.9g plain %.9g", f->name,
                                     (unsigned long long)n, (double)a, (double)c);
                    }
                }
                free(w);
                free(x);
                free(xq);
            }
        }
    }
    print_message("# CPU paths compared with scalar: %d (this CPU: avx2 %s, avx512 %s, vnni %s)\n",
                  n_paths, gm_cpu_has_avx2() ? "yes" : "no", gm_cpu_has_avx512() ? "yes" : "no",
                  gm_cpu_has_avx512_vnni() ? "yes" : "no");
    assert_true(n_paths >= 1);
}

/* On every path, the 4-vector kernel paired with a path's one-vector
 * kernel gives each vector exactly that kernel's bits. */
static void test_dot4_matches_single_all_paths(void **state)
{
    (void)state;
    tk_rng r = {9090};
    int n_checked = 0;
    const uint64_t n = 2304; /* 9 K-blocks, 72 Q8_0 blocks */
    for (size_t p = 0; p < 3; p++) {
        if (!gm_cpu_path_supported(tk_paths[p]))
            continue;
        for (size_t t = 0; t < TK_NFMT; t++) {
            const tk_fmt *f = &tk_formats[t];
            gm_dot4_fn dot4 = gm_dot4_for_path(tk_paths[p], f->type);
            if (dot4 == NULL)
                continue;
            gm_dot_fn dot = gm_dot_for_path(tk_paths[p], f->type);
            n_checked++;
            const uint64_t nn = f->qk == 32 ? n + 32 : n; /* an odd Q8_0 block count too */
            uint8_t *w = tk_make_weights(&r, f, 2, nn);
            const size_t ab = gm_act_bytes(f->type, nn);
            uint8_t *xq = malloc(4 * ab);
            float *x = malloc(nn * sizeof(float));
            assert_non_null(xq);
            assert_non_null(x);
            for (int k = 0; k < 4; k++) {
                tk_fill(&r, x, nn, k == 2 ? 1e-3f : 1.0f);
                assert_int_equal(gm_act_convert(f->type, x, xq + k * ab, nn), 0);
            }
            for (int row = 0; row < 2; row++) {
                const uint8_t *wr = w + row * (nn / f->qk * f->bytes);
                float out[4];
                dot4(nn, wr, xq, ab, out);
                for (int k = 0; k < 4; k++) {
                    float one = dot(nn, wr, xq + k * ab);
                    if (memcmp(&one, &out[k], sizeof one) != 0)
                        fail_msg("%s path %s vector %d: dot4 %.9g, dot %.9g", f->name,
                                 tk_path_names[p], k, (double)out[k], (double)one);
                }
            }
            free(w);
            free(xq);
            free(x);
        }
    }
    print_message("# 4-vector kernels checked on all paths: %d\n", n_checked);
    if (gm_cpu_has_avx2())
        assert_true(n_checked >= 1);
}

/* Each vector of x (max_nv of them, n columns) alone, on one thread, gives
 * the bits it gets at its place in batches of batches[] vectors starting
 * at vector 1 (so its place in a group differs from its place alone;
 * vector 0 when the batch takes every vector), on 1 thread and on `pool`. */
static void tk_check_batch_invariance(tk_rng *r, const tk_fmt *f, uint64_t rows, uint64_t n,
                                      const uint32_t *batches, size_t n_batches,
                                      uint32_t max_nv, gm_pool *pool)
{
    cm_err err;
    uint8_t *w = tk_make_weights(r, f, rows, n);
    float *x = malloc(max_nv * n * sizeof(float));
    float *yb = malloc(max_nv * rows * sizeof(float));
    float *y1 = malloc(max_nv * rows * sizeof(float));
    assert_non_null(x);
    assert_non_null(yb);
    assert_non_null(y1);
    tk_fill(r, x, max_nv * n, 1.0f);
    /* every vector alone, on one thread: the reference bits */
    for (uint32_t v = 0; v < max_nv; v++)
        assert_int_equal(gm_matmul(NULL, f->type, w, rows, n, x + v * n, 1, y1 + v * rows, &err),
                         0);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        gm_pool *pl = use_pool ? pool : NULL;
        for (size_t b = 0; b < n_batches; b++) {
            const uint32_t nv = batches[b];
            const uint32_t first = nv < max_nv ? 1 : 0;
            memset(yb, 0xFF, max_nv * rows * sizeof(float));
            assert_int_equal(gm_matmul(pl, f->type, w, rows, n, x + first * n, nv, yb, &err), 0);
            for (uint32_t v = 0; v < nv; v++)
                if (memcmp(y1 + (first + v) * rows, yb + v * rows, rows * sizeof(float)) != 0)
                    fail_msg("%s (path %s), %llu rows: vector %u alone differs from its place "
                             "%u in a batch of %u (%u threads)",
                             f->name, gm_cpu_path_name(), (unsigned long long)rows, first + v,
                             v, nv, use_pool ? 3 : 1);
        }
    }
    free(w);
    free(x);
    free(yb);
    free(y1);
}

/* Batch invariance: a vector's matmul output does not depend on the other
 * vectors of its batch (each vector alone gives the bits it gets in
 * batches of 1..9, 16 and 33 vectors, which the tile kernels cut into
 * groups of up to 4 in different ways, on 1 and on 3 threads, for row
 * counts that are and are not multiples of the tiles' rows), for every
 * format; the float formats' rows have a step of 8 and 3 single elements
 * after the steps of 32. */
static void test_matmul_batch_invariant(void **state)
{
    (void)state;
    tk_rng r = {777};
    static const uint64_t row_counts[] = {37, 5};
    static const uint32_t batches[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33};
    const uint64_t cols = 1024 + 32 * 3; /* 35 Q8_0 blocks: an odd one at the end */
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        const uint64_t n = f->qk == 1 ? cols + 8 + 3 : cols % f->qk == 0 ? cols : 1024;
        for (size_t rc = 0; rc < sizeof row_counts / sizeof row_counts[0]; rc++)
            tk_check_batch_invariance(&r, f, row_counts[rc], n, batches,
                                      sizeof batches / sizeof batches[0], 33, pool);
    }
    gm_pool_destroy(pool);
}

/* Every tile kernel of every path this CPU has gives each (row, vector)
 * exactly the bits of that path's one-vector dot. */
static void test_tiles_match_single(void **state)
{
    (void)state;
    tk_rng r = {4711};
    int n_checked = 0;
    for (size_t p = 0; p < 3; p++) {
        if (!gm_cpu_path_supported(tk_paths[p]))
            continue;
        for (size_t t = 0; t < TK_NFMT; t++) {
            const tk_fmt *f = &tk_formats[t];
            const gm_tiles *tl = gm_tiles_for_path(tk_paths[p], f->type);
            if (tl == NULL)
                continue;
            gm_dot_fn dot = gm_dot_for_path(tk_paths[p], f->type);
            assert_non_null(dot);
            assert_true(tl->rows >= 1 && tl->vecs >= 1 && tl->vecs <= GM_TILE_MAX_VECS);
            const uint64_t n = f->qk == 32 ? 2304 + 32 : 2304; /* odd Q8_0 block count */
            const uint64_t row_bytes = n / f->qk * f->bytes;
            const uint32_t rows = tl->rows;
            uint8_t *w = tk_make_weights(&r, f, rows, n);
            const size_t ab = gm_act_bytes(f->type, n);
            uint8_t *xq = malloc(GM_TILE_MAX_VECS * ab);
            float *x = malloc(n * sizeof(float));
            assert_non_null(xq);
            assert_non_null(x);
            for (int v = 0; v < GM_TILE_MAX_VECS; v++) {
                tk_fill(&r, x, n, v == 2 ? 1e-3f : 1.0f);
                assert_int_equal(gm_act_convert(f->type, x, xq + v * ab, n), 0);
            }
            for (uint32_t nv = 1; nv <= tl->vecs; nv++) {
                for (int wide = 0; wide < 2; wide++) {
                    const uint32_t nr = wide ? rows : 1;
                    float y[GM_TILE_MAX_VECS * 16];
                    assert_true(nr <= 16);
                    (wide ? tl->wide : tl->one)[nv - 1](n, w, row_bytes, xq, ab, y, nr);
                    for (uint32_t v = 0; v < nv; v++)
                        for (uint32_t i = 0; i < nr; i++) {
                            const float one = dot(n, w + i * row_bytes, xq + v * ab);
                            if (memcmp(&one, &y[v * nr + i], sizeof one) != 0)
                                fail_msg("%s path %s: tile %ux%u, row %u vector %u: %.9g, "
                                         "dot %.9g",
                                         f->name, tk_path_names[p], nr, nv, i, v,
                                         (double)y[v * nr + i], (double)one);
                        }
                    n_checked++;
                }
            }
            free(w);
            free(xq);
            free(x);
        }
    }
    print_message("# tile kernels checked: %d\n", n_checked);
    if (gm_cpu_has_avx512())
        assert_true(n_checked >= 3 * 4 * 2);
}

/* gm_matmul_many: parts of mixed formats (sharing and not sharing an
 * activation format) in one pool pass give each part exactly the bits of
 * gm_matmul on that part alone, for 1..9 vectors, 1 and 3 threads. */
static void test_matmul_many_matches_single(void **state)
{
    (void)state;
    tk_rng r = {6161};
    const uint64_t cols = 768;
    /* q4_K and q6_K share Q8_K, q8_0 and q4_0 share Q8_0, f16 and f32 */
    static const gm_type types[] = {GM_TYPE_Q4_K, GM_TYPE_Q8_0, GM_TYPE_Q6_K,
                                    GM_TYPE_Q4_0, GM_TYPE_F16,  GM_TYPE_F32};
    static const uint64_t rows[] = {37, 16, 5, 0, 19, 9};
    enum { NP = sizeof types / sizeof types[0], MAXV = 9 };
    uint8_t *w[NP];
    float *y[NP], *y1[NP];
    gm_matmul_part parts[NP];
    for (int p = 0; p < NP; p++) {
        const tk_fmt *f = NULL;
        for (size_t t = 0; t < TK_NFMT; t++)
            if (tk_formats[t].type == types[p])
                f = &tk_formats[t];
        assert_non_null(f);
        w[p] = tk_make_weights(&r, f, rows[p] > 0 ? rows[p] : 1, cols);
        y[p] = malloc(MAXV * (rows[p] + 1) * sizeof(float));
        y1[p] = malloc(MAXV * (rows[p] + 1) * sizeof(float));
        assert_non_null(y[p]);
        assert_non_null(y1[p]);
        parts[p] = (gm_matmul_part){types[p], w[p], rows[p], y[p], NULL, NULL};
    }
    float *x = malloc(MAXV * cols * sizeof(float));
    assert_non_null(x);
    tk_fill(&r, x, MAXV * cols, 1.0f);
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    for (int use_pool = 0; use_pool < 2; use_pool++) {
        gm_pool *pl = use_pool ? pool : NULL;
        for (uint32_t nv = 1; nv <= MAXV; nv++) {
            for (int p = 0; p < NP; p++)
                memset(y[p], 0xFF, MAXV * (rows[p] + 1) * sizeof(float));
            assert_int_equal(gm_matmul_many(pl, parts, NP, cols, x, nv, &err), 0);
            for (int p = 0; p < NP; p++) {
                if (rows[p] == 0)
                    continue;
                assert_int_equal(
                    gm_matmul(pl, types[p], w[p], rows[p], cols, x, nv, y1[p], &err), 0);
                if (memcmp(y[p], y1[p], nv * rows[p] * sizeof(float)) != 0)
                    fail_msg("part %d (%s) with %u vectors, %s: differs from gm_matmul", p,
                             gm_type_name(types[p]), nv, use_pool ? "3 threads" : "1 thread");
            }
        }
    }
    /* errors: a bad part is reported, nothing else runs */
    gm_matmul_part bad[2] = {parts[0], {GM_TYPE_Q4_1, w[0], 4, y[0], NULL, NULL}};
    err.msg[0] = '\0';
    assert_int_equal(gm_matmul_many(pool, bad, 2, cols, x, 1, &err), -1);
    assert_non_null(strstr(err.msg, "matmul"));
    assert_int_equal(gm_matmul_many(pool, parts, 2, 100, x, 1, &err), -1); /* not a block multiple */
    assert_int_equal(gm_matmul_many(pool, parts, 2, cols, NULL, 1, &err), -1);
    assert_int_equal(gm_matmul_many(pool, NULL, 2, cols, x, 1, &err), -1);
    assert_int_equal(gm_matmul_many(pool, parts, 0, cols, x, 1, &err), 0);
    gm_pool_destroy(pool);
    for (int p = 0; p < NP; p++) {
        free(w[p]);
        free(y[p]);
        free(y1[p]);
    }
    free(x);
}

/* The AVX-512 kernels with and without VNNI (tiles and panels, on batches
 * that take the panels) give the same bits: a CPU without VNNI computes
 * what this one does. */
static void test_avx512_plain_matches_vnni(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx512_vnni()) {
        print_message("# this CPU has no AVX512-VNNI: nothing to compare\n");
        skip();
    }
    tk_rng r = {5150};
    int n_checked = 0;
    for (size_t t = 0; t < TK_NFMT; t++) {
        const tk_fmt *f = &tk_formats[t];
        const gm_tiles *vn = gm_tiles_avx512(f->type);
        const gm_tiles *pl = gm_tiles_avx512_plain(f->type);
        if (vn == NULL || pl == NULL)
            continue;
        const uint64_t n = f->qk == 32 ? 2304 + 32 : 2304;
        const uint64_t row_bytes = n / f->qk * f->bytes;
        enum { ROWS = 16, NV = 17 };
        uint8_t *w = tk_make_weights(&r, f, ROWS, n);
        const size_t ab = gm_act_bytes(f->type, n);
        uint8_t *xq = malloc(NV * ab);
        float *x = malloc(n * sizeof(float));
        assert_non_null(xq);
        assert_non_null(x);
        for (int v = 0; v < NV; v++) {
            tk_fill(&r, x, n, v == 2 ? 1e-3f : 1.0f);
            assert_int_equal(gm_act_convert(f->type, x, xq + v * ab, n), 0);
        }
        float ya[NV * ROWS], yb[NV * ROWS];
        for (uint32_t nv = 1; nv <= vn->vecs; nv++) {
            vn->one[nv - 1](n, w, row_bytes, xq, ab, ya, ROWS);
            pl->one[nv - 1](n, w, row_bytes, xq, ab, yb, ROWS);
            for (uint32_t v = 0; v < nv; v++)
                if (memcmp(&ya[v * ROWS], &yb[v * ROWS], sizeof(float)) != 0)
                    fail_msg("%s: 1x%u tile, vector %u: vnni %.9g plain %.9g", f->name, nv, v,
                             (double)ya[v * ROWS], (double)yb[v * ROWS]);
        }
        /* the panels of either variant, for a batch and for one vector */
        const gm_panel_fn vpanels[2] = {vn->panel, vn->panel_small};
        const gm_panel_fn ppanels[2] = {pl->panel, pl->panel_small};
        const uint32_t vrows[2] = {vn->panel_rows, vn->panel_small_rows};
        const uint32_t prows[2] = {pl->panel_rows, pl->panel_small_rows};
        const uint32_t nvs[2] = {NV, 1};
        for (int k = 0; k < 2; k++) {
            if (vpanels[k] == NULL || ppanels[k] == NULL)
                continue;
            assert_true(vrows[k] <= ROWS && prows[k] <= ROWS && ROWS % vrows[k] == 0 &&
                        ROWS % prows[k] == 0);
            for (uint32_t r0 = 0; r0 < ROWS; r0 += vrows[k])
                vpanels[k](n, w + r0 * row_bytes, row_bytes, xq, ab, nvs[k], ya + r0, ROWS);
            for (uint32_t r0 = 0; r0 < ROWS; r0 += prows[k])
                ppanels[k](n, w + r0 * row_bytes, row_bytes, xq, ab, nvs[k], yb + r0, ROWS);
            if (memcmp(ya, yb, nvs[k] * ROWS * sizeof(float)) != 0)
                fail_msg("%s: panel kernels (%u vectors): vnni and plain differ", f->name,
                         nvs[k]);
            /* and they agree with the one-vector dot */
            const gm_dot_fn dot = gm_dot_avx512(f->type);
            for (uint32_t v = 0; v < nvs[k]; v++)
                for (uint32_t i = 0; i < ROWS; i++) {
                    const float one = dot(n, w + i * row_bytes, xq + v * ab);
                    if (memcmp(&one, &ya[v * ROWS + i], sizeof one) != 0)
                        fail_msg("%s: panel row %u vector %u: %.9g, dot %.9g", f->name, i, v,
                                 (double)ya[v * ROWS + i], (double)one);
                }
            n_checked++;
        }
        free(w);
        free(xq);
        free(x);
    }
    print_message("# AVX-512 panel kernels compared (vnni, plain, dot): %d\n", n_checked);
}

static void test_cpu_path_names(void **state)
{
    (void)state;
    gm_cpu_path p;
    assert_int_equal(gm_cpu_path_parse("scalar", &p), 0);
    assert_int_equal(p, GM_CPU_SCALAR);
    assert_int_equal(gm_cpu_path_parse("avx2", &p), 0);
    assert_int_equal(p, GM_CPU_AVX2);
    assert_int_equal(gm_cpu_path_parse("avx512", &p), 0);
    assert_int_equal(p, GM_CPU_AVX512);
    assert_int_equal(gm_cpu_path_parse("AVX2", &p), -1);
    assert_int_equal(gm_cpu_path_parse("sse", &p), -1);
    assert_int_equal(gm_cpu_path_parse("", &p), -1);
    assert_true(gm_cpu_path_supported(GM_CPU_SCALAR));
    assert_int_equal(gm_cpu_path_supported(GM_CPU_AVX2), gm_cpu_has_avx2());
    assert_int_equal(gm_cpu_path_supported(GM_CPU_AVX512), gm_cpu_has_avx512());
    if (gm_cpu_has_avx512())
        assert_true(gm_cpu_has_avx2());
    /* the process's path is one the CPU runs, and the name says which */
    cm_err err;
    if (gm_cpu_path_check(&err) == 0) {
        const gm_cpu_path active = gm_cpu_active_path();
        assert_true(gm_cpu_path_supported(active));
        const char *name = gm_cpu_path_name();
        assert_int_equal(strncmp(name, tk_path_names[active], strlen(tk_path_names[active])), 0);
        print_message("# active CPU path: %s\n", name);
    }
}

/* Every panel kernel of every path this CPU has (and of AVX-512 without
 * VNNI) gives each (row, vector) exactly the bits of that path's
 * one-vector dot, for batches of 1..9, 16, 33 and 64 vectors (more than
 * one pass over the blocks) and block counts that do and do not fill the
 * kernels' groups of blocks. */
static void test_panels_match_single(void **state)
{
    (void)state;
    tk_rng r = {9091};
    int n_checked = 0;
    static const uint32_t batches[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 64};
    enum { MAXV = 64 };
    for (size_t p = 0; p < 4; p++) {
        const bool plain = p == 3; /* AVX-512 without VNNI */
        if (!gm_cpu_path_supported(plain ? GM_CPU_AVX512 : tk_paths[p]))
            continue;
        for (size_t t = 0; t < TK_NFMT; t++) {
            const tk_fmt *f = &tk_formats[t];
            const gm_tiles *tl =
                plain ? gm_tiles_avx512_plain(f->type) : gm_tiles_for_path(tk_paths[p], f->type);
            if (tl == NULL)
                continue;
            const gm_dot_fn dot =
                plain ? gm_dot_avx512_plain(f->type) : gm_dot_for_path(tk_paths[p], f->type);
            assert_non_null(dot);
            const gm_panel_fn panels[2] = {tl->panel, tl->panel_small};
            const uint32_t prows[2] = {tl->panel_rows, tl->panel_small_rows};
            /* Q8_0: 73 blocks (an odd one, a partial group of 8), 8 and 3 */
            const uint64_t ns_q[3] = {2304 + 32, 256, 96};
            const uint64_t ns_k[1] = {2304};
            const uint64_t *ns = f->qk == 32 ? ns_q : ns_k;
            const int n_ns = f->qk == 32 ? 3 : 1;
            for (int k = 0; k < 2; k++) {
                if (panels[k] == NULL)
                    continue;
                const uint32_t rows = prows[k];
                assert_true(rows >= 1 && rows <= 64);
                for (int ni = 0; ni < n_ns; ni++) {
                    const uint64_t n = ns[ni];
                    const uint64_t row_bytes = n / f->qk * f->bytes;
                    /* the panel reads rows at w_stride: leave a gap between them */
                    const uint64_t stride = row_bytes + 64;
                    uint8_t *w0 = tk_make_weights(&r, f, rows, n);
                    uint8_t *w = malloc(rows * stride);
                    assert_non_null(w);
                    for (uint32_t i = 0; i < rows; i++)
                        memcpy(w + i * stride, w0 + i * row_bytes, row_bytes);
                    const size_t ab = gm_act_bytes(f->type, n);
                    uint8_t *xq = malloc(MAXV * ab);
                    float *x = malloc(n * sizeof(float));
                    float *y = malloc(MAXV * (rows + 1) * sizeof(float));
                    float *one = malloc(MAXV * rows * sizeof(float));
                    assert_non_null(xq);
                    assert_non_null(x);
                    assert_non_null(y);
                    assert_non_null(one);
                    for (int v = 0; v < MAXV; v++) {
                        tk_fill(&r, x, n, v % 7 == 2 ? 1e-3f : 1.0f);
                        assert_int_equal(gm_act_convert(f->type, x, xq + v * ab, n), 0);
                        for (uint32_t i = 0; i < rows; i++)
                            one[v * rows + i] = dot(n, w + i * stride, xq + v * ab);
                    }
                    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                        const uint32_t nv = batches[b];
                        /* out_stride rows + 1: the panel writes only its rows */
                        memset(y, 0xFF, MAXV * (rows + 1) * sizeof(float));
                        panels[k](n, w, stride, xq, ab, nv, y, rows + 1);
                        for (uint32_t v = 0; v < nv; v++)
                            for (uint32_t i = 0; i < rows; i++)
                                if (memcmp(&one[v * rows + i], &y[v * (rows + 1) + i],
                                           sizeof(float)) != 0)
                                    fail_msg("%s path %s: panel %u rows, %llu columns, batch "
                                             "%u: row %u vector %u: %.9g, dot %.9g",
                                             f->name, plain ? "avx512 plain" : tk_path_names[p],
                                             rows, (unsigned long long)n, nv, i, v,
                                             (double)y[v * (rows + 1) + i],
                                             (double)one[v * rows + i]);
                        for (uint32_t v = 0; v < nv; v++) { /* the gap stays untouched */
                            uint32_t gap;
                            memcpy(&gap, &y[v * (rows + 1) + rows], sizeof gap);
                            if (gap != 0xFFFFFFFFu)
                                fail_msg("%s path %s: panel %u rows, batch %u: wrote past "
                                         "its rows (vector %u)",
                                         f->name, plain ? "avx512 plain" : tk_path_names[p],
                                         rows, nv, v);
                        }
                        n_checked++;
                    }
                    free(w0);
                    free(w);
                    free(xq);
                    free(x);
                    free(y);
                    free(one);
                }
            }
        }
    }
    print_message("# panel kernels checked: %d\n", n_checked);
    if (gm_cpu_has_avx512_vnni()) /* Q8_0 and Q4_K have VNNI panels */
        assert_true(n_checked >= 2 * 12);
}

/* Batch invariance for the formats with panels, at the batch sizes of a
 * prompt: each vector alone gives the bits it gets in batches of 12..65
 * vectors (panels of 16 rows and tiles for the rows left over), row counts
 * that are and are not multiples of 16, on 1 and 3 threads. */
static void test_matmul_batch_invariant_large(void **state)
{
    (void)state;
    tk_rng r = {31337};
    static const gm_type types[] = {GM_TYPE_Q8_0, GM_TYPE_Q4_K};
    static const uint64_t row_counts[] = {53, 32};
    static const uint32_t batches[] = {12, 13, 16, 31, 64, 65};
    cm_err err;
    gm_pool *pool;
    assert_int_equal(gm_pool_create(3, &pool, &err), 0);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const tk_fmt *f = NULL;
        for (size_t t = 0; t < TK_NFMT; t++)
            if (tk_formats[t].type == types[ti])
                f = &tk_formats[t];
        assert_non_null(f);
        const uint64_t n = f->qk == 32 ? 512 + 32 * 5 : 512; /* Q8_0: 21 blocks */
        for (size_t rc = 0; rc < sizeof row_counts / sizeof row_counts[0]; rc++)
            tk_check_batch_invariance(&r, f, row_counts[rc], n, batches,
                                      sizeof batches / sizeof batches[0], 65, pool);
    }
    gm_pool_destroy(pool);
}

/* Q8_0 has the same arithmetic on AVX2 and AVX-512 (exact block sums, one
 * f32 step per block into lane i % 8, the lanes added up in one order):
 * the two paths give the same bits, so a batch computed on one matches a
 * vector computed on the other. */
static void test_q8_0_avx2_avx512_identical(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx512()) {
        print_message("# this CPU has no AVX-512: nothing to compare\n");
        skip();
    }
    tk_rng r = {2718};
    const tk_fmt *f = NULL;
    for (size_t t = 0; t < TK_NFMT; t++)
        if (tk_formats[t].type == GM_TYPE_Q8_0)
            f = &tk_formats[t];
    assert_non_null(f);
    static const uint64_t ns[] = {32, 96, 256, 288, 1536, 2336};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const uint64_t n = ns[k];
        uint8_t *w = tk_make_weights(&r, f, 1, n);
        const size_t ab = gm_act_bytes(f->type, n);
        uint8_t *xq = malloc(ab);
        float *x = malloc(n * sizeof(float));
        assert_non_null(xq);
        assert_non_null(x);
        for (int rep = 0; rep < 8; rep++) {
            tk_fill(&r, x, n, rep == 3 ? 1e-3f : 1.0f);
            assert_int_equal(gm_act_convert(f->type, x, xq, n), 0);
            const float a = gm_dot_for_path(GM_CPU_AVX2, f->type)(n, w, xq);
            const float b = gm_dot_for_path(GM_CPU_AVX512, f->type)(n, w, xq);
            const float c = gm_dot_avx512_plain(f->type)(n, w, xq);
            if (memcmp(&a, &b, sizeof a) != 0 || memcmp(&a, &c, sizeof a) != 0)
                fail_msg("q8_0, %llu columns: avx2 %.9g, avx512 %.9g, avx512 plain %.9g",
                         (unsigned long long)n, (double)a, (double)b, (double)c);
        }
        free(w);
        free(xq);
        free(x);
    }
}

/* Q4_K has the same arithmetic on AVX2 and AVX-512 (exact int32 block
 * sums, then per block one f32 step for the scales and one for the mins,
 * in block order): the two paths give the same bits, for the one-vector
 * and the four-vector dots, so a batch computed on one path matches a
 * vector computed on the other (and the packed kernels, which keep these
 * steps, match both). */
static void test_q4_K_avx2_avx512_identical(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx512()) {
        print_message("# this CPU has no AVX-512: nothing to compare\n");
        skip();
    }
    tk_rng r = {31415};
    const tk_fmt *f = NULL;
    for (size_t t = 0; t < TK_NFMT; t++)
        if (tk_formats[t].type == GM_TYPE_Q4_K)
            f = &tk_formats[t];
    assert_non_null(f);
    static const uint64_t ns[] = {256, 512, 1536, 2304, 4352, 6144};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const uint64_t n = ns[k];
        uint8_t *w = tk_make_weights(&r, f, 1, n);
        const size_t ab = gm_act_bytes(f->type, n);
        uint8_t *xq = malloc(4 * ab);
        float *x = malloc(n * sizeof(float));
        assert_non_null(xq);
        assert_non_null(x);
        for (int rep = 0; rep < 6; rep++) {
            for (int v = 0; v < 4; v++) {
                tk_fill(&r, x, n, rep == 3 && v == 1 ? 1e-3f : 1.0f + (float)v);
                assert_int_equal(gm_act_convert(f->type, x, xq + (size_t)v * ab, n), 0);
            }
            float a4[4], b4[4];
            gm_dot4_for_path(GM_CPU_AVX2, f->type)(n, w, xq, ab, a4);
            gm_dot4_for_path(GM_CPU_AVX512, f->type)(n, w, xq, ab, b4);
            for (int v = 0; v < 4; v++) {
                const uint8_t *xv = xq + (size_t)v * ab;
                const float a = gm_dot_for_path(GM_CPU_AVX2, f->type)(n, w, xv);
                const float b = gm_dot_for_path(GM_CPU_AVX512, f->type)(n, w, xv);
                const float c = gm_dot_avx512_plain(f->type)(n, w, xv);
                if (memcmp(&a, &b, sizeof a) != 0 || memcmp(&a, &c, sizeof a) != 0 ||
                    memcmp(&a, &a4[v], sizeof a) != 0 || memcmp(&a, &b4[v], sizeof a) != 0)
                    fail_msg("q4_K, %llu columns, vector %d: avx2 %.9g, avx512 %.9g, avx512 "
                             "plain %.9g, avx2 x4 %.9g, avx512 x4 %.9g",
                             (unsigned long long)n, v, (double)a, (double)b, (double)c,
                             (double)a4[v], (double)b4[v]);
            }
        }
        free(w);
        free(xq);
        free(x);
    }
}

/* Q6_K: the AVX2 dot and four-vector dot give the bits of the AVX-512
 * ones (with and without VNNI): the same exact int32 block sums and the
 * same f32 step per block. Rows of different scales, activations of very
 * different sizes, and blocks at the edges of the value ranges. */
static void test_q6_K_avx2_avx512_identical(void **state)
{
    (void)state;
    if (!gm_cpu_has_avx512()) {
        print_message("# this CPU has no AVX-512: nothing to compare\n");
        skip();
    }
    tk_rng r = {3141};
    const tk_fmt *f = NULL;
    for (size_t t = 0; t < TK_NFMT; t++)
        if (tk_formats[t].type == GM_TYPE_Q6_K)
            f = &tk_formats[t];
    assert_non_null(f);
    const gm_dot4_fn dot4_a = gm_dot4_for_path(GM_CPU_AVX2, f->type);
    const gm_dot4_fn dot4_b = gm_dot4_for_path(GM_CPU_AVX512, f->type);
    assert_non_null(dot4_a);
    assert_non_null(dot4_b);
    static const uint64_t ns[] = {256, 512, 1536, 2304, 6144};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const uint64_t n = ns[k];
        const size_t ab = gm_act_bytes(f->type, n);
        uint8_t *xq = malloc(4 * ab);
        float *x = malloc(n * sizeof(float));
        assert_non_null(xq);
        assert_non_null(x);
        for (int rep = 0; rep < 8; rep++) {
            uint8_t *w = tk_make_weights(&r, f, 1, n);
            if (rep == 5) { /* q 0 and 63, scales -128 and 127 */
                gm_block_q6_K *b = (gm_block_q6_K *)(void *)w;
                for (uint64_t i = 0; i < n / 256; i++) {
                    memset(b[i].ql, i % 2 ? 0xFF : 0x00, sizeof b[i].ql);
                    memset(b[i].qh, i % 2 ? 0xFF : 0x00, sizeof b[i].qh);
                    for (int j = 0; j < 16; j++)
                        b[i].scales[j] = (int8_t)(j % 2 ? -128 : 127);
                }
            }
            for (int v = 0; v < 4; v++) {
                tk_fill(&r, x, n, rep == 3 ? 1e-3f : (float)(v + 1));
                assert_int_equal(gm_act_convert(f->type, x, xq + (size_t)v * ab, n), 0);
            }
            const float a = gm_dot_for_path(GM_CPU_AVX2, f->type)(n, w, xq);
            const float b = gm_dot_for_path(GM_CPU_AVX512, f->type)(n, w, xq);
            const float c = gm_dot_avx512_plain(f->type)(n, w, xq);
            if (memcmp(&a, &b, sizeof a) != 0 || memcmp(&a, &c, sizeof a) != 0)
                fail_msg("q6_K, %llu columns: avx2 %.9g, avx512 %.9g, avx512 plain %.9g",
                         (unsigned long long)n, (double)a, (double)b, (double)c);
            float a4[4], b4[4];
            dot4_a(n, w, xq, ab, a4);
            dot4_b(n, w, xq, ab, b4);
            for (int v = 0; v < 4; v++)
                if (memcmp(&a4[v], &b4[v], sizeof a4[v]) != 0)
                    fail_msg("q6_K, %llu columns, four vectors, vector %d: avx2 %.9g, "
                             "avx512 %.9g",
                             (unsigned long long)n, v, (double)a4[v], (double)b4[v]);
            free(w);
        }
        free(xq);
        free(x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_covers_every_index_once),
        cmocka_unit_test(test_pool_concurrent_callers),
        cmocka_unit_test(test_pool_stalled_thread),
        cmocka_unit_test(test_pool_nested_run),
        cmocka_unit_test(test_pool_bad_thread_counts),
        cmocka_unit_test(test_vec_dot_types),
        cmocka_unit_test(test_act_q8_0_rounding),
        cmocka_unit_test(test_act_convert_formats),
        cmocka_unit_test(test_act_nonfinite),
        cmocka_unit_test(test_vec_dot_matches_double_reference),
        cmocka_unit_test(test_vec_dot_close_to_exact),
        cmocka_unit_test(test_avx2_matches_scalar),
        cmocka_unit_test(test_dot4_matches_single),
        cmocka_unit_test(test_vec_dot_bad_input),
        cmocka_unit_test(test_matmul_threads_identical),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_paths_match_scalar),
        cmocka_unit_test(test_dot4_matches_single_all_paths),
        cmocka_unit_test(test_matmul_batch_invariant),
        cmocka_unit_test(test_tiles_match_single),
        cmocka_unit_test(test_avx512_plain_matches_vnni),
        cmocka_unit_test(test_matmul_many_matches_single),
        cmocka_unit_test(test_cpu_path_names),
        cmocka_unit_test(test_panels_match_single),
        cmocka_unit_test(test_matmul_batch_invariant_large),
        cmocka_unit_test(test_q8_0_avx2_avx512_identical),
        cmocka_unit_test(test_q4_K_avx2_avx512_identical),
        cmocka_unit_test(test_q6_K_avx2_avx512_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
