# engine/cuda/local.mk -- the CUDA backend (configure --with-cuda), or its
# stand-in that reports "built without CUDA". A library of its own so the
# .cu file is compiled by nvcc with a plain suffix rule.

noinst_LIBRARIES += engine/cuda/libgmcuda.a
EXTRA_DIST += engine/cuda/cuda_backend.cu
if HAVE_CUDA
engine_cuda_libgmcuda_a_SOURCES = engine/cuda/cuda.h engine/cuda/cuda_backend.cu
ENGINE_CUDA_LIBS = engine/cuda/libgmcuda.a $(CUDA_LIBS) -lstdc++
else
engine_cuda_libgmcuda_a_SOURCES = engine/cuda/cuda.h engine/cuda/cuda_none.c
ENGINE_CUDA_LIBS = engine/cuda/libgmcuda.a
endif
EXTRA_DIST += engine/cuda/cuda_none.c

SUFFIXES = .cu
# Hopper (sm_90) code plus PTX so newer cards JIT it; NVCCFLAGS adds more.
NVCC_ARCH = -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
.cu.o:
	$(AM_V_CC)$(NVCC) $(NVCC_ARCH) -O2 -std=c++17 -I$(top_srcdir) -I$(top_builddir) \
		$(NVCCFLAGS) -Xcompiler -fPIC -c -o $@ $<

check_PROGRAMS += tests/unit/test_cuda
TESTS += tests/unit/test_cuda
tests_unit_test_cuda_SOURCES = tests/unit/test_cuda.c
tests_unit_test_cuda_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cuda_LDADD = $(ENGINE_CUDA_LIBS) common/libcommon.a $(TEST_LIBS) -lm
