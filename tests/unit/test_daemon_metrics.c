/*
 * tests/unit/test_daemon_metrics.c -- GET /metrics' text (daemon/
 * metrics.c), read back as a Prometheus scraper would: every sample
 * belongs to a family declared by "# HELP" and "# TYPE" before it, names
 * are valid, values are numbers; histogram buckets are cumulative and
 * inclusive of their upper bound, +Inf equals _count; the request series
 * are bounded; the schedulers' series carry their model's label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"
#include "daemon/sched.h"

#define MAX_FAMILIES 128

typedef struct family {
    char name[96];
    char type[16];
    bool help;
} family;

typedef struct exposition {
    family fam[MAX_FAMILIES];
    unsigned n;
} exposition;

static family *find(exposition *e, const char *name)
{
    for (unsigned i = 0; i < e->n; i++)
        if (strcmp(e->fam[i].name, name) == 0)
            return &e->fam[i];
    return NULL;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

/* Check the whole text; returns the number of sample lines. */
static unsigned check_text(const char *text, exposition *e)
{
    memset(e, 0, sizeof(*e));
    unsigned samples = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        char line[512];
        size_t len = (size_t)(nl - p);
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        char name[96], rest[400];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s %399[^\n]", name, rest), 2);
            assert_null(find(e, name)); /* HELP comes first, once */
            assert_true(e->n < MAX_FAMILIES);
            family *f = &e->fam[e->n++];
            snprintf(f->name, sizeof(f->name), "%s", name);
            f->help = true;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[16];
            assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
            family *f = find(e, name);
            assert_non_null(f);
            assert_string_equal(f->type, ""); /* one TYPE per family */
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            snprintf(f->type, sizeof(f->type), "%s", type);
            continue;
        }
        assert_true(line[0] != '#');
        size_t nlen = strcspn(line, "{ ");
        assert_true(valid_name(line, nlen));
        snprintf(name, sizeof(name), "%.*s", (int)nlen, line);
        family *f = find(e, name);
        if (f == NULL) { /* a histogram's _bucket, _sum, _count */
            static const char *const suffix[] = {"_bucket", "_sum", "_count"};
            for (size_t s = 0; s < 3 && f == NULL; s++) {
                size_t sl = strlen(suffix[s]);
                if (nlen > sl && strcmp(name + nlen - sl, suffix[s]) == 0) {
                    name[nlen - sl] = '\0';
                    f = find(e, name);
                    if (f)
                        assert_string_equal(f->type, "histogram");
                }
            }
        }
        assert_non_null(f);           /* declared before its samples */
        assert_true(f->type[0] != '\0');
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        char *end;
        strtod(value + 1, &end);
        assert_true(*end == '\0' && end != value + 1); /* a number */
        samples++;
    }
    return samples;
}

