/*
 * engine/cli/cli_tokenize.c -- 'gemma-run tokenize' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'tokenize' is not built yet\n");
    return 1;
}
