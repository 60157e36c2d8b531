/*
 * engine/cli/cli_generate.c -- 'gemma-run generate': load a model and
 * stream generated text to stdout.
 *
 *   gemma-run generate -m FILE -p TEXT [-n N] [--chat] [--temp T] [--top-k K]
 *                      [--top-p P] [--seed S] [-t THREADS] [--ctx N]
 *
 * Without --chat the prompt is tokenized as is (BOS added, special tokens
 * parsed); with --chat it becomes one user turn followed by the generation
 * prompt (engine/text/chat.h, gm_chat_tokenize: special-token text in the
 * prompt and --system stays text, as gemmad treats message content). Statistics go to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "engine/cli/cli.h"
#include "engine/gemma.h"
#include "engine/text/chat.h"
#include "engine/text/generate.h"
#include "engine/text/vocab.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemma-run generate -m FILE -p TEXT [options]\n"
            "  -m, --model FILE      GGUF model\n"
            "  -p, --prompt TEXT     prompt text\n"
            "  -n, --n-predict N     tokens to generate at most (default 256; 0 = until the\n"
            "                        context is full)\n"
            "  --chat                render the prompt as a user turn of the chat format\n"
            "  --system TEXT         with --chat: a system turn first\n"
            "  --think               with --chat: enable thinking\n"
            "  --temp T              temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K             top-k (default 40; 0 = off)\n"
            "  --top-p P             top-p (default 0.95; 1 = off)\n"
            "  --min-p P             min-p (default 0.05; 0 = off)\n"
            "  --repeat-penalty R    repetition penalty (default 1 = off)\n"
            "  --frequency-penalty F, --presence-penalty P   (default 0 = off)\n"
            "  --seed S              random seed (default: a new one each run)\n"
            "  --stop TEXT           stop string (repeatable, at most %d)\n"
            "  --ignore-eos          do not stop at end-of-generation tokens\n"
            "  -t, --threads N       CPU threads (default: all)\n"
            "  --ctx N               context size (default: min(training, 4096))\n"
            "  --device DEV          cpu (default) or cuda:N\n",
            GM_MAX_STOP_STRINGS);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v)
        return -1;
    *out = v;
    return 0;
}

static int write_text(void *user, const char *text, size_t len)
{
    (void)user;
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
        return 1; /* stdout is gone: stop */
    return 0;
}

static uint64_t fresh_seed(void)
{
    uint64_t seed = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&seed, sizeof(seed), 1, f) != 1)
            seed = 0;
        fclose(f);
    }
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ull + (uint64_t)ts.tv_nsec;
    }
    return seed;
}

static const char *finish_name(gm_finish_reason r)
{
    switch (r) {
    case GM_FINISH_LENGTH: return "length";
    case GM_FINISH_STOP: return "stop";
    case GM_FINISH_CANCELLED: return "cancelled";
    case GM_FINISH_CONTEXT: return "context full";
    }
    return "?";
}

int cli_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *system = NULL;
    bool chat = false, think = false, have_seed = false;
    long n_predict = 256, n_threads = 0, n_ctx = 0;
    const char *device = NULL;
    size_t n_stop = 0;
    gm_generate_params gp;
    memset(&gp, 0, sizeof(gp));
    gm_sample_params_default(&gp.sample);
    gp.sample.temperature = 0.8f;
    gp.sample.top_k = 40;
    gp.sample.top_p = 0.95f;
    gp.sample.min_p = 0.05f;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        int bad = 0;
