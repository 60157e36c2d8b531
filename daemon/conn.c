/*
 * daemon/conn.c -- one client connection: TLS through memory BIOs over a
 * libuv stream, HTTP/1.1 requests parsed with limits, responses (whole
 * or chunked), timeouts (handshake, idle, request headers) and orderly
 * close with close_notify.
 *
 * Bytes from the socket go into the read BIO; OpenSSL's output is taken
 * from the write BIO and handed to uv_write. Nothing here blocks.
 *
 * What requests mean is the business of the layer above (conn.h hooks:
 * api.c): this file neither parses bodies nor words errors, and knows
 * nothing of generation jobs.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/server.h"
#include "daemon/tls.h"

enum { TIMER_NONE, TIMER_HANDSHAKE, TIMER_IDLE, TIMER_HEADERS, TIMER_LINGER };

/* After the last byte is written: how long to wait for the client to close
 * its side, reading and discarding, so that what we sent (an alert, a
 * response) is not destroyed by a reset. */
#define LINGER_MS 2000

typedef struct conn_write {
    uv_write_t req;
    gmd_conn *conn;
    char data[];
} conn_write;

static void timer_mode(gmd_conn *c, int mode);
static void process_input(gmd_conn *c);
static void conn_finish(gmd_conn *c);
static void linger(gmd_conn *c);
static void refuse(gmd_conn *c, int status, const char *why);

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    gmd_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    assert(c->open_handles == 0); /* the socket and the timer: both closed now */
    SSL_free(c->ssl); /* frees the BIOs too */
    gmd_http_parser_free(&c->http);
    gmd_buf_free(&c->in);
    free(c);
}

