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

/* ---- prefixes: truncate, copy, snapshots (the prefix cache) ----
 *
 * A sequence can continue from position n only if every layer holds the
 * positions attention at n reads: all of [0, n) for a full layer, the
 * last W - 1 of them for a sliding layer. A ring that has moved on past
 * them (the sequence went further than n + 1 positions beyond the window)
 * cannot give them back: these calls then fail and change nothing. */

/* Whether seq can be cut back to n positions. */
bool gm_kv_can_truncate(const gm_kv_cache *c, uint32_t seq, uint32_t n);
int gm_kv_seq_truncate(gm_kv_cache *c, uint32_t seq, uint32_t n, cm_err *err);
/* dst holds src's positions [0, n) (dst != src). */
int gm_kv_seq_copy(gm_kv_cache *c, uint32_t src, uint32_t dst, uint32_t n, cm_err *err);
/* Bytes a sequence of n positions occupies (rings capped at W). */
uint64_t gm_kv_seq_bytes(const gm_kv_cache *c, uint32_t n);
/* Smallest ring (0: none): a step that adds at most this many positions
 * to a sequence leaves all of them in every ring. */
uint32_t gm_kv_min_ring(const gm_kv_cache *c);

/* A snapshot keeps every position of every layer that has a cache --
 * sliding layers too, unlike the ring -- so any prefix of it can be put
 * back into a sequence. */
typedef struct gm_kv_snap {
    uint32_t n_layer;
    uint32_t cap, len;        /* positions allocated, positions held */
    uint32_t *width;          /* [n_layer] floats per position, 0 = none */
    float **k, **v;           /* [n_layer][cap][width] */
    uint64_t bytes;
} gm_kv_snap;

int gm_kv_snap_init(gm_kv_snap *s, const gm_kv_cache *c, uint32_t cap, cm_err *err);
void gm_kv_snap_free(gm_kv_snap *s);
/* Append seq's positions [s->len, to): seq must still hold all of them. */
int gm_kv_snap_append(gm_kv_snap *s, const gm_kv_cache *c, uint32_t seq, uint32_t to,
                      cm_err *err);
/* dst (empty, same layers) takes src's positions [0, n). */
int gm_kv_snap_copy(gm_kv_snap *dst, const gm_kv_snap *src, uint32_t n, cm_err *err);
/* seq holds the snapshot's positions [0, n) (n <= s->len). */
int gm_kv_snap_restore(const gm_kv_snap *s, gm_kv_cache *c, uint32_t seq, uint32_t n,
                       cm_err *err);

#endif
