/*
 * engine/text/bytemap.h -- a hash map from byte strings to int32 values,
 * used by the tokenizer for token text -> id and for merges whose parts
 * are not tokens. Keys are copied; open addressing with linear probing.
 */
#ifndef GM_BYTEMAP_H
#define GM_BYTEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* One slot of the table; the key's bytes live in the blob. Keeping the
 * hash, offset and length in the slot makes a successful lookup touch two
 * cache lines (slot, key) and a miss usually one. */
typedef struct gm_bytemap_slot {
    uint32_t hash;  /* low bits of the key's hash */
    int32_t value;
    uint32_t off;   /* key offset in the blob; UINT32_MAX = empty slot */
    uint32_t len;   /* key length */
} gm_bytemap_slot;

typedef struct gm_bytemap {
    gm_bytemap_slot *slots;
    uint32_t mask;              /* number of slots - 1 (a power of two minus one) */
    uint32_t count;
    char *blob;
    size_t blob_len, blob_cap;
} gm_bytemap;

/* An empty map sized for about `expected` keys (it grows as needed). */
int gm_bytemap_init(gm_bytemap *m, size_t expected, cm_err *err);
void gm_bytemap_free(gm_bytemap *m);
/* Insert key -> value unless the key is present. Returns 1 when inserted,
 * 0 when the key was already there (its value unchanged), -1 on error. */
int gm_bytemap_put(gm_bytemap *m, const void *key, size_t len, int32_t value, cm_err *err);
/* The value of a key, or -1 when absent. */
int32_t gm_bytemap_get(const gm_bytemap *m, const void *key, size_t len);
/* The value of the key a || b (the two parts concatenated), or -1. */
int32_t gm_bytemap_get2(const gm_bytemap *m, const void *a, size_t alen, const void *b,
                        size_t blen);
uint32_t gm_bytemap_count(const gm_bytemap *m);

/* For bulk lookups that hide memory latency: hash a key first, prefetch
 * its slot, later its bytes, then look it up with the hash. */
uint32_t gm_bytemap_hash(const void *key, size_t len);
void gm_bytemap_prefetch_slot(const gm_bytemap *m, uint32_t hash);
void gm_bytemap_prefetch_key(const gm_bytemap *m, uint32_t hash);
int32_t gm_bytemap_get_hashed(const gm_bytemap *m, uint32_t hash, const void *key, size_t len);

#endif
