/*
 * engine/grammar/tool_format.c -- Gemma 4's tool format (tool_format.h):
 * a port of the chat template's macros (format_parameters,
 * format_function_declaration, format_argument, the tool-call and
 * tool-response blocks) onto a builder that keeps special tokens apart
 * from text, and a parser of the calls the model writes.
 */
#include "engine/grammar/tool_format.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define Q "<|\"|>"

/* ---- the builder: text runs and special tokens, in order ---- */

typedef struct piece {
    bool special;
    size_t off, len;      /* into text */
} piece;

typedef struct builder {
    char *text;
    size_t len, cap;
    piece *pieces;
    size_t n, cap_p;
    bool failed;
} builder;

static void add(builder *b, bool special, const char *s, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *t = realloc(b->text, nc);
        if (!t) {
            b->failed = true;
            return;
        }
        b->text = t;
        b->cap = nc;
    }
    /* text after text extends the same run */
    if (!special && b->n > 0 && !b->pieces[b->n - 1].special) {
        memcpy(b->text + b->len, s, n);
        b->len += n;
        b->pieces[b->n - 1].len += n;
        return;
    }
    if (b->n == b->cap_p) {
        size_t nc = b->cap_p ? b->cap_p * 2 : 64;
        piece *p = realloc(b->pieces, nc * sizeof(*p));
        if (!p) {
            b->failed = true;
            return;
        }
        b->pieces = p;
        b->cap_p = nc;
    }
    memcpy(b->text + b->len, s, n);
    b->pieces[b->n++] = (piece){special, b->len, n};
    b->len += n;
}

static void text(builder *b, const char *s)
{
    add(b, false, s, strlen(s));
}

static void special(builder *b, const char *s)
{
    add(b, true, s, strlen(s));
}

static void textn(builder *b, const char *s, size_t n)
{
    add(b, false, s, n);
}

static void quoted(builder *b, const char *s, size_t n)
{
    special(b, Q);
    textn(b, s, n);
    special(b, Q);
}

/* ---- format_argument ---- */

static void format_argument(builder *b, json_t *v, bool escape_keys)
{
    if (json_is_string(v)) {
        quoted(b, json_string_value(v), json_string_length(v));
    } else if (json_is_boolean(v)) {
        text(b, json_is_true(v) ? "true" : "false");
    } else if (json_is_object(v)) {
        /* keys in sorted order (dictsort) */
        size_t n = json_object_size(v), k = 0;
        const char **keys = malloc((n ? n : 1) * sizeof(*keys));
        if (!keys) {
            b->failed = true;
            return;
        }
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) keys[k++] = key;
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *t = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = t;
            }
        text(b, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                text(b, ",");
            if (escape_keys)
                quoted(b, keys[i], strlen(keys[i]));
            else
                text(b, keys[i]);
            text(b, ":");
            format_argument(b, json_object_get(v, keys[i]), escape_keys);
        }
        text(b, "}");
        free(keys);
    } else if (json_is_array(v)) {
        text(b, "[");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i)
                text(b, ",");
            format_argument(b, x, escape_keys);
        }
        text(b, "]");
    } else if (json_is_null(v)) {
        text(b, "None"); /* as jinja prints Python's None */
    } else if (json_is_real(v)) {
        /* as Python prints a float: the shortest text that reads back */
        double d = json_real_value(v);
        char num[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof(num), "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0");
        text(b, num);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            text(b, s);
        else
            b->failed = true;
        free(s);
    }
}

/* ---- declarations ---- */

static void upper(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[i] = '\0';
}

static void comma(builder *b, bool *add_comma)
{
    if (*add_comma)
        text(b, ",");
    *add_comma = true;
}

/* Sorted keys of an object (caller frees the array). */
static const char **sorted_keys(json_t *o, size_t *n_out)
{
    size_t n = json_object_size(o), k = 0;
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!keys)
        return NULL;
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) keys[k++] = key;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    *n_out = n;
    return keys;
}

