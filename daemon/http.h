/*
 * daemon/http.h -- the HTTP/1.1 request parser (llhttp) with gemmad's
 * limits: bytes of request line + headers, number of headers, bytes of
 * body. It does no I/O: the connection feeds it decrypted bytes and gets
 * back one complete request at a time, or the status to refuse with
 * (400, 413, 431, 505).
 */
#ifndef GMD_HTTP_H
#define GMD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

typedef struct gmd_http_limits {
    uint32_t max_header_bytes;  /* request line + all header names and values */
    uint32_t max_headers;
    uint32_t max_body_bytes;
} gmd_http_limits;

typedef struct gmd_http_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} gmd_http_header;

typedef enum gmd_http_result {
    GMD_HTTP_MORE = 0,   /* all bytes used, request not complete yet */
    GMD_HTTP_REQUEST,    /* a request is complete (see gmd_http_parser fields) */
    GMD_HTTP_ERROR,      /* refuse with parser->error_status and close */
} gmd_http_result;

typedef struct gmd_http_parser {
    llhttp_t ll;
    llhttp_settings_t settings;
    gmd_http_limits limits;

    /* The request being read (valid after GMD_HTTP_REQUEST). */
    char method[16];
    char *arena;            /* URL then header names/values, NUL-separated */
    uint32_t arena_len, arena_cap;
    uint32_t url_off, url_len;
    gmd_http_header *headers;
    uint32_t n_headers;
    bool in_value;          /* last callback was a header value */
    char *body;
    size_t body_len, body_cap;
    bool keep_alive;
    bool expect_continue;   /* "Expect: 100-continue" was sent */
    bool started;           /* some bytes of this request have arrived */
    bool headers_done;

    int error_status;       /* on GMD_HTTP_ERROR */
    const char *error_reason;
} gmd_http_parser;

/* Returns 0, or -1 when out of memory. */
int gmd_http_parser_init(gmd_http_parser *p, const gmd_http_limits *limits);
void gmd_http_parser_free(gmd_http_parser *p);

/*
 * Feed bytes. *used says how many were consumed: after GMD_HTTP_REQUEST
 * the rest belongs to the next request (pipelining) and must be fed again
 * after gmd_http_next().
 */
gmd_http_result gmd_http_feed(gmd_http_parser *p, const char *data, size_t len,
                              size_t *used);
/* Forget the finished request and get ready for the next one. */
void gmd_http_next(gmd_http_parser *p);

/* The request target (path and query), NUL-terminated. */
const char *gmd_http_url(const gmd_http_parser *p);
/* Value of a header (case-insensitive name), NUL-terminated, or NULL. */
const char *gmd_http_header_value(const gmd_http_parser *p, const char *name);

/* Decode the %XX escapes of one path segment (RFC 3986 2.1) into `out`
 * (cap bytes, NUL-terminated). Returns -1 for a '%' without two hex
 * digits after it, an encoded NUL or '/', or a result that does not fit. */
int gmd_http_percent_decode(const char *in, char *out, size_t cap);

/* "OK", "Not Found", ... for a status code. */
const char *gmd_http_status_text(int status);

#endif
