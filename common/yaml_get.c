/*
 * common/yaml_get.c -- the typed getters of yaml_doc.h: read one node of
 * a loaded YAML tree as text, bool, integer, enum or list of strings, or
 * fail with "FILE:LINE:COL: KEY: expected ..., not 'VALUE'".
 */
#include "common/yaml_doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of a bad value a message quotes. */
#define QUOTE_MAX 64

int cm_yaml_fail(const cm_yaml_node *n, cm_err *err, const char *fmt, ...)
{
    char msg[CM_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n == NULL)
        return cm_err_set(err, "%s", msg);
    return cm_err_set(err, "%s:%u:%u: %s", n->file, n->line, n->col, msg);
}

const char *cm_yaml_kind_name(cm_yaml_kind kind)
{
    switch (kind) {
    case CM_YAML_SCALAR: return "a single value";
    case CM_YAML_SEQUENCE: return "a list";
    case CM_YAML_MAPPING: return "a mapping";
    }
    return "?";
}

static const char *wanted(cm_yaml_kind kind)
{
    switch (kind) {
    case CM_YAML_SCALAR: return "a single value";
    case CM_YAML_SEQUENCE: return "a list";
    case CM_YAML_MAPPING: return "a mapping (key: value)";
    }
    return "?";
}

int cm_yaml_expect(const cm_yaml_node *n, cm_yaml_kind kind, const char *key, cm_err *err)
{
    if (n->kind == kind)
        return 0;
    return cm_yaml_fail(n, err, "%s: expected %s, not %s", key, wanted(kind),
                        cm_yaml_kind_name(n->kind));
}

int cm_yaml_unknown_key(const cm_yaml_node *key, const char *where, const char *known,
                        cm_err *err)
{
    if (known == NULL)
        return cm_yaml_fail(key, err, "unknown key '%s' %s", key->text, where);
    return cm_yaml_fail(key, err, "unknown key '%s' %s (expected %s)", key->text, where, known);
}

const cm_yaml_node *cm_yaml_get(const cm_yaml_node *map, const char *key)
{
    if (map == NULL || map->kind != CM_YAML_MAPPING)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->len == len && memcmp(map->keys[i]->text, key, len) == 0)
            return map->items[i];
    return NULL;
}

int cm_yaml_text(const cm_yaml_node *n, const char *key, const char **out, cm_err *err)
{
    if (cm_yaml_expect(n, CM_YAML_SCALAR, key, err) < 0)
        return -1;
    if (strlen(n->text) != n->len)
        return cm_yaml_fail(n, err, "%s: expected text without a NUL byte", key);
    *out = n->text;
    return 0;
}

int cm_yaml_string(const cm_yaml_node *n, const char *key, char *dst, size_t cap,
                   cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    if (n->len >= cap)
        return cm_yaml_fail(n, err, "%s: expected at most %zu characters, not %zu", key,
                            cap - 1, n->len);
    memcpy(dst, s, n->len + 1);
    return 0;
}

int cm_yaml_strdup(const cm_yaml_node *n, const char *key, size_t max_len, char **out,
                   cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    if (n->len > max_len)
        return cm_yaml_fail(n, err, "%s: expected at most %zu characters, not %zu", key,
                            max_len, n->len);
    char *d = strdup(s);
    if (d == NULL)
        return cm_yaml_fail(n, err, "%s: out of memory", key);
    *out = d;
    return 0;
}

/* "'VALUE'" shortened to fit a message. */
static void quote(const cm_yaml_node *n, char *buf, size_t cap)
{
    if (n->len > QUOTE_MAX)
        snprintf(buf, cap, "'%.*s...'", QUOTE_MAX, n->text);
    else
        snprintf(buf, cap, "'%s'", n->text);
}

int cm_yaml_bool(const cm_yaml_node *n, const char *key, bool *out, cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
        *out = false;
        return 0;
    }
    char q[QUOTE_MAX + 8];
    quote(n, q, sizeof(q));
    return cm_yaml_fail(n, err, "%s: expected true or false (or yes, no), not %s", key, q);
}

/* Decimal digits of s into *v; false on anything else or overflow. */
static bool digits(const char *s, uint64_t *v)
{
    if (*s == '\0')
        return false;
    uint64_t acc = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *v = acc;
    return true;
}

int cm_yaml_u64(const cm_yaml_node *n, const char *key, uint64_t lo, uint64_t hi,
                uint64_t *out, cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    uint64_t v;
    if (!digits(s, &v) || v < lo || v > hi) {
        char q[QUOTE_MAX + 8];
        quote(n, q, sizeof(q));
        return cm_yaml_fail(n, err, "%s: expected a whole number in %llu..%llu, not %s", key,
                            (unsigned long long)lo, (unsigned long long)hi, q);
    }
    *out = v;
    return 0;
}

int cm_yaml_u32(const cm_yaml_node *n, const char *key, uint32_t lo, uint32_t hi,
                uint32_t *out, cm_err *err)
{
    uint64_t v;
    if (cm_yaml_u64(n, key, lo, hi, &v, err) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cm_yaml_i64(const cm_yaml_node *n, const char *key, int64_t lo, int64_t hi,
                int64_t *out, cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    bool negative = s[0] == '-';
    uint64_t mag;
    bool ok = digits(s + (negative ? 1 : 0), &mag);
    int64_t v = 0;
    if (ok && negative && mag <= (uint64_t)INT64_MAX + 1)
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    else if (ok && !negative && mag <= (uint64_t)INT64_MAX)
        v = (int64_t)mag;
    else
        ok = false;
    if (!ok || v < lo || v > hi) {
        char q[QUOTE_MAX + 8];
        quote(n, q, sizeof(q));
        return cm_yaml_fail(n, err, "%s: expected a whole number in %lld..%lld, not %s", key,
                            (long long)lo, (long long)hi, q);
    }
    *out = v;
    return 0;
}

int cm_yaml_enum_get(const cm_yaml_node *n, const char *key, const cm_yaml_enum *table,
                     size_t n_table, int *out, cm_err *err)
{
    const char *s;
    if (cm_yaml_text(n, key, &s, err) < 0)
        return -1;
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].value;
            return 0;
        }
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n_table && used < sizeof(names); i++) {
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                         table[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    char q[QUOTE_MAX + 8];
    quote(n, q, sizeof(q));
    return cm_yaml_fail(n, err, "%s: expected one of %s, not %s", key, names, q);
}

void cm_yaml_strings_free(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int cm_yaml_strings(const cm_yaml_node *n, const char *key, size_t max_items, size_t max_len,
                    char ***out, size_t *n_out, cm_err *err)
{
    if (cm_yaml_expect(n, CM_YAML_SEQUENCE, key, err) < 0)
        return -1;
    if (n->n > max_items)
        return cm_yaml_fail(n, err, "%s: expected at most %zu items, not %zu", key, max_items,
                            n->n);
    char **list = calloc(n->n ? n->n : 1, sizeof(*list));
    if (list == NULL)
        return cm_yaml_fail(n, err, "%s: out of memory", key);
    for (size_t i = 0; i < n->n; i++) {
        if (cm_yaml_strdup(n->items[i], key, max_len, &list[i], err) < 0) {
            cm_yaml_strings_free(list, i);
            return -1;
        }
        if (list[i][0] == '\0') {
            cm_yaml_strings_free(list, i + 1);
            return cm_yaml_fail(n->items[i], err, "%s: expected a non-empty string", key);
        }
    }
    *out = list;
    *n_out = n->n;
    return 0;
}
