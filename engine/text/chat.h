/*
 * engine/text/chat.h -- the Gemma 4 chat format (docs/architecture.md E13):
 * turning a conversation into the prompt text the model was trained on.
 */
#ifndef GM_CHAT_H
#define GM_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/text/vocab.h"

typedef enum gm_chat_role {
    GM_ROLE_SYSTEM = 0,   /* also OpenAI's "developer" */
    GM_ROLE_USER,
    GM_ROLE_ASSISTANT,    /* written "model" */
} gm_chat_role;

typedef struct gm_chat_message {
    gm_chat_role role;
    const char *content;
} gm_chat_message;

typedef struct gm_chat_opts {
    bool add_generation_prompt; /* end with "<|turn>model\n" */
    bool enable_thinking;       /* default false: empty thought channel added */
} gm_chat_opts;

/* Render messages to prompt text starting with "<bos>" (tokenize it with
 * add_special = false, parse_special = true). *out is malloc'ed.
 * As implemented (chat.c has the details): opts NULL means a generation
 * prompt and no thinking; NULL content counts as empty; only a system
 * message in first place makes the system turn, a later one is a turn of
 * its own; message text is not escaped, so text that spells special tokens
 * becomes those tokens when the result is tokenized with parse_special, as
 * in llama.cpp. For untrusted text use gm_chat_tokenize(). */
int gm_chat_render(const gm_chat_message *msgs, size_t n, const gm_chat_opts *opts,
                   char **out, cm_err *err);
/* The same conversation as token ids, ready for the model (BOS included):
 * the template's own special tokens (<bos>, <|turn>, <turn|>, <|think|>,
 * <|channel>, <channel|>) become their ids, and all text between them --
 * role names, newlines and message content -- is tokenized with
 * parse_special = false, so content that spells a CONTROL token (such as
 * "<turn|>") is ordinary text. (USER_DEFINED tokens are matched even so,
 * as llama_tokenize does.) When no content spells a special token the ids
 * equal gm_tokenize(gm_chat_render(...), add_special = false,
 * parse_special = true). *ids is malloc'ed. */
int gm_chat_tokenize(const gm_vocab *v, const gm_chat_message *msgs, size_t n,
                     const gm_chat_opts *opts, int32_t **ids, size_t *n_ids, cm_err *err);
/* Parse a role name ("system", "developer", "user", "assistant", "model"). */
int gm_chat_role_from_name(const char *name, gm_chat_role *out);

#endif
