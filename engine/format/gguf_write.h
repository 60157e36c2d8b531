/*
 * engine/format/gguf_write.h -- writing GGUF v3 files.
 *
 * Collect metadata and tensor descriptions, then write the file in one
 * pass. Tensor data is produced by a callback at write time, one tensor at
 * a time, so files larger than memory can be written. Keys and tensors are
 * written in the order they were added.
 */
#ifndef GM_GGUF_WRITE_H
#define GM_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/gguf.h"

typedef struct gguf_writer gguf_writer;

/* Fill dst (nbytes) with the data of the tensor added with this `user`. */
typedef int (*gguf_fill_fn)(void *user, void *dst, uint64_t nbytes, cm_err *err);

int gguf_writer_new(gguf_writer **out, cm_err *err);
void gguf_writer_free(gguf_writer *w);
/* Default 32; also written as general.alignment when not 32. */
int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, cm_err *err);

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, cm_err *err);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, cm_err *err);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, cm_err *err);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, cm_err *err);
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, cm_err *err);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, cm_err *err);
/* Array of fixed-size elements (count elements of elem_type, copied). */
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_value_type elem_type,
                        const void *data, uint64_t count, cm_err *err);
/* Array of strings (copied). */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t count, cm_err *err);

/* Describe a tensor; its bytes (gm_type_row_bytes(type, ne[0]) * rows) are
 * produced by fill(user, ...) when the file is written. `user` must stay
 * valid until gguf_writer_write(). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, gm_type type, uint32_t n_dims,
                           const uint64_t *ne, gguf_fill_fn fill, void *user, cm_err *err);
/* Convenience: tensor data already in memory (copied by reference: must
 * stay valid until gguf_writer_write()). */
int gguf_writer_add_tensor_data(gguf_writer *w, const char *name, gm_type type,
                                uint32_t n_dims, const uint64_t *ne, const void *data,
                                cm_err *err);

/* Write everything to path (through a temporary file renamed into place). */
int gguf_writer_write(gguf_writer *w, const char *path, cm_err *err);

/* --- additions (the API above is unchanged) -----------------------------
 *
 * Notes: keys must be non-empty and unique, tensor names unique and
 * shorter than 64 bytes (llama.cpp's limit); tensors take 1 to 4
 * dimensions, each > 0, ne[0] a multiple of the type's block size. Adding
 * "general.alignment" with gguf_writer_add_u32() is the same as
 * gguf_writer_set_alignment() (any other type is refused). The layout is
 * llama.cpp's: metadata, tensor descriptions, zero padding to the
 * alignment, then each tensor's data followed by zero padding to the
 * alignment (the last one too), tensors in the order added.
 */

/* A scalar of any fixed-size type (u8 ... f64, bool), copied from value. */
int gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_value_type type,
                           const void *value, cm_err *err);

/* An array value of any shape, nested arrays included: elem_type is a
 * fixed-size type (data: count elements), GGUF_TYPE_STRING (strs: count
 * C strings) or GGUF_TYPE_ARRAY (arrs: count inner arrays). */
typedef struct gguf_writer_arr {
    gguf_value_type elem_type;
    uint64_t count;
    const void *data;
    const char *const *strs;
    const struct gguf_writer_arr *arrs;
} gguf_writer_arr;
int gguf_writer_add_arr_value(gguf_writer *w, const char *key, const gguf_writer_arr *arr,
                              cm_err *err);

int64_t gguf_writer_n_kv(const gguf_writer *w);
int64_t gguf_writer_n_tensors(const gguf_writer *w);

#endif
