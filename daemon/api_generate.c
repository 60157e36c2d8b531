/*
 * daemon/api_generate.c -- POST /v1/chat/completions and /v1/completions:
 * a request becomes a job on the model's queue; the worker's text comes
 * back as events and goes out as one JSON answer or as Server-Sent Events
 * (OpenAI's chunk objects, then "data: [DONE]").
 *
 * Order: parse; tokenize the prompt in the thread pool (prep_work; special
 * token text in content stays text); refuse a prompt the context cannot
 * hold (400 context_length_exceeded); let the policy decide with the
 * prompt's length (max_prompt_tokens, tokens_per_minute charged prompt +
 * max_tokens, the unused part refunded at the end); record the "request"
 * event; run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "daemon/api.h"
#include "daemon/api_request.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/tool_format.h"

/* A generate job and what its parsed request holds. */
static void job_free(gmd_job *job)
{
    if (job != NULL)
        gmd_api_params_release(&job->params);
    gmd_job_free(job);
}

/* ---- logprobs ---- */

/* bytes as a JSON string, invalid UTF-8 replaced by U+FFFD */
static json_t *lossy_string(const char *b, size_t n)
{
    char out[GMD_LOGPROB_TEXT * 3 + 1];
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)b[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && (len == 1 || c >= 0xC2);
        for (size_t j = 1; ok && j < len; j++)
            ok = ((unsigned char)b[i + j] & 0xC0) == 0x80;
        if (ok && len > 1) { /* let jansson judge overlong forms and surrogates */
            json_t *probe = json_stringn(b + i, len);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(out + k, b + i, len);
            k += len;
            i += len;
        } else {
            memcpy(out + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    return json_stringn(out, k);
}

static json_t *bytes_array(const gmd_infer_token_text *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->n_text; i++)
        json_array_append_new(a, json_integer((unsigned char)t->text[i]));
    return a;
}

/* The logprobs of the tokens generated since the last call (the worker
 * adds them before it posts their text), in OpenAI's shape for chat or
 * completions; json null when the request did not ask for them. */
static json_t *take_logprobs(gmd_job *job)
{
    gmd_infer_logprobs *lp = job->params.logprobs_out;
    if (!job->params.logprobs || lp == NULL)
        return json_null();
    bool chat = job->kind == GMD_JOB_CHAT;
    json_t *content = json_array(), *tokens = json_array(), *token_lp = json_array(),
           *top_lp = json_array(), *offsets = json_array();
    pthread_mutex_lock(&lp->mu);
    for (; lp->taken < lp->n; lp->taken++) {
        const gmd_infer_logprob *it = &lp->items[lp->taken];
        json_t *tok = lossy_string(it->chosen.text, it->chosen.n_text);
        if (chat) {
            json_t *top = json_array();
            for (size_t i = 0; i < it->n_top && i < job->params.top_logprobs; i++)
                json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token",
                    lossy_string(it->top[i].text, it->top[i].n_text), "logprob",
                    (double)it->top[i].logprob, "bytes", bytes_array(&it->top[i])));
            json_array_append_new(content, json_pack("{s:o, s:f, s:o, s:o}", "token", tok,
                "logprob", (double)it->chosen.logprob, "bytes", bytes_array(&it->chosen),
                "top_logprobs", top));
        } else {
            json_t *top = json_object();
            for (size_t i = 0; i < it->n_top && i < job->params.top_logprobs; i++) {
                json_t *k = lossy_string(it->top[i].text, it->top[i].n_text);
                if (k && json_object_get(top, json_string_value(k)) == NULL)
                    json_object_set_new(top, json_string_value(k),
                                        json_real((double)it->top[i].logprob));
                json_decref(k);
            }
            json_array_append_new(tokens, tok);
            json_array_append_new(token_lp, json_real((double)it->chosen.logprob));
            json_array_append_new(top_lp, top);
            json_array_append_new(offsets, json_integer((json_int_t)lp->text_offset));
            lp->text_offset += it->chosen.n_text;
        }
    }
    pthread_mutex_unlock(&lp->mu);
    if (chat) {
        json_decref(tokens);
        json_decref(token_lp);
        json_decref(top_lp);
        json_decref(offsets);
        return json_pack("{s:o, s:n}", "content", content, "refusal");
    }
    json_decref(content);
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", token_lp,
                     "top_logprobs", top_lp, "text_offset", offsets);
}

