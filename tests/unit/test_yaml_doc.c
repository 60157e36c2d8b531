/*
 * tests/unit/test_yaml_doc.c -- the shared YAML reader (common/yaml_doc.h):
 * the tree and its places, what it refuses (duplicate keys, aliases,
 * several documents, non-scalar keys, input past its limits) and each
 * typed getter's errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/yaml_doc.h"

static cm_yaml_doc *parse_ok(const char *text)
{
    cm_yaml_doc *doc = NULL;
    cm_err err = {{0}};
    if (cm_yaml_parse(text, strlen(text), "t.yaml", NULL, &doc, &err) != 0)
        fail_msg("parse: %s", err.msg);
    assert_non_null(doc);
    return doc;
}

/* Parsing must fail with exactly `want`. */
static void parse_err(const char *text, const cm_yaml_limits *lim, const char *want)
{
    cm_yaml_doc *doc = (cm_yaml_doc *)1;
    cm_err err = {{0}};
    assert_int_equal(cm_yaml_parse(text, strlen(text), "t.yaml", lim, &doc, &err), -1);
    assert_null(doc);
    assert_string_equal(err.msg, want);
}

static void test_tree_and_places(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("a: 1\nlist:\n  - x\n  - {k: v}\n'quoted': \"8443\"\n");
    const cm_yaml_node *root = cm_yaml_root(doc);
    assert_int_equal(root->kind, CM_YAML_MAPPING);
    assert_int_equal(root->n, 3);
    assert_string_equal(root->keys[0]->text, "a");
    assert_string_equal(root->items[0]->text, "1");
    assert_int_equal(root->items[0]->line, 1);
    assert_int_equal(root->items[0]->col, 4);
    const cm_yaml_node *list = cm_yaml_get(root, "list");
    assert_non_null(list);
    assert_int_equal(list->kind, CM_YAML_SEQUENCE);
    assert_int_equal(list->n, 2);
    assert_int_equal(list->items[1]->kind, CM_YAML_MAPPING);
    assert_int_equal(list->items[1]->line, 4);
    assert_int_equal(list->items[1]->col, 5);
    assert_string_equal(cm_yaml_get(list->items[1], "k")->text, "v");
    /* quoting is not meaning: the text is what counts */
    assert_string_equal(cm_yaml_get(root, "quoted")->text, "8443");
    assert_null(cm_yaml_get(root, "missing"));
    assert_null(cm_yaml_get(list, "k")); /* not a mapping */
    assert_null(cm_yaml_get(NULL, "k"));
    cm_yaml_free(doc);
}

static void test_empty_and_not_a_mapping(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("");
    assert_null(cm_yaml_root(doc));
    cm_yaml_free(doc);
    doc = parse_ok("# only a comment\n");
    assert_null(cm_yaml_root(doc));
    cm_yaml_free(doc);
    doc = parse_ok("- a\n- b\n");
    cm_err err;
    assert_int_equal(cm_yaml_expect(cm_yaml_root(doc), CM_YAML_MAPPING, "the top level", &err),
                     -1);
    assert_string_equal(err.msg,
                        "t.yaml:1:1: the top level: expected a mapping (key: value), not a list");
    cm_yaml_free(doc);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    parse_err("a: 1\nb: 2\na: 3\n", NULL, "t.yaml:3:1: duplicate key 'a' (first given at 1:1)");
    parse_err("outer:\n  x: 1\n  y: 2\n  x: 3\n", NULL,
              "t.yaml:4:3: duplicate key 'x' (first given at 2:3)");
    parse_err("{k: 1, k: 2}\n", NULL, "t.yaml:1:8: duplicate key 'k' (first given at 1:2)");
    /* the same key in two different mappings is fine */
    cm_yaml_free(parse_ok("a: {k: 1}\nb: {k: 2}\n"));
    /* many keys: still found (the check sorts) */
    char big[64 * 1024];
    size_t used = 0;
    for (int i = 0; i < 2000; i++)
        used += (size_t)snprintf(big + used, sizeof(big) - used, "k%d: %d\n", i, i);
    snprintf(big + used, sizeof(big) - used, "k1234: again\n");
    parse_err(big, NULL, "t.yaml:2001:1: duplicate key 'k1234' (first given at 1235:1)");
}

static void test_refused_constructs(void **state)
{
    (void)state;
    parse_err("a: &x 1\nb: *x\n", NULL,
              "t.yaml:2:4: aliases (*name) are not allowed in a config file");
    parse_err("a: 1\n---\nb: 2\n", NULL,
              "t.yaml:2:1: the file holds one YAML document, not several (a second starts here)");
    parse_err("? [a, b]\n: 1\n", NULL, "t.yaml:1:3: a key must be a single value, not a list");
    parse_err("\"a\\0b\": 1\n", NULL, "t.yaml:1:1: a key must not contain a NUL byte");
    parse_err("a: [1, 2\n", NULL,
              "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' while parsing a "
              "flow sequence");
}

