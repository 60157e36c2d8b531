/*
 * audit/log.c -- the audit writer (audit.h): a queue of events, a writer
 * thread that commits them in groups (one transaction for every event
 * waiting), chains their hashes, writes signed checkpoints and rotates
 * the log into archives.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/db.h"
#include "audit/keys.h"
#include "audit/waiter.h"
#include "common/log.h"

typedef enum it_kind { IT_EVENT, IT_CHECKPOINT, IT_ROTATE } it_kind;

typedef struct item {
    struct item *next;
    it_kind kind;
    au_value v[AU_NCOLS];        /* IT_EVENT: bytes owned (malloc'd) */
    char *archive;               /* IT_ROTATE */
    au_done_fn done;
    void *user;
    int status;
    int64_t seq;
    char msg[CM_ERR_MAX];
} item;

struct au_log {
    au_config cfg;
    char *db_path;
    sqlite3 *db;                 /* the writer thread's connection */
    sqlite3_stmt *ins;
    EVP_PKEY *sign_key;
    char key_id[AU_KEY_ID_HEX];
    unsigned char hmac_key[AU_HMAC_KEY_LEN];

    pthread_mutex_t mu;          /* guards the fields below */
    pthread_cond_t cv;
    item *q_head, *q_tail;
    size_t q_len;
    bool stopping, thread_started;
    au_stats stats;
    pthread_t thread;

    /* Writer-thread only. */
    uint32_t rows_since_cp;
    int64_t last_cp_us;          /* monotonic */
};

int64_t au_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- building rows from events (caller's thread) ---- */

static void item_free(item *it)
{
    if (it == NULL)
        return;
    for (size_t c = 0; c < AU_NCOLS; c++)
        if (it->v[c].t == AU_V_BYTES)
            free((void *)it->v[c].p);
    free(it->archive);
    free(it);
}

/* Copies s as UTF-8, replacing bytes that are not valid UTF-8 (and NUL)
 * with '?'. */
static unsigned char *utf8_copy(const unsigned char *s, size_t n)
{
    unsigned char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && c != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xc0) == 0x80;
        if (ok && len == 2 && c < 0xc2)
            ok = false; /* overlong */
        if (ok && len == 3) {
            unsigned cp = (c & 0x0fu) << 12 | (s[i + 1] & 0x3fu) << 6 | (s[i + 2] & 0x3fu);
            ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
        }
        if (ok && len == 4) {
            unsigned cp = (c & 0x07u) << 18 | (s[i + 1] & 0x3fu) << 12 | (s[i + 2] & 0x3fu) << 6 |
                          (s[i + 3] & 0x3fu);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (ok) {
            memcpy(d + i, s + i, len);
            i += len;
        } else {
            d[i++] = '?';
        }
    }
    d[n] = '\0';
    return d;
}

static int set_text(item *it, int col, const char *s, size_t max)
{
    if (s == NULL)
        return 0;
    size_t n = strnlen(s, max);
    unsigned char *d = utf8_copy((const unsigned char *)s, n);
    if (d == NULL)
        return -1;
    it->v[col] = (au_value){.t = AU_V_BYTES, .p = d, .n = n};
    return 0;
}

static int set_bytes_text(item *it, int col, const void *p, size_t n)
{
    unsigned char *d = utf8_copy(p, n);
    if (d == NULL)
        return -1;
    it->v[col] = (au_value){.t = AU_V_BYTES, .p = d, .n = n};
    return 0;
}

static void set_int(item *it, int col, int64_t v)
{
    it->v[col] = (au_value){.t = AU_V_INT, .i = v};
}

static int set_hmac(au_log *log, item *it, int col, const void *p, size_t n, cm_err *err)
{
    unsigned char *d = malloc(AU_HASH_LEN);
    if (d == NULL)
        return cm_err_set(err, "audit: out of memory");
    if (au_hmac(log->hmac_key, p, n, d, err) < 0) {
        free(d);
        return -1;
    }
    it->v[col] = (au_value){.t = AU_V_BYTES, .p = d, .n = AU_HASH_LEN};
    return 0;
}