/* ---- tool calls ---- */

/* The answer may hold tool calls to parse out (chat with tools, not "none"). */
static bool tools_active(const gmd_job *job)
{
    return job->kind == GMD_JOB_CHAT && job->params.tools_json != NULL &&
           job->params.tool_choice != GMD_TOOL_CHOICE_NONE;
}

/* OpenAI's tool_calls array for the calls, or NULL when there are none;
 * with `delta`, each call also carries its index (stream chunks). */
static json_t *tool_calls_json(const gmd_job *job, const gm_tool_call *calls, int n, bool delta)
{
    if (n <= 0)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char id[96];
        snprintf(id, sizeof(id), "call_%s_%d", job->id, i);
        json_t *c = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
                              "function", "name", calls[i].name, "arguments",
                              calls[i].arguments);
        if (c && delta)
            json_object_set_new(c, "index", json_integer(i));
        json_array_append_new(a, c);
    }
    return a;
}

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

/* The finish_reason of a whole answer. A json_schema/json_object answer
 * that ended ("stop") before its value was complete -- which the grammar
 * is built never to allow, but the client must not take such text for
 * valid JSON -- says "length", as a cut answer does. (A stop string of
 * the client's own may cut it: that stays "stop".) */
static const char *answer_finish(const gmd_job *job)
{
    const gmd_infer_params *p = &job->params;
    if (job->result.finish == GMD_FINISH_STOP && p->grammar &&
        (p->format == GMD_FORMAT_JSON_OBJECT || p->format == GMD_FORMAT_JSON_SCHEMA) &&
        !p->stop[0] &&
        gm_grammar_check_text(p->grammar, job->text.data ? job->text.data : "",
                              job->text.len) == 0)
        return "length";
    return finish_name(job->result.finish);
}

static json_t *usage_object(const gmd_infer_result *r)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)r->n_prompt_tokens,
                     "completion_tokens", (int)r->n_generated_tokens, "total_tokens",
                     (int)(r->n_prompt_tokens + r->n_generated_tokens));
}

/* One SSE chunk; `text` NULL for the role chunk (chat) or the final one. */
static void send_chunk(gmd_conn *c, gmd_job *job, const char *text, size_t len,
                       const char *finish, const gmd_infer_result *usage, json_t *logprobs)
{
    if (logprobs == NULL)
        logprobs = json_null();
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
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta,
                           "finish_reason", finish ? json_string(finish) : json_null(),
                           "logprobs", logprobs);
    } else {
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "text",
                           json_stringn(text ? text : "", text ? len : 0), "finish_reason",
                           finish ? json_string(finish) : json_null(), "logprobs", logprobs);
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
    json_t *logprobs = take_logprobs(job);
    if (chat && tools_active(job)) {
        gm_tool_call *calls = NULL;
        char *content = NULL;
        cm_err err;
        int n = gm_tool_calls_parse(text, job->text.len, &calls, &content, &err);
        json_t *tc = tool_calls_json(job, calls, n, false);
        json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                                n > 0 && content && content[0] == '\0' ? json_null()
                                : json_string(content ? content : text));
        if (tc)
            json_object_set_new(msg, "tool_calls", tc);
        choice = json_pack("{s:i, s:o, s:s, s:o}", "index", 0, "message", msg, "finish_reason",
                           n > 0 ? "tool_calls" : finish_name(r->finish), "logprobs", logprobs);
        gm_tool_calls_free(calls, n > 0 ? (size_t)n : 0);
        free(content);
    } else if (chat)
        choice = json_pack("{s:i, s:{s:s, s:s%}, s:s, s:o}", "index", 0, "message", "role",
                           "assistant", "content", text, job->text.len, "finish_reason",
                           answer_finish(job), "logprobs", logprobs);
    else
        choice = json_pack("{s:i, s:s%, s:s, s:o}", "index", 0, "text", text, job->text.len,
                           "finish_reason", answer_finish(job), "logprobs", logprobs);
    gmd_api_send_json(c, 200,
              json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:n}", "id", job->id, "object",
                        chat ? "chat.completion" : "text_completion", "created",
                        (json_int_t)job->created, "model", job->model->cfg.name, "choices",
                        choice, "usage", usage_object(r), "system_fingerprint"));
}

