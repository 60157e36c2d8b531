/*
 * tests/unit/test_grammar.c -- unit tests for engine/grammar/: schemas
 * compile or are refused naming the keyword; the byte-level matcher takes
 * valid JSON and refuses invalid JSON; random walks through the token
 * mask (a small vocabulary with multi-byte tokens) always end in JSON that
 * jansson parses and that has the schema's shape; the sampler hook; and
 * logprobs equal a log-softmax computed here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/grammar/grammar.h"
#include "engine/grammar/logprobs.h"
#include "engine/grammar/tool_format.h"
#include "engine/text/sample.h"
#include "engine/text/vocab.h"

/* ---- a small vocabulary: every printable byte, JSON pieces, words ---- */

static const char *const extra[] = {
    "{\"", "\":", "\",\"", "\"}", "\"]", "[\"", "\",", ",\"", "}}", "]}", "},", "true",
    "false", "null", "name", "age", "▁the", "▁quick", "brown", "email", "@x", ".com",
    "12", "345", "2024", "-01-", "red", "green", "blue", "light", "▁blue", "\\n", "\\u00",
    "é", "日本", "\xe2\x82", "\xac", "id", "items", "tags", "-0", ".5", "e5", "ok",
    "status", "\"a", "b\"", "{}", "[]", "[1", ",2", "3]", NULL};

static gm_vocab *make_vocab(void)
{
    static char singles[256][2];
    const char *texts[512];
    int32_t types[512];
    size_t n = 0;
    texts[n] = "<pad>";
    types[n++] = GM_TOKEN_TYPE_CONTROL;
    texts[n] = "<eos>";
    types[n++] = GM_TOKEN_TYPE_CONTROL;
    texts[n] = "<bos>";
    types[n++] = GM_TOKEN_TYPE_CONTROL;
    for (int c = 0x20; c < 0x7f; c++) {
        singles[c][0] = (char)c;
        singles[c][1] = '\0';
        texts[n] = singles[c];
        types[n++] = GM_TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; extra[i]; i++) {
        texts[n] = extra[i];
        types[n++] = GM_TOKEN_TYPE_NORMAL;
    }
    static const char *const user[] = {"<|\"|>", "<|tool_call>", "<tool_call|>", "<|channel>"};
    for (size_t i = 0; i < 4; i++) {
        texts[n] = user[i];
        types[n++] = GM_TOKEN_TYPE_USER_DEFINED;
    }
    gm_vocab_desc d;
    gm_vocab_desc_init(&d);
    d.n_tokens = n;
    d.tokens = texts;
    d.token_types = types;
    d.pad_id = 0;
    d.eos_id = 1;
    d.bos_id = 2;
    gm_vocab *v = NULL;
    cm_err err;
    if (gm_vocab_build(&d, &v, &err) < 0) {
        fprintf(stderr, "vocab: %s\n", err.msg);
        return NULL;
    }
    return v;
}

static gm_grammar *schema(const char *json)
{
    gm_grammar *g = NULL;
    cm_err err;
    char kw[64];
    if (gm_grammar_from_schema(json, strlen(json), &g, kw, sizeof(kw), &err) < 0)
        fail_msg("schema %s: %s", json, err.msg);
    return g;
}

static bool matches(const char *schema_json, const char *text)
{
    gm_grammar *g = schema(schema_json);
    gm_vocab *v = make_vocab();
    gm_token_index *ti = NULL;
    gm_matcher *m = NULL;
    cm_err err;
    assert_int_equal(gm_token_index_new(v, gm_vocab_n_tokens(v), &ti, &err), 0);
    assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
    bool ok = gm_matcher_accept_bytes(m, text, strlen(text)) && gm_matcher_can_end(m);
    gm_matcher_free(m);
    gm_token_index_free(ti);
    gm_vocab_free(v);
    gm_grammar_free(g);
    return ok;
}

/* ---- compile ---- */

