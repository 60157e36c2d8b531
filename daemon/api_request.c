/*
 * daemon/api_request.c -- OpenAI request bodies to generation parameters
 * (see api_request.h). Field names and ranges follow OpenAI's API
 * reference; fields gemmad cannot honour (n > 1, tools) are refused
 * rather than ignored, unknown fields are ignored as OpenAI's SDKs may
 * send extras. response_format json_schema / json_object is compiled
 * here (engine/grammar) so that an unsupported schema is a 400 naming the
 * keyword before anything runs.
 */
#include "daemon/api_request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "engine/grammar/grammar.h"

static int bad(gmd_api_error *e, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(gmd_api_error *e, const char *code, const char *param, const char *fmt, ...)
{
    e->status = 400;
    snprintf(e->code, sizeof(e->code), "%s", code);
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A number field within [lo, hi]; absent or null leaves *out. */
static int get_number(json_t *o, const char *key, double lo, double hi, float *out,
                      gmd_api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return bad(e, "invalid_type", key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return bad(e, "invalid_value", key, "'%s' must be between %g and %g", key, lo, hi);
    *out = (float)d;
    return 0;
}

static int get_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
                   bool *given, gmd_api_error *e)
{
    json_t *v = json_object_get(o, key);
    if (given)
        *given = false;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad(e, "invalid_type", key, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return bad(e, "invalid_value", key, "'%s' must be between %lld and %lld", key, lo, hi);
    *out = x;
    if (given)
        *given = true;
    return 0;
}

/* Message content: a string, or an array of {"type":"text","text":...}. */
static char *content_text(json_t *c, size_t idx, gmd_api_error *e)
{
    char param[48];
    snprintf(param, sizeof(param), "messages[%zu].content", idx);
    if (json_is_string(c))
        return dup_n(json_string_value(c), json_string_length(c));
    if (!json_is_array(c)) {
        bad(e, "invalid_type", param, "'%s' must be a string or an array of text parts", param);
        return NULL;
    }
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        if (type == NULL || strcmp(type, "text") != 0 || !json_is_string(t)) {
            bad(e, "invalid_value", param, "'%s' may hold only text parts "
                "({\"type\":\"text\",\"text\":...})", param);
            return NULL;
        }
        total += json_string_length(t);
    }
    char *out = malloc(total + 1);
    if (out == NULL) {
        bad(e, "out_of_memory", param, "out of memory");
        return NULL;
    }
    size_t n = 0;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        memcpy(out + n, json_string_value(t), json_string_length(t));
        n += json_string_length(t);
    }
    out[n] = '\0';
    return out;
}

/* A function name as OpenAI allows it: [A-Za-z0-9_-]{1,64}. */
static bool tool_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* An assistant message's tool_calls, a tool message's tool_call_id. */
static int parse_tool_fields(json_t *m, const char *role, size_t idx, gmd_infer_message *out,
                             gmd_api_error *e)
{
    char param[64];
    json_t *calls = json_object_get(m, "tool_calls");
    if (strcmp(role, "tool") == 0) {
        json_t *id = json_object_get(m, "tool_call_id");
        snprintf(param, sizeof(param), "messages[%zu].tool_call_id", idx);
        if (!json_is_string(id))
            return bad(e, "missing_parameter", param, "'%s' is required for a tool message",
                       param);
        out->tool_call_id = dup_n(json_string_value(id), json_string_length(id));
        return out->tool_call_id ? 0 : bad(e, "out_of_memory", param, "out of memory");
    }
    if (calls == NULL || json_is_null(calls))
        return 0;
    snprintf(param, sizeof(param), "messages[%zu].tool_calls", idx);
    if (strcmp(role, "assistant") != 0 || !json_is_array(calls) || json_array_size(calls) > 64)
        return bad(e, "invalid_value", param, "'%s' must be an array of calls on an assistant "
                   "message", param);
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *type = json_string_value(json_object_get(c, "type"));
        if (!json_is_string(json_object_get(c, "id")) || (type && strcmp(type, "function")) ||
            !tool_name_ok(json_string_value(json_object_get(fn, "name"))) ||
            !json_is_string(json_object_get(fn, "arguments")))
            return bad(e, "invalid_value", param, "'%s[%zu]' must be {\"id\", \"type\": "
                       "\"function\", \"function\": {\"name\", \"arguments\": JSON text}}",
                       param, i);
    }
    out->tool_calls_json = json_dumps(calls, JSON_COMPACT);
    return out->tool_calls_json ? 0 : bad(e, "out_of_memory", param, "out of memory");
}

