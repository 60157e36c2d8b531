/*
 * engine/cli/cli_generate.c -- 'gemma-run generate' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'generate' is not built yet\n");
    return 1;
}
