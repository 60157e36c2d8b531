/*
 * audit/query.c -- filtered reading of the audit log, rows as JSON, and the
 * JSON-lines export, whole (a file) or page by page (gemmad's export
 * route) (read.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/db.h"
#include "audit/read.h"

json_t *au_row_to_json(const au_row *row, bool with_hash)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    for (int c = 0; c < AU_NCOLS; c++) {
        const au_value *v = &row->v[c];
        json_t *j = NULL;
        switch (v->t) {
        case AU_V_NULL:
            j = json_null();
            break;
        case AU_V_INT:
            j = json_integer(v->i);
            break;
        case AU_V_REAL:
            j = json_real(v->r);
            break;
        case AU_V_BYTES:
            if (au_columns[c].type == AU_COL_BLOB) {
                char *hex = malloc(2 * v->n + 1);
                if (hex != NULL) {
                    au_hex(v->p, v->n, hex);
                    j = json_string(hex);
                    free(hex);
                }
            } else {
                j = json_stringn((const char *)v->p, v->n);
            }
            break;
        }
        if (j == NULL || json_object_set_new(o, au_columns[c].name, j) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    if (with_hash) {
        char hex[2 * AU_HASH_LEN + 1] = "";
        if (row->has_hash)
            au_hex(row->hash, AU_HASH_LEN, hex);
        if (json_object_set_new(o, "hash", json_string(hex)) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The filter's conditions: ?1 since, ?2 until, ?3 principal, ?4 role,
 * ?5 model, ?6 event, ?7 decision, ?9 after seq (NULL: no condition);
 * ?8 is left to the query (a limit, or the first seq). */
#define FILTER_WHERE                                                                     \
    "(?1 IS NULL OR time_us >= ?1)"                                                      \
    " AND (?2 IS NULL OR time_us < ?2)"                                                  \
    " AND (?3 IS NULL OR instr(subject_dn, ?3) > 0 OR cert_fingerprint = lower(?3)"      \
    "      OR cert_serial = lower(?3))"                                                  \
    " AND (?4 IS NULL OR role = ?4) AND (?5 IS NULL OR model = ?5)"                      \
    " AND (?6 IS NULL OR event = ?6) AND (?7 IS NULL OR decision = ?7)"                  \
    " AND (?9 IS NULL OR seq > ?9)"

/* Binds the filter's values to FILTER_WHERE's parameters, and p8 to ?8. */
static void bind_filter(sqlite3_stmt *st, const au_filter *f, int64_t p8)
{
    if (f->has_since)
        sqlite3_bind_int64(st, 1, f->since_us);
    if (f->has_until)
        sqlite3_bind_int64(st, 2, f->until_us);
    const char *texts[5] = {f->principal, f->role, f->model, f->event, f->decision};
    for (int i = 0; i < 5; i++)
        if (texts[i] != NULL)
            sqlite3_bind_text(st, 3 + i, texts[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, p8);
    if (f->has_after)
        sqlite3_bind_int64(st, 9, f->after_seq);
}

int au_query(const char *db_path, const au_filter *f, au_row_fn fn, void *user, cm_err *err)
{
    sqlite3 *db;
    if (au_db_open(db_path, true, &db, err) < 0)
        return -1;
    char sql[2048];
    snprintf(sql, sizeof(sql), "SELECT %s FROM events WHERE " FILTER_WHERE
             " ORDER BY seq %s LIMIT ?8",
             au_db_select_list(), f->last ? "DESC" : "ASC");
    sqlite3_stmt *st;
    if (au_db_prepare(db, sql, &st, err) < 0) {
        au_db_close(db);
        return -1;
    }
    bind_filter(st, f, f->limit > 0 ? f->limit : -1);
    int rc = 0;
    if (f->last) {
        /* Newest first from SQL: find the oldest of the last `limit`. */
        int64_t first = INT64_MAX;
        while (sqlite3_step(st) == SQLITE_ROW)
            first = sqlite3_column_int64(st, 0);
        /* Re-run ascending from `first` with the same filters. */
        sqlite3_finalize(st);
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM events WHERE " FILTER_WHERE " AND seq >= ?8 ORDER BY seq ASC",
                 au_db_select_list());
        if (au_db_prepare(db, sql, &st, err) < 0) {
            au_db_close(db);
            return -1;
        }
        bind_filter(st, f, first);
    }
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        au_row row;
        au_db_row_from_stmt(st, 0, &row);
        rc = fn(user, &row, err);
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = cm_err_set(err, "audit db %s: %s", db_path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    au_db_close(db);
    return rc;
}

static int put_line(FILE *f, json_t *j, cm_err *err)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (s == NULL)
        return cm_err_set(err, "export: cannot encode a record as JSON (text not UTF-8?)");
    int rc = fputs(s, f) < 0 || fputc('\n', f) < 0 ? -1 : 0;
    free(s);
    return rc < 0 ? cm_err_errno(err, "export: write") : 0;
}

