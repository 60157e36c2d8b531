/*
 * engine/cli/cli_inspect.c -- 'gemma-run inspect' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'inspect' is not built yet\n");
    return 1;
}
