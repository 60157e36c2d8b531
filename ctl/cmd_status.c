/*
 * ctl/cmd_status.c -- 'gemmactl status' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'status' is not built yet\n");
    return CTL_EXIT_ERROR;
}
