/*
 * daemon/sched.c -- the scheduler thread of one model (sched.h): admit
 * queued requests into free slots of the batch within the KV budget, end
 * cancelled ones, run one forward pass for all, repeat.
 */
#include "daemon/sched.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "daemon/server.h"

typedef struct text_sink {
    gmd_server *srv;
    gmd_job *job;
} text_sink;

/* The scheduler's own view of its slots (its thread only). */
typedef struct sched {
    gmd_model *m;
    unsigned n_slots;
    gmd_job *jobs[GMD_INFER_MAX_SLOTS];
    uint64_t reserve[GMD_INFER_MAX_SLOTS];
    text_sink sinks[GMD_INFER_MAX_SLOTS];
    uint64_t reserved, budget;
} sched;

static gmd_event *event_new(gmd_event_kind kind, gmd_job *job, size_t len)
{
    gmd_event *ev = calloc(1, sizeof(*ev) + len + 1);
    if (ev == NULL)
        return NULL;
    ev->kind = kind;
    ev->job = job;
    ev->t = gmd_now();
    ev->len = len;
    return ev;
}

static int on_text(void *user, const char *text, size_t len)
{
    text_sink *s = user;
    if (atomic_load(&s->job->cancel))
        return 1;
    gmd_event *ev = event_new(GMD_EV_TEXT, s->job, len);
    if (ev == NULL)
        return 1;
    memcpy(ev->text, text, len);
    gmd_server_post(s->srv, ev);
    return 0;
}

/* Every job gets exactly one DONE; it must always get through. */
static void post_done(gmd_server *srv, gmd_job *job, int rc, const gmd_infer_result *res,
                      const char *error)
{
    gmd_event *ev;
    while ((ev = event_new(GMD_EV_DONE, job, 0)) == NULL) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ev->rc = rc;
    if (res)
        ev->result = *res;
    if (error)
        snprintf(ev->error, sizeof(ev->error), "%s", error);
    gmd_server_post(srv, ev);
}

static void cancelled(gmd_server *srv, gmd_job *job)
{
    gmd_infer_result res = {.finish = GMD_FINISH_CANCELLED};
    post_done(srv, job, 0, &res, NULL);
}

/* Forget slot i's job (it has had its DONE or gets it next). */
static gmd_job *slot_clear(sched *s, unsigned i)
{
    gmd_model *m = s->m;
    gmd_job *job = s->jobs[i];
    /* What the slots reserve adds up to s->reserved (admit_locked). */
    assert(s->reserved >= s->reserve[i]);
    s->jobs[i] = NULL;
    s->reserved -= s->reserve[i];
    s->reserve[i] = 0;
    pthread_mutex_lock(&m->mu);
    for (unsigned k = 0; k < m->n_active; k++)
        if (m->active[k] == job) {
            m->active[k] = m->active[--m->n_active];
            break;
        }
    m->sched_stats.kv_reserved_bytes = s->reserved;
    pthread_mutex_unlock(&m->mu);
    return job;
}

static void on_done(void *user, unsigned slot, int rc, const gmd_infer_result *res,
                    const char *error)
{
    sched *s = user;
    gmd_job *job = slot_clear(s, slot);
    if (job != NULL)
        post_done(s->m->srv, job, rc, res, rc < 0 ? error : NULL);
}

static unsigned running(const sched *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_slots; i++)
        n += s->jobs[i] != NULL;
    return n;
}

static unsigned free_slot(const sched *s)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        if (s->jobs[i] == NULL)
            return i;
    return s->n_slots;
}

/* Admit queued jobs while a slot and the KV budget allow, first come
 * first served. Called with m->mu held; starts them after unlocking. */
static unsigned admit_locked(sched *s, unsigned *slots, gmd_job **late, unsigned *n_late)
{
    gmd_model *m = s->m;
    unsigned n = 0;
    *n_late = 0;
    const double now = gmd_now();
    assert(m->q_len <= m->q_cap); /* a bounded ring (gmd_model_submit) */
    while (m->q_len > 0 && *n_late < GMD_INFER_MAX_SLOTS) {
        gmd_job *job = m->queue[m->q_head];
        const bool gone = atomic_load(&job->cancel) || now > job->deadline;
        unsigned slot = free_slot(s);
        if (!gone && slot == s->n_slots)
            break;
        uint64_t need = 0;
        if (!gone) {
            need = gmd_infer_kv_need(m->im, job->params.n_prompt_ids, job->params.max_tokens);
            /* the head waits for the budget while others run; alone, it
             * runs (refused later if it cannot fit at all) */
            if (s->reserved > 0 && s->reserved + need > s->budget) {
                m->sched_stats.kv_waits++;
                break;
            }
        }
        m->q_head = (m->q_head + 1) % m->q_cap;
        m->q_len--;
        if (gone) {
            late[(*n_late)++] = job;
            continue;
        }
        gmd_hist_observe(&m->sched_stats.queue_wait, now - job->t_start);
        assert(s->jobs[slot] == NULL); /* free_slot gave a free one */
        s->jobs[slot] = job;
        s->reserve[slot] = need;
        s->reserved += need;
        if (m->n_active < sizeof(m->active) / sizeof(m->active[0]))
            m->active[m->n_active++] = job;
        slots[n++] = slot;
    }
    m->sched_stats.kv_reserved_bytes = s->reserved;
    return n;
}

