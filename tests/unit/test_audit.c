/*
 * tests/unit/test_audit.c -- unit tests for audit/: the canonical row
 * encoding, appends (blocking, asynchronous, from many threads at once),
 * keys and HMACs, detection of every kind of tampering (a flipped bit in
 * any column of any row, deleted, swapped and truncated rows), fail-closed
 * and fail-open appends, rotation, export, and schema versions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/canon.h"
#include "audit/keys.h"
#include "audit/read.h"
#include "audit/tamper.h"
#include "tests/unit/fixture_audit.h"

static tdir mkdir_tmp(void)
{
    return fx_audit_dir("test_audit");
}

static au_log *open_log(const char *db, bool raw)
{
    au_config cfg = {.db_path = db, .store_raw_text = raw, .checkpoint_rows = 4};
    au_log *log = NULL;
    cm_err err = {{0}};
    if (au_log_open(&cfg, &log, &err) != 0)
        fail_msg("au_log_open: %s", err.msg);
    return log;
}

static cm_identity ident(int n)
{
    cm_identity id;
    memset(&id, 0, sizeof(id));
    snprintf(id.subject_dn, sizeof(id.subject_dn), "CN=u%d,OU=client,O=Bank", n);
    snprintf(id.serial_hex, sizeof(id.serial_hex), "%x", 100 + n);
    snprintf(id.fingerprint_sha256, sizeof(id.fingerprint_sha256), "%064x", n);
    id.transport = n % 2 ? CM_TRANSPORT_UNIX : CM_TRANSPORT_TCP;
    id.has_peer_cred = n % 2;
    id.peer_uid = 1000;
    id.peer_pid = 77;
    snprintf(id.peer_addr, sizeof(id.peer_addr), "192.0.2.1:%d", 40000 + n);
    return id;
}

/* An event with every column filled (so any column can be flipped). */
static int64_t append_full(au_log *log, int n)
{
    cm_identity id = ident(n);
    char rid[32];
    snprintf(rid, sizeof(rid), "r%d", n);
    au_event ev = AU_EVENT_INIT;
    ev.type = AU_EV_RESPONSE;
    ev.request_id = rid;
    ev.identity = &id;
    ev.role = "client";
    ev.rule_index = 3;
    ev.rule_name = "clients";
    ev.route = "POST /v1/chat/completions";
    ev.action = "infer";
    ev.model = "gemma-4-e2b";
    ev.model_digest = "sha256:00ff";
    ev.decision = "allow";
    ev.reason = "allowed";
    ev.http_status = 200;
    ev.prompt_tokens = 12;
    ev.completion_tokens = 34;
    ev.latency_us = 5678;
    ev.prompt = "hello";
    ev.prompt_len = 5;
    ev.output = "world";
    ev.output_len = 5;
    ev.detail = "d";
    int64_t seq = -1;
    cm_err err = {{0}};
    if (au_log_append(log, &ev, &seq, &err) != 0)
        fail_msg("append: %s", err.msg);
    return seq;
}

