/*
 * audit/verify.c -- checks an audit log: walks the rows in order,
 * recomputes the hash chain, and checks every signed checkpoint (from the
 * database, the "<db>.checkpoints" side file, or an export) against the
 * chain, so that altered, deleted, inserted, reordered and truncated rows
 * are all found. Names the first bad row.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/db.h"
#include "audit/keys.h"
#include "audit/read.h"

typedef struct vcp {
    int64_t seq, time_us;
    unsigned char head[AU_HASH_LEN];
    char key_id[AU_KEY_ID_HEX];
    unsigned char *sig;
    size_t sig_len;
    char origin[64];            /* "database", "side file line 3", ... */
} vcp;

typedef struct vkey {
    char key_id[AU_KEY_ID_HEX];
    EVP_PKEY *key;
} vkey;

typedef struct vstate {
    au_verify_result *res;
    int64_t start_seq, expect;
    unsigned char prev[AU_HASH_LEN];
    vcp *cps;
    size_t n_cps, cap_cps, next_cp;
    vkey *keys;
    size_t n_keys;
    EVP_PKEY *pinned;
    char pinned_id[AU_KEY_ID_HEX];
    int64_t last_cp_seq;
    int64_t probe_seq;
} vstate;

static void problem(vstate *v, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(vstate *v, int64_t seq, const char *fmt, ...)
{
    if (!v->res->ok)
        return; /* keep the first */
    v->res->ok = false;
    v->res->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->res->problem, sizeof(v->res->problem), fmt, ap);
    va_end(ap);
}

static void vstate_free(vstate *v)
{
    for (size_t i = 0; i < v->n_cps; i++)
        free(v->cps[i].sig);
    free(v->cps);
    for (size_t i = 0; i < v->n_keys; i++)
        EVP_PKEY_free(v->keys[i].key);
    free(v->keys);
    EVP_PKEY_free(v->pinned);
}

static int add_key(vstate *v, const char *pem, cm_err *err)
{
    EVP_PKEY *k;
    if (au_pubkey_from_pem(pem, strlen(pem), &k, err) < 0)
        return -1;
    vkey *nk = realloc(v->keys, (v->n_keys + 1) * sizeof(*nk));
    if (nk == NULL) {
        EVP_PKEY_free(k);
        return cm_err_set(err, "verify: out of memory");
    }
    v->keys = nk;
    nk[v->n_keys].key = k;
    if (au_key_id(k, nk[v->n_keys].key_id, err) < 0) {
        EVP_PKEY_free(k);
        return -1;
    }
    if (v->n_keys == 0 && v->res->key_id[0] == '\0')
        memcpy(v->res->key_id, nk[0].key_id, AU_KEY_ID_HEX);
    v->n_keys++;
    return 0;
}

static int add_cp(vstate *v, const vcp *cp, cm_err *err)
{
    if (v->n_cps == v->cap_cps) {
        size_t cap = v->cap_cps ? 2 * v->cap_cps : 16;
        vcp *n = realloc(v->cps, cap * sizeof(*n));
        if (n == NULL)
            return cm_err_set(err, "verify: out of memory");
        v->cps = n;
        v->cap_cps = cap;
    }
    v->cps[v->n_cps++] = *cp;
    return 0;
}

static int cmp_cp(const void *a, const void *b)
{
    const vcp *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    int c = memcmp(x->head, y->head, AU_HASH_LEN);
    if (c != 0 || x->sig_len != y->sig_len)
        return c != 0 ? c : x->sig_len < y->sig_len ? -1 : 1;
    return memcmp(x->sig, y->sig, x->sig_len);
}

/* Checks each checkpoint's signature; sorts them; drops the ones that
 * belong to rows before this log's chain start (an archive's). */
