/*
 * engine/model/ffn.c -- the dense GeGLU feed-forward network (docs/architecture.md
 * E7): down( gelu(gate * u) . (up * u) ), also used as the shared
 * MLP of MoE layers.
 */
#include "engine/model/model.h"
#include "engine/model/ops.h"

int gm_ffn_dense(gm_context *ctx, const gm_weight *gate, const gm_weight *up,
                 const gm_weight *down, const float *in, uint32_t n, float *out,
                 cm_err *err)
{
    gm_scratch *s = &ctx->s;
    const size_t ff = gate->ne[1];
    /* gate and up read the same input: one parallel pass */
    const gm_mm_out gate_up[] = {{gate, 0, s->ff_a}, {up, 0, s->ff_b}};
    if (gm_mm_many(ctx, gate_up, 2, in, n, err) < 0)
        return -1;
    gm_geglu_par(ctx->pool, ctx->model->gelu_table, s->ff_a, s->ff_b, n * ff, s->ff_a);
    return gm_mm(ctx, down, s->ff_a, n, out, err);
}
