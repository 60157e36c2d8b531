/*
 * tests/unit/test_gguf.c -- unit tests for engine/format/: the tensor type
 * table, GGUF write-then-read round trips of every metadata value type
 * (nested arrays included) and of tensors, the exact byte layout of a
 * written file (llama.cpp's), the writer's refusals, open errors, and the
 * real Gemma 4 vocabulary file when $GEMMA_REF_DIR has it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/format/gguf.h"
#include "engine/format/gguf_write.h"
#include "engine/format/tensor_type.h"

/* A temporary directory per test. */
typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_gguf.XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/t.gguf", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    if (d != NULL) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", fx->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return p;
}

/* ------------------------------------------------------------------------ */

static void test_type_table(void **state)
{
    (void)state;
    static const struct {
        gm_type t;
        const char *name;
        uint32_t elems, bytes;
        bool supported;
    } want[] = {
        {GM_TYPE_F32, "f32", 1, 4, true},        {GM_TYPE_F16, "f16", 1, 2, true},
        {GM_TYPE_BF16, "bf16", 1, 2, true},      {GM_TYPE_Q4_0, "q4_0", 32, 18, true},
        {GM_TYPE_Q4_1, "q4_1", 32, 20, false},   {GM_TYPE_Q5_0, "q5_0", 32, 22, true},
        {GM_TYPE_Q5_1, "q5_1", 32, 24, false},   {GM_TYPE_Q8_0, "q8_0", 32, 34, true},
        {GM_TYPE_Q8_1, "q8_1", 32, 36, false},   {GM_TYPE_Q2_K, "q2_K", 256, 84, false},
        {GM_TYPE_Q3_K, "q3_K", 256, 110, false}, {GM_TYPE_Q4_K, "q4_K", 256, 144, true},
        {GM_TYPE_Q5_K, "q5_K", 256, 176, true},  {GM_TYPE_Q6_K, "q6_K", 256, 210, true},
        {GM_TYPE_Q8_K, "q8_K", 256, 292, true},  {GM_TYPE_IQ4_NL, "iq4_nl", 32, 18, false},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(gm_type_name(want[i].t), want[i].name);
        assert_int_equal(gm_type_block_elems(want[i].t), want[i].elems);
        assert_int_equal(gm_type_block_bytes(want[i].t), want[i].bytes);
        assert_int_equal(gm_type_supported(want[i].t), want[i].supported);
        assert_true(gm_type_known(want[i].t));
        gm_type t;
        assert_int_equal(gm_type_from_name(want[i].name, &t), 0);
        assert_int_equal(t, want[i].t);
    }
    gm_type t;
    assert_int_equal(gm_type_from_name("Q4_k", &t), 0);
    assert_int_equal(t, GM_TYPE_Q4_K);
    assert_int_equal(gm_type_from_name("q4_2", &t), -1);
    /* Removed or never-defined ids are unknown. */
    const uint32_t unknown[] = {4, 5, 31, 32, 33, 36, 37, 38, 43, 63, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_false(gm_type_known(unknown[i]));
        assert_false(gm_type_supported(unknown[i]));
    }
    assert_int_equal(gm_type_block_elems((gm_type)4), 0);
    assert_string_equal(gm_type_name((gm_type)4), "unknown");

    uint64_t rb;
    assert_true(gm_type_row_bytes(GM_TYPE_Q4_K, 2560, &rb));
    assert_int_equal(rb, 10 * 144);
    assert_true(gm_type_row_bytes(GM_TYPE_Q8_0, 64, &rb));
    assert_int_equal(rb, 68);
    assert_false(gm_type_row_bytes(GM_TYPE_Q8_0, 33, &rb));
    assert_false(gm_type_row_bytes(GM_TYPE_F32, UINT64_MAX / 2, &rb)); /* overflows */
    assert_false(gm_type_row_bytes((gm_type)4, 32, &rb));
}

/* ------------------------------------------------------------------------ */

