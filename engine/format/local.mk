# engine/format/local.mk -- rules for engine/format/ (sources are added to engine_libengine_a_SOURCES).
#
# The GGUF container (reader, writer) and the table of tensor formats.

engine_libengine_a_SOURCES += \
	engine/format/tensor_type.c engine/format/tensor_type.h \
	engine/format/gguf.c engine/format/gguf.h \
	engine/format/gguf_write.c engine/format/gguf_write.h

check_PROGRAMS += tests/unit/test_gguf
TESTS += tests/unit/test_gguf
tests_unit_test_gguf_SOURCES = tests/unit/test_gguf.c
tests_unit_test_gguf_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gguf_LDADD = engine/libengine.a common/libcommon.a $(TEST_LIBS)

# A test-only tool writing sample GGUF files (inspect's test, fuzz seeds).
check_PROGRAMS += tests/tools/gguf_mkfile
tests_tools_gguf_mkfile_SOURCES = tests/tools/gguf_mkfile.c
tests_tools_gguf_mkfile_LDADD = engine/libengine.a common/libcommon.a

check_PROGRAMS += tests/unit/test_gguf_corrupt
TESTS += tests/unit/test_gguf_corrupt
tests_unit_test_gguf_corrupt_SOURCES = tests/unit/test_gguf_corrupt.c
tests_unit_test_gguf_corrupt_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gguf_corrupt_LDADD = engine/libengine.a common/libcommon.a $(TEST_LIBS)

TESTS += tests/integration/gguf_inspect.sh
EXTRA_DIST += tests/integration/gguf_inspect.sh

# Our reader's view of a file in canonical text, and a re-writer (for
# tests/integration/gguf_ref.sh, which compares with llama.cpp's reader
# through tests/ref/gguf_ref_dump.c, compiled at test time).
check_PROGRAMS += tests/tools/gguf_dump
tests_tools_gguf_dump_SOURCES = tests/tools/gguf_dump.c
tests_tools_gguf_dump_LDADD = engine/libengine.a common/libcommon.a

TESTS += tests/integration/gguf_ref.sh
EXTRA_DIST += tests/integration/gguf_ref.sh tests/ref/gguf_ref_dump.c
