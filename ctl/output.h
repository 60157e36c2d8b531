/*
 * ctl/output.h -- how gemmactl's daemon commands print: aligned tables,
 * pretty JSON for --json, durations and sizes for people, and a spinner
 * on stderr while waiting (drawn only when stdout and stderr are
 * terminals, so scripts and logs get none of it).
 */
#ifndef CTL_OUTPUT_H
#define CTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define CTL_TABLE_COLS 8

typedef struct ctl_table {
    size_t n_cols;
    const char *titles[CTL_TABLE_COLS];
    char **cells; /* n_rows * n_cols strings */
    size_t n_rows, cap_rows;
    bool failed;  /* out of memory while adding (printing says so) */
} ctl_table;

void ctl_table_init(ctl_table *t, size_t n_cols, const char *const *titles);
/* Add one row of n_cols strings (NULL prints as "-"). */
void ctl_table_row(ctl_table *t, const char *const *cells);
/* Print with the columns aligned; returns -1 if a row was lost. */
int ctl_table_print(const ctl_table *t, FILE *out);
void ctl_table_free(ctl_table *t);

/* Print `o` as indented JSON with a final newline; returns -1 on failure. */
int ctl_print_json(const json_t *o, FILE *out);

/* "45.2s", "12m 05s", "3h 04m", "2d 03h". */
void ctl_fmt_duration(double seconds, char *out, size_t n);
/* "512 B", "1.5 KiB", "4.00 GiB". */
void ctl_fmt_bytes(uint64_t bytes, char *out, size_t n);

typedef struct ctl_spinner {
    bool enabled;
    unsigned frame;
    double start;
    bool drawn;
} ctl_spinner;

void ctl_spinner_init(ctl_spinner *s);
/* Redraw "/ label (3.2 s)"; call it every ~100 ms. */
void ctl_spinner_tick(ctl_spinner *s, const char *label);
/* Clear the spinner line. */
void ctl_spinner_end(ctl_spinner *s);
/* Seconds since ctl_spinner_init (monotonic clock). */
double ctl_spinner_elapsed(const ctl_spinner *s);

#endif
