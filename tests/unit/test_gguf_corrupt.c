/*
 * tests/unit/test_gguf_corrupt.c -- the GGUF reader on corrupt input.
 *
 * A valid file is written with the writer, then a corpus is derived from
 * it: truncation at every byte of the header, metadata and tensor
 * descriptions (and a sample of the data section), every single-bit flip
 * of those sections. Hand-built files add absurd counts and lengths (2^63,
 * 2^64-1), unknown value and tensor types, bad shapes, misaligned,
 * overlapping and out-of-file tensors, bad alignments and duplicates.
 * Every case must be rejected with a message (or, for a harmless flip,
 * accepted and then fully readable); each parse works on an exact-size
 * heap copy so that under ASan any read past the end is caught.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/format/gguf.h"
#include "engine/format/gguf_write.h"

/* ------------------------------------------------------------------------
 * Parsing a buffer and walking everything in it
 */

static uint64_t touch(const void *p, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += ((const uint8_t *)p)[i];
    return s;
}

static uint64_t walk_array(const gguf_array *a)
{
    uint64_t s = 0, n = gguf_array_count(a);
    for (uint64_t j = 0; j < n; j++) {
        if (gguf_array_type(a) == GGUF_TYPE_STRING) {
            gguf_str str = gguf_array_str(a, j);
            assert_non_null(str.ptr);
            s += touch(str.ptr, str.len);
        } else if (gguf_array_type(a) == GGUF_TYPE_ARRAY) {
            assert_non_null(gguf_array_sub(a, j));
            s += walk_array(gguf_array_sub(a, j));
        }
    }
    if (gguf_array_data(a) != NULL)
        s += touch(gguf_array_data(a), n * gguf_type_size(gguf_array_type(a)));
    return s;
}

/* Parse an exact-size copy of buf[0..len). On success walk every value and
 * tensor byte. Returns the result; *msg receives the error. */
static int try_parse(const uint8_t *buf, size_t len, cm_err *err)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    gguf_file *f = (gguf_file *)err; /* must be reset to NULL on failure */
    err->msg[0] = '\0';
    int rc = gguf_open_memory(copy, len, &f, err);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_null(f);
        assert_true(strlen(err->msg) > 0);
        free(copy);
        return rc;
    }
    volatile uint64_t s = 0;
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_key_name(f, i);
        s += touch(k.ptr, k.len);
        gguf_value_type t;
        const void *v;
        if (gguf_kv_type(f, i) == GGUF_TYPE_ARRAY)
            s += walk_array(gguf_kv_array(f, i));
        else if (gguf_kv_scalar(f, i, &t, &v) == 0)
            s += t == GGUF_TYPE_STRING
                     ? touch(((const gguf_str *)v)->ptr, ((const gguf_str *)v)->len)
                     : touch(v, gguf_type_size(t));
        else
            fail_msg("key %" PRId64 " has no value", i);
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        assert_true(t->n_dims >= 1 && t->n_dims <= 4);
        assert_int_equal(t->offset % gguf_alignment(f), 0);
        s += touch(t->name.ptr, t->name.len) + touch(t->data, t->nbytes);
    }
    (void)s;
    gguf_close(f);
    free(copy);
    return 0;
}

static void expect_reject(const uint8_t *buf, size_t len, const char *substr)
{
    cm_err err;
    if (try_parse(buf, len, &err) == 0)
        fail_msg("accepted; expected an error containing '%s'", substr);
    if (strstr(err.msg, substr) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, substr);
}

static void expect_accept(const uint8_t *buf, size_t len)
{
    cm_err err;
    if (try_parse(buf, len, &err) != 0)
        fail_msg("rejected: %s", err.msg);
}

/* ------------------------------------------------------------------------
 * A valid file from the writer
 */

typedef struct sample {
    uint8_t *bytes;
    size_t len;
    uint64_t data_offset; /* start of the data section */
    uint64_t data_end;    /* end of the last tensor's data (before padding) */
} sample;

