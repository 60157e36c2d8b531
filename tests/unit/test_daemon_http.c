/*
 * tests/unit/test_daemon_http.c -- the HTTP/1.1 request parser and its
 * limits (431 for headers, 413 for bodies, 400 for garbage), pipelining,
 * chunked bodies and byte-at-a-time input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/http.h"

static const gmd_http_limits lim = {1024, 8, 100};

static gmd_http_parser *new_parser(void)
{
    gmd_http_parser *p = malloc(sizeof(*p));
    assert_non_null(p);
    assert_int_equal(gmd_http_parser_init(p, &lim), 0);
    return p;
}

static void free_parser(gmd_http_parser *p)
{
    gmd_http_parser_free(p);
    free(p);
}

static gmd_http_result feed_all(gmd_http_parser *p, const char *s, size_t *used)
{
    return gmd_http_feed(p, s, strlen(s), used);
}

static void test_simple_get(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    const char *req = "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing: v1\r\n\r\n";
    size_t used;
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_REQUEST);
    assert_int_equal(used, strlen(req));
    assert_string_equal(p->method, "GET");
    assert_string_equal(gmd_http_url(p), "/healthz?x=1");
    assert_string_equal(gmd_http_header_value(p, "x-thing"), "v1");
    assert_string_equal(gmd_http_header_value(p, "HOST"), "a");
    assert_null(gmd_http_header_value(p, "missing"));
    assert_true(p->keep_alive);
    assert_int_equal(p->body_len, 0);
    free_parser(p);
}

static void test_pipelined_and_close(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    const char *req = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                      "Content-Length: 5\r\n\r\nhello";
    size_t used;
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_REQUEST);
    assert_string_equal(gmd_http_url(p), "/a");
    size_t first = used;
    gmd_http_next(p);
    assert_int_equal(gmd_http_feed(p, req + first, strlen(req) - first, &used),
                     GMD_HTTP_REQUEST);
    assert_int_equal(first + used, strlen(req));
    assert_string_equal(p->method, "POST");
    assert_string_equal(gmd_http_url(p), "/b");
    assert_int_equal(p->body_len, 5);
    assert_memory_equal(p->body, "hello", 5);
    assert_false(p->keep_alive);
    free_parser(p);
}

static void test_chunked_body(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    const char *req = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
    size_t used;
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_REQUEST);
    assert_int_equal(p->body_len, 7);
    assert_string_equal(p->body, "abcdefg");
    free_parser(p);
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    const char *req = "POST /v1/x HTTP/1.1\r\nHost: example\r\nContent-Type: application/json"
                      "\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    size_t n = strlen(req), used;
    gmd_http_result r = GMD_HTTP_MORE;
    for (size_t i = 0; i < n; i++) {
        r = gmd_http_feed(p, req + i, 1, &used);
        assert_int_equal(used, 1);
        if (i + 1 < n)
            assert_int_equal(r, GMD_HTTP_MORE);
    }
    assert_int_equal(r, GMD_HTTP_REQUEST);
    assert_string_equal(gmd_http_url(p), "/v1/x");
    assert_string_equal(gmd_http_header_value(p, "content-type"), "application/json");
    assert_string_equal(p->body, "{\"a\":1}");
    free_parser(p);
}

static void test_header_bytes_limit(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    char req[4096];
    char big[1500];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
    size_t used;
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 431);
    free_parser(p);

    /* A long URL counts too. */
    p = new_parser();
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\n\r\n", big);
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 431);
    free_parser(p);
}

