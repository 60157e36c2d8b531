/*
 * ctl/output.c -- tables, JSON, durations, sizes and the wait spinner of
 * gemmactl's daemon commands (see output.h).
 */
#include "ctl/output.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ctl_table_init(ctl_table *t, size_t n_cols, const char *const *titles)
{
    memset(t, 0, sizeof(*t));
    t->n_cols = n_cols > CTL_TABLE_COLS ? CTL_TABLE_COLS : n_cols;
    for (size_t i = 0; i < t->n_cols; i++)
        t->titles[i] = titles[i];
}

void ctl_table_row(ctl_table *t, const char *const *cells)
{
    if (t->failed)
        return;
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 8;
        char **p = realloc(t->cells, cap * t->n_cols * sizeof(*p));
        if (p == NULL) {
            t->failed = true;
            return;
        }
        t->cells = p;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->n_rows * t->n_cols;
    for (size_t i = 0; i < t->n_cols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (row[i] == NULL) {
            for (size_t k = 0; k < i; k++)
                free(row[k]);
            t->failed = true;
            return;
        }
    }
    t->n_rows++;
}

int ctl_table_print(const ctl_table *t, FILE *out)
{
    size_t w[CTL_TABLE_COLS];
    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = strlen(t->titles[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t l = strlen(t->cells[r * t->n_cols + c]);
            if (l > w[c])
                w[c] = l;
        }
    }
    for (size_t r = 0; r <= t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *s = r == 0 ? t->titles[c] : t->cells[(r - 1) * t->n_cols + c];
            if (c + 1 == t->n_cols)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
    }
    if (t->failed) {
        fprintf(stderr, "gemmactl: out of memory: some rows are missing\n");
        return -1;
    }
    return 0;
}

void ctl_table_free(ctl_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_rows = t->cap_rows = 0;
}

int ctl_print_json(const json_t *o, FILE *out)
{
    if (json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
        return -1;
    fputc('\n', out);
    return 0;
}

void ctl_fmt_duration(double seconds, char *out, size_t n)
{
    if (!(seconds >= 0))
        seconds = 0;
    if (seconds < 60) {
        snprintf(out, n, "%.1fs", seconds);
        return;
    }
    unsigned long long s = (unsigned long long)seconds;
    unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d > 0)
        snprintf(out, n, "%llud %02lluh", d, h);
    else if (h > 0)
        snprintf(out, n, "%lluh %02llum", h, m);
    else
        snprintf(out, n, "%llum %02llus", m, sec);
}

void ctl_fmt_bytes(uint64_t bytes, char *out, size_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, n, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ctl_spinner_init(ctl_spinner *s)
{
    memset(s, 0, sizeof(*s));
    s->enabled = isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1;
    s->start = mono_now();
}

void ctl_spinner_tick(ctl_spinner *s, const char *label)
{
    static const char *const frames[] = {"|", "/", "-", "\\"};
    if (!s->enabled)
        return;
    fprintf(stderr, "\r\033[K%s %s (%.1f s)", frames[s->frame++ % 4], label,
            mono_now() - s->start);
    fflush(stderr);
    s->drawn = true;
}

void ctl_spinner_end(ctl_spinner *s)
{
    if (s->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    s->drawn = false;
}

double ctl_spinner_elapsed(const ctl_spinner *s)
{
    return mono_now() - s->start;
}
