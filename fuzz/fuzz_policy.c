/*
 * fuzz/fuzz_policy.c -- libFuzzer target for the policy parser
 * (policy/parse.c): arbitrary bytes as a policy file. A policy that loads
 * is also exercised: every rule is matched against a few identities, so
 * the compiled regular expressions and model patterns run too.
 * Seeds: etc/policy.yaml and tests/data/policy/policy.yaml.in.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_policy *p = NULL;
    cm_err err;
    err.msg[0] = '\0';
    if (pl_policy_load_buffer((const char *)data, size, "fuzz.yaml", &p, &err) < 0) {
        if (err.msg[0] == '\0' || p != NULL)
            abort(); /* a failure must say why, and return nothing */
        return 0;
    }
    cm_identity id;
    memset(&id, 0, sizeof(id));
    strcpy(id.subject_dn, "CN=alice,OU=admin,O=Bank");
    strcpy(id.cn, "alice");
    strcpy(id.ou, "admin");
    memset(id.fingerprint_sha256, 'a', 64);
    id.n_san_dns = 1;
    strcpy(id.san_dns[0], "api.example");
    id.n_san_uri = 1;
    strcpy(id.san_uri[0], "spiffe://bank.example/ns/prod/sa/x");
    for (int t = 0; t < 2; t++) {
        id.transport = t ? CM_TRANSPORT_UNIX : CM_TRANSPORT_TCP;
        id.has_peer_cred = t;
        for (int a = 0; a < PL_ACT_COUNT; a++) {
            pl_request rq = {.action = (pl_action)a, .model = "gemma-4-e2b",
                             .prompt_tokens = 100, .max_tokens = 100};
            pl_decision d;
            pl_decide(p, &id, &rq, &d);
        }
    }
    pl_policy_unref(p);
    return 0;
}
