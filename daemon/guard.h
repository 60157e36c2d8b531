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
 * log (audit/audit.h); without it events go to the log. With an audit log,
 * a request whose audit event cannot be queued is refused (503): the guard
 * fails closed.
 */
#ifndef GMD_GUARD_H
#define GMD_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/err.h"
#include "common/identity.h"
#include "daemon/config.h"
#include "policy/policy.h"

typedef enum gmd_action {
    GMD_ACT_INFER = 0,      /* chat and text completions */
    GMD_ACT_MODELS_LIST,    /* GET /v1/models */
    GMD_ACT_MODELS_LOAD,    /* POST /admin/v1/models/load */
    GMD_ACT_MODELS_UNLOAD,  /* POST /admin/v1/models/unload */
    GMD_ACT_STATUS_READ,    /* GET /admin/v1/status, /healthz, /readyz */
    GMD_ACT_METRICS_READ,   /* GET /metrics */
    GMD_ACT_RELOAD,         /* POST /admin/v1/reload */
} gmd_action;

const char *gmd_action_name(gmd_action a);

typedef struct gmd_guard_decision {
    bool allow;
    int http_status;          /* 200 when allowed */
    unsigned retry_after_s;   /* for 429 */
    char reason[64];          /* "allowed", "no_matching_rule", ... */
    char role[128];           /* "" when none */
    pl_decision pd;           /* the policy's decision (limits to release) */
} gmd_guard_decision;

typedef struct gmd_guard {
    pl_holder *policy;        /* NULL: no policy file, allow verified clients */
    pl_limiter *limiter;
    au_log *audit;            /* NULL: audit events go to the log */
    char policy_path[GMD_PATH_MAX];
    char audit_path[GMD_PATH_MAX];
    uint64_t n_allowed, n_denied;
} gmd_guard;

/* Open the policy and audit log named by the configuration. */
int gmd_guard_open(gmd_guard *g, const gmd_config *cfg, cm_err *err);
/* Take the policy of a new configuration (SIGHUP); keeps the old on error. */
int gmd_guard_reload(gmd_guard *g, const gmd_config *cfg, cm_err *err);
void gmd_guard_close(gmd_guard *g);

void gmd_guard_authorize(gmd_guard *g, const cm_identity *id, gmd_action action,
                         const char *model, uint32_t max_tokens, gmd_guard_decision *out);
/* An allowed request has ended (completion_tokens produced). */
void gmd_guard_release(gmd_guard *g, gmd_guard_decision *d, uint32_t completion_tokens);

/* Record an event: what happened to whom ("request", "response", "denied",
 * "model.load", "config.reload", ...), with the HTTP status and a short
 * detail. Returns -1 when an audit log is configured and the event could
 * not be queued to it. */
int gmd_guard_audit(gmd_guard *g, const cm_identity *id, const char *event,
                    gmd_action action, const char *model, int status, const char *detail);

/* Record the end of an inference: role and rule of its decision, tokens,
 * latency. Same return as gmd_guard_audit. */
int gmd_guard_audit_response(gmd_guard *g, const cm_identity *id, const gmd_guard_decision *d,
                             const char *request_id, const char *model, int status,
                             uint32_t prompt_tokens, uint32_t completion_tokens,
                             int64_t latency_us, const char *detail);

#endif
