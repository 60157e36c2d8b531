/*
 * ctl/client.c -- gemmactl's mutual-TLS HTTP/1.1 client to gemmad (see
 * client.h): connecting on the Unix socket or TCP, the TLS handshake with
 * OpenSSL 3, writing one request, reading its answer, and the helpers
 * that turn failures into messages and exit codes.
 */
#include "ctl/client.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "ctl/ctl.h"

#define CTL_BODY_MAX (64u << 20)
#define CTL_TIMEOUT_S 600         /* waiting for generated text */
#define CTL_HANDSHAKE_TIMEOUT_S 15
#define CTL_JSON_TIMEOUT_S 60     /* status, models and other quick answers */

/* ---- set-up ---- */

/* The most recent OpenSSL error as text (and clear the queue). */
static void ssl_error_text(char *out, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last == 0) {
        snprintf(out, n, "unknown TLS error");
        return;
    }
    const char *reason = ERR_reason_error_string(last);
    if (reason)
        snprintf(out, n, "%s", reason);
    else
        ERR_error_string_n(last, out, n);
}

int ctl_client_init(ctl_client *c, const ctl_settings *s, cm_err *err)
{
    memset(c, 0, sizeof(*c));
    c->timeout_s = CTL_TIMEOUT_S;
    c->fail = CTL_FAIL_USAGE;
    if (s->url[0]) {
        if (ctl_url_parse(s->url, &c->url, err) < 0)
            return -1;
        snprintf(c->where, sizeof(c->where), "%s", s->url);
    } else {
        if (strlen(s->socket) >= sizeof(c->path))
            return cm_err_set(err, "socket path %s is longer than a socket address allows",
                              s->socket);
        c->is_unix = true;
        snprintf(c->path, sizeof(c->path), "%s", s->socket);
        snprintf(c->where, sizeof(c->where), "%s", s->socket);
    }
    if (s->cert[0] == '\0')
        return cm_err_set(err, "no client certificate given; pass --cert FILE, set "
                               "GEMMACTL_CERT, or put 'cert: FILE' in "
                               "~/.config/gemmactl/config.yaml");
    if (s->key[0] == '\0')
        return cm_err_set(err, "no client key given; pass --key FILE, set GEMMACTL_KEY, or put "
                               "'key: FILE' in ~/.config/gemmactl/config.yaml");
    if (s->ca[0] == '\0')
        return cm_err_set(err, "no CA certificate to verify gemmad with; pass --ca FILE, set "
                               "GEMMACTL_CA, or put 'ca: FILE' in ~/.config/gemmactl/config.yaml");
    c->fail = CTL_FAIL_SETUP;
    /* A daemon that goes away mid-write must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return cm_err_set(err, "cannot set up TLS (out of memory?)");
    c->ctx = (ctl_ssl_ctx *)ctx;
    char msg[256];
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1) {
        ssl_error_text(msg, sizeof(msg));
        return cm_err_set(err, "cannot load the client certificate %s: %s", s->cert, msg);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1) {
        ssl_error_text(msg, sizeof(msg));
        return cm_err_set(err, "cannot load the client key %s: %s", s->key, msg);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return cm_err_set(err, "the key %s does not belong to the certificate %s", s->key,
                          s->cert);
    }
    if (SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1) {
        ssl_error_text(msg, sizeof(msg));
        return cm_err_set(err, "cannot load the CA certificate %s: %s", s->ca, msg);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    c->fail = CTL_FAIL_NONE;
    return 0;
}

void ctl_client_free(ctl_client *c)
{
    SSL_CTX_free((SSL_CTX *)c->ctx);
    c->ctx = NULL;
}

void ctl_response_free(ctl_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int ctl_client_exit(const ctl_client *c)
{
    switch (c->fail) {
    case CTL_FAIL_CONNECT:
    case CTL_FAIL_TLS: return CTL_EXIT_UNREACHABLE;
    case CTL_FAIL_USAGE: return CTL_EXIT_USAGE;
    default: return CTL_EXIT_ERROR;
    }
}

/* ---- connecting ---- */

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int connect_unix(ctl_client *c, cm_err *err)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cm_err_errno(err, "cannot make a socket");
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    set_timeouts(fd, CTL_HANDSHAKE_TIMEOUT_S);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        const char *hint = e == EACCES ? " — are you in the group that owns the socket "
                                         "(listen.unix.group in gemmad.yaml)?"
                                       : " — is gemmad running? (systemctl status gemmad)";
        return cm_err_set(err, "cannot connect to %s: %s%s", c->path, strerror(e), hint);
    }
    return fd;
}