static void test_roundtrip_scalars(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w, &err), 0);

    uint8_t u8 = 250;
    int8_t i8 = -120;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    int64_t i64 = INT64_MIN;
    double f64 = -1.0 / 3.0;
    uint8_t b_raw = 7; /* written as 1 */
    assert_int_equal(gguf_writer_add_scalar(w, "s.u8", GGUF_TYPE_UINT8, &u8, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.i8", GGUF_TYPE_INT8, &i8, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.u16", GGUF_TYPE_UINT16, &u16, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.i16", GGUF_TYPE_INT16, &i16, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "s.u32", 4000000000u, &err), 0);
    assert_int_equal(gguf_writer_add_i32(w, "s.i32", -2000000000, &err), 0);
    assert_int_equal(gguf_writer_add_f32(w, "s.f32", 1e-6f, &err), 0);
    assert_int_equal(gguf_writer_add_bool(w, "s.bool", true, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.bool7", GGUF_TYPE_BOOL, &b_raw, &err), 0);
    assert_int_equal(gguf_writer_add_str(w, "s.str", "Gemma \xe2\x9c\x93", &err), 0);
    assert_int_equal(gguf_writer_add_str(w, "s.empty", "", &err), 0);
    assert_int_equal(gguf_writer_add_u64(w, "s.u64", UINT64_MAX, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.i64", GGUF_TYPE_INT64, &i64, &err), 0);
    assert_int_equal(gguf_writer_add_scalar(w, "s.f64", GGUF_TYPE_FLOAT64, &f64, &err), 0);
    assert_int_equal(gguf_writer_n_kv(w), 14);
    assert_int_equal(gguf_writer_write(w, fx->path, &err), 0);
    gguf_writer_free(w);

    gguf_file *f;
    assert_int_equal(gguf_open(fx->path, &f, &err), 0);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_alignment(f), 32);
    assert_int_equal(gguf_n_kv(f), 14);
    assert_int_equal(gguf_n_tensors(f), 0);

    /* Keys in the order added, with their types. */
    static const char *const keys[] = {"s.u8",    "s.i8",  "s.u16",  "s.i16",   "s.u32",
                                       "s.i32",   "s.f32", "s.bool", "s.bool7", "s.str",
                                       "s.empty", "s.u64", "s.i64",  "s.f64"};
    static const gguf_value_type types[] = {
        GGUF_TYPE_UINT8,  GGUF_TYPE_INT8,    GGUF_TYPE_UINT16, GGUF_TYPE_INT16,  GGUF_TYPE_UINT32,
        GGUF_TYPE_INT32,  GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL,   GGUF_TYPE_BOOL,   GGUF_TYPE_STRING,
        GGUF_TYPE_STRING, GGUF_TYPE_UINT64,  GGUF_TYPE_INT64,  GGUF_TYPE_FLOAT64};
    for (int64_t i = 0; i < 14; i++) {
        assert_true(gguf_str_eq(gguf_key_name(f, i), keys[i]));
        assert_int_equal(gguf_kv_type(f, i), types[i]);
        assert_int_equal(gguf_find_key(f, keys[i]), i);
    }
    assert_int_equal(gguf_find_key(f, "s.missing"), -1);
    assert_int_equal(gguf_find_key(f, "s.u"), -1); /* prefix is not a match */
    assert_null(gguf_key_name(f, 14).ptr);
    assert_int_equal(gguf_kv_type(f, -1), GGUF_TYPE_COUNT);

    uint32_t u32;
    int32_t i32;
    float f32;
    bool b;
    gguf_str s;
    int64_t iv;
    uint64_t u64;
    double d;
    assert_int_equal(gguf_get_u32(f, "s.u32", &u32, &err), 0);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i32(f, "s.i32", &i32, &err), 0);
    assert_int_equal(i32, -2000000000);
    assert_int_equal(gguf_get_f32(f, "s.f32", &f32, &err), 0);
    assert_true(f32 == 1e-6f);
    assert_int_equal(gguf_get_bool(f, "s.bool", &b, &err), 0);
    assert_true(b);
    assert_int_equal(gguf_get_bool(f, "s.bool7", &b, &err), 0);
    assert_true(b);
    assert_int_equal(gguf_get_str(f, "s.str", &s, &err), 0);
    assert_int_equal(s.len, 9);
    assert_memory_equal(s.ptr, "Gemma \xe2\x9c\x93", 9);
    assert_int_equal(gguf_get_str(f, "s.empty", &s, &err), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(gguf_get_u64(f, "s.u64", &u64, &err), 0);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(gguf_get_f64(f, "s.f64", &d, &err), 0);
    assert_true(d == -1.0 / 3.0);

    /* The raw values through the generic accessor. */
    gguf_value_type t;
    const void *v;
    assert_int_equal(gguf_kv_scalar(f, 0, &t, &v), 0);
    assert_int_equal(t, GGUF_TYPE_UINT8);
    assert_int_equal(*(const uint8_t *)v, 250);
    assert_int_equal(gguf_kv_scalar(f, 3, &t, &v), 0);
    int16_t i16r;
    memcpy(&i16r, v, 2);
    assert_int_equal(i16r, -32000);
    assert_int_equal(gguf_kv_scalar(f, 9, &t, &v), 0);
    assert_int_equal(t, GGUF_TYPE_STRING);
    assert_int_equal(((const gguf_str *)v)->len, 9);
    assert_int_equal(gguf_kv_scalar(f, 99, &t, &v), -1);

    /* Widening to int64. */
    static const struct {
        const char *key;
        int64_t want;
    } ints[] = {{"s.u8", 250},     {"s.i8", -120},          {"s.u16", 65000},
                {"s.i16", -32000}, {"s.u32", 4000000000ll}, {"s.i32", -2000000000},
                {"s.bool", 1},     {"s.i64", INT64_MIN}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        assert_int_equal(gguf_get_int(f, ints[i].key, &iv, &err), 0);
        assert_true(iv == ints[i].want);
    }
    assert_int_equal(gguf_get_int(f, "s.u64", &iv, &err), -1); /* > INT64_MAX */
    assert_non_null(strstr(err.msg, "s.u64"));
    assert_int_equal(gguf_get_int(f, "s.f32", &iv, &err), -1);
    assert_int_equal(gguf_get_int(f, "s.str", &iv, &err), -1);

    /* Exact type match, with messages naming the key. */
    assert_int_equal(gguf_get_u32(f, "s.i32", &u32, &err), -1);
    assert_string_equal(err.msg, "key 's.i32': has type i32, expected u32");
    assert_int_equal(gguf_get_str(f, "s.nope", &s, &err), -1);
    assert_string_equal(err.msg, "key 's.nope': not found");
    assert_int_equal(gguf_get_f32(f, "s.f64", &f32, &err), -1);
    assert_int_equal(gguf_get_arr(f, "s.u8", NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "expected an array"));
    gguf_close(f);
}

/* ------------------------------------------------------------------------ */

static void test_roundtrip_arrays(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w, &err), 0);

    const uint8_t a_u8[] = {0, 1, 255};
    const int8_t a_i8[] = {-128, 0, 127};
    const uint16_t a_u16[] = {1, 65535};
    const int16_t a_i16[] = {-32768, 32767};
    const uint32_t a_u32[] = {0, 4294967295u, 7};
    const int32_t a_i32[] = {-5, 5, 1 << 30, -(1 << 30)};
    const float a_f32[] = {0.5f, -1.25f, FLT_MAX};
    const uint8_t a_bool[] = {1, 0, 1, 1};
    const uint64_t a_u64[] = {UINT64_MAX, 0};
    const int64_t a_i64[] = {INT64_MIN, INT64_MAX};
    const double a_f64[] = {DBL_MIN, 2.5};
    static const struct {
        const char *key;
        gguf_value_type t;
        uint64_t n;
    } fixed[] = {
        {"a.u8", GGUF_TYPE_UINT8, 3},    {"a.i8", GGUF_TYPE_INT8, 3},
        {"a.u16", GGUF_TYPE_UINT16, 2},  {"a.i16", GGUF_TYPE_INT16, 2},
        {"a.u32", GGUF_TYPE_UINT32, 3},  {"a.i32", GGUF_TYPE_INT32, 4},
        {"a.f32", GGUF_TYPE_FLOAT32, 3}, {"a.bool", GGUF_TYPE_BOOL, 4},
        {"a.u64", GGUF_TYPE_UINT64, 2},  {"a.i64", GGUF_TYPE_INT64, 2},
        {"a.f64", GGUF_TYPE_FLOAT64, 2},
    };
    const void *fixed_data[] = {a_u8,  a_i8,   a_u16, a_i16, a_u32, a_i32,
                                a_f32, a_bool, a_u64, a_i64, a_f64};
    /* A string first, so that the arrays after it are at odd offsets. */
    assert_int_equal(gguf_writer_add_str(w, "odd", "abc", &err), 0);
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(
            gguf_writer_add_arr(w, fixed[i].key, fixed[i].t, fixed_data[i], fixed[i].n, &err), 0);
    assert_int_equal(gguf_writer_add_arr(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0, &err), 0);

    const char *const strs[] = {"<pad>", "", "\xe2\x96\x81the", "a b"};
    assert_int_equal(gguf_writer_add_arr_str(w, "a.str", strs, 4, &err), 0);
    assert_int_equal(gguf_writer_add_arr_str(w, "a.str0", NULL, 0, &err), 0);

    /* Arrays of arrays of strings: [["x", "yy"], [], ["zzz"]]. */
    const char *const in0[] = {"x", "yy"};
    const char *const in2[] = {"zzz"};
    const gguf_writer_arr inner[] = {
        {.elem_type = GGUF_TYPE_STRING, .count = 2, .strs = in0},
        {.elem_type = GGUF_TYPE_STRING, .count = 0},
        {.elem_type = GGUF_TYPE_STRING, .count = 1, .strs = in2},
    };
    const gguf_writer_arr nested = {.elem_type = GGUF_TYPE_ARRAY, .count = 3, .arrs = inner};
    assert_int_equal(gguf_writer_add_arr_value(w, "a.nested", &nested, &err), 0);
    /* Three levels: [[[1, 2], [3]], [[-4]]] of i32. */
    const int32_t l12[] = {1, 2}, l3[] = {3}, l4[] = {-4};
    const gguf_writer_arr lvl2a[] = {{.elem_type = GGUF_TYPE_INT32, .count = 2, .data = l12},
                                     {.elem_type = GGUF_TYPE_INT32, .count = 1, .data = l3}};
    const gguf_writer_arr lvl2b[] = {{.elem_type = GGUF_TYPE_INT32, .count = 1, .data = l4}};
    const gguf_writer_arr lvl1[] = {{.elem_type = GGUF_TYPE_ARRAY, .count = 2, .arrs = lvl2a},
                                    {.elem_type = GGUF_TYPE_ARRAY, .count = 1, .arrs = lvl2b}};
    const gguf_writer_arr deep = {.elem_type = GGUF_TYPE_ARRAY, .count = 2, .arrs = lvl1};
    assert_int_equal(gguf_writer_add_arr_value(w, "a.deep", &deep, &err), 0);
    assert_int_equal(gguf_writer_write(w, fx->path, &err), 0);
    gguf_writer_free(w);

    gguf_file *f;
    assert_int_equal(gguf_open(fx->path, &f, &err), 0);
    gguf_value_type et;
    uint64_t n;
    for (size_t i = 0; i < 11; i++) {
        int64_t k = gguf_find_key(f, fixed[i].key);
        assert_int_equal(k, (int64_t)i + 1);
        assert_int_equal(gguf_kv_type(f, k), GGUF_TYPE_ARRAY);
        assert_int_equal(gguf_arr_info(f, k, &et, &n), 0);
        assert_int_equal(et, fixed[i].t);
        assert_int_equal(n, fixed[i].n);
        const void *data = gguf_arr_data(f, k);
        assert_non_null(data);
        assert_memory_equal(data, fixed_data[i], n * gguf_type_size(et));
        assert_ptr_equal(gguf_array_data(gguf_kv_array(f, k)), data);
    }
    int64_t iv;
    int64_t k = gguf_find_key(f, "a.i32");
    assert_int_equal(gguf_arr_int(f, k, 2, &iv), 0);
    assert_int_equal(iv, 1 << 30);
    assert_int_equal(gguf_arr_int(f, k, 4, &iv), -1); /* out of range */
    assert_int_equal(gguf_arr_int(f, gguf_find_key(f, "a.i16"), 0, &iv), 0);
    assert_int_equal(iv, -32768);
    assert_int_equal(gguf_arr_int(f, gguf_find_key(f, "a.u32"), 1, &iv), 0);
    assert_int_equal(iv, 4294967295ll);
    assert_int_equal(gguf_arr_int(f, gguf_find_key(f, "a.bool"), 1, &iv), 0);
    assert_int_equal(iv, 0);
    assert_int_equal(gguf_arr_int(f, gguf_find_key(f, "a.u64"), 0, &iv), -1); /* too big */
    assert_int_equal(gguf_arr_int(f, gguf_find_key(f, "a.f32"), 0, &iv), -1);
    float fv;
    k = gguf_find_key(f, "a.f32");
    assert_int_equal(gguf_arr_f32(f, k, 1, &fv), 0);
    assert_true(fv == -1.25f);
    assert_int_equal(gguf_arr_f32(f, k, 3, &fv), -1);
    double dv;
    assert_int_equal(gguf_array_float(gguf_kv_array(f, gguf_find_key(f, "a.f64")), 1, &dv), 0);
    assert_true(dv == 2.5);

    k = gguf_find_key(f, "a.empty");
    assert_int_equal(gguf_arr_info(f, k, &et, &n), 0);
    assert_int_equal(et, GGUF_TYPE_UINT32);
    assert_int_equal(n, 0);

    int64_t ks;
    assert_int_equal(gguf_get_arr(f, "a.str", &et, &n, &ks, &err), 0);
    assert_int_equal(et, GGUF_TYPE_STRING);
    assert_int_equal(n, 4);
    assert_null(gguf_arr_data(f, ks)); /* not fixed-size */
    for (uint64_t j = 0; j < 4; j++) {
        gguf_str s = gguf_arr_str(f, ks, j);
        assert_non_null(s.ptr);
        assert_true(gguf_str_eq(s, strs[j]));
    }
    assert_null(gguf_arr_str(f, ks, 4).ptr);
    char *dup = gguf_str_dup(gguf_arr_str(f, ks, 2));
    assert_string_equal(dup, "\xe2\x96\x81the");
    free(dup);
    assert_int_equal(gguf_get_arr(f, "a.str0", &et, &n, NULL, &err), 0);
    assert_int_equal(n, 0);

    /* Nested: through gguf_arr_nested() and the gguf_array API. */
    k = gguf_find_key(f, "a.nested");
    assert_int_equal(gguf_arr_info(f, k, &et, &n), 0);
    assert_int_equal(et, GGUF_TYPE_ARRAY);
    assert_int_equal(n, 3);
    const uint64_t want_n[] = {2, 0, 1};
    for (uint64_t j = 0; j < 3; j++) {
        assert_int_equal(gguf_arr_nested(f, k, j, &et, &n), 0);
        assert_int_equal(et, GGUF_TYPE_STRING);
        assert_int_equal(n, want_n[j]);
    }
    assert_int_equal(gguf_arr_nested(f, k, 3, &et, &n), -1);
    const gguf_array *a = gguf_kv_array(f, k);
    assert_true(gguf_str_eq(gguf_array_str(gguf_array_sub(a, 0), 1), "yy"));
    assert_true(gguf_str_eq(gguf_array_str(gguf_array_sub(a, 2), 0), "zzz"));
    assert_null(gguf_array_str(gguf_array_sub(a, 1), 0).ptr);
    assert_null(gguf_array_str(a, 0).ptr); /* not a string array */

    a = gguf_kv_array(f, gguf_find_key(f, "a.deep"));
    assert_int_equal(gguf_array_count(a), 2);
    const gguf_array *a0 = gguf_array_sub(a, 0), *a1 = gguf_array_sub(a, 1);
    assert_int_equal(gguf_array_type(a0), GGUF_TYPE_ARRAY);
    assert_int_equal(gguf_array_count(a0), 2);
    assert_int_equal(gguf_array_count(a1), 1);
    assert_int_equal(gguf_array_int(gguf_array_sub(a0, 0), 1, &iv), 0);
    assert_int_equal(iv, 2);
    assert_int_equal(gguf_array_int(gguf_array_sub(a0, 1), 0, &iv), 0);
    assert_int_equal(iv, 3);
    assert_int_equal(gguf_array_int(gguf_array_sub(a1, 0), 0, &iv), 0);
    assert_int_equal(iv, -4);
    assert_null(gguf_array_sub(a1, 1));
    assert_null(gguf_kv_array(f, gguf_find_key(f, "odd")));
    gguf_close(f);
}

/* ------------------------------------------------------------------------ */

typedef struct fill_state {
    uint8_t seed;
    int calls;
    bool fail;
} fill_state;

static int fill_pattern(void *user, void *dst, uint64_t nbytes, cm_err *err)
{
    fill_state *st = user;
    st->calls++;
    if (st->fail)
        return cm_err_set(err, "generator failed");
    for (uint64_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(st->seed + i * 7);
    return 0;
}

static void test_roundtrip_tensors(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w, &err), 0);
    assert_int_equal(gguf_writer_set_alignment(w, 64, &err), 0);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "gemma4", &err), 0);

    float emb[3 * 5];
    for (int i = 0; i < 15; i++)
        emb[i] = (float)i * 0.5f - 3.0f;
    const uint64_t ne_emb[] = {3, 5};
    const uint64_t ne_q8[] = {64, 3};
    const uint64_t ne_q4k[] = {512, 2, 1, 2};
    const uint64_t ne_bf16[] = {7};
    fill_state s1 = {.seed = 11}, s2 = {.seed = 99}, s3 = {.seed = 5};
    assert_int_equal(
        gguf_writer_add_tensor_data(w, "token_embd.weight", GM_TYPE_F32, 2, ne_emb, emb, &err), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GM_TYPE_Q8_0, 2, ne_q8,
                                            fill_pattern, &s1, &err),
                     0);
    assert_int_equal(gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", GM_TYPE_Q4_K, 4, ne_q4k,
                                            fill_pattern, &s2, &err),
                     0);
    assert_int_equal(gguf_writer_add_tensor(w, "output_norm.weight", GM_TYPE_BF16, 1, ne_bf16,
                                            fill_pattern, &s3, &err),
                     0);
    assert_int_equal(gguf_writer_n_tensors(w), 4);
    assert_int_equal(gguf_writer_write(w, fx->path, &err), 0);
    assert_int_equal(s1.calls, 1);
    assert_int_equal(s2.calls, 1);
    gguf_writer_free(w);
    assert_int_equal(count_files(fx->dir), 1); /* no temporary left behind */

    size_t len;
    uint8_t *bytes = read_all(fx->path, &len);
    gguf_file *f;
    assert_int_equal(gguf_open(fx->path, &f, &err), 0);
    assert_int_equal(gguf_alignment(f), 64);
    uint32_t al;
    assert_int_equal(gguf_get_u32(f, "general.alignment", &al, &err), 0);
    assert_int_equal(al, 64);
    assert_int_equal(gguf_n_tensors(f), 4);
    assert_int_equal(gguf_data_offset(f) % 64, 0);
    assert_int_equal(gguf_file_size(f), len);

    const uint64_t want_bytes[] = {60, 3 * 68, 4 * 2 * 144, 14};
    const char *const names[] = {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight",
                                 "output_norm.weight"};
    const uint32_t want_dims[] = {2, 2, 4, 1};
    uint64_t off = 0;
    for (int64_t i = 0; i < 4; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        assert_non_null(t);
        assert_true(gguf_str_eq(t->name, names[i]));
        assert_ptr_equal(gguf_find_tensor(f, names[i]), t);
        assert_int_equal(t->n_dims, want_dims[i]);
        assert_int_equal(t->nbytes, want_bytes[i]);
        /* llama.cpp's layout: consecutive, each padded to the alignment. */
        assert_int_equal(t->offset, off);
        off += (t->nbytes + 63) / 64 * 64;
        assert_memory_equal(t->data, bytes + gguf_data_offset(f) + t->offset, t->nbytes);
    }
    assert_int_equal(gguf_data_offset(f) + off, len); /* last tensor padded too */
    assert_null(gguf_tensor_at(f, 4));
    assert_null(gguf_find_tensor(f, "blk.0.attn_q"));
    const gguf_tensor *gt;
    assert_int_equal(gguf_get_tensor(f, "output_norm.weight", &gt, &err), 0);
    assert_ptr_equal(gt, gguf_tensor_at(f, 3));
    assert_int_equal(gguf_get_tensor(f, "output.weight", &gt, &err), -1);
    assert_non_null(strstr(err.msg, "tensor output.weight: not found in "));
    assert_non_null(strstr(err.msg, fx->path));

    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_memory_equal(t->data, emb, sizeof(emb));
    assert_int_equal(t->ne[0], 3);
    assert_int_equal(t->ne[1], 5);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->type, GM_TYPE_F32);
    t = gguf_find_tensor(f, "blk.0.ffn_up.weight");
    assert_int_equal(t->type, GM_TYPE_Q4_K);
    assert_int_equal(t->ne[3], 2);
    for (uint64_t i = 0; i < t->nbytes; i++)
        assert_int_equal(((const uint8_t *)t->data)[i], (uint8_t)(99 + i * 7));
    /* Padding is zeros. */
    for (uint64_t i = t->offset + t->nbytes; i < gguf_tensor_at(f, 3)->offset; i++)
        assert_int_equal(bytes[gguf_data_offset(f) + i], 0);
    gguf_close(f);

    /* The same bytes parse from memory and from a descriptor. */
    assert_int_equal(gguf_open_memory(bytes, len, &f, &err), 0);
    assert_int_equal(gguf_n_tensors(f), 4);
    assert_string_equal(gguf_display_name(f), "<memory>");
    gguf_close(f);
    int fd = open(fx->path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(gguf_open_fd(fd, "model-by-fd", &f, &err), 0);
    assert_string_equal(gguf_display_name(f), "model-by-fd");
    gguf_close(f);
    char c;
    assert_int_equal(pread(fd, &c, 1, 0), 1); /* our descriptor is still open */
    assert_int_equal(c, 'G');
    close(fd);
    free(bytes);
}

