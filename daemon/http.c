/*
 * daemon/http.c -- HTTP/1.1 request parsing on llhttp with hard limits
 * (see http.h). Every byte of the request line and headers is counted
 * against max_header_bytes; the body against max_body_bytes, checked on
 * Content-Length before any body byte is read.
 */
#include "daemon/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static gmd_http_parser *self(llhttp_t *ll)
{
    return ll->data;
}

static int refuse(gmd_http_parser *p, int status, const char *reason)
{
    if (p->error_status == 0) {
        p->error_status = status;
        p->error_reason = reason;
    }
    return HPE_USER;
}

/* Append to the arena (the NUL separators count too: they stand for the
 * ": " and CRLF the client sent). */
static int arena_put(gmd_http_parser *p, const char *at, size_t len)
{
    if (len > p->limits.max_header_bytes ||
        (size_t)p->arena_len + len + 1 > p->limits.max_header_bytes)
        return refuse(p, 431, "request header fields too large");
    memcpy(p->arena + p->arena_len, at, len);
    p->arena_len += (uint32_t)len;
    p->arena[p->arena_len] = '\0';
    return 0;
}

static int arena_end(gmd_http_parser *p)
{
    if ((size_t)p->arena_len + 2 > p->limits.max_header_bytes)
        return refuse(p, 431, "request header fields too large");
    p->arena_len++; /* keep the NUL */
    p->arena[p->arena_len] = '\0';
    return 0;
}

static int on_message_begin(llhttp_t *ll)
{
    gmd_http_parser *p = self(ll);
    p->started = true;
    return 0;
}

static int on_method(llhttp_t *ll, const char *at, size_t len)
{
    gmd_http_parser *p = self(ll);
    size_t have = strlen(p->method);
    if (have + len >= sizeof(p->method))
        return refuse(p, 400, "bad method");
    memcpy(p->method + have, at, len);
    p->method[have + len] = '\0';
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    gmd_http_parser *p = self(ll);
    p->url_len += (uint32_t)len;
    return arena_put(p, at, len);
}

static int on_url_complete(llhttp_t *ll)
{
    return arena_end(self(ll));
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    gmd_http_parser *p = self(ll);
    if (p->in_value || p->n_headers == 0 ||
        p->headers[p->n_headers - 1].value_off != UINT32_MAX) {
        /* A new header begins. */
        if (p->n_headers >= p->limits.max_headers)
            return refuse(p, 431, "too many request header fields");
        gmd_http_header *h = &p->headers[p->n_headers++];
        h->name_off = p->arena_len;
        h->name_len = 0;
        h->value_off = UINT32_MAX;
        h->value_len = 0;
        p->in_value = false;
    }
    p->headers[p->n_headers - 1].name_len += (uint32_t)len;
    return arena_put(p, at, len);
}

static int on_header_field_complete(llhttp_t *ll)
{
    return arena_end(self(ll));
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    gmd_http_parser *p = self(ll);
    if (p->n_headers == 0)
        return refuse(p, 400, "header value without a name");
    gmd_http_header *h = &p->headers[p->n_headers - 1];
    if (h->value_off == UINT32_MAX)
        h->value_off = p->arena_len;
    h->value_len += (uint32_t)len;
    p->in_value = true;
    return arena_put(p, at, len);
}

static int on_header_value_complete(llhttp_t *ll)
{
    gmd_http_parser *p = self(ll);
    if (p->n_headers > 0 && p->headers[p->n_headers - 1].value_off == UINT32_MAX) {
        /* Empty value. */
        p->headers[p->n_headers - 1].value_off = p->arena_len;
        p->in_value = true;
    }
    return arena_end(p);
}

static int on_headers_complete(llhttp_t *ll)
{
    gmd_http_parser *p = self(ll);
    if (ll->http_major != 1)
        return refuse(p, 505, "only HTTP/1.x is spoken here");
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->limits.max_body_bytes)
        return refuse(p, 413, "request body too large");
    const char *expect = gmd_http_header_value(p, "expect");
    if (expect != NULL) {
        if (strcasecmp(expect, "100-continue") != 0)
            return refuse(p, 417, "unsupported expectation");
        p->expect_continue = true;
    }
    p->keep_alive = llhttp_should_keep_alive(ll) != 0;
    p->headers_done = true;
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    gmd_http_parser *p = self(ll);
    if (len > p->limits.max_body_bytes || p->body_len + len > p->limits.max_body_bytes)
        return refuse(p, 413, "request body too large");
    if (p->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < p->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(p->body, cap);
        if (nb == NULL)
            return refuse(p, 503, "out of memory");
        p->body = nb;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, at, len);
    p->body_len += len;
    p->body[p->body_len] = '\0';
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    gmd_http_parser *p = self(ll);
    p->keep_alive = llhttp_should_keep_alive(ll) != 0;
    return HPE_PAUSED;
}

