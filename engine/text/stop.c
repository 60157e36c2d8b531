/*
 * engine/text/stop.c -- holding back streamed text that may turn into a
 * stop string (see stop.h).
 */
#include "engine/text/stop.h"

#include <stdlib.h>
#include <string.h>

int gm_stop_init(gm_stop_filter *f, const char *const *stop, size_t n, cm_err *err)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        if (!stop[i] || !stop[i][0])
            continue;
        if (f->n_stop == GM_STOP_MAX)
            return cm_err_set(err, "more than %d stop strings", GM_STOP_MAX);
        f->stop[f->n_stop] = stop[i];
        f->stop_len[f->n_stop] = strlen(stop[i]);
        f->n_stop++;
    }
    return 0;
}

void gm_stop_free(gm_stop_filter *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

/* Length of the longest suffix of buf[0..n) that is a proper prefix of s. */
static size_t partial_match(const char *buf, size_t n, const char *s, size_t sl)
{
    size_t max = sl - 1 < n ? sl - 1 : n;
    for (size_t k = max; k > 0; k--)
        if (memcmp(buf + n - k, s, k) == 0)
            return k;
    return 0;
}

int gm_stop_push(gm_stop_filter *f, const char *text, size_t len, const char **out,
                 size_t *n_out, cm_err *err)
{
    *out = "";
    *n_out = 0;
    if (f->matched)
        return 1;
    /* drop what was handed out last time */
    if (f->emitted) {
        memmove(f->buf, f->buf + f->emitted, f->n - f->emitted);
        f->n -= f->emitted;
        f->emitted = 0;
    }
    if (f->n + len > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->n + len)
            cap *= 2;
        char *b = realloc(f->buf, cap);
        if (!b)
            return cm_err_set(err, "stop strings: out of memory");
        f->buf = b;
        f->cap = cap;
    }
    if (len)
        memcpy(f->buf + f->n, text, len);
    f->n += len;
    if (f->n == 0)
        return 0;

    /* the earliest complete stop string */
    size_t first = f->n;
    for (size_t i = 0; i < f->n_stop; i++) {
        const char *hit = memmem(f->buf, f->n, f->stop[i], f->stop_len[i]);
        if (hit && (size_t)(hit - f->buf) < first)
            first = (size_t)(hit - f->buf);
    }
    if (first < f->n) {
        f->matched = true;
        *out = f->buf;
        *n_out = first;
        f->emitted = f->n; /* the rest is dropped */
        return 1;
    }
    /* hold back the longest tail that could still become one */
    size_t hold = 0;
    for (size_t i = 0; i < f->n_stop; i++) {
        size_t k = partial_match(f->buf, f->n, f->stop[i], f->stop_len[i]);
        if (k > hold)
            hold = k;
    }
    size_t release = f->n - hold;
    while (release > 0 && release < f->n && ((unsigned char)f->buf[release] & 0xC0u) == 0x80u)
        release--; /* never split a UTF-8 character */
    *out = f->buf;
    *n_out = release;
    f->emitted = release;
    return 0;
}

void gm_stop_finish(gm_stop_filter *f, const char **out, size_t *n_out)
{
    *out = "";
    *n_out = 0;
    if (f->matched || !f->buf)
        return;
    *out = f->buf + f->emitted;
    *n_out = f->n - f->emitted;
    f->emitted = f->n;
}
