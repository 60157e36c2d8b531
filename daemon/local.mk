# daemon/local.mk -- gemmad: the mutual-TLS daemon serving the
# OpenAI-compatible API (libuv, OpenSSL 3, llhttp, jansson, libyaml).
#
# libgemmad.a holds everything but main(), so unit tests and fuzz targets
# link the same code the daemon runs.

if BUILD_LLHTTP
# llhttp from Debian's node-llhttp C sources, compiled here (tiny wrapper
# files #include them from $(LLHTTP_SRC), so nothing of llhttp is copied
# into the tree or the tarball). Built without our warning flags.
noinst_LIBRARIES += daemon/libllhttp.a
daemon_libllhttp_a_SOURCES = daemon/llhttp_api.c daemon/llhttp_http.c daemon/llhttp_llhttp.c
daemon_libllhttp_a_CPPFLAGS = -I$(LLHTTP_SRC) $(LLHTTP_CFLAGS)
daemon_libllhttp_a_CFLAGS = -std=c11
GMD_LLHTTP_LIBS = daemon/libllhttp.a
else
GMD_LLHTTP_LIBS = $(LLHTTP_LIBS)
endif

noinst_LIBRARIES += daemon/libgemmad.a
daemon_libgemmad_a_SOURCES = \
	daemon/api.c daemon/api.h daemon/api_admin.c daemon/api_generate.c \
	daemon/api_error.c daemon/conn.h daemon/models.h \
	daemon/api_audit.c daemon/audit_query.c daemon/audit_query.h \
	daemon/api_request.c daemon/api_request.h \
	daemon/buf.c daemon/buf.h \
	daemon/bundle_open.c daemon/bundle_open.h \
	daemon/conf.c daemon/conf.h \
	daemon/conn.c \
	daemon/guard.c daemon/guard.h \
	daemon/http.c daemon/http.h \
	daemon/infer.h daemon/infer_engine.c \
	daemon/metrics.c daemon/metrics.h \
	daemon/models.c \
	daemon/privsep.c daemon/privsep.h daemon/sandbox.c daemon/sandbox.h \
	daemon/server.c daemon/server.h daemon/server_run.h \
	daemon/tls.c daemon/tls.h
GMD_CPPFLAGS = $(AM_CPPFLAGS) $(UV_CFLAGS) $(SSL_CFLAGS) $(YAML_CFLAGS) \
	$(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) $(LLHTTP_CFLAGS) \
	-DGMD_VERSION='"$(PACKAGE_VERSION)"' -DGMD_SYSCONFDIR='"$(sysconfdir)"'
daemon_libgemmad_a_CPPFLAGS = $(GMD_CPPFLAGS)
# $(DAEMON_LIBS): the policy and audit libraries (policy/, audit/ local.mk).
GMD_LIBS = daemon/libgemmad.a $(DAEMON_LIBS) $(GMD_LLHTTP_LIBS) $(ENGINE_LIBS) \
	common/libcommon.a $(UV_LIBS) $(SSL_LIBS) $(SQLITE_LIBS) $(YAML_LIBS) \
	$(JANSSON_LIBS) $(SYSTEMD_LIBS) -lm -lpthread

EXTRA_DIST += daemon/bench.sh daemon/bench_audit.sh
EXTRA_DIST += daemon/bench_lib.sh

sbin_PROGRAMS += gemmad
gemmad_SOURCES = daemon/gemmad.c
gemmad_CPPFLAGS = $(GMD_CPPFLAGS)
gemmad_LDADD = $(GMD_LIBS)

# Unit tests: configuration, HTTP parsing and limits, request parsing.
check_PROGRAMS += tests/unit/test_daemon_config tests/unit/test_daemon_http \
	tests/unit/test_daemon_request tests/unit/test_daemon_bundle
TESTS += tests/unit/test_daemon_config tests/unit/test_daemon_http \
	tests/unit/test_daemon_request tests/unit/test_daemon_bundle