/* The export's first line: format, chain start and the signing keys. */
static json_t *export_header(sqlite3 *db, cm_err *err)
{
    int64_t start = 0;
    unsigned char prev[AU_HASH_LEN];
    char hex[2 * AU_HASH_LEN + 1];
    if (au_db_chain_start(db, &start, prev, err) < 0)
        return NULL;
    sqlite3_stmt *st;
    if (au_db_prepare(db, "SELECT key_id, pubkey_pem FROM signing_keys", &st, err) < 0)
        return NULL;
    json_t *keys = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            keys, json_pack("{s:s, s:s}", "key_id", (const char *)sqlite3_column_text(st, 0),
                            "pubkey_pem", (const char *)sqlite3_column_text(st, 1)));
    sqlite3_finalize(st);
    au_hex(prev, AU_HASH_LEN, hex);
    json_t *h = json_pack("{s:s, s:i, s:I, s:s, s:o}", "format", "gemmad-audit-export",
                          "version", 1, "chain_start_seq", (json_int_t)start,
                          "chain_prev_hash", hex, "signing_keys", keys);
    if (h == NULL)
        cm_err_set(err, "export: out of memory");
    return h;
}

/* An event line: the row with its hash, "record": "event". */
static json_t *event_line(const au_row *row)
{
    json_t *j = au_row_to_json(row, true);
    if (j != NULL && json_object_set_new(j, "record", json_string("event")) < 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

#define CHECKPOINT_SQL \
    "SELECT seq, head_hash, time_us, key_id, signature FROM checkpoints"

/* A checkpoint line from a CHECKPOINT_SQL statement; NULL when out of memory. */
static json_t *checkpoint_line(sqlite3_stmt *st)
{
    int hn = sqlite3_column_bytes(st, 1), sn = sqlite3_column_bytes(st, 4);
    char *h = malloc(2 * (size_t)hn + 1), *sg = malloc(2 * (size_t)sn + 1);
    json_t *j = NULL;
    if (h != NULL && sg != NULL) {
        au_hex(sqlite3_column_blob(st, 1), (size_t)hn, h);
        au_hex(sqlite3_column_blob(st, 4), (size_t)sn, sg);
        const char *kid = (const char *)sqlite3_column_text(st, 3);
        j = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "record", "checkpoint", "seq",
                      (json_int_t)sqlite3_column_int64(st, 0), "head", h, "time_us",
                      (json_int_t)sqlite3_column_int64(st, 2), "key_id", kid ? kid : "",
                      "signature", sg);
    }
    free(h);
    free(sg);
    return j;
}

int au_export(const char *db_path, const char *out_path, int64_t *rows_out, cm_err *err)
{
    sqlite3 *db;
    if (au_db_open(db_path, true, &db, err) < 0)
        return -1;
    FILE *f = fopen(out_path, "wx");
    if (f == NULL) {
        au_db_close(db);
        return cm_err_errno(err, "create %s", out_path);
    }
    int64_t rows = 0;
    int rc = au_db_exec(db, "BEGIN", err); /* one consistent snapshot */
    sqlite3_stmt *st = NULL;
    if (rc == 0) {
        json_t *h = export_header(db, err);
        rc = h != NULL ? put_line(f, h, err) : -1;
    }
    if (rc == 0) {
        char sql[1024];
        snprintf(sql, sizeof(sql), "SELECT %s FROM events ORDER BY seq", au_db_select_list());
        rc = au_db_prepare(db, sql, &st, err);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            au_row row;
            au_db_row_from_stmt(st, 0, &row);
            rc = put_line(f, event_line(&row), err);
            if (rc < 0)
                cm_err_prefix(err, "row %lld", (long long)row.v[AU_C_SEQ].i);
            rows++;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == 0) {
        rc = au_db_prepare(db, CHECKPOINT_SQL " ORDER BY seq", &st, err);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            json_t *j = checkpoint_line(st);
            rc = j != NULL ? put_line(f, j, err) : cm_err_set(err, "export: out of memory");
        }
        sqlite3_finalize(st);
    }
    au_db_exec(db, "COMMIT", NULL);
    au_db_close(db);
    if (fclose(f) != 0 && rc == 0)
        rc = cm_err_errno(err, "write %s", out_path);
    if (rc < 0)
        remove(out_path);
    if (rows_out != NULL)
        *rows_out = rows;
    return rc;
}

