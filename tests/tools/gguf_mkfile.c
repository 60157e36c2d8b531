/*
 * tests/tools/gguf_mkfile.c -- writes small, valid GGUF files with the
 * writer, for the integration tests of 'gemma-run inspect' and as the seed
 * corpus of fuzz/fuzz_gguf.
 *
 *   gguf_mkfile [--compat] [--align N] OUT
 *       a sample with every metadata type, a 300-entry string array,
 *       nested arrays (left out with --compat: llama.cpp cannot read
 *       them) and four tensors, aligned to N (default 32)
 *   gguf_mkfile --seeds DIR  a few small files for the fuzzer's corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/format/gguf_write.h"

static int fill_ramp(void *user, void *dst, uint64_t nbytes, cm_err *err)
{
    (void)err;
    uint8_t seed = *(const uint8_t *)user;
    for (uint64_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(seed + i);
    return 0;
}

/* n_tokens strings "tok0".. (plus the fixed metadata and tensors). */
static int write_sample(const char *path, uint32_t alignment, int n_tokens, bool tensors,
                        bool nested_arrays, cm_err *err)
{
    static uint8_t seed_a = 1, seed_b = 2;
    static const float norm[8] = {1, 0.5f, -0.25f, 2, 0, 1, 1, 3};
    static const int32_t heads[] = {8, 8, 4, 4};
    static const float scores[] = {0, -1.5f, -2.5f};
    static const uint8_t pattern[] = {1, 1, 0, 1};
    static const int8_t i8 = -5;
    static const uint16_t u16 = 4096;
    static const int16_t i16 = -300;
    static const int64_t i64 = -1234567890123ll;
    static const double f64 = 0.125;
    static const uint8_t u8 = 200;
    const char *const in0[] = {"a", "bc"}, *const in1[] = {"def"};
    const gguf_writer_arr inner[] = {{.elem_type = GGUF_TYPE_STRING, .count = 2, .strs = in0},
                                     {.elem_type = GGUF_TYPE_STRING, .count = 1, .strs = in1}};
    const gguf_writer_arr nested = {.elem_type = GGUF_TYPE_ARRAY, .count = 2, .arrs = inner};

    char **tokens = calloc((size_t)n_tokens + 1, sizeof(*tokens));
    if (tokens == NULL)
        return cm_err_set(err, "out of memory");
    gguf_writer *w = NULL;
    int rc = -1;
    for (int i = 0; i < n_tokens; i++) {
        tokens[i] = malloc(16);
        if (tokens[i] == NULL) {
            cm_err_set(err, "out of memory");
            goto out;
        }
        snprintf(tokens[i], 16, "tok%d", i);
    }
    if (gguf_writer_new(&w, err) != 0)
        goto out;
    const uint64_t ne_emb[] = {4, 3}, ne_q8[] = {32, 2}, ne_norm[] = {8}, ne_q4k[] = {256, 1};
    float emb[12];
    for (int i = 0; i < 12; i++)
        emb[i] = (float)i - 6.0f;
    if (gguf_writer_set_alignment(w, alignment, err) ||
        gguf_writer_add_str(w, "general.architecture", "gemma4", err) ||
        gguf_writer_add_str(w, "general.name", "inspect sample", err) ||
        gguf_writer_add_u32(w, "gemma4.block_count", 4, err) ||
        gguf_writer_add_f32(w, "gemma4.rope.freq_base", 10000.0f, err) ||
        gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true, err) ||
        gguf_writer_add_i32(w, "test.i32", -7, err) ||
        gguf_writer_add_u64(w, "test.u64", 18446744073709551615ull, err) ||
        gguf_writer_add_scalar(w, "test.u8", GGUF_TYPE_UINT8, &u8, err) ||
        gguf_writer_add_scalar(w, "test.i8", GGUF_TYPE_INT8, &i8, err) ||
        gguf_writer_add_scalar(w, "test.u16", GGUF_TYPE_UINT16, &u16, err) ||
        gguf_writer_add_scalar(w, "test.i16", GGUF_TYPE_INT16, &i16, err) ||
        gguf_writer_add_scalar(w, "test.i64", GGUF_TYPE_INT64, &i64, err) ||
        gguf_writer_add_scalar(w, "test.f64", GGUF_TYPE_FLOAT64, &f64, err) ||
        gguf_writer_add_arr(w, "gemma4.attention.head_count_kv", GGUF_TYPE_INT32, heads, 4, err) ||
        gguf_writer_add_arr(w, "gemma4.attention.sliding_window_pattern", GGUF_TYPE_BOOL, pattern,
                            4, err) ||
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 3, err) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens,
                                (uint64_t)n_tokens, err))
        goto out;
    if (nested_arrays && gguf_writer_add_arr_value(w, "test.nested", &nested, err) != 0)
        goto out;
    if (tensors &&
        (gguf_writer_add_tensor_data(w, "token_embd.weight", GM_TYPE_F32, 2, ne_emb, emb, err) ||
         gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GM_TYPE_Q8_0, 2, ne_q8, fill_ramp,
                                &seed_a, err) ||
         gguf_writer_add_tensor_data(w, "output_norm.weight", GM_TYPE_F32, 1, ne_norm, norm, err) ||
         gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", GM_TYPE_Q4_K, 2, ne_q4k, fill_ramp,
                                &seed_b, err)))
        goto out;
    rc = gguf_writer_write(w, path, err);
out:
    gguf_writer_free(w);
    for (int i = 0; i < n_tokens; i++)
        free(tokens[i]);
    free(tokens);
    return rc;
}

static int write_empty(const char *path, cm_err *err)
{
    gguf_writer *w;
    if (gguf_writer_new(&w, err) != 0)
        return -1;
    int rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return rc;
}

static int write_seeds(const char *dir);

int main(int argc, char **argv)
{
    cm_err err;
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        return write_seeds(argv[2]);
    bool compat = false;
    unsigned long align = 32;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compat") == 0) {
            compat = true;
        } else if (strcmp(argv[i], "--align") == 0 && i + 1 < argc) {
            align = strtoul(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && out == NULL) {
            out = argv[i];
        } else {
            out = NULL;
            break;
        }
    }
    if (out == NULL || align == 0 || align > UINT32_MAX) {
        fprintf(stderr,
                "usage: gguf_mkfile [--compat] [--align N] OUT | gguf_mkfile --seeds DIR\n");
        return 2;
    }
    if (write_sample(out, (uint32_t)align, 300, true, !compat, &err) != 0) {
        fprintf(stderr, "gguf_mkfile: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int write_seeds(const char *dir)
{
    cm_err err;
    char path[4096];
    static const struct {
        const char *name;
        uint32_t alignment;
        int n_tokens;
        bool tensors;
    } seeds[] = {
        {"seed-sample.gguf", 32, 5, true},
        {"seed-align64.gguf", 64, 2, true},
        {"seed-meta-only.gguf", 32, 3, false},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
        if (write_sample(path, seeds[i].alignment, seeds[i].n_tokens, seeds[i].tensors, true,
                         &err) != 0) {
            fprintf(stderr, "gguf_mkfile: %s\n", err.msg);
            return 1;
        }
    }
    snprintf(path, sizeof(path), "%s/seed-empty.gguf", dir);
    if (write_empty(path, &err) != 0) {
        fprintf(stderr, "gguf_mkfile: %s\n", err.msg);
        return 1;
    }
    return 0;
}