static void required_list(builder *b, json_t *req)
{
    text(b, "required:[");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (i)
            text(b, ",");
        if (json_is_string(r))
            quoted(b, json_string_value(r), json_string_length(r));
    }
    text(b, "]");
}

static void format_parameters(builder *b, json_t *props, int depth);

static void format_items(builder *b, json_t *items, int depth)
{
    size_t n;
    const char **keys = sorted_keys(items, &n);
    if (!keys) {
        b->failed = true;
        return;
    }
    bool first = true;
    text(b, "items:{");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(items, keys[i]);
        if (json_is_null(v))
            continue;
        if (!first)
            text(b, ",");
        first = false;
        if (strcmp(keys[i], "properties") == 0) {
            text(b, "properties:{");
            if (json_is_object(v))
                format_parameters(b, v, depth + 1);
            text(b, "}");
        } else if (strcmp(keys[i], "required") == 0) {
            required_list(b, v);
        } else if (strcmp(keys[i], "type") == 0 && json_is_string(v)) {
            char up[64];
            upper(json_string_value(v), up, sizeof(up));
            text(b, "type:");
            quoted(b, up, strlen(up));
        } else {
            text(b, keys[i]);
            text(b, ":");
            format_argument(b, v, true);
        }
    }
    text(b, "}");
    free(keys);
}

static void format_parameters(builder *b, json_t *props, int depth)
{
    static const char *const standard[] = {"description", "type", "properties", "required",
                                           "nullable"};
    if (depth > 32) {
        b->failed = true;
        return;
    }
    size_t n;
    const char **keys = sorted_keys(props, &n);
    if (!keys) {
        b->failed = true;
        return;
    }
    bool found_first = false;
    for (size_t i = 0; i < n; i++) {
        bool std_key = false;
        for (size_t s = 0; s < sizeof(standard) / sizeof(standard[0]); s++)
            std_key |= strcmp(keys[i], standard[s]) == 0;
        if (std_key)
            continue;
        json_t *value = json_object_get(props, keys[i]);
        if (found_first)
            text(b, ",");
        found_first = true;
        text(b, keys[i]);
        text(b, ":{");
        bool add_comma = false;
        json_t *desc = json_object_get(value, "description");
        if (json_is_string(desc) && json_string_length(desc) > 0) {
            text(b, "description:");
            quoted(b, json_string_value(desc), json_string_length(desc));
            add_comma = true;
        }
        char type[64];
        upper(json_string_value(json_object_get(value, "type")), type, sizeof(type));
        json_t *en = json_object_get(value, "enum");
        json_t *items = json_object_get(value, "items");
        if (strcmp(type, "STRING") == 0) {
            if (json_is_array(en) && json_array_size(en) > 0) {
                comma(b, &add_comma);
                text(b, "enum:");
                format_argument(b, en, true);
            }
        } else if (strcmp(type, "ARRAY") == 0) {
            if (json_is_object(items) && json_object_size(items) > 0) {
                comma(b, &add_comma);
                format_items(b, items, depth);
            }
        }
        if (json_is_true(json_object_get(value, "nullable"))) {
            comma(b, &add_comma);
            text(b, "nullable:true");
        }
        if (strcmp(type, "OBJECT") == 0) {
            json_t *sub = json_object_get(value, "properties");
            comma(b, &add_comma);
            text(b, "properties:{");
            format_parameters(b, json_is_object(sub) ? sub : value, depth + 1);
            text(b, "}");
            json_t *req = json_object_get(value, "required");
            if (json_is_array(req) && json_array_size(req) > 0) {
                comma(b, &add_comma);
                required_list(b, req);
            }
        }
        comma(b, &add_comma);
        text(b, "type:");
        quoted(b, type, strlen(type));
        text(b, "}");
    }
    free(keys);
}

