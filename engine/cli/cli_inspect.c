/*
 * engine/cli/cli_inspect.c -- 'gemma-run inspect FILE.gguf': prints a GGUF
 * file's header (version, alignment, data offset), its metadata (long
 * arrays summarised: element type, count, first elements), a table of its
 * tensors (name, type, shape, bytes, offset) and totals (parameters,
 * tensor bytes, tensors per type). A file that does not validate is an
 * error: the reader's message on stderr and exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/format/gguf.h"

#define INSPECT_DEFAULT_ELEMS 8
#define INSPECT_MAX_STR 64 /* longer strings are cut, with their length shown */

typedef struct inspect_opts {
    uint64_t max_elems;
    bool no_tensors;
} inspect_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run inspect [OPTIONS] FILE.gguf\n"
            "\n"
            "Print a GGUF file's version, alignment, metadata, tensors and totals.\n"
            "\n"
            "options:\n"
            "  --elems N      array elements shown per key (default %d; 0: count only)\n"
            "  --all          show every array element and whole strings\n"
            "  --no-tensors   leave out the tensor table (totals are still printed)\n"
            "  -h, --help     this text\n"
            "\n"
            "Exit status: 0 the file is valid, 1 it is not (the reason is printed),\n"
            "2 usage error.\n",
            INSPECT_DEFAULT_ELEMS);
}

/* A string, quoted, with non-printable bytes escaped; cut after `max`
 * bytes (0: never). */
static void print_str(gguf_str s, uint64_t max)
{
    uint64_t n = s.len;
    if (max != 0 && n > max) {
        n = max;
        /* cut at a character boundary, not inside a UTF-8 sequence */
        while (n > 0 && ((unsigned char)s.ptr[n] & 0xc0) == 0x80)
            n--;
    }
    putchar('"');
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c); /* UTF-8 passes through */
    }
    putchar('"');
    if (n < s.len)
        printf("... (%" PRIu64 " bytes)", s.len);
}

/* A fixed-size value at p (unaligned). */
static void print_fixed(gguf_value_type t, const void *p)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
    memcpy(&v, p, gguf_type_size(t));
    switch (t) {
    case GGUF_TYPE_UINT8:
        printf("%" PRIu8, v.u8);
        break;
    case GGUF_TYPE_INT8:
        printf("%" PRId8, v.i8);
        break;
    case GGUF_TYPE_UINT16:
        printf("%" PRIu16, v.u16);
        break;
    case GGUF_TYPE_INT16:
        printf("%" PRId16, v.i16);
        break;
    case GGUF_TYPE_UINT32:
        printf("%" PRIu32, v.u32);
        break;
    case GGUF_TYPE_INT32:
        printf("%" PRId32, v.i32);
        break;
    case GGUF_TYPE_FLOAT32:
        printf("%g", (double)v.f32);
        break;
    case GGUF_TYPE_BOOL:
        fputs(v.u8 ? "true" : "false", stdout);
        break;
    case GGUF_TYPE_UINT64:
        printf("%" PRIu64, v.u64);
        break;
    case GGUF_TYPE_INT64:
        printf("%" PRId64, v.i64);
        break;
    case GGUF_TYPE_FLOAT64:
        printf("%.17g", v.f64);
        break;
    default:
        fputs("?", stdout);
        break;
    }
}

static void print_array(const gguf_array *a, const inspect_opts *o, unsigned depth)
{
    gguf_value_type t = gguf_array_type(a);
    uint64_t n = gguf_array_count(a);
    uint64_t shown = o->max_elems == 0 ? 0 : (n < o->max_elems ? n : o->max_elems);
    printf("arr[%s,%" PRIu64 "]", gguf_type_name(t), n);
    if (shown == 0 && n > 0)
        return;
    fputs(" [", stdout);
    for (uint64_t j = 0; j < shown; j++) {
        if (j > 0)
            fputs(", ", stdout);
        if (t == GGUF_TYPE_STRING) {
            print_str(gguf_array_str(a, j), o->max_elems == UINT64_MAX ? 0 : INSPECT_MAX_STR);
        } else if (t == GGUF_TYPE_ARRAY) {
            const gguf_array *sub = gguf_array_sub(a, j);
            if (depth + 1 < 3)
                print_array(sub, o, depth + 1);
            else
                printf("arr[%s,%" PRIu64 "]", gguf_type_name(gguf_array_type(sub)),
                       gguf_array_count(sub));
        } else {
            print_fixed(t, (const uint8_t *)gguf_array_data(a) + j * gguf_type_size(t));
        }
    }
    if (shown < n)
        printf(", ... %" PRIu64 " more", n - shown);
    putchar(']');
}

