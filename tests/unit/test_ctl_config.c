/*
 * tests/unit/test_ctl_config.c -- unit tests for gemmactl's settings
 * (ctl/settings.c): the config file, the environment, flags, which layer
 * wins, the endpoint taken as one unit, and the default socket read from
 * gemmad.yaml.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/settings.h"

/* A fake environment: NULL-terminated NAME=VALUE strings. */
static const char *const *fake_env;

static char *fake_getenv(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = fake_env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return (char *)*e + n + 1;
    return NULL;
}

typedef struct tmpdir {
    char path[256];
} tmpdir;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    tmpdir *t = calloc(1, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "/tmp/test_ctl_config.XXXXXX");
    if (mkdtemp(t->path) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tmpdir *t = *state;
    char p[512];
    static const char *const names[] = {"config.yaml", "gemmad.yaml", "sub/gemmactl/config.yaml"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", t->path, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/sub/gemmactl", t->path);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/sub", t->path);
    rmdir(p);
    rmdir(t->path);
    free(t);
    fake_env = NULL;
    return 0;
}

static void test_parse_file(void **state)
{
    (void)state;
    ctl_settings s;
    cm_err err;
    const char *y = "# gemmactl settings\n"
                    "socket: run/gemmad.sock\n"
                    "cert: alice.crt\n"
                    "key: /abs/alice.key\n"
                    "ca: ca.crt\n"
                    "model: tiny\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", "/home/a/.config/gemmactl", &s,
                                        &err), 0);
    assert_string_equal(s.socket, "/home/a/.config/gemmactl/run/gemmad.sock");
    assert_string_equal(s.cert, "/home/a/.config/gemmactl/alice.crt");
    assert_string_equal(s.key, "/abs/alice.key");
    assert_string_equal(s.ca, "/home/a/.config/gemmactl/ca.crt");
    assert_string_equal(s.model, "tiny");
    assert_string_equal(s.url, "");
    /* The URL is never taken as a path. */
    y = "url: https://gemma:8443\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", "/base", &s, &err), 0);
    assert_string_equal(s.url, "https://gemma:8443");
    /* An empty file sets nothing. */
    assert_int_equal(ctl_settings_parse("", 0, "c.yaml", NULL, &s, &err), 0);
    assert_string_equal(s.cert, "");
}

static void test_parse_errors(void **state)
{
    (void)state;
    ctl_settings s;
    cm_err err;
    const char *y = "cert: a.crt\ncertificate: b.crt\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", NULL, &s, &err), -1);
    assert_string_equal(err.msg, "c.yaml:2:1: unknown setting 'certificate' (known: socket, "
                                 "url, cert, key, ca, model)");
    y = "cert:\n  - a\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", NULL, &s, &err), -1);
    assert_string_equal(err.msg, "c.yaml:2:3: cert: expected a single value, not a list");
    /* The shared reader (common/yaml_doc.h): duplicate keys name both places. */
    y = "url: https://a:8443\nmodel: m\nurl: https://b:8443\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", NULL, &s, &err), -1);
    assert_string_equal(err.msg, "c.yaml:3:1: duplicate key 'url' (first given at 1:1)");
    y = "- a\n- b\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "expected a mapping"));
    y = "cert: [unclosed\n";
    assert_int_equal(ctl_settings_parse(y, strlen(y), "c.yaml", NULL, &s, &err), -1);
    assert_non_null(strstr(err.msg, "c.yaml:"));
}

static void test_precedence(void **state)
{
    tmpdir *t = *state;
    char cfg[512], envcfg[600];
    snprintf(cfg, sizeof(cfg), "%s/config.yaml", t->path);
    write_file(cfg, "socket: /file/gemmad.sock\ncert: /file/c.crt\nkey: /file/c.key\n"
                    "ca: /file/ca.crt\nmodel: file-model\n");
    snprintf(envcfg, sizeof(envcfg), "GEMMACTL_CONFIG=%s", cfg);

    /* File only. */
    const char *const env0[] = {envcfg, NULL};
    fake_env = env0;
    ctl_settings flags, s;
    memset(&flags, 0, sizeof(flags));
    cm_err err;
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), 0);
    assert_string_equal(s.socket, "/file/gemmad.sock");
    assert_string_equal(s.cert, "/file/c.crt");

    /* The environment beats the file; the endpoint goes as one unit. */
    const char *const env1[] = {envcfg, "GEMMACTL_URL=https://env:1", "GEMMACTL_CERT=/env/c.crt",
                                "GEMMACTL_MODEL=env-model", NULL};
    fake_env = env1;
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), 0);
    assert_string_equal(s.url, "https://env:1");
    assert_string_equal(s.socket, "");
    assert_string_equal(s.cert, "/env/c.crt");
    assert_string_equal(s.key, "/file/c.key");
    assert_string_equal(s.ca, "/file/ca.crt");
    assert_string_equal(s.model, "env-model");

    /* Flags beat both. */
    snprintf(flags.socket, sizeof(flags.socket), "/flag/gemmad.sock");
    snprintf(flags.key, sizeof(flags.key), "/flag/c.key");
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), 0);
    assert_string_equal(s.socket, "/flag/gemmad.sock");
    assert_string_equal(s.url, "");
    assert_string_equal(s.cert, "/env/c.crt");
    assert_string_equal(s.key, "/flag/c.key");
    assert_string_equal(s.ca, "/file/ca.crt");

    /* One layer naming both a socket and a URL is refused. */
    snprintf(flags.url, sizeof(flags.url), "https://flag:2");
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), -1);
    assert_non_null(strstr(err.msg, "command line"));
    memset(&flags, 0, sizeof(flags));
    const char *const env2[] = {"GEMMACTL_SOCKET=/e.sock", "GEMMACTL_URL=https://e:1",
                                "HOME=/nonexistent", NULL};
    fake_env = env2;
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), -1);
    assert_non_null(strstr(err.msg, "environment"));

    /* A broken file is an error that names it. */
    write_file(cfg, "bogus: 1\n");
    fake_env = env0;
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), -1);
    assert_non_null(strstr(err.msg, cfg));
}

