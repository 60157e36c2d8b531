/*
 * audit/db.h -- the audit database: opening it (WAL, synchronous=FULL),
 * the versioned schema and its migrations (PRAGMA user_version), and the
 * chain's starting point kept in the meta table.
 *
 * Schema version 1:
 *   meta(key TEXT PRIMARY KEY, value)        chain_start_seq, chain_prev_hash
 *   events(seq INTEGER PRIMARY KEY, <au_columns...>, hash BLOB NOT NULL)
 *   checkpoints(id INTEGER PRIMARY KEY, seq, head_hash, time_us, key_id, signature)
 *   signing_keys(key_id TEXT PRIMARY KEY, pubkey_pem TEXT, added_us)
 */
#ifndef AU_DB_H
#define AU_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/canon.h"
#include "common/err.h"

#define AU_SCHEMA_VERSION 1

/* Opens the database; read-write opens create and migrate it, read-only
 * opens require the current schema. */
int au_db_open(const char *path, bool readonly, sqlite3 **out, cm_err *err);
void au_db_close(sqlite3 *db);

/* sqlite3_exec with the error in err ("audit db: <sql error>"). */
int au_db_exec(sqlite3 *db, const char *sql, cm_err *err);
int au_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, cm_err *err);

/* Chain start (first seq, hash the first row links to). */
int au_db_chain_start(sqlite3 *db, int64_t *start_seq, unsigned char prev[AU_HASH_LEN],
                      cm_err *err);
/* The last row's seq and hash; the chain start when there are no rows
 * (seq = start - 1). */
int au_db_head(sqlite3 *db, int64_t *seq, unsigned char hash[AU_HASH_LEN], cm_err *err);

/* "SELECT seq, time_us, ..., detail, hash FROM events" (the column list). */
const char *au_db_select_list(void);
/* Fills row from a statement whose first columns are au_db_select_list().
 * Values borrow from the statement until its next step. */
void au_db_row_from_stmt(sqlite3_stmt *st, int first_col, au_row *row);

#endif