static int parse_messages(json_t *msgs, gmd_infer_params *p, gmd_api_error *e)
{
    if (msgs == NULL)
        return bad(e, "missing_parameter", "messages", "'messages' is required");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(e, "invalid_value", "messages", "'messages' must be a non-empty array");
    size_t n = json_array_size(msgs);
    if (n > 4096)
        return bad(e, "invalid_value", "messages", "'messages' holds more than 4096 messages");
    p->messages = calloc(n, sizeof(*p->messages));
    if (p->messages == NULL)
        return bad(e, "out_of_memory", "messages", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        char param[48];
        snprintf(param, sizeof(param), "messages[%zu]", i);
        if (!json_is_object(m))
            return bad(e, "invalid_type", param, "'%s' must be an object", param);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role == NULL)
            return bad(e, "missing_parameter", param, "'%s.role' is required", param);
        if (strcmp(role, "system") != 0 && strcmp(role, "developer") != 0 &&
            strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
            strcmp(role, "tool") != 0)
            return bad(e, "invalid_value", param, "'%s.role' must be system, developer, user, "
                       "assistant or tool (not '%.40s')", param, role);
        json_t *c = json_object_get(m, "content");
        p->messages[i].role = dup_n(role, strlen(role));
        p->n_messages = i + 1;
        if (parse_tool_fields(m, role, i, &p->messages[i], e) < 0)
            return -1;
        if ((c == NULL || json_is_null(c)) && p->messages[i].tool_calls_json) {
            p->messages[i].content = dup_n("", 0); /* a call without text */
            if (p->messages[i].content == NULL)
                return bad(e, "out_of_memory", param, "out of memory");
            continue;
        }
        if (c == NULL || json_is_null(c))
            return bad(e, "missing_parameter", param, "'%s.content' is required", param);
        p->messages[i].content = content_text(c, i, e);
        if (p->messages[i].content == NULL || p->messages[i].role == NULL)
            return e->status ? -1 : bad(e, "out_of_memory", param, "out of memory");
    }
    return 0;
}

static int parse_stop(json_t *stop, gmd_infer_params *p, gmd_api_error *e)
{
    if (stop == NULL || json_is_null(stop))
        return 0;
    if (json_is_string(stop)) {
        if (json_string_length(stop) == 0)
            return bad(e, "invalid_value", "stop", "'stop' strings must not be empty");
        p->stop[0] = dup_n(json_string_value(stop), json_string_length(stop));
        return p->stop[0] ? 0 : bad(e, "out_of_memory", "stop", "out of memory");
    }
    if (!json_is_array(stop) || json_array_size(stop) > 4)
        return bad(e, "invalid_value", "stop", "'stop' must be a string or up to 4 strings");
    size_t i;
    json_t *s;
    json_array_foreach(stop, i, s) {
        if (!json_is_string(s) || json_string_length(s) == 0)
            return bad(e, "invalid_value", "stop", "'stop' must hold non-empty strings");
        p->stop[i] = dup_n(json_string_value(s), json_string_length(s));
        if (p->stop[i] == NULL)
            return bad(e, "out_of_memory", "stop", "out of memory");
    }
    return 0;
}

