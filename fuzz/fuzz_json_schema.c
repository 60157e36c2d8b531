/*
 * fuzz/fuzz_json_schema.c -- libFuzzer target for the JSON schema compiler
 * and the grammar's byte matcher (engine/grammar/schema.c, step.c).
 *
 * Input: a schema (JSON text), optionally followed by a NUL byte and
 * bytes that are fed one by one to the compiled grammar's start state.
 * Any input must compile or be refused with an error, and stepping must
 * stay within the state's bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/grammar/grammar_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t schema_len = nul ? (size_t)(nul - data) : size;
    gm_grammar *g = NULL;
    cm_err err;
    char kw[32];
    if (gm_grammar_from_schema((const char *)data, schema_len, &g, kw, sizeof(kw), &err) < 0)
        return 0;
    gm_gstate *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    if (a && b) {
        gm_gstate_init(g, a);
        size_t i = nul ? schema_len + 1 : size;
        for (; i < size; i++) {
            if (!gm_gstate_step(g, a, data[i], b))
                break;
            gm_gstate *t = a;
            a = b;
            b = t;
            (void)gm_gstate_can_end(g, a);
        }
    }
    free(a);
    free(b);
    gm_grammar_free(g);
    return 0;
}
