/*
 * bench/membw.c -- this machine's memory read bandwidth, for the decode
 * roofline in bench/engine_vs_ref.sh (weight bytes read per token /
 * bandwidth = the fastest a memory-bound decode step can be).
 *
 * THREADS threads each sum their share of a buffer of MIB MiB (default
 * 1024: far larger than the caches) with 64-bit loads the compiler
 * vectorizes; the best of REPS passes is printed as "read GB/s: X".
 * Built at run time by the script with -O3 -march=native (never part of
 * the build).
 *   usage: membw [THREADS [MIB [REPS]]]
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mb_part {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} mb_part;

static void *mb_read(void *arg)
{
    mb_part *part = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= part->n; i += 4) {
        s0 += part->p[i];
        s1 += part->p[i + 1];
        s2 += part->p[i + 2];
        s3 += part->p[i + 3];
    }
    for (; i < part->n; i++)
        s0 += part->p[i];
    part->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    const int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (threads < 1 || threads > 256 || mib < 1 || reps < 1) {
        fprintf(stderr, "usage: membw [THREADS [MIB [REPS]]]\n");
        return 2;
    }
    const size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = malloc(n * sizeof(uint64_t));
    mb_part *parts = calloc((size_t)threads, sizeof(*parts));
    pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
    if (buf == NULL || parts == NULL || tid == NULL) {
        fprintf(stderr, "membw: out of memory for %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = i;
    double best = 0;
    uint64_t check = 0;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (int t = 0; t < threads; t++) {
            parts[t].p = buf + n / (size_t)threads * (size_t)t;
            parts[t].n = t == threads - 1 ? n - n / (size_t)threads * (size_t)t
                                          : n / (size_t)threads;
            if (pthread_create(&tid[t], NULL, mb_read, &parts[t]) != 0) {
                fprintf(stderr, "membw: cannot start a thread\n");
                return 1;
            }
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            check += parts[t].sum;
        }
        const double dt = now() - t0;
        const double gbs = (double)(n * sizeof(uint64_t)) / dt / 1e9;
        best = gbs > best ? gbs : best;
    }
    printf("read GB/s: %.2f (threads %d, %zu MiB, best of %d; checksum %llu)\n", best, threads,
           mib, reps, (unsigned long long)(check & 0xffff));
    free(buf);
    free(parts);
    free(tid);
    return 0;
}
