/*
 * audit/audit.h -- the tamper-evident audit log of gemmad.
 *
 * Events are rows of a SQLite database (WAL, synchronous=FULL). Each row
 * stores hash = SHA-256(previous row's hash || canonical encoding of the
 * row), see audit/canon.h, so a changed, deleted, inserted or reordered
 * row breaks the chain. Every so often the writer adds a checkpoint
 * (row sequence number, head hash, time) signed with the audit signing
 * key (ECDSA P-256), so a truncated tail is detectable; checkpoints are
 * also appended to a side file "<db>.checkpoints" (JSON lines).
 *
 * Writing: au_log_open() starts a writer thread. Callers enqueue events
 * and either wait for them to be durable (au_log_append: blocks) or get a
 * callback from the writer thread once they are (au_log_append_async: the
 * daemon forwards it to its loop with uv_async_send). Many waiting events
 * share one transaction (group commit).
 *
 * Fail-closed (the default): an event that could not be made durable is
 * reported as a failure (-1, or status -1 in the callback) so the daemon
 * refuses the request (503). With cfg.fail_open the failure is logged and
 * counted (au_log_stats) but reported as success.
 *
 * Prompts and outputs are stored as HMAC-SHA256 under a per-install key;
 * the raw text only when cfg.store_raw_text is set.
 *
 * Thread-safety: au_log_append*, au_log_checkpoint, au_log_rotate and
 * au_log_stats may be called from any thread; au_log_close from one
 * thread once nobody else uses the log.
 */
#ifndef AU_AUDIT_H
#define AU_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/identity.h"

/* Event types (the `event` column). Others may be used; these are known. */
#define AU_EV_REQUEST "request"
#define AU_EV_RESPONSE "response"
#define AU_EV_DENIED "denied"
#define AU_EV_MODEL_LOAD "model.load"
#define AU_EV_MODEL_UNLOAD "model.unload"
#define AU_EV_MODEL_VERIFY_FAILED "model.verify_failed"
#define AU_EV_POLICY_RELOAD "policy.reload"
#define AU_EV_CONFIG_RELOAD "config.reload"
#define AU_EV_DAEMON_START "daemon.start"
#define AU_EV_DAEMON_STOP "daemon.stop"
#define AU_EV_AUDIT_ROTATE "audit.rotate"

/* One event as the caller describes it. Every pointer may be NULL
 * ("not applicable"); the library copies what it needs before
 * au_log_append* returns. Text is stored as UTF-8 (invalid bytes are
 * replaced by '?'). */
typedef struct au_event {
    int64_t time_us;          /* UTC microseconds since 1970; 0 = now */
    const char *type;         /* AU_EV_...; required */
    const char *request_id;
    const cm_identity *identity; /* principal and transport */
    const char *role;
    int rule_index;           /* -1 = none (use AU_EVENT_INIT) */
    const char *rule_name;
    const char *route;        /* "POST /v1/chat/completions" */
    const char *action;       /* "infer", "models.load", ... */
    const char *model;
    const char *model_digest; /* bundle root digest, "sha256:..." */
    const char *decision;     /* "allow" or "deny" */
    const char *reason;       /* "allowed", "rate_limited", ... */
    int http_status;          /* 0 = none */
    int64_t prompt_tokens;    /* -1 = none */
    int64_t completion_tokens;/* -1 = none */
    int64_t latency_us;       /* -1 = none */
    const void *prompt;       /* HMAC'd (and kept raw if configured) */
    size_t prompt_len;
    const void *output;
    size_t output_len;
    const char *detail;       /* free text (e.g. a reload's file name) */
} au_event;

#define AU_EVENT_INIT                                                       \
    {.rule_index = -1, .prompt_tokens = -1, .completion_tokens = -1,       \
     .latency_us = -1}

typedef struct au_config {
    const char *db_path;          /* required */
    const char *signing_key_path; /* NULL = "<db dir>/audit-signing.key" */
    const char *hmac_key_path;    /* NULL = "<db dir>/audit-hmac.key" */
    bool store_raw_text;          /* keep prompt/output text, not just HMACs */
    bool fail_open;               /* report failed appends as success */
    uint32_t checkpoint_rows;     /* checkpoint after this many rows (0 = 1000) */
    uint32_t checkpoint_ms;       /* ... or this many ms with new rows (0 = 60000) */
    uint32_t max_batch;           /* events per transaction (0 = 512) */
    uint32_t max_queue;           /* queued events before appends fail (0 = 65536) */
    uint32_t busy_timeout_ms;     /* wait for a locked database (0 = 10000) */
} au_config;

typedef struct au_log au_log;

/* Opens (creating or migrating) the database, loads or creates the keys
 * (0600), reads the chain head, starts the writer thread. */
int au_log_open(const au_config *cfg, au_log **out, cm_err *err);
/* Writes a final checkpoint, stops the writer, closes. NULL is a no-op. */
void au_log_close(au_log *log);

/* Blocking: returns once the event is durable (0, *seq_out = its row
 * sequence number if non-NULL) or could not be written (-1). */
int au_log_append(au_log *log, const au_event *ev, int64_t *seq_out, cm_err *err);

/* Called from the writer thread after the event's transaction ended:
 * status 0 = durable (seq is its row number), -1 = failed (msg says why).
 * Must not block or call back into the log. */
typedef void (*au_done_fn)(void *user, int status, int64_t seq, const char *msg);

/* Asynchronous: enqueues and returns at once (-1 if the log is closed or
 * its queue full; then `done` is never called). */
int au_log_append_async(au_log *log, const au_event *ev, au_done_fn done,
                        void *user, cm_err *err);

/* Writes a signed checkpoint now (blocking). */
int au_log_checkpoint(au_log *log, cm_err *err);

/* Moves every row and checkpoint into a new database file `archive_path`
 * (which must not exist; it verifies on its own) and empties the live log,
 * whose chain continues from the archive's head. Blocking. */
int au_log_rotate(au_log *log, const char *archive_path, cm_err *err);

typedef struct au_stats {
    uint64_t appended;      /* events made durable */
    uint64_t failed;        /* events that could not be written */
    uint64_t transactions;  /* commits (appended / transactions = batch size) */
    uint64_t checkpoints;
    int64_t head_seq;       /* last row written */
} au_stats;

void au_log_stats(au_log *log, au_stats *out);

/* Current UTC time in microseconds. */
int64_t au_now_us(void);

#endif
