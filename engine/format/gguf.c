/*
 * engine/format/gguf.c -- the GGUF reader: maps a file (or takes a buffer),
 * parses and validates the header, metadata and tensor descriptions once,
 * and then serves them through the accessors of gguf.h.
 *
 * Every read goes through a bounds-checked cursor and every size is
 * computed with overflow-checked arithmetic, so a corrupt or hostile file
 * yields an error message, never an out-of-bounds read. String arrays get
 * an offset index at open time (O(1) element access); keys and tensor
 * names get a hash index (O(1) lookup, and duplicates are rejected).
 */
#include "engine/format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checked.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

struct gguf_array {
    gguf_value_type type; /* element type */
    uint64_t count;
    const uint8_t *data;    /* first element */
    uint64_t *offs;         /* STRING: offset of element j from data */
    struct gguf_array *sub; /* ARRAY: the inner arrays */
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value_type type;
    const uint8_t *value; /* fixed-size scalar: the raw value */
    gguf_str str;         /* STRING */
    gguf_array arr;       /* ARRAY */
} gguf_kv;

/* Open-addressing hash index of names (keys or tensor names). */
typedef struct name_index {
    int64_t *slots; /* -1: empty; else an index into the kv / tensor array */
    uint64_t mask;
} name_index;

struct gguf_file {
    const uint8_t *base;
    uint64_t size;
    void *map; /* non-NULL when we own an mmap of map_len bytes */
    size_t map_len;
    char *name;

    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;

    int64_t n_kv;
    gguf_kv *kv;
    name_index kv_index;

    int64_t n_tensors;
    gguf_tensor *tensors;
    name_index tensor_index;
};

/* ------------------------------------------------------------------------
 * Small helpers
 */

/* A printable, truncated copy of a name from the file, for messages. */
typedef struct shown {
    char s[80];
} shown;

static shown show(gguf_str str)
{
    shown out;
    size_t o = 0;
    uint64_t n = str.len;
    bool cut = false;
    if (n > 64) {
        n = 64;
        cut = true;
    }
    for (uint64_t i = 0; i < n && o < sizeof(out.s) - 4; i++) {
        unsigned char c = (unsigned char)str.ptr[i];
        out.s[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut) {
        out.s[o++] = '.';
        out.s[o++] = '.';
        out.s[o++] = '.';
    }
    out.s[o] = '\0';
    return out;
}

static uint64_t hash_bytes(const char *p, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool str_eq_bytes(gguf_str s, const char *p, uint64_t n)
{
    return s.len == n && (n == 0 || memcmp(s.ptr, p, n) == 0);
}

static int index_init(name_index *ix, int64_t n, cm_err *err)
{
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2)
        cap *= 2;
    ix->slots = malloc(cap * sizeof(*ix->slots));
    if (ix->slots == NULL)
        return cm_err_set(err, "out of memory indexing %" PRId64 " names", n);
    for (uint64_t i = 0; i < cap; i++)
        ix->slots[i] = -1;
    ix->mask = cap - 1;
    return 0;
}

/* Find `name` in the index; names[i] gives the name of entry i. Returns the
 * entry or -1; *slot_out receives the slot where it is or would go. */
static int64_t index_find(const name_index *ix, const void *entries, size_t stride, size_t name_off,
                          const char *p, uint64_t n, uint64_t *slot_out)
{
    if (ix->slots == NULL)
        return -1;
    uint64_t slot = hash_bytes(p, n) & ix->mask;
    for (;;) {
        int64_t e = ix->slots[slot];
        if (e < 0) {
            if (slot_out != NULL)
                *slot_out = slot;
            return -1;
        }
        const gguf_str *name =
            (const gguf_str *)((const char *)entries + (size_t)e * stride + name_off);
        if (str_eq_bytes(*name, p, n)) {
            if (slot_out != NULL)
                *slot_out = slot;
            return e;
        }
        slot = (slot + 1) & ix->mask;
    }
}

/* ------------------------------------------------------------------------
 * The bounds-checked cursor
 */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
} cursor;

static uint64_t cur_left(const cursor *c)
{
    return c->size - c->pos;
}

static bool cur_u32(cursor *c, uint32_t *out)
{
    if (cur_left(c) < 4)
        return false;
    memcpy(out, c->base + c->pos, 4);
    c->pos += 4;
    return true;
}

