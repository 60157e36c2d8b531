/*
 * tests/unit/test_daemon_sched.c -- a model's scheduler thread
 * (daemon/sched.c) and queue (daemon/models.c) over a fake engine:
 * admission within the KV budget, fair (first come, first served) order,
 * refusal of a request larger than the whole budget, cancellation of
 * running and queued requests, the queue's bound, and the invariant that
 * every job gets exactly one DONE event, after its text.
 *
 * The engine calls the scheduler makes (daemon/infer.h) are wrapped
 * (-Wl,--wrap): a request needs (prompt + max_tokens) MiB of KV cache,
 * and generates one character a step until max_tokens. gmd_server_post
 * is wrapped to collect the events instead of waking a loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/server.h"

/* ---- the fake engine ---- */

#define N_SLOTS 2
#define MIB ((uint64_t)1 << 20)

typedef struct fake_slot {
    bool active;
    gmd_infer_text_cb on_text;
    void *user;
    uint32_t left;              /* tokens still to generate */
    uint32_t generated;
    uint32_t prompt;
} fake_slot;

static fake_slot slots[N_SLOTS];
static char start_order[64];    /* the first letter of each started prompt */
static unsigned n_started;
static atomic_int step_delay_us;
/* With gate_at > 0, a step holds once a slot has generated gate_at
 * tokens, until the test opens the gate (so it can act in between). */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static unsigned gate_at;
static bool gate_open;

static void gate_wait(void)
{
    pthread_mutex_lock(&gate_mu);
    bool hold = false;
    for (unsigned i = 0; i < N_SLOTS; i++)
        hold |= gate_at > 0 && slots[i].active && slots[i].generated == gate_at;
    while (hold && !gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}
/* The scheduler thread broke the engine's contract (cmocka's asserts
 * belong to the test's thread: this is checked there). */
static atomic_int engine_misuse;

unsigned __wrap_gmd_infer_slots(const gmd_infer_model *m);
unsigned __wrap_gmd_infer_slots(const gmd_infer_model *m)
{
    (void)m;
    return N_SLOTS;
}

uint64_t __wrap_gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens);
uint64_t __wrap_gmd_infer_kv_need(const gmd_infer_model *m, size_t n_prompt, uint32_t max_tokens)
{
    (void)m;
    return (n_prompt + max_tokens) * MIB;
}

int __wrap_gmd_infer_seq_start(gmd_infer_model *m, unsigned slot, const gmd_infer_params *p,
                               gmd_infer_text_cb on_text, void *user, cm_err *err);
int __wrap_gmd_infer_seq_start(gmd_infer_model *m, unsigned slot, const gmd_infer_params *p,
                               gmd_infer_text_cb on_text, void *user, cm_err *err)
{
    (void)m;
    (void)err;
    if (slot >= N_SLOTS || slots[slot].active) { /* only free slots are started */
        atomic_fetch_add(&engine_misuse, 1);
        return cm_err_set(err, "slot %u is not free", slot);
    }
    slots[slot] = (fake_slot){true, on_text, user, p->max_tokens, 0, (uint32_t)p->n_prompt_ids};
    if (n_started + 1 < sizeof(start_order))
        start_order[n_started++] = p->prompt[0];
    return 0;
}

void __wrap_gmd_infer_seq_cancel(gmd_infer_model *m, unsigned slot, gmd_infer_result *r);
void __wrap_gmd_infer_seq_cancel(gmd_infer_model *m, unsigned slot, gmd_infer_result *r)
{
    (void)m;
    if (slot >= N_SLOTS || !slots[slot].active) /* only started slots are cancelled */
        atomic_fetch_add(&engine_misuse, 1);
    memset(r, 0, sizeof(*r));
    r->finish = GMD_FINISH_CANCELLED;
    r->n_prompt_tokens = slots[slot].prompt;
    r->n_generated_tokens = slots[slot].generated;
    slots[slot].active = false;
}

int __wrap_gmd_infer_step(gmd_infer_model *m, gmd_infer_done_cb on_done, void *user,
                          gmd_infer_step_stats *st, cm_err *err);
