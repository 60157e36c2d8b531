/*
 * ctl/cmd_status.c -- 'gemmactl status': the daemon's state from
 * GET /admin/v1/status, as a summary and a table of models, or the JSON
 * as gemmad sent it (--json). Fields this gemmactl does not know are
 * still shown, as "key: value" lines (null ones left out), so a newer
 * daemon loses nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/client.h"
#include "ctl/ctl.h"
#include "ctl/output.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: gemmactl status [--json] [CONNECTION FLAGS]\n\n"
                 "Show gemmad's version, uptime, engine, readiness, how it was built (CUDA,\n"
                 "sanitizers, SIMD, threads), the device it computes on, queue totals, and\n"
                 "each model with its state, batch (sequences in the last step out of the\n"
                 "most), queued and running requests, weight memory and KV-cache use, and\n"
                 "the device it computes on (a GPU: its name, index, total and free memory,\n"
                 "and the model's weights, KV cache and buffers there).\n\n"
                 "  --json         print the daemon's answer as JSON\n");
    fputs(ctl_conn_flags_help, out);
}

/* A JSON scalar as text ("-" for null or a container). */
static void scalar_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(out, n, "yes");
    else if (json_is_false(v))
        snprintf(out, n, "no");
    else
        snprintf(out, n, "-");
}

/* Print a value that is not a plain scalar as compact JSON. */
static void print_extra(const char *indent, const char *key, const json_t *v)
{
    if (json_is_object(v) || json_is_array(v)) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s%s: %s\n", indent, key, s ? s : "?");
        free(s);
        return;
    }
    char buf[512];
    scalar_text(v, buf, sizeof(buf));
    printf("%s%s: %s\n", indent, key, buf);
}

static bool in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* A byte count as "1.5 MiB" ("-" when absent or negative). */
static void bytes_text(const json_t *v, char *out, size_t n)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        ctl_fmt_bytes((uint64_t)json_integer_value(v), out, n);
    else
        snprintf(out, n, "-");
}