tests_unit_test_daemon_config_SOURCES = tests/unit/test_daemon_config.c
tests_unit_test_daemon_config_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_config_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_config_LDADD = $(GMD_LIBS) $(TEST_LIBS)
tests_unit_test_daemon_http_SOURCES = tests/unit/test_daemon_http.c
tests_unit_test_daemon_http_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_http_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_http_LDADD = $(GMD_LIBS) $(TEST_LIBS)
tests_unit_test_daemon_request_SOURCES = tests/unit/test_daemon_request.c
tests_unit_test_daemon_request_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_request_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_request_LDADD = $(GMD_LIBS) $(TEST_LIBS)
tests_unit_test_daemon_bundle_SOURCES = tests/unit/test_daemon_bundle.c
tests_unit_test_daemon_bundle_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_bundle_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_bundle_LDADD = $(GMD_LIBS) $(TEST_LIBS)

# Integration tests: the real daemon over mutual TLS (curl, openssl).
# daemon_infer.sh needs gemma-run (synthetic model); openai_client.sh
# needs node and the `openai` npm package (installed into a cache dir at
# test time) and skips visibly without them.
TESTS += tests/integration/daemon_mtls.sh tests/integration/daemon_http.sh \
	tests/integration/daemon_infer.sh tests/integration/daemon_policy.sh \
	tests/integration/daemon_systemd.sh tests/integration/daemon_bundle.sh \
	tests/integration/openai_client.sh
TESTS += tests/integration/daemon_audit.sh
EXTRA_DIST += tests/integration/daemon_audit.sh
TESTS += tests/integration/daemon_audit_options.sh
EXTRA_DIST += tests/integration/daemon_audit_options.sh
EXTRA_DIST += tests/lib/pki.sh tests/integration/daemon_lib.sh \
	tests/integration/daemon_mtls.sh tests/integration/daemon_http.sh \
	tests/integration/daemon_infer.sh tests/integration/daemon_policy.sh \
	tests/integration/daemon_systemd.sh tests/integration/daemon_bundle.sh \
	tests/integration/openai_client.sh tests/integration/openai_client.mjs
# The policy case table through gemmad and gemmactl, the role limits
# (rate, tokens, per-request, concurrency), and bundles gemmad refuses.
TESTS += tests/integration/daemon_policy_table.sh tests/integration/daemon_limits.sh \
	tests/integration/daemon_bundle_refuse.sh
EXTRA_DIST += tests/integration/daemon_policy_table.sh tests/integration/daemon_limits.sh \
	tests/integration/daemon_bundle_refuse.sh
# The case table as both policy tests read it.
EXTRA_DIST += tests/lib/policy_cases.sh

# The query string of the audit routes (daemon/audit_query.c).
check_PROGRAMS += tests/unit/test_daemon_audit_query
TESTS += tests/unit/test_daemon_audit_query
tests_unit_test_daemon_audit_query_SOURCES = tests/unit/test_daemon_audit_query.c
tests_unit_test_daemon_audit_query_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_audit_query_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_audit_query_LDADD = $(GMD_LIBS) $(TEST_LIBS)

# continuous batching: the per-model scheduler and its prefix cache
daemon_libgemmad_a_SOURCES += daemon/sched.c daemon/sched.h \
	daemon/sched_prefix.c daemon/sched_prefix.h

# continuous batching, prefix cache and KV budget through gemmad
TESTS += tests/integration/daemon_batch.sh
EXTRA_DIST += tests/integration/daemon_batch.sh daemon/bench_batch.sh
# constrained output, tool calls and logprobs under batching (issues 13 x 14)
TESTS += tests/integration/daemon_batch_grammar.sh
EXTRA_DIST += tests/integration/daemon_batch_grammar.sh
# the prefix cache's lookup, replacement and LRU budget
check_PROGRAMS += tests/unit/test_daemon_prefix
TESTS += tests/unit/test_daemon_prefix
tests_unit_test_daemon_prefix_SOURCES = tests/unit/test_daemon_prefix.c
tests_unit_test_daemon_prefix_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_prefix_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_prefix_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# Privilege separation (issue 18): the audit signer process, Landlock.
TESTS += tests/integration/daemon_privsep.sh
EXTRA_DIST += tests/integration/daemon_privsep.sh