static void check_signatures(vstate *v)
{
    size_t keep = 0;
    for (size_t i = 0; i < v->n_cps; i++) {
        vcp *cp = &v->cps[i];
        if (cp->seq < v->start_seq - 1) {
            free(cp->sig);
            continue;
        }
        EVP_PKEY *key = NULL;
        if (v->pinned != NULL) {
            if (strcmp(cp->key_id, v->pinned_id) == 0)
                key = v->pinned;
        } else {
            for (size_t k = 0; k < v->n_keys; k++)
                if (strcmp(cp->key_id, v->keys[k].key_id) == 0)
                    key = v->keys[k].key;
        }
        unsigned char msg[AU_CKPT_MSG_LEN];
        au_checkpoint_message(cp->seq, cp->head, cp->time_us, msg);
        if (key == NULL)
            problem(v, cp->seq, "checkpoint at row %lld (%s) is signed by key %.16s..., %s",
                    (long long)cp->seq, cp->origin, cp->key_id,
                    v->pinned ? "not the pinned key" : "which the log does not list");
        else if (au_verify_sig(key, msg, sizeof(msg), cp->sig, cp->sig_len, NULL) < 0)
            problem(v, cp->seq, "checkpoint at row %lld (%s): the signature does not verify",
                    (long long)cp->seq, cp->origin);
        v->cps[keep++] = *cp;
    }
    v->n_cps = keep;
    if (v->n_cps > 1)
        qsort(v->cps, v->n_cps, sizeof(*v->cps), cmp_cp);
    /* The same checkpoint from the database and the side file: once. */
    keep = 0;
    for (size_t i = 0; i < v->n_cps; i++) {
        vcp *cp = &v->cps[i], *last = keep ? &v->cps[keep - 1] : NULL;
        if (last != NULL && last->seq == cp->seq && last->sig_len == cp->sig_len &&
            memcmp(last->head, cp->head, AU_HASH_LEN) == 0 &&
            memcmp(last->sig, cp->sig, cp->sig_len) == 0) {
            free(cp->sig);
            continue;
        }
        v->cps[keep++] = *cp;
    }
    v->n_cps = keep;
    v->res->checkpoints = (int64_t)v->n_cps;
}

/* Checkpoints that cover `seq` (the chain head after row seq is `head`). */
static void match_cps(vstate *v, int64_t seq, const unsigned char head[AU_HASH_LEN])
{
    while (v->next_cp < v->n_cps && v->cps[v->next_cp].seq <= seq) {
        vcp *cp = &v->cps[v->next_cp++];
        if (cp->seq < seq)
            problem(v, cp->seq, "row %lld is missing: a signed checkpoint (%s) covers it",
                    (long long)cp->seq, cp->origin);
        else if (memcmp(cp->head, head, AU_HASH_LEN) != 0)
            problem(v, seq,
                    "row %lld: the chain head differs from the signed checkpoint (%s): rows up to "
                    "here were replaced",
                    (long long)seq, cp->origin);
        else
            v->last_cp_seq = seq;
    }
}

static void walk_row(vstate *v, const au_row *row)
{
    au_verify_result *r = v->res;
    if (row->v[AU_C_SEQ].t != AU_V_INT) {
        problem(v, v->expect, "the row after row %lld has no valid seq", (long long)v->expect - 1);
        return;
    }
    int64_t seq = row->v[AU_C_SEQ].i;
    if (r->rows == 0)
        r->first_seq = seq;
    r->rows++;
    r->last_seq = seq;
    if (seq != v->expect) {
        if (seq > v->expect)
            problem(v, v->expect, "row %lld is missing (the next row is %lld)",
                    (long long)v->expect, (long long)seq);
        else
            problem(v, seq, "row %lld is out of order (expected row %lld)", (long long)seq,
                    (long long)v->expect);
    }
    unsigned char h[AU_HASH_LEN];
    if (au_row_hash(v->prev, row, h, NULL) < 0) {
        problem(v, seq, "row %lld: out of memory", (long long)seq);
        return;
    }
    if (!row->has_hash || memcmp(h, row->hash, AU_HASH_LEN) != 0)
        problem(v, seq, "row %lld: its hash does not match its contents and the previous row "
                        "(altered, inserted or reordered)",
                (long long)seq);
    memcpy(v->prev, row->has_hash ? row->hash : h, AU_HASH_LEN);
    memcpy(r->head, v->prev, AU_HASH_LEN);
    if (seq == v->probe_seq) {
        r->has_probe = true;
        memcpy(r->probe_hash, v->prev, AU_HASH_LEN);
    }
    match_cps(v, seq, v->prev);
    v->expect = seq + 1;
}

