/*
 * engine/cuda/cuda_forward.c -- the CUDA backend (engine/backend.h): the
 * weights uploaded once in their GGUF formats, a KV cache and working
 * buffers on the GPU per context, and the forward pass of one step as a
 * sequence of kernel launches (engine/cuda/cuda.h).
 *
 * This file mirrors engine/model/forward.c, attention.c, ffn.c, moe.c and
 * ple.c block for block, with gm_scratch's buffers replaced by their
 * device twins (cuda_plan.h GM_CB_*); read those first. What stays on the
 * host: the token and per-layer embedding lookups (a few rows of the two
 * largest tensors, which are therefore never uploaded), the step's plan
 * (positions, sequences), the KV lengths, and the grouping of MoE rows by
 * expert (the selection is copied back once per MoE layer).
 *
 * Fewer launches than operations: each residual add is fused with the
 * post-norm before it and, for a dense FFN, the pre-norm after it
 * (gm_cuda_norm_add_norm: three launches in one, rounded alike), and
 * the projections that read the same input (Q, K, V; up and gate) share
 * one quantization of it (gm_cuda_matmul_shared).
 *
 * With GEMMA_CUDA_GRAPHS=1 in the environment, single-token steps of
 * dense models are recorded once into a CUDA graph and replayed (every
 * launch has fixed arguments; positions and sequences are read from the
 * device), which saves the launch overhead of about 1000 kernels a token.
 * Off by default until measured on a GPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cuda/cuda.h"
#include "engine/cuda/cuda_plan.h"
#include "engine/model/model.h"
#include "engine/quant/quant.h"

typedef struct cu_model {
    gm_cuda *cu;
    int dev;
    gm_cuda_plan plan;
    uint8_t *d_weights;
    uint16_t *d_gelu; /* ggml's GELU table; NULL with gelu_exact */
} cu_model;

typedef struct cu_ctx {
    gm_cuda *cu;          /* this context's stream and activation buffer:
                             contexts of one model run on their own streams */
    gm_cuda_layout lay;
    uint8_t *d_scratch;
    uint8_t *d_kv;
    float **kv_k, **kv_v; /* [n_layer] device caches (NULL: layer has none) */
    uint32_t *h_step;     /* host image of GM_CB_STEP */
    int32_t *h_sel;       /* [n_max][k_max] */
    uint32_t *h_gidx;     /* [n_max * k_max] rows grouped by expert */
    uint32_t *h_count;    /* [n_expert] */
    gm_cuda_step step;    /* device views into GM_CB_STEP */
    /* GEMMA_CUDA_GRAPHS=1: single-token steps of dense models replayed
     * from a CUDA graph recorded at the first one (fewer launches) */
    bool graphs;
    void *graph;
} cu_ctx;

static cu_model *cmodel(const gm_model *m)
{
    return m->backend_model;
}

static cu_ctx *cctx(const gm_context *ctx)
{
    return ctx->backend_ctx;
}

static gm_cuda *dev(const gm_context *ctx)
{
    return cctx(ctx)->cu;
}

static float *buf(const gm_context *ctx, int b)
{
    return (float *)(void *)(cctx(ctx)->d_scratch + cctx(ctx)->lay.off[b]);
}

/* Device copy of a weight (NULL if absent or not uploaded). */
static const void *dw(const gm_model *m, const gm_weight *w)
{
    const cu_model *cm = cmodel(m);
    const int64_t s = gm_cuda_weight_slot(m, w);
    if (w->data == NULL || s < 0 || cm->plan.offset[s] == GM_CUDA_NOT_UPLOADED)
        return NULL;
    return cm->d_weights + cm->plan.offset[s];
}

static const float *dwf(const gm_model *m, const gm_weight *w)
{
    return dw(m, w);
}

static int mm(gm_context *ctx, const gm_weight *w, const float *x, uint32_t n, float *y,
              cm_err *err)
{
    const void *d = dw(ctx->model, w);
    if (d == NULL)
        return cm_err_set(err, "%s: not on the GPU", w->name);
    if (gm_cuda_matmul(dev(ctx), w->type, d, w->row_bytes, (uint32_t)w->ne[1], (uint32_t)w->ne[0],
                       x, n, y, err) < 0)
        return cm_err_prefix(err, "%s", w->name);
    return 0;
}

/* y[i] = w[i] x for i < count, x read (and quantized) once
 * (gm_cuda_matmul_shared); the weights all have x's width. */
