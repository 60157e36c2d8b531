/*
 * tests/unit/test_daemon_config.c -- gemmad.yaml parsing: defaults, every
 * section, and errors that name the file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/conf.h"

static const char base[] =
    "listen:\n"
    "  tcp:\n"
    "    address: 127.0.0.1\n"
    "    port: 9443\n"
    "tls:\n"
    "  certificate: /s.crt\n"
    "  private_key: /s.key\n"
    "  client_ca: /ca.crt\n";

static int parse(const char *text, gmd_config *cfg, cm_err *err)
{
    return gmd_config_parse(text, strlen(text), "t.yaml", cfg, err);
}

/* base + extra, parsed; returns rc. */
static int parse_with(const char *extra, gmd_config *cfg, cm_err *err)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s%s", base, extra);
    return parse(buf, cfg, err);
}

static void test_minimal_and_defaults(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse(base, &cfg, &err), 0);
    assert_true(cfg.tcp_enabled);
    assert_false(cfg.unix_enabled);
    assert_int_equal(cfg.tcp_port, 9443);
    assert_string_equal(cfg.tls_client_ca, "/ca.crt");
    assert_string_equal(cfg.tls_min_version, "1.3");
    assert_int_equal(cfg.max_header_bytes, 16384);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_int_equal(cfg.queue_depth, 16);
    assert_int_equal(cfg.n_models, 0);
}

static void test_all_sections(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *extra =
        "log_level: debug\n"
        "limits:\n"
        "  max_header_bytes: 4096\n"
        "  max_headers: 20\n"
        "  max_body_bytes: 65536\n"
        "  queue_depth: 3\n"
        "  request_timeout_ms: 5000\n"
        "engine:\n"
        "  threads: 2\n"
        "shutdown:\n"
        "  drain_timeout_ms: 1500\n"
        "models:\n"
        "  - name: tiny\n"
        "    path: /m/tiny.gguf\n"
        "    load: false\n"
        "    workers: 2\n"
        "    context: 512\n"
        "    max_tokens: 64\n"
        "  - name: other\n"
        "    path: /m/o.gguf\n";
    assert_int_equal(parse_with(extra, &cfg, &err), 0);
    assert_string_equal(cfg.log_level, "debug");
    assert_int_equal(cfg.max_header_bytes, 4096);
    assert_int_equal(cfg.max_headers, 20);
    assert_int_equal(cfg.queue_depth, 3);
    assert_int_equal(cfg.engine_threads, 2);
    assert_int_equal(cfg.drain_timeout_ms, 1500);
    assert_int_equal(cfg.n_models, 2);
    assert_string_equal(cfg.models[0].name, "tiny");
    assert_false(cfg.models[0].load);
    assert_int_equal(cfg.models[0].workers, 2);
    assert_int_equal(cfg.models[0].context, 512);
    assert_int_equal(cfg.models[0].max_tokens, 64);
    assert_true(cfg.models[1].load);
    assert_int_equal(gmd_config_find_model(&cfg, "other"), 1);
    assert_int_equal(gmd_config_find_model(&cfg, "nope"), -1);
}

/* models[].device: cpu by default, cuda:N accepted, anything else refused
 * with the line and the accepted forms. */
static void test_model_device(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *ok = "models:\n  - name: a\n    path: /m/a.gguf\n    device: cuda:1\n"
                     "  - name: b\n    path: /m/b.gguf\n";
    assert_int_equal(parse_with(ok, &cfg, &err), 0);
    assert_string_equal(cfg.models[0].device, "cuda:1");
    assert_string_equal(cfg.models[1].device, "cpu");
    const char *bad = "models:\n  - name: a\n    path: /m/a.gguf\n    device: gpu0\n";
    assert_int_equal(parse_with(bad, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "models[].device"));
    assert_non_null(strstr(err.msg, "expected cpu, cuda or cuda:N"));
}

/* models[].device_fallback: none by default, cpu or none accepted,
 * anything else refused naming the key. */
static void test_model_device_fallback(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *ok = "models:\n  - name: a\n    path: /m/a.gguf\n    device: cuda:0\n"
                     "    device_fallback: cpu\n"
                     "  - name: b\n    path: /m/b.gguf\n    device_fallback: none\n"
                     "  - name: c\n    path: /m/c.gguf\n";
    assert_int_equal(parse_with(ok, &cfg, &err), 0);
    assert_true(cfg.models[0].device_fallback_cpu);
    assert_false(cfg.models[1].device_fallback_cpu);
    assert_false(cfg.models[2].device_fallback_cpu);
    const char *bad = "models:\n  - name: a\n    path: /m/a.gguf\n    device_fallback: gpu\n";
    assert_int_equal(parse_with(bad, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "models[].device_fallback"));
}