static int fill_ramp(void *user, void *dst, uint64_t nbytes, cm_err *err)
{
    (void)user;
    (void)err;
    for (uint64_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(i * 13 + 1);
    return 0;
}

static void make_sample(sample *s)
{
    cm_err err;
    gguf_writer *w;
    char path[] = "/tmp/test_gguf_corrupt.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    const char *const toks[] = {"<pad>", "<bos>", "\xe2\x96\x81hi", ""};
    const char *const in0[] = {"a", "bc"};
    const gguf_writer_arr inner[] = {{.elem_type = GGUF_TYPE_STRING, .count = 2, .strs = in0},
                                     {.elem_type = GGUF_TYPE_STRING, .count = 0}};
    const gguf_writer_arr nested = {.elem_type = GGUF_TYPE_ARRAY, .count = 2, .arrs = inner};
    const int32_t heads[] = {8, 4, 8};
    const uint64_t ne_a[] = {8, 2}, ne_b[] = {32, 2}, ne_c[] = {256};
    float fa[16];
    for (int i = 0; i < 16; i++)
        fa[i] = (float)i;

    assert_int_equal(gguf_writer_new(&w, &err), 0);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "gemma4", &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "gemma4.block_count", 3, &err), 0);
    assert_int_equal(gguf_writer_add_f32(w, "gemma4.rope.freq_base", 1e6f, &err), 0);
    assert_int_equal(gguf_writer_add_arr(w, "heads", GGUF_TYPE_INT32, heads, 3, &err), 0);
    assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 4, &err), 0);
    assert_int_equal(gguf_writer_add_arr_value(w, "nested", &nested, &err), 0);
    assert_int_equal(gguf_writer_add_bool(w, "flag", true, &err), 0);
    assert_int_equal(gguf_writer_add_tensor_data(w, "a.weight", GM_TYPE_F32, 2, ne_a, fa, &err), 0);
    assert_int_equal(
        gguf_writer_add_tensor(w, "b.weight", GM_TYPE_Q8_0, 2, ne_b, fill_ramp, NULL, &err), 0);
    assert_int_equal(
        gguf_writer_add_tensor(w, "c.weight", GM_TYPE_Q4_K, 1, ne_c, fill_ramp, NULL, &err), 0);
    assert_int_equal(gguf_writer_write(w, path, &err), 0);
    gguf_writer_free(w);

    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    s->len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    s->bytes = malloc(s->len);
    assert_non_null(s->bytes);
    assert_int_equal(fread(s->bytes, 1, s->len, fp), s->len);
    fclose(fp);
    unlink(path);

    gguf_file *f;
    assert_int_equal(gguf_open_memory(s->bytes, s->len, &f, &err), 0);
    s->data_offset = gguf_data_offset(f);
    const gguf_tensor *last = gguf_tensor_at(f, 2);
    s->data_end = s->data_offset + last->offset + last->nbytes;
    assert_true(s->data_end < s->len); /* the last tensor is padded */
    gguf_close(f);
}

/* ------------------------------------------------------------------------
 * Derived corpora
 */

static void test_truncations(void **state)
{
    (void)state;
    sample s;
    make_sample(&s);
    cm_err err;
    int rejected = 0;
    /* Every byte boundary of header, metadata, tensor descriptions and
     * padding, then every 5th byte of the data section, then its end. */
    for (size_t len = 0; len < s.data_end; len += len < s.data_offset + 8 ? 1 : 5) {
        if (try_parse(s.bytes, len, &err) == 0)
            fail_msg("truncated to %zu of %zu bytes: accepted", len, s.len);
        rejected++;
    }
    for (size_t len = s.data_end - 3; len < s.data_end; len++)
        assert_int_equal(try_parse(s.bytes, len, &err), -1);
    assert_int_equal(try_parse(s.bytes, s.data_end - 1, &err), -1);
    assert_non_null(strstr(err.msg, "tensor c.weight: data ends past end of file"));
    /* Cutting only the last tensor's padding is harmless. */
    for (size_t len = s.data_end; len <= s.len; len++)
        expect_accept(s.bytes, len);
    print_message("# %d truncations rejected, %zu accepted\n", rejected, s.len - s.data_end + 1);
    assert_true(rejected > (int)s.data_offset);
    free(s.bytes);
}

