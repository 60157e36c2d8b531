/*
 * fuzz/fuzz_config.c -- libFuzzer target for gemmad's configuration
 * parser (daemon/conf.c on libyaml) on arbitrary YAML: it must return 0
 * or -1 with a message, never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gmd_config *cfg = malloc(sizeof(*cfg));
    if (cfg == NULL)
        return 0;
    cm_err err;
    err.msg[0] = '\0';
    int rc = gmd_config_parse((const char *)data, size, "fuzz.yaml", cfg, &err);
    if (rc != 0 && (rc != -1 || err.msg[0] == '\0'))
        abort(); /* a failure must say why */
    if (rc == 0 && !cfg->unix_enabled && !cfg->tcp_enabled)
        abort(); /* validation let a listener-less config through */
    free(cfg);
    return 0;
}
