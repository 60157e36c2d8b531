/*
 * tests/unit/test_generate.c -- unit tests for the generation loop
 * (engine/text/generate.c) on a tiny synthetic model written by
 * engine/synth: finish reasons (length, stop string, context full,
 * cancelled by the callback or the flag), determinism, sequences, the
 * errors for bad prompts, and gm_gen stepped for two sequences in one
 * gm_decode (as gemmad's batch does) with a grammar and logprobs on one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gemma.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/logprobs.h"
#include "engine/synth/synth.h"
#include "engine/text/generate.h"
#include "engine/text/vocab.h"

typedef struct fixture {
    char path[64];
    gm_model *model;
    gm_context *ctx; /* n_ctx 64, two sequences */
    int32_t *prompt;
    size_t n_prompt;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    cm_err err;
    gm_synth_config cfg;
    snprintf(f->path, sizeof(f->path), "/tmp/test_generate_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    gm_synth_opts so = {.type = GM_TYPE_F32, .seed = 3, .chat_template = NULL, .n_threads = 1};
    gm_load_opts lo = {.n_threads = 1, .vocab_only = false};
    gm_context_opts co = {.n_ctx = 64, .n_seq_max = 2, .n_threads = 1};
    if (gm_synth_preset("tiny", &cfg, &err) < 0 || gm_synth_write(&cfg, &so, f->path, &err) < 0 ||
        gm_model_load(f->path, &lo, &f->model, &err) < 0 ||
        gm_context_new(f->model, &co, &f->ctx, &err) < 0 ||
        gm_tokenize(gm_model_get_vocab(f->model), "Once upon a time", 16, true, true, &f->prompt,
                    &f->n_prompt, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->prompt);
    gm_context_free(f->ctx);
    gm_model_free(f->model);
    unlink(f->path);
    free(f);
    return 0;
}

typedef struct sink {
    char text[4096];
    size_t n;
    int calls;
    int cancel_after; /* 0: never */
} sink;

static int collect(void *user, const char *text, size_t len)
{
    sink *s = user;
    assert_true(len > 0);
    assert_true(s->n + len < sizeof(s->text));
    memcpy(s->text + s->n, text, len);
    s->n += len;
    s->text[s->n] = '\0';
    s->calls++;
    return s->cancel_after && s->calls >= s->cancel_after;
}

static void greedy_params(gm_generate_params *p, uint32_t max_tokens)
{
    memset(p, 0, sizeof(*p));
    gm_sample_params_default(&p->sample);
    p->max_tokens = max_tokens;
}

static void run(fixture *f, uint32_t seq, const gm_generate_params *p, sink *s,
                const volatile int *cancel, gm_generate_result *r)
{
    cm_err err;
    int rc = gm_generate(f->ctx, seq, f->prompt, f->n_prompt, p, collect, s, cancel, r, &err);
    if (rc != 0)
        fprintf(stderr, "generate: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void test_length_and_determinism(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 10);
    sink a = {0}, b = {0};
    gm_generate_result r;
    run(f, 0, &p, &a, NULL, &r);
    assert_int_equal(r.finish, GM_FINISH_LENGTH);
    assert_int_equal(r.n_generated_tokens, 10);
    assert_int_equal(r.n_prompt_tokens, f->n_prompt);
    assert_true(a.n > 0);
    assert_true(r.prompt_seconds >= 0.0 && r.generate_seconds >= 0.0);
    /* the sequence is cleared first: the same text again, also on seq 1 */
    run(f, 1, &p, &b, NULL, &r);
    assert_string_equal(a.text, b.text);
    memset(&b, 0, sizeof(b));
    run(f, 0, &p, &b, NULL, &r);
    assert_string_equal(a.text, b.text);
}

static void test_sampled_seed_repeats(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 12);
    p.sample.temperature = 3.0f;
    p.sample.seed = 1234;
    sink a = {0}, b = {0};
    gm_generate_result r;
    run(f, 0, &p, &a, NULL, &r);
    run(f, 0, &p, &b, NULL, &r);
    assert_string_equal(a.text, b.text);
}

static void test_stop_string(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 16);
    p.sample.temperature = 3.0f;
    p.sample.seed = 99;
    sink full = {0};
    gm_generate_result r;
    run(f, 0, &p, &full, NULL, &r);
    assert_true(full.n >= 6);
    /* stop at two bytes of the text from its middle */
    char stop[3] = {full.text[full.n / 2], full.text[full.n / 2 + 1], 0};
    p.stop[0] = stop;
    sink s = {0};
    run(f, 0, &p, &s, NULL, &r);
    assert_int_equal(r.finish, GM_FINISH_STOP);
    const char *first = strstr(full.text, stop);
    assert_non_null(first);
    assert_int_equal(s.n, (size_t)(first - full.text));
    assert_memory_equal(s.text, full.text, s.n);
    assert_null(strstr(s.text, stop));
}

