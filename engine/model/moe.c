/*
 * engine/model/moe.c -- the mixture-of-experts feed-forward block of a MoE
 * layer (docs/architecture.md E8): a shared GeGLU MLP plus the top-k of
 * n_expert routed experts, each normed and then added.
 *
 * Tokens are grouped by expert so that each selected expert's weights run
 * once over all the tokens that chose it.
 */
#include <math.h>
#include <string.h>

#include "engine/model/model.h"
#include "engine/model/ops.h"

/* Indices of the k largest of p[0..n) in descending order (ties: lower
 * index first). */
static void top_k(const float *p, uint32_t n, uint32_t k, int32_t *sel)
{
    for (uint32_t j = 0; j < k; j++) {
        int32_t best = -1;
        for (uint32_t e = 0; e < n; e++) {
            bool taken = false;
            for (uint32_t t = 0; t < j && !taken; t++)
                taken = sel[t] == (int32_t)e;
            if (!taken && (best < 0 || p[e] > p[best]))
                best = (int32_t)e;
        }
        sel[j] = best;
    }
}

/* Routing: softmax over all experts, top-k, weights renormalised over the
 * selected ones (sum clamped below at 2^-14). Router input: weightless
 * rms(in) / sqrt(E) * ffn_gate_inp.scale. */
static int route(gm_context *ctx, uint32_t il, const float *in, uint32_t n, float *r,
                 cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_scratch *s = &ctx->s;
    const uint32_t E = m->hp.n_embd, X = m->hp.n_expert, k = m->hp.layer[il].n_expert_used;
    const float inv_sqrt_e = 1.0f / sqrtf((float)E);
    const float *rs = l->gate_inp_scale.data;

    for (uint32_t i = 0; i < n; i++) {
        float *ri = r + (size_t)i * E;
        gm_rmsnorm(in + (size_t)i * E, NULL, E, m->hp.eps, ri);
        for (uint32_t c = 0; c < E; c++)
            ri[c] = ri[c] * inv_sqrt_e * rs[c];
    }
    /* every token gets the router logits, hence the experts, it gets
     * alone: gm_matmul is batch-invariant for every format */
    if (gm_mm(ctx, &l->gate_inp, r, n, s->router, err) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        float *prob = s->router + (size_t)i * X;
        int32_t *sel = s->sel + (size_t)i * s->k_max;
        float *w = s->sel_w + (size_t)i * s->k_max;
        gm_softmax(prob, X);
        top_k(prob, X, k, sel);
        double sum = 0.0;
        for (uint32_t j = 0; j < k; j++) {
            w[j] = prob[sel[j]];
            sum += (double)w[j];
        }
        float fsum = (float)sum;
        if (!(fsum >= 6.103515625e-5f))
            fsum = 6.103515625e-5f;
        for (uint32_t j = 0; j < k; j++)
            w[j] = w[j] / fsum;
    }
    return 0;
}

/* Run expert e over the c gathered rows of s->gx; result rows in s->gy. */
static int run_expert(gm_context *ctx, const gm_layer *l, uint32_t e, uint32_t c, cm_err *err)
{
    gm_scratch *s = &ctx->s;
    const uint16_t *table = ctx->model->gelu_table;
    const size_t F = ctx->model->hp.n_ff_exp;
    if (l->gate_up_exps.data != NULL) {
        /* fused: rows [0,F) are the gate, [F,2F) the up projection */
        if (gm_mm_expert(ctx, &l->gate_up_exps, e, s->gx, c, s->ff_a, err) < 0)
            return -1;
        for (uint32_t r = 0; r < c; r++)
            gm_geglu(table, s->ff_a + r * 2 * F, s->ff_a + r * 2 * F + F, (uint32_t)F,
                     s->ff_b + r * F);
    } else {
        const gm_mm_out gate_up[] = {{&l->gate_exps, e, s->ff_a}, {&l->up_exps, e, s->ff_b}};
        if (gm_mm_many(ctx, gate_up, 2, s->gx, c, err) < 0)
            return -1;
        gm_geglu(table, s->ff_a, s->ff_b, (uint32_t)(c * F), s->ff_b);
    }
    if (gm_mm_expert(ctx, &l->down_exps, e, s->ff_b, c, s->gy, err) < 0)
        return -1;
    return 0;
}

/* exp_out row `slot` (token i's choice j: i * k_max + j) = expert e's
 * output row y * its down scale * the routing weight. */
static void place(gm_scratch *s, const float *dscale, uint32_t e, uint32_t slot, const float *y,
                  uint32_t E)
{
    const float w = s->sel_w[slot];
    float *dst = s->exp_out + (size_t)slot * E;
    if (dscale != NULL)
        for (uint32_t o = 0; o < E; o++)
            dst[o] = y[o] * dscale[e] * w;
    else
        for (uint32_t o = 0; o < E; o++)
            dst[o] = y[o] * w;
}