/* SHA-256 of the schema as compact JSON with sorted keys, in hex. */
static int schema_digest(json_t *schema, char out[65], gmd_api_error *e)
{
    char *txt = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = txt && EVP_Digest(txt, strlen(txt), md, &n, EVP_sha256(), NULL) == 1 && n == 32;
    free(txt);
    if (!ok)
        return bad(e, "out_of_memory", "response_format", "cannot hash the schema");
    cm_hex_encode(md, 32, out);
    out[64] = '\0';
    return 0;
}

/* response_format: text (nothing), json_object, or json_schema compiled
 * into p->grammar; an unsupported schema is refused naming the keyword. */
static int parse_response_format(json_t *rf, gmd_infer_params *p, gmd_api_error *e)
{
    if (rf == NULL || json_is_null(rf))
        return 0;
    if (!json_is_object(rf))
        return bad(e, "invalid_type", "response_format", "'response_format' must be an object");
    const char *t = json_string_value(json_object_get(rf, "type"));
    if (t == NULL)
        return bad(e, "missing_parameter", "response_format.type",
                   "'response_format.type' is required (text, json_object or json_schema)");
    cm_err cerr;
    cm_err_clear(&cerr);
    if (strcmp(t, "text") == 0)
        return 0;
    if (strcmp(t, "json_object") == 0) {
        if (gm_grammar_json_object(&p->grammar, &cerr) < 0)
            return bad(e, "out_of_memory", "response_format", "%s", cerr.msg);
        p->format_kind = "json_object";
        p->format = GMD_FORMAT_JSON_OBJECT;
        return 0;
    }
    if (strcmp(t, "json_schema") != 0)
        return bad(e, "invalid_value", "response_format.type", "'response_format.type' must "
                   "be text, json_object or json_schema (not '%.40s')", t);
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return bad(e, "missing_parameter", "response_format.json_schema",
                   "'response_format.json_schema' is required with type json_schema");
    json_t *name = json_object_get(js, "name");
    if (name != NULL && (!json_is_string(name) || json_string_length(name) > 64))
        return bad(e, "invalid_value", "response_format.json_schema.name",
                   "'response_format.json_schema.name' must be a string of at most 64 "
                   "characters");
    json_t *strict = json_object_get(js, "strict");
    if (strict != NULL && !json_is_boolean(strict) && !json_is_null(strict))
        return bad(e, "invalid_type", "response_format.json_schema.strict",
                   "'response_format.json_schema.strict' must be true or false");
    json_t *schema = json_object_get(js, "schema");
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return bad(e, "missing_parameter", "response_format.json_schema.schema",
                   "'response_format.json_schema.schema' must be a JSON schema object");
    char *txt = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    if (txt == NULL)
        return bad(e, "out_of_memory", "response_format", "out of memory");
    char kw[48] = "";
    int rc = gm_grammar_from_schema(txt, strlen(txt), &p->grammar, kw, sizeof(kw), &cerr);
    free(txt);
    if (rc < 0)
        return bad(e, kw[0] ? "unsupported_schema" : "invalid_schema",
                   "response_format.json_schema.schema", "%s", cerr.msg);
    p->format_kind = "json_schema";
    p->format = GMD_FORMAT_JSON_SCHEMA;
    return schema_digest(schema, p->schema_sha256, e);
}

/* tools and tool_choice (chat only). required or a named function compile
 * a grammar of the call (engine/grammar: Gemma's tool syntax, arguments
 * following the parameters schema). */
