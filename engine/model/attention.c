/*
 * engine/model/attention.c -- the attention block of one layer (docs/architecture.md
 * E6): Q/K/V projections, per-head RMS norms (V without weight),
 * NEOX RoPE, causal and sliding-window masks, grouped-query attention with
 * scale 1, KV-shared layers reading their source layer's cache, and the
 * output projection.
 *
 * Input: ctx->s.cur (the normed residual, [n][E]). Output: ctx->s.tmp ([n][E]).
 * Keys at positions before this step come from the cache; keys of this
 * step's own tokens from the step's batch K/V (ctx->s.kv_k/kv_v), so a
 * sliding layer's ring buffer never has to hold more than the window.
 */
#include <string.h>

#include "engine/cpu/pool.h"
#include "engine/model/attn_dot.h"
#include "engine/model/model.h"
#include "engine/model/ops.h"

/* The per-token part of the projections: per-head norms and RoPE of q, K
 * and V, one token per work item (each token has its own position). */
typedef struct qkv_job {
    gm_context *ctx;
    uint32_t il;
} qkv_job;

static void norm_rope(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    const qkv_job *job = arg;
    gm_context *ctx = job->ctx;
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[job->il];
    const gm_layer_hp *lh = &m->hp.layer[job->il];
    gm_scratch *s = &ctx->s;
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const size_t qdim = (size_t)H * d, kvdim = (size_t)Hkv * d;
    const float eps = m->hp.eps;
    const float *ff = lh->swa ? NULL : (const float *)m->rope_freqs.data;
    const int slot = ctx->kv_slot_of_layer[job->il];
    float *cs = s->rope_cs + (size_t)worker * s->rope_cs_len;

    for (uint64_t i = begin; i < end; i++) {
        gm_rope_cache(s->pos[i], lh->n_rot, lh->rope_base, ff, cs);
        for (uint32_t h = 0; h < H; h++) {
            float *qh = s->q + i * qdim + (size_t)h * d;
            gm_rmsnorm(qh, l->q_norm.data, d, eps, qh);
            gm_rope_apply(qh, lh->n_rot, cs);
        }
        if (!lh->has_kv)
            continue;
        for (uint32_t h = 0; h < Hkv; h++) {
            const size_t o = i * kvdim + (size_t)h * d;
            float *kh = s->kv_k[slot] + o;
            gm_rmsnorm(s->k_raw + o, l->k_norm.data, d, eps, kh);
            gm_rope_apply(kh, lh->n_rot, cs);
            gm_rmsnorm(s->v_raw + o, NULL, d, eps, s->kv_v[slot] + o);
        }
    }
}

/* Projections, norms and RoPE: q into s->q, K/V into the layer's batch slot. */
static int project(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    const gm_layer_hp *lh = &m->hp.layer[il];
    gm_scratch *s = &ctx->s;
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const size_t qdim = (size_t)H * d, kvdim = (size_t)Hkv * d;

    if (l->wqkv.data != NULL) {
        const size_t w = qdim + 2 * kvdim;
        if (gm_mm(ctx, &l->wqkv, s->cur, n, s->qkv, err) < 0)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            memcpy(s->q + i * qdim, s->qkv + i * w, qdim * sizeof(float));
            memcpy(s->k_raw + i * kvdim, s->qkv + i * w + qdim, kvdim * sizeof(float));
            memcpy(s->v_raw + i * kvdim, s->qkv + i * w + qdim + kvdim, kvdim * sizeof(float));
        }
    } else {
        /* Q, K and V read the same input: one parallel pass */
        gm_mm_out outs[3] = {{&l->wq, 0, s->q}};
        uint32_t n_outs = 1;
        if (lh->has_kv) {
            outs[n_outs++] = (gm_mm_out){&l->wk, 0, s->k_raw};
            if (l->wv.data != NULL)
                outs[n_outs++] = (gm_mm_out){&l->wv, 0, s->v_raw};
        }
        if (gm_mm_many(ctx, outs, n_outs, s->cur, n, err) < 0)
            return -1;
        if (lh->has_kv && l->wv.data == NULL) /* no attn_v: V is the raw K projection */
            memcpy(s->v_raw, s->k_raw, (size_t)n * kvdim * sizeof(float));
    }

    qkv_job job = {ctx, il};
    gm_pool_run(ctx->pool, n, 1, norm_rope, &job);
    return 0;
}