int __wrap_gmd_infer_step(gmd_infer_model *m, gmd_infer_done_cb on_done, void *user,
                          gmd_infer_step_stats *st, cm_err *err)
{
    (void)m;
    (void)err;
    memset(st, 0, sizeof(*st));
    int delay = atomic_load(&step_delay_us);
    if (delay > 0) {
        struct timespec ts = {0, delay * 1000L};
        nanosleep(&ts, NULL);
    }
    gate_wait();
    for (unsigned i = 0; i < N_SLOTS; i++) {
        fake_slot *s = &slots[i];
        if (!s->active)
            continue;
        st->n_seqs++;
        st->n_tokens++;
        bool stop = false;
        if (s->left > 0) {
            s->left--;
            s->generated++;
            stop = s->on_text(s->user, "x", 1) != 0; /* the sink asks to stop */
        }
        if (s->left == 0 || stop) {
            gmd_infer_result r = {.finish = stop ? GMD_FINISH_CANCELLED : GMD_FINISH_LENGTH,
                                  .n_prompt_tokens = s->prompt,
                                  .n_generated_tokens = s->generated};
            s->active = false;
            on_done(user, i, 0, &r, NULL);
        }
    }
    return 0;
}

void __wrap_gmd_infer_cache_stats_get(const gmd_infer_model *m, gmd_infer_cache_stats *out);
void __wrap_gmd_infer_cache_stats_get(const gmd_infer_model *m, gmd_infer_cache_stats *out)
{
    (void)m;
    memset(out, 0, sizeof(*out));
}

/* ---- the events the scheduler posts ---- */

#define MAX_JOBS 16

typedef struct seen {
    gmd_job *job;
    unsigned n_text;
    unsigned n_done;
    bool text_after_done;
    int rc;
    gmd_infer_finish finish;
    char error[CM_ERR_MAX];
} seen;

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static seen seen_jobs[MAX_JOBS];
static unsigned n_seen_jobs;

static seen *seen_of(gmd_job *job)
{
    for (unsigned i = 0; i < n_seen_jobs; i++)
        if (seen_jobs[i].job == job)
            return &seen_jobs[i];
    assert_true(n_seen_jobs < MAX_JOBS);
    seen *s = &seen_jobs[n_seen_jobs++];
    memset(s, 0, sizeof(*s));
    s->job = job;
    return s;
}

void __wrap_gmd_server_post(gmd_server *srv, gmd_event *ev);
void __wrap_gmd_server_post(gmd_server *srv, gmd_event *ev)
{
    (void)srv;
    pthread_mutex_lock(&ev_mu);
    seen *s = seen_of(ev->job);
    if (ev->kind == GMD_EV_TEXT) {
        s->n_text++;
        if (s->n_done > 0)
            s->text_after_done = true;
    } else {
        s->n_done++;
        s->rc = ev->rc;
        s->finish = ev->result.finish;
        snprintf(s->error, sizeof(s->error), "%s", ev->error);
    }
    pthread_cond_broadcast(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
    free(ev);
}

/* Wait (at most 10 s) until `job` has its DONE, or `n_text` text events. */
static seen wait_for(gmd_job *job, bool done, unsigned n_text)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&ev_mu);
    seen *s = seen_of(job);
    while (done ? s->n_done == 0 : s->n_text < n_text)
        if (pthread_cond_timedwait(&ev_cv, &ev_mu, &until) != 0)
            break;
    seen copy = *s;
    pthread_mutex_unlock(&ev_mu);
    return copy;
}

/* ---- a model with its scheduler thread ---- */

typedef struct fixture {
    gmd_server *srv;
    gmd_model *m;
    pthread_t thread;
    bool running;
    gmd_job *jobs[MAX_JOBS];
    unsigned n_jobs;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->srv = calloc(1, sizeof(*f->srv));
    assert_non_null(f->srv);
    gmd_config_defaults(&f->srv->cfg);
    f->srv->cfg.queue_depth = 4;
    gmd_model_config mc;
    memset(&mc, 0, sizeof(mc));
    snprintf(mc.name, sizeof(mc.name), "fake");
    mc.kv_budget_mb = 10;
    mc.max_tokens = 100;
    f->m = &f->srv->models[0];
    cm_err err;
    assert_int_equal(gmd_model_init(f->m, f->srv, &mc, &err), 0);
    f->srv->n_models = 1;
    f->m->state = GMD_MODEL_READY;
    f->m->im = (gmd_infer_model *)f; /* never read: the engine is wrapped */
    memset(slots, 0, sizeof(slots));
    memset(start_order, 0, sizeof(start_order));
    n_started = 0;
    n_seen_jobs = 0;
    atomic_store(&step_delay_us, 0);
    atomic_store(&engine_misuse, 0);
    gate_at = 0;
    gate_open = false;
    *state = f;
    return 0;
}

