/*
 * tests/unit/test_daemon_request.c -- OpenAI request bodies to generation
 * parameters: every accepted field, and the OpenAI-style error (status,
 * code, param) for what is missing, mistyped or out of range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/api_request.h"

typedef struct parsed {
    gmd_infer_params p;
    char model[64];
    bool stream, usage;
    gmd_api_error err;
    int rc;
} parsed;

static void release(parsed *r)
{
    gmd_api_params_release(&r->p); /* first: it reads the messages */
    for (size_t i = 0; i < r->p.n_messages; i++) {
        free(r->p.messages[i].role);
        free(r->p.messages[i].content);
    }
    free(r->p.messages);
    free(r->p.prompt);
    for (size_t i = 0; i < GMD_MAX_STOP; i++)
        free(r->p.stop[i]);
    memset(r, 0, sizeof(*r));
}

static void run(parsed *r, const char *json, bool chat)
{
    memset(r, 0, sizeof(*r));
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (o == NULL)
        fail_msg("test JSON invalid: %s", je.text);
    r->rc = gmd_api_parse_request(o, chat, r->model, sizeof(r->model), &r->p, &r->stream,
                                  &r->usage, &r->err);
    json_decref(o);
}

static void test_full_chat(void **state)
{
    (void)state;
    parsed r;
    run(&r, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hel\"},"
            "{\"type\":\"text\",\"text\":\"lo\"}]}],\"max_completion_tokens\":7,"
            "\"max_tokens\":99,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,"
            "\"seed\":42,\"stop\":[\"END\",\"##\"],\"frequency_penalty\":0.1,"
            "\"presence_penalty\":-0.2,\"stream\":true,\"stream_options\":"
            "{\"include_usage\":true},\"n\":1,\"user\":\"x\"}", true);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.model, "tiny");
    assert_true(r.p.chat);
    assert_int_equal(r.p.n_messages, 2);
    assert_string_equal(r.p.messages[0].role, "system");
    assert_string_equal(r.p.messages[1].content, "hello");
    assert_int_equal(r.p.max_tokens, 7); /* max_completion_tokens wins */
    assert_float_equal(r.p.temperature, 0.5, 1e-6);
    assert_float_equal(r.p.top_p, 0.9, 1e-6);
    assert_int_equal(r.p.top_k, 40);
    assert_float_equal(r.p.min_p, 0.05, 1e-6);
    assert_int_equal(r.p.seed, 42);
    assert_string_equal(r.p.stop[0], "END");
    assert_string_equal(r.p.stop[1], "##");
    assert_null(r.p.stop[2]);
    assert_float_equal(r.p.presence_penalty, -0.2, 1e-6);
    assert_true(r.stream);
    assert_true(r.usage);
    release(&r);
}

static void test_defaults_and_completion(void **state)
{
    (void)state;
    parsed r;
    run(&r, "{\"model\":\"m\",\"prompt\":\"Once\",\"max_tokens\":5,\"stop\":\"x\"}", false);
    assert_int_equal(r.rc, 0);
    assert_false(r.p.chat);
    assert_string_equal(r.p.prompt, "Once");
    assert_int_equal(r.p.max_tokens, 5);
    assert_float_equal(r.p.temperature, 1.0, 1e-6);
    assert_float_equal(r.p.top_p, 1.0, 1e-6);
    assert_string_equal(r.p.stop[0], "x");
    assert_false(r.stream);
    release(&r);
    run(&r, "{\"model\":\"m\",\"prompt\":[\"one\"]}", false);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.p.prompt, "one");
    assert_int_equal(r.p.max_tokens, 0); /* not given */
    release(&r);
    run(&r, "{\"model\":\"m\",\"prompt\":[\"one\",\"two\"]}", false);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err.param, "prompt");
    release(&r);
    run(&r, "{\"model\":\"m\"}", false);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err.code, "missing_parameter");
    release(&r);
}

