/*
 * ctl/cmd_pki.c -- 'gemmactl pki' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_pki(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'pki' is not built yet\n");
    return CTL_EXIT_ERROR;
}
