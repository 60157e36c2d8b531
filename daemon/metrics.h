/*
 * daemon/metrics.h -- the numbers behind GET /metrics (Prometheus text
 * format 0.0.4). Updated and read on the event-loop thread only.
 */
#ifndef GMD_METRICS_H
#define GMD_METRICS_H

#include <stdint.h>

#include "daemon/buf.h"

#define GMD_METRICS_MAX_SERIES 128
#define GMD_HIST_BUCKETS 12

typedef struct gmd_hist {
    uint64_t counts[GMD_HIST_BUCKETS + 1]; /* last = +Inf */
    double sum;
    uint64_t n;
} gmd_hist;

typedef struct gmd_metrics {
    struct {
        char route[32];
        int status;
        uint64_t count;
    } requests[GMD_METRICS_MAX_SERIES];
    unsigned n_requests;
    uint64_t prompt_tokens;
    uint64_t generated_tokens;
    uint64_t tls_handshakes_ok;
    uint64_t tls_handshakes_failed;
    uint64_t connections_total;
    uint64_t rejected_queue_full;
    gmd_hist ttft;        /* seconds from request to first token */
    gmd_hist itl;         /* seconds between tokens */
    gmd_hist duration;    /* seconds per request */
} gmd_metrics;

/* Values read at scrape time from the rest of the daemon. */
typedef struct gmd_metrics_gauges {
    unsigned connections;
    unsigned queue_depth;
    unsigned active_sequences;
    uint64_t kv_used_bytes, kv_total_bytes;
    unsigned models_loaded;
    unsigned models_configured;
    double uptime_seconds;
} gmd_metrics_gauges;

void gmd_metrics_init(gmd_metrics *m);
void gmd_metrics_request(gmd_metrics *m, const char *route, int status, double seconds);
void gmd_hist_observe(gmd_hist *h, double v);
/* Model states are appended by the caller after this (one line each). */
void gmd_metrics_render(const gmd_metrics *m, const gmd_metrics_gauges *g, gmd_buf *out);

/* The schedulers' numbers (continuous batching, KV budget, prefix cache)
 * of n loaded models, labelled by model name; `stats` points to n
 * gmd_sched_stats (daemon/sched.h). */
struct gmd_sched_stats;
void gmd_metrics_render_sched(const char *const *names, const struct gmd_sched_stats *stats,
                              unsigned n, gmd_buf *out);

#endif
