/*
 * engine/cuda/cuda_backend.cu -- devices, memory and streams of the CUDA
 * backend (engine/cuda/cuda.h), the copy kernel that measures the memory
 * bandwidth, and a self-contained F32/F16 matrix-vector check.
 */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/cuda_impl.cuh"
#ifdef HAVE_CUBLAS
#include <cublas_v2.h>
#endif

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

extern "C" int gm_cuda_device_count(cm_err *err)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        /* cudaErrorNoDevice, cudaErrorInsufficientDriver, ... name the cause */
        cm_err_set(err, "no CUDA device: %s", cudaGetErrorString(rc));
        return 0;
    }
    if (n == 0)
        cm_err_set(err, "no CUDA device: the driver reports none");
    return n;
}

extern "C" int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err)
{
    cudaDeviceProp prop;
    cudaError_t rc = cudaGetDeviceProperties(&prop, dev);
    if (rc != cudaSuccess)
        return gm_cuda_fail(err, "device properties", rc);
    snprintf(buf, cap, "%s, %.1f GiB, compute %d.%d", prop.name,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
    return 0;
}

extern "C" int gm_cuda_mem_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes,
                                char *name, size_t name_cap, cm_err *err)
{
    cudaDeviceProp prop;
    cudaError_t rc = cudaGetDeviceProperties(&prop, dev);
    if (rc != cudaSuccess)
        return gm_cuda_fail(err, "device properties", rc);
    if (name != NULL && name_cap > 0)
        snprintf(name, name_cap, "%s", prop.name);
    size_t f = 0, t = 0;
    if ((rc = cudaSetDevice(dev)) != cudaSuccess || (rc = cudaMemGetInfo(&f, &t)) != cudaSuccess)
        return gm_cuda_fail(err, "memory information", rc);
    *free_bytes = f;
    *total_bytes = t;
    return 0;
}

/* cuBLAS state of a handle (used by cuda_matmul.cu). */
void gm_cuda_blas_init(gm_cuda *cu)
{
#ifdef HAVE_CUBLAS
    const char *e = getenv("GEMMA_CUDA_CUBLAS");
    cu->blas_on = e == NULL || strcmp(e, "0") != 0;
#else
    cu->blas_on = false;
#endif
    cu->blas = NULL;
}

void gm_cuda_blas_free(gm_cuda *cu)
{
#ifdef HAVE_CUBLAS
    if (cu->blas != NULL)
        cublasDestroy((cublasHandle_t)cu->blas);
#endif
    cu->blas = NULL;
}

