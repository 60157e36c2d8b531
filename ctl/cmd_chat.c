/*
 * ctl/cmd_chat.c -- 'gemmactl chat' and 'gemmactl generate': text from a
 * model, streamed as gemmad produces it (server-sent events from
 * /v1/chat/completions and /v1/completions). chat keeps the conversation
 * in a REPL (one user turn per input line, /exit to leave) or answers one
 * prompt (-p); generate completes one prompt.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/client.h"
#include "ctl/ctl.h"

typedef struct gen_opts {
    ctl_settings flags;
    const char *model;
    const char *prompt;
    const char *system;
    long max_tokens;     /* 0 = the model's default */
    double temperature;  /* NAN = the daemon's default */
    long long seed;
    bool has_seed;
} gen_opts;

static void usage(FILE *out, bool chat)
{
    if (chat)
        fprintf(out,
                "usage: gemmactl chat [-p TEXT] [--model NAME] [--system TEXT] [--max-tokens N]\n"
                "                     [--temperature T] [--seed N] [CONNECTION FLAGS]\n\n"
                "Chat with a model. Without -p: a conversation, one turn per line read from\n"
                "the terminal or a pipe; the answer streams as it is written. /exit (or end\n"
                "of input) leaves, /reset starts over. With -p TEXT: answer TEXT and exit.\n\n");
    else
        fprintf(out,
                "usage: gemmactl generate -p TEXT [--model NAME] [--max-tokens N]\n"
                "                         [--temperature T] [--seed N] [CONNECTION FLAGS]\n\n"
                "Complete TEXT (a plain prompt, no chat template), streaming the text as it\n"
                "is written. '-p -' reads the prompt from standard input.\n\n");
    fprintf(out, "  -p, --prompt TEXT  the prompt\n"
                 "  --model NAME       the model (default: GEMMACTL_MODEL, 'model:' in the\n"
                 "                     config file, else the first ready model)\n");
    if (chat)
        fprintf(out, "  --system TEXT      a system message opening the conversation\n");
    fprintf(out, "  --max-tokens N     most tokens to generate per answer\n"
                 "  --temperature T    sampling temperature (0 = always the likeliest token)\n"
                 "  --seed N           sampling seed (the same seed gives the same text)\n");
    fputs(ctl_conn_flags_help, out);
}

/* Returns 0, 1 after --help, -1 on bad usage (message printed). */
static int parse_opts(const char *cmd, bool chat, int argc, char **argv, gen_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->temperature = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int f = ctl_conn_flag(cmd, argc, argv, &i, &o->flags);
        if (f < 0)
            return -1;
        if (f > 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, chat);
            return 1;
        }
        bool takes = strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0 ||
                     strcmp(a, "--model") == 0 || strcmp(a, "--max-tokens") == 0 ||
                     strcmp(a, "--temperature") == 0 || strcmp(a, "--seed") == 0 ||
                     (chat && strcmp(a, "--system") == 0);
        if (!takes) {
            fprintf(stderr, "gemmactl %s: unknown argument '%s' (see gemmactl %s --help)\n", cmd,
                    a, cmd);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gemmactl %s: %s needs a value\n", cmd, a);
            return -1;
        }
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            o->prompt = v;
        } else if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--system") == 0) {
            o->system = v;
        } else if (strcmp(a, "--max-tokens") == 0) {
            o->max_tokens = strtol(v, &end, 10);
            if (*end != '\0' || end == v || o->max_tokens < 1 || o->max_tokens > 1048576) {
                fprintf(stderr, "gemmactl %s: --max-tokens takes a count from 1 to 1048576\n",
                        cmd);
                return -1;
            }
        } else if (strcmp(a, "--temperature") == 0) {
            o->temperature = strtod(v, &end);
            if (*end != '\0' || end == v || !(o->temperature >= 0 && o->temperature <= 2)) {
                fprintf(stderr, "gemmactl %s: --temperature takes a number from 0 to 2\n", cmd);
                return -1;
            }
        } else { /* --seed */
            o->seed = strtoll(v, &end, 10);
            if (*end != '\0' || end == v || o->seed < 0) {
                fprintf(stderr, "gemmactl %s: --seed takes a non-negative integer\n", cmd);
                return -1;
            }
            o->has_seed = true;
        }
    }
    return 0;
}

/* ---- the model to use ---- */

/* --model, else the settings' model, else the first ready one. */
static int pick_model(ctl_client *c, const char *cmd, const gen_opts *o,
                      const ctl_settings *s, char *out, size_t n)
{
    if (o->model || s->model[0]) {
        snprintf(out, n, "%s", o->model ? o->model : s->model);
        return 0;
    }
    json_t *res = NULL;
    int rc = ctl_call_json(c, cmd, "GET", "/v1/models", NULL, &res);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(res, "data"), i, m) {
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *state = json_string_value(json_object_get(m, "state"));
        if (id && (state == NULL || strcmp(state, "ready") == 0)) {
            snprintf(out, n, "%s", id);
            json_decref(res);
            return 0;
        }
    }
    json_decref(res);
    fprintf(stderr, "gemmactl %s: no model is ready; load one (gemmactl models load NAME) or "
            "pass --model\n", cmd);
    return CTL_EXIT_ERROR;
}

