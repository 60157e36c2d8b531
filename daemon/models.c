/*
 * daemon/models.c -- the models gemmad serves: loading and unloading in
 * libuv's thread pool, and per model a bounded queue of generation jobs
 * served by its scheduler thread (sched.c: continuous batching), which
 * reports back only through gmd_server_post (text pieces, then exactly
 * one DONE per job).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/bundle_open.h"
#include "daemon/server.h"

const char *gmd_model_state_name(gmd_model_state s)
{
    switch (s) {
    case GMD_MODEL_UNLOADED: return "unloaded";
    case GMD_MODEL_LOADING: return "loading";
    case GMD_MODEL_READY: return "ready";
    case GMD_MODEL_FAILED: return "failed";
    case GMD_MODEL_UNLOADING: return "unloading";
    }
    return "unknown";
}

void gmd_job_free(gmd_job *job)
{
    if (job == NULL)
        return;
    gmd_infer_params *p = &job->params;
    for (size_t i = 0; i < p->n_messages; i++) {
        free(p->messages[i].role);
        free(p->messages[i].content);
    }
    free(p->messages);
    free(p->prompt);
    for (size_t i = 0; i < GMD_MAX_STOP; i++)
        free(p->stop[i]);
    free(p->prompt_ids);
    gmd_buf_free(&job->text);
    free(job);
}

int gmd_model_init(gmd_model *m, gmd_server *srv, const gmd_model_config *cfg, cm_err *err)
{
    memset(m, 0, sizeof(*m));
    m->srv = srv;
    m->cfg = *cfg;
    m->q_cap = srv->cfg.queue_depth;
    if (m->q_cap == 0)
        return cm_err_set(err, "model %s: its queue holds no request (queue_depth 0)",
                          cfg->name);
    m->queue = calloc(m->q_cap, sizeof(*m->queue));
    if (m->queue == NULL)
        return cm_err_set(err, "model %s: out of memory for a queue of %u requests", cfg->name,
                          m->q_cap);
    int rc = pthread_mutex_init(&m->mu, NULL);
    if (rc != 0) {
        free(m->queue);
        m->queue = NULL;
        return cm_err_set(err, "model %s: cannot create its queue lock: %s", cfg->name,
                          strerror(rc));
    }
    rc = pthread_cond_init(&m->cv, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&m->mu);
        free(m->queue);
        m->queue = NULL;
        return cm_err_set(err, "model %s: cannot create its queue condition: %s", cfg->name,
                          strerror(rc));
    }
    return 0;
}

void gmd_model_destroy(gmd_model *m)
{
    free(m->queue);
    m->queue = NULL;
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
}

/* ---- the scheduler thread (sched.c) ---- */

static int start_workers(gmd_model *m, cm_err *err)
{
    m->stop = false;
    m->n_threads = 0;
    memset(&m->sched_stats, 0, sizeof(m->sched_stats));
    if (pthread_create(&m->threads[0], NULL, gmd_sched_main, m) != 0)
        return cm_err_set(err, "model %s: cannot start its scheduler thread", m->cfg.name);
    m->n_threads = 1;
    return 0;
}

/* Cancel running jobs and answer queued ones, then stop the threads. */
static void stop_workers(gmd_model *m)
{
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    for (unsigned i = 0; i < m->n_active; i++)
        atomic_store(&m->active[i]->cancel, 1);
    for (unsigned i = 0; i < m->q_len; i++)
        atomic_store(&m->queue[(m->q_head + i) % m->q_cap]->cancel, 1);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    for (unsigned i = 0; i < m->n_threads; i++)
        pthread_join(m->threads[i], NULL);
    m->n_threads = 0;
}

/* ---- loading and unloading ---- */

/* Record a model's load, unload or failed verification. The action
 * itself is done (or failed): the outcome cannot be refused, so a record
 * that cannot be queued or written is logged as an error and counted
 * (gemmad_audit_failures_total). The "request" event of an admin action
 * was durable before it started (gmd_api_guard_admin). */
static void audit_model(gmd_model *m, const char *type, gmd_action action, int status,
                        const char *detail)
{
    char digest[80] = "";
    if (m->digest[0] != '\0')
        snprintf(digest, sizeof(digest), "sha256:%s", m->digest);
    au_event ev;
    gmd_guard_event(&ev, type, NULL, NULL, action, m->cfg.name);
    ev.model_digest = digest[0] ? digest : NULL;
    ev.http_status = status;
    ev.detail = detail;
    if (gmd_guard_record(&m->srv->guard, &ev, NULL, NULL) < 0)
        cm_log(CM_LOG_ERR, "models", "model %s: the %s event could not be recorded in the "
               "audit log", m->cfg.name, type);
}

/* ---- the memory budget of loaded models (engine.models_memory_mb) ----
 * A model counts its weights plus what its KV cache (kv_budget_mb, or the
 * context's whole cache when smaller) and its prefix cache may hold:
 * before loading, the weights are the file's size; once loaded, the
 * tensors' bytes. Models loading, loaded or unloading count. */

