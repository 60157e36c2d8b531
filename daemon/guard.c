/*
 * daemon/guard.c -- authorization and audit decision points (see guard.h):
 * the role policy and limiter of policy/, the audit log of audit/.
 */
#include "daemon/guard.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/privsep.h"

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
    case GMD_ACT_AUDIT_READ: return "audit.read";
    case GMD_ACT_AUDIT_VERIFY: return "audit.verify";
    case GMD_ACT_AUDIT_ROTATE: return "audit.rotate";
    case GMD_ACT_NONE: return NULL;
    }
    return NULL;
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
    case GMD_ACT_AUDIT_READ: return PL_ACT_AUDIT_READ;
    case GMD_ACT_AUDIT_VERIFY: return PL_ACT_AUDIT_VERIFY;
    case GMD_ACT_AUDIT_ROTATE: return PL_ACT_ADMIN;
    case GMD_ACT_NONE: return PL_ACT_ADMIN; /* never asked; the strictest if it were */
    }
    return PL_ACT_ADMIN;
}

/* ---- audit hand-off: writer thread -> loop ---- */

struct gmd_audit_wait {
    gmd_audit_wait *next;
    gmd_guard *g;
    gmd_audit_cont cont;
    void *arg;
    int status;
    char msg[CM_ERR_MAX];
};

/* Writer thread, fire-and-forget events: failures are logged by the
 * library and counted in its statistics. */
static void audit_written(void *user, int status, int64_t seq, const char *msg)
{
    (void)user;
    if (status < 0 || seq < 0)
        cm_log(CM_LOG_ERR, "audit", "an audit event could not be written%s: %s",
               status < 0 ? "" : " (fail_open: ignored)", msg);
}

/* Hand a finished wait to the loop. Writer thread or loop; never blocks
 * for long. */