static int connect_tcp(ctl_client *c, cm_err *err)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)c->url.port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(c->url.host, port, &hints, &res);
    if (g != 0)
        return cm_err_set(err, "cannot resolve %s: %s — check the host in --url", c->url.host,
                          gai_strerror(g));
    int e = 0, fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        /* SO_SNDTIMEO also bounds connect() on Linux. */
        set_timeouts(fd, 10);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (e == EINPROGRESS || e == EAGAIN)
            e = ETIMEDOUT;
        return cm_err_set(err, "cannot connect to %s: %s — is gemmad running and listening "
                          "there? (systemctl status gemmad; listen.tcp in gemmad.yaml)",
                          c->where, strerror(e));
    }
    set_timeouts(fd, CTL_HANDSHAKE_TIMEOUT_S);
    return fd;
}

static bool is_cert_alert(int reason)
{
    return reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
           reason == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
           reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
           reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
           reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE ||
           reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
           reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED || reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR;
}

/* Describe why the TLS session failed (handshake, or the first read when
 * TLS 1.3 lets the daemon refuse our certificate after the handshake). */
static int tls_failure(ctl_client *c, SSL *ssl, int ssl_err, cm_err *err)
{
    c->fail = CTL_FAIL_TLS;
    long vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK) {
        ERR_clear_error();
        return cm_err_set(err, "gemmad's certificate at %s is not trusted: %s — is --ca the CA "
                          "that signed gemmad's server certificate%s?", c->where,
                          X509_verify_cert_error_string(vr),
                          c->is_unix ? " (for the socket, with the name localhost)" : "");
    }
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last != 0) {
        int reason = ERR_GET_REASON(last);
        const char *text = ERR_reason_error_string(last);
        if (is_cert_alert(reason))
            return cm_err_set(err, "gemmad at %s refused our client certificate (%s) — is it "
                              "signed by the CA gemmad trusts (tls.client_ca), current, and "
                              "not revoked?", c->where, text ? text : "TLS alert");
        return cm_err_set(err, "TLS with gemmad at %s failed: %s", c->where,
                          text ? text : "unknown error");
    }
    if (ssl_err == SSL_ERROR_SYSCALL && errno != 0)
        return cm_err_set(err, "TLS with gemmad at %s failed: %s", c->where, strerror(errno));
    return cm_err_set(err, "gemmad at %s closed the connection during the TLS handshake — "
                      "was our client certificate refused?", c->where);
}

static SSL *tls_connect(ctl_client *c, int fd, cm_err *err)
{
    SSL *ssl = SSL_new((SSL_CTX *)c->ctx);
    if (ssl == NULL) {
        c->fail = CTL_FAIL_SETUP;
        cm_err_set(err, "cannot set up TLS (out of memory?)");
        return NULL;
    }
    const char *name = c->is_unix ? "localhost" : c->url.host;
    int ok = SSL_set_fd(ssl, fd);
    if (ok && !c->is_unix && c->url.host_is_ip)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
    else if (ok)
        ok = SSL_set1_host(ssl, name) && SSL_set_tlsext_host_name(ssl, name);
    if (!ok) {
        SSL_free(ssl);
        c->fail = CTL_FAIL_SETUP;
        cm_err_set(err, "cannot set the server name %s for TLS", name);
        return NULL;
    }
    ERR_clear_error();
    errno = 0;
    int rc = SSL_connect(ssl);
    if (rc != 1) {
        int se = SSL_get_error(ssl, rc);
        /* SO_RCVTIMEO ran out: OpenSSL reports the EAGAIN as "want read". */
        if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
            (se == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) {
            c->fail = CTL_FAIL_TLS;
            cm_err_set(err, "gemmad at %s did not finish the TLS handshake within %d s",
                       c->where, CTL_HANDSHAKE_TIMEOUT_S);
        } else {
            tls_failure(c, ssl, se, err);
        }
        SSL_free(ssl);
        return NULL;
    }
    set_timeouts(fd, c->timeout_s);
    return ssl;
}