/* ---- one streamed request ---- */

typedef struct stream_state {
    bool chat;
    char *text; /* everything streamed, NUL-terminated */
    size_t len, cap;
    bool done;  /* saw data: [DONE] */
    bool oom;
    char error[512];
} stream_state;

static int emit(stream_state *s, const char *t, size_t n)
{
    if (n == 0)
        return 0;
    fwrite(t, 1, n, stdout);
    fflush(stdout);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->text, cap);
        if (p == NULL) {
            s->oom = true;
            snprintf(s->error, sizeof(s->error), "out of memory keeping the answer");
            return -1;
        }
        s->text = p;
        s->cap = cap;
    }
    memcpy(s->text + s->len, t, n);
    s->len += n;
    s->text[s->len] = '\0';
    return 0;
}

static int on_event(const char *data, size_t len, void *arg)
{
    stream_state *s = arg;
    if (strcmp(data, "[DONE]") == 0) {
        s->done = true;
        return 1;
    }
    json_error_t jerr;
    json_t *o = json_loadb(data, len, 0, &jerr);
    if (o == NULL) {
        snprintf(s->error, sizeof(s->error), "gemmad sent an event that is not JSON: %s",
                 jerr.text);
        return -1;
    }
    json_t *e = json_object_get(o, "error");
    if (e) {
        const char *m = json_string_value(json_object_get(e, "message"));
        snprintf(s->error, sizeof(s->error), "gemmad reported an error: %s",
                 m ? m : "(no message)");
        json_decref(o);
        return -1;
    }
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
    json_t *t = s->chat ? json_object_get(json_object_get(ch, "delta"), "content")
                        : json_object_get(ch, "text");
    int rc = 0;
    if (json_is_string(t))
        rc = emit(s, json_string_value(t), json_string_length(t));
    json_decref(o);
    return rc;
}

/* A 2xx answer that came whole instead of streamed. */
static int whole_answer(stream_state *s, const ctl_response *r)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
    json_t *t = s->chat ? json_object_get(json_object_get(ch, "message"), "content")
                        : json_object_get(ch, "text");
    int rc = -1;
    if (json_is_string(t)) {
        rc = emit(s, json_string_value(t), json_string_length(t));
        s->done = rc == 0;
    } else {
        snprintf(s->error, sizeof(s->error), "gemmad's answer holds no text");
    }
    json_decref(o);
    return rc;
}

/* Send `body` to `path` and stream the text to stdout (ending the line).
 * Returns the exit code. */
static int stream(ctl_client *c, const char *cmd, const char *path, json_t *body,
                  stream_state *s)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL) {
        fprintf(stderr, "gemmactl %s: out of memory\n", cmd);
        return CTL_EXIT_ERROR;
    }
    s->len = 0;
    if (s->text)
        s->text[0] = '\0';
    s->done = false;
    s->error[0] = '\0';
    ctl_response r;
    cm_err err;
    int rc = ctl_client_call(c, "POST", path, text, &r, on_event, s, &err);
    free(text);
    int code = CTL_EXIT_OK;
    if (rc < 0) {
        if (s->len > 0)
            putchar('\n');
        fprintf(stderr, "gemmactl %s: %s\n", cmd,
                c->fail == CTL_FAIL_CALLBACK && s->error[0] ? s->error : err.msg);
        return ctl_client_exit(c);
    }
    if (r.head.status / 100 != 2) {
        code = ctl_report_http(cmd, &r);
    } else {
        if (r.body != NULL && whole_answer(s, &r) < 0)
            code = CTL_EXIT_ERROR;
        else if (!s->done) {
            snprintf(s->error, sizeof(s->error), "the answer ended before 'data: [DONE]' (gemmad "
                     "stopped or the connection broke)");
            code = CTL_EXIT_ERROR;
        }
        if (s->len == 0 || s->text[s->len - 1] != '\n')
            putchar('\n');
        if (code != CTL_EXIT_OK)
            fprintf(stderr, "gemmactl %s: %s\n", cmd, s->error);
    }
    ctl_response_free(&r);
    if (fflush(stdout) != 0 && code == CTL_EXIT_OK)
        code = CTL_EXIT_ERROR;
    return code;
}

static json_t *request_body(const gen_opts *o, const char *model)
{
    json_t *b = json_pack("{s:s, s:b}", "model", model, "stream", 1);
    if (b == NULL)
        return NULL;
    if (o->max_tokens > 0)
        json_object_set_new(b, "max_tokens", json_integer(o->max_tokens));
    if (!isnan(o->temperature))
        json_object_set_new(b, "temperature", json_real(o->temperature));
    if (o->has_seed)
        json_object_set_new(b, "seed", json_integer(o->seed));
    return b;
}

static int add_message(json_t *msgs, const char *role, const char *content)
{
    return json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", role, "content", content));
}

