/*
 * tests/unit/test_synth.c -- unit tests for engine/synth/: presets and the
 * layer-pattern rules, the synthetic vocabulary, the random streams, and
 * the written GGUF (keys with their exact types, tensor list and types,
 * variants, determinism), read back with the project's GGUF reader.
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
#include <unistd.h>

#include "engine/format/gguf.h"
#include "engine/synth/synth.h"
#include "engine/synth/synth_rng.h"

/* --- helpers --------------------------------------------------------- */

typedef struct tmpdir {
    char path[256];
} tmpdir;

static void tmp_make(tmpdir *d)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(d->path, sizeof(d->path), "%s/test_synth_XXXXXX", base);
    assert_non_null(mkdtemp(d->path));
}

static void tmp_file(const tmpdir *d, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->path, name);
}

static void tmp_remove(const tmpdir *d, const char *const *names, size_t n)
{
    char p[512];
    for (size_t i = 0; i < n; i++) {
        tmp_file(d, names[i], p, sizeof(p));
        unlink(p);
    }
    rmdir(d->path);
}

/* Write preset `name` (after `tweak`, if any) with type and seed to path. */
static void write_model(const char *preset, gm_type type, uint64_t seed, const char *path,
                        void (*tweak)(gm_synth_config *))
{
    gm_synth_config cfg;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset(preset, &cfg, &err), 0);
    if (tweak)
        tweak(&cfg);
    gm_synth_opts opts = {type, seed, NULL, 2};
    if (gm_synth_write(&cfg, &opts, path, &err) != 0)
        fail_msg("gm_synth_write: %s", err.msg);
}

static gguf_file *open_model(const char *path)
{
    gguf_file *f = NULL;
    cm_err err = {{0}};
    if (gguf_open(path, &f, &err) != 0)
        fail_msg("gguf_open: %s", err.msg);
    return f;
}

static gguf_value_type key_type(const gguf_file *f, const char *key)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        fail_msg("key %s is missing", key);
    return gguf_kv_type(f, i);
}

static bool str_eq(gguf_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static bool file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    bool same = true;
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb)
            same = false;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

/* --- configuration ----------------------------------------------------- */

static void check_pattern_rules(const gm_synth_config *c)
{
    cm_err err = {{0}};
    if (gm_synth_validate(c, &err) != 0)
        fail_msg("%s with %u layers: %s", c->preset, c->n_layer, err.msg);
    assert_false(c->swa[c->n_layer - 1]);
    bool any_swa = false;
    for (uint32_t il = 0; il < c->n_layer; il++)
        any_swa |= c->swa[il];
    assert_true(any_swa);
    if (c->n_shared_kv > 0) {
        uint32_t start = c->n_layer - c->n_shared_kv;
        assert_true(start >= 2);
        assert_false(c->swa[start - 1]);
        assert_true(c->swa[start - 2]);
    }
}

