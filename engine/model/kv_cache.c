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

/* ---- prefixes ---- */

/* First position attention at position n reads in a layer. */
static uint32_t first_needed(const gm_kv_layer *l, uint32_t n)
{
    return l->ring && n >= l->cap ? n - l->cap + 1 : 0;
}

bool gm_kv_can_truncate(const gm_kv_cache *c, uint32_t seq, uint32_t n)
{
    if (seq >= c->n_seq || n > c->len[seq])
        return false;
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        if (l->width == 0 || !l->ring)
            continue;
        /* every position in [first_needed, len) is still in the ring */
        if (c->len[seq] - first_needed(l, n) > l->cap)
            return false;
    }
    return true;
}

int gm_kv_seq_truncate(gm_kv_cache *c, uint32_t seq, uint32_t n, cm_err *err)
{
    if (!gm_kv_can_truncate(c, seq, n))
        return cm_err_set(err, "kv cache: sequence %u cannot be cut back to %u positions "
                               "(it holds %u; a sliding window has moved past them)",
                          seq, n, seq < c->n_seq ? c->len[seq] : 0);
    c->len[seq] = n;
    return 0;
}

static void copy_row(const gm_kv_layer *l, float *dk, float *dv, const float *sk,
                     const float *sv)
{
    memcpy(dk, sk, l->width * sizeof(float));
    memcpy(dv, sv, l->width * sizeof(float));
}

int gm_kv_seq_copy(gm_kv_cache *c, uint32_t src, uint32_t dst, uint32_t n, cm_err *err)
{
    if (dst >= c->n_seq || src == dst)
        return cm_err_set(err, "kv cache: cannot copy sequence %u into %u", src, dst);
    if (!gm_kv_can_truncate(c, src, n))
        return cm_err_set(err, "kv cache: sequence %u does not hold the %u positions to copy",
                          src, n);
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        if (l->width == 0)
            continue;
        for (uint32_t p = first_needed(l, n); p < n; p++)
            copy_row(l, gm_kv_k(c, il, dst, p), gm_kv_v(c, il, dst, p), gm_kv_k(c, il, src, p),
                     gm_kv_v(c, il, src, p));
    }
    c->len[dst] = n;
    return 0;
}

uint64_t gm_kv_seq_bytes(const gm_kv_cache *c, uint32_t n)
{
    uint64_t b = 0;
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        if (l->width > 0)
            b += 2ull * l->width * sizeof(float) * (n < l->cap ? n : l->cap);
    }
    return b;
}

uint32_t gm_kv_min_ring(const gm_kv_cache *c)
{
    uint32_t m = 0;
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        if (l->width > 0 && l->ring && (m == 0 || l->cap < m))
            m = l->cap;
    }
    return m;
}

void gm_kv_snap_free(gm_kv_snap *s)
{
    for (uint32_t il = 0; il < s->n_layer; il++) {
        if (s->k != NULL)
            free(s->k[il]);
        if (s->v != NULL)
            free(s->v[il]);
    }
    free(s->k);
    free(s->v);
    free(s->width);
    memset(s, 0, sizeof(*s));
}

int gm_kv_snap_init(gm_kv_snap *s, const gm_kv_cache *c, uint32_t cap, cm_err *err)
{
    memset(s, 0, sizeof(*s));
    if (cap == 0 || cap > c->n_ctx)
        return cm_err_set(err, "kv snapshot: %u positions is not within 1..%u", cap, c->n_ctx);
    s->n_layer = c->n_layer;
    s->cap = cap;
    s->width = calloc(c->n_layer ? c->n_layer : 1, sizeof(*s->width));
    s->k = calloc(c->n_layer ? c->n_layer : 1, sizeof(*s->k));
    s->v = calloc(c->n_layer ? c->n_layer : 1, sizeof(*s->v));
    if (s->width == NULL || s->k == NULL || s->v == NULL) {
        gm_kv_snap_free(s);
        return cm_err_set(err, "kv snapshot: out of memory");
    }
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const uint32_t w = c->layers[il].width;
        s->width[il] = w;
        if (w == 0)
            continue;
        const size_t n = (size_t)cap * w * sizeof(float);
        s->k[il] = malloc(n);
        s->v[il] = malloc(n);
        if (s->k[il] == NULL || s->v[il] == NULL) {
            gm_kv_snap_free(s);
            return cm_err_set(err, "kv snapshot: cannot allocate %zu bytes", 2 * n);
        }
        s->bytes += 2 * (uint64_t)n;
    }
    return 0;
}

int gm_kv_snap_append(gm_kv_snap *s, const gm_kv_cache *c, uint32_t seq, uint32_t to,
                      cm_err *err)
{
    if (seq >= c->n_seq || to > c->len[seq] || to > s->cap || s->n_layer != c->n_layer)
        return cm_err_set(err, "kv snapshot: cannot take positions up to %u of sequence %u",
                          to, seq);
    for (uint32_t il = 0; il < c->n_layer; il++)
        if (s->width[il] > 0 && s->len < to && !gm_kv_holds(c, il, s->len, c->len[seq]))
            return cm_err_set(err, "kv snapshot: layer %u of sequence %u no longer holds "
                                   "position %u", il, seq, s->len);
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const size_t w = s->width[il];
        for (uint32_t p = s->len; p < to && w > 0; p++) {
            memcpy(s->k[il] + p * w, gm_kv_k(c, il, seq, p), w * sizeof(float));
            memcpy(s->v[il] + p * w, gm_kv_v(c, il, seq, p), w * sizeof(float));
        }
    }
    if (to > s->len)
        s->len = to;
    return 0;
}

int gm_kv_snap_restore(const gm_kv_snap *s, gm_kv_cache *c, uint32_t seq, uint32_t n,
                       cm_err *err)
{
    if (seq >= c->n_seq || n > s->len || s->n_layer != c->n_layer)
        return cm_err_set(err, "kv snapshot: cannot restore %u positions (it holds %u) into "
                               "sequence %u", n, s->len, seq);
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const gm_kv_layer *l = &c->layers[il];
        const size_t w = l->width;
        for (uint32_t p = first_needed(l, n); p < n && w > 0; p++) {
            memcpy(gm_kv_k(c, il, seq, p), s->k[il] + p * w, w * sizeof(float));
            memcpy(gm_kv_v(c, il, seq, p), s->v[il] + p * w, w * sizeof(float));
        }
    }
    c->len[seq] = n;
    return 0;
}

int gm_kv_snap_copy(gm_kv_snap *dst, const gm_kv_snap *src, uint32_t n, cm_err *err)
{
    if (dst->len != 0 || n > src->len || n > dst->cap || dst->n_layer != src->n_layer)
        return cm_err_set(err, "kv snapshot: cannot copy %u positions (source holds %u, "
                               "room for %u)", n, src->len, dst->cap);
    for (uint32_t il = 0; il < src->n_layer; il++) {
        if (dst->width[il] != src->width[il])
            return cm_err_set(err, "kv snapshot: layer %u differs", il);
        const size_t w = src->width[il];
        if (w > 0 && n > 0) {
            memcpy(dst->k[il], src->k[il], (size_t)n * w * sizeof(float));
            memcpy(dst->v[il], src->v[il], (size_t)n * w * sizeof(float));
        }
    }
    dst->len = n;
    return 0;
}