static void format_declaration(builder *b, json_t *fn)
{
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *desc = json_string_value(json_object_get(fn, "description"));
    text(b, "declaration:");
    text(b, name ? name : "");
    text(b, "{description:");
    quoted(b, desc ? desc : "", desc ? strlen(desc) : 0);
    json_t *params = json_object_get(fn, "parameters");
    if (json_is_object(params) && json_object_size(params) > 0) {
        text(b, ",parameters:{");
        json_t *props = json_object_get(params, "properties");
        if (json_is_object(props) && json_object_size(props) > 0) {
            text(b, "properties:{");
            format_parameters(b, props, 0);
            text(b, "},");
        }
        json_t *req = json_object_get(params, "required");
        if (json_is_array(req) && json_array_size(req) > 0) {
            required_list(b, req);
            text(b, ",");
        }
        const char *type = json_string_value(json_object_get(params, "type"));
        if (type) {
            char up[64];
            upper(type, up, sizeof(up));
            text(b, "type:");
            quoted(b, up, strlen(up));
            text(b, "}");
        }
    }
    text(b, "}");
}

/* ---- the conversation ---- */

static const char *trim(const char *s, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

static bool is_role(const gm_tool_message *m, const char *r)
{
    return m->role && strcmp(m->role, r) == 0;
}

/* The name of the call a tool message answers. */
static const char *answered_name(json_t *calls, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        const char *cid = json_string_value(json_object_get(c, "id"));
        if (id && cid && strcmp(id, cid) == 0)
            return json_string_value(json_object_get(json_object_get(c, "function"), "name"));
    }
    return NULL;
}

static int build(builder *b, const gm_tool_message *msgs, size_t n, const char *tools_json,
                 cm_err *err)
{
    json_t *tools = NULL;
    if (tools_json) {
        json_error_t je;
        tools = json_loads(tools_json, 0, &je);
        if (!json_is_array(tools)) {
            json_decref(tools);
            return cm_err_set(err, "tools: not a JSON array");
        }
    }
    enum { PREV_NONE, PREV_TOOL_CALL, PREV_TOOL_RESPONSE } prev = PREV_NONE;
    special(b, "<bos>");
    size_t first = 0;
    bool sys = n > 0 && (is_role(&msgs[0], "system") || is_role(&msgs[0], "developer"));
    if (sys || (tools && json_array_size(tools) > 0)) {
        special(b, "<|turn>");
        text(b, "system\n");
        if (sys) {
            size_t len;
            const char *t = trim(msgs[0].content, &len);
            textn(b, t, len);
            first = 1;
        }
        size_t i;
        json_t *tool;
        json_array_foreach(tools, i, tool) {
            special(b, "<|tool>");
            format_declaration(b, json_object_get(tool, "function"));
            special(b, "<tool|>");
        }
        special(b, "<turn|>");
        text(b, "\n");
    }
    const char *prev_role = NULL;
    for (size_t i = first; i < n; i++) {
        const gm_tool_message *m = &msgs[i];
        if (is_role(m, "tool"))
            continue;
        prev = PREV_NONE;
        bool model = is_role(m, "assistant");
        if (!(model && prev_role && strcmp(prev_role, "assistant") == 0)) {
            special(b, "<|turn>");
            text(b, model ? "model" : m->role);
            text(b, "\n");
        }
        prev_role = m->role;
        json_t *calls = NULL;
        if (model && m->tool_calls_json) {
            json_error_t je;
            calls = json_loads(m->tool_calls_json, 0, &je);
        }
        size_t k;
        json_t *call;
        json_array_foreach(calls, k, call) {
            json_t *fn = json_object_get(call, "function");
            const char *name = json_string_value(json_object_get(fn, "name"));
            special(b, "<|tool_call>");
            text(b, "call:");
            text(b, name ? name : "");
            json_t *args = json_object_get(fn, "arguments");
            json_t *parsed = NULL;
            if (json_is_string(args)) {
                json_error_t je;
                parsed = json_loads(json_string_value(args), 0, &je);
            }
            json_t *obj = json_is_object(parsed) ? parsed : json_is_object(args) ? args : NULL;
            if (obj) {
                format_argument(b, obj, false);
            } else {
                text(b, "{");
                if (json_is_string(args))
                    text(b, json_string_value(args));
                text(b, "}");
            }
            json_decref(parsed);
            special(b, "<tool_call|>");
            prev = PREV_TOOL_CALL;
        }
        bool responses = false;
        if (calls && json_array_size(calls) > 0) {
            for (size_t j = i + 1; j < n && is_role(&msgs[j], "tool"); j++) {
                const char *name = answered_name(calls, msgs[j].tool_call_id);
                special(b, "<|tool_response>");
                text(b, "response:");
                text(b, name ? name : "unknown");
                text(b, "{value:");
                const char *c = msgs[j].content ? msgs[j].content : "";
                quoted(b, c, strlen(c));
                text(b, "}");
                special(b, "<tool_response|>");
                responses = true;
                prev = PREV_TOOL_RESPONSE;
            }
        }
        json_decref(calls);
        size_t clen = 0;
        const char *content = trim(m->content, &clen);
        textn(b, content, clen);
        if (prev == PREV_TOOL_CALL && !responses)
            special(b, "<|tool_response>");
        else if (!(responses && clen == 0)) {
            special(b, "<turn|>");
            text(b, "\n");
        }
    }
    if (prev != PREV_TOOL_RESPONSE && prev != PREV_TOOL_CALL) {
        special(b, "<|turn>");
        text(b, "model\n");
        special(b, "<|channel>");
        text(b, "thought\n");
        special(b, "<channel|>");
    }
    json_decref(tools);
    if (b->failed)
        return cm_err_set(err, "chat with tools: out of memory");
    return 0;
}

