/*
 * engine/grammar/tool_format.h -- Gemma 4's tool calling format, as its
 * chat template (tokenizer.chat_template) writes it: tool declarations in
 * the system turn (<|tool>declaration:NAME{...}<tool|>), calls
 * (<|tool_call>call:NAME{key:value,...}<tool_call|>) and results
 * (<|tool_response>response:NAME{value:...}<tool_response|>), with values
 * in Gemma's syntax (bare keys, strings between <|"|> tokens).
 *
 * Rendering a conversation with tools to token ids (the template's special
 * tokens as ids, all other text -- names, descriptions, arguments,
 * results, content -- as plain text), and parsing calls back out of
 * generated text into OpenAI's shape (arguments as a JSON string).
 */
#ifndef GM_TOOL_FORMAT_H
#define GM_TOOL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/text/vocab.h"

typedef struct gm_tool_message {
    const char *role;            /* system, developer, user, assistant, tool */
    const char *content;         /* NULL: none */
    const char *tool_calls_json; /* assistant: OpenAI's tool_calls array as JSON, or NULL */
    const char *tool_call_id;    /* tool: the call it answers, or NULL */
} gm_tool_message;

/* The conversation and the tools (OpenAI's tools array as JSON, or NULL)
 * as the model reads them, BOS first, ending with the generation prompt
 * (none after a tool result: the model goes on in its turn). *ids is
 * malloc'ed. */
int gm_tool_chat_tokenize(const gm_vocab *v, const gm_tool_message *msgs, size_t n,
                          const char *tools_json, int32_t **ids, size_t *n_ids, cm_err *err);
/* The same as text (special tokens spelled out), for tests. */
int gm_tool_chat_render(const gm_tool_message *msgs, size_t n, const char *tools_json,
                        char **text, cm_err *err);

typedef struct gm_tool_call {
    char *name;
    char *arguments;             /* JSON object text */
} gm_tool_call;

/* Split generated text into the calls it makes and the rest (*content,
 * trimmed, malloc'ed). A call that does not parse stays in the content.
 * Returns the number of calls (*calls malloc'ed), or -1 on out of memory. */
int gm_tool_calls_parse(const char *text, size_t len, gm_tool_call **calls, char **content,
                        cm_err *err);
void gm_tool_calls_free(gm_tool_call *calls, size_t n);
/* The first call in an answer still being written: once "<|tool_call>
 * call:NAME{" has come, *name gets NAME and *args the JSON text of the
 * arguments as far as the text settles them, a prefix of what
 * gm_tool_calls_parse() gives for the finished call (both malloc'ed);
 * before that both stay NULL. -1 on out of memory. */
int gm_tool_call_stream(const char *text, size_t len, char **name, char **args, cm_err *err);

#endif