static item *item_from_event(au_log *log, const au_event *ev, cm_err *err)
{
    if (ev->type == NULL || ev->type[0] == '\0') {
        cm_err_set(err, "audit: an event needs a type");
        return NULL;
    }
    item *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        cm_err_set(err, "audit: out of memory");
        return NULL;
    }
    it->kind = IT_EVENT;
    const size_t S = 4096;
    int rc = 0;
    set_int(it, AU_C_TIME_US, ev->time_us ? ev->time_us : au_now_us());
    rc |= set_text(it, AU_C_EVENT, ev->type, 64);
    rc |= set_text(it, AU_C_REQUEST_ID, ev->request_id, 256);
    const cm_identity *id = ev->identity;
    if (id != NULL) {
        if (id->subject_dn[0] != '\0' || id->fingerprint_sha256[0] != '\0') {
            rc |= set_text(it, AU_C_SUBJECT_DN, id->subject_dn, sizeof(id->subject_dn));
            rc |= set_text(it, AU_C_CERT_SERIAL, id->serial_hex, sizeof(id->serial_hex));
            rc |= set_text(it, AU_C_CERT_FINGERPRINT, id->fingerprint_sha256,
                           sizeof(id->fingerprint_sha256));
        }
        rc |= set_text(it, AU_C_TRANSPORT, id->transport == CM_TRANSPORT_UNIX ? "unix" : "tcp", 8);
        if (id->transport == CM_TRANSPORT_UNIX && id->has_peer_cred) {
            set_int(it, AU_C_PEER_UID, (int64_t)id->peer_uid);
            set_int(it, AU_C_PEER_PID, (int64_t)id->peer_pid);
        }
        if (id->peer_addr[0] != '\0')
            rc |= set_text(it, AU_C_PEER_ADDR, id->peer_addr, sizeof(id->peer_addr));
    }
    rc |= set_text(it, AU_C_ROLE, ev->role, 256);
    if (ev->rule_index >= 0)
        set_int(it, AU_C_RULE_INDEX, ev->rule_index);
    rc |= set_text(it, AU_C_RULE_NAME, ev->rule_name, 256);
    rc |= set_text(it, AU_C_ROUTE, ev->route, 512);
    rc |= set_text(it, AU_C_ACTION, ev->action, 64);
    rc |= set_text(it, AU_C_MODEL, ev->model, 256);
    rc |= set_text(it, AU_C_MODEL_DIGEST, ev->model_digest, 256);
    rc |= set_text(it, AU_C_DECISION, ev->decision, 16);
    rc |= set_text(it, AU_C_REASON, ev->reason, 64);
    if (ev->http_status > 0)
        set_int(it, AU_C_HTTP_STATUS, ev->http_status);
    if (ev->prompt_tokens >= 0)
        set_int(it, AU_C_PROMPT_TOKENS, ev->prompt_tokens);
    if (ev->completion_tokens >= 0)
        set_int(it, AU_C_COMPLETION_TOKENS, ev->completion_tokens);
    if (ev->latency_us >= 0)
        set_int(it, AU_C_LATENCY_US, ev->latency_us);
    rc |= set_text(it, AU_C_DETAIL, ev->detail, S);
    if (rc != 0) {
        item_free(it);
        cm_err_set(err, "audit: out of memory");
        return NULL;
    }
    if (ev->prompt != NULL) {
        if (set_hmac(log, it, AU_C_PROMPT_HMAC, ev->prompt, ev->prompt_len, err) < 0 ||
            (log->cfg.store_raw_text &&
             set_bytes_text(it, AU_C_PROMPT_TEXT, ev->prompt, ev->prompt_len) < 0)) {
            item_free(it);
            cm_err_set(err, "audit: cannot record the prompt");
            return NULL;
        }
    }
    if (ev->output != NULL) {
        if (set_hmac(log, it, AU_C_OUTPUT_HMAC, ev->output, ev->output_len, err) < 0 ||
            (log->cfg.store_raw_text &&
             set_bytes_text(it, AU_C_OUTPUT_TEXT, ev->output, ev->output_len) < 0)) {
            item_free(it);
            cm_err_set(err, "audit: cannot record the output");
            return NULL;
        }
    }
    return it;
}

