/*
 * daemon/sandbox.h -- the network-facing process confines itself with
 * Landlock (Linux 5.13+, no library: linux/landlock.h and three system
 * calls) once the audit signer has opened the log.
 *
 * What it may no longer do: open the audit signing key and the HMAC key
 * at all; write, create, remove or rename anything in the audit log's
 * directory (the database, its -wal/-shm, the checkpoint side file and the
 * public key stay readable, for the audit routes). Everything else stays
 * as it was, because the daemon keeps reading configuration, certificates,
 * CRLs, policies and models named by the operator, and the engine reads
 * /proc, /sys and devices.
 *
 * Landlock allows, it does not deny: the rules grant full access to every
 * entry of "/" except the one leading to the audit directory, then the
 * same one level down, and so on; in the audit directory the files that
 * exist at start get their own rights. So files created later in the
 * audit directory, or directly in one of its parents, are out of reach of
 * gemmad too: give the audit log a directory of its own.
 */
#ifndef GMD_SANDBOX_H
#define GMD_SANDBOX_H

#include <stdbool.h>

#include "common/err.h"

/* Confine the calling thread and the threads it starts later. `unix_path`
 * (may be "") is the listener socket, which may lie in a protected
 * directory (it may be created there). Returns 0 when confined, 1 when
 * the kernel has no Landlock (err says why; nothing changed), -1 on
 * error. */
int gmd_sandbox_audit(const char *audit_db, const char *unix_path, cm_err *err);

/* Whether `path` lies directly in the audit log's directory or in one of
 * its parents, where files created after start are out of reach. */
bool gmd_sandbox_in_protected_dir(const char *audit_db, const char *path);

/* Try to open each audit key (read) and the database (write) from this
 * process and log the outcome: one line per file, "privsep: ... cannot
 * be opened by the network process (Permission denied)" or a warning
 * that it can. Returns how many of them could be opened. */
int gmd_sandbox_probe(const char *audit_db);

#endif