static bool cur_u64(cursor *c, uint64_t *out)
{
    if (cur_left(c) < 8)
        return false;
    memcpy(out, c->base + c->pos, 8);
    c->pos += 8;
    return true;
}

static bool cur_skip(cursor *c, uint64_t n)
{
    if (cur_left(c) < n)
        return false;
    c->pos += n;
    return true;
}

/* A string: u64 length, then the bytes. On failure out->len holds the
 * length read (if any), for the message, and out->ptr is NULL. */
static bool cur_str(cursor *c, gguf_str *out)
{
    uint64_t len;
    out->ptr = NULL;
    out->len = 0;
    if (!cur_u64(c, &len))
        return false;
    out->len = len;
    if (cur_left(c) < len)
        return false;
    out->ptr = (const char *)(c->base + c->pos);
    c->pos += len;
    return true;
}

/* ------------------------------------------------------------------------
 * Value types
 */

size_t gguf_type_size(gguf_value_type t)
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

const char *gguf_type_name(gguf_value_type t)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        [GGUF_TYPE_UINT8] = "u8",    [GGUF_TYPE_INT8] = "i8",    [GGUF_TYPE_UINT16] = "u16",
        [GGUF_TYPE_INT16] = "i16",   [GGUF_TYPE_UINT32] = "u32", [GGUF_TYPE_INT32] = "i32",
        [GGUF_TYPE_FLOAT32] = "f32", [GGUF_TYPE_BOOL] = "bool",  [GGUF_TYPE_STRING] = "str",
        [GGUF_TYPE_ARRAY] = "arr",   [GGUF_TYPE_UINT64] = "u64", [GGUF_TYPE_INT64] = "i64",
        [GGUF_TYPE_FLOAT64] = "f64",
    };
    if ((unsigned)t >= GGUF_TYPE_COUNT)
        return "unknown";
    return names[t];
}

/* Widen the raw integer value at p (of type t) to int64. */
static bool raw_int(gguf_value_type t, const uint8_t *p, int64_t *out)
{
    switch (t) {
    case GGUF_TYPE_UINT8: {
        uint8_t v;
        memcpy(&v, p, 1);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT8: {
        int8_t v;
        memcpy(&v, p, 1);
        *out = v;
        return true;
    }
    case GGUF_TYPE_BOOL:
        *out = p[0] != 0;
        return true;
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > INT64_MAX)
            return false;
        *out = (int64_t)v;
        return true;
    }
    case GGUF_TYPE_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        *out = v;
        return true;
    }
    default:
        return false;
    }
}

/* ------------------------------------------------------------------------
 * Parsing
 */

static void array_free(gguf_array *a)
{
    if (a->sub != NULL) {
        for (uint64_t j = 0; j < a->count; j++)
            array_free(&a->sub[j]);
        free(a->sub);
    }
    free(a->offs);
    a->sub = NULL;
    a->offs = NULL;
}

/* Parse an array value (element type, count, elements) at the cursor.
 * `key` names the key for messages. */
