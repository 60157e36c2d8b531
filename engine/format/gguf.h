/*
 * engine/format/gguf.h -- reading GGUF v3 files (llama.cpp's model container).
 *
 * A gguf_file is an open, validated, read-only view of a GGUF file. The
 * file is mmapped; tensor data pointers point into the mapping, so weights
 * are used in place and never copied. Every offset, size and count is
 * checked against the file when it is opened, so once gguf_open() succeeds
 * every accessor below is safe on any input. The parser never reads out of
 * bounds and never aborts on a corrupt file: it returns -1 with a message
 * saying what is wrong and where.
 *
 * Ownership: a gguf_file owns its mapping and everything reachable from it;
 * strings and data returned by accessors live until gguf_close().
 */
#ifndef GM_GGUF_H
#define GM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/tensor_type.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* Metadata value types, as numbered in the file. */
typedef enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_value_type;

/* A length-delimited string inside the file (not NUL-terminated). */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* A tensor as described by the file, with its data located and checked. */
typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* fastest dim first; unused dims are 1 */
    gm_type type;
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;
    const void *data;           /* points into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate a file (mmap). */
int gguf_open(const char *path, gguf_file **out, cm_err *err);
/* Same, from an already-open descriptor (the bundle verifier hashes the
 * descriptor first, then maps that same descriptor). The fd is dup()ed. */
int gguf_open_fd(int fd, const char *display_name, gguf_file **out, cm_err *err);
/* Parse a buffer in memory (used by the fuzzer and tests). The buffer must
 * outlive the gguf_file; it is not copied. */
int gguf_open_memory(const void *data, size_t size, gguf_file **out, cm_err *err);
void gguf_close(gguf_file *f);
/* Give back to the kernel the pages of the file's mapping that lie wholly
 * inside [p, p + len) (madvise MADV_DONTNEED: the private read-only
 * mapping stays valid, a later read faults the pages in again from the
 * file). For data copied elsewhere (repacked weights), so the process does
 * not hold both. Nothing happens for a file opened from memory or a range
 * outside the mapping. */
void gguf_release_range(gguf_file *f, const void *p, size_t len);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f); /* start of the data section (not
                                                 padded when there are no tensors,
                                                 as in llama.cpp) */

/* --- metadata ---------------------------------------------------------- */
int64_t gguf_n_kv(const gguf_file *f);
/* Index of a key, or -1 when absent. */
int64_t gguf_find_key(const gguf_file *f, const char *key);
gguf_str gguf_key_name(const gguf_file *f, int64_t i);
gguf_value_type gguf_kv_type(const gguf_file *f, int64_t i);

/* Scalars: return -1 with a message when the key is absent or has another
 * type (types must match exactly, as in llama.cpp). */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, cm_err *err);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, cm_err *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, cm_err *err);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, cm_err *err);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, cm_err *err);
/* Any integer type (u8..i64, bool) widened to int64; for keys that may be
 * written with different integer types. */
int gguf_get_int(const gguf_file *f, const char *key, int64_t *out, cm_err *err);

/* Generic access by index, for inspect and for arrays. */
int gguf_kv_scalar(const gguf_file *f, int64_t i, gguf_value_type *type,
                   const void **value); /* points to the raw LE value */
/* Arrays: element type, count, and the i-th element. For string arrays
 * gguf_arr_str() is O(1) (offsets are indexed at open time). Nested arrays
 * are parsed and validated; gguf_arr_nested() returns the inner array's
 * type and count. */
int gguf_arr_info(const gguf_file *f, int64_t i, gguf_value_type *elem_type,
                  uint64_t *count);
const void *gguf_arr_data(const gguf_file *f, int64_t i); /* fixed-size elems */
gguf_str gguf_arr_str(const gguf_file *f, int64_t i, uint64_t j);
int gguf_arr_nested(const gguf_file *f, int64_t i, uint64_t j,
                    gguf_value_type *elem_type, uint64_t *count);
/* Convenience: an integer array element as int64 (any integer type). */
int gguf_arr_int(const gguf_file *f, int64_t i, uint64_t j, int64_t *out);

/* --- tensors ----------------------------------------------------------- */
int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
/* NULL when absent. */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Size in bytes of a value of a fixed-size metadata type; 0 for strings
 * and arrays. */