static void test_header_count_limit(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    const char *ok = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
                     "G: 7\r\nH: 8\r\n\r\n";
    size_t used;
    assert_int_equal(feed_all(p, ok, &used), GMD_HTTP_REQUEST);
    assert_int_equal(p->n_headers, 8);
    free_parser(p);
    p = new_parser();
    const char *bad = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
                      "G: 7\r\nH: 8\r\nI: 9\r\n\r\n";
    assert_int_equal(feed_all(p, bad, &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 431);
    free_parser(p);
}

static void test_body_limits(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    /* Refused on Content-Length alone, before any body byte arrives. */
    size_t used;
    assert_int_equal(feed_all(p, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", &used),
                     GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 413);
    free_parser(p);

    p = new_parser();
    char req[1024];
    int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n,
                      "28\r\n0123456789012345678901234567890123456789\r\n");
    snprintf(req + n, sizeof(req) - (size_t)n, "0\r\n\r\n");
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 413);
    free_parser(p);

    p = new_parser();
    char body[101];
    memset(body, 'x', 100);
    body[100] = '\0';
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n%s", body);
    assert_int_equal(feed_all(p, req, &used), GMD_HTTP_REQUEST);
    assert_int_equal(p->body_len, 100);
    free_parser(p);
}

static void test_garbage_and_versions(void **state)
{
    (void)state;
    size_t used;
    gmd_http_parser *p = new_parser();
    assert_int_equal(feed_all(p, "\x16\x03\x01 hello\r\n\r\n", &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 400);
    /* Stays refused. */
    assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\n\r\n", &used), GMD_HTTP_ERROR);
    free_parser(p);

    p = new_parser();
    assert_int_equal(feed_all(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &used), GMD_HTTP_ERROR);
    assert_true(p->error_status == 505 || p->error_status == 400);
    free_parser(p);

    p = new_parser();
    assert_int_equal(feed_all(p, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                              &used), GMD_HTTP_ERROR);
    assert_int_equal(p->error_status, 400);
    free_parser(p);
}

static void test_expect_continue(void **state)
{
    (void)state;
    gmd_http_parser *p = new_parser();
    size_t used;
    assert_int_equal(feed_all(p, "POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
                                 "Content-Length: 3\r\n\r\n", &used), GMD_HTTP_MORE);
    assert_true(p->headers_done);
    assert_true(p->expect_continue);
    assert_int_equal(feed_all(p, "abc", &used), GMD_HTTP_REQUEST);
    free_parser(p);
    assert_string_equal(gmd_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(gmd_http_status_text(413), "Content Too Large");
}

/* Path segments: escapes decoded (either case), bad or dangerous ones
 * refused, and the output never overruns. */
static void test_percent_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(gmd_http_percent_decode("gemma%3Atiny", out, sizeof(out)), 0);
    assert_string_equal(out, "gemma:tiny");
    assert_int_equal(gmd_http_percent_decode("%67emma%3a%74", out, sizeof(out)), 0);
    assert_string_equal(out, "gemma:t");
    assert_int_equal(gmd_http_percent_decode("plain", out, sizeof(out)), 0);
    assert_string_equal(out, "plain");
    assert_int_equal(gmd_http_percent_decode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(gmd_http_percent_decode("a%2", out, sizeof(out)), -1);
    assert_int_equal(gmd_http_percent_decode("a%", out, sizeof(out)), -1);
    assert_int_equal(gmd_http_percent_decode("a%g1", out, sizeof(out)), -1);
    assert_int_equal(gmd_http_percent_decode("a%00b", out, sizeof(out)), -1);
    assert_int_equal(gmd_http_percent_decode("..%2Fetc", out, sizeof(out)), -1);
    /* 15 characters fit in 16 bytes; 16 do not. */
    assert_int_equal(gmd_http_percent_decode("abcdefghijklmno", out, sizeof(out)), 0);
    assert_string_equal(out, "abcdefghijklmno");
    assert_int_equal(gmd_http_percent_decode("abcdefghijklmnop", out, sizeof(out)), -1);
    assert_int_equal(gmd_http_percent_decode("%41%41%41", out, 4), 0);
    assert_string_equal(out, "AAA");
    assert_int_equal(gmd_http_percent_decode("%41%41%41%41", out, 4), -1);
    assert_int_equal(gmd_http_percent_decode("", out, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_pipelined_and_close),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_header_bytes_limit),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_garbage_and_versions),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_percent_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
