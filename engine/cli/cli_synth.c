/*
 * engine/cli/cli_synth.c -- 'gemma-run synth': write a synthetic Gemma 4
 * GGUF model (engine/synth/synth.h) from a preset, optionally shrunk and
 * varied, with seeded random weights of the requested type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/format/tensor_type.h"
#include "engine/synth/synth.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run synth --preset NAME [options] -o FILE.gguf\n"
            "\n"
            "Write a synthetic Gemma 4 model with seeded random weights.\n"
            "\n"
            "  --preset NAME       tiny, tiny-moe, e2b, e4b, 26b-a4b or 31b\n"
            "  -o, --output FILE   the GGUF file to write\n"
            "  --type TYPE         weight type: f32 (default), f16, bf16, q8_0, q4_0, q4_k,\n"
            "                      q6_k (1-D tensors, norms, scales and the router stay f32;\n"
            "                      K-quant rows that are not a multiple of 256 fall back)\n"
            "  --seed S            random seed (default 1); same seed, same file\n"
            "  --layers N          number of layers (keeps the sliding/full pattern valid)\n"
            "  --vocab N           vocabulary size (at least %d)\n"
            "  --ctx N             training context length (gemma4.context_length)\n"
            "  --swa N             sliding window\n"
            "  --shared-kv N       number of KV-shared layers (0 disables)\n"
            "  --untied            write a separate output.weight\n"
            "  --no-softcap        final_logit_softcapping = 0\n"
            "  --no-layer-scale    no blk.N.layer_output_scale.weight\n"
            "  --separate-gate-up  MoE: ffn_gate_exps + ffn_up_exps instead of ffn_gate_up_exps\n"
            "  --chat-template FILE  store this jinja file as tokenizer.chat_template\n"
            "  --threads N         encoding threads (default: one per CPU); the file does\n"
            "                      not depend on it\n"
            "  -h, --help          this help\n",
            GM_SYNTH_MIN_VOCAB);
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX) {
        fprintf(stderr, "gemma-run synth: %s needs a non-negative integer, got '%s'\n", opt, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* A chat template's text; NULL (the reason printed) when it cannot be read. */
static char *read_text_file(const char *path)
{
    char *buf;
    size_t n;
    int rc = cli_read_file(path, &buf, &n);
    if (rc == -1)
        fprintf(stderr, "gemma-run synth: cannot open %s: %s\n", path, strerror(errno));
    else if (rc < 0)
        fprintf(stderr, "gemma-run synth: cannot read %s\n", path);
    return rc == 0 ? buf : NULL;
}

typedef struct synth_args {
    const char *preset, *output, *type_name, *template_path;
    uint64_t seed;
    uint32_t layers, vocab, ctx, swa, shared_kv, threads;
    bool has_layers, has_vocab, has_ctx, has_swa, has_shared_kv;
    bool untied, no_softcap, no_layer_scale, separate_gate_up;
} synth_args;

/* 0 parsed, 1 help printed, -1 usage error (message printed). */
static int parse_args(int argc, char **argv, synth_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(o, "--untied")) {
            a->untied = true;
            takes = false;
        } else if (!strcmp(o, "--no-softcap")) {
            a->no_softcap = true;
            takes = false;
        } else if (!strcmp(o, "--no-layer-scale")) {
            a->no_layer_scale = true;
            takes = false;
        } else if (!strcmp(o, "--separate-gate-up")) {
            a->separate_gate_up = true;
            takes = false;
        } else if (!v) {
            if (strcmp(o, "--preset") && strcmp(o, "-o") && strcmp(o, "--output") &&
                strcmp(o, "--type") && strcmp(o, "--seed") && strcmp(o, "--layers") &&
                strcmp(o, "--vocab") && strcmp(o, "--ctx") && strcmp(o, "--swa") &&
                strcmp(o, "--shared-kv") && strcmp(o, "--chat-template") &&
                strcmp(o, "--threads")) {
                fprintf(stderr, "gemma-run synth: unknown option '%s'\n", o);
                return -1;
            }
            fprintf(stderr, "gemma-run synth: %s needs a value\n", o);
            return -1;
        } else if (!strcmp(o, "--preset")) {
            a->preset = v;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            a->output = v;
        } else if (!strcmp(o, "--type")) {
            a->type_name = v;
        } else if (!strcmp(o, "--chat-template")) {
            a->template_path = v;
        } else if (!strcmp(o, "--seed")) {
            char *end;
            errno = 0;
            a->seed = strtoull(v, &end, 0);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "gemma-run synth: --seed needs a non-negative integer, got '%s'\n",
                        v);
                return -1;
            }
        } else if (!strcmp(o, "--layers")) {
            if (parse_u32(o, v, &a->layers) < 0)
                return -1;
            a->has_layers = true;
        } else if (!strcmp(o, "--vocab")) {
            if (parse_u32(o, v, &a->vocab) < 0)
                return -1;
            a->has_vocab = true;
        } else if (!strcmp(o, "--ctx")) {
            if (parse_u32(o, v, &a->ctx) < 0)
                return -1;
            a->has_ctx = true;
        } else if (!strcmp(o, "--swa")) {
            if (parse_u32(o, v, &a->swa) < 0)
                return -1;
            a->has_swa = true;
        } else if (!strcmp(o, "--threads")) {
            if (parse_u32(o, v, &a->threads) < 0)
                return -1;
        } else if (!strcmp(o, "--shared-kv")) {
            if (parse_u32(o, v, &a->shared_kv) < 0)
                return -1;
            a->has_shared_kv = true;
        } else {
            fprintf(stderr, "gemma-run synth: unknown option '%s'\n", o);
            return -1;
        }
        if (takes)
            i++;
    }
    if (!a->preset) {
        fprintf(stderr, "gemma-run synth: --preset is required\n");
        return -1;
    }
    if (!a->output) {
        fprintf(stderr, "gemma-run synth: -o FILE is required\n");
        return -1;
    }
    return 0;
}

