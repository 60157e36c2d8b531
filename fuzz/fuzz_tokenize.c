/*
 * fuzz/fuzz_tokenize.c -- libFuzzer target for the tokenizer
 * (engine/text/tokenize.c, detok.c): tokenizes arbitrary bytes with a small
 * in-memory vocabulary (special tokens, merges, byte tokens), then
 * detokenizes the ids, streaming and piece by piece.
 *
 * The first input byte picks add_special / parse_special; the rest is the
 * text. Besides memory errors it checks two properties: every id is a
 * valid token, and for well-formed UTF-8 text without U+2581 and without
 * special-token parsing, the pieces give the text back exactly.
 *
 * The text is also the content of a user message for gm_chat_tokenize
 * (engine/text/chat.c): whatever it spells, the ids hold exactly the
 * template's own control tokens (one <bos>, two <|turn>, one <turn|>) and
 * no other CONTROL token.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/text/chat.h"
#include "engine/text/utf8.h"
#include "engine/text/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed[] = {
    "<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|channel>", "<channel|>",
    "<|tool_response>", "</s>", "\n", "\n\n", "\n\n\n", "a", "b", "ab", "abc", "c",
    "\xe2\x96\x81", "\xe2\x96\x81\xe2\x96\x81", "\xe2\x96\201a", "th", "the", "\xe2\x96\x81the",
    "t", "h", "e", "\xc3\xa9", "<x>", "<x>y", "<|\"|>", "<unused0>"};
static const int32_t fixed_type[] = {3, 3, 3, 2, 3, 3, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 4, 4, 3};
static const char *const merges[] = {
    "a b", "ab c", "\xe2\x96\x81 \xe2\x96\x81", "\xe2\x96\x81 a", "t h", "th e",
    "\xe2\x96\x81 the", "\n \n", "\n\n \n", "b a", "x y"};

#define N_FIXED (sizeof(fixed) / sizeof(fixed[0]))

static gm_vocab *make_vocab(void)
{
    char names[256][8];
    const char *toks[N_FIXED + 256];
    int32_t types[N_FIXED + 256];
    for (size_t i = 0; i < N_FIXED; i++) {
        toks[i] = fixed[i];
        types[i] = fixed_type[i];
    }
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof(names[b]), "<0x%02X>", b);
        toks[N_FIXED + b] = names[b];
        types[N_FIXED + b] = 6;
    }
    gm_vocab_desc d;
    gm_vocab_desc_init(&d);
    d.n_tokens = N_FIXED + 256;
    d.tokens = toks;
    d.token_types = types;
    d.merges = merges;
    d.n_merges = sizeof(merges) / sizeof(merges[0]);
    d.bos_id = 2;
    d.eos_id = 1;
    gm_vocab *v = NULL;
    if (gm_vocab_build(&d, &v, NULL) < 0)
        abort();
    return v;
}

static bool round_trip_expected(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = gm_utf8_strict_len(s + i, n - i);
        if (l == 0 || l == GM_UTF8_INVALID)
            return false;
        if (l == 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0)
            return false;
        i += l;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool add_special = data[0] & 1, parse_special = data[0] & 2;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    gm_vocab *v = make_vocab();
    int32_t *ids = NULL;
    size_t n = 0;
    if (gm_tokenize(v, text, len, add_special, parse_special, &ids, &n, NULL) < 0)
        abort(); /* only out of memory could fail here */

    char *joined = malloc(4 * len + 64);
    char out[GM_DETOK_OUT_MAX(64)];
    size_t jl = 0;
    gm_detok dt;
    gm_detok_init(&dt);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= gm_vocab_n_tokens(v))
            abort();
        char piece[64];
        size_t pl = gm_token_to_piece(v, ids[i], false, piece, sizeof(piece));
        if (pl > sizeof(piece))
            abort();
        if (joined && jl + pl <= 4 * len + 64) {
            memcpy(joined + jl, piece, pl);
            jl += pl;
        }
        gm_detok_push(&dt, v, ids[i], out, sizeof(out));
    }
    gm_detok_flush(&dt, out, sizeof(out));
    if (joined && !parse_special && round_trip_expected(data + 1, len) &&
        (jl != len || memcmp(joined, text, len) != 0))
        abort();
    free(joined);
    free(ids);

    char *content = malloc(len + 1);
    if (content) {
        memcpy(content, text, len);
        content[len] = '\0';
        gm_chat_message m = {GM_ROLE_USER, content};
        if (gm_chat_tokenize(v, &m, 1, NULL, &ids, &n, NULL) < 0)
            abort();
        size_t n_bos = 0, n_turn = 0, n_end = 0;
        for (size_t i = 0; i < n; i++) {
            n_bos += ids[i] == 2;
            n_turn += ids[i] == 4;
            n_end += ids[i] == 5;
            if ((gm_vocab_token_attr(v, ids[i]) & GM_TOKEN_ATTR_CONTROL) && ids[i] != 2 &&
                ids[i] != 4 && ids[i] != 5)
                abort();
        }
        if (n_bos != 1 || n_turn != 2 || n_end != 1)
            abort();
        free(ids);
        free(content);
    }
    gm_vocab_free(v);
    return 0;
}
