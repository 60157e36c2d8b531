/*
 * engine/text/vocab.h -- the Gemma 4 tokenizer (llama.cpp's "gemma4" BPE,
 * docs/architecture.md E12): text to token ids and back.
 */
#ifndef GM_VOCAB_H
#define GM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/gguf.h"

/* A gm_vocab is read-only once built: any number of threads may tokenize
 * and detokenize with it at the same time. */
typedef struct gm_vocab gm_vocab;

/* Build the tokenizer from a GGUF file's tokenizer.* metadata. The vocab
 * copies what it needs; the file may be closed afterwards. */
int gm_vocab_load(const gguf_file *f, gm_vocab **out, cm_err *err);
void gm_vocab_free(gm_vocab *v);

uint32_t gm_vocab_n_tokens(const gm_vocab *v);
int32_t gm_vocab_bos(const gm_vocab *v);
int32_t gm_vocab_eos(const gm_vocab *v);
/* True for end-of-generation tokens (<eos>, <turn|>, ...). */
bool gm_vocab_is_eog(const gm_vocab *v, int32_t id);
/* Token id of an exact token text, or -1. */
int32_t gm_vocab_find(const gm_vocab *v, const char *text);
/* tokenizer.ggml.suppress_tokens (ids in range only). */
size_t gm_vocab_suppressed(const gm_vocab *v, const int32_t **ids);

/* Tokenize like llama_tokenize(add_special, parse_special). On success
 * *out is a malloc'ed array of *n_out ids (caller frees). Texts longer
 * than GM_TOKENIZE_MAX_BYTES are refused. */
#define GM_TOKENIZE_MAX_BYTES (512u << 20)
int gm_tokenize(const gm_vocab *v, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **out, size_t *n_out, cm_err *err);

/* Tokenize untrusted text as text only: no special token is matched, not
 * even the USER_DEFINED ones (<|channel>, <|tool_call>, <|"|>, ...) that
 * gm_tokenize matches even with parse_special = false, as llama.cpp does.
 * No BOS. Used for chat message content. */
int gm_tokenize_plain(const gm_vocab *v, const char *text, size_t len, int32_t **out,
                      size_t *n_out, cm_err *err);

/* The bytes a token stands for (▁ turned into a space, byte tokens as their
 * byte; CONTROL tokens only when `special`). Returns the length written
 * (at most cap) or the needed length if larger; never fails for valid ids. */
size_t gm_token_to_piece(const gm_vocab *v, int32_t id, bool special, char *buf,
                         size_t cap);

/* Streaming detokenizer: holds back an incomplete UTF-8 sequence until the
 * next token completes it. */
typedef struct gm_detok {
    char pending[8];
    size_t n_pending;
} gm_detok;
void gm_detok_init(gm_detok *d);
/* Appends the text of `id` to out (cap bytes); returns bytes written of
 * complete UTF-8 (invalid bytes become U+FFFD). Text is rendered as
 * gm_token_to_piece(special = false) gives it. A cap of
 * GM_DETOK_OUT_MAX(piece length) always suffices; what does not fit is
 * dropped. */
#define GM_DETOK_OUT_MAX(piece_len) (3 * ((piece_len) + 8))
size_t gm_detok_push(gm_detok *d, const gm_vocab *v, int32_t id, char *out, size_t cap);
/* Flush what is still pending at the end of a stream. */
size_t gm_detok_flush(gm_detok *d, char *out, size_t cap);

/* --- additions (the API above is unchanged) --------------------------- */

/* tokenizer.ggml.token_type values. */
enum {
    GM_TOKEN_TYPE_UNDEFINED = 0,
    GM_TOKEN_TYPE_NORMAL = 1,
    GM_TOKEN_TYPE_UNKNOWN = 2,
    GM_TOKEN_TYPE_CONTROL = 3,
    GM_TOKEN_TYPE_USER_DEFINED = 4,
    GM_TOKEN_TYPE_UNUSED = 5,
    GM_TOKEN_TYPE_BYTE = 6,
};

/* Token attributes after the load-time fix-ups (llama_token_attr bits). */
#define GM_TOKEN_ATTR_UNKNOWN (1u << 0)
#define GM_TOKEN_ATTR_UNUSED (1u << 1)
#define GM_TOKEN_ATTR_NORMAL (1u << 2)
#define GM_TOKEN_ATTR_CONTROL (1u << 3)
#define GM_TOKEN_ATTR_USER_DEFINED (1u << 4)
#define GM_TOKEN_ATTR_BYTE (1u << 5)

/* A vocabulary described in memory: what gm_vocab_load() reads from a
 * GGUF file, for tests, fuzzing and tools. Ids of -1 mean "none". */
typedef struct gm_vocab_desc {
    size_t n_tokens;
    const char *const *tokens;   /* token texts */
    const size_t *token_lens;    /* NULL: each text is NUL-terminated */
    const int32_t *token_types;  /* NULL: all NORMAL */
    size_t n_merges;
    const char *const *merges;   /* "left right" */
    const size_t *merge_lens;    /* NULL: NUL-terminated */
    int32_t bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
    bool add_eos;                /* add_bos is always true for gemma4 */
    const int32_t *suppress;     /* tokenizer.ggml.suppress_tokens */
    size_t n_suppress;
} gm_vocab_desc;

/* A desc with no tokens and every id -1. */
void gm_vocab_desc_init(gm_vocab_desc *d);
/* Build a vocab from a desc (the texts are copied). Applies the same
 * load-time fix-ups as gm_vocab_load(). */
int gm_vocab_build(const gm_vocab_desc *d, gm_vocab **out, cm_err *err);

/* A token's attributes (GM_TOKEN_ATTR_*), 0 for an invalid id. */
uint32_t gm_vocab_token_attr(const gm_vocab *v, int32_t id);
/* A token's text as stored (with its ▁), or NULL for an invalid id. */
const char *gm_vocab_token_text(const gm_vocab *v, int32_t id, size_t *len);
/* Number of merges (rank-ordered pairs) the tokenizer knows. */
size_t gm_vocab_n_merges(const gm_vocab *v);

#endif
