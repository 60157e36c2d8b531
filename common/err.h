/*
 * common/err.h -- the error value every gemmad function reports through.
 *
 * A function that can fail returns int (0 on success, -1 on failure) and
 * takes a `cm_err *err` as its last argument, into which it writes one
 * human-readable sentence saying what went wrong and where, e.g.
 * "tensor blk.3.attn_q.weight: data ends past end of file". Callers add
 * context with cm_err_prefix() as the error travels up. `err` may be NULL
 * when the caller does not want the text.
 */
#ifndef CM_ERR_H
#define CM_ERR_H

#include <stddef.h>

#define CM_ERR_MAX 512

typedef struct cm_err {
    char msg[CM_ERR_MAX];
} cm_err;

/* Set the message (printf-style). Always returns -1 so callers can write
 * `return cm_err_set(err, "...")`. */
int cm_err_set(cm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Put "prefix: " in front of the current message. Returns -1. */
int cm_err_prefix(cm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set the message from errno: "<what>: <strerror(errno)>". Returns -1. */
int cm_err_errno(cm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void cm_err_clear(cm_err *err);

#endif
