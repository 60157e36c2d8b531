# engine/model/local.mk -- rules for engine/model/: loading a gemma4 GGUF,
# the forward pass and the KV cache (engine/gemma.h). Sources are added to
# engine_libengine_a_SOURCES.

engine_libengine_a_SOURCES += \
	engine/model/model.h engine/model/model.c \
	engine/model/hparams.c engine/model/weights.c \
	engine/model/context.c engine/model/kv_cache.h engine/model/kv_cache.c \
	engine/model/forward.c engine/model/attention.c \
	engine/model/attn_dot.h engine/model/attn_dot.c engine/model/ffn.c \
	engine/model/moe.c engine/model/ple.c engine/model/repack.c \
	engine/model/ops.h engine/model/ops.c engine/model/ops_par.c \
	engine/model/softcap.c
# decode-step attention shared out by keys and output columns
engine_libengine_a_SOURCES += engine/model/attn_split.h engine/model/attn_split.c

# Unit tests: the elementwise ops, the KV cache ring buffer, and decoding
# (batches, sequences, errors) on synthetic models.
check_PROGRAMS += tests/unit/test_model_ops tests/unit/test_model_kv
TESTS += tests/unit/test_model_ops tests/unit/test_model_kv
tests_unit_test_model_ops_SOURCES = tests/unit/test_model_ops.c
tests_unit_test_model_ops_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_model_ops_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
tests_unit_test_model_kv_SOURCES = tests/unit/test_model_kv.c
tests_unit_test_model_kv_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_model_kv_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# Q4_K weights repacked at load: the same logits, bit for bit.
check_PROGRAMS += tests/unit/test_model_repack
TESTS += tests/unit/test_model_repack
tests_unit_test_model_repack_SOURCES = tests/unit/test_model_repack.c
tests_unit_test_model_repack_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_model_repack_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
# and once more on the AVX2 path and on the scalar path (GEMMA_CPU).
TESTS += tests/unit/model_repack_avx2.sh tests/unit/model_repack_scalar.sh
EXTRA_DIST += tests/unit/model_repack_avx2.sh tests/unit/model_repack_scalar.sh

# Parity with llama.cpp v0.5.0 (skipped without $GEMMA_REF_DIR): the
# comparison tool, our reference harness (compiled by the scripts at test
# time), and the scripts.
check_PROGRAMS += tests/tools/cmp_logits
tests_tools_cmp_logits_SOURCES = tests/tools/cmp_logits.c
tests_tools_cmp_logits_LDADD = -lm
TESTS += tests/integration/parity_f32.sh tests/integration/parity_quant.sh
EXTRA_DIST += tests/integration/parity_f32.sh tests/integration/parity_quant.sh \
	tests/integration/parity_lib.sh tests/ref/ref_logits.c

check_PROGRAMS += tests/unit/test_model_decode
TESTS += tests/unit/test_model_decode
tests_unit_test_model_decode_SOURCES = tests/unit/test_model_decode.c
tests_unit_test_model_decode_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_model_decode_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# batch invariance and prefix snapshots (continuous batching, prefix cache)
check_PROGRAMS += tests/unit/test_batch_invariance
TESTS += tests/unit/test_batch_invariance
tests_unit_test_batch_invariance_SOURCES = tests/unit/test_batch_invariance.c
tests_unit_test_batch_invariance_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_batch_invariance_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# the forward pass gives the same bits on 1, 2, 3 and 4 threads
check_PROGRAMS += tests/unit/test_forward_threads
TESTS += tests/unit/test_forward_threads
tests_unit_test_forward_threads_SOURCES = tests/unit/test_forward_threads.c
tests_unit_test_forward_threads_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_forward_threads_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# gemma-run bench --batch N (decode_batch_tok_s)
TESTS += tests/integration/bench_batch.sh
EXTRA_DIST += tests/integration/bench_batch.sh

# attention's inner loops: the documented rounding on every code path
check_PROGRAMS += tests/unit/test_attn_dot
TESTS += tests/unit/test_attn_dot
tests_unit_test_attn_dot_SOURCES = tests/unit/test_attn_dot.c
tests_unit_test_attn_dot_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_attn_dot_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# the logit soft-cap: the AVX2 code against the scalar steps, and those
# against glibc 2.36's tanhf
check_PROGRAMS += tests/unit/test_softcap
TESTS += tests/unit/test_softcap
tests_unit_test_softcap_SOURCES = tests/unit/test_softcap.c
tests_unit_test_softcap_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_softcap_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# decode-step attention shared out by keys and columns: the bits of the
# plain computation, on every code path
check_PROGRAMS += tests/unit/test_attn_split
TESTS += tests/unit/test_attn_split tests/unit/attn_split_avx2.sh tests/unit/attn_split_scalar.sh
EXTRA_DIST += tests/unit/attn_split_avx2.sh tests/unit/attn_split_scalar.sh
tests_unit_test_attn_split_SOURCES = tests/unit/test_attn_split.c
tests_unit_test_attn_split_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_attn_split_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
# and decode steps after a long prompt: the same logits on 1, 2, 3 threads
# as the prompt path's, on every code path
check_PROGRAMS += tests/unit/test_attn_decode
TESTS += tests/unit/test_attn_decode tests/unit/attn_decode_avx2.sh tests/unit/attn_decode_scalar.sh
EXTRA_DIST += tests/unit/attn_decode_avx2.sh tests/unit/attn_decode_scalar.sh
tests_unit_test_attn_decode_SOURCES = tests/unit/test_attn_decode.c
tests_unit_test_attn_decode_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_attn_decode_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
