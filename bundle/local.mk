# bundle/local.mk -- signed model bundles (OpenSSF Model Signing): the
# library bundle/libbundle.a linked by gemmactl and gemmad, its tests.

noinst_LIBRARIES += bundle/libbundle.a
bundle_libbundle_a_SOURCES = \
	bundle/bundle.h bundle/internal.h \
	bundle/util.c bundle/dsse.c bundle/sigfile.c bundle/statement.c \
	bundle/trust.c bundle/walk.c bundle/hash.c bundle/verify.c bundle/sign.c \
	bundle/file.c
bundle_libbundle_a_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS)

CTL_LIBS += bundle/libbundle.a
DAEMON_LIBS += bundle/libbundle.a

check_PROGRAMS += tests/unit/test_bundle
TESTS += tests/unit/test_bundle
tests_unit_test_bundle_SOURCES = tests/unit/test_bundle.c \
	tests/unit/fixture_bundle.c tests/unit/fixture_bundle.h \
	tests/unit/fixture_tmpdir.c tests/unit/fixture_tmpdir.h
tests_unit_test_bundle_CFLAGS = $(TEST_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_bundle_LDADD = bundle/libbundle.a common/libcommon.a $(SSL_LIBS) $(JANSSON_LIBS) $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_bundle_vectors
TESTS += tests/unit/test_bundle_vectors
tests_unit_test_bundle_vectors_SOURCES = tests/unit/test_bundle_vectors.c
tests_unit_test_bundle_vectors_CFLAGS = $(TEST_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_bundle_vectors_LDADD = bundle/libbundle.a common/libcommon.a $(SSL_LIBS) $(JANSSON_LIBS) $(TEST_LIBS)

TESTS += tests/integration/pki_cli.sh
EXTRA_DIST += tests/integration/pki_cli.sh

TESTS += tests/integration/bundle_cli.sh
EXTRA_DIST += tests/integration/bundle_cli.sh

EXTRA_DIST += docs/gemmactl-bundle.md

check_PROGRAMS += tests/unit/test_bundle_file
TESTS += tests/unit/test_bundle_file
tests_unit_test_bundle_file_SOURCES = tests/unit/test_bundle_file.c \
	tests/unit/fixture_bundle.c tests/unit/fixture_bundle.h \
	tests/unit/fixture_tmpdir.c tests/unit/fixture_tmpdir.h
tests_unit_test_bundle_file_CFLAGS = $(TEST_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_bundle_file_LDADD = bundle/libbundle.a common/libcommon.a $(SSL_LIBS) $(JANSSON_LIBS) $(TEST_LIBS)