/* ---- audit: request and response events, awaited ---- */

static void digest_of(const gmd_model *m, char *out, size_t cap)
{
    out[0] = '\0';
    if (m->digest[0] != '\0')
        snprintf(out, cap, "sha256:%s", m->digest);
}

/* The event for `job` of `type`, with everything the job knows. */
static void job_event(gmd_job *job, const char *type, au_event *ev, char *digest,
                      size_t digest_cap)
{
    gmd_guard_event(ev, type, &job->identity, &job->gd, GMD_ACT_INFER, job->model->cfg.name);
    digest_of(job->model, digest, digest_cap);
    ev->request_id = job->id;
    ev->route = job->route;
    ev->model_digest = digest[0] ? digest : NULL;
}

/* The answer to the audit failure of a request (503, OpenAI error). */
static void refuse_unaudited(gmd_server *srv, gmd_conn *c)
{
    srv->guard.n_audit_refused++;
    gmd_api_send_error(c, GMD_ERR_AUDIT_UNAVAILABLE, NULL,
                   "the audit log cannot record this request, so it is refused");
}

/* One chat chunk with this delta (stolen). */
static void send_delta(gmd_conn *c, gmd_job *job, json_t *delta, const char *finish,
                       json_t *logprobs)
{
    json_t *choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta,
                               "finish_reason", finish ? json_string(finish) : json_null(),
                               "logprobs", logprobs ? logprobs : json_null());
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", job->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)job->created, "model",
                          job->model->cfg.name, "choices", choice);
    if (o && job->include_usage)
        json_object_set_new(o, "usage", json_null());
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

/* With tools, text streams as content up to where a tool call starts, or
 * could start ("<|tool_call>" or a prefix of it at the end); the rest
 * waits for the end (send_tool_deltas). */
static void stream_before_calls(gmd_conn *c, gmd_job *job)
{
    static const char mark[] = "<|tool_call>";
    const size_t mark_len = sizeof(mark) - 1;
    size_t *sent = &job->params.text_streamed;
    const char *t = job->text.data ? job->text.data : "";
    size_t len = job->text.len, upto = *sent;
    while (upto < len) {
        size_t rest = len - upto;
        size_t cmp = rest < mark_len ? rest : mark_len;
        if (t[upto] == '<' && memcmp(t + upto, mark, cmp) == 0)
            break; /* a call starts here, or may */
        upto++;
    }
    /* a call once begun holds everything after it */
    const char *found = memmem(t + *sent, len - *sent, mark, mark_len);
    if (found && (size_t)(found - t) < upto)
        upto = (size_t)(found - t);
    /* do not cut a UTF-8 character */
    while (upto > *sent && upto < len && ((unsigned char)t[upto] & 0xC0) == 0x80)
        upto--;
    if (upto == *sent)
        return;
    send_chunk(c, job, t + *sent, upto - *sent, NULL, NULL, take_logprobs(job));
    *sent = upto;
}

/* A streamed answer with tools: send the text not streamed yet and then
 * its calls as OpenAI does (the name first, then the arguments); returns
 * whether there were calls. */
static bool send_tool_deltas(gmd_conn *c, gmd_job *job)
{
    size_t from = job->params.text_streamed;
    const char *text = job->text.data ? job->text.data + from : "";
    gm_tool_call *calls = NULL;
    char *content = NULL;
    cm_err err;
    int n = gm_tool_calls_parse(text, job->text.len - from, &calls, &content, &err);
    const char *shown = n >= 0 && content ? content : text;
    json_t *lp = take_logprobs(job);
    if (shown[0] != '\0' || !json_is_null(lp))
        send_delta(c, job, json_pack("{s:s}", "content", shown), NULL, lp);
    else
        json_decref(lp);
    for (int i = 0; i < n; i++) {
        char id[96];
        snprintf(id, sizeof(id), "call_%s_%d", job->id, i);
        send_delta(c, job, json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls",
                                     "index", i, "id", id, "type", "function", "function",
                                     "name", calls[i].name, "arguments", ""), NULL, NULL);
        send_delta(c, job, json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls", "index", i,
                                     "function", "arguments", calls[i].arguments), NULL, NULL);
    }
    gm_tool_calls_free(calls, n > 0 ? (size_t)n : 0);
    free(content);
    return n > 0;
}

