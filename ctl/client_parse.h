/*
 * ctl/client_parse.h -- the byte-level parsers of gemmactl's HTTP client,
 * kept apart from the sockets and TLS so they can be unit-tested and
 * fuzzed: URLs given with --url, the status line and headers of a
 * response, chunked transfer coding (RFC 9112 section 7.1) and
 * server-sent events (the WHATWG "text/event-stream" format, data lines
 * only). All of them take their input in pieces of any size.
 */
#ifndef CTL_CLIENT_PARSE_H
#define CTL_CLIENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* ---- URLs ---- */

#define CTL_HOST_MAX 256
#define CTL_DEFAULT_PORT 8443

typedef struct ctl_url {
    char host[CTL_HOST_MAX]; /* name or address, without IPv6 brackets */
    uint16_t port;           /* CTL_DEFAULT_PORT when the URL names none */
    bool host_is_ip;         /* a literal IPv4 or IPv6 address */
} ctl_url;

/* Parse "https://HOST[:PORT][/]" (HOST may be "[v6addr]"). Anything but
 * https, userinfo, a path other than "/", a query or a bad port is an
 * error that says what was wrong. */
int ctl_url_parse(const char *text, ctl_url *out, cm_err *err);

/* ---- the response head ---- */

#define CTL_HEAD_MAX 65536

typedef struct ctl_head {
    int status;               /* 100..599 */
    bool chunked;             /* Transfer-Encoding ends in chunked */
    bool has_length;          /* Content-Length was given */
    uint64_t content_length;
    char content_type[128];   /* media type, lower case, parameters cut off */
    char retry_after[32];     /* Retry-After as sent ("" = none) */
} ctl_head;

/* Length of the head (through the blank line) if `buf` holds all of it,
 * 0 if more bytes are needed. */
size_t ctl_head_complete(const char *buf, size_t len);

/* Parse a complete head of `len` bytes (as measured by ctl_head_complete). */
int ctl_head_parse(const char *buf, size_t len, ctl_head *out, cm_err *err);

/* ---- chunked transfer coding ---- */

/* Receives decoded body bytes; returns 0 to go on, non-zero to stop
 * (ctl_chunked_feed then returns that value). */
typedef int (*ctl_sink_fn)(const char *data, size_t len, void *arg);

typedef struct ctl_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    unsigned digits;    /* hex digits read for the current size */
    size_t line;        /* bytes on the current size or trailer line */
    bool done;          /* the last chunk and the trailer have been read */
} ctl_chunked;

void ctl_chunked_init(ctl_chunked *c);

/* Decode `len` bytes. Returns 0 (all consumed, or `done` became true and
 * the rest was ignored), -1 on malformed input (err says what), or the
 * sink's non-zero value. */
int ctl_chunked_feed(ctl_chunked *c, const char *in, size_t len, ctl_sink_fn sink,
                     void *arg, cm_err *err);

/* ---- server-sent events ---- */

#define CTL_SSE_LINE_MAX (1u << 20)

/* One event's data (its data lines joined by "\n", NUL-terminated);
 * returns 0 to go on, non-zero to stop. */
typedef int (*ctl_sse_fn)(const char *data, size_t len, void *arg);

typedef struct ctl_sse {
    char *line;      /* the line being read */
    size_t line_len, line_cap;
    char *data;      /* the event being built */
    size_t data_len, data_cap;
    bool has_data;   /* the event had a data field (it may be empty) */
    bool skip_lf;    /* the last line ended in CR: a following LF belongs to it */
    ctl_sse_fn fn;
    void *arg;
} ctl_sse;

void ctl_sse_init(ctl_sse *s, ctl_sse_fn fn, void *arg);
void ctl_sse_free(ctl_sse *s);

/* Feed bytes; complete events go to the callback. Returns 0, -1 on a line
 * longer than CTL_SSE_LINE_MAX or out of memory, or the callback's
 * non-zero value. Matches ctl_sink_fn's shape through ctl_sse_sink. */
int ctl_sse_feed(ctl_sse *s, const char *in, size_t len, cm_err *err);

#endif