void gmd_conn_close(gmd_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    gmd_server *srv = c->srv;
    /* The layer above lets go of what it started for this connection. */
    if (c->opened && srv->conn_hooks && srv->conn_hooks->on_close)
        srv->conn_hooks->on_close(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    uv_close(&c->h.handle, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    gmd_server_conn_idle(srv);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    conn_write *w = (conn_write *)req;
    gmd_conn *c = w->conn;
    free(w);
    c->n_writes--;
    if (c->closing)
        return;
    if (status < 0) {
        cm_log(CM_LOG_DEBUG, "conn", "write failed: %s", uv_strerror(status));
        gmd_conn_close(c);
        return;
    }
    if (c->shutting_down && c->n_writes == 0)
        linger(c);
}

/* Send whatever OpenSSL has written into the write BIO. */
static void flush_tls(gmd_conn *c)
{
    size_t n;
    while (!c->closing && (n = BIO_ctrl_pending(c->wbio)) > 0) {
        conn_write *w = malloc(sizeof(*w) + n);
        if (w == NULL) {
            gmd_conn_close(c);
            return;
        }
        int got = BIO_read(c->wbio, w->data, (int)n);
        if (got <= 0) {
            free(w);
            return;
        }
        w->conn = c;
        uv_buf_t b = uv_buf_init(w->data, (unsigned)got);
        int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_write);
        if (rc == 0)
            c->n_writes++;
        if (rc < 0) {
            free(w);
            gmd_conn_close(c);
            return;
        }
    }
}

static void send_plain(gmd_conn *c, const char *data, size_t len)
{
    if (c->closing || c->shutting_down)
        return;
    while (len > 0) {
        size_t chunk = len > (1u << 20) ? (1u << 20) : len;
        int n = SSL_write(c->ssl, data, (int)chunk);
        if (n <= 0) {
            char detail[256];
            gmd_tls_error_text(detail, sizeof(detail));
            cm_log(CM_LOG_DEBUG, "conn", "TLS write failed: %s", detail);
            gmd_conn_close(c);
            return;
        }
        data += n;
        len -= (size_t)n;
    }
    flush_tls(c);
}

/* Orderly close: close_notify, then close once it is written. */
static void conn_finish(gmd_conn *c)
{
    if (c->closing || c->shutting_down)
        return;
    if (c->tls_ready)
        SSL_shutdown(c->ssl);
    flush_tls(c);
    if (c->closing)
        return;
    c->shutting_down = true;
    timer_mode(c, TIMER_NONE);
    if (c->n_writes == 0)
        linger(c);
}

/* ---- responses ---- */

static void response_done(gmd_conn *c, int status)
{
    gmd_server *srv = c->srv;
    gmd_metrics_request(&srv->metrics, c->route[0] ? c->route : "other", status,
                        gmd_now() - c->t_request);
    c->busy = false;
    c->streaming = false;
    c->route[0] = '\0';
    gmd_http_next(&c->http);
    if (!c->keep_alive || srv->draining || srv->in_grace) {
        conn_finish(c);
        return;
    }
    gmd_conn_resume(c);
    timer_mode(c, TIMER_IDLE);
    gmd_server_conn_idle(srv);
    if (!c->closing && c->in.len > 0)
        process_input(c);
}

static void head(gmd_buf *b, gmd_conn *c, int status, const char *ctype)
{
    gmd_buf_printf(b, "HTTP/1.1 %d %s\r\nServer: gemmad\r\n", status,
                   gmd_http_status_text(status));
    if (ctype)
        gmd_buf_printf(b, "Content-Type: %s\r\n", ctype);
    gmd_buf_printf(b, "Connection: %s\r\n",
                   c->keep_alive && !c->srv->draining && !c->srv->in_grace ? "keep-alive"
                                                                           : "close");
}

void gmd_conn_respond(gmd_conn *c, int status, const char *ctype, const char *body,
                      size_t len, const char *extra)
{
    if (c->closing || c->shutting_down)
        return;
    gmd_buf b;
    gmd_buf_init(&b);
    head(&b, c, status, ctype);
    gmd_buf_printf(&b, "Content-Length: %zu\r\n", len);
    if (extra)
        gmd_buf_str(&b, extra);
    gmd_buf_str(&b, "\r\n");
    gmd_buf_add(&b, body, len);
    if (b.failed) {
        gmd_buf_free(&b);
        gmd_conn_close(c);
        return;
    }
    send_plain(c, b.data, b.len);
    gmd_buf_free(&b);
    if (!c->closing)
        response_done(c, status);
}

void gmd_conn_stream_begin(gmd_conn *c, const char *ctype)
{
    if (c->closing || c->shutting_down)
        return;
    gmd_buf b;
    gmd_buf_init(&b);
    head(&b, c, 200, ctype);
    gmd_buf_str(&b, "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (!b.failed)
        send_plain(c, b.data, b.len);
    gmd_buf_free(&b);
    c->streaming = true;
}

void gmd_conn_stream_write(gmd_conn *c, const char *data, size_t len)
{
    if (c->closing || c->shutting_down || len == 0)
        return;
    gmd_buf b;
    gmd_buf_init(&b);
    gmd_buf_printf(&b, "%zx\r\n", len);
    gmd_buf_add(&b, data, len);
    gmd_buf_str(&b, "\r\n");
    if (!b.failed)
        send_plain(c, b.data, b.len);
    gmd_buf_free(&b);
}

void gmd_conn_stream_end(gmd_conn *c)
{
    if (c->closing || c->shutting_down)
        return;
    send_plain(c, "0\r\n\r\n", 5);
    if (!c->closing)
        response_done(c, 200);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Everything is written: half-close, then wait (bounded) for the client's
 * end of stream; on_read closes on it. */
static void linger(gmd_conn *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = true;
    if (uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) < 0) {
        gmd_conn_close(c);
        return;
    }
    timer_mode(c, TIMER_LINGER);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void timer_mode(gmd_conn *c, int mode)
{
    if (c->closing)
        return;
    uv_timer_stop(&c->timer);
    c->timer_kind = mode;
    uint64_t ms = 0;
    const gmd_config *cfg = &c->srv->cfg;
    switch (mode) {
    case TIMER_HANDSHAKE: ms = cfg->handshake_timeout_ms; break;
    case TIMER_IDLE: ms = cfg->idle_timeout_ms; break;
    case TIMER_HEADERS: ms = cfg->header_timeout_ms; break;
    case TIMER_LINGER: ms = LINGER_MS; break;
    default: return;
    }
    /* A connection without its deadline could be held open for ever. */
    int rc = uv_timer_start(&c->timer, on_timer, ms, 0);
    if (rc < 0) {
        cm_log(CM_LOG_ERR, "conn", "cannot start a connection timer (%s): closing %s",
               uv_strerror(rc), c->id.peer_addr);
        gmd_conn_close(c);
    }
}

static void on_timer(uv_timer_t *t)
{
    gmd_conn *c = (gmd_conn *)((char *)t - offsetof(gmd_conn, timer));
    switch (c->timer_kind) {
    case TIMER_HANDSHAKE:
        cm_log(CM_LOG_INFO, "tls", "handshake timed out (%s)", c->id.peer_addr);
        c->srv->metrics.tls_handshakes_failed++;
        gmd_conn_close(c);
        break;
    case TIMER_IDLE:
        conn_finish(c);
        break;
    case TIMER_LINGER:
        gmd_conn_close(c);
        break;
    case TIMER_HEADERS:
        if (!c->busy) {
            c->busy = true;
            c->keep_alive = false;
            c->t_request = gmd_now();
            snprintf(c->route, sizeof(c->route), "other");
            refuse(c, 408, "the request was not received in time");
        }
        break;
    default:
        break;
    }
}

/* ---- reading ---- */

/* The transport refuses the request: the layer above words the answer
 * (or, without one, a line of plain text does). */
static void refuse(gmd_conn *c, int status, const char *why)
{
    const gmd_conn_hooks *h = c->srv->conn_hooks;
    if (h && h->on_refuse) {
        h->on_refuse(c, status, why);
        return;
    }
    char text[200];
    int n = snprintf(text, sizeof(text), "%s\n", why);
    gmd_conn_respond(c, status, "text/plain", text, (size_t)n < sizeof(text) ? (size_t)n : 0,
                     NULL);
}

static void refuse_request(gmd_conn *c)
{
    int status = c->http.error_status ? c->http.error_status : 400;
    char msg[160];
    snprintf(msg, sizeof(msg), "%s", c->http.error_reason ? c->http.error_reason
                                                            : "malformed request");
    c->busy = true;
    c->keep_alive = false;
    c->t_request = gmd_now();
    snprintf(c->route, sizeof(c->route), "other");
    refuse(c, status, msg);
}

static void process_input(gmd_conn *c)
{
    while (!c->busy && !c->closing && !c->shutting_down && c->in.len > 0) {
        size_t used = 0;
        gmd_http_result r = gmd_http_feed(&c->http, c->in.data, c->in.len, &used);
        gmd_buf_consume(&c->in, used);
        if (r == GMD_HTTP_ERROR) {
            refuse_request(c);
            return;
        }
        if (r == GMD_HTTP_MORE) {
            if (c->http.started && c->timer_kind != TIMER_HEADERS)
                timer_mode(c, TIMER_HEADERS);
            if (c->http.headers_done && c->http.expect_continue && !c->sent_continue) {
                c->sent_continue = true;
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                send_plain(c, cont, sizeof(cont) - 1);
            }
            return;
        }
        /* A complete request. */
        timer_mode(c, TIMER_NONE);
        c->busy = true;
        c->sent_continue = false;
        c->keep_alive = c->http.keep_alive && !c->srv->draining && !c->srv->in_grace;
        c->t_request = gmd_now();
        const gmd_conn_hooks *h = c->srv->conn_hooks;
        if (h && h->on_request)
            h->on_request(c);
        else
            gmd_conn_respond(c, 501, "text/plain", "no handler\n", 11, NULL);
    }
}

static void on_handshake_done(gmd_conn *c)
{
    cm_err err;
    c->tls_ready = true;
    c->srv->metrics.tls_handshakes_ok++;
    if (gmd_tls_identity(c->ssl, &c->id, &err) < 0) {
        cm_log(CM_LOG_WARN, "tls", "%s: %s", c->id.peer_addr, err.msg);
        gmd_conn_close(c);
        return;
    }
    cm_log(CM_LOG_DEBUG, "tls", "client %s (%s) connected over %s", c->id.subject_dn,
           c->id.peer_addr, SSL_get_version(c->ssl));
    timer_mode(c, TIMER_IDLE);
}

static void handshake_failed(gmd_conn *c)
{
    long vr = SSL_get_verify_result(c->ssl);
    char detail[256];
    gmd_tls_error_text(detail, sizeof(detail));
    cm_log(CM_LOG_NOTICE, "tls", "handshake with %s refused: %s%s%s", c->id.peer_addr,
           detail, vr != X509_V_OK ? "; certificate: " : "",
           vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    c->srv->metrics.tls_handshakes_failed++;
    flush_tls(c); /* the alert */
    if (c->closing)
        return;
    c->shutting_down = true;
    timer_mode(c, TIMER_NONE);
    if (c->n_writes == 0)
        linger(c);
}

static void pump(gmd_conn *c)
{
    if (!c->tls_ready) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            flush_tls(c);
            on_handshake_done(c);
        } else {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                flush_tls(c);
                return;
            }
            handshake_failed(c);
            return;
        }
        if (c->closing)
            return;
    }
    char tmp[16384];
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, tmp, sizeof(tmp));
        if (n > 0) {
            gmd_buf_add(&c->in, tmp, (size_t)n);
            if (c->in.failed) {
                gmd_conn_close(c);
                return;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            /* close_notify from the client: it will send no more. */
            flush_tls(c);
            if (!c->closing)
                gmd_conn_close(c);
            return;
        }
        char detail[256];
        gmd_tls_error_text(detail, sizeof(detail));
        cm_log(CM_LOG_DEBUG, "tls", "read from %s failed: %s", c->id.peer_addr, detail);
        gmd_conn_close(c);
        return;
    }
    flush_tls(c);
    if (c->closing)
        return;
    process_input(c);
    /* A client that keeps sending while its request is answered is held off. */
    const gmd_config *cfg = &c->srv->cfg;
    if (!c->closing && c->busy &&
        c->in.len > (size_t)cfg->max_header_bytes + cfg->max_body_bytes + 65536) {
        uv_read_stop(&c->h.stream);
        c->paused_read = true;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    gmd_conn *c = h->data;
    buf->base = c->rbuf;
    buf->len = sizeof(c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    gmd_conn *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            cm_log(CM_LOG_DEBUG, "conn", "read failed: %s", uv_strerror((int)nread));
        gmd_conn_close(c);
        return;
    }
    if (nread == 0 || c->shutting_down)
        return;
    if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        gmd_conn_close(c);
        return;
    }
    pump(c);
}

