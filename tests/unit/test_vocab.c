/*
 * tests/unit/test_vocab.c -- unit tests for the tokenizer (engine/text/
 * vocab.c, tokenize.c, detok.c) on a small vocabulary built in memory and
 * on one written to a GGUF file: BPE merge order, byte fallback, spaces,
 * newline runs, special-token splitting, the load-time fix-ups, pieces.
 * (Agreement with llama.cpp on the real vocabulary is checked by
 * tests/integration/tokenizer_ref.sh.)
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

#include "engine/format/gguf.h"
#include "engine/format/gguf_write.h"
#include "engine/text/vocab.h"

#define N_FIXED 40
#define N_TOK (N_FIXED + 256)

/* The fixed tokens; byte tokens <0x00>..<0xFF> follow at N_FIXED. */
static const char *const fixed_text[N_FIXED] = {
    "<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|channel>", "<channel|>",
    "<|tool_response>", "</s>", "\n", "\n\n", "a", "b", "c", "ab", "bc", "abc", "\xe2\x96\x81",
    "\xe2\x96\201a", "\xe2\x96\x81\xe2\x96\x81", "h", "e", "l", "o", "he", "ll", "hell", "hello",
    "\xe2\x96\x81hello", "<unused0>", "q", "q\xc3\xa9", "<x>", "<x>y", "y", "aa", "\xe2\x96\201b",
    "unusedword", "<|\"|>"};
static const int32_t fixed_type[N_FIXED] = {
    3, 3, 3, 2, 3, 3, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 3, 3, 1, 1, 1, 1, 4};
enum { PAD, EOS, BOS, UNK, TURN, TURN_END, CHAN, CHAN_END, TOOLRESP, SLASH_S, NL, NL2, A, B, C,
       AB, BC, ABC, SP, SP_A, SP_SP, H, E, L, O, HE, LL, HELL, HELLO, SP_HELLO, UNUSED0, Q, Q_E,
       X_TAG, X_TAG_Y, Y, AA, SP_B, UNUSEDWORD, QUOTE };
#define BYTE(b) (N_FIXED + (b))

static const char *const merges[] = {
    "a b", "b c", "ab c", "\xe2\x96\x81 a", "\xe2\x96\x81 \xe2\x96\x81", "h e", "l l", "he ll",
    "hell o", "\xe2\x96\x81 hello", "q \xc3\xa9", "a a", "\xe2\x96\x81 b",
    "a b",      /* a repeat: the first rank stays */
    "nospace",  /* no space: never matches */
};

typedef struct fixture {
    char byte_names[256][8];
    const char *tokens[N_TOK];
    int32_t types[N_TOK];
    gm_vocab_desc d;
    gm_vocab *v;
} fixture;

