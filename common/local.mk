# common/local.mk -- helpers every part of gemmad links: errors, logging,
# checked arithmetic.

noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/err.c common/err.h \
	common/log.c common/log.h \
	common/checked.h common/identity.h common/hex.h \
	common/yaml_doc.c common/yaml_get.c common/yaml_doc.h
common_libcommon_a_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)

check_PROGRAMS += tests/unit/test_common
TESTS += tests/unit/test_common
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_common_LDADD = common/libcommon.a $(TEST_LIBS)

# The shared YAML reader (common/yaml_doc.h).
check_PROGRAMS += tests/unit/test_yaml_doc
TESTS += tests/unit/test_yaml_doc
tests_unit_test_yaml_doc_SOURCES = tests/unit/test_yaml_doc.c
tests_unit_test_yaml_doc_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_yaml_doc_LDADD = common/libcommon.a $(YAML_LIBS) $(TEST_LIBS)