static void wait_finish(gmd_audit_wait *w, int status, const char *msg)
{
    gmd_guard *g = w->g;
    w->status = status;
    snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
    pthread_mutex_lock(&g->mu);
    w->next = NULL;
    if (g->done_tail)
        g->done_tail->next = w;
    else
        g->done_head = w;
    g->done_tail = w;
    if (!g->stopped) /* under the lock: gmd_guard_stop closes the handle */
        uv_async_send(&g->done_async);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void audit_awaited(void *user, int status, int64_t seq, const char *msg)
{
    if (status == 0 && seq < 0)
        cm_log(CM_LOG_WARN, "audit", "an audit event could not be written and is ignored "
               "(security.audit_fail_open): %s", msg);
    wait_finish(user, status, msg);
}

/* Loop thread: run the continuations handed over so far; returns how many. */
static unsigned run_done(gmd_guard *g)
{
    pthread_mutex_lock(&g->mu);
    gmd_audit_wait *w = g->done_head;
    g->done_head = g->done_tail = NULL;
    pthread_mutex_unlock(&g->mu);
    unsigned n = 0;
    while (w) {
        gmd_audit_wait *next = w->next;
        if (w->status < 0)
            cm_log(CM_LOG_ERR, "audit", "an awaited audit event could not be written: %s",
                   w->msg);
        w->cont(w->arg, w->status, w->msg);
        pthread_mutex_lock(&g->mu);
        g->pending--;
        pthread_mutex_unlock(&g->mu);
        free(w);
        n++;
        w = next;
    }
    return n;
}

static void on_audit_done(uv_async_t *a)
{
    run_done(a->data);
}

/* ---- the audit log, here or in the signer process ---- */

bool gmd_guard_has_log(const gmd_guard *g)
{
    return g->audit != NULL || g->remote != NULL;
}

static int append_async(gmd_guard *g, const au_event *ev, au_done_fn done, void *user,
                        cm_err *err)
{
    if (g->remote != NULL)
        return au_remote_append_async(g->remote, ev, done, user, err);
    return au_log_append_async(g->audit, ev, done, user, err);
}

static int append_wait(gmd_guard *g, const au_event *ev, cm_err *err)
{
    if (g->remote != NULL)
        return au_remote_append(g->remote, ev, NULL, err);
    return au_log_append(g->audit, ev, NULL, err);
}

int gmd_guard_rotate(gmd_guard *g, const char *archive, cm_err *err)
{
    if (g->remote == NULL)
        return au_log_rotate(g->audit, archive, err);
    /* The signer takes a bare name and puts the archive beside the log. */
    char dir_a[GMD_PATH_MAX + 256], dir_l[GMD_PATH_MAX];
    snprintf(dir_a, sizeof(dir_a), "%s", archive);
    snprintf(dir_l, sizeof(dir_l), "%s", g->audit_path);
    const char *slash = strrchr(archive, '/');
    const char *name = slash ? slash + 1 : archive;
    if (strcmp(dirname(dir_a), dirname(dir_l)) != 0)
        return cm_err_set(err, "audit: the archive %s must lie beside the log", archive);
    return au_remote_rotate(g->remote, name, err);
}

/* ---- opening and closing ---- */

int gmd_guard_open(gmd_guard *g, const gmd_config *cfg, uv_loop_t *loop, cm_err *err)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->policy_path, sizeof(g->policy_path), "%s", cfg->policy_file);
    snprintf(g->audit_path, sizeof(g->audit_path), "%s", cfg->audit_db);
    if (uv_async_init(loop, &g->done_async, on_audit_done) < 0)
        return cm_err_set(err, "guard: cannot create the audit hand-off");
    g->done_async.data = g;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->started = true;
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
    if (pl_limiter_new(0, &g->limiter, err) < 0)
        return -1;
    g->fail_open = cfg->audit_fail_open;
    g->raw_text = cfg->audit_raw_text;
    g->cp_rows = cfg->audit_checkpoint_rows;
    g->cp_seconds = cfg->audit_checkpoint_seconds;
    if (cfg->audit_db[0] != '\0') {
        /* The signer process gemmad.c started (privsep on), or the log
         * right here. */
        g->remote = gmd_privsep_take_remote();
        au_config ac = {.db_path = cfg->audit_db,
                        .fail_open = cfg->audit_fail_open,
                        .store_raw_text = cfg->audit_raw_text,
                        .checkpoint_rows = cfg->audit_checkpoint_rows,
                        .checkpoint_ms = cfg->audit_checkpoint_seconds * 1000u};
        if (g->remote == NULL && au_log_open(&ac, &g->audit, err) < 0)
            return cm_err_prefix(err, "security.audit_db");
        if (g->audit != NULL)
            cm_log(CM_LOG_WARN, "guard", "security.privsep is off: the audit keys are held by "
                   "this process, which also parses what clients send");
        if (g->raw_text)
            cm_log(CM_LOG_WARN, "guard", "security.audit_raw_text is set: the audit log %s "
                   "keeps the text of every prompt and answer, not only their HMACs",
                   cfg->audit_db);
        if (g->fail_open)
            cm_log(CM_LOG_WARN, "guard", "security.audit_fail_open is set: AUDIT FAILS OPEN, "
                   "requests are served even when the audit log %s cannot record them",
                   cfg->audit_db);
        else
            cm_log(CM_LOG_INFO, "guard", "audit log %s (fail-closed: a request that cannot "
                   "be recorded is refused with 503)", cfg->audit_db);
    } else if (cfg->audit_fail_open) {
        cm_log(CM_LOG_WARN, "guard", "security.audit_fail_open without security.audit_db "
               "has no effect");
    }
    return 0;
}