static void test_presets_valid(void **state)
{
    (void)state;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset_count(), 6);
    for (size_t i = 0; i < gm_synth_preset_count(); i++) {
        gm_synth_config c;
        assert_int_equal(gm_synth_preset(gm_synth_preset_name(i), &c, &err), 0);
        check_pattern_rules(&c);
    }
    gm_synth_config c;
    assert_int_equal(gm_synth_preset("no-such", &c, &err), -1);
    assert_non_null(strstr(err.msg, "tiny-moe"));

    /* tiny: S S F S S F, last 3 KV-shared, double-wide MLP there. */
    assert_int_equal(gm_synth_preset("tiny", &c, &err), 0);
    const bool tiny_swa[6] = {true, true, false, true, true, false};
    for (uint32_t il = 0; il < 6; il++)
        assert_int_equal(c.swa[il], tiny_swa[il]);
    assert_int_equal(c.n_shared_kv, 3);
    assert_int_equal(gm_synth_n_ff(&c, 2), 256);
    assert_int_equal(gm_synth_n_ff(&c, 3), 512);
    assert_true(gm_synth_has_kv(&c, 2));
    assert_false(gm_synth_has_kv(&c, 3));
    assert_int_equal(gm_synth_head_dim(&c, 0), 64);
    assert_int_equal(gm_synth_head_dim(&c, 2), 128);
    assert_true(c.n_embd_per_layer > 0 && c.n_embd % 256 == 0);

    /* E2B: 35 layers, every 5th full, 20 shared: layer 14 full, 13 sliding. */
    assert_int_equal(gm_synth_preset("e2b", &c, &err), 0);
    assert_int_equal(c.n_layer, 35);
    assert_int_equal(c.n_shared_kv, 20);
    for (uint32_t il = 0; il < 35; il++)
        assert_int_equal(c.swa[il], il % 5 != 4);
    assert_int_equal(gm_synth_n_ff(&c, 14), 6144);
    assert_int_equal(gm_synth_n_ff(&c, 15), 12288);

    /* 26B-A4B: K==V on full layers, 128 experts. */
    assert_int_equal(gm_synth_preset("26b-a4b", &c, &err), 0);
    assert_int_equal(c.n_layer, 30);
    assert_false(c.swa[5]);
    assert_true(c.swa[4]);
    assert_true(gm_synth_has_v(&c, 4));
    assert_false(gm_synth_has_v(&c, 5));
    assert_int_equal(gm_synth_n_head_kv(&c, 4), 8);
    assert_int_equal(gm_synth_n_head_kv(&c, 5), 2);
    assert_int_equal(c.n_expert, 128);
}

static void test_set_layers_keeps_pattern(void **state)
{
    (void)state;
    for (size_t i = 0; i < gm_synth_preset_count(); i++) {
        for (uint32_t L = 2; L <= 64; L++) {
            gm_synth_config c;
            cm_err err = {{0}};
            assert_int_equal(gm_synth_preset(gm_synth_preset_name(i), &c, &err), 0);
            bool shared = c.n_shared_kv > 0;
            if (gm_synth_set_layers(&c, L, &err) != 0) {
                /* Only models with shared KV may refuse, and say how many layers they need. */
                assert_true(shared);
                assert_non_null(strstr(err.msg, "at least"));
                continue;
            }
            assert_int_equal(c.n_layer, L);
            check_pattern_rules(&c);
            assert_int_equal(c.n_shared_kv > 0, shared);
        }
    }
    /* Shrinking and growing back restores the real E2B layout. */
    gm_synth_config c;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset("e2b", &c, &err), 0);
    assert_int_equal(gm_synth_set_layers(&c, 7, &err), 0);
    assert_int_equal(c.n_shared_kv, 2); /* S S S S F | S F: both shared kinds */
    assert_int_equal(gm_synth_set_layers(&c, 5, &err), -1);
    assert_non_null(strstr(err.msg, "at least 6"));
    assert_int_equal(c.n_layer, 7); /* unchanged on error */
    assert_int_equal(gm_synth_set_layers(&c, 35, &err), 0);
    assert_int_equal(c.n_shared_kv, 20);
    /* One layer cannot work: llama.cpp needs a sliding layer and a full last one. */
    assert_int_equal(gm_synth_set_layers(&c, 1, &err), -1);
}

static void test_shared_kv_rules(void **state)
{
    (void)state;
    gm_synth_config c;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset("tiny", &c, &err), 0);
    assert_int_equal(gm_synth_set_shared_kv(&c, 0, &err), 0);
    assert_int_equal(gm_synth_n_ff(&c, 5), 256); /* no shared layers, no double width */
    assert_int_equal(gm_synth_set_shared_kv(&c, 2, &err), -1); /* layer 3 is sliding */
    assert_non_null(strstr(err.msg, "layer 3 must be full"));
    assert_int_equal(gm_synth_set_shared_kv(&c, 5, &err), -1); /* fewer than 2 KV layers */
    assert_non_null(strstr(err.msg, "need at least 2 more layers"));
    assert_int_equal(gm_synth_set_shared_kv(&c, UINT32_MAX, &err), -1);
    assert_int_equal(gm_synth_set_shared_kv(&c, 6, &err), -1);
    assert_int_equal(gm_synth_set_shared_kv(&c, 3, &err), 0);
    c.swa[c.n_layer - 1] = true;
    assert_int_equal(gm_synth_validate(&c, &err), -1);
    assert_int_equal(gm_synth_set_vocab(&c, GM_SYNTH_MIN_VOCAB - 1, &err), -1);
    assert_non_null(strstr(err.msg, "493"));
    assert_int_equal(gm_synth_set_vocab(&c, GM_SYNTH_MIN_VOCAB, &err), 0);
}