static int mm_shared(gm_context *ctx, const gm_weight *const *w, float *const *y, uint32_t count,
                     const float *x, uint32_t n, cm_err *err)
{
    gm_cuda_mm list[3];
    if (count > 3)
        return cm_err_set(err, "mm_shared: %u weights (at most 3)", count);
    for (uint32_t i = 0; i < count; i++) {
        const void *d = dw(ctx->model, w[i]);
        if (d == NULL)
            return cm_err_set(err, "%s: not on the GPU", w[i]->name);
        if (w[i]->ne[0] != w[0]->ne[0])
            return cm_err_set(err, "%s and %s: inputs of %llu and %llu", w[0]->name, w[i]->name,
                              (unsigned long long)w[0]->ne[0], (unsigned long long)w[i]->ne[0]);
        list[i] = (gm_cuda_mm){.type = w[i]->type, .d_w = d, .row_bytes = w[i]->row_bytes,
                               .rows = (uint32_t)w[i]->ne[1], .d_y = y[i]};
    }
    if (gm_cuda_matmul_shared(dev(ctx), list, count, (uint32_t)w[0]->ne[0], x, n, err) < 0)
        return cm_err_prefix(err, "%s", w[0]->name);
    return 0;
}

static int mm_expert(gm_context *ctx, const gm_weight *w, uint32_t e, const float *x,
                     uint32_t n, float *y, cm_err *err)
{
    const uint8_t *d = dw(ctx->model, w);
    if (d == NULL)
        return cm_err_set(err, "%s: not on the GPU", w->name);
    d += (size_t)e * w->ne[1] * w->row_bytes;
    if (gm_cuda_matmul(dev(ctx), w->type, d, w->row_bytes, (uint32_t)w->ne[1], (uint32_t)w->ne[0],
                       x, n, y, err) < 0)
        return cm_err_prefix(err, "%s (expert %u)", w->name, e);
    return 0;
}

/* ---- model ---- */

static void cuda_model_free(gm_model *m)
{
    cu_model *cm = cmodel(m);
    if (cm == NULL)
        return;
    gm_cuda_free(cm->cu, cm->d_weights);
    gm_cuda_free(cm->cu, cm->d_gelu);
    gm_cuda_plan_free(&cm->plan);
    gm_cuda_close(cm->cu);
    free(cm);
    m->backend_model = NULL;
}

static int cuda_model_init(gm_model *m, int device, cm_err *err)
{
    cu_model *cm = calloc(1, sizeof(*cm));
    if (cm == NULL)
        return cm_err_set(err, "out of memory");
    m->backend_model = cm;
    cm->dev = device;
    uint64_t free_b = 0, total_b = 0;
    if (gm_cuda_open(device, &cm->cu, err) < 0
        || gm_cuda_plan_weights(m, &cm->plan, err) < 0
        || gm_cuda_mem_info(device, &free_b, &total_b, NULL, 0, err) < 0)
        goto fail;
    if (cm->plan.weight_bytes > free_b) {
        cm_err_set(err, "cuda:%d: the weights need %.1f MiB of GPU memory, %.1f MiB of %.1f MiB are free",
                   device, (double)cm->plan.weight_bytes / 1048576.0, (double)free_b / 1048576.0,
                   (double)total_b / 1048576.0);
        goto fail;
    }
    if (gm_cuda_alloc(cm->cu, cm->plan.weight_bytes, (void **)&cm->d_weights, err) < 0)
        goto fail;
    for (uint32_t s = 0; s < cm->plan.n_slots; s++) {
        if (cm->plan.offset[s] == GM_CUDA_NOT_UPLOADED)
            continue;
        const gm_weight *w = gm_cuda_slot_weight(m, s);
        const size_t bytes = w->row_bytes * w->ne[1] * w->ne[2];
        if (gm_cuda_upload(cm->cu, cm->d_weights + cm->plan.offset[s], w->data, bytes, err) < 0) {
            cm_err_prefix(err, "uploading %s", w->name);
            goto fail;
        }
    }
    if (m->gelu_table != NULL
        && (gm_cuda_alloc(cm->cu, 65536 * sizeof(uint16_t), (void **)&cm->d_gelu, err) < 0
            || gm_cuda_upload(cm->cu, cm->d_gelu, m->gelu_table, 65536 * sizeof(uint16_t), err) < 0))
        goto fail;
    if (gm_cuda_sync(cm->cu, err) < 0)
        goto fail;
    return 0;
fail:
    cuda_model_free(m);
    return -1;
}

static void cuda_device_info(const gm_model *m, gm_device_info *out)
{
    const cu_model *cm = cmodel(m);
    memset(out, 0, sizeof(*out));
    snprintf(out->device, sizeof(out->device), "cuda:%d", cm->dev);
    cm_err err;
    if (gm_cuda_mem_info(cm->dev, &out->mem_free, &out->mem_total, out->name, sizeof(out->name),
                         &err) < 0)
        snprintf(out->name, sizeof(out->name), "(unknown: %.100s)", err.msg);
    out->index = cm->dev;
    out->model_bytes = cm->plan.weight_bytes;
    out->bytes_per_token = cm->plan.bytes_per_token;
}

