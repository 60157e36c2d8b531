/*
 * daemon/api_admin.c -- the admin API used by gemmactl: status, loading
 * and unloading models, reloading the configuration. Loads, unloads and
 * reloads are done only once their "request" audit event is durable
 * (gmd_api_guard_admin: fail-closed, 503 audit_unavailable otherwise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "daemon/api.h"

/* ---- admin ---- */

/* "build" and "device": how this gemmad was built and what it runs on. */
static void add_build(json_t *st, const gmd_server *srv)
{
    gmd_infer_build b;
    gmd_infer_build_info(srv->cfg.engine_threads, &b);
    json_t *gpus = json_array();
    for (int i = 0; i < b.n_gpus; i++)
        json_array_append_new(gpus, json_string(b.gpus[i]));
    json_object_set_new(st, "build",
                        json_pack("{s:b, s:b, s:s, s:i}", "cuda", b.cuda, "sanitizers",
                                  b.sanitizers, "simd", b.avx2_fma ? "avx2+fma" : "none",
                                  "threads", b.threads));
    json_object_set_new(st, "device", json_string(b.device));
    json_object_set_new(st, "gpus", gpus);
    json_object_set_new(st, "gpu_note", b.gpu_note[0] ? json_string(b.gpu_note) : json_null());
}

/* "batch" and "prefix_cache": what the model's scheduler did (sched.h). */
static void add_sched(json_t *mo, gmd_model *m)
{
    gmd_sched_stats s;
    gmd_model_sched_stats(m, &s);
    json_object_set_new(
        mo, "batch",
        json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:I, s:I, s:I, s:I, s:f}",
                  "max_sequences", (int)m->cfg.max_batch_sequences, "max_tokens_per_step",
                  (int)m->cfg.max_batch_tokens, "steps", (json_int_t)s.steps,
                  "sequences_total", (json_int_t)s.step_sequences, "tokens_total",
                  (json_int_t)s.step_tokens, "prefill_tokens", (json_int_t)s.prefill_tokens,
                  "last_sequences", (int)s.last_sequences, "last_tokens", (int)s.last_tokens,
                  "kv_reserved_bytes", (json_int_t)s.kv_reserved_bytes, "kv_budget_bytes",
                  (json_int_t)s.kv_budget_bytes, "kv_budget_waits", (json_int_t)s.kv_waits,
                  "queue_waits", (json_int_t)s.queue_wait.n, "queue_wait_seconds_sum",
                  s.queue_wait.sum));
    json_object_set_new(
        mo, "prefix_cache",
        json_pack("{s:I, s:I, s:I, s:I, s:i, s:I, s:I}", "hits", (json_int_t)s.cache.hits,
                  "misses", (json_int_t)s.cache.misses, "hit_tokens",
                  (json_int_t)s.cache.hit_tokens, "evictions", (json_int_t)s.cache.evictions,
                  "entries", (int)s.cache.entries, "bytes", (json_int_t)s.cache.bytes,
                  "budget_bytes", (json_int_t)s.cache.budget_bytes));
}

/* "device": where the model computes and its use of that memory
 * (GPU fields null on the CPU); "device_fallback": why it is on the CPU
 * instead of its configured GPU (null when it is where configured). */
static void add_device(json_t *mo, gmd_model *m)
{
    gmd_infer_device d;
    gmd_infer_device_info(m->im, &d);
    const bool gpu = d.index >= 0;
    json_t *o = json_object();
    json_object_set_new(o, "device", json_string(d.device));
    json_object_set_new(o, "configured", json_string(d.configured));
    json_object_set_new(o, "index", gpu ? json_integer(d.index) : json_null());
    json_object_set_new(o, "name", gpu ? json_string(d.name) : json_null());
    json_object_set_new(o, "memory_total_bytes",
                        gpu ? json_integer((json_int_t)d.mem_total) : json_null());
    json_object_set_new(o, "memory_free_bytes",
                        gpu ? json_integer((json_int_t)d.mem_free) : json_null());
    json_object_set_new(o, "weights_bytes", json_integer((json_int_t)d.weights_bytes));
    json_object_set_new(o, "kv_cache_bytes", json_integer((json_int_t)d.kv_bytes));
    json_object_set_new(o, "scratch_bytes",
                        gpu ? json_integer((json_int_t)d.scratch_bytes) : json_null());
    json_object_set_new(o, "fallback", d.fallback[0] ? json_string(d.fallback) : json_null());
    json_object_set_new(mo, "device", o);
}