static void test_refused_keywords(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *keyword;
    } cases[] = {
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "pattern"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\",\"multipleOf\":2}}}",
         "multipleOf"},
        {"{\"type\":\"string\",\"format\":\"hostname\"}", "format"},
        {"{\"$ref\":\"http://example.com/s.json\"}", "$ref"},
        {"{\"type\":\"object\",\"required\":[\"x\"],\"properties\":{}}", "required"},
        {"{\"allOf\":[{\"type\":\"string\"}]}", "allOf"},
        {"{\"type\":\"array\",\"prefixItems\":[]}", "prefixItems"},
        {"{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", "minLength"},
        {"{\"type\":\"string\",\"format\":\"date\",\"maxLength\":8}", "maxLength"},
        {"{\"type\":\"string\",\"format\":\"uuid\",\"minLength\":40}", "minLength"},
        /* oneOf whose branches may both match: "ab" matches both */
        {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"string\",\"maxLength\":3}]}", "oneOf"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "oneOf"},
        /* {} matches both */
        {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}},"
         "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}}}]}", "oneOf"},
        /* a tag that is not required does not tell them apart: {} */
        {"{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"}}},"
         "{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"b\"}}}]}", "oneOf"},
        /* without "type", properties do not constrain a string: "x" matches both */
        {"{\"oneOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}}},{\"type\":\"string\"}]}",
         "oneOf"},
        /* 2 and 2.0 are the same number */
        {"{\"oneOf\":[{\"enum\":[1,2]},{\"enum\":[2.0,3]}]}", "oneOf"},
        /* overlap through $ref, nested in an array */
        {"{\"$defs\":{\"s\":{\"type\":\"string\"}},\"type\":\"array\",\"items\":"
         "{\"oneOf\":[{\"$ref\":\"#/$defs/s\"},{\"enum\":[\"x\",null]}]}}", "oneOf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gm_grammar *g = NULL;
        cm_err err;
        char kw[64] = "";
        assert_int_equal(gm_grammar_from_schema(cases[i].schema, strlen(cases[i].schema), &g,
                                                kw, sizeof(kw), &err), -1);
        assert_null(g);
        assert_string_equal(kw, cases[i].keyword);
        assert_non_null(strstr(err.msg, cases[i].keyword));
    }
    gm_grammar *g = NULL;
    cm_err err;
    assert_int_equal(gm_grammar_from_schema("{not json", 9, &g, NULL, 0, &err), -1);
}

/* oneOf branches that exclude each other compile, and a value takes one */
static void test_one_of_exclusive(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"},{\"type\":\"array\"}]}",
        "{\"oneOf\":[{\"enum\":[\"a\",\"b\"]},{\"const\":\"c\"},{\"type\":\"integer\"}]}",
        "{\"oneOf\":[{\"type\":\"object\",\"required\":[\"k\",\"x\"],\"properties\":"
        "{\"k\":{\"const\":\"a\"},\"x\":{\"type\":\"string\"}}},"
        "{\"type\":\"object\",\"required\":[\"k\"],\"properties\":{\"k\":{\"$ref\":"
        "\"#/$defs/bc\"}}}],\"$defs\":{\"bc\":{\"enum\":[\"b\",\"c\"]}}}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        gm_grammar *g = NULL;
        cm_err err;
        if (gm_grammar_from_schema(ok[i], strlen(ok[i]), &g, NULL, 0, &err) < 0)
            fail_msg("schema %zu refused: %s", i, err.msg);
        gm_grammar_free(g);
    }
    assert_true(matches(ok[2], "{\"k\":\"a\",\"x\":\"q\"}"));
    assert_true(matches(ok[2], "{\"k\":\"c\"}"));
    assert_false(matches(ok[2], "{\"k\":\"a\"}"));
    assert_false(matches(ok[2], "{\"k\":\"d\"}"));
}

/* Nesting: a schema that cannot be finished, or only deeper than the cap
 * of 48, is refused; a recursive one never lets a value be opened (or a
 * key written) where what it needs would not fit under the cap. */