static void print_metadata(const gguf_file *f, const inspect_opts *o)
{
    int64_t n = gguf_n_kv(f);
    int width = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t len = gguf_key_name(f, i).len;
        if (len > (uint64_t)width && len <= 60)
            width = (int)len;
    }
    printf("metadata: %" PRId64 " keys\n", n);
    for (int64_t i = 0; i < n; i++) {
        gguf_str key = gguf_key_name(f, i);
        gguf_value_type t = gguf_kv_type(f, i);
        fputs("  ", stdout);
        print_str(key, 0);
        /* pad the quoted name to the column */
        for (uint64_t k = key.len; k < (uint64_t)width; k++)
            putchar(' ');
        fputs(" = ", stdout);
        if (t == GGUF_TYPE_ARRAY) {
            print_array(gguf_kv_array(f, i), o, 0);
        } else {
            const void *v;
            gguf_value_type vt;
            if (gguf_kv_scalar(f, i, &vt, &v) != 0)
                continue;
            printf("%s ", gguf_type_name(vt));
            if (vt == GGUF_TYPE_STRING)
                print_str(*(const gguf_str *)v,
                          o->max_elems == UINT64_MAX ? 0 : INSPECT_MAX_STR * 2);
            else
                print_fixed(vt, v);
        }
        putchar('\n');
    }
}

static void print_tensors(const gguf_file *f, const inspect_opts *o)
{
    int64_t n = gguf_n_tensors(f);
    uint64_t params = 0, bytes = 0;
    uint64_t per_type[GM_TYPE_COUNT_MAX] = {0};
    int width = 4;
    for (int64_t i = 0; i < n; i++) {
        uint64_t len = gguf_tensor_at(f, i)->name.len;
        if (len > (uint64_t)width && len <= 64)
            width = (int)len;
    }
    printf("tensors: %" PRId64 "\n", n);
    if (!o->no_tensors && n > 0)
        printf("  %-*s  %-7s  %-28s  %14s  %14s\n", width, "name", "type", "shape", "bytes",
               "offset");
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t elems = 1;
        char shape[128];
        int len = snprintf(shape, sizeof(shape), "[");
        for (uint32_t d = 0; d < t->n_dims; d++) {
            elems *= t->ne[d]; /* cannot overflow: checked at open */
            len += snprintf(shape + len, sizeof(shape) - (size_t)len, "%s%" PRIu64,
                            d > 0 ? ", " : "", t->ne[d]);
        }
        snprintf(shape + len, sizeof(shape) - (size_t)len, "]");
        params += elems;
        bytes += t->nbytes;
        per_type[t->type]++;
        if (o->no_tensors)
            continue;
        fputs("  ", stdout);
        uint64_t shown = t->name.len;
        for (uint64_t k = 0; k < t->name.len; k++) {
            unsigned char c = (unsigned char)t->name.ptr[k];
            putchar(c >= 0x20 && c < 0x7f ? c : '?');
        }
        for (; shown < (uint64_t)width; shown++)
            putchar(' ');
        printf("  %-7s  %-28s  %14" PRIu64 "  %14" PRIu64 "\n", gm_type_name(t->type), shape,
               t->nbytes, t->offset);
    }
    printf("totals: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64
           " bytes of tensor data (%.2f MiB)\n",
           n, params, bytes, (double)bytes / (1024.0 * 1024.0));
    if (n > 0) {
        fputs("types:", stdout);
        for (uint32_t ty = 0; ty < GM_TYPE_COUNT_MAX; ty++)
            if (per_type[ty] > 0)
                printf(" %s %" PRIu64 "%s", gm_type_name((gm_type)ty), per_type[ty],
                       gm_type_supported(ty) ? "" : " (not supported by the engine)");
        putchar('\n');
    }
}

int cli_inspect(int argc, char **argv)
{
    inspect_opts o = {.max_elems = INSPECT_DEFAULT_ELEMS};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--all") == 0) {
            o.max_elems = UINT64_MAX;
        } else if (strcmp(a, "--no-tensors") == 0) {
            o.no_tensors = true;
        } else if (strcmp(a, "--elems") == 0) {
            char *end;
            if (i + 1 >= argc) {
                fprintf(stderr, "gemma-run inspect: --elems needs a number\n");
                return 2;
            }
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i] || argv[i][0] == '-') {
                fprintf(stderr, "gemma-run inspect: --elems: '%s' is not a number\n", argv[i]);
                return 2;
            }
            o.max_elems = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "gemma-run inspect: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (path != NULL) {
            fprintf(stderr, "gemma-run inspect: one file at a time\n");
            return 2;
        } else {
            path = a;
        }
    }
    if (path == NULL) {
        usage(stderr);
        return 2;
    }

    gguf_file *f;
    cm_err err;
    if (gguf_open(path, &f, &err) != 0) {
        fprintf(stderr, "gemma-run inspect: %s\n", err.msg);
        return 1;
    }
    printf("file: %s\n", path);
    printf("version: %" PRIu32 "\n", gguf_version(f));
    printf("alignment: %" PRIu64 "\n", gguf_alignment(f));
    printf("size: %" PRIu64 " bytes (data section at %" PRIu64 ")\n", gguf_file_size(f),
           gguf_data_offset(f));
    print_metadata(f, &o);
    print_tensors(f, &o);
    gguf_close(f);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gemma-run inspect: writing the output failed\n");
        return 1;
    }
    return 0;
}
