/*
 * fuzz/fuzz_audit_msg.c -- the audit signer's request parser
 * (audit/msg.c) on arbitrary bytes: what the network-facing gemmad
 * process sends is untrusted input to the signer. A parsed APPEND is
 * re-encoded and parsed again, and must come back the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    au_request rq;
    cm_err err;
    if (au_msg_parse_request(data, size, &rq, &err) != 0)
        return 0;
    if (rq.type == AU_MSG_APPEND) {
        au_frame f;
        if (au_msg_encode_append(&f, rq.id, rq.flags, &rq.ev, &err) == 0) {
            au_request again;
            if (au_msg_parse_request(f.p + 4, f.len - 4, &again, &err) != 0)
                abort();
            if (again.ev.prompt_len != rq.ev.prompt_len ||
                (rq.ev.prompt_len &&
                 memcmp(again.ev.prompt, rq.ev.prompt, rq.ev.prompt_len) != 0) ||
                strcmp(again.ev.type, rq.ev.type) != 0 ||
                (again.ev.identity == NULL) != (rq.ev.identity == NULL))
                abort();
            au_msg_request_free(&again);
            au_frame_free(&f);
        }
    }
    au_msg_request_free(&rq);
    return 0;
}
