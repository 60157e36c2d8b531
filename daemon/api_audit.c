/*
 * daemon/api_audit.c -- the audit log through gemmad, for 'gemmactl audit'
 * and other clients over mutual TLS:
 *
 *   GET  /admin/v1/audit?FILTERS   rows, filtered, paged    (audit.read)
 *   GET  /admin/v1/audit/export    the export, page by page (audit.read)
 *   GET  /admin/v1/audit/verify    hash chain and checkpoints checked,
 *                                  pinned to gemmad's signing key (audit.verify)
 *   POST /admin/v1/audit/rotate    archive the log beside it (admin only;
 *                                  fail-closed like the other admin actions)
 *
 * Every route asks the guard first. Reading SQLite, verifying and rotating
 * block, so they run in libuv's thread pool; the answer (JSON text) is
 * built there too, and sent from the after-work callback on the loop
 * unless the client has gone meanwhile (closing the connection clears the
 * task's pointer to it through gmd_api_conn_of(c)->work_wait).
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "audit/read.h"
#include "common/log.h"
#include "daemon/api.h"
#include "daemon/audit_query.h"

/* Stored bytes one answer may carry (about; JSON adds escapes and names). */
#define PAGE_BYTES (4u << 20)
#define ARCHIVE_NAME_MAX 128

typedef enum task_kind { T_READ, T_EXPORT, T_VERIFY, T_ROTATE } task_kind;

typedef struct audit_task {
    uv_work_t work;
    gmd_conn *conn;             /* NULL once the client has gone (conn.c) */
    gmd_server *srv;
    task_kind kind;
    char db[GMD_PATH_MAX];      /* the audit database gemmad writes */
    gmd_audit_query q;          /* T_READ, T_EXPORT */
    /* T_ROTATE */
    gmd_guard *guard;
    char archive[GMD_PATH_MAX + ARCHIVE_NAME_MAX + 2];
    cm_identity id;
    char route[64];
    /* The answer, from the thread pool. */
    int status;                 /* HTTP status */
    gmd_api_err error;          /* the error when status is not 200 */
    char *body;                 /* JSON text when status is 200 (malloc) */
    cm_err err;                 /* the error message otherwise */
} audit_task;

/* ---- in the thread pool ---- */

static void fail(audit_task *t, gmd_api_err e)
{
    t->status = gmd_api_err_status(e);
    t->error = e;
}

/* Take `o` (reference stolen) as the answer. */
static void answer(audit_task *t, json_t *o)
{
    t->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (t->body == NULL) {
        cm_err_set(&t->err, "cannot encode the answer as JSON (text in the log not UTF-8?)");
        fail(t, GMD_ERR_INTERNAL);
        return;
    }
    t->status = 200;
}

static size_t row_bytes(const au_row *row)
{
    size_t n = 0;
    for (int c = 0; c < AU_NCOLS; c++)
        n += row->v[c].t == AU_V_BYTES ? row->v[c].n : 8;
    return n;
}

typedef struct read_ctx {
    json_t *rows;
    size_t *sizes;              /* stored bytes of each row in `rows` */
    size_t n, cap, bytes;
    int64_t keep;               /* rows wanted (the page's limit) */
    bool tail, more, stopped;
} read_ctx;

static int read_row(void *user, const au_row *row, cm_err *err)
{
    read_ctx *rc = user;
    size_t b = row_bytes(row);
    /* Reading forward, a page ends at the limit or the byte budget; the
     * next row only says there are more. */
    if (!rc->tail && rc->n > 0 && ((int64_t)rc->n >= rc->keep || rc->bytes >= PAGE_BYTES)) {
        rc->more = true;
        rc->stopped = true;
        return cm_err_set(err, "page full");
    }
    if (rc->n == rc->cap) {
        size_t ncap = rc->cap ? 2 * rc->cap : 64;
        size_t *ns = realloc(rc->sizes, ncap * sizeof(*ns));
        if (ns == NULL)
            return cm_err_set(err, "out of memory");
        rc->sizes = ns;
        rc->cap = ncap;
    }
    json_t *j = au_row_to_json(row, true);
    if (j == NULL || json_array_append_new(rc->rows, j) < 0)
        return cm_err_set(err, "row %lld cannot be encoded (text not UTF-8?)",
                          (long long)row->v[AU_C_SEQ].i);
    rc->sizes[rc->n++] = b;
    rc->bytes += b;
    return 0;
}

