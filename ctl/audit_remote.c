/*
 * ctl/audit_remote.c -- 'gemmactl audit' through gemmad (see
 * audit_remote.h): GET /admin/v1/audit (paged), /admin/v1/audit/export
 * (paged into a file au_verify_export accepts), /admin/v1/audit/verify,
 * and POST /admin/v1/audit/rotate.
 */
#include "ctl/audit_remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "ctl/ctl.h"
#include "ctl/output.h"

/* ---- rows ---- */

static int unhex(const char *s, size_t n, unsigned char *out)
{
    if (n % 2 != 0)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = cm_hex_digit((unsigned char)s[2 * i]);
        int lo = cm_hex_digit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

int ctl_audit_row_from_json(const json_t *o, au_row *row, unsigned char **buf, cm_err *err)
{
    memset(row, 0, sizeof(*row));
    *buf = NULL;
    if (!json_is_object(o))
        return cm_err_set(err, "a row from gemmad is not a JSON object");
    size_t blob_bytes = 0;
    for (int c = 0; c < AU_NCOLS; c++) {
        const json_t *v = json_object_get(o, au_columns[c].name);
        if (au_columns[c].type == AU_COL_BLOB && json_is_string(v))
            blob_bytes += json_string_length(v) / 2;
    }
    *buf = malloc(blob_bytes + 1);
    if (*buf == NULL)
        return cm_err_set(err, "out of memory");
    size_t used = 0;
    for (int c = 0; c < AU_NCOLS; c++) {
        const char *name = au_columns[c].name;
        const json_t *v = json_object_get(o, name);
        au_value *out = &row->v[c];
        if (v == NULL || json_is_null(v)) {
            out->t = AU_V_NULL;
        } else if (json_is_integer(v)) {
            out->t = AU_V_INT;
            out->i = json_integer_value(v);
        } else if (json_is_real(v)) {
            out->t = AU_V_REAL;
            out->r = json_real_value(v);
        } else if (json_is_string(v) && au_columns[c].type == AU_COL_BLOB) {
            size_t n = json_string_length(v);
            if (unhex(json_string_value(v), n, *buf + used) < 0)
                return cm_err_set(err, "row from gemmad: '%s' is not hexadecimal", name);
            out->t = AU_V_BYTES;
            out->p = *buf + used;
            out->n = n / 2;
            used += n / 2;
        } else if (json_is_string(v)) {
            out->t = AU_V_BYTES;
            out->p = (const unsigned char *)json_string_value(v);
            out->n = json_string_length(v);
        } else {
            return cm_err_set(err, "row from gemmad: '%s' has an unexpected type", name);
        }
    }
    if (row->v[AU_C_SEQ].t != AU_V_INT)
        return cm_err_set(err, "a row from gemmad has no sequence number");
    const json_t *h = json_object_get(o, "hash");
    if (json_is_string(h) && json_string_length(h) == 2 * AU_HASH_LEN &&
        unhex(json_string_value(h), 2 * AU_HASH_LEN, row->hash) == 0)
        row->has_hash = true;
    return 0;
}

int ctl_audit_sink_row(ctl_audit_sink *s, const au_row *row, cm_err *err)
{
    if (s->collect != NULL) {
        json_t *j = au_row_to_json(row, true);
        if (j == NULL || json_array_append_new(s->collect, j) < 0)
            return cm_err_set(err, "row %lld cannot be encoded (text not UTF-8?)",
                              (long long)row->v[AU_C_SEQ].i);
        s->rows++;
        return 0;
    }
    if (s->rows++ == 0)
        ctl_print_header(stdout, s->fmt);
    if (ctl_print_row(stdout, s->fmt, row) < 0)
        return cm_err_set(err, "row %lld cannot be printed (text not UTF-8?)",
                          (long long)row->v[AU_C_SEQ].i);
    return 0;
}

/* ---- calls ---- */

/* METHOD PATH with `body` (NULL: none); on a 2xx JSON object answer, *out
 * is it. Prints failures; returns the exit code. The client's own timeout
 * (minutes) holds: verifying or rotating a long log takes a while. */
static int call(ctl_client *c, const char *cmd, const char *method, const char *path,
                const char *body, json_t **out)
{
    int rc = ctl_call_json_text(c, cmd, method, path, body, 0, out);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        fprintf(stderr, "gemmactl %s: gemmad's answer to %s is not a JSON object\n", cmd, path);
        return CTL_EXIT_ERROR;
    }
    return CTL_EXIT_OK;
}