static void test_context_full(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 0); /* until the context is full */
    p.ignore_eos = true;
    sink s = {0};
    gm_generate_result r;
    run(f, 0, &p, &s, NULL, &r);
    assert_int_equal(r.finish, GM_FINISH_CONTEXT);
    /* every position is used; the last token sampled is shown, not fed */
    assert_int_equal(r.n_generated_tokens, 64 - f->n_prompt + 1);
    assert_int_equal(gm_context_seq_len(f->ctx, 0), 64);
}

static void test_cancel_by_callback(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 30);
    p.ignore_eos = true;
    sink s = {0};
    s.cancel_after = 2;
    gm_generate_result r;
    run(f, 0, &p, &s, NULL, &r);
    assert_int_equal(r.finish, GM_FINISH_CANCELLED);
    assert_int_equal(s.calls, 2);
    assert_true(r.n_generated_tokens < 30);
}

static void test_cancel_flag(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 30);
    volatile int cancel = 1;
    sink s = {0};
    gm_generate_result r;
    run(f, 0, &p, &s, &cancel, &r);
    assert_int_equal(r.finish, GM_FINISH_CANCELLED);
    assert_int_equal(r.n_generated_tokens, 0);
    assert_int_equal(s.n, 0);
}

static void test_bad_prompts(void **state)
{
    fixture *f = *state;
    gm_generate_params p;
    greedy_params(&p, 4);
    gm_generate_result r;
    cm_err err;
    int32_t one = 2;
    assert_int_equal(gm_generate(f->ctx, 0, &one, 0, &p, collect, NULL, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    int32_t *big = calloc(65, sizeof(int32_t));
    assert_non_null(big);
    assert_int_equal(gm_generate(f->ctx, 0, big, 65, &p, collect, NULL, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "does not fit"));
    free(big);
    int32_t bad = 1 << 30;
    assert_int_equal(gm_generate(f->ctx, 0, &bad, 1, &p, collect, NULL, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(gm_generate(f->ctx, 2, &one, 1, &p, collect, NULL, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "sequence"));
}

/* ---- gm_gen stepped by hand, two sequences per gm_decode ---- */

typedef struct token_log {
    int32_t token[64];
    float logprob[64];
    size_t n_top[64];
    int n;
} token_log;

static int log_token(void *user, const gm_token_info *info)
{
    token_log *l = user;
    assert_true(l->n < 64);
    l->token[l->n] = info->token;
    l->logprob[l->n] = info->logprob;
    l->n_top[l->n] = info->n_top;
    l->n++;
    return 0;
}

static void grammar_params(gm_generate_params *p, const gm_grammar *g, token_log *log)
{
    greedy_params(p, 24);
    p->sample.temperature = 1.0f;
    p->sample.seed = 7;
    p->grammar = g;
    p->on_token = log_token;
    p->token_user = log;
    p->want_logprobs = true;
    p->top_logprobs = 3;
}

static void test_gen_batched_grammar_logprobs(void **state)
{
    fixture *f = *state;
    cm_err err;
    gm_grammar *g = NULL;
    assert_int_equal(gm_grammar_json_object(&g, &err), 0);
    /* alone, through gm_generate */
    gm_generate_params pa, pb;
    token_log log_alone = {0}, log_batch = {0};
    grammar_params(&pa, g, &log_alone);
    greedy_params(&pb, 24);
    sink a_alone = {0}, b_alone = {0};
    gm_generate_result r, rb;
    run(f, 0, &pa, &a_alone, NULL, &r);
    run(f, 1, &pb, &b_alone, NULL, &rb);
    const char *t = a_alone.text;
    while (*t == ' ' || *t == '\n')
        t++;
    assert_true(*t == '{'); /* json_object: the grammar held */
    if (r.finish == GM_FINISH_STOP)
        assert_int_equal(gm_grammar_check_text(g, a_alone.text, a_alone.n), 1);
    assert_true(log_alone.n > 0);
    for (int i = 0; i < log_alone.n; i++) {
        assert_true(log_alone.logprob[i] <= 0.0f);
        assert_int_equal(log_alone.n_top[i], 3);
    }

    /* the same two, stepped together: one gm_decode per step for both */
    const uint32_t V = gm_model_get_info(f->model)->n_vocab;
    float *logits = malloc(2 * (size_t)V * sizeof(*logits));
    assert_non_null(logits);
    grammar_params(&pa, g, &log_batch);
    sink a = {0}, b = {0};
    gm_gen *gen[2] = {NULL, NULL};
    assert_int_equal(gm_gen_new(f->model, f->prompt, f->n_prompt, &pa, collect, &a, &gen[0], &err),
                     0);
    assert_int_equal(gm_gen_new(f->model, f->prompt, f->n_prompt, &pb, collect, &b, &gen[1], &err),
                     0);
    int32_t next[2];
    bool live[2] = {true, true};
    for (uint32_t s = 0; s < 2; s++) { /* the prompts, each alone as gm_generate reads them */
        assert_int_equal(gm_context_seq_clear(f->ctx, s, &err), 0);
        uint32_t seqs[16];
        bool want[16];
        assert_true(f->n_prompt <= 16);
        for (size_t i = 0; i < f->n_prompt; i++) {
            seqs[i] = s;
            want[i] = i + 1 == f->n_prompt;
        }
        gm_batch pb_ = {.n_tokens = (uint32_t)f->n_prompt,
                        .tokens = f->prompt,
                        .seq = seqs,
                        .want_logits = want};
        assert_int_equal(gm_decode(f->ctx, &pb_, logits, &err), 0);
        int rc = gm_gen_step(gen[s], logits, true, &next[s], &err);
        assert_true(rc >= 0);
        live[s] = rc == 0;
    }
    while (live[0] || live[1]) {
        int32_t toks[2];
        uint32_t seqs[2];
        bool want[2] = {true, true};
        uint32_t n = 0, owner[2];
        for (uint32_t s = 0; s < 2; s++)
            if (live[s]) {
                toks[n] = next[s];
                seqs[n] = s;
                owner[n++] = s;
            }
        gm_batch bb = {.n_tokens = n, .tokens = toks, .seq = seqs, .want_logits = want};
        assert_int_equal(gm_decode(f->ctx, &bb, logits, &err), 0);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t s = owner[k];
            int rc = gm_gen_step(gen[s], logits + (size_t)k * V,
                                 gm_context_seq_len(f->ctx, s) < gm_context_n_ctx(f->ctx), &next[s],
                                 &err);
            assert_true(rc >= 0);
            live[s] = rc == 0;
        }
    }
    /* each answers as alone: text, tokens, logprobs */
    assert_string_equal(a.text, a_alone.text);
    assert_string_equal(b.text, b_alone.text);
    assert_int_equal(log_batch.n, log_alone.n);
    for (int i = 0; i < log_alone.n; i++) {
        assert_int_equal(log_batch.token[i], log_alone.token[i]);
        assert_true(fabsf(log_batch.logprob[i] - log_alone.logprob[i]) < 1e-4f);
    }
    gm_gen_free(gen[0]);
    gm_gen_free(gen[1]);
    free(logits);
    gm_grammar_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_and_determinism),
        cmocka_unit_test(test_sampled_seed_repeats),
        cmocka_unit_test(test_stop_string),
        cmocka_unit_test(test_context_full),
        cmocka_unit_test(test_cancel_by_callback),
        cmocka_unit_test(test_cancel_flag),
        cmocka_unit_test(test_bad_prompts),
        cmocka_unit_test(test_gen_batched_grammar_logprobs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
