/*
 * fuzz/fuzz_bundle.c -- libFuzzer target for the model.sig parser
 * (bundle/sigfile.c, bundle/statement.c): arbitrary bytes as a Sigstore
 * bundle JSON, and the same bytes as a bare in-toto statement (the DSSE
 * payload), which base64 would otherwise keep the fuzzer away from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bundle/bundle.h"
#include "bundle/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bundle_info *info = NULL;
    cm_err err;
    if (bundle_parse_sig((const char *)data, size, &info, &err) == 0)
        bundle_info_free(info);

    bundle_info *st = calloc(1, sizeof(*st));
    if (st != NULL) {
        (void)bdl_statement_parse(data, size, st, &err);
        bundle_info_free(st);
    }
    return 0;
}