/* tool_choice required or a named function: the answer is one call, as
 * its grammar writes it, so it can stream as it comes. */
static bool call_constrained(const gmd_job *job)
{
    return tools_active(job) && job->params.format == GMD_FORMAT_TOOL_CALL;
}

/* A constrained call, streamed as OpenAI does: once its name is written, a
 * delta with index, id, type, function.name and empty arguments; then the
 * arguments in pieces as they are settled (gm_tool_call_stream). No text
 * is streamed as content here, so text_streamed counts instead: 0 before
 * the first delta, then 1 + the argument bytes sent. `last`: the answer
 * has ended; returns whether it was a whole call then. */
static bool stream_call(gmd_conn *c, gmd_job *job, bool last)
{
    size_t *sent = &job->params.text_streamed;
    char *name = NULL, *args = NULL;
    cm_err err;
    bool whole_call = false;
    const char *text = job->text.data ? job->text.data : "";
    if (gm_tool_call_stream(text, job->text.len, &name, &args, &err) < 0 || !args)
        return false;
    if (last) { /* the finished call: what the plain answer's arguments are */
        gm_tool_call *calls = NULL;
        char *content = NULL;
        int n = gm_tool_calls_parse(text, job->text.len, &calls, &content, &err);
        if (n > 0 && strncmp(calls[0].arguments, args, strlen(args)) == 0) {
            char *whole = strdup(calls[0].arguments);
            if (whole) {
                free(args);
                args = whole;
                whole_call = true;
            }
        }
        gm_tool_calls_free(calls, n > 0 ? (size_t)n : 0);
        free(content);
    }
    if (*sent == 0) {
        char id[96];
        snprintf(id, sizeof(id), "call_%s_%d", job->id, 0);
        send_delta(c, job, json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls",
                                     "index", 0, "id", id, "type", "function", "function",
                                     "name", name, "arguments", ""), NULL, take_logprobs(job));
        *sent = 1;
    }
    size_t al = strlen(args);
    if (al > *sent - 1) {
        send_delta(c, job, json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls", "index", 0,
                                     "function", "arguments", args + (*sent - 1)),
                   NULL, take_logprobs(job));
        *sent = al + 1;
    }
    free(name);
    free(args);
    return whole_call;
}

/* Send the end of a response whose "response" event is durable. */
static void finish_response(gmd_conn *c, gmd_job *job)
{
    const gmd_infer_result *r = &job->result;
    if (job->stream) {
        if (job->done_rc < 0) {
            char *s = gmd_api_error_body(gmd_api_err_status(GMD_ERR_ENGINE),
                                         gmd_api_err_code(GMD_ERR_ENGINE), NULL,
                                         job->done_error);
            if (s) {
                gmd_buf b;
                gmd_buf_init(&b);
                gmd_buf_printf(&b, "data: %s\n\n", s);
                gmd_conn_stream_write(c, b.data, b.len);
                gmd_buf_free(&b);
                free(s);
            }
        } else {
            const char *finish = job->http_status == 504 ? "length" : answer_finish(job);
            if (call_constrained(job) && job->params.text_streamed > 0) {
                if (stream_call(c, job, true)) /* what is left of its arguments */
                    finish = "tool_calls";     /* (else cut: "length") */
            } else if (tools_active(job) && send_tool_deltas(c, job)) {
                finish = "tool_calls";
            }
            json_t *rest = take_logprobs(job); /* tokens whose text came last */
            send_chunk(c, job, NULL, 0, finish, NULL, rest);
            if (job->include_usage)
                send_chunk(c, job, NULL, 0, NULL, r, NULL);
        }
        gmd_conn_stream_write(c, "data: [DONE]\n\n", 14);
        gmd_conn_stream_end(c);
    } else if (job->done_rc < 0) {
        gmd_api_send_error(c, GMD_ERR_ENGINE, NULL, job->done_error);
    } else if (job->http_status == 504) { /* as recorded, even if the deadline passed since */
        gmd_api_send_error(c, GMD_ERR_DEADLINE, NULL,
                       "the request did not finish before its deadline");
    } else {
        answer_whole(c, job, r);
    }
}

