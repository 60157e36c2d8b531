/*
 * engine/grammar/matcher.c -- one generation's position in a grammar, and
 * the mask of tokens allowed next.
 *
 * The mask of a state is computed by one walk over the token index's
 * preorder trie (token_index.c), or, inside a free string, by copying the
 * plain-text token set and walking only the special trie. Masks are kept
 * in a small cache keyed by the state's bytes: JSON revisits the same
 * states (the text of a string, the place after a comma) again and again.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/grammar/grammar_impl.h"

#define CACHE_SLOTS 64

typedef struct mask_slot {
    uint64_t hash;
    size_t key_len;
    uint8_t *key;      /* NULL: empty */
    uint32_t *bits;
} mask_slot;

struct gm_matcher {
    const gm_grammar *g;
    const gm_token_index *ti;
    gm_gstate *state, *scratch;
    gm_gstate *walk;       /* max_depth + 1 states for the trie walk */
    uint32_t walk_cap;
    uint32_t *mask;        /* the current mask */
    bool mask_valid;
    mask_slot cache[CACHE_SLOTS];
    uint32_t next_slot;
    uint8_t *key;          /* the current state's key */
    size_t key_len;
    uint64_t n_computed, n_cached;
};

/* ---- life cycle ---- */

int gm_matcher_new(const gm_grammar *g, const gm_token_index *ti, gm_matcher **out,
                   cm_err *err)
{
    *out = NULL;
    gm_matcher *m = calloc(1, sizeof(*m));
    if (!m)
        return cm_err_set(err, "grammar matcher: out of memory");
    m->g = g;
    m->ti = ti;
    uint32_t depth = ti->all.max_depth > ti->special.max_depth ? ti->all.max_depth
                                                               : ti->special.max_depth;
    if (ti->user.max_depth > depth)
        depth = ti->user.max_depth;
    if (ti->safe_lt.max_depth > depth)
        depth = ti->safe_lt.max_depth;
    m->walk_cap = depth + 1;
    m->state = malloc(sizeof(gm_gstate));
    m->scratch = malloc(sizeof(gm_gstate));
    m->walk = malloc((size_t)m->walk_cap * sizeof(gm_gstate));
    m->mask = malloc((size_t)ti->n_words * sizeof(uint32_t));
    m->key = malloc(sizeof(gm_gstate));
    if (!m->state || !m->scratch || !m->walk || !m->mask || !m->key) {
        gm_matcher_free(m);
        return cm_err_set(err, "grammar matcher: out of memory");
    }
    gm_gstate_init(g, m->state);
    *out = m;
    return 0;
}

void gm_matcher_free(gm_matcher *m)
{
    if (!m)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(m->cache[i].key);
        free(m->cache[i].bits);
    }
    free(m->state);
    free(m->scratch);
    free(m->walk);
    free(m->mask);
    free(m->key);
    free(m);
}

uint32_t gm_matcher_n_vocab(const gm_matcher *m)
{
    return m->ti->n_vocab;
}

void gm_matcher_stats(const gm_matcher *m, uint64_t *computed, uint64_t *cached)
{
    *computed = m->n_computed;
    *cached = m->n_cached;
}

/* ---- state keys ---- */