/* ---- context ---- */

static void cuda_context_free(gm_context *ctx)
{
    cu_ctx *cc = cctx(ctx);
    if (cc == NULL)
        return;
    gm_cuda *cu = dev(ctx);
    gm_cuda_graph_free(cc->graph);
    gm_cuda_free(cu, cc->d_scratch);
    gm_cuda_free(cu, cc->d_kv);
    free(cc->kv_k);
    free(cc->kv_v);
    free(cc->h_step);
    free(cc->h_sel);
    free(cc->h_gidx);
    free(cc->h_count);
    gm_cuda_close(cu);
    free(cc);
    ctx->backend_ctx = NULL;
}

static int cuda_context_init(gm_context *ctx, cm_err *err)
{
    const gm_hparams *hp = &ctx->model->hp;
    cu_ctx *cc = calloc(1, sizeof(*cc));
    if (cc == NULL)
        return cm_err_set(err, "out of memory");
    ctx->backend_ctx = cc;
    if (gm_cuda_open(cmodel(ctx->model)->dev, &cc->cu, err) < 0)
        goto fail;
    gm_cuda *cu = cc->cu;
    if (gm_cuda_use(cu, err) < 0
        || gm_cuda_plan_layout(hp, ctx->s.n_max, ctx->n_seq_max, &ctx->kv, &cc->lay, err) < 0)
        goto fail;
    const gm_cuda_layout *lay = &cc->lay;
    cc->kv_k = calloc(hp->n_layer, sizeof(*cc->kv_k));
    cc->kv_v = calloc(hp->n_layer, sizeof(*cc->kv_v));
    cc->h_step = calloc(lay->size[GM_CB_STEP] / 4 + 1, sizeof(uint32_t));
    cc->h_sel = calloc((size_t)lay->n_max * lay->k_max, sizeof(int32_t));
    cc->h_gidx = calloc((size_t)lay->n_max * lay->k_max, sizeof(uint32_t));
    cc->h_count = calloc(hp->n_expert + 1, sizeof(uint32_t));
    if (!cc->kv_k || !cc->kv_v || !cc->h_step || !cc->h_sel || !cc->h_gidx || !cc->h_count) {
        cm_err_set(err, "out of memory");
        goto fail;
    }
    uint64_t free_b = 0, total_b = 0;
    if (gm_cuda_mem_info(cmodel(ctx->model)->dev, &free_b, &total_b, NULL, 0, err) < 0)
        goto fail;
    if (lay->scratch_bytes + lay->kv_bytes > free_b) {
        cm_err_set(err, "cuda:%d: the context needs %.1f MiB of GPU memory (KV cache %.1f MiB, "
                   "buffers %.1f MiB), %.1f MiB are free",
                   cmodel(ctx->model)->dev, (double)(lay->scratch_bytes + lay->kv_bytes) / 1048576.0,
                   (double)lay->kv_bytes / 1048576.0, (double)lay->scratch_bytes / 1048576.0,
                   (double)free_b / 1048576.0);
        goto fail;
    }
    if (gm_cuda_alloc(cu, lay->scratch_bytes, (void **)&cc->d_scratch, err) < 0
        || gm_cuda_alloc(cu, lay->kv_bytes, (void **)&cc->d_kv, err) < 0)
        goto fail;
    uint64_t off = 0;
    for (uint32_t il = 0; il < ctx->kv.n_layer; il++) {
        const gm_kv_layer *l = &ctx->kv.layers[il];
        const uint64_t half = (uint64_t)ctx->kv.n_seq * l->cap * l->width * sizeof(float);
        if (l->width == 0)
            continue;
        cc->kv_k[il] = (float *)(void *)(cc->d_kv + off);
        cc->kv_v[il] = (float *)(void *)(cc->d_kv + off + half);
        off += (2 * half + GM_CUDA_ALIGN - 1) / GM_CUDA_ALIGN * GM_CUDA_ALIGN;
    }
    const uint32_t *st = (const uint32_t *)(const void *)(cc->d_scratch + lay->off[GM_CB_STEP]);
    cc->step.pos = st + lay->step_pos;
    cc->step.seq = st + lay->step_seq;
    cc->step.tok_of = st + lay->step_tok_of;
    cc->step.seq_p0 = st + lay->step_seq_p0;
    cc->step.seq_off = st + lay->step_seq_off;
    cc->step.n_seq = ctx->n_seq_max;
    /* the matmul's activation buffer at its largest, before any capture */
    uint64_t max_cols = 0;
    for (uint32_t s = 0; s < cmodel(ctx->model)->plan.n_slots; s++) {
        const gm_weight *w = gm_cuda_slot_weight(ctx->model, s);
        if (w->data != NULL && w->ne[1] > 1 && w->ne[0] > max_cols)
            max_cols = w->ne[0];
    }
    if (gm_cuda_reserve(cu, (size_t)max_cols * lay->n_max, err) < 0)
        goto fail;
    const char *g = getenv("GEMMA_CUDA_GRAPHS");
    cc->graphs = g != NULL && strcmp(g, "1") == 0 && hp->n_expert == 0;
    return 0;
fail:
    cuda_context_free(ctx);
    return -1;
}

