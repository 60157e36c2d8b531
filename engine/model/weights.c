/*
 * engine/model/weights.c -- binding the tensors of a gemma4 GGUF to the
 * model (docs/architecture.md E2). Each tensor is looked up by name, its shape
 * and type are checked, and the model keeps a pointer into the mapping:
 * weights are used in place, never copied. A file holding a tensor the
 * model does not use is rejected, as llama.cpp rejects it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checked.h"
#include "engine/model/model.h"

enum { W_OPT = 1, W_F32 = 2 };

typedef struct binder {
    gm_model *m;
    const gguf_tensor **bound;
    size_t n_bound;
} binder;

static int bind(binder *b, gm_weight *w, unsigned flags, uint64_t ne0, uint64_t ne1,
                uint64_t ne2, cm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static int bind(binder *b, gm_weight *w, unsigned flags, uint64_t ne0, uint64_t ne1,
                uint64_t ne2, cm_err *err, const char *fmt, ...)
{
    memset(w, 0, sizeof(*w));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->name, sizeof(w->name), fmt, ap);
    va_end(ap);

    const gguf_tensor *t = gguf_find_tensor(b->m->file, w->name);
    if (t == NULL) {
        if (flags & W_OPT)
            return 0;
        return cm_err_set(err, "missing tensor %s", w->name);
    }
    const uint64_t want[4] = {ne0, ne1, ne2, 1};
    if (memcmp(t->ne, want, sizeof(want)) != 0)
        return cm_err_set(err, "tensor %s has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu, %llu, 1]",
                          w->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                          (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                          (unsigned long long)ne0, (unsigned long long)ne1,
                          (unsigned long long)ne2);
    if ((flags & W_F32) && t->type != GM_TYPE_F32)
        return cm_err_set(err, "tensor %s has type %s, expected f32", w->name,
                          gm_type_name(t->type));
    if (!gm_type_supported(t->type))
        return cm_err_set(err, "tensor %s has type %s, which this engine cannot compute with",
                          w->name, gm_type_name(t->type));
    uint64_t rb, total;
    if (!gm_type_row_bytes(t->type, ne0, &rb))
        return cm_err_set(err, "tensor %s: rows of %llu elements do not fit type %s", w->name,
                          (unsigned long long)ne0, gm_type_name(t->type));
    if (!cm_mul_u64(rb, ne1, &total) || !cm_mul_u64(total, ne2, &total) || total > t->nbytes)
        return cm_err_set(err, "tensor %s: data is shorter than its shape", w->name);
    w->data = t->data;
    w->type = t->type;
    w->ne[0] = ne0;
    w->ne[1] = ne1;
    w->ne[2] = ne2;
    w->row_bytes = (size_t)rb;
    for (size_t i = 0; i < b->n_bound; i++)
        if (b->bound[i] == t)
            return 0;
    b->bound[b->n_bound++] = t;
    return 0;
}

static int bind_layer(binder *b, uint32_t il, cm_err *err)
{
    gm_model *m = b->m;
    const gm_hparams *hp = &m->hp;
    const gm_layer_hp *lh = &hp->layer[il];
    gm_layer *l = &m->layers[il];
    const uint64_t E = hp->n_embd, d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const uint64_t ff = lh->n_ff, P = hp->n_embd_ple, X = hp->n_expert, F = hp->n_ff_exp;
    const unsigned kv_flags = lh->has_kv ? 0 : W_OPT;

    if (bind(b, &l->attn_norm, W_F32, E, 1, 1, err, "blk.%u.attn_norm.weight", il) < 0
        || bind(b, &l->wqkv, W_OPT, E, d * (H + 2 * Hkv), 1, err, "blk.%u.attn_qkv.weight", il) < 0)
        return -1;
    if (l->wqkv.data == NULL
        && (bind(b, &l->wq, 0, E, d * H, 1, err, "blk.%u.attn_q.weight", il) < 0
            || bind(b, &l->wk, kv_flags, E, d * Hkv, 1, err, "blk.%u.attn_k.weight", il) < 0
            || bind(b, &l->wv, W_OPT, E, d * Hkv, 1, err, "blk.%u.attn_v.weight", il) < 0))
        return -1;
    if (bind(b, &l->wo, 0, d * H, E, 1, err, "blk.%u.attn_output.weight", il) < 0
        || bind(b, &l->q_norm, W_F32, d, 1, 1, err, "blk.%u.attn_q_norm.weight", il) < 0
        || bind(b, &l->k_norm, W_F32 | kv_flags, d, 1, 1, err, "blk.%u.attn_k_norm.weight", il) < 0
        || bind(b, &l->attn_post_norm, W_F32, E, 1, 1, err, "blk.%u.post_attention_norm.weight", il) < 0
        || bind(b, &l->out_scale, W_F32 | W_OPT, 1, 1, 1, err, "blk.%u.layer_output_scale.weight", il) < 0
        || bind(b, &l->ffn_norm, W_F32, E, 1, 1, err, "blk.%u.ffn_norm.weight", il) < 0
        || bind(b, &l->ffn_gate, 0, E, ff, 1, err, "blk.%u.ffn_gate.weight", il) < 0
        || bind(b, &l->ffn_up, 0, E, ff, 1, err, "blk.%u.ffn_up.weight", il) < 0
        || bind(b, &l->ffn_down, 0, ff, E, 1, err, "blk.%u.ffn_down.weight", il) < 0
        || bind(b, &l->ffn_post_norm, W_F32, E, 1, 1, err, "blk.%u.post_ffw_norm.weight", il) < 0
        || bind(b, &l->gate_inp, W_OPT, E, X, 1, err, "blk.%u.ffn_gate_inp.weight", il) < 0)
        return -1;
    if (lh->has_kv && l->wqkv.data == NULL && l->wk.data == NULL)
        return cm_err_set(err, "missing tensor blk.%u.attn_k.weight", il);

    if (l->gate_inp.data != NULL) {
        if (X == 0 || F == 0)
            return cm_err_set(err, "tensor blk.%u.ffn_gate_inp.weight is present but the model has no experts (expert_count %llu, expert_feed_forward_length %llu)",
                              il, (unsigned long long)X, (unsigned long long)F);
        if (bind(b, &l->gate_inp_scale, W_F32, E, 1, 1, err, "blk.%u.ffn_gate_inp.scale", il) < 0
            || bind(b, &l->pre_norm_2, W_F32, E, 1, 1, err, "blk.%u.pre_ffw_norm_2.weight", il) < 0
            || bind(b, &l->post_norm_1, W_F32, E, 1, 1, err, "blk.%u.post_ffw_norm_1.weight", il) < 0
            || bind(b, &l->post_norm_2, W_F32, E, 1, 1, err, "blk.%u.post_ffw_norm_2.weight", il) < 0
            || bind(b, &l->gate_up_exps, W_OPT, E, 2 * F, X, err, "blk.%u.ffn_gate_up_exps.weight", il) < 0)
            return -1;
        if (l->gate_up_exps.data == NULL
            && (bind(b, &l->gate_exps, 0, E, F, X, err, "blk.%u.ffn_gate_exps.weight", il) < 0
                || bind(b, &l->up_exps, 0, E, F, X, err, "blk.%u.ffn_up_exps.weight", il) < 0))
            return -1;
        if (bind(b, &l->down_exps, 0, F, E, X, err, "blk.%u.ffn_down_exps.weight", il) < 0
            || bind(b, &l->down_exps_scale, W_F32 | W_OPT, X, 1, 1, err, "blk.%u.ffn_down_exps.scale", il) < 0)
            return -1;
    }
    if (P > 0
        && (bind(b, &l->ple_gate, 0, E, P, 1, err, "blk.%u.inp_gate.weight", il) < 0
            || bind(b, &l->ple_proj, 0, P, E, 1, err, "blk.%u.proj.weight", il) < 0
            || bind(b, &l->ple_post_norm, W_F32, E, 1, 1, err, "blk.%u.post_norm.weight", il) < 0))
        return -1;
    return 0;
}

int gm_weights_bind(gm_model *m, cm_err *err)
{
    const gm_hparams *hp = &m->hp;
    const int64_t n_tensors = gguf_n_tensors(m->file);
    binder b = {m, calloc(n_tensors > 0 ? (size_t)n_tensors : 1, sizeof(*b.bound)), 0};
    int rc = -1;
    if (b.bound == NULL)
        return cm_err_set(err, "out of memory binding tensors");

    const gguf_tensor *te = gguf_find_tensor(m->file, "token_embd.weight");
    if (te == NULL) {
        cm_err_set(err, "missing tensor token_embd.weight");
        goto out;
    }
    if (te->ne[1] == 0 || te->ne[1] > INT32_MAX) {
        cm_err_set(err, "tensor token_embd.weight has %llu rows (vocabulary size) out of range",
                   (unsigned long long)te->ne[1]);
        goto out;
    }
    m->hp.n_vocab = (uint32_t)te->ne[1];
    const uint64_t E = hp->n_embd, V = hp->n_vocab, P = hp->n_embd_ple, L = hp->n_layer;

    if (bind(&b, &m->tok_embd, 0, E, V, 1, err, "token_embd.weight") < 0
        || bind(&b, &m->output, W_OPT, E, V, 1, err, "output.weight") < 0
        || bind(&b, &m->output_norm, W_F32, E, 1, 1, err, "output_norm.weight") < 0)
        goto out;
    if (m->output.data == NULL)
        m->output = m->tok_embd; /* tied */

    bool any_full = false;
    for (uint32_t il = 0; il < L; il++)
        any_full |= !hp->layer[il].swa;
    if (bind(&b, &m->rope_freqs, W_F32 | (any_full ? 0 : W_OPT), hp->head_dim_full / 2, 1, 1, err,
             "rope_freqs.weight") < 0)
        goto out;
    if (P > 0
        && (bind(&b, &m->ple_tok_embd, 0, P * L, V, 1, err, "per_layer_token_embd.weight") < 0
            || bind(&b, &m->ple_model_proj, 0, E, P * L, 1, err, "per_layer_model_proj.weight") < 0
            || bind(&b, &m->ple_proj_norm, W_F32, P, 1, 1, err, "per_layer_proj_norm.weight") < 0))
        goto out;
    for (uint32_t il = 0; il < L; il++)
        if (bind_layer(&b, il, err) < 0)
            goto out;

    if ((int64_t)b.n_bound != n_tensors) {
        for (int64_t i = 0; i < n_tensors; i++) {
            const gguf_tensor *t = gguf_tensor_at(m->file, i);
            bool used = false;
            for (size_t j = 0; j < b.n_bound && !used; j++)
                used = b.bound[j] == t;
            if (!used) {
                cm_err_set(err, "unexpected tensor %.*s (the file holds %lld tensors, the model uses %zu)",
                           (int)(t->name.len > 96 ? 96 : t->name.len), t->name.ptr,
                           (long long)n_tensors, b.n_bound);
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(b.bound);
    return rc;
}
