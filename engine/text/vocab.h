/*
 * engine/text/vocab.h -- the Gemma 4 tokenizer (llama.cpp's "gemma4" BPE,
 * ../shared/gemma4.md section 12): text to token ids and back.
 */
#ifndef GM_VOCAB_H
#define GM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/gguf.h"

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
 * *out is a malloc'ed array of *n_out ids (caller frees). */
int gm_tokenize(const gm_vocab *v, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **out, size_t *n_out, cm_err *err);

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
 * complete UTF-8 (invalid bytes become U+FFFD). */
size_t gm_detok_push(gm_detok *d, const gm_vocab *v, int32_t id, char *out, size_t cap);
/* Flush what is still pending at the end of a stream. */
size_t gm_detok_flush(gm_detok *d, char *out, size_t cap);

#endif