static au_verify_result verify(const char *db)
{
    au_verify_result r;
    cm_err err = {{0}};
    if (au_verify_db(db, NULL, &r, &err) != 0)
        fail_msg("verify: %s", err.msg);
    return r;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && { [ ! -e '%s.checkpoints' ] || cp '%s.checkpoints' "
                               "'%s.checkpoints'; }",
             from, to, from, from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_canonical_encoding(void **state)
{
    (void)state;
    au_row row;
    memset(&row, 0, sizeof(row));
    row.v[AU_C_SEQ] = (au_value){.t = AU_V_INT, .i = 1};
    row.v[AU_C_TIME_US] = (au_value){.t = AU_V_INT, .i = -2};
    row.v[AU_C_EVENT] = (au_value){.t = AU_V_BYTES, .p = (const unsigned char *)"ab", .n = 2};
    static const unsigned char blob[3] = {0, 1, 2};
    row.v[AU_C_PROMPT_HMAC] = (au_value){.t = AU_V_BYTES, .p = blob, .n = 3};
    unsigned char prev[AU_HASH_LEN];
    memset(prev, 0x5a, sizeof(prev));
    /* The documented encoding, built by hand. */
    unsigned char buf[256];
    size_t n = 0;
    memcpy(buf, prev, 32);
    n = 32;
    buf[n++] = 1;
    memcpy(buf + n, "\0\0\0\0\0\0\0\1", 8);
    n += 8;
    buf[n++] = 1;
    memcpy(buf + n, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
    n += 8;
    buf[n++] = 2;
    memcpy(buf + n, "\0\0\0\2ab", 6);
    n += 6;
    for (int c = AU_C_REQUEST_ID; c < AU_NCOLS; c++) {
        if (c == AU_C_PROMPT_HMAC) {
            buf[n++] = 2;
            memcpy(buf + n, "\0\0\0\3\0\1\2", 7);
            n += 7;
        } else {
            buf[n++] = 0;
        }
    }
    unsigned char want[32], got[32];
    unsigned int wl;
    assert_int_equal(EVP_Digest(buf, n, want, &wl, EVP_sha256(), NULL), 1);
    assert_int_equal(au_row_hash(prev, &row, got, NULL), 0);
    assert_memory_equal(want, got, 32);
    /* Any change of value or type changes the hash. */
    row.v[AU_C_REQUEST_ID] = (au_value){.t = AU_V_BYTES, .n = 0};
    assert_int_equal(au_row_hash(prev, &row, got, NULL), 0);
    assert_memory_not_equal(want, got, 32);
}

static void test_append_keys_hmac(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(append_full(log, i), i);
    au_stats st;
    au_log_stats(log, &st);
    assert_int_equal(st.appended, 10);
    assert_int_equal(st.head_seq, 10);
    assert_true(st.checkpoints >= 2);
    au_log_close(log);

    char path[256];
    struct stat sb;
    assert_int_equal(stat(t.db, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0); /* the log itself is private */
    snprintf(path, sizeof(path), "%s/audit-signing.key", t.dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/audit-hmac.key", t.dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unsigned char key[AU_HMAC_KEY_LEN];
    assert_int_equal(au_hmac_key_load(path, key, NULL), 0);
    unsigned char mac[32];
    unsigned int ml;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)"hello", 5, mac, &ml);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    sqlite3_stmt *st2;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT prompt_hmac, prompt_text, subject_dn, peer_uid,"
                                            " transport FROM events WHERE seq = 3", -1, &st2, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st2), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st2, 0), 32);
    assert_memory_equal(sqlite3_column_blob(st2, 0), mac, 32);
    assert_int_equal(sqlite3_column_type(st2, 1), SQLITE_NULL); /* raw text not kept */
    assert_string_equal((const char *)sqlite3_column_text(st2, 2), "CN=u3,OU=client,O=Bank");
    assert_int_equal(sqlite3_column_int(st2, 3), 1000);
    assert_string_equal((const char *)sqlite3_column_text(st2, 4), "unix");
    sqlite3_finalize(st2);
    sqlite3_close(db);
    au_verify_result r = verify(t.db);
    assert_true(r.ok);
    assert_int_equal(r.rows, 10);
    assert_int_equal(r.unsealed_rows, 0);

    /* Reopen: the same keys, the chain continues; raw text when asked. */
    log = open_log(t.db, true);
    assert_int_equal(append_full(log, 11), 11);
    au_log_close(log);
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT prompt_text, output_text FROM events"
                                            " WHERE seq = 11", -1, &st2, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st2), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st2, 0), "hello");
    assert_string_equal((const char *)sqlite3_column_text(st2, 1), "world");
    sqlite3_finalize(st2);
    sqlite3_close(db);
    r = verify(t.db);
    assert_true(r.ok);
    assert_int_equal(r.rows, 11);
    fx_audit_dir_remove(&t);
}

