/*
 * tests/unit/test_daemon_api_error.c -- the one table of gemmad's errors
 * (daemon/api_error.c): every error has a status and a code, OpenAI's
 * type follows from the status, the body has OpenAI's shape, and the
 * transport's refusals map to the codes clients have always seen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/api.h"

/* Every row is filled: a status 4xx/5xx and a code no other row has
 * (apart from request_timeout, which 408 and 504 share by design). */
static void test_every_error_has_a_row(void **state)
{
    (void)state;
    for (int e = 0; e < GMD_ERR_COUNT; e++) {
        int s = gmd_api_err_status((gmd_api_err)e);
        assert_true(s >= 400 && s <= 599);
        const char *code = gmd_api_err_code((gmd_api_err)e);
        assert_non_null(code);
        assert_true(code[0] != '\0');
        for (int o = 0; o < e; o++)
            if (strcmp(code, gmd_api_err_code((gmd_api_err)o)) == 0)
                assert_string_equal(code, "request_timeout");
    }
    assert_int_equal(gmd_api_err_status(GMD_ERR_QUEUE_FULL), 429);
    assert_int_equal(gmd_api_err_status(GMD_ERR_KV_BUDGET), 400);
    assert_string_equal(gmd_api_err_code(GMD_ERR_KV_BUDGET), "kv_budget_exceeded");
    assert_string_equal(gmd_api_err_code(GMD_ERR_SHUTTING_DOWN), "shutting_down");
    assert_int_equal(gmd_api_err_status(GMD_ERR_SHUTTING_DOWN), 503);
}

static void test_type_follows_status(void **state)
{
    (void)state;
    assert_string_equal(gmd_api_err_type(400), "invalid_request_error");
    assert_string_equal(gmd_api_err_type(403), "permission_error");
    assert_string_equal(gmd_api_err_type(404), "invalid_request_error");
    assert_string_equal(gmd_api_err_type(429), "rate_limit_error");
    assert_string_equal(gmd_api_err_type(500), "server_error");
    assert_string_equal(gmd_api_err_type(503), "server_error");
    assert_string_equal(gmd_api_err_type(504), "timeout_error");
}

static void test_body_shape(void **state)
{
    (void)state;
    char *text = gmd_api_error_body(400, "kv_budget_exceeded", NULL, "too \"big\"");
    assert_non_null(text);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    free(text);
    assert_non_null(o);
    json_t *e = json_object_get(o, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "message")), "too \"big\"");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "kv_budget_exceeded");
    assert_true(json_is_null(json_object_get(e, "param")));
    json_decref(o);
    text = gmd_api_error_body(404, "model_not_found", "model", "no");
    o = json_loads(text, 0, &jerr);
    free(text);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"),
                                                          "param")), "model");
    json_decref(o);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_string_equal(gmd_api_err_code(gmd_api_err_of_refusal(400)), "bad_request");
    assert_string_equal(gmd_api_err_code(gmd_api_err_of_refusal(408)), "request_timeout");
    assert_int_equal(gmd_api_err_status(gmd_api_err_of_refusal(408)), 408);
    assert_string_equal(gmd_api_err_code(gmd_api_err_of_refusal(413)), "request_too_large");
    assert_string_equal(gmd_api_err_code(gmd_api_err_of_refusal(431)), "headers_too_large");
    assert_string_equal(gmd_api_err_code(gmd_api_err_of_refusal(505)),
                        "http_version_not_supported");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_a_row),
        cmocka_unit_test(test_type_follows_status),
        cmocka_unit_test(test_body_shape),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