void gmd_guard_stop(gmd_guard *g, const char *detail)
{
    if (!g->started || g->stopped)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopped = true;
    pthread_mutex_unlock(&g->mu);
    /* Every awaited event gets its answer from the writer thread. */
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (g->done_head == NULL && g->pending > 0)
            pthread_cond_wait(&g->cv, &g->mu);
        bool idle = g->done_head == NULL && g->pending == 0;
        pthread_mutex_unlock(&g->mu);
        if (idle)
            break;
        run_done(g);
    }
    if (gmd_guard_has_log(g)) {
        au_event ev = AU_EVENT_INIT;
        ev.type = AU_EV_DAEMON_STOP;
        ev.detail = detail;
        cm_err err;
        if (append_wait(g, &ev, &err) < 0)
            cm_log(CM_LOG_ERR, "audit", "cannot record daemon.stop: %s", err.msg);
    } else {
        cm_log(CM_LOG_INFO, "audit", "event=daemon.stop detail=\"%s\"", detail);
    }
    uv_close((uv_handle_t *)&g->done_async, NULL);
}

int gmd_guard_reload(gmd_guard *g, const gmd_config *cfg, cm_err *err)
{
    pl_policy *p = NULL;
    if (cfg->policy_file[0] != '\0' && pl_policy_load_file(cfg->policy_file, &p, err) < 0) {
        cm_err_prefix(err, "security.policy");
        gmd_guard_audit(g, NULL, AU_EV_POLICY_RELOAD, GMD_ACT_RELOAD, NULL, 400, err->msg);
        return -1;
    }
    if (strcmp(cfg->audit_db, g->audit_path) != 0 || cfg->audit_fail_open != g->fail_open ||
        cfg->audit_raw_text != g->raw_text || cfg->audit_checkpoint_rows != g->cp_rows ||
        cfg->audit_checkpoint_seconds != g->cp_seconds ||
        (gmd_guard_has_log(g) && cfg->privsep != (g->remote != NULL)))
        cm_log(CM_LOG_WARN, "guard", "security.audit_* changes take effect at the next start");
    pl_holder_swap(g->policy, p);
    snprintf(g->policy_path, sizeof(g->policy_path), "%s", cfg->policy_file);
    gmd_guard_audit(g, NULL, AU_EV_POLICY_RELOAD, GMD_ACT_RELOAD, NULL, 200,
                    cfg->policy_file[0] ? cfg->policy_file : "(no policy: allow verified clients)");
    return 0;
}

void gmd_guard_close(gmd_guard *g)
{
    au_log_close(g->audit);
    au_remote_close(g->remote); /* the signer checkpoints and exits */
    g->remote = NULL;
    if (g->started) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        g->started = false;
    }
    g->audit = NULL;
    if (g->limiter)
        pl_limiter_free(g->limiter);
    g->limiter = NULL;
    if (g->policy)
        pl_holder_free(g->policy);
    g->policy = NULL;
}

