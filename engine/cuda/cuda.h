/*
 * engine/cuda/cuda.h -- the CUDA backend's C interface.
 *
 * What exists today: device discovery and a matrix-vector product on F32
 * and F16 weights, checked against the CPU kernels on machines with a GPU.
 * The forward pass will move behind this boundary op by op; everything is
 * plain C on this side so the rest of the engine never includes CUDA
 * headers. Built only with --with-cuda; otherwise engine/cuda/cuda_none.c
 * answers "no device" with a clear reason.
 */
#ifndef GM_CUDA_H
#define GM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/tensor_type.h"

/* Number of usable CUDA devices; 0 (and a reason in err) when there are
 * none or the backend was not built. Never fails otherwise. */
int gm_cuda_device_count(cm_err *err);

/* One line describing device `dev` (name, memory, compute capability). */
int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err);

/* y[r] = sum_c W[r][c] * x[c] on device `dev`, W of type F32 or F16
 * (row-major, rows x cols), x and y host f32 arrays. The weight is copied
 * to the device for the call. */
int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows, uint64_t cols,
                   const float *x, float *y, cm_err *err);

#endif
