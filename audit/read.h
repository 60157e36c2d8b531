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
    int64_t probe_seq;            /* > 0: report the chain hash after this row (probe_hash) */
} au_verify_opts;

typedef struct au_verify_result {
    bool ok;
    int64_t rows, checkpoints;    /* rows walked, checkpoints checked */
    int64_t first_seq, last_seq;  /* of the rows walked (last < first when none) */
    int64_t bad_seq;              /* first bad row, -1 if none */
    int64_t unsealed_rows;        /* rows after the last checkpoint */
    bool pinned;                  /* signatures checked against pubkey_path */
    char problem[CM_ERR_MAX];     /* the first problem, "" if ok */
    /* Where the chain stands, to check several logs as a set. */
    int64_t start_seq;            /* the log's first seq (after a rotation > 1) */
    unsigned char start_prev[AU_HASH_LEN]; /* the chain hash before start_seq */
    unsigned char head[AU_HASH_LEN];       /* the chain hash after the last row walked */
    char key_id[65];              /* the pinned key's id, or the first key the log lists;
                                     "" = none */
    bool has_probe;               /* opts.probe_seq was walked: */
    unsigned char probe_hash[AU_HASH_LEN]; /* the chain hash after that row */
} au_verify_result;

/* Return -1 only when verification could not run (file unreadable, not an
 * audit log); a tampered log returns 0 with res->ok false. */
int au_verify_db(const char *db_path, const au_verify_opts *o, au_verify_result *res, cm_err *err);
int au_verify_export(const char *path, const au_verify_opts *o, au_verify_result *res,
                     cm_err *err);
/* The same on an open, seekable stream; `name` is used in messages. */
int au_verify_export_stream(FILE *f, const char *name, const au_verify_opts *o,
                            au_verify_result *res, cm_err *err);

/* ---- several exports as a set (audit/verify_set.c) ---- */

/* One export of the set: its path and options in; its result out. */
typedef struct au_set_member {
    const char *path;
    au_verify_opts opts;
    au_verify_result res;
    bool read;                    /* it could be read (else `error` says why) */
    char error[CM_ERR_MAX];
    size_t instance;              /* index into au_set_result.instances */
} au_set_member;

/* The exports that share a signing key: one gemmad's chain. */
typedef struct au_set_instance {
    char key_id[65];              /* "" = the export lists no key */
    int64_t first_seq, last_seq;  /* rows the set holds of this chain */
    int64_t rows;                 /* distinct rows (overlaps counted once) */
    int64_t missing;              /* rows between its exports that none holds */
    size_t n_members;
} au_set_instance;

#define AU_SET_MAX 256

typedef struct au_set_result {
    bool ok;                      /* every export verifies and the chains agree */
    size_t n_instances;
    au_set_instance instances[AU_SET_MAX];
    int64_t rows;                 /* distinct rows over all instances */
    char problem[CM_ERR_MAX];     /* the first problem of the set as a whole, "" if none */
    char note[CM_ERR_MAX];        /* the first gap between exports of one chain, "" if none */
} au_set_result;

/* Verifies each of the n (<= AU_SET_MAX) exports on its own (its own
 * key, or the keys it lists), groups them by signing key into instances,
 * and checks that exports of one instance agree where they overlap and
 * link where one continues another (a rotation's archive and the live
 * log). Returns -1 only for bad arguments or out of memory. */
int au_verify_export_set(au_set_member *m, size_t n, au_set_result *out, cm_err *err);

#endif
