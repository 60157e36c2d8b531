/*
 * engine/model/context.c -- gm_context: the KV caches of up to n_seq_max
 * sequences and the working memory of the forward pass (engine/gemma.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/checked.h"
#include "engine/backend.h"
#include "engine/cpu/pool.h"
#include "engine/model/model.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* calloc of a*b*c elements of `size` bytes, NULL on overflow. */
static void *alloc3(size_t a, size_t b, size_t c, size_t size)
{
    size_t n;
    if (!cm_mul_size(a, b, &n) || !cm_mul_size(n, c, &n) || !cm_mul_size(n, size, &n))
        return NULL;
    return calloc(1, n ? n : 1);
}

static void scratch_free(gm_scratch *s)
{
    float **fl[] = {&s->x, &s->cur, &s->attn_out, &s->tmp, &s->tmp2, &s->q, &s->kv_out,
                    &s->qkv, &s->k_raw, &s->v_raw, &s->kv_k[0], &s->kv_k[1], &s->kv_k[2],
                    &s->kv_v[0], &s->kv_v[1], &s->kv_v[2], &s->ff_a, &s->ff_b, &s->ple,
                    &s->ple_a, &s->scores, &s->rope_cs, &s->router, &s->sel_w, &s->exp_out,
                    &s->gx, &s->gy};
    for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
        free(*fl[i]);
        *fl[i] = NULL;
    }
    free(s->attn_rows);
    free(s->sel);
    free(s->gidx);
    free(s->pos);
    free(s->seq);
    free(s->seq_p0);
    free(s->seq_off);
    free(s->tok_of);
    free(s->out_rows);
    memset(s, 0, sizeof(*s));
}

static int scratch_alloc(gm_context *ctx, cm_err *err)
{
    const gm_hparams *hp = &ctx->model->hp;
    gm_scratch *s = &ctx->s;
    uint64_t n64 = (uint64_t)ctx->n_ctx * ctx->n_seq_max;
    const size_t n = n64 < GM_UBATCH ? (size_t)n64 : GM_UBATCH;
    const size_t E = hp->n_embd, L = hp->n_layer, P = hp->n_embd_ple;
    size_t qdim = 1, kvdim = 1, qkvdim = 1, ffdim = 2 * (size_t)hp->n_ff_exp, k_max = 1,
           rot = 2, group = 1;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const gm_layer_hp *lh = &hp->layer[il];
        qdim = MAX(qdim, (size_t)lh->n_head * lh->head_dim);
        kvdim = MAX(kvdim, (size_t)lh->n_head_kv * lh->head_dim);
        qkvdim = MAX(qkvdim, (size_t)(lh->n_head + 2 * lh->n_head_kv) * lh->head_dim);
        ffdim = MAX(ffdim, (size_t)lh->n_ff);
        k_max = MAX(k_max, (size_t)lh->n_expert_used);
        rot = MAX(rot, (size_t)lh->n_rot);
        group = MAX(group, (size_t)(lh->n_head / lh->n_head_kv));
    }
    s->n_max = (uint32_t)n;
    s->k_max = (uint32_t)k_max;
    s->x = alloc3(n, E, 1, sizeof(float));
    s->cur = alloc3(n, E, 1, sizeof(float));
    s->attn_out = alloc3(n, E, 1, sizeof(float));
    s->tmp = alloc3(n, E, 1, sizeof(float));
    s->tmp2 = alloc3(n, E, 1, sizeof(float));
    s->q = alloc3(n, qdim, 1, sizeof(float));
    s->kv_out = alloc3(n, qdim, 1, sizeof(float));
    s->qkv = alloc3(n, qkvdim, 1, sizeof(float));
    s->k_raw = alloc3(n, kvdim, 1, sizeof(float));
    s->v_raw = alloc3(n, kvdim, 1, sizeof(float));
    for (int i = 0; i < 3; i++) {
        s->kv_k[i] = alloc3(n, kvdim, 1, sizeof(float));
        s->kv_v[i] = alloc3(n, kvdim, 1, sizeof(float));
    }
    s->ff_a = alloc3(n, ffdim, 1, sizeof(float));
    s->ff_b = alloc3(n, ffdim, 1, sizeof(float));
    s->ple = alloc3(n, L, MAX(P, 1), sizeof(float));
    s->ple_a = alloc3(n, L, MAX(P, 1), sizeof(float));
    s->group_max = (uint32_t)group;
    s->scores = alloc3(ctx->n_ctx, ctx->n_threads, group, sizeof(float));
    s->attn_rows = alloc3(ctx->n_ctx, ctx->n_threads, 2, sizeof(*s->attn_rows));
    s->rope_cs = alloc3(rot, ctx->n_threads, 1, sizeof(float));
    s->rope_cs_len = rot;
    s->router = alloc3(n, MAX(hp->n_expert, 1), 1, sizeof(float));
    s->sel = alloc3(n, k_max, 1, sizeof(int32_t));
    s->sel_w = alloc3(n, k_max, 1, sizeof(float));
    s->exp_out = alloc3(n, k_max, hp->n_expert > 0 ? E : 1, sizeof(float));
    s->gx = alloc3(n, E, 1, sizeof(float));
    s->gy = alloc3(n, E, 1, sizeof(float));
    s->gidx = alloc3(n, 1, 1, sizeof(uint32_t));
    s->pos = alloc3(n, 1, 1, sizeof(uint32_t));
    s->seq = alloc3(n, 1, 1, sizeof(uint32_t));
    s->seq_p0 = alloc3(ctx->n_seq_max, 1, 1, sizeof(uint32_t));
    s->seq_off = alloc3(ctx->n_seq_max, 1, 1, sizeof(uint32_t));
    s->tok_of = alloc3(n, 1, 1, sizeof(uint32_t));
    s->out_rows = alloc3(n, 1, 1, sizeof(uint32_t));
    if (!s->x || !s->cur || !s->attn_out || !s->tmp || !s->tmp2 || !s->q || !s->kv_out
        || !s->qkv || !s->k_raw || !s->v_raw || !s->kv_k[0] || !s->kv_k[1] || !s->kv_k[2]
        || !s->kv_v[0] || !s->kv_v[1] || !s->kv_v[2] || !s->ff_a || !s->ff_b || !s->ple
        || !s->ple_a || !s->scores || !s->attn_rows || !s->rope_cs || !s->router || !s->sel || !s->sel_w
        || !s->exp_out || !s->gx || !s->gy || !s->gidx || !s->pos || !s->seq || !s->seq_p0
        || !s->seq_off || !s->tok_of || !s->out_rows)
        return cm_err_set(err, "context: out of memory for working buffers");
    return 0;
}

