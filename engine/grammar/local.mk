# engine/grammar/local.mk -- rules for engine/grammar/ (sources are added to
# engine_libengine_a_SOURCES): constrained decoding, a JSON schema compiled
# to a grammar and a token mask over the vocabulary.

engine_libengine_a_SOURCES += \
	engine/grammar/grammar.h engine/grammar/grammar_impl.h \
	engine/grammar/schema.c engine/grammar/step.c \
	engine/grammar/token_index.c engine/grammar/matcher.c \
	engine/grammar/logprobs.c engine/grammar/logprobs.h
engine_libengine_a_CFLAGS += $(JANSSON_CFLAGS)
ENGINE_LIBS += $(JANSSON_LIBS)

# Unit tests.
check_PROGRAMS += tests/unit/test_grammar
TESTS += tests/unit/test_grammar
tests_unit_test_grammar_SOURCES = tests/unit/test_grammar.c
tests_unit_test_grammar_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_grammar_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