void gmd_conn_resume(gmd_conn *c)
{
    if (c->paused_read && !c->closing) {
        c->paused_read = false;
        /* Not reading again would leave the client waiting for ever. */
        int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
        if (rc < 0) {
            cm_log(CM_LOG_ERR, "conn", "cannot read from %s again (%s): closing",
                   c->id.peer_addr, uv_strerror(rc));
            gmd_conn_close(c);
        }
    }
}

/* ---- accepting ---- */

static void fill_peer(gmd_conn *c, bool is_unix)
{
    c->id.transport = is_unix ? CM_TRANSPORT_UNIX : CM_TRANSPORT_TCP;
    if (is_unix) {
        uv_os_fd_t fd;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (uv_fileno(&c->h.handle, &fd) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            c->id.has_peer_cred = true;
            c->id.peer_uid = cred.uid;
            c->id.peer_gid = cred.gid;
            c->id.peer_pid = cred.pid;
            snprintf(c->id.peer_addr, sizeof(c->id.peer_addr), "unix:pid=%d,uid=%u",
                     (int)cred.pid, (unsigned)cred.uid);
        } else {
            snprintf(c->id.peer_addr, sizeof(c->id.peer_addr), "unix");
        }
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof(host));
            port = ntohs(a->sin6_port);
            snprintf(c->id.peer_addr, sizeof(c->id.peer_addr), "[%s]:%d", host, port);
            return;
        }
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, sizeof(host));
        port = ntohs(a->sin_port);
    }
    snprintf(c->id.peer_addr, sizeof(c->id.peer_addr), "%s:%d", host, port);
}

