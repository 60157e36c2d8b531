/*
 * daemon/audit_query.c -- parsing and checking the query string of the
 * audit routes (see audit_query.h). Everything here is untrusted input:
 * every length is bounded and every number range-checked.
 */
#include "daemon/audit_query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

/* Decode one percent-encoded value of n bytes into out (cap bytes,
 * NUL-terminated): '+' is a space, %XX a byte; an encoded NUL, a '%'
 * without two hex digits, or a value too long for out is an error. */
static int decode_value(const char *in, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 1 >= cap)
            return -1;
        char ch = in[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = cm_hex_digit((unsigned char)in[i + 1]);
            int lo = hi < 0 ? -1 : cm_hex_digit((unsigned char)in[i + 2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        out[k++] = ch;
    }
    out[k] = '\0';
    return 0;
}

/* A decimal integer >= 0 that fits int64_t, the whole of s. */
static int parse_count(const char *s, int64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

typedef enum key_kind { K_TIME, K_TEXT, K_SEQ, K_LIMIT, K_BOOL } key_kind;

typedef struct key_def {
    const char *name;
    key_kind kind;
    bool read, export;       /* the routes that take it */
} key_def;

static const key_def keys[] = {
    {"since", K_TIME, true, false},     {"until", K_TIME, true, false},
    {"principal", K_TEXT, true, false}, {"role", K_TEXT, true, false},
    {"model", K_TEXT, true, false},     {"event", K_TEXT, true, false},
    {"decision", K_TEXT, true, false},  {"after", K_SEQ, true, true},
    {"upto", K_SEQ, false, true},       {"limit", K_LIMIT, true, true},
    {"tail", K_BOOL, true, false},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Where the value of keys[k] goes in the query (k in the order of keys[]). */
static void slot(gmd_audit_query *q, size_t k, bool **has, int64_t **num, char **text)
{
    *has = NULL;
    *num = NULL;
    *text = NULL;
    switch (k) {
    case 0: *has = &q->has_since; *num = &q->since_us; break;
    case 1: *has = &q->has_until; *num = &q->until_us; break;
    case 2: *has = &q->has_principal; *text = q->principal; break;
    case 3: *has = &q->has_role; *text = q->role; break;
    case 4: *has = &q->has_model; *text = q->model; break;
    case 5: *has = &q->has_event; *text = q->event; break;
    case 6: *has = &q->has_decision; *text = q->decision; break;
    case 7: *has = &q->has_after; *num = &q->after; break;
    case 8: *has = &q->has_upto; *num = &q->upto; break;
    default: break; /* limit and tail: seen[] tracks them */
    }
}

int gmd_audit_query_parse(const char *query, gmd_audit_route route, gmd_audit_query *out,
                          cm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->limit = GMD_AUDIT_LIMIT_DEFAULT;
    bool seen[N_KEYS] = {false};
    const char *p = query ? query : "";
    while (*p != '\0') {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        const char *val = eq ? eq + 1 : p + len;
        size_t vlen = (size_t)(p + len - val);
        if (len == 0) { /* "a=1&&b=2": an empty parameter, ignored */
            p++;
            continue;
        }
        size_t k = 0;
        while (k < N_KEYS && (strlen(keys[k].name) != klen ||
                              memcmp(keys[k].name, p, klen) != 0))
            k++;
        if (k == N_KEYS || !(route == GMD_AUDIT_Q_READ ? keys[k].read : keys[k].export))
            return cm_err_set(err, "unknown query parameter '%.*s' (this route takes %s)",
                              (int)(klen > 40 ? 40 : klen), p,
                              route == GMD_AUDIT_Q_READ
                                  ? "since, until, principal, role, model, event, decision, "
                                    "after, limit and tail"
                                  : "after, upto and limit");
        const char *name = keys[k].name;
        if (seen[k])
            return cm_err_set(err, "query parameter '%s' is given twice", name);
        seen[k] = true;
        char v[GMD_AUDIT_TEXT_MAX];
        if (decode_value(val, vlen, v, sizeof(v)) < 0)
            return cm_err_set(err, "query parameter '%s': the value is not validly "
                              "percent-encoded, or longer than %d bytes", name,
                              GMD_AUDIT_TEXT_MAX - 1);
        bool *has;
        int64_t *num;
        char *text;
        slot(out, k, &has, &num, &text);
        switch (keys[k].kind) {
        case K_TIME:
        case K_SEQ:
            if (parse_count(v, num) < 0)
                return cm_err_set(err, "query parameter '%s' must be %s", name,
                                  keys[k].kind == K_TIME
                                      ? "a time in UTC microseconds since 1970 (an integer >= 0)"
                                      : "a row sequence number (an integer >= 0)");
            *has = true;
            break;
        case K_TEXT:
            memcpy(text, v, strlen(v) + 1);
            *has = true;
            break;
        case K_LIMIT:
            if (parse_count(v, &out->limit) < 0 || out->limit < 1 ||
                out->limit > GMD_AUDIT_LIMIT_MAX)
                return cm_err_set(err, "query parameter 'limit' must be an integer from 1 to %d",
                                  GMD_AUDIT_LIMIT_MAX);
            break;
        case K_BOOL:
            if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
                out->tail = true;
            else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
                out->tail = false;
            else
                return cm_err_set(err, "query parameter '%s' must be 1, 0, true or false", name);
            break;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (out->has_upto && out->has_after && out->upto < out->after)
        return cm_err_set(err, "query parameter 'upto' must not be below 'after'");
    return 0;
}

void gmd_audit_query_filter(const gmd_audit_query *q, au_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->has_since = q->has_since;
    f->since_us = q->since_us;
    f->has_until = q->has_until;
    f->until_us = q->until_us;
    f->principal = q->has_principal ? q->principal : NULL;
    f->role = q->has_role ? q->role : NULL;
    f->model = q->has_model ? q->model : NULL;
    f->event = q->has_event ? q->event : NULL;
    f->decision = q->has_decision ? q->decision : NULL;
    f->has_after = q->has_after;
    f->after_seq = q->after;
    f->limit = q->limit;
    f->last = q->tail;
}
