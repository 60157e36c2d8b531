/*
 * ctl/audit_remote.h -- 'gemmactl audit' through gemmad (the default): the
 * audit routes of gemmad(8) over mutual TLS, paging through long answers,
 * and gemmad's JSON rows turned back into rows for ctl/audit_fmt.c.
 *
 * Each function prints what it got (or why it failed, as "gemmactl audit
 * SUB: ...") and returns gemmactl's exit code: 0 ok, 1 error (or a log
 * that does not verify), 3 denied by policy, 4 gemmad unreachable.
 */
#ifndef CTL_AUDIT_REMOTE_H
#define CTL_AUDIT_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/read.h"
#include "ctl/audit_fmt.h"
#include "ctl/client.h"

/* Rows gemmad answers at most per request (its limit). */
#define CTL_AUDIT_PAGE_MAX 10000

/* A row as gemmad sends it (au_row_to_json with the hash) back into
 * *row. Text values borrow from `o`; BLOB values and nothing else are
 * decoded into *buf (malloc'ed, the caller frees it, also on failure). */
int ctl_audit_row_from_json(const json_t *o, au_row *row, unsigned char **buf, cm_err *err);

/* Where the rows go: printed in `fmt` as they come, or collected into
 * `collect` (a JSON array) for --json. */
typedef struct ctl_audit_sink {
    ctl_afmt fmt;
    json_t *collect;            /* NULL: print */
    int64_t rows;               /* rows so far */
} ctl_audit_sink;

/* One row into the sink; -1 (err) when it cannot be printed. */
int ctl_audit_sink_row(ctl_audit_sink *s, const au_row *row, cm_err *err);

/* tail (f->last, f->limit rows, at most CTL_AUDIT_PAGE_MAX) and query
 * (f->limit rows, 0 = all, paged): rows matching `f` into `sink`. */
int ctl_audit_remote_read(ctl_client *c, const char *sub, const au_filter *f,
                          ctl_audit_sink *sink);
/* Print a verification as "OK WHAT: N rows (A..B), K signed checkpoints
 * HOW" or "FAILED WHAT: problem" and "first bad row: N"; returns 0 or 1. */
int ctl_audit_print_verify(const char *what, const au_verify_result *r, const char *how);
/* The same as JSON, in the shape of gemmad's answer (--json). */
json_t *ctl_audit_verify_json(const char *what, const au_verify_result *r);

/* gemmad checks its own log; prints OK/FAILED (or its JSON answer). */
int ctl_audit_remote_verify(ctl_client *c, bool as_json);
/* The export, page by page, into a new file `out_path`. */
int ctl_audit_remote_export(ctl_client *c, const char *out_path);
/* gemmad archives its log into `archive` (a bare file name beside the
 * log; NULL: gemmad names it). */
int ctl_audit_remote_rotate(ctl_client *c, const char *archive, bool as_json);

#endif
