# engine/quant/local.mk -- element formats: fp16/bf16 and the block
# quantizers/dequantizers (sources go into engine/libengine.a).

engine_libengine_a_SOURCES += \
	engine/quant/quant.h engine/quant/blocks.h engine/quant/quant_impl.h \
	engine/quant/half.c engine/quant/quant.c \
	engine/quant/quant_legacy.c engine/quant/quant_k.c

check_PROGRAMS += tests/unit/test_quant
TESTS += tests/unit/test_quant
tests_unit_test_quant_SOURCES = tests/unit/test_quant.c
tests_unit_test_quant_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_quant_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# Parity with the reference ggml (skips without GEMMA_REF_DIR); the harness
# is compiled by the script at test time.
TESTS += tests/integration/quant_ref.sh
EXTRA_DIST += tests/integration/quant_ref.sh tests/ref/ref_quant.c
