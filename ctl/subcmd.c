/*
 * ctl/subcmd.c -- picks a command group's subcommand (gemmactl audit,
 * policy, bundle): the one table-driven dispatch they share.
 */
#include <string.h>

#include "ctl/ctl.h"

int ctl_run_subcmd(const char *group, const ctl_subcmd *cmds, size_t n, void (*usage)(FILE *),
                   bool help_word, int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        (help_word && strcmp(sub, "help") == 0)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(sub, cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gemmactl %s: unknown subcommand '%s'\n", group, sub);
    usage(stderr);
    return CTL_EXIT_USAGE;
}
