/*
 * engine/model/forward.c -- gm_decode(): the Gemma 4 forward pass over a
 * batch of tokens from one or more sequences (docs/architecture.md E3).
 *
 * The batch is cut into steps of at most GM_UBATCH tokens. Within a step,
 * every projection runs once over all tokens (a matrix-matrix product);
 * only attention looks at sequences and positions. Each token is appended
 * to its sequence at the sequence's next position.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/model/model.h"
#include "engine/model/ops.h"
#include "engine/quant/quant.h"

/* Expert e of w (0 for a 2-D weight) as a matmul part writing y: its
 * repacked copy where the model made one (repack.c), else the mapped
 * blocks. */
static gm_matmul_part mm_part(const gm_weight *w, uint32_t e, float *y)
{
    if (w->packed != NULL)
        return (gm_matmul_part){w->type, NULL, w->ne[1], y, w->packed[e], NULL};
    if (w->packed6 != NULL)
        return (gm_matmul_part){w->type, NULL, w->ne[1], y, NULL, w->packed6[e]};
    const char *data = (const char *)w->data + (size_t)e * w->ne[1] * w->row_bytes;
    return (gm_matmul_part){w->type, data, w->ne[1], y, NULL, NULL};
}

int gm_mm(gm_context *ctx, const gm_weight *w, const float *x, uint32_t n, float *y,
          cm_err *err)
{
    if (w->packed != NULL || w->packed6 != NULL) {
        const gm_matmul_part part = mm_part(w, 0, y);
        if (gm_matmul_many(ctx->pool, &part, 1, w->ne[0], x, n, err) < 0)
            return cm_err_prefix(err, "%s", w->name);
        return 0;
    }
    if (gm_matmul(ctx->pool, w->type, w->data, w->ne[1], w->ne[0], x, n, y, err) < 0)
        return cm_err_prefix(err, "%s", w->name);
    return 0;
}

int gm_mm_expert(gm_context *ctx, const gm_weight *w, uint32_t e, const float *x,
                 uint32_t n, float *y, cm_err *err)
{
    if (w->packed != NULL || w->packed6 != NULL) {
        const gm_matmul_part part = mm_part(w, e, y);
        if (gm_matmul_many(ctx->pool, &part, 1, w->ne[0], x, n, err) < 0)
            return cm_err_prefix(err, "%s (expert %u)", w->name, e);
        return 0;
    }
    const char *data = (const char *)w->data + (size_t)e * w->ne[1] * w->row_bytes;
    if (gm_matmul(ctx->pool, w->type, data, w->ne[1], w->ne[0], x, n, y, err) < 0)
        return cm_err_prefix(err, "%s (expert %u)", w->name, e);
    return 0;
}

int gm_mm_many(gm_context *ctx, const gm_mm_out *outs, uint32_t n_outs, const float *x,
               uint32_t n, cm_err *err)
{
    gm_matmul_part parts[GM_MM_MANY_MAX];
    if (n_outs == 0 || n_outs > GM_MM_MANY_MAX)
        return cm_err_set(err, "matmul: %u products in one pass (1..%d)", n_outs,
                          GM_MM_MANY_MAX);
    const uint64_t cols = outs[0].w->ne[0];
    for (uint32_t i = 0; i < n_outs; i++) {
        const gm_weight *w = outs[i].w;
        if (w->ne[0] != cols)
            return cm_err_set(err, "%s: %llu columns, but %s has %llu", w->name,
                              (unsigned long long)w->ne[0], outs[0].w->name,
                              (unsigned long long)cols);
        parts[i] = mm_part(w, outs[i].expert, outs[i].y);
    }
    if (gm_matmul_many(ctx->pool, parts, n_outs, cols, x, n, err) < 0) {
        char names[GM_MM_MANY_MAX * 66] = "";
        for (uint32_t i = 0; i < n_outs; i++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                     i > 0 ? ", " : "", outs[i].w->name);
        return cm_err_prefix(err, "%s", names);
    }
    return 0;
}

void gm_kv_commit(gm_context *ctx, uint32_t il, uint32_t n)
{
    const gm_kv_layer *kl = &ctx->kv.layers[il];
    const int slot = ctx->kv_slot_of_layer[il];
    const size_t w = kl->width;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t sq = ctx->s.seq[i], p = ctx->s.pos[i];
        memcpy(gm_kv_k(&ctx->kv, il, sq, p), ctx->s.kv_k[slot] + i * w, w * sizeof(float));
        memcpy(gm_kv_v(&ctx->kv, il, sq, p), ctx->s.kv_v[slot] + i * w, w * sizeof(float));
    }
}