static void fill_desc(fixture *f)
{
    for (int i = 0; i < N_FIXED; i++) {
        f->tokens[i] = fixed_text[i];
        f->types[i] = fixed_type[i];
    }
    for (int b = 0; b < 256; b++) {
        snprintf(f->byte_names[b], sizeof(f->byte_names[b]), "<0x%02X>", b);
        f->tokens[BYTE(b)] = f->byte_names[b];
        f->types[BYTE(b)] = GM_TOKEN_TYPE_BYTE;
    }
    gm_vocab_desc_init(&f->d);
    f->d.n_tokens = N_TOK;
    f->d.tokens = f->tokens;
    f->d.token_types = f->types;
    f->d.n_merges = sizeof(merges) / sizeof(merges[0]);
    f->d.merges = merges;
    f->d.bos_id = BOS;
    f->d.eos_id = EOS;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    fill_desc(f);
    cm_err err;
    if (gm_vocab_build(&f->d, &f->v, &err) < 0) {
        fprintf(stderr, "build: %s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gm_vocab_free(f->v);
    free(f);
    return 0;
}

/* Tokenize and compare with the expected ids (terminated by -1). */
static void expect_ids(const gm_vocab *v, const char *text, size_t len, bool add_special,
                       bool parse_special, const int32_t *want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    cm_err err;
    assert_int_equal(gm_tokenize(v, text, len, add_special, parse_special, &ids, &n, &err), 0);
    size_t nw = 0;
    while (want[nw] != -1)
        nw++;
    if (n != nw) {
        fprintf(stderr, "text '%.*s': got", (int)len, text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
}

#define EXPECT(v, text, add, parse, ...)                                                  \
    do {                                                                                  \
        const int32_t want_[] = {__VA_ARGS__, -1};                                        \
        expect_ids((v), (text), strlen(text), (add), (parse), want_);                     \
    } while (0)

static void test_merge_order_lowest_rank_first(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "abc", false, true, ABC); /* a+b (rank 0), then ab+c (rank 2) */
    EXPECT(f->v, "hello", false, true, HELLO);
    EXPECT(f->v, "bc", false, true, BC);
    EXPECT(f->v, "cab", false, true, C, AB);
    /* a merge missing for the pair (ab, b): stays two tokens */
    EXPECT(f->v, "abb", false, true, AB, B);
}

static void test_equal_ranks_leftmost_first(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "aaa", false, true, AA, A);
    EXPECT(f->v, "aaaa", false, true, AA, AA);
}

static void test_rank_decides_not_position(void **state)
{
    (void)state;
    /* with "b c" ranked before "a b", "abc" becomes a + bc */
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    fill_desc(f);
    static const char *const m2[] = {"b c", "a b"};
    f->d.merges = m2;
    f->d.n_merges = 2;
    assert_int_equal(gm_vocab_build(&f->d, &f->v, NULL), 0);
    EXPECT(f->v, "abc", false, true, A, BC);
    EXPECT(f->v, "abab", false, true, AB, AB);
    gm_vocab_free(f->v);
    free(f);
}

static void test_byte_fallback(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "x", false, true, BYTE('x'));
    EXPECT(f->v, "\xc3\xa9", false, true, BYTE(0xC3), BYTE(0xA9)); /* é is no token */
    EXPECT(f->v, "a\xe4\xbd\240b", false, true, A, BYTE(0xE4), BYTE(0xBD), BYTE(0xA0), B);
}

static void test_merge_with_part_that_is_no_token(void **state)
{
    fixture *f = *state;
    /* "é" is no token, but the merge "q é" makes the token "qé" */
    EXPECT(f->v, "q\xc3\xa9", false, true, Q_E);
}

static void test_invalid_utf8_becomes_replacement(void **state)
{
    fixture *f = *state;
    /* a lone 0xff is decoded as U+FFFD (ef bf bd) first, as llama.cpp does */
    EXPECT(f->v, "\xff", false, true, BYTE(0xEF), BYTE(0xBF), BYTE(0xBD));
    /* an overlong NUL (c0 80) is re-encoded as the byte 00 */
    EXPECT(f->v, "\xc0\x80", false, true, BYTE(0x00));
    /* a truncated sequence: each byte on its own */
    EXPECT(f->v, "\xe4\xbd", false, true, BYTE(0xEF), BYTE(0xBF), BYTE(0xBD), BYTE(0xEF),
           BYTE(0xBF), BYTE(0xBD));
}

static void test_spaces_become_u2581(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, " a", false, true, SP_A);
    EXPECT(f->v, " hello", false, true, SP_HELLO);
    EXPECT(f->v, "a b", false, true, A, SP_B);
    EXPECT(f->v, "  ", false, true, SP_SP);
    EXPECT(f->v, "   ", false, true, SP_SP, SP);
    /* tabs and CR are ordinary characters (bytes here) */
    EXPECT(f->v, "\t\r", false, true, BYTE('\t'), BYTE('\r'));
}