int gmd_http_parser_init(gmd_http_parser *p, const gmd_http_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = *limits;
    p->arena_cap = limits->max_header_bytes + 1;
    p->arena = malloc(p->arena_cap);
    p->headers = calloc(limits->max_headers ? limits->max_headers : 1, sizeof(*p->headers));
    if (p->arena == NULL || p->headers == NULL) {
        gmd_http_parser_free(p);
        return -1;
    }
    llhttp_settings_init(&p->settings);
    p->settings.on_message_begin = on_message_begin;
    p->settings.on_method = on_method;
    p->settings.on_url = on_url;
    p->settings.on_url_complete = on_url_complete;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_field_complete = on_header_field_complete;
    p->settings.on_header_value = on_header_value;
    p->settings.on_header_value_complete = on_header_value_complete;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->ll, HTTP_REQUEST, &p->settings);
    p->ll.data = p;
    gmd_http_next(p);
    return 0;
}

void gmd_http_parser_free(gmd_http_parser *p)
{
    free(p->arena);
    free(p->headers);
    free(p->body);
    p->arena = NULL;
    p->headers = NULL;
    p->body = NULL;
}

void gmd_http_next(gmd_http_parser *p)
{
    p->method[0] = '\0';
    p->arena_len = 0;
    p->arena[0] = '\0';
    p->url_off = 0;
    p->url_len = 0;
    p->n_headers = 0;
    p->in_value = false;
    p->body_len = 0;
    if (p->body_cap > 65536) {
        free(p->body);
        p->body = NULL;
        p->body_cap = 0;
    }
    if (p->body)
        p->body[0] = '\0';
    p->keep_alive = false;
    p->expect_continue = false;
    p->started = false;
    p->headers_done = false;
    if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
        llhttp_resume(&p->ll);
}

gmd_http_result gmd_http_feed(gmd_http_parser *p, const char *data, size_t len,
                              size_t *used)
{
    *used = 0;
    if (p->error_status != 0)
        return GMD_HTTP_ERROR;
    if (len == 0)
        return GMD_HTTP_MORE;
    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (e == HPE_OK) {
        *used = len;
        return GMD_HTTP_MORE;
    }
    if (e == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&p->ll);
        *used = pos ? (size_t)(pos - data) : len;
        return GMD_HTTP_REQUEST;
    }
    if (p->error_status == 0) {
        p->error_status = 400;
        p->error_reason = llhttp_get_error_reason(&p->ll);
        if (p->error_reason == NULL)
            p->error_reason = "malformed request";
    }
    return GMD_HTTP_ERROR;
}

const char *gmd_http_url(const gmd_http_parser *p)
{
    return p->arena + p->url_off;
}

const char *gmd_http_header_value(const gmd_http_parser *p, const char *name)
{
    for (uint32_t i = 0; i < p->n_headers; i++) {
        const gmd_http_header *h = &p->headers[i];
        if (h->value_off == UINT32_MAX)
            continue;
        if (strcasecmp(p->arena + h->name_off, name) == 0)
            return p->arena + h->value_off;
    }
    return NULL;
}

const char *gmd_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Percent-decoding of one path segment (see http.h). */
int gmd_http_percent_decode(const char *in, char *out, size_t cap)
{
    if (cap == 0)
        return -1;
    size_t k = 0;
    for (const char *p = in; *p; p++) {
        if (k + 1 >= cap)
            return -1;
        if (*p != '%') {
            out[k++] = *p;
            continue;
        }
        int v = 0;
        for (int j = 1; j <= 2; j++) {
            char h = p[j];
            int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        if (v == 0 || v == '/')
            return -1;
        out[k++] = (char)v;
        p += 2;
    }
    out[k] = '\0';
    return 0;
}
