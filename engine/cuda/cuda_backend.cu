/*
 * engine/cuda/cuda_backend.cu -- CUDA implementation of engine/cuda/cuda.h.
 *
 * One thread block per output row: each thread accumulates a strided part
 * of the row's dot product in f32, then the block reduces in shared memory.
 * F16 weights are widened to f32 on load; activations stay f32.
 */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "engine/cuda/cuda.h"
}

#define MATVEC_THREADS 256

template <typename T> __device__ static float load_weight(const T *p);
template <> __device__ float load_weight<float>(const float *p) { return *p; }
template <> __device__ float load_weight<__half>(const __half *p) { return __half2float(*p); }

template <typename T>
__global__ static void matvec_kernel(const T *w, uint64_t cols, const float *x, float *y)
{
    __shared__ float partial[MATVEC_THREADS];
    const uint64_t row = blockIdx.x;
    const T *wrow = w + row * cols;
    float sum = 0.0f;
    for (uint64_t c = threadIdx.x; c < cols; c += blockDim.x)
        sum += load_weight<T>(wrow + c) * x[c];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride)
            partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        y[row] = partial[0];
}

static int cuda_fail(cm_err *err, const char *what, cudaError_t rc)
{
    return cm_err_set(err, "CUDA %s: %s", what, cudaGetErrorString(rc));
}

extern "C" int gm_cuda_device_count(cm_err *err)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        cuda_fail(err, "device query", rc);
        return 0;
    }
    if (n == 0)
        cm_err_set(err, "no CUDA device found");
    return n;
}

extern "C" int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err)
{
    cudaDeviceProp prop;
    cudaError_t rc = cudaGetDeviceProperties(&prop, dev);
    if (rc != cudaSuccess)
        return cuda_fail(err, "device properties", rc);
    snprintf(buf, cap, "%s, %.1f GiB, compute %d.%d", prop.name,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
    return 0;
}

extern "C" int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows,
                              uint64_t cols, const float *x, float *y, cm_err *err)
{
    size_t elem;
    if (type == GM_TYPE_F32)
        elem = 4;
    else if (type == GM_TYPE_F16)
        elem = 2;
    else
        return cm_err_set(err, "CUDA matvec: type %d not supported yet", (int)type);
    if (rows == 0 || cols == 0 || rows > 0x7fffffffu)
        return cm_err_set(err, "CUDA matvec: bad shape %llu x %llu",
                          (unsigned long long)rows, (unsigned long long)cols);
    if (cols > SIZE_MAX / elem / rows)
        return cm_err_set(err, "CUDA matvec: weight size overflows");

    cudaError_t rc = cudaSetDevice(dev);
    if (rc != cudaSuccess)
        return cuda_fail(err, "set device", rc);
    void *d_w = NULL;
    float *d_x = NULL, *d_y = NULL;
    int status = -1;
    if ((rc = cudaMalloc(&d_w, rows * cols * elem)) != cudaSuccess ||
        (rc = cudaMalloc((void **)&d_x, cols * sizeof(float))) != cudaSuccess ||
        (rc = cudaMalloc((void **)&d_y, rows * sizeof(float))) != cudaSuccess) {
        cuda_fail(err, "allocation", rc);
        goto out;
    }
    if ((rc = cudaMemcpy(d_w, w, rows * cols * elem, cudaMemcpyHostToDevice)) != cudaSuccess ||
        (rc = cudaMemcpy(d_x, x, cols * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess) {
        cuda_fail(err, "copy to device", rc);
        goto out;
    }
    if (type == GM_TYPE_F32)
        matvec_kernel<float><<<(unsigned)rows, MATVEC_THREADS>>>((const float *)d_w, cols, d_x, d_y);
    else
        matvec_kernel<__half><<<(unsigned)rows, MATVEC_THREADS>>>((const __half *)d_w, cols, d_x, d_y);
    if ((rc = cudaGetLastError()) != cudaSuccess) {
        cuda_fail(err, "kernel launch", rc);
        goto out;
    }
    if ((rc = cudaMemcpy(y, d_y, rows * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess) {
        cuda_fail(err, "copy to host", rc);
        goto out;
    }
    status = 0;
out:
    cudaFree(d_w);
    cudaFree(d_x);
    cudaFree(d_y);
    return status;
}