static int parse_array(cursor *c, gguf_array *a, unsigned depth, const char *key, cm_err *err)
{
    uint64_t at = c->pos;
    uint32_t type;
    uint64_t count;

    if (!cur_u32(c, &type) || !cur_u64(c, &count))
        return cm_err_set(err, "key '%s': array header truncated at offset %" PRIu64, key, at);
    if (type >= GGUF_TYPE_COUNT)
        return cm_err_set(err,
                          "key '%s': unknown array element type %" PRIu32 " at offset %" PRIu64,
                          key, type, at);
    a->type = (gguf_value_type)type;
    a->data = c->base + c->pos;

    size_t esize = gguf_type_size(a->type);
    if (esize != 0) {
        uint64_t bytes;
        if (!cm_mul_u64(count, esize, &bytes) || bytes > cur_left(c))
            return cm_err_set(err,
                              "key '%s': array of %" PRIu64 " %s at offset %" PRIu64
                              " runs past end of file",
                              key, count, gguf_type_name(a->type), at);
        c->pos += bytes;
        a->count = count;
        return 0;
    }

    if (a->type == GGUF_TYPE_STRING) {
        /* Each string takes at least its 8-byte length. */
        if (count > cur_left(c) / 8)
            return cm_err_set(err,
                              "key '%s': array of %" PRIu64 " strings at offset %" PRIu64
                              " runs past end of file",
                              key, count, at);
        if (count > 0) {
            a->offs = malloc(count * sizeof(*a->offs));
            if (a->offs == NULL)
                return cm_err_set(err, "key '%s': out of memory indexing %" PRIu64 " strings", key,
                                  count);
        }
        uint64_t start = c->pos;
        for (uint64_t j = 0; j < count; j++) {
            uint64_t spos = c->pos;
            gguf_str s;
            a->offs[j] = spos - start;
            if (!cur_str(c, &s)) {
                a->count = j; /* what is filled so far */
                return cm_err_set(err,
                                  "key '%s': string %" PRIu64 " (length %" PRIu64
                                  ") at offset %" PRIu64 " runs past end of file",
                                  key, j, s.len, spos);
            }
        }
        a->count = count;
        return 0;
    }

    if (a->type == GGUF_TYPE_ARRAY) {
        if (depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
            return cm_err_set(err, "key '%s': arrays nested deeper than %d at offset %" PRIu64, key,
                              GGUF_MAX_ARRAY_DEPTH, at);
        /* Each inner array takes at least 12 bytes (type and count). */
        if (count > cur_left(c) / 12)
            return cm_err_set(err,
                              "key '%s': array of %" PRIu64 " arrays at offset %" PRIu64
                              " runs past end of file",
                              key, count, at);
        if (count > 0) {
            a->sub = calloc(count, sizeof(*a->sub));
            if (a->sub == NULL)
                return cm_err_set(err, "key '%s': out of memory for %" PRIu64 " arrays", key,
                                  count);
        }
        for (uint64_t j = 0; j < count; j++) {
            a->count = j + 1; /* so array_free() frees what was parsed */
            if (parse_array(c, &a->sub[j], depth + 1, key, err) != 0)
                return -1;
        }
        a->count = count;
        return 0;
    }
    return cm_err_set(err, "key '%s': unknown array element type %" PRIu32, key, type);
}

static int parse_kv(cursor *c, gguf_file *f, int64_t i, cm_err *err)
{
    gguf_kv *kv = &f->kv[i];
    uint64_t at = c->pos;

    if (!cur_str(c, &kv->key))
        return cm_err_set(err,
                          "metadata key %" PRId64 " at offset %" PRIu64 ": name (length %" PRIu64
                          ") runs past end of file",
                          i, at, kv->key.len);
    if (kv->key.len == 0)
        return cm_err_set(err, "metadata key %" PRId64 " at offset %" PRIu64 ": empty name", i, at);
    shown nm = show(kv->key);
    const char *name = nm.s;

    uint64_t slot;
    int64_t dup = index_find(&f->kv_index, f->kv, sizeof(gguf_kv), offsetof(gguf_kv, key),
                             kv->key.ptr, kv->key.len, &slot);
    if (dup >= 0)
        return cm_err_set(err, "key '%s': duplicate (keys %" PRId64 " and %" PRId64 ")", name, dup,
                          i);
    f->kv_index.slots[slot] = i;

    uint32_t type;
    uint64_t tpos = c->pos;
    if (!cur_u32(c, &type))
        return cm_err_set(err, "key '%s': value type truncated at offset %" PRIu64, name, tpos);
    if (type >= GGUF_TYPE_COUNT)
        return cm_err_set(err, "key '%s': unknown value type %" PRIu32 " at offset %" PRIu64, name,
                          type, tpos);
    kv->type = (gguf_value_type)type;

    uint64_t vpos = c->pos;
    if (kv->type == GGUF_TYPE_STRING) {
        if (!cur_str(c, &kv->str))
            return cm_err_set(err,
                              "key '%s': string value (length %" PRIu64 ") at offset %" PRIu64
                              " runs past end of file",
                              name, kv->str.len, vpos);
        return 0;
    }
    if (kv->type == GGUF_TYPE_ARRAY)
        return parse_array(c, &kv->arr, 0, name, err);

    size_t size = gguf_type_size(kv->type);
    kv->value = c->base + c->pos;
    if (!cur_skip(c, size))
        return cm_err_set(err, "key '%s': %s value at offset %" PRIu64 " runs past end of file",
                          name, gguf_type_name(kv->type), vpos);
    return 0;
}

static int parse_alignment(gguf_file *f, cm_err *err)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(f, "general.alignment");
    if (i < 0)
        return 0;
    const gguf_kv *kv = &f->kv[i];
    if (kv->type != GGUF_TYPE_UINT32)
        return cm_err_set(err, "key 'general.alignment': must be of type u32, not %s",
                          gguf_type_name(kv->type));
    uint32_t a;
    memcpy(&a, kv->value, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return cm_err_set(err,
                          "key 'general.alignment': %" PRIu32 " is not a non-zero power of two", a);
    f->alignment = a;
    return 0;
}

static int parse_tensor_info(cursor *c, gguf_file *f, int64_t i, cm_err *err)
{
    gguf_tensor *t = &f->tensors[i];
    uint64_t at = c->pos;

    if (!cur_str(c, &t->name)) {
        t->name.len = 0;
        return cm_err_set(
            err, "tensor %" PRId64 " at offset %" PRIu64 ": name runs past end of file", i, at);
    }
    shown nm = show(t->name);
    const char *name = nm.s;

    uint64_t slot;
    int64_t dup = index_find(&f->tensor_index, f->tensors, sizeof(gguf_tensor),
                             offsetof(gguf_tensor, name), t->name.ptr, t->name.len, &slot);
    if (dup >= 0)
        return cm_err_set(err, "tensor %s: duplicate name (tensors %" PRId64 " and %" PRId64 ")",
                          name, dup, i);
    f->tensor_index.slots[slot] = i;

    if (!cur_u32(c, &t->n_dims))
        return cm_err_set(err, "tensor %s: truncated at offset %" PRIu64, name, c->pos);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return cm_err_set(err, "tensor %s: %" PRIu32 " dimensions (must be 1 to %d)", name,
                          t->n_dims, GGUF_MAX_DIMS);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        if (!cur_u64(c, &t->ne[d]))
            return cm_err_set(err, "tensor %s: truncated at offset %" PRIu64, name, c->pos);
        if (t->ne[d] == 0 || t->ne[d] > INT64_MAX)
            return cm_err_set(
                err, "tensor %s: dimension %" PRIu32 " is %" PRIu64 " (must be 1 to 2^63-1)", name,
                d, t->ne[d]);
        if (!cm_mul_u64(nelem, t->ne[d], &nelem) || nelem > INT64_MAX)
            return cm_err_set(err, "tensor %s: element count overflows", name);
    }

    uint32_t type;
    if (!cur_u32(c, &type))
        return cm_err_set(err, "tensor %s: truncated at offset %" PRIu64, name, c->pos);
    if (!gm_type_known(type))
        return cm_err_set(err, "tensor %s: unknown tensor type %" PRIu32, name, type);
    t->type = (gm_type)type;

    uint64_t row;
    if (!gm_type_row_bytes(t->type, t->ne[0], &row))
        return cm_err_set(err,
                          "tensor %s: row of %" PRIu64 " elements is not a multiple of the %s "
                          "block size (%" PRIu32 ")",
                          name, t->ne[0], gm_type_name(t->type), gm_type_block_elems(t->type));
    t->nbytes = row;
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++)
        if (!cm_mul_u64(t->nbytes, t->ne[d], &t->nbytes))
            return cm_err_set(err, "tensor %s: size in bytes overflows", name);

    if (!cur_u64(c, &t->offset))
        return cm_err_set(err, "tensor %s: truncated at offset %" PRIu64, name, c->pos);
    return 0;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a;
    const gguf_tensor *y = *(const gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Locate every tensor's data and check it is aligned, inside the file and
 * not overlapping another tensor. */
static int place_tensors(gguf_file *f, cm_err *err)
{
    uint64_t avail = f->size - f->data_offset;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        shown nm = show(t->name);
        if (t->offset % f->alignment != 0)
            return cm_err_set(err,
                              "tensor %s: offset %" PRIu64
                              " is not a multiple of the alignment (%" PRIu64 ")",
                              nm.s, t->offset, f->alignment);
        uint64_t end;
        if (!cm_add_u64(t->offset, t->nbytes, &end) || end > avail)
            return cm_err_set(err,
                              "tensor %s: data ends past end of file (offset %" PRIu64
                              ", size %" PRIu64 ", data section %" PRIu64 " bytes)",
                              nm.s, t->offset, t->nbytes, avail);
        t->data = f->base + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2)
        return 0;

    const gguf_tensor **order = malloc((size_t)f->n_tensors * sizeof(*order));
    if (order == NULL)
        return cm_err_set(err, "out of memory sorting %" PRId64 " tensors", f->n_tensors);
    for (int64_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof(*order), cmp_by_offset);
    int rc = 0;
    for (int64_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->nbytes > b->offset) {
            shown na = show(a->name), nb = show(b->name);
            rc = cm_err_set(err,
                            "tensor %s: data (offset %" PRIu64 ", size %" PRIu64
                            ") overlaps tensor %s (offset %" PRIu64 ")",
                            nb.s, b->offset, b->nbytes, na.s, a->offset);
            break;
        }
    }
    free(order);
    return rc;
}