static uint64_t caches_bytes(const gmd_model_config *c, uint64_t kv_total)
{
    uint64_t kv = (uint64_t)c->kv_budget_mb << 20;
    if (kv_total > 0 && kv_total < kv)
        kv = kv_total;
    return kv + ((uint64_t)c->prefix_cache_mb << 20);
}

static uint64_t file_bytes(const gmd_model_config *c)
{
    char path[2 * GMD_PATH_MAX + 2];
    if (c->bundle[0] != '\0')
        snprintf(path, sizeof(path), "%s/%s", c->bundle, c->path);
    else
        snprintf(path, sizeof(path), "%s", c->path);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static uint64_t others_bytes(const gmd_model *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < m->srv->n_models; i++) {
        const gmd_model *o = &m->srv->models[i];
        if (o != m && (o->state == GMD_MODEL_READY || o->state == GMD_MODEL_LOADING
                       || o->state == GMD_MODEL_UNLOADING))
            n += o->mem_bytes;
    }
    return n;
}

/* -1 with the reason when `need` bytes do not fit beside the others. */
static int over_budget(const gmd_model *m, uint64_t need, cm_err *err)
{
    const uint64_t limit = (uint64_t)m->srv->cfg.models_memory_mb << 20;
    const uint64_t others = others_bytes(m);
    if (limit == 0 || others + need <= limit)
        return 0;
    return cm_err_set(err, "model %s needs about %llu MiB (weights, KV budget, prefix cache); "
                           "the models loaded hold %llu MiB of engine.models_memory_mb %llu: "
                           "unload one first", m->cfg.name,
                      (unsigned long long)((need + (1u << 20) - 1) >> 20),
                      (unsigned long long)((others + (1u << 20) - 1) >> 20),
                      (unsigned long long)(limit >> 20));
}

static void load_work(uv_work_t *w)
{
    gmd_model *m = w->data;
    cm_err_clear(&m->work_err);
    m->digest[0] = '\0';
    m->verify_failed = false;
    if (m->cfg.bundle[0] == '\0') {
        m->work_rc = gmd_infer_load(&m->cfg, -1, m->srv->cfg.engine_threads, &m->im,
                                    &m->work_err);
        return;
    }
    /* A signed bundle: verify signature and digests first, then load the
     * very descriptor that was hashed. */
    int fd;
    m->work_rc = gmd_bundle_open(&m->load_cfg, &m->cfg, &fd, m->digest, &m->work_err);
    if (m->work_rc < 0) {
        m->verify_failed = true;
        m->digest[0] = '\0';
        return;
    }
    m->work_rc = gmd_infer_load(&m->cfg, fd, m->srv->cfg.engine_threads, &m->im, &m->work_err);
    close(fd);
}

static void load_done(uv_work_t *w, int status)
{
    gmd_model *m = w->data;
    if (m->work_rc == 0 && status == 0) {
        uint64_t kv_used = 0, kv_total = 0;
        gmd_infer_kv_usage(m->im, &kv_used, &kv_total);
        m->mem_bytes = gmd_infer_model_bytes(m->im) + caches_bytes(&m->cfg, kv_total);
        if (over_budget(m, m->mem_bytes, &m->work_err) < 0) {
            gmd_infer_free(m->im);
            m->im = NULL;
            m->work_rc = -1;
        }
    }
    if (m->work_rc == 0 && status == 0 && start_workers(m, &m->work_err) == 0) {
        m->state = GMD_MODEL_READY;
        m->error[0] = '\0';
        if (m->digest[0] != '\0')
            cm_log(CM_LOG_NOTICE, "models", "model %s loaded from verified bundle %s (root "
                   "sha256:%s, batches of up to %u sequences)", m->cfg.name, m->cfg.bundle,
                   m->digest, m->cfg.max_batch_sequences);
        else
            cm_log(CM_LOG_NOTICE, "models", "model %s loaded (%s, batches of up to %u "
                   "sequences)", m->cfg.name, m->cfg.path, m->cfg.max_batch_sequences);
        if (gmd_infer_fallback(m->im) != NULL)
            cm_log(CM_LOG_WARN, "models", "model %s runs on the CPU, not on %s "
                   "(device_fallback: cpu): %s", m->cfg.name, m->cfg.device,
                   gmd_infer_fallback(m->im));
        audit_model(m, AU_EV_MODEL_LOAD, GMD_ACT_MODELS_LOAD, 200,
                    m->cfg.bundle[0] ? m->cfg.bundle : m->cfg.path);
    } else {
        if (m->work_rc == 0 && m->im) {
            stop_workers(m);
            gmd_infer_free(m->im);
            m->im = NULL;
        }
        m->state = GMD_MODEL_FAILED;
        m->mem_bytes = 0;
        snprintf(m->error, sizeof(m->error), "%s",
                 m->work_err.msg[0] ? m->work_err.msg : "loading was cancelled");
        cm_log(CM_LOG_ERR, "models", "model %s failed to load: %s", m->cfg.name, m->error);
        audit_model(m, m->verify_failed ? AU_EV_MODEL_VERIFY_FAILED : AU_EV_MODEL_LOAD,
                    GMD_ACT_MODELS_LOAD, 500, m->error);
    }
    gmd_server_models_changed(m->srv);
}

