/*
 * daemon/api_error.c -- every error gemmad answers, in one table: its
 * HTTP status, OpenAI code and default message (api.h gmd_api_err); the
 * OpenAI type follows from the status; and the one function that builds
 * the body {"error":{"message","type","param",
 * "code"}} and sends it (a 429 with Retry-After).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/api.h"

typedef struct err_row {
    int status;             /* its type follows from it (gmd_api_err_type) */
    const char *code;
    const char *message;    /* when the caller gives none */
} err_row;

static const err_row rows[GMD_ERR_COUNT] = {
    [GMD_ERR_BAD_REQUEST] = {400, "bad_request", "malformed request"},
    [GMD_ERR_INVALID_JSON] = {400, "invalid_json",
                              "the request body is not valid JSON"},
    [GMD_ERR_INVALID_MODEL] = {400, "invalid_model",
                               "the model name is not valid"},
    [GMD_ERR_INVALID_QUERY] = {400, "invalid_query",
                               "the query string is not valid"},
    [GMD_ERR_INVALID_TYPE] = {400, "invalid_type",
                              "a parameter has the wrong type"},
    [GMD_ERR_INVALID_VALUE] = {400, "invalid_value",
                               "a parameter has a value out of range"},
    [GMD_ERR_MISSING_PARAMETER] = {400, "missing_parameter",
                                   "a required parameter is missing"},
    [GMD_ERR_PATH_NOT_ALLOWED] = {400, "path_not_allowed",
                                  "this path is not allowed"},
    [GMD_ERR_INVALID_ARCHIVE] = {400, "invalid_archive",
                                 "the archive name is not valid"},
    [GMD_ERR_INVALID_CONFIG] = {400, "invalid_config",
                                "the configuration is not valid"},
    [GMD_ERR_CONTEXT_LENGTH] = {400, "context_length_exceeded",
                                "the prompt does not fit in the model's context"},
    [GMD_ERR_KV_BUDGET] = {400, "kv_budget_exceeded",
                           "the request needs more KV cache than the model's whole budget"},
    [GMD_ERR_MODEL_NOT_FOUND] = {404, "model_not_found",
                                 "no such model"},
    [GMD_ERR_NO_AUDIT_LOG] = {404, "no_audit_log",
                              "no audit log is kept (security.audit_db)"},
    [GMD_ERR_NOT_FOUND] = {404, "not_found", "no such route"},
    [GMD_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed",
                                    "this method is not allowed here"},
    [GMD_ERR_REQUEST_TIMEOUT] = {408, "request_timeout",
                                 "the request was not received in time"},
    [GMD_ERR_MEMORY_BUDGET] = {409, "memory_budget_exceeded",
                               "the model does not fit in engine.models_memory_mb"},
    [GMD_ERR_ARCHIVE_EXISTS] = {409, "archive_exists", "the archive exists already"},
    [GMD_ERR_REQUEST_TOO_LARGE] = {413, "request_too_large",
                                   "the request body is too large"},
    [GMD_ERR_QUEUE_FULL] = {429, "queue_full",
                            "too many requests are waiting for this model; retry later"},
    [GMD_ERR_HEADERS_TOO_LARGE] = {431, "headers_too_large",
                                   "the request headers are too large"},
    [GMD_ERR_ENGINE] = {500, "engine_error", "the engine failed"},
    [GMD_ERR_INTERNAL] = {500, "internal_error", "internal error"},
    [GMD_ERR_MODEL_ERROR] = {500, "model_error", "the model action failed"},
    [GMD_ERR_AUDIT_ERROR] = {500, "audit_error", "the audit log failed"},
    [GMD_ERR_AUDIT_UNAVAILABLE] = {503, "audit_unavailable",
                                   "the audit log cannot record this request, so it is refused"},
    [GMD_ERR_MODEL_NOT_LOADED] = {503, "model_not_loaded",
                                  "the model is not loaded"},
    [GMD_ERR_OUT_OF_MEMORY] = {503, "out_of_memory", "out of memory"},
    [GMD_ERR_SERVER_BUSY] = {503, "server_busy", "the server is busy"},
    [GMD_ERR_SHUTTING_DOWN] = {503, "shutting_down",
                               "the server is shutting down"},
    [GMD_ERR_DEADLINE] = {504, "request_timeout",
                          "the request did not finish before its deadline"},
    [GMD_ERR_HTTP_VERSION] = {505, "http_version_not_supported",
                              "this HTTP version is not supported"},
};

int gmd_api_err_status(gmd_api_err e)
{
    return e >= 0 && e < GMD_ERR_COUNT ? rows[e].status : 500;
}

const char *gmd_api_err_code(gmd_api_err e)
{
    return e >= 0 && e < GMD_ERR_COUNT ? rows[e].code : "internal_error";
}

const char *gmd_api_err_type(int status)
{
    return status == 429   ? "rate_limit_error"
           : status == 403 ? "permission_error"
           : status == 504 ? "timeout_error"
           : status >= 500 ? "server_error"
                           : "invalid_request_error";
}

gmd_api_err gmd_api_err_of_refusal(int status)
{
    switch (status) {
    case 408: return GMD_ERR_REQUEST_TIMEOUT;
    case 413: return GMD_ERR_REQUEST_TOO_LARGE;
    case 431: return GMD_ERR_HEADERS_TOO_LARGE;
    case 505: return GMD_ERR_HTTP_VERSION;
    default: return GMD_ERR_BAD_REQUEST;
    }
}

char *gmd_api_error_body(int status, const char *code, const char *param, const char *message)
{
    json_t *o = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", message, "type",
                          gmd_api_err_type(status), "param", param, "code", code);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

void gmd_api_send_error_status(gmd_conn *c, int status, const char *code, const char *param,
                          const char *message)
{
    char *text = gmd_api_error_body(status, code, param, message);
    char extra[64] = "";
    if (status == 429)
        snprintf(extra, sizeof(extra), "Retry-After: %u\r\n",
                 c->retry_after_s ? c->retry_after_s : 1);
    c->retry_after_s = 0;
    if (text == NULL) {
        static const char fallback[] =
            "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
            "\"param\":null,\"code\":null}}";
        gmd_conn_respond(c, status, "application/json", fallback, sizeof(fallback) - 1,
                         extra[0] ? extra : NULL);
        return;
    }
    gmd_conn_respond(c, status, "application/json", text, strlen(text),
                     extra[0] ? extra : NULL);
    free(text);
}

void gmd_api_send_error(gmd_conn *c, gmd_api_err e, const char *param, const char *message)
{
    if (e < 0 || e >= GMD_ERR_COUNT)
        e = GMD_ERR_INTERNAL;
    const err_row *r = &rows[e];
    gmd_api_send_error_status(c, r->status, r->code, param, message ? message : r->message);
}