/* ---- one exchange ---- */

typedef struct reader {
    ctl_client *c;
    ctl_response *r;
    ctl_sse sse;
    bool to_sse;
    size_t cap;
    cm_err *err;
} reader;

static int body_sink(const char *data, size_t len, void *arg)
{
    reader *rd = arg;
    if (rd->to_sse) {
        int rc = ctl_sse_feed(&rd->sse, data, len, rd->err);
        if (rc < 0 && rd->c->fail == CTL_FAIL_NONE)
            rd->c->fail = CTL_FAIL_PROTOCOL;
        return rc;
    }
    ctl_response *r = rd->r;
    if (len > CTL_BODY_MAX - r->len) {
        rd->c->fail = CTL_FAIL_PROTOCOL;
        cm_err_set(rd->err, "the answer of gemmad is larger than %u MiB", CTL_BODY_MAX >> 20);
        return -1;
    }
    if (r->len + len + 1 > rd->cap) {
        size_t n = rd->cap ? rd->cap : 4096;
        while (n < r->len + len + 1)
            n *= 2;
        char *p = realloc(r->body, n);
        if (p == NULL) {
            rd->c->fail = CTL_FAIL_PROTOCOL;
            cm_err_set(rd->err, "out of memory reading the answer");
            return -1;
        }
        r->body = p;
        rd->cap = n;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return 0;
}

typedef struct sse_relay {
    ctl_sse_fn fn;
    void *arg;
    ctl_client *c;
} sse_relay;

static int relay(const char *data, size_t len, void *arg)
{
    sse_relay *s = arg;
    int rc = s->fn(data, len, s->arg);
    if (rc < 0)
        s->c->fail = CTL_FAIL_CALLBACK;
    return rc;
}

static int write_all(ctl_client *c, SSL *ssl, const char *p, size_t n, cm_err *err)
{
    while (n > 0) {
        size_t done = 0;
        ERR_clear_error();
        errno = 0;
        int rc = SSL_write_ex(ssl, p, n, &done);
        if (rc != 1) {
            int se = SSL_get_error(ssl, rc);
            if (se == SSL_ERROR_SSL)
                return tls_failure(c, ssl, se, err);
            c->fail = CTL_FAIL_PROTOCOL;
            return cm_err_set(err, "cannot send the request to %s: %s", c->where,
                              errno ? strerror(errno) : "connection closed");
        }
        p += done;
        n -= done;
    }
    return 0;
}

static int send_request(ctl_client *c, SSL *ssl, const char *method, const char *path,
                        const char *body, cm_err *err)
{
    char host[CTL_HOST_MAX + 16];
    if (c->is_unix)
        snprintf(host, sizeof(host), "localhost");
    else if (strchr(c->url.host, ':'))
        snprintf(host, sizeof(host), "[%s]:%u", c->url.host, (unsigned)c->url.port);
    else
        snprintf(host, sizeof(host), "%s:%u", c->url.host, (unsigned)c->url.port);
    for (const char *q = path; *q; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f) {
            c->fail = CTL_FAIL_USAGE;
            return cm_err_set(err, "request path '%.100s' holds a character not allowed in a "
                              "URL", path);
        }
    size_t blen = body ? strlen(body) : 0;
    char head[2048];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gemmactl/%s\r\n"
                     "Accept: application/json, text/event-stream\r\nConnection: close\r\n"
                     "%s" "Content-Length: %zu\r\n\r\n",
                     method, path, host, PACKAGE_VERSION,
                     body ? "Content-Type: application/json\r\n" : "", blen);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        c->fail = CTL_FAIL_SETUP;
        return cm_err_set(err, "request path too long");
    }
    if (write_all(c, ssl, head, (size_t)n, err) < 0)
        return -1;
    return blen ? write_all(c, ssl, body, blen, err) : 0;
}

