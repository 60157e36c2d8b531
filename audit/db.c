/*
 * audit/db.c -- opening the audit database and migrating its schema
 * (db.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/db.h"

/* Migration i brings user_version i to i + 1. Append, never edit. */
static const char *const migrations[AU_SCHEMA_VERSION] = {
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
    "INSERT INTO meta VALUES ('chain_start_seq', 1);"
    "INSERT INTO meta VALUES ('chain_prev_hash', zeroblob(32));"
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, event TEXT NOT NULL,"
    " request_id TEXT, subject_dn TEXT, cert_serial TEXT, cert_fingerprint TEXT,"
    " role TEXT, rule_index INTEGER, rule_name TEXT,"
    " transport TEXT, peer_uid INTEGER, peer_pid INTEGER, peer_addr TEXT,"
    " route TEXT, action TEXT, model TEXT, model_digest TEXT,"
    " decision TEXT, reason TEXT, http_status INTEGER,"
    " prompt_tokens INTEGER, completion_tokens INTEGER, latency_us INTEGER,"
    " prompt_hmac BLOB, output_hmac BLOB, prompt_text TEXT, output_text TEXT,"
    " detail TEXT, hash BLOB NOT NULL);"
    "CREATE INDEX events_time ON events(time_us);"
    "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    " head_hash BLOB NOT NULL, time_us INTEGER NOT NULL, key_id TEXT NOT NULL,"
    " signature BLOB NOT NULL);"
    "CREATE TABLE signing_keys (key_id TEXT PRIMARY KEY, pubkey_pem TEXT NOT NULL,"
    " added_us INTEGER NOT NULL);",
};