static void test_no_dead_ends(void **state)
{
    (void)state;
    static const char *const refused[] = {
        /* a required property that leads back into itself: no finite value */
        "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"$ref\":\"#\"}}}",
        /* minItems through a recursive $ref */
        "{\"$defs\":{\"l\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":"
        "\"#/$defs/l\"}}},\"$ref\":\"#/$defs/l\"}",
        NULL, /* 50 nested arrays with minItems 1, built below */
    };
    char deep[4096] = "";
    for (int i = 0; i < 49; i++)
        strcat(deep, "{\"type\":\"array\",\"minItems\":1,\"items\":");
    strcat(deep, "{\"type\":\"null\"}");
    for (int i = 0; i < 49; i++)
        strcat(deep, "}");
    for (size_t i = 0; i < 3; i++) {
        const char *js = refused[i] ? refused[i] : deep;
        gm_grammar *g = NULL;
        cm_err err;
        if (gm_grammar_from_schema(js, strlen(js), &g, NULL, 0, &err) == 0)
            fail_msg("schema %zu compiled, but no value of it fits", i);
        assert_null(g);
    }
    /* 47 nested arrays fit */
    deep[0] = '\0';
    for (int i = 0; i < 46; i++)
        strcat(deep, "{\"type\":\"array\",\"minItems\":1,\"items\":");
    strcat(deep, "{\"type\":\"null\"}");
    for (int i = 0; i < 46; i++)
        strcat(deep, "}");
    gm_grammar_free(schema(deep));

    /* An optional "c" nests the object; the required "v" needs 3 more
     * levels. Go as deep as "c" is allowed, then finish with "v" on every
     * level: that must be possible (no dead end at the bottom). */
    const char *rec = "{\"type\":\"object\",\"required\":[\"v\"],\"properties\":{"
                      "\"c\":{\"$ref\":\"#\"},\"v\":{\"type\":\"array\",\"minItems\":1,"
                      "\"items\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":"
                      "\"integer\"}}}}}";
    gm_grammar *g = schema(rec);
    gm_vocab *v = make_vocab();
    gm_token_index *ti = NULL;
    gm_matcher *m = NULL;
    cm_err err;
    assert_int_equal(gm_token_index_new(v, gm_vocab_n_tokens(v), &ti, &err), 0);
    assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
    int k = 0;
    while (k < 100 && gm_matcher_accept_bytes(m, "{\"c\":", 5))
        k++;
    assert_true(k > 10 && k < 48);
    assert_true(gm_matcher_accept_bytes(m, "{\"v\":[[1]]}", 11));
    for (int i = 0; i < k; i++)
        assert_true(gm_matcher_accept_bytes(m, ",\"v\":[[2]]}", 11));
    assert_true(gm_matcher_can_end(m));
    gm_matcher_free(m);
    gm_token_index_free(ti);
    gm_vocab_free(v);
    /* an anyOf that leads back to itself before its other alternatives
     * (left recursion) must not hide them */
    const char *left = "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"},{\"type\":"
                       "\"string\"}]},\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":"
                       "\"null\"}]}},\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":"
                       "\"#/$defs/a\"}}";
    assert_true(matches(left, "[null,\"x\",null]"));
    assert_false(matches(left, "[]"));
    /* the check after generation: complete, unfinished, wrong */
    assert_int_equal(gm_grammar_check_text(g, "{\"v\":[[1]]}", 11), 1);
    assert_int_equal(gm_grammar_check_text(g, "{\"c\":{\"v\":[[1]]}", 17), 0);
    assert_int_equal(gm_grammar_check_text(g, "{\"v\":[]}", 8), 0);
    assert_int_equal(gm_grammar_check_text(g, "", 0), 0);
    gm_grammar_free(g);
}

/* Formats with length bounds, and bounded numbers: random byte walks (each byte drawn among
 * those allowed) never reach a point where nothing is allowed and the
 * value is unfinished. */
