/*
 * daemon/server.c -- a running gemmad (server.h, the top of daemon/):
 * start-up (the loop's handles, listeners, the API layer's connection
 * hooks, models to load), listeners (Unix socket, TCP), the
 * scheduler->loop mailbox, signals (SIGHUP reload, SIGTERM/SIGINT drain),
 * housekeeping (request deadlines, systemd watchdog) and readiness.
 */
#include "daemon/server_run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "daemon/api.h"
#include "daemon/tls.h"

double gmd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

gmd_model *gmd_server_find_model(gmd_server *srv, const char *name)
{
    for (unsigned i = 0; i < srv->n_models; i++)
        if (strcmp(srv->models[i].cfg.name, name) == 0)
            return &srv->models[i];
    return NULL;
}

/* ---- mailbox ---- */

void gmd_server_post(gmd_server *srv, gmd_event *ev)
{
    ev->next = NULL;
    pthread_mutex_lock(&srv->mail_mu);
    if (srv->mail_tail)
        srv->mail_tail->next = ev;
    else
        srv->mail_head = ev;
    srv->mail_tail = ev;
    pthread_mutex_unlock(&srv->mail_mu);
    uv_async_send(&srv->wake);
}

static void drain_mailbox(gmd_server *srv)
{
    pthread_mutex_lock(&srv->mail_mu);
    gmd_event *ev = srv->mail_head;
    srv->mail_head = srv->mail_tail = NULL;
    pthread_mutex_unlock(&srv->mail_mu);
    while (ev) {
        gmd_event *next = ev->next;
        gmd_api_event(srv, ev);
        free(ev);
        ev = next;
    }
}

static void on_wake(uv_async_t *a)
{
    drain_mailbox(a->data);
}

/* ---- readiness and systemd ---- */

static void notify_status(gmd_server *srv)
{
    unsigned ready = 0;
    for (unsigned i = 0; i < srv->n_models; i++)
        ready += srv->models[i].state == GMD_MODEL_READY;
    const char *state = srv->draining   ? "draining"
                        : srv->in_grace ? "leaving the pool"
                                        : "serving";
    sd_notifyf(0, "STATUS=%s: %u of %u models loaded, %u connections", state, ready,
               srv->n_models, srv->n_conns);
}

void gmd_server_models_changed(gmd_server *srv)
{
    bool pending = false;
    for (unsigned i = 0; i < srv->n_models; i++)
        if (srv->models[i].state == GMD_MODEL_LOADING)
            pending = true;
    if (!pending && !srv->ready_notified) {
        srv->ready_notified = true;
        sd_notify(0, "READY=1");
        cm_log(CM_LOG_NOTICE, "gemmad", "ready");
    }
    notify_status(srv);
}

/* ---- draining ---- */

static void stop_loop(gmd_server *srv)
{
    uv_stop(srv->loop);
}

void gmd_server_conn_idle(gmd_server *srv)
{
    if (srv->draining && srv->n_conns == 0)
        stop_loop(srv);
}

static void on_drain_timeout(uv_timer_t *t)
{
    gmd_server *srv = t->data;
    cm_log(CM_LOG_WARN, "gemmad", "drain deadline passed: closing %u connections",
           srv->n_conns);
    while (srv->conns)
        gmd_conn_close(srv->conns);
    stop_loop(srv);
}

static void close_listeners(gmd_server *srv)
{
    if (srv->unix_listening) {
        uv_close((uv_handle_t *)&srv->unix_listener, NULL);
        unlink(srv->cfg.unix_path);
        srv->unix_listening = false;
    }
    if (srv->tcp_listening) {
        uv_close((uv_handle_t *)&srv->tcp_listener, NULL);
        srv->tcp_listening = false;
    }
}

/* Close the connections that are not answering a request; the others
 * close once answered (draining answers carry "Connection: close"). */
static void drain_idle_conns(gmd_server *srv)
{
    for (gmd_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        gmd_conn_drain(c);
    }
}

/* Drain: stop accepting, give in-flight requests until
 * shutdown.drain_timeout_ms, stop once no connection is left. New
 * requests on open connections are refused (503 shutting_down). */