/* A single flipped bit in any column of any row is found, at that row. */
static void test_flip_every_column(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, true);
    for (int i = 1; i <= 5; i++)
        append_full(log, i);
    au_log_close(log);
    assert_true(verify(t.db).ok);
    char copy[160];
    snprintf(copy, sizeof(copy), "%s/copy.db", t.dir);
    const char *cols[AU_NCOLS + 1];
    for (int c = 0; c < AU_NCOLS; c++)
        cols[c] = au_columns[c].name;
    cols[AU_NCOLS] = "hash";
    int checked = 0;
    for (int row = 1; row <= 5; row += 2) {
        for (int c = 0; c <= AU_NCOLS; c++) {
            copy_file(t.db, copy);
            cm_err err = {{0}};
            if (au_tamper_flip(copy, row, cols[c], (row + c) % 8, &err) != 0)
                fail_msg("flip row %d %s: %s", row, cols[c], err.msg);
            au_verify_result r = verify(copy);
            if (r.ok || r.bad_seq != row)
                fail_msg("flipped %s of row %d: verify %s, bad row %lld (%s)", cols[c], row,
                         r.ok ? "passed" : "failed", (long long)r.bad_seq, r.problem);
            unlink(copy);
            checked++;
        }
    }
    assert_int_equal(checked, 3 * (AU_NCOLS + 1));
    fx_audit_dir_remove(&t);
}

static void test_delete_swap_truncate(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    for (int i = 1; i <= 12; i++)
        append_full(log, i);
    au_log_close(log);
    char copy[160];
    snprintf(copy, sizeof(copy), "%s/copy.db", t.dir);
    au_verify_result r;

    copy_file(t.db, copy);
    assert_int_equal(au_tamper_delete(copy, 6, NULL), 0);
    r = verify(copy);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 6);
    assert_non_null(strstr(r.problem, "row 6 is missing"));
    unlink(copy);

    copy_file(t.db, copy);
    assert_int_equal(au_tamper_swap(copy, 4, 5, NULL), 0);
    r = verify(copy);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 4);
    unlink(copy);

    /* Deleting the first row is found too (the chain starts at 1). */
    copy_file(t.db, copy);
    assert_int_equal(au_tamper_delete(copy, 1, NULL), 0);
    r = verify(copy);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 1);
    unlink(copy);

    /* Truncated tail: the final checkpoint (written at close) covers it. */
    copy_file(t.db, copy);
    assert_int_equal(au_tamper_truncate(copy, 2, 0, NULL), 0);
    r = verify(copy);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 11);
    assert_non_null(strstr(r.problem, "truncated"));
    unlink(copy);

    /* Rows and the database's checkpoints removed together: the side file
     * still has the checkpoint. */
    copy_file(t.db, copy);
    assert_int_equal(au_tamper_truncate(copy, 2, 1, NULL), 0);
    r = verify(copy);
    assert_false(r.ok);
    assert_non_null(strstr(r.problem, "side file"));
    unlink(copy);
    fx_audit_dir_remove(&t);
}

typedef struct writer_arg {
    au_log *log;
    int no;
    int fails;
} writer_arg;

#define N_THREADS 8
#define PER_THREAD 150

static void *writer(void *p)
{
    writer_arg *w = p;
    for (int i = 0; i < PER_THREAD; i++) {
        char rid[32];
        snprintf(rid, sizeof(rid), "t%d-%d", w->no, i);
        au_event ev = AU_EVENT_INIT;
        ev.type = AU_EV_REQUEST;
        ev.request_id = rid;
        if (au_log_append(w->log, &ev, NULL, NULL) != 0)
            w->fails++;
    }
    return NULL;
}

typedef struct seen {
    unsigned char hit[N_THREADS][PER_THREAD];
    int rows, dups;
} seen;

static int count_row(void *user, const au_row *row, cm_err *err)
{
    (void)err;
    seen *s = user;
    int t, i;
    const au_value *v = &row->v[AU_C_REQUEST_ID];
    char buf[32];
    snprintf(buf, sizeof(buf), "%.*s", (int)v->n, (const char *)v->p);
    if (sscanf(buf, "t%d-%d", &t, &i) == 2 && t >= 0 && t < N_THREADS && i >= 0 &&
        i < PER_THREAD) {
        if (s->hit[t][i]++)
            s->dups++;
    }
    s->rows++;
    return 0;
}

