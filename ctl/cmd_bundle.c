/*
 * ctl/cmd_bundle.c -- 'gemmactl bundle' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_bundle(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'bundle' is not built yet\n");
    return CTL_EXIT_ERROR;
}