/* ---- the writer thread ---- */

static int bind_row(au_log *log, const au_row *row, const unsigned char hash[AU_HASH_LEN],
                    cm_err *err)
{
    sqlite3_stmt *st = log->ins;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int c = 0; c < AU_NCOLS; c++) {
        const au_value *v = &row->v[c];
        int r = SQLITE_OK;
        if (v->t == AU_V_INT)
            r = sqlite3_bind_int64(st, c + 1, v->i);
        else if (v->t == AU_V_BYTES && au_columns[c].type == AU_COL_BLOB)
            r = sqlite3_bind_blob(st, c + 1, v->p, (int)v->n, SQLITE_STATIC);
        else if (v->t == AU_V_BYTES)
            r = sqlite3_bind_text(st, c + 1, (const char *)v->p, (int)v->n, SQLITE_STATIC);
        if (r != SQLITE_OK)
            return cm_err_set(err, "audit db: bind %s: %s", au_columns[c].name,
                              sqlite3_errmsg(log->db));
    }
    if (sqlite3_bind_blob(st, AU_NCOLS + 1, hash, AU_HASH_LEN, SQLITE_STATIC) != SQLITE_OK)
        return cm_err_set(err, "audit db: bind hash: %s", sqlite3_errmsg(log->db));
    return 0;
}

/* Inserts one event after (head_seq, head); advances them. */
static int insert_event(au_log *log, item *it, int64_t *head_seq, unsigned char head[AU_HASH_LEN],
                        cm_err *err)
{
    au_row row;
    memcpy(row.v, it->v, sizeof(row.v));
    row.v[AU_C_SEQ] = (au_value){.t = AU_V_INT, .i = *head_seq + 1};
    unsigned char h[AU_HASH_LEN];
    if (au_row_hash(head, &row, h, err) < 0 || bind_row(log, &row, h, err) < 0)
        return -1;
    if (sqlite3_step(log->ins) != SQLITE_DONE) {
        cm_err_set(err, "audit db %s: insert: %s", log->db_path, sqlite3_errmsg(log->db));
        sqlite3_reset(log->ins);
        return -1;
    }
    sqlite3_reset(log->ins);
    *head_seq += 1;
    memcpy(head, h, AU_HASH_LEN);
    it->seq = *head_seq;
    return 0;
}

typedef struct ckpt {
    bool written;
    int64_t seq, time_us;
    unsigned char head[AU_HASH_LEN];
    unsigned char *sig;
    size_t sig_len;
} ckpt;

/* Inside a transaction: signs and stores a checkpoint of the current head
 * unless one for it exists. */
