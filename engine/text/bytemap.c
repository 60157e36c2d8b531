/*
 * engine/text/bytemap.c -- byte-string hash map (see bytemap.h).
 */
#include "engine/text/bytemap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY_OFF UINT32_MAX
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t hash_more(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint32_t finish(uint64_t h)
{
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static gm_bytemap_slot *alloc_slots(size_t n)
{
    gm_bytemap_slot *s = malloc(n * sizeof(*s));
    if (s)
        for (size_t i = 0; i < n; i++)
            s[i].off = EMPTY_OFF;
    return s;
}

int gm_bytemap_init(gm_bytemap *m, size_t expected, cm_err *err)
{
    memset(m, 0, sizeof(*m));
    size_t n_slots = 16;
    while (n_slots < expected * 2) {
        if (n_slots > ((size_t)1 << 30))
            return cm_err_set(err, "hash map: %zu keys is too many", expected);
        n_slots *= 2;
    }
    m->slots = alloc_slots(n_slots);
    if (!m->slots)
        return cm_err_set(err, "hash map: out of memory for %zu slots", n_slots);
    m->mask = (uint32_t)(n_slots - 1);
    return 0;
}

void gm_bytemap_free(gm_bytemap *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->blob);
    memset(m, 0, sizeof(*m));
}

uint32_t gm_bytemap_count(const gm_bytemap *m)
{
    return m->count;
}

static bool key_equals2(const gm_bytemap *m, const gm_bytemap_slot *e, const void *a,
                        size_t alen, const void *b, size_t blen)
{
    if (e->len != alen + blen)
        return false;
    const char *k = m->blob + e->off;
    return (alen == 0 || memcmp(k, a, alen) == 0) && (blen == 0 || memcmp(k + alen, b, blen) == 0);
}

static int32_t lookup(const gm_bytemap *m, uint32_t h, const void *a, size_t alen, const void *b,
                      size_t blen)
{
    if (!m->slots || m->count == 0)
        return -1;
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const gm_bytemap_slot *e = &m->slots[i];
        if (e->off == EMPTY_OFF)
            return -1;
        if (e->hash == h && key_equals2(m, e, a, alen, b, blen))
            return e->value;
    }
}

int32_t gm_bytemap_get2(const gm_bytemap *m, const void *a, size_t alen, const void *b,
                        size_t blen)
{
    return lookup(m, finish(hash_more(hash_more(FNV_OFFSET, a, alen), b, blen)), a, alen, b,
                  blen);
}

int32_t gm_bytemap_get(const gm_bytemap *m, const void *key, size_t len)
{
    return lookup(m, finish(hash_more(FNV_OFFSET, key, len)), key, len, NULL, 0);
}

uint32_t gm_bytemap_hash(const void *key, size_t len)
{
    return finish(hash_more(FNV_OFFSET, key, len));
}

int32_t gm_bytemap_get_hashed(const gm_bytemap *m, uint32_t hash, const void *key, size_t len)
{
    return lookup(m, hash, key, len, NULL, 0);
}

void gm_bytemap_prefetch_slot(const gm_bytemap *m, uint32_t hash)
{
    if (m->slots)
        __builtin_prefetch(&m->slots[hash & m->mask]);
}

void gm_bytemap_prefetch_key(const gm_bytemap *m, uint32_t hash)
{
    if (!m->slots)
        return;
    for (uint32_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        const gm_bytemap_slot *e = &m->slots[i];
        if (e->off == EMPTY_OFF)
            return;
        if (e->hash == hash) {
            __builtin_prefetch(m->blob + e->off);
            return;
        }
    }
}

static int grow_slots(gm_bytemap *m, cm_err *err)
{
    size_t old_n = (size_t)m->mask + 1, n_slots = old_n * 2;
    if (n_slots > ((size_t)1 << 31))
        return cm_err_set(err, "hash map: too many keys");
    gm_bytemap_slot *slots = alloc_slots(n_slots);
    if (!slots)
        return cm_err_set(err, "hash map: out of memory growing to %zu slots", n_slots);
    uint32_t mask = (uint32_t)(n_slots - 1);
    for (size_t k = 0; k < old_n; k++) {
        if (m->slots[k].off == EMPTY_OFF)
            continue;
        uint32_t i = m->slots[k].hash & mask;
        while (slots[i].off != EMPTY_OFF)
            i = (i + 1) & mask;
        slots[i] = m->slots[k];
    }
    free(m->slots);
    m->slots = slots;
    m->mask = mask;
    return 0;
}

int gm_bytemap_put(gm_bytemap *m, const void *key, size_t len, int32_t value, cm_err *err)
{
    if (len >= UINT32_MAX)
        return cm_err_set(err, "hash map: key of %zu bytes is too long", len);
    uint32_t h = finish(hash_more(FNV_OFFSET, key, len));
    uint32_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        const gm_bytemap_slot *e = &m->slots[i];
        if (e->off == EMPTY_OFF)
            break;
        if (e->hash == h && key_equals2(m, e, key, len, NULL, 0))
            return 0;
    }
    if (m->blob_len + len > m->blob_cap) {
        size_t cap = m->blob_cap ? m->blob_cap : 4096;
        while (cap < m->blob_len + len)
            cap *= 2;
        if (cap >= UINT32_MAX)
            return cm_err_set(err, "hash map: keys exceed 4 GiB");
        char *nb = realloc(m->blob, cap);
        if (!nb)
            return cm_err_set(err, "hash map: out of memory for %zu key bytes", cap);
        m->blob = nb;
        m->blob_cap = cap;
    }
    if (len)
        memcpy(m->blob + m->blob_len, key, len);
    m->slots[i] = (gm_bytemap_slot){h, value, (uint32_t)m->blob_len, (uint32_t)len};
    m->blob_len += len;
    m->count++;
    if ((size_t)m->count * 2 > (size_t)m->mask + 1)
        return grow_slots(m, err) == 0 ? 1 : -1;
    return 1;
}
