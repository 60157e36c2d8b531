/*
 * daemon/api_request.h -- reading an OpenAI request body (chat or text
 * completion) into generation parameters, with OpenAI-style errors for
 * everything missing, mistyped or out of range. Pure: no I/O, no server.
 */
#ifndef GMD_API_REQUEST_H
#define GMD_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/infer.h"

typedef struct gmd_api_error {
    int status;          /* 400 */
    char code[48];       /* "missing_parameter", "invalid_type", ... */
    char param[48];      /* the offending field, "" if none */
    char message[256];
} gmd_api_error;

/*
 * Fill `params` (strings malloc'ed; the caller frees them as a gmd_job
 * does) and the model name. max_tokens is 0 when the request gave none.
 * Returns 0, or -1 with *err filled (params then holds nothing to free
 * that the caller would not free anyway).
 */
int gmd_api_parse_request(json_t *body, bool chat, char *model, size_t model_cap,
                          gmd_infer_params *params, bool *stream, bool *include_usage,
                          gmd_api_error *err);

/* Release what gmd_api_parse_request() added to params beyond the
 * strings gmd_job_free() knows (the grammar, the logprobs buffer, tools,
 * the messages' tool fields). Call it before the messages are freed;
 * safe to call twice. */
void gmd_api_params_release(gmd_infer_params *p);

#endif
