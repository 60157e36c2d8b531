/*
 * ctl/client_parse.c -- URL, response-head, chunked-coding and SSE parsers
 * of gemmactl's HTTP client (see client_parse.h). Everything here reads
 * bytes a server sent, so every length is checked and nothing is assumed
 * to be NUL-terminated.
 */
#include "ctl/client_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- URLs ---- */

int ctl_url_parse(const char *text, ctl_url *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->port = CTL_DEFAULT_PORT;
    if (text == NULL || text[0] == '\0')
        return cm_err_set(err, "empty URL (expected https://HOST:PORT)");
    const char *p = text;
    if (strncasecmp(p, "https://", 8) != 0) {
        if (strncasecmp(p, "http://", 7) == 0)
            return cm_err_set(err, "URL '%s': gemmad speaks only TLS, use https://", text);
        return cm_err_set(err, "URL '%s' must start with https://", text);
    }
    p += 8;
    const char *host, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return cm_err_set(err, "URL '%s': '[' without a closing ']'", text);
        p = host_end + 1;
    } else {
        host = p;
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#' && *p != '@')
            p++;
        host_end = p;
        if (*p == '@')
            return cm_err_set(err, "URL '%s': user names are not supported", text);
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return cm_err_set(err, "URL '%s' names no host", text);
    if (hlen >= sizeof(out->host))
        return cm_err_set(err, "URL '%s': the host name is too long", text);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    for (size_t i = 0; i < hlen; i++) {
        unsigned char ch = (unsigned char)out->host[i];
        if (ch <= ' ' || ch >= 0x7f)
            return cm_err_set(err, "URL '%s': the host holds a character not allowed there",
                              text);
    }
    unsigned char addr[16];
    if (inet_pton(AF_INET, out->host, addr) == 1 || inet_pton(AF_INET6, out->host, addr) == 1)
        out->host_is_ip = true;
    else if (host[-1] == '[')
        return cm_err_set(err, "URL '%s': '%s' is not an IPv6 address", text, out->host);
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)*p))
            return cm_err_set(err, "URL '%s': the port must be a number", text);
        unsigned long port = 0;
        while (isdigit((unsigned char)*p)) {
            port = port * 10 + (unsigned long)(*p - '0');
            if (port > 65535)
                return cm_err_set(err, "URL '%s': the port is larger than 65535", text);
            p++;
        }
        if (port == 0)
            return cm_err_set(err, "URL '%s': port 0 cannot be connected to", text);
        out->port = (uint16_t)port;
    }
    if (*p == '/')
        p++;
    if (*p != '\0')
        return cm_err_set(err, "URL '%s': give only https://HOST:PORT (no path or query)",
                          text);
    return 0;
}

/* ---- the response head ---- */

size_t ctl_head_complete(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return i + 4;
    return 0;
}

/* Copy [b, e) trimmed of spaces and tabs into out (truncated). */
static void trim_copy(const char *b, const char *e, char *out, size_t n)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t l = (size_t)(e - b);
    if (l >= n)
        l = n - 1;
    memcpy(out, b, l);
    out[l] = '\0';
}

static bool name_is(const char *b, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(b, name, len) == 0;
}

