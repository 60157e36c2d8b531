/*
 * daemon/sched.h -- continuous batching: one scheduler thread per loaded
 * model drives one batch (daemon/infer.h gmd_infer_step) over the
 * model's requests.
 *
 * Between two forward passes it admits queued requests, first come first
 * served, while a sequence slot is free and the KV-cache budget
 * (models[].kv_budget_mb) covers what the request may come to hold; the
 * request at the head of the queue otherwise waits (the ones behind it
 * wait too: fair order). It ends requests cancelled by their client, past
 * their deadline, or whose model unloads. A full queue is refused at
 * submission (429, models.c). Results go out as events only
 * (gmd_server_post): text pieces, then exactly one DONE per request.
 */
#ifndef GMD_SCHED_H
#define GMD_SCHED_H

#include <stdint.h>

#include "daemon/infer.h"
#include "daemon/metrics.h"

/* What the scheduler has done, for /metrics and gemmactl status. Guarded
 * by the model's mutex (gmd_model.mu). */
typedef struct gmd_sched_stats {
    uint64_t steps;             /* forward passes */
    uint64_t step_sequences;    /* sum over steps of the sequences in each */
    uint64_t step_tokens;       /* sum over steps of the tokens in each */
    uint64_t prefill_tokens;    /* prompt tokens evaluated (cache hits excluded) */
    unsigned last_sequences;    /* sequences in the last step */
    unsigned last_tokens;       /* tokens in the last step */
    uint64_t kv_waits;          /* steps in which the queue head waited for KV budget */
    uint64_t kv_reserved_bytes; /* KV bytes the running requests may come to hold */
    uint64_t kv_budget_bytes;
    gmd_hist queue_wait;        /* seconds from submission to admission */
    gmd_infer_cache_stats cache;
} gmd_sched_stats;

/* The thread body; arg is the gmd_model (server.h). Returns once the
 * model's `stop` is set, having answered every running and queued
 * request. */
void *gmd_sched_main(void *arg);

#endif
