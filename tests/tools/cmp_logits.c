/*
 * tests/tools/cmp_logits.c -- compare two logits files (float32
 * [rows][vocab], as written by `gemma-run logits` and tests/ref/ref_logits)
 * for the parity tests.
 *
 * usage: cmp_logits REF.f32 OURS.f32 N_VOCAB [--max-err X] [--median-err X]
 *                   [--argmax-frac F] [--loose-from ROW --loose-err Y]
 *
 * Per row: err = max|ours - ref| / max|ref|, and whether the argmax agrees
 * (rows whose reference top-2 gap is under 1e-3 of max|ref| count as
 * agreeing: either answer is right). Prints one line,
 *   rows N min A median B p90 C max D argmax K/N
 * and exits 0 when every row's err <= max-err (if given), the median <=
 * median-err (if given) and the argmax agrees on at least argmax-frac of
 * the rows (default 1.0). With --loose-from, rows from ROW on need only
 * err <= loose-err (used after an MoE routing near-tie, where another
 * expert choice is as right as the reference's). Exit 1 on failure, 2 on
 * usage or I/O errors.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_all(const char *path, size_t *n_floats)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    float *buf = malloc(cap * sizeof(float));
    while (buf != NULL) {
        if (n == cap) {
            float *bigger = realloc(buf, 2 * cap * sizeof(float));
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, sizeof(float), cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *n_floats = n;
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: cmp_logits REF.f32 OURS.f32 N_VOCAB [--max-err X] [--median-err X] [--argmax-frac F]\n");
        return 2;
    }
    double max_err = -1, median_err = -1, argmax_frac = 1.0, loose_err = -1;
    long loose_from = -1;
    long n_vocab = strtol(argv[3], NULL, 10);
    for (int i = 4; i + 1 < argc; i += 2) {
        double v = strtod(argv[i + 1], NULL);
        if (strcmp(argv[i], "--max-err") == 0)
            max_err = v;
        else if (strcmp(argv[i], "--median-err") == 0)
            median_err = v;
        else if (strcmp(argv[i], "--argmax-frac") == 0)
            argmax_frac = v;
        else if (strcmp(argv[i], "--loose-from") == 0)
            loose_from = (long)v;
        else if (strcmp(argv[i], "--loose-err") == 0)
            loose_err = v;
        else {
            fprintf(stderr, "cmp_logits: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    size_t nr, no;
    float *ref = read_all(argv[1], &nr);
    float *ours = read_all(argv[2], &no);
    if (ref == NULL || ours == NULL || n_vocab <= 1) {
        fprintf(stderr, "cmp_logits: cannot read the inputs\n");
        return 2;
    }
    if (nr != no || nr == 0 || nr % (size_t)n_vocab != 0) {
        fprintf(stderr, "cmp_logits: sizes differ or are not whole rows: %zu and %zu floats, vocab %ld\n",
                nr, no, n_vocab);
        return 2;
    }
    const size_t rows = nr / (size_t)n_vocab;
    double *errs = malloc(rows * sizeof(double));
    size_t agree = 0, worst_row = 0;
    bool row_fail = false;
    int non_finite = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *a = ref + r * n_vocab, *b = ours + r * n_vocab;
        double amax = 0, dmax = 0;
        long ia = 0, ib = 0, second = -1;
        for (long j = 0; j < n_vocab; j++) {
            if (!isfinite(a[j]) || !isfinite(b[j]))
                non_finite++;
            amax = fmax(amax, fabs(a[j]));
            dmax = fmax(dmax, fabs((double)a[j] - b[j]));
            if (a[j] > a[ia])
                ia = j;
            if (b[j] > b[ib])
                ib = j;
        }
        for (long j = 0; j < n_vocab; j++)
            if (j != ia && (second < 0 || a[j] > a[second]))
                second = j;
        errs[r] = amax > 0 ? dmax / amax : dmax;
        if (!isfinite(errs[r]))
            errs[r] = INFINITY;
        if (errs[r] > errs[worst_row])
            worst_row = r;
        const bool loose = loose_from >= 0 && (long)r >= loose_from;
        const double limit = loose ? loose_err : max_err;
        if (limit >= 0 && errs[r] > limit)
            row_fail = true;
        bool tie = second >= 0 && (double)a[ia] - a[second] < 1e-3 * amax;
        if (ia == ib || (tie && ib == second))
            agree++;
    }
    const double worst = errs[worst_row];
    qsort(errs, rows, sizeof(double), cmp_double);
    const double med = errs[rows / 2], p90 = errs[(size_t)(0.9 * (rows - 1))];
    printf("rows %zu min %.3g median %.3g p90 %.3g max %.3g (row %zu) argmax %zu/%zu%s\n", rows,
           errs[0], med, p90, worst, worst_row, agree, rows,
           non_finite ? " NON-FINITE VALUES" : "");
    int ok = non_finite == 0 && !row_fail
             && (median_err < 0 || med <= median_err) && (double)agree >= argmax_frac * rows;
    free(errs);
    free(ref);
    free(ours);
    return ok ? 0 : 1;
}
