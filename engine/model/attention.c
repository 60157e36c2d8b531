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
 *
 * A step with more (token, KV head) pairs than threads (a prompt) shares
 * out its pairs, each thread reading its pairs' key and value rows; a
 * step with fewer (a decode step) at a long context shares out the keys
 * and the output columns of each pair instead (attn_split.c), so that the
 * rows, which come from memory, are read once and not once per thread;
 * at a short one it shares out blocks of each pair's query heads. All
 * give the same bits.
 */
#include <string.h>

#include "engine/cpu/pool.h"
#include "engine/model/attn_dot.h"
#include "engine/model/attn_split.h"
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

/* Row pointers of the KV head at offset ho (floats into a position's
 * row) for positions lo..p of sequence sq, as layer `src` holds them: the
 * cache before the step's first position p0, the step's batch K/V from p0
 * on. In the cache consecutive positions are consecutive rows of `width`
 * floats, but where a ring wraps (kv_cache.h). */
static void kv_rows(const gm_context *ctx, uint32_t src, uint32_t sq, uint32_t lo, uint32_t p,
                    size_t ho, const float **krow, const float **vrow)
{
    const gm_scratch *s = &ctx->s;
    const gm_kv_layer *cl = &ctx->kv.layers[src];
    const gm_layer_hp *lh = &ctx->model->hp.layer[src];
    const size_t kvdim = (size_t)lh->n_head_kv * lh->head_dim;
    const int slot = ctx->kv_slot_of_layer[src];
    const float *kb = s->kv_k[slot], *vb = s->kv_v[slot];
    const uint32_t p0 = s->seq_p0[sq];
    const uint32_t cached_end = p0 < p + 1 ? p0 : p + 1;
    uint32_t j = lo;
    while (j < cached_end) {
        const float *k = gm_kv_k(&ctx->kv, src, sq, j) + ho;
        const float *v = gm_kv_v(&ctx->kv, src, sq, j) + ho;
        uint32_t run = cached_end - j;
        if (cl->ring && cl->cap - j % cl->cap < run)
            run = cl->cap - j % cl->cap;
        for (uint32_t r = 0; r < run; r++, j++) {
            krow[j - lo] = k + (size_t)r * cl->width;
            vrow[j - lo] = v + (size_t)r * cl->width;
        }
    }
    for (; j <= p; j++) {
        const size_t t = s->tok_of[s->seq_off[sq] + j - p0];
        krow[j - lo] = kb + t * kvdim + ho;
        vrow[j - lo] = vb + t * kvdim + ho;
    }
}

/* The first key position token i attends to: causal; a sliding layer
 * also needs p - j < W. */
static uint32_t first_key(const gm_context *ctx, const gm_layer_hp *lh, uint32_t i)
{
    const uint32_t p = ctx->s.pos[i], W = ctx->model->hp.swa_window;
    return lh->swa && p + 1 > W ? p + 1 - W : 0;
}

/* Work items are (token, KV head, block of that KV head's query heads):
 * the heads of a block read the same key and value rows, once for all of
 * them (attn_dot.c). A KV group's heads are split into `split` blocks,
 * enough that a short step still has an item per thread; each head's
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
    const gm_layer_hp *lh = &ctx->model->hp.layer[job->il];
    gm_scratch *s = &ctx->s;
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const uint32_t group = H / Hkv, split = job->split, hb = group / split;
    const size_t qdim = (size_t)H * d;
    float *scores = s->scores + (size_t)worker * s->group_max * ctx->n_ctx;
    const float **krow = s->attn_rows + (size_t)worker * 2 * ctx->n_ctx;
    const float **vrow = krow + ctx->n_ctx;

    for (uint64_t item = begin; item < end; item++) {
        const uint32_t i = (uint32_t)(item / (Hkv * split));
        const uint32_t g = (uint32_t)(item % (Hkv * split)) / split;
        const size_t h0 = (size_t)g * group + (item % split) * hb; /* first query head */
        const uint32_t p = s->pos[i], lo = first_key(ctx, lh, i);
        const uint32_t nk = p + 1 - lo;
        kv_rows(ctx, lh->kv_src, s->seq[i], lo, p, (size_t)g * d, krow, vrow);
        gm_attn_scores(s->q + i * qdim + h0 * d, hb, krow, nk, d, scores, ctx->n_ctx);
        for (uint32_t h = 0; h < hb; h++)
            gm_softmax(scores + (size_t)h * ctx->n_ctx, nk);
        gm_attn_weighted_sum(vrow, scores, ctx->n_ctx, hb, nk, d,
                             s->kv_out + i * qdim + h0 * d);
    }
}

