/*
 * engine/cuda/cuda_plan.c -- the upload plan and the buffer layout of the
 * CUDA backend (cuda_plan.h).
 */
#include "engine/cuda/cuda_plan.h"

#include <stdlib.h>
#include <string.h>

#include "common/checked.h"
#include "engine/cuda/cuda.h"

_Static_assert(sizeof(gm_layer) % sizeof(gm_weight) == 0, "gm_layer holds only gm_weight fields");

static uint64_t align_up(uint64_t n)
{
    return (n + GM_CUDA_ALIGN - 1) / GM_CUDA_ALIGN * GM_CUDA_ALIGN;
}

const gm_weight *gm_cuda_slot_weight(const gm_model *m, uint32_t slot)
{
    switch (slot) {
    case GM_CUDA_SLOT_TOK_EMBD: return &m->tok_embd;
    case GM_CUDA_SLOT_OUTPUT: return &m->output;
    case GM_CUDA_SLOT_OUTPUT_NORM: return &m->output_norm;
    case GM_CUDA_SLOT_ROPE_FREQS: return &m->rope_freqs;
    case GM_CUDA_SLOT_PLE_TOK_EMBD: return &m->ple_tok_embd;
    case GM_CUDA_SLOT_PLE_MODEL_PROJ: return &m->ple_model_proj;
    case GM_CUDA_SLOT_PLE_PROJ_NORM: return &m->ple_proj_norm;
    default: break;
    }
    const uint32_t i = slot - GM_CUDA_N_GLOBAL_SLOTS;
    const gm_weight *first = (const gm_weight *)(const void *)&m->layers[i / GM_CUDA_LAYER_SLOTS];
    return first + i % GM_CUDA_LAYER_SLOTS;
}

int64_t gm_cuda_weight_slot(const gm_model *m, const gm_weight *w)
{
    for (uint32_t s = 0; s < GM_CUDA_N_GLOBAL_SLOTS; s++)
        if (gm_cuda_slot_weight(m, s) == w)
            return s;
    const uintptr_t a = (uintptr_t)w, base = (uintptr_t)m->layers;
    const uintptr_t end = base + (uintptr_t)m->hp.n_layer * sizeof(gm_layer);
    if (a < base || a >= end || (a - base) % sizeof(gm_weight) != 0)
        return -1;
    return GM_CUDA_N_GLOBAL_SLOTS + (int64_t)((a - base) / sizeof(gm_weight));
}

/* Weights that the matmul kernels read: the matrices (norm weights,
 * scales and rope_freqs are f32 vectors, read as such). */
static bool is_matrix(const gm_weight *w)
{
    return w->ne[1] > 1;
}

int gm_cuda_plan_weights(const gm_model *m, gm_cuda_plan *p, cm_err *err)
{
    memset(p, 0, sizeof(*p));
    p->n_slots = GM_CUDA_N_GLOBAL_SLOTS + m->hp.n_layer * (uint32_t)GM_CUDA_LAYER_SLOTS;
    p->offset = malloc(p->n_slots * sizeof(*p->offset));
    if (p->offset == NULL)
        return cm_err_set(err, "out of memory");
    uint64_t off = 0;
    for (uint32_t s = 0; s < p->n_slots; s++) {
        const gm_weight *w = gm_cuda_slot_weight(m, s);
        p->offset[s] = GM_CUDA_NOT_UPLOADED;
        if (w->data == NULL || s == GM_CUDA_SLOT_TOK_EMBD || s == GM_CUDA_SLOT_PLE_TOK_EMBD)
            continue;
        if (is_matrix(w)) {
            if (!gm_cuda_type_supported(w->type)) {
                gm_cuda_plan_free(p);
                return cm_err_set(err, "CUDA backend: %s is %s, a format the GPU kernels do not read "
                                  "(they read f32, f16, bf16, q4_0, q5_0, q8_0, q4_K, q6_K)",
                                  w->name, gm_type_name(w->type));
            }
            if (w->ne[0] % 8 != 0) {
                gm_cuda_plan_free(p);
                return cm_err_set(err, "CUDA backend: %s has rows of %llu elements (need a multiple of 8)",
                                  w->name, (unsigned long long)w->ne[0]);
            }
        } else if (w->type != GM_TYPE_F32) {
            gm_cuda_plan_free(p);
            return cm_err_set(err, "CUDA backend: %s is %s, expected f32", w->name,
                              gm_type_name(w->type));
        }
        uint64_t bytes;
        if (!cm_mul_u64(w->row_bytes, w->ne[1], &bytes) || !cm_mul_u64(bytes, w->ne[2], &bytes)) {
            gm_cuda_plan_free(p);
            return cm_err_set(err, "CUDA backend: %s is too large", w->name);
        }
        p->offset[s] = off;
        off += align_up(bytes);
        if (w->ne[2] > 1 && m->hp.n_expert > 0) {
            const uint32_t il = (s - GM_CUDA_N_GLOBAL_SLOTS) / (uint32_t)GM_CUDA_LAYER_SLOTS;
            p->bytes_per_token += bytes / w->ne[2] * m->hp.layer[il].n_expert_used;
        } else {
            p->bytes_per_token += bytes;
        }
        p->n_tensors++;
    }
    p->weight_bytes = off;
    return 0;
}

