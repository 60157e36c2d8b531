/*
 * common/yaml_doc.c -- load YAML (libyaml's event parser) into the node
 * tree of yaml_doc.h, enforcing its limits as the events arrive, so a
 * hostile file is refused before it costs more than the limits allow.
 * The typed getters live in yaml_get.c.
 */
#include "common/yaml_doc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define DEFAULT_MAX_BYTES ((size_t)16 << 20)
#define DEFAULT_MAX_DEPTH 32u
#define DEFAULT_MAX_NODES ((size_t)200000)

struct cm_yaml_doc {
    char *name;            /* file name used in messages */
    cm_yaml_node *root;    /* NULL: empty document */
    cm_yaml_node **all;    /* every node, to free them */
    size_t n_all, cap_all;
};

/* What the builder knows while events arrive. */
typedef struct builder {
    cm_yaml_doc *doc;
    cm_yaml_limits lim;
    cm_err *err;
    cm_yaml_node **open;   /* collections not yet ended, outermost first */
    cm_yaml_node **key;    /* per open mapping: the key whose value comes next */
    unsigned depth;
    size_t documents;
} builder;

static int fail_at(const cm_yaml_doc *doc, const yaml_mark_t *m, cm_err *err,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(const cm_yaml_doc *doc, const yaml_mark_t *m, cm_err *err,
                   const char *fmt, ...)
{
    char msg[CM_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cm_err_set(err, "%s:%zu:%zu: %s", doc->name, m->line + 1, m->column + 1, msg);
}

/* Grow keys/items of a collection by one slot. */
static int reserve_child(cm_yaml_node *c)
{
    if (c->n < c->cap)
        return 0;
    size_t cap = c->cap ? c->cap * 2 : 4;
    cm_yaml_node **items = realloc(c->items, cap * sizeof(*items));
    if (items == NULL)
        return -1;
    c->items = items;
    if (c->kind == CM_YAML_MAPPING) {
        cm_yaml_node **keys = realloc(c->keys, cap * sizeof(*keys));
        if (keys == NULL)
            return -1;
        c->keys = keys;
    }
    c->cap = cap;
    return 0;
}

/* A new node of `kind` at mark `m`, owned by the document. */
static cm_yaml_node *new_node(builder *b, cm_yaml_kind kind, const yaml_mark_t *m)
{
    cm_yaml_doc *doc = b->doc;
    if (doc->n_all >= b->lim.max_nodes) {
        fail_at(doc, m, b->err, "more than %zu YAML nodes", b->lim.max_nodes);
        return NULL;
    }
    if (doc->n_all == doc->cap_all) {
        size_t cap = doc->cap_all ? doc->cap_all * 2 : 64;
        cm_yaml_node **all = realloc(doc->all, cap * sizeof(*all));
        if (all == NULL) {
            fail_at(doc, m, b->err, "out of memory");
            return NULL;
        }
        doc->all = all;
        doc->cap_all = cap;
    }
    cm_yaml_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        fail_at(doc, m, b->err, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->file = doc->name;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    doc->all[doc->n_all++] = n;
    return n;
}

/* Hang `n` under the innermost open collection (or make it the root). A
 * mapping's children alternate key, value: a key waits in b->key until
 * its value arrives. */
static int attach(builder *b, cm_yaml_node *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        b->doc->root = n;
        return 0;
    }
    cm_yaml_node *parent = b->open[b->depth - 1];
    cm_yaml_node **key = &b->key[b->depth - 1];
    if (parent->kind == CM_YAML_MAPPING && *key == NULL) {
        if (n->kind != CM_YAML_SCALAR)
            return fail_at(b->doc, m, b->err, "a key must be a single value, not %s",
                           cm_yaml_kind_name(n->kind));
        if (strlen(n->text) != n->len)
            return fail_at(b->doc, m, b->err, "a key must not contain a NUL byte");
        *key = n;
        return 0;
    }
    if (reserve_child(parent) < 0)
        return fail_at(b->doc, m, b->err, "out of memory");
    if (parent->kind == CM_YAML_MAPPING) {
        parent->keys[parent->n] = *key;
        *key = NULL;
    }
    parent->items[parent->n++] = n;
    return 0;
}

static int by_text(const void *a, const void *b)
{
    const cm_yaml_node *x = *(cm_yaml_node *const *)a, *y = *(cm_yaml_node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    /* equal keys: file order, so the later one is reported */
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : (x->col > y->col);
}

/* A mapping just ended: its keys must all differ. Sorting a copy keeps
 * this O(n log n) however many keys a hostile file gives. */
static int check_duplicates(builder *b, const cm_yaml_node *map)
{
    if (map->n < 2)
        return 0;
    cm_yaml_node **sorted = malloc(map->n * sizeof(*sorted));
    if (sorted == NULL)
        return cm_yaml_fail(map, b->err, "out of memory");
    memcpy(sorted, map->keys, map->n * sizeof(*sorted));
    qsort(sorted, map->n, sizeof(*sorted), by_text);
    int rc = 0;
    for (size_t i = 1; i < map->n && rc == 0; i++)
        if (sorted[i]->len == sorted[i - 1]->len &&
            memcmp(sorted[i]->text, sorted[i - 1]->text, sorted[i]->len) == 0)
            rc = cm_yaml_fail(sorted[i], b->err, "duplicate key '%s' (first given at %u:%u)",
                              sorted[i]->text, sorted[i - 1]->line, sorted[i - 1]->col);
    free(sorted);
    return rc;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    cm_yaml_node *n = new_node(b, CM_YAML_SCALAR, &ev->start_mark);
    if (n == NULL)
        return -1;
    n->len = ev->data.scalar.length;
    n->text = malloc(n->len + 1);
    if (n->text == NULL)
        return fail_at(b->doc, &ev->start_mark, b->err, "out of memory");
    memcpy(n->text, ev->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    return attach(b, n, &ev->start_mark);
}

static int on_start(builder *b, const yaml_event_t *ev, cm_yaml_kind kind)
{
    if (b->depth >= b->lim.max_depth)
        return fail_at(b->doc, &ev->start_mark, b->err,
                       "nested deeper than %u lists and mappings", b->lim.max_depth);
    cm_yaml_node *n = new_node(b, kind, &ev->start_mark);
    if (n == NULL || attach(b, n, &ev->start_mark) < 0)
        return -1;
    b->key[b->depth] = NULL;
    b->open[b->depth++] = n;
    return 0;
}

static int on_end(builder *b)
{
    cm_yaml_node *n = b->open[--b->depth];
    return n->kind == CM_YAML_MAPPING ? check_duplicates(b, n) : 0;
}

/* One event; *done set at the end of the stream. */
static int on_event(builder *b, const yaml_event_t *ev, bool *done)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return fail_at(b->doc, &ev->start_mark, b->err,
                           "the file holds one YAML document, not several (a second starts here)");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_at(b->doc, &ev->start_mark, b->err,
                       "aliases (*name) are not allowed in a config file");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, CM_YAML_SEQUENCE);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, CM_YAML_MAPPING);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    default: /* stream start, document end, no event */
        return 0;
    }
}

