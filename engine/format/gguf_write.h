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

#endif