void gm_cuda_plan_free(gm_cuda_plan *p)
{
    free(p->offset);
    memset(p, 0, sizeof(*p));
}

#define MAX(a, b) ((a) > (b) ? (a) : (b))

int gm_cuda_plan_layout(const gm_hparams *hp, uint32_t n_max, uint32_t n_seq,
                        const gm_kv_cache *c, gm_cuda_layout *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    const uint64_t n = n_max, E = hp->n_embd, L = hp->n_layer, P = MAX(hp->n_embd_ple, 1);
    uint64_t qdim = 1, kvdim = 1, qkvdim = 1, ffdim = 2 * (uint64_t)hp->n_ff_exp, k_max = 1;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const gm_layer_hp *lh = &hp->layer[il];
        qdim = MAX(qdim, (uint64_t)lh->n_head * lh->head_dim);
        kvdim = MAX(kvdim, (uint64_t)lh->n_head_kv * lh->head_dim);
        qkvdim = MAX(qkvdim, (uint64_t)(lh->n_head + 2 * lh->n_head_kv) * lh->head_dim);
        ffdim = MAX(ffdim, (uint64_t)lh->n_ff);
        k_max = MAX(k_max, (uint64_t)lh->n_expert_used);
    }
    const uint64_t X = MAX(hp->n_expert, 1), Eexp = hp->n_expert > 0 ? E : 1;
    const uint64_t floats[GM_CB_COUNT] = {
        [GM_CB_X] = n * E, [GM_CB_CUR] = n * E, [GM_CB_ATTN_OUT] = n * E, [GM_CB_TMP] = n * E,
        [GM_CB_TMP2] = n * E, [GM_CB_Q] = n * qdim, [GM_CB_KV_OUT] = n * qdim,
        [GM_CB_QKV] = n * qkvdim, [GM_CB_K_RAW] = n * kvdim, [GM_CB_V_RAW] = n * kvdim,
        [GM_CB_KV_K0] = n * kvdim, [GM_CB_KV_K1] = n * kvdim, [GM_CB_KV_K2] = n * kvdim,
        [GM_CB_KV_V0] = n * kvdim, [GM_CB_KV_V1] = n * kvdim, [GM_CB_KV_V2] = n * kvdim,
        [GM_CB_FF_A] = n * ffdim, [GM_CB_FF_B] = n * ffdim, [GM_CB_PLE] = n * L * P,
        [GM_CB_PLE_A] = n * L * P, [GM_CB_ROUTER] = n * X, [GM_CB_SEL] = n * k_max,
        [GM_CB_SEL_W] = n * k_max, [GM_CB_EXP_OUT] = n * k_max * Eexp, [GM_CB_GX] = n * E,
        [GM_CB_GY] = n * E, [GM_CB_GIDX] = n * k_max,
        [GM_CB_STEP] = 4 * n + 2 * (uint64_t)n_seq, [GM_CB_LOGITS] = n * hp->n_vocab,
    };
    uint64_t off = 0;
    for (int b = 0; b < GM_CB_COUNT; b++) {
        out->off[b] = off;
        out->size[b] = floats[b] * 4; /* f32, int32 and uint32 alike */
        off += align_up(out->size[b]);
    }
    out->scratch_bytes = off;
    out->n_max = n_max;
    out->n_seq = n_seq;
    out->k_max = (uint32_t)k_max;
    out->step_pos = 0;
    out->step_seq = n_max;
    out->step_tok_of = 2 * n_max;
    out->step_out_rows = 3 * n_max;
    out->step_seq_p0 = 4 * n_max;
    out->step_seq_off = 4 * n_max + n_seq;
    uint64_t kv = 0;
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        uint64_t bytes;
        if (!cm_mul_u64((uint64_t)c->n_seq * l->cap, l->width, &bytes)
            || !cm_mul_u64(bytes, 2 * sizeof(float), &bytes))
            return cm_err_set(err, "CUDA backend: the KV cache of layer %u is too large", il);
        kv += align_up(bytes);
    }
    out->kv_bytes = kv;
    return 0;
}