static void test_default_socket(void **state)
{
    tmpdir *t = *state;
    char gy[512];
    snprintf(gy, sizeof(gy), "%s/gemmad.yaml", t->path);
    write_file(gy, "log_level: info\nlisten:\n  tcp:\n    port: 1\n  unix:\n"
                   "    path: /srv/gemmad/api.sock\n    mode: \"0660\"\n");
    const char *const env[] = {"HOME=/nonexistent", NULL};
    fake_env = env;
    ctl_settings flags, s;
    memset(&flags, 0, sizeof(flags));
    cm_err err;
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, gy, &s, &err), 0);
    assert_string_equal(s.socket, "/srv/gemmad/api.sock");
    char out[256];
    int found = -1;
    assert_int_equal(ctl_gemmad_socket(gy, out, sizeof(out), &found, &err), 0);
    assert_int_equal(found, 1);
    assert_string_equal(out, "/srv/gemmad/api.sock");

    /* No Unix listener, or no file: the built-in default. */
    write_file(gy, "listen:\n  tcp:\n    port: 1\n");
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, gy, &s, &err), 0);
    assert_string_equal(s.socket, CTL_DEFAULT_SOCKET);
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent/g.yaml", &s, &err),
                     0);
    assert_string_equal(s.socket, CTL_DEFAULT_SOCKET);
    assert_int_equal(ctl_gemmad_socket("/nonexistent/g.yaml", out, sizeof(out), &found, &err), 0);
    assert_int_equal(found, 0);
    /* A named endpoint is not replaced by the default. */
    snprintf(flags.url, sizeof(flags.url), "https://x:1");
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, gy, &s, &err), 0);
    assert_string_equal(s.socket, "");
    assert_string_equal(s.url, "https://x:1");
}

static void test_user_path(void **state)
{
    tmpdir *t = *state;
    char out[512];
    cm_err err;
    const char *const e1[] = {"GEMMACTL_CONFIG=/x/y.yaml", "HOME=/h", NULL};
    fake_env = e1;
    assert_int_equal(ctl_settings_user_path(fake_getenv, out, sizeof(out), &err), 0);
    assert_string_equal(out, "/x/y.yaml");
    const char *const e2[] = {"XDG_CONFIG_HOME=/xdg", "HOME=/h", NULL};
    fake_env = e2;
    assert_int_equal(ctl_settings_user_path(fake_getenv, out, sizeof(out), &err), 0);
    assert_string_equal(out, "/xdg/gemmactl/config.yaml");
    const char *const e3[] = {"HOME=/h", NULL};
    fake_env = e3;
    assert_int_equal(ctl_settings_user_path(fake_getenv, out, sizeof(out), &err), 0);
    assert_string_equal(out, "/h/.config/gemmactl/config.yaml");
    const char *const e4[] = {NULL};
    fake_env = e4;
    assert_int_equal(ctl_settings_user_path(fake_getenv, out, sizeof(out), &err), -1);

    /* The file found through XDG_CONFIG_HOME is read, relative paths beside it. */
    char dir[512], file[600], xdg[600];
    snprintf(dir, sizeof(dir), "%s/sub", t->path);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/sub/gemmactl", t->path);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof(file), "%s/config.yaml", dir);
    write_file(file, "cert: me.crt\n");
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/sub", t->path);
    const char *const e5[] = {xdg, NULL};
    fake_env = e5;
    ctl_settings flags, s;
    memset(&flags, 0, sizeof(flags));
    assert_int_equal(ctl_settings_resolve(&flags, fake_getenv, "/nonexistent", &s, &err), 0);
    char want[700];
    snprintf(want, sizeof(want), "%s/me.crt", dir);
    assert_string_equal(s.cert, want);
    /* A missing file is no error. */
    int found = -1;
    assert_int_equal(ctl_settings_load("/nonexistent/c.yaml", &s, &found, &err), 0);
    assert_int_equal(found, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
