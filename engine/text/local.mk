# engine/text/local.mk -- rules for engine/text/ (sources are added to engine_libengine_a_SOURCES).
#
# The tokenizer (vocab, tokenize, detok), the chat format, sampling and the
# generation loop, with their unit tests and the tokenizer's reference test.

engine_libengine_a_SOURCES += \
	engine/text/utf8.c engine/text/utf8.h \
	engine/text/bytemap.c engine/text/bytemap.h \
	engine/text/vocab.c engine/text/vocab.h engine/text/vocab_impl.h \
	engine/text/tokenize.c engine/text/detok.c
engine_libengine_a_SOURCES += \
	engine/text/chat.c engine/text/chat.h \
	engine/text/sample.c engine/text/sample.h \
	engine/text/stop.c engine/text/stop.h \
	engine/text/generate.c engine/text/generate.h

# Unit tests.
check_PROGRAMS += tests/unit/test_vocab tests/unit/test_vocab_stream \
	tests/unit/test_chat tests/unit/test_sample
TESTS += tests/unit/test_vocab tests/unit/test_vocab_stream \
	tests/unit/test_chat tests/unit/test_sample
tests_unit_test_vocab_SOURCES = tests/unit/test_vocab.c
tests_unit_test_vocab_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vocab_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
tests_unit_test_vocab_stream_SOURCES = tests/unit/test_vocab_stream.c
tests_unit_test_vocab_stream_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_vocab_stream_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
tests_unit_test_chat_SOURCES = tests/unit/test_chat.c
tests_unit_test_chat_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_chat_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
tests_unit_test_sample_SOURCES = tests/unit/test_sample.c
tests_unit_test_sample_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sample_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# The tokenizer against llama.cpp on the real vocabulary (skips without
# $GEMMA_REF_DIR); its reference harness is compiled by the script.
TESTS += tests/integration/tokenizer_ref.sh
EXTRA_DIST += tests/integration/tokenizer_ref.sh tests/ref/ref_tokenize.c \
	tests/data/tokenizer/strings.txt

# gemma-run generate end to end on a synthetic model.
TESTS += tests/integration/generate_cli.sh
EXTRA_DIST += tests/integration/generate_cli.sh

# The generation loop on a synthetic model.
check_PROGRAMS += tests/unit/test_generate
TESTS += tests/unit/test_generate
tests_unit_test_generate_SOURCES = tests/unit/test_generate.c
tests_unit_test_generate_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_generate_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
