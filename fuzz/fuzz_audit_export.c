/*
 * fuzz/fuzz_audit_export.c -- libFuzzer target for the audit export
 * reader (audit/verify.c: 'gemmactl audit verify --file', which reads
 * JSON lines from wherever an auditor got them). Arbitrary bytes as an
 * export must verify or fail with a reason, never crash.
 * Seeds: the output of 'gemmactl audit export'.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit/read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    au_verify_result r;
    cm_err err;
    err.msg[0] = '\0';
    int rc = au_verify_export_stream(f, "fuzz.jsonl", NULL, &r, &err);
    fclose(f);
    if (rc < 0 && err.msg[0] == '\0')
        abort(); /* a failure must say why */
    if (rc == 0 && !r.ok && r.problem[0] == '\0')
        abort(); /* so must a failed verification */
    return 0;
}