static void test_many_writer_threads(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    pthread_t th[N_THREADS];
    writer_arg wa[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        wa[i] = (writer_arg){.log = log, .no = i};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &wa[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(wa[i].fails, 0);
    }
    au_stats st;
    au_log_stats(log, &st);
    au_log_close(log);
    assert_int_equal(st.appended, N_THREADS * PER_THREAD);
    assert_int_equal(st.failed, 0);
    print_message("# %llu events in %llu transactions\n", (unsigned long long)st.appended,
                  (unsigned long long)st.transactions);
    seen *s = calloc(1, sizeof(*s));
    au_filter f = {0};
    assert_int_equal(au_query(t.db, &f, count_row, s, NULL), 0);
    assert_int_equal(s->rows, N_THREADS * PER_THREAD);
    assert_int_equal(s->dups, 0);
    for (int i = 0; i < N_THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            assert_int_equal(s->hit[i][j], 1);
    free(s);
    au_verify_result r = verify(t.db);
    assert_true(r.ok);
    assert_int_equal(r.rows, N_THREADS * PER_THREAD);
    fx_audit_dir_remove(&t);
}

typedef struct async_state {
    atomic_int done;
    int64_t seqs[300];
    int status[300];
} async_state;

typedef struct async_slot {
    async_state *s;
    int i;
} async_slot;

static void on_done(void *user, int status, int64_t seq, const char *msg)
{
    (void)msg;
    async_slot *slot = user;
    slot->s->seqs[slot->i] = seq;
    slot->s->status[slot->i] = status;
    atomic_fetch_add(&slot->s->done, 1);
}

static void test_async_completion(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    async_state *s = calloc(1, sizeof(*s));
    async_slot slots[300];
    atomic_init(&s->done, 0);
    for (int i = 0; i < 300; i++) {
        slots[i] = (async_slot){.s = s, .i = i};
        au_event ev = AU_EVENT_INIT;
        ev.type = AU_EV_REQUEST;
        assert_int_equal(au_log_append_async(log, &ev, on_done, &slots[i], NULL), 0);
    }
    for (int spin = 0; atomic_load(&s->done) < 300 && spin < 20000; spin++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&s->done), 300);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(s->status[i], 0);
        assert_int_equal(s->seqs[i], i + 1); /* committed in the order enqueued */
    }
    au_stats st;
    au_log_stats(log, &st);
    assert_true(st.transactions < 300); /* grouped */
    au_log_close(log);
    free(s);
    /* A closed log refuses. */
    fx_audit_dir_remove(&t);
}

/* A database the writer cannot write (held locked by someone else) makes
 * appends fail -- unless fail_open is set, which reports success and
 * counts the loss. */
static void test_unwritable_fails_closed(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    for (int open_mode = 0; open_mode < 2; open_mode++) {
        au_config cfg = {.db_path = t.db, .busy_timeout_ms = 50, .fail_open = open_mode};
        au_log *log;
        assert_int_equal(au_log_open(&cfg, &log, NULL), 0);
        sqlite3 *other;
        assert_int_equal(sqlite3_open(t.db, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        au_event ev = AU_EVENT_INIT;
        ev.type = AU_EV_REQUEST;
        cm_err err = {{0}};
        int64_t seq = 0;
        int rc = au_log_append(log, &ev, &seq, &err);
        au_stats st;
        au_log_stats(log, &st);
        assert_int_equal(st.failed, 1);
        if (open_mode) {
            assert_int_equal(rc, 0);
            assert_int_equal(seq, -1);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err.msg, "locked"));
        }
        sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(other);
        /* Once the database is writable again, appends succeed. */
        assert_int_equal(au_log_append(log, &ev, &seq, &err), 0);
        assert_true(seq > 0);
        au_log_close(log);
    }
    /* A database that cannot be opened at all fails at open. */
    au_config bad = {.db_path = "/nonexistent-dir/audit.db",
                     .signing_key_path = "/nonexistent-dir/k", .hmac_key_path = "/nonexistent-dir/h"};
    au_log *log = NULL;
    cm_err err = {{0}};
    assert_int_equal(au_log_open(&bad, &log, &err), -1);
    assert_null(log);
    assert_non_null(strstr(err.msg, "nonexistent-dir"));
    assert_true(verify(t.db).ok);
    fx_audit_dir_remove(&t);
}

