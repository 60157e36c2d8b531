/*
 * engine/cuda/cuda_none.c -- the CUDA interface when gemmad was built
 * without CUDA (configure found no nvcc, or --without-cuda).
 */
#include "engine/cuda/cuda.h"

int gm_cuda_device_count(cm_err *err)
{
    cm_err_set(err, "built without CUDA (configure --with-cuda)");
    return 0;
}

int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err)
{
    (void)dev;
    if (cap > 0)
        buf[0] = '\0';
    return cm_err_set(err, "built without CUDA (configure --with-cuda)");
}

int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows, uint64_t cols,
                   const float *x, float *y, cm_err *err)
{
    (void)dev, (void)type, (void)w, (void)rows, (void)cols, (void)x, (void)y;
    return cm_err_set(err, "built without CUDA (configure --with-cuda)");
}