static void test_bit_flips(void **state)
{
    (void)state;
    sample s;
    make_sample(&s);
    uint8_t *buf = malloc(s.len);
    assert_non_null(buf);
    cm_err err;
    int rejected = 0, accepted = 0;
    for (size_t i = 0; i < s.data_offset; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, s.bytes, s.len);
            buf[i] ^= (uint8_t)(1u << bit);
            if (try_parse(buf, s.len, &err) == 0) {
                accepted++;
                /* No flip in the magic can be harmless. */
                assert_true(i >= 4);
            } else {
                rejected++;
            }
        }
    }
    print_message("# %zu bit flips: %d rejected, %d accepted as harmless\n",
                  (size_t)s.data_offset * 8, rejected, accepted);
    assert_true(rejected > 0);
    assert_true(accepted > 0); /* e.g. flips inside string contents */
    /* Flips in tensor data are always harmless. */
    for (size_t i = s.data_offset; i < s.len; i += 3) {
        memcpy(buf, s.bytes, s.len);
        buf[i] ^= 0x80;
        expect_accept(buf, s.len);
    }
    free(buf);
    free(s.bytes);
}

/* ------------------------------------------------------------------------
 * Hand-built files
 */

typedef struct rb {
    uint8_t p[4096];
    size_t n;
} rb;

static void put(rb *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->p));
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_u32(rb *b, uint32_t v)
{
    put(b, &v, 4);
}
static void put_u64(rb *b, uint64_t v)
{
    put(b, &v, 8);
}
static void put_str(rb *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_zeros(rb *b, size_t n)
{
    static const uint8_t z[512];
    put(b, z, n);
}
static void pad_to(rb *b, size_t align)
{
    while (b->n % align != 0)
        put_zeros(b, 1);
}
static void header(rb *b, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    put_u32(b, GGUF_MAGIC);
    put_u32(b, 3);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void kv_u32(rb *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, v);
}
static void tensor(rb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                   uint64_t offset)
{
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims && i < 5; i++) /* at most 5 written */
        put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

static const uint64_t ne8[] = {8};

/* One key and one f32 [8] tensor: the valid base of the hand-built cases. */
static void test_raw_control(void **state)
{
    (void)state;
    rb b;
    header(&b, 1, 1);
    kv_u32(&b, "k", 1);
    tensor(&b, "t", 1, ne8, GM_TYPE_F32, 0);
    pad_to(&b, 32);
    put_zeros(&b, 32);
    expect_accept(b.p, b.n);
    /* Version 2 has the same layout and is accepted. */
    b.p[4] = 2;
    expect_accept(b.p, b.n);
}

static void test_magic_and_version(void **state)
{
    (void)state;
    rb b;
    header(&b, 0, 0);
    b.p[3] = 'G';
    expect_reject(b.p, b.n, "not a GGUF file");
    const uint32_t bad[] = {0, 1, 4, 0x03000000u, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        header(&b, 0, 0);
        memcpy(b.p + 4, &bad[i], 4);
        expect_reject(b.p, b.n, "unsupported GGUF version");
    }
    header(&b, 0, 0);
    expect_accept(b.p, b.n); /* an empty but valid file */
    expect_reject(b.p, 23, "header truncated");
    expect_reject(b.p, 3, "too short");
}

static void test_absurd_counts(void **state)
{
    (void)state;
    rb b;
    const uint64_t huge[] = {1ull << 63, UINT64_MAX, 1ull << 32, 1000};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        header(&b, 0, huge[i]);
        kv_u32(&b, "k", 1);
        expect_reject(b.p, b.n, "metadata keys cannot fit");
        header(&b, huge[i], 0);
        tensor(&b, "t", 1, ne8, GM_TYPE_F32, 0);
        expect_reject(b.p, b.n, "tensors cannot fit");
    }
    /* More keys announced than present, in a big enough file. */
    header(&b, 0, 3);
    kv_u32(&b, "k", 1);
    put_zeros(&b, 100);
    expect_reject(b.p, b.n, "metadata key 1");
}