/* Append "&name=value" (value percent-encoded) to the query in `q`. */
static int add_param(char *q, size_t cap, const char *name, const char *value)
{
    size_t n = strlen(q);
    int w = snprintf(q + n, cap - n, "%s%s=", n ? "&" : "", name);
    if (w < 0 || (size_t)w >= cap - n)
        return -1;
    n += (size_t)w;
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                     *p == '~';
        if (n + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            q[n++] = (char)*p;
        } else {
            q[n++] = '%';
            q[n++] = hexd[*p >> 4];
            q[n++] = hexd[*p & 15];
        }
    }
    q[n] = '\0';
    return 0;
}

static int add_int(char *q, size_t cap, const char *name, int64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)v);
    return add_param(q, cap, name, num);
}

/* ---- tail and query ---- */

/* The rows of one answer into the sink; *last = the last row's seq. */
static int take_rows(const char *sub, const json_t *data, ctl_audit_sink *sink, int64_t *last)
{
    size_t i;
    const json_t *o;
    json_array_foreach(data, i, o) {
        au_row row;
        unsigned char *buf;
        cm_err err;
        int rc = ctl_audit_row_from_json(o, &row, &buf, &err);
        if (rc == 0) {
            *last = row.v[AU_C_SEQ].i;
            rc = ctl_audit_sink_row(sink, &row, &err);
        }
        free(buf);
        if (rc < 0) {
            fprintf(stderr, "gemmactl audit %s: %s\n", sub, err.msg);
            return CTL_EXIT_ERROR;
        }
    }
    return CTL_EXIT_OK;
}

int ctl_audit_remote_read(ctl_client *c, const char *sub, const au_filter *f,
                          ctl_audit_sink *sink)
{
    char base[8192] = "";
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "audit %s", sub);
    const char *const names[] = {"principal", "role", "model", "event", "decision"};
    const char *const values[] = {f->principal, f->role, f->model, f->event, f->decision};
    int bad = 0;
    if (f->has_since)
        bad |= add_int(base, sizeof(base), "since", f->since_us);
    if (f->has_until)
        bad |= add_int(base, sizeof(base), "until", f->until_us);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (values[i] != NULL)
            bad |= add_param(base, sizeof(base), names[i], values[i]);
    if (f->last)
        bad |= add_param(base, sizeof(base), "tail", "1");
    if (bad) {
        fprintf(stderr, "gemmactl %s: the filters are too long\n", cmd);
        return CTL_EXIT_USAGE;
    }
    int64_t left = f->limit; /* 0 = every row */
    int64_t after = -1;
    for (;;) {
        int64_t page = left > 0 && left < CTL_AUDIT_PAGE_MAX ? left : CTL_AUDIT_PAGE_MAX;
        char path[sizeof(base) + 128];
        char q[sizeof(base) + 64];
        snprintf(q, sizeof(q), "%s", base);
        add_int(q, sizeof(q), "limit", page);
        if (after >= 0)
            add_int(q, sizeof(q), "after", after);
        snprintf(path, sizeof(path), "/admin/v1/audit?%s", q);
        json_t *ans;
        int rc = call(c, cmd, "GET", path, NULL, &ans);
        if (rc != CTL_EXIT_OK)
            return rc;
        const json_t *data = json_object_get(ans, "data");
        if (!json_is_array(data)) {
            json_decref(ans);
            fprintf(stderr, "gemmactl %s: gemmad's answer has no rows ('data')\n", cmd);
            return CTL_EXIT_ERROR;
        }
        size_t n = json_array_size(data);
        bool more = json_is_true(json_object_get(ans, "more"));
        int64_t last = after;
        rc = take_rows(sub, data, sink, &last);
        json_decref(ans);
        if (rc != CTL_EXIT_OK)
            return rc;
        if (f->last || !more || n == 0)
            return CTL_EXIT_OK;
        if (left > 0) {
            left -= (int64_t)n;
            if (left <= 0)
                return CTL_EXIT_OK;
        }
        after = last;
    }
}