/* Apply the arguments to a preset; -1 with a message on a usage error. */
static int configure(const synth_args *a, gm_synth_config *cfg, gm_synth_opts *opts)
{
    cm_err err = {{0}};
    if (gm_synth_preset(a->preset, cfg, &err) < 0)
        goto bad;
    opts->type = GM_TYPE_F32;
    opts->seed = a->seed;
    opts->n_threads = a->threads;
    opts->chat_template = NULL;
    if (a->type_name) {
        static const char *const allowed[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k",
                                              "q6_k"};
        bool ok = false;
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            ok |= strcmp(a->type_name, allowed[i]) == 0;
        if (!ok || gm_type_from_name(a->type_name, &opts->type) < 0) {
            cm_err_set(&err, "unknown --type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)",
                       a->type_name);
            goto bad;
        }
    }
    if (a->has_layers && gm_synth_set_layers(cfg, a->layers, &err) < 0)
        goto bad;
    if (a->has_vocab && gm_synth_set_vocab(cfg, a->vocab, &err) < 0)
        goto bad;
    if (a->has_shared_kv && gm_synth_set_shared_kv(cfg, a->shared_kv, &err) < 0)
        goto bad;
    if (a->has_swa) {
        if (a->swa == 0) {
            cm_err_set(&err, "--swa must be at least 1");
            goto bad;
        }
        cfg->sliding_window = a->swa;
    }
    if (a->has_ctx) {
        if (a->ctx == 0) {
            cm_err_set(&err, "--ctx must be at least 1");
            goto bad;
        }
        cfg->n_ctx_train = a->ctx;
    }
    if (a->separate_gate_up && cfg->n_expert == 0) {
        cm_err_set(&err, "--separate-gate-up needs a MoE preset (tiny-moe, 26b-a4b)");
        goto bad;
    }
    cfg->untied |= a->untied;
    if (a->no_softcap)
        cfg->softcap = 0.0f;
    if (a->no_layer_scale)
        cfg->layer_output_scale = false;
    if (a->separate_gate_up)
        cfg->fused_gate_up = false;
    if (gm_synth_validate(cfg, &err) < 0)
        goto bad;
    return 0;
bad:
    fprintf(stderr, "gemma-run synth: %s\n", err.msg);
    return -1;
}

int cli_synth(int argc, char **argv)
{
    synth_args a;
    memset(&a, 0, sizeof(a));
    a.seed = 1;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "Try 'gemma-run synth --help'.\n");
        return rc > 0 ? 0 : 2;
    }
    gm_synth_config cfg;
    gm_synth_opts opts;
    if (configure(&a, &cfg, &opts) < 0) {
        fprintf(stderr, "Try 'gemma-run synth --help'.\n");
        return 2;
    }
    char *tmpl = NULL;
    if (a.template_path) {
        tmpl = read_text_file(a.template_path);
        if (!tmpl)
            return 1;
    }
    opts.chat_template = tmpl;
    cm_err err = {{0}};
    if (gm_synth_write(&cfg, &opts, a.output, &err) < 0) {
        fprintf(stderr, "gemma-run synth: %s\n", err.msg);
        free(tmpl);
        return 1;
    }
    free(tmpl);
    char pattern[GM_SYNTH_MAX_LAYERS + 1];
    for (uint32_t il = 0; il < cfg.n_layer; il++)
        pattern[il] = cfg.swa[il] ? 'S' : 'F';
    pattern[cfg.n_layer] = '\0';
    printf("wrote %s: preset %s, type %s, seed %llu, %u layers %s, %u KV-shared, vocab %u, "
           "embd %u, PLE %u, experts %u/%u\n",
           a.output, cfg.preset, gm_type_name(opts.type), (unsigned long long)opts.seed,
           cfg.n_layer, pattern, cfg.n_shared_kv, cfg.n_vocab, cfg.n_embd,
           cfg.n_embd_per_layer, cfg.n_expert_used, cfg.n_expert);
    return 0;
}