/* x[i] = token_embd[tok] * sqrt(E), the row dequantized exactly. */
static int embed(gm_context *ctx, const int32_t *tokens, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const uint32_t E = m->hp.n_embd;
    const float scale = sqrtf((float)E);
    for (uint32_t i = 0; i < n; i++) {
        float *x = ctx->s.x + (size_t)i * E;
        const char *row = (const char *)m->tok_embd.data + (size_t)tokens[i] * m->tok_embd.row_bytes;
        if (gm_dequantize_row(m->tok_embd.type, row, x, E) < 0)
            return cm_err_set(err, "token_embd.weight: cannot decode type %s",
                              gm_type_name(m->tok_embd.type));
        for (uint32_t c = 0; c < E; c++)
            x[c] *= scale;
    }
    return 0;
}

/* Positions of the step's tokens, and for each sequence the index of the
 * step's tokens by position (attention reads the step's own K/V there). */
static void plan_step(gm_context *ctx, const uint32_t *seq, uint32_t n)
{
    gm_scratch *s = &ctx->s;
    memset(ctx->seq_count, 0, ctx->n_seq_max * sizeof(*ctx->seq_count));
    for (uint32_t i = 0; i < n; i++)
        ctx->seq_count[seq != NULL ? seq[i] : 0]++;
    uint32_t off = 0;
    for (uint32_t q = 0; q < ctx->n_seq_max; q++) {
        s->seq_off[q] = off;
        s->seq_p0[q] = ctx->kv.len[q];
        off += ctx->seq_count[q];
        ctx->seq_count[q] = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t q = seq != NULL ? seq[i] : 0;
        s->seq[i] = q;
        s->pos[i] = s->seq_p0[q] + ctx->seq_count[q];
        s->tok_of[s->seq_off[q] + ctx->seq_count[q]] = i;
        ctx->seq_count[q]++;
    }
}

static int layer(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err)
{
    const gm_model *m = ctx->model;
    const gm_layer *l = &m->layers[il];
    gm_scratch *s = &ctx->s;
    const uint32_t E = m->hp.n_embd;
    const float eps = m->hp.eps;
    const size_t nE = (size_t)n * E;

    /* attention block: attn_out = rms(attn(rms(x) * attn_norm)) * post + x */
    gm_rmsnorm_rows_par(ctx->pool, s->x, l->attn_norm.data, n, E, eps, s->cur);
    if (gm_attention(ctx, il, n, err) < 0)
        return -1;
    gm_rmsnorm_add_rows(ctx->pool, s->tmp, l->attn_post_norm.data, s->x, n, E, eps, s->attn_out);

    /* feed-forward block: x = rms(ffn(attn_out)) * post_ffw_norm + attn_out */
    if (l->gate_inp.data != NULL) {
        if (gm_moe(ctx, il, s->attn_out, n, s->tmp, err) < 0)
            return -1;
    } else {
        gm_rmsnorm_rows_par(ctx->pool, s->attn_out, l->ffn_norm.data, n, E, eps, s->cur);
        if (gm_ffn_dense(ctx, &l->ffn_gate, &l->ffn_up, &l->ffn_down, s->cur, n, s->tmp, err) < 0)
            return -1;
    }
    gm_rmsnorm_add_rows(ctx->pool, s->tmp, l->ffn_post_norm.data, s->attn_out, n, E, eps, s->x);

    if (m->hp.n_embd_ple > 0 && gm_ple_block(ctx, il, n, err) < 0)
        return -1;
    if (l->out_scale.data != NULL) {
        const float sc = ((const float *)l->out_scale.data)[0];
        for (size_t c = 0; c < nE; c++)
            s->x[c] *= sc;
    }
    return 0;
}

/* Final norm and LM head for the rows that want logits. */
static int output(gm_context *ctx, const uint32_t *out_rows, uint32_t n_out, float *logits,
                  cm_err *err)
{
    const gm_model *m = ctx->model;
    const uint32_t E = m->hp.n_embd;
    gm_scratch *s = &ctx->s;
    for (uint32_t r = 0; r < n_out; r++)
        gm_rmsnorm(s->x + (size_t)out_rows[r] * E, m->output_norm.data, E, m->hp.eps,
                   s->tmp + (size_t)r * E);
    if (gm_mm(ctx, &m->output, s->tmp, n_out, logits, err) < 0)
        return -1;
    if (m->hp.softcap != 0.0f)
        gm_softcap_par(ctx->pool, logits, (size_t)n_out * m->hp.n_vocab, m->hp.softcap);
    return 0;
}