static int parse_tools(json_t *o, bool chat, gmd_infer_params *p, gmd_api_error *e)
{
    json_t *tools = json_object_get(o, "tools");
    json_t *choice = json_object_get(o, "tool_choice");
    bool have = tools != NULL && !json_is_null(tools);
    if (have && !chat)
        return bad(e, "unsupported_parameter", "tools", "'tools' is for chat completions only");
    if (!have) {
        if (choice != NULL && !json_is_null(choice) &&
            !(json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0))
            return bad(e, "invalid_value", "tool_choice", "'tool_choice' needs 'tools'");
        return 0;
    }
    if (!json_is_array(tools) || json_array_size(tools) == 0 || json_array_size(tools) > 64)
        return bad(e, "invalid_value", "tools", "'tools' must be an array of 1 to 64 tools");
    const char *names[64];
    char *schemas[64] = {0};
    size_t n = json_array_size(tools), i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        json_t *desc = json_object_get(fn, "description");
        char param[32];
        snprintf(param, sizeof(param), "tools[%zu]", i);
        if (type == NULL || strcmp(type, "function") != 0 || !json_is_object(fn))
            return bad(e, "invalid_value", param, "'%s' must be {\"type\": \"function\", "
                       "\"function\": {...}}", param);
        if (!tool_name_ok(name))
            return bad(e, "invalid_value", param, "'%s.function.name' must be 1 to 64 letters, "
                       "digits, '_' or '-'", param);
        if (desc != NULL && !json_is_string(desc))
            return bad(e, "invalid_type", param, "'%s.function.description' must be a string",
                       param);
        if (params != NULL && !json_is_object(params))
            return bad(e, "invalid_type", param, "'%s.function.parameters' must be a JSON "
                       "schema object", param);
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[j], name) == 0)
                return bad(e, "invalid_value", param, "two tools are named '%s'", name);
        names[i] = name;
    }
    p->tool_choice = GMD_TOOL_CHOICE_AUTO;
    const char *only = NULL;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        if (strcmp(c, "none") == 0)
            p->tool_choice = GMD_TOOL_CHOICE_NONE;
        else if (strcmp(c, "required") == 0)
            p->tool_choice = GMD_TOOL_CHOICE_REQUIRED;
        else if (strcmp(c, "auto") != 0)
            return bad(e, "invalid_value", "tool_choice", "'tool_choice' must be none, auto, "
                       "required or {\"type\": \"function\", \"function\": {\"name\"}}");
    } else if (json_is_object(choice)) {
        only = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        bool found = false;
        for (size_t j = 0; only && j < n; j++)
            found |= strcmp(names[j], only) == 0;
        if (!found)
            return bad(e, "invalid_value", "tool_choice", "'tool_choice' names no tool of "
                       "'tools'");
        p->tool_choice = GMD_TOOL_CHOICE_NAMED;
    } else if (choice != NULL && !json_is_null(choice)) {
        return bad(e, "invalid_type", "tool_choice", "'tool_choice' must be a string or an "
                   "object");
    }
    p->tools_json = json_dumps(tools, JSON_COMPACT);
    if (p->tools_json == NULL)
        return bad(e, "out_of_memory", "tools", "out of memory");
    if (p->tool_choice != GMD_TOOL_CHOICE_REQUIRED && p->tool_choice != GMD_TOOL_CHOICE_NAMED)
        return 0;
    /* the call is constrained: one of the tools (or the named one) */
    const char *call_names[64];
    size_t k = 0;
    int rc = 0;
    json_array_foreach(tools, i, t) {
        if (only && strcmp(names[i], only) != 0)
            continue;
        json_t *params = json_object_get(json_object_get(t, "function"), "parameters");
        schemas[k] = params ? json_dumps(params, JSON_COMPACT) : NULL;
        if (params && !schemas[k]) {
            rc = bad(e, "out_of_memory", "tools", "out of memory");
            break;
        }
        call_names[k++] = names[i];
    }
    if (rc == 0) {
        cm_err cerr;
        cm_err_clear(&cerr);
        char kw[48] = "";
        if (gm_grammar_tool_call(call_names, (const char *const *)schemas, k, &p->grammar, kw,
                                 sizeof(kw), &cerr) < 0)
            rc = bad(e, kw[0] ? "unsupported_schema" : "invalid_schema", "tools", "%s",
                     cerr.msg);
        else {
            p->format_kind = "tool_call";
            p->format = GMD_FORMAT_TOOL_CALL;
        }
    }
    for (size_t j = 0; j < k; j++)
        free(schemas[j]);
    return rc;
}

