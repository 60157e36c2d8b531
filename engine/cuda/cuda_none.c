/*
 * engine/cuda/cuda_none.c -- the CUDA interface when gemmad was built
 * without CUDA (configure found no usable nvcc/libcudart, or
 * --without-cuda): every call fails with the reason, so asking for a GPU
 * gives "no CUDA device: built without CUDA ..." instead of a link error.
 */
#include "engine/cuda/cuda.h"

#define WHY "built without CUDA (configure --with-cuda)"

int gm_cuda_device_count(cm_err *err)
{
    cm_err_set(err, "no CUDA device: " WHY);
    return 0;
}

int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err)
{
    (void)dev;
    if (cap > 0)
        buf[0] = '\0';
    return cm_err_set(err, WHY);
}

int gm_cuda_mem_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes, char *name,
                     size_t name_cap, cm_err *err)
{
    (void)dev;
    *free_bytes = *total_bytes = 0;
    if (name != NULL && name_cap > 0)
        name[0] = '\0';
    return cm_err_set(err, WHY);
}

int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows, uint64_t cols,
                   const float *x, float *y, cm_err *err)
{
    (void)dev, (void)type, (void)w, (void)rows, (void)cols, (void)x, (void)y;
    return cm_err_set(err, WHY);
}

int gm_cuda_open(int dev, gm_cuda **out, cm_err *err)
{
    (void)dev;
    *out = NULL;
    return cm_err_set(err, "no CUDA device: " WHY);
}

void gm_cuda_close(gm_cuda *cu)
{
    (void)cu;
}

int gm_cuda_alloc(gm_cuda *cu, size_t bytes, void **d_out, cm_err *err)
{
    (void)cu, (void)bytes;
    *d_out = NULL;
    return cm_err_set(err, WHY);
}

void gm_cuda_free(gm_cuda *cu, void *d_ptr)
{
    (void)cu, (void)d_ptr;
}

int gm_cuda_upload(gm_cuda *cu, void *d_dst, const void *src, size_t bytes, cm_err *err)
{
    (void)cu, (void)d_dst, (void)src, (void)bytes;
    return cm_err_set(err, WHY);
}

int gm_cuda_download(gm_cuda *cu, void *dst, const void *d_src, size_t bytes, cm_err *err)
{
    (void)cu, (void)dst, (void)d_src, (void)bytes;
    return cm_err_set(err, WHY);
}

int gm_cuda_copy2d(gm_cuda *cu, void *d_dst, size_t dst_pitch, const void *d_src,
                   size_t src_pitch, size_t row_bytes, size_t rows, cm_err *err)
{
    (void)cu, (void)d_dst, (void)dst_pitch, (void)d_src, (void)src_pitch, (void)row_bytes,
        (void)rows;
    return cm_err_set(err, WHY);
}

int gm_cuda_sync(gm_cuda *cu, cm_err *err)
{
    (void)cu;
    return cm_err_set(err, WHY);
}

int gm_cuda_bandwidth(gm_cuda *cu, size_t bytes, int reps, double *bytes_per_s, cm_err *err)
{
    (void)cu, (void)bytes, (void)reps;
    *bytes_per_s = 0;
    return cm_err_set(err, WHY);
}

/* The formats the kernels would read: the upload plan is the same with or
 * without CUDA, so it is tested everywhere. */