/* A tiny file built byte by byte, independently of the writer, must equal
 * what the writer produces: this pins the layout to llama.cpp's. */
static void test_exact_layout(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "k", 7, &err), 0);
    const uint8_t data[3] = {1, 2, 3};
    const uint64_t ne[] = {3};
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", GM_TYPE_I8, 1, ne, data, &err), 0);
    assert_int_equal(gguf_writer_write(w, fx->path, &err), 0);
    gguf_writer_free(w);

    uint8_t want[128] = {0};
    size_t n = 0;
#define PUT(p, k)                                                                                  \
    do {                                                                                           \
        memcpy(want + n, (p), (k));                                                                \
        n += (k);                                                                                  \
    } while (0)
    const uint32_t magic = 0x46554747u, version = 3, u32t = 4, seven = 7, one = 1, i8t = 24;
    const uint64_t n_t = 1, n_kv = 1, len1 = 1, ne0 = 3, off0 = 0;
    PUT(&magic, 4);
    PUT(&version, 4);
    PUT(&n_t, 8);
    PUT(&n_kv, 8);
    PUT(&len1, 8);
    PUT("k", 1);
    PUT(&u32t, 4);
    PUT(&seven, 4);
    PUT(&len1, 8);
    PUT("t", 1);
    PUT(&one, 4);
    PUT(&ne0, 8);
    PUT(&i8t, 4);
    PUT(&off0, 8);
