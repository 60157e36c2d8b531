/*
 * fuzz/fuzz_audit_query.c -- libFuzzer target for the query string of
 * gemmad's audit routes (daemon/audit_query.c): arbitrary bytes, cut at
 * the first NUL as the HTTP parser would hand them over, parsed for both
 * routes; an accepted query must hold what the parser promises (a limit
 * in range, NUL-terminated filters) and become a filter.
 *
 * Seeds: query strings such as "since=0&principal=CN%3Dalice&tail=1".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/audit_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    static gmd_audit_query q;
    for (int r = 0; r < 2; r++) {
        cm_err err;
        if (gmd_audit_query_parse(s, r ? GMD_AUDIT_Q_EXPORT : GMD_AUDIT_Q_READ, &q, &err) < 0)
            continue;
        if (q.limit < 1 || q.limit > GMD_AUDIT_LIMIT_MAX ||
            memchr(q.principal, 0, sizeof(q.principal)) == NULL ||
            memchr(q.decision, 0, sizeof(q.decision)) == NULL ||
            (q.has_upto && q.has_after && q.upto < q.after))
            abort();
        au_filter f;
        gmd_audit_query_filter(&q, &f);
        if (f.limit != q.limit)
            abort();
    }
    free(s);
    return 0;
}
