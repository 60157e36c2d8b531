/*
 * daemon/models.h -- the models gemmad serves and the generation jobs
 * they run. A model (models.c) is loaded and unloaded in libuv's thread
 * pool and, while READY, has a bounded queue of jobs that its scheduler
 * thread (sched.h) runs in one batch; the scheduler answers only through
 * events (gmd_event) posted to the loop (gmd_server_post, server.h),
 * which the API layer (api.h) turns into responses.
 *
 * Threads: a model's `state`, `n_prep` and the fields marked "loop
 * thread" belong to the event loop; its queue and `active` list are
 * guarded by `mu`; a job's `cancel` flag is atomic (set by the loop,
 * read by the scheduler); everything else in a job is the loop's.
 */
#ifndef GMD_MODELS_H
#define GMD_MODELS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/err.h"
#include "common/identity.h"
#include "daemon/buf.h"
#include "daemon/conf.h"
#include "daemon/guard.h"
#include "daemon/infer.h"
#include "daemon/sched.h"

typedef struct gmd_server gmd_server; /* server.h */
typedef struct gmd_conn gmd_conn;     /* conn.h */
typedef struct gmd_job gmd_job;
typedef struct gmd_model gmd_model;

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

/* Scheduler -> loop messages (gmd_server_post, server.h). */
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

#endif