static int head_field(ctl_head *h, const char *line, size_t len, cm_err *err)
{
    if (line[0] == ' ' || line[0] == '\t')
        return cm_err_set(err, "response header line folding is not allowed");
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return cm_err_set(err, "response header line without a name and ':'");
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch <= ' ' || ch >= 0x7f)
            return cm_err_set(err, "response header name holds a character not allowed there");
    }
    const char *v = colon + 1, *end = line + len;
    char value[256];
    trim_copy(v, end, value, sizeof(value));
    if (name_is(line, nlen, "Content-Length")) {
        if (value[0] == '\0')
            return cm_err_set(err, "empty Content-Length in the response");
        uint64_t n = 0;
        for (const char *q = value; *q; q++) {
            if (!isdigit((unsigned char)*q))
                return cm_err_set(err, "Content-Length '%.40s' is not a number", value);
            if (n > (UINT64_MAX - 9) / 10)
                return cm_err_set(err, "Content-Length '%.40s' is too large", value);
            n = n * 10 + (uint64_t)(*q - '0');
        }
        if (h->has_length && h->content_length != n)
            return cm_err_set(err, "the response has two different Content-Length values");
        h->has_length = true;
        h->content_length = n;
    } else if (name_is(line, nlen, "Transfer-Encoding")) {
        /* The last coding decides: the body is chunked only if it is. */
        const char *last = strrchr(value, ',');
        char coding[64];
        trim_copy(last ? last + 1 : value, value + strlen(value), coding, sizeof(coding));
        h->chunked = strcasecmp(coding, "chunked") == 0;
    } else if (name_is(line, nlen, "Content-Type")) {
        char *semi = strchr(value, ';');
        if (semi)
            *semi = '\0';
        trim_copy(value, value + strlen(value), h->content_type, sizeof(h->content_type));
        for (char *q = h->content_type; *q; q++)
            *q = (char)tolower((unsigned char)*q);
    } else if (name_is(line, nlen, "Retry-After")) {
        trim_copy(v, end, h->retry_after, sizeof(h->retry_after));
    }
    return 0;
}

int ctl_head_parse(const char *buf, size_t len, ctl_head *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len < 4 || ctl_head_complete(buf, len) != len)
        return cm_err_set(err, "incomplete response head");
    /* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ')
        return cm_err_set(err, "the answer is not HTTP/1.x (is this really gemmad?)");
    if (!isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
        !isdigit((unsigned char)buf[11]) || (len > 12 && buf[12] != ' ' && buf[12] != '\r'))
        return cm_err_set(err, "the response status line has no 3-digit status");
    out->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (out->status < 100 || out->status > 599)
        return cm_err_set(err, "response status %d is out of range", out->status);
    const char *p = memchr(buf, '\n', len);
    const char *end = buf + len - 2; /* the final CRLF of the blank line */
    if (p == NULL)
        return cm_err_set(err, "incomplete response head");
    p++;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl == p || nl[-1] != '\r')
            return cm_err_set(err, "response header line does not end in CRLF");
        size_t l = (size_t)(nl - 1 - p);
        if (l == 0)
            return cm_err_set(err, "empty line inside the response head");
        if (memchr(p, '\0', l) != NULL)
            return cm_err_set(err, "NUL byte in a response header");
        if (head_field(out, p, l, err) < 0)
            return -1;
        p = nl + 1;
    }
    return 0;
}

/* ---- chunked transfer coding ---- */

enum {
    CH_SIZE,    /* reading hex digits of the size */
    CH_EXT,     /* skipping a chunk extension up to the line end */
    CH_SIZE_LF, /* CR seen after the size line */
    CH_DATA,
    CH_DATA_CR, /* chunk data read, CRLF expected */
    CH_DATA_LF,
    CH_TRAILER, /* trailer lines until an empty one */
    CH_TRAILER_LF,
    CH_DONE,
};

#define CH_LINE_MAX 4096

