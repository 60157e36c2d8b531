/*
 * daemon/server.h -- the pieces of a running gemmad and how they meet:
 * the server (event loop, listeners, configuration, TLS context, models),
 * client connections (TLS over memory BIOs, HTTP parsing, responses) and
 * generation jobs (queued to engine workers, answered through events).
 *
 * Threads: everything here lives on the event-loop thread except the
 * model workers (models.c), which touch only their queue, the job's
 * request and cancel flag, and the event mailbox (gmd_server_post).
 */
#ifndef GMD_SERVER_H
#define GMD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "common/identity.h"
#include "daemon/buf.h"
#include "daemon/conf.h"
#include "daemon/guard.h"
#include "daemon/http.h"
#include "daemon/infer.h"
#include "daemon/metrics.h"
#include "daemon/sched.h"

typedef struct gmd_server gmd_server;
typedef struct gmd_conn gmd_conn;
typedef struct gmd_job gmd_job;
typedef struct gmd_model gmd_model;

/* ---- models and jobs (models.c) ---- */

typedef enum gmd_model_state {
    GMD_MODEL_UNLOADED = 0,
    GMD_MODEL_LOADING,
    GMD_MODEL_READY,
    GMD_MODEL_FAILED,
    GMD_MODEL_UNLOADING,
} gmd_model_state;

struct gmd_model {
    gmd_server *srv;
    gmd_model_config cfg;
    gmd_model_state state;      /* loop thread */
    char error[CM_ERR_MAX];     /* why loading failed */
    gmd_infer_model *im;
    bool load_after_unload;     /* a load was asked while unloading */
    unsigned n_prep;            /* prompts being tokenized in the thread pool */
    bool unload_deferred;       /* unloading waits until n_prep is 0 */

    pthread_mutex_t mu;         /* guards what follows */
    pthread_cond_t cv;
    gmd_job **queue;            /* ring of waiting jobs */
    unsigned q_cap, q_head, q_len;
    gmd_job *active[64];        /* jobs running in the batch (for cancel) */
    unsigned n_active;
    bool stop;
    pthread_t threads[64];      /* the scheduler thread (sched.c) */
    unsigned n_threads;
    gmd_sched_stats sched_stats; /* what the scheduler did (metrics) */
    uint64_t mem_bytes;         /* counted against engine.models_memory_mb (loop thread) */
    uv_work_t work;
    gmd_config load_cfg;        /* configuration as it was when loading began */
    char digest[65];            /* verified bundle root digest (hex), "" = none */
    bool verify_failed;         /* the last load failed verifying the bundle */
    cm_err work_err;
    int work_rc;
};

typedef enum gmd_job_kind { GMD_JOB_CHAT, GMD_JOB_COMPLETION } gmd_job_kind;

struct gmd_job {
    gmd_job_kind kind;
    gmd_model *model;
    gmd_infer_params params;
    bool stream;
    bool include_usage;
    char id[48];                /* chatcmpl-... / cmpl-... */
    long created;               /* unix seconds */
    double t_start;             /* monotonic seconds at request */
    double deadline;            /* monotonic seconds */
    atomic_int cancel;          /* set by the loop: disconnect, deadline, unload */

    /* The prompt is tokenized in the thread pool before the policy
     * decides (api_generate.c); the model stays loaded meanwhile. */
    uv_work_t prep;
    int prep_rc;
    cm_err prep_err;
    uint32_t n_ctx;             /* the model's context, read with the vocabulary */

    /* Loop thread only. */
    gmd_guard_decision gd;      /* the guard's decision (limits held) */
    cm_identity identity;       /* who asked (for the audit after a disconnect) */
    gmd_conn *conn;             /* NULL once the client has gone */
    gmd_buf text;               /* the whole answer (non-stream) */
    bool sent_first;
    double t_last_token;
    bool timed_out;
    char route[64];             /* "POST /v1/chat/completions" (audit) */
    /* The outcome, kept while its audit event is written (api_generate.c). */
    gmd_infer_result result;
    int done_rc;
    char done_error[CM_ERR_MAX];
    int http_status;
};

/* Worker -> loop messages. */
typedef enum gmd_event_kind { GMD_EV_TEXT, GMD_EV_DONE } gmd_event_kind;

typedef struct gmd_event {
    struct gmd_event *next;
    gmd_event_kind kind;
    gmd_job *job;
    double t;                   /* monotonic seconds when it happened */
    gmd_infer_result result;    /* DONE */
    int rc;                     /* DONE: 0, or -1 with `error` */
    char error[CM_ERR_MAX];
    size_t len;                 /* TEXT bytes that follow */
    char text[];
} gmd_event;

/* Ready an unloaded model (its queue); -1 with `err` naming the model and
 * what failed. */