int gm_context_new(gm_model *model, const gm_context_opts *opts, gm_context **out,
                   cm_err *err)
{
    *out = NULL;
    if (model->vocab_only)
        return cm_err_set(err, "cannot make a context: the model was loaded vocabulary-only");
    const gm_hparams *hp = &model->hp;
    gm_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return cm_err_set(err, "context: out of memory");
    ctx->model = model;
    ctx->n_ctx = opts != NULL ? opts->n_ctx : 0;
    if (ctx->n_ctx == 0)
        ctx->n_ctx = hp->n_ctx_train < 4096 && hp->n_ctx_train > 0 ? hp->n_ctx_train : 4096;
    ctx->n_seq_max = opts != NULL && opts->n_seq_max > 0 ? opts->n_seq_max : 1;
    ctx->n_threads = opts != NULL && opts->n_threads > 0 ? opts->n_threads : model->n_threads;
    if (ctx->n_threads > GM_POOL_MAX_THREADS)
        ctx->n_threads = GM_POOL_MAX_THREADS;
    if (ctx->n_seq_max > 4096 || ctx->n_ctx > (1u << 24)) {
        cm_err_set(err, "context: n_ctx %u or n_seq_max %u out of range (at most %u and 4096)",
                   ctx->n_ctx, ctx->n_seq_max, 1u << 24);
        free(ctx);
        return -1;
    }
    ctx->seq_count = calloc(ctx->n_seq_max, sizeof(*ctx->seq_count));
    ctx->seq_last = calloc(ctx->n_seq_max, sizeof(*ctx->seq_last));
    uint32_t *width = calloc(hp->n_layer, sizeof(uint32_t));
    uint32_t *window = calloc(hp->n_layer, sizeof(uint32_t));
    if (ctx->seq_count == NULL || ctx->seq_last == NULL || width == NULL || window == NULL) {
        free(width);
        free(window);
        gm_context_free(ctx);
        return cm_err_set(err, "context: out of memory");
    }
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const gm_layer_hp *lh = &hp->layer[il];
        width[il] = lh->has_kv ? lh->n_head_kv * lh->head_dim : 0;
        window[il] = lh->swa ? hp->swa_window : 0;
        ctx->kv_slot_of_layer[il] = 0;
    }
    /* the layers whose K/V shared layers read keep their batch K/V until
     * the end of each step (forward.c) */
    for (uint32_t il = hp->n_kv_start; il < hp->n_layer; il++)
        ctx->kv_slot_of_layer[hp->layer[il].kv_src] = hp->layer[il].swa ? 1 : 2;
    int rc = gm_kv_init(&ctx->kv, hp->n_layer, width, window, ctx->n_ctx, ctx->n_seq_max, err);
    free(width);
    free(window);
    if (rc < 0 || scratch_alloc(ctx, err) < 0) {
        gm_context_free(ctx);
        return -1;
    }
    if (ctx->n_threads > 1
        && gm_pool_create((uint32_t)ctx->n_threads, &ctx->pool, err) < 0) {
        gm_context_free(ctx);
        return -1;
    }
    if (model->backend->context_init != NULL && model->backend->context_init(ctx, err) < 0) {
        gm_context_free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

void gm_context_free(gm_context *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->backend_ctx != NULL && ctx->model->backend->context_free != NULL)
        ctx->model->backend->context_free(ctx);
    gm_pool_destroy(ctx->pool);
    gm_kv_free(&ctx->kv);
    scratch_free(&ctx->s);
    free(ctx->seq_count);
    free(ctx->seq_last);
    free(ctx);
}