void ctl_chunked_init(ctl_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void size_line_done(ctl_chunked *c)
{
    c->state = c->remaining == 0 ? CH_TRAILER : CH_DATA;
    c->line = 0;
}

int ctl_chunked_feed(ctl_chunked *c, const char *in, size_t len, ctl_sink_fn sink, void *arg,
                     cm_err *err)
{
    size_t i = 0;
    while (i < len && c->state != CH_DONE) {
        char ch = in[i];
        switch (c->state) {
        case CH_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (c->digits >= 15)
                    return cm_err_set(err, "chunk size has too many digits");
                c->remaining = c->remaining * 16 + (uint64_t)v;
                c->digits++;
            } else if (c->digits == 0) {
                return cm_err_set(err, "chunk size line does not start with a hex digit");
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CH_EXT;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (ch == '\n') {
                size_line_done(c);
            } else {
                return cm_err_set(err, "bad character 0x%02x in a chunk size",
                                  (unsigned)(unsigned char)ch);
            }
            i++;
            break;
        }
        case CH_EXT:
            if (++c->line > CH_LINE_MAX)
                return cm_err_set(err, "chunk extension longer than %d bytes", CH_LINE_MAX);
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n')
                size_line_done(c);
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return cm_err_set(err, "chunk size line: CR not followed by LF");
            size_line_done(c);
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->remaining)
                n = (size_t)c->remaining;
            int rc = sink ? sink(in + i, n, arg) : 0;
            i += n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            if (rc != 0)
                return rc;
            break;
        }
        case CH_DATA_CR:
            if (ch == '\r')
                c->state = CH_DATA_LF;
            else if (ch == '\n')
                ctl_chunked_init(c);
            else
                return cm_err_set(err, "chunk data not followed by CRLF");
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return cm_err_set(err, "chunk data not followed by CRLF");
            ctl_chunked_init(c);
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (ch == '\n') {
                if (c->line == 0)
                    c->state = CH_DONE;
                c->line = 0;
            } else if (++c->line > CH_LINE_MAX) {
                return cm_err_set(err, "trailer line longer than %d bytes", CH_LINE_MAX);
            }
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return cm_err_set(err, "trailer line: CR not followed by LF");
            c->state = c->line == 0 ? CH_DONE : CH_TRAILER;
            c->line = 0;
            i++;
            break;
        default:
            return cm_err_set(err, "chunked decoder in a bad state");
        }
    }
    c->done = c->state == CH_DONE;
    return 0;
}

/* ---- server-sent events ---- */

void ctl_sse_init(ctl_sse *s, ctl_sse_fn fn, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->fn = fn;
    s->arg = arg;
}

void ctl_sse_free(ctl_sse *s)
{
    free(s->line);
    free(s->data);
    s->line = s->data = NULL;
    s->line_len = s->line_cap = s->data_len = s->data_cap = 0;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* One complete line (without its end) in s->line. */
static int sse_line(ctl_sse *s, cm_err *err)
{
    const char *l = s->line ? s->line : "";
    size_t n = s->line_len;
    s->line_len = 0;
    if (n == 0) { /* blank line: dispatch */
        if (!s->has_data)
            return 0;
        size_t dl = s->data_len;
        if (dl > 0 && s->data[dl - 1] == '\n')
            dl--;
        if (grow(&s->data, &s->data_cap, dl + 1) < 0)
            return cm_err_set(err, "out of memory reading an event stream");
        s->data[dl] = '\0';
        s->has_data = false;
        s->data_len = 0;
        return s->fn ? s->fn(s->data, dl, s->arg) : 0;
    }
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4) != 0)
        return 0; /* event, id, retry and unknown fields are not used */
    const char *v = colon ? colon + 1 : l + n;
    if (v < l + n && *v == ' ')
        v++;
    size_t vl = (size_t)(l + n - v);
    if (grow(&s->data, &s->data_cap, s->data_len + vl + 2) < 0)
        return cm_err_set(err, "out of memory reading an event stream");
    memcpy(s->data + s->data_len, v, vl);
    s->data_len += vl;
    s->data[s->data_len++] = '\n';
    s->has_data = true;
    return 0;
}

int ctl_sse_feed(ctl_sse *s, const char *in, size_t len, cm_err *err)
{
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (s->skip_lf) {
            s->skip_lf = false;
            if (ch == '\n')
                continue;
        }
        if (ch == '\r' || ch == '\n') {
            s->skip_lf = ch == '\r';
            int rc = sse_line(s, err);
            if (rc != 0)
                return rc;
            continue;
        }
        if (s->line_len >= CTL_SSE_LINE_MAX)
            return cm_err_set(err, "event stream line longer than %u bytes", CTL_SSE_LINE_MAX);
        if (grow(&s->line, &s->line_cap, s->line_len + 1) < 0)
            return cm_err_set(err, "out of memory reading an event stream");
        s->line[s->line_len++] = ch;
    }
    return 0;
}
