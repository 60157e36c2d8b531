/*
 * daemon/api.c -- gemmad's routes: the route table and the helpers every
 * route shares (JSON answers, the guard, reading a JSON body), health,
 * readiness, Prometheus metrics and /v1/models. The completions live in
 * api_generate.c, the admin API in api_admin.c, the audit log in
 * api_audit.c. Each route asks the guard
 * before doing any work.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "daemon/api.h"

/* ---- helpers ---- */

void gmd_api_send_json(gmd_conn *c, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL) {
        gmd_api_send_error(c, GMD_ERR_INTERNAL, NULL,
                       "cannot build the response");
        return;
    }
    gmd_conn_respond(c, status, "application/json", text, strlen(text), NULL);
    free(text);
}

void gmd_api_route_name(gmd_conn *c, char *out, size_t cap)
{
    const char *url = gmd_http_url(&c->http);
    size_t n = strcspn(url, "?");
    snprintf(out, cap, "%s %.*s", c->http.method, (int)(n > 200 ? 200 : n), url);
}

/* Ask the guard; on denial answer and return false. `keep` (may be NULL)
 * receives the decision, which then holds limits until released. Allowed
 * requests are recorded by their routes: inference (api_generate.c) and
 * admin actions (gmd_api_guard_admin) wait for a durable "request" event. */
bool gmd_api_guard_keep(gmd_conn *c, gmd_action action, const char *model,
                        uint32_t prompt_tokens, uint32_t max_tokens, gmd_guard_decision *keep)
{
    gmd_guard *g = &c->srv->guard;
    gmd_guard_decision d;
    gmd_guard_authorize(g, &c->id, action, model, prompt_tokens, max_tokens, &d);
    char route[256];
    gmd_api_route_name(c, route, sizeof(route));
    au_event ev;
    if (d.allow) {
        if (keep)
            *keep = d;
        else
            gmd_guard_release(g, &d, 0);
        return true;
    }
    gmd_guard_event(&ev, AU_EV_DENIED, &c->id, &d, action, model);
    ev.route = route;
    ev.http_status = d.http_status;
    gmd_guard_record(g, &ev, NULL, NULL);
    char msg[200];
    snprintf(msg, sizeof(msg), "not allowed: %s", d.reason);
    c->retry_after_s = d.retry_after_s;
    gmd_api_send_error_status(c, d.http_status, d.reason, NULL, msg);
    return false;
}

bool gmd_api_guard(gmd_conn *c, gmd_action action, const char *model, uint32_t max_tokens)
{
    return gmd_api_guard_keep(c, action, model, 0, max_tokens, NULL);
}

/* ---- admin actions: fail-closed ---- */

/* An allowed admin action waiting for its "request" event to be durable. */
typedef struct admin_wait {
    gmd_conn *conn;             /* NULL once the client has gone (conn.c) */
    gmd_server *srv;
    gmd_action action;
    gmd_guard_decision d;
    cm_identity id;             /* who asked (for the audit after a disconnect) */
    char model[GMD_NAME_MAX];
    char route[256];
    gmd_api_admin_fn run;
    void *arg;
} admin_wait;

/* Loop: the "request" event is durable (status 0) or failed: act or not. */
static void admin_recorded(void *arg, int status, const char *msg)
{
    admin_wait *w = arg;
    gmd_conn *c = w->conn;
    gmd_server *srv = w->srv;
    const char *act = gmd_action_name(w->action) ? gmd_action_name(w->action) : "-";
    if (c != NULL)
        gmd_api_conn_of(c)->audit_wait = NULL;
    if (status < 0) {
        cm_log(CM_LOG_ERR, "api", "%s%s%s REFUSED, not done: the audit log cannot record "
               "it: %s", act, w->model[0] ? " " : "", w->model, msg);
        if (c != NULL) {
            srv->guard.n_audit_refused++;
            gmd_api_send_error(c, GMD_ERR_AUDIT_UNAVAILABLE, NULL,
                           "the audit log cannot record this request, so it is refused");
        }
    } else if (c == NULL || srv->draining) {
        /* Recorded as asked, then not done: record how it ended. */
        const char *why = c == NULL ? "client went away: not done" : "shutting down: not done";
        cm_log(CM_LOG_NOTICE, "api", "%s%s%s: %s", act, w->model[0] ? " " : "", w->model, why);
        au_event ev;
        gmd_guard_event(&ev, AU_EV_RESPONSE, &w->id, &w->d, w->action, w->model);
        ev.route = w->route;
        ev.http_status = c == NULL ? 499 : 503;
        ev.detail = why;
        gmd_guard_record(&srv->guard, &ev, NULL, NULL);
        if (c != NULL)
            gmd_api_send_error(c, GMD_ERR_SHUTTING_DOWN, NULL,
                           "the server is shutting down");
    } else {
        w->run(c, w->arg);
    }
    free(w->arg);
    free(w);
}