static void cuda_context_device_info(const gm_context *ctx, gm_device_info *out)
{
    const cu_ctx *cc = cctx(ctx);
    out->kv_bytes = cc->lay.kv_bytes;
    out->scratch_bytes = cc->lay.scratch_bytes;
}

/* ---- the step ---- */

/* Token and per-layer embeddings, looked up on the host as forward.c and
 * ple.c do, then uploaded. */
static int embed(gm_context *ctx, const int32_t *tokens, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const uint32_t E = m->hp.n_embd, P = m->hp.n_embd_ple, L = m->hp.n_layer;
    const size_t LP = (size_t)L * P;
    const float scale = sqrtf((float)E), emb_scale = sqrtf((float)P);
    gm_scratch *s = &ctx->s;
    for (uint32_t i = 0; i < n; i++) {
        float *x = s->x + (size_t)i * E;
        const char *row = (const char *)m->tok_embd.data + (size_t)tokens[i] * m->tok_embd.row_bytes;
        if (gm_dequantize_row(m->tok_embd.type, row, x, E) < 0)
            return cm_err_set(err, "token_embd.weight: cannot decode type %s",
                              gm_type_name(m->tok_embd.type));
        for (uint32_t c = 0; c < E; c++)
            x[c] *= scale;
        if (P == 0)
            continue;
        float *e = s->ple + i * LP;
        row = (const char *)m->ple_tok_embd.data + (size_t)tokens[i] * m->ple_tok_embd.row_bytes;
        if (gm_dequantize_row(m->ple_tok_embd.type, row, e, LP) < 0)
            return cm_err_set(err, "per_layer_token_embd.weight: cannot decode type %s",
                              gm_type_name(m->ple_tok_embd.type));
        for (size_t c = 0; c < LP; c++)
            e[c] *= emb_scale;
    }
    if (gm_cuda_upload(dev(ctx), buf(ctx, GM_CB_X), s->x, (size_t)n * E * sizeof(float), err) < 0)
        return -1;
    if (P > 0 && gm_cuda_upload(dev(ctx), buf(ctx, GM_CB_PLE), s->ple, n * LP * sizeof(float), err) < 0)
        return -1;
    return 0;
}

/* ple.c gm_ple_inputs, from the uploaded embeddings on. */
static int ple_inputs(gm_context *ctx, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    gm_cuda *cu = dev(ctx);
    const uint32_t E = m->hp.n_embd, P = m->hp.n_embd_ple, L = m->hp.n_layer;
    const size_t nLP = (size_t)n * L * P;
    float *pa = buf(ctx, GM_CB_PLE_A), *pe = buf(ctx, GM_CB_PLE);
    if (mm(ctx, &m->ple_model_proj, buf(ctx, GM_CB_X), n, pa, err) < 0
        || gm_cuda_scale(cu, pa, nLP, 1.0f / sqrtf((float)E), err) < 0
        || gm_cuda_rmsnorm(cu, pa, dwf(m, &m->ple_proj_norm), n * L, P, m->hp.eps, pa, err) < 0
        || gm_cuda_add(cu, pa, pe, nLP, 1.0f / sqrtf(2.0f), pe, err) < 0)
        return -1;
    return 0;
}

static int ple_block(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_cuda *cu = dev(ctx);
    const uint32_t E = m->hp.n_embd, P = m->hp.n_embd_ple, L = m->hp.n_layer;
    float *pa = buf(ctx, GM_CB_PLE_A), *x = buf(ctx, GM_CB_X), *tmp = buf(ctx, GM_CB_TMP);
    if (mm(ctx, &l->ple_gate, x, n, pa, err) < 0
        || gm_cuda_geglu(cu, cmodel(m)->d_gelu, pa, P, buf(ctx, GM_CB_PLE) + (size_t)il * P,
                         (size_t)L * P, n, P, pa, P, err) < 0
        || mm(ctx, &l->ple_proj, pa, n, tmp, err) < 0
        || gm_cuda_norm_add_norm(cu, tmp, dwf(m, &l->ple_post_norm), x, n, E, m->hp.eps, x, NULL,
                                 NULL, err) < 0)
        return -1;
    return 0;
}

