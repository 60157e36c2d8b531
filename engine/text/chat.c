/*
 * engine/text/chat.c -- rendering a conversation in the Gemma 4 chat format
 * (docs/architecture.md E13), as llama.cpp's Jinja engine renders
 * models/templates/google-gemma-4-31B-it.jinja for text-only messages:
 *
 *   <bos>[<|turn>system\n[<|think|>\n]{first system text, trimmed}<turn|>\n]
 *   <|turn>user\n{text, trimmed}<turn|>\n
 *   <|turn>model\n{text without thinking, trimmed}<turn|>\n
 *   ...
 *   [<|turn>model\n[<|channel>thought\n<channel|>]]   generation prompt
 *
 * The system turn appears when the first message is a system (or
 * developer) message or when thinking is enabled. An assistant message
 * right after another assistant message continues the same model turn (no
 * second "<|turn>model\n"). "trim" is Jinja's, i.e. the C-locale isspace()
 * characters at both ends.
 *
 * gm_chat_tokenize() walks the same template but makes the template's
 * special tokens ids directly and tokenizes the text between them (role
 * names, newlines and message content together) without special-token
 * parsing, so content that spells "<turn|>" stays text.
 */
#include "engine/text/chat.h"

#include <stdlib.h>
#include <string.h>

#include "engine/text/vocab.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Append s[0..n) without its leading and trailing white space. */
static void put_trimmed(sbuf *b, const char *s, size_t n)
{
    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    put(b, s, n);
}

/* The template's strip_thinking(): split at "<channel|>"; of each part
 * keep what comes before "<|channel>" (the whole part when it has none);
 * join and trim. */
static void put_without_thinking(sbuf *b, const char *s)
{
    static const char close[] = "<channel|>", open[] = "<|channel>";
    sbuf tmp = {0};
    puts_(&tmp, ""); /* so tmp.p is never NULL */
    for (const char *part = s;;) {
        const char *end = strstr(part, close);
        size_t len = end ? (size_t)(end - part) : strlen(part);
        const char *o = memmem(part, len, open, sizeof(open) - 1);
        put(&tmp, part, o ? (size_t)(o - part) : len);
        if (!end)
            break;
        part = end + sizeof(close) - 1;
    }
    if (tmp.oom)
        b->oom = true;
    else
        put_trimmed(b, tmp.p, tmp.n);
    free(tmp.p);
}

static const char *role_name(gm_chat_role r)
{
    switch (r) {
    case GM_ROLE_SYSTEM: return "system";
    case GM_ROLE_USER: return "user";
    case GM_ROLE_ASSISTANT: return "model";
    }
    return NULL;
}

/* Where the conversation goes: rendered as text (vocab NULL), or as token
 * ids, with the template's special tokens as ids and everything between
 * them -- scaffolding text and message content -- tokenized as one plain
 * fragment without special-token parsing. */
typedef struct chat_out {
    sbuf text;              /* render: the prompt; tokenize: the plain text since the last special */
    const gm_vocab *v;      /* NULL: render */
    int32_t *ids;
    size_t n_ids, cap_ids;
    bool failed;            /* err is set */
    cm_err *err;
} chat_out;

static void push_id(chat_out *o, int32_t id)
{
    if (o->failed)
        return;
    if (o->n_ids == o->cap_ids) {
        size_t cap = o->cap_ids ? o->cap_ids * 2 : 256;
        int32_t *p = realloc(o->ids, cap * sizeof(*p));
        if (!p) {
            o->failed = true;
            cm_err_set(o->err, "chat: out of memory tokenizing");
            return;
        }
        o->ids = p;
        o->cap_ids = cap;
    }
    o->ids[o->n_ids++] = id;
}

/* Tokenize the plain text gathered so far as text only: no special token
 * at all is matched in it, so message content cannot forge template
 * markers (gm_tokenize_plain). */