/* The build, the device, and the totals over all models. */
static void print_build(const json_t *st)
{
    const json_t *b = json_object_get(st, "build");
    if (json_is_object(b)) {
        char th[32];
        scalar_text(json_object_get(b, "threads"), th, sizeof(th));
        printf("build:        CUDA %s, sanitizers %s, SIMD %s, %s engine threads\n",
               json_is_true(json_object_get(b, "cuda")) ? "yes" : "no",
               json_is_true(json_object_get(b, "sanitizers")) ? "yes" : "no",
               str_or(b, "simd", "?"), th);
    }
    if (json_is_string(json_object_get(st, "device")))
        printf("device:       %s\n", str_or(st, "device", "?"));
    const json_t *gpus = json_object_get(st, "gpus");
    size_t i;
    const json_t *g;
    if (json_is_array(gpus) && json_array_size(gpus) > 0) {
        json_array_foreach(gpus, i, g)
            printf("gpu %zu:        %s\n", i, json_is_string(g) ? json_string_value(g) : "?");
    } else if (json_is_string(json_object_get(st, "gpu_note"))) {
        printf("gpu:          none (%s)\n", str_or(st, "gpu_note", "?"));
    }
    const json_t *t = json_object_get(st, "totals");
    if (json_is_object(t)) {
        char q[32], r[32], mem[32], kvu[32], kvt[32];
        scalar_text(json_object_get(t, "queue_depth"), q, sizeof(q));
        scalar_text(json_object_get(t, "active_sequences"), r, sizeof(r));
        bytes_text(json_object_get(t, "memory_bytes"), mem, sizeof(mem));
        bytes_text(json_object_get(t, "kv_used_bytes"), kvu, sizeof(kvu));
        bytes_text(json_object_get(t, "kv_total_bytes"), kvt, sizeof(kvt));
        printf("requests:     %s queued, %s running (all models)\n", q, r);
        printf("memory:       %s of weights, KV cache %s used of %s (loaded models)\n", mem,
               kvu, kvt);
    }
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* A model's continuous batching and prefix cache, in two or three lines. */
static void print_batch(const json_t *bt, const json_t *pc)
{
    if (json_is_object(bt)) {
        double steps = num(bt, "steps"), waits = num(bt, "queue_waits");
        char resv[32], budget[32];
        bytes_text(json_object_get(bt, "kv_reserved_bytes"), resv, sizeof(resv));
        bytes_text(json_object_get(bt, "kv_budget_bytes"), budget, sizeof(budget));
        printf("  batching: up to %.0f sequences, %.0f tokens per step; %.0f steps, mean "
               "%.2f sequences and %.1f tokens per step; now %.0f sequences\n",
               num(bt, "max_sequences"), num(bt, "max_tokens_per_step"), steps,
               steps > 0 ? num(bt, "sequences_total") / steps : 0.0,
               steps > 0 ? num(bt, "tokens_total") / steps : 0.0, num(bt, "last_sequences"));
        printf("  queue wait: mean %.3f s over %.0f requests; KV reserved %s of %s budget "
               "(%.0f waits)\n",
               waits > 0 ? num(bt, "queue_wait_seconds_sum") / waits : 0.0, waits, resv, budget,
               num(bt, "kv_budget_waits"));
    }
    if (json_is_object(pc)) {
        char used[32], budget[32];
        bytes_text(json_object_get(pc, "bytes"), used, sizeof(used));
        bytes_text(json_object_get(pc, "budget_bytes"), budget, sizeof(budget));
        printf("  prefix cache: %.0f hits (%.0f tokens reused), %.0f misses, %.0f entries, "
               "%s of %s, %.0f evicted\n",
               num(pc, "hits"), num(pc, "hit_tokens"), num(pc, "misses"), num(pc, "entries"),
               used, budget, num(pc, "evictions"));
    }
}

/* A model's device: the GPU (name, index, its memory) or the CPU, the
 * model's use of that memory, and why it is on the CPU instead of its
 * configured GPU (device_fallback: cpu). */
static void print_device(const json_t *d)
{
    char wb[32], kv[32], sc[32], tot[32], fr[32];
    bytes_text(json_object_get(d, "weights_bytes"), wb, sizeof(wb));
    bytes_text(json_object_get(d, "kv_cache_bytes"), kv, sizeof(kv));
    bytes_text(json_object_get(d, "scratch_bytes"), sc, sizeof(sc));
    bytes_text(json_object_get(d, "memory_total_bytes"), tot, sizeof(tot));
    bytes_text(json_object_get(d, "memory_free_bytes"), fr, sizeof(fr));
    const json_t *index = json_object_get(d, "index");
    if (json_is_integer(index))
        printf("  device: %s (GPU %lld, %s): %s total, %s free; the model holds %s of weights, "
               "%s of KV cache, %s of buffers\n",
               str_or(d, "device", "?"), (long long)json_integer_value(index),
               str_or(d, "name", "?"), tot, fr, wb, kv, sc);
    else
        printf("  device: %s: %s of weights, %s of KV cache in host memory\n",
               str_or(d, "device", "?"), wb, kv);
    if (json_is_string(json_object_get(d, "fallback")))
        printf("  device fallback: on the CPU instead of %s (device_fallback: cpu): %s\n",
               str_or(d, "configured", "?"), str_or(d, "fallback", "?"));
}

static void print_status(const json_t *st)
{
    static const char *const top_known[] = {"version", "engine", "uptime_seconds", "ready",
                                            "draining", "config", "connections",
                                            "tls_min_version", "models", "client", "build",
                                            "device", "gpus", "gpu_note", "totals", NULL};
    char up[64] = "?";
    json_t *u = json_object_get(st, "uptime_seconds");
    if (json_is_number(u))
        ctl_fmt_duration(json_number_value(u), up, sizeof(up));
    json_t *ready = json_object_get(st, "ready"), *draining = json_object_get(st, "draining");
    printf("gemmad %s, up %s, %s%s\n", str_or(st, "version", "?"), up,
           json_is_true(ready) ? "ready" : "not ready",
           json_is_true(draining) ? ", draining (shutting down)" : "");
    printf("engine:       %s\n", str_or(st, "engine", "-"));
    printf("config:       %s\n", str_or(st, "config", "-"));
    char n[64];
    scalar_text(json_object_get(st, "connections"), n, sizeof(n));
    printf("connections:  %s\n", n);
    printf("tls:          %s or newer\n", str_or(st, "tls_min_version", "?"));
    json_t *cl = json_object_get(st, "client");
    if (json_is_object(cl))
        printf("you are:      %s\n", str_or(cl, "subject", str_or(cl, "cn", "?")));
    print_build(st);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)st, key, v) {
        if (!in_list(key, top_known) && !json_is_null(v))
            print_extra("", key, v);
    }

    json_t *models = json_object_get(st, "models");
    if (!json_is_array(models) || json_array_size(models) == 0) {
        printf("\nno models configured\n");
        return;
    }
    /* BATCH: sequences in the scheduler's last step out of the batch's
     * maximum (models[].max_batch_sequences); "-" while not loaded. The
     * JSON key "workers" stays in /admin/v1/status for older clients. */
    static const char *const titles[] = {"MODEL",   "STATE",  "BATCH",   "QUEUED",
                                         "RUNNING", "MEMORY", "KV USED/TOTAL", "PATH"};
    static const char *const model_known[] = {"name", "state", "workers", "queued", "running",
                                              "path", "error", "load_at_start", "bundle",
                                              "bundle_root_sha256", "queue_capacity",
                                              "memory_bytes", "kv_used_bytes",
                                              "kv_total_bytes", "batch", "prefix_cache",
                                              "device", NULL};
    ctl_table t;
    ctl_table_init(&t, 8, titles);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        char w[80] = "-", q[32], cap[32], qc[80], r[32], mem[32], kvu[32], kvt[32], kv[80];
        const json_t *bt = json_object_get(m, "batch");
        if (json_is_object(bt))
            snprintf(w, sizeof(w), "%.0f/%.0f", num(bt, "last_sequences"),
                     num(bt, "max_sequences"));
        scalar_text(json_object_get(m, "queued"), q, sizeof(q));
        scalar_text(json_object_get(m, "queue_capacity"), cap, sizeof(cap));
        scalar_text(json_object_get(m, "running"), r, sizeof(r));
        /* "QUEUED" shows the queue's capacity too: "0/64". */
        if (strcmp(cap, "-") != 0)
            snprintf(qc, sizeof(qc), "%s/%s", q, cap);
        else
            snprintf(qc, sizeof(qc), "%s", q);
        bool loaded = json_integer_value(json_object_get(m, "memory_bytes")) > 0;
        bytes_text(json_object_get(m, "memory_bytes"), mem, sizeof(mem));
        bytes_text(json_object_get(m, "kv_used_bytes"), kvu, sizeof(kvu));
        bytes_text(json_object_get(m, "kv_total_bytes"), kvt, sizeof(kvt));
        snprintf(kv, sizeof(kv), "%s/%s", kvu, kvt);
        const char *cells[] = {str_or(m, "name", "?"), str_or(m, "state", "?"), w, qc, r,
                               loaded ? mem : "-", loaded ? kv : "-", str_or(m, "path", "-")};
        ctl_table_row(&t, cells);
    }
    putchar('\n');
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    /* Bundles, errors, and anything else gemmad says about a model. */
    json_array_foreach(models, i, m) {
        bool header = false;
        const char *bundle = json_string_value(json_object_get(m, "bundle"));
        const char *digest = json_string_value(json_object_get(m, "bundle_root_sha256"));
        const char *err = json_string_value(json_object_get(m, "error"));
        if (bundle || digest || err) {
            printf("\n%s:\n", str_or(m, "name", "?"));
            header = true;
        }
        if (bundle)
            printf("  bundle: %s\n", bundle);
        if (digest)
            printf("  bundle root digest: sha256:%s\n", digest);
        if (err)
            printf("  error: %s\n", err);
        const json_t *bt = json_object_get(m, "batch"), *pc = json_object_get(m, "prefix_cache");
        if (json_is_object(bt) || json_is_object(pc)) {
            if (!header) {
                printf("\n%s:\n", str_or(m, "name", "?"));
                header = true;
            }
            print_batch(bt, pc);
        }
        const json_t *dev = json_object_get(m, "device");
        if (json_is_object(dev)) {
            if (!header) {
                printf("\n%s:\n", str_or(m, "name", "?"));
                header = true;
            }
            print_device(dev);
        }
        json_object_foreach(m, key, v) {
            if (in_list(key, model_known) || json_is_null(v))
                continue;
            if (!header) {
                printf("\n%s:\n", str_or(m, "name", "?"));
                header = true;
            }
            print_extra("  ", key, v);
        }
    }
}

int ctl_cmd_status(int argc, char **argv)
{
    ctl_settings flags;
    memset(&flags, 0, sizeof(flags));
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int f = ctl_conn_flag("status", argc, argv, &i, &flags);
        if (f < 0)
            return CTL_EXIT_USAGE;
        if (f > 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CTL_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            as_json = true;
        } else {
            fprintf(stderr, "gemmactl status: unknown argument '%s'\n", a);
            usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    ctl_client c;
    int rc = ctl_client_open("status", &flags, &c, NULL);
    if (rc != 0)
        return rc;
    json_t *st = NULL;
    rc = ctl_call_json(&c, "status", "GET", "/admin/v1/status", NULL, &st);
    ctl_client_free(&c);
    if (rc != 0)
        return rc;
    if (!json_is_object(st)) {
        json_decref(st);
        fprintf(stderr, "gemmactl status: gemmad's status is not a JSON object\n");
        return CTL_EXIT_ERROR;
    }
    if (as_json) {
        if (ctl_print_json(st, stdout) < 0)
            rc = CTL_EXIT_ERROR;
    } else {
        print_status(st);
    }
    json_decref(st);
    if (fflush(stdout) != 0)
        rc = CTL_EXIT_ERROR;
    return rc;
}
