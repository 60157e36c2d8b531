/*
 * daemon/sched_prefix.c -- the prefix cache: a short list of prompt
 * snapshots, searched linearly for the longest shared prefix (a handful
 * of entries; a lookup costs far less than evaluating one token), with
 * least-recently-used eviction under a byte budget (sched_prefix.h).
 */
#include "daemon/sched_prefix.h"

#include <stdlib.h>
#include <string.h>

void gmd_prefix_init(gmd_prefix_cache *pc, uint64_t budget_bytes, uint32_t min_tokens)
{
    memset(pc, 0, sizeof(*pc));
    pc->budget_bytes = budget_bytes;
    pc->min_tokens = min_tokens ? min_tokens : 1;
}

static void entry_free(gmd_prefix_entry *e)
{
    free(e->tokens);
    gm_kv_snapshot_free(e->snap);
    memset(e, 0, sizeof(*e));
}

static void remove_at(gmd_prefix_cache *pc, size_t i)
{
    pc->bytes -= pc->entries[i].bytes;
    entry_free(&pc->entries[i]);
    pc->entries[i] = pc->entries[--pc->n];
}

void gmd_prefix_free(gmd_prefix_cache *pc)
{
    while (pc->n > 0)
        remove_at(pc, pc->n - 1);
    free(pc->entries);
    memset(pc, 0, sizeof(*pc));
}

static uint32_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return (uint32_t)i;
}

bool gmd_prefix_wanted(const gmd_prefix_cache *pc, size_t n_prompt)
{
    return pc->budget_bytes > 0 && n_prompt >= pc->min_tokens;
}

const gmd_prefix_entry *gmd_prefix_lookup(gmd_prefix_cache *pc, const int32_t *prompt,
                                          size_t n_prompt, uint32_t *n_reuse)
{
    *n_reuse = 0;
    if (pc->budget_bytes == 0)
        return NULL;
    gmd_prefix_entry *best = NULL;
    uint32_t best_n = 0;
    for (size_t i = 0; i < pc->n; i++) {
        uint32_t k = common_prefix(pc->entries[i].tokens, pc->entries[i].n_tokens, prompt,
                                   n_prompt);
        if (k > best_n) {
            best_n = k;
            best = &pc->entries[i];
        }
    }
    if (best_n >= n_prompt) /* the last token is evaluated again, for its logits */
        best_n = n_prompt > 0 ? (uint32_t)n_prompt - 1 : 0;
    if (best == NULL || best_n < pc->min_tokens) {
        pc->misses++;
        return NULL;
    }
    best->last_used = ++pc->clock;
    pc->hits++;
    pc->hit_tokens += best_n;
    *n_reuse = best_n;
    return best;
}

void gmd_prefix_insert(gmd_prefix_cache *pc, const int32_t *tokens, uint32_t n,
                       gm_kv_snapshot *snap)
{
    if (snap == NULL)
        return;
    const uint64_t bytes = gm_kv_snapshot_bytes(snap);
    if (pc->budget_bytes == 0 || n < pc->min_tokens || bytes > pc->budget_bytes
        || gm_kv_snapshot_len(snap) < n) {
        gm_kv_snapshot_free(snap);
        return;
    }
    for (size_t i = 0; i < pc->n;) {
        gmd_prefix_entry *e = &pc->entries[i];
        uint32_t k = common_prefix(e->tokens, e->n_tokens, tokens, n);
        if (k == n) { /* already covered */
            e->last_used = ++pc->clock;
            gm_kv_snapshot_free(snap);
            return;
        }
        if (k == e->n_tokens) { /* the new entry covers this one */
            remove_at(pc, i);
            continue;
        }
        i++;
    }
    while (pc->n > 0 && pc->bytes + bytes > pc->budget_bytes) {
        size_t lru = 0;
        for (size_t i = 1; i < pc->n; i++)
            if (pc->entries[i].last_used < pc->entries[lru].last_used)
                lru = i;
        remove_at(pc, lru);
        pc->evictions++;
    }
    if (pc->n == pc->cap) {
        size_t cap = pc->cap ? 2 * pc->cap : 8;
        gmd_prefix_entry *grown = realloc(pc->entries, cap * sizeof(*grown));
        if (grown == NULL) {
            gm_kv_snapshot_free(snap);
            return;
        }
        pc->entries = grown;
        pc->cap = cap;
    }
    int32_t *copy = malloc((size_t)n * sizeof(*copy));
    if (copy == NULL) {
        gm_kv_snapshot_free(snap);
        return;
    }
    memcpy(copy, tokens, (size_t)n * sizeof(*copy));
    pc->entries[pc->n++] = (gmd_prefix_entry){.tokens = copy, .n_tokens = n, .snap = snap,
                                             .bytes = bytes, .last_used = ++pc->clock};
    pc->bytes += bytes;
}