/* ---- verify ---- */

int ctl_audit_remote_verify(ctl_client *c, bool as_json)
{
    json_t *ans;
    int rc = call(c, "audit verify", "GET", "/admin/v1/audit/verify", NULL, &ans);
    if (rc != CTL_EXIT_OK)
        return rc;
    const json_t *ok = json_object_get(ans, "ok");
    if (!json_is_boolean(ok)) {
        json_decref(ans);
        fprintf(stderr, "gemmactl audit verify: gemmad's answer has no 'ok'\n");
        return CTL_EXIT_ERROR;
    }
    if (as_json) {
        rc = ctl_print_json(ans, stdout) < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
        if (!json_is_true(ok))
            rc = CTL_EXIT_ERROR;
        json_decref(ans);
        return rc;
    }
    au_verify_result r;
    memset(&r, 0, sizeof(r));
    r.ok = json_is_true(ok);
    r.rows = json_integer_value(json_object_get(ans, "rows"));
    r.checkpoints = json_integer_value(json_object_get(ans, "checkpoints"));
    r.first_seq = json_integer_value(json_object_get(ans, "first_seq"));
    r.last_seq = json_integer_value(json_object_get(ans, "last_seq"));
    const json_t *bad = json_object_get(ans, "first_bad_seq");
    r.bad_seq = json_is_integer(bad) ? json_integer_value(bad) : -1;
    r.unsealed_rows = json_integer_value(json_object_get(ans, "unsealed_rows"));
    r.pinned = json_is_true(json_object_get(ans, "pinned"));
    const char *problem = json_string_value(json_object_get(ans, "problem"));
    snprintf(r.problem, sizeof(r.problem), "%s", problem ? problem : "(no reason given)");
    const char *db = json_string_value(json_object_get(ans, "database"));
    char what[CTL_SETTING_MAX + 64];
    snprintf(what, sizeof(what), "%s (gemmad)", db ? db : "audit log");
    rc = ctl_audit_print_verify(what, &r,
                                r.pinned ? "verified by gemmad with its own signing key"
                                         : "verified by gemmad with the keys the log lists");
    json_decref(ans);
    return rc;
}

int ctl_audit_print_verify(const char *what, const au_verify_result *r, const char *how)
{
    if (!r->ok) {
        printf("FAILED %s: %s\n", what, r->problem);
        if (r->bad_seq >= 0)
            printf("first bad row: %lld\n", (long long)r->bad_seq);
        return CTL_EXIT_ERROR;
    }
    printf("OK %s: %lld rows", what, (long long)r->rows);
    if (r->rows > 0)
        printf(" (%lld..%lld)", (long long)r->first_seq, (long long)r->last_seq);
    printf(", %lld signed checkpoints %s\n", (long long)r->checkpoints, how);
    if (r->unsealed_rows > 0)
        printf("note: the last %lld rows come after the last checkpoint; a truncation of them "
               "would not be detected\n",
               (long long)r->unsealed_rows);
    return CTL_EXIT_OK;
}

json_t *ctl_audit_verify_json(const char *what, const au_verify_result *r)
{
    return json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:s?}", "ok", r->ok,
                     "database", what, "rows", (json_int_t)r->rows, "checkpoints",
                     (json_int_t)r->checkpoints, "first_seq", (json_int_t)r->first_seq,
                     "last_seq", (json_int_t)r->last_seq, "first_bad_seq",
                     r->bad_seq >= 0 ? json_integer(r->bad_seq) : json_null(), "unsealed_rows",
                     (json_int_t)r->unsealed_rows, "pinned", r->pinned, "problem",
                     r->ok ? NULL : r->problem);
}

/* ---- export ---- */

static int put_line(FILE *f, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (s == NULL)
        return -1;
    int rc = fputs(s, f) < 0 || fputc('\n', f) < 0 ? -1 : 0;
    free(s);
    return rc;
}