/* logprobs / top_logprobs. Chat: logprobs true|false, top_logprobs 0..20
 * (only with logprobs). Completions: logprobs is the number of
 * alternatives (0..20), as in OpenAI's legacy API. */
static int parse_logprobs(json_t *o, bool chat, gmd_infer_params *p, gmd_api_error *e)
{
    json_t *lp = json_object_get(o, "logprobs");
    long long top = 0;
    bool top_given = false;
    if (get_int(o, "top_logprobs", 0, GMD_TOP_LOGPROBS_MAX, &top, &top_given, e) < 0)
        return -1;
    if (lp != NULL && !json_is_null(lp)) {
        if (json_is_boolean(lp)) {
            p->logprobs = json_is_true(lp);
        } else if (!chat && json_is_integer(lp)) {
            long long n = json_integer_value(lp);
            if (n < 0 || n > GMD_TOP_LOGPROBS_MAX)
                return bad(e, "invalid_value", "logprobs", "'logprobs' must be between 0 and %d",
                           GMD_TOP_LOGPROBS_MAX);
            p->logprobs = true;
            if (!top_given)
                top = n;
        } else {
            return bad(e, "invalid_type", "logprobs", chat ? "'logprobs' must be true or false"
                       : "'logprobs' must be an integer from 0 to 20");
        }
    }
    if (top_given && top > 0 && !p->logprobs)
        return bad(e, "invalid_value", "top_logprobs",
                   "'top_logprobs' needs 'logprobs' to be true");
    p->top_logprobs = (uint32_t)top;
    if (!p->logprobs)
        return 0;
    p->logprobs_out = calloc(1, sizeof(*p->logprobs_out));
    if (p->logprobs_out == NULL)
        return bad(e, "out_of_memory", "logprobs", "out of memory");
    pthread_mutex_init(&p->logprobs_out->mu, NULL);
    return 0;
}