static float *kv_batch(const gm_context *ctx, int slot, bool v)
{
    return buf(ctx, (v ? GM_CB_KV_V0 : GM_CB_KV_K0) + slot);
}

static int kv_store(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_kv_layer *kl = &ctx->kv.layers[il];
    const int slot = ctx->kv_slot_of_layer[il];
    return gm_cuda_kv_store(dev(ctx), kv_batch(ctx, slot, false), kv_batch(ctx, slot, true),
                            cctx(ctx)->kv_k[il], cctx(ctx)->kv_v[il], kl->cap, kl->ring,
                            kl->width, n, &cctx(ctx)->step, err);
}

/* attention.c: projections, norms, RoPE, attention, output projection. */
static int attention(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    const gm_layer_hp *lh = &m->hp.layer[il];
    gm_cuda *cu = dev(ctx);
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const size_t qdim = (size_t)H * d, kvdim = (size_t)Hkv * d;
    const float eps = m->hp.eps;
    const float *ff = lh->swa ? NULL : dwf(m, &m->rope_freqs);
    const float theta_scale = powf(lh->rope_base, -2.0f / (float)lh->n_rot);
    float *cur = buf(ctx, GM_CB_CUR), *q = buf(ctx, GM_CB_Q);
    float *k_raw = buf(ctx, GM_CB_K_RAW), *v_raw = buf(ctx, GM_CB_V_RAW);

    if (l->wqkv.data != NULL) {
        const size_t w = qdim + 2 * kvdim;
        float *qkv = buf(ctx, GM_CB_QKV);
        if (mm(ctx, &l->wqkv, cur, n, qkv, err) < 0
            || gm_cuda_copy2d(cu, q, qdim * 4, qkv, w * 4, qdim * 4, n, err) < 0
            || gm_cuda_copy2d(cu, k_raw, kvdim * 4, qkv + qdim, w * 4, kvdim * 4, n, err) < 0
            || gm_cuda_copy2d(cu, v_raw, kvdim * 4, qkv + qdim + kvdim, w * 4, kvdim * 4, n, err) < 0)
            return -1;
    } else {
        /* Q, K and V from one quantization of cur */
        const gm_weight *ws[3] = {&l->wq, &l->wk, &l->wv};
        float *ys[3] = {q, k_raw, v_raw};
        const uint32_t count = !lh->has_kv ? 1 : l->wv.data != NULL ? 3 : 2;
        if (mm_shared(ctx, ws, ys, count, cur, n, err) < 0)
            return -1;
        if (count == 2 && gm_cuda_copy2d(cu, v_raw, (size_t)n * kvdim * 4, k_raw,
                                         (size_t)n * kvdim * 4, (size_t)n * kvdim * 4, 1, err) < 0)
            return -1; /* no attn_v: V is the raw K projection */
    }
    const int slot = ctx->kv_slot_of_layer[il];
    const uint32_t *pos = cctx(ctx)->step.pos;
    if (gm_cuda_rmsnorm(cu, q, dwf(m, &l->q_norm), n * H, d, eps, q, err) < 0
        || gm_cuda_rope(cu, q, n, H, d, (uint32_t)qdim, pos, lh->n_rot, theta_scale, ff, err) < 0)
        return -1;
    if (lh->has_kv) {
        float *bk = kv_batch(ctx, slot, false), *bv = kv_batch(ctx, slot, true);
        if (gm_cuda_rmsnorm(cu, k_raw, dwf(m, &l->k_norm), n * Hkv, d, eps, bk, err) < 0
            || gm_cuda_rope(cu, bk, n, Hkv, d, (uint32_t)kvdim, pos, lh->n_rot, theta_scale, ff, err) < 0
            || gm_cuda_rmsnorm(cu, v_raw, NULL, n * Hkv, d, eps, bv, err) < 0)
            return -1;
    }

    const uint32_t src = lh->kv_src;
    const int sslot = ctx->kv_slot_of_layer[src];
    const gm_kv_layer *kl = &ctx->kv.layers[src];
    const gm_cuda_attn a = {
        .q = q, .out = buf(ctx, GM_CB_KV_OUT),
        .batch_k = kv_batch(ctx, sslot, false), .batch_v = kv_batch(ctx, sslot, true),
        .cache_k = cctx(ctx)->kv_k[src], .cache_v = cctx(ctx)->kv_v[src],
        .cap = kl->cap, .ring = kl->ring, .n_tok = n, .n_head = H, .n_head_kv = Hkv,
        .head_dim = d, .window = lh->swa ? m->hp.swa_window : 0,
    };
    if (gm_cuda_attention(cu, &a, &cctx(ctx)->step, err) < 0)
        return -1;
    if (lh->has_kv && slot == 0 && kv_store(ctx, il, n, err) < 0)
        return -1;
    return mm(ctx, &l->wo, a.out, n, buf(ctx, GM_CB_TMP), err);
}

