/*
 * engine/cli/cli_synth.c -- 'gemma-run synth' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_synth(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'synth' is not built yet\n");
    return 1;
}
