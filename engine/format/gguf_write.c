/*
 * engine/format/gguf_write.c -- the GGUF writer: collects metadata (each
 * value serialised as it is added) and tensor descriptions, then writes
 * the file in one pass with llama.cpp's layout, producing tensor data one
 * tensor at a time through the fill callbacks, into a temporary file that
 * is renamed into place once complete and synced.
 */
#include "engine/format/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checked.h"

#define WRITER_MAX_NAME 64 /* llama.cpp's GGML_MAX_NAME, terminator included */
#define ALIGNMENT_KEY "general.alignment"

/* A growable byte buffer. */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf;

static int wbuf_put(wbuf *b, const void *data, size_t n, cm_err *err)
{
    size_t need;
    if (!cm_add_size(b->len, n, &need))
        return cm_err_set(err, "metadata value too large");
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need) {
            if (!cm_mul_size(cap, 2, &cap))
                return cm_err_set(err, "metadata value too large");
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL)
            return cm_err_set(err, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len = need;
    return 0;
}

static int wbuf_u32(wbuf *b, uint32_t v, cm_err *err)
{
    return wbuf_put(b, &v, 4, err);
}
static int wbuf_u64(wbuf *b, uint64_t v, cm_err *err)
{
    return wbuf_put(b, &v, 8, err);
}

static int wbuf_str(wbuf *b, const char *s, cm_err *err)
{
    size_t n = strlen(s);
    if (wbuf_u64(b, n, err) != 0)
        return -1;
    return wbuf_put(b, s, n, err);
}

typedef struct wkv {
    char *key;
    wbuf value; /* type, then the value, as in the file */
} wkv;

typedef struct wtensor {
    char *name;
    gm_type type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset; /* computed at write time */
    gguf_fill_fn fill;
    void *user;
    const void *data; /* when added with gguf_writer_add_tensor_data() */
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

int gguf_writer_new(gguf_writer **out, cm_err *err)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return cm_err_set(err, "out of memory");
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    return 0;
}

void gguf_writer_free(gguf_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].value.p);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

int64_t gguf_writer_n_kv(const gguf_writer *w)
{
    return (int64_t)w->n_kv;
}
int64_t gguf_writer_n_tensors(const gguf_writer *w)
{
    return (int64_t)w->n_t;
}

static wkv *find_kv(gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return &w->kv[i];
    return NULL;
}

/* Add a key whose serialised value (type + value) is in *value; takes
 * ownership of value's memory in all cases. */
static int add_kv(gguf_writer *w, const char *key, wbuf *value, cm_err *err)
{
    int rc = -1;
    if (key == NULL || key[0] == '\0') {
        cm_err_set(err, "metadata key: empty name");
        goto out;
    }
    if (find_kv(w, key) != NULL) {
        cm_err_set(err, "key '%s': added twice", key);
        goto out;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kv = realloc(w->kv, cap * sizeof(*kv));
        if (kv == NULL) {
            cm_err_set(err, "key '%s': out of memory", key);
            goto out;
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (k == NULL) {
        cm_err_set(err, "key '%s': out of memory", key);
        goto out;
    }
    w->kv[w->n_kv].key = k;
    w->kv[w->n_kv].value = *value;
    w->n_kv++;
    value->p = NULL;
    rc = 0;
out:
    free(value->p);
    value->p = NULL;
    return rc;
}

static bool valid_alignment(uint32_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

int gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_value_type type, const void *value,
                           cm_err *err)
{
    size_t size = gguf_type_size(type);
    if (size == 0)
        return cm_err_set(err, "key '%s': %s is not a fixed-size type", key ? key : "",
                          gguf_type_name(type));
    if (key != NULL && strcmp(key, ALIGNMENT_KEY) == 0) {
        uint32_t a;
        if (type != GGUF_TYPE_UINT32)
            return cm_err_set(err, "key '%s': must be of type u32, not %s", key,
                              gguf_type_name(type));
        memcpy(&a, value, 4);
        if (!valid_alignment(a))
            return cm_err_set(err, "key '%s': %" PRIu32 " is not a non-zero power of two", key, a);
        if (find_kv(w, key) == NULL)
            w->alignment = a;
    }
    wbuf b = {0};
    uint8_t v8;
    if (type == GGUF_TYPE_BOOL) { /* stored as 0 or 1 */
        v8 = *(const uint8_t *)value != 0;
        value = &v8;
    }
    if (wbuf_u32(&b, type, err) != 0 || wbuf_put(&b, value, size, err) != 0) {
        free(b.p);
        return cm_err_prefix(err, "key '%s'", key ? key : "");
    }
    return add_kv(w, key, &b, err);
}

int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, cm_err *err)
{
    if (!valid_alignment(alignment))
        return cm_err_set(err, "alignment %" PRIu32 " is not a non-zero power of two", alignment);
    wkv *kv = find_kv(w, ALIGNMENT_KEY);
    if (kv != NULL) {
        memcpy(kv->value.p + 4, &alignment, 4); /* type u32, then the value */
        w->alignment = alignment;
        return 0;
    }
    if (alignment == GGUF_DEFAULT_ALIGNMENT) {
        w->alignment = alignment;
        return 0;
    }
    return gguf_writer_add_scalar(w, ALIGNMENT_KEY, GGUF_TYPE_UINT32, &alignment, err);
}

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, cm_err *err)
{
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v, err);
}