static int parse(gguf_file *f, cm_err *err)
{
    cursor c = {f->base, f->size, 0};
    uint32_t magic;
    uint64_t n_tensors, n_kv;

    if (!cur_u32(&c, &magic))
        return cm_err_set(err, "not a GGUF file (%" PRIu64 " bytes, too short for a header)",
                          f->size);
    if (magic != GGUF_MAGIC)
        return cm_err_set(err, "not a GGUF file (magic 0x%08" PRIx32 ", expected \"GGUF\")", magic);
    if (!cur_u32(&c, &f->version))
        return cm_err_set(err, "header truncated at offset %" PRIu64, c.pos);
    if (f->version != 2 && f->version != 3)
        return cm_err_set(err, "unsupported GGUF version %" PRIu32 " (supported: 2 and 3)",
                          f->version);
    if (!cur_u64(&c, &n_tensors) || !cur_u64(&c, &n_kv))
        return cm_err_set(err, "header truncated at offset %" PRIu64, c.pos);

    /* Each key takes at least 8 (name length) + 1 + 4 (type) + 1 bytes, each
     * tensor description at least 8 + 4 + 8 + 4 + 8. */
    if (n_kv > cur_left(&c) / 14)
        return cm_err_set(err,
                          "header: %" PRIu64 " metadata keys cannot fit in a %" PRIu64 "-byte file",
                          n_kv, f->size);
    if (n_tensors > cur_left(&c) / 32)
        return cm_err_set(err, "header: %" PRIu64 " tensors cannot fit in a %" PRIu64 "-byte file",
                          n_tensors, f->size);

    f->n_kv = (int64_t)n_kv;
    f->kv = calloc(n_kv > 0 ? n_kv : 1, sizeof(*f->kv));
    if (f->kv == NULL || index_init(&f->kv_index, f->n_kv, err) != 0)
        return cm_err_set(err, "out of memory for %" PRIu64 " metadata keys", n_kv);
    for (int64_t i = 0; i < f->n_kv; i++)
        if (parse_kv(&c, f, i, err) != 0)
            return -1;
    if (parse_alignment(f, err) != 0)
        return -1;

    f->n_tensors = (int64_t)n_tensors;
    f->tensors = calloc(n_tensors > 0 ? n_tensors : 1, sizeof(*f->tensors));
    if (f->tensors == NULL || index_init(&f->tensor_index, f->n_tensors, err) != 0)
        return cm_err_set(err, "out of memory for %" PRIu64 " tensors", n_tensors);
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (parse_tensor_info(&c, f, i, err) != 0)
            return -1;

    /* The data section starts at the next multiple of the alignment; as in
     * llama.cpp, without tensors there is nothing to pad for and it starts
     * right after the metadata. */
    uint64_t data_offset = c.pos;
    if (f->n_tensors > 0) {
        if (!cm_align_up_u64(c.pos, f->alignment, &data_offset))
            return cm_err_set(err, "data section offset overflows");
        if (data_offset > f->size)
            return cm_err_set(err,
                              "data section starts past end of file (offset %" PRIu64
                              ", file %" PRIu64 " bytes)",
                              data_offset, f->size);
    }
    f->data_offset = data_offset;
    return place_tensors(f, err);
}