/* The fewest blocks per KV group (a divisor of the group size) that give
 * every thread an item. */
static uint32_t head_split(uint64_t n_items_per_block, uint32_t group, uint32_t n_threads)
{
    uint32_t split = 1;
    while (split < group && n_items_per_block * split < n_threads) {
        split++;
        while (group % split != 0)
            split++;
    }
    return split;
}

/* A step is split by keys and columns (attend_split) when it has fewer
 * (token, KV head) pairs than threads and some token attends to at least
 * this many key floats (keys x head size): below, the two more pool runs
 * cost more than reading the rows once per thread (measured on E2B). */
#define SPLIT_MIN_KEY_FLOATS 32768u

static bool split_by_keys(const gm_context *ctx, const gm_layer_hp *lh, uint32_t n)
{
    const uint64_t pairs = (uint64_t)n * lh->n_head_kv;
    if (pairs >= gm_pool_threads(ctx->pool) || pairs > (uint64_t)ctx->n_threads)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t nk = ctx->s.pos[i] + 1 - first_key(ctx, lh, i);
        if (nk * lh->head_dim >= SPLIT_MIN_KEY_FLOATS)
            return true;
    }
    return false;
}

/* A step with fewer (token, KV head) pairs than threads: each pair a task
 * of attn_split.c, with the scratch of one worker of the per-worker
 * layout (scores, row pointers), which holds n_threads of them. */
static void attend_split(gm_context *ctx, uint32_t il, uint32_t n)
{
    const gm_layer_hp *lh = &ctx->model->hp.layer[il];
    gm_scratch *s = &ctx->s;
    const uint32_t d = lh->head_dim, H = lh->n_head, Hkv = lh->n_head_kv;
    const uint32_t group = H / Hkv;
    const size_t qdim = (size_t)H * d;
    gm_attn_task tasks[GM_POOL_MAX_THREADS];
    uint32_t n_tasks = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t g = 0; g < Hkv; g++, n_tasks++) {
            const uint32_t p = s->pos[i], lo = first_key(ctx, lh, i);
            const float **krow = s->attn_rows + (size_t)n_tasks * 2 * ctx->n_ctx;
            const float **vrow = krow + ctx->n_ctx;
            kv_rows(ctx, lh->kv_src, s->seq[i], lo, p, (size_t)g * d, krow, vrow);
            tasks[n_tasks] = (gm_attn_task){
                .q = s->q + i * qdim + (size_t)g * group * d,
                .k = krow,
                .v = vrow,
                .nk = p + 1 - lo,
                .scores = s->scores + (size_t)n_tasks * s->group_max * ctx->n_ctx,
                .out = s->kv_out + i * qdim + (size_t)g * group * d,
            };
        }
    gm_attn_split_run(ctx->pool, tasks, n_tasks, group, d, ctx->n_ctx);
}

int gm_attention(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_layer_hp *lh = &ctx->model->hp.layer[il];
    if (project(ctx, il, n, err) < 0)
        return -1;
    if (split_by_keys(ctx, lh, n)) {
        attend_split(ctx, il, n);
    } else {
        const uint64_t pairs = (uint64_t)n * lh->n_head_kv;
        const uint32_t group = lh->n_head / lh->n_head_kv;
        attn_job job = {ctx, il, head_split(pairs, group, gm_pool_threads(ctx->pool))};
        gm_pool_run(ctx->pool, pairs * job.split, 1, attend, &job);
    }
    if (lh->has_kv && ctx->kv_slot_of_layer[il] == 0)
        gm_kv_commit(ctx, il, n);
    return gm_mm(ctx, &ctx->model->layers[il].wo, ctx->s.kv_out, n, ctx->s.tmp, err);
}
