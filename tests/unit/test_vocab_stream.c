/*
 * tests/unit/test_vocab_stream.c -- unit tests for streaming text out of
 * the generation loop: the streaming detokenizer (UTF-8 split across
 * tokens, invalid bytes) and the stop-string filter (stop strings split
 * across pushes, held back and never emitted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/text/stop.h"
#include "engine/text/vocab.h"

/* A vocabulary of byte tokens <0x00>..<0xFF> (ids 0..255), then a few. */
enum { T_HELLO = 256, T_SP_WORLD, T_EOS, T_CHAN, N_TOK };

static int setup(void **state)
{
    static char names[256][8];
    static const char *toks[N_TOK];
    static int32_t types[N_TOK];
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof(names[b]), "<0x%02X>", b);
        toks[b] = names[b];
        types[b] = GM_TOKEN_TYPE_BYTE;
    }
    toks[T_HELLO] = "hello";
    types[T_HELLO] = GM_TOKEN_TYPE_NORMAL;
    toks[T_SP_WORLD] = "\xe2\x96\x81world";
    types[T_SP_WORLD] = GM_TOKEN_TYPE_NORMAL;
    toks[T_EOS] = "<eos>";
    types[T_EOS] = GM_TOKEN_TYPE_CONTROL;
    toks[T_CHAN] = "<|channel>";
    types[T_CHAN] = GM_TOKEN_TYPE_USER_DEFINED;
    gm_vocab_desc d;
    gm_vocab_desc_init(&d);
    d.n_tokens = N_TOK;
    d.tokens = toks;
    d.token_types = types;
    d.eos_id = T_EOS;
    gm_vocab *v;
    if (gm_vocab_build(&d, &v, NULL) < 0)
        return -1;
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    gm_vocab_free(*state);
    return 0;
}

static size_t push(gm_detok *d, const gm_vocab *v, int32_t id, char *out)
{
    return gm_detok_push(d, v, id, out, GM_DETOK_OUT_MAX(16));
}