/* The "response" event is durable (status 0) or failed: finish or refuse. */
static void response_recorded(void *arg, int status, const char *msg)
{
    gmd_job *job = arg;
    gmd_server *srv = job->model->srv;
    gmd_conn *c = job->conn;
    if (c == NULL) {
        cm_log(CM_LOG_INFO, "api", "%s on %s ended after the client went away: %u tokens, "
               "%s", job->id, job->model->cfg.name, job->result.n_generated_tokens,
               job->result.finish == GMD_FINISH_CANCELLED ? "cancelled" : "finished");
        job_free(job);
        return;
    }
    gmd_api_conn_of(c)->job = NULL;
    if (status == 0) {
        finish_response(c, job);
    } else if (job->stream) {
        /* Headers went out with 200: end the stream with an error and
         * without "[DONE]", so the client sees an incomplete answer. */
        srv->guard.n_audit_refused++;
        char *e = gmd_api_error_body(gmd_api_err_status(GMD_ERR_AUDIT_UNAVAILABLE),
                                     gmd_api_err_code(GMD_ERR_AUDIT_UNAVAILABLE), NULL,
                                     "the audit log cannot record this response, so it is "
                                     "withheld");
        if (e != NULL) {
            char line[512];
            int n = snprintf(line, sizeof(line), "data: %s\n\n", e);
            if (n > 0 && (size_t)n < sizeof(line))
                gmd_conn_stream_write(c, line, (size_t)n);
            free(e);
        }
        gmd_conn_stream_end(c);
        cm_log(CM_LOG_ERR, "api", "%s: response withheld, audit failed: %s", job->id, msg);
    } else {
        refuse_unaudited(srv, c);
        cm_log(CM_LOG_ERR, "api", "%s: response refused, audit failed: %s", job->id, msg);
    }
    job_free(job);
}

static void job_done(gmd_server *srv, gmd_job *job, gmd_event *ev)
{
    gmd_conn *c = job->conn;
    srv->metrics.prompt_tokens += ev->result.n_prompt_tokens;
    srv->metrics.generated_tokens += ev->result.n_generated_tokens;
    gmd_guard_release(&srv->guard, &job->gd, ev->result.n_generated_tokens);
    job->result = ev->result;
    job->done_rc = ev->rc;
    snprintf(job->done_error, sizeof(job->done_error), "%s", ev->error);
    if (ev->rc == 0 && job->text.failed) {
        /* Part of the answer was lost (gmd_api_event): a failure, whose
         * audit record holds no output rather than a cut one. */
        job->done_rc = -1;
        snprintf(job->done_error, sizeof(job->done_error),
                 "out of memory: the answer could not be kept");
    }
    job->http_status = c == NULL ? 499 : job->done_rc < 0 ? 500 : job->timed_out ? 504 : 200;
    au_event ae;
    char digest[80];
    job_event(job, AU_EV_RESPONSE, &ae, digest, sizeof(digest));
    ae.http_status = job->http_status;
    ae.prompt_tokens = ev->result.n_prompt_tokens;
    ae.completion_tokens = ev->result.n_generated_tokens;
    ae.latency_us = (int64_t)((ev->t - job->t_start) * 1e6);
    ae.output = job->text.data && !job->text.failed ? job->text.data : "";
    ae.output_len = job->text.failed ? 0 : job->text.len;
    ae.detail = job->done_rc < 0 ? job->done_error
                : c == NULL ? "client went away"
                            : finish_name(ev->result.finish);
    /* c->job stays set until the event is durable: a disconnect meanwhile
     * clears job->conn and the continuation sees it. */
    gmd_guard_record(&srv->guard, &ae, response_recorded, job);
}