static void test_newline_runs(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "\n", false, true, NL);
    /* "\n\n" is a token, emitted directly although no merge makes it */
    EXPECT(f->v, "\n\n", false, true, NL2);
    /* "\n\n\n" is no token: BPE on it (no merges) */
    EXPECT(f->v, "\n\n\n", false, true, NL, NL, NL);
    /* no merge across a newline boundary: "a\nb" stays a, \n, b even
     * though "a b"-like merges exist */
    EXPECT(f->v, "a\nb", false, true, A, NL, B);
    EXPECT(f->v, "ab\n\nc", false, true, AB, NL2, C);
}

static void test_special_tokens_parsed(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "<bos>ab<eos>", false, true, BOS, AB, EOS);
    EXPECT(f->v, "<|turn>a<turn|>\n", false, true, TURN, A, TURN_END, NL);
    EXPECT(f->v, "<unk>", false, true, UNK);
    /* longest first: "<x>y" wins over "<x>" */
    EXPECT(f->v, "<x>y<x>", false, true, X_TAG_Y, X_TAG);
    /* text between specials does not merge across them */
    EXPECT(f->v, "a<pad>b", false, true, A, PAD, B);
}

static void test_parse_special_false(void **state)
{
    fixture *f = *state;
    /* CONTROL text is spelled out; USER_DEFINED is still matched */
    EXPECT(f->v, "<bos>", false, false, BYTE('<'), B, O, BYTE('s'), BYTE('>'));
    EXPECT(f->v, "<|channel>a", false, false, CHAN, A);
    EXPECT(f->v, "<|\"|>", false, false, QUOTE);
    /* <|tool_response> was USER_DEFINED but got CONTROL as an end-of-generation token */
    int32_t *ids;
    size_t n;
    assert_int_equal(gm_tokenize(f->v, "<|tool_response>", 16, false, false, &ids, &n, NULL), 0);
    assert_true(n > 1);
    free(ids);
    EXPECT(f->v, "<|tool_response>", false, true, TOOLRESP);
}

