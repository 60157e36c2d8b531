# engine/cpu/local.mk -- rules for engine/cpu/ (sources are added to engine_libengine_a_SOURCES).
#
# CPU compute kernels: activation conversion, per-format dot products
# (scalar reference, AVX2/FMA and AVX-512 chosen at run time), matmul over a
# thread pool, every vector of a batch getting the bits it gets alone.

engine_libengine_a_SOURCES += \
	engine/cpu/kernels.h engine/cpu/kernels.c \
	engine/cpu/pool.h engine/cpu/pool.c \
	engine/cpu/dot.h engine/cpu/dot_scalar.c engine/cpu/dot_avx2.c \
	engine/cpu/cpu_path.h engine/cpu/cpu_path.c engine/cpu/dot_dispatch.c \
	engine/cpu/dot_avx512.c engine/cpu/dot_avx512_body.h \
	engine/cpu/kq_packed.h engine/cpu/kq_packed.c \
	engine/cpu/q4k_packed.h engine/cpu/q4k_packed.c \
	engine/cpu/q4k_packed_kernels.h engine/cpu/q4k_packed_avx2.c \
	engine/cpu/q6k_packed.h engine/cpu/q6k_packed.c engine/cpu/q6k_packed_avx2.c \
	engine/cpu/act_convert.h engine/cpu/act_convert.c

check_PROGRAMS += tests/unit/test_kernels
TESTS += tests/unit/test_kernels
tests_unit_test_kernels_SOURCES = tests/unit/test_kernels.c
tests_unit_test_kernels_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_kernels_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_q4k_packed
TESTS += tests/unit/test_q4k_packed
tests_unit_test_q4k_packed_SOURCES = tests/unit/test_q4k_packed.c
tests_unit_test_q4k_packed_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_q4k_packed_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# Micro-benchmark of gm_matmul per format (not a test):
#   engine/cpu/kernels-bench [THREADS [N_VEC [MBYTES [COLS]]]]
noinst_PROGRAMS += engine/cpu/kernels-bench
engine_cpu_kernels_bench_SOURCES = engine/cpu/kernels_bench.c
engine_cpu_kernels_bench_LDADD = $(ENGINE_LIBS)

# gemma-run bench --json and the GEMMA_CPU paths end to end.
TESTS += tests/integration/bench_cli.sh
EXTRA_DIST += tests/integration/bench_cli.sh

check_PROGRAMS += tests/unit/test_q6k_packed
TESTS += tests/unit/test_q6k_packed
tests_unit_test_q6k_packed_SOURCES = tests/unit/test_q6k_packed.c
tests_unit_test_q6k_packed_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_q6k_packed_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# test_q4k_packed and test_q6k_packed once more on the AVX2 path (the
# AVX2 packed kernels) and test_q4k_packed on the scalar path (packed
# parts refused).
TESTS += tests/unit/q4k_packed_avx2.sh tests/unit/q4k_packed_scalar.sh \
	tests/unit/q6k_packed_avx2.sh
EXTRA_DIST += tests/unit/q4k_packed_avx2.sh tests/unit/q4k_packed_scalar.sh \
	tests/unit/q6k_packed_avx2.sh tests/lib/cpu-path.sh

# The AVX2 Q8_0 and Q8_K activation conversion against the plain C
# forms, byte for byte.
check_PROGRAMS += tests/unit/test_act_convert
TESTS += tests/unit/test_act_convert
tests_unit_test_act_convert_SOURCES = tests/unit/test_act_convert.c
tests_unit_test_act_convert_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_act_convert_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