int gmd_model_init(gmd_model *m, gmd_server *srv, const gmd_model_config *cfg, cm_err *err);
void gmd_model_destroy(gmd_model *m);
/* Start loading in the thread pool (no-op unless UNLOADED or FAILED).
 * GMD_MODEL_OVER_BUDGET when the model would not fit in what
 * engine.models_memory_mb leaves (nothing is changed). */
#define GMD_MODEL_OVER_BUDGET (-2)
int gmd_model_load_async(gmd_model *m, cm_err *err);
/* Cancel everything, stop workers and free the model in the thread pool
 * (once no prompt is being tokenized: see gmd_model_prep_end). */
int gmd_model_unload_async(gmd_model *m, cm_err *err);
/* A prompt of a READY model goes to the thread pool to be tokenized
 * (begin), or came back (end; starts an unload that waited for it). */
void gmd_model_prep_begin(gmd_model *m);
void gmd_model_prep_end(gmd_model *m);
/* Stop and free now (at exit). */
void gmd_model_unload_sync(gmd_model *m);
/* Queue a job; -1 when the queue is full (429) or the model is not ready. */
int gmd_model_submit(gmd_model *m, gmd_job *job);
unsigned gmd_model_queued(gmd_model *m);
/* A copy of what the model's scheduler did (sched.h), for metrics. */
void gmd_model_sched_stats(gmd_model *m, gmd_sched_stats *out);
unsigned gmd_model_running(gmd_model *m);
const char *gmd_model_state_name(gmd_model_state s);
void gmd_job_free(gmd_job *job);

/* ---- connections (conn.c) ---- */

struct gmd_conn {
    gmd_server *srv;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    int open_handles;           /* freed when both handles are closed */
    bool closing;
    bool shutting_down;         /* close_notify sent, waiting for writes */
    bool lingering;             /* half-closed, waiting for the client's EOF */
    uv_shutdown_t shutdown_req;
    SSL *ssl;
    BIO *rbio, *wbio;
    bool tls_ready;
    cm_identity id;
    gmd_http_parser http;
    gmd_buf in;                 /* plaintext not yet parsed */
    bool busy;                  /* answering a request */
    bool keep_alive;            /* for the request being answered */
    bool streaming;             /* chunked response begun */
    bool paused_read;
    bool sent_continue;         /* "100 Continue" sent for this request */
    int timer_kind;             /* what `timer` is counting down */
    int n_writes;               /* uv_write requests in flight */
    unsigned retry_after_s;     /* Retry-After of the next 429 (0 = 1 s) */
    char rbuf[16384];           /* socket read buffer */
    char route[32];             /* metrics label of the current request */
    double t_request;
    gmd_job *job;
    /* An admin action waiting for its audit event points here at its
     * own pointer to this connection; closing sets that to NULL (api.c). */
    gmd_conn **audit_wait;
    /* Blocking work for the current request in the thread pool points here
     * at its own pointer to this connection; closing sets that to NULL
     * (api_audit.c). */
    gmd_conn **work_wait;
    gmd_conn *prev, *next;
};

void gmd_conn_accept(gmd_server *srv, uv_stream_t *listener, bool is_unix);
/* A whole response. `extra` is more header lines ("Name: value\r\n"), or NULL. */
void gmd_conn_respond(gmd_conn *c, int status, const char *content_type, const char *body,
                      size_t len, const char *extra);
/* {"error":{"message","type","param","code"}} */
void gmd_conn_error(gmd_conn *c, int status, const char *type, const char *code,
                    const char *param, const char *message);
void gmd_conn_stream_begin(gmd_conn *c, const char *content_type);
void gmd_conn_stream_write(gmd_conn *c, const char *data, size_t len);
void gmd_conn_stream_end(gmd_conn *c);
/* Close at once (no more responses). */
void gmd_conn_close(gmd_conn *c);
/* Draining: close now unless a request is being answered. */
void gmd_conn_drain(gmd_conn *c);
/* Read again after reading was paused (too much pipelined input). */
void gmd_conn_resume(gmd_conn *c);

/* ---- the server (server.c) ---- */

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
/* From a worker: hand an event to the loop (takes ownership). */
void gmd_server_post(gmd_server *srv, gmd_event *ev);
/* The HTTP request on `c` is complete: route it (api.c). */
void gmd_api_handle(gmd_conn *c);
/* An event from a worker for a job (api.c). */
void gmd_api_event(gmd_server *srv, gmd_event *ev);
/* Model load/unload finished (server.c: readiness, sd_notify). */
void gmd_server_models_changed(gmd_server *srv);
/* A response finished on a connection (server.c: drain bookkeeping). */
void gmd_server_conn_idle(gmd_server *srv);
/* Reload configuration, certificates and CRLs; keeps the old on error. */
int gmd_server_reload(gmd_server *srv, cm_err *err);
gmd_model *gmd_server_find_model(gmd_server *srv, const char *name);

#endif
