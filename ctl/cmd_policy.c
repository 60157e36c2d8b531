/*
 * ctl/cmd_policy.c -- 'gemmactl policy' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_policy(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'policy' is not built yet\n");
    return CTL_EXIT_ERROR;
}
