/*
 * engine/cli/cli_bench.c -- 'gemma-run bench' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'bench' is not built yet\n");
    return 1;
}