static void test_add_special_adds_bos_only(void **state)
{
    fixture *f = *state;
    EXPECT(f->v, "ab", true, true, BOS, AB);
    EXPECT(f->v, "", true, true, BOS);
    int32_t *ids;
    size_t n = 99;
    assert_int_equal(gm_tokenize(f->v, "", 0, false, true, &ids, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(ids);
}

static void test_no_bos_is_an_error_when_needed(void **state)
{
    (void)state;
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    fill_desc(f);
    f->d.bos_id = -1;
    assert_int_equal(gm_vocab_build(&f->d, &f->v, NULL), 0);
    int32_t *ids = NULL;
    size_t n;
    cm_err err;
    assert_int_equal(gm_tokenize(f->v, "a", 1, true, true, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "BOS"));
    assert_int_equal(gm_tokenize(f->v, "a", 1, false, true, &ids, &n, &err), 0);
    free(ids);
    gm_vocab_free(f->v);
    free(f);
}

static void test_eog_and_attribute_fixups(void **state)
{
    fixture *f = *state;
    const gm_vocab *v = f->v;
    assert_true(gm_vocab_is_eog(v, EOS));
    assert_true(gm_vocab_is_eog(v, TURN_END));
    assert_true(gm_vocab_is_eog(v, TOOLRESP));
    assert_false(gm_vocab_is_eog(v, TURN));
    assert_false(gm_vocab_is_eog(v, A));
    assert_false(gm_vocab_is_eog(v, -1));
    assert_false(gm_vocab_is_eog(v, N_TOK));
    /* </s> is not an end of generation when <|tool_response> is, and is NORMAL */
    assert_false(gm_vocab_is_eog(v, SLASH_S));
    assert_int_equal(gm_vocab_token_attr(v, SLASH_S), GM_TOKEN_ATTR_NORMAL);
    assert_int_equal(gm_vocab_token_attr(v, TOOLRESP),
                     GM_TOKEN_ATTR_USER_DEFINED | GM_TOKEN_ATTR_CONTROL);
    assert_int_equal(gm_vocab_token_attr(v, TURN_END), GM_TOKEN_ATTR_CONTROL);
    /* CONTROL tokens named "unused..." are also UNUSED; NORMAL ones are not */
    assert_int_equal(gm_vocab_token_attr(v, UNUSED0), GM_TOKEN_ATTR_CONTROL | GM_TOKEN_ATTR_UNUSED);
    assert_int_equal(gm_vocab_token_attr(v, UNUSEDWORD), GM_TOKEN_ATTR_NORMAL);
    assert_int_equal(gm_vocab_bos(v), BOS);
    assert_int_equal(gm_vocab_eos(v), EOS);
    assert_int_equal(gm_vocab_n_tokens(v), N_TOK);
    assert_int_equal(gm_vocab_n_merges(v), sizeof(merges) / sizeof(merges[0]));
}

static void test_find_and_text(void **state)
{
    fixture *f = *state;
    assert_int_equal(gm_vocab_find(f->v, "hello"), HELLO);
    assert_int_equal(gm_vocab_find(f->v, "<0x41>"), BYTE(0x41));
    assert_int_equal(gm_vocab_find(f->v, "nope"), -1);
    size_t len;
    const char *t = gm_vocab_token_text(f->v, SP_A, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(t, "\xe2\x96\201a", 4);
    assert_null(gm_vocab_token_text(f->v, N_TOK, &len));
}

static void test_token_to_piece(void **state)
{
    fixture *f = *state;
    char buf[32];
    size_t n = gm_token_to_piece(f->v, SP_HELLO, false, buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " hello", 6);
    n = gm_token_to_piece(f->v, BYTE(0xA9), false, buf, sizeof(buf));
    assert_int_equal(n, 1);
    assert_int_equal((unsigned char)buf[0], 0xA9);
    /* CONTROL only with special; USER_DEFINED always; UNUSED never */
    assert_int_equal(gm_token_to_piece(f->v, TURN_END, false, buf, sizeof(buf)), 0);
    n = gm_token_to_piece(f->v, TURN_END, true, buf, sizeof(buf));
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "<turn|>", 7);
    n = gm_token_to_piece(f->v, CHAN, false, buf, sizeof(buf));
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "<|channel>", 10);
    assert_int_equal(gm_token_to_piece(f->v, UNK, false, buf, sizeof(buf)), 0);
    /* too small: the needed length, nothing written past cap */
    buf[0] = 'Z';
    assert_int_equal(gm_token_to_piece(f->v, HELLO, false, buf, 3), 5);
    assert_int_equal(gm_token_to_piece(f->v, -1, true, buf, sizeof(buf)), 0);
}

static void test_duplicate_token_rejected(void **state)
{
    (void)state;
    static const char *const toks[] = {"a", "b", "a"};
    gm_vocab_desc d;
    gm_vocab_desc_init(&d);
    d.n_tokens = 3;
    d.tokens = toks;
    gm_vocab *v = NULL;
    cm_err err;
    assert_int_equal(gm_vocab_build(&d, &v, &err), -1);
    assert_null(v);
    assert_non_null(strstr(err.msg, "repeats"));
    d.n_tokens = 0;
    assert_int_equal(gm_vocab_build(&d, &v, &err), -1);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    const char *text = "hello abc\n\nq\xc3\xa9 <|channel>x\xe4\xbd\xa0";
    int32_t *ids;
    size_t n;
    assert_int_equal(gm_tokenize(f->v, text, strlen(text), true, true, &ids, &n, NULL), 0);
    char out[128];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += gm_token_to_piece(f->v, ids[i], false, out + len, sizeof(out) - len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(out, text, len);
    free(ids);
}

/* --- the same vocabulary read from a GGUF file ------------------------------ */

static int write_vocab_gguf(const char *path, const fixture *f, const char *model,
                            bool with_merges, bool add_bos, bool types_as_u32)
{
    gguf_writer *w;
    cm_err err;
    if (gguf_writer_new(&w, &err) < 0)
        return -1;
    int32_t suppress[3] = {A, 999999, -5};
    uint32_t types_u32[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        types_u32[i] = (uint32_t)f->types[i];
    int rc = gguf_writer_add_str(w, "general.architecture", "gemma4", &err);
    rc |= gguf_writer_add_str(w, "tokenizer.ggml.model", model, &err);
    rc |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", f->tokens, N_TOK, &err);
    if (with_merges)
        rc |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges,
                                      sizeof(merges) / sizeof(merges[0]), &err);
    if (types_as_u32)
        rc |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_UINT32, types_u32,
                                  N_TOK, &err);
    else
        rc |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, f->types,
                                  N_TOK, &err);
    rc |= gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", BOS, &err);
    rc |= gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", EOS, &err);
    rc |= gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", add_bos, &err);
    rc |= gguf_writer_add_arr(w, "tokenizer.ggml.suppress_tokens", GGUF_TYPE_INT32, suppress, 3,
                              &err);
    if (rc == 0)
        rc = gguf_writer_write(w, path, &err);
    if (rc != 0)
        fprintf(stderr, "gguf write: %s\n", err.msg);
    gguf_writer_free(w);
    return rc == 0 ? 0 : -1;
}

