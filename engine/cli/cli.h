/*
 * engine/cli/cli.h -- the subcommands of gemma-run, the engine's CLI.
 *
 * Each subcommand is a function taking the arguments after its name
 * (argv[0] is the subcommand) and returning the process exit status:
 * 0 success, 1 failure, 2 usage error. The names and flags are an
 * interface that tests and benchmarks rely on: extend, never rename.
 */
#ifndef GM_CLI_H
#define GM_CLI_H

#include <stddef.h>

int cli_synth(int argc, char **argv);     /* cli_synth.c */
int cli_inspect(int argc, char **argv);   /* cli_inspect.c */
int cli_generate(int argc, char **argv);  /* cli_generate.c */
int cli_tokenize(int argc, char **argv);  /* cli_tokenize.c */
int cli_logits(int argc, char **argv);    /* cli_logits.c */
int cli_bench(int argc, char **argv);     /* cli_bench.c */

/* The whole file at path into *out (NUL-terminated; the caller frees it),
 * its length in *len (cli_file.c). 0; -1 it cannot be opened (errno says
 * why); -2 it cannot be read, or out of memory. */
int cli_read_file(const char *path, char **out, size_t *len);

#endif