int gmd_api_parse_request(json_t *o, bool chat, char *model, size_t model_cap,
                          gmd_infer_params *p, bool *stream, bool *include_usage,
                          gmd_api_error *e)
{
    memset(e, 0, sizeof(*e));
    *stream = false;
    *include_usage = false;
    p->chat = chat;
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->top_k = 0;
    p->min_p = 0.0f;

    json_t *m = json_object_get(o, "model");
    if (m == NULL)
        return bad(e, "missing_parameter", "model", "'model' is required");
    if (!json_is_string(m) || json_string_length(m) == 0 ||
        json_string_length(m) >= model_cap)
        return bad(e, "invalid_type", "model", "'model' must be a model name");
    snprintf(model, model_cap, "%s", json_string_value(m));

    if (chat) {
        if (parse_messages(json_object_get(o, "messages"), p, e) < 0)
            return -1;
    } else {
        json_t *pr = json_object_get(o, "prompt");
        if (pr == NULL)
            return bad(e, "missing_parameter", "prompt", "'prompt' is required");
        if (json_is_array(pr) && json_array_size(pr) == 1 &&
            json_is_string(json_array_get(pr, 0)))
            pr = json_array_get(pr, 0);
        if (!json_is_string(pr))
            return bad(e, "invalid_type", "prompt", "'prompt' must be a string");
        p->prompt = dup_n(json_string_value(pr), json_string_length(pr));
        if (p->prompt == NULL)
            return bad(e, "out_of_memory", "prompt", "out of memory");
    }

    long long v = 0;
    bool given = false;
    if (get_int(o, "max_completion_tokens", 1, 1048576, &v, &given, e) < 0)
        return -1;
    if (given)
        p->max_tokens = (uint32_t)v;
    if (get_int(o, "max_tokens", 1, 1048576, &v, &given, e) < 0)
        return -1;
    if (given && p->max_tokens == 0)
        p->max_tokens = (uint32_t)v;
    if (get_number(o, "temperature", 0, 2, &p->temperature, e) < 0 ||
        get_number(o, "top_p", 0, 1, &p->top_p, e) < 0 ||
        get_number(o, "min_p", 0, 1, &p->min_p, e) < 0 ||
        get_number(o, "frequency_penalty", -2, 2, &p->frequency_penalty, e) < 0 ||
        get_number(o, "presence_penalty", -2, 2, &p->presence_penalty, e) < 0)
        return -1;
    if (get_int(o, "top_k", 0, 1000000, &v, &given, e) < 0)
        return -1;
    if (given)
        p->top_k = (int32_t)v;
    if (get_int(o, "seed", -(1LL << 62), 1LL << 62, &v, &given, e) < 0)
        return -1;
    p->seed = given ? (uint64_t)v : (uint64_t)time(NULL) * 2654435761u;
    if (get_int(o, "n", 1, 1, &v, NULL, e) < 0) {
        snprintf(e->message, sizeof(e->message), "'n' must be 1: gemmad returns one choice");
        return -1;
    }
    if (parse_stop(json_object_get(o, "stop"), p, e) < 0)
        return -1;

    json_t *s = json_object_get(o, "stream");
    if (s != NULL && !json_is_null(s)) {
        if (!json_is_boolean(s))
            return bad(e, "invalid_type", "stream", "'stream' must be true or false");
        *stream = json_is_true(s);
    }
    json_t *so = json_object_get(o, "stream_options");
    if (so != NULL && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(e, "invalid_type", "stream_options", "'stream_options' must be an object");
        if (!*stream)
            return bad(e, "invalid_value", "stream_options",
                       "'stream_options' is only allowed when 'stream' is true");
        json_t *iu = json_object_get(so, "include_usage");
        if (iu != NULL && !json_is_boolean(iu))
            return bad(e, "invalid_type", "stream_options.include_usage",
                       "'stream_options.include_usage' must be true or false");
        *include_usage = iu != NULL && json_is_true(iu);
    }
    static const char *const refused[] = {"functions", "function_call", "audio",
                                          "modalities"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *x = json_object_get(o, refused[i]);
        if (x != NULL && !json_is_null(x) && !json_is_false(x))
            return bad(e, "unsupported_parameter", refused[i], "'%s' is not supported by gemmad",
                       refused[i]);
    }
    if (parse_logprobs(o, chat, p, e) < 0)
        return -1;
    json_t *rf = json_object_get(o, "response_format");
    if (parse_tools(o, chat, p, e) < 0)
        return -1;
    const char *rf_type = json_string_value(json_object_get(rf, "type"));
    if (p->grammar && rf && !json_is_null(rf) && !(rf_type && strcmp(rf_type, "text") == 0))
        return bad(e, "invalid_value", "response_format", "'response_format' cannot be "
                   "combined with a required tool call");
    if (p->grammar)
        return 0;
    return parse_response_format(rf, p, e);
}

void gmd_api_params_release(gmd_infer_params *p)
{
    for (size_t i = 0; i < p->n_messages && p->messages; i++) {
        free(p->messages[i].tool_calls_json);
        free(p->messages[i].tool_call_id);
        p->messages[i].tool_calls_json = NULL;
        p->messages[i].tool_call_id = NULL;
    }
    free(p->tools_json);
    p->tools_json = NULL;
    gm_grammar_free(p->grammar);
    p->grammar = NULL;
    if (p->logprobs_out) {
        pthread_mutex_destroy(&p->logprobs_out->mu);
        free(p->logprobs_out->items);
        free(p->logprobs_out);
        p->logprobs_out = NULL;
    }
}
