/*
 * engine/text/chat.h -- the Gemma 4 chat format (../shared/gemma4.md s13):
 * turning a conversation into the prompt text the model was trained on.
 */
#ifndef GM_CHAT_H
#define GM_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

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
 * becomes those tokens, as in llama.cpp. */
int gm_chat_render(const gm_chat_message *msgs, size_t n, const gm_chat_opts *opts,
                   char **out, cm_err *err);
/* Parse a role name ("system", "developer", "user", "assistant", "model"). */
int gm_chat_role_from_name(const char *name, gm_chat_role *out);

#endif