# The connection layer when libuv refuses (uv_timer_start, uv_read_start
# wrapped to fail on demand).
check_PROGRAMS += tests/unit/test_daemon_conn
TESTS += tests/unit/test_daemon_conn
tests_unit_test_daemon_conn_SOURCES = tests/unit/test_daemon_conn.c
tests_unit_test_daemon_conn_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_conn_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_conn_LDFLAGS = -Wl,--wrap=uv_timer_start -Wl,--wrap=uv_read_start
tests_unit_test_daemon_conn_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# Two gemmad behind HAProxy (TLS passthrough): identity end to end, spread,
# denial, SIGTERM draining with no request lost (skips without haproxy).
TESTS += tests/integration/scaleout_haproxy.sh
EXTRA_DIST += tests/integration/scaleout_haproxy.sh
# shutdown.drain_grace_ms: /readyz 503 while still serving, then the drain.
TESTS += tests/integration/daemon_drain_grace.sh
EXTRA_DIST += tests/integration/daemon_drain_grace.sh
# Models signed as a single file (path + signature), gemmactl models import.
TESTS += tests/integration/daemon_bundle_file.sh
EXTRA_DIST += tests/integration/daemon_bundle_file.sh
# The generate route when memory runs out (engine, scheduler, connection
# and audit record wrapped): no cut prompt or answer reaches the audit log.
check_PROGRAMS += tests/unit/test_daemon_generate
TESTS += tests/unit/test_daemon_generate
tests_unit_test_daemon_generate_SOURCES = tests/unit/test_daemon_generate.c
tests_unit_test_daemon_generate_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_generate_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_generate_LDFLAGS = -Wl,--wrap=realloc -Wl,--wrap=gmd_infer_tokenize \
	-Wl,--wrap=gmd_infer_context -Wl,--wrap=gmd_model_submit -Wl,--wrap=gmd_api_send_error \
	-Wl,--wrap=gmd_guard_record -Wl,--wrap=gmd_infer_kv_need
tests_unit_test_daemon_generate_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# gemmad's start when libuv refuses a signal watcher or the housekeeping
# timer: it fails, naming what, rather than run without them.
check_PROGRAMS += tests/unit/test_daemon_server
TESTS += tests/unit/test_daemon_server
tests_unit_test_daemon_server_SOURCES = tests/unit/test_daemon_server.c
tests_unit_test_daemon_server_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_server_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_server_LDFLAGS = -Wl,--wrap=uv_signal_start -Wl,--wrap=uv_timer_start \
	-Wl,--wrap=gmd_tls_ctx_new
tests_unit_test_daemon_server_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# The one table of the API's errors (daemon/api_error.c).
check_PROGRAMS += tests/unit/test_daemon_api_error
TESTS += tests/unit/test_daemon_api_error
tests_unit_test_daemon_api_error_SOURCES = tests/unit/test_daemon_api_error.c
tests_unit_test_daemon_api_error_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_api_error_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_api_error_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# A model's queue and scheduler over a fake engine: KV budget admission,
# fair order, cancellation, the queue's bound, one DONE per job.
check_PROGRAMS += tests/unit/test_daemon_sched
TESTS += tests/unit/test_daemon_sched
tests_unit_test_daemon_sched_SOURCES = tests/unit/test_daemon_sched.c
tests_unit_test_daemon_sched_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_sched_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_sched_LDFLAGS = -Wl,--wrap=gmd_infer_slots -Wl,--wrap=gmd_infer_kv_need \
	-Wl,--wrap=gmd_infer_seq_start -Wl,--wrap=gmd_infer_seq_cancel -Wl,--wrap=gmd_infer_step \
	-Wl,--wrap=gmd_infer_cache_stats_get -Wl,--wrap=gmd_server_post
tests_unit_test_daemon_sched_LDADD = $(GMD_LIBS) $(TEST_LIBS)
# The guard (policy decisions, limits, awaited audit records) and the
# /metrics exposition text.
check_PROGRAMS += tests/unit/test_daemon_guard tests/unit/test_daemon_metrics
TESTS += tests/unit/test_daemon_guard tests/unit/test_daemon_metrics
tests_unit_test_daemon_guard_SOURCES = tests/unit/test_daemon_guard.c
tests_unit_test_daemon_guard_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_guard_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_guard_LDADD = $(GMD_LIBS) $(TEST_LIBS)
tests_unit_test_daemon_metrics_SOURCES = tests/unit/test_daemon_metrics.c
tests_unit_test_daemon_metrics_CPPFLAGS = $(GMD_CPPFLAGS)
tests_unit_test_daemon_metrics_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_daemon_metrics_LDADD = $(GMD_LIBS) $(TEST_LIBS)
