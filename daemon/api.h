/*
 * daemon/api.h -- what gemmad's route files (api.c, api_generate.c,
 * api_admin.c, api_audit.c) share: answering with JSON, asking the guard, reading a
 * JSON body, and the route handlers the table in api.c points at.
 */
#ifndef GMD_API_H
#define GMD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/server.h"

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
