/*
 * daemon/audit_query.h -- the query string of gemmad's audit routes
 * (api_audit.c): which rows a client asks for, parsed and checked apart
 * from the routes so that unit tests and the fuzzer reach it.
 *
 *   GET /admin/v1/audit?since=US&until=US&principal=P&role=R&model=M
 *                       &event=E&decision=D&after=SEQ&limit=N&tail=1
 *   GET /admin/v1/audit/export?after=SEQ&upto=SEQ&limit=N
 *
 * Values are percent-encoded ('+' is a space); times are UTC microseconds
 * since 1970, sequence numbers and limits decimal integers >= 0. An
 * unknown, repeated or malformed parameter is an error (the route answers
 * 400 with its message).
 */
#ifndef GMD_AUDIT_QUERY_H
#define GMD_AUDIT_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/read.h"
#include "common/err.h"

#define GMD_AUDIT_LIMIT_DEFAULT 100   /* rows per answer when no limit is given */
#define GMD_AUDIT_LIMIT_MAX 10000     /* most rows one answer may carry */
#define GMD_AUDIT_TEXT_MAX 1024       /* longest filter value (bytes, decoded) */

typedef enum gmd_audit_route {
    GMD_AUDIT_Q_READ,   /* /admin/v1/audit: filters, after, limit, tail */
    GMD_AUDIT_Q_EXPORT, /* /admin/v1/audit/export: after, upto, limit */
} gmd_audit_route;

typedef struct gmd_audit_query {
    bool has_since, has_until;
    int64_t since_us, until_us;
    /* Filters; has_x says whether it was given (it may be empty). */
    bool has_principal, has_role, has_model, has_event, has_decision;
    char principal[GMD_AUDIT_TEXT_MAX], role[GMD_AUDIT_TEXT_MAX], model[GMD_AUDIT_TEXT_MAX];
    char event[GMD_AUDIT_TEXT_MAX], decision[GMD_AUDIT_TEXT_MAX];
    bool has_after, has_upto;
    int64_t after, upto;          /* rows with after < seq (<= upto) */
    int64_t limit;                /* 1..GMD_AUDIT_LIMIT_MAX */
    bool tail;                    /* the last `limit` matching rows */
} gmd_audit_query;

/* Parse `query` (the part of the target after '?', NULL or "" = none)
 * for `route` into *out. Returns -1 with one sentence in err. */
int gmd_audit_query_parse(const char *query, gmd_audit_route route, gmd_audit_query *out,
                          cm_err *err);

/* The filter the query asks for; its strings point into `q`. */
void gmd_audit_query_filter(const gmd_audit_query *q, au_filter *f);

#endif