static void make_key(gm_matcher *m)
{
    const gm_gstate *s = m->state;
    size_t at = 0;
    memcpy(m->key + at, &s->n, sizeof(s->n));
    at += sizeof(s->n);
    memcpy(m->key + at, s->len, s->n * sizeof(s->len[0]));
    at += s->n * sizeof(s->len[0]);
    memcpy(m->key + at, s->fr, s->n_frames * sizeof(gm_frame));
    at += s->n_frames * sizeof(gm_frame);
    m->key_len = at;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- masks ---- */

static inline void set_bit(uint32_t *bits, int32_t id)
{
    bits[(uint32_t)id / 32] |= 1u << ((uint32_t)id % 32);
}

/* Allow every token of trie t whose bytes the state s accepts. */
static void walk(gm_matcher *m, const gm_gtrie_flat *t, const gm_gstate *s, uint32_t *bits)
{
    if (t->n_nodes == 0)
        return;
    gm_gstate *w = m->walk;
    memcpy(&w[0], s, gm_gstate_size(s));
    for (uint32_t k = 0; k < t->n_nodes;) {
        uint32_t d = t->depth[k];
        if (!gm_gstate_step(m->g, &w[d - 1], t->byte[k], &w[d])) {
            k = t->next[k];
            continue;
        }
        for (uint32_t i = 0; i < t->tok_n[k]; i++)
            set_bit(bits, t->toks[t->tok_first[k] + i]);
        k++;
    }
}

static void compute(gm_matcher *m, uint32_t *bits)
{
    const gm_token_index *ti = m->ti;
    uint32_t room;
    if (gm_gstate_in_free_string(m->g, m->state, &room)) {
        if (room >= 64) {
            memcpy(bits, ti->safe_bits, ti->n_words * sizeof(uint32_t));
        } else {
            memset(bits, 0, ti->n_words * sizeof(uint32_t));
            for (uint32_t i = 0; i < ti->safe_len_start[room + 1]; i++)
                set_bit(bits, ti->safe_by_len[i]);
        }
        if (m->g->gemma) { /* a '<' may start the closing <|"|>: walk those */
            for (uint32_t i = 0; i < ti->n_words; i++)
                bits[i] &= ~ti->lt_bits[i];
            walk(m, &ti->safe_lt, m->state, bits);
        }
        walk(m, &ti->special, m->state, bits);
    } else {
        memset(bits, 0, ti->n_words * sizeof(uint32_t));
        walk(m, &ti->all, m->state, bits);
    }
    if (m->g->gemma)
        walk(m, &ti->user, m->state, bits);
    bool any = false;
    for (uint32_t i = 0; i < ti->n_words && !any; i++)
        any = bits[i] != 0;
    /* a complete value may end; a dead end (no token fits) must */
    if (!any || gm_gstate_can_end(m->g, m->state))
        for (size_t i = 0; i < ti->n_eog; i++)
            set_bit(bits, (int32_t)ti->eog[i]);
}

const uint32_t *gm_matcher_mask(gm_matcher *m)
{
    if (m->mask_valid)
        return m->mask;
    make_key(m);
    uint64_t h = hash_bytes(m->key, m->key_len);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        mask_slot *sl = &m->cache[i];
        if (sl->key && sl->hash == h && sl->key_len == m->key_len &&
            memcmp(sl->key, m->key, m->key_len) == 0) {
            memcpy(m->mask, sl->bits, m->ti->n_words * sizeof(uint32_t));
            m->mask_valid = true;
            m->n_cached++;
            return m->mask;
        }
    }
    compute(m, m->mask);
    m->n_computed++;
    m->mask_valid = true;
    /* remember it (round robin); without memory it is just not cached */
    mask_slot *sl = &m->cache[m->next_slot];
    m->next_slot = (m->next_slot + 1) % CACHE_SLOTS;
    if (!sl->bits)
        sl->bits = malloc(m->ti->n_words * sizeof(uint32_t));
    free(sl->key);
    sl->key = malloc(m->key_len);
    if (sl->bits && sl->key) {
        memcpy(sl->key, m->key, m->key_len);
        memcpy(sl->bits, m->mask, m->ti->n_words * sizeof(uint32_t));
        sl->key_len = m->key_len;
        sl->hash = h;
    } else {
        free(sl->key);
        sl->key = NULL;
    }
    return m->mask;
}

/* ---- advancing ---- */

bool gm_matcher_accept_bytes(gm_matcher *m, const char *bytes, size_t len)
{
    if (len == 0)
        return true;
    gm_gstate *a = m->scratch, *b = m->walk; /* walk[0] is free between masks */
    const gm_gstate *from = m->state;
    for (size_t i = 0; i < len; i++) {
        gm_gstate *to = (i % 2 == 0) ? a : b;
        if (!gm_gstate_step(m->g, from, (uint8_t)bytes[i], to))
            return false;
        from = to;
    }
    memcpy(m->state, from, gm_gstate_size(from));
    m->mask_valid = false;
    return true;
}

bool gm_matcher_accept_token(gm_matcher *m, int32_t token)
{
    const gm_token_index *ti = m->ti;
    if (token < 0 || (uint32_t)token >= ti->n_vocab)
        return false;
    for (size_t i = 0; i < ti->n_eog; i++)
        if (ti->eog[i] == (uint32_t)token)
            return gm_gstate_can_end(m->g, m->state);
    size_t off = ti->text_off[token], len = ti->text_off[token + 1] - off;
    if (len == 0)
        return false;
    return gm_matcher_accept_bytes(m, ti->text + off, len);
}

bool gm_matcher_can_end(const gm_matcher *m)
{
    return gm_gstate_can_end(m->g, m->state);
}

bool gm_matcher_is_done(const gm_matcher *m)
{
    return gm_gstate_can_end(m->g, m->state) && !gm_gstate_can_continue(m->g, m->state);
}

/* ---- a whole text ---- */

int gm_grammar_check_text(const gm_grammar *g, const char *text, size_t len)
{
    gm_gstate *st = malloc(2 * sizeof(gm_gstate));
    if (!st)
        return -1;
    gm_gstate_init(g, &st[0]);
    int cur = 0;
    for (size_t i = 0; i < len; i++) {
        if (!gm_gstate_step(g, &st[cur], (uint8_t)text[i], &st[1 - cur])) {
            free(st);
            return 0;
        }
        cur = 1 - cur;
    }
    int ok = gm_gstate_can_end(g, &st[cur]) ? 1 : 0;
    free(st);
    return ok;
}
