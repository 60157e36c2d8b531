/*
 * tests/ref/gguf_ref_dump.c -- the reference side of
 * tests/integration/gguf_ref.sh: prints what llama.cpp's GGUF reader
 * (libggml-base, v0.5.0) sees in a file, in the canonical form of
 * tests/tools/gguf_dump.c, so the two can be compared byte for byte; and
 * with --write OUT, writes a file with llama.cpp's writer (every scalar
 * type, arrays, string arrays, tensors of several types)
 * for our reader and writer to reproduce; with --types, ggml's table of
 * tensor types (id, name, block elements, block bytes).
 * Compiled at test time against $GEMMA_REF_DIR; never linked with our
 * engine (both define gguf_* symbols).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"

static void hex(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", ((const unsigned char *)p)[i]);
}

static void text(const char *s)
{
    printf("%zu %s\n", strlen(s), s);
}

static size_t value_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static int write_file(const char *path)
{
    struct gguf_context *g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", "gemma4");
    /* No general.alignment here: ggml v0.5.0's writer stores the key but
     * keeps padding to 32 (ctx->alignment is only set when reading), so
     * such a file is corrupt even for llama.cpp's own reader. */
    gguf_set_val_u8(g, "t.u8", 201);
    gguf_set_val_i8(g, "t.i8", -3);
    gguf_set_val_u16(g, "t.u16", 60000);
    gguf_set_val_i16(g, "t.i16", -12345);
    gguf_set_val_u32(g, "t.u32", 4000000000u);
    gguf_set_val_i32(g, "t.i32", -2000000000);
    gguf_set_val_f32(g, "t.f32", 0.1f);
    gguf_set_val_u64(g, "t.u64", 18446744073709551615ull);
    gguf_set_val_i64(g, "t.i64", -9000000000000000000ll);
    gguf_set_val_f64(g, "t.f64", 2.718281828459045);
    gguf_set_val_bool(g, "t.bool", true);
    gguf_set_val_str(g, "t.str", "caf\xc3\xa9 \"quoted\"\n");
    const int32_t heads[] = {8, 8, 2, 8, 8, 2};
    const float scores[] = {0.0f, -1.0f, -2.5f, 3.25f};
    const uint8_t flags[] = {1, 0, 1};
    gguf_set_arr_data(g, "a.i32", GGUF_TYPE_INT32, heads, 6);
    gguf_set_arr_data(g, "a.f32", GGUF_TYPE_FLOAT32, scores, 4);
    gguf_set_arr_data(g, "a.bool", GGUF_TYPE_BOOL, flags, 3);
    gguf_set_arr_data(g, "a.empty", GGUF_TYPE_UINT16, heads, 0);
    const char *toks[] = {"<pad>", "<eos>", "<bos>", "", "\xe2\x96\x81the"};
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks, 5);

    struct ggml_init_params ip = {.mem_size = 1 << 20, .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *ctx = ggml_init(ip);
    if (ctx == NULL)
        return 1;
    struct ggml_tensor *t[4];
    t[0] = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 5, 3);
    t[1] = ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, 64, 2);
    t[2] = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, 4, 2, 3);
    t[3] = ggml_new_tensor_1d(ctx, GGML_TYPE_Q4_K, 256);
    const char *names[] = {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                           "output.weight"};
    for (int i = 0; i < 4; i++) {
        ggml_set_name(t[i], names[i]);
        unsigned char *d = t[i]->data;
        for (size_t k = 0; k < ggml_nbytes(t[i]); k++)
            d[k] = (unsigned char)(k * 31 + (size_t)i * 7 + 3);
        gguf_add_tensor(g, t[i]);
    }
    bool ok = gguf_write_to_file(g, path, false);
    gguf_free(g);
    ggml_free(ctx);
    return ok ? 0 : 1;
}

/* --types: "ID NAME BLOCK_ELEMS BLOCK_BYTES" for every live ggml type. */
static int print_types(void)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        if (ggml_blck_size((enum ggml_type)t) == 0)
            continue; /* removed ids */
        printf("%d %s %lld %zu\n", t, ggml_type_name((enum ggml_type)t),
               (long long)ggml_blck_size((enum ggml_type)t), ggml_type_size((enum ggml_type)t));
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_file(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--types") == 0)
        return print_types();
    if (argc != 2) {
        fprintf(stderr, "usage: gguf_ref_dump FILE.gguf | gguf_ref_dump --write OUT\n");
        return 2;
    }
    struct gguf_init_params params = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *ctx = gguf_init_from_file(argv[1], params);
    if (ctx == NULL) {
        fprintf(stderr, "gguf_ref_dump: llama.cpp cannot read %s\n", argv[1]);
        return 1;
    }
    FILE *fp = fopen(argv[1], "rb");
    if (fp == NULL)
        return 1;
    printf("version %" PRIu32 "\nalignment %zu\ndata_offset %zu\nn_kv %" PRId64 "\n",
           gguf_get_version(ctx), gguf_get_alignment(ctx), gguf_get_data_offset(ctx),
           gguf_get_n_kv(ctx));
    for (int64_t i = 0; i < gguf_get_n_kv(ctx); i++) {
        enum gguf_type t = gguf_get_kv_type(ctx, i);
        fputs("key ", stdout);
        text(gguf_get_key(ctx, i));
        printf("type %d\n", (int)t);
        if (t == GGUF_TYPE_ARRAY) {
            enum gguf_type et = gguf_get_arr_type(ctx, i);
            size_t n = gguf_get_arr_n(ctx, i);
            printf("arr %d %zu\n", (int)et, n);
            size_t es = value_size(et);
            const unsigned char *data = es != 0 ? gguf_get_arr_data(ctx, i) : NULL;
            for (size_t j = 0; j < n; j++) {
                fputs("  ", stdout);
                if (et == GGUF_TYPE_STRING) {
                    text(gguf_get_arr_str(ctx, i, j));
                } else if (es != 0) {
                    hex(data + j * es, es);
                    putchar('\n');
                }
            }
        } else if (t == GGUF_TYPE_STRING) {
            fputs("str ", stdout);
            text(gguf_get_val_str(ctx, i));
        } else {
            fputs("val ", stdout);
            hex(gguf_get_val_data(ctx, i), value_size(t));
            putchar('\n');
        }
    }
    printf("n_tensors %" PRId64 "\n", gguf_get_n_tensors(ctx));
    for (int64_t i = 0; i < gguf_get_n_tensors(ctx); i++) {
        const int64_t *ne = gguf_get_tensor_ne(ctx, i);
        size_t size = gguf_get_tensor_size(ctx, i);
        size_t off = gguf_get_tensor_offset(ctx, i);
        unsigned char *buf = malloc(size ? size : 1);
        if (buf == NULL || fseek(fp, (long)(gguf_get_data_offset(ctx) + off), SEEK_SET) != 0 ||
            fread(buf, 1, size, fp) != size)
            return 1;
        uint64_t h = 1469598103934665603ull;
        for (size_t k = 0; k < size; k++) {
            h ^= buf[k];
            h *= 1099511628211ull;
        }
        free(buf);
        fputs("tensor ", stdout);
        text(gguf_get_tensor_name(ctx, i));
        printf("type %d ne %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " offset %zu size %zu"
               " fnv %016" PRIx64 "\n",
               (int)gguf_get_tensor_type(ctx, i), ne[0], ne[1], ne[2], ne[3], off, size, h);
    }
    fclose(fp);
    gguf_free(ctx);
    return fflush(stdout) == 0 ? 0 : 1;
}