static void test_detok_split_utf8(void **state)
{
    const gm_vocab *v = *state;
    gm_detok d;
    gm_detok_init(&d);
    char out[GM_DETOK_OUT_MAX(16)];
    /* 你 = e4 bd a0 in three byte tokens: nothing until the last */
    assert_int_equal(push(&d, v, 0xE4, out), 0);
    assert_int_equal(push(&d, v, 0xBD, out), 0);
    assert_int_equal(push(&d, v, 0xA0, out), 3);
    assert_memory_equal(out, "\xe4\xbd\xa0", 3);
    /* a 4-byte emoji (f0 9f 98 80) after text in the same stream */
    assert_int_equal(push(&d, v, T_HELLO, out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(push(&d, v, 0xF0, out), 0);
    assert_int_equal(push(&d, v, 0x9F, out), 0);
    assert_int_equal(push(&d, v, 0x98, out), 0);
    assert_int_equal(push(&d, v, 0x80, out), 4);
    assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
    /* a held byte is released together with the next token's text */
    assert_int_equal(push(&d, v, 0xC3, out), 0);
    assert_int_equal(push(&d, v, 0xA9, out), 2);
    assert_memory_equal(out, "\xc3\xa9", 2);
    assert_int_equal(gm_detok_flush(&d, out, sizeof(out)), 0);
}

static void test_detok_invalid_bytes(void **state)
{
    const gm_vocab *v = *state;
    gm_detok d;
    gm_detok_init(&d);
    char out[GM_DETOK_OUT_MAX(16)];
    /* a lone 0xff becomes U+FFFD at once */
    assert_int_equal(push(&d, v, 0xFF, out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* a lead byte followed by text that cannot continue it */
    assert_int_equal(push(&d, v, 0xE4, out), 0);
    size_t n = push(&d, v, T_HELLO, out);
    assert_int_equal(n, 3 + 5);
    assert_memory_equal(out, "\xef\xbf\xbdhello", 8);
    /* an incomplete sequence at the end of the stream */
    assert_int_equal(push(&d, v, 0xF0, out), 0);
    assert_int_equal(push(&d, v, 0x9F, out), 0);
    assert_int_equal(gm_detok_flush(&d, out, sizeof(out)), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* surrogates (ed a0 80) are not valid UTF-8 */
    n = push(&d, v, 0xED, out);
    n += push(&d, v, 0xA0, out + n);
    n += push(&d, v, 0x80, out + n);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
}

static void test_detok_pieces(void **state)
{
    const gm_vocab *v = *state;
    gm_detok d;
    gm_detok_init(&d);
    char out[GM_DETOK_OUT_MAX(16)];
    assert_int_equal(push(&d, v, T_SP_WORLD, out), 6);
    assert_memory_equal(out, " world", 6);
    /* CONTROL tokens have no text in the stream; USER_DEFINED ones do */
    assert_int_equal(push(&d, v, T_EOS, out), 0);
    assert_int_equal(push(&d, v, T_CHAN, out), 10);
    assert_memory_equal(out, "<|channel>", 10);
    /* a too small buffer drops text instead of overflowing */
    char small[3] = {'x', 'y', 'z'};
    assert_int_equal(gm_detok_push(&d, v, T_HELLO, small, 2), 2);
    assert_memory_equal(small, "hez", 3);
}

/* --- stop strings ------------------------------------------------------------ */

typedef struct sink {
    char text[256];
    size_t n;
} sink;

static int feed(gm_stop_filter *f, sink *s, const char *text)
{
    const char *out;
    size_t n;
    int m = gm_stop_push(f, text, strlen(text), &out, &n, NULL);
    assert_true(m >= 0);
    assert_true(s->n + n < sizeof(s->text));
    memcpy(s->text + s->n, out, n);
    s->n += n;
    s->text[s->n] = '\0';
    return m;
}

static void finish(gm_stop_filter *f, sink *s)
{
    const char *out;
    size_t n;
    gm_stop_finish(f, &out, &n);
    memcpy(s->text + s->n, out, n);
    s->n += n;
    s->text[s->n] = '\0';
}

static void test_stop_across_pushes(void **state)
{
    (void)state;
    const char *stops[] = {"END"};
    gm_stop_filter f;
    sink s = {0};
    assert_int_equal(gm_stop_init(&f, stops, 1, NULL), 0);
    assert_int_equal(feed(&f, &s, "abc E"), 0);
    assert_string_equal(s.text, "abc "); /* "E" is held back */
    assert_int_equal(feed(&f, &s, "N"), 0);
    assert_string_equal(s.text, "abc ");
    assert_int_equal(feed(&f, &s, "Dxyz"), 1);
    assert_string_equal(s.text, "abc "); /* the stop string never comes out */
    finish(&f, &s);
    assert_string_equal(s.text, "abc ");
    gm_stop_free(&f);
}

static void test_stop_partial_then_released(void **state)
{
    (void)state;
    const char *stops[] = {"END"};
    gm_stop_filter f;
    sink s = {0};
    assert_int_equal(gm_stop_init(&f, stops, 1, NULL), 0);
    assert_int_equal(feed(&f, &s, "EN"), 0);
    assert_string_equal(s.text, "");
    assert_int_equal(feed(&f, &s, "d"), 0); /* "ENd" cannot match any more */
    assert_string_equal(s.text, "ENd");
    assert_int_equal(feed(&f, &s, "E"), 0);
    finish(&f, &s); /* the end of the stream releases the held "E" */
    assert_string_equal(s.text, "ENdE");
    gm_stop_free(&f);
}

static void test_stop_earliest_of_several(void **state)
{
    (void)state;
    const char *stops[] = {"world", "lo w", NULL, ""};
    gm_stop_filter f;
    sink s = {0};
    assert_int_equal(gm_stop_init(&f, stops, 4, NULL), 0);
    assert_int_equal(f.n_stop, 2);
    assert_int_equal(feed(&f, &s, "hello world"), 1);
    assert_string_equal(s.text, "hel");
    /* once matched, nothing more comes out */
    assert_int_equal(feed(&f, &s, "more"), 1);
    assert_string_equal(s.text, "hel");
    gm_stop_free(&f);
}

static void test_stop_in_one_push_and_utf8(void **state)
{
    (void)state;
    /* the stop string begins with a 2-byte character: the hold-back never
     * splits a character */
    const char *stops[] = {"\xc3\xa9t\xc3\xa9"};
    gm_stop_filter f;
    sink s = {0};
    assert_int_equal(gm_stop_init(&f, stops, 1, NULL), 0);
    assert_int_equal(feed(&f, &s, "un \xc3\xa9"), 0);
    assert_string_equal(s.text, "un ");
    assert_int_equal(feed(&f, &s, "t\xc3\xa9 chaud"), 1);
    assert_string_equal(s.text, "un ");
    gm_stop_free(&f);

    /* no stop strings: everything passes at once */
    gm_stop_filter g;
    sink t = {0};
    assert_int_equal(gm_stop_init(&g, NULL, 0, NULL), 0);
    assert_int_equal(feed(&g, &t, "anything END"), 0);
    assert_string_equal(t.text, "anything END");
    gm_stop_free(&g);
}

static void test_too_many_stop_strings(void **state)
{
    (void)state;
    const char *stops[GM_STOP_MAX + 1];
    for (int i = 0; i <= GM_STOP_MAX; i++)
        stops[i] = "x";
    gm_stop_filter f;
    cm_err err;
    assert_int_equal(gm_stop_init(&f, stops, GM_STOP_MAX + 1, &err), -1);
    assert_non_null(strstr(err.msg, "stop strings"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detok_split_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detok_invalid_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detok_pieces, setup, teardown),
        cmocka_unit_test(test_stop_across_pushes),
        cmocka_unit_test(test_stop_partial_then_released),
        cmocka_unit_test(test_stop_earliest_of_several),
        cmocka_unit_test(test_stop_in_one_push_and_utf8),
        cmocka_unit_test(test_too_many_stop_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
