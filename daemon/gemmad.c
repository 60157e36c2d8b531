/*
 * daemon/gemmad.c -- gemmad's command line: run the daemon with a
 * configuration file, or check one (--check-config) and exit. With an
 * audit log it first starts the audit signer process (daemon/privsep.h),
 * which is gemmad itself run as "gemmad --audit-signer ...".
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon/conf.h"
#include "daemon/privsep.h"
#include "daemon/server_run.h"
#include "daemon/tls.h"
#include "policy/policy.h"

#ifndef GMD_SYSCONFDIR
#define GMD_SYSCONFDIR "/etc"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gemmad [-c FILE] [-l LEVEL]\n"
            "       gemmad --check-config FILE\n"
            "\n"
            "  -c, --config FILE     configuration (default %s/gemmad/gemmad.yaml)\n"
            "  -l, --log-level LEVEL error, warn, notice, info or debug (overrides the file)\n"
            "      --check-config F  check F (syntax, values, TLS files, policy) and exit\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this text\n"
            "\n"
            "See gemmad(8) and gemmad.yaml(5).\n",
            GMD_SYSCONFDIR);
}

static int check_config(const char *path)
{
    gmd_config cfg;
    cm_err err;
    if (gmd_config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "gemmad: %s\n", err.msg);
        return 1;
    }
    SSL_CTX *ctx = NULL;
    if (gmd_tls_ctx_new(&cfg, &ctx, &err) < 0) {
        fprintf(stderr, "gemmad: %s: %s\n", path, err.msg);
        return 1;
    }
    SSL_CTX_free(ctx);
    if (cfg.policy_file[0] != '\0') {
        pl_policy *p = NULL;
        if (pl_policy_load_file(cfg.policy_file, &p, &err) < 0) {
            fprintf(stderr, "gemmad: %s: security.policy: %s\n", path, err.msg);
            return 1;
        }
        pl_policy_unref(p);
    }
    printf("%s: OK (%s%s%s, %zu model%s)\n", path, cfg.unix_enabled ? "unix" : "",
           cfg.unix_enabled && cfg.tcp_enabled ? " + " : "", cfg.tcp_enabled ? "tcp" : "",
           cfg.n_models, cfg.n_models == 1 ? "" : "s");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"check-config", required_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* The audit signer: started by gemmad itself (privsep.c), never by hand. */
    if (argc > 1 && strcmp(argv[1], "--audit-signer") == 0)
        return gmd_signer_main(argc - 2, argv + 2);
    const char *config = GMD_SYSCONFDIR "/gemmad/gemmad.yaml";
    const char *level = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': level = optarg; break;
        case 'C': return check_config(optarg);
        case 'V': printf("gemmad %s\n", GMD_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    gmd_config cfg;
    cm_err err;
    if (gmd_config_load(config, &cfg, &err) < 0) {
        fprintf(stderr, "gemmad: %s\n", err.msg);
        return 1;
    }
    cm_log_level lv;
    if (cm_log_parse_level(level ? level : cfg.log_level, &lv) < 0) {
        fprintf(stderr, "gemmad: unknown log level '%s'\n", level);
        return 2;
    }
    cm_log_set_level(lv);
    /* Before any listener or thread: the signer takes the audit keys, and
     * this process confines itself. */
    if (gmd_privsep_start(&cfg, level ? level : cfg.log_level, &err) < 0) {
        cm_log(CM_LOG_ERR, "gemmad", "%s", err.msg);
        return 1;
    }
    int rc = gmd_server_run(config, &cfg, &err);
    /* Start-up failed before the guard took the signer: let it finish. */
    au_remote_close(gmd_privsep_take_remote());
    if (rc < 0) {
        cm_log(CM_LOG_ERR, "gemmad", "%s", err.msg);
        return 1;
    }
    return 0;
}