/* --- vocabulary ---------------------------------------------------------- */

static int32_t find_token(const gm_synth_vocab *v, const char *s)
{
    for (uint32_t i = 0; i < v->n_tokens; i++)
        if (strcmp(v->tokens[i], s) == 0)
            return (int32_t)i;
    return -1;
}

static void test_vocab_real_ids(void **state)
{
    (void)state;
    gm_synth_vocab v;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_vocab_build(1024, &v, &err), 0);
    assert_int_equal(v.n_tokens, 1024);
    static const struct {
        uint32_t id;
        const char *text;
        int32_t type;
    } want[] = {
        {0, "<pad>", GM_SYNTH_TOK_CONTROL},     {1, "<eos>", GM_SYNTH_TOK_CONTROL},
        {2, "<bos>", GM_SYNTH_TOK_CONTROL},     {3, "<unk>", GM_SYNTH_TOK_CONTROL},
        {4, "<mask>", GM_SYNTH_TOK_CONTROL},    {5, "[multimodal]", GM_SYNTH_TOK_NORMAL},
        {6, "<unused0>", GM_SYNTH_TOK_NORMAL},  {46, "<|tool>", GM_SYNTH_TOK_CONTROL},
        {47, "<tool|>", GM_SYNTH_TOK_CONTROL},  {48, "<|tool_call>", GM_SYNTH_TOK_USER_DEFINED},
        {50, "<|tool_response>", GM_SYNTH_TOK_USER_DEFINED},
        {52, "<|\"|>", GM_SYNTH_TOK_USER_DEFINED}, {98, "<|think|>", GM_SYNTH_TOK_CONTROL},
        {99, "<unused85>", GM_SYNTH_TOK_NORMAL},   {100, "<|channel>", GM_SYNTH_TOK_USER_DEFINED},
        {101, "<channel|>", GM_SYNTH_TOK_USER_DEFINED}, {105, "<|turn>", GM_SYNTH_TOK_CONTROL},
        {106, "<turn|>", GM_SYNTH_TOK_CONTROL},  {107, "\n", GM_SYNTH_TOK_NORMAL},
        {108, "\n\n", GM_SYNTH_TOK_NORMAL},      {138, "\xe2\x96\x81\xe2\x96\x81", GM_SYNTH_TOK_NORMAL},
        {168, "<table>", GM_SYNTH_TOK_NORMAL},   {212, "</s>", GM_SYNTH_TOK_NORMAL},
        {238, "<0x00>", GM_SYNTH_TOK_BYTE},      {248, "<0x0A>", GM_SYNTH_TOK_BYTE},
        {493, "<0xFF>", GM_SYNTH_TOK_BYTE},      {494, "\xe2\x96\x81", GM_SYNTH_TOK_NORMAL},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(v.tokens[want[i].id], want[i].text);
        assert_int_equal(v.types[want[i].id], want[i].type);
    }
    /* Every token is unique, every score is -1000 (as in the real file). */
    for (uint32_t i = 0; i < v.n_tokens; i++) {
        assert_true(v.scores[i] == -1000.0f);
        for (uint32_t j = i + 1; j < v.n_tokens; j++)
            if (strcmp(v.tokens[i], v.tokens[j]) == 0)
                fail_msg("token %u and %u are both '%s'", i, j, v.tokens[i]);
    }
    /* Learned merges build words: "left right" with both sides tokens, and
     * common English words exist as single (U+2581-prefixed) tokens. */
    uint32_t multi = 0;
    for (uint32_t m = 0; m < v.n_merges; m++) {
        const char *sp = strchr(v.merges[m] + 1, ' ');
        assert_non_null(sp);
        char left[128], right[128];
        snprintf(left, sizeof(left), "%.*s", (int)(sp - v.merges[m]), v.merges[m]);
        snprintf(right, sizeof(right), "%s", sp + 1);
        assert_true(find_token(&v, left) >= 0);
        assert_true(find_token(&v, right) >= 0);
        char joined[256];
        snprintf(joined, sizeof(joined), "%s%s", left, right);
        if (find_token(&v, joined) >= 495 && strlen(joined) > 1)
            multi++;
    }
    assert_true(multi > 300);
    assert_true(find_token(&v, "\xe2\x96\x81the") > 494);
    assert_true(find_token(&v, "\xe2\x96\x81is") > 494);
    assert_true(find_token(&v, "\xe2\x96\x81user") > 494);
    assert_true(find_token(&v, "\xe2\x96\x81model") > 494);
    assert_true(find_token(&v, "Hello") > 494);
    gm_synth_vocab_free(&v);

    assert_int_equal(gm_synth_vocab_build(GM_SYNTH_MIN_VOCAB - 1, &v, &err), -1);
    assert_int_equal(gm_synth_vocab_build(GM_SYNTH_MIN_VOCAB, &v, &err), 0);
    assert_string_equal(v.tokens[493], "<0xFF>");
    gm_synth_vocab_free(&v);
}