/* Work items are (token, KV head, block of that KV head's query heads):
 * the heads of a block read the same key and value rows, once for all of
 * them (attn_dot.c). A KV group's heads are split into `split` blocks,
 * enough that a decode step still has an item per thread; each head's
 * arithmetic is the same however the heads are blocked, so the split
 * (which follows the thread count) never changes a result. */
typedef struct attn_job {
    gm_context *ctx;
    uint32_t il;
    uint32_t split; /* blocks per KV group (divides the group size) */
} attn_job;

static void attend(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    const attn_job *job = arg;
    gm_context *ctx = job->ctx;
    const gm_model *m = ctx->model;
    const gm_layer_hp *lh = &m->hp.layer[job->il];
    gm_scratch *s = &ctx->s;
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const uint32_t group = H / Hkv, W = m->hp.swa_window;
    const uint32_t split = job->split, hb = group / split;
    const size_t qdim = (size_t)H * d, kvdim = (size_t)Hkv * d;
    const uint32_t src = lh->kv_src;
    const int slot = ctx->kv_slot_of_layer[src];
    const float *kb = s->kv_k[slot], *vb = s->kv_v[slot];
    float *scores = s->scores + (size_t)worker * s->group_max * ctx->n_ctx;
    const float **krow = s->attn_rows + (size_t)worker * 2 * ctx->n_ctx;
    const float **vrow = krow + ctx->n_ctx;

    for (uint64_t item = begin; item < end; item++) {
        const uint32_t i = (uint32_t)(item / (Hkv * split));
        const uint32_t g = (uint32_t)(item % (Hkv * split)) / split;
        const uint32_t h0 = g * group + (uint32_t)(item % split) * hb; /* first query head */
        const uint32_t sq = s->seq[i], p = s->pos[i], p0 = s->seq_p0[sq];
        /* causal; a sliding layer also needs p - j < W */
        const uint32_t lo = lh->swa && p + 1 > W ? p + 1 - W : 0;
        const uint32_t nk = p + 1 - lo;
        const size_t ho = (size_t)g * d;
        /* KV head g's rows of positions lo..p: the cache before this step,
         * the step's batch K/V from p0 on */
        for (uint32_t j = lo; j <= p; j++) {
            if (j < p0) {
                krow[j - lo] = gm_kv_k(&ctx->kv, src, sq, j) + ho;
                vrow[j - lo] = gm_kv_v(&ctx->kv, src, sq, j) + ho;
            } else {
                const size_t t = s->tok_of[s->seq_off[sq] + j - p0];
                krow[j - lo] = kb + t * kvdim + ho;
                vrow[j - lo] = vb + t * kvdim + ho;
            }
        }
        gm_attn_scores(s->q + i * qdim + (size_t)h0 * d, hb, krow, nk, d, scores, ctx->n_ctx);
        for (uint32_t h = 0; h < hb; h++)
            gm_softmax(scores + (size_t)h * ctx->n_ctx, nk);
        gm_attn_weighted_sum(vrow, scores, ctx->n_ctx, hb, nk, d,
                             s->kv_out + i * qdim + (size_t)h0 * d);
    }
}

/* The fewest blocks per KV group (a divisor of the group size) that give
 * every thread an item. */
static uint32_t head_split(uint32_t n_items_per_block, uint32_t group, uint32_t n_threads)
{
    uint32_t split = 1;
    while (split < group && (uint64_t)n_items_per_block * split < n_threads) {
        split++;
        while (group % split != 0)
            split++;
    }
    return split;
}

int gm_attention(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_layer_hp *lh = &ctx->model->hp.layer[il];
    if (project(ctx, il, n, err) < 0)
        return -1;
    const uint32_t group = lh->n_head / lh->n_head_kv;
    attn_job job = {ctx, il, head_split(n * lh->n_head_kv, group, gm_pool_threads(ctx->pool))};
    gm_pool_run(ctx->pool, (uint64_t)n * lh->n_head_kv * job.split, 1, attend, &job);
    if (lh->has_kv && ctx->kv_slot_of_layer[il] == 0)
        gm_kv_commit(ctx, il, n);
    return gm_mm(ctx, &ctx->model->layers[il].wo, ctx->s.kv_out, n, ctx->s.tmp, err);
}
