/*
 * engine/model/ple.c -- per-layer embeddings (PLE, docs/architecture.md E4):
 * the per-layer inputs computed once per token before layer 0, and the
 * residual block each layer adds after its feed-forward block.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/cpu/pool.h"
#include "engine/model/model.h"
#include "engine/model/ops.h"
#include "engine/quant/quant.h"

/* The per-token part of the inputs, one token per work item: e =
 * per_layer_token_embd[tok] * sqrt(P), m = rms(a / sqrt(E)) * norm per
 * P-vector where a is the token's row of the model projection, and ple =
 * (m + e) / sqrt(2). */
typedef struct ple_job {
    gm_context *ctx;
    const int32_t *tokens;
    atomic_bool bad_type; /* the embedding's format cannot be decoded */
} ple_job;

static void ple_tokens(void *arg, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    ple_job *job = arg;
    const gm_model *m = job->ctx->model;
    gm_scratch *s = &job->ctx->s;
    const uint32_t E = m->hp.n_embd, P = m->hp.n_embd_ple, L = m->hp.n_layer;
    const size_t LP = (size_t)L * P;
    const float emb_scale = sqrtf((float)P);
    const float proj_scale = 1.0f / sqrtf((float)E);
    const float in_scale = 1.0f / sqrtf(2.0f);

    for (uint64_t i = begin; i < end; i++) {
        float *e = s->ple + i * LP, *a = s->ple_a + i * LP;
        const char *row = (const char *)m->ple_tok_embd.data
                          + (size_t)job->tokens[i] * m->ple_tok_embd.row_bytes;
        if (gm_dequantize_row(m->ple_tok_embd.type, row, e, LP) < 0) {
            atomic_store(&job->bad_type, true);
            continue;
        }
        for (size_t c = 0; c < LP; c++)
            e[c] *= emb_scale;
        for (size_t c = 0; c < LP; c++)
            a[c] *= proj_scale;
        gm_rmsnorm_rows(a, m->ple_proj_norm.data, L, P, m->hp.eps, a);
        for (size_t c = 0; c < LP; c++)
            e[c] = (a[c] + e[c]) * in_scale;
    }
}

int gm_ple_inputs(gm_context *ctx, const int32_t *tokens, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    /* a = per_layer_model_proj * x0 for all tokens, then the rest per token */
    if (gm_mm(ctx, &m->ple_model_proj, ctx->s.x, n, ctx->s.ple_a, err) < 0)
        return -1;
    ple_job job = {.ctx = ctx, .tokens = tokens};
    atomic_init(&job.bad_type, false);
    gm_pool_run(ctx->pool, n, 1, ple_tokens, &job);
    if (atomic_load(&job.bad_type))
        return cm_err_set(err, "per_layer_token_embd.weight: cannot decode type %s",
                          gm_type_name(m->ple_tok_embd.type));
    return 0;
}

int gm_ple_block(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_scratch *s = &ctx->s;
    const uint32_t E = m->hp.n_embd, P = m->hp.n_embd_ple, L = m->hp.n_layer;

    /* g = gelu(inp_gate * x) . ple[il] */
    if (gm_mm(ctx, &l->ple_gate, s->x, n, s->ple_a, err) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        float *g = s->ple_a + (size_t)i * P;
        const float *pe = s->ple + ((size_t)i * L + il) * P;
        gm_geglu(m->gelu_table, g, pe, P, g);
    }
    /* x += rms(proj * g) * post_norm */
    if (gm_mm(ctx, &l->ple_proj, s->ple_a, n, s->tmp, err) < 0)
        return -1;
    gm_rmsnorm_add_rows(ctx->pool, s->tmp, l->ple_post_norm.data, s->x, n, E, m->hp.eps, s->x);
    return 0;
}
