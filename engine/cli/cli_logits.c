/*
 * engine/cli/cli_logits.c -- 'gemma-run logits' (placeholder until its issue lands).
 */
#include <stdio.h>

#include "engine/cli/cli.h"

int cli_logits(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gemma-run: 'logits' is not built yet\n");
    return 1;
}
