/*
 * engine/text/stop.h -- stop strings for streamed text: text that could
 * still be the start of a stop string is held back until it either becomes
 * one (generation stops; the stop string is never emitted) or can no
 * longer match (it is released).
 */
#ifndef GM_STOP_H
#define GM_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define GM_STOP_MAX 8

typedef struct gm_stop_filter {
    const char *stop[GM_STOP_MAX];  /* borrowed; must outlive the filter */
    size_t stop_len[GM_STOP_MAX];
    size_t n_stop;
    char *buf;                      /* text not yet emitted */
    size_t n, cap;
    size_t emitted;                 /* bytes at the front handed out last call */
    bool matched;
} gm_stop_filter;

/* `stop` holds n strings (NULL or empty ones are ignored; at most
 * GM_STOP_MAX). */
int gm_stop_init(gm_stop_filter *f, const char *const *stop, size_t n, cm_err *err);
void gm_stop_free(gm_stop_filter *f);
/* Add streamed text. *out / *n_out receive the text that is now final
 * (valid until the next call). Returns 1 when a stop string has appeared
 * (then *out is the text before it and nothing more must be added), 0
 * otherwise, -1 when out of memory. */
int gm_stop_push(gm_stop_filter *f, const char *text, size_t len, const char **out,
                 size_t *n_out, cm_err *err);
/* At the end of the stream: the text still held back (nothing once a stop
 * string matched). */
void gm_stop_finish(gm_stop_filter *f, const char **out, size_t *n_out);

#endif
