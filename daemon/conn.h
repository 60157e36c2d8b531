/*
 * daemon/conn.h -- one client connection: the transport under the API.
 * TLS through memory BIOs over a libuv stream (TCP or unix socket),
 * HTTP/1.1 requests parsed with limits (http.h), responses whole or
 * chunked, timeouts and orderly close (conn.c).
 *
 * The connection knows bytes, requests and responses, not what they
 * mean: it reports upward through the hooks the layer above registered
 * (gmd_server.conn_hooks; api.h registers gmd_api_conn_hooks): a
 * connection opened, a complete request to answer, a request the
 * transport refuses (malformed, too large, too slow: the layer above
 * words the error body), the connection closing (the layer above lets go
 * of what it started for it, e.g. cancels a generation job). A request
 * is answered with gmd_conn_respond or gmd_conn_stream_*; the connection
 * then reads the next one (keep-alive) or closes.
 *
 * Loop thread only.
 */
#ifndef GMD_CONN_H
#define GMD_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "common/identity.h"
#include "daemon/buf.h"
#include "daemon/http.h"

typedef struct gmd_server gmd_server; /* server.h */
typedef struct gmd_conn gmd_conn;

/* What a connection reports to the layer above. Any hook may be NULL:
 * then a new connection is accepted, a request is answered 501, a
 * refused request gets a plain-text answer, and closing reports nothing. */
typedef struct gmd_conn_hooks {
    /* A connection was accepted (before its TLS handshake): set up
     * c->upper; -1 refuses the connection (out of memory). */
    int (*on_open)(gmd_conn *c);
    /* A complete request (c->http) to answer: exactly one response
     * follows, now or later, unless the connection closes first. */
    void (*on_request)(gmd_conn *c);
    /* The transport refuses the request with `status` (400, 408, 413,
     * 431, 505; `why` in words): answer it with a body of the API's
     * shape, through gmd_conn_respond. The connection closes after it. */
    void (*on_refuse)(gmd_conn *c, int status, const char *why);
    /* The connection is closing: nothing may be written to it any more;
     * let go of c->upper and of anything that still points at c. */
    void (*on_close)(gmd_conn *c);
} gmd_conn_hooks;

struct gmd_conn {
    gmd_server *srv;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    int open_handles;           /* freed when both handles are closed */
    bool closing;
    bool shutting_down;         /* close_notify sent, waiting for writes */
    bool lingering;             /* half-closed, waiting for the client's EOF */
    uv_shutdown_t shutdown_req;
    SSL *ssl;
    BIO *rbio, *wbio;
    bool tls_ready;
    cm_identity id;
    gmd_http_parser http;
    gmd_buf in;                 /* plaintext not yet parsed */
    bool busy;                  /* answering a request */
    bool keep_alive;            /* for the request being answered */
    bool streaming;             /* chunked response begun */
    bool paused_read;
    bool sent_continue;         /* "100 Continue" sent for this request */
    int timer_kind;             /* what `timer` is counting down */
    int n_writes;               /* uv_write requests in flight */
    unsigned retry_after_s;     /* Retry-After of the next 429 (0 = 1 s) */
    char rbuf[16384];           /* socket read buffer */
    char route[32];             /* metrics label of the current request */
    double t_request;
    /* The layer above's own state for this connection (api.h: the job or
     * pending action of the request being answered). Made by
     * hooks->on_open, let go by hooks->on_close; never read here. */
    void *upper;
    bool opened;                /* hooks->on_open accepted it: on_close is due */
    gmd_conn *prev, *next;
};

void gmd_conn_accept(gmd_server *srv, uv_stream_t *listener, bool is_unix);
/* A whole response. `extra` is more header lines ("Name: value\r\n"), or NULL. */
void gmd_conn_respond(gmd_conn *c, int status, const char *content_type, const char *body,
                      size_t len, const char *extra);
void gmd_conn_stream_begin(gmd_conn *c, const char *content_type);
void gmd_conn_stream_write(gmd_conn *c, const char *data, size_t len);
void gmd_conn_stream_end(gmd_conn *c);
/* Close at once (no more responses). */
void gmd_conn_close(gmd_conn *c);
/* Draining: close now unless a request is being answered. */
void gmd_conn_drain(gmd_conn *c);
/* Read again after reading was paused (too much pipelined input). */
void gmd_conn_resume(gmd_conn *c);

#endif
