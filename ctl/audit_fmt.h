/*
 * ctl/audit_fmt.h -- how 'gemmactl audit' reads times and prints rows
 * (table, JSON lines, CSV).
 */
#ifndef CTL_AUDIT_FMT_H
#define CTL_AUDIT_FMT_H

#include <stdint.h>
#include <stdio.h>

#include "audit/read.h"

typedef enum ctl_afmt { CTL_AFMT_TABLE, CTL_AFMT_JSONL, CTL_AFMT_CSV } ctl_afmt;

int ctl_afmt_parse(const char *s, ctl_afmt *out);

/* Parses "2026-11-28", "2026-11-28T05:00:00[.ffffff][Z]", "@EPOCH_SECONDS",
 * or an age "90s", "15m", "2h", "7d" (that long before now_us) into UTC
 * microseconds. Returns -1 if malformed. */
int ctl_parse_time(const char *s, int64_t now_us, int64_t *out);

/* "2026-11-28T05:00:00.123456Z" */
void ctl_format_time(int64_t us, char *out, size_t cap);

/* Prints the header (table, CSV) before the first row. */
void ctl_print_header(FILE *out, ctl_afmt fmt);
int ctl_print_row(FILE *out, ctl_afmt fmt, const au_row *row);

#endif