extern "C" int gm_cuda_open(int dev, gm_cuda **out, cm_err *err)
{
    *out = NULL;
    cm_err why;
    int n = gm_cuda_device_count(&why);
    if (n == 0)
        return cm_err_set(err, "%s", why.msg);
    if (dev < 0 || dev >= n)
        return cm_err_set(err, "no CUDA device cuda:%d: the machine has %d (cuda:0 to cuda:%d)",
                          dev, n, n - 1);
    cudaError_t rc = cudaSetDevice(dev);
    if (rc != cudaSuccess)
        return gm_cuda_fail(err, "set device", rc);
    gm_cuda *cu = (gm_cuda *)calloc(1, sizeof(*cu));
    if (cu == NULL)
        return cm_err_set(err, "out of memory");
    cu->dev = dev;
    if ((rc = cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        free(cu);
        return gm_cuda_fail(err, "stream", rc);
    }
    gm_cuda_blas_init(cu);
    *out = cu;
    return 0;
}

extern "C" void gm_cuda_close(gm_cuda *cu)
{
    if (cu == NULL)
        return;
    cudaSetDevice(cu->dev);
    cudaStreamSynchronize(cu->stream);
    gm_cuda_blas_free(cu);
    cudaFree(cu->act);
    cudaStreamDestroy(cu->stream);
    free(cu);
}

extern "C" int gm_cuda_alloc(gm_cuda *cu, size_t bytes, void **d_out, cm_err *err)
{
    *d_out = NULL;
    cudaError_t rc = cudaSetDevice(cu->dev);
    if (rc == cudaSuccess)
        rc = cudaMalloc(d_out, bytes ? bytes : 1);
    if (rc != cudaSuccess) {
        *d_out = NULL;
        cudaGetLastError(); /* clear the sticky-free allocation error */
        size_t f = 0, t = 0;
        cudaMemGetInfo(&f, &t);
        return cm_err_set(err, "CUDA: cannot allocate %.1f MiB on cuda:%d (%.1f MiB free of %.1f MiB): %s",
                          (double)bytes / 1048576.0, cu->dev, (double)f / 1048576.0,
                          (double)t / 1048576.0, cudaGetErrorString(rc));
    }
    if ((rc = cudaMemsetAsync(*d_out, 0, bytes, cu->stream)) != cudaSuccess
        || (rc = cudaStreamSynchronize(cu->stream)) != cudaSuccess) {
        cudaFree(*d_out);
        *d_out = NULL;
        return gm_cuda_fail(err, "memset", rc);
    }
    return 0;
}

extern "C" void gm_cuda_free(gm_cuda *cu, void *d_ptr)
{
    if (cu == NULL || d_ptr == NULL)
        return;
    cudaSetDevice(cu->dev);
    cudaFree(d_ptr);
}

extern "C" int gm_cuda_upload(gm_cuda *cu, void *d_dst, const void *src, size_t bytes,
                              cm_err *err)
{
    if (bytes == 0)
        return 0;
    /* pageable host memory: the copy is staged before this returns */
    cudaError_t rc = cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, cu->stream);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "copy to device", rc);
}

extern "C" int gm_cuda_download(gm_cuda *cu, void *dst, const void *d_src, size_t bytes,
                                cm_err *err)
{
    cudaError_t rc = cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, cu->stream);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(cu->stream);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "copy to host", rc);
}

extern "C" int gm_cuda_copy2d(gm_cuda *cu, void *d_dst, size_t dst_pitch, const void *d_src,
                              size_t src_pitch, size_t row_bytes, size_t rows, cm_err *err)
{
    if (rows == 0 || row_bytes == 0)
        return 0;
    cudaError_t rc = cudaMemcpy2DAsync(d_dst, dst_pitch, d_src, src_pitch, row_bytes, rows,
                                       cudaMemcpyDeviceToDevice, cu->stream);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "device copy", rc);
}

extern "C" int gm_cuda_sync(gm_cuda *cu, cm_err *err)
{
    cudaError_t rc = cudaStreamSynchronize(cu->stream);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "execution", rc);
}

/* dst = src in 16-byte words, grid-stride. */
__global__ static void copy_kernel(const uint4 *src, uint4 *dst, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[i];
}

extern "C" int gm_cuda_bandwidth(gm_cuda *cu, size_t bytes, int reps, double *bytes_per_s,
                                 cm_err *err)
{
    *bytes_per_s = 0;
    bytes &= ~(size_t)15;
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int status = -1;
    if (gm_cuda_alloc(cu, bytes, &a, err) < 0 || gm_cuda_alloc(cu, bytes, &b, err) < 0)
        goto out;
    if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        cm_err_set(err, "CUDA: cannot create events");
        goto out;
    }
    for (int r = 0; r <= reps; r++) { /* run 0 warms up */
        cudaEventRecord(e0, cu->stream);
        copy_kernel<<<1024, 512, 0, cu->stream>>>((const uint4 *)a, (uint4 *)b, bytes / 16);
        cudaEventRecord(e1, cu->stream);
        cudaError_t rc = cudaEventSynchronize(e1);
        if (rc != cudaSuccess) {
            gm_cuda_fail(err, "bandwidth copy", rc);
            goto out;
        }
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        double bw = 2.0 * (double)bytes / (ms * 1e-3);
        if (r > 0 && ms > 0 && bw > *bytes_per_s)
            *bytes_per_s = bw;
    }
    status = 0;
