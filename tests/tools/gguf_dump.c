/*
 * tests/tools/gguf_dump.c -- prints everything our GGUF reader sees in a
 * file in a canonical text form, so that tests/integration/gguf_ref.sh can
 * compare it byte for byte with what llama.cpp's reader sees (the same
 * form, printed by tests/ref/gguf_ref_dump.c).
 *
 * The form, one item per line:
 *   version V / alignment A / data_offset D / n_kv N
 *   key LEN NAME, then: type T (T: the numeric GGUF value type)
 *     val HEX                  (a fixed-size scalar: its bytes, in hex)
 *     str LEN TEXT             (a string)
 *     arr T COUNT, then one "  HEX" or "  LEN TEXT" line per element
 *   n_tensors N
 *   tensor LEN NAME, then: type T ne A B C D offset O size S fnv H
 *                              (H: FNV-1a 64 of the tensor's bytes)
 * Nested arrays are not printed (llama.cpp cannot read them).
 *
 * With --types it prints our table of tensor types (id, name, block
 * elements, block bytes), in the form of gguf_ref_dump --types.
 *
 * With --copy IN OUT it instead reads IN and writes everything in it,
 * in order, to OUT with our writer: for files written by llama.cpp the
 * copy must be byte-identical.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/format/gguf.h"
#include "engine/format/gguf_write.h"
#include "engine/format/tensor_type.h"

static void hex(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", ((const uint8_t *)p)[i]);
}

/* Strings are printed up to their first NUL, as llama.cpp's C API gives
 * them. */
static void text(gguf_str s)
{
    size_t n = s.len;
    const char *nul = memchr(s.ptr, 0, s.len);
    if (nul != NULL)
        n = (size_t)(nul - s.ptr);
    printf("%zu ", n);
    fwrite(s.ptr, 1, n, stdout);
    putchar('\n');
}

/* Build the writer's description of an array (and of its inner arrays);
 * strings are copied to C strings. Freed by free_arr(). */
static int to_writer_arr(const gguf_array *a, gguf_writer_arr *out)
{
    memset(out, 0, sizeof(*out));
    out->elem_type = gguf_array_type(a);
    out->count = gguf_array_count(a);
    if (out->elem_type == GGUF_TYPE_STRING) {
        char **strs = calloc(out->count + 1, sizeof(*strs));
        if (strs == NULL)
            return -1;
        out->strs = (const char *const *)strs;
        for (uint64_t j = 0; j < out->count; j++)
            if ((strs[j] = gguf_str_dup(gguf_array_str(a, j))) == NULL)
                return -1;
    } else if (out->elem_type == GGUF_TYPE_ARRAY) {
        gguf_writer_arr *arrs = calloc(out->count + 1, sizeof(*arrs));
        if (arrs == NULL)
            return -1;
        out->arrs = arrs;
        for (uint64_t j = 0; j < out->count; j++)
            if (to_writer_arr(gguf_array_sub(a, j), &arrs[j]) != 0)
                return -1;
    } else {
        out->data = gguf_array_data(a);
    }
    return 0;
}

static void free_arr(gguf_writer_arr *a)
{
    if (a->strs != NULL) {
        for (uint64_t j = 0; j < a->count; j++)
            free((void *)a->strs[j]);
        free((void *)a->strs);
    }
    if (a->arrs != NULL) {
        for (uint64_t j = 0; j < a->count; j++)
            free_arr((gguf_writer_arr *)&a->arrs[j]);
        free((void *)a->arrs);
    }
}

static int copy_kv(const gguf_file *f, int64_t i, gguf_writer *w, cm_err *err)
{
    char *key = gguf_str_dup(gguf_key_name(f, i));
    int rc = -1;
    if (key == NULL)
        return cm_err_set(err, "out of memory");
    if (gguf_kv_type(f, i) == GGUF_TYPE_ARRAY) {
        gguf_writer_arr a;
        if (to_writer_arr(gguf_kv_array(f, i), &a) == 0)
            rc = gguf_writer_add_arr_value(w, key, &a, err);
        else
            cm_err_set(err, "out of memory");
        free_arr(&a);
    } else {
        const void *v;
        gguf_value_type t;
        if (gguf_kv_scalar(f, i, &t, &v) != 0) {
            cm_err_set(err, "key %s: no value", key);
        } else if (t == GGUF_TYPE_STRING) {
            char *s = gguf_str_dup(*(const gguf_str *)v);
            rc = s != NULL ? gguf_writer_add_str(w, key, s, err) : cm_err_set(err, "out of memory");
            free(s);
        } else {
            rc = gguf_writer_add_scalar(w, key, t, v, err);
        }
    }
    free(key);
    return rc;
}

