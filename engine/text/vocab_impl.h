/*
 * engine/text/vocab_impl.h -- the inside of a gm_vocab, shared by the
 * files of engine/text/ that build it (vocab.c), tokenize with it
 * (tokenize.c) and turn ids back into text (detok.c). Not a public header.
 */
#ifndef GM_VOCAB_IMPL_H
#define GM_VOCAB_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/text/bytemap.h"
#include "engine/text/vocab.h"

/* Internal attribute bit: an end-of-generation token. */
#define GM_TOKEN_ATTR_EOG_INTERNAL (1u << 16)

/* A merge of two tokens and its rank. */
typedef struct gm_pair_slot {
    uint64_t key;     /* (left id << 32) | right id; UINT64_MAX = empty */
    int64_t rank;
} gm_pair_slot;

struct gm_vocab {
    uint32_t n_tokens;
    char *text;              /* all token texts, back to back */
    uint64_t *text_off;      /* n_tokens + 1 offsets into text */
    uint32_t *attr;          /* GM_TOKEN_ATTR_* | GM_TOKEN_ATTR_EOG_INTERNAL */
    gm_bytemap tok;          /* token text -> id */

    gm_pair_slot *pairs;     /* merges whose two parts are tokens */
    uint64_t pair_mask;
    size_t n_merges;
    /* merges with a part that is no token, keyed by
     * u32 left length || left || right -> rank (usually empty) */
    gm_bytemap str_merges;

    int32_t byte_ids[256];   /* <0xXX> tokens, -1 when missing */

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos;

    int32_t *suppress;
    size_t n_suppress;

    /* Special-token splitting: which first bytes and which lengths any
     * CONTROL / USER_DEFINED / UNKNOWN token text has. */
    bool special_first[256];
    uint32_t *special_lens;  /* distinct lengths, longest first */
    size_t n_special_lens;
    size_t n_special;
};

static inline bool gm_vocab_valid_id(const gm_vocab *v, int32_t id)
{
    return id >= 0 && (uint32_t)id < v->n_tokens;
}

static inline const char *gm_vocab_text_of(const gm_vocab *v, int32_t id, size_t *len)
{
    *len = (size_t)(v->text_off[id + 1] - v->text_off[id]);
    return v->text + v->text_off[id];
}

/* Rank of the merge (left, right), or -1. The ids are those of the texts
 * (-1 when a text is no token). */
int32_t gm_vocab_merge_rank(const gm_vocab *v, int32_t left_id, const char *left,
                            size_t left_len, int32_t right_id, const char *right,
                            size_t right_len);

#endif