static void test_absurd_lengths(void **state)
{
    (void)state;
    rb b;
    const uint64_t huge[] = {1ull << 63, UINT64_MAX, UINT64_MAX - 7, 200};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        /* Key name length. */
        header(&b, 0, 1);
        put_u64(&b, huge[i]);
        put(&b, "key", 3);
        put_zeros(&b, 40);
        expect_reject(b.p, b.n, "name (length");

        /* String value length. */
        header(&b, 0, 1);
        put_str(&b, "s");
        put_u32(&b, GGUF_TYPE_STRING);
        put_u64(&b, huge[i]);
        put_zeros(&b, 40);
        expect_reject(b.p, b.n, "key 's': string value");

        /* Array counts, for each kind of element. */
        const uint32_t elem[] = {GGUF_TYPE_UINT8, GGUF_TYPE_UINT64, GGUF_TYPE_BOOL,
                                 GGUF_TYPE_STRING, GGUF_TYPE_ARRAY};
        for (size_t e = 0; e < sizeof(elem) / sizeof(elem[0]); e++) {
            header(&b, 0, 1);
            put_str(&b, "arr");
            put_u32(&b, GGUF_TYPE_ARRAY);
            put_u32(&b, elem[e]);
            put_u64(&b, huge[i]);
            put_zeros(&b, 64);
            expect_reject(b.p, b.n, "key 'arr': array of");
        }

        /* A string inside a string array. */
        header(&b, 0, 1);
        put_str(&b, "toks");
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u32(&b, GGUF_TYPE_STRING);
        put_u64(&b, 2);
        put_str(&b, "ok");
        put_u64(&b, huge[i]);
        put_zeros(&b, 16);
        expect_reject(b.p, b.n, "key 'toks': string 1");

        /* An inner array's count. */
        header(&b, 0, 1);
        put_str(&b, "nest");
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u64(&b, 1);
        put_u32(&b, GGUF_TYPE_INT32);
        put_u64(&b, huge[i]);
        put_zeros(&b, 16);
        expect_reject(b.p, b.n, "key 'nest': array of");

        /* Tensor name length. */
        header(&b, 1, 0);
        put_u64(&b, huge[i]);
        put_zeros(&b, 64);
        expect_reject(b.p, b.n, "tensor 0");
    }
}

static void test_unknown_types(void **state)
{
    (void)state;
    rb b;
    const uint32_t bad[] = {13, 14, 0x80000000u, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        header(&b, 0, 1);
        put_str(&b, "x");
        put_u32(&b, bad[i]);
        put_zeros(&b, 16);
        expect_reject(b.p, b.n, "key 'x': unknown value type");
        header(&b, 0, 1);
        put_str(&b, "x");
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u32(&b, bad[i]);
        put_u64(&b, 1);
        put_zeros(&b, 16);
        expect_reject(b.p, b.n, "key 'x': unknown array element type");
    }
    const uint32_t bad_tensor[] = {4, 5, 31, 32, 33, 43, 63, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad_tensor) / sizeof(bad_tensor[0]); i++) {
        header(&b, 1, 0);
        tensor(&b, "t", 1, ne8, bad_tensor[i], 0);
        pad_to(&b, 32);
        put_zeros(&b, 256);
        expect_reject(b.p, b.n, "tensor t: unknown tensor type");
    }
}

/* Arrays nested `depth` deep around one empty i32 array. */
static void nested_file(rb *b, unsigned depth)
{
    header(b, 0, 1);
    put_str(b, "deep");
    put_u32(b, GGUF_TYPE_ARRAY);
    for (unsigned d = 1; d < depth; d++) {
        put_u32(b, GGUF_TYPE_ARRAY);
        put_u64(b, 1);
    }
    put_u32(b, GGUF_TYPE_INT32);
    put_u64(b, 0);
}

