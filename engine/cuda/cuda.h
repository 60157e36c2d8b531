/*
 * engine/cuda/cuda.h -- the CUDA backend's C interface to its kernels.
 *
 * Everything here is plain C so the rest of the engine never includes
 * CUDA headers: device discovery, device memory, and one launcher per
 * kernel (engine/cuda/cuda_device.cu, cuda_matmul.cu, cuda_ops.cu). The
 * forward pass that strings them together is ordinary C
 * (engine/cuda/cuda_forward.c). Built only with CUDA; otherwise
 * engine/cuda/cuda_none.c answers every call with "built without CUDA".
 *
 * Pointers named d_* are device pointers. The launchers queue work on the
 * handle's stream and return at once; a launch error is returned
 * immediately, an execution error at the next gm_cuda_download() or
 * gm_cuda_sync().
 */
#ifndef GM_CUDA_H
#define GM_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below have no guards of their own */
#endif

#include "common/err.h"
#include "engine/format/tensor_type.h"

/* Number of usable CUDA devices; 0 (and the cause in err: no driver, no
 * device, built without CUDA) when there are none. Never fails otherwise. */
int gm_cuda_device_count(cm_err *err);

/* One line describing device `dev` (name, memory, compute capability). */
int gm_cuda_describe(int dev, char *buf, size_t cap, cm_err *err);

/* Free and total memory of device `dev`, and its name. */
int gm_cuda_mem_info(int dev, uint64_t *free_bytes, uint64_t *total_bytes, char *name,
                     size_t name_cap, cm_err *err);

/* y[r] = sum_c W[r][c] * x[c] on device `dev`, W of type F32 or F16
 * (row-major, rows x cols), x and y host f32 arrays. The weight is copied
 * to the device for the call (a self-contained check of the toolchain). */
int gm_cuda_matvec(int dev, gm_type type, const void *w, uint64_t rows, uint64_t cols,
                   const float *x, float *y, cm_err *err);

/* A device and its stream. */
typedef struct gm_cuda gm_cuda;
int gm_cuda_open(int dev, gm_cuda **out, cm_err *err);
void gm_cuda_close(gm_cuda *cu);

/* Make the handle's device the calling thread's current one (each thread
 * that runs a forward pass must, before queuing work). */
int gm_cuda_use(gm_cuda *cu, cm_err *err);

/* Device memory. gm_cuda_alloc zeroes what it returns. */
int gm_cuda_alloc(gm_cuda *cu, size_t bytes, void **d_out, cm_err *err);
void gm_cuda_free(gm_cuda *cu, void *d_ptr);
/* Host to device (queued on the stream; the host buffer is copied before
 * the call returns). */
int gm_cuda_upload(gm_cuda *cu, void *d_dst, const void *src, size_t bytes, cm_err *err);
/* Device to host; waits for everything queued before it. */
int gm_cuda_download(gm_cuda *cu, void *dst, const void *d_src, size_t bytes, cm_err *err);
/* Device to device, `rows` rows of `row_bytes` at the given pitches. */
int gm_cuda_copy2d(gm_cuda *cu, void *d_dst, size_t dst_pitch, const void *d_src,
                   size_t src_pitch, size_t row_bytes, size_t rows, cm_err *err);
/* Wait for the stream; reports any execution error. */
int gm_cuda_sync(gm_cuda *cu, cm_err *err);
/* Bytes per second of a device-to-device copy of `bytes` (a read and a
 * write each), the best of `reps` timed runs: the HBM bandwidth. */
int gm_cuda_bandwidth(gm_cuda *cu, size_t bytes, int reps, double *bytes_per_s, cm_err *err);

/* Make sure the matmul's activation buffer holds `floats` (allocating
 * outside any graph capture). */
int gm_cuda_reserve(gm_cuda *cu, size_t floats, cm_err *err);

/* CUDA graphs: record what is queued on the stream between begin and end
 * (nothing runs), then replay it with one launch. Only launches and
 * device-to-device copies may be queued while recording. */