static void test_format_lengths(void **state)
{
    (void)state;
    static const char *const schemas[] = {
        "{\"type\":\"string\",\"format\":\"date-time\",\"maxLength\":20}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"maxLength\":21}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"maxLength\":22}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"maxLength\":25}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"minLength\":25}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"minLength\":30,\"maxLength\":31}",
        "{\"type\":\"string\",\"format\":\"date-time\",\"minLength\":32}",
        "{\"type\":\"string\",\"format\":\"email\",\"maxLength\":5}",
        "{\"type\":\"string\",\"format\":\"email\",\"minLength\":8,\"maxLength\":8}",
        "{\"type\":\"string\",\"format\":\"date\",\"minLength\":10}",
        "{\"type\":\"string\",\"format\":\"uuid\",\"maxLength\":36}",
        "{\"type\":\"number\",\"minimum\":-1.5,\"maximum\":-0.5}",
        "{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1.000001}",
        "{\"type\":\"integer\",\"minimum\":-120,\"maximum\":7}",
        "{\"type\":\"number\",\"minimum\":99.5,\"maximum\":1000.25}",
        "{\"type\":\"number\"}",
    };
    gm_vocab *v = make_vocab();
    gm_token_index *ti = NULL;
    cm_err err;
    assert_int_equal(gm_token_index_new(v, gm_vocab_n_tokens(v), &ti, &err), 0);
    srand(7);
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        gm_grammar *g = schema(schemas[i]);
        for (int walk = 0; walk < 150; walk++) {
            gm_matcher *m = NULL;
            assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
            char text[128];
            size_t n = 0;
            while (!gm_matcher_is_done(m)) {
                char c = 0;
                int start = rand() % 95;
                for (int k = 0; k < 95 && c == 0; k++) {
                    char b = (char)(0x20 + (start + k) % 95);
                    if (gm_matcher_accept_bytes(m, &b, 1))
                        c = b;
                }
                if (c == 0 && gm_matcher_can_end(m))
                    break; /* a number at its last digit */
                if (c == 0)
                    fail_msg("%s: dead end after %.*s", schemas[i], (int)n, text);
                assert_true(n + 1 < sizeof(text));
                text[n++] = c;
            }
            text[n] = '\0';
            gm_matcher_free(m);
            /* the length is what the schema says, in characters (ASCII) */
            json_t *val = json_loads(text, JSON_DECODE_ANY, NULL);
            assert_non_null(val);
            json_t *sch = json_loads(schemas[i], 0, NULL);
            if (json_is_number(val)) { /* within the bounds */
                double x = json_number_value(val);
                json_t *b;
                if (((b = json_object_get(sch, "minimum")) && x < json_number_value(b)) ||
                    ((b = json_object_get(sch, "maximum")) && x > json_number_value(b)) ||
                    ((b = json_object_get(sch, "exclusiveMinimum")) && x <= json_number_value(b)) ||
                    ((b = json_object_get(sch, "exclusiveMaximum")) && x >= json_number_value(b)))
                    fail_msg("%s: %s is out of range", schemas[i], text);
                json_decref(val);
                json_decref(sch);
                continue;
            }
            assert_true(json_is_string(val));
            size_t len = json_string_length(val);
            json_t *mx = json_object_get(sch, "maxLength"), *mn = json_object_get(sch, "minLength");
            if (mx && len > (size_t)json_integer_value(mx))
                fail_msg("%s: %s is too long", schemas[i], text);
            if (mn && len < (size_t)json_integer_value(mn))
                fail_msg("%s: %s is too short", schemas[i], text);
            json_decref(val);
            json_decref(sch);
        }
        gm_grammar_free(g);
    }
    gm_token_index_free(ti);
    gm_vocab_free(v);
    /* no date-time is longer than 32 characters */
    gm_grammar *g = NULL;
    const char *too_long = "{\"type\":\"string\",\"format\":\"date-time\",\"minLength\":33}";
    assert_int_equal(gm_grammar_from_schema(too_long, strlen(too_long), &g, NULL, 0, &err), -1);
}

/* ---- the byte matcher ---- */

static void test_matcher_bytes(void **state)
{
    (void)state;
    const char *obj = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                      "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
                      "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
                      "\"maxItems\":2}},\"required\":[\"name\",\"age\"],"
                      "\"additionalProperties\":false}";
    assert_true(matches(obj, "{\"name\":\"x\",\"age\":7}"));
    assert_true(matches(obj, "{\"name\":\"\\u00e9\\n\",\"age\":150,\"tags\":[\"a\",\"b\"]}"));
    assert_false(matches(obj, "{\"name\":\"x\"}"));                 /* age required */
    assert_false(matches(obj, "{\"age\":7,\"name\":\"x\"}"));       /* schema order */
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":151}"));     /* maximum */
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":-1}"));      /* minimum */
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":07}"));      /* leading zero */
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":7,\"tags\":[\"a\",\"b\",\"c\"]}"));
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":7,\"zip\":1}"));
    assert_false(matches(obj, "{\"name\":\"x\",\"age\":7"));       /* incomplete */
    assert_false(matches(obj, "{\"name\":\"x\x01\",\"age\":7}"));   /* control char */

    const char *fmt = "{\"type\":\"array\",\"items\":{\"anyOf\":["
                      "{\"type\":\"string\",\"format\":\"date\"},"
                      "{\"type\":\"string\",\"format\":\"uuid\"},"
                      "{\"type\":\"string\",\"format\":\"email\"},"
                      "{\"type\":\"string\",\"format\":\"date-time\"}]}}";
    assert_true(matches(fmt, "[\"2024-02-29\",\"123e4567-e89b-12d3-a456-426614174000\","
                             "\"a.b@example.com\",\"2024-01-31T23:59:59Z\","
                             "\"2024-01-31T23:59:59.123+05:30\"]"));
    assert_false(matches(fmt, "[\"2023-02-29\"]"));   /* not a leap year */
    assert_false(matches(fmt, "[\"2024-13-01\"]"));
    assert_false(matches(fmt, "[\"a@b\"]"));          /* domain needs a dot */
    assert_false(matches(fmt, "[\"2024-01-31T24:00:00Z\"]"));
    assert_false(matches(fmt, "[\"123e4567e89b12d3a456426614174000\"]"));

    const char *en = "{\"enum\":[\"light blue\",\"blue\",\"red\",3,null]}";
    assert_true(matches(en, "\"light blue\""));
    assert_true(matches(en, "3"));
    assert_true(matches(en, "null"));
    assert_false(matches(en, "\"light\""));
    assert_false(matches(en, "\"green\""));

    const char *num = "{\"type\":\"number\",\"minimum\":-2.5,\"maximum\":10}";
    assert_true(matches(num, "-2"));
    assert_true(matches(num, "9.75"));
    assert_true(matches(num, "10"));
    assert_false(matches(num, "10.5"));
    assert_false(matches(num, "-3"));

    const char *ref = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
                      "\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
                      "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}},"
                      "\"$ref\":\"#/$defs/node\"}";
    assert_true(matches(ref, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[]}]}"));
    assert_false(matches(ref, "{\"v\":1,\"kids\":[{}]}"));

    assert_true(matches("{\"type\":[\"string\",\"null\"],\"maxLength\":3}", "null"));
    assert_true(matches("{\"type\":[\"string\",\"null\"],\"maxLength\":3}", "\"日本x\""));
    assert_false(matches("{\"type\":[\"string\",\"null\"],\"maxLength\":3}", "\"abcd\""));
    assert_true(matches("{}", "[1,{\"a\":[true,null,\"x\"]},-0.5]"));
}