static int syntax_error(const cm_yaml_doc *doc, const yaml_parser_t *p, cm_err *err)
{
    const yaml_mark_t *m = &p->problem_mark;
    if (p->error == YAML_MEMORY_ERROR)
        return cm_err_set(err, "%s: out of memory reading YAML", doc->name);
    return fail_at(doc, m, err, "YAML syntax error: %s%s%s",
                   p->problem ? p->problem : "unknown", p->context ? " " : "",
                   p->context ? p->context : "");
}

static cm_yaml_limits with_defaults(const cm_yaml_limits *limits)
{
    cm_yaml_limits l = limits ? *limits : (cm_yaml_limits){0};
    if (l.max_bytes == 0)
        l.max_bytes = DEFAULT_MAX_BYTES;
    if (l.max_depth == 0)
        l.max_depth = DEFAULT_MAX_DEPTH;
    if (l.max_nodes == 0)
        l.max_nodes = DEFAULT_MAX_NODES;
    return l;
}

int cm_yaml_parse(const char *text, size_t len, const char *name,
                  const cm_yaml_limits *limits, cm_yaml_doc **out, cm_err *err)
{
    *out = NULL;
    if (name == NULL)
        name = "<yaml>";
    builder b = {.lim = with_defaults(limits), .err = err};
    if (len > b.lim.max_bytes)
        return cm_err_set(err, "%s: larger than %zu bytes", name, b.lim.max_bytes);
    b.doc = calloc(1, sizeof(*b.doc));
    b.open = calloc(b.lim.max_depth, sizeof(*b.open));
    b.key = calloc(b.lim.max_depth, sizeof(*b.key));
    if (b.doc == NULL || b.open == NULL || b.key == NULL || (b.doc->name = strdup(name)) == NULL) {
        free(b.open);
        free(b.key);
        cm_yaml_free(b.doc);
        return cm_err_set(err, "%s: out of memory", name);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(b.open);
        free(b.key);
        cm_yaml_free(b.doc);
        return cm_err_set(err, "%s: cannot start the YAML parser", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(b.doc, &parser, err);
            break;
        }
        rc = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(b.open);
    free(b.key);
    if (rc < 0) {
        cm_yaml_free(b.doc);
        return -1;
    }
    *out = b.doc;
    return 0;
}

int cm_yaml_load(const char *path, const cm_yaml_limits *limits, bool missing_ok,
                 cm_yaml_doc **out, cm_err *err)
{
    *out = NULL;
    cm_yaml_limits lim = with_defaults(limits);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (missing_ok && errno == ENOENT)
            return 0;
        return cm_err_errno(err, "cannot open %s", path);
    }
    char *buf = malloc(lim.max_bytes + 1);
    if (buf == NULL) {
        fclose(f);
        return cm_err_set(err, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, lim.max_bytes + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = cm_err_set(err, "cannot read %s", path);
    else
        rc = cm_yaml_parse(buf, n, path, &lim, out, err);
    free(buf);
    return rc;
}

const cm_yaml_node *cm_yaml_root(const cm_yaml_doc *doc)
{
    return doc ? doc->root : NULL;
}

void cm_yaml_free(cm_yaml_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->n_all; i++) {
        free(doc->all[i]->text);
        free(doc->all[i]->keys);
        free(doc->all[i]->items);
        free(doc->all[i]);
    }
    free(doc->all);
    free(doc->name);
    free(doc);
}
