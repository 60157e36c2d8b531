/*
 * tests/tools/tool_render.c -- print a conversation with tools as
 * engine/grammar/tool_format.c renders it (special tokens spelled out), to
 * compare with Gemma 4's chat template rendered by jinja2
 * (tests/integration/tool_template_ref.sh).
 *
 * usage: tool_render FILE.json   ({"messages": [...], "tools": [...]},
 *                                 OpenAI's shapes)
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "engine/grammar/tool_format.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tool_render FILE.json\n");
        return 2;
    }
    json_error_t je;
    json_t *o = json_load_file(argv[1], 0, &je);
    json_t *msgs = json_object_get(o, "messages");
    if (!json_is_array(msgs)) {
        fprintf(stderr, "tool_render: %s: no messages array (%s)\n", argv[1], je.text);
        return 1;
    }
    size_t n = json_array_size(msgs);
    gm_tool_message *m = calloc(n ? n : 1, sizeof(*m));
    char **calls = calloc(n ? n : 1, sizeof(*calls));
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(msgs, i);
        m[i].role = json_string_value(json_object_get(x, "role"));
        m[i].content = json_string_value(json_object_get(x, "content"));
        m[i].tool_call_id = json_string_value(json_object_get(x, "tool_call_id"));
        json_t *tc = json_object_get(x, "tool_calls");
        if (tc)
            m[i].tool_calls_json = calls[i] = json_dumps(tc, JSON_COMPACT);
    }
    json_t *tools = json_object_get(o, "tools");
    char *tools_json = tools ? json_dumps(tools, JSON_COMPACT) : NULL;
    char *text = NULL;
    cm_err err;
    int rc = gm_tool_chat_render(m, n, tools_json, &text, &err);
    if (rc < 0)
        fprintf(stderr, "tool_render: %s\n", err.msg);
    else
        fputs(text, stdout);
    free(text);
    free(tools_json);
    for (size_t i = 0; i < n; i++)
        free(calls[i]);
    free(calls);
    free(m);
    json_decref(o);
    return rc < 0 ? 1 : 0;
}
