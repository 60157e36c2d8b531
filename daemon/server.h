/*
 * daemon/server.h -- a running gemmad, top-down: the server owns the
 * event loop, the configuration, the TLS context, the guard (policy and
 * audit, guard.h), the metrics, the listeners and the models (models.h).
 * Listeners accept connections (conn.h), which report complete requests
 * to the API layer (api.h) through hooks; the API layer turns them into
 * answers, or into jobs for a model's scheduler (sched.h), whose events
 * come back to the loop through the mailbox here (gmd_server_post).
 *
 * Threads: everything here lives on the event-loop thread except the
 * mailbox (mail_mu) and the models' queues (models.h).
 */
#ifndef GMD_SERVER_H
#define GMD_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "daemon/conf.h"
#include "daemon/conn.h"
#include "daemon/guard.h"
#include "daemon/metrics.h"
#include "daemon/models.h"

typedef struct gmd_server gmd_server;

struct gmd_server {
    uv_loop_t *loop;
    char config_path[GMD_PATH_MAX];
    gmd_config cfg;
    SSL_CTX *tls;
    gmd_guard guard;
    gmd_metrics metrics;
    double t_start;

    uv_pipe_t unix_listener;
    uv_tcp_t tcp_listener;
    bool unix_listening, tcp_listening;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t tick;            /* housekeeping: deadlines, watchdog */
    uv_timer_t drain_timer;
    uv_timer_t grace_timer;     /* shutdown.drain_grace_ms */
    uv_async_t wake;            /* workers -> loop */

    pthread_mutex_t mail_mu;
    gmd_event *mail_head, *mail_tail;

    const gmd_conn_hooks *conn_hooks; /* what connections report to (api.h) */
    gmd_conn *conns;
    unsigned n_conns;
    unsigned n_models;
    gmd_model models[GMD_MAX_MODELS];
    bool ready_notified;
    bool draining;
    bool in_grace;              /* SIGTERM'd: not ready, still serving (drain_grace_ms) */
    double watchdog_interval;   /* seconds, 0 = off */
    double last_watchdog;
    uint64_t job_counter;
};

double gmd_now(void);
/* From a scheduler thread: hand an event to the loop (takes ownership);
 * the loop hands it to the API layer (gmd_api_event, api.h). */
void gmd_server_post(gmd_server *srv, gmd_event *ev);
/* Model load/unload finished (server.c: readiness, sd_notify). */
void gmd_server_models_changed(gmd_server *srv);
/* A response finished on a connection (server.c: drain bookkeeping). */
void gmd_server_conn_idle(gmd_server *srv);
/* Reload configuration, certificates and CRLs; keeps the old on error. */
int gmd_server_reload(gmd_server *srv, cm_err *err);
gmd_model *gmd_server_find_model(gmd_server *srv, const char *name);

#endif