void gmd_route_admin_status(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_STATUS_READ, NULL, 0))
        return;
    gmd_server *srv = c->srv;
    json_t *models = json_array();
    uint64_t t_queued = 0, t_running = 0, t_mem = 0, t_kv_used = 0, t_kv_total = 0;
    for (unsigned i = 0; i < srv->n_models; i++) {
        gmd_model *m = &srv->models[i];
        bool ready = m->state == GMD_MODEL_READY;
        /* m->im belongs to the thread pool while loading or unloading. */
        unsigned queued = ready ? gmd_model_queued(m) : 0;
        unsigned running = ready ? gmd_model_running(m) : 0;
        uint64_t mem = ready ? gmd_infer_model_bytes(m->im) : 0, kv_used = 0, kv_total = 0;
        if (ready)
            gmd_infer_kv_usage(m->im, &kv_used, &kv_total);
        t_queued += queued;
        t_running += running;
        t_mem += mem;
        t_kv_used += kv_used;
        t_kv_total += kv_total;
        json_t *mo = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?, s:b, s:i, s:i, s:i, s:i, s:I, "
                              "s:I, s:I}",
                              "name", m->cfg.name, "path", m->cfg.path, "bundle",
                              m->cfg.bundle[0] ? m->cfg.bundle : NULL, "bundle_root_sha256",
                              m->digest[0] ? m->digest : NULL, "state",
                              gmd_model_state_name(m->state),
                              "error", m->error[0] ? m->error : NULL, "load_at_start",
                              m->cfg.load, "workers", (int)m->cfg.workers, "queued",
                              (int)queued, "running", (int)running, "queue_capacity",
                              (int)m->q_cap, "memory_bytes", (json_int_t)mem, "kv_used_bytes",
                              (json_int_t)kv_used, "kv_total_bytes", (json_int_t)kv_total);
        if (mo != NULL && ready) {
            add_sched(mo, m);
            add_device(mo, m);
        }
        json_array_append_new(models, mo);
    }
    json_t *you = json_pack("{s:s, s:s, s:s, s:s}", "subject", c->id.subject_dn, "cn",
                            c->id.cn, "fingerprint_sha256", c->id.fingerprint_sha256, "peer",
                            c->id.peer_addr);
    json_t *totals = json_pack("{s:I, s:I, s:I, s:I, s:I}", "queue_depth",
                               (json_int_t)t_queued, "active_sequences", (json_int_t)t_running,
                               "memory_bytes", (json_int_t)t_mem, "kv_used_bytes",
                               (json_int_t)t_kv_used, "kv_total_bytes", (json_int_t)t_kv_total);
    json_t *st = json_pack("{s:s, s:s, s:s, s:f, s:i, s:b, s:b, s:s, s:o, s:o, s:o}", "version",
                           GMD_VERSION, "engine", gmd_infer_backend(), "config",
                           srv->config_path, "uptime_seconds", gmd_now() - srv->t_start,
                           "connections", (int)srv->n_conns, "ready", gmd_api_all_ready(srv),
                           "draining", srv->draining || srv->in_grace, "tls_min_version",
                           srv->cfg.tls_min_version, "models", models, "totals", totals,
                           "client", you);
    if (st != NULL)
        add_build(st, srv);
    gmd_api_send_json(c, 200, st);
}

/* A load or unload as asked, kept while its "request" event is written. */
typedef struct model_ask {
    bool load;
    bool has_path;              /* a "path" was given: it must be the configured one */
    bool path_too_long;
    char model[GMD_NAME_MAX];
    char path[GMD_PATH_MAX];
} model_ask;

