/*
 * engine/cpu/kernels_bench.c -- micro-benchmark of gm_matmul per weight
 * format (not a test; built as a noinst program).
 *
 * Usage: kernels-bench [THREADS [N_VEC [MBYTES [COLS [FORMATS]]]]]
 * For each format it builds a weight matrix of about MBYTES megabytes
 * (default 64, larger than most L3 caches) with COLS columns (default
 * 4096), runs y = W x for N_VEC vectors (default 1) on a pool of THREADS
 * threads (default 1), and prints the wall time per call, the weight
 * bandwidth (GB/s) and the arithmetic rate (GFLOP/s, 2 per weight per
 * vector), and the CPU time per call summed over all threads (on a busy
 * machine the wall figures drop when other processes take the cores).
 * FORMATS, a comma-separated list of format names (e.g. q4_K,q8_0), limits
 * the run to those formats. Q4_K weights are repacked first
 * (engine/cpu/q4k_packed.h; printed as q4_K/p) where the CPU path runs
 * the packed kernels, unless GEMMA_CPU_REPACK=0; Q6_K weights the same
 * way (engine/cpu/q6k_packed.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cpu/dot.h"
#include "engine/cpu/kernels.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/quant/quant.h"

static double bench_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned long bench_arg(int argc, char **argv, int i, unsigned long def)
{
    if (argc <= i)
        return def;
    char *end;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (*end != '\0' || v == 0) {
        fprintf(stderr, "kernels-bench: bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

/* Whether `name` is one of the comma-separated names in `list`. */
static int bench_listed(const char *list, const char *name)
{
    const size_t len = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        const size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return 1;
        p += n + (comma != NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const gm_type types[] = {GM_TYPE_F32,  GM_TYPE_F16,  GM_TYPE_BF16,
                                    GM_TYPE_Q8_0, GM_TYPE_Q4_0, GM_TYPE_Q5_0,
                                    GM_TYPE_Q4_K, GM_TYPE_Q5_K, GM_TYPE_Q6_K};
    const uint32_t threads = (uint32_t)bench_arg(argc, argv, 1, 1);
    const uint32_t n_vec = (uint32_t)bench_arg(argc, argv, 2, 1);
    const uint64_t mbytes = bench_arg(argc, argv, 3, 64);
    const uint64_t cols = bench_arg(argc, argv, 4, 4096);
    if (cols % 256 != 0) {
        fprintf(stderr, "kernels-bench: COLS must be a multiple of 256\n");
        return 2;
    }
    cm_err err;
    gm_pool *pool = NULL;
    if (gm_pool_create(threads, &pool, &err) != 0) {
        fprintf(stderr, "kernels-bench: %s\n", err.msg);
        return 1;
    }
    printf("# threads %u, vectors %u, ~%llu MB of weights, %llu columns, AVX2 %s\n", threads, n_vec,
           (unsigned long long)mbytes, (unsigned long long)cols, gm_cpu_has_avx2() ? "yes" : "no");
    printf("# %-6s %8s %10s %9s %9s %12s %14s\n", "format", "rows", "ms/call", "GB/s", "GFLOP/s",
           "cpu-ms/call", "GFLOP/cpu-s");

    float *row = malloc(cols * sizeof(float));
    float *x = malloc((size_t)n_vec * cols * sizeof(float));
    if (row == NULL || x == NULL)
        return 1;
    srand(1);
    for (uint64_t i = 0; i < cols; i++)
        row[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (uint64_t i = 0; i < n_vec * cols; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;

    const char *only = argc > 5 ? argv[5] : NULL;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        if (only != NULL && !bench_listed(only, gm_type_name(types[t])))
            continue;
        uint64_t row_bytes;
        if (!gm_type_row_bytes(types[t], cols, &row_bytes))
            return 1;
        const uint64_t rows = (mbytes << 20) / row_bytes;
        uint8_t *w = malloc(rows * row_bytes);
        float *y = malloc((size_t)n_vec * rows * sizeof(float));
        if (w == NULL || y == NULL) {
            fprintf(stderr, "kernels-bench: out of memory\n");
            return 1;
        }
        /* one quantized row repeated: the kernels' speed does not depend
         * on the values, and quantizing 64 MB would dominate the run */
        if (gm_quantize_row(types[t], row, w, cols) != 0)
            return 1;
        for (uint64_t r = 1; r < rows; r++)
            memcpy(w + r * row_bytes, w, row_bytes);

        gm_matmul_part part = {types[t], w, rows, y, NULL, NULL};
        gm_q4k_packed *packed = NULL;
        if (types[t] == GM_TYPE_Q4_K && gm_q4k_repack_wanted()) {
            if (gm_q4k_pack(pool, w, rows, cols, &packed, &err) != 0) {
                fprintf(stderr, "kernels-bench: %s\n", err.msg);
                return 1;
            }
            part.packed = packed;
        }
        gm_q6k_packed *packed6 = NULL;
        if (types[t] == GM_TYPE_Q6_K && gm_q6k_repack_wanted()) {
            if (gm_q6k_pack(pool, w, rows, cols, &packed6, &err) != 0) {
                fprintf(stderr, "kernels-bench: %s\n", err.msg);
                return 1;
            }
            part.packed6 = packed6;
        }
        if (gm_matmul_many(pool, &part, 1, cols, x, n_vec, &err) != 0) { /* warm-up */
            fprintf(stderr, "kernels-bench: %s\n", err.msg);
            return 1;
        }
        int iters = 0;
        const double t0 = bench_clock(CLOCK_MONOTONIC);
        const double c0 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
        double t1 = t0;
        while (iters < 3 || t1 - t0 < 1.0) {
            gm_matmul_many(pool, &part, 1, cols, x, n_vec, &err);
            iters++;
            t1 = bench_clock(CLOCK_MONOTONIC);
        }
        const double c1 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
        const double per = (t1 - t0) / iters;
        const double flop = 2.0 * (double)rows * (double)cols * n_vec;
        const double cpu = (c1 - c0) / iters;
        char name[16];
        snprintf(name, sizeof name, "%s%s", gm_type_name(types[t]), packed != NULL || packed6 != NULL ? "/p" : "");
        printf("  %-6s %8llu %10.3f %9.2f %9.2f %12.3f %14.2f\n", name,
               (unsigned long long)rows, per * 1e3, (double)(rows * row_bytes) / per * 1e-9,
               flop / per * 1e-9, cpu * 1e3, flop / cpu * 1e-9);
        gm_q4k_packed_free(packed);
        gm_q6k_packed_free(packed6);
        free(w);
        free(y);
    }
    free(row);
    free(x);
    gm_pool_destroy(pool);
    return 0;
}