/* A decode step (one token): every selected expert reads the same row
 * (s->cur), so their gate/up projections go in one parallel pass instead of
 * one each; then each expert's down projection. The same arithmetic as
 * run_expert() on that row. Needs k (fused gate/up) or 2k parts to fit
 * one pass. */
static bool one_pass_fits(const gm_layer *l, uint32_t k)
{
    return (l->gate_up_exps.data != NULL ? k : 2 * k) <= GM_MM_MANY_MAX;
}

static int experts_one_token(gm_context *ctx, const gm_layer *l, uint32_t k, cm_err *err)
{
    gm_scratch *s = &ctx->s;
    const uint16_t *table = ctx->model->gelu_table;
    const size_t F = ctx->model->hp.n_ff_exp;
    const uint32_t E = ctx->model->hp.n_embd;
    gm_mm_out outs[GM_MM_MANY_MAX] = {{NULL, 0, NULL}};
    uint32_t n_outs = 0;
    for (uint32_t j = 0; j < k; j++) {
        const uint32_t e = (uint32_t)s->sel[j];
        float *y = s->ff_a + j * 2 * F; /* gate in [0,F), up in [F,2F) */
        if (l->gate_up_exps.data != NULL) {
            outs[n_outs++] = (gm_mm_out){&l->gate_up_exps, e, y};
        } else {
            outs[n_outs++] = (gm_mm_out){&l->gate_exps, e, y};
            outs[n_outs++] = (gm_mm_out){&l->up_exps, e, y + F};
        }
    }
    if (gm_mm_many(ctx, outs, n_outs, s->cur, 1, err) < 0)
        return -1;
    for (uint32_t j = 0; j < k; j++) {
        const uint32_t e = (uint32_t)s->sel[j];
        gm_geglu(table, s->ff_a + j * 2 * F, s->ff_a + j * 2 * F + F, (uint32_t)F,
                 s->ff_b + j * F);
        if (gm_mm_expert(ctx, &l->down_exps, e, s->ff_b + j * F, 1, s->gy, err) < 0)
            return -1;
        place(s, l->down_exps_scale.data, e, j, s->gy, E);
    }
    return 0;
}

int gm_moe(gm_context *ctx, uint32_t il, const float *in, uint32_t n, float *out,
           cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_scratch *s = &ctx->s;
    const uint32_t E = m->hp.n_embd, X = m->hp.n_expert, k = m->hp.layer[il].n_expert_used;
    const float eps = m->hp.eps;

    /* shared MLP -> s->tmp2 */
    gm_rmsnorm_rows_par(ctx->pool, in, l->ffn_norm.data, n, E, eps, s->cur);
    if (gm_ffn_dense(ctx, &l->ffn_gate, &l->ffn_up, &l->ffn_down, s->cur, n, s->tmp2, err) < 0)
        return -1;
    gm_rmsnorm_rows_par(ctx->pool, s->tmp2, l->post_norm_1.data, n, E, eps, s->tmp2);

    /* routing (out is free until the end: the router input goes there) */
    if (route(ctx, il, in, n, out, err) < 0)
        return -1;

    /* experts, fed rms(in) * pre_ffw_norm_2 */
    gm_rmsnorm_rows_par(ctx->pool, in, l->pre_norm_2.data, n, E, eps, s->cur);
    if (n == 1 && one_pass_fits(l, k)) {
        if (experts_one_token(ctx, l, k, err) < 0)
            return -1;
    }
    for (uint32_t e = 0; e < X && !(n == 1 && one_pass_fits(l, k)); e++) {
        uint32_t c = 0;
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < k; j++)
                if (s->sel[(size_t)i * s->k_max + j] == (int32_t)e) {
                    memcpy(s->gx + (size_t)c * E, s->cur + (size_t)i * E, E * sizeof(float));
                    s->gidx[c++] = i * s->k_max + j;
                }
        if (c == 0)
            continue;
        if (run_expert(ctx, l, e, c, err) < 0)
            return -1;
        for (uint32_t r = 0; r < c; r++)
            place(s, l->down_exps_scale.data, e, s->gidx[r], s->gy + (size_t)r * E, E);
    }
    /* sum in selection order, norm, add the shared MLP */
    for (uint32_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * E;
        const float *ex = s->exp_out + (size_t)i * s->k_max * E;
        memcpy(o, ex, E * sizeof(float));
        for (uint32_t j = 1; j < k; j++)
            for (uint32_t c = 0; c < E; c++)
                o[c] += ex[(size_t)j * E + c];
    }
    gm_rmsnorm_add_rows(ctx->pool, out, l->post_norm_2.data, s->tmp2, n, E, eps, out);
    return 0;
}