static void finish(vstate *v)
{
    au_verify_result *r = v->res;
    if (v->next_cp < v->n_cps) {
        vcp *cp = &v->cps[v->next_cp];
        problem(v, r->rows ? r->last_seq + 1 : v->start_seq,
                "the log ends at row %lld but a signed checkpoint (%s) covers rows up to %lld: "
                "the tail was truncated",
                (long long)(v->expect - 1), cp->origin, (long long)cp->seq);
    }
    int64_t sealed = v->last_cp_seq > v->start_seq - 1 ? v->last_cp_seq : v->start_seq - 1;
    r->unsealed_rows = r->rows ? r->last_seq - sealed : 0;
    if (r->unsealed_rows < 0)
        r->unsealed_rows = 0;
}

static int vstate_init(vstate *v, au_verify_result *res, const au_verify_opts *o, cm_err *err)
{
    memset(v, 0, sizeof(*v));
    memset(res, 0, sizeof(*res));
    res->ok = true;
    res->bad_seq = -1;
    v->res = res;
    if (o != NULL && o->pubkey_path != NULL) {
        if (au_pubkey_load(o->pubkey_path, &v->pinned, err) < 0 ||
            au_key_id(v->pinned, v->pinned_id, err) < 0)
            return -1;
        res->pinned = true;
        memcpy(res->key_id, v->pinned_id, AU_KEY_ID_HEX);
    }
    if (o != NULL)
        v->probe_seq = o->probe_seq;
    return 0;
}

/* The chain's start is known: record it (and a probe of the row before). */
static void chain_started(vstate *v)
{
    au_verify_result *r = v->res;
    r->start_seq = v->start_seq;
    memcpy(r->start_prev, v->prev, AU_HASH_LEN);
    memcpy(r->head, v->prev, AU_HASH_LEN);
    if (v->probe_seq > 0 && v->probe_seq == v->start_seq - 1) {
        r->has_probe = true;
        memcpy(r->probe_hash, v->prev, AU_HASH_LEN);
    }
}

/* Parses a checkpoint JSON object (side file or export). */
static int cp_from_json(json_t *j, const char *origin, vcp *cp)
{
    memset(cp, 0, sizeof(*cp));
    json_t *seq = json_object_get(j, "seq"), *t = json_object_get(j, "time_us");
    const char *head = json_string_value(json_object_get(j, "head"));
    const char *kid = json_string_value(json_object_get(j, "key_id"));
    const char *sig = json_string_value(json_object_get(j, "signature"));
    if (!json_is_integer(seq) || !json_is_integer(t) || head == NULL || kid == NULL ||
        sig == NULL || au_unhex(head, cp->head, AU_HASH_LEN) < 0 || strlen(kid) != 64 ||
        strlen(sig) % 2 != 0 || strlen(sig) > 1024)
        return -1;
    cp->seq = json_integer_value(seq);
    cp->time_us = json_integer_value(t);
    memcpy(cp->key_id, kid, 65);
    cp->sig_len = strlen(sig) / 2;
    cp->sig = malloc(cp->sig_len ? cp->sig_len : 1);
    if (cp->sig == NULL || au_unhex(sig, cp->sig, cp->sig_len) < 0) {
        free(cp->sig);
        cp->sig = NULL;
        return -1;
    }
    snprintf(cp->origin, sizeof(cp->origin), "%s", origin);
    return 0;
}

