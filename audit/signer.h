/*
 * audit/signer.h -- the audit signer: the process that alone holds the
 * audit signing key and the HMAC key. It opens the audit log (audit.h:
 * database, keys, writer thread), answers HELLO on its socket, then
 * serves the requests of msg.h from the network-facing process until that
 * process closes its end; then it writes a final checkpoint and returns.
 *
 * What it accepts is narrow on purpose: append an event, write a
 * checkpoint, rotate into a new archive beside the log (a bare file name),
 * report counters. Nothing reads, changes or removes a row; a malformed
 * request ends the service (the other side is then refused further
 * appends, so a fail-closed gemmad answers 503).
 */
#ifndef AU_SIGNER_H
#define AU_SIGNER_H

#include "audit/audit.h"

/* Serves `fd` (a connected stream socket); returns 0 after an orderly end
 * (the client closed), 1 when the log could not be opened or a request
 * was malformed. Blocking; run in the signer process. */
int au_signer_serve(int fd, const au_config *cfg);

/* The signer process's own protection: not dumpable (no ptrace, no
 * /proc/PID/mem for processes of the same user), and deaf to the signals
 * a terminal or service manager sends the whole group (SIGINT, SIGTERM,
 * SIGHUP): it ends when gemmad closes the socket, after gemmad recorded
 * its last event. */
void au_signer_harden(void);

#endif
