/*
 * daemon/metrics.c -- counters and histograms for GET /metrics, written
 * out in the Prometheus text exposition format.
 */
#include "daemon/metrics.h"
#include "daemon/sched.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Upper bounds in seconds, shared by the latency histograms. */
static const double bucket_le[GMD_HIST_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

void gmd_metrics_init(gmd_metrics *m)
{
    memset(m, 0, sizeof(*m));
}

void gmd_hist_observe(gmd_hist *h, double v)
{
    unsigned i = 0;
    while (i < GMD_HIST_BUCKETS && v > bucket_le[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

void gmd_metrics_request(gmd_metrics *m, const char *route, int status, double seconds)
{
    gmd_hist_observe(&m->duration, seconds);
    for (unsigned i = 0; i < m->n_requests; i++) {
        if (m->requests[i].status == status && strcmp(m->requests[i].route, route) == 0) {
            m->requests[i].count++;
            return;
        }
    }
    if (m->n_requests >= GMD_METRICS_MAX_SERIES)
        return;
    snprintf(m->requests[m->n_requests].route, sizeof(m->requests[0].route), "%s", route);
    m->requests[m->n_requests].status = status;
    m->requests[m->n_requests].count = 1;
    m->n_requests++;
}

static void hist(gmd_buf *o, const char *name, const char *help, const gmd_hist *h)
{
    gmd_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (unsigned i = 0; i < GMD_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        gmd_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_le[i],
                       (unsigned long long)cum);
    }
    cum += h->counts[GMD_HIST_BUCKETS];
    assert(cum == h->n); /* every observation is in exactly one bucket */
    gmd_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                   (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->n);
}

static void counter(gmd_buf *o, const char *name, const char *help, uint64_t v)
{
    gmd_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                   (unsigned long long)v);
}

static void gauge(gmd_buf *o, const char *name, const char *help, double v)
{
    gmd_buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

void gmd_metrics_render(const gmd_metrics *m, const gmd_metrics_gauges *g, gmd_buf *o)
{
    gmd_buf_str(o, "# HELP gemmad_http_requests_total HTTP requests answered, by route "
                   "and status.\n# TYPE gemmad_http_requests_total counter\n");
    for (unsigned i = 0; i < m->n_requests; i++)
        gmd_buf_printf(o, "gemmad_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                       m->requests[i].route, m->requests[i].status,
                       (unsigned long long)m->requests[i].count);
    counter(o, "gemmad_prompt_tokens_total", "Prompt tokens evaluated.", m->prompt_tokens);
    counter(o, "gemmad_generated_tokens_total", "Tokens generated.", m->generated_tokens);
    counter(o, "gemmad_tls_handshakes_total", "Completed mutual-TLS handshakes.",
            m->tls_handshakes_ok);
    counter(o, "gemmad_tls_handshake_failures_total", "Refused or failed TLS handshakes.",
            m->tls_handshakes_failed);
    counter(o, "gemmad_connections_total", "Accepted connections.", m->connections_total);
    counter(o, "gemmad_queue_rejections_total", "Requests refused with 429 (queue full).",
            m->rejected_queue_full);
    hist(o, "gemmad_time_to_first_token_seconds", "Seconds from request to first token.",
         &m->ttft);
    hist(o, "gemmad_inter_token_latency_seconds", "Seconds between generated tokens.",
         &m->itl);
    hist(o, "gemmad_request_duration_seconds", "Seconds to answer a request.", &m->duration);
    gauge(o, "gemmad_connections", "Open client connections.", g->connections);
    gauge(o, "gemmad_queue_depth", "Generation requests waiting for a worker.",
          g->queue_depth);
    gauge(o, "gemmad_active_sequences", "Sequences being generated now.",
          g->active_sequences);
    gauge(o, "gemmad_kv_cache_used_bytes", "KV-cache bytes in use.", (double)g->kv_used_bytes);
    gauge(o, "gemmad_kv_cache_total_bytes", "KV-cache bytes allocated.",
          (double)g->kv_total_bytes);
    gauge(o, "gemmad_models_loaded", "Models loaded and serving.", g->models_loaded);
    gauge(o, "gemmad_models_configured", "Models in the configuration.",
          g->models_configured);
    gauge(o, "gemmad_uptime_seconds", "Seconds since start.", g->uptime_seconds);
}

/* One series per model of a counter or gauge read from gmd_sched_stats. */
typedef struct sched_series {
    const char *name, *type, *help;
    double (*get)(const gmd_sched_stats *s);
} sched_series;

#define GET(fn, expr) \
    static double fn(const gmd_sched_stats *s) { return (double)(expr); }
GET(g_steps, s->steps)
GET(g_seqs, s->step_sequences)
GET(g_tokens, s->step_tokens)
GET(g_prefill, s->prefill_tokens)
GET(g_last_seqs, s->last_sequences)
GET(g_last_tokens, s->last_tokens)
GET(g_kv_waits, s->kv_waits)
GET(g_kv_reserved, s->kv_reserved_bytes)
GET(g_kv_budget, s->kv_budget_bytes)
GET(g_hits, s->cache.hits)
GET(g_misses, s->cache.misses)
GET(g_hit_tokens, s->cache.hit_tokens)
GET(g_evictions, s->cache.evictions)
GET(g_pc_bytes, s->cache.bytes)
GET(g_pc_budget, s->cache.budget_bytes)
GET(g_pc_entries, s->cache.entries)
#undef GET

static const sched_series sched_metrics[] = {
    {"gemmad_batch_steps_total", "counter", "Forward passes run by the scheduler.", g_steps},
    {"gemmad_batch_sequences_total", "counter",
     "Sum over forward passes of the sequences in each (divide by steps: mean batch size).",
     g_seqs},
    {"gemmad_batch_tokens_total", "counter",
     "Sum over forward passes of the tokens in each (divide by steps: tokens per step).",
     g_tokens},
    {"gemmad_batch_prefill_tokens_total", "counter",
     "Prompt tokens evaluated in batches (prefix-cache hits not included).", g_prefill},
    {"gemmad_batch_size", "gauge", "Sequences in the last forward pass.", g_last_seqs},
    {"gemmad_batch_step_tokens", "gauge", "Tokens in the last forward pass.", g_last_tokens},
    {"gemmad_kv_budget_waits_total", "counter",
     "Scheduler steps in which the request at the head of the queue waited for KV-cache budget.", g_kv_waits},
    {"gemmad_kv_cache_reserved_bytes", "gauge",
     "KV-cache bytes the running requests may come to hold.", g_kv_reserved},
    {"gemmad_kv_cache_budget_bytes", "gauge", "The model's kv_budget_mb in bytes.", g_kv_budget},
    {"gemmad_prefix_cache_hits_total", "counter",
     "Requests that reused cached KV state of their prompt's prefix.", g_hits},
    {"gemmad_prefix_cache_misses_total", "counter",
     "Requests that found no cached prefix to reuse.", g_misses},
    {"gemmad_prefix_cache_hit_tokens_total", "counter",
     "Prompt tokens not evaluated thanks to the prefix cache.", g_hit_tokens},
    {"gemmad_prefix_cache_evictions_total", "counter",
     "Prefix-cache entries dropped (least recently used) to stay within budget.",
     g_evictions},
    {"gemmad_prefix_cache_bytes", "gauge", "Bytes held by the prefix cache.", g_pc_bytes},
    {"gemmad_prefix_cache_budget_bytes", "gauge", "The model's prefix_cache_mb in bytes.",
     g_pc_budget},
    {"gemmad_prefix_cache_entries", "gauge", "Prompt snapshots in the prefix cache.",
     g_pc_entries},
};

void gmd_metrics_render_sched(const char *const *names, const gmd_sched_stats *stats,
                              unsigned n, gmd_buf *o)
{
    for (size_t k = 0; k < sizeof(sched_metrics) / sizeof(sched_metrics[0]); k++) {
        const sched_series *ms = &sched_metrics[k];
        gmd_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", ms->name, ms->help, ms->name,
                       ms->type);
        for (unsigned i = 0; i < n; i++)
            gmd_buf_printf(o, "%s{model=\"%s\"} %.17g\n", ms->name, names[i],
                           ms->get(&stats[i]));
    }
    /* queue wait: one histogram over all models */
    gmd_hist all;
    memset(&all, 0, sizeof(all));
    for (unsigned i = 0; i < n; i++) {
        for (unsigned b = 0; b <= GMD_HIST_BUCKETS; b++)
            all.counts[b] += stats[i].queue_wait.counts[b];
        all.sum += stats[i].queue_wait.sum;
        all.n += stats[i].queue_wait.n;
    }
    hist(o, "gemmad_queue_wait_seconds",
         "Seconds a generation request waited in the queue before joining a batch.", &all);
}
