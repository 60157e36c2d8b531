/*
 * engine/model/repack.c -- at load, on the CPU backend: each Q4_K matmul
 * weight of 16 rows or more (attention and feed-forward projections, the
 * per-layer-embedding projections, every expert of an MoE weight) is
 * repacked into the 16-row layout of engine/cpu/q4k_packed.h, which the
 * AVX-512 VNNI and AVX2 kernels read faster for one vector and for many
 * (not on the scalar path; Q6_K, below, on AVX-512 VNNI only). The copy
 * replaces the original: gm_mm / gm_mm_expert / gm_mm_many use it, and the
 * original's pages in the file mapping are given back, tensor by tensor,
 * so the process never holds both copies of more than one tensor. Results
 * are bit-identical either way. GEMMA_CPU_REPACK=0 keeps the originals.
 *
 * Q6_K matmul weights of 16 rows or more, the output projection included
 * (m->output, which may be token_embd tied: the embedding lookup keeps
 * reading token_embd's rows from the mapping, whose given-back pages are
 * read again from the file on access), go the same way into the layout of
 * engine/cpu/q6k_packed.h, on the AVX2 path too (an AVX2 kernel reads the
 * same layout).
 */
#include <stdlib.h>

#include "engine/cpu/pool.h"
#include "engine/cpu/q4k_packed.h"
#include "engine/cpu/q6k_packed.h"
#include "engine/format/gguf.h"
#include "engine/model/model.h"

/* Repack one Q6_K weight (every expert of it) of 16 rows or more. */
static int repack_weight_q6k(gm_model *m, gm_pool *pool, gm_weight *w, cm_err *err)
{
    if (!gm_q6k_repack_wanted() || w->data == NULL || w->type != GM_TYPE_Q6_K ||
        w->ne[1] < GM_Q6K_PACKED_ROWS || w->packed6 != NULL)
        return 0;
    const uint64_t n_mats = w->ne[2] > 0 ? w->ne[2] : 1;
    w->packed6 = calloc(n_mats, sizeof(*w->packed6));
    if (w->packed6 == NULL)
        return cm_err_set(err, "%s: out of memory for the repacked copies", w->name);
    const size_t mat_bytes = (size_t)w->ne[1] * w->row_bytes;
    for (uint64_t e = 0; e < n_mats; e++) {
        const uint8_t *data = (const uint8_t *)w->data + (size_t)e * mat_bytes;
        if (gm_q6k_pack(pool, data, w->ne[1], w->ne[0], &w->packed6[e], err) < 0)
            return cm_err_prefix(err, "%s", w->name);
        m->repacked_bytes += w->packed6[e]->bytes;
        gguf_release_range(m->file, data, mat_bytes);
    }
    return 0;
}

/* Repack one weight (every expert of it) if it is a Q4_K or Q6_K matrix
 * of 16 rows or more. */
static int repack_weight(gm_model *m, gm_pool *pool, gm_weight *w, cm_err *err)
{
    if (w->type == GM_TYPE_Q6_K)
        return repack_weight_q6k(m, pool, w, err);
    if (!gm_q4k_repack_wanted() || w->data == NULL || w->type != GM_TYPE_Q4_K ||
        w->ne[1] < GM_Q4K_PACKED_ROWS || w->packed != NULL)
        return 0;
    const uint64_t n_mats = w->ne[2] > 0 ? w->ne[2] : 1;
    w->packed = calloc(n_mats, sizeof(*w->packed));
    if (w->packed == NULL)
        return cm_err_set(err, "%s: out of memory for the repacked copies", w->name);
    const size_t mat_bytes = (size_t)w->ne[1] * w->row_bytes;
    for (uint64_t e = 0; e < n_mats; e++) {
        const uint8_t *data = (const uint8_t *)w->data + (size_t)e * mat_bytes;
        if (gm_q4k_pack(pool, data, w->ne[1], w->ne[0], &w->packed[e], err) < 0)
            return cm_err_prefix(err, "%s", w->name);
        m->repacked_bytes += w->packed[e]->bytes;
        gguf_release_range(m->file, data, mat_bytes);
    }
    return 0;
}

static void free_weight(gm_weight *w)
{
    if (w->packed6 != NULL) {
        const uint64_t n_mats = w->ne[2] > 0 ? w->ne[2] : 1;
        for (uint64_t e = 0; e < n_mats; e++)
            gm_q6k_packed_free(w->packed6[e]);
        free(w->packed6);
        w->packed6 = NULL;
    }
    if (w->packed == NULL)
        return;
    const uint64_t n_mats = w->ne[2] > 0 ? w->ne[2] : 1;
    for (uint64_t e = 0; e < n_mats; e++)
        gm_q4k_packed_free(w->packed[e]);
    free(w->packed);
    w->packed = NULL;
}

/* The matmul weights of a layer that are repacked (not the MoE router). */
#define LAYER_WEIGHTS(l)                                                                           \
    {&(l)->wq,       &(l)->wk,           &(l)->wv,        &(l)->wqkv,      &(l)->wo,               \
     &(l)->ffn_gate, &(l)->ffn_up,       &(l)->ffn_down,  &(l)->gate_up_exps, &(l)->gate_exps,     \
     &(l)->up_exps,  &(l)->down_exps,    &(l)->ple_gate,  &(l)->ple_proj}

int gm_weights_repack(gm_model *m, cm_err *err)
{
    if (m->vocab_only || m->layers == NULL)
        return 0;
    if (!gm_q4k_repack_wanted() && !gm_q6k_repack_wanted())
        return 0;
    gm_pool *pool = NULL;
    if (m->n_threads > 1 && gm_pool_create((uint32_t)m->n_threads, &pool, err) < 0)
        return -1;
    int rc = repack_weight(m, pool, &m->ple_model_proj, err);
    if (rc == 0)
        rc = repack_weight(m, pool, &m->output, err);
    for (uint32_t il = 0; rc == 0 && il < m->hp.n_layer; il++) {
        gm_weight *ws[] = LAYER_WEIGHTS(&m->layers[il]);
        for (size_t k = 0; rc == 0 && k < sizeof ws / sizeof ws[0]; k++)
            rc = repack_weight(m, pool, ws[k], err);
    }
    gm_pool_destroy(pool);
    return rc;
}

void gm_weights_repack_free(gm_model *m)
{
    free_weight(&m->ple_model_proj);
    free_weight(&m->output);
    if (m->layers == NULL)
        return;
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        gm_weight *ws[] = LAYER_WEIGHTS(&m->layers[il]);
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            free_weight(ws[k]);
    }
    m->repacked_bytes = 0;
}
