/*
 * fuzz/fuzz_gguf.c -- libFuzzer target for the GGUF reader: parses the
 * input with gguf_open_memory() and, when it is accepted, walks every key,
 * every array element (nested arrays included), every string and every
 * byte of every tensor, so that any out-of-bounds pointer the parser let
 * through is read and caught by AddressSanitizer.
 *
 * Seeds: `tests/tools/gguf_mkfile --seeds DIR` writes a few valid files
 * (scalars of every type, string and nested arrays, tensors of several
 * formats, a non-default alignment) to start the corpus from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += b[i];
    return sum;
}

static uint64_t walk_array(const gguf_array *a)
{
    uint64_t sum = 0;
    uint64_t n = gguf_array_count(a);
    gguf_value_type t = gguf_array_type(a);
    if (t == GGUF_TYPE_STRING) {
        for (uint64_t j = 0; j < n; j++) {
            gguf_str s = gguf_array_str(a, j);
            if (s.ptr == NULL)
                abort(); /* every index below the count must be valid */
            sum += touch(s.ptr, s.len);
        }
    } else if (t == GGUF_TYPE_ARRAY) {
        for (uint64_t j = 0; j < n; j++) {
            const gguf_array *sub = gguf_array_sub(a, j);
            if (sub == NULL)
                abort();
            sum += walk_array(sub);
        }
    } else {
        sum += touch(gguf_array_data(a), n * gguf_type_size(t));
        int64_t iv;
        double dv;
        for (uint64_t j = 0; j < n; j++)
            sum += gguf_array_int(a, j, &iv) == 0     ? (uint64_t)iv
                   : gguf_array_float(a, j, &dv) == 0 ? (uint64_t)(dv != dv)
                                                      : 0;
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly `size` bytes, so that any read past the
     * end is a heap overflow ASan reports. */
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);

    gguf_file *f;
    cm_err err;
    if (gguf_open_memory(copy, size, &f, &err) != 0) {
        if (err.msg[0] == '\0')
            abort(); /* every rejection must say why */
        free(copy);
        return 0;
    }

    volatile uint64_t sum = 0;
    sum += gguf_version(f) + gguf_alignment(f) + gguf_data_offset(f);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str key = gguf_key_name(f, i);
        sum += touch(key.ptr, key.len);
        if (memchr(key.ptr, 0, key.len) == NULL) { /* findable as a C string */
            char *k = gguf_str_dup(key);
            if (k != NULL && gguf_find_key(f, k) != i)
                abort(); /* keys are unique, so it is this one */
            free(k);
        }
        gguf_value_type t;
        const void *v;
        if (gguf_kv_type(f, i) == GGUF_TYPE_ARRAY) {
            sum += walk_array(gguf_kv_array(f, i));
        } else if (gguf_kv_scalar(f, i, &t, &v) == 0) {
            if (t == GGUF_TYPE_STRING) {
                const gguf_str *s = v;
                sum += touch(s->ptr, s->len);
            } else {
                sum += touch(v, gguf_type_size(t));
            }
        } else {
            abort();
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        sum += touch(t->name.ptr, t->name.len);
        sum += touch(t->data, t->nbytes);
        if ((const uint8_t *)t->data < copy || (const uint8_t *)t->data + t->nbytes > copy + size)
            abort();
    }
    (void)sum;
    gguf_close(f);
    free(copy);
    return 0;
}
