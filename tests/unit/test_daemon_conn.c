/*
 * tests/unit/test_daemon_conn.c -- the connection layer (daemon/conn.c)
 * when libuv refuses: a connection whose deadline timer cannot start, or
 * whose reading cannot resume, is closed rather than left open for ever
 * (no timeout, or a client waiting on a paused socket). libuv's
 * uv_timer_start and uv_read_start are wrapped (-Wl,--wrap) so that they
 * fail on demand; everything else is the real daemon code on a real
 * loopback connection. Also the hooks through which a connection reports
 * upward (conn.h): opened, closed, or refused by the layer above.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/conn.h"
#include "daemon/server.h"

static int fail_timer_start, fail_read_start;

int __real_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __wrap_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __real_uv_read_start(uv_stream_t *s, uv_alloc_cb alloc, uv_read_cb cb);
int __wrap_uv_read_start(uv_stream_t *s, uv_alloc_cb alloc, uv_read_cb cb);

int __wrap_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
    if (fail_timer_start)
        return UV_EINVAL;
    return __real_uv_timer_start(t, cb, timeout, repeat);
}

int __wrap_uv_read_start(uv_stream_t *s, uv_alloc_cb alloc, uv_read_cb cb)
{
    if (fail_read_start)
        return UV_EINVAL;
    return __real_uv_read_start(s, alloc, cb);
}

typedef struct fixture {
    uv_loop_t loop;
    gmd_server *srv;
    uv_tcp_t listener;
    int accepted;
    int client;
} fixture;

static void on_listen(uv_stream_t *l, int status)
{
    fixture *f = l->data;
    if (status == 0) {
        gmd_conn_accept(f->srv, l, false);
        f->accepted++;
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->srv = calloc(1, sizeof(*f->srv));
    assert_non_null(f->srv);
    f->srv->loop = &f->loop;
    gmd_config_defaults(&f->srv->cfg);
    f->srv->tls = SSL_CTX_new(TLS_server_method());
    assert_non_null(f->srv->tls);
    assert_int_equal(uv_tcp_init(&f->loop, &f->listener), 0);
    f->listener.data = f;
    struct sockaddr_in a;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
    assert_int_equal(uv_tcp_bind(&f->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 8, on_listen), 0);
    struct sockaddr_in bound;
    int len = sizeof(bound);
    assert_int_equal(uv_tcp_getsockname(&f->listener, (struct sockaddr *)&bound, &len), 0);
    f->client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->client >= 0);
    assert_int_equal(connect(f->client, (struct sockaddr *)&bound, sizeof(bound)), 0);
    *state = f;
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    fixture *f = *state;
    fail_timer_start = fail_read_start = 0;
    while (f->srv->conns)
        gmd_conn_close(f->srv->conns);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_walk(&f->loop, close_walk, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->client >= 0)
        close(f->client);
    SSL_CTX_free(f->srv->tls);
    free(f->srv);
    free(f);
    return 0;
}

static void accept_one(fixture *f)
{
    for (int i = 0; i < 200 && f->accepted == 0; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(f->accepted, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* close callbacks, if any */
}

/* The handshake deadline cannot be set: the connection is closed. */
static void test_timer_failure_closes(void **state)
{
    fixture *f = *state;
    fail_timer_start = 1;
    accept_one(f);
    assert_int_equal(f->srv->n_conns, 0);
    assert_null(f->srv->conns);
}

/* Without a failure the same connection stays open (the control). */
static void test_accept_keeps_connection(void **state)
{
    fixture *f = *state;
    accept_one(f);
    assert_int_equal(f->srv->n_conns, 1);
    assert_false(f->srv->conns->closing);
}

/* Reading cannot resume after a pause: the connection is closed. */
static void test_resume_failure_closes(void **state)
{
    fixture *f = *state;
    accept_one(f);
    gmd_conn *c = f->srv->conns;
    assert_non_null(c);
    assert_int_equal(uv_read_stop(&c->h.stream), 0);
    c->paused_read = true;
    fail_read_start = 1;
    gmd_conn_resume(c);
    assert_true(c->closing);
    assert_int_equal(f->srv->n_conns, 0);
}

/* The first read cannot start: the connection is closed. */
static void test_first_read_failure_closes(void **state)
{
    fixture *f = *state;
    fail_read_start = 1;
    accept_one(f);
    assert_int_equal(f->srv->n_conns, 0);
}

/* ---- the hooks (conn.h) ---- */

static int n_open, n_close, open_result;
static void *closed_upper;
static char marker;

static int hook_open(gmd_conn *c)
{
    n_open++;
    c->upper = &marker;
    return open_result;
}

static void hook_close(gmd_conn *c)
{
    n_close++;
    closed_upper = c->upper;
    c->upper = NULL;
}

static const gmd_conn_hooks test_hooks = {.on_open = hook_open, .on_close = hook_close};

static void use_hooks(fixture *f, int result)
{
    n_open = n_close = 0;
    closed_upper = NULL;
    open_result = result;
    f->srv->conn_hooks = &test_hooks;
}

/* A connection reports that it opened, and when the client goes away,
 * that it closes, with what the layer above attached to it. */
static void test_hooks_open_then_close(void **state)
{
    fixture *f = *state;
    use_hooks(f, 0);
    accept_one(f);
    assert_int_equal(n_open, 1);
    assert_int_equal(n_close, 0);
    assert_ptr_equal(f->srv->conns->upper, &marker);
    close(f->client); /* end of stream: the connection closes */
    f->client = -1;
    for (int i = 0; i < 200 && f->srv->n_conns > 0; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(f->srv->n_conns, 0);
    assert_int_equal(n_close, 1);
    assert_ptr_equal(closed_upper, &marker);
}

/* The layer above refuses a connection (out of memory): it is closed,
 * and not reported closed, since it was never reported open. */
static void test_hooks_open_refused(void **state)
{
    fixture *f = *state;
    use_hooks(f, -1);
    accept_one(f);
    assert_int_equal(n_open, 1);
    assert_int_equal(f->srv->n_conns, 0);
    assert_int_equal(n_close, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accept_keeps_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_failure_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_failure_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_read_failure_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_open_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_open_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
