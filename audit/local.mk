# audit/local.mk -- the hash-chained SQLite audit log (issue 8).

noinst_LIBRARIES += audit/libaudit.a
audit_libaudit_a_SOURCES = \
	audit/audit.h audit/canon.h audit/db.h audit/keys.h \
	audit/read.h \
	audit/canon.c audit/db.c audit/keys.c audit/log.c audit/query.c audit/verify.c \
	audit/msg.h audit/msg.c audit/remote.h audit/remote.c audit/signer.h audit/signer.c \
	audit/verify_set.c audit/waiter.h audit/waiter.c
audit_libaudit_a_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS)
AUDIT_LIBS = audit/libaudit.a common/libcommon.a $(SQLITE_LIBS) $(SSL_LIBS) $(JANSSON_LIBS) -lpthread

CTL_LIBS += audit/libaudit.a
DAEMON_LIBS += audit/libaudit.a

# audit-bench: sustained durable append rate; also fills logs for tests.
noinst_PROGRAMS += audit/audit-bench
audit_audit_bench_SOURCES = audit/bench.c
audit_audit_bench_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) $(SQLITE_CFLAGS)
audit_audit_bench_LDADD = $(AUDIT_LIBS)

# audit-tamper: damages a log on purpose, for the verification tests.
check_PROGRAMS += audit/audit-tamper
audit_audit_tamper_SOURCES = audit/tamper_main.c audit/tamper.c audit/tamper.h
audit_audit_tamper_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
audit_audit_tamper_LDADD = $(AUDIT_LIBS)

check_PROGRAMS += tests/unit/test_audit
TESTS += tests/unit/test_audit
tests_unit_test_audit_SOURCES = tests/unit/test_audit.c audit/tamper.c audit/tamper.h \
	tests/unit/fixture_audit.c tests/unit/fixture_audit.h \
	tests/unit/fixture_tmpdir.c tests/unit/fixture_tmpdir.h
tests_unit_test_audit_CFLAGS = $(TEST_CFLAGS) $(SSL_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_audit_LDADD = $(AUDIT_LIBS) $(TEST_LIBS)

TESTS += tests/integration/audit_cli.sh
EXTRA_DIST += tests/integration/audit_cli.sh

# The audit signer and its client (privilege separation, issue 18).
check_PROGRAMS += tests/unit/test_audit_remote
TESTS += tests/unit/test_audit_remote
tests_unit_test_audit_remote_SOURCES = tests/unit/test_audit_remote.c \
	tests/unit/fixture_audit.c tests/unit/fixture_audit.h \
	tests/unit/fixture_tmpdir.c tests/unit/fixture_tmpdir.h
tests_unit_test_audit_remote_CFLAGS = $(TEST_CFLAGS) $(SSL_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_audit_remote_LDADD = $(AUDIT_LIBS) $(TEST_LIBS)
# gemmactl audit verify over the exports of several instances (a pool).
TESTS += tests/integration/audit_verify_set.sh
EXTRA_DIST += tests/integration/audit_verify_set.sh
