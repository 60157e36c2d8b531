/*
 * fuzz/fuzz_http.c -- libFuzzer target for gemmad's request parsing: the
 * HTTP/1.1 parser with its limits (daemon/http.c on llhttp) fed arbitrary
 * bytes in arbitrary pieces, and every complete request body run through
 * the OpenAI request reader (daemon/api_request.c), as the daemon does.
 *
 * The first input byte chooses the piece size, so split-point bugs (a
 * header name or a chunk size cut in two) are explored too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/api_request.h"
#include "daemon/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void free_params(gmd_infer_params *p)
{
    gmd_api_params_release(p); /* first: it reads the messages */
    for (size_t i = 0; i < p->n_messages; i++) {
        free(p->messages[i].role);
        free(p->messages[i].content);
    }
    free(p->messages);
    free(p->prompt);
    for (size_t i = 0; i < GMD_MAX_STOP; i++)
        free(p->stop[i]);
}

static void read_body(const gmd_http_parser *p)
{
    json_error_t je;
    json_t *o = json_loadb(p->body ? p->body : "", p->body_len, 0, &je);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return;
    }
    for (int chat = 0; chat < 2; chat++) {
        gmd_infer_params params;
        memset(&params, 0, sizeof(params));
        char model[128];
        bool stream, usage;
        gmd_api_error err;
        gmd_api_parse_request(o, chat, model, sizeof(model), &params, &stream, &usage, &err);
        free_params(&params);
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = 1 + data[0] % 64;
    data++;
    size--;
    gmd_http_limits lim = {1024, 16, 4096};
    gmd_http_parser p;
    if (gmd_http_parser_init(&p, &lim) < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < piece ? size - off : piece;
        size_t used = 0;
        gmd_http_result r = gmd_http_feed(&p, (const char *)data + off, n, &used);
        if (used > n)
            abort(); /* the parser must never claim more than it was given */
        off += used;
        if (r == GMD_HTTP_ERROR) {
            if (p.error_status < 400 || p.error_status > 599)
                abort();
            break;
        }
        if (r == GMD_HTTP_REQUEST) {
            char seg[64];
            if (gmd_http_percent_decode(gmd_http_url(&p), seg, sizeof(seg)) == 0 &&
                strlen(seg) >= sizeof(seg))
                abort(); /* the decoded text must fit, NUL included */
            (void)gmd_http_header_value(&p, "content-type");
            if (p.body_len > lim.max_body_bytes)
                abort();
            read_body(&p);
            gmd_http_next(&p);
        } else if (used == 0) {
            break;
        }
    }
    gmd_http_parser_free(&p);
    return 0;
}
