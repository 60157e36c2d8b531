/*
 * fuzz/fuzz_tool_format.c -- libFuzzer target for Gemma 4's tool format
 * (engine/grammar/tool_format.c): the parser of tool calls in generated
 * text (whole, and streamed: gm_tool_call_stream), and the renderer of a
 * conversation with tools.
 *
 * Input: bytes given to gm_tool_calls_parse() as model output; the same
 * bytes, when they are a JSON object {"messages": [...], "tools": [...]},
 * are also rendered as gemmad would render such a request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/grammar/tool_format.h"

static void render(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)data, size, 0, &je);
    json_t *msgs = json_object_get(o, "messages");
    size_t n = json_array_size(msgs);
    if (!json_is_array(msgs) || n > 64) {
        json_decref(o);
        return;
    }
    gm_tool_message m[64];
    char *calls[64] = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(msgs, i);
        m[i].role = json_string_value(json_object_get(x, "role"));
        if (!m[i].role)
            m[i].role = "user";
        m[i].content = json_string_value(json_object_get(x, "content"));
        m[i].tool_call_id = json_string_value(json_object_get(x, "tool_call_id"));
        json_t *tc = json_object_get(x, "tool_calls");
        m[i].tool_calls_json = calls[i] = tc ? json_dumps(tc, JSON_COMPACT | JSON_ENCODE_ANY)
                                             : NULL;
    }
    json_t *tools = json_object_get(o, "tools");
    char *tools_json = tools ? json_dumps(tools, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *text = NULL;
    cm_err err;
    if (gm_tool_chat_render(m, n, tools_json, &text, &err) == 0)
        free(text);
    free(tools_json);
    for (size_t i = 0; i < n; i++)
        free(calls[i]);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gm_tool_call *calls = NULL;
    char *content = NULL;
    cm_err err;
    int n = gm_tool_calls_parse((const char *)data, size, &calls, &content, &err);
    if (n >= 0) {
        gm_tool_calls_free(calls, (size_t)n);
        free(content);
    }
    /* the same bytes as an answer being streamed, cut anywhere */
    for (size_t cut = size / 2; cut <= size; cut += size / 2 + 1) {
        char *name = NULL, *args = NULL;
        if (gm_tool_call_stream((const char *)data, cut, &name, &args, &err) == 0) {
            free(name);
            free(args);
        }
    }
    render(data, size);
    return 0;
}
