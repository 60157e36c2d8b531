/*
 * tests/ref/ref_tokenize.c -- the reference side of the tokenizer tests:
 * tokenizes strings with llama.cpp's llama_tokenize() (vocabulary-only
 * load), printing the same output as `gemma-run tokenize`, so the test
 * scripts can compare the two line by line.
 *
 * Built at test time against the prebuilt libllama in $GEMMA_REF_DIR
 * (tests/integration/tokenizer_ref.sh); never built by make.
 *
 *   ref_tokenize -m VOCAB.gguf [-p TEXT | --escaped-lines FILE |
 *                 --ggml-vocab-test FILE | --dump-vocab] [--no-bos] [--no-special]
 *                [--all-modes]
 *
 * Input and output formats are those of `gemma-run tokenize` (see
 * engine/cli/cli_tokenize.c): one line of space-separated ids per string;
 * with --all-modes four lines per string, "AP: ids" for add_special A and
 * parse_special P (each 0 or 1).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)level;
    (void)text;
    (void)user;
}

static int tokenize_print(const struct llama_vocab *vocab, const char *s, size_t n,
                          bool add_special, bool parse_special, const char *prefix)
{
    int32_t cap = (int32_t)n + 16;
    llama_token *toks = malloc((size_t)cap * sizeof(*toks));
    if (!toks)
        return -1;
    int32_t got = llama_tokenize(vocab, s, (int32_t)n, toks, cap, add_special, parse_special);
    if (got < 0) {
        cap = -got;
        llama_token *t2 = realloc(toks, (size_t)cap * sizeof(*toks));
        if (!t2) {
            free(toks);
            return -1;
        }
        toks = t2;
        got = llama_tokenize(vocab, s, (int32_t)n, toks, cap, add_special, parse_special);
    }
    if (got < 0) {
        free(toks);
        return -1;
    }
    fputs(prefix, stdout);
    for (int32_t i = 0; i < got; i++)
        printf(i ? " %d" : "%d", toks[i]);
    putchar('\n');
    free(toks);
    return 0;
}

static int emit(const struct llama_vocab *vocab, const char *s, size_t n, bool all_modes,
                bool add_special, bool parse_special)
{
    if (!all_modes)
        return tokenize_print(vocab, s, n, add_special, parse_special, "");
    static const char *const prefixes[4] = {"00: ", "01: ", "10: ", "11: "};
    for (int m = 0; m < 4; m++)
        if (tokenize_print(vocab, s, n, m >= 2, m & 1, prefixes[m]) < 0)
            return -1;
    return 0;
}

static void print_hex(const char *s, int32_t n)
{
    putchar(' ');
    if (n == 0)
        putchar('-');
    for (int32_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)s[i]);
}

/* --dump-vocab: "n_tokens bos eos", then per token "id attr eog piece
 * special-piece" (pieces in hex, "-" when empty). */
static int dump_vocab(const struct llama_vocab *vocab)
{
    int32_t n = llama_vocab_n_tokens(vocab);
    printf("%d %d %d\n", n, llama_vocab_bos(vocab), llama_vocab_eos(vocab));
    char buf[1024];
    for (int32_t id = 0; id < n; id++) {
        printf("%d %u %d", id, (unsigned)llama_vocab_get_attr(vocab, id),
               llama_vocab_is_eog(vocab, id) ? 1 : 0);
        for (int special = 0; special < 2; special++) {
            int32_t k = llama_token_to_piece(vocab, id, buf, sizeof(buf), 0, special);
            if (k < 0)
                return -1;
            print_hex(buf, k);
        }
        putchar('\n');
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The escaping of tests/data/tokenizer/strings.txt: \\ \n \r \t \xHH, and
 * \z for nothing (so a line "\z" is the empty string). */
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
            ;
        else if (c == 'x' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            out[o++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
            i += 2;
        } else
            out[o++] = c;
    }
    return o;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *b2 = realloc(buf, cap + 1);
            if (!b2) {
                free(buf);
                buf = NULL;
            }
            buf = b2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *lines = NULL, *vt = NULL;
    bool add_special = true, parse_special = true, all_modes = false, dump = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            prompt = argv[++i];
        else if (!strcmp(argv[i], "--escaped-lines") && i + 1 < argc)
            lines = argv[++i];
        else if (!strcmp(argv[i], "--ggml-vocab-test") && i + 1 < argc)
            vt = argv[++i];
        else if (!strcmp(argv[i], "--no-bos"))
            add_special = false;
        else if (!strcmp(argv[i], "--no-special"))
            parse_special = false;
        else if (!strcmp(argv[i], "--all-modes"))
            all_modes = true;
        else if (!strcmp(argv[i], "--dump-vocab"))
            dump = true;
        else {
            fprintf(stderr, "ref_tokenize: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model || (!prompt && !lines && !vt && !dump)) {
        fprintf(stderr, "usage: ref_tokenize -m VOCAB (-p TEXT | --escaped-lines FILE | "
                        "--ggml-vocab-test FILE | --dump-vocab) [--no-bos] [--no-special] "
                        "[--all-modes]\n");
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *m = llama_model_load_from_file(model, mp);
    if (!m) {
        fprintf(stderr, "ref_tokenize: cannot load %s\n", model);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(m);
    int rc = 0;
    if (dump) {
        rc = dump_vocab(vocab);
    } else if (prompt) {
        rc = emit(vocab, prompt, strlen(prompt), all_modes, add_special, parse_special);
    } else {
        size_t n;
        char *data = read_all(lines ? lines : vt, &n);
        if (!data) {
            fprintf(stderr, "ref_tokenize: cannot read %s\n", lines ? lines : vt);
            return 1;
        }
        if (lines) {
            char *buf = malloc(n + 1);
            for (size_t i = 0; buf && i < n && rc == 0;) {
                size_t j = i;
                while (j < n && data[j] != '\n')
                    j++;
                if (j > i && data[i] != '#') {
                    size_t len = unescape(data + i, j - i, buf);
                    rc = emit(vocab, buf, len, all_modes, add_special, parse_special);
                }
                i = j + 1;
            }
            free(buf);
        } else {
            /* llama.cpp's tests/test-tokenizer-0.cpp format */
            const char *sep = "\n__ggml_vocab_test__\n";
            size_t sl = strlen(sep);
            for (size_t pos = 0; pos < n && rc == 0;) {
                const char *next = strstr(data + pos, sep);
                size_t end = next ? (size_t)(next - data) : n;
                rc = emit(vocab, data + pos, end - pos, all_modes, add_special, parse_special);
                if (!next)
                    break;
                pos = end + sl;
            }
        }
        free(data);
    }
    llama_model_free(m);
    return rc == 0 ? 0 : 1;
}
