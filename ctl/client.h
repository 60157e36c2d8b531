/*
 * ctl/client.h -- gemmactl's HTTP/1.1 client to gemmad over mutual TLS
 * (OpenSSL 3), on the Unix socket or TCP.
 *
 * One request per connection ("Connection: close"): the client connects,
 * shakes hands presenting its certificate and verifying the daemon's
 * against the CA ("localhost" is the name checked on the Unix socket),
 * sends the request with a Content-Length body, and reads the answer
 * whole (Content-Length, chunked, or up to the close) or, for an event
 * stream, event by event through a callback.
 *
 * Commands turn failures into gemmactl's exit codes with
 * ctl_client_exit(): a connection or handshake failure is 4, anything
 * else 1; ctl_report_http() does the same for error answers (403 is 3).
 */
#ifndef CTL_CLIENT_H
#define CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "ctl/client_parse.h"
#include "ctl/settings.h"

typedef struct ssl_ctx_st ctl_ssl_ctx;

typedef enum ctl_fail {
    CTL_FAIL_NONE = 0,
    CTL_FAIL_USAGE,    /* a needed setting is missing or malformed */
    CTL_FAIL_SETUP,    /* unreadable certificate files, TLS set-up */
    CTL_FAIL_CONNECT,  /* the socket could not be reached */
    CTL_FAIL_TLS,      /* the handshake failed or the daemon refused us */
    CTL_FAIL_PROTOCOL, /* the answer was not understood, or cut short */
    CTL_FAIL_CALLBACK, /* the event callback asked to stop with an error */
} ctl_fail;

typedef struct ctl_client {
    bool is_unix;
    char path[108];             /* Unix socket */
    ctl_url url;                /* TCP */
    char where[CTL_SETTING_MAX + 16]; /* for messages: the socket path or the URL */
    ctl_ssl_ctx *ctx;
    int timeout_s;              /* connect / each read and write */
    ctl_fail fail;              /* why the last call failed */
} ctl_client;

typedef struct ctl_response {
    ctl_head head;
    char *body;   /* NUL-terminated; NULL when the body went to a callback */
    size_t len;
} ctl_response;

/* Set up from resolved settings: checks cert, key and CA are given and
 * load, parses the URL. On failure c->fail is CTL_FAIL_USAGE or _SETUP. */
int ctl_client_init(ctl_client *c, const ctl_settings *s, cm_err *err);
void ctl_client_free(ctl_client *c);

/* Send METHOD PATH with `body` (NULL: none; sent as application/json).
 * When `on_event` is given and the answer is a 2xx text/event-stream, each
 * event's data goes to it (return 0 to go on, 1 to stop reading, -1 to
 * stop with an error: the call then fails with CTL_FAIL_CALLBACK and the
 * callback's own message is kept in err only if it set one); otherwise
 * the body lands in r->body. Any HTTP status is success here. */
int ctl_client_call(ctl_client *c, const char *method, const char *path, const char *body,
                    ctl_response *r, ctl_sse_fn on_event, void *arg, cm_err *err);
void ctl_response_free(ctl_response *r);

/* Exit code for a failed call (4 for CTL_FAIL_CONNECT/TLS, 2 for USAGE,
 * else 1). */
int ctl_client_exit(const ctl_client *c);

/* ---- helpers the commands share ---- */

/* Connection flags: --socket PATH, --url URL, --cert F, --key F, --ca F
 * (also --opt=VALUE). If argv[*i] is one, store it, advance *i past its
 * value and return 1; return 0 if it is not one, -1 (message printed,
 * prefixed with `cmd`) if its value is missing. */
int ctl_conn_flag(const char *cmd, int argc, char **argv, int *i, ctl_settings *flags);

/* Help text for the connection flags. */
extern const char ctl_conn_flags_help[];

/* Resolve settings (file, environment, flags) and set up a client;
 * prints "gemmactl CMD: message" and returns the exit code on failure,
 * 0 on success. `out` (may be NULL) receives the resolved settings. */
int ctl_client_open(const char *cmd, const ctl_settings *flags, ctl_client *c,
                    ctl_settings *out);

/* Print the daemon's error answer ("gemmactl CMD: denied by policy: ...")
 * and return its exit code: 3 for 403, else 1. */
int ctl_report_http(const char *cmd, const ctl_response *r);

/* A request whose answer is JSON: sends `body` (NULL: none; not consumed),
 * and on a 2xx answer stores the parsed object in *out (the caller
 * decrefs). Prints any failure and returns the exit code (0 ok). */
int ctl_call_json(ctl_client *c, const char *cmd, const char *method, const char *path,
                  json_t *body, json_t **out);

/* The same with the body as text (NULL: none) and a timeout in seconds for
 * this call (0: the client's own, e.g. for long audit verifications). */
int ctl_call_json_text(ctl_client *c, const char *cmd, const char *method, const char *path,
                       const char *body, int timeout_s, json_t **out);

#endif