static void stop_accepting(gmd_server *srv, const char *why)
{
    srv->in_grace = false;
    srv->draining = true;
    cm_log(CM_LOG_NOTICE, "gemmad", "%s: draining %u connections, no longer accepting "
           "(deadline %u ms)", why, srv->n_conns, srv->cfg.drain_timeout_ms);
    close_listeners(srv);
    drain_idle_conns(srv);
    notify_status(srv);
    int rc = uv_timer_start(&srv->drain_timer, on_drain_timeout, srv->cfg.drain_timeout_ms, 0);
    if (rc < 0) {
        /* Without its deadline a drain could wait for ever: stop now. */
        cm_log(CM_LOG_ERR, "gemmad", "cannot start the drain deadline (%s): stopping now",
               uv_strerror(rc));
        on_drain_timeout(&srv->drain_timer);
        return;
    }
    gmd_server_conn_idle(srv);
}

static void on_grace_end(uv_timer_t *t)
{
    stop_accepting(t->data, "grace period over");
}

/* SIGTERM/SIGINT. With shutdown.drain_grace_ms, first a grace period:
 * /readyz answers 503 and every answer closes its connection, but new
 * connections and requests are still served, so a load balancer's health
 * check takes this instance out of its pool before it stops accepting
 * (docs/deploy.md). Then, or at once without it, the drain proper. */
static void start_drain(gmd_server *srv, const char *why)
{
    if (srv->draining || srv->in_grace) {
        cm_log(CM_LOG_WARN, "gemmad", "%s again: stopping now", why);
        uv_timer_stop(&srv->grace_timer);
        srv->in_grace = false;
        srv->draining = true;
        on_drain_timeout(&srv->drain_timer);
        return;
    }
    sd_notify(0, "STOPPING=1");
    if (srv->cfg.drain_grace_ms > 0) {
        srv->in_grace = true;
        cm_log(CM_LOG_NOTICE, "gemmad", "%s: not ready (/readyz 503), still serving for "
               "%u ms (shutdown.drain_grace_ms) before draining", why, srv->cfg.drain_grace_ms);
        /* Idle keep-alive connections stay: their next answer closes them. */
        notify_status(srv);
        int rc = uv_timer_start(&srv->grace_timer, on_grace_end, srv->cfg.drain_grace_ms, 0);
        if (rc == 0)
            return;
        cm_log(CM_LOG_ERR, "gemmad", "cannot start the grace period (%s): draining now",
               uv_strerror(rc));
    }
    stop_accepting(srv, why);
}

/* ---- reload ---- */

int gmd_server_reload(gmd_server *srv, cm_err *err)
{
    gmd_config *next = malloc(sizeof(*next));
    if (next == NULL)
        return cm_err_set(err, "reload: out of memory");
    SSL_CTX *tls = NULL;
    int rc = -1;
    if (gmd_config_load(srv->config_path, next, err) < 0 ||
        gmd_tls_ctx_new(next, &tls, err) < 0 || gmd_guard_reload(&srv->guard, next, err) < 0)
        goto out;
    /* Listeners and the model list stay as they are until a restart. */
    const gmd_config *cur = &srv->cfg;
    if (next->unix_enabled != cur->unix_enabled || next->tcp_enabled != cur->tcp_enabled ||
        strcmp(next->unix_path, cur->unix_path) != 0 ||
        strcmp(next->tcp_address, cur->tcp_address) != 0 || next->tcp_port != cur->tcp_port)
        cm_log(CM_LOG_WARN, "gemmad", "reload: listen.* changes take effect at the next start");
    if (next->n_models != cur->n_models)
        cm_log(CM_LOG_WARN, "gemmad", "reload: changes to models take effect at the next start");
    next->unix_enabled = cur->unix_enabled;
    next->tcp_enabled = cur->tcp_enabled;
    memcpy(next->unix_path, cur->unix_path, sizeof(next->unix_path));
    memcpy(next->tcp_address, cur->tcp_address, sizeof(next->tcp_address));
    next->tcp_port = cur->tcp_port;
    next->queue_depth = cur->queue_depth;
    next->n_models = cur->n_models;
    memcpy(next->models, cur->models, sizeof(next->models));
    SSL_CTX_free(srv->tls);
    srv->tls = tls;
    tls = NULL;
    srv->cfg = *next;
    cm_log_level lv;
    if (cm_log_parse_level(srv->cfg.log_level, &lv) == 0)
        cm_log_set_level(lv);
    rc = 0;
out:
    SSL_CTX_free(tls);
    free(next);
    return rc;
}

