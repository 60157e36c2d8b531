/*
 * ctl/cmd_policy.c -- 'gemmactl policy': check a policy file, test what it
 * decides for a certificate, and ask gemmad to reload it
 * (POST /admin/v1/reload, which re-reads gemmad.yaml, the policy and the
 * certificates, keeping the running ones when anything is wrong).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/client.h"
#include "ctl/ctl.h"
#include "policy/policy.h"
#include "policy/x509id.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemmactl policy check FILE\n"
            "       gemmactl policy test FILE [--cert CERT.pem] --action ACTION [--model NAME]\n"
            "                [--uid N] [--gid N] [--prompt-tokens N] [--max-tokens N] [--json]\n"
            "       gemmactl policy reload [CONNECTION FLAGS]\n"
            "\n"
            "check   validate FILE (exit 0), or print FILE:LINE:COLUMN: problem (exit 1)\n"
            "test    print the decision for a client presenting CERT.pem (over TCP; with\n"
            "        --uid/--gid over the Unix socket with those peer credentials);\n"
            "        exit 0 allowed, 3 denied\n"
            "reload  ask gemmad to reload its configuration, policy and certificates; if\n"
            "        any is broken gemmad keeps the running ones and says why (exit 1);\n"
            "        exit 0 reloaded, 3 denied, 4 gemmad unreachable\n"
            "ACTION: infer, models.list, models.load, models.unload, status.read,\n"
            "        metrics.read, audit.read, audit.verify, policy.reload, admin (what only\n"
            "        the admin permission allows: rotating the audit log)\n");
    fputs(ctl_conn_flags_help, out);
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    pl_policy *p;
    if (pl_policy_load_file(argv[1], &p, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    printf("%s: ok (%zu roles, %zu rules)\n", argv[1], pl_policy_n_roles(p), pl_policy_n_rules(p));
    pl_policy_unref(p);
    return CTL_EXIT_OK;
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || v > max) {
        fprintf(stderr, "gemmactl policy test: %s takes a number up to %lu, not '%s'\n", opt, max,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_decision(const pl_decision *d, const cm_identity *id, bool has_cert,
                           const pl_request *rq, bool json)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:i}", "decision",
                              d->allow ? "allow" : "deny", "reason", pl_reason_name(d->reason),
                              "http_status", d->http_status, "action", pl_action_name(rq->action),
                              "role", d->role, "rule", d->rule_name,
                              "rule_index", d->rule_index >= 0 ? json_integer(d->rule_index)
                                                               : json_null(),
                              "max_tokens", (int)d->max_tokens);
        if (o != NULL) {
            json_object_set_new(o, "model", rq->model ? json_string(rq->model) : json_null());
            json_object_set_new(o, "principal", json_string(d->principal));
            if (has_cert)
                json_object_set_new(o, "subject", json_string(id->subject_dn));
            char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            if (s != NULL)
                puts(s);
            free(s);
            json_decref(o);
        }
        return;
    }
    printf("decision: %s\n", d->allow ? "allow" : "deny");
    printf("reason:   %s (HTTP %d)\n", pl_reason_name(d->reason), d->http_status);
    if (d->rule_index >= 0) {
        printf("rule:     %d (%s)\n", d->rule_index, d->rule_name);
        printf("role:     %s\n", d->role);
    } else {
        printf("rule:     none matched\n");
    }
    if (has_cert)
        printf("subject:  %s\n", id->subject_dn);
    printf("principal: %s\n", d->principal);
}

static int cmd_test(int argc, char **argv)
{
    const char *file = NULL, *cert = NULL, *action = NULL, *model = NULL;
    bool json = false, has_uid = false, has_gid = false;
    unsigned long uid = 0, gid = 0, prompt = 0, maxtok = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return CTL_EXIT_OK;
        } else if (a[0] == '-' && a[1] == '-' && !has_val) {
            fprintf(stderr, "gemmactl policy test: %s needs a value\n", a);
            return CTL_EXIT_USAGE;
        } else if (strcmp(a, "--cert") == 0) {
            cert = argv[++i];
        } else if (strcmp(a, "--action") == 0) {
            action = argv[++i];
        } else if (strcmp(a, "--model") == 0) {
            model = argv[++i];
        } else if (strcmp(a, "--uid") == 0) {
            has_uid = true;
            if (parse_uint(a, argv[++i], 0xfffffffeul, &uid) < 0)
                return CTL_EXIT_USAGE;
        } else if (strcmp(a, "--gid") == 0) {
            has_gid = true;
            if (parse_uint(a, argv[++i], 0xfffffffeul, &gid) < 0)
                return CTL_EXIT_USAGE;
        } else if (strcmp(a, "--prompt-tokens") == 0) {
            if (parse_uint(a, argv[++i], 0xfffffffful, &prompt) < 0)
                return CTL_EXIT_USAGE;
        } else if (strcmp(a, "--max-tokens") == 0) {
            if (parse_uint(a, argv[++i], 0xfffffffful, &maxtok) < 0)
                return CTL_EXIT_USAGE;
        } else if (a[0] == '-' || file != NULL) {
            fprintf(stderr, "gemmactl policy test: unexpected argument '%s'\n", a);
            return CTL_EXIT_USAGE;
        } else {
            file = a;
        }
    }
    if (file == NULL || action == NULL || (cert == NULL && !has_uid && !has_gid)) {
        fprintf(stderr, "gemmactl policy test: needs FILE, --action, and --cert or --uid\n");
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    pl_request rq = {.model = model, .prompt_tokens = (uint32_t)prompt,
                     .max_tokens = (uint32_t)maxtok};
    if (pl_action_parse(action, &rq.action, &err) < 0) {
        fprintf(stderr, "gemmactl policy test: %s\n", err.msg);
        return CTL_EXIT_USAGE;
    }
    cm_identity id;
    memset(&id, 0, sizeof(id));
    if (cert != NULL && pl_identity_from_pem_file(cert, &id, &err) < 0) {
        fprintf(stderr, "gemmactl policy test: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (has_uid || has_gid) {
        id.transport = CM_TRANSPORT_UNIX;
        id.has_peer_cred = true;
        id.peer_uid = (uid_t)(has_uid ? uid : 0xffffffffu - 1);
        id.peer_gid = (gid_t)(has_gid ? gid : 0xffffffffu - 1);
        id.peer_pid = 0;
    } else {
        id.transport = CM_TRANSPORT_TCP;
        snprintf(id.peer_addr, sizeof(id.peer_addr), "127.0.0.1:0");
    }
    pl_policy *p;
    if (pl_policy_load_file(file, &p, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    pl_decision d;
    pl_decide(p, &id, &rq, &d);
    pl_policy_unref(p);
    print_decision(&d, &id, cert != NULL, &rq, json);
    return d.allow ? CTL_EXIT_OK : CTL_EXIT_DENIED;
}

static int cmd_reload(int argc, char **argv)
{
    ctl_settings flags;
    memset(&flags, 0, sizeof(flags));
    for (int i = 1; i < argc; i++) {
        int f = ctl_conn_flag("policy reload", argc, argv, &i, &flags);
        if (f < 0)
            return CTL_EXIT_USAGE;
        if (f > 0)
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CTL_EXIT_OK;
        }
        fprintf(stderr, "gemmactl policy reload: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    ctl_client c;
    int rc = ctl_client_open("policy reload", &flags, &c, NULL);
    if (rc != 0)
        return rc;
    json_t *res = NULL;
    rc = ctl_call_json(&c, "policy reload", "POST", "/admin/v1/reload", NULL, &res);
    ctl_client_free(&c);
    if (rc != 0)
        return rc;
    const char *st = json_string_value(json_object_get(res, "status"));
    printf("gemmad: %s\n", st ? st : "reloaded");
    json_decref(res);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

int ctl_cmd_policy(int argc, char **argv)
{
    static const ctl_subcmd cmds[] = {
        {"check", cmd_check},
        {"test", cmd_test},
        {"reload", cmd_reload},
    };
    return ctl_run_subcmd("policy", cmds, sizeof(cmds) / sizeof(cmds[0]), usage, false, argc,
                          argv);
}