static void read_work(audit_task *t)
{
    au_filter f;
    gmd_audit_query_filter(&t->q, &f);
    f.limit = t->q.limit + 1; /* one more than asked: are there more? */
    read_ctx rc = {.rows = json_array(), .keep = t->q.limit, .tail = t->q.tail};
    if (rc.rows == NULL) {
        cm_err_set(&t->err, "out of memory");
        fail(t, GMD_ERR_INTERNAL);
        return;
    }
    if (au_query(t->db, &f, read_row, &rc, &t->err) < 0 && !rc.stopped) {
        json_decref(rc.rows);
        free(rc.sizes);
        cm_err_prefix(&t->err, "reading the audit log");
        fail(t, GMD_ERR_AUDIT_ERROR);
        return;
    }
    if (rc.tail) {
        /* The last limit + 1 rows, oldest first: drop the extra oldest,
         * then the oldest beyond the byte budget (keeping the newest). */
        size_t drop = (int64_t)rc.n > rc.keep ? 1 : 0;
        rc.more = drop > 0;
        size_t bytes = rc.bytes - (drop ? rc.sizes[0] : 0);
        while (drop + 1 < rc.n && bytes > PAGE_BYTES) {
            bytes -= rc.sizes[drop++];
            rc.more = true;
        }
        for (size_t i = 0; i < drop; i++)
            json_array_remove(rc.rows, 0);
    }
    free(rc.sizes);
    size_t n = json_array_size(rc.rows);
    json_t *last = n ? json_object_get(json_array_get(rc.rows, n - 1), "seq") : NULL;
    answer(t, json_pack("{s:s, s:o, s:b, s:O?}", "object", "list", "data", rc.rows, "more",
                        rc.more, "next_after", last));
}

static void export_work(audit_task *t)
{
    json_t *page;
    if (au_export_page(t->db, t->q.has_after ? t->q.after : 0,
                       t->q.has_upto ? t->q.upto : -1, t->q.limit, PAGE_BYTES, &page,
                       &t->err) < 0) {
        cm_err_prefix(&t->err, "exporting the audit log");
        fail(t, GMD_ERR_AUDIT_ERROR);
        return;
    }
    answer(t, page);
}

/* "<dir of db>/<name>" into out. */
static void beside(const char *db, const char *name, char *out, size_t cap)
{
    char tmp[GMD_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", db);
    snprintf(out, cap, "%s/%s", dirname(tmp), name);
}

static void verify_work(audit_task *t)
{
    /* gemmad signs checkpoints with the key beside its database (the
     * audit library's default): pin it, so a log re-signed with another
     * key does not pass. */
    char key[GMD_PATH_MAX + 32];
    /* Its public half: the private key is out of this process's reach
     * (the audit signer holds it, daemon/privsep.h). */
    beside(t->db, "audit-signing.key.pub", key, sizeof(key));
    if (access(key, R_OK) != 0)
        beside(t->db, "audit-signing.key", key, sizeof(key));
    au_verify_opts vo = {.pubkey_path = access(key, R_OK) == 0 ? key : NULL};
    au_verify_result r;
    if (au_verify_db(t->db, &vo, &r, &t->err) < 0) {
        cm_err_prefix(&t->err, "verifying the audit log");
        fail(t, GMD_ERR_AUDIT_ERROR);
        return;
    }
    answer(t, json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:s?}", "ok", r.ok,
                        "database", t->db, "rows", (json_int_t)r.rows, "checkpoints",
                        (json_int_t)r.checkpoints, "first_seq", (json_int_t)r.first_seq,
                        "last_seq", (json_int_t)r.last_seq, "first_bad_seq",
                        r.bad_seq >= 0 ? json_integer(r.bad_seq) : json_null(),
                        "unsealed_rows", (json_int_t)r.unsealed_rows, "pinned", r.pinned,
                        "problem", r.ok ? NULL : r.problem));
}

static void rotate_work(audit_task *t)
{
    struct stat st;
    if (stat(t->archive, &st) == 0) {
        cm_err_set(&t->err, "the archive %s already exists", t->archive);
        fail(t, GMD_ERR_ARCHIVE_EXISTS);
        return;
    }
    if (gmd_guard_rotate(t->guard, t->archive, &t->err) < 0) {
        fail(t, GMD_ERR_AUDIT_ERROR);
        return;
    }
    answer(t, json_pack("{s:b, s:s, s:s}", "rotated", true, "archive", t->archive, "database",
                        t->db));
}