void gmd_api_guard_admin(gmd_conn *c, gmd_action action, const char *model,
                         gmd_api_admin_fn run, void *arg)
{
    gmd_guard *g = &c->srv->guard;
    gmd_guard_decision d;
    if (!gmd_api_guard_keep(c, action, model, 0, 0, &d)) {
        free(arg);
        return;
    }
    gmd_guard_release(g, &d, 0); /* admin actions hold no limits */
    admin_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        free(arg);
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
        return;
    }
    w->conn = c;
    w->srv = c->srv;
    w->action = action;
    w->d = d;
    w->id = c->id;
    snprintf(w->model, sizeof(w->model), "%s", model ? model : "");
    gmd_api_route_name(c, w->route, sizeof(w->route));
    w->run = run;
    w->arg = arg;
    /* The connection stays busy (no other request is read) until the
     * continuation answers; closing it clears w->conn. The continuation
     * may run before gmd_guard_record returns (no audit log). */
    gmd_api_conn_of(c)->audit_wait = &w->conn;
    au_event ev;
    gmd_guard_event(&ev, AU_EV_REQUEST, &w->id, &w->d, action, model);
    ev.route = w->route;
    gmd_guard_record(g, &ev, admin_recorded, w);
}

/* Parse the body as a JSON object, or answer 400 and return NULL. */
json_t *gmd_api_body_json(gmd_conn *c)
{
    json_error_t jerr;
    const char *body = c->http.body ? c->http.body : "";
    json_t *o = json_loadb(body, c->http.body_len, 0, &jerr);
    if (o == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s (line %d, "
                 "column %d)", jerr.text, jerr.line, jerr.column);
        gmd_api_send_error(c, GMD_ERR_INVALID_JSON, NULL, msg);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        gmd_api_send_error(c, GMD_ERR_INVALID_JSON, NULL,
                       "the request body must be a JSON object");
        return NULL;
    }
    return o;
}

/* ---- health, readiness, metrics ---- */

bool gmd_api_all_ready(gmd_server *srv)
{
    for (unsigned i = 0; i < srv->n_models; i++)
        if (srv->models[i].cfg.load && srv->models[i].state != GMD_MODEL_READY)
            return false;
    return true;
}

void gmd_route_healthz(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_STATUS_READ, NULL, 0))
        return;
    gmd_api_send_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

void gmd_route_readyz(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_STATUS_READ, NULL, 0))
        return;
    gmd_server *srv = c->srv;
    json_t *models = json_object();
    for (unsigned i = 0; i < srv->n_models; i++)
        json_object_set_new(models, srv->models[i].cfg.name,
                            json_string(gmd_model_state_name(srv->models[i].state)));
    bool ready = gmd_api_all_ready(srv) && !srv->draining && !srv->in_grace;
    gmd_api_send_json(c, ready ? 200 : 503,
              json_pack("{s:s, s:o}", "status", ready ? "ready" : "not ready", "models",
                        models));
}

