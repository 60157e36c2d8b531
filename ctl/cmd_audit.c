/*
 * ctl/cmd_audit.c -- 'gemmactl audit' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_audit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'audit' is not built yet\n");
    return CTL_EXIT_ERROR;
}
