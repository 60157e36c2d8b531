/*
 * daemon/privsep.h -- gemmad's privilege separation (docs/architecture.md,
 * gemmad(8) PROCESSES).
 *
 * With an audit log (security.audit_db) and security.privsep (the
 * default), gemmad starts as two processes before it opens any listener:
 *
 *   the audit signer  gemmad re-executed as "gemmad --audit-signer": it
 *                     alone opens the audit signing and HMAC keys and
 *                     writes the database (audit/signer.h);
 *   the network side  the first process: TLS, HTTP, policy, models. It
 *                     never opens the key files, reaches the log only
 *                     through a socketpair (audit/remote.h), and confines
 *                     itself with Landlock (daemon/sandbox.h) so that it
 *                     cannot open them, nor write the audit directory.
 *
 * Without security.privsep the audit log runs inside gemmad as before.
 */
#ifndef GMD_PRIVSEP_H
#define GMD_PRIVSEP_H

#include "audit/remote.h"
#include "common/err.h"
#include "daemon/conf.h"

/* Start the signer (logging at `log_level`) and confine this process; a
 * no-op without an audit log or with privsep off. Call before any thread
 * exists. The error is one the operator can act on
 * ("security.audit_db: ..."). */
int gmd_privsep_start(const gmd_config *cfg, const char *log_level, cm_err *err);

/* The connection to the signer, handed over once to the guard (NULL when
 * there is none or it was taken). Owned by the taker afterwards. */
au_remote *gmd_privsep_take_remote(void);

/* main() of "gemmad --audit-signer FD DB FAIL_OPEN RAW_TEXT CP_ROWS
 * CP_SECONDS LOG_LEVEL" (argv from the flag on). Exit status. */
int gmd_signer_main(int argc, char **argv);

#endif