static void test_limits(void **state)
{
    (void)state;
    cm_yaml_limits depth = {.max_depth = 3};
    cm_yaml_free(parse_ok("a: {b: [1]}\n"));
    parse_err("a: {b: [[1]]}\n", &depth, "t.yaml:1:9: nested deeper than 3 lists and mappings");
    /* the default depth holds a hostile nesting too, without recursion */
    char deep[4096];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    parse_err(deep, NULL, "t.yaml:1:33: nested deeper than 32 lists and mappings");
    cm_yaml_limits nodes = {.max_nodes = 5};
    parse_err("[1, 2, 3, 4, 5]\n", &nodes, "t.yaml:1:14: more than 5 YAML nodes");
    cm_yaml_limits bytes = {.max_bytes = 8};
    parse_err("a: 123456789\n", &bytes, "t.yaml: larger than 8 bytes");
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_yaml_doc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    cm_yaml_doc *doc = (cm_yaml_doc *)1;
    cm_err err;
    /* missing: an error, or nothing with missing_ok */
    assert_int_equal(cm_yaml_load(path, NULL, false, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_equal(cm_yaml_load(path, NULL, true, &doc, &err), 0);
    assert_null(doc);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x: 1\ny: [a]\ny: 2\n", f);
    fclose(f);
    assert_int_equal(cm_yaml_load(path, NULL, false, &doc, &err), -1);
    char want[400];
    snprintf(want, sizeof(want), "%s:3:1: duplicate key 'y' (first given at 2:1)", path);
    assert_string_equal(err.msg, want);
    cm_yaml_limits small = {.max_bytes = 4};
    assert_int_equal(cm_yaml_load(path, &small, false, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "larger than 4 bytes"));
    unlink(path);
    rmdir(dir);
}

static void test_text_and_string(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("s: hello\nl: [a]\nnul: \"a\\0b\"\n");
    const cm_yaml_node *r = cm_yaml_root(doc);
    cm_err err;
    char buf[6];
    assert_int_equal(cm_yaml_string(cm_yaml_get(r, "s"), "s", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "hello");
    char small[5] = "keep";
    assert_int_equal(cm_yaml_string(cm_yaml_get(r, "s"), "s", small, sizeof(small), &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:4: s: expected at most 4 characters, not 5");
    assert_string_equal(small, "keep");
    const char *t;
    assert_int_equal(cm_yaml_text(cm_yaml_get(r, "l"), "l", &t, &err), -1);
    assert_string_equal(err.msg, "t.yaml:2:4: l: expected a single value, not a list");
    assert_int_equal(cm_yaml_text(cm_yaml_get(r, "nul"), "nul", &t, &err), -1);
    assert_string_equal(err.msg, "t.yaml:3:6: nul: expected text without a NUL byte");
    char *d = NULL;
    assert_int_equal(cm_yaml_strdup(cm_yaml_get(r, "s"), "s", 4, &d, &err), -1);
    assert_null(d);
    assert_int_equal(cm_yaml_strdup(cm_yaml_get(r, "s"), "s", 5, &d, &err), 0);
    assert_string_equal(d, "hello");
    free(d);
    cm_yaml_free(doc);
}

static void test_bool(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("[true, yes, false, no, 'true', True, 1, on]\n");
    const cm_yaml_node *l = cm_yaml_root(doc);
    const bool want[] = {true, true, false, false, true};
    cm_err err;
    for (size_t i = 0; i < 5; i++) {
        bool b = !want[i];
        assert_int_equal(cm_yaml_bool(l->items[i], "b", &b, &err), 0);
        assert_int_equal(b, want[i]);
    }
    /* only the four lower-case spellings: True, 1, on are refused */
    for (size_t i = 5; i < 8; i++) {
        bool b = false;
        assert_int_equal(cm_yaml_bool(l->items[i], "b", &b, &err), -1);
        assert_non_null(strstr(err.msg, "b: expected true or false (or yes, no), not '"));
    }
    assert_string_equal(err.msg, "t.yaml:1:41: b: expected true or false (or yes, no), not 'on'");
    cm_yaml_free(doc);
}

static void test_unsigned(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("[0, 65535, 65536, -1, 0x10, ' 1', '', 1.5, 18446744073709551615, "
                                "18446744073709551616, 007]\n");
    const cm_yaml_node *l = cm_yaml_root(doc);
    cm_err err;
    uint32_t u = 7;
    assert_int_equal(cm_yaml_u32(l->items[0], "port", 0, 65535, &u, &err), 0);
    assert_int_equal(u, 0);
    assert_int_equal(cm_yaml_u32(l->items[1], "port", 0, 65535, &u, &err), 0);
    assert_int_equal(u, 65535);
    assert_int_equal(cm_yaml_u32(l->items[2], "port", 0, 65535, &u, &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:12: port: expected a whole number in 0..65535, not "
                                 "'65536'");
    assert_int_equal(u, 65535); /* untouched on error */
    assert_int_equal(cm_yaml_u32(l->items[1], "port", 1, 100, &u, &err), -1);
    for (size_t i = 3; i < 8; i++)
        assert_int_equal(cm_yaml_u32(l->items[i], "n", 0, UINT32_MAX, &u, &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:39: n: expected a whole number in 0..4294967295, "
                                 "not '1.5'");
    uint64_t v;
    assert_int_equal(cm_yaml_u64(l->items[8], "big", 0, UINT64_MAX, &v, &err), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cm_yaml_u64(l->items[9], "big", 0, UINT64_MAX, &v, &err), -1);
    assert_int_equal(cm_yaml_u32(l->items[10], "n", 0, 10, &u, &err), 0);
    assert_int_equal(u, 7);
    cm_yaml_free(doc);
}

static void test_signed(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("[-5, 5, -9223372036854775808, 9223372036854775807, "
                                "9223372036854775808, -9223372036854775809, '-', +1, --1]\n");
    const cm_yaml_node *l = cm_yaml_root(doc);
    cm_err err;
    int64_t v;
    assert_int_equal(cm_yaml_i64(l->items[0], "off", -10, 10, &v, &err), 0);
    assert_int_equal(v, -5);
    assert_int_equal(cm_yaml_i64(l->items[1], "off", -10, 0, &v, &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:6: off: expected a whole number in -10..0, not '5'");
    assert_int_equal(cm_yaml_i64(l->items[2], "x", INT64_MIN, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(cm_yaml_i64(l->items[3], "x", INT64_MIN, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MAX);
    for (size_t i = 4; i < 9; i++)
        assert_int_equal(cm_yaml_i64(l->items[i], "x", INT64_MIN, INT64_MAX, &v, &err), -1);
    cm_yaml_free(doc);
}

static void test_enum_and_strings(void **state)
{
    (void)state;
    static const cm_yaml_enum transports[] = {{"unix", 1}, {"tcp", 2}};
    cm_yaml_doc *doc = parse_ok("t: tcp\nbad: udp\nnames: [a, bb]\nempty: [a, '']\n"
                                "nested: [a, [b]]\nlong: [abcdef]\n");
    const cm_yaml_node *r = cm_yaml_root(doc);
    cm_err err;
    int t = 0;
    assert_int_equal(cm_yaml_enum_get(cm_yaml_get(r, "t"), "t", transports, 2, &t, &err), 0);
    assert_int_equal(t, 2);
    assert_int_equal(cm_yaml_enum_get(cm_yaml_get(r, "bad"), "transport", transports, 2, &t,
                                      &err), -1);
    assert_string_equal(err.msg, "t.yaml:2:6: transport: expected one of unix, tcp, not 'udp'");
    char **list = NULL;
    size_t n = 0;
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "names"), "names", 4, 8, &list, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "bb");
    cm_yaml_strings_free(list, n);
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "names"), "names", 1, 8, &list, &n, &err),
                     -1);
    assert_string_equal(err.msg, "t.yaml:3:8: names: expected at most 1 items, not 2");
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "empty"), "empty", 4, 8, &list, &n, &err),
                     -1);
    assert_string_equal(err.msg, "t.yaml:4:12: empty: expected a non-empty string");
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "nested"), "nested", 4, 8, &list, &n, &err),
                     -1);
    assert_string_equal(err.msg, "t.yaml:5:13: nested: expected a single value, not a list");
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "long"), "long", 4, 3, &list, &n, &err), -1);
    assert_string_equal(err.msg, "t.yaml:6:8: long: expected at most 3 characters, not 6");
    assert_int_equal(cm_yaml_strings(cm_yaml_get(r, "t"), "t", 4, 3, &list, &n, &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:4: t: expected a list, not a single value");
    cm_yaml_free(doc);
}

static void test_unknown_key(void **state)
{
    (void)state;
    cm_yaml_doc *doc = parse_ok("limits:\n  max_hedaers: 3\n");
    const cm_yaml_node *limits = cm_yaml_get(cm_yaml_root(doc), "limits");
    cm_err err;
    assert_int_equal(cm_yaml_unknown_key(limits->keys[0], "in limits", NULL, &err), -1);
    assert_string_equal(err.msg, "t.yaml:2:3: unknown key 'max_hedaers' in limits");
    assert_int_equal(cm_yaml_unknown_key(limits->keys[0], "in limits", "max_headers", &err), -1);
    assert_string_equal(err.msg,
                        "t.yaml:2:3: unknown key 'max_hedaers' in limits (expected max_headers)");
    cm_yaml_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_places),
        cmocka_unit_test(test_empty_and_not_a_mapping),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_refused_constructs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_text_and_string),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_unsigned),
        cmocka_unit_test(test_signed),
        cmocka_unit_test(test_enum_and_strings),
        cmocka_unit_test(test_unknown_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
