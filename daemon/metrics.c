/*
 * daemon/metrics.c -- counters and histograms for GET /metrics, written
 * out in the Prometheus text exposition format.
 */
#include "daemon/metrics.h"

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