/* The stored bytes of a row (what its JSON line grows with). */
static size_t row_bytes(const au_row *row)
{
    size_t n = 0;
    for (int c = 0; c < AU_NCOLS; c++)
        n += row->v[c].t == AU_V_BYTES ? row->v[c].n : 8;
    return n;
}

int au_export_page(const char *db_path, int64_t after, int64_t upto, int64_t limit,
                   size_t max_bytes, json_t **out, cm_err *err)
{
    *out = NULL;
    sqlite3 *db;
    if (au_db_open(db_path, true, &db, err) < 0)
        return -1;
    json_t *page = NULL, *rows = json_array(), *cps = json_array();
    int rc = rows && cps ? au_db_exec(db, "BEGIN", err) : cm_err_set(err, "export: out of memory");
    json_t *h = rc == 0 ? export_header(db, err) : NULL;
    if (h == NULL)
        rc = -1;
    if (rc == 0 && upto < 0) {
        unsigned char hash[AU_HASH_LEN];
        rc = au_db_head(db, &upto, hash, err);
    }
    bool more = false;
    sqlite3_stmt *st = NULL;
    if (rc == 0) {
        char sql[1024];
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
                 au_db_select_list());
        rc = au_db_prepare(db, sql, &st, err);
    }
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, upto);
        size_t n = 0, bytes = 0;
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            au_row row;
            au_db_row_from_stmt(st, 0, &row);
            if (n > 0 && ((limit > 0 && (int64_t)n >= limit) || bytes >= max_bytes)) {
                more = true;
                break;
            }
            json_t *j = event_line(&row);
            if (j == NULL || json_array_append_new(rows, j) < 0)
                rc = cm_err_set(err, "export: row %lld cannot be encoded (text not UTF-8?)",
                                (long long)row.v[AU_C_SEQ].i);
            n++;
            bytes += row_bytes(&row);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == 0 && !more) {
        rc = au_db_prepare(db, CHECKPOINT_SQL " WHERE seq <= ?1 ORDER BY seq", &st, err);
        if (rc == 0)
            sqlite3_bind_int64(st, 1, upto);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            json_t *j = checkpoint_line(st);
            if (j == NULL || json_array_append_new(cps, j) < 0)
                rc = cm_err_set(err, "export: out of memory");
        }
        sqlite3_finalize(st);
    }
    au_db_exec(db, "COMMIT", NULL);
    au_db_close(db);
    if (rc == 0) {
        page = json_pack("{s:O, s:I, s:O, s:b, s:O}", "header", h, "upto", (json_int_t)upto,
                         "rows", rows, "more", more, "checkpoints", cps);
        if (page == NULL)
            rc = cm_err_set(err, "export: out of memory");
    }
    json_decref(h);
    json_decref(rows);
    json_decref(cps);
    *out = page;
    return rc;
}
