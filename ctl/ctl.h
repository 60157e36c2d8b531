/*
 * ctl/ctl.h -- the command groups of gemmactl, the operator CLI.
 *
 * Each group takes the arguments after its name (argv[0] is the group) and
 * returns the process exit status, with gemmactl's conventions:
 * 0 ok, 1 error, 2 usage, 3 denied by policy, 4 daemon unreachable.
 */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_DENIED = 3,
    CTL_EXIT_UNREACHABLE = 4,
};

int ctl_cmd_status(int argc, char **argv);   /* ctl/cmd_status.c */
int ctl_cmd_models(int argc, char **argv);   /* ctl/cmd_models.c */
/* gemmactl models import (ctl/models_import.c); argv[1] is "import". */
int ctl_models_import(int argc, char **argv);
int ctl_cmd_chat(int argc, char **argv);     /* ctl/cmd_chat.c */
int ctl_cmd_generate(int argc, char **argv); /* ctl/cmd_chat.c */
int ctl_cmd_audit(int argc, char **argv);    /* ctl/cmd_audit.c */
int ctl_cmd_policy(int argc, char **argv);   /* ctl/cmd_policy.c */
int ctl_cmd_bundle(int argc, char **argv);   /* ctl/cmd_bundle.c */
int ctl_cmd_pki(int argc, char **argv);      /* ctl/cmd_pki.c */

/* A subcommand of a group; its argv[0] is the subcommand's name. */
typedef struct ctl_subcmd {
    const char *name;
    int (*run)(int argc, char **argv);
} ctl_subcmd;

/* Runs the subcommand argv[1] of the group named `group` (argv[0]) from
 * cmds[0..n) (ctl/subcmd.c): --help or -h (and "help" where help_word)
 * print usage to stdout, exit 0; no subcommand, or one not in cmds, prints
 * usage to stderr, exit 2 ("gemmactl GROUP: unknown subcommand 'X'"). */
int ctl_run_subcmd(const char *group, const ctl_subcmd *cmds, size_t n, void (*usage)(FILE *),
                   bool help_word, int argc, char **argv);

#endif