/* The "request" event is durable (status 0) or failed: start or refuse. */
static void request_recorded(void *arg, int status, const char *msg)
{
    gmd_job *job = arg;
    gmd_model *m = job->model;
    gmd_server *srv = m->srv;
    gmd_conn *c = job->conn;
    /* Why it does not run: the error it is answered, or that its client
     * went away (499, nothing to answer). */
    enum { RUNS, CLIENT_GONE, REFUSED } outcome = REFUSED;
    gmd_api_err why = GMD_ERR_INTERNAL;
    if (c == NULL)
        outcome = CLIENT_GONE;
    else if (status < 0)
        why = GMD_ERR_AUDIT_UNAVAILABLE;
    else if (m->state != GMD_MODEL_READY)
        why = GMD_ERR_MODEL_NOT_LOADED;
    else if (srv->draining)
        why = GMD_ERR_SHUTTING_DOWN;
    else if (gmd_model_submit(m, job) < 0)
        why = GMD_ERR_QUEUE_FULL;
    else
        outcome = RUNS;
    if (outcome == RUNS) {
        if (job->stream) {
            gmd_conn_stream_begin(c, "text/event-stream");
            if (job->kind == GMD_JOB_CHAT)
                send_chunk(c, job, NULL, 0, NULL, NULL, NULL);
        }
        return;
    }
    gmd_guard_release(&srv->guard, &job->gd, 0);
    if (c != NULL)
        gmd_api_conn_of(c)->job = NULL;
    if (status == 0) {
        /* Admitted and recorded, then not run: record how it ended. */
        au_event ae;
        char digest[80];
        job_event(job, AU_EV_RESPONSE, &ae, digest, sizeof(digest));
        ae.http_status = outcome == CLIENT_GONE ? 499 : gmd_api_err_status(why);
        ae.detail = outcome == CLIENT_GONE ? "client went away" : gmd_api_err_code(why);
        gmd_guard_record(&srv->guard, &ae, NULL, NULL);
    }
    if (outcome == CLIENT_GONE) {
        /* nothing to answer */
    } else if (why == GMD_ERR_AUDIT_UNAVAILABLE) {
        cm_log(CM_LOG_ERR, "api", "%s: refused, audit failed: %s", job->id, msg);
        refuse_unaudited(srv, c);
    } else if (why == GMD_ERR_MODEL_NOT_LOADED) {
        char emsg[300];
        snprintf(emsg, sizeof(emsg), "model '%s' is not loaded (state: %s)", m->cfg.name,
                 gmd_model_state_name(m->state));
        gmd_api_send_error(c, GMD_ERR_MODEL_NOT_LOADED, "model", emsg);
    } else {
        if (why == GMD_ERR_QUEUE_FULL)
            srv->metrics.rejected_queue_full++;
        gmd_api_send_error(c, why, NULL, NULL); /* the table's message */
    }
    job_free(job);
}

/* What the prompt was, as the audit log keeps it (HMAC): the completion
 * prompt, or each chat message as "role: content\n". */
static void prompt_text(const gmd_infer_params *p, gmd_buf *b)
{
    if (p->prompt) {
        gmd_buf_str(b, p->prompt);
        return;
    }
    for (size_t i = 0; i < p->n_messages; i++)
        gmd_buf_printf(b, "%s: %s\n", p->messages[i].role ? p->messages[i].role : "",
                       p->messages[i].content ? p->messages[i].content : "");
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
    gmd_buf_add(&job->text, ev->text, ev->len); /* the whole answer, for the audit HMAC */
    if (job->text.failed) {
        /* The answer can no longer be kept whole: stop generating; its
         * end records a failure, never the shorter text (job_done). */
        if (!atomic_exchange(&job->cancel, 1))
            cm_log(CM_LOG_ERR, "api", "%s: out of memory keeping the answer: cancelled",
                   job->id);
        return;
    }
    if (job->stream && !tools_active(job))
        send_chunk(c, job, ev->text, ev->len, NULL, NULL, take_logprobs(job));
    else if (job->stream && call_constrained(job))
        stream_call(c, job, false);
    else if (job->stream)
        stream_before_calls(c, job);
}

/* 503 for a model that cannot run requests now, or a draining server. */
static void refuse_unavailable(gmd_conn *c, gmd_model *m)
{
    if (m->state == GMD_MODEL_READY) {
        gmd_api_send_error(c, GMD_ERR_SHUTTING_DOWN, NULL,
                       "the server is shutting down");
        return;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "model '%s' is not loaded (state: %s)", m->cfg.name,
             gmd_model_state_name(m->state));
    gmd_api_send_error(c, GMD_ERR_MODEL_NOT_LOADED, "model", msg);
}

