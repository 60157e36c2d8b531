/*
 * daemon/guard.h -- the one place where gemmad decides whether a caller
 * may do something, and records that it happened.
 *
 * Every route calls gmd_guard_authorize() before doing any work, with the
 * verified identity, the action and the model it concerns; the answer is
 * allow, or a status (403, 429 with Retry-After, 400, 503) with a reason.
 * An allowed inference holds a slot of the caller's limits until
 * gmd_guard_release(). gmd_guard_audit() records events.
 *
 * Policy: security.policy names a role policy (policy/policy.h, default
 * deny); without it every verified client (mutual TLS has refused the
 * rest) is allowed. Audit: security.audit_db names the hash-chained audit
 * log (audit/audit.h); without it events go to the log. With
 * security.privsep (the default) the log is written by the audit signer
 * process and reached through audit/remote.h, whose calls keep the same
 * contract; otherwise it is opened in this process.
 *
 * Fail-closed auditing: gmd_guard_record() with a continuation appends an
 * event without blocking the loop; the audit writer thread reports when
 * the event is durable (or could not be written), the report is handed to
 * the loop through a uv_async, and the continuation runs there with status
 * 0 or -1. The daemon starts inference only after its "request" event is
 * durable and finishes a response only after its "response" event is,
 * and does an admin action (load, unload, reload; gmd_api_guard_admin)
 * or a SIGHUP reload only after its "request" event is durable; a failure
 * refuses the request with 503 (a SIGHUP reload: logged, not done).
 * security.audit_fail_open turns write failures into successes (logged,
 * counted): an explicit choice.
 */
#ifndef GMD_GUARD_H
#define GMD_GUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "audit/audit.h"
#include "audit/remote.h"
#include "common/err.h"
#include "common/identity.h"
#include "daemon/conf.h"
#include "policy/policy.h"

typedef enum gmd_action {
    GMD_ACT_INFER = 0,      /* chat and text completions */
    GMD_ACT_MODELS_LIST,    /* GET /v1/models */
    GMD_ACT_MODELS_LOAD,    /* POST /admin/v1/models/load */
    GMD_ACT_MODELS_UNLOAD,  /* POST /admin/v1/models/unload */
    GMD_ACT_STATUS_READ,    /* GET /admin/v1/status, /healthz, /readyz */
    GMD_ACT_METRICS_READ,   /* GET /metrics */
    GMD_ACT_RELOAD,         /* POST /admin/v1/reload */
    GMD_ACT_AUDIT_READ,     /* GET /admin/v1/audit, /admin/v1/audit/export */
    GMD_ACT_AUDIT_VERIFY,   /* GET /admin/v1/audit/verify */
    GMD_ACT_AUDIT_ROTATE,   /* POST /admin/v1/audit/rotate: the admin permission only */
    GMD_ACT_NONE,           /* an event no client asked for (daemon.start): no action */
} gmd_action;

/* The policy's name of an action ("infer", ...); NULL for GMD_ACT_NONE. */
const char *gmd_action_name(gmd_action a);

typedef struct gmd_guard_decision {
    bool allow;
    int http_status;          /* 200 when allowed */
    unsigned retry_after_s;   /* for 429 */
    char reason[64];          /* "allowed", "no_matching_rule", ... */
    char role[128];           /* "" when none */
    pl_decision pd;           /* the policy's decision (limits to release) */
} gmd_guard_decision;

/* Runs on the loop thread once an awaited audit event is durable (status
 * 0) or could not be written (-1; msg says why). */
typedef void (*gmd_audit_cont)(void *arg, int status, const char *msg);

typedef struct gmd_audit_wait gmd_audit_wait; /* one awaited event (guard.c) */