static void test_nesting_depth(void **state)
{
    (void)state;
    rb b;
    nested_file(&b, GGUF_MAX_ARRAY_DEPTH);
    expect_accept(b.p, b.n);
    nested_file(&b, GGUF_MAX_ARRAY_DEPTH + 1);
    expect_reject(b.p, b.n, "nested deeper");
    nested_file(&b, 200);
    expect_reject(b.p, b.n, "nested deeper");
}

static void test_bad_shapes(void **state)
{
    (void)state;
    rb b;
    const uint64_t ne5[] = {8, 1, 1, 1, 1};
    const uint64_t zero0[] = {0, 4}, zero2[] = {8, 2, 0};
    const uint64_t neg[] = {1ull << 63}, overflow[] = {1ull << 32, 1ull << 32};
    const uint64_t odd_q8[] = {33, 2}, bytes_overflow[] = {1ull << 40, 1ull << 22};
    const struct {
        uint32_t n_dims;
        const uint64_t *ne;
        uint32_t type;
        const char *msg;
    } cases[] = {
        {0, ne5, GM_TYPE_F32, "0 dimensions"},
        {5, ne5, GM_TYPE_F32, "5 dimensions"},
        {UINT32_MAX, ne5, GM_TYPE_F32, "4294967295 dimensions"},
        {2, zero0, GM_TYPE_F32, "dimension 0 is 0"},
        {3, zero2, GM_TYPE_F32, "dimension 2 is 0"},
        {1, neg, GM_TYPE_F32, "dimension 0 is 9223372036854775808"},
        {2, overflow, GM_TYPE_F32, "element count overflows"},
        {2, odd_q8, GM_TYPE_Q8_0, "not a multiple of the q8_0 block size (32)"},
        {2, bytes_overflow, GM_TYPE_F32, "overflows"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        header(&b, 1, 0);
        tensor(&b, "blk.3.attn_q.weight", cases[i].n_dims, cases[i].ne, cases[i].type, 0);
        pad_to(&b, 32);
        put_zeros(&b, 256);
        expect_reject(b.p, b.n, cases[i].msg);
        expect_reject(b.p, b.n, "tensor blk.3.attn_q.weight: "); /* names the tensor */
    }
}

static void test_bad_placement(void **state)
{
    (void)state;
    rb b;
    /* Misaligned offset. */
    header(&b, 2, 0);
    tensor(&b, "a", 1, ne8, GM_TYPE_F32, 0);
    tensor(&b, "b", 1, ne8, GM_TYPE_F32, 36);
    pad_to(&b, 32);
    put_zeros(&b, 128);
    expect_reject(b.p, b.n, "tensor b: offset 36 is not a multiple of the alignment (32)");

    /* Past the end, including offsets whose sum overflows. */
    const uint64_t offs[] = {64, 1ull << 40, UINT64_MAX - 31, (1ull << 63)};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        header(&b, 1, 0);
        tensor(&b, "blk.3.attn_q.weight", 1, ne8, GM_TYPE_F32, offs[i]);
        pad_to(&b, 32);
        put_zeros(&b, 64);
        expect_reject(b.p, b.n, "tensor blk.3.attn_q.weight: data ends past end of file (offset");
    }

    /* Overlaps: same offset; the second starting inside the first. */
    const uint64_t ne16[] = {16};
    header(&b, 2, 0);
    tensor(&b, "a", 1, ne16, GM_TYPE_F32, 0);
    tensor(&b, "b", 1, ne8, GM_TYPE_F32, 0);
    pad_to(&b, 32);
    put_zeros(&b, 128);
    expect_reject(b.p, b.n, "overlaps");
    header(&b, 2, 0);
    tensor(&b, "b", 1, ne8, GM_TYPE_F32, 64);  /* listed first, placed last */
    tensor(&b, "a", 1, ne16, GM_TYPE_F32, 32); /* 64 bytes: 32..96 */
    pad_to(&b, 32);
    put_zeros(&b, 128);
    expect_reject(b.p, b.n, "tensor b: data (offset 64, size 32) overlaps tensor a");
    /* Adjacent is fine, in any order. */
    header(&b, 2, 0);
    tensor(&b, "b", 1, ne8, GM_TYPE_F32, 64);
    tensor(&b, "a", 1, ne16, GM_TYPE_F32, 0);
    pad_to(&b, 32);
    put_zeros(&b, 96);
    expect_accept(b.p, b.n);

    /* No room for the data section at all. */
    header(&b, 1, 0);
    tensor(&b, "t", 1, ne8, GM_TYPE_F32, 0);
    expect_reject(b.p, b.n, "data section starts past end of file");
}