static void builder_free(builder *b)
{
    free(b->text);
    free(b->pieces);
}

int gm_tool_chat_render(const gm_tool_message *msgs, size_t n, const char *tools_json,
                        char **out, cm_err *err)
{
    builder b = {0};
    *out = NULL;
    if (build(&b, msgs, n, tools_json, err) < 0) {
        builder_free(&b);
        return -1;
    }
    if (!b.text) {
        builder_free(&b);
        return cm_err_set(err, "chat with tools: empty");
    }
    b.text[b.len] = '\0';
    *out = b.text;
    free(b.pieces);
    return 0;
}

int gm_tool_chat_tokenize(const gm_vocab *v, const gm_tool_message *msgs, size_t n,
                          const char *tools_json, int32_t **ids, size_t *n_ids, cm_err *err)
{
    builder b = {0};
    *ids = NULL;
    *n_ids = 0;
    if (build(&b, msgs, n, tools_json, err) < 0) {
        builder_free(&b);
        return -1;
    }
    size_t cap = 256, k = 0;
    int32_t *out = malloc(cap * sizeof(*out));
    int rc = 0;
    for (size_t i = 0; i < b.n && out; i++) {
        const piece *p = &b.pieces[i];
        int32_t *part = NULL;
        size_t n_part = 0;
        int32_t one;
        if (p->special) {
            char name[32];
            snprintf(name, sizeof(name), "%.*s", (int)p->len, b.text + p->off);
            one = gm_vocab_find(v, name);
            if (one < 0) {
                rc = cm_err_set(err, "chat with tools: the vocabulary has no %s token", name);
                break;
            }
            part = &one;
            n_part = 1;
        } else if (gm_tokenize_plain(v, b.text + p->off, p->len, &part, &n_part, err) < 0) {
            rc = -1;
            break;
        }
        if (k + n_part > cap) {
            while (k + n_part > cap)
                cap *= 2;
            int32_t *t = realloc(out, cap * sizeof(*out));
            if (!t) {
                free(out);
                out = NULL;
            } else {
                out = t;
            }
        }
        if (out) {
            memcpy(out + k, part, n_part * sizeof(*out));
            k += n_part;
        }
        if (!p->special)
            free(part);
    }
    builder_free(&b);
    if (!out)
        return cm_err_set(err, "chat with tools: out of memory");
    if (rc < 0) {
        free(out);
        return -1;
    }
    *ids = out;
    *n_ids = k;
    return 0;
}

/* ---- parsing calls ---- */

typedef struct reader {
    const char *p, *end;
} reader;

static bool starts(const reader *r, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0;
}

