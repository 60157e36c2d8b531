/*
 * tests/unit/test_ctl_output.c -- unit tests for gemmactl's output helpers
 * (ctl/output.c): aligned tables, durations and sizes for people, JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/output.h"

/* Run `fn` writing to a temporary file and return what it wrote. */
static char *capture(void (*fn)(FILE *, void *), void *arg)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fn(f, arg);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static void print_table(FILE *f, void *arg)
{
    assert_int_equal(ctl_table_print(arg, f), 0);
}

static void test_table_aligns(void **state)
{
    (void)state;
    static const char *const titles[] = {"MODEL", "STATE", "PATH"};
    ctl_table t;
    ctl_table_init(&t, 3, titles);
    const char *r1[] = {"gemma-4-e2b", "ready", "/m/e2b.gguf"};
    const char *r2[] = {"x", NULL, "/m/x.gguf"};
    ctl_table_row(&t, r1);
    ctl_table_row(&t, r2);
    char *out = capture(print_table, &t);
    assert_string_equal(out, "MODEL        STATE  PATH\n"
                             "gemma-4-e2b  ready  /m/e2b.gguf\n"
                             "x            -      /m/x.gguf\n");
    free(out);
    ctl_table_free(&t);
    /* Many rows (the storage grows). */
    ctl_table_init(&t, 3, titles);
    for (int i = 0; i < 100; i++)
        ctl_table_row(&t, r1);
    assert_int_equal(t.n_rows, 100);
    assert_false(t.failed);
    ctl_table_free(&t);
}

static void test_durations(void **state)
{
    (void)state;
    char b[32];
    ctl_fmt_duration(0, b, sizeof(b));
    assert_string_equal(b, "0.0s");
    ctl_fmt_duration(45.25, b, sizeof(b));
    assert_string_equal(b, "45.2s");
    ctl_fmt_duration(725, b, sizeof(b));
    assert_string_equal(b, "12m 05s");
    ctl_fmt_duration(3 * 3600 + 4 * 60 + 59, b, sizeof(b));
    assert_string_equal(b, "3h 04m");
    ctl_fmt_duration(2 * 86400 + 3 * 3600 + 5, b, sizeof(b));
    assert_string_equal(b, "2d 03h");
    ctl_fmt_duration(-5, b, sizeof(b));
    assert_string_equal(b, "0.0s");
}

static void test_bytes(void **state)
{
    (void)state;
    char b[32];
    ctl_fmt_bytes(512, b, sizeof(b));
    assert_string_equal(b, "512 B");
    ctl_fmt_bytes(1536, b, sizeof(b));
    assert_string_equal(b, "1.50 KiB");
    ctl_fmt_bytes(4ull << 30, b, sizeof(b));
    assert_string_equal(b, "4.00 GiB");
    ctl_fmt_bytes(300ull << 20, b, sizeof(b));
    assert_string_equal(b, "300 MiB");
    ctl_fmt_bytes(UINT64_MAX, b, sizeof(b));
    assert_string_equal(b, "16384 PiB"); /* the largest unit, no overflow */
}

static void print_json(FILE *f, void *arg)
{
    assert_int_equal(ctl_print_json(arg, f), 0);
}

static void test_json(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:[i]}", "b", "x", "a", 1);
    assert_non_null(o);
    char *out = capture(print_json, o);
    /* Keys keep their order, two-space indent, final newline. */
    assert_string_equal(out, "{\n  \"b\": \"x\",\n  \"a\": [\n    1\n  ]\n}\n");
    free(out);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_aligns),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
