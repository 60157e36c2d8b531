/*
 * audit/bench.c -- audit-bench: appends events to an audit log from many
 * threads and reports the sustained rate with full durability (every
 * event committed with synchronous=FULL before its append returns). Also
 * used by the integration tests to fill a log with varied events.
 *
 *   audit-bench --db PATH [--events N] [--threads T] [--async] [--raw]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"

typedef struct bench {
    au_log *log;
    long per_thread;
    int thread_no;
    atomic_long done, failed;
} bench;

typedef struct worker {
    bench *b;
    int no;
} worker;

static const char *const roles[] = {"admin", "client", "auditor", "operator"};
static const char *const models[] = {"gemma-4-e2b", "gemma-4-e4b", "gemma-4-31b"};

static void fill(au_event *ev, cm_identity *id, int thread, long i, char *rid, size_t cap)
{
    memset(id, 0, sizeof(*id));
    int who = (int)((i + thread) % 4);
    snprintf(id->subject_dn, sizeof(id->subject_dn), "CN=user%d,OU=%s,O=Bank", who, roles[who]);
    snprintf(id->serial_hex, sizeof(id->serial_hex), "%x", 0x1000 + who);
    snprintf(id->fingerprint_sha256, sizeof(id->fingerprint_sha256), "%064x", 0xabc0 + who);
    if (who == 3) {
        id->transport = CM_TRANSPORT_UNIX;
        id->has_peer_cred = true;
        id->peer_uid = 1000;
        id->peer_pid = 4242;
    } else {
        id->transport = CM_TRANSPORT_TCP;
        snprintf(id->peer_addr, sizeof(id->peer_addr), "192.0.2.%d:5%04ld", who + 1, i % 10000);
    }
    snprintf(rid, cap, "req-%d-%ld", thread, i);
    *ev = (au_event)AU_EVENT_INIT;
    bool deny = who == 2;
    ev->type = deny ? AU_EV_DENIED : (i % 2 ? AU_EV_RESPONSE : AU_EV_REQUEST);
    ev->request_id = rid;
    ev->identity = id;
    ev->role = roles[who];
    ev->rule_index = who;
    ev->rule_name = roles[who];
    ev->route = "POST /v1/chat/completions";
    ev->action = "infer";
    ev->model = models[i % 3];
    ev->model_digest = "sha256:5be1c4d1b0b7c9e0aa11223344556677";
    ev->decision = deny ? "deny" : "allow";
    ev->reason = deny ? "permission_denied" : "allowed";
    ev->http_status = deny ? 403 : 200;
    ev->prompt_tokens = 10 + i % 100;
    if (!deny && i % 2) {
        ev->completion_tokens = 5 + i % 50;
        ev->latency_us = 1000 + i;
        ev->output = "The answer is 42.";
        ev->output_len = 17;
    }
    ev->prompt = "What is the answer?";
    ev->prompt_len = 19;
}

static void *run_sync(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < w->b->per_thread; i++) {
        au_event ev;
        cm_identity id;
        char rid[64];
        fill(&ev, &id, w->no, i, rid, sizeof(rid));
        cm_err err;
        if (au_log_append(w->b->log, &ev, NULL, &err) < 0) {
            if (atomic_fetch_add(&w->b->failed, 1) == 0)
                fprintf(stderr, "audit-bench: %s\n", err.msg);
        } else {
            atomic_fetch_add(&w->b->done, 1);
        }
    }
    return NULL;
}

static void on_done(void *user, int status, int64_t seq, const char *msg)
{
    (void)seq;
    (void)msg;
    bench *b = user;
    if (status == 0)
        atomic_fetch_add(&b->done, 1);
    else
        atomic_fetch_add(&b->failed, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    long events = 10000;
    int threads = 16;
    bool async = false, raw = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db = argv[++i];
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            events = atol(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--async") == 0)
            async = true;
        else if (strcmp(argv[i], "--raw") == 0)
            raw = true;
        else {
            fprintf(stderr, "usage: audit-bench --db PATH [--events N] [--threads T] [--async] "
                            "[--raw]\n");
            return 2;
        }
    }
    if (db == NULL || events <= 0 || threads <= 0 || threads > 1024) {
        fprintf(stderr, "audit-bench: --db is required; --events and --threads must be > 0\n");
        return 2;
    }
    au_config cfg = {.db_path = db, .store_raw_text = raw, .max_queue = 1u << 20};
    bench b = {.per_thread = events / threads};
    atomic_init(&b.done, 0);
    atomic_init(&b.failed, 0);
    cm_err err;
    if (au_log_open(&cfg, &b.log, &err) < 0) {
        fprintf(stderr, "audit-bench: %s\n", err.msg);
        return 1;
    }
    long total = b.per_thread * threads;
    double t0 = now_s();
    if (async) {
        for (long i = 0; i < total; i++) {
            au_event ev;
            cm_identity id;
            char rid[64];
            fill(&ev, &id, 0, i, rid, sizeof(rid));
            if (au_log_append_async(b.log, &ev, on_done, &b, &err) < 0) {
                fprintf(stderr, "audit-bench: %s\n", err.msg);
                atomic_fetch_add(&b.failed, 1);
            }
        }
        while (atomic_load(&b.done) + atomic_load(&b.failed) < total) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    } else {
        pthread_t *th = calloc((size_t)threads, sizeof(*th));
        worker *ws = calloc((size_t)threads, sizeof(*ws));
        if (th == NULL || ws == NULL) {
            fprintf(stderr, "audit-bench: out of memory\n");
            return 1;
        }
        for (int i = 0; i < threads; i++) {
            ws[i] = (worker){.b = &b, .no = i};
            pthread_create(&th[i], NULL, run_sync, &ws[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        free(th);
        free(ws);
    }
    double dt = now_s() - t0;
    au_stats st;
    au_log_stats(b.log, &st);
    au_log_close(b.log);
    printf("%ld events (%s, %d threads) in %.3f s: %.0f events/s durable; "
           "%llu transactions (%.1f events each); %ld failed\n",
           atomic_load(&b.done), async ? "async" : "blocking", async ? 1 : threads, dt,
           (double)atomic_load(&b.done) / dt, (unsigned long long)st.transactions,
           st.transactions ? (double)st.appended / (double)st.transactions : 0.0,
           atomic_load(&b.failed));
    return atomic_load(&b.failed) == 0 ? 0 : 1;
}
