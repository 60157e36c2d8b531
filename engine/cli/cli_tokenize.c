/*
 * engine/cli/cli_tokenize.c -- 'gemma-run tokenize': print the token ids of
 * a text, as llama_tokenize(add_special = true, parse_special = true) does
 * by default. Works on vocabulary-only GGUF files: only the tokenizer.*
 * metadata is read, no tensors.
 *
 *   gemma-run tokenize -m FILE -p TEXT [--no-bos] [--no-special]
 *
 * prints the ids space-separated on one line. For the tests, many strings
 * in one run (one output line per string):
 *
 *   --escaped-lines FILE    one string per line, escaped as \\ \n \r \t
 *                           \xHH and \z (nothing); lines starting with '#'
 *                           and empty lines are skipped
 *   --ggml-vocab-test FILE  llama.cpp's test format: strings separated by
 *                           lines "__ggml_vocab_test__"
 *   --all-modes             four lines per string, "AP: ids" for every
 *                           add_special A and parse_special P (0 or 1)
 *   --time                  print load and tokenize times on stderr
 *   --dump-vocab            instead of tokenizing: "n_tokens bos eos", then
 *                           per token "id attr eog piece special-piece"
 *                           (attr: GM_TOKEN_ATTR_* bits; pieces in hex, "-"
 *                           when empty), to compare with llama.cpp
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/err.h"
#include "engine/cli/cli.h"
#include "engine/format/gguf.h"
#include "engine/text/vocab.h"

typedef struct tok_opts {
    bool add_special, parse_special, plain, all_modes, time;
    double tokenize_seconds;
    size_t n_strings, n_bytes;
} tok_opts;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run tokenize -m FILE -p TEXT [--no-bos] [--no-special] [--plain]\n"
            "       gemma-run tokenize -m FILE (--escaped-lines F | --ggml-vocab-test F)\n"
            "                          [--no-bos] [--no-special] [--all-modes] [--time]\n"
            "       gemma-run tokenize -m FILE --dump-vocab\n"
            "Prints the token ids of TEXT on one line (BOS added and special tokens\n"
            "parsed unless --no-bos / --no-special). --plain matches no special token\n"
            "at all, not even the USER_DEFINED ones --no-special still matches: how\n"
            "gemmad tokenizes chat content and completion prompts.\n");
}

static int print_one(const gm_vocab *v, const char *s, size_t n, bool add_special,
                     bool parse_special, const char *prefix, tok_opts *o)
{
    int32_t *ids;
    size_t n_ids;
    cm_err err;
    double t0 = now_seconds();
    int rc = o->plain ? gm_tokenize_plain(v, s, n, &ids, &n_ids, &err)
                      : gm_tokenize(v, s, n, add_special, parse_special, &ids, &n_ids, &err);
    if (rc < 0) {
        fprintf(stderr, "gemma-run tokenize: %s\n", err.msg);
        return -1;
    }
    o->tokenize_seconds += now_seconds() - t0;
    fputs(prefix, stdout);
    if (o->plain && add_special && gm_vocab_bos(v) >= 0)
        printf(n_ids ? "%d " : "%d", (int)gm_vocab_bos(v));
    for (size_t i = 0; i < n_ids; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    free(ids);
    return 0;
}

static int emit(const gm_vocab *v, const char *s, size_t n, tok_opts *o)
{
    o->n_strings++;
    o->n_bytes += n;
    if (!o->all_modes)
        return print_one(v, s, n, o->add_special, o->parse_special, "", o);
    static const char *const prefixes[4] = {"00: ", "01: ", "10: ", "11: "};
    for (int m = 0; m < 4; m++)
        if (print_one(v, s, n, m >= 2, m & 1, prefixes[m], o) < 0)
            return -1;
    return 0;
}

static void print_hex(const char *s, size_t n)
{
    putchar(' ');
    if (n == 0)
        putchar('-');
    for (size_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)s[i]);
}

static int dump_vocab(const gm_vocab *v)
{
    uint32_t n = gm_vocab_n_tokens(v);
    printf("%u %d %d\n", n, (int)gm_vocab_bos(v), (int)gm_vocab_eos(v));
    char buf[1024];
    for (uint32_t id = 0; id < n; id++) {
        printf("%u %u %d", id, gm_vocab_token_attr(v, (int32_t)id),
               gm_vocab_is_eog(v, (int32_t)id) ? 1 : 0);
        for (int special = 0; special < 2; special++) {
            size_t k = gm_token_to_piece(v, (int32_t)id, special, buf, sizeof(buf));
            if (k > sizeof(buf))
                return -1;
            print_hex(buf, k);
        }
        putchar('\n');
    }
    return 0;
}

static size_t unescape(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '\\' || i + 1 >= n) {
            out[o++] = in[i];
            continue;
        }
        char c = in[++i];
        if (c == 'n')
            out[o++] = '\n';
        else if (c == 'r')
            out[o++] = '\r';
        else if (c == 't')
            out[o++] = '\t';
        else if (c == 'z')
            continue;
        else if (c == 'x' && i + 2 < n && cm_hex_digit(in[i + 1]) >= 0 && cm_hex_digit(in[i + 2]) >= 0) {
            out[o++] = (char)(cm_hex_digit(in[i + 1]) * 16 + cm_hex_digit(in[i + 2]));
            i += 2;
        } else
            out[o++] = c;
    }
    return o;
}

static int run_lines(const gm_vocab *v, const char *data, size_t n, tok_opts *o)
{
    char *buf = malloc(n + 1);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t j = nl ? (size_t)(nl - data) : n;
        if (j > i && data[i] != '#')
            rc = emit(v, buf, unescape(data + i, j - i, buf), o);
        i = j + 1;
    }
    free(buf);
    return rc;
}

static int run_vocab_test(const gm_vocab *v, const char *data, size_t n, tok_opts *o)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof(sep) - 1;
    for (size_t pos = 0; pos < n;) {
        const char *next = memmem(data + pos, n - pos, sep, sl);
        size_t end = next ? (size_t)(next - data) : n;
        if (emit(v, data + pos, end - pos, o) < 0)
            return -1;
        if (!next)
            break;
        pos = end + sl;
    }
    return 0;
}

int cli_tokenize(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *lines = NULL, *vt = NULL;
    tok_opts o = {.add_special = true, .parse_special = true};
    bool dump = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val)
            model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val)
            prompt = argv[++i];
        else if (!strcmp(a, "--escaped-lines") && has_val)
            lines = argv[++i];
        else if (!strcmp(a, "--ggml-vocab-test") && has_val)
            vt = argv[++i];
        else if (!strcmp(a, "--no-bos"))
            o.add_special = false;
        else if (!strcmp(a, "--no-special"))
            o.parse_special = false;
        else if (!strcmp(a, "--plain"))
            o.plain = true;
        else if (!strcmp(a, "--all-modes"))
            o.all_modes = true;
        else if (!strcmp(a, "--time"))
            o.time = true;
        else if (!strcmp(a, "--dump-vocab"))
            dump = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gemma-run tokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || (!!prompt + !!lines + !!vt + dump) != 1) {
        fprintf(stderr, "gemma-run tokenize: need -m FILE and one of -p, --escaped-lines, "
                        "--ggml-vocab-test, --dump-vocab\n");
        usage(stderr);
        return 2;
    }

    cm_err err;
    double t0 = now_seconds();
    gguf_file *f;
    if (gguf_open(model, &f, &err) < 0) {
        fprintf(stderr, "gemma-run tokenize: %s\n", err.msg);
        return 1;
    }
    gm_vocab *v;
    int rc = gm_vocab_load(f, &v, &err);
    gguf_close(f);
    if (rc < 0) {
        fprintf(stderr, "gemma-run tokenize: %s: %s\n", model, err.msg);
        return 1;
    }
    double t_load = now_seconds() - t0;

    if (dump) {
        rc = dump_vocab(v);
    } else if (prompt) {
        rc = emit(v, prompt, strlen(prompt), &o);
    } else {
        const char *path = lines ? lines : vt;
        size_t n = 0;
        char *data = NULL;
        if (cli_read_file(path, &data, &n) != 0) {
            fprintf(stderr, "gemma-run tokenize: cannot read %s\n", path);
            gm_vocab_free(v);
            return 1;
        }
        rc = lines ? run_lines(v, data, n, &o) : run_vocab_test(v, data, n, &o);
        free(data);
    }
    if (o.time)
        fprintf(stderr,
                "tokenize: vocab of %u tokens loaded in %.1f ms; %zu strings (%zu bytes) "
                "tokenized in %.3f ms\n",
                gm_vocab_n_tokens(v), t_load * 1e3, o.n_strings, o.n_bytes,
                o.tokenize_seconds * 1e3);
    gm_vocab_free(v);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gemma-run tokenize: cannot write the output\n");
        return 1;
    }
    return rc < 0 ? 1 : 0;
}