/* ---- token-level walks ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Draw random allowed tokens until an end token; returns the text. */
static char *random_walk(gm_matcher *m, const gm_vocab *v, uint32_t n_vocab, int max_tokens)
{
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (int step = 0; step < max_tokens; step++) {
        const uint32_t *bits = gm_matcher_mask(m);
        int32_t allowed[1024];
        size_t n = 0;
        for (uint32_t i = 0; i < n_vocab && n < 1024; i++)
            if (bits[i / 32] & (1u << (i % 32)))
                allowed[n++] = (int32_t)i;
        assert_true(n > 0);
        int32_t tok = allowed[rnd((uint32_t)n)];
        /* prefer ending only sometimes, so that values grow */
        if (gm_vocab_is_eog(v, tok)) {
            if (n > 1 && rnd(4) != 0)
                tok = allowed[rnd((uint32_t)n)];
        }
        if (gm_vocab_is_eog(v, tok)) {
            out[len] = '\0';
            if (!gm_matcher_can_end(m))
                fail_msg("dead end after: %s", out);
            out[len] = '\0';
            return out;
        }
        assert_true(gm_matcher_accept_token(m, tok));
        char piece[64];
        size_t pl = gm_token_to_piece(v, tok, false, piece, sizeof(piece));
        assert_true(pl < sizeof(piece));
        assert_true(len + pl + 1 < cap);
        memcpy(out + len, piece, pl);
        len += pl;
    }
    free(out);
    return NULL; /* did not end */
}

static void walk_schema(const char *schema_json, int walks)
{
    gm_vocab *v = make_vocab();
    gm_grammar *g = schema(schema_json);
    gm_token_index *ti = NULL;
    cm_err err;
    uint32_t nv = gm_vocab_n_tokens(v);
    assert_int_equal(gm_token_index_new(v, nv, &ti, &err), 0);
    int ended = 0;
    for (int w = 0; w < walks; w++) {
        gm_matcher *m = NULL;
        assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
        char *text = random_walk(m, v, nv, 600);
        if (text) {
            ended++;
            json_error_t je;
            json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
            if (!j)
                fail_msg("schema %s gave invalid JSON: %s (%s)", schema_json, text, je.text);
            json_decref(j);
            /* the same text, byte by byte, is accepted and complete */
            gm_matcher *m2 = NULL;
            assert_int_equal(gm_matcher_new(g, ti, &m2, &err), 0);
            assert_true(gm_matcher_accept_bytes(m2, text, strlen(text)));
            assert_true(gm_matcher_can_end(m2));
            gm_matcher_free(m2);
            free(text);
        }
        gm_matcher_free(m);
    }
    assert_true(ended > 0);
    gm_token_index_free(ti);
    gm_grammar_free(g);
    gm_vocab_free(v);
}