static void start_scheduler(fixture *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, gmd_sched_main, f->m), 0);
    f->running = true;
}

/* Stop the scheduler as an unload does: every job still queued or running
 * gets its DONE before the thread returns. */
static void stop_scheduler(fixture *f)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->m->mu);
    f->m->stop = true;
    for (unsigned i = 0; i < f->m->n_active; i++)
        atomic_store(&f->m->active[i]->cancel, 1);
    pthread_cond_broadcast(&f->m->cv);
    pthread_mutex_unlock(&f->m->mu);
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    f->running = false;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gate_release();
    stop_scheduler(f);
    /* The invariant: every submitted job had exactly one DONE, and no text
     * after it. */
    for (unsigned i = 0; i < f->n_jobs; i++) {
        seen s = wait_for(f->jobs[i], true, 0);
        assert_int_equal(s.n_done, 1);
        assert_false(s.text_after_done);
        free(f->jobs[i]->params.prompt);
        free(f->jobs[i]);
    }
    assert_int_equal(atomic_load(&engine_misuse), 0);
    gmd_model_destroy(f->m);
    free(f->srv);
    free(f);
    return 0;
}

/* A job named by its prompt's first letter, needing prompt + max_tokens
 * MiB of KV cache. */
static gmd_job *job_new(fixture *f, const char *name, size_t prompt, uint32_t max_tokens)
{
    gmd_job *job = calloc(1, sizeof(*job));
    assert_non_null(job);
    job->model = f->m;
    job->params.prompt = strdup(name);
    job->params.n_prompt_ids = prompt;
    job->params.max_tokens = max_tokens;
    job->t_start = gmd_now();
    job->deadline = job->t_start + 60;
    assert_true(f->n_jobs < MAX_JOBS);
    f->jobs[f->n_jobs++] = job;
    return job;
}

/* ---- tests ---- */

/* The budget holds one of A and B (6 MiB each of 10): B waits for A, and
 * C, which would fit beside A, waits behind B (first come, first served),
 * then runs beside B. */
static void test_budget_waits_in_order(void **state)
{
    fixture *f = *state;
    gmd_job *a = job_new(f, "A", 1, 5), *b = job_new(f, "B", 1, 5), *c = job_new(f, "C", 1, 1);
    assert_int_equal(gmd_model_submit(f->m, a), 0);
    assert_int_equal(gmd_model_submit(f->m, b), 0);
    assert_int_equal(gmd_model_submit(f->m, c), 0);
    start_scheduler(f);
    seen sa = wait_for(a, true, 0), sb = wait_for(b, true, 0), sc = wait_for(c, true, 0);
    assert_string_equal(start_order, "ABC");
    assert_int_equal(sa.n_text, 5);
    assert_int_equal(sb.n_text, 5);
    assert_int_equal(sc.n_text, 1);
    assert_int_equal(sa.rc, 0);
    assert_int_equal(sa.finish, GMD_FINISH_LENGTH);
    gmd_sched_stats st;
    gmd_model_sched_stats(f->m, &st);
    assert_true(st.kv_waits >= 1);            /* B waited for the budget */
    assert_int_equal(st.kv_budget_bytes, 10 * MIB);
    assert_int_equal(st.kv_reserved_bytes, 0); /* all released */
    assert_true(st.steps >= 5);
}

/* A request that alone needs more than the whole budget ends with an
 * error naming kv_budget_mb (the API refuses it before it is queued; the
 * scheduler still never runs one); the next one runs. */