static void test_unix_socket(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *text = "listen:\n  unix:\n    path: /run/g.sock\n    mode: \"0640\"\n"
                       "tls:\n  certificate: /a\n  private_key: /b\n  client_ca: /c\n";
    assert_int_equal(parse(text, &cfg, &err), 0);
    assert_true(cfg.unix_enabled);
    assert_int_equal(cfg.unix_mode, 0640);
    const char *bad = "listen:\n  unix:\n    path: /run/g.sock\n    mode: \"0999\"\n"
                      "tls:\n  certificate: /a\n  private_key: /b\n  client_ca: /c\n";
    assert_int_equal(parse(bad, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:4:"));
    assert_non_null(strstr(err.msg, "listen.unix.mode"));
    const char *rel = "listen:\n  unix:\n    path: g.sock\n"
                      "tls:\n  certificate: /a\n  private_key: /b\n  client_ca: /c\n";
    assert_int_equal(parse(rel, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "absolute"));
}

static void test_unknown_key_names_line(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse_with("limits:\n  max_header_bytes: 4096\n  max_hedaers: 3\n", &cfg,
                                &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:11:"));
    assert_non_null(strstr(err.msg, "unknown key 'max_hedaers' in limits"));
    assert_int_equal(parse_with("bogus: 1\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:9:"));
}

static void test_bad_values(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *text = "listen:\n  tcp:\n    port: 70000\n"
                       "tls:\n  certificate: /a\n  private_key: /b\n  client_ca: /c\n";
    assert_int_equal(parse(text, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:3:"));
    assert_non_null(strstr(err.msg, "listen.tcp.port"));
    assert_int_equal(parse_with("limits:\n  max_body_bytes: -5\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "limits.max_body_bytes"));
    assert_int_equal(parse_with("limits:\n  queue_depth: many\n", &cfg, &err), -1);
    assert_int_equal(parse_with("tls:\n  min_version: \"1.1\"\n", &cfg, &err), -1);
    /* that second tls mapping is a duplicate key at the top level */
    assert_non_null(strstr(err.msg, "duplicate key 'tls'"));
    assert_int_equal(parse_with("log_level: loud\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "log_level"));
    assert_int_equal(parse_with("models:\n  - name: a\n    load: maybe\n    path: /x\n", &cfg,
                                &err), -1);
    assert_non_null(strstr(err.msg, "models[].load"));
    assert_int_equal(parse_with("limits: 5\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "mapping"));
}

/* models[] continuous-batching keys: defaults, values, ranges. */
static void test_batching_keys(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n", &cfg, &err), 0);
    assert_int_equal(cfg.models[0].max_batch_sequences, 8);
    assert_int_equal(cfg.models[0].max_batch_tokens, 512);
    assert_int_equal(cfg.models[0].kv_budget_mb, 1024);
    assert_int_equal(cfg.models[0].prefix_cache_mb, 256);
    assert_int_equal(cfg.models[0].prefix_cache_min_tokens, 32);
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n"
                                "    max_batch_sequences: 3\n    max_batch_tokens: 64\n"
                                "    kv_budget_mb: 10\n    prefix_cache_mb: 0\n"
                                "    prefix_cache_min_tokens: 100\n", &cfg, &err), 0);
    assert_int_equal(cfg.models[0].max_batch_sequences, 3);
    assert_int_equal(cfg.models[0].max_batch_tokens, 64);
    assert_int_equal(cfg.models[0].kv_budget_mb, 10);
    assert_int_equal(cfg.models[0].prefix_cache_mb, 0);
    assert_int_equal(cfg.models[0].prefix_cache_min_tokens, 100);
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n"
                                "    max_batch_sequences: 65\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "models[].max_batch_sequences"));
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n"
                                "    kv_budget_mb: 0\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "models[].kv_budget_mb"));
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n"
                                "    max_batch_tokens: 0\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "models[].max_batch_tokens"));
    assert_int_equal(parse(base, &cfg, &err), 0);
    assert_int_equal(cfg.models_memory_mb, 0);
    assert_int_equal(parse_with("engine:\n  models_memory_mb: 30\n", &cfg, &err), 0);
    assert_int_equal(cfg.models_memory_mb, 30);
    assert_int_equal(parse_with("engine:\n  models_memory_mb: lots\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "engine.models_memory_mb"));
}

static void test_tls_min_version(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    const char *ok = "listen:\n  tcp:\n    port: 1\ntls:\n  certificate: /a\n  private_key: /b\n"
                     "  client_ca: /c\n  min_version: \"1.2\"\n";
    assert_int_equal(parse(ok, &cfg, &err), 0);
    assert_string_equal(cfg.tls_min_version, "1.2");
    const char *bad = "listen:\n  tcp:\n    port: 1\ntls:\n  certificate: /a\n  private_key: /b\n"
                      "  client_ca: /c\n  min_version: \"1.0\"\n";
    assert_int_equal(parse(bad, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:8:"));
}

static void test_required_and_models(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse("tls:\n  certificate: /a\n  private_key: /b\n  client_ca: /c\n",
                           &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "listen must name"));
    assert_int_equal(parse("listen:\n  tcp:\n    port: 1\ntls:\n  certificate: /a\n"
                           "  private_key: /b\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "tls.client_ca is required"));
    assert_int_equal(parse_with("models:\n  - name: a\n    path: /x\n  - name: a\n    path: /y\n",
                                &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "listed twice"));
    assert_int_equal(parse_with("models:\n  - name: a\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "needs a path"));
    assert_int_equal(parse_with("models:\n  - name: \"a b\"\n    path: /x\n", &cfg, &err), -1);
    assert_int_equal(parse_with("models: {}\n", &cfg, &err), -1);
    /* A signed bundle needs someone to trust, and a relative GGUF name. */
    assert_int_equal(parse_with("models:\n  - name: b\n    bundle: /m/b\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "security.bundle_keys"));
    assert_int_equal(parse_with("security:\n  bundle_keys: /k.pub\nmodels:\n  - name: b\n"
                                "    bundle: /m/b\n    path: /abs.gguf\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "inside it"));
    assert_int_equal(parse_with("security:\n  bundle_keys: /k.pub\nmodels:\n  - name: b\n"
                                "    bundle: /m/b\n    path: w.gguf\n", &cfg, &err), 0);
    assert_string_equal(cfg.bundle_keys, "/k.pub");
    assert_string_equal(cfg.models[0].bundle, "/m/b");
}

static void test_syntax_error_and_empty(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse("listen:\n  tcp: [\n", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "t.yaml:"));
    assert_int_equal(parse("", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(gmd_config_load("/nonexistent/gemmad.yaml", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/gemmad.yaml"));
}

/* Errors from the shared reader (common/yaml_doc.h) give file, line and
 * column, and the key with what it expected. */
static void test_errors_give_line_and_column(void **state)
{
    (void)state;
    gmd_config cfg;
    cm_err err;
    assert_int_equal(parse_with("limits:\n  queue_depth: 0\n", &cfg, &err), -1);
    assert_string_equal(err.msg, "t.yaml:10:16: limits.queue_depth: expected a whole number in "
                                 "1..100000, not '0'");
    assert_int_equal(parse_with("security:\n  privsep: maybe\n", &cfg, &err), -1);
    assert_string_equal(err.msg, "t.yaml:10:12: security.privsep: expected true or false (or "
                                 "yes, no), not 'maybe'");
    assert_int_equal(parse_with("models:\n  - {name: a, path: /a, device: cpu, name: b}\n", &cfg,
                                &err), -1);
    assert_string_equal(err.msg, "t.yaml:10:38: duplicate key 'name' (first given at 10:6)");
    assert_int_equal(parse_with("engine: &e {threads: 1}\nshutdown: *e\n", &cfg, &err), -1);
    assert_string_equal(err.msg, "t.yaml:10:11: aliases (*name) are not allowed in a config file");
    assert_int_equal(parse("- listen\n", &cfg, &err), -1);
    assert_string_equal(err.msg, "t.yaml:1:1: the top level: expected a mapping (key: value), "
                                 "not a list");
}

/* The shipped example must be valid. */
static void test_shipped_example(void **state)
{
    (void)state;
    const char *top = getenv("top_srcdir");
    char path[1024];
    snprintf(path, sizeof(path), "%s/etc/gemmad.yaml", top ? top : "..");
    gmd_config cfg;
    cm_err err;
    if (gmd_config_load(path, &cfg, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(cfg.unix_enabled || cfg.tcp_enabled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_all_sections),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_model_device),
        cmocka_unit_test(test_model_device_fallback),
        cmocka_unit_test(test_unknown_key_names_line),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_batching_keys),
        cmocka_unit_test(test_tls_min_version),
        cmocka_unit_test(test_required_and_models),
        cmocka_unit_test(test_syntax_error_and_empty),
        cmocka_unit_test(test_errors_give_line_and_column),
        cmocka_unit_test(test_shipped_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