/* Thread pool: the prompt as the model will read it. The model cannot be
 * unloaded meanwhile (gmd_model_prep_begin). */
static void prep_work(uv_work_t *w)
{
    gmd_job *job = w->data;
    gmd_infer_params *p = &job->params;
    job->n_ctx = gmd_infer_context(job->model->im);
    job->prep_rc = gmd_infer_tokenize(job->model->im, p, &p->prompt_ids, &p->n_prompt_ids,
                                      &job->prep_err);
}

/* A request that could never run: its prompt and max_tokens need more KV
 * cache than the model's whole kv_budget_mb (it would wait for ever, or
 * fail in the scheduler). Answers 400 and returns true. m->im is still
 * loaded (gmd_model_prep_begin holds it). */
static bool refuse_over_kv_budget(gmd_conn *c, gmd_job *job)
{
    gmd_model *m = job->model;
    if (m->im == NULL)
        return false;
    uint64_t need = gmd_infer_kv_need(m->im, job->params.n_prompt_ids, job->params.max_tokens);
    uint64_t budget = (uint64_t)m->cfg.kv_budget_mb << 20;
    if (need <= budget)
        return false;
    char msg[512];
    snprintf(msg, sizeof(msg), "this request (%zu prompt tokens + max_tokens %u) may need "
             "%llu MiB of KV cache, more than model '%s' ever holds: its kv_budget_mb is %u; "
             "lower max_tokens or shorten the prompt", job->params.n_prompt_ids,
             job->params.max_tokens, (unsigned long long)((need + (1u << 20) - 1) >> 20),
             m->cfg.name, m->cfg.kv_budget_mb);
    gmd_api_send_error(c, GMD_ERR_KV_BUDGET, "max_tokens", msg);
    return true;
}

/* Loop: the prompt is tokenized; now the policy decides, knowing its
 * length, and the "request" event is recorded. */
static void prep_decide(gmd_job *job, int status)
{
    gmd_model *m = job->model;
    gmd_server *srv = m->srv;
    gmd_conn *c = job->conn;
    if (c == NULL) { /* the client went away; nothing was decided */
        job_free(job);
        return;
    }
    gmd_api_conn_of(c)->job = NULL;
    if (status < 0 || job->prep_rc < 0) {
        char msg[CM_ERR_MAX + 64];
        snprintf(msg, sizeof(msg), "cannot tokenize the prompt: %s",
                 status < 0 ? uv_strerror(status) : job->prep_err.msg);
        job_free(job);
        gmd_api_send_error(c, GMD_ERR_ENGINE, NULL, msg);
        return;
    }
    size_t n = job->params.n_prompt_ids;
    if (n >= job->n_ctx) {
        char msg[300];
        snprintf(msg, sizeof(msg), "This model's maximum context length is %u tokens. However, "
                 "your %s resulted in %zu tokens.", job->n_ctx,
                 job->kind == GMD_JOB_CHAT ? "messages" : "prompt", n);
        const char *param = job->kind == GMD_JOB_CHAT ? "messages" : "prompt";
        job_free(job);
        gmd_api_send_error(c, GMD_ERR_CONTEXT_LENGTH, param, msg);
        return;
    }
    if (!gmd_api_guard_keep(c, GMD_ACT_INFER, m->cfg.name, (uint32_t)n, job->params.max_tokens,
                            &job->gd)) {
        job_free(job);
        return;
    }
    /* max_tokens not given (0): the guard applied the role's limit, and
     * the model's own limit caps the rest. */
    if (job->params.max_tokens == 0)
        job->params.max_tokens = job->gd.pd.max_tokens != 0 &&
                                         job->gd.pd.max_tokens < m->cfg.max_tokens
                                     ? job->gd.pd.max_tokens
                                     : m->cfg.max_tokens;
    job->identity = c->id;
    if (m->state != GMD_MODEL_READY || srv->draining) {
        gmd_guard_release(&srv->guard, &job->gd, 0);
        job_free(job);
        refuse_unavailable(c, m);
        return;
    }
    if (refuse_over_kv_budget(c, job)) {
        gmd_guard_release(&srv->guard, &job->gd, 0);
        job_free(job);
        return;
    }
    /* Inference starts once the "request" event is durable
     * (request_recorded); a disconnect meanwhile clears job->conn. */
    gmd_api_conn_of(c)->job = job;
    au_event ae;
    char digest[80];
    job_event(job, AU_EV_REQUEST, &ae, digest, sizeof(digest));
    gmd_buf prompt;
    gmd_buf_init(&prompt);
    prompt_text(&job->params, &prompt);
    if (prompt.failed) {
        /* The audit log would hash a cut prompt: refuse instead. */
        gmd_buf_free(&prompt);
        gmd_guard_release(&srv->guard, &job->gd, 0);
        gmd_api_conn_of(c)->job = NULL;
        cm_log(CM_LOG_ERR, "api", "%s: out of memory copying the prompt for the audit log: "
               "refused", job->id);
        job_free(job);
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL,
                       "out of memory: the request cannot be recorded, so it is refused");
        return;
    }
    ae.prompt = prompt.data ? prompt.data : "";
    ae.prompt_len = prompt.len;
    ae.prompt_tokens = (int64_t)n;
    /* constrained output: the kind and the schema's SHA-256 in the row */
    char detail[160];
    if (job->params.format_kind) {
        snprintf(detail, sizeof(detail), "%sconstrained=%s%s%s", job->stream ? "stream; " : "",
                 job->params.format_kind, job->params.schema_sha256[0] ? " schema_sha256=" : "",
                 job->params.schema_sha256);
        ae.detail = detail;
    } else {
        ae.detail = job->stream ? "stream" : NULL;
    }
    gmd_guard_record(&srv->guard, &ae, request_recorded, job);
    gmd_buf_free(&prompt);
}

