/*
 * engine/text/chat.c -- rendering a conversation in the Gemma 4 chat format
 * (../shared/gemma4.md s13), as llama.cpp's Jinja engine renders
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
 */
#include "engine/text/chat.h"

#include <stdlib.h>
#include <string.h>

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

int gm_chat_render(const gm_chat_message *msgs, size_t n, const gm_chat_opts *opts,
                   char **out, cm_err *err)
{
    *out = NULL;
    gm_chat_opts defaults = {.add_generation_prompt = true, .enable_thinking = false};
    if (!opts)
        opts = &defaults;
    for (size_t i = 0; i < n; i++)
        if (!role_name(msgs[i].role))
            return cm_err_set(err, "chat message %zu: unknown role %d", i, (int)msgs[i].role);
    sbuf b = {0};
    puts_(&b, "<bos>");
    size_t start = 0;
    bool first_is_system = n > 0 && msgs[0].role == GM_ROLE_SYSTEM;
    if (opts->enable_thinking || first_is_system) {
        puts_(&b, "<|turn>system\n");
        if (opts->enable_thinking)
            puts_(&b, "<|think|>\n");
        if (first_is_system) {
            const char *c = msgs[0].content ? msgs[0].content : "";
            put_trimmed(&b, c, strlen(c));
            start = 1;
        }
        puts_(&b, "<turn|>\n");
    }
    for (size_t i = start; i < n; i++) {
        const gm_chat_message *m = &msgs[i];
        const char *c = m->content ? m->content : "";
        bool continues = m->role == GM_ROLE_ASSISTANT && i > start &&
                         msgs[i - 1].role == GM_ROLE_ASSISTANT;
        if (!continues) {
            puts_(&b, "<|turn>");
            puts_(&b, role_name(m->role));
            puts_(&b, "\n");
        }
        if (m->role == GM_ROLE_ASSISTANT)
            put_without_thinking(&b, c);
        else
            put_trimmed(&b, c, strlen(c));
        puts_(&b, "<turn|>\n");
    }
    if (opts->add_generation_prompt) {
        puts_(&b, "<|turn>model\n");
        if (!opts->enable_thinking)
            puts_(&b, "<|channel>thought\n<channel|>");
    }
    if (b.oom) {
        free(b.p);
        return cm_err_set(err, "chat: out of memory rendering %zu messages", n);
    }
    *out = b.p;
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