/* The "request" event is durable: load or unload. */
static void run_model(gmd_conn *c, void *arg)
{
    const model_ask *a = arg;
    gmd_model *m = gmd_server_find_model(c->srv, a->model);
    if (m == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", a->model);
        gmd_api_send_error(c, GMD_ERR_MODEL_NOT_FOUND, "model", msg);
        return;
    }
    if (a->has_path && (!a->load || a->path_too_long || strcmp(a->path, m->cfg.path) != 0)) {
        gmd_api_send_error(c, GMD_ERR_PATH_NOT_ALLOWED, "path",
                       "path cannot be set by clients: configure the model in gemmad.yaml "
                       "and restart gemmad");
        return;
    }
    cm_err err;
    int rc = a->load ? gmd_model_load_async(m, &err) : gmd_model_unload_async(m, &err);
    /* The "request" event recorded the ask; models.c records the outcome
     * (model.load, model.unload, model.verify_failed) when it is known. */
    if (rc < 0) {
        /* 409: the memory budget is used by other models (unload one) */
        const bool budget = rc == GMD_MODEL_OVER_BUDGET;
        gmd_guard_audit(&c->srv->guard, &c->id, a->load ? AU_EV_MODEL_LOAD : AU_EV_MODEL_UNLOAD,
                        a->load ? GMD_ACT_MODELS_LOAD : GMD_ACT_MODELS_UNLOAD, a->model,
                        budget ? 409 : 500, err.msg);
        gmd_api_send_error(c, budget ? GMD_ERR_MEMORY_BUDGET : GMD_ERR_MODEL_ERROR, "model", err.msg);
        return;
    }
    gmd_api_send_json(c, 202, json_pack("{s:s, s:s}", "model", a->model, "state",
                                        gmd_model_state_name(m->state)));
}

void gmd_route_admin_model(gmd_conn *c, bool load)
{
    json_t *o = gmd_api_body_json(c);
    if (o == NULL)
        return;
    const char *name = json_string_value(json_object_get(o, "model"));
    if (name == NULL) {
        json_decref(o);
        gmd_api_send_error(c, GMD_ERR_MISSING_PARAMETER, "model",
                       "'model' (a string) is required");
        return;
    }
    /* Clients never choose what file is loaded: only the models (and
     * files) gemmad.yaml names can be loaded. A "path" is accepted only
     * as a check that it is the configured one. */
    json_t *jpath = json_object_get(o, "path");
    if (jpath != NULL && !json_is_null(jpath) && !json_is_string(jpath)) {
        json_decref(o);
        gmd_api_send_error(c, GMD_ERR_INVALID_TYPE, "path",
                       "'path' must be a string");
        return;
    }
    model_ask *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        json_decref(o);
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
        return;
    }
    a->load = load;
    a->has_path = json_is_string(jpath);
    snprintf(a->path, sizeof(a->path), "%s", a->has_path ? json_string_value(jpath) : "");
    a->path_too_long = a->has_path && strlen(json_string_value(jpath)) >= sizeof(a->path);
    snprintf(a->model, sizeof(a->model), "%s", name);
    json_decref(o);
    /* Acts only once the "request" event is durable (fail-closed). */
    gmd_api_guard_admin(c, load ? GMD_ACT_MODELS_LOAD : GMD_ACT_MODELS_UNLOAD, a->model,
                        run_model, a);
}

/* The "request" event is durable: reload. */
static void run_reload(gmd_conn *c, void *arg)
{
    (void)arg;
    cm_err err;
    int rc = gmd_server_reload(c->srv, &err);
    gmd_guard_audit(&c->srv->guard, &c->id, AU_EV_CONFIG_RELOAD, GMD_ACT_RELOAD, NULL,
                    rc < 0 ? 400 : 200, rc < 0 ? err.msg : "ok");
    if (rc < 0) {
        gmd_api_send_error(c, GMD_ERR_INVALID_CONFIG, NULL, err.msg);
        return;
    }
    gmd_api_send_json(c, 200, json_pack("{s:s}", "status", "reloaded"));
}

void gmd_route_admin_reload(gmd_conn *c)
{
    gmd_api_guard_admin(c, GMD_ACT_RELOAD, NULL, run_reload, NULL);
}