/* Takes the byte c if it comes next. */
static bool take(reader *r, char c)
{
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

/* A key and its ':' (quoted <|"|>key<|"|>, or bare up to ':'): its span in
 * *k, *kl; false where it does not end, is empty or is 256 bytes or more. */
static bool read_key(reader *r, const char **k, size_t *kl)
{
    if (starts(r, Q)) {
        r->p += strlen(Q);
        *k = r->p;
        while (r->p < r->end && !starts(r, Q))
            r->p++;
        if (r->p >= r->end)
            return false;
        *kl = (size_t)(r->p - *k);
        r->p += strlen(Q);
    } else {
        *k = r->p;
        while (r->p < r->end && *r->p != ':' && (size_t)(r->p - *k) < 255)
            r->p++;
        *kl = (size_t)(r->p - *k);
    }
    if (r->p >= r->end || *r->p != ':' || *kl == 0 || *kl >= 256)
        return false;
    r->p++;
    return true;
}

/* A bare word (number, true, false, null, None) up to ',', '}' or ']',
 * copied into word[cap]; its length, 0 where empty or too long. */
static size_t read_word(reader *r, char *word, size_t cap)
{
    const char *s = r->p;
    while (r->p < r->end && !strchr(",}]", *r->p))
        r->p++;
    size_t n = (size_t)(r->p - s);
    if (n == 0 || n >= cap)
        return 0;
    memcpy(word, s, n);
    word[n] = '\0';
    return n;
}

/* A call's name after "<|tool_call>call:": letters, digits, _ - . up to '{';
 * its length (r->p left after it). */
static size_t read_call_name(reader *r)
{
    const char *name = r->p;
    while (r->p < r->end && *r->p != '{' && (isalnum((unsigned char)*r->p) || *r->p == '_' ||
                                            *r->p == '-' || *r->p == '.'))
        r->p++;
    return (size_t)(r->p - name);
}

static json_t *read_value(reader *r, int depth);

static json_t *read_string(reader *r)
{
    r->p += strlen(Q);
    const char *s = r->p;
    while (r->p < r->end && !starts(r, Q))
        r->p++;
    if (r->p >= r->end)
        return NULL;
    json_t *v = json_stringn(s, (size_t)(r->p - s));
    r->p += strlen(Q);
    return v;
}

static json_t *read_object(reader *r, int depth)
{
    r->p++; /* { */
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (take(r, '}'))
        return o;
    while (r->p < r->end) {
        const char *k;
        size_t kl;
        char key[256];
        if (!read_key(r, &k, &kl))
            break;
        /* jansson refuses a key that is not UTF-8; a NUL ends it */
        snprintf(key, sizeof(key), "%.*s", (int)kl, k);
        if (key[0] == '\0')
            break;
        json_t *v = read_value(r, depth + 1);
        if (!v || json_object_set_new(o, key, v) < 0)
            break;
        if (take(r, ','))
            continue;
        if (take(r, '}'))
            return o;
        break;
    }
    json_decref(o);
    return NULL;
}

static json_t *read_array(reader *r, int depth)
{
    r->p++; /* [ */
    json_t *a = json_array();
    if (!a)
        return NULL;
    if (take(r, ']'))
        return a;
    while (r->p < r->end) {
        json_t *v = read_value(r, depth + 1);
        if (!v || json_array_append_new(a, v) < 0)
            break;
        if (take(r, ','))
            continue;
        if (take(r, ']'))
            return a;
        break;
    }
    json_decref(a);
    return NULL;
}

static json_t *read_value(reader *r, int depth)
{
    if (depth > 64 || r->p >= r->end)
        return NULL;
    if (starts(r, Q))
        return read_string(r);
    if (*r->p == '{')
        return read_object(r, depth);
    if (*r->p == '[')
        return read_array(r, depth);
    char word[64];
    if (read_word(r, word, sizeof(word)) == 0)
        return NULL;
    if (strcmp(word, "true") == 0)
        return json_true();
    if (strcmp(word, "false") == 0)
        return json_false();
    if (strcmp(word, "null") == 0 || strcmp(word, "None") == 0)
        return json_null();
    json_error_t je;
    json_t *num = json_loads(word, JSON_DECODE_ANY, &je);
    if (num && json_is_number(num))
        return num;
    json_decref(num);
    return NULL;
}

void gm_tool_calls_free(gm_tool_call *calls, size_t n)
{
    for (size_t i = 0; calls && i < n; i++) {
        free(calls[i].name);
        free(calls[i].arguments);
    }
    free(calls);
}

int gm_tool_calls_parse(const char *text, size_t len, gm_tool_call **calls_out,
                        char **content_out, cm_err *err)
{
    static const char open[] = "<|tool_call>call:", close[] = "<tool_call|>";
    *calls_out = NULL;
    *content_out = NULL;
    gm_tool_call *calls = NULL;
    size_t n = 0;
    char *content = malloc(len + 1);
    if (!content)
        return cm_err_set(err, "tool calls: out of memory");
    size_t clen = 0;
    reader r = {text, text + len};
    while (r.p < r.end) {
        if (!starts(&r, open)) {
            content[clen++] = *r.p++;
            continue;
        }
        reader save = r;
        r.p += strlen(open);
        const char *name = r.p;
        size_t name_len = read_call_name(&r);
        json_t *args = NULL;
        if (name_len > 0 && name_len <= 64 && r.p < r.end && *r.p == '{')
            args = read_object(&r, 0);
        if (!args || !starts(&r, close)) {
            json_decref(args);
            r = save;
            content[clen++] = *r.p++;
            continue;
        }
        r.p += strlen(close);
        gm_tool_call *c = realloc(calls, (n + 1) * sizeof(*c));
        char *a = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        char *nm = malloc(name_len + 1);
        if (!c || !a || !nm) {
            free(a);
            free(nm);
            gm_tool_calls_free(c ? c : calls, n);
            free(content);
            return cm_err_set(err, "tool calls: out of memory");
        }
        memcpy(nm, name, name_len);
        nm[name_len] = '\0';
        calls = c;
        calls[n].name = nm;
        calls[n].arguments = a;
        n++;
    }
    content[clen] = '\0';
    size_t tl;
    const char *t = trim(content, &tl);
    memmove(content, t, tl);
    content[tl] = '\0';
    *calls_out = calls;
    *content_out = content;
    return (int)n;
}

/* ---- a call's arguments while they are written (streaming) ----
 *
 * The arguments of an unfinished call, converted to JSON as far as the
 * text settles them: bare keys once their ':' has come, string contents
 * as they come (but not a trailing piece that may begin <|"|>, nor half a
 * UTF-8 character), numbers and words once a ',', '}' or ']' ends them.
 * Every piece is jansson's text for it, as gm_tool_calls_parse() writes
 * the whole object, so what is settled is a prefix of its arguments. */

typedef struct jtext {
    char *p;
    size_t n, cap;
    bool failed;
} jtext;

static void jt_add(jtext *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* jansson's JSON text of a string (quoted, or its inside only). */
static bool jt_string(jtext *b, const char *s, size_t n, bool quotes)
{
    json_t *v = json_stringn(s, n);
    char *t = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(v);
    if (!t)
        return false;
    size_t tl = strlen(t);
    if (quotes)
        jt_add(b, t, tl);
    else
        jt_add(b, t + 1, tl - 2);
    free(t);
    return true;
}

static bool stream_value(reader *r, jtext *out, int depth);

/* A string value: settled contents, then the closing quote once it came.
 * false: the text ends inside it. */
static bool stream_string(reader *r, jtext *out)
{
    r->p += strlen(Q);
    const char *s = r->p;
    while (r->p < r->end && !starts(r, Q))
        r->p++;
    if (r->p < r->end) {
        bool ok = jt_string(out, s, (size_t)(r->p - s), true);
        r->p += strlen(Q);
        return ok;
    }
    /* unfinished: hold a tail that may start <|"|>, and half a character */
    size_t n = (size_t)(r->end - s);
    for (size_t k = strlen(Q) - 1; k > 0; k--)
        if (n >= k && memcmp(s + n - k, Q, k) == 0) {
            n -= k;
            break;
        }
    size_t lead = n;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead > 0) {
        unsigned char c = (unsigned char)s[lead - 1];
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (n - (lead - 1) < want)
            n = lead - 1;
    }
    jt_add(out, "\"", 1);
    if (n > 0)
        jt_string(out, s, n, false);
    return false;
}

static bool stream_word(reader *r, jtext *out)
{
    char word[64];
    size_t n = read_word(r, word, sizeof(word));
    if (r->p >= r->end)
        return false; /* a number may go on */
    if (n == 0)
        return false;
    if (strcmp(word, "true") == 0 || strcmp(word, "false") == 0 || strcmp(word, "null") == 0) {
        jt_add(out, word, n);
        return true;
    }
    if (strcmp(word, "None") == 0) {
        jt_add(out, "null", 4);
        return true;
    }
    json_error_t je;
    json_t *num = json_loads(word, JSON_DECODE_ANY, &je);
    char *t = num && json_is_number(num) ? json_dumps(num, JSON_ENCODE_ANY | JSON_COMPACT)
                                         : NULL;
    json_decref(num);
    if (!t)
        return false;
    jt_add(out, t, strlen(t));
    free(t);
    return true;
}

static bool stream_object(reader *r, jtext *out, int depth)
{
    r->p++; /* { */
    jt_add(out, "{", 1);
    if (take(r, '}')) {
        jt_add(out, "}", 1);
        return true;
    }
    while (r->p < r->end) {
        const char *k;
        size_t kl;
        if (!read_key(r, &k, &kl) || !jt_string(out, k, kl, true))
            return false;
        jt_add(out, ":", 1);
        if (!stream_value(r, out, depth + 1) || r->p >= r->end)
            return false;
        if (take(r, ',')) {
            jt_add(out, ",", 1);
            continue;
        }
        if (take(r, '}')) {
            jt_add(out, "}", 1);
            return true;
        }
        return false;
    }
    return false;
}

static bool stream_array(reader *r, jtext *out, int depth)
{
    r->p++; /* [ */
    jt_add(out, "[", 1);
    if (take(r, ']')) {
        jt_add(out, "]", 1);
        return true;
    }
    while (r->p < r->end) {
        if (!stream_value(r, out, depth + 1) || r->p >= r->end)
            return false;
        if (take(r, ',')) {
            jt_add(out, ",", 1);
            continue;
        }
        if (take(r, ']')) {
            jt_add(out, "]", 1);
            return true;
        }
        return false;
    }
    return false;
}

static bool stream_value(reader *r, jtext *out, int depth)
{
    if (depth > 64 || r->p >= r->end)
        return false;
    size_t rest = (size_t)(r->end - r->p);
    if (rest < strlen(Q) && memcmp(r->p, Q, rest) == 0)
        return false; /* may begin a string */
    if (starts(r, Q))
        return stream_string(r, out);
    if (*r->p == '{')
        return stream_object(r, out, depth);
    if (*r->p == '[')
        return stream_array(r, out, depth);
    return stream_word(r, out);
}

int gm_tool_call_stream(const char *text, size_t len, char **name, char **args, cm_err *err)
{
    static const char open[] = "<|tool_call>call:";
    *name = NULL;
    *args = NULL;
    const char *at = len >= strlen(open) ? memmem(text, len, open, strlen(open)) : NULL;
    if (!at)
        return 0;
    reader r = {at + strlen(open), text + len};
    const char *nm = r.p;
    size_t nl = read_call_name(&r);
    if (r.p >= r.end || *r.p != '{' || nl == 0 || nl > 64)
        return 0;
    jtext out = {0};
    stream_object(&r, &out, 0);
    *name = malloc(nl + 1);
    if (!*name || out.failed || !out.p) {
        free(*name);
        *name = NULL;
        free(out.p);
        return cm_err_set(err, "tool call arguments: out of memory");
    }
    memcpy(*name, nm, nl);
    (*name)[nl] = '\0';
    *args = out.p;
    return 0;
}