static int load_file(const char *path, gm_vocab **v, cm_err *err)
{
    gguf_file *g;
    if (gguf_open(path, &g, err) < 0)
        return -1;
    int rc = gm_vocab_load(g, v, err);
    gguf_close(g);
    return rc;
}

static void test_load_from_gguf(void **state)
{
    fixture *f = *state;
    char path[] = "/tmp/test_vocab_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* add_bos_token false in the file: still forced on */
    assert_int_equal(write_vocab_gguf(path, f, "gemma4", true, false, false), 0);
    gm_vocab *v = NULL;
    cm_err err;
    assert_int_equal(load_file(path, &v, &err), 0);
    EXPECT(v, "abc hello", true, true, BOS, ABC, SP_HELLO);
    EXPECT(v, "<turn|>", false, false, BYTE('<'), BYTE('t'), BYTE('u'), BYTE('r'), BYTE('n'),
           BYTE('|'), BYTE('>'));
    assert_true(gm_vocab_is_eog(v, TURN_END));
    assert_false(gm_vocab_is_eog(v, SLASH_S));
    const int32_t *sup;
    assert_int_equal(gm_vocab_suppressed(v, &sup), 1); /* out-of-range ids dropped */
    assert_int_equal(sup[0], A);
    gm_vocab_free(v);

    /* another tokenizer model is refused */
    assert_int_equal(write_vocab_gguf(path, f, "llama", true, true, false), 0);
    v = NULL;
    assert_int_equal(load_file(path, &v, &err), -1);
    assert_null(v);
    assert_non_null(strstr(err.msg, "gemma4"));
    /* merges are required */
    assert_int_equal(write_vocab_gguf(path, f, "gemma4", false, true, false), 0);
    assert_int_equal(load_file(path, &v, &err), -1);
    assert_non_null(strstr(err.msg, "tokenizer.ggml.merges"));
    /* token_type must be int32 */
    assert_int_equal(write_vocab_gguf(path, f, "gemma4", true, true, true), 0);
    assert_int_equal(load_file(path, &v, &err), -1);
    assert_non_null(strstr(err.msg, "token_type"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_order_lowest_rank_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_ranks_leftmost_first, setup, teardown),
        cmocka_unit_test(test_rank_decides_not_position),
        cmocka_unit_test_setup_teardown(test_byte_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_with_part_that_is_no_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_becomes_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spaces_become_u2581, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newline_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_tokens_parsed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_special_false, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_special_adds_bos_only, setup, teardown),
        cmocka_unit_test(test_no_bos_is_an_error_when_needed),
        cmocka_unit_test_setup_teardown(test_eog_and_attribute_fixups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_and_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_to_piece, setup, teardown),
        cmocka_unit_test(test_duplicate_token_rejected),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_from_gguf, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
