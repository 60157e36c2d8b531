/*
 * daemon/guard.c -- authorization and audit decision points (see guard.h):
 * the role policy and limiter of policy/, the audit log of audit/.
 */
#include "daemon/guard.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

const char *gmd_action_name(gmd_action a)
{
    switch (a) {
    case GMD_ACT_INFER: return "infer";
    case GMD_ACT_MODELS_LIST: return "models.list";
    case GMD_ACT_MODELS_LOAD: return "models.load";
    case GMD_ACT_MODELS_UNLOAD: return "models.unload";
    case GMD_ACT_STATUS_READ: return "status.read";
    case GMD_ACT_METRICS_READ: return "metrics.read";
    case GMD_ACT_RELOAD: return "policy.reload";
    }
    return "unknown";
}

static pl_action to_pl(gmd_action a)
{
    switch (a) {
    case GMD_ACT_INFER: return PL_ACT_INFER;
    case GMD_ACT_MODELS_LIST: return PL_ACT_MODELS_LIST;
    case GMD_ACT_MODELS_LOAD: return PL_ACT_MODELS_LOAD;
    case GMD_ACT_MODELS_UNLOAD: return PL_ACT_MODELS_UNLOAD;
    case GMD_ACT_STATUS_READ: return PL_ACT_STATUS_READ;
    case GMD_ACT_METRICS_READ: return PL_ACT_METRICS_READ;
    case GMD_ACT_RELOAD: return PL_ACT_POLICY_RELOAD;
    }
    return PL_ACT_STATUS_READ;
}

static void audit_written(void *user, int status, int64_t seq, const char *msg)
{
    (void)user;
    (void)seq;
    if (status < 0)
        cm_log(CM_LOG_ERR, "audit", "an audit event could not be written: %s", msg);
}

int gmd_guard_open(gmd_guard *g, const gmd_config *cfg, cm_err *err)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->policy_path, sizeof(g->policy_path), "%s", cfg->policy_file);
    snprintf(g->audit_path, sizeof(g->audit_path), "%s", cfg->audit_db);
    pl_policy *p = NULL;
    if (cfg->policy_file[0] != '\0' && pl_policy_load_file(cfg->policy_file, &p, err) < 0)
        return cm_err_prefix(err, "security.policy");
    if (pl_holder_new(p, &g->policy, err) < 0) {
        pl_policy_unref(p);
        return -1;
    }
    if (p == NULL)
        cm_log(CM_LOG_WARN, "guard", "no security.policy: every client with a valid "
               "certificate may do everything");
    if (pl_limiter_new(0, &g->limiter, err) < 0) {
        gmd_guard_close(g);
        return -1;
    }
    if (cfg->audit_db[0] != '\0') {
        au_config ac = {.db_path = cfg->audit_db};
        if (au_log_open(&ac, &g->audit, err) < 0) {
            cm_err_prefix(err, "security.audit_db");
            gmd_guard_close(g);
            return -1;
        }
    }
    return 0;
}

int gmd_guard_reload(gmd_guard *g, const gmd_config *cfg, cm_err *err)
{
    pl_policy *p = NULL;
    if (cfg->policy_file[0] != '\0' && pl_policy_load_file(cfg->policy_file, &p, err) < 0)
        return cm_err_prefix(err, "security.policy");
    if (strcmp(cfg->audit_db, g->audit_path) != 0)
        cm_log(CM_LOG_WARN, "guard", "security.audit_db changes take effect at the next start");
    pl_holder_swap(g->policy, p);
    snprintf(g->policy_path, sizeof(g->policy_path), "%s", cfg->policy_file);
    return 0;
}

void gmd_guard_close(gmd_guard *g)
{
    au_log_close(g->audit);
    g->audit = NULL;
    if (g->limiter)
        pl_limiter_free(g->limiter);
    g->limiter = NULL;
    if (g->policy)
        pl_holder_free(g->policy);
    g->policy = NULL;
}