/* ------------------------------------------------------------------------
 * Opening and closing
 */

static int open_common(gguf_file *f, const char *name, gguf_file **out, cm_err *err)
{
    f->name = strdup(name);
    if (f->name == NULL) {
        gguf_close(f);
        return cm_err_set(err, "%s: out of memory", name);
    }
    if (parse(f, err) != 0) {
        cm_err_prefix(err, "%s", name);
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, gguf_file **out, cm_err *err)
{
    *out = NULL;
    gguf_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return cm_err_set(err, "out of memory");
    f->base = data;
    f->size = size;
    if (data == NULL)
        f->size = 0;
    return open_common(f, "<memory>", out, err);
}

int gguf_open_fd(int fd, const char *display_name, gguf_file **out, cm_err *err)
{
    *out = NULL;
    const char *name = display_name != NULL ? display_name : "<fd>";
    int dfd = dup(fd);
    if (dfd < 0)
        return cm_err_errno(err, "%s: dup", name);
    struct stat st;
    if (fstat(dfd, &st) != 0) {
        cm_err_errno(err, "%s: stat", name);
        close(dfd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(dfd);
        return cm_err_set(err, "%s: not a regular file", name);
    }
    if (st.st_size <= 0) {
        close(dfd);
        return cm_err_set(err, "%s: not a GGUF file (empty)", name);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(dfd);
        return cm_err_set(err, "%s: too large to map", name);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, dfd, 0);
    int saved = errno;
    close(dfd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        errno = saved;
        return cm_err_errno(err, "%s: mmap", name);
    }
    gguf_file *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        munmap(map, len);
        return cm_err_set(err, "%s: out of memory", name);
    }
    f->map = map;
    f->map_len = len;
    f->base = map;
    f->size = len;
    return open_common(f, name, out, err);
}

int gguf_open(const char *path, gguf_file **out, cm_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cm_err_errno(err, "%s: cannot open", path);
    int rc = gguf_open_fd(fd, path, out, err);
    close(fd);
    return rc;
}

void gguf_close(gguf_file *f)
{
    if (f == NULL)
        return;
    if (f->kv != NULL) {
        for (int64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].type == GGUF_TYPE_ARRAY)
                array_free(&f->kv[i].arr);
        free(f->kv);
    }
    free(f->kv_index.slots);
    free(f->tensors);
    free(f->tensor_index.slots);
    if (f->map != NULL)
        munmap(f->map, f->map_len);
    free(f->name);
    free(f);
}