/* ffn.c */
static int ffn_dense(gm_context *ctx, const gm_weight *gate, const gm_weight *up,
                     const gm_weight *down, const float *in, uint32_t n, float *out, cm_err *err)
{
    const uint32_t ff = (uint32_t)gate->ne[1];
    float *fa = buf(ctx, GM_CB_FF_A), *fb = buf(ctx, GM_CB_FF_B);
    const gm_weight *ws[2] = {up, gate};
    float *ys[2] = {fb, fa};
    if (mm_shared(ctx, ws, ys, 2, in, n, err) < 0
        || gm_cuda_geglu(dev(ctx), cmodel(ctx->model)->d_gelu, fa, ff, fb, ff, n, ff, fa, ff, err) < 0)
        return -1;
    return mm(ctx, down, fa, n, out, err);
}

/* moe.c: shared MLP, routing, the selected experts, sum and norms. */
static int moe(gm_context *ctx, uint32_t il, const float *in, uint32_t n, float *out, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_cuda *cu = dev(ctx);
    cu_ctx *cc = cctx(ctx);
    const uint32_t E = m->hp.n_embd, X = m->hp.n_expert, k = m->hp.layer[il].n_expert_used;
    const uint32_t km = cc->lay.k_max, F = m->hp.n_ff_exp;
    const float eps = m->hp.eps;
    float *cur = buf(ctx, GM_CB_CUR), *tmp2 = buf(ctx, GM_CB_TMP2);
    float *router = buf(ctx, GM_CB_ROUTER), *sel_w = buf(ctx, GM_CB_SEL_W);
    int32_t *sel = (int32_t *)(void *)buf(ctx, GM_CB_SEL);
    uint32_t *gidx = (uint32_t *)(void *)buf(ctx, GM_CB_GIDX);
    const uint16_t *table = cmodel(m)->d_gelu;

    if (gm_cuda_rmsnorm(cu, in, dwf(m, &l->ffn_norm), n, E, eps, cur, err) < 0
        || ffn_dense(ctx, &l->ffn_gate, &l->ffn_up, &l->ffn_down, cur, n, tmp2, err) < 0
        || gm_cuda_rmsnorm(cu, tmp2, dwf(m, &l->post_norm_1), n, E, eps, tmp2, err) < 0)
        return -1;
    if (gm_cuda_rmsnorm(cu, in, NULL, n, E, eps, out, err) < 0
        || gm_cuda_scale_vec(cu, out, 1.0f / sqrtf((float)E), dwf(m, &l->gate_inp_scale), n, E,
                             out, err) < 0
        || mm(ctx, &l->gate_inp, out, n, router, err) < 0
        || gm_cuda_route(cu, router, n, X, k, km, sel, sel_w, err) < 0)
        return -1;
    if (gm_cuda_rmsnorm(cu, in, dwf(m, &l->pre_norm_2), n, E, eps, cur, err) < 0
        || gm_cuda_download(cu, cc->h_sel, sel, (size_t)n * km * sizeof(int32_t), err) < 0)
        return -1;

    /* rows grouped by expert, in token order within each (as moe.c) */
    memset(cc->h_count, 0, X * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < k; j++) {
            const int32_t e = cc->h_sel[(size_t)i * km + j];
            if (e < 0 || (uint32_t)e >= X)
                return cm_err_set(err, "layer %u: the router chose expert %d of %u", il, e, X);
            cc->h_count[e]++;
        }
    uint32_t total = 0;
    for (uint32_t e = 0; e < X; e++)
        for (uint32_t i = 0; i < n && cc->h_count[e] > 0; i++)
            for (uint32_t j = 0; j < k; j++)
                if (cc->h_sel[(size_t)i * km + j] == (int32_t)e)
                    cc->h_gidx[total++] = i * km + j;
    if (gm_cuda_upload(cu, gidx, cc->h_gidx, total * sizeof(uint32_t), err) < 0)
        return -1;

    const float *dscale = l->down_exps_scale.data; /* read on the host */
    float *gx = buf(ctx, GM_CB_GX), *gy = buf(ctx, GM_CB_GY);
    float *fa = buf(ctx, GM_CB_FF_A), *fb = buf(ctx, GM_CB_FF_B);
    uint32_t o = 0;
    for (uint32_t e = 0; e < X; e++) {
        const uint32_t c = cc->h_count[e];
        if (c == 0)
            continue;
        if (gm_cuda_gather(cu, cur, gidx + o, km, c, E, gx, err) < 0)
            return -1;
        if (l->gate_up_exps.data != NULL) {
            if (mm_expert(ctx, &l->gate_up_exps, e, gx, c, fa, err) < 0
                || gm_cuda_geglu(cu, table, fa, 2 * (size_t)F, fa + F, 2 * (size_t)F, c, F, fb, F,
                                 err) < 0)
                return -1;
        } else if (mm_expert(ctx, &l->up_exps, e, gx, c, fb, err) < 0
                   || mm_expert(ctx, &l->gate_exps, e, gx, c, fa, err) < 0
                   || gm_cuda_geglu(cu, table, fa, F, fb, F, c, F, fb, F, err) < 0) {
            return -1;
        }
        if (mm_expert(ctx, &l->down_exps, e, fb, c, gy, err) < 0
            || gm_cuda_scatter_scaled(cu, gy, gidx + o, sel_w, dscale != NULL ? dscale[e] : NAN, c,
                                      E, buf(ctx, GM_CB_EXP_OUT), err) < 0)
            return -1;
        o += c;
    }
    if (gm_cuda_sum_k(cu, buf(ctx, GM_CB_EXP_OUT), n, k, km, E, out, err) < 0
        || gm_cuda_norm_add_norm(cu, out, dwf(m, &l->post_norm_2), tmp2, n, E, eps, out, NULL,
                                 NULL, err) < 0)
        return -1;
    return 0;
}

