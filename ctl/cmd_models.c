/*
 * ctl/cmd_models.c -- 'gemmactl models list|load|unload|import': the models
 * gemmad serves (GET /v1/models), and loading or unloading one
 * (POST /admin/v1/models/load|unload), then waiting, with a spinner on a
 * terminal, until gemmad reports the model ready (or unloaded) or failed.
 * 'import' works offline, on the store (ctl/models_import.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/client.h"
#include "ctl/ctl.h"
#include "ctl/output.h"

#define WAIT_DEFAULT_S 600

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemmactl models list [--json] [CONNECTION FLAGS]\n"
            "       gemmactl models load NAME [--path FILE] [--no-wait] [--timeout SECONDS]\n"
            "       gemmactl models unload NAME [--no-wait] [--timeout SECONDS]\n\n"
            "list    the configured models and their state (--json: gemmad's answer)\n"
            "load    load NAME (a model named in gemmad.yaml) and wait until it is ready;\n"
            "        --path FILE: only a check; gemmad refuses (400) any FILE but the one\n"
            "        gemmad.yaml configures for NAME (clients cannot choose the file)\n"
            "unload  unload NAME and wait until it is unloaded\n"
            "import  copy a signed model into gemmad's store and verify it\n"
            "        ('gemmactl models import --help')\n"
            "  --no-wait          return once gemmad has accepted the request\n"
            "  --timeout SECONDS  give up waiting after this long (default %d)\n",
            WAIT_DEFAULT_S);
    fputs(ctl_conn_flags_help, out);
}

typedef struct models_opts {
    ctl_settings flags;
    bool json, no_wait;
    const char *name, *path;
    long timeout_s;
} models_opts;

/* Parse the arguments after the subcommand. Returns -1 (usage printed)
 * or 0; 1 if --help was printed. */
static int parse_opts(const char *sub, int argc, char **argv, models_opts *o)
{
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "models %s", sub);
    bool list = strcmp(sub, "list") == 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int f = ctl_conn_flag(cmd, argc, argv, &i, &o->flags);
        if (f < 0)
            return -1;
        if (f > 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (list && strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (!list && strcmp(a, "--no-wait") == 0) {
            o->no_wait = true;
        } else if (!list && strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;
            o->timeout_s = strtol(argv[++i], &end, 10);
            if (*end != '\0' || o->timeout_s <= 0 || o->timeout_s > 86400) {
                fprintf(stderr, "gemmactl %s: --timeout takes seconds (1..86400)\n", cmd);
                return -1;
            }
        } else if (strcmp(sub, "load") == 0 && strcmp(a, "--path") == 0 && i + 1 < argc) {
            o->path = argv[++i];
        } else if (!list && a[0] != '-' && o->name == NULL) {
            o->name = a;
        } else {
            fprintf(stderr, "gemmactl %s: unknown argument or missing value: '%s'\n", cmd, a);
            usage(stderr);
            return -1;
        }
    }
    if (!list && o->name == NULL) {
        fprintf(stderr, "gemmactl %s: which model? (gemmactl %s NAME)\n", cmd, cmd);
        return -1;
    }
    return 0;
}

static int cmd_list(models_opts *o)
{
    ctl_client c;
    int rc = ctl_client_open("models list", &o->flags, &c, NULL);
    if (rc != 0)
        return rc;
    json_t *res = NULL;
    rc = ctl_call_json(&c, "models list", "GET", "/v1/models", NULL, &res);
    ctl_client_free(&c);
    if (rc != 0)
        return rc;
    json_t *data = json_object_get(res, "data");
    if (!json_is_array(data)) {
        json_decref(res);
        fprintf(stderr, "gemmactl models list: gemmad's answer has no 'data' list\n");
        return CTL_EXIT_ERROR;
    }
    if (o->json) {
        if (ctl_print_json(res, stdout) < 0)
            rc = CTL_EXIT_ERROR;
    } else {
        static const char *const titles[] = {"MODEL", "STATE", "OWNED BY"};
        ctl_table t;
        ctl_table_init(&t, 3, titles);
        size_t i;
        json_t *m;
        json_array_foreach(data, i, m) {
            const char *cells[] = {json_string_value(json_object_get(m, "id")),
                                   json_string_value(json_object_get(m, "state")),
                                   json_string_value(json_object_get(m, "owned_by"))};
            ctl_table_row(&t, cells);
        }
        if (ctl_table_print(&t, stdout) < 0)
            rc = CTL_EXIT_ERROR;
        ctl_table_free(&t);
    }
    json_decref(res);
    if (fflush(stdout) != 0)
        rc = CTL_EXIT_ERROR;
    return rc;
}

typedef struct model_state {
    char state[32];
    char error[512];
    char path[CTL_SETTING_MAX];
} model_state;

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* The state of `name`: from /admin/v1/status (with the load error and
 * path), or, when the policy denies that (status.read), from
 * /v1/models/NAME (models.list; the state only). Prints failures; returns
 * the exit code (0 ok). */