static void test_bad_alignment(void **state)
{
    (void)state;
    rb b;
    const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        header(&b, 0, 1);
        kv_u32(&b, "general.alignment", bad[i]);
        expect_reject(b.p, b.n, "key 'general.alignment': ");
        expect_reject(b.p, b.n, "not a non-zero power of two");
    }
    header(&b, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, 64);
    expect_reject(b.p, b.n, "key 'general.alignment': must be of type u32, not u64");
    header(&b, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_STRING);
    put_str(&b, "64");
    expect_reject(b.p, b.n, "must be of type u32, not str");

    /* A valid 16: data at a multiple of 16 that is not one of 32. */
    header(&b, 1, 1);
    kv_u32(&b, "general.alignment", 16);
    tensor(&b, "t_with_a_long_name", 1, ne8, GM_TYPE_F32, 16);
    pad_to(&b, 16);
    assert_true(b.n % 32 != 0);
    put_zeros(&b, 48);
    expect_accept(b.p, b.n);
    /* A huge one pushes the data section past the end of the file. */
    header(&b, 1, 1);
    kv_u32(&b, "general.alignment", 1u << 31);
    tensor(&b, "t", 1, ne8, GM_TYPE_F32, 0);
    put_zeros(&b, 64);
    expect_reject(b.p, b.n, "data section starts past end of file");
}

static void test_duplicates(void **state)
{
    (void)state;
    rb b;
    header(&b, 0, 3);
    kv_u32(&b, "a", 1);
    kv_u32(&b, "b", 1);
    kv_u32(&b, "a", 2);
    expect_reject(b.p, b.n, "key 'a': duplicate (keys 0 and 2)");
    header(&b, 2, 0);
    tensor(&b, "t", 1, ne8, GM_TYPE_F32, 0);
    tensor(&b, "t", 1, ne8, GM_TYPE_F32, 32);
    pad_to(&b, 32);
    put_zeros(&b, 64);
    expect_reject(b.p, b.n, "tensor t: duplicate name (tensors 0 and 1)");
    /* Empty key. */
    header(&b, 0, 1);
    kv_u32(&b, "", 1);
    expect_reject(b.p, b.n, "empty name");
    /* A name with control bytes is shown escaped, and the open succeeds
     * (names are not restricted) -- and keys differing only after a NUL
     * are distinct. */
    header(&b, 0, 2);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, GGUF_TYPE_UINT8);
    put_zeros(&b, 1);
    put_u64(&b, 3);
    put(&b, "a\0c", 3);
    put_u32(&b, GGUF_TYPE_UINT8);
    put_zeros(&b, 1);
    expect_accept(b.p, b.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncations),   cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_raw_control),   cmocka_unit_test(test_magic_and_version),
        cmocka_unit_test(test_absurd_counts), cmocka_unit_test(test_absurd_lengths),
        cmocka_unit_test(test_unknown_types), cmocka_unit_test(test_nesting_depth),
        cmocka_unit_test(test_bad_shapes),    cmocka_unit_test(test_bad_placement),
        cmocka_unit_test(test_bad_alignment), cmocka_unit_test(test_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