static void on_reject_closed(uv_handle_t *h)
{
    free(h->data);
}

void gmd_conn_accept(gmd_server *srv, uv_stream_t *listener, bool is_unix)
{
    gmd_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->srv = srv;
    int rc = is_unix ? uv_pipe_init(srv->loop, &c->h.pipe, 0)
                     : uv_tcp_init(srv->loop, &c->h.tcp);
    if (rc < 0) {
        free(c);
        return;
    }
    c->h.handle.data = c;
    if (uv_accept(listener, &c->h.stream) < 0 || srv->draining ||
        srv->n_conns >= srv->cfg.max_connections) {
        if (srv->n_conns >= srv->cfg.max_connections)
            cm_log(CM_LOG_WARN, "conn", "connection refused: %u connections open",
                   srv->n_conns);
        c->h.handle.data = c;
        uv_close(&c->h.handle, on_reject_closed);
        return;
    }
    if (!is_unix && (rc = uv_tcp_nodelay(&c->h.tcp, 1)) < 0)
        cm_log(CM_LOG_DEBUG, "conn", "TCP_NODELAY: %s", uv_strerror(rc)); /* only slower */
    if ((rc = uv_timer_init(srv->loop, &c->timer)) < 0) {
        cm_log(CM_LOG_ERR, "conn", "connection refused: no timer (%s)", uv_strerror(rc));
        uv_close(&c->h.handle, on_reject_closed);
        return;
    }
    c->timer.data = c;
    c->open_handles = 2;
    gmd_buf_init(&c->in);
    fill_peer(c, is_unix);

    gmd_http_limits lim = {srv->cfg.max_header_bytes, srv->cfg.max_headers,
                           srv->cfg.max_body_bytes};
    c->ssl = SSL_new(srv->tls);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    /* Link first so gmd_conn_close can unlink on any failure below. */
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    srv->metrics.connections_total++;
    if (gmd_http_parser_init(&c->http, &lim) < 0 || c->ssl == NULL || c->rbio == NULL ||
        c->wbio == NULL) {
        if (c->ssl == NULL) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
        } else {
            SSL_set_bio(c->ssl, c->rbio, c->wbio);
        }
        gmd_conn_close(c);
        return;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    const gmd_conn_hooks *h = srv->conn_hooks;
    if (h && h->on_open && h->on_open(c) < 0) {
        cm_log(CM_LOG_ERR, "conn", "connection refused: out of memory");
        gmd_conn_close(c);
        return;
    }
    c->opened = true; /* on_close will be told */
    SSL_set_accept_state(c->ssl);
    timer_mode(c, TIMER_HANDSHAKE);
    if (c->closing)
        return;
    if ((rc = uv_read_start(&c->h.stream, on_alloc, on_read)) < 0) {
        cm_log(CM_LOG_ERR, "conn", "cannot read from a new connection (%s)", uv_strerror(rc));
        gmd_conn_close(c);
    }
}

/* Draining: close connections that are not answering a request. */
void gmd_conn_drain(gmd_conn *c)
{
    if (!c->busy)
        conn_finish(c);
}
