/*
 * engine/cli/gemma-run.c -- entry point of gemma-run: picks the subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine/cli/cli.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"synth", cli_synth, "write a synthetic Gemma 4 GGUF model"},
    {"inspect", cli_inspect, "print a GGUF file's metadata and tensors"},
    {"generate", cli_generate, "generate text from a prompt"},
    {"tokenize", cli_tokenize, "print the token ids of a text"},
    {"logits", cli_logits, "write the logits of every input position"},
    {"bench", cli_bench, "measure prompt and generation speed"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: gemma-run COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'gemma-run COMMAND --help' describes each command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gemma-run %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gemma-run: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
