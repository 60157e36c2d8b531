/*
 * engine/grammar/grammar_impl.h -- the inside of a compiled grammar and of
 * a matcher's state, shared by schema.c (builds nodes), step.c (moves a
 * state by one byte) and matcher.c / mask.c. Not a public header.
 *
 * A grammar is a graph of nodes (one per schema part). A matcher's state
 * is a small set of stacks of frames (one frame per open value); a set,
 * because anyOf may leave several readings of the same bytes open until a
 * later byte decides. Frames hold only integers, so a state is compared,
 * hashed and copied as plain memory.
 */
#ifndef GM_GRAMMAR_IMPL_H
#define GM_GRAMMAR_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/grammar/grammar.h"

#define GM_G_NONE UINT32_MAX
#define GM_G_MAX_DEPTH 48        /* frames on one stack: JSON nesting cap */
#define GM_G_MAX_STACKS 16       /* readings kept open at once */
#define GM_G_MAX_FRAMES 384      /* frames in a state, all stacks */
#define GM_G_NEED_NEVER 255      /* need[]: no completion at all */

typedef enum gm_gkind {
    GK_ANY,        /* any JSON value */
    GK_MAP,        /* an object with free keys, values of node `items` */
    GK_OBJECT,     /* properties in schema order */
    GK_ARRAY,
    GK_STRING,
    GK_NUMBER,
    GK_LITERAL,    /* one of a set of JSON texts (enum, const, true, null) */
    GK_ANYOF,
    GK_SEQ,        /* nodes one after the other: u32[first .. first + n) */
} gm_gkind;

typedef enum gm_gformat { GF_NONE, GF_DATE, GF_DATE_TIME, GF_EMAIL, GF_UUID } gm_gformat;

typedef struct gm_gnode {
    gm_gkind kind;
    /* object: props[first .. first + n), key_roots[first_root .. + n] */
    uint32_t first, n;
    uint32_t first_root;
    /* array items / map values */
    uint32_t items;
    uint32_t min_items, max_items;
    /* string */
    gm_gformat format;
    uint32_t min_len, max_len, len_cap; /* len_cap: where the count saturates */
    /* number */
    bool integer;
    int64_t lo, hi;               /* integer part bounds */
    double min, max;              /* the schema's bounds (number) */
    bool min_excl, max_excl;
    /* literal: trie root */
    uint32_t root;
    /* anyOf: alts[first .. first + n) */
} gm_gnode;

typedef struct gm_gprop {
    uint32_t value;   /* node */
    bool required;
} gm_gprop;

/* Byte trie for literals and object keys: children as a sibling list. */
typedef struct gm_gtrie {
    uint32_t child, sibling;
    int32_t value;    /* >= 0: a literal ends here (prop index for keys) */
    uint8_t byte;
} gm_gtrie;

struct gm_grammar {
    gm_gnode *nodes;
    uint32_t n_nodes, cap_nodes;
    gm_gprop *props;
    uint32_t n_props, cap_props;
    uint32_t *u32;    /* anyOf alternatives, key roots */
    uint32_t n_u32, cap_u32;
    bool *req_from;   /* per prop slot + 1 per object: a required prop at or after */
    uint32_t n_req, cap_req;
    gm_gtrie *trie;
    uint32_t n_trie, cap_trie;
    /* per node: the fewest frames a value of it needs to be completed
     * (itself and the children it must open), GM_G_NEED_NEVER when it can
     * never be completed; a value is opened only where it fits under
     * GM_G_MAX_DEPTH, so that no reading ends in a dead end */
    uint8_t *need;
    uint8_t *trie_need; /* per trie node of object keys: the least need[] of
                           the values of the keys below it */
    uint32_t root;
    bool gemma;       /* Gemma 4's tool syntax: bare keys, strings in <|"|> */
    /* nodes for values of any JSON */
    uint32_t any, any_string, any_number, any_words, any_map, any_array;
};

/* One open value. Which fields mean what depends on the node's kind
 * (see step.c); unused fields stay 0 so that states compare as memory. */
typedef struct gm_frame {
    uint32_t node;
    uint8_t phase;
    uint8_t a;
    uint16_t b;
    uint32_t count;
    uint32_t pos;
    int64_t val;
} gm_frame;

typedef struct gm_gstack {
    uint32_t depth;
    gm_frame fr[GM_G_MAX_DEPTH];
} gm_gstack;

/* A set of stacks, packed: stack i has len[i] frames, back to back. */
typedef struct gm_gstate {
    uint16_t n;
    uint16_t n_frames;
    uint16_t len[GM_G_MAX_STACKS];
    gm_frame fr[GM_G_MAX_FRAMES];
} gm_gstate;

static inline size_t gm_gstate_size(const gm_gstate *s)
{
    return offsetof(gm_gstate, fr) + (size_t)s->n_frames * sizeof(gm_frame);
}

/* The start state of g. */
void gm_gstate_init(const gm_grammar *g, gm_gstate *s);
/* out = in after byte c; false when no reading allows c (out is then
 * empty). in and out must differ. */
bool gm_gstate_step(const gm_grammar *g, const gm_gstate *in, uint8_t c, gm_gstate *out);
/* Some reading is a complete value. */
bool gm_gstate_can_end(const gm_grammar *g, const gm_gstate *s);
/* Some reading accepts more bytes. */
bool gm_gstate_can_continue(const gm_grammar *g, const gm_gstate *s);
/* The state is one reading inside a plain string's text (no escape or
 * character pending): *room gets how many more characters it may take. */
bool gm_gstate_in_free_string(const gm_grammar *g, const gm_gstate *s, uint32_t *room);

/* Gemma 4's string quote, one USER_DEFINED token. */
#define GM_GEMMA_QUOTE "<|\"|>"
#define GM_GEMMA_QUOTE_LEN 5

/* Token index internals (token_index.c), read by mask.c. */
typedef struct gm_gtrie_flat {
    uint32_t n_nodes;
    uint8_t *byte;
    uint16_t *depth;      /* 1 for a first byte */
    uint32_t *next;       /* the node after this one's subtree */
    uint32_t *tok_first;  /* tokens ending here: toks[tok_first .. + tok_n) */
    uint16_t *tok_n;
    int32_t *toks;
    uint32_t max_depth;
} gm_gtrie_flat;

struct gm_token_index {
    uint32_t n_vocab;
    uint32_t n_words;         /* (n_vocab + 31) / 32 */
    gm_gtrie_flat all;        /* every grammar token */
    gm_gtrie_flat special;    /* tokens that are not plain string text */
    gm_gtrie_flat user;       /* USER_DEFINED tokens (<|"|>, <|tool_call>, ...) */
    gm_gtrie_flat safe_lt;    /* plain text tokens with a '<' (may start <|"|>) */
    uint32_t *lt_bits;        /* those tokens as a bitmap */
    uint32_t *safe_bits;      /* plain string text tokens */
    int32_t *safe_by_len;     /* those tokens by character count */
    uint32_t safe_len_start[67]; /* safe_by_len[start[n]..start[n+1]): n chars (65: more) */
    uint32_t *eog;            /* end-of-generation tokens below n_vocab */
    size_t n_eog;
    char *text;               /* each token's bytes (grammar tokens only) */
    uint64_t *text_off;       /* n_vocab + 1 */
};

#endif
