/*
 * tests/unit/test_daemon_server.c -- gemmad's start (daemon/server.c)
 * when libuv refuses one of the loop's own handles: a daemon that could
 * not hear SIGTERM, or whose housekeeping timer (request deadlines, the
 * systemd watchdog) does not run, must fail to start with a message
 * naming what failed, not run without it. uv_signal_start and
 * uv_timer_start are wrapped (-Wl,--wrap) to fail on demand, and
 * gmd_tls_ctx_new to give a context without certificate files; the
 * server listens nowhere. alarm() turns a daemon that runs on anyway into
 * a failed test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/server_run.h"
#include "daemon/tls.h"

static int fail_signal_start, fail_timer_start;

int __real_uv_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum);
int __wrap_uv_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum);
int __wrap_uv_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum)
{
    if (fail_signal_start && signum == SIGTERM)
        return UV_EINVAL;
    return __real_uv_signal_start(h, cb, signum);
}

int __real_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __wrap_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __wrap_uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
    if (fail_timer_start)
        return UV_EINVAL;
    return __real_uv_timer_start(t, cb, timeout, repeat);
}

int __wrap_gmd_tls_ctx_new(const gmd_config *cfg, SSL_CTX **out, cm_err *err);
int __wrap_gmd_tls_ctx_new(const gmd_config *cfg, SSL_CTX **out, cm_err *err)
{
    (void)cfg;
    *out = SSL_CTX_new(TLS_server_method());
    return *out ? 0 : cm_err_set(err, "no TLS context");
}

/* Start a server that listens nowhere; it must fail at once. */
static int run_server(cm_err *err)
{
    gmd_config cfg;
    gmd_config_defaults(&cfg);
    cfg.unix_enabled = false;
    cfg.tcp_enabled = false;
    alarm(20); /* a daemon that started anyway runs until killed: a failure */
    int rc = gmd_server_run("/nonexistent/gemmad.yaml", &cfg, err);
    alarm(0);
    return rc;
}

static void test_no_sigterm(void **state)
{
    (void)state;
    fail_signal_start = 1;
    cm_err err = {0};
    int rc = run_server(&err);
    fail_signal_start = 0;
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "SIGTERM"));
}

static void test_no_housekeeping_timer(void **state)
{
    (void)state;
    fail_timer_start = 1;
    cm_err err = {0};
    int rc = run_server(&err);
    fail_timer_start = 0;
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "timer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_sigterm),
        cmocka_unit_test(test_no_housekeeping_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