/* The CPU backend's step (engine/backend.h). */
static int cpu_forward_ubatch(gm_context *ctx, const int32_t *tokens, uint32_t n,
                              const uint32_t *out_rows, uint32_t n_out, float *logits,
                              cm_err *err)
{
    const gm_hparams *hp = &ctx->model->hp;
    if (embed(ctx, tokens, n, err) < 0)
        return -1;
    if (hp->n_embd_ple > 0 && gm_ple_inputs(ctx, tokens, n, err) < 0)
        return -1;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (layer(ctx, il, n, err) < 0)
            return cm_err_prefix(err, "layer %u", il);
    /* the caches shared layers read are written last */
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (hp->layer[il].has_kv && ctx->kv_slot_of_layer[il] != 0)
            gm_kv_commit(ctx, il, n);
    for (uint32_t i = 0; i < n; i++)
        ctx->kv.len[ctx->s.seq[i]]++;
    if (n_out > 0 && output(ctx, out_rows, n_out, logits, err) < 0)
        return -1;
    return 0;
}

const gm_backend gm_backend_cpu = {.name = "cpu", .forward_ubatch = cpu_forward_ubatch};

/* One step on the model's backend. */
int gm_forward_ubatch(gm_context *ctx, const int32_t *tokens, uint32_t n,
                      const uint32_t *out_rows, uint32_t n_out, float *logits,
                      cm_err *err)
{
    return ctx->model->backend->forward_ubatch(ctx, tokens, n, out_rows, n_out, logits, err);
}

uint32_t gm_batch_n_outputs(const gm_batch *batch)
{
    uint32_t n = 0;
    if (batch->want_logits != NULL) {
        for (uint32_t i = 0; i < batch->n_tokens; i++)
            n += batch->want_logits[i];
        return n;
    }
    if (batch->seq == NULL)
        return batch->n_tokens > 0;
    /* one output per distinct sequence (at its last token) */
    for (uint32_t i = 0; i < batch->n_tokens; i++) {
        bool later = false;
        for (uint32_t j = i + 1; j < batch->n_tokens && !later; j++)
            later = batch->seq[j] == batch->seq[i];
        n += !later;
    }
    return n;
}

/* Does token i produce a row of logits? With want_logits, as it says;
 * without, the last token of each sequence (ctx->seq_last, which
 * gm_decode fills). */
static bool wants_logits(const gm_context *ctx, const gm_batch *b, uint32_t i)
{
    if (b->want_logits != NULL)
        return b->want_logits[i];
    return ctx->seq_last[b->seq != NULL ? b->seq[i] : 0] == i;
}

int gm_decode(gm_context *ctx, const gm_batch *batch, float *logits, cm_err *err)
{
    const gm_hparams *hp = &ctx->model->hp;
    const uint32_t n = batch->n_tokens;
    if (n == 0)
        return 0;
    if (batch->tokens == NULL)
        return cm_err_set(err, "decode: the batch has no token array");

    /* check everything before touching any cache */
    memset(ctx->seq_count, 0, ctx->n_seq_max * sizeof(*ctx->seq_count));
    for (uint32_t i = 0; i < n; i++) {
        const int32_t t = batch->tokens[i];
        if (t < 0 || (uint32_t)t >= hp->n_vocab)
            return cm_err_set(err, "decode: token %u has id %d, outside the vocabulary of %u", i,
                              t, hp->n_vocab);
        const uint32_t q = batch->seq != NULL ? batch->seq[i] : 0;
        if (q >= ctx->n_seq_max)
            return cm_err_set(err, "decode: token %u is for sequence %u, but the context holds %u sequences",
                              i, q, ctx->n_seq_max);
        ctx->seq_count[q]++;
        ctx->seq_last[q] = i;
    }
    for (uint32_t q = 0; q < ctx->n_seq_max; q++)
        if (ctx->seq_count[q] > ctx->n_ctx - ctx->kv.len[q])
            return cm_err_set(err, "context full: sequence %u holds %u of %u positions and the batch adds %u",
                              q, ctx->kv.len[q], ctx->n_ctx, ctx->seq_count[q]);
    for (uint32_t i = 0; i < n && logits == NULL; i++)
        if (wants_logits(ctx, batch, i))
            return cm_err_set(err, "decode: logits were asked for but no output buffer was given");

    /* steps of at most n_max tokens; nothing is allocated here (a decode
     * loop calls this once per token) */
    uint32_t *out_rows = ctx->s.out_rows;
    float *dst = logits;
    int rc = 0;
    for (uint32_t i0 = 0; i0 < n && rc == 0; i0 += ctx->s.n_max) {
        const uint32_t nb = n - i0 < ctx->s.n_max ? n - i0 : ctx->s.n_max;
        uint32_t n_out = 0;
        for (uint32_t i = 0; i < nb; i++)
            if (wants_logits(ctx, batch, i0 + i))
                out_rows[n_out++] = i;
        plan_step(ctx, batch->seq != NULL ? batch->seq + i0 : NULL, nb);
        rc = gm_forward_ubatch(ctx, batch->tokens + i0, nb, out_rows, n_out, dst, err);
        if (n_out > 0)
            dst += (size_t)n_out * hp->n_vocab;
    }
    return rc;
}