#define IS(x) (strcmp(a, (x)) == 0)
        if (IS("-h") || IS("--help")) {
            usage(stdout);
            return 0;
        } else if (IS("--chat")) {
            chat = true;
            continue;
        } else if (IS("--think")) {
            think = true;
            continue;
        } else if (IS("--ignore-eos")) {
            gp.ignore_eos = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "gemma-run generate: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (IS("-m") || IS("--model"))
            model_path = val;
        else if (IS("-p") || IS("--prompt"))
            prompt = val;
        else if (IS("--system"))
            system = val;
        else if (IS("-n") || IS("--n-predict"))
            bad = parse_long(val, 0, INT32_MAX, &n_predict);
        else if (IS("-t") || IS("--threads"))
            bad = parse_long(val, 0, 4096, &n_threads);
        else if (IS("--device"))
            device = val;
        else if (IS("--ctx") || IS("-c") || IS("--ctx-size"))
            bad = parse_long(val, 0, INT32_MAX, &n_ctx);
        else if (IS("--temp"))
            bad = parse_float(val, &gp.sample.temperature);
        else if (IS("--top-k")) {
            bad = parse_long(val, 0, INT32_MAX, &l);
            gp.sample.top_k = (int32_t)l;
        } else if (IS("--top-p"))
            bad = parse_float(val, &gp.sample.top_p);
        else if (IS("--min-p"))
            bad = parse_float(val, &gp.sample.min_p);
        else if (IS("--repeat-penalty"))
            bad = parse_float(val, &gp.sample.repeat_penalty);
        else if (IS("--frequency-penalty"))
            bad = parse_float(val, &gp.sample.frequency_penalty);
        else if (IS("--presence-penalty"))
            bad = parse_float(val, &gp.sample.presence_penalty);
        else if (IS("--seed")) {
            bad = parse_u64(val, &gp.sample.seed);
            have_seed = true;
        } else if (IS("--stop")) {
            if (n_stop == GM_MAX_STOP_STRINGS) {
                fprintf(stderr, "gemma-run generate: at most %d --stop strings\n",
                        GM_MAX_STOP_STRINGS);
                return 2;
            }
            gp.stop[n_stop++] = val;
        } else {
            fprintf(stderr, "gemma-run generate: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef IS
        if (bad) {
            fprintf(stderr, "gemma-run generate: bad value '%s' for %s\n", val, a);
            return 2;
        }
        i++;
    }
    if (!model_path || !prompt) {
        fprintf(stderr, "gemma-run generate: need -m FILE and -p TEXT\n");
        usage(stderr);
        return 2;
    }
    if (!have_seed)
        gp.sample.seed = fresh_seed();
    gp.max_tokens = (uint32_t)n_predict;

    cm_err err;
    gm_model *model = NULL;
    gm_context *ctx = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = 1;
    gm_load_opts lo = {.n_threads = (int)n_threads, .vocab_only = false, .device = device};
    if (gm_model_load(model_path, &lo, &model, &err) < 0) {
        fprintf(stderr, "gemma-run generate: cannot load the model: %s\n", err.msg);
        return 1;
    }
    const gm_vocab *vocab = gm_model_get_vocab(model);
    if (!vocab) {
        fprintf(stderr, "gemma-run generate: %s has no tokenizer\n", model_path);
        goto out;
    }
    if (chat) {
        gm_chat_message msgs[2];
        size_t n = 0;
        if (system)
            msgs[n++] = (gm_chat_message){GM_ROLE_SYSTEM, system};
        msgs[n++] = (gm_chat_message){GM_ROLE_USER, prompt};
        gm_chat_opts co = {.add_generation_prompt = true, .enable_thinking = think};
        /* as gemmad does: special-token text in the prompt stays text */
        if (gm_chat_tokenize(vocab, msgs, n, &co, &ids, &n_ids, &err) < 0) {
            fprintf(stderr, "gemma-run generate: %s\n", err.msg);
            goto out;
        }
    } else if (gm_tokenize(vocab, prompt, strlen(prompt), true, true, &ids, &n_ids, &err) < 0) {
        fprintf(stderr, "gemma-run generate: %s\n", err.msg);
        goto out;
    }
    gm_context_opts copt = {.n_ctx = (uint32_t)n_ctx, .n_seq_max = 1, .n_threads = (int)n_threads};
    if (gm_context_new(model, &copt, &ctx, &err) < 0) {
        fprintf(stderr, "gemma-run generate: cannot create a context: %s\n", err.msg);
        goto out;
    }
    gm_generate_result res;
    if (gm_generate(ctx, 0, ids, n_ids, &gp, write_text, NULL, NULL, &res, &err) < 0) {
        fprintf(stderr, "\ngemma-run generate: %s\n", err.msg);
        goto out;
    }
    putchar('\n');
    fflush(stdout);
    fprintf(stderr,
            "generate: seed %" PRIu64 "; prompt %u tokens in %.3f s (%.1f tok/s); "
            "generated %u tokens, %.3f s after the first (%.1f tok/s); finish: %s\n",
            gp.sample.seed, res.n_prompt_tokens, res.prompt_seconds,
            res.prompt_seconds > 0 ? res.n_prompt_tokens / res.prompt_seconds : 0.0,
            res.n_generated_tokens, res.generate_seconds,
            res.generate_seconds > 0 ? (res.n_generated_tokens - 1) / res.generate_seconds : 0.0,
            finish_name(res.finish));
    rc = 0;
out:
    free(ids);
    gm_context_free(ctx);
    gm_model_free(model);
    return rc;
}
