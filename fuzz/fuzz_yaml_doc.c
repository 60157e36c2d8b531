/*
 * fuzz/fuzz_yaml_doc.c -- libFuzzer target for the shared YAML reader
 * (common/yaml_doc.c, yaml_get.c) on arbitrary bytes: loading must return
 * a tree or a message, never crash, leak or read out of bounds; the tree
 * must keep the reader's promises (places set, keys scalar and distinct,
 * nesting and node count within the limits); and every typed getter on
 * every node must either succeed or say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/yaml_doc.h"

#define FUZZ_MAX_DEPTH 8u
#define FUZZ_MAX_NODES 2000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A getter's result: 0, or -1 with a message. */
static void check_rc(int rc, const cm_err *err)
{
    if (rc != 0 && (rc != -1 || err->msg[0] == '\0'))
        abort();
}

static void getters(const cm_yaml_node *n)
{
    static const cm_yaml_enum table[] = {{"unix", 1}, {"tcp", 2}, {"", 3}};
    cm_err err;
    const char *t;
    char buf[16];
    char *d = NULL;
    bool b;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    int e;
    char **list = NULL;
    size_t n_list = 0;
    err.msg[0] = '\0';
    check_rc(cm_yaml_text(n, "k", &t, &err), &err);
    err.msg[0] = '\0';
    check_rc(cm_yaml_string(n, "k", buf, sizeof(buf), &err), &err);
    err.msg[0] = '\0';
    int rc = cm_yaml_strdup(n, "k", 32, &d, &err);
    check_rc(rc, &err);
    free(d);
    err.msg[0] = '\0';
    check_rc(cm_yaml_bool(n, "k", &b, &err), &err);
    err.msg[0] = '\0';
    check_rc(cm_yaml_u32(n, "k", 1, 65535, &u32, &err), &err);
    err.msg[0] = '\0';
    check_rc(cm_yaml_u64(n, "k", 0, UINT64_MAX, &u64, &err), &err);
    err.msg[0] = '\0';
    check_rc(cm_yaml_i64(n, "k", INT64_MIN, INT64_MAX, &i64, &err), &err);
    err.msg[0] = '\0';
    check_rc(cm_yaml_enum_get(n, "k", table, 3, &e, &err), &err);
    err.msg[0] = '\0';
    rc = cm_yaml_strings(n, "k", 16, 32, &list, &n_list, &err);
    check_rc(rc, &err);
    if (rc == 0)
        cm_yaml_strings_free(list, n_list);
}

/* Walk the tree, checking its promises; returns the nodes seen. */
static size_t walk(const cm_yaml_node *n, unsigned depth)
{
    if (n == NULL || n->line == 0 || n->col == 0 || n->file == NULL)
        abort();
    getters(n);
    if (n->kind == CM_YAML_SCALAR) {
        if (n->text == NULL || n->text[n->len] != '\0' || n->n != 0)
            abort();
        return 1;
    }
    if (n->kind != CM_YAML_SEQUENCE && n->kind != CM_YAML_MAPPING)
        abort();
    if (depth >= FUZZ_MAX_DEPTH)
        abort(); /* nested past the limit */
    size_t seen = 1;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == CM_YAML_MAPPING) {
            const cm_yaml_node *k = n->keys[i];
            if (k == NULL || k->kind != CM_YAML_SCALAR)
                abort();
            for (size_t j = 0; j < i; j++)
                if (n->keys[j]->len == k->len && memcmp(n->keys[j]->text, k->text, k->len) == 0)
                    abort(); /* a duplicate key got through */
            if (k->len == strlen(k->text) && cm_yaml_get(n, k->text) != n->items[i])
                abort();
            seen += walk(k, depth + 1);
        }
        seen += walk(n->items[i], depth + 1);
    }
    return seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cm_yaml_limits lim = {.max_bytes = 1u << 16, .max_depth = FUZZ_MAX_DEPTH,
                          .max_nodes = FUZZ_MAX_NODES};
    cm_yaml_doc *doc = NULL;
    cm_err err;
    err.msg[0] = '\0';
    int rc = cm_yaml_parse((const char *)data, size, "fuzz.yaml", &lim, &doc, &err);
    if (rc != 0) {
        if (rc != -1 || err.msg[0] == '\0' || doc != NULL)
            abort(); /* a failure must say why and return nothing */
        return 0;
    }
    const cm_yaml_node *root = cm_yaml_root(doc);
    if (root != NULL && walk(root, 0) > FUZZ_MAX_NODES)
        abort();
    cm_yaml_free(doc);
    return 0;
}