static void test_token_walks(void **state)
{
    (void)state;
    walk_schema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
                "\"maxLength\":12},\"age\":{\"type\":\"integer\",\"minimum\":18,"
                "\"maximum\":99},\"color\":{\"enum\":[\"light blue\",\"blue\",\"red\"]},"
                "\"email\":{\"type\":\"string\",\"format\":\"email\",\"maxLength\":30}},"
                "\"required\":[\"name\",\"age\",\"color\"],\"additionalProperties\":false}",
                40);
    walk_schema("{\"type\":\"array\",\"items\":{\"type\":\"number\",\"minimum\":-5,"
                "\"maximum\":5},\"minItems\":2,\"maxItems\":4}", 40);
    walk_schema("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                "\"maxLength\":4}},\"required\":[\"a\"]},{\"type\":\"object\",\"properties\":"
                "{\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}]}", 40);
    walk_schema("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"format\":"
                "\"date\"},\"u\":{\"type\":\"string\",\"format\":\"uuid\"}},\"required\":[\"d\","
                "\"u\"]}", 20);
}

static void test_json_object(void **state)
{
    (void)state;
    gm_vocab *v = make_vocab();
    gm_grammar *g = NULL;
    gm_token_index *ti = NULL;
    cm_err err;
    assert_int_equal(gm_grammar_json_object(&g, &err), 0);
    uint32_t nv = gm_vocab_n_tokens(v);
    assert_int_equal(gm_token_index_new(v, nv, &ti, &err), 0);
    for (int w = 0; w < 30; w++) {
        gm_matcher *m = NULL;
        assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
        /* EOS is not allowed before the object is complete */
        const uint32_t *bits = gm_matcher_mask(m);
        assert_false(bits[1 / 32] & (1u << 1));
        char *text = random_walk(m, v, nv, 400);
        if (text) {
            json_error_t je;
            json_t *j = json_loads(text, 0, &je);
            if (!j || !json_is_object(j))
                fail_msg("json_object gave %s", text);
            json_decref(j);
            free(text);
        }
        gm_matcher_free(m);
    }
    gm_token_index_free(ti);
    gm_grammar_free(g);
    gm_vocab_free(v);
}

/* ---- the sampler hook ---- */

static void test_sampler_grammar(void **state)
{
    (void)state;
    gm_vocab *v = make_vocab();
    gm_grammar *g = schema("{\"enum\":[\"red\",\"green\"]}");
    gm_token_index *ti = NULL;
    gm_matcher *m = NULL;
    cm_err err;
    uint32_t nv = gm_vocab_n_tokens(v);
    assert_int_equal(gm_token_index_new(v, nv, &ti, &err), 0);
    assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
    gm_sample_params p;
    gm_sample_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 7;
    gm_sampler *s = NULL;
    assert_int_equal(gm_sampler_new(&p, nv, &s, &err), 0);
    /* prompt tokens accepted before any sample leave the matcher alone */
    gm_sampler_accept(s, gm_vocab_find(v, "blue"));
    gm_sampler_set_grammar(s, m);
    gm_sampler_accept(s, gm_vocab_find(v, "blue"));
    float *logits = malloc(nv * sizeof(float));
    char text[64] = "";
    for (int i = 0; i < 20; i++) {
        for (uint32_t k = 0; k < nv; k++)
            logits[k] = 0.0f;
        logits[gm_vocab_find(v, "blue")] = 50.0f; /* the model wants blue */
        int32_t t = gm_sampler_sample(s, logits);
        gm_sampler_accept(s, t);
        if (gm_vocab_is_eog(v, t))
            break;
        char piece[16];
        size_t pl = gm_token_to_piece(v, t, false, piece, sizeof(piece));
        strncat(text, piece, pl);
    }
    assert_true(strcmp(text, "\"red\"") == 0 || strcmp(text, "\"green\"") == 0);
    assert_true(gm_matcher_is_done(m));
    free(logits);
    gm_sampler_free(s);
    gm_matcher_free(m);
    gm_token_index_free(ti);
    gm_grammar_free(g);
    gm_vocab_free(v);
}

/* ---- logprobs ---- */

