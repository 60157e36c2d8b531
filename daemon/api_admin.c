/*
 * daemon/api_admin.c -- the admin API used by gemmactl: status, loading
 * and unloading models, reloading the configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "daemon/api.h"

/* ---- admin ---- */

void gmd_route_admin_status(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_STATUS_READ, NULL, 0))
        return;
    gmd_server *srv = c->srv;
    json_t *models = json_array();
    for (unsigned i = 0; i < srv->n_models; i++) {
        gmd_model *m = &srv->models[i];
        bool ready = m->state == GMD_MODEL_READY;
        json_array_append_new(
            models, json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?, s:b, s:i, s:i, s:i}", "name",
                              m->cfg.name, "path", m->cfg.path, "bundle",
                              m->cfg.bundle[0] ? m->cfg.bundle : NULL, "bundle_root_sha256",
                              m->digest[0] ? m->digest : NULL, "state",
                              gmd_model_state_name(m->state),
                              "error", m->error[0] ? m->error : NULL, "load_at_start",
                              m->cfg.load, "workers", (int)m->cfg.workers, "queued",
                              ready ? (int)gmd_model_queued(m) : 0, "running",
                              ready ? (int)gmd_model_running(m) : 0));
    }
    json_t *you = json_pack("{s:s, s:s, s:s, s:s}", "subject", c->id.subject_dn, "cn",
                            c->id.cn, "fingerprint_sha256", c->id.fingerprint_sha256, "peer",
                            c->id.peer_addr);
    gmd_api_send_json(c, 200,
              json_pack("{s:s, s:s, s:s, s:f, s:i, s:b, s:b, s:s, s:o, s:o}", "version",
                        GMD_VERSION, "engine", gmd_infer_backend(), "config", srv->config_path,
                        "uptime_seconds", gmd_now() - srv->t_start, "connections",
                        (int)srv->n_conns, "ready", gmd_api_all_ready(srv), "draining", srv->draining,
                        "tls_min_version", srv->cfg.tls_min_version, "models", models,
                        "client", you));
}

void gmd_route_admin_model(gmd_conn *c, bool load)
{
    json_t *o = gmd_api_body_json(c);
    if (o == NULL)
        return;
    const char *name = json_string_value(json_object_get(o, "model"));
    if (name == NULL) {
        json_decref(o);
        gmd_conn_error(c, 400, "invalid_request_error", "missing_parameter", "model",
                       "'model' (a string) is required");
        return;
    }
    char model[GMD_NAME_MAX];
    snprintf(model, sizeof(model), "%s", name);
    json_decref(o);
    gmd_action act = load ? GMD_ACT_MODELS_LOAD : GMD_ACT_MODELS_UNLOAD;
    if (!gmd_api_guard(c, act, model, 0))
        return;
    gmd_model *m = gmd_server_find_model(c->srv, model);
    if (m == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", model);
        gmd_conn_error(c, 404, "invalid_request_error", "model_not_found", "model", msg);
        return;
    }
    cm_err err;
    int rc = load ? gmd_model_load_async(m, &err) : gmd_model_unload_async(m, &err);
    gmd_guard_audit(&c->srv->guard, &c->id, load ? "model.load" : "model.unload", act, model,
                    rc < 0 ? 500 : 202, rc < 0 ? err.msg : gmd_model_state_name(m->state));
    if (rc < 0) {
        gmd_conn_error(c, 500, "server_error", "model_error", "model", err.msg);
        return;
    }
    gmd_api_send_json(c, 202, json_pack("{s:s, s:s}", "model", model, "state",
                                gmd_model_state_name(m->state)));
}

void gmd_route_admin_reload(gmd_conn *c)
{
    if (!gmd_api_guard(c, GMD_ACT_RELOAD, NULL, 0))
        return;
    cm_err err;
    int rc = gmd_server_reload(c->srv, &err);
    gmd_guard_audit(&c->srv->guard, &c->id, "config.reload", GMD_ACT_RELOAD, NULL, rc < 0 ? 400 : 200,
                    rc < 0 ? err.msg : "ok");
    if (rc < 0) {
        gmd_conn_error(c, 400, "invalid_request_error", "invalid_config", NULL, err.msg);
        return;
    }
    gmd_api_send_json(c, 200, json_pack("{s:s}", "status", "reloaded"));
}
