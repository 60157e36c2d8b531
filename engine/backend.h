/*
 * engine/backend.h -- the boundary between the model code and the
 * hardware that runs the forward pass.
 *
 * A backend is chosen per model at load (gm_load_opts.device): "cpu"
 * (engine/model + engine/cpu) or "cuda:N" (engine/cuda). The model code
 * keeps everything that is not arithmetic on activations: the file, the
 * hyperparameters, the tokenizer, batching into steps, the positions and
 * sequences of each step (gm_scratch's plan arrays) and the KV cache's
 * bookkeeping (lengths). The backend computes one step: given the tokens
 * of a ubatch, their positions and sequences, it runs every layer, keeps
 * its own copy of the KV cache up to date, and returns the requested rows
 * of logits.
 */
#ifndef GM_BACKEND_H
#define GM_BACKEND_H

#include <stdint.h>

#include "common/err.h"
#include "engine/gemma.h"

typedef struct gm_backend {
    const char *name;
    /* After the weights are bound: put them where the backend computes
     * (NULL: nothing to do). */
    int (*model_init)(gm_model *m, int device, cm_err *err);
    void (*model_free)(gm_model *m);
    /* After the context's host structures exist (NULL: nothing to do). */
    int (*context_init)(gm_context *ctx, cm_err *err);
    void (*context_free)(gm_context *ctx);
    /* One step (engine/model/model.h gm_forward_ubatch). */
    int (*forward_ubatch)(gm_context *ctx, const int32_t *tokens, uint32_t n,
                          const uint32_t *out_rows, uint32_t n_out, float *logits, cm_err *err);
    /* Where the model lives (NULL: the CPU). */
    void (*device_info)(const gm_model *m, gm_device_info *out);
    /* A context's KV cache and working buffers in that memory (kv_bytes,
     * scratch_bytes of out, already filled by device_info; NULL: the host
     * KV cache's size). */
    void (*context_device_info)(const gm_context *ctx, gm_device_info *out);
} gm_backend;

extern const gm_backend gm_backend_cpu;  /* engine/model/forward.c */
extern const gm_backend gm_backend_cuda; /* engine/cuda/cuda_forward.c */

#endif