int au_db_exec(sqlite3 *db, const char *sql, cm_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cm_err_set(err, "audit db %s: %s", sqlite3_db_filename(db, "main"),
                   msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int au_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, cm_err *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return cm_err_set(err, "audit db %s: %s", sqlite3_db_filename(db, "main"),
                          sqlite3_errmsg(db));
    return 0;
}

static int user_version(sqlite3 *db, int *v, cm_err *err)
{
    sqlite3_stmt *st;
    if (au_db_prepare(db, "PRAGMA user_version", &st, err) < 0)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cm_err_set(err, "audit db: cannot read user_version: %s", sqlite3_errmsg(db));
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(sqlite3 *db, const char *path, cm_err *err)
{
    if (au_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int v;
    if (user_version(db, &v, err) < 0)
        goto fail;
    if (v > AU_SCHEMA_VERSION) {
        cm_err_set(err, "audit db %s has schema version %d, newer than this gemmad (%d)", path, v,
                   AU_SCHEMA_VERSION);
        goto fail;
    }
    for (; v < AU_SCHEMA_VERSION; v++) {
        if (au_db_exec(db, migrations[v], err) < 0)
            goto fail;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if (au_db_exec(db, sql, err) < 0)
            goto fail;
    }
    return au_db_exec(db, "COMMIT", err);
fail:
    au_db_exec(db, "ROLLBACK", NULL);
    return -1;
}

int au_db_open(const char *path, bool readonly, sqlite3 **out, cm_err *err)
{
    *out = NULL;
    sqlite3 *db = NULL;
    if (!readonly) {
        /* Create it private (SQLite gives its -wal and -shm the same mode):
         * the log names clients and may hold prompts. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return cm_err_errno(err, "cannot open audit db %s", path);
        close(fd);
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        cm_err_set(err, "cannot open audit db %s: %s", path,
                   db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    if (!readonly) {
        if (au_db_exec(db, "PRAGMA journal_mode = WAL", err) < 0 ||
            au_db_exec(db, "PRAGMA synchronous = FULL", err) < 0 || migrate(db, path, err) < 0) {
            sqlite3_close(db);
            return -1;
        }
    } else {
        int v;
        if (user_version(db, &v, err) < 0) {
            sqlite3_close(db);
            return cm_err_prefix(err, "%s", path);
        }
        if (v != AU_SCHEMA_VERSION) {
            sqlite3_close(db);
            return cm_err_set(err, "%s: not a gemmad audit database of schema %d (found %d)", path,
                              AU_SCHEMA_VERSION, v);
        }
    }
    *out = db;
    return 0;
}

void au_db_close(sqlite3 *db)
{
    sqlite3_close(db);
}

int au_db_chain_start(sqlite3 *db, int64_t *start_seq, unsigned char prev[AU_HASH_LEN],
                      cm_err *err)
{
    sqlite3_stmt *st;
    if (au_db_prepare(db,
                      "SELECT (SELECT value FROM meta WHERE key='chain_start_seq'),"
                      " (SELECT value FROM meta WHERE key='chain_prev_hash')",
                      &st, err) < 0)
        return -1;
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
        sqlite3_column_type(st, 1) == SQLITE_BLOB && sqlite3_column_bytes(st, 1) == AU_HASH_LEN) {
        *start_seq = sqlite3_column_int64(st, 0);
        memcpy(prev, sqlite3_column_blob(st, 1), AU_HASH_LEN);
        rc = 0;
    } else {
        cm_err_set(err, "audit db: the chain start in table meta is missing or malformed");
    }
    sqlite3_finalize(st);
    return rc;
}

int au_db_head(sqlite3 *db, int64_t *seq, unsigned char hash[AU_HASH_LEN], cm_err *err)
{
    sqlite3_stmt *st;
    if (au_db_prepare(db, "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", &st, err) < 0)
        return -1;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        int ok = sqlite3_column_bytes(st, 1) == AU_HASH_LEN;
        if (ok) {
            *seq = sqlite3_column_int64(st, 0);
            memcpy(hash, sqlite3_column_blob(st, 1), AU_HASH_LEN);
        }
        sqlite3_finalize(st);
        return ok ? 0 : cm_err_set(err, "audit db: the last row's hash is malformed");
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return cm_err_set(err, "audit db: %s", sqlite3_errmsg(db));
    int64_t start;
    if (au_db_chain_start(db, &start, hash, err) < 0)
        return -1;
    *seq = start - 1;
    return 0;
}

const char *au_db_select_list(void)
{
    return "seq, time_us, event, request_id, subject_dn, cert_serial, cert_fingerprint,"
           " role, rule_index, rule_name, transport, peer_uid, peer_pid, peer_addr,"
           " route, action, model, model_digest, decision, reason, http_status,"
           " prompt_tokens, completion_tokens, latency_us, prompt_hmac, output_hmac,"
           " prompt_text, output_text, detail, hash";
}

void au_db_row_from_stmt(sqlite3_stmt *st, int first, au_row *row)
{
    memset(row, 0, sizeof(*row));
    for (int c = 0; c < AU_NCOLS; c++) {
        au_value *v = &row->v[c];
        switch (sqlite3_column_type(st, first + c)) {
        case SQLITE_INTEGER:
            v->t = AU_V_INT;
            v->i = sqlite3_column_int64(st, first + c);
            break;
        case SQLITE_FLOAT:
            v->t = AU_V_REAL;
            v->r = sqlite3_column_double(st, first + c);
            break;
        case SQLITE_TEXT:
            v->t = AU_V_BYTES;
            v->p = sqlite3_column_text(st, first + c);
            v->n = (size_t)sqlite3_column_bytes(st, first + c);
            break;
        case SQLITE_BLOB:
            v->t = AU_V_BYTES;
            v->p = sqlite3_column_blob(st, first + c);
            v->n = (size_t)sqlite3_column_bytes(st, first + c);
            break;
        default:
            v->t = AU_V_NULL;
        }
    }
    int hc = first + AU_NCOLS;
    if (sqlite3_column_bytes(st, hc) == AU_HASH_LEN) {
        memcpy(row->hash, sqlite3_column_blob(st, hc), AU_HASH_LEN);
        row->has_hash = true;
    }
}