/* Read until the answer is complete. */
static int read_answer(ctl_client *c, SSL *ssl, reader *rd, ctl_sse_fn on_event, void *arg,
                       cm_err *err)
{
    ctl_response *r = rd->r;
    char *headbuf = malloc(CTL_HEAD_MAX);
    if (headbuf == NULL) {
        c->fail = CTL_FAIL_PROTOCOL;
        return cm_err_set(err, "out of memory");
    }
    size_t hlen = 0, total = 0;
    bool have_head = false, complete = false;
    uint64_t got = 0;
    ctl_chunked ch;
    ctl_chunked_init(&ch);
    sse_relay sr = {on_event, arg, c};
    char buf[16384];
    int rc = -1;
    for (;;) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int ok = SSL_read_ex(ssl, buf, sizeof(buf), &n);
        if (ok != 1) {
            int se = SSL_get_error(ssl, ok);
            if (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && errno == 0))
                break; /* end of stream (with or without close_notify) */
            if (total == 0 && se == SSL_ERROR_SSL) {
                tls_failure(c, ssl, se, err);
                goto out;
            }
            c->fail = CTL_FAIL_PROTOCOL;
            if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE || errno == EAGAIN ||
                errno == EWOULDBLOCK)
                cm_err_set(err, "no answer from gemmad at %s within %d s", c->where,
                           c->timeout_s);
            else if (se == SSL_ERROR_SSL) {
                char msg[256];
                ssl_error_text(msg, sizeof(msg));
                cm_err_set(err, "reading the answer from %s failed: %s", c->where, msg);
            } else
                cm_err_set(err, "reading the answer from %s failed: %s", c->where,
                           errno ? strerror(errno) : "connection lost");
            goto out;
        }
        total += n;
        const char *p = buf;
        if (!have_head) {
            size_t take = n;
            if (take > CTL_HEAD_MAX - hlen)
                take = CTL_HEAD_MAX - hlen;
            memcpy(headbuf + hlen, buf, take);
            size_t old = hlen;
            hlen += take;
            size_t end = ctl_head_complete(headbuf, hlen);
            if (end == 0) {
                if (hlen == CTL_HEAD_MAX) {
                    c->fail = CTL_FAIL_PROTOCOL;
                    cm_err_set(err, "the answer's head is larger than %d bytes", CTL_HEAD_MAX);
                    goto out;
                }
                continue;
            }
            if (ctl_head_parse(headbuf, end, &r->head, err) < 0) {
                c->fail = CTL_FAIL_PROTOCOL;
                cm_err_prefix(err, "gemmad at %s", c->where);
                goto out;
            }
            have_head = true;
            rd->to_sse = on_event && r->head.status / 100 == 2 &&
                         strcmp(r->head.content_type, "text/event-stream") == 0;
            if (rd->to_sse)
                ctl_sse_init(&rd->sse, relay, &sr);
            p = buf + (end - old);
            n -= end - old;
            if (r->head.status == 204 || r->head.status == 304 ||
                (!r->head.chunked && r->head.has_length && r->head.content_length == 0)) {
                complete = true;
                break;
            }
        }
        int src;
        if (r->head.chunked) {
            src = ctl_chunked_feed(&ch, p, n, body_sink, rd, err);
            if (src == -1 && c->fail == CTL_FAIL_NONE) {
                c->fail = CTL_FAIL_PROTOCOL;
                cm_err_prefix(err, "gemmad at %s sent a bad chunked body", c->where);
            }
            if (ch.done)
                complete = true;
        } else {
            if (r->head.has_length && (uint64_t)n > r->head.content_length - got)
                n = (size_t)(r->head.content_length - got);
            got += n;
            src = body_sink(p, n, rd);
            if (r->head.has_length && got == r->head.content_length)
                complete = true;
        }
        if (src == 1) { /* the callback has all it wanted */
            complete = true;
            break;
        }
        if (src != 0)
            goto out;
        if (complete)
            break;
    }
    if (!have_head) {
        if (total == 0) {
            c->fail = CTL_FAIL_TLS;
            cm_err_set(err, "gemmad at %s closed the connection without answering — was our "
                       "client certificate refused? (see gemmad's log)", c->where);
        } else {
            c->fail = CTL_FAIL_PROTOCOL;
            cm_err_set(err, "gemmad at %s closed the connection in the middle of the answer's "
                       "head", c->where);
        }
        goto out;
    }
    if (!complete && (r->head.chunked || r->head.has_length)) {
        c->fail = CTL_FAIL_PROTOCOL;
        cm_err_set(err, "the answer from gemmad at %s was cut short", c->where);
        goto out;
    }
    rc = 0; /* an event not ended by a blank line is dropped, as SSE says */