#undef PUT
    assert_int_equal(n, 74);
    n = 96; /* padded to 32 */
    memcpy(want + n, data, 3);
    n = 128; /* the tensor padded to 32 too */
    size_t len;
    uint8_t *got = read_all(fx->path, &len);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
    free(got);
}

/* ------------------------------------------------------------------------ */

static void test_writer_refuses(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_writer *w;
    assert_int_equal(gguf_writer_new(&w, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "a", 1, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "a", 2, &err), -1);
    assert_string_equal(err.msg, "key 'a': added twice");
    assert_int_equal(gguf_writer_add_str(w, "", "x", &err), -1);
    assert_int_equal(gguf_writer_set_alignment(w, 0, &err), -1);
    assert_int_equal(gguf_writer_set_alignment(w, 48, &err), -1);
    assert_non_null(strstr(err.msg, "power of two"));
    assert_int_equal(gguf_writer_add_str(w, "general.alignment", "64", &err), -1);
    assert_int_equal(gguf_writer_add_u64(w, "general.alignment", 64, &err), -1);
    assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 3, &err), -1);
    assert_int_equal(gguf_writer_add_arr(w, "x", GGUF_TYPE_STRING, NULL, 1, &err), -1);
    const char *const bad[] = {"ok", NULL};
    assert_int_equal(gguf_writer_add_arr_str(w, "y", bad, 2, &err), -1);
    assert_int_equal(gguf_find_key(NULL, "y"), -1);

    const uint64_t ne[] = {32, 2, 1, 1, 1};
    const uint64_t ne_zero[] = {32, 0};
    const uint64_t ne_odd[] = {33, 2};
    float buf[64] = {0};
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", GM_TYPE_F32, 0, ne, buf, &err), -1);
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", GM_TYPE_F32, 5, ne, buf, &err), -1);
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", GM_TYPE_F32, 2, ne_zero, buf, &err), -1);
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", GM_TYPE_Q8_0, 2, ne_odd, buf, &err), -1);
    assert_non_null(strstr(err.msg, "block size"));
    assert_int_equal(gguf_writer_add_tensor_data(w, "t", (gm_type)4, 1, ne, buf, &err), -1);
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = '\0';
    assert_int_equal(gguf_writer_add_tensor_data(w, longname, GM_TYPE_F32, 1, ne, buf, &err), -1);
    longname[63] = '\0';
    assert_int_equal(gguf_writer_add_tensor_data(w, longname, GM_TYPE_F32, 1, ne, buf, &err), 0);
    assert_int_equal(gguf_writer_add_tensor_data(w, longname, GM_TYPE_F32, 1, ne, buf, &err), -1);
    assert_non_null(strstr(err.msg, "added twice"));

    /* A failing fill leaves no file, not even a temporary one. */
    fill_state st = {.fail = true};
    assert_int_equal(gguf_writer_add_tensor(w, "g", GM_TYPE_F32, 2, ne, fill_pattern, &st, &err),
                     0);
    assert_int_equal(gguf_writer_write(w, fx->path, &err), -1);
    assert_string_equal(err.msg, "tensor g: generator failed");
    assert_int_equal(count_files(fx->dir), 0);
    /* An unwritable destination is an error naming it. */
    assert_int_equal(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf"));
    gguf_writer_free(w);
}