/* Write the page's rows; *after = the last one's seq. */
static int put_rows(FILE *f, const json_t *rows, int64_t *after, int64_t *n, cm_err *err)
{
    size_t i;
    const json_t *o;
    json_array_foreach(rows, i, o) {
        const json_t *seq = json_object_get(o, "seq");
        if (!json_is_integer(seq) || json_integer_value(seq) <= *after)
            return cm_err_set(err, "gemmad sent an export row out of order");
        *after = json_integer_value(seq);
        if (put_line(f, o) < 0)
            return cm_err_errno(err, "write");
        (*n)++;
    }
    return 0;
}

int ctl_audit_remote_export(ctl_client *c, const char *out_path)
{
    FILE *f = fopen(out_path, "wx");
    if (f == NULL) {
        fprintf(stderr, "gemmactl audit export: cannot create %s: %s\n", out_path,
                strerror(errno));
        return CTL_EXIT_ERROR;
    }
    json_t *header = NULL;
    int64_t after = 0, upto = -1, rows = 0;
    int rc = CTL_EXIT_OK;
    cm_err err;
    err.msg[0] = '\0';
    for (;;) {
        char path[160];
        int n = snprintf(path, sizeof(path), "/admin/v1/audit/export?after=%lld&limit=%d",
                         (long long)after, CTL_AUDIT_PAGE_MAX);
        if (upto >= 0)
            snprintf(path + n, sizeof(path) - (size_t)n, "&upto=%lld", (long long)upto);
        json_t *page;
        rc = call(c, "audit export", "GET", path, NULL, &page);
        if (rc != CTL_EXIT_OK)
            break;
        const json_t *h = json_object_get(page, "header");
        const json_t *prows = json_object_get(page, "rows");
        const json_t *cps = json_object_get(page, "checkpoints");
        const json_t *pupto = json_object_get(page, "upto");
        bool more = json_is_true(json_object_get(page, "more"));
        if (!json_is_object(h) || !json_is_array(prows) || !json_is_array(cps) ||
            !json_is_integer(pupto)) {
            cm_err_set(&err, "gemmad's export page is not understood");
        } else if (header == NULL) {
            header = json_incref((json_t *)h);
            upto = json_integer_value(pupto);
            if (put_line(f, header) < 0)
                cm_err_errno(&err, "write %s", out_path);
        } else if (!json_equal(json_object_get(header, "chain_start_seq"),
                               json_object_get(h, "chain_start_seq"))) {
            cm_err_set(&err, "the audit log was rotated during the export; run it again");
        }
        if (err.msg[0] == '\0' && put_rows(f, prows, &after, &rows, &err) == 0) {
            if (more && json_array_size(prows) == 0)
                cm_err_set(&err, "gemmad's export page has no rows but says there are more");
            else if (!more) {
                size_t i;
                const json_t *cp;
                json_array_foreach(cps, i, cp) {
                    if (put_line(f, cp) < 0) {
                        cm_err_errno(&err, "write %s", out_path);
                        break;
                    }
                }
            }
        }
        json_decref(page);
        if (err.msg[0] != '\0') {
            fprintf(stderr, "gemmactl audit export: %s\n", err.msg);
            rc = CTL_EXIT_ERROR;
            break;
        }
        if (!more)
            break;
    }
    json_decref(header);
    if (fclose(f) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "gemmactl audit export: write %s: %s\n", out_path, strerror(errno));
        rc = CTL_EXIT_ERROR;
    }
    if (rc != CTL_EXIT_OK) {
        remove(out_path);
        return rc;
    }
    printf("exported %lld rows to %s\n", (long long)rows, out_path);
    return CTL_EXIT_OK;
}

/* ---- rotate ---- */

int ctl_audit_remote_rotate(ctl_client *c, const char *archive, bool as_json)
{
    json_t *body = archive ? json_pack("{s:s}", "archive", archive) : json_object();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        fprintf(stderr, "gemmactl audit rotate: out of memory\n");
        return CTL_EXIT_ERROR;
    }
    json_t *ans;
    int rc = call(c, "audit rotate", "POST", "/admin/v1/audit/rotate", text, &ans);
    free(text);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (as_json) {
        rc = ctl_print_json(ans, stdout) < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
    } else {
        const char *db = json_string_value(json_object_get(ans, "database"));
        const char *arch = json_string_value(json_object_get(ans, "archive"));
        printf("rotated %s into %s (gemmad)\n", db ? db : "the audit log", arch ? arch : "?");
    }
    json_decref(ans);
    return rc;
}