static int fetch_state(ctl_client *c, const char *cmd, const char *name, bool *public_only,
                       model_state *ms)
{
    memset(ms, 0, sizeof(*ms));
    json_t *st = NULL;
    if (!*public_only) {
        ctl_response r;
        cm_err err;
        if (ctl_client_call(c, "GET", "/admin/v1/status", NULL, &r, NULL, NULL, &err) < 0) {
            fprintf(stderr, "gemmactl %s: %s\n", cmd, err.msg);
            return ctl_client_exit(c);
        }
        if (r.head.status == 403) {
            *public_only = true;
        } else if (r.head.status / 100 != 2) {
            int code = ctl_report_http(cmd, &r);
            ctl_response_free(&r);
            return code;
        } else {
            st = json_loadb(r.body, r.len, 0, NULL);
            if (st == NULL) {
                ctl_response_free(&r);
                fprintf(stderr, "gemmactl %s: gemmad's status is not JSON\n", cmd);
                return CTL_EXIT_ERROR;
            }
        }
        ctl_response_free(&r);
    }
    if (*public_only) {
        char path[3 * CTL_SETTING_MAX + 16];
        size_t k = (size_t)snprintf(path, sizeof(path), "/v1/models/");
        for (const char *q = name; *q && k + 4 < sizeof(path); q++) {
            unsigned char ch = (unsigned char)*q;
            if (isalnum(ch) || strchr("-._~:@", ch))
                path[k++] = (char)ch;
            else
                k += (size_t)snprintf(path + k, 4, "%%%02X", ch);
        }
        path[k] = '\0';
        int rc = ctl_call_json(c, cmd, "GET", path, NULL, &st);
        if (rc != 0)
            return rc;
        snprintf(ms->state, sizeof(ms->state), "%s", jstr(st, "state", "?"));
        json_decref(st);
        return 0;
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(st, "models"), i, m) {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n == NULL || strcmp(n, name) != 0)
            continue;
        snprintf(ms->state, sizeof(ms->state), "%s", jstr(m, "state", "?"));
        snprintf(ms->error, sizeof(ms->error), "%s", jstr(m, "error", ""));
        snprintf(ms->path, sizeof(ms->path), "%s", jstr(m, "path", ""));
        json_decref(st);
        return 0;
    }
    json_decref(st);
    fprintf(stderr, "gemmactl %s: gemmad's status no longer lists model '%s'\n", cmd, name);
    return CTL_EXIT_ERROR;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int cmd_load_unload(models_opts *o, bool load)
{
    const char *cmd = load ? "models load" : "models unload";
    ctl_client c;
    int rc = ctl_client_open(cmd, &o->flags, &c, NULL);
    if (rc != 0)
        return rc;
    json_t *body = json_pack("{s:s}", "model", o->name);
    if (body && o->path)
        json_object_set_new(body, "path", json_string(o->path));
    json_t *res = NULL;
    rc = body ? ctl_call_json(&c, cmd, "POST",
                              load ? "/admin/v1/models/load" : "/admin/v1/models/unload", body,
                              &res)
              : CTL_EXIT_ERROR;
    json_decref(body);
    if (rc != 0) {
        ctl_client_free(&c);
        return rc;
    }
    const char *state = json_string_value(json_object_get(res, "state"));
    char first[32];
    snprintf(first, sizeof(first), "%s", state ? state : "?");
    json_decref(res);
    const char *goal = load ? "ready" : "unloaded";
    if (o->no_wait) {
        printf("%s: %s requested (state: %s)\n", o->name, load ? "load" : "unload", first);
        ctl_client_free(&c);
        return CTL_EXIT_OK;
    }
    ctl_spinner sp;
    ctl_spinner_init(&sp);
    char label[200];
    snprintf(label, sizeof(label), "%s %s", load ? "loading" : "unloading", o->name);
    long limit = o->timeout_s > 0 ? o->timeout_s : WAIT_DEFAULT_S;
    model_state ms;
    bool public_only = false;
    for (;;) {
        rc = fetch_state(&c, cmd, o->name, &public_only, &ms);
        if (rc != 0)
            break;
        if (strcmp(ms.state, goal) == 0 || strcmp(ms.state, "failed") == 0)
            break;
        if (ctl_spinner_elapsed(&sp) > (double)limit) {
            ctl_spinner_end(&sp);
            fprintf(stderr, "gemmactl %s: %s is still %s after %ld s; gemmad keeps working on "
                    "it (gemmactl status shows how it ends)\n", cmd, o->name, ms.state, limit);
            ctl_client_free(&c);
            return CTL_EXIT_ERROR;
        }
        ctl_spinner_tick(&sp, label);
        sleep_ms(150);
    }
    ctl_spinner_end(&sp);
    ctl_client_free(&c);
    if (rc != 0)
        return rc;
    if (strcmp(ms.state, "failed") == 0) {
        fprintf(stderr, "gemmactl %s: %s failed to load: %s\n", cmd, o->name,
                ms.error[0] ? ms.error : "(gemmad gave no reason; see its log)");
        return CTL_EXIT_ERROR;
    }
    if (load && o->path && !public_only && strcmp(ms.path, o->path) != 0) {
        fprintf(stderr, "gemmactl %s: gemmad loaded %s from %s, not from %s: this gemmad "
                "only loads the file gemmad.yaml names for it\n", cmd, o->name,
                ms.path[0] ? ms.path : "its configured path", o->path);
        return CTL_EXIT_ERROR;
    }
    char took[32];
    ctl_fmt_duration(ctl_spinner_elapsed(&sp), took, sizeof(took));
    printf("%s: %s (%s)\n", o->name, ms.state, took);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

int ctl_cmd_models(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(sub, "import") == 0)
        return ctl_models_import(argc, argv);
    if (strcmp(sub, "list") != 0 && strcmp(sub, "load") != 0 && strcmp(sub, "unload") != 0) {
        fprintf(stderr, "gemmactl models: unknown subcommand '%s' (list, load, unload, import)\n",
                sub);
        return CTL_EXIT_USAGE;
    }
    models_opts o;
    memset(&o, 0, sizeof(o));
    int p = parse_opts(sub, argc, argv, &o);
    if (p != 0)
        return p > 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    if (strcmp(sub, "list") == 0)
        return cmd_list(&o);
    return cmd_load_unload(&o, strcmp(sub, "load") == 0);
}