int gm_cuda_capture_begin(gm_cuda *cu, cm_err *err);
int gm_cuda_capture_end(gm_cuda *cu, void **graph_out, cm_err *err);
int gm_cuda_graph_launch(gm_cuda *cu, void *graph, cm_err *err);
void gm_cuda_graph_free(void *graph);

/* True for the weight formats the matmul kernels read. */
bool gm_cuda_type_supported(gm_type type);

/* d_y[v][r] = sum_c W[r][c] * d_x[v][c] for v < n; W (d_w) has `rows`
 * rows of `cols` elements in format `type`, `row_bytes` apart. Weights are
 * dequantized in the kernel; activations stay f32. */
int gm_cuda_matmul(gm_cuda *cu, gm_type type, const void *d_w, size_t row_bytes,
                   uint32_t rows, uint32_t cols, const float *d_x, uint32_t n, float *d_y,
                   cm_err *err);

/* Several weights times the same activations: for each entry,
 * d_y = W d_x as gm_cuda_matmul computes it, with the activations
 * quantized once for all when every weight reads the same activation
 * blocks (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for Q4_K/Q6_K): one launch fewer
 * per weight after the first. Otherwise one gm_cuda_matmul each. */
typedef struct gm_cuda_mm {
    gm_type type;
    const void *d_w;
    size_t row_bytes;
    uint32_t rows;
    float *d_y;
} gm_cuda_mm;
int gm_cuda_matmul_shared(gm_cuda *cu, const gm_cuda_mm *mm, uint32_t count, uint32_t cols,
                          const float *d_x, uint32_t n, cm_err *err);

/* d_y = rms_norm(d_x) * d_w per row of n (d_w may be NULL); in place allowed. */
int gm_cuda_rmsnorm(gm_cuda *cu, const float *d_x, const float *d_w, uint32_t rows,
                    uint32_t n, float eps, float *d_y, cm_err *err);
/* One launch for a residual add between norms, per row of n:
 * d_s = rms_norm(d_x) * d_w + d_r, then, when d_y is not NULL,
 * d_y = rms_norm(d_s) * d_w2 (d_w, d_w2 may be NULL). Rounded as
 * gm_cuda_rmsnorm, gm_cuda_add, gm_cuda_rmsnorm in turn; d_s may be d_x
 * or d_r. */
int gm_cuda_norm_add_norm(gm_cuda *cu, const float *d_x, const float *d_w, const float *d_r,
                          uint32_t rows, uint32_t n, float eps, float *d_s, const float *d_w2,
                          float *d_y, cm_err *err);
/* d_y = (d_a + d_b) * scale over n floats (scale 1: a plain sum). */
int gm_cuda_add(gm_cuda *cu, const float *d_a, const float *d_b, size_t n, float scale,
                float *d_y, cm_err *err);
/* d_x *= s over n floats. */
int gm_cuda_scale(gm_cuda *cu, float *d_x, size_t n, float s, cm_err *err);
/* d_y[i][c] = d_x[i][c] * s * d_v[c] over rows of n. */
int gm_cuda_scale_vec(gm_cuda *cu, const float *d_x, float s, const float *d_v,
                      uint32_t rows, uint32_t n, float *d_y, cm_err *err);
/* NEOX RoPE in place on n_head heads of d floats per token (rows of
 * row_stride floats); d_pos[t] is token t's position; theta_i = pos *
 * theta_scale^i / ff[i] (d_ff may be NULL). */
int gm_cuda_rope(gm_cuda *cu, float *d_v, uint32_t n_tok, uint32_t n_head, uint32_t d,
                 uint32_t row_stride, const uint32_t *d_pos, uint32_t n_rot,
                 float theta_scale, const float *d_ff, cm_err *err);
/* out[r][c] = gelu(gate[r][c]) * up[r][c] for r < rows, c < n; each with
 * its own row stride (floats). d_table: ggml's fp16 GELU table on the
 * device, or NULL for the exact formula. */