out:
    free(headbuf);
    return rc;
}

int ctl_client_call(ctl_client *c, const char *method, const char *path, const char *body,
                    ctl_response *r, ctl_sse_fn on_event, void *arg, cm_err *err)
{
    memset(r, 0, sizeof(*r));
    c->fail = CTL_FAIL_NONE;
    int fd = c->is_unix ? connect_unix(c, err) : connect_tcp(c, err);
    if (fd < 0) {
        c->fail = CTL_FAIL_CONNECT;
        return -1;
    }
    int rc = -1;
    reader rd = {.c = c, .r = r, .err = err};
    SSL *ssl = tls_connect(c, fd, err);
    if (ssl == NULL)
        goto out;
    if (send_request(c, ssl, method, path, body, err) < 0) {
        /* TLS 1.3: a refused certificate may only show when reading. */
        if (c->fail == CTL_FAIL_PROTOCOL) {
            cm_err tmp;
            reader rd2 = {.c = c, .r = r, .err = &tmp};
            c->fail = CTL_FAIL_NONE;
            if (read_answer(c, ssl, &rd2, NULL, NULL, &tmp) < 0 && c->fail == CTL_FAIL_TLS)
                *err = tmp;
            else
                c->fail = CTL_FAIL_PROTOCOL;
            ctl_response_free(r);
        }
        goto out;
    }
    rc = read_answer(c, ssl, &rd, on_event, arg, err);
    if (rc == 0 && r->body == NULL && !rd.to_sse) {
        r->body = calloc(1, 1);
        if (r->body == NULL) {
            c->fail = CTL_FAIL_PROTOCOL;
            rc = cm_err_set(err, "out of memory");
        }
    }
out:
    if (rd.to_sse)
        ctl_sse_free(&rd.sse);
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    if (rc < 0)
        ctl_response_free(r);
    return rc;
}

/* ---- helpers for the commands ---- */

const char ctl_conn_flags_help[] =
    "connection (flags beat GEMMACTL_* variables beat ~/.config/gemmactl/config.yaml):\n"
    "  --socket PATH  gemmad's Unix socket (default: listen.unix.path of gemmad.yaml,\n"
    "                 else " CTL_DEFAULT_SOCKET ")\n"
    "  --url URL      https://HOST:PORT instead of the socket\n"
    "  --cert FILE    client certificate (PEM)     --key FILE  its private key\n"
    "  --ca FILE      CA that signed gemmad's certificate\n";

int ctl_conn_flag(const char *cmd, int argc, char **argv, int *i, ctl_settings *flags)
{
    static const char *const names[] = {"--socket", "--url", "--cert", "--key", "--ca"};
    char *dsts[] = {flags->socket, flags->url, flags->cert, flags->key, flags->ca};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t nl = strlen(names[k]);
        if (strncmp(a, names[k], nl) != 0 || (a[nl] != '\0' && a[nl] != '='))
            continue;
        const char *v;
        if (a[nl] == '=') {
            v = a + nl + 1;
        } else if (*i + 1 < argc) {
            v = argv[++*i];
        } else {
            fprintf(stderr, "gemmactl %s: %s needs a value\n", cmd, names[k]);
            return -1;
        }
        if (v[0] == '\0' || strlen(v) >= CTL_SETTING_MAX) {
            fprintf(stderr, "gemmactl %s: %s: the value is empty or too long\n", cmd, names[k]);
            return -1;
        }
        snprintf(dsts[k], CTL_SETTING_MAX, "%s", v);
        return 1;
    }
    return 0;
}