/* forward.c layer() */
static int layer(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_cuda *cu = dev(ctx);
    const uint32_t E = m->hp.n_embd;
    const float eps = m->hp.eps;
    const size_t nE = (size_t)n * E;
    float *x = buf(ctx, GM_CB_X), *cur = buf(ctx, GM_CB_CUR), *tmp = buf(ctx, GM_CB_TMP);
    float *attn_out = buf(ctx, GM_CB_ATTN_OUT);

    const bool is_moe = l->gate_inp.data != NULL;
    /* attn_out = x + post-norm(attention); for a dense FFN its pre-norm
     * into cur in the same launch (moe() norms attn_out itself) */
    if (gm_cuda_rmsnorm(cu, x, dwf(m, &l->attn_norm), n, E, eps, cur, err) < 0
        || attention(ctx, il, n, err) < 0
        || gm_cuda_norm_add_norm(cu, tmp, dwf(m, &l->attn_post_norm), x, n, E, eps, attn_out,
                                 dwf(m, &l->ffn_norm), is_moe ? NULL : cur, err) < 0)
        return -1;
    if (is_moe) {
        if (moe(ctx, il, attn_out, n, tmp, err) < 0)
            return -1;
    } else if (ffn_dense(ctx, &l->ffn_gate, &l->ffn_up, &l->ffn_down, cur, n, tmp, err) < 0) {
        return -1;
    }
    /* x = attn_out + post-norm(FFN) */
    if (gm_cuda_norm_add_norm(cu, tmp, dwf(m, &l->ffn_post_norm), attn_out, n, E, eps, x, NULL,
                              NULL, err) < 0)
        return -1;
    if (m->hp.n_embd_ple > 0 && ple_block(ctx, il, n, err) < 0)
        return -1;
    if (l->out_scale.data != NULL
        && gm_cuda_scale(cu, x, nE, ((const float *)l->out_scale.data)[0], err) < 0)
        return -1;
    return 0;
}

/* The step's plan (filled by forward.c plan_step) and the output rows. */
static int upload_step(gm_context *ctx, uint32_t n, const uint32_t *out_rows, uint32_t n_out,
                       cm_err *err)
{
    cu_ctx *cc = cctx(ctx);
    const gm_cuda_layout *lay = &cc->lay;
    uint32_t *h = cc->h_step;
    memcpy(h + lay->step_pos, ctx->s.pos, n * sizeof(uint32_t));
    memcpy(h + lay->step_seq, ctx->s.seq, n * sizeof(uint32_t));
    memcpy(h + lay->step_tok_of, ctx->s.tok_of, n * sizeof(uint32_t));
    memcpy(h + lay->step_out_rows, out_rows, n_out * sizeof(uint32_t));
    memcpy(h + lay->step_seq_p0, ctx->s.seq_p0, ctx->n_seq_max * sizeof(uint32_t));
    memcpy(h + lay->step_seq_off, ctx->s.seq_off, ctx->n_seq_max * sizeof(uint32_t));
    return gm_cuda_upload(dev(ctx), buf(ctx, GM_CB_STEP), h, lay->size[GM_CB_STEP], err);
}

