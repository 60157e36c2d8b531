/*
 * tests/unit/test_daemon_generate.c -- the generate route (daemon/
 * api_generate.c) when memory runs out: the audit log must never hash a
 * prompt or an answer that lost bytes on the way.
 *
 * The real route runs on a real libuv loop; what lies below it is wrapped
 * (-Wl,--wrap) so no model or socket is needed: gmd_infer_tokenize and
 * gmd_infer_context stand in for the engine, gmd_model_submit takes the
 * job instead of a scheduler, gmd_api_send_error and gmd_guard_record note
 * what the client was answered and what the audit log was given, and
 * realloc (which daemon/buf.c grows with) fails on demand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "daemon/api.h"

/* ---- the wrapped functions ---- */

static int fail_realloc;

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    if (fail_realloc)
        return NULL;
    return __real_realloc(p, n);
}

int __wrap_gmd_infer_tokenize(const gmd_infer_model *m, const gmd_infer_params *params,
                              int32_t **ids, size_t *n_ids, cm_err *err);
int __wrap_gmd_infer_tokenize(const gmd_infer_model *m, const gmd_infer_params *params,
                              int32_t **ids, size_t *n_ids, cm_err *err)
{
    (void)m;
    (void)params;
    (void)err;
    *ids = malloc(3 * sizeof(**ids));
    if (*ids == NULL)
        return -1;
    (*ids)[0] = 2, (*ids)[1] = 10, (*ids)[2] = 11;
    *n_ids = 3;
    return 0;
}

uint32_t __wrap_gmd_infer_context(const gmd_infer_model *m);
uint32_t __wrap_gmd_infer_context(const gmd_infer_model *m)
{
    (void)m;
    return 4096;
}

/* The KV cache a request needs: 1 MiB a token (kv_need_per_token). */
static uint64_t kv_need_per_token = 0;

uint64_t __wrap_gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens);
uint64_t __wrap_gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens)
{
    (void)m;
    return kv_need_per_token * (n_prompt + max_tokens);
}

static gmd_job *submitted;

int __wrap_gmd_model_submit(gmd_model *m, gmd_job *job);
int __wrap_gmd_model_submit(gmd_model *m, gmd_job *job)
{
    (void)m;
    submitted = job;
    return 0;
}

/* The last error the client got. */
static int answered_status;
static char answered_code[64];

void __wrap_gmd_api_send_error(gmd_conn *c, gmd_api_err e, const char *param, const char *message);
void __wrap_gmd_api_send_error(gmd_conn *c, gmd_api_err e, const char *param, const char *message)
{
    (void)c;
    (void)param;
    (void)message;
    answered_status = gmd_api_err_status(e);
    snprintf(answered_code, sizeof(answered_code), "%s", gmd_api_err_code(e));
}

/* What the audit log was given, by event type. */
typedef struct seen_event {
    int n;
    int http_status;
    char text[256];     /* the prompt (request) or the output (response) */
    size_t text_len;
    char detail[256];
} seen_event;
static seen_event seen_request, seen_response;

int __real_gmd_guard_record(gmd_guard *g, const au_event *ev, gmd_audit_cont cont, void *arg);
int __wrap_gmd_guard_record(gmd_guard *g, const au_event *ev, gmd_audit_cont cont, void *arg);
int __wrap_gmd_guard_record(gmd_guard *g, const au_event *ev, gmd_audit_cont cont, void *arg)
{
    bool req = strcmp(ev->type, AU_EV_REQUEST) == 0;
    seen_event *s = req ? &seen_request : &seen_response;
    const char *t = req ? ev->prompt : ev->output;
    size_t n = req ? ev->prompt_len : ev->output_len;
    s->n++;
    s->http_status = ev->http_status;
    s->text_len = n;
    snprintf(s->text, sizeof(s->text), "%.*s", (int)(n < 255 ? n : 255), t ? t : "");
    snprintf(s->detail, sizeof(s->detail), "%s", ev->detail ? ev->detail : "");
    return __real_gmd_guard_record(g, ev, cont, arg);
}

/* ---- a server with one ready model and one connection ---- */