static void task_work(uv_work_t *w)
{
    audit_task *t = w->data;
    switch (t->kind) {
    case T_READ: read_work(t); break;
    case T_EXPORT: export_work(t); break;
    case T_VERIFY: verify_work(t); break;
    case T_ROTATE: rotate_work(t); break;
    }
}

/* ---- on the loop ---- */

static void task_done(uv_work_t *w, int status)
{
    audit_task *t = w->data;
    gmd_conn *c = t->conn;
    if (c != NULL)
        gmd_api_conn_of(c)->work_wait = NULL;
    if (status < 0) {
        cm_err_set(&t->err, "the audit work did not run: %s", uv_strerror(status));
        fail(t, GMD_ERR_SERVER_BUSY);
    }
    if (t->kind == T_ROTATE) {
        /* The rotation's outcome, whether or not the client is still there. */
        au_event ev;
        gmd_guard_event(&ev, AU_EV_AUDIT_ROTATE, &t->id, NULL, GMD_ACT_AUDIT_ROTATE, NULL);
        char detail[GMD_PATH_MAX + ARCHIVE_NAME_MAX + 64];
        snprintf(detail, sizeof(detail), "%s%s", t->status == 200 ? "archive=" : "failed: ",
                 t->status == 200 ? t->archive : t->err.msg);
        ev.route = t->route;
        ev.http_status = t->status;
        ev.detail = detail;
        gmd_guard_record(&t->srv->guard, &ev, NULL, NULL);
        cm_log(t->status == 200 ? CM_LOG_NOTICE : CM_LOG_ERR, "audit", "rotation: %s", detail);
    }
    if (c != NULL) {
        if (t->status == 200)
            gmd_conn_respond(c, 200, "application/json", t->body, strlen(t->body), NULL);
        else
            gmd_api_send_error(c, t->error, NULL, t->err.msg);
    }
    free(t->body);
    free(t);
}

/* Run `t` in the thread pool for the request on `c` (which answers). */
static void task_start(gmd_conn *c, audit_task *t)
{
    t->conn = c;
    t->srv = c->srv;
    t->work.data = t;
    gmd_api_conn_of(c)->work_wait = &t->conn;
    int rc = uv_queue_work(c->srv->loop, &t->work, task_work, task_done);
    if (rc < 0) {
        gmd_api_conn_of(c)->work_wait = NULL;
        free(t);
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot start reading the audit log: %s", uv_strerror(rc));
        gmd_api_send_error(c, GMD_ERR_SERVER_BUSY, NULL, msg);
    }
}

/* Answer 404 and return false when gemmad keeps no audit log. */
static bool have_log(gmd_conn *c)
{
    if (gmd_guard_has_log(&c->srv->guard))
        return true;
    gmd_api_send_error(c, GMD_ERR_NO_AUDIT_LOG, NULL,
                   "this gemmad keeps no audit log (security.audit_db is not set)");
    return false;
}

static audit_task *task_new(gmd_conn *c, task_kind kind)
{
    audit_task *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
        return NULL;
    }
    t->kind = kind;
    snprintf(t->db, sizeof(t->db), "%s", c->srv->guard.audit_path);
    return t;
}

/* What a reading route asks for, kept while its "request" event is
 * written. */
typedef struct read_ask {
    task_kind kind;
    gmd_audit_route qroute;
} read_ask;

/* The "request" event is durable: check the log and the query string,
 * then read or verify in the thread pool. */
static void run_read(gmd_conn *c, void *arg)
{
    const read_ask *a = arg;
    if (!have_log(c))
        return;
    const char *q = strchr(gmd_http_url(&c->http), '?');
    if (a->kind == T_VERIFY && q != NULL && q[1] != '\0') {
        gmd_api_send_error(c, GMD_ERR_INVALID_QUERY, NULL,
                       "this route takes no query parameters");
        return;
    }
    audit_task *t = task_new(c, a->kind);
    if (t == NULL)
        return;
    if (a->kind != T_VERIFY &&
        gmd_audit_query_parse(q ? q + 1 : NULL, a->qroute, &t->q, &t->err) < 0) {
        gmd_api_send_error(c, GMD_ERR_INVALID_QUERY, NULL, t->err.msg);
        free(t);
        return;
    }
    task_start(c, t);
}

