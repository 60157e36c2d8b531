/*
 * ctl/cmd_models.c -- 'gemmactl models' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_models(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'models' is not built yet\n");
    return CTL_EXIT_ERROR;
}