static void test_logprobs(void **state)
{
    (void)state;
    enum { N = 1000 };
    float logits[N];
    for (int i = 0; i < N; i++)
        logits[i] = (float)((i * 7919) % 1000) / 100.0f - 5.0f;
    logits[3] = NAN;
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < N; i++)
        if (!isnan(logits[i]) && logits[i] > mx)
            mx = logits[i];
    for (int i = 0; i < N; i++)
        if (!isnan(logits[i]))
            sum += exp(logits[i] - mx);
    gm_token_logprob chosen, top[GM_TOP_LOGPROBS_MAX];
    size_t k = gm_logprobs(logits, N, 42, 5, &chosen, top);
    assert_int_equal(k, 5);
    assert_int_equal(chosen.token, 42);
    assert_true(fabs(chosen.logprob - (logits[42] - mx - log(sum))) < 1e-4);
    for (size_t i = 0; i < k; i++) {
        assert_true(fabs(top[i].logprob - (logits[top[i].token] - mx - log(sum))) < 1e-4);
        if (i > 0)
            assert_true(top[i].logprob <= top[i - 1].logprob);
    }
    /* the best of all is first */
    int best = 0;
    for (int i = 1; i < N; i++)
        if (!isnan(logits[i]) && logits[i] > logits[best])
            best = i;
    assert_int_equal(top[0].token, best);
    assert_int_equal(gm_logprobs(logits, N, 1, 50, NULL, top), GM_TOP_LOGPROBS_MAX);
}

/* ---- tool calls ---- */

/* Streaming a call: at every byte of the text, the settled arguments
 * extend those of the byte before and begin the finished call's; the name
 * comes with the '{'; at the end they are the whole arguments. */
static void check_stream_prefixes(const char *text, const gm_tool_call *call)
{
    size_t len = strlen(text), prev_len = 0;
    char *prev = NULL;
    for (size_t l = 0; l <= len; l++) {
        char *name = NULL, *args = NULL;
        cm_err err;
        assert_int_equal(gm_tool_call_stream(text, l, &name, &args, &err), 0);
        if (!args) {
            assert_null(prev);
            continue;
        }
        assert_string_equal(name, call->name);
        size_t al = strlen(args);
        if (al < prev_len || (prev && memcmp(args, prev, prev_len) != 0) ||
            strncmp(call->arguments, args, al) != 0)
            fail_msg("streamed arguments '%s' after %zu bytes of %s do not lead to '%s'", args,
                     l, text, call->arguments);
        free(prev);
        prev = args;
        prev_len = al;
        free(name);
    }
    assert_non_null(prev);
    assert_string_equal(prev, call->arguments);
    free(prev);
}

static void test_tool_call_walks(void **state)
{
    (void)state;
    const char *names[] = {"get_weather", "get_time"};
    const char *schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},"
        "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]},\"days\":"
        "{\"type\":\"integer\",\"minimum\":1,\"maximum\":7},\"at\":{\"type\":\"string\","
        "\"format\":\"date\"}},\"required\":[\"city\",\"unit\"]}",
        NULL};
    gm_vocab *v = make_vocab();
    gm_grammar *g = NULL;
    gm_token_index *ti = NULL;
    cm_err err;
    assert_int_equal(gm_grammar_tool_call(names, schemas, 2, &g, NULL, 0, &err), 0);
    uint32_t nv = gm_vocab_n_tokens(v);
    assert_int_equal(gm_token_index_new(v, nv, &ti, &err), 0);
    int weather = 0, time_calls = 0;
    for (int w = 0; w < 40; w++) {
        gm_matcher *m = NULL;
        assert_int_equal(gm_matcher_new(g, ti, &m, &err), 0);
        char *text = random_walk(m, v, nv, 400);
        gm_matcher_free(m);
        if (!text)
            continue;
        gm_tool_call *calls = NULL;
        char *content = NULL;
        int n = gm_tool_calls_parse(text, strlen(text), &calls, &content, &err);
        if (n != 1 || content[0] != '\0')
            fail_msg("tool call text %s parsed into %d calls and content '%s'", text, n,
                     content ? content : "");
        check_stream_prefixes(text, &calls[0]);
        json_error_t je;
        json_t *args = json_loads(calls[0].arguments, 0, &je);
        assert_non_null(args);
        if (strcmp(calls[0].name, "get_time") == 0) {
            assert_int_equal(json_object_size(args), 0);
            time_calls++;
        } else {
            assert_string_equal(calls[0].name, "get_weather");
            json_t *city = json_object_get(args, "city"), *unit = json_object_get(args, "unit");
            json_t *days = json_object_get(args, "days");
            size_t chars = 0; /* characters, not bytes */
            for (const char *q = json_string_value(city); q && *q; q++)
                chars += ((unsigned char)*q & 0xC0) != 0x80;
            if (!json_is_string(city) || chars > 8 || !json_is_string(unit) ||
                (strcmp(json_string_value(unit), "celsius") != 0 &&
                 strcmp(json_string_value(unit), "fahrenheit") != 0) ||
                (days && (!json_is_integer(days) || json_integer_value(days) < 1 ||
                          json_integer_value(days) > 7)))
                fail_msg("arguments %s from %s", calls[0].arguments, text);
            weather++;
        }
        json_decref(args);
        gm_tool_calls_free(calls, (size_t)n);
        free(content);
        free(text);
    }
    assert_true(weather > 0 && time_calls > 0);
    gm_token_index_free(ti);
    gm_grammar_free(g);
    gm_vocab_free(v);
}