typedef struct fixture {
    uv_loop_t loop;
    gmd_server *srv;
    gmd_conn *conn;
    char arena[64];
    char body[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->srv = calloc(1, sizeof(*f->srv));
    assert_non_null(f->srv);
    f->srv->loop = &f->loop;
    gmd_config_defaults(&f->srv->cfg);
    gmd_metrics_init(&f->srv->metrics);
    gmd_model_config mc;
    memset(&mc, 0, sizeof(mc));
    snprintf(mc.name, sizeof(mc.name), "m");
    mc.max_tokens = 64;
    mc.kv_budget_mb = 8;
    cm_err err;
    assert_int_equal(gmd_model_init(&f->srv->models[0], f->srv, &mc, &err), 0);
    f->srv->n_models = 1;
    f->srv->models[0].state = GMD_MODEL_READY;
    f->srv->models[0].im = (gmd_infer_model *)f; /* never read: the engine is wrapped */
    kv_need_per_token = 0;
    /* A connection that is closing: whatever the route writes goes nowhere
     * (gmd_api_send_error is wrapped to see the error answers). */
    f->conn = calloc(1, sizeof(*f->conn));
    assert_non_null(f->conn);
    f->conn->srv = f->srv;
    f->conn->closing = true;
    assert_int_equal(gmd_api_conn_hooks.on_open(f->conn), 0); /* as conn.c does */
    snprintf(f->conn->http.method, sizeof(f->conn->http.method), "POST");
    snprintf(f->arena, sizeof(f->arena), "/v1/completions");
    f->conn->http.arena = f->arena;
    snprintf(f->body, sizeof(f->body),
             "{\"model\":\"m\",\"prompt\":\"hello world, the whole prompt\",\"max_tokens\":4}");
    f->conn->http.body = f->body;
    f->conn->http.body_len = strlen(f->body);
    submitted = NULL;
    answered_status = 0;
    answered_code[0] = '\0';
    memset(&seen_request, 0, sizeof(seen_request));
    memset(&seen_response, 0, sizeof(seen_response));
    fail_realloc = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fail_realloc = 0;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    gmd_model_destroy(&f->srv->models[0]);
    gmd_api_conn_hooks.on_close(f->conn);
    free(f->conn);
    free(f->srv);
    free(f);
    return 0;
}

/* An event from the scheduler for `job`. */
static gmd_event *event(gmd_job *job, gmd_event_kind kind, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    gmd_event *ev = calloc(1, sizeof(*ev) + n + 1);
    assert_non_null(ev);
    ev->kind = kind;
    ev->job = job;
    ev->t = gmd_now();
    ev->len = n;
    if (n)
        memcpy(ev->text, text, n);
    if (kind == GMD_EV_DONE) {
        ev->result.n_prompt_tokens = 3;
        ev->result.n_generated_tokens = 2;
        ev->result.finish = GMD_FINISH_STOP;
    }
    return ev;
}

/* The route up to the scheduler: tokenized, decided, recorded, submitted. */
static gmd_job *submit_one(fixture *f)
{
    gmd_route_generate(f->conn, GMD_JOB_COMPLETION);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return submitted;
}

/* End a submitted job as the scheduler would (DONE), which frees it. */
static void job_discard(fixture *f, gmd_job *job)
{
    gmd_event *d = event(job, GMD_EV_DONE, NULL);
    gmd_api_event(f->srv, d);
    free(d);
}

/* Forget what the last request left noted. */
static void setup_again(fixture *f)
{
    (void)f;
    submitted = NULL;
    answered_status = 0;
    answered_code[0] = '\0';
    memset(&seen_request, 0, sizeof(seen_request));
    memset(&seen_response, 0, sizeof(seen_response));
}

/* ---- tests ---- */

/* Nothing fails: the prompt and the answer reach the audit log whole. */
static void test_whole_prompt_and_answer(void **state)
{
    fixture *f = *state;
    gmd_job *job = submit_one(f);
    assert_non_null(job);
    assert_int_equal(seen_request.n, 1);
    assert_string_equal(seen_request.text, "hello world, the whole prompt");
    gmd_event *t = event(job, GMD_EV_TEXT, "an answer");
    gmd_api_event(f->srv, t);
    free(t);
    gmd_event *d = event(job, GMD_EV_DONE, NULL);
    gmd_api_event(f->srv, d); /* records, answers, frees the job */
    free(d);
    assert_int_equal(seen_response.n, 1);
    assert_int_equal(seen_response.http_status, 200);
    assert_string_equal(seen_response.text, "an answer");
}

/* The prompt's audit text cannot be built: the request is refused before
 * anything is recorded or run, rather than recorded with a cut prompt. */
static void test_prompt_out_of_memory(void **state)
{
    fixture *f = *state;
    gmd_route_generate(f->conn, GMD_JOB_COMPLETION);
    fail_realloc = 1; /* from here the route's buffers cannot grow */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    fail_realloc = 0;
    if (seen_request.n > 0) /* recorded: then only with the whole prompt */
        assert_string_equal(seen_request.text, "hello world, the whole prompt");
    assert_null(submitted);
    assert_int_equal(answered_status, 503);
    assert_string_equal(answered_code, "out_of_memory");
}

/* The answer's text cannot be kept: the job is cancelled, the audit log
 * records a failure (500), not a 200 with a shorter answer. */
static void test_answer_out_of_memory(void **state)
{
    fixture *f = *state;
    gmd_job *job = submit_one(f);
    assert_non_null(job);
    gmd_event *t = event(job, GMD_EV_TEXT, "an answer");
    fail_realloc = 1;
    gmd_api_event(f->srv, t);
    fail_realloc = 0;
    free(t);
    assert_int_equal(atomic_load(&job->cancel), 1); /* the scheduler stops it */
    t = event(job, GMD_EV_TEXT, " that goes on");
    gmd_api_event(f->srv, t); /* memory is back: still not a truncated 200 */
    free(t);
    gmd_event *d = event(job, GMD_EV_DONE, NULL);
    gmd_api_event(f->srv, d);
    free(d);
    assert_int_equal(seen_response.n, 1);
    assert_int_equal(seen_response.http_status, 500);
    assert_non_null(strstr(seen_response.detail, "out of memory"));
    assert_int_equal(answered_status, 500);
}

/* A request whose prompt and max_tokens need more KV cache than the
 * model's whole budget is refused before it is recorded or queued: 400
 * kv_budget_exceeded, not a 500 from the scheduler. */
static void test_over_kv_budget(void **state)
{
    fixture *f = *state;
    kv_need_per_token = 1u << 20; /* 3 prompt tokens + 4 = 7 MiB: fits in 8 */
    gmd_job *job = submit_one(f);
    assert_non_null(job);
    assert_int_equal(answered_status, 0);
    job_discard(f, job);
    setup_again(f);
    kv_need_per_token = 2u << 20; /* 14 MiB: never fits in 8 */
    assert_null(submit_one(f));
    assert_int_equal(answered_status, 400);
    assert_string_equal(answered_code, "kv_budget_exceeded");
    assert_int_equal(seen_request.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_whole_prompt_and_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_over_kv_budget, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