static void test_rotation_carries_chain(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    char arch[160];
    snprintf(arch, sizeof(arch), "%s/archive-1.db", t.dir);
    au_log *log = open_log(t.db, false);
    for (int i = 1; i <= 9; i++)
        append_full(log, i);
    cm_err err = {{0}};
    assert_int_equal(au_log_rotate(log, arch, &err), 0);
    assert_int_equal(au_log_rotate(log, arch, &err), -1); /* exists */
    assert_non_null(strstr(err.msg, "already exists"));
    for (int i = 10; i <= 14; i++)
        assert_int_equal(append_full(log, i), i);
    au_log_close(log);

    au_verify_result r = verify(arch);
    assert_true(r.ok);
    assert_int_equal(r.rows, 9);
    assert_int_equal(r.last_seq, 9);
    r = verify(t.db);
    assert_true(r.ok);
    assert_int_equal(r.rows, 5);
    assert_int_equal(r.first_seq, 10);
    /* The live chain starts at the archive's head. */
    sqlite3 *a, *l;
    sqlite3_stmt *sa, *sl;
    assert_int_equal(sqlite3_open(arch, &a), SQLITE_OK);
    assert_int_equal(sqlite3_open(t.db, &l), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(a, "SELECT hash FROM events WHERE seq = 9", -1, &sa, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(l, "SELECT value FROM meta WHERE key='chain_prev_hash'",
                                        -1, &sl, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(sa), SQLITE_ROW);
    assert_int_equal(sqlite3_step(sl), SQLITE_ROW);
    assert_memory_equal(sqlite3_column_blob(sa, 0), sqlite3_column_blob(sl, 0), 32);
    sqlite3_finalize(sa);
    sqlite3_finalize(sl);
    sqlite3_close(a);
    sqlite3_close(l);
    /* Deleting the live log's first row is still found. */
    assert_int_equal(au_tamper_delete(t.db, 10, NULL), 0);
    r = verify(t.db);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 10);
    fx_audit_dir_remove(&t);
}

static void test_export_and_pinning(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    for (int i = 1; i <= 6; i++)
        append_full(log, i);
    au_log_close(log);
    char out[160], pub[160], other[160];
    snprintf(out, sizeof(out), "%s/export.jsonl", t.dir);
    snprintf(pub, sizeof(pub), "%s/audit-signing.key.pub", t.dir);
    snprintf(other, sizeof(other), "%s/other.key", t.dir);
    int64_t rows = 0;
    cm_err err = {{0}};
    assert_int_equal(au_export(t.db, out, &rows, &err), 0);
    assert_int_equal(rows, 6);
    assert_int_equal(au_export(t.db, out, &rows, &err), -1); /* never overwrites */

    au_verify_opts o = {.pubkey_path = pub};
    au_verify_result r;
    assert_int_equal(au_verify_export(out, &o, &r, &err), 0);
    assert_true(r.ok);
    assert_true(r.pinned);
    assert_int_equal(r.rows, 6);
    assert_true(r.checkpoints >= 1);

    /* Checkpoints signed by another key than the pinned one fail. */
    EVP_PKEY *k;
    assert_int_equal(au_signing_key_load(other, &k, &err), 0);
    EVP_PKEY_free(k);
    au_verify_opts wrong = {.pubkey_path = other};
    assert_int_equal(au_verify_db(t.db, &wrong, &r, &err), 0);
    assert_false(r.ok);
    assert_non_null(strstr(r.problem, "not the pinned key"));

    /* One changed character in the export is found. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "sed -i '4s/gemma-4-e2b/gemma-4-e3b/' '%s'", out);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(au_verify_export(out, &o, &r, &err), 0);
    assert_false(r.ok);
    assert_int_equal(r.bad_seq, 3);
    fx_audit_dir_remove(&t);
}

static void test_schema_versions(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_log *log = open_log(t.db, false);
    au_log_close(log);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    au_config cfg = {.db_path = t.db};
    cm_err err = {{0}};
    assert_int_equal(au_log_open(&cfg, &log, &err), -1);
    assert_non_null(strstr(err.msg, "schema version 99"));
    au_verify_result r;
    assert_int_equal(au_verify_db(t.db, NULL, &r, &err), -1);
    fx_audit_dir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_encoding),
        cmocka_unit_test(test_append_keys_hmac),
        cmocka_unit_test(test_flip_every_column),
        cmocka_unit_test(test_delete_swap_truncate),
        cmocka_unit_test(test_many_writer_threads),
        cmocka_unit_test(test_async_completion),
        cmocka_unit_test(test_unwritable_fails_closed),
        cmocka_unit_test(test_rotation_carries_chain),
        cmocka_unit_test(test_export_and_pinning),
        cmocka_unit_test(test_schema_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
