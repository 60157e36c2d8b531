# engine/synth/local.mk -- rules for engine/synth/ (sources are added to engine_libengine_a_SOURCES).
#
# The synthetic Gemma 4 model generator behind `gemma-run synth`, its unit
# tests, and the reference loading test (every preset in every type loaded
# and run by llama.cpp through tests/ref/ref_run.c, built at test time).

engine_libengine_a_SOURCES += \
	engine/synth/synth.h engine/synth/synth_rng.h engine/synth/synth_weights.h \
	engine/synth/synth_config.c engine/synth/synth_vocab.c \
	engine/synth/synth_template.c engine/synth/synth_weights.c \
	engine/synth/synth_write.c

check_PROGRAMS += tests/unit/test_synth
TESTS += tests/unit/test_synth
tests_unit_test_synth_SOURCES = tests/unit/test_synth.c
tests_unit_test_synth_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_synth_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# Integration tests: the command line, and loading every preset in the
# reference llama.cpp (harness compiled at test time; skipped without
# $GEMMA_REF_DIR).
TESTS += tests/integration/synth_cli.sh tests/integration/synth_ref.sh
EXTRA_DIST += tests/integration/synth_cli.sh tests/integration/synth_ref.sh \
	tests/ref/ref_run.c
