/*
 * engine/model/kv_cache.h -- the attention key/value cache of a context.
 *
 * One cache per layer that computes its own K/V (docs/architecture.md E6).
 * Full-attention layers keep every position of a sequence; sliding layers
 * keep only the last W positions in a ring buffer (position p lives in slot
 * p % W); KV-shared layers keep nothing and read another layer's cache.
 * Each of n_seq sequences has its own slots and its own length.
 *
 * A position's row holds n_head_kv * head_dim floats (the heads one after
 * the other), for K and for V.
 */
#ifndef GM_KV_CACHE_H
#define GM_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct gm_kv_layer {
    uint32_t width;  /* floats per position; 0 = this layer has no cache */
    uint32_t cap;    /* positions held per sequence */
    bool ring;       /* slot = pos % cap (sliding layers) */
    float *k, *v;    /* [n_seq][cap][width] */
} gm_kv_layer;

typedef struct gm_kv_cache {
    uint32_t n_layer;
    uint32_t n_seq;
    uint32_t n_ctx;
    gm_kv_layer *layers; /* [n_layer] */
    uint32_t *len;       /* [n_seq] positions each sequence has seen */
} gm_kv_cache;

/* width[il] = floats per position (0: no cache); window[il] = W for a
 * sliding layer, 0 for a full one. */
int gm_kv_init(gm_kv_cache *c, uint32_t n_layer, const uint32_t *width,
               const uint32_t *window, uint32_t n_ctx, uint32_t n_seq, cm_err *err);
void gm_kv_free(gm_kv_cache *c);

/* Row of K (or V) for position `pos` of sequence `seq` in layer `il`. The
 * position must be one the layer still holds (gm_kv_holds). */
float *gm_kv_k(const gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos);
float *gm_kv_v(const gm_kv_cache *c, uint32_t il, uint32_t seq, uint32_t pos);
/* True when layer il holds position pos of seq given the sequence has
 * seen `len` positions. */
bool gm_kv_holds(const gm_kv_cache *c, uint32_t il, uint32_t pos, uint32_t len);

void gm_kv_seq_clear(gm_kv_cache *c, uint32_t seq);
/* Bytes allocated, and bytes holding live positions. */
void gm_kv_usage(const gm_kv_cache *c, uint64_t *used, uint64_t *total);

#endif