int gm_cuda_geglu(gm_cuda *cu, const uint16_t *d_table, const float *d_gate,
                  size_t gate_stride, const float *d_up, size_t up_stride, uint32_t rows,
                  uint32_t n, float *d_out, size_t out_stride, cm_err *err);
/* x = cap * tanh(x / cap) over n floats. */
int gm_cuda_softcap(gm_cuda *cu, float *d_x, size_t n, float cap, cm_err *err);
/* d_dst[r] = d_src[d_idx[r] / div] for r < rows (rows of n floats). */
int gm_cuda_gather(gm_cuda *cu, const float *d_src, const uint32_t *d_idx, uint32_t div,
                   uint32_t rows, uint32_t n, float *d_dst, cm_err *err);
/* d_dst[d_idx[r]] = d_src[r] * scale * d_w[d_idx[r]] for r < rows. */
int gm_cuda_scatter_scaled(gm_cuda *cu, const float *d_src, const uint32_t *d_idx,
                           const float *d_w, float scale, uint32_t rows, uint32_t n,
                           float *d_dst, cm_err *err);
/* d_out[i] = sum_j d_in[i][j] (j < k, in order) for rows of n floats;
 * d_in is [rows][k_stride][n]. */
int gm_cuda_sum_k(gm_cuda *cu, const float *d_in, uint32_t rows, uint32_t k,
                  uint32_t k_stride, uint32_t n, float *d_out, cm_err *err);
/* MoE routing per token: softmax over d_logits[i][0..n_expert) (in
 * place), the top k (ties: lower index), their weights renormalised
 * (sum clamped below at 2^-14) into d_sel/d_sel_w[i][0..k). */
int gm_cuda_route(gm_cuda *cu, float *d_logits, uint32_t n_tok, uint32_t n_expert,
                  uint32_t k, uint32_t k_stride, int32_t *d_sel, float *d_sel_w,
                  cm_err *err);

/* The step's tokens as attention sees them (device arrays, engine/model
 * gm_scratch): position, sequence, each sequence's first position in the
 * step and offset into tok_of, and tok_of (token index by sequence and
 * position). */
typedef struct gm_cuda_step {
    const uint32_t *pos, *seq, *seq_p0, *seq_off, *tok_of;
    uint32_t n_seq; /* entries of seq_p0 and seq_off */
} gm_cuda_step;

/* One layer's attention: d_out[i][h] = softmax_j(q[i][h] . k_j) v_j over
 * the positions j the token sees (causal; a window of `window` positions
 * when window > 0), scale 1, head h reading K/V head h / (H / Hkv). Keys
 * before the sequence's first position in this step come from the cache
 * (cache_k/v: [n_seq][cap][Hkv*d], slot pos % cap when ring), the others
 * from the step's batch K/V (batch_k/v: [n_tok][Hkv*d]). */
typedef struct gm_cuda_attn {
    const float *q;        /* [n_tok][H*d] */
    float *out;            /* [n_tok][H*d] */
    const float *batch_k, *batch_v;
    const float *cache_k, *cache_v;
    uint32_t cap;
    bool ring;
    uint32_t n_tok, n_head, n_head_kv, head_dim, window;
} gm_cuda_attn;
#define GM_CUDA_MAX_HEAD_DIM 512
int gm_cuda_attention(gm_cuda *cu, const gm_cuda_attn *a, const gm_cuda_step *st,
                      cm_err *err);
/* Copy the step's batch K/V rows into the cache at (seq, pos). In a ring
 * only the last of the step's positions that share a slot is written (as
 * the CPU's in-order copy leaves it). */
int gm_cuda_kv_store(gm_cuda *cu, const float *d_bk, const float *d_bv, float *d_ck,
                     float *d_cv, uint32_t cap, bool ring, uint32_t width, uint32_t n_tok,
                     const gm_cuda_step *st, cm_err *err);

#ifdef __cplusplus
}
#endif

#endif
