/*
 * daemon/api_generate.c -- POST /v1/chat/completions and /v1/completions:
 * a request becomes a job on the model's queue; the worker's text comes
 * back as events and goes out as one JSON answer or as Server-Sent Events
 * (OpenAI's chunk objects, then "data: [DONE]").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "daemon/api.h"
#include "daemon/api_request.h"

/* ---- completions ---- */

static const char *finish_name(gmd_infer_finish f)
{
    switch (f) {
    case GMD_FINISH_STOP: return "stop";
    case GMD_FINISH_LENGTH:
    case GMD_FINISH_CONTEXT: return "length";
    case GMD_FINISH_CANCELLED: return "stop";
    }
    return "stop";
}

static json_t *usage_object(const gmd_infer_result *r)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)r->n_prompt_tokens,
                     "completion_tokens", (int)r->n_generated_tokens, "total_tokens",
                     (int)(r->n_prompt_tokens + r->n_generated_tokens));
}

/* One SSE chunk; `text` NULL for the role chunk (chat) or the final one. */
static void send_chunk(gmd_conn *c, gmd_job *job, const char *text, size_t len,
                       const char *finish, const gmd_infer_result *usage)
{
    json_t *choice;
    bool chat = job->kind == GMD_JOB_CHAT;
    if (chat) {
        json_t *delta = json_object();
        if (text)
            json_object_set_new(delta, "content", json_stringn(text, len));
        else if (!finish && !usage) {
            json_object_set_new(delta, "role", json_string("assistant"));
            json_object_set_new(delta, "content", json_string(""));
        }
        choice = json_pack("{s:i, s:o, s:o, s:n}", "index", 0, "delta", delta,
                           "finish_reason", finish ? json_string(finish) : json_null(),
                           "logprobs");
    } else {
        choice = json_pack("{s:i, s:o, s:o, s:n}", "index", 0, "text",
                           json_stringn(text ? text : "", text ? len : 0), "finish_reason",
                           finish ? json_string(finish) : json_null(), "logprobs");
    }
    json_t *choices = json_array();
    if (!usage)
        json_array_append_new(choices, choice);
    else
        json_decref(choice);
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", job->id, "object",
                          chat ? "chat.completion.chunk" : "text_completion", "created",
                          (json_int_t)job->created, "model", job->model->cfg.name, "choices",
                          choices);
    if (o && job->include_usage)
        json_object_set_new(o, "usage", usage ? usage_object(usage) : json_null());
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL)
        return;
    gmd_buf b;
    gmd_buf_init(&b);
    gmd_buf_printf(&b, "data: %s\n\n", s);
    free(s);
    if (!b.failed)
        gmd_conn_stream_write(c, b.data, b.len);
    gmd_buf_free(&b);
}

static void answer_whole(gmd_conn *c, gmd_job *job, const gmd_infer_result *r)
{
    bool chat = job->kind == GMD_JOB_CHAT;
    const char *text = job->text.data ? job->text.data : "";
    json_t *choice;
    if (chat)
        choice = json_pack("{s:i, s:{s:s, s:s%}, s:s, s:n}", "index", 0, "message", "role",
                           "assistant", "content", text, job->text.len, "finish_reason",
                           finish_name(r->finish), "logprobs");
    else
        choice = json_pack("{s:i, s:s%, s:s, s:n}", "index", 0, "text", text, job->text.len,
                           "finish_reason", finish_name(r->finish), "logprobs");
    gmd_api_send_json(c, 200,
              json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:n}", "id", job->id, "object",
                        chat ? "chat.completion" : "text_completion", "created",
                        (json_int_t)job->created, "model", job->model->cfg.name, "choices",
                        choice, "usage", usage_object(r), "system_fingerprint"));
}

static void job_done(gmd_server *srv, gmd_job *job, gmd_event *ev)
{
    gmd_conn *c = job->conn;
    srv->metrics.prompt_tokens += ev->result.n_prompt_tokens;
    srv->metrics.generated_tokens += ev->result.n_generated_tokens;
    bool timed_out = job->timed_out;
    gmd_guard_release(&srv->guard, &job->gd, ev->result.n_generated_tokens);
    gmd_guard_audit_response(&srv->guard, &job->identity, &job->gd, job->id,
                             job->model->cfg.name,
                             c == NULL ? 499 : ev->rc < 0 ? 500 : timed_out ? 504 : 200,
                             ev->result.n_prompt_tokens, ev->result.n_generated_tokens,
                             (int64_t)((ev->t - job->t_start) * 1e6),
                             ev->rc < 0 ? ev->error
                             : c == NULL ? "client went away"
                                         : finish_name(ev->result.finish));
    if (c != NULL) {
        c->job = NULL;
        if (job->stream) {
            if (ev->rc < 0) {
                json_t *e = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message",
                                      ev->error, "type", "server_error", "param", "code",
                                      "engine_error");
                char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
                json_decref(e);
                if (s) {
                    gmd_buf b;
                    gmd_buf_init(&b);
                    gmd_buf_printf(&b, "data: %s\n\n", s);
                    gmd_conn_stream_write(c, b.data, b.len);
                    gmd_buf_free(&b);
                    free(s);
                }
            } else {
                send_chunk(c, job, NULL, 0,
                           timed_out ? "length" : finish_name(ev->result.finish), NULL);
                if (job->include_usage)
                    send_chunk(c, job, NULL, 0, NULL, &ev->result);
            }
            gmd_conn_stream_write(c, "data: [DONE]\n\n", 14);
            gmd_conn_stream_end(c);
        } else if (ev->rc < 0) {
            gmd_conn_error(c, 500, "server_error", "engine_error", NULL, ev->error);
        } else if (timed_out) {
            gmd_conn_error(c, 504, "timeout_error", "request_timeout", NULL,
                           "the request did not finish before its deadline");
        } else {
            answer_whole(c, job, &ev->result);
        }
    } else {
        cm_log(CM_LOG_INFO, "api", "%s on %s ended after the client went away: %u tokens, "
               "%s", job->id, job->model->cfg.name, ev->result.n_generated_tokens,
               ev->result.finish == GMD_FINISH_CANCELLED ? "cancelled" : "finished");
    }
    gmd_job_free(job);
}