static void prep_done(uv_work_t *w, int status)
{
    gmd_job *job = w->data;
    gmd_model *m = job->model;
    prep_decide(job, status); /* may read m->im: the model stays loaded until... */
    gmd_model_prep_end(m);    /* ...here, which may start an unload */
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
        gmd_api_send_error(c, GMD_ERR_OUT_OF_MEMORY, NULL, "out of memory");
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
        job_free(job);
        gmd_api_send_error_status(c, aerr.status, aerr.code,
                       aerr.param[0] ? aerr.param : NULL, aerr.message);
        return;
    }
    gmd_model *m = gmd_server_find_model(srv, model);
    if (m == NULL) {
        job_free(job);
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist", model);
        gmd_api_send_error(c, GMD_ERR_MODEL_NOT_FOUND, "model", msg);
        return;
    }
    /* max_tokens not given (0): the guard applies the role's limit, and
     * the model's own limit caps the rest (prep_done). */
    if (job->params.max_tokens > m->cfg.max_tokens) {
        job_free(job);
        char msg[200];
        snprintf(msg, sizeof(msg), "max_tokens is too large: this model allows at most %u",
                 m->cfg.max_tokens);
        gmd_api_send_error(c, GMD_ERR_INVALID_VALUE, "max_tokens", msg);
        return;
    }
    if (m->state != GMD_MODEL_READY || srv->draining) {
        /* No vocabulary to count the prompt with: the policy decides
         * without its length, then the request is refused anyway. */
        if (gmd_api_guard_keep(c, GMD_ACT_INFER, m->cfg.name, 0, job->params.max_tokens,
                               &job->gd)) {
            gmd_guard_release(&srv->guard, &job->gd, 0);
            refuse_unavailable(c, m);
        }
        job_free(job);
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
    gmd_api_route_name(c, job->route, sizeof(job->route));
    /* The prompt is tokenized in the thread pool (a long prompt takes the
     * tokenizer a while), then prep_done decides. */
    gmd_api_conn_of(c)->job = job;
    job->prep.data = job;
    gmd_model_prep_begin(m);
    int qrc = uv_queue_work(srv->loop, &job->prep, prep_work, prep_done);
    if (qrc < 0) {
        gmd_model_prep_end(m);
        gmd_api_conn_of(c)->job = NULL;
        job_free(job);
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot tokenize the prompt: %s", uv_strerror(qrc));
        gmd_api_send_error(c, GMD_ERR_SERVER_BUSY, NULL, msg);
    }
}