/* ------------------------------------------------------------------------
 * Accessors
 */

uint32_t gguf_version(const gguf_file *f)
{
    return f->version;
}
uint64_t gguf_alignment(const gguf_file *f)
{
    return f->alignment;
}
uint64_t gguf_file_size(const gguf_file *f)
{
    return f->size;
}
uint64_t gguf_data_offset(const gguf_file *f)
{
    return f->data_offset;
}
const char *gguf_display_name(const gguf_file *f)
{
    return f->name;
}
int64_t gguf_n_kv(const gguf_file *f)
{
    return f->n_kv;
}
int64_t gguf_n_tensors(const gguf_file *f)
{
    return f->n_tensors;
}

static const gguf_kv *kv_at(const gguf_file *f, int64_t i)
{
    if (f == NULL || i < 0 || i >= f->n_kv)
        return NULL;
    return &f->kv[i];
}

int64_t gguf_find_key(const gguf_file *f, const char *key)
{
    if (f == NULL || key == NULL)
        return -1;
    return index_find(&f->kv_index, f->kv, sizeof(gguf_kv), offsetof(gguf_kv, key), key,
                      strlen(key), NULL);
}

gguf_str gguf_key_name(const gguf_file *f, int64_t i)
{
    const gguf_kv *kv = kv_at(f, i);
    gguf_str none = {NULL, 0};
    return kv != NULL ? kv->key : none;
}

gguf_value_type gguf_kv_type(const gguf_file *f, int64_t i)
{
    const gguf_kv *kv = kv_at(f, i);
    return kv != NULL ? kv->type : GGUF_TYPE_COUNT;
}

/* The key, checked to exist and have type t. */
static const gguf_kv *typed_kv(const gguf_file *f, const char *key, gguf_value_type t, cm_err *err)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0) {
        cm_err_set(err, "key '%s': not found", key);
        return NULL;
    }
    const gguf_kv *kv = &f->kv[i];
    if (kv->type != t) {
        cm_err_set(err, "key '%s': has type %s, expected %s", key, gguf_type_name(kv->type),
                   gguf_type_name(t));
        return NULL;
    }
    return kv;
}