void gmd_route_metrics(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_METRICS_READ, NULL, 0))
        return;
    gmd_server *srv = c->srv;
    gmd_metrics_gauges g = {0};
    g.connections = srv->n_conns;
    g.models_configured = srv->n_models;
    g.uptime_seconds = gmd_now() - srv->t_start;
    for (unsigned i = 0; i < srv->n_models; i++) {
        gmd_model *m = &srv->models[i];
        if (m->state != GMD_MODEL_READY)
            continue;
        g.models_loaded++;
        g.queue_depth += gmd_model_queued(m);
        g.active_sequences += gmd_model_running(m);
        uint64_t used = 0, total = 0;
        gmd_infer_kv_usage(m->im, &used, &total);
        g.kv_used_bytes += used;
        g.kv_total_bytes += total;
    }
    gmd_buf b;
    gmd_buf_init(&b);
    gmd_metrics_render(&srv->metrics, &g, &b);
    gmd_sched_stats sched_stats[GMD_MAX_MODELS];
    const char *sched_names[GMD_MAX_MODELS];
    unsigned n_sched = 0;
    for (unsigned i = 0; i < srv->n_models && n_sched < GMD_MAX_MODELS; i++)
        if (srv->models[i].state == GMD_MODEL_READY) {
            gmd_model_sched_stats(&srv->models[i], &sched_stats[n_sched]);
            sched_names[n_sched++] = srv->models[i].cfg.name;
        }
    gmd_metrics_render_sched(sched_names, sched_stats, n_sched, &b);
    gmd_buf_printf(&b, "# HELP gemmad_audit_failures_total Audit events that could not be "
                   "written.\n# TYPE gemmad_audit_failures_total counter\n"
                   "gemmad_audit_failures_total %llu\n"
                   "# HELP gemmad_audit_refused_total Requests refused (503) because the "
                   "audit log could not record them.\n"
                   "# TYPE gemmad_audit_refused_total counter\n"
                   "gemmad_audit_refused_total %llu\n",
                   (unsigned long long)gmd_guard_audit_failures(&srv->guard),
                   (unsigned long long)srv->guard.n_audit_refused);
    gmd_buf_str(&b, "# HELP gemmad_model_state State of each configured model (1 = in "
                    "that state).\n# TYPE gemmad_model_state gauge\n");
    static const gmd_model_state states[] = {GMD_MODEL_UNLOADED, GMD_MODEL_LOADING,
                                             GMD_MODEL_READY, GMD_MODEL_FAILED,
                                             GMD_MODEL_UNLOADING};
    for (unsigned i = 0; i < srv->n_models; i++)
        for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
            gmd_buf_printf(&b, "gemmad_model_state{model=\"%s\",state=\"%s\"} %d\n",
                           srv->models[i].cfg.name, gmd_model_state_name(states[s]),
                           srv->models[i].state == states[s]);
    if (b.failed)
        gmd_api_send_error(c, GMD_ERR_INTERNAL, NULL, "out of memory");
    else
        gmd_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len,
                         NULL);
    gmd_buf_free(&b);
}

/* ---- /v1/models ---- */

static json_t *model_object(gmd_server *srv, gmd_model *m)
{
    /* bundle_root_sha256: the verified root digest of a signed bundle
     * (left out for other models). */
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s*}", "id", m->cfg.name, "object", "model",
                     "created", (json_int_t)(time(NULL) - (time_t)(gmd_now() - srv->t_start)),
                     "owned_by", "gemmad", "state", gmd_model_state_name(m->state),
                     "bundle_root_sha256", m->digest[0] ? m->digest : NULL);
}

void gmd_route_models(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_MODELS_LIST, NULL, 0))
        return;
    json_t *data = json_array();
    for (unsigned i = 0; i < c->srv->n_models; i++)
        json_array_append_new(data, model_object(c->srv, &c->srv->models[i]));
    gmd_api_send_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void gmd_route_model_one(gmd_conn *c, const char *name)
{
    if (!gmd_api_guard(c, GMD_ACT_MODELS_LIST, name, 0))
        return;
    gmd_model *m = gmd_server_find_model(c->srv, name);
    if (m == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", name);
        gmd_api_send_error(c, GMD_ERR_MODEL_NOT_FOUND, "model", msg);
        return;
    }
    gmd_api_send_json(c, 200, model_object(c->srv, m));
}

/* ---- routing ---- */

typedef struct route {
    const char *method;
    const char *path;
    const char *label;
    void (*fn)(gmd_conn *c);
} route;

static void r_chat(gmd_conn *c) { gmd_route_generate(c, GMD_JOB_CHAT); }
static void r_completions(gmd_conn *c) { gmd_route_generate(c, GMD_JOB_COMPLETION); }
static void r_load(gmd_conn *c) { gmd_route_admin_model(c, true); }
static void r_unload(gmd_conn *c) { gmd_route_admin_model(c, false); }

