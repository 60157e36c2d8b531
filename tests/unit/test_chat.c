/*
 * tests/unit/test_chat.c -- unit tests for engine/text/chat.c: the Gemma 4
 * chat format. Every expected string below was produced by rendering
 * models/templates/google-gemma-4-31B-it.jinja (llama.cpp v0.5.0) with a
 * Jinja engine for the same messages, so a change in the rendering fails
 * here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/text/chat.h"

#define GEN_PROMPT "<|turn>model\n<|channel>thought\n<channel|>"

static void check_render(const gm_chat_message *m, size_t n, bool gen, bool think,
                         const char *expected)
{
    gm_chat_opts o = {.add_generation_prompt = gen, .enable_thinking = think};
    char *out = NULL;
    cm_err err;
    assert_int_equal(gm_chat_render(m, n, &o, &out, &err), 0);
    assert_non_null(out);
    assert_string_equal(out, expected);
    free(out);
}

static void test_one_user_turn(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Why is the sky blue?"}};
    check_render(m, 1, true, false,
                 "<bos><|turn>user\nWhy is the sky blue?<turn|>\n" GEN_PROMPT);
}

static void test_user_text_trimmed(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "  \n Hello there \t\n"}};
    check_render(m, 1, true, false, "<bos><|turn>user\nHello there<turn|>\n" GEN_PROMPT);
}

static void test_system_first(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_SYSTEM, " Be brief. "}, {GM_ROLE_USER, "Hi"}};
    check_render(m, 2, true, false,
                 "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n" GEN_PROMPT);
}

static void test_multi_turn(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Hi"},
                           {GM_ROLE_ASSISTANT, "Hello! How can I help?"},
                           {GM_ROLE_USER, "Tell me a joke."}};
    check_render(m, 3, true, false,
                 "<bos><|turn>user\nHi<turn|>\n<|turn>model\nHello! How can I help?<turn|>\n"
                 "<|turn>user\nTell me a joke.<turn|>\n" GEN_PROMPT);
}

static void test_assistant_thinking_stripped(void **state)
{
    (void)state;
    gm_chat_message m[] = {
        {GM_ROLE_USER, "Q"},
        {GM_ROLE_ASSISTANT, "<|channel>thought\nsecret reasoning<channel|>The answer is 4.  "},
        {GM_ROLE_USER, "Thanks"}};
    check_render(m, 3, true, false,
                 "<bos><|turn>user\nQ<turn|>\n<|turn>model\nThe answer is 4.<turn|>\n"
                 "<|turn>user\nThanks<turn|>\n" GEN_PROMPT);
}

static void test_consecutive_assistant_same_turn(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Q"},
                           {GM_ROLE_ASSISTANT, "Part one."},
                           {GM_ROLE_ASSISTANT, "Part two."}};
    check_render(m, 3, true, false,
                 "<bos><|turn>user\nQ<turn|>\n<|turn>model\nPart one.<turn|>\nPart two.<turn|>\n"
                 GEN_PROMPT);
}

static void test_thinking_enabled(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Q"}};
    check_render(m, 1, true, true,
                 "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nQ<turn|>\n<|turn>model\n");
    gm_chat_message m2[] = {{GM_ROLE_SYSTEM, "S"}, {GM_ROLE_USER, "Q"}};
    check_render(m2, 2, true, true,
                 "<bos><|turn>system\n<|think|>\nS<turn|>\n<|turn>user\nQ<turn|>\n<|turn>model\n");
}

static void test_no_generation_prompt(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Q"}, {GM_ROLE_ASSISTANT, "A"}};
    check_render(m, 2, false, false, "<bos><|turn>user\nQ<turn|>\n<|turn>model\nA<turn|>\n");
}

static void test_later_system_is_a_turn(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, "Q"}, {GM_ROLE_SYSTEM, "Note"}};
    check_render(m, 2, true, false,
                 "<bos><|turn>user\nQ<turn|>\n<|turn>system\nNote<turn|>\n" GEN_PROMPT);
}

static void test_null_content_and_default_opts(void **state)
{
    (void)state;
    gm_chat_message m[] = {{GM_ROLE_USER, NULL}};
    char *out = NULL;
    assert_int_equal(gm_chat_render(m, 1, NULL, &out, NULL), 0);
    assert_string_equal(out, "<bos><|turn>user\n<turn|>\n" GEN_PROMPT);
    free(out);
}

static void test_bad_role_rejected(void **state)
{
    (void)state;
    gm_chat_message m[] = {{(gm_chat_role)42, "x"}};
    char *out = NULL;
    cm_err err;
    assert_int_equal(gm_chat_render(m, 1, NULL, &out, &err), -1);
    assert_null(out);
    assert_non_null(strstr(err.msg, "role"));
}

static void test_role_names(void **state)
{
    (void)state;
    gm_chat_role r;
    assert_int_equal(gm_chat_role_from_name("system", &r), 0);
    assert_int_equal(r, GM_ROLE_SYSTEM);
    assert_int_equal(gm_chat_role_from_name("developer", &r), 0);
    assert_int_equal(r, GM_ROLE_SYSTEM);
    assert_int_equal(gm_chat_role_from_name("user", &r), 0);
    assert_int_equal(r, GM_ROLE_USER);
    assert_int_equal(gm_chat_role_from_name("assistant", &r), 0);
    assert_int_equal(r, GM_ROLE_ASSISTANT);
    assert_int_equal(gm_chat_role_from_name("model", &r), 0);
    assert_int_equal(r, GM_ROLE_ASSISTANT);
    assert_int_equal(gm_chat_role_from_name("tool", &r), -1);
    assert_int_equal(gm_chat_role_from_name("", &r), -1);
    assert_int_equal(gm_chat_role_from_name(NULL, &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_user_turn),
        cmocka_unit_test(test_user_text_trimmed),
        cmocka_unit_test(test_system_first),
        cmocka_unit_test(test_multi_turn),
        cmocka_unit_test(test_assistant_thinking_stripped),
        cmocka_unit_test(test_consecutive_assistant_same_turn),
        cmocka_unit_test(test_thinking_enabled),
        cmocka_unit_test(test_no_generation_prompt),
        cmocka_unit_test(test_later_system_is_a_turn),
        cmocka_unit_test(test_null_content_and_default_opts),
        cmocka_unit_test(test_bad_role_rejected),
        cmocka_unit_test(test_role_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