static void start(sched *s, unsigned i)
{
    gmd_model *m = s->m;
    gmd_job *job = s->jobs[i];
    cm_err err;
    cm_err_clear(&err);
    if (s->reserve[i] > s->budget) {
        cm_err_set(&err, "the request may need %llu MiB of KV cache; this model's "
                         "kv_budget_mb is %llu", (unsigned long long)(s->reserve[i] >> 20) + 1,
                   (unsigned long long)(s->budget >> 20));
    } else {
        s->sinks[i] = (text_sink){m->srv, job};
        if (gmd_infer_seq_start(m->im, i, &job->params, on_text, &s->sinks[i], &err) == 0)
            return;
    }
    slot_clear(s, i);
    gmd_infer_result res = {0};
    post_done(m->srv, job, -1, &res, err.msg);
}

/* End the running requests the loop cancelled: the client left, the
 * deadline passed (the loop marks it timed out first, server.c), the
 * model unloads. */
static void reap(sched *s, bool all)
{
    for (unsigned i = 0; i < s->n_slots; i++) {
        gmd_job *job = s->jobs[i];
        if (job == NULL || !(all || atomic_load(&job->cancel)))
            continue;
        gmd_infer_result res;
        gmd_infer_seq_cancel(s->m->im, i, &res);
        slot_clear(s, i);
        post_done(s->m->srv, job, 0, &res, NULL);
    }
}

void *gmd_sched_main(void *arg)
{
    sched s;
    memset(&s, 0, sizeof(s));
    s.m = arg;
    gmd_model *m = s.m;
    s.n_slots = gmd_infer_slots(m->im);
    s.budget = (uint64_t)m->cfg.kv_budget_mb << 20;
    pthread_mutex_lock(&m->mu);
    m->sched_stats.kv_budget_bytes = s.budget;
    pthread_mutex_unlock(&m->mu);
    for (;;) {
        unsigned slots[GMD_INFER_MAX_SLOTS], n_new;
        gmd_job *late[GMD_INFER_MAX_SLOTS];
        unsigned n_late = 0;
        pthread_mutex_lock(&m->mu);
        while (!m->stop && m->q_len == 0 && running(&s) == 0)
            pthread_cond_wait(&m->cv, &m->mu);
        if (m->stop) {
            /* unloading: answer the queue; the running end below */
            while (m->q_len > 0 && n_late < GMD_INFER_MAX_SLOTS) {
                late[n_late++] = m->queue[m->q_head];
                m->q_head = (m->q_head + 1) % m->q_cap;
                m->q_len--;
            }
            bool more = m->q_len > 0;
            pthread_mutex_unlock(&m->mu);
            for (unsigned k = 0; k < n_late; k++)
                cancelled(m->srv, late[k]);
            if (more)
                continue;
            reap(&s, true);
            break;
        }
        n_new = admit_locked(&s, slots, late, &n_late);
        pthread_mutex_unlock(&m->mu);

        for (unsigned k = 0; k < n_late; k++)
            cancelled(m->srv, late[k]);
        for (unsigned k = 0; k < n_new; k++)
            start(&s, slots[k]);
        reap(&s, false);

        gmd_infer_step_stats st;
        cm_err err;
        cm_err_clear(&err);
        if (gmd_infer_step(m->im, on_done, &s, &st, &err) < 0)
            cm_log(CM_LOG_ERR, "sched", "model %s: forward pass failed: %s", m->cfg.name,
                   err.msg);
        gmd_infer_cache_stats cs;
        gmd_infer_cache_stats_get(m->im, &cs);
        pthread_mutex_lock(&m->mu);
        gmd_sched_stats *ss = &m->sched_stats;
        if (st.n_tokens > 0) {
            ss->steps++;
            ss->step_sequences += st.n_seqs;
            ss->step_tokens += st.n_tokens;
            ss->prefill_tokens += st.n_prefill;
            ss->last_sequences = st.n_seqs;
            ss->last_tokens = st.n_tokens;
        } else {
            ss->last_sequences = 0;
            ss->last_tokens = 0;
        }
        ss->cache = cs;
        pthread_mutex_unlock(&m->mu);
    }
    return NULL;
}