static void flush_text(chat_out *o)
{
    if (o->v == NULL || o->failed || o->text.n == 0)
        return;
    if (o->text.oom) {
        o->failed = true;
        cm_err_set(o->err, "chat: out of memory tokenizing");
        return;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (gm_tokenize_plain(o->v, o->text.p, o->text.n, &ids, &n, o->err) < 0) {
        o->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        push_id(o, ids[i]);
    free(ids);
    o->text.n = 0;
}

/* A special token of the template. Tokenizing, it becomes its id when the
 * vocabulary has it as a token that the special-token split would find
 * (CONTROL, USER_DEFINED or UNKNOWN); otherwise it is plain text, as the
 * rendered text tokenized with parse_special = true would have it. */
static void special(chat_out *o, const char *tok)
{
    if (o->v != NULL) {
        int32_t id = gm_vocab_find(o->v, tok);
        uint32_t attr = id >= 0 ? gm_vocab_token_attr(o->v, id) : 0;
        if (attr & (GM_TOKEN_ATTR_CONTROL | GM_TOKEN_ATTR_USER_DEFINED | GM_TOKEN_ATTR_UNKNOWN)) {
            flush_text(o);
            push_id(o, id);
            return;
        }
    }
    puts_(&o->text, tok);
}

static void build(const gm_chat_message *msgs, size_t n, const gm_chat_opts *opts,
                  chat_out *o)
{
    sbuf *b = &o->text;
    special(o, "<bos>");
    size_t start = 0;
    bool first_is_system = n > 0 && msgs[0].role == GM_ROLE_SYSTEM;
    if (opts->enable_thinking || first_is_system) {
        special(o, "<|turn>");
        puts_(b, "system\n");
        if (opts->enable_thinking) {
            special(o, "<|think|>");
            puts_(b, "\n");
        }
        if (first_is_system) {
            const char *c = msgs[0].content ? msgs[0].content : "";
            put_trimmed(b, c, strlen(c));
            start = 1;
        }
        special(o, "<turn|>");
        puts_(b, "\n");
    }
    for (size_t i = start; i < n; i++) {
        const gm_chat_message *m = &msgs[i];
        const char *c = m->content ? m->content : "";
        bool continues = m->role == GM_ROLE_ASSISTANT && i > start &&
                         msgs[i - 1].role == GM_ROLE_ASSISTANT;
        if (!continues) {
            special(o, "<|turn>");
            puts_(b, role_name(m->role));
            puts_(b, "\n");
        }
        if (m->role == GM_ROLE_ASSISTANT)
            put_without_thinking(b, c);
        else
            put_trimmed(b, c, strlen(c));
        special(o, "<turn|>");
        puts_(b, "\n");
    }
    if (opts->add_generation_prompt) {
        special(o, "<|turn>");
        puts_(b, "model\n");
        if (!opts->enable_thinking) {
            special(o, "<|channel>");
            puts_(b, "thought\n");
            special(o, "<channel|>");
        }
    }
    flush_text(o);
}

static int check_roles(const gm_chat_message *msgs, size_t n, cm_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!role_name(msgs[i].role))
            return cm_err_set(err, "chat message %zu: unknown role %d", i, (int)msgs[i].role);
    return 0;
}

int gm_chat_render(const gm_chat_message *msgs, size_t n, const gm_chat_opts *opts,
                   char **out, cm_err *err)
{
    *out = NULL;
    gm_chat_opts defaults = {.add_generation_prompt = true, .enable_thinking = false};
    if (!opts)
        opts = &defaults;
    if (check_roles(msgs, n, err) < 0)
        return -1;
    chat_out o = {.err = err};
    build(msgs, n, opts, &o);
    if (o.text.oom) {
        free(o.text.p);
        return cm_err_set(err, "chat: out of memory rendering %zu messages", n);
    }
    *out = o.text.p;
    return 0;
}

int gm_chat_tokenize(const gm_vocab *v, const gm_chat_message *msgs, size_t n,
                     const gm_chat_opts *opts, int32_t **ids, size_t *n_ids, cm_err *err)
{
    *ids = NULL;
    *n_ids = 0;
    gm_chat_opts defaults = {.add_generation_prompt = true, .enable_thinking = false};
    if (!opts)
        opts = &defaults;
    if (check_roles(msgs, n, err) < 0)
        return -1;
    chat_out o = {.v = v, .err = err};
    build(msgs, n, opts, &o);
    if (!o.failed && o.text.oom) {
        o.failed = true;
        cm_err_set(err, "chat: out of memory tokenizing %zu messages", n);
    }
    free(o.text.p);
    if (o.failed) {
        free(o.ids);
        return -1;
    }
    *ids = o.ids;
    *n_ids = o.n_ids;
    return 0;
}

int gm_chat_role_from_name(const char *name, gm_chat_role *out)
{
    if (!name)
        return -1;
    if (!strcmp(name, "system") || !strcmp(name, "developer"))
        *out = GM_ROLE_SYSTEM;
    else if (!strcmp(name, "user"))
        *out = GM_ROLE_USER;
    else if (!strcmp(name, "assistant") || !strcmp(name, "model"))
        *out = GM_ROLE_ASSISTANT;
    else
        return -1;
    return 0;
}