void gmd_api_event(gmd_server *srv, gmd_event *ev)
{
    gmd_job *job = ev->job;
    if (ev->kind == GMD_EV_DONE) {
        job_done(srv, job, ev);
        return;
    }
    if (!job->sent_first) {
        job->sent_first = true;
        gmd_hist_observe(&srv->metrics.ttft, ev->t - job->t_start);
    } else {
        gmd_hist_observe(&srv->metrics.itl, ev->t - job->t_last_token);
    }
    job->t_last_token = ev->t;
    gmd_conn *c = job->conn;
    if (c == NULL)
        return;
    if (job->stream)
        send_chunk(c, job, ev->text, ev->len, NULL, NULL);
    else
        gmd_buf_add(&job->text, ev->text, ev->len);
}

void gmd_route_generate(gmd_conn *c, gmd_job_kind kind)
{
    gmd_server *srv = c->srv;
    json_t *o = gmd_api_body_json(c);
    if (o == NULL)
        return;
    gmd_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        json_decref(o);
        gmd_conn_error(c, 503, "server_error", "out_of_memory", NULL, "out of memory");
        return;
    }
    gmd_buf_init(&job->text);
    job->kind = kind;
    gmd_api_error aerr = {0};
    char model[GMD_NAME_MAX] = "";
    int rc = gmd_api_parse_request(o, kind == GMD_JOB_CHAT, model, sizeof(model), &job->params,
                                   &job->stream, &job->include_usage, &aerr);
    json_decref(o);
    if (rc < 0) {
        gmd_job_free(job);
        gmd_conn_error(c, aerr.status, "invalid_request_error", aerr.code,
                       aerr.param[0] ? aerr.param : NULL, aerr.message);
        return;
    }
    gmd_model *m = gmd_server_find_model(srv, model);
    if (m == NULL) {
        gmd_job_free(job);
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", model);
        gmd_conn_error(c, 404, "invalid_request_error", "model_not_found", "model", msg);
        return;
    }
    if (job->params.max_tokens == 0)
        job->params.max_tokens = m->cfg.max_tokens;
    if (job->params.max_tokens > m->cfg.max_tokens) {
        gmd_job_free(job);
        char msg[200];
        snprintf(msg, sizeof(msg), "max_tokens is too large: this model allows at most %u",
                 m->cfg.max_tokens);
        gmd_conn_error(c, 400, "invalid_request_error", "invalid_value", "max_tokens", msg);
        return;
    }
    if (!gmd_api_guard_keep(c, GMD_ACT_INFER, m->cfg.name, job->params.max_tokens, &job->gd)) {
        gmd_job_free(job);
        return;
    }
    job->identity = c->id;
    if (m->state != GMD_MODEL_READY) {
        gmd_guard_release(&srv->guard, &job->gd, 0);
        gmd_job_free(job);
        char msg[300];
        snprintf(msg, sizeof(msg), "model '%s' is not loaded (state: %s)", m->cfg.name,
                 gmd_model_state_name(m->state));
        gmd_conn_error(c, 503, "server_error", "model_not_loaded", "model", msg);
        return;
    }
    if (srv->draining) {
        gmd_guard_release(&srv->guard, &job->gd, 0);
        gmd_job_free(job);
        gmd_conn_error(c, 503, "server_error", "shutting_down", NULL,
                       "the server is shutting down");
        return;
    }
    job->model = m;
    job->conn = c;
    job->created = (long)time(NULL);
    job->t_start = gmd_now();
    job->deadline = job->t_start + srv->cfg.request_timeout_ms / 1000.0;
    snprintf(job->id, sizeof(job->id), "%s-%llx%06llx",
             kind == GMD_JOB_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)job->created,
             (unsigned long long)++srv->job_counter);
    if (gmd_model_submit(m, job) < 0) {
        gmd_guard_release(&srv->guard, &job->gd, 0);
        gmd_job_free(job);
        srv->metrics.rejected_queue_full++;
        gmd_conn_error(c, 429, "rate_limit_error", "queue_full", NULL,
                       "too many requests are waiting for this model; retry later");
        return;
    }
    c->job = job;
    if (job->stream) {
        gmd_conn_stream_begin(c, "text/event-stream");
        if (kind == GMD_JOB_CHAT)
            send_chunk(c, job, NULL, 0, NULL, NULL);
    }
}
