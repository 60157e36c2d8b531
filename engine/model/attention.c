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
#include "engine/model/model.h"
#include "engine/model/ops.h"

/* GNU C vectors of 8 floats (two SSE or one AVX register). The arithmetic
 * below is elementwise, so it rounds exactly as the scalar loops would. */
typedef float gm_v8f __attribute__((vector_size(32)));

/* q . k in 8 lanes, then ((0+1)+(2+3))+((4+5)+(6+7)): with this order the
 * scores agree bit for bit with llama.cpp's more often than with a plain
 * running sum (measured on Q8_0 models, where nothing else differs). */
static float dot(const float *a, const float *b, uint32_t n)
{
    gm_v8f acc = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        gm_v8f av, bv;
        memcpy(&av, a + i, sizeof(av));
        memcpy(&bv, b + i, sizeof(bv));
        acc += av * bv;
    }
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

/* y += a * x over n floats. */
static void axpy(float *restrict y, const float *restrict x, float a, uint32_t n)
{
    const gm_v8f av = {a, a, a, a, a, a, a, a};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        gm_v8f xv, yv;
        memcpy(&xv, x + i, sizeof(xv));
        memcpy(&yv, y + i, sizeof(yv));
        yv += av * xv;
        memcpy(y + i, &yv, sizeof(yv));
    }
    for (; i < n; i++)
        y[i] += a * x[i];
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
    const float eps = m->hp.eps;
    const float *ff = lh->swa ? NULL : (const float *)m->rope_freqs.data;

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
        if (gm_mm(ctx, &l->wq, s->cur, n, s->q, err) < 0)
            return -1;
        if (lh->has_kv) {
            if (gm_mm(ctx, &l->wk, s->cur, n, s->k_raw, err) < 0)
                return -1;
            if (l->wv.data != NULL) {
                if (gm_mm(ctx, &l->wv, s->cur, n, s->v_raw, err) < 0)
                    return -1;
            } else {
                /* no attn_v: V is the raw K projection */
                memcpy(s->v_raw, s->k_raw, (size_t)n * kvdim * sizeof(float));
            }
        }
    }

    const int slot = ctx->kv_slot_of_layer[il];
    for (uint32_t i = 0; i < n; i++) {
        gm_rope_cache(s->pos[i], lh->n_rot, lh->rope_base, ff, s->rope_cs);
        for (uint32_t h = 0; h < H; h++) {
            float *qh = s->q + i * qdim + (size_t)h * d;
            gm_rmsnorm(qh, l->q_norm.data, d, eps, qh);
            gm_rope_apply(qh, lh->n_rot, s->rope_cs);
        }
        if (!lh->has_kv)
            continue;
        for (uint32_t h = 0; h < Hkv; h++) {
            const size_t o = i * kvdim + (size_t)h * d;
            float *kh = s->kv_k[slot] + o;
            gm_rmsnorm(s->k_raw + o, l->k_norm.data, d, eps, kh);
            gm_rope_apply(kh, lh->n_rot, s->rope_cs);
            gm_rmsnorm(s->v_raw + o, NULL, d, eps, s->kv_v[slot] + o);
        }
    }
    return 0;
}

/* One (token, head) pair per work item, spread over the pool. */
typedef struct attn_job {
    gm_context *ctx;
    uint32_t il;
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
    const size_t qdim = (size_t)H * d, kvdim = (size_t)Hkv * d;
    const uint32_t src = lh->kv_src;
    const int slot = ctx->kv_slot_of_layer[src];
    const float *kb = s->kv_k[slot], *vb = s->kv_v[slot];
    float *scores = s->scores + (size_t)worker * ctx->n_ctx;

    for (uint64_t item = begin; item < end; item++) {
        const uint32_t i = (uint32_t)(item / H), h = (uint32_t)(item % H);
        const uint32_t sq = s->seq[i], p = s->pos[i], p0 = s->seq_p0[sq];
        /* causal; a sliding layer also needs p - j < W */
        const uint32_t lo = lh->swa && p + 1 > W ? p + 1 - W : 0;
        const float *qh = s->q + i * qdim + (size_t)h * d;
        const size_t ho = (size_t)(h / group) * d;
        for (uint32_t j = lo; j <= p; j++) {
            const float *kj = j < p0 ? gm_kv_k(&ctx->kv, src, sq, j)
                                     : kb + s->tok_of[s->seq_off[sq] + j - p0] * kvdim;
            scores[j - lo] = dot(qh, kj + ho, d);
        }
        gm_softmax(scores, p + 1 - lo);
        float *out = s->kv_out + i * qdim + (size_t)h * d;
        memset(out, 0, d * sizeof(float));
        for (uint32_t j = lo; j <= p; j++) {
            const float *vj = j < p0 ? gm_kv_v(&ctx->kv, src, sq, j)
                                     : vb + s->tok_of[s->seq_off[sq] + j - p0] * kvdim;
            axpy(out, vj + ho, scores[j - lo], d);
        }
    }
}

int gm_attention(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_layer_hp *lh = &ctx->model->hp.layer[il];
    if (project(ctx, il, n, err) < 0)
        return -1;
    attn_job job = {ctx, il};
    gm_pool_run(ctx->pool, (uint64_t)n * lh->n_head, 1, attend, &job);
    if (lh->has_kv && ctx->kv_slot_of_layer[il] == 0)
        gm_kv_commit(ctx, il, n);
    return gm_mm(ctx, &ctx->model->layers[il].wo, ctx->s.kv_out, n, ctx->s.tmp, err);
}
