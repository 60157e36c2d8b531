/*
 * fuzz/fuzz_ctl_client.c -- libFuzzer target for what gemmactl reads from
 * a daemon (ctl/client_parse.c): the response head, then the body through
 * the chunked decoder into the SSE parser, fed in pieces whose sizes come
 * from the input's first byte (so split points are explored too), and
 * the same bytes as a --url value. The callbacks read every byte handed
 * to them so AddressSanitizer sees any bad pointer or length.
 *
 * Seeds: any HTTP/1.1 response, e.g. one captured with
 *   curl -sSi -N ... https://localhost:PORT/v1/chat/completions -d '{..."stream":true}'
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/client_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink_state {
    ctl_sse sse;
    uint64_t sum;
    unsigned events;
} sink_state;

static int on_event(const char *d, size_t len, void *arg)
{
    sink_state *s = arg;
    for (size_t i = 0; i < len; i++)
        s->sum += (unsigned char)d[i];
    if (d[len] != '\0')
        abort(); /* events are promised NUL-terminated */
    return ++s->events > 1000 ? 1 : 0;
}

static int to_sse(const char *d, size_t len, void *arg)
{
    sink_state *s = arg;
    cm_err err;
    return ctl_sse_feed(&s->sse, d, len, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    /* --url */
    char *url = malloc(n + 1);
    if (url == NULL)
        return 0;
    memcpy(url, in, n);
    url[n] = '\0';
    ctl_url u;
    cm_err err;
    ctl_url_parse(url, &u, &err);
    free(url);

    /* head, then body */
    size_t body = 0;
    size_t h = ctl_head_complete(in, n < CTL_HEAD_MAX ? n : CTL_HEAD_MAX);
    if (h > 0) {
        ctl_head head;
        if (ctl_head_parse(in, h, &head, &err) < 0)
            return 0;
        body = h;
    }
    sink_state s = {0};
    ctl_sse_init(&s.sse, on_event, &s);
    ctl_chunked ch;
    ctl_chunked_init(&ch);
    for (size_t off = body; off < n && !ch.done;) {
        size_t k = n - off < step ? n - off : step;
        if (ctl_chunked_feed(&ch, in + off, k, to_sse, &s, &err) != 0)
            break;
        off += k;
    }
    ctl_sse_free(&s.sse);
    /* The body as an unchunked event stream too. */
    ctl_sse_init(&s.sse, on_event, &s);
    for (size_t off = body; off < n;) {
        size_t k = n - off < step ? n - off : step;
        if (ctl_sse_feed(&s.sse, in + off, k, &err) != 0)
            break;
        off += k;
    }
    ctl_sse_free(&s.sse);
    volatile uint64_t keep = s.sum; /* keep the reads from being optimised away */
    (void)keep;
    return 0;
}
