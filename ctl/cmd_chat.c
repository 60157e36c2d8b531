/*
 * ctl/cmd_chat.c -- 'gemmactl chat' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "ctl/ctl.h"

int ctl_cmd_chat(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'chat' is not built yet\n");
    return CTL_EXIT_ERROR;
}
int ctl_cmd_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemmactl: 'generate' is not built yet\n");
    return CTL_EXIT_ERROR;
}