static void test_open_errors(void **state)
{
    fixture *fx = *state;
    cm_err err;
    gguf_file *f = (gguf_file *)&err;
    assert_int_equal(gguf_open("/nonexistent/model.gguf", &f, &err), -1);
    assert_null(f);
    assert_string_equal(err.msg, "/nonexistent/model.gguf: cannot open: No such file or directory");
    assert_int_equal(gguf_open(fx->dir, &f, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    FILE *fp = fopen(fx->path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(gguf_open(fx->path, &f, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    fp = fopen(fx->path, "wb");
    fputs("GGML this is not gguf at all, just text", fp);
    fclose(fp);
    assert_int_equal(gguf_open(fx->path, &f, &err), -1);
    assert_non_null(strstr(err.msg, fx->path));
    assert_non_null(strstr(err.msg, "not a GGUF file"));
    assert_int_equal(gguf_open_memory(NULL, 0, &f, &err), -1);
    assert_non_null(strstr(err.msg, "not a GGUF file"));
}

/* The real Gemma 4 vocabulary (262144 tokens, 514906 merges) from the
 * reference tree: parsed in well under half a second. */
static bool vocab_path(char *path, size_t size)
{
    const char *ref = getenv("GEMMA_REF_DIR");
    if (ref == NULL || ref[0] == '\0')
        return false;
    snprintf(path, size, "%s/llsrc/models/ggml-vocab-gemma-4.gguf", ref);
    return access(path, R_OK) == 0;
}

static void test_real_vocab(void **state)
{
    (void)state;
    char path[1024];
    assert_true(vocab_path(path, sizeof(path)));
    cm_err err;
    gguf_file *f;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = gguf_open(path, &f, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0)
        fail_msg("%s", err.msg);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("# opened %s in %.1f ms\n", path, secs * 1e3);
    assert_true(secs < 0.5);

    gguf_str s;
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &err), 0);
    assert_true(gguf_str_eq(s, "gemma4"));
    assert_int_equal(gguf_get_str(f, "tokenizer.ggml.model", &s, &err), 0);
    gguf_value_type et;
    uint64_t n;
    int64_t k;
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, &k, &err), 0);
    assert_int_equal(et, GGUF_TYPE_STRING);
    assert_int_equal(n, 262144);
    /* Token 2 is <bos> in Gemma vocabularies; the last one must be reachable. */
    uint32_t bos;
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &bos, &err), 0);
    assert_true(gguf_str_eq(gguf_arr_str(f, k, bos), "<bos>"));
    assert_non_null(gguf_arr_str(f, k, n - 1).ptr);
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.merges", &et, &n, &k, &err), 0);
    assert_int_equal(et, GGUF_TYPE_STRING);
    assert_int_equal(n, 514906);
    gguf_str m = gguf_arr_str(f, k, n - 1);
    assert_non_null(memchr(m.ptr, ' ', m.len)); /* "a b" pairs */
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.scores", &et, &n, &k, &err), 0);
    assert_int_equal(et, GGUF_TYPE_FLOAT32);
    assert_int_equal(n, 262144);
    assert_int_equal(gguf_n_tensors(f), 0);
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test_setup_teardown(test_roundtrip_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_tensors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test(test_real_vocab),
    };
    /* cmocka 1.1.5 (Debian 12) reports skip() as "not ok # SKIP", which
     * the TAP driver counts as a failure; so the vocabulary case is only
     * listed when the reference file is there. Its visible skip is in
     * tests/integration/gguf_inspect.sh. */
    char path[1024];
    size_t n = sizeof(tests) / sizeof(tests[0]);
    if (!vocab_path(path, sizeof(path)))
        n--;
    return _cmocka_run_group_tests("test_gguf", tests, n, NULL, NULL);
}