/* The value of the sample line that starts with `prefix` + ' '. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    fail_msg("no sample %s", prefix);
    return -1;
}

static void test_render_is_valid_exposition(void **state)
{
    (void)state;
    gmd_metrics m;
    gmd_metrics_init(&m);
    gmd_metrics_request(&m, "chat", 200, 0.3);
    gmd_metrics_request(&m, "chat", 200, 0.01);
    gmd_metrics_request(&m, "chat", 429, 0.001);
    gmd_hist_observe(&m.ttft, 0.005);  /* exactly a bound: in le="0.005" */
    gmd_hist_observe(&m.ttft, 0.0051); /* just over: in le="0.01" */
    gmd_hist_observe(&m.ttft, 100);    /* beyond the last bound: +Inf only */
    m.prompt_tokens = 42;
    gmd_metrics_gauges g = {.connections = 3, .queue_depth = 1, .kv_total_bytes = 1u << 20,
                            .models_configured = 2, .uptime_seconds = 1.5};
    gmd_buf b;
    gmd_buf_init(&b);
    gmd_metrics_render(&m, &g, &b);
    assert_false(b.failed);
    exposition e;
    assert_true(check_text(b.data, &e) > 30);
    const char *t = b.data;
    assert_true(sample(t, "gemmad_http_requests_total{route=\"chat\",status=\"200\"}") == 2);
    assert_true(sample(t, "gemmad_http_requests_total{route=\"chat\",status=\"429\"}") == 1);
    assert_true(sample(t, "gemmad_prompt_tokens_total") == 42);
    assert_true(sample(t, "gemmad_connections") == 3);
    const char *h = "gemmad_time_to_first_token_seconds";
    char k[160];
    snprintf(k, sizeof(k), "%s_bucket{le=\"0.005\"}", h);
    assert_true(sample(t, k) == 1);
    snprintf(k, sizeof(k), "%s_bucket{le=\"0.01\"}", h);
    assert_true(sample(t, k) == 2); /* cumulative */
    snprintf(k, sizeof(k), "%s_bucket{le=\"30\"}", h);
    assert_true(sample(t, k) == 2);
    snprintf(k, sizeof(k), "%s_bucket{le=\"+Inf\"}", h);
    assert_true(sample(t, k) == 3);
    snprintf(k, sizeof(k), "%s_count", h);
    assert_true(sample(t, k) == 3);
    snprintf(k, sizeof(k), "%s_sum", h);
    assert_true(sample(t, k) > 100.0 && sample(t, k) < 100.02);
    /* every histogram: buckets never decrease, +Inf == count */
    for (unsigned i = 0; i < e.n; i++) {
        if (strcmp(e.fam[i].type, "histogram") != 0)
            continue;
        double prev = 0;
        char pre[128];
        snprintf(pre, sizeof(pre), "%s_bucket{le=\"", e.fam[i].name);
        for (const char *p = strstr(t, pre); p; p = strstr(p + 1, pre)) {
            double v = strtod(strchr(p, ' ') + 1, NULL);
            assert_true(v >= prev);
            prev = v;
        }
        snprintf(k, sizeof(k), "%s_count", e.fam[i].name);
        assert_true(prev == sample(t, k));
    }
    gmd_buf_free(&b);
}

/* Distinct (route, status) series stop at GMD_METRICS_MAX_SERIES: a
 * client cannot grow the scrape without bound. */
static void test_request_series_bounded(void **state)
{
    (void)state;
    gmd_metrics m;
    gmd_metrics_init(&m);
    for (int s = 0; s < GMD_METRICS_MAX_SERIES + 20; s++)
        gmd_metrics_request(&m, "other", 100 + s, 0.001);
    assert_int_equal(m.n_requests, GMD_METRICS_MAX_SERIES);
    assert_int_equal(m.duration.n, GMD_METRICS_MAX_SERIES + 20); /* still timed */
}

static void test_sched_series_per_model(void **state)
{
    (void)state;
    gmd_sched_stats st[2];
    memset(st, 0, sizeof(st));
    st[0].steps = 10;
    st[0].step_sequences = 25;
    st[0].kv_budget_bytes = 3u << 20;
    st[1].cache.hits = 7;
    gmd_hist_observe(&st[0].queue_wait, 0.2);
    gmd_hist_observe(&st[1].queue_wait, 0.02);
    const char *names[] = {"alpha", "beta"};
    gmd_buf b;
    gmd_buf_init(&b);
    gmd_metrics_render_sched(names, st, 2, &b);
    assert_false(b.failed);
    exposition e;
    check_text(b.data, &e);
    const char *t = b.data;
    assert_true(sample(t, "gemmad_batch_steps_total{model=\"alpha\"}") == 10);
    assert_true(sample(t, "gemmad_batch_steps_total{model=\"beta\"}") == 0);
    assert_true(sample(t, "gemmad_batch_sequences_total{model=\"alpha\"}") == 25);
    assert_true(sample(t, "gemmad_kv_cache_budget_bytes{model=\"alpha\"}") == 3u << 20);
    assert_true(sample(t, "gemmad_prefix_cache_hits_total{model=\"beta\"}") == 7);
    assert_true(sample(t, "gemmad_queue_wait_seconds_count") == 2); /* over all models */
    gmd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_is_valid_exposition),
        cmocka_unit_test(test_request_series_bounded),
        cmocka_unit_test(test_sched_series_per_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
