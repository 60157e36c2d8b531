/*
 * tests/unit/test_ctl_parse.c -- unit tests for the parsers of gemmactl's
 * HTTP client (ctl/client_parse.c): --url values, response heads, chunked
 * transfer coding fed in every split, and server-sent events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/client_parse.h"

/* ---- URLs ---- */

static void test_url_ok(void **state)
{
    (void)state;
    ctl_url u;
    cm_err err;
    assert_int_equal(ctl_url_parse("https://gemma.example:9443", &u, &err), 0);
    assert_string_equal(u.host, "gemma.example");
    assert_int_equal(u.port, 9443);
    assert_false(u.host_is_ip);
    assert_int_equal(ctl_url_parse("https://127.0.0.1/", &u, &err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, CTL_DEFAULT_PORT);
    assert_true(u.host_is_ip);
    assert_int_equal(ctl_url_parse("HTTPS://[::1]:443", &u, &err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 443);
    assert_true(u.host_is_ip);
}

static void test_url_bad(void **state)
{
    (void)state;
    ctl_url u;
    cm_err err;
    assert_int_equal(ctl_url_parse("http://localhost:8443", &u, &err), -1);
    assert_non_null(strstr(err.msg, "only TLS"));
    assert_int_equal(ctl_url_parse("localhost:8443", &u, &err), -1);
    assert_non_null(strstr(err.msg, "https://"));
    assert_int_equal(ctl_url_parse("https://", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://h:99999", &u, &err), -1);
    assert_non_null(strstr(err.msg, "65535"));
    assert_int_equal(ctl_url_parse("https://h:0", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://h:12x", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://h:", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://h/v1/models", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://user@h", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://[::1", &u, &err), -1);
    assert_int_equal(ctl_url_parse("https://[not-v6]:1", &u, &err), -1);
    assert_int_equal(ctl_url_parse("", &u, &err), -1);
    assert_int_equal(ctl_url_parse(NULL, &u, &err), -1);
}

/* ---- response heads ---- */

static int parse_head(const char *text, ctl_head *h, cm_err *err)
{
    size_t n = ctl_head_complete(text, strlen(text));
    if (n == 0)
        return cm_err_set(err, "incomplete");
    return ctl_head_parse(text, n, h, err);
}

static void test_head_ok(void **state)
{
    (void)state;
    ctl_head h;
    cm_err err;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
                    "content-length:  42 \r\nRetry-After: 3\r\n\r\nBODY";
    assert_int_equal(ctl_head_complete(t, strlen(t)), strlen(t) - 4);
    assert_int_equal(parse_head(t, &h, &err), 0);
    assert_int_equal(h.status, 200);
    assert_true(h.has_length);
    assert_int_equal(h.content_length, 42);
    assert_false(h.chunked);
    assert_string_equal(h.content_type, "application/json");
    assert_string_equal(h.retry_after, "3");

    assert_int_equal(parse_head("HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: gzip, "
                                "Chunked\r\n\r\n", &h, &err), 0);
    assert_int_equal(h.status, 403);
    assert_true(h.chunked);
    assert_false(h.has_length);
    assert_int_equal(parse_head("HTTP/1.0 204\r\n\r\n", &h, &err), 0);
    assert_int_equal(h.status, 204);
    /* Not chunked when chunked is not the last coding. */
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                                &h, &err), 0);
    assert_false(h.chunked);
}

static void test_head_incomplete(void **state)
{
    (void)state;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n";
    assert_int_equal(ctl_head_complete(t, strlen(t)), 0);
    assert_int_equal(ctl_head_complete("", 0), 0);
    assert_int_equal(ctl_head_complete("\r\n\r", 3), 0);
}

static void test_head_bad(void **state)
{
    (void)state;
    ctl_head h;
    cm_err err;
    assert_int_equal(parse_head("SSH-2.0-OpenSSH\r\n\r\n", &h, &err), -1);
    assert_non_null(strstr(err.msg, "HTTP/1.x"));
    assert_int_equal(parse_head("HTTP/2 200 OK\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 2x0 OK\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 099 Low\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 2000 OK\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", &h, &err), -1);
    assert_non_null(strstr(err.msg, "Content-Length"));
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2"
                                "\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999"
                                "\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", &h, &err), -1);
    assert_int_equal(parse_head("HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n", &h, &err), -1);
    static const char nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
    assert_int_equal(ctl_head_parse(nul, sizeof(nul) - 1, &h, &err), -1);
}

/* ---- chunked ---- */

typedef struct collected {
    char buf[512];
    size_t len;
    int stop_after; /* return 1 after this many calls (0 = never) */
    int calls;
} collected;

static int collect(const char *data, size_t len, void *arg)
{
    collected *c = arg;
    assert_true(c->len + len < sizeof(c->buf));
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    c->buf[c->len] = '\0';
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after ? 1 : 0;
}

static const char chunked_body[] = "5\r\nHello\r\n"
                                   "7;name=value\r\n, world\r\n"
                                   "A\r\n0123456789\r\n"
                                   "0\r\nX-Trailer: 1\r\n\r\n"
                                   "GARBAGE AFTER";

static void test_chunked_every_split(void **state)
{
    (void)state;
    size_t total = sizeof(chunked_body) - 1;
    /* Feed in two pieces split at every offset, then byte by byte. */
    for (size_t cut = 0; cut <= total; cut++) {
        ctl_chunked ch;
        collected col = {0};
        cm_err err;
        ctl_chunked_init(&ch);
        assert_int_equal(ctl_chunked_feed(&ch, chunked_body, cut, collect, &col, &err), 0);
        assert_int_equal(ctl_chunked_feed(&ch, chunked_body + cut, total - cut, collect, &col,
                                          &err), 0);
        assert_true(ch.done);
        assert_string_equal(col.buf, "Hello, world0123456789");
    }
    ctl_chunked ch;
    collected col = {0};
    cm_err err;
    ctl_chunked_init(&ch);
    for (size_t i = 0; i < total && !ch.done; i++)
        assert_int_equal(ctl_chunked_feed(&ch, chunked_body + i, 1, collect, &col, &err), 0);
    assert_true(ch.done);
    assert_string_equal(col.buf, "Hello, world0123456789");
}

static void test_chunked_not_done_until_last(void **state)
{
    (void)state;
    ctl_chunked ch;
    collected col = {0};
    cm_err err;
    ctl_chunked_init(&ch);
    const char *t = "3\r\nabc\r\n0\r\n"; /* the blank line after the last chunk is missing */
    assert_int_equal(ctl_chunked_feed(&ch, t, strlen(t), collect, &col, &err), 0);
    assert_false(ch.done);
    assert_int_equal(ctl_chunked_feed(&ch, "\r\n", 2, collect, &col, &err), 0);
    assert_true(ch.done);
    assert_string_equal(col.buf, "abc");
}

static void test_chunked_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x\r\n",                     /* not hex */
        "\r\n",                      /* no digits */
        "3\r\nabcX",                 /* data not followed by CRLF */
        "3\r\nabc\rX",               /* CR without LF */
        "3\rX",                      /* size line CR without LF */
        "1234567890abcdef0\r\n",     /* too many digits */
        "3g\r\n",                    /* junk in the size */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ctl_chunked ch;
        collected col = {0};
        cm_err err;
        ctl_chunked_init(&ch);
        assert_int_equal(ctl_chunked_feed(&ch, bad[i], strlen(bad[i]), collect, &col, &err), -1);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_chunked_sink_stops(void **state)
{
    (void)state;
    ctl_chunked ch;
    collected col = {.stop_after = 1};
    cm_err err;
    ctl_chunked_init(&ch);
    assert_int_equal(ctl_chunked_feed(&ch, chunked_body, sizeof(chunked_body) - 1, collect, &col,
                                      &err), 1);
    assert_string_equal(col.buf, "Hello");
}

/* ---- SSE ---- */

typedef struct events {
    char data[8][128];
    size_t n;
    int stop_at; /* return 1 at this event number (1-based; 0 = never) */
} events;

static int on_event(const char *data, size_t len, void *arg)
{
    events *e = arg;
    assert_true(e->n < 8);
    assert_int_equal(strlen(data), len);
    snprintf(e->data[e->n], sizeof(e->data[0]), "%s", data);
    e->n++;
    return e->stop_at && (int)e->n == e->stop_at ? 1 : 0;
}

static const char sse_text[] = ": a comment\r\n"
                               "data: {\"a\":1}\n\n"
                               "event: ignored\n"
                               "data:no space\n"
                               "data:  two spaces\n"
                               "id: 7\n"
                               "\n"
                               "data\r\r"
                               "data: [DONE]\r\n\r\n"
                               "data: unterminated";

static void check_sse_events(const events *e)
{
    assert_int_equal(e->n, 4);
    assert_string_equal(e->data[0], "{\"a\":1}");
    assert_string_equal(e->data[1], "no space\n two spaces");
    assert_string_equal(e->data[2], "");
    assert_string_equal(e->data[3], "[DONE]");
}

static void test_sse_every_split(void **state)
{
    (void)state;
    size_t total = sizeof(sse_text) - 1;
    for (size_t cut = 0; cut <= total; cut++) {
        events e = {0};
        ctl_sse s;
        cm_err err;
        ctl_sse_init(&s, on_event, &e);
        assert_int_equal(ctl_sse_feed(&s, sse_text, cut, &err), 0);
        assert_int_equal(ctl_sse_feed(&s, sse_text + cut, total - cut, &err), 0);
        check_sse_events(&e);
        ctl_sse_free(&s);
    }
    events e = {0};
    ctl_sse s;
    cm_err err;
    ctl_sse_init(&s, on_event, &e);
    for (size_t i = 0; i < total; i++)
        assert_int_equal(ctl_sse_feed(&s, sse_text + i, 1, &err), 0);
    check_sse_events(&e);
    ctl_sse_free(&s);
}

static void test_sse_stop_and_limit(void **state)
{
    (void)state;
    events e = {.stop_at = 2};
    ctl_sse s;
    cm_err err;
    ctl_sse_init(&s, on_event, &e);
    assert_int_equal(ctl_sse_feed(&s, sse_text, sizeof(sse_text) - 1, &err), 1);
    assert_int_equal(e.n, 2);
    ctl_sse_free(&s);

    /* A line longer than the limit is refused, not buffered forever. */
    size_t n = CTL_SSE_LINE_MAX + 10;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    events e2 = {0};
    ctl_sse_init(&s, on_event, &e2);
    assert_int_equal(ctl_sse_feed(&s, big, n, &err), -1);
    assert_non_null(strstr(err.msg, "longer than"));
    ctl_sse_free(&s);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_ok),
        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_head_ok),
        cmocka_unit_test(test_head_incomplete),
        cmocka_unit_test(test_head_bad),
        cmocka_unit_test(test_chunked_every_split),
        cmocka_unit_test(test_chunked_not_done_until_last),
        cmocka_unit_test(test_chunked_bad),
        cmocka_unit_test(test_chunked_sink_stops),
        cmocka_unit_test(test_sse_every_split),
        cmocka_unit_test(test_sse_stop_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