bool gm_cuda_type_supported(gm_type type)
{
    switch (type) {
    case GM_TYPE_F32:
    case GM_TYPE_F16:
    case GM_TYPE_BF16:
    case GM_TYPE_Q4_0:
    case GM_TYPE_Q5_0:
    case GM_TYPE_Q8_0:
    case GM_TYPE_Q4_K:
    case GM_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

int gm_cuda_matmul(gm_cuda *cu, gm_type type, const void *d_w, size_t row_bytes,
                   uint32_t rows, uint32_t cols, const float *d_x, uint32_t n, float *d_y,
                   cm_err *err)
{
    (void)cu, (void)type, (void)d_w, (void)row_bytes, (void)rows, (void)cols, (void)d_x, (void)n,
        (void)d_y;
    return cm_err_set(err, WHY);
}

int gm_cuda_matmul_shared(gm_cuda *cu, const gm_cuda_mm *mm, uint32_t count, uint32_t cols,
                          const float *d_x, uint32_t n, cm_err *err)
{
    (void)cu, (void)mm, (void)count, (void)cols, (void)d_x, (void)n;
    return cm_err_set(err, WHY);
}

int gm_cuda_rmsnorm(gm_cuda *cu, const float *d_x, const float *d_w, uint32_t rows, uint32_t n,
                    float eps, float *d_y, cm_err *err)
{
    (void)cu, (void)d_x, (void)d_w, (void)rows, (void)n, (void)eps, (void)d_y;
    return cm_err_set(err, WHY);
}

int gm_cuda_norm_add_norm(gm_cuda *cu, const float *d_x, const float *d_w, const float *d_r,
                          uint32_t rows, uint32_t n, float eps, float *d_s, const float *d_w2,
                          float *d_y, cm_err *err)
{
    (void)cu, (void)d_x, (void)d_w, (void)d_r, (void)rows, (void)n, (void)eps, (void)d_s,
        (void)d_w2, (void)d_y;
    return cm_err_set(err, WHY);
}

int gm_cuda_add(gm_cuda *cu, const float *d_a, const float *d_b, size_t n, float scale,
                float *d_y, cm_err *err)
{
    (void)cu, (void)d_a, (void)d_b, (void)n, (void)scale, (void)d_y;
    return cm_err_set(err, WHY);
}

int gm_cuda_scale(gm_cuda *cu, float *d_x, size_t n, float s, cm_err *err)
{
    (void)cu, (void)d_x, (void)n, (void)s;
    return cm_err_set(err, WHY);
}

int gm_cuda_scale_vec(gm_cuda *cu, const float *d_x, float s, const float *d_v, uint32_t rows,
                      uint32_t n, float *d_y, cm_err *err)
{
    (void)cu, (void)d_x, (void)s, (void)d_v, (void)rows, (void)n, (void)d_y;
    return cm_err_set(err, WHY);
}

int gm_cuda_rope(gm_cuda *cu, float *d_v, uint32_t n_tok, uint32_t n_head, uint32_t d,
                 uint32_t row_stride, const uint32_t *d_pos, uint32_t n_rot, float theta_scale,
                 const float *d_ff, cm_err *err)
{
    (void)cu, (void)d_v, (void)n_tok, (void)n_head, (void)d, (void)row_stride, (void)d_pos,
        (void)n_rot, (void)theta_scale, (void)d_ff;
    return cm_err_set(err, WHY);
}

int gm_cuda_geglu(gm_cuda *cu, const uint16_t *d_table, const float *d_gate, size_t gate_stride,
                  const float *d_up, size_t up_stride, uint32_t rows, uint32_t n, float *d_out,
                  size_t out_stride, cm_err *err)
{
    (void)cu, (void)d_table, (void)d_gate, (void)gate_stride, (void)d_up, (void)up_stride,
        (void)rows, (void)n, (void)d_out, (void)out_stride;
    return cm_err_set(err, WHY);
}

int gm_cuda_softcap(gm_cuda *cu, float *d_x, size_t n, float cap, cm_err *err)
{
    (void)cu, (void)d_x, (void)n, (void)cap;
    return cm_err_set(err, WHY);
}

int gm_cuda_gather(gm_cuda *cu, const float *d_src, const uint32_t *d_idx, uint32_t div,
                   uint32_t rows, uint32_t n, float *d_dst, cm_err *err)
{
    (void)cu, (void)d_src, (void)d_idx, (void)div, (void)rows, (void)n, (void)d_dst;
    return cm_err_set(err, WHY);
}

int gm_cuda_scatter_scaled(gm_cuda *cu, const float *d_src, const uint32_t *d_idx,
                           const float *d_w, float scale, uint32_t rows, uint32_t n, float *d_dst,
                           cm_err *err)
{
    (void)cu, (void)d_src, (void)d_idx, (void)d_w, (void)scale, (void)rows, (void)n, (void)d_dst;
    return cm_err_set(err, WHY);
}

int gm_cuda_sum_k(gm_cuda *cu, const float *d_in, uint32_t rows, uint32_t k, uint32_t k_stride,
                  uint32_t n, float *d_out, cm_err *err)
{
    (void)cu, (void)d_in, (void)rows, (void)k, (void)k_stride, (void)n, (void)d_out;
    return cm_err_set(err, WHY);
}

int gm_cuda_route(gm_cuda *cu, float *d_logits, uint32_t n_tok, uint32_t n_expert, uint32_t k,
                  uint32_t k_stride, int32_t *d_sel, float *d_sel_w, cm_err *err)
{
    (void)cu, (void)d_logits, (void)n_tok, (void)n_expert, (void)k, (void)k_stride, (void)d_sel,
        (void)d_sel_w;
    return cm_err_set(err, WHY);
}

int gm_cuda_attention(gm_cuda *cu, const gm_cuda_attn *a, const gm_cuda_step *st, cm_err *err)
{
    (void)cu, (void)a, (void)st;
    return cm_err_set(err, WHY);
}

int gm_cuda_kv_store(gm_cuda *cu, const float *d_bk, const float *d_bv, float *d_ck, float *d_cv,
                     uint32_t cap, bool ring, uint32_t width, uint32_t n_tok,
                     const gm_cuda_step *st, cm_err *err)
{
    (void)cu, (void)d_bk, (void)d_bv, (void)d_ck, (void)d_cv, (void)cap, (void)ring, (void)width,
        (void)n_tok, (void)st;
    return cm_err_set(err, WHY);
}

int gm_cuda_reserve(gm_cuda *cu, size_t floats, cm_err *err)
{
    (void)cu, (void)floats;
    return cm_err_set(err, WHY);
}

int gm_cuda_capture_begin(gm_cuda *cu, cm_err *err)
{
    (void)cu;
    return cm_err_set(err, WHY);
}

int gm_cuda_capture_end(gm_cuda *cu, void **graph_out, cm_err *err)
{
    (void)cu;
    *graph_out = NULL;
    return cm_err_set(err, WHY);
}

int gm_cuda_graph_launch(gm_cuda *cu, void *graph, cm_err *err)
{
    (void)cu, (void)graph;
    return cm_err_set(err, WHY);
}

void gm_cuda_graph_free(void *graph)
{
    (void)graph;
}

int gm_cuda_use(gm_cuda *cu, cm_err *err)
{
    (void)cu;
    return cm_err_set(err, WHY);
}