void gmd_guard_authorize(gmd_guard *g, const cm_identity *id, gmd_action action,
                         const char *model, uint32_t prompt_tokens, uint32_t max_tokens,
                         gmd_guard_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->pd.rule_index = -1;
    out->allow = true;
    out->http_status = 200;
    snprintf(out->reason, sizeof(out->reason), "allowed");
    pl_policy *p = g->policy ? pl_holder_get(g->policy) : NULL;
    if (p != NULL) {
        pl_request rq = {.action = to_pl(action), .model = model, .max_tokens = max_tokens,
                         .prompt_tokens = action == GMD_ACT_INFER ? prompt_tokens : 0};
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

/* ---- recording ---- */

void gmd_guard_event(au_event *ev, const char *type, const cm_identity *id,
                     const gmd_guard_decision *d, gmd_action action, const char *model)
{
    *ev = (au_event)AU_EVENT_INIT;
    ev->type = type;
    ev->identity = id;
    ev->action = gmd_action_name(action);
    ev->model = model && model[0] ? model : NULL;
    if (d != NULL) {
        ev->role = d->role[0] ? d->role : NULL;
        ev->rule_index = d->pd.rule_index;
        ev->rule_name = d->pd.rule_name[0] ? d->pd.rule_name : NULL;
        ev->decision = d->allow ? "allow" : "deny";
        ev->reason = d->reason;
    }
}

static void log_event(const au_event *ev)
{
    const cm_identity *id = ev->identity;
    cm_log(CM_LOG_INFO, "audit", "event=%s id=%s route=\"%s\" action=%s model=%s "
           "decision=%s reason=%s role=%s status=%d prompt_tokens=%lld "
           "completion_tokens=%lld latency_us=%lld subject=\"%s\" fp=%.16s peer=%s "
           "detail=\"%s\"", ev->type, ev->request_id ? ev->request_id : "-",
           ev->route ? ev->route : "-", ev->action ? ev->action : "-",
           ev->model ? ev->model : "-", ev->decision ? ev->decision : "-",
           ev->reason ? ev->reason : "-", ev->role ? ev->role : "-", ev->http_status,
           (long long)ev->prompt_tokens, (long long)ev->completion_tokens,
           (long long)ev->latency_us, id ? id->subject_dn : "-",
           id ? id->fingerprint_sha256 : "-", id ? id->peer_addr : "-",
           ev->detail ? ev->detail : "");
}

int gmd_guard_record(gmd_guard *g, const au_event *ev, gmd_audit_cont cont, void *arg)
{
    if (!gmd_guard_has_log(g)) {
        log_event(ev);
        if (cont)
            cont(arg, 0, "");
        return 0;
    }
    cm_err err;
    if (cont == NULL) {
        /* The signer logs failures of fire-and-forget events itself. */
        if (append_async(g, ev, g->remote ? NULL : audit_written, NULL, &err) < 0) {
            cm_log(CM_LOG_ERR, "audit", "cannot queue an audit event: %s", err.msg);
            return g->fail_open ? 0 : -1;
        }
        return 0;
    }
    gmd_audit_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        /* No memory even for the wait: answer at once, failed. */
        cont(arg, g->fail_open ? 0 : -1, "out of memory");
        return 0;
    }
    w->g = g;
    w->cont = cont;
    w->arg = arg;
    pthread_mutex_lock(&g->mu);
    g->pending++;
    bool stopped = g->stopped;
    pthread_mutex_unlock(&g->mu);
    if (stopped) {
        /* Shutting down, the loop is gone: write synchronously. */
        int rc = append_wait(g, ev, &err);
        w->status = rc < 0 && !g->fail_open ? -1 : 0;
        snprintf(w->msg, sizeof(w->msg), "%s", rc < 0 ? err.msg : "");
        pthread_mutex_lock(&g->mu);
        g->pending--;
        pthread_mutex_unlock(&g->mu);
        cont(arg, w->status, w->msg);
        free(w);
        return 0;
    }
    if (append_async(g, ev, audit_awaited, w, &err) < 0) {
        cm_log(CM_LOG_ERR, "audit", "cannot queue an audit event: %s", err.msg);
        wait_finish(w, g->fail_open ? 0 : -1, err.msg); /* continues on the next loop turn */
    }
    return 0;
}

int gmd_guard_audit(gmd_guard *g, const cm_identity *id, const char *event,
                    gmd_action action, const char *model, int status, const char *detail)
{
    au_event ev;
    gmd_guard_event(&ev, event, id, NULL, action, model);
    ev.http_status = status;
    ev.detail = detail;
    if (strcmp(event, AU_EV_DENIED) == 0) {
        ev.decision = "deny";
        ev.reason = detail;
    }
    return gmd_guard_record(g, &ev, NULL, NULL);
}

uint64_t gmd_guard_audit_failures(gmd_guard *g)
{
    au_stats st = {0};
    if (g->remote != NULL)
        au_remote_stats(g->remote, &st);
    else if (g->audit != NULL)
        au_log_stats(g->audit, &st);
    return st.failed;
}