size_t gguf_type_size(gguf_value_type t);
const char *gguf_type_name(gguf_value_type t);

/* --- additions (the API above is unchanged) -----------------------------
 *
 * Notes on the API above, as implemented:
 *  - Values in the file are not aligned: pointers from gguf_kv_scalar() and
 *    gguf_arr_data() may be unaligned; read them with memcpy (or use the
 *    typed accessors, which do).
 *  - gguf_kv_scalar() on a STRING key gives a pointer to its gguf_str;
 *    on an ARRAY key it returns -1.
 *  - Out-of-range indices: gguf_key_name() and gguf_arr_str() give
 *    {NULL, 0}; gguf_kv_type() gives GGUF_TYPE_COUNT; gguf_tensor_at() and
 *    gguf_arr_data() give NULL; the int-returning ones return -1.
 *  - gguf_get_int() and gguf_arr_int() accept u8..i64 and bool; a u64
 *    above INT64_MAX is an error.
 *  - Strings may contain any bytes (not checked as UTF-8), NULs included;
 *    gguf_find_key()/gguf_find_tensor() compare whole names exactly, in
 *    O(1) (hash index built at open).
 *  - After a successful open nothing is modified: any number of threads
 *    may call the accessors concurrently.
 *  - The mapping is of the file as it is on disk: if another process
 *    truncates or rewrites the file while it is open, reads of the data
 *    may fault (SIGBUS) or change. Model files must not be modified in
 *    place (the writer replaces files by rename, which is safe).
 *  - Tensor data is aligned (to gguf_alignment() relative to the file
 *    start) in files opened with gguf_open()/gguf_open_fd(); with
 *    gguf_open_memory() only as aligned as the caller's buffer.
 */

/* Nested arrays cannot be deeper than this (an array of arrays of strings
 * has depth 2); deeper files are rejected. */
#define GGUF_MAX_ARRAY_DEPTH 8

/* An array value, at any depth. Lives until gguf_close(). */
typedef struct gguf_array gguf_array;

/* The array value of key i; NULL when key i is not an array. */
const gguf_array *gguf_kv_array(const gguf_file *f, int64_t i);
gguf_value_type gguf_array_type(const gguf_array *a); /* element type */
uint64_t gguf_array_count(const gguf_array *a);
/* First element of an array of fixed-size elements (unaligned); NULL for
 * arrays of strings or arrays. */
const void *gguf_array_data(const gguf_array *a);
/* Element j of a string array, O(1); {NULL, 0} when out of range or not a
 * string array. */
gguf_str gguf_array_str(const gguf_array *a, uint64_t j);
/* Element j of an array of arrays; NULL when out of range or not one. */
const gguf_array *gguf_array_sub(const gguf_array *a, uint64_t j);
/* Element j widened: any integer type (and bool) to int64; f32/f64 to
 * double. -1 when out of range or of another type. */
int gguf_array_int(const gguf_array *a, uint64_t j, int64_t *out);
int gguf_array_float(const gguf_array *a, uint64_t j, double *out);

/* Element j of the f32 array of key i (e.g. tokenizer.ggml.scores). */
int gguf_arr_f32(const gguf_file *f, int64_t i, uint64_t j, float *out);
/* Scalars of the remaining types (exact type match, as above). */
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, cm_err *err);
int gguf_get_f64(const gguf_file *f, const char *key, double *out, cm_err *err);
/* A key's array: element type and count; -1 with a message when the key is
 * absent or not an array. *index (may be NULL) receives the key's index. */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_value_type *elem_type,
                 uint64_t *count, int64_t *index, cm_err *err);

/* A tensor that must be there: -1 with "tensor NAME: not found in FILE"
 * when absent. */
int gguf_get_tensor(const gguf_file *f, const char *name, const gguf_tensor **out, cm_err *err);

/* The name gguf_open() was given ("<memory>" for gguf_open_memory()). */
const char *gguf_display_name(const gguf_file *f);

/* String helpers: equality with a C string; a malloc'd NUL-terminated copy
 * (NULL when out of memory); caller frees. */
bool gguf_str_eq(gguf_str s, const char *c);
char *gguf_str_dup(gguf_str s);

#endif