static int load_side_file(vstate *v, const char *path, bool must_exist, cm_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return must_exist ? cm_err_errno(err, "open %s", path) : 0;
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (line[0] == '\n')
            continue;
        char origin[64];
        snprintf(origin, sizeof(origin), "side file line %d", lineno);
        json_t *j = json_loads(line, 0, NULL);
        vcp cp;
        if (j == NULL || cp_from_json(j, origin, &cp) < 0) {
            json_decref(j);
            problem(v, -1, "%s:%d: malformed checkpoint line", path, lineno);
            continue;
        }
        json_decref(j);
        if (add_cp(v, &cp, err) < 0) {
            free(cp.sig);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

int au_verify_db(const char *db_path, const au_verify_opts *o, au_verify_result *res, cm_err *err)
{
    vstate v;
    if (vstate_init(&v, res, o, err) < 0) {
        vstate_free(&v);
        return -1;
    }
    sqlite3 *db;
    if (au_db_open(db_path, true, &db, err) < 0) {
        vstate_free(&v);
        return -1;
    }
    int rc = au_db_exec(db, "BEGIN", err);
    if (rc == 0)
        rc = au_db_chain_start(db, &v.start_seq, v.prev, err);
    v.expect = v.start_seq;
    v.last_cp_seq = v.start_seq - 1;
    if (rc == 0)
        chain_started(&v);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && v.pinned == NULL) {
        rc = au_db_prepare(db, "SELECT pubkey_pem FROM signing_keys", &st, err);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            const char *pem = (const char *)sqlite3_column_text(st, 0);
            if (pem == NULL || add_key(&v, pem, NULL) < 0)
                problem(&v, -1, "table signing_keys holds a malformed key");
        }
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        rc = au_db_prepare(db, "SELECT seq, head_hash, time_us, key_id, signature, id FROM "
                               "checkpoints", &st, err);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            vcp cp = {0};
            cp.seq = sqlite3_column_int64(st, 0);
            cp.time_us = sqlite3_column_int64(st, 2);
            const char *kid = (const char *)sqlite3_column_text(st, 3);
            snprintf(cp.key_id, sizeof(cp.key_id), "%s", kid ? kid : "");
            snprintf(cp.origin, sizeof(cp.origin), "database checkpoint %lld",
                     (long long)sqlite3_column_int64(st, 5));
            int sn = sqlite3_column_bytes(st, 4);
            if (sqlite3_column_bytes(st, 1) != AU_HASH_LEN || sn <= 0) {
                problem(&v, cp.seq, "%s is malformed", cp.origin);
                continue;
            }
            memcpy(cp.head, sqlite3_column_blob(st, 1), AU_HASH_LEN);
            cp.sig = malloc((size_t)sn);
            if (cp.sig == NULL) {
                rc = cm_err_set(err, "verify: out of memory");
                break;
            }
            memcpy(cp.sig, sqlite3_column_blob(st, 4), (size_t)sn);
            cp.sig_len = (size_t)sn;
            if ((rc = add_cp(&v, &cp, err)) < 0)
                free(cp.sig);
        }
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        char side[4096];
        bool given = o != NULL && o->checkpoints_path != NULL;
        snprintf(side, sizeof(side), "%s", given ? o->checkpoints_path : "");
        if (!given)
            snprintf(side, sizeof(side), "%s.checkpoints", db_path);
        rc = load_side_file(&v, side, given, err);
    }
    if (rc == 0) {
        check_signatures(&v);
        match_cps(&v, v.start_seq - 1, v.prev);
        char sql[1024];
        snprintf(sql, sizeof(sql), "SELECT %s FROM events ORDER BY seq", au_db_select_list());
        rc = au_db_prepare(db, sql, &st, err);
        int s = SQLITE_DONE;
        while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
            au_row row;
            au_db_row_from_stmt(st, 0, &row);
            walk_row(&v, &row);
        }
        if (rc == 0 && s != SQLITE_DONE)
            rc = cm_err_set(err, "audit db %s: %s", db_path, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        if (rc == 0)
            finish(&v);
    }
    au_db_exec(db, "COMMIT", NULL);
    au_db_close(db);
    vstate_free(&v);
    return rc;
}

/* A row from an export line (BLOB columns are hex; bufs owns decoded
 * bytes). Returns -1 if malformed. */
static int row_from_json(json_t *j, au_row *row, unsigned char **bufs)
{
    memset(row, 0, sizeof(*row));
    for (int c = 0; c < AU_NCOLS; c++) {
        json_t *x = json_object_get(j, au_columns[c].name);
        au_value *v = &row->v[c];
        if (x == NULL)
            return -1;
        if (json_is_null(x)) {
            v->t = AU_V_NULL;
        } else if (json_is_integer(x)) {
            v->t = AU_V_INT;
            v->i = json_integer_value(x);
        } else if (json_is_real(x)) {
            v->t = AU_V_REAL;
            v->r = json_real_value(x);
        } else if (json_is_string(x)) {
            v->t = AU_V_BYTES;
            const char *s = json_string_value(x);
            size_t n = json_string_length(x);
            if (au_columns[c].type == AU_COL_BLOB) {
                if (n % 2 != 0)
                    return -1;
                bufs[c] = malloc(n / 2 + 1);
                if (bufs[c] == NULL || au_unhex(s, bufs[c], n / 2) < 0)
                    return -1;
                v->p = bufs[c];
                v->n = n / 2;
            } else {
                v->p = (const unsigned char *)s;
                v->n = n;
            }
        } else {
            return -1;
        }
    }
    const char *h = json_string_value(json_object_get(j, "hash"));
    row->has_hash = h != NULL && au_unhex(h, row->hash, AU_HASH_LEN) == 0;
    return 0;
}