static int get_fixed(const gguf_file *f, const char *key, gguf_value_type t, void *out, cm_err *err)
{
    const gguf_kv *kv = typed_kv(f, key, t, err);
    if (kv == NULL)
        return -1;
    memcpy(out, kv->value, gguf_type_size(t));
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, cm_err *err)
{
    return get_fixed(f, key, GGUF_TYPE_UINT32, out, err);
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, cm_err *err)
{
    return get_fixed(f, key, GGUF_TYPE_INT32, out, err);
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, cm_err *err)
{
    return get_fixed(f, key, GGUF_TYPE_FLOAT32, out, err);
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, cm_err *err)
{
    return get_fixed(f, key, GGUF_TYPE_UINT64, out, err);
}

int gguf_get_f64(const gguf_file *f, const char *key, double *out, cm_err *err)
{
    return get_fixed(f, key, GGUF_TYPE_FLOAT64, out, err);
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, cm_err *err)
{
    const gguf_kv *kv = typed_kv(f, key, GGUF_TYPE_BOOL, err);
    if (kv == NULL)
        return -1;
    *out = kv->value[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, cm_err *err)
{
    const gguf_kv *kv = typed_kv(f, key, GGUF_TYPE_STRING, err);
    if (kv == NULL)
        return -1;
    *out = kv->str;
    return 0;
}

int gguf_get_int(const gguf_file *f, const char *key, int64_t *out, cm_err *err)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return cm_err_set(err, "key '%s': not found", key);
    const gguf_kv *kv = &f->kv[i];
    if (gguf_type_size(kv->type) == 0 || kv->type == GGUF_TYPE_FLOAT32 ||
        kv->type == GGUF_TYPE_FLOAT64)
        return cm_err_set(err, "key '%s': has type %s, expected an integer", key,
                          gguf_type_name(kv->type));
    if (!raw_int(kv->type, kv->value, out))
        return cm_err_set(err, "key '%s': value does not fit in int64", key);
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_value_type *elem_type, uint64_t *count,
                 int64_t *index, cm_err *err)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0)
        return cm_err_set(err, "key '%s': not found", key);
    const gguf_kv *kv = &f->kv[i];
    if (kv->type != GGUF_TYPE_ARRAY)
        return cm_err_set(err, "key '%s': has type %s, expected an array", key,
                          gguf_type_name(kv->type));
    if (elem_type != NULL)
        *elem_type = kv->arr.type;
    if (count != NULL)
        *count = kv->arr.count;
    if (index != NULL)
        *index = i;
    return 0;
}

int gguf_kv_scalar(const gguf_file *f, int64_t i, gguf_value_type *type, const void **value)
{
    const gguf_kv *kv = kv_at(f, i);
    if (kv == NULL || kv->type == GGUF_TYPE_ARRAY)
        return -1;
    *type = kv->type;
    *value = kv->type == GGUF_TYPE_STRING ? (const void *)&kv->str : (const void *)kv->value;
    return 0;
}

/* --- arrays --- */

const gguf_array *gguf_kv_array(const gguf_file *f, int64_t i)
{
    const gguf_kv *kv = kv_at(f, i);
    if (kv == NULL || kv->type != GGUF_TYPE_ARRAY)
        return NULL;
    return &kv->arr;
}

gguf_value_type gguf_array_type(const gguf_array *a)
{
    return a->type;
}
uint64_t gguf_array_count(const gguf_array *a)
{
    return a->count;
}

const void *gguf_array_data(const gguf_array *a)
{
    if (a == NULL || gguf_type_size(a->type) == 0)
        return NULL;
    return a->data;
}

