/*
 * ctl/ctl.h -- the command groups of gemmactl, the operator CLI.
 *
 * Each group takes the arguments after its name (argv[0] is the group) and
 * returns the process exit status, with gemmactl's conventions:
 * 0 ok, 1 error, 2 usage, 3 denied by policy, 4 daemon unreachable.
 */
#ifndef CTL_H
#define CTL_H

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

#endif