/* One chat turn on `msgs` (which ends with the user's message); on
 * success the answer is appended to it. */
static int chat_turn(ctl_client *c, const gen_opts *o, const char *model, json_t *msgs,
                     stream_state *s)
{
    json_t *b = request_body(o, model);
    if (b == NULL || json_object_set(b, "messages", msgs) < 0) {
        json_decref(b);
        fprintf(stderr, "gemmactl chat: out of memory\n");
        return CTL_EXIT_ERROR;
    }
    int rc = stream(c, "chat", "/v1/chat/completions", b, s);
    json_decref(b);
    if (rc == CTL_EXIT_OK && add_message(msgs, "assistant", s->text ? s->text : "") < 0) {
        fprintf(stderr, "gemmactl chat: out of memory\n");
        rc = CTL_EXIT_ERROR;
    }
    return rc;
}

static void reset_messages(json_t *msgs, const char *system)
{
    json_array_clear(msgs);
    if (system)
        add_message(msgs, "system", system);
}

static int repl(ctl_client *c, const gen_opts *o, const char *model, json_t *msgs,
                stream_state *s)
{
    bool tty = isatty(STDIN_FILENO) == 1;
    if (tty)
        fprintf(stderr, "chatting with %s; /exit leaves, /reset starts over\n", model);
    char *line = NULL;
    size_t cap = 0;
    int worst = CTL_EXIT_OK;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (tty)
                putchar('\n');
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/reset") == 0) {
            reset_messages(msgs, o->system);
            if (tty)
                fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        if (strcmp(line, "/help") == 0) {
            fprintf(stderr, "/exit or /quit leaves, /reset starts a new conversation; any other "
                    "line is your next message\n");
            continue;
        }
        if (add_message(msgs, "user", line) < 0) {
            fprintf(stderr, "gemmactl chat: that line is not valid UTF-8; not sent\n");
            worst = CTL_EXIT_ERROR;
            if (!tty)
                break;
            continue;
        }
        int rc = chat_turn(c, o, model, msgs, s);
        if (rc != CTL_EXIT_OK) {
            /* Forget the turn that got no answer. */
            json_array_remove(msgs, json_array_size(msgs) - 1);
            worst = rc;
            if (!tty || rc == CTL_EXIT_UNREACHABLE)
                break;
        }
    }
    free(line);
    return worst;
}

/* Read all of standard input (for '-p -'). */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, stdin);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *p = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (buf == NULL || ferror(stdin)) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int run(bool chat, int argc, char **argv)
{
    const char *cmd = chat ? "chat" : "generate";
    gen_opts o;
    int p = parse_opts(cmd, chat, argc, argv, &o);
    if (p != 0)
        return p > 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    if (!chat && o.prompt == NULL) {
        fprintf(stderr, "gemmactl generate: -p TEXT is required (see gemmactl generate --help)\n");
        return CTL_EXIT_USAGE;
    }
    char *stdin_prompt = NULL;
    if (o.prompt && strcmp(o.prompt, "-") == 0) {
        stdin_prompt = read_stdin();
        if (stdin_prompt == NULL) {
            fprintf(stderr, "gemmactl %s: cannot read the prompt from standard input\n", cmd);
            return CTL_EXIT_ERROR;
        }
        o.prompt = stdin_prompt;
    }
    ctl_client c;
    ctl_settings s;
    int rc = ctl_client_open(cmd, &o.flags, &c, &s);
    if (rc != 0) {
        free(stdin_prompt);
        return rc;
    }
    char model[CTL_SETTING_MAX];
    stream_state st = {.chat = chat};
    json_t *msgs = NULL;
    rc = pick_model(&c, cmd, &o, &s, model, sizeof(model));
    if (rc != 0)
        goto out;
    if (!chat) {
        json_t *b = request_body(&o, model);
        if (b == NULL || json_object_set_new(b, "prompt", json_string(o.prompt)) < 0) {
            json_decref(b);
            fprintf(stderr, "gemmactl generate: the prompt is not valid UTF-8 (or out of "
                    "memory)\n");
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        rc = stream(&c, cmd, "/v1/completions", b, &st);
        json_decref(b);
        goto out;
    }
    msgs = json_array();
    if (msgs == NULL) {
        rc = CTL_EXIT_ERROR;
        goto out;
    }
    reset_messages(msgs, o.system);
    if (o.prompt) {
        if (add_message(msgs, "user", o.prompt) < 0) {
            fprintf(stderr, "gemmactl chat: the prompt is not valid UTF-8 (or out of memory)\n");
            rc = CTL_EXIT_ERROR;
            goto out;
        }
        rc = chat_turn(&c, &o, model, msgs, &st);
    } else {
        rc = repl(&c, &o, model, msgs, &st);
    }
out:
    json_decref(msgs);
    free(st.text);
    free(stdin_prompt);
    ctl_client_free(&c);
    return rc;
}

int ctl_cmd_chat(int argc, char **argv)
{
    return run(true, argc, argv);
}

int ctl_cmd_generate(int argc, char **argv)
{
    return run(false, argc, argv);
}
