/*
 * audit/msg.h -- the messages between gemmad's network-facing process and
 * its audit signer process (audit/remote.h, audit/signer.h), over one
 * stream socket (a socketpair made at start).
 *
 * Every message is a frame: a 4-byte little-endian body length (1 to
 * AU_MSG_MAX), then the body. A body starts with a 1-byte type and an
 * 8-byte little-endian id; the client picks ids, the signer echoes them.
 *
 * Client -> signer (the requests; the signer parses them as untrusted):
 *   APPEND      1-byte flags (AU_APPEND_REPLY: answer once the event is
 *               durable or failed; without it nothing is answered), then
 *               the event's fields, each: 1-byte tag (AU_F_...), 4-byte
 *               little-endian length, the bytes. Integers are 8 bytes
 *               little-endian; text has no NUL byte; prompt and output are
 *               any bytes (the signer HMACs them: raw text crosses the
 *               socket, which never leaves the host). A tag appears at most
 *               once; AU_F_TYPE is required.
 *   CHECKPOINT  nothing: write a signed checkpoint now.
 *   ROTATE      the archive's bare file name (no '/', see
 *               au_msg_archive_name_ok); the archive goes beside the log.
 *   STATS       nothing: the counters (every reply carries them).
 *
 * Signer -> client (the replies): type REPLY, the request's id, then a
 * 4-byte status (0 = done, -1 = failed), the 8-byte row seq (-1 = none),
 * the counters of au_stats (appended, failed, transactions, checkpoints:
 * 8 bytes each; head_seq: 8 bytes), a 2-byte message length and the
 * message. The signer's first frame is a REPLY with id 0 (HELLO): status
 * 0 once the log is open, or -1 with the reason; then it serves requests
 * until the client closes its end.
 */
#ifndef AU_MSG_H
#define AU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/err.h"

#define AU_MSG_MAX (256u << 20) /* largest body: 256 MiB (prompt + output + fields) */
#define AU_MSG_HELLO_ID 0

typedef enum au_msg_type {
    AU_MSG_APPEND = 1,
    AU_MSG_CHECKPOINT = 2,
    AU_MSG_ROTATE = 3,
    AU_MSG_STATS = 4,
    AU_MSG_REPLY = 0x80,
} au_msg_type;

#define AU_APPEND_REPLY 0x01u

/* Field tags of APPEND. */
typedef enum au_msg_field {
    AU_F_TIME_US = 1, AU_F_TYPE, AU_F_REQUEST_ID,
    AU_F_SUBJECT_DN, AU_F_SERIAL, AU_F_FINGERPRINT, AU_F_TRANSPORT,
    AU_F_PEER_UID, AU_F_PEER_PID, AU_F_PEER_ADDR,
    AU_F_ROLE, AU_F_RULE_INDEX, AU_F_RULE_NAME, AU_F_ROUTE, AU_F_ACTION,
    AU_F_MODEL, AU_F_MODEL_DIGEST, AU_F_DECISION, AU_F_REASON,
    AU_F_HTTP_STATUS, AU_F_PROMPT_TOKENS, AU_F_COMPLETION_TOKENS, AU_F_LATENCY_US,
    AU_F_PROMPT, AU_F_OUTPUT, AU_F_DETAIL,
    AU_F_MAX_
} au_msg_field;

/* A frame being built (malloc'd; frame[0..3] is the length once done). */
typedef struct au_frame {
    unsigned char *p;
    size_t len, cap;
    bool failed; /* out of memory or too large */
} au_frame;

void au_frame_free(au_frame *f);

/* Encoders (client side); -1 only when out of memory or too large. The
 * frame is complete (length set) on success. */
int au_msg_encode_append(au_frame *f, uint64_t id, unsigned flags, const au_event *ev,
                         cm_err *err);
int au_msg_encode_simple(au_frame *f, au_msg_type type, uint64_t id, const char *archive,
                         cm_err *err);
int au_msg_encode_reply(au_frame *f, uint64_t id, int status, int64_t seq,
                        const au_stats *st, const char *msg, cm_err *err);

/* A parsed request. Strings point into `arena` (NUL-terminated);
 * ev.identity points at `identity` when the event names one. */
typedef struct au_request {
    au_msg_type type;
    uint64_t id;
    unsigned flags;          /* APPEND */
    au_event ev;             /* APPEND */
    cm_identity identity;
    const char *archive;     /* ROTATE */
    char *arena;
} au_request;

/* Parses a request body (without the length prefix). Anything malformed
 * (unknown type or tag, repeated tag, bad length, NUL in text, text longer
 * than its identity field, trailing bytes) is -1 with a reason. */
int au_msg_parse_request(const unsigned char *body, size_t len, au_request *out, cm_err *err);
void au_msg_request_free(au_request *r);

typedef struct au_reply {
    uint64_t id;
    int status;
    int64_t seq;
    au_stats stats;
    char msg[CM_ERR_MAX];
} au_reply;

int au_msg_parse_reply(const unsigned char *body, size_t len, au_reply *out, cm_err *err);

/* An archive name the signer accepts: 1 to 200 bytes of letters, digits,
 * '.', '_' and '-', not starting with '.'. */
bool au_msg_archive_name_ok(const char *name);

/* Reading frames from the socket (both ends). au_msg_read_full reads
 * exactly n bytes; au_msg_read_len a frame's length header into *len.
 * Both: 1 done, 0 the stream ended before any byte, -1 an error or a read
 * cut short (errno tells which). */
int au_msg_read_full(int fd, void *buf, size_t n);
int au_msg_read_len(int fd, uint32_t *len);

#endif