int au_verify_export(const char *path, const au_verify_opts *o, au_verify_result *res,
                     cm_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cm_err_errno(err, "open %s", path);
    int rc = au_verify_export_stream(f, path, o, res, err);
    fclose(f);
    return rc;
}

int au_verify_export_stream(FILE *f, const char *path, const au_verify_opts *o,
                            au_verify_result *res, cm_err *err)
{
    vstate v;
    if (vstate_init(&v, res, o, err) < 0) {
        vstate_free(&v);
        return -1;
    }
    int rc = 0;
    /* Pass 1: the header and the checkpoints. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    json_t *hdr = len > 0 ? json_loads(line, 0, NULL) : NULL;
    const char *fmt = json_string_value(json_object_get(hdr, "format"));
    const char *prev = json_string_value(json_object_get(hdr, "chain_prev_hash"));
    json_t *start = json_object_get(hdr, "chain_start_seq");
    if (fmt == NULL || strcmp(fmt, "gemmad-audit-export") != 0 || prev == NULL ||
        !json_is_integer(start) || au_unhex(prev, v.prev, AU_HASH_LEN) < 0) {
        rc = cm_err_set(err, "%s: not a gemmad audit export (bad header on line 1)", path);
    } else {
        v.start_seq = json_integer_value(start);
        v.expect = v.start_seq;
        v.last_cp_seq = v.start_seq - 1;
        chain_started(&v);
        json_t *keys = json_object_get(hdr, "signing_keys"), *k;
        size_t i;
        if (v.pinned == NULL)
            json_array_foreach(keys, i, k) {
                const char *pem = json_string_value(json_object_get(k, "pubkey_pem"));
                if (pem == NULL || add_key(&v, pem, NULL) < 0)
                    problem(&v, -1, "%s: the header lists a malformed key", path);
            }
    }
    json_decref(hdr);
    long first_body = ftell(f);
    int lineno = 1;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (strstr(line, "\"record\":\"checkpoint\"") == NULL)
            continue;
        json_t *j = json_loads(line, 0, NULL);
        char origin[64];
        snprintf(origin, sizeof(origin), "export line %d", lineno);
        vcp cp;
        if (j == NULL || cp_from_json(j, origin, &cp) < 0) {
            problem(&v, -1, "%s:%d: malformed checkpoint", path, lineno);
        } else if (add_cp(&v, &cp, err) < 0) {
            free(cp.sig);
            rc = -1;
        }
        json_decref(j);
    }
    /* Pass 2: the rows, in file order. */
    if (rc == 0) {
        check_signatures(&v);
        match_cps(&v, v.start_seq - 1, v.prev);
        fseek(f, first_body, SEEK_SET);
        lineno = 1;
        while ((len = getline(&line, &cap, f)) > 0) {
            lineno++;
            json_t *j = json_loads(line, 0, NULL);
            const char *rec = json_string_value(json_object_get(j, "record"));
            if (rec != NULL && strcmp(rec, "checkpoint") == 0) {
                json_decref(j);
                continue;
            }
            au_row row;
            unsigned char *bufs[AU_NCOLS] = {0};
            if (rec == NULL || strcmp(rec, "event") != 0 || row_from_json(j, &row, bufs) < 0)
                problem(&v, v.expect, "%s:%d: malformed record (after row %lld)", path, lineno,
                        (long long)v.expect - 1);
            else
                walk_row(&v, &row);
            for (int c = 0; c < AU_NCOLS; c++)
                free(bufs[c]);
            json_decref(j);
        }
        finish(&v);
    }
    free(line);
    vstate_free(&v);
    return rc;
}
