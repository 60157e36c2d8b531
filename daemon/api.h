/*
 * daemon/api.h -- the API layer: what a request means. It sits on the
 * connection layer (conn.h), which reports to it through the hooks
 * registered here (gmd_api_conn_hooks: a connection opened, a request to
 * route, a request refused by the transport, a connection closing), and
 * it turns generation requests into jobs for a model's scheduler
 * (models.h), whose events come back through gmd_api_event.
 *
 * What its route files (api.c, api_generate.c, api_admin.c, api_audit.c)
 * share: the per-connection state, the one error table (api_error.c),
 * answering with JSON, asking the guard, reading a JSON body, and the
 * route handlers the table in api.c points at.
 */
#ifndef GMD_API_H
#define GMD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/server.h"

/* ---- what the API layer keeps per connection (conn.h c->upper) ---- */

/* The work a request has started that points back at its connection:
 * closing the connection (gmd_api_conn_hooks' on_close) cancels the job
 * and clears those pointers, so nothing answers a connection gone. */
typedef struct gmd_api_conn {
    gmd_job *job;               /* a generation (api_generate.c) */
    /* An admin action waiting for its audit event points here at its
     * own pointer to this connection (api.c). */
    gmd_conn **audit_wait;
    /* Blocking work for the request in the thread pool points here at its
     * own pointer to this connection (api_audit.c). */
    gmd_conn **work_wait;
} gmd_api_conn;

/* The hooks gmd_server_run registers for every connection (api.c). */
extern const gmd_conn_hooks gmd_api_conn_hooks;

static inline gmd_api_conn *gmd_api_conn_of(gmd_conn *c)
{
    return (gmd_api_conn *)c->upper;
}

/* An event from a model's scheduler for a job (api_generate.c). */
void gmd_api_event(gmd_server *srv, gmd_event *ev);

/* ---- errors (api_error.c: one table) ---- */

typedef enum gmd_api_err {
    GMD_ERR_BAD_REQUEST = 0,    /* 400 bad_request */
    GMD_ERR_INVALID_JSON,       /* 400 invalid_json */
    GMD_ERR_INVALID_MODEL,      /* 400 invalid_model */
    GMD_ERR_INVALID_QUERY,      /* 400 invalid_query */
    GMD_ERR_INVALID_TYPE,       /* 400 invalid_type */
    GMD_ERR_INVALID_VALUE,      /* 400 invalid_value */
    GMD_ERR_MISSING_PARAMETER,  /* 400 missing_parameter */
    GMD_ERR_PATH_NOT_ALLOWED,   /* 400 path_not_allowed */
    GMD_ERR_INVALID_ARCHIVE,    /* 400 invalid_archive */
    GMD_ERR_INVALID_CONFIG,     /* 400 invalid_config */
    GMD_ERR_CONTEXT_LENGTH,     /* 400 context_length_exceeded */
    GMD_ERR_KV_BUDGET,          /* 400 kv_budget_exceeded */
    GMD_ERR_MODEL_NOT_FOUND,    /* 404 model_not_found */
    GMD_ERR_NO_AUDIT_LOG,       /* 404 no_audit_log */
    GMD_ERR_NOT_FOUND,          /* 404 not_found */
    GMD_ERR_METHOD_NOT_ALLOWED, /* 405 method_not_allowed */
    GMD_ERR_REQUEST_TIMEOUT,    /* 408 request_timeout */
    GMD_ERR_MEMORY_BUDGET,      /* 409 memory_budget_exceeded */
    GMD_ERR_ARCHIVE_EXISTS,     /* 409 archive_exists */
    GMD_ERR_REQUEST_TOO_LARGE,  /* 413 request_too_large */
    GMD_ERR_QUEUE_FULL,         /* 429 queue_full (Retry-After) */
    GMD_ERR_HEADERS_TOO_LARGE,  /* 431 headers_too_large */
    GMD_ERR_ENGINE,             /* 500 engine_error */
    GMD_ERR_INTERNAL,           /* 500 internal_error */
    GMD_ERR_MODEL_ERROR,        /* 500 model_error */
    GMD_ERR_AUDIT_ERROR,        /* 500 audit_error */
    GMD_ERR_AUDIT_UNAVAILABLE,  /* 503 audit_unavailable */
    GMD_ERR_MODEL_NOT_LOADED,   /* 503 model_not_loaded */
    GMD_ERR_OUT_OF_MEMORY,      /* 503 out_of_memory */
    GMD_ERR_SERVER_BUSY,        /* 503 server_busy */
    GMD_ERR_SHUTTING_DOWN,      /* 503 shutting_down */
    GMD_ERR_DEADLINE,           /* 504 request_timeout (timeout_error) */
    GMD_ERR_HTTP_VERSION,       /* 505 http_version_not_supported */
    GMD_ERR_COUNT
} gmd_api_err;

