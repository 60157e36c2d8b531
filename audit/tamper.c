/*
 * audit/tamper.c -- deliberate damage to an audit database (tamper.h).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/canon.h"
#include "audit/tamper.h"

static int run(const char *path, const char *sql, cm_err *err)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return cm_err_set(err, "tamper: cannot open %s", path);
    }
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK ? 0 : -1;
    if (rc < 0)
        cm_err_set(err, "tamper: %s: %s", sql, msg ? msg : "?");
    else if (sqlite3_changes(db) == 0)
        rc = cm_err_set(err, "tamper: %s changed nothing", sql);
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

static int known_column(const char *col)
{
    if (strcmp(col, "hash") == 0)
        return 1;
    for (int c = 0; c < AU_NCOLS; c++)
        if (strcmp(au_columns[c].name, col) == 0)
            return 1;
    return 0;
}

int au_tamper_flip(const char *db, int64_t seq, const char *col, int bit, cm_err *err)
{
    if (!known_column(col))
        return cm_err_set(err, "tamper: no column %s", col);
    char sql[1024];
    int b = 1 << (bit & 7);
    /* SQLite has no bit-flip for strings: read, flip in C, write back. */
    sqlite3 *d;
    if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(d);
        return cm_err_set(err, "tamper: cannot open %s", db);
    }
    snprintf(sql, sizeof(sql), "SELECT typeof(%s), %s FROM events WHERE seq = %lld", col, col,
             (long long)seq);
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        cm_err_set(err, "tamper: no row %lld", (long long)seq);
        sqlite3_finalize(st);
        sqlite3_close(d);
        return -1;
    }
    const char *type = (const char *)sqlite3_column_text(st, 0);
    sqlite3_stmt *up = NULL;
    snprintf(sql, sizeof(sql), "UPDATE events SET %s = ?1 WHERE seq = %lld", col, (long long)seq);
    if (sqlite3_prepare_v2(d, sql, -1, &up, NULL) == SQLITE_OK) {
        if (strcmp(type, "integer") == 0) {
            int64_t v = sqlite3_column_int64(st, 1);
            sqlite3_bind_int64(up, 1, v ^ (strcmp(col, "seq") == 0 ? (int64_t)1 << 40 : 1));
        } else if (strcmp(type, "null") == 0) {
            sqlite3_bind_int64(up, 1, 1);
        } else {
            int n = sqlite3_column_bytes(st, 1);
            unsigned char *buf = malloc((size_t)n + 1);
            if (buf != NULL) {
                memcpy(buf, sqlite3_column_blob(st, 1), (size_t)n);
                if (n > 0)
                    buf[0] ^= (unsigned char)b;
                else
                    buf[n++] = 'x';
                if (strcmp(type, "text") == 0)
                    sqlite3_bind_text(up, 1, (const char *)buf, n, SQLITE_TRANSIENT);
                else
                    sqlite3_bind_blob(up, 1, buf, n, SQLITE_TRANSIENT);
                free(buf);
            }
        }
        rc = sqlite3_step(up) == SQLITE_DONE ? 0 : cm_err_set(err, "tamper: %s", sqlite3_errmsg(d));
    } else {
        cm_err_set(err, "tamper: %s", sqlite3_errmsg(d));
    }
    sqlite3_finalize(up);
    sqlite3_finalize(st);
    sqlite3_close(d);
    return rc;
}

int au_tamper_delete(const char *db, int64_t seq, cm_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DELETE FROM events WHERE seq = %lld", (long long)seq);
    return run(db, sql, err);
}

int au_tamper_swap(const char *db, int64_t a, int64_t b, cm_err *err)
{
    /* seq is the rowid: renumbering the two rows swaps all their other
     * columns between the two positions. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "BEGIN; UPDATE events SET seq = -1 WHERE seq = %lld;"
             "UPDATE events SET seq = %lld WHERE seq = %lld;"
             "UPDATE events SET seq = %lld WHERE seq = -1; COMMIT;",
             (long long)a, (long long)a, (long long)b, (long long)b);
    return run(db, sql, err);
}

int au_tamper_truncate(const char *db, int64_t n, int with_checkpoints, cm_err *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "DELETE FROM events WHERE seq > (SELECT max(seq) FROM events) - %lld;%s",
             (long long)n,
             with_checkpoints
                 ? "DELETE FROM checkpoints WHERE seq > (SELECT coalesce(max(seq), 0) FROM events);"
                 : "");
    return run(db, sql, err);
}