static int copy_file(const char *in, const char *out)
{
    gguf_file *f;
    gguf_writer *w = NULL;
    cm_err err;
    int rc = -1;
    if (gguf_open(in, &f, &err) != 0)
        goto fail;
    if (gguf_writer_new(&w, &err) != 0)
        goto fail;
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        if (copy_kv(f, i, w, &err) != 0)
            goto fail;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char *name = gguf_str_dup(t->name);
        int r = name != NULL
                    ? gguf_writer_add_tensor_data(w, name, t->type, t->n_dims, t->ne, t->data, &err)
                    : cm_err_set(&err, "out of memory");
        free(name);
        if (r != 0)
            goto fail;
    }
    rc = gguf_writer_write(w, out, &err);
    if (rc != 0)
        goto fail;
    gguf_writer_free(w);
    gguf_close(f);
    return 0;
fail:
    fprintf(stderr, "gguf_dump: %s\n", err.msg);
    gguf_writer_free(w);
    gguf_close(f);
    return 1;
}

/* --types: our table of tensor types, as gguf_ref_dump --types prints
 * ggml's. */
static int print_types(void)
{
    for (uint32_t t = 0; t < GM_TYPE_COUNT_MAX; t++)
        if (gm_type_known(t))
            printf("%" PRIu32 " %s %" PRIu32 " %" PRIu32 "\n", t, gm_type_name((gm_type)t),
                   gm_type_block_elems((gm_type)t), gm_type_block_bytes((gm_type)t));
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--copy") == 0)
        return copy_file(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "--types") == 0)
        return print_types();
    if (argc != 2) {
        fprintf(stderr, "usage: gguf_dump FILE.gguf | gguf_dump --copy IN OUT\n");
        return 2;
    }
    gguf_file *f;
    cm_err err;
    if (gguf_open(argv[1], &f, &err) != 0) {
        fprintf(stderr, "gguf_dump: %s\n", err.msg);
        return 1;
    }
    printf("version %" PRIu32 "\nalignment %" PRIu64 "\ndata_offset %" PRIu64 "\nn_kv %" PRId64
           "\n",
           gguf_version(f), gguf_alignment(f), gguf_data_offset(f), gguf_n_kv(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_value_type t = gguf_kv_type(f, i);
        fputs("key ", stdout);
        text(gguf_key_name(f, i));
        printf("type %d\n", (int)t);
        if (t == GGUF_TYPE_ARRAY) {
            const gguf_array *a = gguf_kv_array(f, i);
            gguf_value_type et = gguf_array_type(a);
            uint64_t n = gguf_array_count(a);
            printf("arr %d %" PRIu64 "\n", (int)et, n);
            size_t es = gguf_type_size(et);
            for (uint64_t j = 0; j < n; j++) {
                fputs("  ", stdout);
                if (et == GGUF_TYPE_STRING) {
                    text(gguf_array_str(a, j));
                } else if (es != 0) {
                    hex((const uint8_t *)gguf_array_data(a) + j * es, es);
                    putchar('\n');
                }
            }
        } else {
            const void *v;
            gguf_value_type vt;
            if (gguf_kv_scalar(f, i, &vt, &v) != 0)
                return 1;
            if (vt == GGUF_TYPE_STRING) {
                fputs("str ", stdout);
                text(*(const gguf_str *)v);
            } else {
                fputs("val ", stdout);
                hex(v, gguf_type_size(vt));
                putchar('\n');
            }
        }
    }
    printf("n_tensors %" PRId64 "\n", gguf_n_tensors(f));
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t h = 1469598103934665603ull;
        for (uint64_t k = 0; k < t->nbytes; k++) {
            h ^= ((const uint8_t *)t->data)[k];
            h *= 1099511628211ull;
        }
        fputs("tensor ", stdout);
        text(t->name);
        printf("type %d ne %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " offset %" PRIu64
               " size %" PRIu64 " fnv %016" PRIx64 "\n",
               (int)t->type, t->ne[0], t->ne[1], t->ne[2], t->ne[3], t->offset, t->nbytes, h);
    }
    gguf_close(f);
    return fflush(stdout) == 0 ? 0 : 1;
}