static const route routes[] = {
    {"GET", "/healthz", "healthz", gmd_route_healthz},
    {"GET", "/readyz", "readyz", gmd_route_readyz},
    {"GET", "/metrics", "metrics", gmd_route_metrics},
    {"GET", "/v1/models", "models", gmd_route_models},
    {"POST", "/v1/chat/completions", "chat_completions", r_chat},
    {"POST", "/v1/completions", "completions", r_completions},
    {"GET", "/admin/v1/status", "admin_status", gmd_route_admin_status},
    {"POST", "/admin/v1/models/load", "admin_load", r_load},
    {"POST", "/admin/v1/models/unload", "admin_unload", r_unload},
    {"POST", "/admin/v1/reload", "admin_reload", gmd_route_admin_reload},
    {"GET", "/admin/v1/audit", "admin_audit", gmd_route_audit_read},
    {"GET", "/admin/v1/audit/export", "admin_audit_export", gmd_route_audit_export},
    {"GET", "/admin/v1/audit/verify", "admin_audit_verify", gmd_route_audit_verify},
    {"POST", "/admin/v1/audit/rotate", "admin_audit_rotate", gmd_route_audit_rotate},
};

/* A complete request: route it (conn.h on_request). */
static void api_handle(gmd_conn *c)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", gmd_http_url(&c->http));
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    const char *method = c->http.method;
    if (strcmp(method, "HEAD") == 0)
        c->keep_alive = false; /* the error below carries a body HEAD must not have */
    bool path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(path, routes[i].path) != 0)
            continue;
        path_known = true;
        if (strcmp(method, routes[i].method) == 0) {
            snprintf(c->route, sizeof(c->route), "%s", routes[i].label);
            routes[i].fn(c);
            return;
        }
    }
    if (!path_known && strncmp(path, "/v1/models/", 11) == 0 && path[11] != '\0' &&
        strcmp(method, "GET") == 0) {
        snprintf(c->route, sizeof(c->route), "models");
        char name[sizeof(path)];
        if (gmd_http_percent_decode(path + 11, name, sizeof(name)) < 0) {
            gmd_api_send_error(c, GMD_ERR_INVALID_MODEL, "model",
                           "the model name in the path is not validly percent-encoded");
            return;
        }
        gmd_route_model_one(c, name);
        return;
    }
    snprintf(c->route, sizeof(c->route), "other");
    char msg[160];
    if (path_known) {
        snprintf(msg, sizeof(msg), "method %s is not allowed here", method);
        gmd_api_send_error(c, GMD_ERR_METHOD_NOT_ALLOWED, NULL, msg);
    } else {
        snprintf(msg, sizeof(msg), "no such route: %.100s", path);
        gmd_api_send_error(c, GMD_ERR_NOT_FOUND, NULL, msg);
    }
}

/* ---- what connections report (conn.h hooks) ---- */

static int api_open(gmd_conn *c)
{
    c->upper = calloc(1, sizeof(gmd_api_conn));
    return c->upper ? 0 : -1;
}

/* The transport refused a request (malformed, too large, too slow). */
static void api_refuse(gmd_conn *c, int status, const char *why)
{
    gmd_api_send_error(c, gmd_api_err_of_refusal(status), NULL, why);
}

/* The connection is closing: cancel its job and let whatever waits for
 * it know it is gone. */
static void api_close(gmd_conn *c)
{
    gmd_api_conn *a = gmd_api_conn_of(c);
    if (a == NULL)
        return;
    if (a->job != NULL) {
        assert(a->job->conn == c); /* a job answers the connection that holds it */
        atomic_store(&a->job->cancel, 1);
        a->job->conn = NULL;
    }
    if (a->audit_wait != NULL)
        *a->audit_wait = NULL;
    if (a->work_wait != NULL)
        *a->work_wait = NULL;
    free(a);
    c->upper = NULL;
}

const gmd_conn_hooks gmd_api_conn_hooks = {
    .on_open = api_open,
    .on_request = api_handle,
    .on_refuse = api_refuse,
    .on_close = api_close,
};
