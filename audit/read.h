/*
 * audit/read.h -- reading the audit log without the writer: filtered
 * queries (gemmactl audit tail/query), rows as JSON, offline export, and
 * verification of the hash chain and the signed checkpoints, either of a
 * database or of an export file.
 *
 * All functions open the database read-only and may run while gemmad
 * writes to it.
 */
#ifndef AU_READ_H
#define AU_READ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/canon.h"
#include "common/err.h"

/* ---- queries ---- */

typedef struct au_filter {
    bool has_since, has_until;
    int64_t since_us, until_us;   /* UTC microseconds, inclusive / exclusive */
    const char *principal;        /* subject DN substring, fingerprint or serial */
    const char *role, *model, *event, *decision;
    int64_t limit;                /* 0 = all */
    bool last;                    /* the last `limit` rows (still oldest first) */
    bool has_after;
    int64_t after_seq;            /* only rows with seq > after_seq (paging) */
} au_filter;

/* Called for each row, oldest first; returning -1 stops the query. */
typedef int (*au_row_fn)(void *user, const au_row *row, cm_err *err);

int au_query(const char *db_path, const au_filter *f, au_row_fn fn, void *user, cm_err *err);

/* The row as a JSON object (column name -> value; BLOBs as hex; "hash"
 * added when with_hash). NULL on allocation failure or text that is not
 * UTF-8. */
json_t *au_row_to_json(const au_row *row, bool with_hash);

/* Writes the whole log to `out_path` as JSON lines: a header, every row
 * (with its hash) and every checkpoint. Verifiable with au_verify_export. */
int au_export(const char *db_path, const char *out_path, int64_t *rows_out, cm_err *err);

/* One page of the export, for readers that reach the log only through
 * gemmad. *out = {"header": the export's header line, "upto": SEQ,
 * "rows": [event lines with after < seq <= upto, oldest first],
 * "more": whether rows remain after these, "checkpoints": [checkpoint lines
 * with seq <= upto; only on the last page, else []]}, read in one snapshot.
 * The lines are the objects au_export writes. upto < 0 means the log's
 * head now; a page stops at `limit` rows (> 0) or once the rows' stored
 * bytes pass max_bytes (at least one row). Concatenating the header, every
 * page's rows and the last page's checkpoints gives a file that
 * au_verify_export checks, as long as chain_start_seq stayed the same
 * (a rotation in between changes it). */
int au_export_page(const char *db_path, int64_t after, int64_t upto, int64_t limit,
                   size_t max_bytes, json_t **out, cm_err *err);

/* ---- verification ---- */

typedef struct au_verify_opts {
    const char *pubkey_path;      /* pin the signing key; NULL = keys stored in the log */
    const char *checkpoints_path; /* extra checkpoints (JSON lines); NULL = "<db>.checkpoints"
                                     when it exists (databases only) */
} au_verify_opts;

typedef struct au_verify_result {
    bool ok;
    int64_t rows, checkpoints;    /* rows walked, checkpoints checked */
    int64_t first_seq, last_seq;  /* of the rows walked (last < first when none) */
    int64_t bad_seq;              /* first bad row, -1 if none */
    int64_t unsealed_rows;        /* rows after the last checkpoint */
    bool pinned;                  /* signatures checked against pubkey_path */
    char problem[CM_ERR_MAX];     /* the first problem, "" if ok */
} au_verify_result;

/* Return -1 only when verification could not run (file unreadable, not an
 * audit log); a tampered log returns 0 with res->ok false. */
int au_verify_db(const char *db_path, const au_verify_opts *o, au_verify_result *res, cm_err *err);
int au_verify_export(const char *path, const au_verify_opts *o, au_verify_result *res,
                     cm_err *err);
/* The same on an open, seekable stream; `name` is used in messages. */
int au_verify_export_stream(FILE *f, const char *name, const au_verify_opts *o,
                            au_verify_result *res, cm_err *err);

#endif
