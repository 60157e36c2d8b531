# engine/grammar/local.mk -- rules for engine/grammar/ (sources are added to
# engine_libengine_a_SOURCES): constrained decoding, a JSON schema compiled
# to a grammar and a token mask over the vocabulary.

engine_libengine_a_SOURCES += \
	engine/grammar/grammar.h engine/grammar/grammar_impl.h \
	engine/grammar/schema.c engine/grammar/step.c \
	engine/grammar/token_index.c engine/grammar/matcher.c \
	engine/grammar/logprobs.c engine/grammar/logprobs.h \
	engine/grammar/tool_format.c engine/grammar/tool_format.h
engine_libengine_a_CFLAGS += $(JANSSON_CFLAGS)
ENGINE_LIBS += $(JANSSON_LIBS)

# Unit tests.
check_PROGRAMS += tests/unit/test_grammar
TESTS += tests/unit/test_grammar
tests_unit_test_grammar_SOURCES = tests/unit/test_grammar.c
tests_unit_test_grammar_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_grammar_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# Structured output through gemmad on a synthetic model, validated with
# python3-jsonschema (tests/integration/json_schema_check.py).
TESTS += tests/integration/daemon_json_schema.sh tests/integration/daemon_logprobs.sh \
	tests/integration/openai_structured.sh
EXTRA_DIST += tests/integration/daemon_json_schema.sh \
	tests/integration/json_schema_check.py \
	tests/integration/daemon_logprobs.sh tests/integration/logprobs_check.py \
	tests/integration/openai_structured.sh tests/integration/openai_structured.mjs \
	tests/data/json_schema/invoice.json tests/data/json_schema/map.json \
	tests/data/json_schema/nested.json tests/data/json_schema/optional.json \
	tests/data/json_schema/person.json tests/data/json_schema/scalars.json \
	tests/data/json_schema/shapes.json

# The mask's cost per token against a decode step (run by hand, see
# docs/structured-output.md); grammar_real_vocab.sh uses it for random
# generations on the real vocabulary.
noinst_PROGRAMS += tests/tools/grammar_bench
tests_tools_grammar_bench_SOURCES = tests/tools/grammar_bench.c
tests_tools_grammar_bench_LDADD = $(ENGINE_LIBS)

# How structured output and logprobs work, their limits, their cost.
EXTRA_DIST += docs/structured-output.md

# Tool calling: the renderer against Gemma 4's own chat template (jinja2,
# $GEMMA_REF_DIR's template; skips without them).
noinst_PROGRAMS += tests/tools/tool_render
tests_tools_tool_render_SOURCES = tests/tools/tool_render.c
tests_tools_tool_render_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_tools_tool_render_LDADD = $(ENGINE_LIBS)
TESTS += tests/integration/tool_template_ref.sh tests/integration/daemon_tools.sh \
	tests/integration/grammar_real_vocab.sh
EXTRA_DIST += tests/integration/tool_template_ref.sh tests/integration/daemon_tools.sh \
	tests/integration/grammar_real_vocab.sh tests/data/tools/weather.json \
	tests/data/tools/pending.json tests/data/tools/plain.json
# the Node client's install and run, shared by openai_client.sh and
# openai_structured.sh
EXTRA_DIST += tests/integration/openai_lib.sh
