/*
 * common/err.c -- formatting of cm_err messages (see err.h).
 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* err->msg = "<a>: <b>", truncated to fit. */
static void join(cm_err *err, const char *a, const char *b)
{
    size_t cap = sizeof(err->msg) - 1;
    size_t n = 0;
    for (const char *parts[3] = {a, ": ", b}, **p = parts; p < parts + 3; p++)
        for (const char *c = *p; *c != '\0' && n < cap; c++)
            err->msg[n++] = *c;
    err->msg[n] = '\0';
}

int cm_err_set(cm_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int cm_err_prefix(cm_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[CM_ERR_MAX];
    char old[CM_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    join(err, prefix, old);
    return -1;
}

int cm_err_errno(cm_err *err, const char *fmt, ...)
{
    int saved = errno;
    if (err == NULL)
        return -1;
    char what[CM_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    join(err, what, strerror(saved));
    errno = saved;
    return -1;
}

void cm_err_clear(cm_err *err)
{
    if (err != NULL)
        err->msg[0] = '\0';
}
