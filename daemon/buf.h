/*
 * daemon/buf.h -- a growable byte buffer for building responses and
 * metrics text. A failed allocation marks the buffer (`failed`) instead
 * of crashing; callers check once at the end.
 */
#ifndef GMD_BUF_H
#define GMD_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gmd_buf {
    char *data;
    size_t len, cap;
    bool failed;
} gmd_buf;

void gmd_buf_init(gmd_buf *b);
void gmd_buf_free(gmd_buf *b);
void gmd_buf_add(gmd_buf *b, const void *data, size_t len);
void gmd_buf_str(gmd_buf *b, const char *s);
void gmd_buf_printf(gmd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove the first n bytes. */
void gmd_buf_consume(gmd_buf *b, size_t n);

#endif