static void test_vocab_full_size(void **state)
{
    (void)state;
    gm_synth_vocab v, w;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_vocab_build(262144, &v, &err), 0);
    assert_string_equal(v.tokens[255999], "<|image>");
    assert_string_equal(v.tokens[256000], "<|audio>");
    assert_string_equal(v.tokens[258880], "<|image|>");
    assert_string_equal(v.tokens[258884], "<|video|>");
    assert_int_equal(v.types[258884], GM_SYNTH_TOK_CONTROL);
    assert_non_null(strstr(v.tokens[262143], "<unused"));
    /* Deterministic: the same vocabulary twice. */
    assert_int_equal(gm_synth_vocab_build(262144, &w, &err), 0);
    assert_int_equal(v.n_merges, w.n_merges);
    for (uint32_t i = 0; i < v.n_tokens; i++)
        assert_string_equal(v.tokens[i], w.tokens[i]);
    for (uint32_t i = 0; i < v.n_merges; i++)
        assert_string_equal(v.merges[i], w.merges[i]);
    gm_synth_vocab_free(&v);
    gm_synth_vocab_free(&w);
}

static void test_chat_template(void **state)
{
    (void)state;
    const char *t = gm_synth_chat_template();
    assert_non_null(strstr(t, "bos_token"));
    assert_non_null(strstr(t, "'<|turn>system\\n'"));
    assert_non_null(strstr(t, "'<|think|>\\n'"));
    assert_non_null(strstr(t, "'model' if message['role'] == 'assistant'"));
    assert_non_null(strstr(t, "'<turn|>\\n'"));
    assert_non_null(strstr(t, "add_generation_prompt"));
    assert_non_null(strstr(t, "'<|channel>thought\\n<channel|>'"));
}

/* --- random streams ------------------------------------------------------ */

static void test_rng(void **state)
{
    (void)state;
    /* splitmix64's published reference outputs for state 1234567. */
    synth_rng r = {1234567};
    assert_true(synth_rng_next(&r) == 6457827717110365317ull);
    assert_true(synth_rng_next(&r) == 3203168211198807973ull);
    assert_true(synth_rng_next(&r) == 9817491932198370423ull);
    /* Normal deviates: mean ~0, variance ~1, bounded; streams differ by name and seed. */
    synth_rng a = synth_rng_for(1, "blk.0.attn_q.weight");
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float x = synth_rng_normal(&a);
        assert_true(fabsf(x) < 3.5f);
        sum += x;
        sq += (double)x * x;
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sq / n - 1.0) < 0.02);
    synth_rng b = synth_rng_for(1, "blk.0.attn_k.weight"), c = synth_rng_for(2, "blk.0.attn_q.weight");
    synth_rng d = synth_rng_for(1, "blk.0.attn_q.weight");
    uint64_t vb = synth_rng_next(&b), vc = synth_rng_next(&c), vd = synth_rng_next(&d);
    assert_true(vb != vd && vc != vd);
    synth_rng r0 = synth_rng_row(d, 0), r1 = synth_rng_row(d, 1);
    assert_true(synth_rng_next(&r0) != synth_rng_next(&r1));
    for (int i = 0; i < 1000; i++) {
        float u = synth_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
    }
}

