/*
 * audit/remote.h -- the audit log as the network-facing gemmad process
 * reaches it: the client side of the audit signer (signer.h), which alone
 * holds the keys. The calls mirror those of audit.h (append with or
 * without waiting, checkpoint, rotate, stats) and keep their contract:
 * a completion callback runs on another thread (here the client's reply
 * reader) once the event is durable (status 0, its seq) or failed (-1),
 * and fail-open turns failures into status 0 with seq -1.
 *
 * If the signer process dies, every pending and later append fails
 * (status -1, or 0/seq -1 when fail-open): a fail-closed gemmad then
 * refuses the requests it cannot record, exactly as when the database
 * cannot be written.
 *
 * Start-up is two steps so that the caller can confine itself in between
 * (daemon/privsep.c): au_remote_connect waits for the signer's HELLO on
 * the calling thread; au_remote_start starts the reply reader thread,
 * which inherits the confinement.
 */
#ifndef AU_REMOTE_H
#define AU_REMOTE_H

#include <stdbool.h>
#include <sys/types.h>

#include "audit/audit.h"

typedef struct au_remote au_remote;

/* `fd` is this end of the socketpair, `pid` the signer (reaped by
 * au_remote_close; 0 = not a child of ours). Waits up to timeout_ms for
 * HELLO; on failure (the signer could not open the log: its reason in
 * err) fd is closed and the signer reaped. */
int au_remote_connect(int fd, pid_t pid, bool fail_open, int timeout_ms, au_remote **out,
                      cm_err *err);
int au_remote_start(au_remote *r, cm_err *err);

/* done == NULL: fire and forget (failures are logged by the signer).
 * -1 when the message could not be sent (signer gone); then done is
 * never called. */
int au_remote_append_async(au_remote *r, const au_event *ev, au_done_fn done, void *user,
                           cm_err *err);
/* Blocking variants (not on an event loop thread). */
int au_remote_append(au_remote *r, const au_event *ev, int64_t *seq_out, cm_err *err);
int au_remote_checkpoint(au_remote *r, cm_err *err);
/* `archive_name`: a bare file name; the archive goes beside the log. */
int au_remote_rotate(au_remote *r, const char *archive_name, cm_err *err);
/* The signer's counters (asked, waiting at most a second), plus events
 * that never reached it; the last known counters when it does not answer. */
void au_remote_stats(au_remote *r, au_stats *out);
/* Closes this end; the signer writes its final checkpoint and exits,
 * which this waits for. NULL is a no-op. */
void au_remote_close(au_remote *r);

pid_t au_remote_pid(const au_remote *r);

#endif
