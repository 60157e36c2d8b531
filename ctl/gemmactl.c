/*
 * ctl/gemmactl.c -- entry point of gemmactl: picks the command group.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl/ctl.h"

typedef struct ctl_group {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} ctl_group;

static const ctl_group groups[] = {
    {"status", ctl_cmd_status, "show the daemon's state"},
    {"models", ctl_cmd_models, "list, load and unload models"},
    {"chat", ctl_cmd_chat, "chat with a model (REPL, or one-shot with -p)"},
    {"generate", ctl_cmd_generate, "complete a prompt"},
    {"audit", ctl_cmd_audit, "read, verify and export the audit log"},
    {"policy", ctl_cmd_policy, "check, test and reload the access policy"},
    {"bundle", ctl_cmd_bundle, "sign, verify and inspect model bundles"},
    {"pki", ctl_cmd_pki, "set up and run a site PKI"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: gemmactl COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        fprintf(out, "  %-10s %s\n", groups[i].name, groups[i].summary);
    fprintf(out, "\n'gemmactl COMMAND --help' describes each command.\n"
                 "exit status: 0 ok, 1 error, 2 usage, 3 denied by policy, "
                 "4 daemon unreachable\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gemmactl %s\n", PACKAGE_VERSION);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(argv[1], groups[i].name) == 0)
            return groups[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gemmactl: unknown command '%s' (try 'gemmactl --help')\n", argv[1]);
    return CTL_EXIT_USAGE;
}
