/*
 * engine/model/kv_cache.c -- per-layer key/value storage for every sequence
 * of a context: full layers hold the whole context, sliding layers a ring of
 * W positions, shared layers nothing (kv_cache.h).
 */
#include "engine/model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/checked.h"

int gm_kv_init(gm_kv_cache *c, uint32_t n_layer, const uint32_t *width,
               const uint32_t *window, uint32_t n_ctx, uint32_t n_seq, cm_err *err)
{
    memset(c, 0, sizeof(*c));
    if (n_ctx == 0 || n_seq == 0)
        return cm_err_set(err, "kv cache: n_ctx and n_seq must be positive");
    c->n_layer = n_layer;
    c->n_seq = n_seq;
    c->n_ctx = n_ctx;
    c->layers = calloc(n_layer ? n_layer : 1, sizeof(*c->layers));
    c->len = calloc(n_seq, sizeof(*c->len));
    if (c->layers == NULL || c->len == NULL) {
        gm_kv_free(c);
        return cm_err_set(err, "kv cache: out of memory");
    }
    for (uint32_t il = 0; il < n_layer; il++) {
        gm_kv_layer *l = &c->layers[il];
        l->width = width[il];
        if (l->width == 0)
            continue;
        l->ring = window[il] > 0 && window[il] < n_ctx;
        l->cap = l->ring ? window[il] : n_ctx;
        size_t n;
        if (!cm_mul_size((size_t)n_seq, l->cap, &n) || !cm_mul_size(n, l->width, &n)
            || !cm_mul_size(n, sizeof(float), &n)) {
            gm_kv_free(c);
            return cm_err_set(err, "kv cache: layer %u needs more memory than addressable", il);
        }
        /* calloc: pages are only touched as positions are written */
        l->k = calloc(1, n);
        l->v = calloc(1, n);
        if (l->k == NULL || l->v == NULL) {
            gm_kv_free(c);
            return cm_err_set(err, "kv cache: cannot allocate %zu bytes for layer %u", 2 * n, il);
        }
    }
    return 0;
}

void gm_kv_free(gm_kv_cache *c)
{
    if (c->layers != NULL)
        for (uint32_t il = 0; il < c->n_layer; il++) {
            free(c->layers[il].k);
            free(c->layers[il].v);
        }
    free(c->layers);
    free(c->len);
    memset(c, 0, sizeof(*c));
}

static size_t row_index(const gm_kv_layer *l, uint32_t seq, uint32_t pos)
{
    uint32_t slot = l->ring ? pos % l->cap : pos;
    return ((size_t)seq * l->cap + slot) * l->width;
}

float *gm_kv_k(const gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos)
{
    const gm_kv_layer *l = &c->layers[il];
    return l->k + row_index(l, seq, pos);
}

float *gm_kv_v(const gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos)
{
    const gm_kv_layer *l = &c->layers[il];
    return l->v + row_index(l, seq, pos);
}

bool gm_kv_holds(const gm_kv_cache *c, uint32_t il, uint32_t pos, uint32_t len)
{
    const gm_kv_layer *l = &c->layers[il];
    if (l->width == 0 || pos >= len)
        return false;
    return !l->ring || len - pos <= l->cap;
}

void gm_kv_seq_clear(gm_kv_cache *c, uint32_t seq)
{
    if (seq < c->n_seq)
        c->len[seq] = 0;
}

void gm_kv_usage(const gm_kv_cache *c, uint64_t *used, uint64_t *total)
{
    uint64_t u = 0, t = 0;
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        if (l->width == 0)
            continue;
        uint64_t row = 2ull * l->width * sizeof(float);
        t += (uint64_t)c->n_seq * l->cap * row;
        for (uint32_t s = 0; s < c->n_seq; s++) {
            uint32_t held = c->len[s] < l->cap ? c->len[s] : l->cap;
            u += held * row;
        }
    }
    if (used != NULL)
        *used = u;
    if (total != NULL)
        *total = t;
}
