/*
 * engine/cuda/cuda_plan.h -- what the CUDA backend puts on the GPU and
 * where: the upload plan of a model's weights (which tensors, at which
 * offset of one device allocation, checked against the formats the
 * kernels read) and the layout of a context's working buffers and KV
 * cache. Plain C with no CUDA calls, so it is tested on any machine
 * (tests/unit/test_cuda_plan.c) and its sums are the memory the backend
 * reports.
 */
#ifndef GM_CUDA_PLAN_H
#define GM_CUDA_PLAN_H

#include <stdint.h>

#include "common/err.h"
#include "engine/model/model.h"

/* Every weight of the model has a slot: the model-wide ones first, then
 * each layer's gm_layer fields in order. */
enum {
    GM_CUDA_SLOT_TOK_EMBD,
    GM_CUDA_SLOT_OUTPUT,
    GM_CUDA_SLOT_OUTPUT_NORM,
    GM_CUDA_SLOT_ROPE_FREQS,
    GM_CUDA_SLOT_PLE_TOK_EMBD,
    GM_CUDA_SLOT_PLE_MODEL_PROJ,
    GM_CUDA_SLOT_PLE_PROJ_NORM,
    GM_CUDA_N_GLOBAL_SLOTS
};
#define GM_CUDA_LAYER_SLOTS (sizeof(gm_layer) / sizeof(gm_weight))
#define GM_CUDA_ALIGN 256u
#define GM_CUDA_NOT_UPLOADED UINT64_MAX

typedef struct gm_cuda_plan {
    uint32_t n_slots;
    uint64_t *offset;      /* [n_slots] byte offset in the weight buffer, or GM_CUDA_NOT_UPLOADED */
    uint64_t weight_bytes; /* size of the weight buffer */
    uint32_t n_tensors;    /* tensors uploaded */
    uint64_t bytes_per_token; /* weight bytes one decode step reads: all,
                                 but of each expert tensor k/n_expert */
} gm_cuda_plan;

/* The weight in slot `slot` (never NULL for slot < n_slots). */
const gm_weight *gm_cuda_slot_weight(const gm_model *m, uint32_t slot);
/* The slot of a weight of the model, or -1 if w is not one. */
int64_t gm_cuda_weight_slot(const gm_model *m, const gm_weight *w);

/* Plan the upload: every present weight except the token embeddings
 * (looked up on the host; the LM head is uploaded as `output`, tied or
 * not). Fails, naming the tensor, when a matrix has a format the kernels
 * do not read or rows they cannot split. */
int gm_cuda_plan_weights(const gm_model *m, gm_cuda_plan *p, cm_err *err);
void gm_cuda_plan_free(gm_cuda_plan *p);

/* The working buffers of a context on the GPU (engine/model gm_scratch). */
enum {
    GM_CB_X, GM_CB_CUR, GM_CB_ATTN_OUT, GM_CB_TMP, GM_CB_TMP2, GM_CB_Q, GM_CB_KV_OUT,
    GM_CB_QKV, GM_CB_K_RAW, GM_CB_V_RAW, GM_CB_KV_K0, GM_CB_KV_K1, GM_CB_KV_K2,
    GM_CB_KV_V0, GM_CB_KV_V1, GM_CB_KV_V2, GM_CB_FF_A, GM_CB_FF_B, GM_CB_PLE, GM_CB_PLE_A,
    GM_CB_ROUTER, GM_CB_SEL, GM_CB_SEL_W, GM_CB_EXP_OUT, GM_CB_GX, GM_CB_GY, GM_CB_GIDX,
    GM_CB_STEP, GM_CB_LOGITS, GM_CB_COUNT
};

typedef struct gm_cuda_layout {
    uint64_t off[GM_CB_COUNT], size[GM_CB_COUNT];
    uint64_t scratch_bytes; /* all the buffers above */
    uint64_t kv_bytes;      /* K and V of every layer with a cache */
    uint32_t n_max, n_seq, k_max;
    /* GM_CB_STEP holds uint32 arrays: pos[n_max], seq[n_max], tok_of[n_max],
     * out_rows[n_max], seq_p0[n_seq], seq_off[n_seq], at these indices */
    uint32_t step_pos, step_seq, step_tok_of, step_out_rows, step_seq_p0, step_seq_off;
} gm_cuda_layout;

/* Layout for n_max tokens per step, n_seq sequences, and the KV cache c
 * (the host cache's shape: the GPU cache mirrors it). */
int gm_cuda_plan_layout(const gm_hparams *hp, uint32_t n_max, uint32_t n_seq,
                        const gm_kv_cache *c, gm_cuda_layout *out, cm_err *err);

#endif