static void test_larger_than_budget_fails(void **state)
{
    fixture *f = *state;
    gmd_job *big = job_new(f, "Big", 4, 20), *small = job_new(f, "small", 1, 2);
    assert_int_equal(gmd_model_submit(f->m, big), 0);
    assert_int_equal(gmd_model_submit(f->m, small), 0);
    start_scheduler(f);
    seen sb = wait_for(big, true, 0), ss = wait_for(small, true, 0);
    assert_int_equal(sb.rc, -1);
    assert_non_null(strstr(sb.error, "kv_budget_mb is 10"));
    assert_int_equal(sb.n_text, 0);
    assert_int_equal(ss.rc, 0);
    assert_int_equal(ss.n_text, 2);
}

/* Cancelling a running request ends it early (CANCELLED); cancelling a
 * queued one answers it without running it. */
static void test_cancel_running_and_queued(void **state)
{
    fixture *f = *state;
    gate_at = 3; /* the step after Run's third token waits for the cancel */
    gmd_job *run = job_new(f, "Run", 1, 8), *hold = job_new(f, "Hold", 1, 8),
            *queued = job_new(f, "Queued", 1, 1);
    assert_int_equal(gmd_model_submit(f->m, run), 0);
    assert_int_equal(gmd_model_submit(f->m, hold), 0); /* 9 + 9 > 10: waits */
    assert_int_equal(gmd_model_submit(f->m, queued), 0);
    atomic_store(&queued->cancel, 1);
    start_scheduler(f);
    seen s = wait_for(run, false, 3);
    assert_int_equal(s.n_text, 3);
    atomic_store(&run->cancel, 1);
    gate_release();
    s = wait_for(run, true, 0);
    assert_int_equal(s.n_done, 1);
    assert_int_equal(s.finish, GMD_FINISH_CANCELLED);
    assert_int_equal(s.n_text, 3); /* not one token more once cancelled */
    seen sq = wait_for(queued, true, 0);
    assert_int_equal(sq.finish, GMD_FINISH_CANCELLED);
    assert_int_equal(sq.n_text, 0);
    seen sh = wait_for(hold, true, 0); /* ran once the cancelled one freed the budget */
    assert_int_equal(sh.n_text, 8);
    assert_null(strchr(start_order, 'Q'));
}

/* The queue is bounded (queue_depth 4): a fifth waiting request is
 * refused at submission (the API answers 429); an unload answers the
 * waiting ones. */
static void test_queue_bound_and_unload(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(gmd_model_submit(f->m, job_new(f, "W", 1, 3)), 0);
    gmd_job *extra = calloc(1, sizeof(*extra));
    assert_non_null(extra);
    assert_int_equal(gmd_model_submit(f->m, extra), -1);
    free(extra);
    assert_int_equal(gmd_model_queued(f->m), 4);
    start_scheduler(f);
    stop_scheduler(f); /* teardown checks each got exactly one DONE */
    assert_int_equal(gmd_model_queued(f->m), 0);
    assert_int_equal(gmd_model_running(f->m), 0);
}

/* A model that is not ready takes no job. */
static void test_not_ready_refuses(void **state)
{
    fixture *f = *state;
    f->m->state = GMD_MODEL_LOADING;
    gmd_job job;
    memset(&job, 0, sizeof(job));
    assert_int_equal(gmd_model_submit(f->m, &job), -1);
    f->m->state = GMD_MODEL_READY;
}

/* Every failure of gmd_model_init says which model and what failed. */
static void test_model_init_says_why(void **state)
{
    fixture *f = *state;
    gmd_model m;
    gmd_model_config mc;
    memset(&mc, 0, sizeof(mc));
    snprintf(mc.name, sizeof(mc.name), "named");
    unsigned depth = f->srv->cfg.queue_depth;
    f->srv->cfg.queue_depth = 0;
    cm_err err = {0};
    assert_int_equal(gmd_model_init(&m, f->srv, &mc, &err), -1);
    assert_non_null(strstr(err.msg, "model named"));
    assert_non_null(strstr(err.msg, "queue"));
    f->srv->cfg.queue_depth = depth;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_budget_waits_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_larger_than_budget_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_running_and_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_and_unload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_ready_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_init_says_why, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