/* Final norm, LM head and soft-cap of the output rows into GM_CB_LOGITS. */
static int output(gm_context *ctx, uint32_t n_out, cm_err *err)
{
    const gm_model *m = ctx->model;
    gm_cuda *cu = dev(ctx);
    const uint32_t E = m->hp.n_embd, V = m->hp.n_vocab;
    const uint32_t *rows = (const uint32_t *)(const void *)buf(ctx, GM_CB_STEP)
                           + cctx(ctx)->lay.step_out_rows;
    float *tmp = buf(ctx, GM_CB_TMP), *lg = buf(ctx, GM_CB_LOGITS);
    if (gm_cuda_gather(cu, buf(ctx, GM_CB_X), rows, 1, n_out, E, tmp, err) < 0
        || gm_cuda_rmsnorm(cu, tmp, dwf(m, &m->output_norm), n_out, E, m->hp.eps, tmp, err) < 0
        || mm(ctx, &m->output, tmp, n_out, lg, err) < 0)
        return -1;
    if (m->hp.softcap != 0.0f && gm_cuda_softcap(cu, lg, (size_t)n_out * V, m->hp.softcap, err) < 0)
        return -1;
    return 0;
}

/* Everything between the uploads and the download: device work only, so
 * it can be recorded into a graph. */
static int compute(gm_context *ctx, uint32_t n, uint32_t n_out, cm_err *err)
{
    const gm_hparams *hp = &ctx->model->hp;
    if (hp->n_embd_ple > 0 && ple_inputs(ctx, n, err) < 0)
        return -1;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (layer(ctx, il, n, err) < 0)
            return cm_err_prefix(err, "layer %u", il);
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (hp->layer[il].has_kv && ctx->kv_slot_of_layer[il] != 0 && kv_store(ctx, il, n, err) < 0)
            return -1;
    return n_out > 0 ? output(ctx, n_out, err) : 0;
}

/* One token with one row of logits from the recorded graph, recording it
 * the first time. Returns 1 when the graph cannot be used (the step is
 * then computed as usual and graphs stay off for this context). */
static int compute_graph(gm_context *ctx, cm_err *err)
{
    cu_ctx *cc = cctx(ctx);
    gm_cuda *cu = dev(ctx);
    if (cc->graph == NULL) {
        cm_err why;
        if (gm_cuda_capture_begin(cu, &why) < 0) {
            cc->graphs = false;
            return 1;
        }
        const int rc = compute(ctx, 1, 1, &why);
        void *graph = NULL;
        if (gm_cuda_capture_end(cu, &graph, &why) < 0 || rc < 0) {
            gm_cuda_graph_free(graph);
            cc->graphs = false;
            return 1;
        }
        cc->graph = graph;
    }
    return gm_cuda_graph_launch(cu, cc->graph, err);
}

static int cuda_forward_ubatch(gm_context *ctx, const int32_t *tokens, uint32_t n,
                               const uint32_t *out_rows, uint32_t n_out, float *logits,
                               cm_err *err)
{
    cu_ctx *cc = cctx(ctx);
    const uint32_t V = ctx->model->hp.n_vocab;
    if (n > cc->lay.n_max)
        return cm_err_set(err, "CUDA step of %u tokens (at most %u)", n, cc->lay.n_max);
    if (gm_cuda_use(dev(ctx), err) < 0)
        return -1;
    if (embed(ctx, tokens, n, err) < 0 || upload_step(ctx, n, out_rows, n_out, err) < 0)
        return -1;
    int rc = 1;
    if (cc->graphs && n == 1 && n_out == 1)
        rc = compute_graph(ctx, err);
    if (rc > 0)
        rc = compute(ctx, n, n_out, err);
    if (rc < 0)
        return -1;
    if (n_out > 0) {
        if (gm_cuda_download(dev(ctx), logits, buf(ctx, GM_CB_LOGITS),
                             (size_t)n_out * V * sizeof(float), err) < 0)
            return -1;
    } else if (gm_cuda_sync(dev(ctx), err) < 0) {
        return -1;
    }
    /* the cache now holds the step: only then do the lengths move */
    for (uint32_t i = 0; i < n; i++)
        ctx->kv.len[ctx->s.seq[i]]++;
    return 0;
}

const gm_backend gm_backend_cuda = {
    .name = "cuda",
    .model_init = cuda_model_init,
    .model_free = cuda_model_free,
    .context_init = cuda_context_init,
    .context_free = cuda_context_free,
    .forward_ubatch = cuda_forward_ubatch,
    .device_info = cuda_device_info,
    .context_device_info = cuda_context_device_info,
};