static void test_tool_call_stream(void **state)
{
    (void)state;
    static const struct {
        const char *text, *args; /* args NULL: no call yet */
    } cases[] = {
        {"Sure. <|tool_call>call:get_wea", NULL},
        {"<|tool_call>call:f{", "{"},
        {"<|tool_call>call:f{ci", "{"},
        {"<|tool_call>call:f{city:", "{\"city\":"},
        {"<|tool_call>call:f{city:<|\"", "{\"city\":"},
        {"<|tool_call>call:f{city:<|\"|>Os", "{\"city\":\"Os"},
        {"<|tool_call>call:f{city:<|\"|>Os\"lo<|", "{\"city\":\"Os\\\"lo"},
        {"<|tool_call>call:f{city:<|\"|>Z\xc3", "{\"city\":\"Z"},
        {"<|tool_call>call:f{city:<|\"|>Z\xc3\xbc", "{\"city\":\"Z\xc3\xbc"},
        {"<|tool_call>call:f{city:<|\"|>Oslo<|\"|>,days:1", "{\"city\":\"Oslo\","
                                                            "\"days\":"},
        {"<|tool_call>call:f{city:<|\"|>Oslo<|\"|>,days:12,ok:true}",
         "{\"city\":\"Oslo\",\"days\":12,\"ok\":true}"},
        {"<|tool_call>call:f{a:[1.50,None,{b:<|\"|>x<|\"|>}]}<tool_call|>",
         "{\"a\":[1.5,null,{\"b\":\"x\"}]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *name = NULL, *args = NULL;
        cm_err err;
        assert_int_equal(gm_tool_call_stream(cases[i].text, strlen(cases[i].text), &name,
                                             &args, &err), 0);
        if (!cases[i].args) {
            assert_null(args);
            assert_null(name);
            continue;
        }
        if (!args || strcmp(args, cases[i].args) != 0)
            fail_msg("case %zu: '%s', not '%s'", i, args ? args : "(none)", cases[i].args);
        assert_string_equal(name, "f");
        free(name);
        free(args);
    }
}

static void test_tool_call_parse(void **state)
{
    (void)state;
    const char *t = "Let me check. <|tool_call>call:f{a:<|\"|>x, {y}<|\"|>,b:[1,2.5,true,None],"
                    "c:{<|\"|>d e<|\"|>:false}}<tool_call|><|tool_call>call:g{}<tool_call|>"
                    "<|tool_call>call:h{broken<tool_call|>";
    gm_tool_call *calls = NULL;
    char *content = NULL;
    cm_err err;
    int n = gm_tool_calls_parse(t, strlen(t), &calls, &content, &err);
    assert_int_equal(n, 2);
    assert_string_equal(calls[0].name, "f");
    assert_string_equal(calls[0].arguments,
                        "{\"a\":\"x, {y}\",\"b\":[1,2.5,true,null],\"c\":{\"d e\":false}}");
    assert_string_equal(calls[1].name, "g");
    assert_string_equal(calls[1].arguments, "{}");
    assert_string_equal(content, "Let me check. <|tool_call>call:h{broken<tool_call|>");
    gm_tool_calls_free(calls, (size_t)n);
    free(content);
    /* a schema with free keys cannot be an argument list */
    gm_grammar *g = NULL;
    const char *names[] = {"f"};
    const char *bad[] = {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}"};
    char kw[32];
    assert_int_equal(gm_grammar_tool_call(names, bad, 1, &g, kw, sizeof(kw), &err), -1);
    assert_string_equal(kw, "additionalProperties");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_keywords), cmocka_unit_test(test_one_of_exclusive),
        cmocka_unit_test(test_no_dead_ends),
        cmocka_unit_test(test_format_lengths),
        cmocka_unit_test(test_matcher_bytes),
        cmocka_unit_test(test_token_walks),      cmocka_unit_test(test_json_object),
        cmocka_unit_test(test_sampler_grammar),  cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_tool_call_walks),  cmocka_unit_test(test_tool_call_parse),
        cmocka_unit_test(test_tool_call_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