int gmd_model_load_async(gmd_model *m, cm_err *err)
{
    if (m->state == GMD_MODEL_READY || m->state == GMD_MODEL_LOADING)
        return 0;
    if (m->state == GMD_MODEL_UNLOADING) {
        m->load_after_unload = true;
        return 0;
    }
    const uint64_t need = file_bytes(&m->cfg) + caches_bytes(&m->cfg, 0);
    if (over_budget(m, need, err) < 0)
        return GMD_MODEL_OVER_BUDGET;
    m->mem_bytes = need;
    m->state = GMD_MODEL_LOADING;
    m->load_cfg = m->srv->cfg; /* the thread pool reads this copy, not the live one */
    m->work.data = m;
    int rc = uv_queue_work(m->srv->loop, &m->work, load_work, load_done);
    if (rc < 0) {
        m->state = GMD_MODEL_FAILED;
        return cm_err_set(err, "model %s: cannot start loading: %s", m->cfg.name,
                          uv_strerror(rc));
    }
    cm_log(CM_LOG_INFO, "models", "loading model %s from %s%s", m->cfg.name,
           m->cfg.bundle[0] ? "signed bundle " : "", m->cfg.bundle[0] ? m->cfg.bundle : m->cfg.path);
    return 0;
}

static void unload_work(uv_work_t *w)
{
    gmd_model *m = w->data;
    stop_workers(m);
    gmd_infer_free(m->im);
    m->im = NULL;
}

static void unload_done(uv_work_t *w, int status)
{
    gmd_model *m = w->data;
    m->state = GMD_MODEL_UNLOADED;
    m->mem_bytes = 0;
    cm_log(CM_LOG_NOTICE, "models", "model %s unloaded", m->cfg.name);
    audit_model(m, AU_EV_MODEL_UNLOAD, GMD_ACT_MODELS_UNLOAD, 200, "unloaded");
    if (m->load_after_unload) {
        m->load_after_unload = false;
        cm_err err;
        if (gmd_model_load_async(m, &err) < 0)
            cm_log(CM_LOG_ERR, "models", "%s", err.msg);
    }
    gmd_server_models_changed(m->srv);
}

static int start_unload(gmd_model *m, cm_err *err)
{
    m->work.data = m;
    int rc = uv_queue_work(m->srv->loop, &m->work, unload_work, unload_done);
    if (rc < 0) {
        m->state = GMD_MODEL_READY;
        return cm_err_set(err, "model %s: cannot start unloading: %s", m->cfg.name,
                          uv_strerror(rc));
    }
    return 0;
}

int gmd_model_unload_async(gmd_model *m, cm_err *err)
{
    if (m->state == GMD_MODEL_FAILED) {
        m->state = GMD_MODEL_UNLOADED;
        return 0;
    }
    if (m->state != GMD_MODEL_READY)
        return 0;
    m->state = GMD_MODEL_UNLOADING;
    if (m->n_prep > 0) { /* the thread pool still reads its vocabulary */
        m->unload_deferred = true;
        cm_log(CM_LOG_INFO, "models", "model %s unloads once %u prompt%s tokenized",
               m->cfg.name, m->n_prep, m->n_prep == 1 ? " is" : "s are");
        return 0;
    }
    return start_unload(m, err);
}

void gmd_model_prep_begin(gmd_model *m)
{
    m->n_prep++;
}

void gmd_model_prep_end(gmd_model *m)
{
    if (m->n_prep > 0)
        m->n_prep--;
    if (m->n_prep == 0 && m->unload_deferred) {
        m->unload_deferred = false;
        cm_err err;
        if (start_unload(m, &err) < 0)
            cm_log(CM_LOG_ERR, "models", "%s", err.msg);
    }
}

void gmd_model_unload_sync(gmd_model *m)
{
    if (m->state == GMD_MODEL_READY) {
        stop_workers(m);
        gmd_infer_free(m->im);
        m->im = NULL;
        m->state = GMD_MODEL_UNLOADED;
        audit_model(m, AU_EV_MODEL_UNLOAD, GMD_ACT_MODELS_UNLOAD, 200, "daemon stopping");
    }
}

int gmd_model_submit(gmd_model *m, gmd_job *job)
{
    if (m->state != GMD_MODEL_READY)
        return -1;
    pthread_mutex_lock(&m->mu);
    int rc = -1;
    assert(m->q_len <= m->q_cap);
    if (!m->stop && m->q_len < m->q_cap) {
        m->queue[(m->q_head + m->q_len) % m->q_cap] = job;
        m->q_len++;
        pthread_cond_signal(&m->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

unsigned gmd_model_queued(gmd_model *m)
{
    pthread_mutex_lock(&m->mu);
    unsigned n = m->q_len;
    pthread_mutex_unlock(&m->mu);
    return n;
}

unsigned gmd_model_running(gmd_model *m)
{
    pthread_mutex_lock(&m->mu);
    unsigned n = m->n_active;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void gmd_model_sched_stats(gmd_model *m, gmd_sched_stats *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->sched_stats;
    pthread_mutex_unlock(&m->mu);
}