/* Reading the audit log is itself a decision worth a record: like the
 * admin actions, the read runs once its "request" event is durable, and is
 * refused (503) when the audit log cannot take it. */
static void ask_read(gmd_conn *c, gmd_action action, task_kind kind, gmd_audit_route qroute)
{
    read_ask *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
        return;
    }
    a->kind = kind;
    a->qroute = qroute;
    gmd_api_guard_admin(c, action, NULL, run_read, a);
}

void gmd_route_audit_read(gmd_conn *c)
{
    ask_read(c, GMD_ACT_AUDIT_READ, T_READ, GMD_AUDIT_Q_READ);
}

void gmd_route_audit_export(gmd_conn *c)
{
    ask_read(c, GMD_ACT_AUDIT_READ, T_EXPORT, GMD_AUDIT_Q_EXPORT);
}

void gmd_route_audit_verify(gmd_conn *c)
{
    ask_read(c, GMD_ACT_AUDIT_VERIFY, T_VERIFY, GMD_AUDIT_Q_READ);
}

/* ---- rotation ---- */

/* An archive name a client may give: a bare file name (no directory) of
 * letters, digits, '.', '_' and '-', not starting with '.', ending in
 * ".db" or ".archive", so it can only name a new file beside the log
 * that none of the log's own files (-wal, -shm, .checkpoints, keys) is. */
static bool archive_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ARCHIVE_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return (n > 3 && strcmp(s + n - 3, ".db") == 0) ||
           (n > 8 && strcmp(s + n - 8, ".archive") == 0);
}

typedef struct rotate_ask {
    bool has_name;
    char name[ARCHIVE_NAME_MAX + 2]; /* one more than allowed: too long is seen */
} rotate_ask;

/* The "request" event is durable: rotate in the thread pool. */
static void run_rotate(gmd_conn *c, void *arg)
{
    const rotate_ask *a = arg;
    if (!have_log(c))
        return;
    char name[ARCHIVE_NAME_MAX + 64];
    if (a->has_name) {
        if (!archive_name_ok(a->name)) {
            gmd_api_send_error(c, GMD_ERR_INVALID_ARCHIVE, "archive",
                           "'archive' must be a bare file name (the archive goes beside the "
                           "audit log) of letters, digits, '.', '_' and '-', not starting "
                           "with '.', ending in .db or .archive, at most 128 bytes");
            return;
        }
        snprintf(name, sizeof(name), "%s", a->name);
    } else {
        char base[GMD_PATH_MAX], stamp[32];
        snprintf(base, sizeof(base), "%s", c->srv->guard.audit_path);
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(name, sizeof(name), "%.64s.%s.archive", basename(base), stamp);
    }
    audit_task *t = task_new(c, T_ROTATE);
    if (t == NULL)
        return;
    beside(t->db, name, t->archive, sizeof(t->archive));
    t->guard = &c->srv->guard;
    t->id = c->id;
    gmd_api_route_name(c, t->route, sizeof(t->route));
    task_start(c, t);
}

void gmd_route_audit_rotate(gmd_conn *c)
{
    rotate_ask *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
        return;
    }
    /* An empty body is allowed: gemmad names the archive. */
    if (c->http.body_len > 0) {
        json_t *o = gmd_api_body_json(c);
        if (o == NULL) {
            free(a);
            return;
        }
        json_t *name = json_object_get(o, "archive");
        if (name != NULL && !json_is_null(name) && !json_is_string(name)) {
            json_decref(o);
            free(a);
            gmd_api_send_error(c, GMD_ERR_INVALID_TYPE, "archive",
                           "'archive' must be a string");
            return;
        }
        if (json_is_string(name)) {
            a->has_name = true;
            if (strlen(json_string_value(name)) != json_string_length(name))
                a->name[0] = '\0'; /* an embedded NUL: refused as empty */
            else
                snprintf(a->name, sizeof(a->name), "%s", json_string_value(name));
        }
        json_decref(o);
    }
    /* Acts only once the "request" event is durable (fail-closed). */
    gmd_api_guard_admin(c, GMD_ACT_AUDIT_ROTATE, NULL, run_rotate, a);
}