static int write_checkpoint(au_log *log, ckpt *cp, cm_err *err)
{
    memset(cp, 0, sizeof(*cp));
    if (au_db_head(log->db, &cp->seq, cp->head, err) < 0)
        return -1;
    sqlite3_stmt *st;
    if (au_db_prepare(log->db, "SELECT count(*) FROM checkpoints WHERE seq = ?1", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, cp->seq);
    bool exists = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    if (exists)
        return 0;
    cp->time_us = au_now_us();
    unsigned char msg[AU_CKPT_MSG_LEN];
    au_checkpoint_message(cp->seq, cp->head, cp->time_us, msg);
    if (au_sign(log->sign_key, msg, sizeof(msg), &cp->sig, &cp->sig_len, err) < 0)
        return -1;
    if (au_db_prepare(log->db,
                      "INSERT INTO checkpoints (seq, head_hash, time_us, key_id, signature)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
                      &st, err) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, cp->seq);
    sqlite3_bind_blob(st, 2, cp->head, AU_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp->time_us);
    sqlite3_bind_text(st, 4, log->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, cp->sig, (int)cp->sig_len, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        cm_err_set(err, "audit db %s: insert checkpoint: %s", log->db_path,
                   sqlite3_errmsg(log->db));
        goto fail;
    }
    cp->written = true;
    return 0;
fail:
    free(cp->sig);
    cp->sig = NULL;
    return -1;
}

/* After commit: appends the checkpoint to "<db>.checkpoints" (JSON line),
 * so that deleting the tail of the database and its checkpoints together
 * is still detected. */
static void publish_checkpoint(au_log *log, ckpt *cp)
{
    if (!cp->written)
        return;
    char path[4096], head[2 * AU_HASH_LEN + 1];
    char *sig = malloc(2 * cp->sig_len + 1);
    snprintf(path, sizeof(path), "%s.checkpoints", log->db_path);
    au_hex(cp->head, AU_HASH_LEN, head);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (sig != NULL && fd >= 0) {
        au_hex(cp->sig, cp->sig_len, sig);
        char line[1024];
        int n = snprintf(line, sizeof(line),
                         "{\"seq\":%lld,\"head\":\"%s\",\"time_us\":%lld,\"key_id\":\"%s\","
                         "\"signature\":\"%s\"}\n",
                         (long long)cp->seq, head, (long long)cp->time_us, log->key_id, sig);
        if (n <= 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n ||
            fdatasync(fd) < 0)
            cm_log(CM_LOG_WARN, "audit", "cannot append to %s: %s", path, strerror(errno));
    } else {
        cm_log(CM_LOG_WARN, "audit", "cannot open %s: %s", path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    free(sig);
    free(cp->sig);
    cp->sig = NULL;
    pthread_mutex_lock(&log->mu);
    log->stats.checkpoints++;
    pthread_mutex_unlock(&log->mu);
    log->rows_since_cp = 0;
    log->last_cp_us = mono_us();
}

/* One transaction: the events of the batch (and a checkpoint if due). */
static void commit_events(au_log *log, item **batch, size_t n)
{
    cm_err err = {{0}};
    ckpt cp = {0};
    int64_t head_seq;
    unsigned char head[AU_HASH_LEN];
    int rc = au_db_exec(log->db, "BEGIN IMMEDIATE", &err);
    bool in_txn = rc == 0;
    if (rc == 0)
        rc = au_db_head(log->db, &head_seq, head, &err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = insert_event(log, batch[i], &head_seq, head, &err);
    uint32_t every = log->cfg.checkpoint_rows ? log->cfg.checkpoint_rows : 1000;
    if (rc == 0 && log->rows_since_cp + n >= every)
        rc = write_checkpoint(log, &cp, &err);
    if (rc == 0)
        rc = au_db_exec(log->db, "COMMIT", &err);
    if (rc < 0 && in_txn)
        au_db_exec(log->db, "ROLLBACK", NULL);
    if (rc == 0) {
        log->rows_since_cp += (uint32_t)n;
        publish_checkpoint(log, &cp);
    } else {
        free(cp.sig);
        cm_log(CM_LOG_ERR, "audit", "%s", err.msg);
    }
    pthread_mutex_lock(&log->mu);
    if (rc == 0) {
        log->stats.appended += n;
        log->stats.transactions++;
        log->stats.head_seq = head_seq;
    } else {
        log->stats.failed += n;
    }
    pthread_mutex_unlock(&log->mu);
    for (size_t i = 0; i < n; i++) {
        item *it = batch[i];
        if (rc == 0) {
            it->done(it->user, 0, it->seq, "");
        } else if (log->cfg.fail_open) {
            it->done(it->user, 0, -1, err.msg);
        } else {
            it->done(it->user, -1, -1, err.msg);
        }
        item_free(it);
    }
}

static int do_checkpoint(au_log *log, cm_err *err)
{
    ckpt cp = {0};
    if (au_db_exec(log->db, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (write_checkpoint(log, &cp, err) < 0 || au_db_exec(log->db, "COMMIT", err) < 0) {
        free(cp.sig);
        au_db_exec(log->db, "ROLLBACK", NULL);
        return -1;
    }
    publish_checkpoint(log, &cp);
    return 0;
}

static int attach_archive(au_log *log, const char *archive, cm_err *err)
{
    struct stat st;
    if (stat(archive, &st) == 0)
        return cm_err_set(err, "audit archive %s already exists", archive);
    sqlite3 *adb;
    if (au_db_open(archive, false, &adb, err) < 0)
        return -1;
    int rc = au_db_exec(adb, "PRAGMA journal_mode = DELETE", err);
    au_db_close(adb);
    if (rc < 0)
        return -1;
    sqlite3_stmt *at;
    if (au_db_prepare(log->db, "ATTACH DATABASE ?1 AS arch", &at, err) < 0)
        return -1;
    sqlite3_bind_text(at, 1, archive, -1, SQLITE_STATIC);
    rc = sqlite3_step(at);
    sqlite3_finalize(at);
    if (rc != SQLITE_DONE)
        return cm_err_set(err, "audit: attach %s: %s", archive, sqlite3_errmsg(log->db));
    return au_db_exec(log->db, "PRAGMA arch.synchronous = FULL", err);
}

/* Copies everything up to the head into the archive (one transaction),
 * then removes it from the live log and moves the chain start (another).
 * Events appended in between stay in the live log, chained correctly. */
static int do_rotate(au_log *log, const char *archive, cm_err *err)
{
    if (do_checkpoint(log, err) < 0 || attach_archive(log, archive, err) < 0)
        return -1;
    int64_t head_seq;
    unsigned char head[AU_HASH_LEN];
    char sql[512];
    int rc = au_db_exec(log->db, "BEGIN IMMEDIATE", err);
    if (rc == 0) {
        rc = au_db_head(log->db, &head_seq, head, err);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO arch.events SELECT * FROM main.events WHERE seq <= %lld;"
                 "INSERT INTO arch.checkpoints SELECT * FROM main.checkpoints WHERE seq <= %lld;"
                 "DELETE FROM arch.meta; INSERT INTO arch.meta SELECT * FROM main.meta;"
                 "INSERT OR IGNORE INTO arch.signing_keys SELECT * FROM main.signing_keys;",
                 (long long)head_seq, (long long)head_seq);
        if (rc == 0)
            rc = au_db_exec(log->db, sql, err);
        if (rc == 0)
            rc = au_db_exec(log->db, "COMMIT", err);
        else
            au_db_exec(log->db, "ROLLBACK", NULL);
    }
    au_db_exec(log->db, "DETACH DATABASE arch", NULL);
    if (rc < 0)
        return -1;
    rc = au_db_exec(log->db, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return -1;
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql),
             "DELETE FROM events WHERE seq <= %lld; DELETE FROM checkpoints WHERE seq <= %lld;"
             "UPDATE meta SET value = %lld WHERE key = 'chain_start_seq';",
             (long long)head_seq, (long long)head_seq, (long long)head_seq + 1);
    rc = au_db_exec(log->db, sql, err);
    if (rc == 0 && au_db_prepare(log->db,
                                 "UPDATE meta SET value = ?1 WHERE key = 'chain_prev_hash'",
                                 &st, err) == 0) {
        sqlite3_bind_blob(st, 1, head, AU_HASH_LEN, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = cm_err_set(err, "audit db: %s", sqlite3_errmsg(log->db));
        sqlite3_finalize(st);
    } else {
        rc = -1;
    }
    if (rc == 0)
        rc = au_db_exec(log->db, "COMMIT", err);
    else
        au_db_exec(log->db, "ROLLBACK", NULL);
    if (rc < 0)
        return cm_err_prefix(err, "audit rotate (archive %s is complete; live log unchanged)",
                             archive);
    return 0;
}

static void *writer_main(void *arg)
{
    au_log *log = arg;
    size_t max_batch = log->cfg.max_batch ? log->cfg.max_batch : 512;
    uint32_t cp_ms = log->cfg.checkpoint_ms ? log->cfg.checkpoint_ms : 60000;
    item **batch = calloc(max_batch, sizeof(*batch));
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (log->q_head == NULL && !log->stopping) {
            if (log->rows_since_cp > 0) {
                int64_t due = log->last_cp_us + (int64_t)cp_ms * 1000;
                if (mono_us() >= due) {
                    pthread_mutex_unlock(&log->mu);
                    cm_err err;
                    if (do_checkpoint(log, &err) < 0)
                        cm_log(CM_LOG_ERR, "audit", "%s", err.msg);
                    log->last_cp_us = mono_us(); /* retry later, not in a loop */
                    pthread_mutex_lock(&log->mu);
                    continue;
                }
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t wait = due - mono_us();
                ts.tv_sec += wait / 1000000;
                ts.tv_nsec += (wait % 1000000) * 1000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&log->cv, &log->mu, &ts);
            } else {
                pthread_cond_wait(&log->cv, &log->mu);
            }
        }
        if (log->q_head == NULL && log->stopping)
            break;
        /* Take a run of events, or one control item. */
        size_t n = 0;
        item *ctl = NULL;
        if (log->q_head->kind != IT_EVENT || batch == NULL) {
            ctl = log->q_head;
            log->q_head = ctl->next;
            log->q_len--;
        } else {
            while (log->q_head != NULL && log->q_head->kind == IT_EVENT && n < max_batch) {
                batch[n++] = log->q_head;
                log->q_head = log->q_head->next;
                log->q_len--;
            }
        }
        if (log->q_head == NULL)
            log->q_tail = NULL;
        pthread_mutex_unlock(&log->mu);
        if (ctl != NULL) {
            cm_err err = {{0}};
            int rc = -1;
            if (ctl->kind == IT_CHECKPOINT)
                rc = do_checkpoint(log, &err);
            else if (ctl->kind == IT_ROTATE)
                rc = do_rotate(log, ctl->archive, &err);
            else
                cm_err_set(&err, "audit: out of memory");
            ctl->done(ctl->user, rc, -1, err.msg);
            item_free(ctl);
        } else {
            commit_events(log, batch, n);
        }
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    free(batch);
    return NULL;
}

/* ---- the public API ---- */

static int enqueue(au_log *log, item *it, cm_err *err)
{
    size_t max = log->cfg.max_queue ? log->cfg.max_queue : 65536;
    pthread_mutex_lock(&log->mu);
    if (log->stopping || log->q_len >= max) {
        bool stop = log->stopping;
        log->stats.failed++;
        pthread_mutex_unlock(&log->mu);
        return cm_err_set(err, stop ? "audit log is closed" : "audit queue is full (%zu events)",
                          max);
    }
    it->next = NULL;
    if (log->q_tail != NULL)
        log->q_tail->next = it;
    else
        log->q_head = it;
    log->q_tail = it;
    log->q_len++;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    return 0;
}

int au_log_append_async(au_log *log, const au_event *ev, au_done_fn done, void *user, cm_err *err)
{
    item *it = item_from_event(log, ev, err);
    if (it == NULL)
        return -1;
    it->done = done;
    it->user = user;
    if (enqueue(log, it, err) < 0) {
        item_free(it);
        return -1;
    }
    return 0;
}

/* Enqueues `it` and waits for its completion. */
static int run_and_wait(au_log *log, item *it, int64_t *seq_out, cm_err *err)
{
    au_waiter w;
    au_waiter_init(&w);
    it->done = au_waiter_wake;
    it->user = &w;
    int rc = enqueue(log, it, err);
    if (rc < 0) {
        item_free(it);
    } else {
        au_waiter_wait(&w);
        rc = au_waiter_result(&w, seq_out, err);
    }
    au_waiter_destroy(&w);
    return rc;
}

int au_log_append(au_log *log, const au_event *ev, int64_t *seq_out, cm_err *err)
{
    item *it = item_from_event(log, ev, err);
    if (it == NULL)
        return -1;
    return run_and_wait(log, it, seq_out, err);
}

int au_log_checkpoint(au_log *log, cm_err *err)
{
    item *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return cm_err_set(err, "audit: out of memory");
    it->kind = IT_CHECKPOINT;
    return run_and_wait(log, it, NULL, err);
}

int au_log_rotate(au_log *log, const char *archive_path, cm_err *err)
{
    item *it = calloc(1, sizeof(*it));
    if (it == NULL || (it->archive = strdup(archive_path)) == NULL) {
        free(it);
        return cm_err_set(err, "audit: out of memory");
    }
    it->kind = IT_ROTATE;
    return run_and_wait(log, it, NULL, err);
}

void au_log_stats(au_log *log, au_stats *out)
{
    pthread_mutex_lock(&log->mu);
    *out = log->stats;
    pthread_mutex_unlock(&log->mu);
}

/* "<dir of db>/<name>" */
static char *beside_db(const char *db_path, const char *name)
{
    char *tmp = strdup(db_path);
    if (tmp == NULL)
        return NULL;
    const char *dir = dirname(tmp);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, name);
    free(tmp);
    return out;
}

static int register_key(au_log *log, cm_err *err)
{
    char *pem = au_pubkey_pem(log->sign_key, err);
    if (pem == NULL)
        return -1;
    sqlite3_stmt *st;
    int rc = au_db_prepare(log->db,
                           "INSERT OR IGNORE INTO signing_keys (key_id, pubkey_pem, added_us)"
                           " VALUES (?1, ?2, ?3)",
                           &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, log->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pem, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, au_now_us());
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = cm_err_set(err, "audit db %s: %s", log->db_path, sqlite3_errmsg(log->db));
        sqlite3_finalize(st);
    }
    free(pem);
    return rc;
}

static void log_free(au_log *log)
{
    sqlite3_finalize(log->ins);
    au_db_close(log->db);
    EVP_PKEY_free(log->sign_key);
    OPENSSL_cleanse(log->hmac_key, sizeof(log->hmac_key));
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    free(log->db_path);
    free(log);
}

int au_log_open(const au_config *cfg, au_log **out, cm_err *err)
{
    *out = NULL;
    if (cfg->db_path == NULL)
        return cm_err_set(err, "audit: no database path configured");
    au_log *log = calloc(1, sizeof(*log));
    if (log == NULL)
        return cm_err_set(err, "audit: out of memory");
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    log->cfg = *cfg;
    log->db_path = strdup(cfg->db_path);
    char *skey = cfg->signing_key_path ? strdup(cfg->signing_key_path)
                                       : beside_db(cfg->db_path, "audit-signing.key");
    char *hkey = cfg->hmac_key_path ? strdup(cfg->hmac_key_path)
                                    : beside_db(cfg->db_path, "audit-hmac.key");
    log->cfg.db_path = log->cfg.signing_key_path = log->cfg.hmac_key_path = NULL;
    int rc = 0;
    if (log->db_path == NULL || skey == NULL || hkey == NULL)
        rc = cm_err_set(err, "audit: out of memory");
    if (rc == 0)
        rc = au_signing_key_load(skey, &log->sign_key, err);
    if (rc == 0)
        rc = au_key_id(log->sign_key, log->key_id, err);
    if (rc == 0)
        rc = au_hmac_key_load(hkey, log->hmac_key, err);
    if (rc == 0)
        rc = au_db_open(log->db_path, false, &log->db, err);
    if (rc == 0) {
        sqlite3_busy_timeout(log->db, cfg->busy_timeout_ms ? (int)cfg->busy_timeout_ms : 10000);
        rc = register_key(log, err);
    }
    if (rc == 0) {
        char sql[1024];
        snprintf(sql, sizeof(sql), "INSERT INTO events (%s) VALUES (", au_db_select_list());
        for (int i = 1; i <= AU_NCOLS + 1; i++) {
            size_t l = strlen(sql);
            snprintf(sql + l, sizeof(sql) - l, "?%d%s", i, i <= AU_NCOLS ? "," : ")");
        }
        rc = au_db_prepare(log->db, sql, &log->ins, err);
    }
    if (rc == 0) {
        unsigned char h[AU_HASH_LEN];
        rc = au_db_head(log->db, &log->stats.head_seq, h, err);
    }
    free(skey);
    free(hkey);
    log->last_cp_us = mono_us();
    if (rc == 0 && pthread_create(&log->thread, NULL, writer_main, log) != 0)
        rc = cm_err_set(err, "audit: cannot start the writer thread");
    if (rc < 0) {
        log_free(log);
        return -1;
    }
    log->thread_started = true;
    *out = log;
    return 0;
}

void au_log_close(au_log *log)
{
    if (log == NULL)
        return;
    cm_err err;
    if (au_log_checkpoint(log, &err) < 0)
        cm_log(CM_LOG_WARN, "audit", "final checkpoint: %s", err.msg);
    pthread_mutex_lock(&log->mu);
    log->stopping = true;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    if (log->thread_started)
        pthread_join(log->thread, NULL);
    log_free(log);
}