int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, cm_err *err)
{
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_INT32, &v, err);
}

int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, cm_err *err)
{
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT64, &v, err);
}

int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, cm_err *err)
{
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_FLOAT32, &v, err);
}

int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, cm_err *err)
{
    uint8_t b = v ? 1 : 0;
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_BOOL, &b, err);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, cm_err *err)
{
    if (v == NULL)
        return cm_err_set(err, "key '%s': NULL string", key ? key : "");
    if (key != NULL && strcmp(key, ALIGNMENT_KEY) == 0)
        return cm_err_set(err, "key '%s': must be of type u32, not str", key);
    wbuf b = {0};
    if (wbuf_u32(&b, GGUF_TYPE_STRING, err) != 0 || wbuf_str(&b, v, err) != 0) {
        free(b.p);
        return -1;
    }
    return add_kv(w, key, &b, err);
}

/* Serialise an array (element type, count, elements) into b. */
static int put_array(wbuf *b, const gguf_writer_arr *a, unsigned depth, cm_err *err)
{
    if (a == NULL)
        return cm_err_set(err, "NULL array");
    if ((unsigned)a->elem_type >= GGUF_TYPE_COUNT)
        return cm_err_set(err, "unknown array element type %d", (int)a->elem_type);
    if (wbuf_u32(b, a->elem_type, err) != 0 || wbuf_u64(b, a->count, err) != 0)
        return -1;
    size_t size = gguf_type_size(a->elem_type);
    if (size != 0) {
        uint64_t bytes;
        if (!cm_mul_u64(a->count, size, &bytes) || bytes > SIZE_MAX)
            return cm_err_set(err, "array of %" PRIu64 " elements is too large", a->count);
        if (a->data == NULL && bytes > 0)
            return cm_err_set(err, "array without data");
        if (a->elem_type != GGUF_TYPE_BOOL)
            return wbuf_put(b, a->data, (size_t)bytes, err);
        for (uint64_t j = 0; j < a->count; j++) {
            uint8_t v = ((const uint8_t *)a->data)[j] != 0;
            if (wbuf_put(b, &v, 1, err) != 0)
                return -1;
        }
        return 0;
    }
    if (a->elem_type == GGUF_TYPE_STRING) {
        if (a->strs == NULL && a->count > 0)
            return cm_err_set(err, "string array without strings");
        for (uint64_t j = 0; j < a->count; j++) {
            if (a->strs[j] == NULL)
                return cm_err_set(err, "string %" PRIu64 " is NULL", j);
            if (wbuf_str(b, a->strs[j], err) != 0)
                return -1;
        }
        return 0;
    }
    /* GGUF_TYPE_ARRAY */
    if (depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
        return cm_err_set(err, "arrays nested deeper than %d", GGUF_MAX_ARRAY_DEPTH);
    if (a->arrs == NULL && a->count > 0)
        return cm_err_set(err, "array of arrays without arrays");
    for (uint64_t j = 0; j < a->count; j++)
        if (put_array(b, &a->arrs[j], depth + 1, err) != 0)
            return -1;
    return 0;
}

int gguf_writer_add_arr_value(gguf_writer *w, const char *key, const gguf_writer_arr *arr,
                              cm_err *err)
{
    if (key != NULL && strcmp(key, ALIGNMENT_KEY) == 0)
        return cm_err_set(err, "key '%s': must be of type u32, not an array", key);
    wbuf b = {0};
    if (wbuf_u32(&b, GGUF_TYPE_ARRAY, err) != 0 || put_array(&b, arr, 0, err) != 0) {
        free(b.p);
        return cm_err_prefix(err, "key '%s'", key ? key : "");
    }
    return add_kv(w, key, &b, err);
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_value_type elem_type,
                        const void *data, uint64_t count, cm_err *err)
{
    if (gguf_type_size(elem_type) == 0)
        return cm_err_set(err, "key '%s': %s is not a fixed-size element type", key ? key : "",
                          gguf_type_name(elem_type));
    gguf_writer_arr a = {.elem_type = elem_type, .count = count, .data = data};
    return gguf_writer_add_arr_value(w, key, &a, err);
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t count, cm_err *err)
{
    gguf_writer_arr a = {.elem_type = GGUF_TYPE_STRING, .count = count, .strs = strs};
    return gguf_writer_add_arr_value(w, key, &a, err);
}

static int add_tensor(gguf_writer *w, const char *name, gm_type type, uint32_t n_dims,
                      const uint64_t *ne, gguf_fill_fn fill, void *user, const void *data,
                      cm_err *err)
{
    if (name == NULL || name[0] == '\0')
        return cm_err_set(err, "tensor: empty name");
    if (strlen(name) >= WRITER_MAX_NAME)
        return cm_err_set(err, "tensor %s: name longer than %d bytes", name, WRITER_MAX_NAME - 1);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return cm_err_set(err, "tensor %s: added twice", name);
    if (!gm_type_known((uint32_t)type))
        return cm_err_set(err, "tensor %s: unknown tensor type %d", name, (int)type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne == NULL)
        return cm_err_set(err, "tensor %s: %" PRIu32 " dimensions (must be 1 to %d)", name, n_dims,
                          GGUF_MAX_DIMS);
    wtensor t = {.type = type, .n_dims = n_dims, .fill = fill, .user = user, .data = data};
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] == 0 || t.ne[d] > INT64_MAX || !cm_mul_u64(nelem, t.ne[d], &nelem) ||
            nelem > INT64_MAX)
            return cm_err_set(err, "tensor %s: bad dimension %" PRIu32 " (%" PRIu64 ")", name, d,
                              t.ne[d]);
    }
    if (!gm_type_row_bytes(type, t.ne[0], &t.nbytes))
        return cm_err_set(err,
                          "tensor %s: row of %" PRIu64 " elements is not a multiple of the %s "
                          "block size (%" PRIu32 ")",
                          name, t.ne[0], gm_type_name(type), gm_type_block_elems(type));
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++)
        if (!cm_mul_u64(t.nbytes, t.ne[d], &t.nbytes) || t.nbytes > SIZE_MAX)
            return cm_err_set(err, "tensor %s: size in bytes overflows", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof(*nt));
        if (nt == NULL)
            return cm_err_set(err, "tensor %s: out of memory", name);
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (t.name == NULL)
        return cm_err_set(err, "tensor %s: out of memory", name);
    w->t[w->n_t++] = t;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, gm_type type, uint32_t n_dims,
                           const uint64_t *ne, gguf_fill_fn fill, void *user, cm_err *err)
{
    if (fill == NULL)
        return cm_err_set(err, "tensor %s: no fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, fill, user, NULL, err);
}

int gguf_writer_add_tensor_data(gguf_writer *w, const char *name, gm_type type, uint32_t n_dims,
                                const uint64_t *ne, const void *data, cm_err *err)
{
    if (data == NULL)
        return cm_err_set(err, "tensor %s: no data", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, NULL, data, err);
}

/* ------------------------------------------------------------------------
 * Writing
 */

typedef struct wout {
    FILE *fp;
    const char *path; /* for messages */
    uint64_t written;
} wout;

static int out_put(wout *o, const void *p, size_t n, cm_err *err)
{
    if (n > 0 && fwrite(p, 1, n, o->fp) != n)
        return cm_err_errno(err, "%s: write failed", o->path);
    o->written += n;
    return 0;
}

static int out_pad(wout *o, uint64_t alignment, cm_err *err)
{
    static const uint8_t zeros[256];
    while (o->written % alignment != 0) {
        uint64_t n = alignment - o->written % alignment;
        if (n > sizeof(zeros))
            n = sizeof(zeros);
        if (out_put(o, zeros, (size_t)n, err) != 0)
            return -1;
    }
    return 0;
}

static int write_all(gguf_writer *w, wout *o, cm_err *err)
{
    uint32_t magic = GGUF_MAGIC, version = GGUF_VERSION;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    if (out_put(o, &magic, 4, err) || out_put(o, &version, 4, err) || out_put(o, &n_t, 8, err) ||
        out_put(o, &n_kv, 8, err))
        return -1;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint64_t len = strlen(w->kv[i].key);
        if (out_put(o, &len, 8, err) || out_put(o, w->kv[i].key, (size_t)len, err) ||
            out_put(o, w->kv[i].value.p, w->kv[i].value.len, err))
            return -1;
    }
    /* Offsets: consecutive, each tensor padded to the alignment. */
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        uint64_t padded;
        if (!cm_align_up_u64(w->t[i].nbytes, w->alignment, &padded) ||
            !cm_add_u64(off, padded, &off))
            return cm_err_set(err, "tensor %s: data section too large", w->t[i].name);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        uint32_t type = (uint32_t)t->type;
        if (out_put(o, &len, 8, err) || out_put(o, t->name, (size_t)len, err) ||
            out_put(o, &t->n_dims, 4, err) || out_put(o, t->ne, 8 * (size_t)t->n_dims, err) ||
            out_put(o, &type, 4, err) || out_put(o, &t->offset, 8, err))
            return -1;
    }
    if (out_pad(o, w->alignment, err) != 0)
        return -1;

    uint64_t data_start = o->written;
    void *buf = NULL;
    size_t buf_len = 0;
    int rc = 0;
    for (size_t i = 0; i < w->n_t && rc == 0; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (src == NULL) {
            if (t->nbytes > buf_len) {
                free(buf);
                buf_len = 0;
                buf = malloc((size_t)t->nbytes);
                if (buf == NULL) {
                    rc = cm_err_set(err, "tensor %s: out of memory for %" PRIu64 " bytes", t->name,
                                    t->nbytes);
                    break;
                }
                buf_len = (size_t)t->nbytes;
            }
            if (t->fill(t->user, buf, t->nbytes, err) != 0) {
                rc = cm_err_prefix(err, "tensor %s", t->name);
                break;
            }
            src = buf;
        }
        if (o->written - data_start != t->offset) { /* cannot happen; be safe */
            rc = cm_err_set(err, "tensor %s: internal offset mismatch", t->name);
            break;
        }
        if (out_put(o, src, (size_t)t->nbytes, err) != 0 || out_pad(o, w->alignment, err) != 0)
            rc = -1;
    }
    free(buf);
    return rc;
}

/* Make the rename durable: fsync the directory holding path (best effort:
 * the file itself is already synced). */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int gguf_writer_write(gguf_writer *w, const char *path, cm_err *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return cm_err_set(err, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cm_err_errno(err, "%s: cannot create temporary file", path);
        free(tmp);
        return -1;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes it 0600; best effort */
    wout o = {fdopen(fd, "wb"), path, 0};
    if (o.fp == NULL) {
        cm_err_errno(err, "%s: fdopen", path);
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    setvbuf(o.fp, NULL, _IOFBF, 1 << 20);
    int rc = write_all(w, &o, err);
    if (rc == 0 && fflush(o.fp) != 0)
        rc = cm_err_errno(err, "%s: write failed", path);
    if (rc == 0 && fsync(fileno(o.fp)) != 0)
        rc = cm_err_errno(err, "%s: fsync failed", path);
    if (fclose(o.fp) != 0 && rc == 0)
        rc = cm_err_errno(err, "%s: close failed", path);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cm_err_errno(err, "%s: cannot rename temporary file into place", path);
    if (rc != 0)
        unlink(tmp);
    else
        sync_parent_dir(path);
    free(tmp);
    return rc;
}