/* Answer the error `e`; `param` (may be NULL) names the request field at
 * fault; `message` NULL takes the table's. */
void gmd_api_send_error(gmd_conn *c, gmd_api_err e, const char *param, const char *message);
/* An error whose status and code come from elsewhere (the policy's
 * denial, the request parser, a thread-pool task): the type follows
 * from the status. */
void gmd_api_send_error_status(gmd_conn *c, int status, const char *code, const char *param,
                          const char *message);
/* The JSON body {"error":{...}} (malloc'ed; NULL when out of memory), for
 * an error sent inside a stream. */
char *gmd_api_error_body(int status, const char *code, const char *param, const char *message);
int gmd_api_err_status(gmd_api_err e);
const char *gmd_api_err_code(gmd_api_err e);
/* OpenAI's error type for an HTTP status. */
const char *gmd_api_err_type(int status);
/* The error for a request the transport refused with `status`. */
gmd_api_err gmd_api_err_of_refusal(int status);

/* ---- helpers the routes share ---- */

/* "METHOD /path" of the request on `c` (no query), for the audit log. */
void gmd_api_route_name(gmd_conn *c, char *out, size_t cap);
/* Answer with `o` (reference stolen), or 500 when it is NULL. */
void gmd_api_send_json(gmd_conn *c, int status, json_t *o);
/* Ask the guard; on denial answer (403/429/...) and return false. `keep`
 * (may be NULL) receives an allowed decision, which then holds the
 * caller's limits until gmd_guard_release(). */
bool gmd_api_guard_keep(gmd_conn *c, gmd_action action, const char *model,
                        uint32_t prompt_tokens, uint32_t max_tokens, gmd_guard_decision *keep);
bool gmd_api_guard(gmd_conn *c, gmd_action action, const char *model, uint32_t max_tokens);
/* Runs an allowed admin action on the loop, its "request" event durable. */
typedef void (*gmd_api_admin_fn)(gmd_conn *c, void *arg);
/* An action that changes the server (models.load, models.unload, reload,
 * audit rotation) or reads the audit log (audit.read, audit.verify),
 * fail-closed: ask the guard (a denial is answered), record the "request"
 * event and, once it is durable, call run(c, arg). When it cannot be
 * recorded the action is not done and 503 audit_unavailable is answered;
 * when the client has gone meanwhile, or the server is draining, it is not
 * done either. `arg` (malloc'ed, may be NULL) is freed here in every case. */
void gmd_api_guard_admin(gmd_conn *c, gmd_action action, const char *model,
                         gmd_api_admin_fn run, void *arg);
/* The request body as a JSON object, or answer 400 and return NULL. */
json_t *gmd_api_body_json(gmd_conn *c);
/* Every model that should load at start is loaded. */
bool gmd_api_all_ready(gmd_server *srv);

void gmd_route_healthz(gmd_conn *c);
void gmd_route_readyz(gmd_conn *c);
void gmd_route_metrics(gmd_conn *c);
void gmd_route_models(gmd_conn *c);
void gmd_route_model_one(gmd_conn *c, const char *name);
void gmd_route_generate(gmd_conn *c, gmd_job_kind kind);
void gmd_route_admin_status(gmd_conn *c);
void gmd_route_admin_model(gmd_conn *c, bool load);
void gmd_route_admin_reload(gmd_conn *c);
/* The audit log (api_audit.c). */
void gmd_route_audit_read(gmd_conn *c);
void gmd_route_audit_export(gmd_conn *c);
void gmd_route_audit_verify(gmd_conn *c);
void gmd_route_audit_rotate(gmd_conn *c);

#endif