static void expect_error(const char *json, bool chat, const char *code, const char *param)
{
    parsed r;
    run(&r, json, chat);
    if (r.rc != -1)
        fail_msg("accepted: %s", json);
    assert_int_equal(r.err.status, 400);
    assert_string_equal(r.err.code, code);
    assert_string_equal(r.err.param, param);
    assert_true(strlen(r.err.message) > 0);
    release(&r);
}

static void test_model_and_messages_errors(void **state)
{
    (void)state;
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", true,
                 "missing_parameter", "model");
    expect_error("{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", true,
                 "invalid_type", "model");
    expect_error("{\"model\":\"m\"}", true, "missing_parameter", "messages");
    expect_error("{\"model\":\"m\",\"messages\":[]}", true, "invalid_value", "messages");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", true,
                 "invalid_value", "messages[0]");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", true,
                 "missing_parameter", "messages[0].tool_call_id");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", true,
                 "missing_parameter", "messages[0]");
    expect_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "[{\"type\":\"image_url\",\"image_url\":{}}]}]}", true, "invalid_value",
                 "messages[0].content");
    expect_error("{\"model\":\"m\",\"messages\":[\"hi\"]}", true, "invalid_type", "messages[0]");
}

static void test_sampling_errors(void **state)
{
    (void)state;
    const char *pre = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],";
    char buf[512];
#define BAD(FIELD, CODE, PARAM)                                \
    snprintf(buf, sizeof(buf), "%s%s}", pre, FIELD);           \
    expect_error(buf, true, CODE, PARAM)
    BAD("\"temperature\":2.5", "invalid_value", "temperature");
    BAD("\"temperature\":\"hot\"", "invalid_type", "temperature");
    BAD("\"top_p\":1.5", "invalid_value", "top_p");
    BAD("\"top_k\":-1", "invalid_value", "top_k");
    BAD("\"max_tokens\":0", "invalid_value", "max_tokens");
    BAD("\"max_tokens\":1.5", "invalid_type", "max_tokens");
    BAD("\"n\":2", "invalid_value", "n");
    BAD("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "invalid_value", "stop");
    BAD("\"stop\":\"\"", "invalid_value", "stop");
    BAD("\"stream\":\"yes\"", "invalid_type", "stream");
    BAD("\"stream_options\":{\"include_usage\":true}", "invalid_value", "stream_options");
    BAD("\"tools\":[{}]", "invalid_value", "tools[0]");
    BAD("\"tools\":[]", "invalid_value", "tools");
    BAD("\"tool_choice\":\"required\"", "invalid_value", "tool_choice");
    BAD("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]", "invalid_value",
        "tools[0]");
    BAD("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":"
        "\"sometimes\"", "invalid_value", "tool_choice");
    BAD("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":"
        "\"required\",\"response_format\":{\"type\":\"json_object\"}", "invalid_value",
        "response_format");
    BAD("\"functions\":[{}]", "unsupported_parameter", "functions");
    BAD("\"response_format\":{\"type\":\"xml\"}", "invalid_value", "response_format.type");
    BAD("\"response_format\":{\"type\":\"json_schema\"}", "missing_parameter",
        "response_format.json_schema");
    BAD("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}",
        "missing_parameter", "response_format.json_schema.schema");
    BAD("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
        "\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}", "unsupported_schema",
        "response_format.json_schema.schema");
    BAD("\"top_logprobs\":21,\"logprobs\":true", "invalid_value", "top_logprobs");
    BAD("\"top_logprobs\":3", "invalid_value", "top_logprobs");
    BAD("\"logprobs\":3", "invalid_type", "logprobs");
    BAD("\"frequency_penalty\":3", "invalid_value", "frequency_penalty");
#undef BAD
}