/* SIGHUP's "request" event is durable (status 0) or failed. Fail-closed
 * like the admin API's reload: without a durable record the running
 * configuration stays (logged as an error; there is nobody to answer). */
static void hup_recorded(void *arg, int status, const char *msg)
{
    gmd_server *srv = arg;
    if (status < 0) {
        cm_log(CM_LOG_ERR, "gemmad", "SIGHUP: reload REFUSED, keeping the running "
               "configuration, certificates and CRLs: the audit log cannot record it "
               "(fail-closed; security.audit_fail_open would allow it): %s", msg);
    } else if (srv->draining) {
        cm_log(CM_LOG_NOTICE, "gemmad", "SIGHUP: not reloading, shutting down");
        gmd_guard_audit(&srv->guard, NULL, AU_EV_CONFIG_RELOAD, GMD_ACT_RELOAD, NULL, 503,
                        "SIGHUP: shutting down, not reloaded");
        return;
    } else {
        cm_err err;
        int rc = gmd_server_reload(srv, &err);
        if (rc < 0)
            cm_log(CM_LOG_ERR, "gemmad", "reload failed, keeping the running configuration: %s",
                   err.msg);
        else
            cm_log(CM_LOG_NOTICE, "gemmad", "configuration, certificates and CRLs reloaded");
        gmd_guard_audit(&srv->guard, NULL, AU_EV_CONFIG_RELOAD, GMD_ACT_RELOAD, NULL,
                        rc < 0 ? 400 : 200, rc < 0 ? err.msg : "SIGHUP");
    }
    sd_notify(0, "READY=1");
    notify_status(srv);
}

