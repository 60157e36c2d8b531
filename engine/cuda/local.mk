# engine/cuda/local.mk -- the CUDA backend (configure --with-cuda), or its
# stand-in that reports "built without CUDA". The kernels are a library of
# their own so the .cu files are compiled by nvcc with a plain suffix rule;
# the backend's C side (upload plan, forward pass) is part of the engine
# library in every build, so it compiles (-Werror) and its host side is
# tested without a GPU.

engine_libengine_a_SOURCES += engine/backend.h \
	engine/cuda/cuda_plan.h engine/cuda/cuda_plan.c engine/cuda/cuda_forward.c

noinst_LIBRARIES += engine/cuda/libgmcuda.a
CUDA_KERNEL_SOURCES = engine/cuda/cuda_backend.cu engine/cuda/cuda_matmul.cu \
	engine/cuda/cuda_ops.cu
EXTRA_DIST += $(CUDA_KERNEL_SOURCES) engine/cuda/cuda_impl.cuh
if HAVE_CUDA
engine_cuda_libgmcuda_a_SOURCES = engine/cuda/cuda.h $(CUDA_KERNEL_SOURCES)
ENGINE_CUDA_LIBS = engine/cuda/libgmcuda.a $(CUDA_LIBS) -lstdc++
else
engine_cuda_libgmcuda_a_SOURCES = engine/cuda/cuda.h engine/cuda/cuda_none.c
ENGINE_CUDA_LIBS = engine/cuda/libgmcuda.a
endif
EXTRA_DIST += engine/cuda/cuda_none.c

SUFFIXES = .cu
# Hopper (sm_90) code, plus PTX for compute 8.0 that the driver compiles
# for any newer card (A100, RTX 30/40, L4, ...). NVCCFLAGS adds more.
NVCC_ARCH = -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80
$(CUDA_KERNEL_SOURCES:.cu=.o): engine/cuda/cuda_impl.cuh engine/cuda/cuda.h engine/cuda/cuda_dequant.cuh
.cu.o:
	$(AM_V_CC)$(NVCC) $(NVCC_ARCH) -O2 -std=c++17 -I$(top_srcdir) -I$(top_builddir) \
		$(NVCCFLAGS) -Xcompiler -fPIC -c -o $@ $<

check_PROGRAMS += tests/unit/test_cuda tests/unit/test_cuda_plan
TESTS += tests/unit/test_cuda tests/unit/test_cuda_plan
tests_unit_test_cuda_SOURCES = tests/unit/test_cuda.c
tests_unit_test_cuda_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cuda_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)
tests_unit_test_cuda_plan_SOURCES = tests/unit/test_cuda_plan.c
tests_unit_test_cuda_plan_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cuda_plan_LDADD = $(ENGINE_LIBS) $(TEST_LIBS)

# The GPU check, run by hand on a machine with an NVIDIA GPU.
EXTRA_DIST += tests/gpu/check.sh tests/gpu/cuda_parity.sh

# The device bandwidth for the roofline (tests/gpu/check.sh).
check_PROGRAMS += tests/tools/cuda_bandwidth
tests_tools_cuda_bandwidth_SOURCES = tests/tools/cuda_bandwidth.c
tests_tools_cuda_bandwidth_LDADD = $(ENGINE_CUDA_LIBS) common/libcommon.a -lm

# The backend's forward pass on a host emulation of the kernels (runs
# without a GPU): linked without libgmcuda, the emulation stands in for it.
check_PROGRAMS += tests/unit/test_cuda_emul
TESTS += tests/unit/test_cuda_emul
tests_unit_test_cuda_emul_SOURCES = tests/unit/test_cuda_emul.c tests/unit/cuda_emul.c
tests_unit_test_cuda_emul_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cuda_emul_LDADD = engine/libengine.a common/libcommon.a -lm -lpthread \
	$(TEST_LIBS)

# The kernels' dequantizers, compiled for the host by nvcc, against
# engine/quant bit for bit (CUDA builds; no GPU needed).
EXTRA_DIST += engine/cuda/cuda_dequant.cuh tests/unit/test_cuda_dequant.cu
if HAVE_CUDA
check_PROGRAMS += tests/unit/test_cuda_dequant
TESTS += tests/unit/test_cuda_dequant
tests_unit_test_cuda_dequant_SOURCES = tests/unit/test_cuda_dequant.cu
tests_unit_test_cuda_dequant_LDADD = $(ENGINE_LIBS) -lstdc++
tests/unit/test_cuda_dequant.o: engine/cuda/cuda_dequant.cuh
endif

# Where gemmad runs a model (models[].device, device_fallback) and what
# /admin/v1/status and gemmactl status say about it (no GPU needed).
TESTS += tests/integration/daemon_device.sh
EXTRA_DIST += tests/integration/daemon_device.sh