static void test_response_format_and_logprobs(void **state)
{
    (void)state;
    parsed r;
    run(&r, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"response_format\":{\"type\":\"json_object\"}}", true);
    assert_int_equal(r.rc, 0);
    assert_non_null(r.p.grammar);
    assert_string_equal(r.p.format_kind, "json_object");
    assert_int_equal(r.p.format, GMD_FORMAT_JSON_OBJECT);
    assert_string_equal(r.p.schema_sha256, "");
    release(&r);
    run(&r, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\","
            "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":"
            "{\"type\":\"integer\"}},\"required\":[\"a\"]}}},\"logprobs\":true,"
            "\"top_logprobs\":5}", true);
    assert_int_equal(r.rc, 0);
    assert_non_null(r.p.grammar);
    assert_string_equal(r.p.format_kind, "json_schema");
    assert_int_equal(r.p.format, GMD_FORMAT_JSON_SCHEMA);
    /* sha256 of {"properties":{"a":{"type":"integer"}},"required":["a"],"type":"object"} */
    assert_string_equal(r.p.schema_sha256,
                        "9c90b768d2a90da4d4d7b57aa60cac86504ccd50f8bcf458e4f5746e8d37586e");
    assert_true(r.p.logprobs);
    assert_int_equal(r.p.top_logprobs, 5);
    assert_non_null(r.p.logprobs_out);
    release(&r);
    run(&r, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":2}", false);
    assert_int_equal(r.rc, 0);
    assert_true(r.p.logprobs);
    assert_int_equal(r.p.top_logprobs, 2);
    release(&r);
    run(&r, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":"
            "\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"}],\"tools\":[{\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
            "\"properties\":{\"a\":{\"type\":\"integer\"}}}}}],\"tool_choice\":{\"type\":"
            "\"function\",\"function\":{\"name\":\"f\"}}}", true);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.p.tool_choice, GMD_TOOL_CHOICE_NAMED);
    assert_non_null(r.p.tools_json);
    assert_non_null(r.p.grammar);
    assert_string_equal(r.p.format_kind, "tool_call");
    assert_int_equal(r.p.format, GMD_FORMAT_TOOL_CALL);
    assert_non_null(r.p.messages[1].tool_calls_json);
    assert_string_equal(r.p.messages[1].content, "");
    assert_string_equal(r.p.messages[2].tool_call_id, "c1");
    release(&r);
    run(&r, "{\"model\":\"m\",\"prompt\":\"x\",\"response_format\":{\"type\":\"text\"}}",
        false);
    assert_int_equal(r.rc, 0);
    assert_null(r.p.grammar);
    release(&r);
}

/* Completion bodies of the wrong shape: each is refused with a 400 that
 * names the field at fault and says why (never accepted, never a crash). */
static void test_completion_bad_bodies(void **state)
{
    (void)state;
    static const struct { const char *body, *param; } bad[] = {
        {"{\"model\":\"m\",\"prompt\":5}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":{}}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":[]}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":[1,2]}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":-3}", "max_tokens"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":\"5\"}", "max_tokens"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[1]}", "stop"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":-1}", "temperature"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stream\":1}", "stream"},
        {"{\"model\":[\"m\"],\"prompt\":\"x\"}", "model"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parsed r;
        run(&r, bad[i].body, false);
        if (r.rc != -1)
            fail_msg("accepted: %s", bad[i].body);
        assert_int_equal(r.err.status, 400);
        if (strcmp(r.err.param, bad[i].param) != 0)
            fail_msg("%s: param '%s', want '%s'", bad[i].body, r.err.param, bad[i].param);
        assert_true(strlen(r.err.code) > 0);
        assert_true(strlen(r.err.message) > 0);
        release(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_chat),
        cmocka_unit_test(test_defaults_and_completion),
        cmocka_unit_test(test_model_and_messages_errors),
        cmocka_unit_test(test_sampling_errors),
        cmocka_unit_test(test_response_format_and_logprobs),
        cmocka_unit_test(test_completion_bad_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
