/*
 * common/yaml_doc.h -- the one YAML reader every gemmad config uses
 * (gemmad.yaml, policy.yaml, gemmactl's config.yaml).
 *
 * cm_yaml_parse() turns YAML text into a small tree of nodes (mapping,
 * sequence, scalar), each remembering where it starts in the file, and
 * refuses what a config never needs and a hostile file could abuse:
 * aliases (*name), more than one document, duplicate keys in a mapping,
 * keys that are not scalars, and input past the limits on size, nesting
 * depth and node count. The typed getters below then read a scalar as
 * text, bool, integer in a range, enum or list of strings, and report a
 * bad value as
 *
 *     FILE:LINE:COL: KEY: expected ..., not 'VALUE'
 *
 * Nothing is printed: every failure is a cm_err (common/err.h). Tags and
 * quoting are ignored: a value is its text ("8443" and 8443 are the same).
 */
#ifndef CM_YAML_DOC_H
#define CM_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum cm_yaml_kind {
    CM_YAML_SCALAR,
    CM_YAML_SEQUENCE,
    CM_YAML_MAPPING,
} cm_yaml_kind;

typedef struct cm_yaml_node cm_yaml_node;
struct cm_yaml_node {
    cm_yaml_kind kind;
    const char *file;      /* the document's name, for messages */
    unsigned line, col;    /* 1-based place where the node starts */
    char *text;            /* scalar: its text, NUL-terminated ... */
    size_t len;            /* ... and its length (it may hold a NUL byte) */
    size_t n;              /* sequence: items; mapping: pairs */
    cm_yaml_node **keys;   /* mapping: the n keys (scalars, all different) */
    cm_yaml_node **items;  /* sequence: the n items; mapping: the n values */
    size_t cap;            /* room in keys/items (the reader's business) */
};

/* What a document may hold at most. Zero in a field means its default. */
typedef struct cm_yaml_limits {
    size_t max_bytes;      /* input size; default 16 MiB */
    unsigned max_depth;    /* collections inside collections; default 32 */
    size_t max_nodes;      /* nodes of every kind; default 200000 */
} cm_yaml_limits;

typedef struct cm_yaml_doc cm_yaml_doc;

/* Parse `len` bytes of YAML; `name` is the file named in messages.
 * `limits` may be NULL (all defaults). An empty document (no node at
 * all) is no error: cm_yaml_root() is then NULL. */
int cm_yaml_parse(const char *text, size_t len, const char *name,
                  const cm_yaml_limits *limits, cm_yaml_doc **out, cm_err *err);

/* Read and parse a file. With `missing_ok`, a file that does not exist
 * is no error: *out is set to NULL and 0 returned. */
int cm_yaml_load(const char *path, const cm_yaml_limits *limits, bool missing_ok,
                 cm_yaml_doc **out, cm_err *err);

/* The top node, or NULL for an empty document. */
const cm_yaml_node *cm_yaml_root(const cm_yaml_doc *doc);

void cm_yaml_free(cm_yaml_doc *doc);

/* ---- errors ---- */

/* "FILE:LINE:COL: <message>" for node `n` (or "<message>" with n NULL).
 * Returns -1. */
int cm_yaml_fail(const cm_yaml_node *n, cm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a scalar", "a list", "a mapping". */
const char *cm_yaml_kind_name(cm_yaml_kind kind);

/* Checks n's kind: "FILE:L:C: KEY: expected a mapping (key: value), not a
 * list". */
int cm_yaml_expect(const cm_yaml_node *n, cm_yaml_kind kind, const char *key, cm_err *err);

/* "FILE:L:C: unknown key 'K' WHERE (expected KNOWN)" at the key node.
 * `where` carries its preposition ("in limits", "at top level"); `known`
 * may be NULL (no parenthesis). Returns -1. */
int cm_yaml_unknown_key(const cm_yaml_node *key, const char *where, const char *known,
                        cm_err *err);

/* ---- finding ---- */

/* The value of `key` in mapping `map`; NULL when map is NULL, not a
 * mapping, or has no such key. */
const cm_yaml_node *cm_yaml_get(const cm_yaml_node *map, const char *key);

/* ---- typed getters: each checks n and fills *out, or fails with
 * "FILE:L:C: KEY: expected ..." and leaves *out alone ---- */

/* A scalar's text (no NUL byte inside). */
int cm_yaml_text(const cm_yaml_node *n, const char *key, const char **out, cm_err *err);

/* Copy the text into dst[cap] (too long is an error, never truncated). */
int cm_yaml_string(const cm_yaml_node *n, const char *key, char *dst, size_t cap,
                   cm_err *err);

/* A malloc'ed copy of at most max_len characters. */
int cm_yaml_strdup(const cm_yaml_node *n, const char *key, size_t max_len, char **out,
                   cm_err *err);

/* true, yes -> true; false, no -> false (lower case only: the spellings
 * gemmad.yaml has always accepted). */
int cm_yaml_bool(const cm_yaml_node *n, const char *key, bool *out, cm_err *err);

/* Decimal digits only (no sign, no spaces, no 0x), lo <= value <= hi. */
int cm_yaml_u32(const cm_yaml_node *n, const char *key, uint32_t lo, uint32_t hi,
                uint32_t *out, cm_err *err);
int cm_yaml_u64(const cm_yaml_node *n, const char *key, uint64_t lo, uint64_t hi,
                uint64_t *out, cm_err *err);

/* An optional '-' then decimal digits, lo <= value <= hi. */
int cm_yaml_i64(const cm_yaml_node *n, const char *key, int64_t lo, int64_t hi,
                int64_t *out, cm_err *err);

/* One of a table's names (exact match); *out = its value. */
typedef struct cm_yaml_enum {
    const char *name;
    int value;
} cm_yaml_enum;
int cm_yaml_enum_get(const cm_yaml_node *n, const char *key, const cm_yaml_enum *table,
                     size_t n_table, int *out, cm_err *err);

/* A list of at most max_items strings of 1..max_len characters each;
 * *out is a malloc'ed array of malloc'ed strings (cm_yaml_strings_free). */
int cm_yaml_strings(const cm_yaml_node *n, const char *key, size_t max_items, size_t max_len,
                    char ***out, size_t *n_out, cm_err *err);
void cm_yaml_strings_free(char **list, size_t n);

#endif
