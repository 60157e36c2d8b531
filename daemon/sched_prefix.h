/*
 * daemon/sched_prefix.h -- the prefix cache of one model: KV snapshots of
 * prompts already evaluated, found again by their tokens.
 *
 * A request whose prompt starts with the tokens of an entry (a system
 * prompt, a document template, earlier turns of a chat) gets that many
 * positions restored into its sequence and evaluates only the rest.
 *
 * Sliding-window layers: the context keeps only the last W positions of
 * a sliding layer (a ring), so a sequence cannot give back an arbitrary
 * prefix of itself. Entries are therefore snapshots (engine/gemma.h
 * gm_kv_snapshot) that keep EVERY position of every layer, sliding ones
 * too, taken while the prompt is evaluated (each prefill step adds at
 * most W positions, all still in the ring when the step ends). Any
 * prefix of an entry can then be restored, and a restored sequence holds
 * exactly what a cold one would.
 *
 * Bounded: entries are dropped least recently used first once their
 * bytes pass the budget. Used by one thread (the model's scheduler).
 */
#ifndef GMD_SCHED_PREFIX_H
#define GMD_SCHED_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gemma.h"

typedef struct gmd_prefix_entry {
    int32_t *tokens;
    uint32_t n_tokens;
    gm_kv_snapshot *snap;   /* holds n_tokens positions */
    uint64_t bytes;
    uint64_t last_used;     /* a counter: larger is more recent */
} gmd_prefix_entry;

typedef struct gmd_prefix_cache {
    gmd_prefix_entry *entries;
    size_t n, cap;
    uint64_t budget_bytes;  /* 0 = the cache is off */
    uint32_t min_tokens;
    uint64_t bytes;
    uint64_t clock;
    uint64_t hits, misses, hit_tokens, evictions;
} gmd_prefix_cache;

void gmd_prefix_init(gmd_prefix_cache *pc, uint64_t budget_bytes, uint32_t min_tokens);
void gmd_prefix_free(gmd_prefix_cache *pc);

/* The entry sharing the longest prefix with prompt, and how many of its
 * positions to reuse (*n_reuse < n_prompt: the last prompt token is
 * always evaluated, for its logits). NULL (a miss) when no entry shares
 * at least min_tokens. Counts the hit or miss. */
const gmd_prefix_entry *gmd_prefix_lookup(gmd_prefix_cache *pc, const int32_t *prompt,
                                          size_t n_prompt, uint32_t *n_reuse);

/* Whether a prompt of n tokens is worth a snapshot. */
bool gmd_prefix_wanted(const gmd_prefix_cache *pc, size_t n_prompt);

/* Keep snap (holding the n positions of tokens) as an entry; the cache
 * takes the snapshot (freed here when not kept). An entry that is a
 * prefix of the new one is replaced; a new one already covered by an
 * entry is dropped. Evicts least recently used entries to stay within
 * the budget. */
void gmd_prefix_insert(gmd_prefix_cache *pc, const int32_t *tokens, uint32_t n,
                       gm_kv_snapshot *snap);

#endif
