# common/local.mk -- helpers every part of gemmad links: errors, logging,
# checked arithmetic.

noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/err.c common/err.h \
	common/log.c common/log.h \
	common/checked.h common/identity.h common/hex.h

check_PROGRAMS += tests/unit/test_common
TESTS += tests/unit/test_common
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_common_LDADD = common/libcommon.a $(TEST_LIBS)