static void deny(gmd_guard_decision *out, int status, const char *reason)
{
    out->allow = false;
    out->http_status = status;
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

void gmd_guard_authorize(gmd_guard *g, const cm_identity *id, gmd_action action,
                         const char *model, uint32_t max_tokens, gmd_guard_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->pd.rule_index = -1;
    out->allow = true;
    out->http_status = 200;
    snprintf(out->reason, sizeof(out->reason), "allowed");
    pl_policy *p = g->policy ? pl_holder_get(g->policy) : NULL;
    if (p != NULL) {
        pl_request rq = {.action = to_pl(action), .model = model, .max_tokens = max_tokens};
        pl_decide(p, id, &rq, &out->pd);
        if (out->pd.allow && action == GMD_ACT_INFER)
            pl_limiter_admit(g->limiter, &out->pd, &rq, pl_now_us());
        pl_policy_unref(p);
        out->allow = out->pd.allow;
        out->http_status = out->pd.allow ? 200 : out->pd.http_status;
        out->retry_after_s = out->pd.retry_after_s;
        snprintf(out->reason, sizeof(out->reason), "%s", pl_reason_name(out->pd.reason));
        snprintf(out->role, sizeof(out->role), "%s", out->pd.role);
    }
    bool worth_auditing = action == GMD_ACT_INFER || action == GMD_ACT_MODELS_LOAD ||
                          action == GMD_ACT_MODELS_UNLOAD || action == GMD_ACT_RELOAD;
    if (out->allow && worth_auditing &&
        gmd_guard_audit(g, id, AU_EV_REQUEST, action, model, 0, out->role) < 0) {
        gmd_guard_release(g, out, 0);
        deny(out, 503, "audit_unavailable");
    }
    if (out->allow)
        g->n_allowed++;
    else
        g->n_denied++;
}

void gmd_guard_release(gmd_guard *g, gmd_guard_decision *d, uint32_t completion_tokens)
{
    if (g->limiter && d->pd.admitted)
        pl_limiter_release(g->limiter, &d->pd, completion_tokens, pl_now_us());
}

int gmd_guard_audit(gmd_guard *g, const cm_identity *id, const char *event,
                    gmd_action action, const char *model, int status, const char *detail)
{
    if (g->audit == NULL) {
        cm_log(CM_LOG_INFO, "audit", "event=%s action=%s model=%s status=%d subject=\"%s\" "
               "fp=%.16s peer=%s detail=\"%s\"", event, gmd_action_name(action),
               model && model[0] ? model : "-", status, id ? id->subject_dn : "-",
               id ? id->fingerprint_sha256 : "-", id ? id->peer_addr : "-",
               detail ? detail : "");
        return 0;
    }
    au_event ev = AU_EVENT_INIT;
    ev.type = event;
    ev.identity = id;
    ev.action = gmd_action_name(action);
    ev.model = model && model[0] ? model : NULL;
    ev.http_status = status;
    ev.detail = detail;
    if (strcmp(event, AU_EV_DENIED) == 0) {
        ev.decision = "deny";
        ev.reason = detail;
    }
    cm_err err;
    if (au_log_append_async(g->audit, &ev, audit_written, NULL, &err) < 0) {
        cm_log(CM_LOG_ERR, "audit", "cannot queue an audit event: %s", err.msg);
        return -1;
    }
    return 0;
}

int gmd_guard_audit_response(gmd_guard *g, const cm_identity *id, const gmd_guard_decision *d,
                             const char *request_id, const char *model, int status,
                             uint32_t prompt_tokens, uint32_t completion_tokens,
                             int64_t latency_us, const char *detail)
{
    if (g->audit == NULL) {
        cm_log(CM_LOG_INFO, "audit", "event=response id=%s model=%s status=%d role=%s "
               "prompt_tokens=%u completion_tokens=%u latency_ms=%.1f subject=\"%s\" "
               "peer=%s detail=\"%s\"", request_id, model, status,
               d->role[0] ? d->role : "-", prompt_tokens, completion_tokens,
               latency_us / 1000.0, id->subject_dn, id->peer_addr, detail ? detail : "");
        return 0;
    }
    au_event ev = AU_EVENT_INIT;
    ev.type = AU_EV_RESPONSE;
    ev.request_id = request_id;
    ev.identity = id;
    ev.role = d->role[0] ? d->role : NULL;
    ev.rule_index = d->pd.rule_index;
    ev.rule_name = d->pd.rule_name[0] ? d->pd.rule_name : NULL;
    ev.action = gmd_action_name(GMD_ACT_INFER);
    ev.model = model;
    ev.decision = "allow";
    ev.reason = d->reason;
    ev.http_status = status;
    ev.prompt_tokens = prompt_tokens;
    ev.completion_tokens = completion_tokens;
    ev.latency_us = latency_us;
    ev.detail = detail;
    cm_err err;
    if (au_log_append_async(g->audit, &ev, audit_written, NULL, &err) < 0) {
        cm_log(CM_LOG_ERR, "audit", "cannot queue an audit event: %s", err.msg);
        return -1;
    }
    return 0;
}