uint32_t gm_context_n_ctx(const gm_context *ctx)
{
    return ctx->n_ctx;
}

const gm_model *gm_context_get_model(const gm_context *ctx)
{
    return ctx->model;
}

uint32_t gm_context_n_seq_max(const gm_context *ctx)
{
    return ctx->n_seq_max;
}

int gm_context_seq_clear(gm_context *ctx, uint32_t seq, cm_err *err)
{
    if (seq >= ctx->n_seq_max)
        return cm_err_set(err, "sequence %u does not exist (the context holds %u)", seq,
                          ctx->n_seq_max);
    gm_kv_seq_clear(&ctx->kv, seq);
    return 0;
}

uint32_t gm_context_seq_len(const gm_context *ctx, uint32_t seq)
{
    return seq < ctx->n_seq_max ? ctx->kv.len[seq] : 0;
}

void gm_context_kv_usage(const gm_context *ctx, uint64_t *used, uint64_t *total)
{
    gm_kv_usage(&ctx->kv, used, total);
}

void gm_context_device_info(const gm_context *ctx, gm_device_info *out)
{
    gm_model_device_info(ctx->model, out);
    if (ctx->backend_ctx != NULL && ctx->model->backend->context_device_info != NULL) {
        ctx->model->backend->context_device_info(ctx, out);
        return;
    }
    uint64_t used = 0;
    gm_context_kv_usage(ctx, &used, &out->kv_bytes);
}

/* Copies of KV rows (truncate, copy, snapshots) work on the host's
 * cache; a backend with its own context state (CUDA) keeps K and V in
 * device memory, where they would not see them: refused there. */
static int kv_on_host(const gm_context *ctx, const char *what, cm_err *err)
{
    if (ctx->backend_ctx != NULL)
        return cm_err_set(err, "%s: the KV cache is in device memory (CPU contexts only)", what);
    return 0;
}

int gm_context_seq_truncate(gm_context *ctx, uint32_t seq, uint32_t n, cm_err *err)
{
    if (kv_on_host(ctx, "kv truncate", err) < 0)
        return -1;
    return gm_kv_seq_truncate(&ctx->kv, seq, n, err);
}

int gm_context_seq_copy(gm_context *ctx, uint32_t src, uint32_t dst, uint32_t n,
                        cm_err *err)
{
    if (kv_on_host(ctx, "kv copy", err) < 0)
        return -1;
    return gm_kv_seq_copy(&ctx->kv, src, dst, n, err);
}

uint64_t gm_context_seq_kv_bytes(const gm_context *ctx, uint32_t n)
{
    return gm_kv_seq_bytes(&ctx->kv, n);
}

uint32_t gm_context_min_window(const gm_context *ctx)
{
    return gm_kv_min_ring(&ctx->kv);
}

struct gm_kv_snapshot {
    gm_kv_snap snap;
};

int gm_kv_snapshot_new(const gm_context *ctx, uint32_t cap, gm_kv_snapshot **out,
                       cm_err *err)
{
    *out = NULL;
    if (kv_on_host(ctx, "kv snapshot", err) < 0)
        return -1;
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return cm_err_set(err, "kv snapshot: out of memory");
    if (gm_kv_snap_init(&(*out)->snap, &ctx->kv, cap, err) < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void gm_kv_snapshot_free(gm_kv_snapshot *snap)
{
    if (snap == NULL)
        return;
    gm_kv_snap_free(&snap->snap);
    free(snap);
}

int gm_kv_snapshot_append(gm_kv_snapshot *snap, const gm_context *ctx, uint32_t seq,
                          uint32_t to, cm_err *err)
{
    if (kv_on_host(ctx, "kv snapshot", err) < 0)
        return -1;
    return gm_kv_snap_append(&snap->snap, &ctx->kv, seq, to, err);
}

int gm_kv_snapshot_restore(const gm_kv_snapshot *snap, gm_context *ctx, uint32_t seq,
                           uint32_t n, cm_err *err)
{
    if (kv_on_host(ctx, "kv snapshot", err) < 0)
        return -1;
    return gm_kv_snap_restore(&snap->snap, &ctx->kv, seq, n, err);
}

uint32_t gm_kv_snapshot_len(const gm_kv_snapshot *snap)
{
    return snap->snap.len;
}

uint64_t gm_kv_snapshot_bytes(const gm_kv_snapshot *snap)
{
    return snap->snap.bytes;
}

int gm_kv_snapshot_copy(gm_kv_snapshot *dst, const gm_kv_snapshot *src, uint32_t n,
                        cm_err *err)
{
    return gm_kv_snap_copy(&dst->snap, &src->snap, n, err);
}