int ctl_client_open(const char *cmd, const ctl_settings *flags, ctl_client *c, ctl_settings *out)
{
    ctl_settings s;
    cm_err err;
    if (ctl_settings_resolve(flags, getenv, NULL, &s, &err) < 0) {
        fprintf(stderr, "gemmactl %s: %s\n", cmd, err.msg);
        memset(c, 0, sizeof(*c));
        return CTL_EXIT_USAGE;
    }
    if (ctl_client_init(c, &s, &err) < 0) {
        fprintf(stderr, "gemmactl %s: %s\n", cmd, err.msg);
        int code = ctl_client_exit(c);
        ctl_client_free(c);
        return code;
    }
    if (out)
        *out = s;
    return 0;
}

int ctl_report_http(const char *cmd, const ctl_response *r)
{
    int status = r->head.status;
    const char *msg = NULL, *code = NULL;
    json_t *o = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    json_t *e = json_object_get(o, "error");
    if (json_is_object(e)) {
        msg = json_string_value(json_object_get(e, "message"));
        code = json_string_value(json_object_get(e, "code"));
    } else if (json_is_string(e)) {
        msg = json_string_value(e);
    }
    char fallback[240];
    if (msg == NULL) {
        size_t n = r->body ? r->len : 0;
        if (n > 200)
            n = 200;
        snprintf(fallback, sizeof(fallback), "%.*s", (int)n, r->body ? r->body : "");
        for (char *q = fallback; *q; q++)
            if (*q == '\n' || *q == '\r')
                *q = ' ';
        msg = fallback[0] ? fallback : "(no message)";
    }
    int ret = CTL_EXIT_ERROR;
    if (status == 403) {
        fprintf(stderr, "gemmactl %s: denied by policy: %s%s%s%s\n", cmd, msg,
                code ? " (" : "", code ? code : "", code ? ")" : "");
        ret = CTL_EXIT_DENIED;
    } else {
        fprintf(stderr, "gemmactl %s: gemmad answered %d: %s%s%s%s", cmd, status, msg,
                code ? " (" : "", code ? code : "", code ? ")" : "");
        if (r->head.retry_after[0])
            fprintf(stderr, "; retry after %s s", r->head.retry_after);
        fputc('\n', stderr);
    }
    json_decref(o);
    return ret;
}

int ctl_call_json_text(ctl_client *c, const char *cmd, const char *method, const char *path,
                       const char *body, int timeout_s, json_t **out)
{
    *out = NULL;
    ctl_response r;
    cm_err err;
    int saved = c->timeout_s;
    if (timeout_s > 0)
        c->timeout_s = timeout_s;
    int rc = ctl_client_call(c, method, path, body, &r, NULL, NULL, &err);
    c->timeout_s = saved;
    if (rc < 0) {
        fprintf(stderr, "gemmactl %s: %s\n", cmd, err.msg);
        return ctl_client_exit(c);
    }
    if (r.head.status / 100 != 2) {
        int code = ctl_report_http(cmd, &r);
        ctl_response_free(&r);
        return code;
    }
    json_error_t jerr;
    json_t *o = json_loadb(r.body, r.len, 0, &jerr);
    ctl_response_free(&r);
    if (o == NULL) {
        fprintf(stderr, "gemmactl %s: gemmad's answer to %s is not JSON: %s\n", cmd, path,
                jerr.text);
        return CTL_EXIT_ERROR;
    }
    *out = o;
    return CTL_EXIT_OK;
}

int ctl_call_json(ctl_client *c, const char *cmd, const char *method, const char *path,
                  json_t *body, json_t **out)
{
    *out = NULL;
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            fprintf(stderr, "gemmactl %s: out of memory\n", cmd);
            return CTL_EXIT_ERROR;
        }
    }
    int rc = ctl_call_json_text(c, cmd, method, path, text, CTL_JSON_TIMEOUT_S, out);
    free(text);
    return rc;
}