/* --- written files -------------------------------------------------------- */

static void test_keys_and_types(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    char path[512];
    tmp_file(&d, "tiny.gguf", path, sizeof(path));
    write_model("tiny", GM_TYPE_F32, 1, path, NULL);
    gguf_file *f = open_model(path);
    cm_err err = {{0}};
    gguf_str s;
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &err), 0);
    assert_true(str_eq(s, "gemma4"));
    assert_int_equal(gguf_get_str(f, "tokenizer.ggml.model", &s, &err), 0);
    assert_true(str_eq(s, "gemma4"));
    /* Exact types, as llama.cpp requires. */
    bool b = false;
    assert_int_equal(key_type(f, "tokenizer.ggml.add_bos_token"), GGUF_TYPE_BOOL);
    assert_int_equal(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b, &err), 0);
    assert_true(b);
    assert_int_equal(key_type(f, "tokenizer.ggml.add_space_prefix"), GGUF_TYPE_BOOL);
    static const char *const u32_keys[] = {
        "gemma4.block_count", "gemma4.context_length", "gemma4.embedding_length",
        "gemma4.attention.head_count", "gemma4.attention.key_length",
        "gemma4.attention.value_length", "gemma4.attention.key_length_swa",
        "gemma4.attention.value_length_swa", "gemma4.rope.dimension_count",
        "gemma4.rope.dimension_count_swa", "gemma4.attention.sliding_window",
        "gemma4.attention.shared_kv_layers", "gemma4.embedding_length_per_layer_input",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.mask_token_id", "general.file_type", "general.quantization_version"};
    for (size_t i = 0; i < sizeof(u32_keys) / sizeof(u32_keys[0]); i++)
        if (key_type(f, u32_keys[i]) != GGUF_TYPE_UINT32)
            fail_msg("%s is not u32", u32_keys[i]);
    static const char *const f32_keys[] = {
        "gemma4.rope.freq_base", "gemma4.rope.freq_base_swa",
        "gemma4.attention.layer_norm_rms_epsilon", "gemma4.final_logit_softcapping"};
    for (size_t i = 0; i < sizeof(f32_keys) / sizeof(f32_keys[0]); i++)
        if (key_type(f, f32_keys[i]) != GGUF_TYPE_FLOAT32)
            fail_msg("%s is not f32", f32_keys[i]);
    uint32_t u;
    float x;
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &u, &err), 0);
    assert_int_equal(u, 2);
    assert_int_equal(gguf_get_f32(f, "gemma4.final_logit_softcapping", &x, &err), 0);
    assert_true(x == 30.0f);
    assert_int_equal(gguf_get_u32(f, "gemma4.rope.dimension_count_swa", &u, &err), 0);
    assert_int_equal(u, 64);
    /* Arrays: pattern of bools, per-layer KV heads and (double-wide) FFN widths. */
    gguf_value_type et;
    uint64_t n;
    int64_t i = gguf_find_key(f, "gemma4.attention.sliding_window_pattern");
    assert_int_equal(gguf_kv_type(f, i), GGUF_TYPE_ARRAY);
    assert_int_equal(gguf_arr_info(f, i, &et, &n), 0);
    assert_int_equal(et, GGUF_TYPE_BOOL);
    assert_int_equal(n, 6);
    const uint8_t *pat = gguf_arr_data(f, i);
    assert_int_equal(pat[0], 1);
    assert_int_equal(pat[2], 0);
    assert_int_equal(pat[5], 0);
    int64_t v;
    i = gguf_find_key(f, "gemma4.feed_forward_length");
    assert_int_equal(gguf_kv_type(f, i), GGUF_TYPE_ARRAY);
    assert_int_equal(gguf_arr_int(f, i, 2, &v), 0);
    assert_int_equal(v, 256);
    assert_int_equal(gguf_arr_int(f, i, 3, &v), 0);
    assert_int_equal(v, 512);
    i = gguf_find_key(f, "gemma4.attention.head_count_kv");
    assert_int_equal(gguf_arr_info(f, i, &et, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(gguf_arr_int(f, i, 0, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(gguf_arr_int(f, i, 2, &v), 0);
    assert_int_equal(v, 1);
    i = gguf_find_key(f, "tokenizer.ggml.token_type");
    assert_int_equal(gguf_arr_info(f, i, &et, &n), 0);
    assert_int_equal(et, GGUF_TYPE_INT32);
    assert_int_equal(n, 1024);
    i = gguf_find_key(f, "tokenizer.ggml.tokens");
    assert_true(str_eq(gguf_arr_str(f, i, 105), "<|turn>"));
    assert_true(gguf_find_key(f, "tokenizer.chat_template") >= 0);
    assert_true(gguf_find_key(f, "gemma4.expert_count") < 0);

    /* Tensors: exactly the requested ones. */
    assert_non_null(gguf_find_tensor(f, "blk.2.attn_k.weight"));
    assert_null(gguf_find_tensor(f, "blk.3.attn_k.weight")); /* KV-shared layer */
    assert_null(gguf_find_tensor(f, "blk.3.attn_v.weight"));
    assert_null(gguf_find_tensor(f, "blk.3.attn_k_norm.weight"));
    assert_null(gguf_find_tensor(f, "output.weight"));        /* tied */
    const gguf_tensor *t = gguf_find_tensor(f, "blk.3.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 512);
    assert_int_equal(t->ne[1], 256);
    t = gguf_find_tensor(f, "per_layer_token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 32 * 6);
    assert_int_equal(t->ne[1], 1024);
    t = gguf_find_tensor(f, "blk.2.attn_q.weight");
    assert_int_equal(t->ne[1], 4 * 128); /* full layer: larger heads */
    /* 3 + 3 PLE globals, 17 per KV layer, 14 per shared layer. */
    assert_int_equal(gguf_n_tensors(f), 6 + 3 * 17 + 3 * 14);
    /* rope_freqs: 1.0 for the first 128 * 0.25 / 2 = 16 pairs, 1e30 after. */
    t = gguf_find_tensor(f, "rope_freqs.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    const float *rf = t->data;
    assert_true(rf[0] == 1.0f && rf[15] == 1.0f && rf[16] == 1e30f && rf[63] == 1e30f);
    /* Scales keep activations O(1): norms near 1, embeddings ~ 3/sqrt(E). */
    t = gguf_find_tensor(f, "blk.0.attn_norm.weight");
    const float *nw = t->data;
    for (int k = 0; k < 256; k++)
        assert_true(nw[k] > 0.6f && nw[k] < 1.4f);
    t = gguf_find_tensor(f, "token_embd.weight");
    const float *e = t->data;
    double sq = 0;
    for (uint64_t k = 0; k < t->ne[0] * t->ne[1]; k++)
        sq += (double)e[k] * e[k];
    double sd = sqrt(sq / (double)(t->ne[0] * t->ne[1]));
    assert_true(fabs(sd - 3.0 / 16.0) < 0.01);
    t = gguf_find_tensor(f, "blk.0.layer_output_scale.weight");
    assert_true(((const float *)t->data)[0] >= 0.5f && ((const float *)t->data)[0] < 1.0f);
    gguf_close(f);
    const char *names[] = {"tiny.gguf"};
    tmp_remove(&d, names, 1);
}

static void test_quant_types_and_fallback(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    char p1[512], p2[512];
    tmp_file(&d, "q4k.gguf", p1, sizeof(p1));
    tmp_file(&d, "moe.gguf", p2, sizeof(p2));
    write_model("tiny", GM_TYPE_Q4_K, 3, p1, NULL);
    write_model("tiny-moe", GM_TYPE_Q6_K, 3, p2, NULL);
    gguf_file *f = open_model(p1);
    uint32_t u;
    cm_err err = {{0}};
    assert_int_equal(gguf_get_u32(f, "general.file_type", &u, &err), 0);
    assert_int_equal(u, 14);
    assert_int_equal(gguf_find_tensor(f, "blk.0.attn_q.weight")->type, GM_TYPE_Q4_K);
    assert_int_equal(gguf_find_tensor(f, "token_embd.weight")->type, GM_TYPE_Q4_K);
    /* rows of 192 and 32 are not multiples of 256: Q4_K falls back to Q5_0 */
    assert_int_equal(gguf_find_tensor(f, "per_layer_token_embd.weight")->type, GM_TYPE_Q5_0);
    assert_int_equal(gguf_find_tensor(f, "blk.0.proj.weight")->type, GM_TYPE_Q5_0);
    assert_int_equal(gguf_find_tensor(f, "blk.0.attn_norm.weight")->type, GM_TYPE_F32);
    assert_int_equal(gguf_find_tensor(f, "rope_freqs.weight")->type, GM_TYPE_F32);
    assert_int_equal(gguf_find_tensor(f, "blk.0.layer_output_scale.weight")->type, GM_TYPE_F32);
    gguf_close(f);
    f = open_model(p2);
    assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_gate_inp.weight")->type, GM_TYPE_F32);
    assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_gate_inp.scale")->type, GM_TYPE_F32);
    assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_down_exps.scale")->type, GM_TYPE_F32);
    const gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_gate_up_exps.weight");
    assert_int_equal(t->type, GM_TYPE_Q6_K);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[1], 2 * 64);
    assert_int_equal(t->ne[2], 8);
    assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_down_exps.weight")->type, GM_TYPE_Q8_0);
    /* K==V on full layers: no attn_v there; sliding layers have one. */
    assert_null(gguf_find_tensor(f, "blk.2.attn_v.weight"));
    assert_non_null(gguf_find_tensor(f, "blk.1.attn_v.weight"));
    assert_null(gguf_find_tensor(f, "per_layer_token_embd.weight"));
    assert_int_equal(key_type(f, "gemma4.expert_count"), GGUF_TYPE_UINT32);
    assert_int_equal(key_type(f, "gemma4.feed_forward_length"), GGUF_TYPE_UINT32);
    gguf_close(f);
    const char *names[] = {"q4k.gguf", "moe.gguf"};
    tmp_remove(&d, names, 2);
    assert_int_equal(gm_synth_tensor_type(GM_TYPE_Q4_K, "blk.0.ffn_down.weight", 2, 2112),
                     GM_TYPE_Q5_0);
    assert_int_equal(gm_synth_tensor_type(GM_TYPE_Q6_K, "blk.0.ffn_down_exps.weight", 3, 704),
                     GM_TYPE_Q8_0);
    assert_int_equal(gm_synth_tensor_type(GM_TYPE_BF16, "blk.0.ffn_gate_inp.weight", 2, 2816),
                     GM_TYPE_F32);
}

static void tweak_variants(gm_synth_config *c)
{
    c->untied = true;
    c->softcap = 0.0f;
    c->layer_output_scale = false;
    c->fused_gate_up = false;
}

static void test_variants(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    char path[512];
    tmp_file(&d, "var.gguf", path, sizeof(path));
    write_model("tiny-moe", GM_TYPE_F16, 1, path, tweak_variants);
    gguf_file *f = open_model(path);
    cm_err err = {{0}};
    float x = 1;
    assert_int_equal(gguf_get_f32(f, "gemma4.final_logit_softcapping", &x, &err), 0);
    assert_true(x == 0.0f); /* written as 0, since absent means 30 */
    assert_non_null(gguf_find_tensor(f, "output.weight"));
    assert_null(gguf_find_tensor(f, "blk.0.layer_output_scale.weight"));
    assert_null(gguf_find_tensor(f, "blk.0.ffn_gate_up_exps.weight"));
    const gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_gate_exps.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[1], 64);
    assert_non_null(gguf_find_tensor(f, "blk.0.ffn_up_exps.weight"));
    gguf_close(f);

    /* A chat template given by the caller is stored as is. */
    gm_synth_config cfg;
    assert_int_equal(gm_synth_preset("tiny", &cfg, &err), 0);
    gm_synth_opts opts = {GM_TYPE_F32, 1, "{{ bos_token }}custom template", 1};
    assert_int_equal(gm_synth_write(&cfg, &opts, path, &err), 0);
    f = open_model(path);
    gguf_str s;
    assert_int_equal(gguf_get_str(f, "tokenizer.chat_template", &s, &err), 0);
    assert_true(str_eq(s, "{{ bos_token }}custom template"));
    gguf_close(f);
    const char *names[] = {"var.gguf"};
    tmp_remove(&d, names, 1);
}

static void test_determinism(void **state)
{
    (void)state;
    tmpdir d;
    tmp_make(&d);
    char a[512], b[512], c[512], e[512];
    tmp_file(&d, "a.gguf", a, sizeof(a));
    tmp_file(&d, "b.gguf", b, sizeof(b));
    tmp_file(&d, "c.gguf", c, sizeof(c));
    tmp_file(&d, "e.gguf", e, sizeof(e));
    /* Same seed: identical files, whatever the thread count. */
    write_model("tiny", GM_TYPE_Q8_0, 7, a, NULL);
    gm_synth_config cfg;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset("tiny", &cfg, &err), 0);
    gm_synth_opts one_thread = {GM_TYPE_Q8_0, 7, NULL, 1};
    assert_int_equal(gm_synth_write(&cfg, &one_thread, b, &err), 0);
    assert_true(file_equal(a, b));
    /* Another seed: other weights, same structure. */
    write_model("tiny", GM_TYPE_Q8_0, 8, c, NULL);
    assert_false(file_equal(a, c));
    gguf_file *fa = open_model(a), *fc = open_model(c);
    const gguf_tensor *ta = gguf_find_tensor(fa, "blk.1.ffn_up.weight");
    const gguf_tensor *tc = gguf_find_tensor(fc, "blk.1.ffn_up.weight");
    assert_int_equal(ta->nbytes, tc->nbytes);
    assert_true(memcmp(ta->data, tc->data, ta->nbytes) != 0);
    assert_int_equal(gguf_n_tensors(fa), gguf_n_tensors(fc));
    gguf_close(fc);
    /* The same model in f32 holds the values the q8_0 file quantized. */
    write_model("tiny", GM_TYPE_F32, 7, e, NULL);
    gguf_file *fe = open_model(e);
    const gguf_tensor *te = gguf_find_tensor(fe, "blk.1.ffn_up.weight");
    const float *w = te->data;
    const unsigned char *q = ta->data; /* q8_0 block: f16 scale, 32 int8 */
    double max_err = 0;
    for (int blk = 0; blk < 8; blk++) {
        uint16_t h;
        memcpy(&h, q + blk * 34, 2);
        /* decode the f16 scale by hand: normal numbers only here */
        int ex = (h >> 10) & 31, man = h & 1023;
        double scale = ldexp(1.0 + man / 1024.0, ex - 15);
        for (int k = 0; k < 32; k++) {
            double v = scale * (signed char)q[blk * 34 + 2 + k];
            double diff = fabs(v - w[blk * 32 + k]);
            max_err = diff > max_err ? diff : max_err;
        }
    }
    assert_true(max_err < 0.01);
    gguf_close(fe);
    gguf_close(fa);
    const char *names[] = {"a.gguf", "b.gguf", "c.gguf", "e.gguf"};
    tmp_remove(&d, names, 4);
}

static void test_write_errors(void **state)
{
    (void)state;
    gm_synth_config cfg;
    cm_err err = {{0}};
    assert_int_equal(gm_synth_preset("tiny", &cfg, &err), 0);
    gm_synth_opts opts = {GM_TYPE_F32, 1, NULL, 1};
    assert_int_equal(gm_synth_write(&cfg, &opts, "/nonexistent-dir/x.gguf", &err), -1);
    assert_true(strlen(err.msg) > 0);
    cfg.n_shared_kv = 2; /* invalid: layer 3 is sliding */
    assert_int_equal(gm_synth_write(&cfg, &opts, "/tmp/never-written.gguf", &err), -1);
    assert_non_null(strstr(err.msg, "tiny"));
    assert_int_equal(access("/tmp/never-written.gguf", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_valid),
        cmocka_unit_test(test_set_layers_keeps_pattern),
        cmocka_unit_test(test_shared_kv_rules),
        cmocka_unit_test(test_vocab_real_ids),
        cmocka_unit_test(test_vocab_full_size),
        cmocka_unit_test(test_chat_template),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_keys_and_types),
        cmocka_unit_test(test_quant_types_and_fallback),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