out:
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    gm_cuda_free(cu, a);
    gm_cuda_free(cu, b);
    return status;
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
        return gm_cuda_fail(err, "set device", rc);
    void *d_w = NULL;
    float *d_x = NULL, *d_y = NULL;
    int status = -1;
    if ((rc = cudaMalloc(&d_w, rows * cols * elem)) != cudaSuccess ||
        (rc = cudaMalloc((void **)&d_x, cols * sizeof(float))) != cudaSuccess ||
        (rc = cudaMalloc((void **)&d_y, rows * sizeof(float))) != cudaSuccess) {
        gm_cuda_fail(err, "allocation", rc);
        goto out;
    }
    if ((rc = cudaMemcpy(d_w, w, rows * cols * elem, cudaMemcpyHostToDevice)) != cudaSuccess ||
        (rc = cudaMemcpy(d_x, x, cols * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess) {
        gm_cuda_fail(err, "copy to device", rc);
        goto out;
    }
    if (type == GM_TYPE_F32)
        matvec_kernel<float><<<(unsigned)rows, MATVEC_THREADS>>>((const float *)d_w, cols, d_x, d_y);
    else
        matvec_kernel<__half><<<(unsigned)rows, MATVEC_THREADS>>>((const __half *)d_w, cols, d_x, d_y);
    if ((rc = cudaGetLastError()) != cudaSuccess) {
        gm_cuda_fail(err, "kernel launch", rc);
        goto out;
    }
    if ((rc = cudaMemcpy(y, d_y, rows * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess) {
        gm_cuda_fail(err, "copy to host", rc);
        goto out;
    }
    status = 0;
out:
    cudaFree(d_w);
    cudaFree(d_x);
    cudaFree(d_y);
    return status;
}

extern "C" int gm_cuda_reserve(gm_cuda *cu, size_t floats, cm_err *err)
{
    if (floats <= cu->act_cap)
        return 0;
    cudaFree(cu->act); /* waits for the work that used it */
    cu->act = NULL;
    cu->act_cap = 0;
    cudaError_t rc = cudaMalloc((void **)&cu->act, floats * sizeof(float));
    if (rc != cudaSuccess)
        return gm_cuda_fail(err, "activation buffer", rc);
    cu->act_cap = floats;
    return 0;
}

extern "C" int gm_cuda_capture_begin(gm_cuda *cu, cm_err *err)
{
    cudaError_t rc = cudaStreamBeginCapture(cu->stream, cudaStreamCaptureModeThreadLocal);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "graph capture", rc);
}

extern "C" int gm_cuda_capture_end(gm_cuda *cu, void **graph_out, cm_err *err)
{
    *graph_out = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t rc = cudaStreamEndCapture(cu->stream, &graph);
    if (rc != cudaSuccess) {
        if (graph != NULL)
            cudaGraphDestroy(graph);
        cudaGetLastError();
        return gm_cuda_fail(err, "graph capture", rc);
    }
    cudaGraphExec_t exec = NULL;
    rc = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return gm_cuda_fail(err, "graph instantiation", rc);
    }
    *graph_out = (void *)exec;
    return 0;
}

extern "C" int gm_cuda_graph_launch(gm_cuda *cu, void *graph, cm_err *err)
{
    cudaError_t rc = cudaGraphLaunch((cudaGraphExec_t)graph, cu->stream);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "graph launch", rc);
}

extern "C" void gm_cuda_graph_free(void *graph)
{
    if (graph != NULL)
        cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

extern "C" int gm_cuda_use(gm_cuda *cu, cm_err *err)
{
    cudaError_t rc = cudaSetDevice(cu->dev);
    return rc == cudaSuccess ? 0 : gm_cuda_fail(err, "set device", rc);
}
