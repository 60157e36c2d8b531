/*
 * daemon/server_run.h -- start gemmad with a checked configuration and run
 * until SIGTERM/SIGINT has drained it.
 */
#ifndef GMD_SERVER_RUN_H
#define GMD_SERVER_RUN_H

#include "common/err.h"
#include "daemon/conf.h"
#include "daemon/server.h"

/* Returns 0 after an orderly stop, -1 when start-up failed. */
int gmd_server_run(const char *config_path, const gmd_config *cfg, cm_err *err);

#endif