static void on_signal(uv_signal_t *s, int signum)
{
    gmd_server *srv = s->data;
    if (signum == SIGHUP) {
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)(gmd_now() * 1e6));
        /* Reload once the ask is durable (hup_recorded, on the loop). */
        au_event ev;
        gmd_guard_event(&ev, AU_EV_REQUEST, NULL, NULL, GMD_ACT_RELOAD, NULL);
        ev.route = "SIGHUP";
        ev.detail = "SIGHUP";
        gmd_guard_record(&srv->guard, &ev, hup_recorded, srv);
        return;
    }
    start_drain(srv, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- housekeeping ---- */

static void on_tick(uv_timer_t *t)
{
    gmd_server *srv = t->data;
    double now = gmd_now();
    for (gmd_conn *c = srv->conns; c; c = c->next) {
        gmd_job *job = c->upper ? gmd_api_conn_of(c)->job : NULL;
        if (job && !job->timed_out && now > job->deadline) {
            job->timed_out = true;
            atomic_store(&job->cancel, 1);
        }
    }
    if (srv->watchdog_interval > 0 && now - srv->last_watchdog >= srv->watchdog_interval) {
        sd_notify(0, "WATCHDOG=1");
        srv->last_watchdog = now;
    }
}

/* ---- listeners ---- */

static void on_unix_conn(uv_stream_t *l, int status)
{
    if (status == 0)
        gmd_conn_accept(l->data, l, true);
}

static void on_tcp_conn(uv_stream_t *l, int status)
{
    if (status == 0)
        gmd_conn_accept(l->data, l, false);
}

static int listen_unix(gmd_server *srv, cm_err *err)
{
    const gmd_config *cfg = &srv->cfg;
    struct stat st;
    if (lstat(cfg->unix_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return cm_err_set(err, "%s exists and is not a socket", cfg->unix_path);
        unlink(cfg->unix_path);
    }
    int rc = uv_pipe_init(srv->loop, &srv->unix_listener, 0);
    if (rc < 0)
        return cm_err_set(err, "cannot listen on %s: %s", cfg->unix_path, uv_strerror(rc));
    srv->unix_listener.data = srv;
    srv->unix_listening = true;
    rc = uv_pipe_bind(&srv->unix_listener, cfg->unix_path);
    if (rc < 0)
        return cm_err_set(err, "cannot bind %s: %s", cfg->unix_path, uv_strerror(rc));
    if (chmod(cfg->unix_path, cfg->unix_mode) < 0)
        return cm_err_errno(err, "cannot set the mode of %s", cfg->unix_path);
    if (cfg->unix_has_group && chown(cfg->unix_path, (uid_t)-1, cfg->unix_gid) < 0)
        return cm_err_errno(err, "cannot give %s to group %s", cfg->unix_path, cfg->unix_group);
    rc = uv_listen((uv_stream_t *)&srv->unix_listener, 128, on_unix_conn);
    if (rc < 0)
        return cm_err_set(err, "cannot listen on %s: %s", cfg->unix_path, uv_strerror(rc));
    cm_log(CM_LOG_NOTICE, "gemmad", "listening on unix:%s (mode %04o)", cfg->unix_path,
           cfg->unix_mode);
    return 0;
}

static int listen_tcp(gmd_server *srv, cm_err *err)
{
    const gmd_config *cfg = &srv->cfg;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(cfg->tcp_address, cfg->tcp_port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(cfg->tcp_address, cfg->tcp_port, (struct sockaddr_in6 *)&ss) != 0)
        return cm_err_set(err, "listen.tcp.address '%s' is not an IP address", cfg->tcp_address);
    int rc = uv_tcp_init(srv->loop, &srv->tcp_listener);
    if (rc < 0)
        return cm_err_set(err, "cannot listen on %s port %u: %s", cfg->tcp_address,
                          cfg->tcp_port, uv_strerror(rc));
    srv->tcp_listener.data = srv;
    srv->tcp_listening = true;
    rc = uv_tcp_bind(&srv->tcp_listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->tcp_listener, cfg->tcp_backlog, on_tcp_conn);
    if (rc < 0)
        return cm_err_set(err, "cannot listen on %s port %u: %s", cfg->tcp_address,
                          cfg->tcp_port, uv_strerror(rc));
    /* Port 0 asks the kernel for a free port: log the one it chose. */
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    unsigned port = cfg->tcp_port;
    if (uv_tcp_getsockname(&srv->tcp_listener, (struct sockaddr *)&bound, &blen) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    cm_log(CM_LOG_NOTICE, "gemmad", "listening on %s port %u", cfg->tcp_address, port);
    return 0;
}

/* ---- start and stop ---- */

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The loop's own handles: the workers' wake-up, the timers and the
 * signals. A daemon that could not hear SIGTERM, or enforce deadlines,
 * must not start. */
static int start_handles(gmd_server *srv, cm_err *err)
{
    uv_loop_t *loop = srv->loop;
    int rc;
    if ((rc = uv_async_init(loop, &srv->wake, on_wake)) < 0)
        return cm_err_set(err, "cannot create the scheduler wake-up: %s", uv_strerror(rc));
    srv->wake.data = srv;
    uv_timer_t *timers[] = {&srv->tick, &srv->drain_timer, &srv->grace_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        if ((rc = uv_timer_init(loop, timers[i])) < 0)
            return cm_err_set(err, "cannot create a timer: %s", uv_strerror(rc));
        timers[i]->data = srv;
    }
    static const struct { int signum; const char *name; } sigs[] = {
        {SIGHUP, "SIGHUP"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"}};
    uv_signal_t *handles[] = {&srv->sig_hup, &srv->sig_term, &srv->sig_int};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if ((rc = uv_signal_init(loop, handles[i])) < 0)
            return cm_err_set(err, "cannot watch for %s: %s", sigs[i].name, uv_strerror(rc));
        handles[i]->data = srv;
        if ((rc = uv_signal_start(handles[i], on_signal, sigs[i].signum)) < 0)
            return cm_err_set(err, "cannot watch for %s: %s", sigs[i].name, uv_strerror(rc));
    }
    return 0;
}

int gmd_server_run(const char *config_path, const gmd_config *cfg, cm_err *err)
{
    gmd_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return cm_err_set(err, "out of memory");
    uv_loop_t loop;
    int rc = -1;
    if (uv_loop_init(&loop) < 0) {
        free(srv);
        return cm_err_set(err, "cannot start the event loop");
    }
    srv->loop = &loop;
    snprintf(srv->config_path, sizeof(srv->config_path), "%s", config_path);
    srv->cfg = *cfg;
    srv->t_start = gmd_now();
    srv->conn_hooks = &gmd_api_conn_hooks; /* connections report to the API layer */
    /* Answer ids are "chatcmpl-<time><counter>": a random start keeps them
     * (and the audit's request_id) apart across the instances of a pool
     * and across restarts within a second (docs/deploy.md). */
    unsigned char rnd[5];
    if (RAND_bytes(rnd, sizeof(rnd)) == 1)
        for (size_t i = 0; i < sizeof(rnd); i++)
            srv->job_counter = srv->job_counter << 8 | rnd[i];
    srv->job_counter <<= 8;
    gmd_metrics_init(&srv->metrics);
    pthread_mutex_init(&srv->mail_mu, NULL);

    if (gmd_tls_ctx_new(&srv->cfg, &srv->tls, err) < 0)
        goto out;
    if (gmd_guard_open(&srv->guard, &srv->cfg, &loop, err) < 0)
        goto out;
    for (size_t i = 0; i < srv->cfg.n_models; i++) {
        if (gmd_model_init(&srv->models[i], srv, &srv->cfg.models[i], err) < 0)
            goto out;
        srv->n_models++;
    }
    if (start_handles(srv, err) < 0)
        goto out;

    if (srv->cfg.unix_enabled && listen_unix(srv, err) < 0)
        goto out;
    if (srv->cfg.tcp_enabled && listen_tcp(srv, err) < 0)
        goto out;

    uint64_t wd_usec = 0;
    if (srv->cfg.watchdog_ms > 0)
        srv->watchdog_interval = srv->cfg.watchdog_ms / 1000.0;
    else if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0)
        srv->watchdog_interval = wd_usec / 2e6;
    /* Deadlines and the watchdog: without them requests could run for ever. */
    int trc = uv_timer_start(&srv->tick, on_tick, 250, 250);
    if (trc < 0) {
        cm_err_set(err, "cannot start the housekeeping timer: %s", uv_strerror(trc));
        goto out;
    }

    char started[GMD_PATH_MAX + 64];
    snprintf(started, sizeof(started), "gemmad %s, configuration %s", GMD_VERSION,
             srv->config_path);
    if (gmd_guard_audit(&srv->guard, NULL, AU_EV_DAEMON_START, GMD_ACT_NONE, NULL, 0,
                        started) < 0) {
        cm_err_set(err, "cannot record daemon.start in the audit log");
        goto out;
    }

    for (unsigned i = 0; i < srv->n_models; i++) {
        if (!srv->models[i].cfg.load)
            continue;
        cm_err lerr;
        if (gmd_model_load_async(&srv->models[i], &lerr) < 0)
            cm_log(CM_LOG_ERR, "models", "%s", lerr.msg);
    }
    gmd_server_models_changed(srv);

    uv_run(&loop, UV_RUN_DEFAULT);
    cm_log(CM_LOG_NOTICE, "gemmad", "stopping");
    /* Drained: a further SIGTERM or SIGHUP has nothing left to do, and must
     * not turn the orderly exit into death by signal once the handlers are
     * closed below. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    rc = 0;
out:
    close_listeners(srv);
    while (srv->conns)
        gmd_conn_close(srv->conns);
    /* Prompts still being tokenized read their model's vocabulary: let
     * them finish (their clients are gone) before any model is freed. */
    for (unsigned i = 0; i < srv->n_models; i++)
        while (srv->models[i].n_prep > 0)
            uv_run(&loop, UV_RUN_ONCE);
    for (unsigned i = 0; i < srv->n_models; i++)
        gmd_model_unload_sync(&srv->models[i]);
    drain_mailbox(srv);
    gmd_guard_stop(&srv->guard, rc == 0 ? "stopped" : "failed to start");
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < srv->n_models; i++)
        gmd_model_unload_sync(&srv->models[i]); /* any that finished loading meanwhile */
    drain_mailbox(srv);
    for (unsigned i = 0; i < srv->n_models; i++) {
        if (srv->models[i].im)
            gmd_infer_free(srv->models[i].im);
        gmd_model_destroy(&srv->models[i]);
    }
    if (uv_loop_close(&loop) != 0)
        cm_log(CM_LOG_WARN, "gemmad", "event loop closed with handles still open");
    gmd_guard_close(&srv->guard);
    SSL_CTX_free(srv->tls);
    pthread_mutex_destroy(&srv->mail_mu);
    free(srv);
    return rc;
}
