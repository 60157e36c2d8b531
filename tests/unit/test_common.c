/*
 * tests/unit/test_common.c -- unit tests for common/: error messages and
 * overflow-checked arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/checked.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"

static void test_err_set_and_prefix(void **state)
{
    (void)state;
    cm_err err;
    assert_int_equal(cm_err_set(&err, "data ends at %d", 42), -1);
    assert_string_equal(err.msg, "data ends at 42");
    cm_err_prefix(&err, "tensor %s", "blk.3.attn_q.weight");
    assert_string_equal(err.msg, "tensor blk.3.attn_q.weight: data ends at 42");
    assert_int_equal(cm_err_set(NULL, "ignored"), -1);
}

static void test_err_errno(void **state)
{
    (void)state;
    cm_err err;
    errno = ENOENT;
    cm_err_errno(&err, "open %s", "x.gguf");
    assert_string_equal(err.msg, "open x.gguf: No such file or directory");
}

static void test_checked_overflow(void **state)
{
    (void)state;
    uint64_t r;
    assert_true(cm_add_u64(1, 2, &r));
    assert_int_equal(r, 3);
    assert_false(cm_add_u64(UINT64_MAX, 1, &r));
    assert_false(cm_mul_u64(UINT64_MAX / 2 + 1, 2, &r));
    assert_true(cm_mul_u64(1u << 20, 1u << 20, &r));
    assert_true(cm_align_up_u64(33, 32, &r));
    assert_int_equal(r, 64);
    assert_false(cm_align_up_u64(UINT64_MAX - 3, 32, &r));
    assert_false(cm_align_up_u64(1, 0, &r));
}

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(cm_hex_digit('0'), 0);
    assert_int_equal(cm_hex_digit('9'), 9);
    assert_int_equal(cm_hex_digit('a'), 10);
    assert_int_equal(cm_hex_digit('F'), 15);
    assert_int_equal(cm_hex_digit('g'), -1);
    assert_int_equal(cm_hex_digit('/'), -1);
    const unsigned char bytes[] = {0x00, 0x7f, 0xa5, 0xff};
    char out[9];
    cm_hex_encode(bytes, sizeof(bytes), out);
    assert_string_equal(out, "007fa5ff");
    cm_hex_encode(bytes, 0, out);
    assert_string_equal(out, "");
}

static void test_log_levels(void **state)
{
    (void)state;
    cm_log_level level;
    assert_int_equal(cm_log_parse_level("debug", &level), 0);
    assert_int_equal(level, CM_LOG_DEBUG);
    assert_int_equal(cm_log_parse_level("loud", &level), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_and_prefix),
        cmocka_unit_test(test_err_errno),
        cmocka_unit_test(test_checked_overflow),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