gguf_str gguf_array_str(const gguf_array *a, uint64_t j)
{
    gguf_str s = {NULL, 0};
    if (a == NULL || a->type != GGUF_TYPE_STRING || j >= a->count)
        return s;
    const uint8_t *p = a->data + a->offs[j];
    memcpy(&s.len, p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

const gguf_array *gguf_array_sub(const gguf_array *a, uint64_t j)
{
    if (a == NULL || a->type != GGUF_TYPE_ARRAY || j >= a->count)
        return NULL;
    return &a->sub[j];
}

int gguf_array_int(const gguf_array *a, uint64_t j, int64_t *out)
{
    size_t es;
    if (a == NULL || j >= a->count || a->type == GGUF_TYPE_FLOAT32 ||
        a->type == GGUF_TYPE_FLOAT64 || (es = gguf_type_size(a->type)) == 0)
        return -1;
    return raw_int(a->type, a->data + j * es, out) ? 0 : -1;
}

int gguf_array_float(const gguf_array *a, uint64_t j, double *out)
{
    if (a == NULL || j >= a->count)
        return -1;
    if (a->type == GGUF_TYPE_FLOAT32) {
        float v;
        memcpy(&v, a->data + j * 4, 4);
        *out = v;
        return 0;
    }
    if (a->type == GGUF_TYPE_FLOAT64) {
        memcpy(out, a->data + j * 8, 8);
        return 0;
    }
    return -1;
}

int gguf_arr_info(const gguf_file *f, int64_t i, gguf_value_type *elem_type, uint64_t *count)
{
    const gguf_array *a = gguf_kv_array(f, i);
    if (a == NULL)
        return -1;
    *elem_type = a->type;
    *count = a->count;
    return 0;
}

const void *gguf_arr_data(const gguf_file *f, int64_t i)
{
    return gguf_array_data(gguf_kv_array(f, i));
}

gguf_str gguf_arr_str(const gguf_file *f, int64_t i, uint64_t j)
{
    return gguf_array_str(gguf_kv_array(f, i), j);
}

int gguf_arr_nested(const gguf_file *f, int64_t i, uint64_t j, gguf_value_type *elem_type,
                    uint64_t *count)
{
    const gguf_array *a = gguf_array_sub(gguf_kv_array(f, i), j);
    if (a == NULL)
        return -1;
    *elem_type = a->type;
    *count = a->count;
    return 0;
}

int gguf_arr_int(const gguf_file *f, int64_t i, uint64_t j, int64_t *out)
{
    return gguf_array_int(gguf_kv_array(f, i), j, out);
}

int gguf_arr_f32(const gguf_file *f, int64_t i, uint64_t j, float *out)
{
    const gguf_array *a = gguf_kv_array(f, i);
    if (a == NULL || a->type != GGUF_TYPE_FLOAT32 || j >= a->count)
        return -1;
    memcpy(out, a->data + j * 4, 4);
    return 0;
}

/* --- tensors --- */

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i)
{
    if (f == NULL || i < 0 || i >= f->n_tensors)
        return NULL;
    return &f->tensors[i];
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    if (f == NULL || name == NULL)
        return NULL;
    int64_t i = index_find(&f->tensor_index, f->tensors, sizeof(gguf_tensor),
                           offsetof(gguf_tensor, name), name, strlen(name), NULL);
    return i >= 0 ? &f->tensors[i] : NULL;
}

int gguf_get_tensor(const gguf_file *f, const char *name, const gguf_tensor **out, cm_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (t == NULL)
        return cm_err_set(err, "tensor %s: not found in %s", name ? name : "(null)",
                          f != NULL ? f->name : "(no file)");
    *out = t;
    return 0;
}

/* --- strings --- */

bool gguf_str_eq(gguf_str s, const char *c)
{
    return c != NULL && str_eq_bytes(s, c, strlen(c));
}

char *gguf_str_dup(gguf_str s)
{
    if (s.len >= SIZE_MAX)
        return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (p == NULL)
        return NULL;
    if (s.len > 0)
        memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = '\0';
    return p;
}

void gguf_release_range(gguf_file *f, const void *p, size_t len)
{
    if (f == NULL || f->map == NULL || p == NULL || len == 0)
        return;
    const uintptr_t map = (uintptr_t)f->map, start = (uintptr_t)p;
    if (start < map || start - map > f->map_len || len > f->map_len - (start - map))
        return;
    const long page_l = sysconf(_SC_PAGESIZE);
    const uintptr_t page = page_l > 0 ? (uintptr_t)page_l : 4096;
    const uintptr_t first = (start + page - 1) / page * page;
    const uintptr_t last = (start + len) / page * page;
    if (last > first)
        (void)madvise((void *)first, last - first, MADV_DONTNEED); /* advice: failure is harmless */
}