typedef struct gmd_guard {
    pl_holder *policy;        /* NULL: no policy file, allow verified clients */
    pl_limiter *limiter;
    au_log *audit;            /* the audit log in this process (security.privsep off) */
    au_remote *remote;        /* ... or in the audit signer process (privsep.h) */
    /* Neither: audit events go to the log. */
    bool fail_open;           /* security.audit_fail_open */
    bool raw_text;              /* security.audit_raw_text as started */
    uint32_t cp_rows, cp_seconds; /* security.audit_checkpoint_* as started */
    char policy_path[GMD_PATH_MAX];
    char audit_path[GMD_PATH_MAX];
    uint64_t n_allowed, n_denied;
    uint64_t n_audit_refused; /* requests refused (503) for want of an audit record */

    /* Writer thread -> loop hand-off of awaited events. */
    bool started;             /* mu, cv and done_async are initialised */
    bool stopped;             /* gmd_guard_stop ran: no more hand-offs */
    uv_async_t done_async;
    pthread_mutex_t mu;       /* guards what follows */
    pthread_cond_t cv;
    gmd_audit_wait *done_head, *done_tail;
    unsigned pending;         /* awaited events whose continuation has not run */
} gmd_guard;

/* Open the policy and audit log named by the configuration; awaited audit
 * events come back on `loop`. */
int gmd_guard_open(gmd_guard *g, const gmd_config *cfg, uv_loop_t *loop, cm_err *err);
/* Take the policy of a new configuration (SIGHUP); keeps the old on error. */
int gmd_guard_reload(gmd_guard *g, const gmd_config *cfg, cm_err *err);
/* At exit, after the loop stopped: run every outstanding continuation,
 * record "daemon.stop" and close the hand-off handle. Blocking. */
void gmd_guard_stop(gmd_guard *g, const char *detail);
/* Close policy and audit log (after gmd_guard_stop and the loop closed). */
void gmd_guard_close(gmd_guard *g);

/* For GMD_ACT_INFER, prompt_tokens is the prompt as tokenized for the
 * model (checked against max_prompt_tokens and charged to
 * tokens_per_minute with max_tokens); 0 for other actions. */
void gmd_guard_authorize(gmd_guard *g, const cm_identity *id, gmd_action action,
                         const char *model, uint32_t prompt_tokens, uint32_t max_tokens,
                         gmd_guard_decision *out);
/* An allowed request has ended (completion_tokens produced). */
void gmd_guard_release(gmd_guard *g, gmd_guard_decision *d, uint32_t completion_tokens);

/* Fill `ev` for an event of `type` about `id` (may be NULL) doing `action`
 * on `model` (may be NULL), with the role, rule, decision and reason of
 * `d` (may be NULL). Strings are borrowed. */
void gmd_guard_event(au_event *ev, const char *type, const cm_identity *id,
                     const gmd_guard_decision *d, gmd_action action, const char *model);

/* Record `ev`. With `cont`, the continuation runs exactly once on the loop
 * thread when the event is durable or failed (at once, with status 0, when
 * no audit log is configured) and 0 is returned. Without `cont` the event
 * is fire-and-forget: -1 when an audit log is configured and the event
 * could not be queued. */
int gmd_guard_record(gmd_guard *g, const au_event *ev, gmd_audit_cont cont, void *arg);

/* Record a simple fire-and-forget event: what happened to whom
 * ("denied", "model.load", "config.reload", ...), with the HTTP status
 * and a short detail. Same return as gmd_guard_record without `cont`. */
int gmd_guard_audit(gmd_guard *g, const cm_identity *id, const char *event,
                    gmd_action action, const char *model, int status, const char *detail);

/* Audit events that could not be written (queue full, write failed,
 * signer gone), counting fail-open ones. */
uint64_t gmd_guard_audit_failures(gmd_guard *g);

/* Whether an audit log is kept (security.audit_db). */
bool gmd_guard_has_log(const gmd_guard *g);
/* Rotate the audit log into `archive` (a path beside the log). Blocking:
 * for the thread pool. */
int gmd_guard_rotate(gmd_guard *g, const char *archive, cm_err *err);

#endif
