#!/bin/sh
# tests/integration/policy_cases.sh -- runs the policy case table
# (tests/data/policy/cases.txt) through 'gemmactl policy test' against
# certificates made now with the openssl CLI (tests/data/policy/certs.txt)
# and the policy tests/data/policy/policy.yaml.in. One TAP line per case.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/policy_cases.sh"

GEMMACTL="$top_builddir/gemmactl"
DATA="$top_srcdir/tests/data/policy"
command -v openssl >/dev/null 2>&1 || tap_skip_all "openssl CLI not installed"
[ -x "$GEMMACTL" ] || tap_skip_all "gemmactl not built"

TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/policy_cases.XXXXXX")
trap 'rm -rf "$TAP_TMP"' EXIT

# Certificates: self-signed P-256, subject and SANs from certs.txt.
grep -v '^#' "$DATA/certs.txt" | while IFS='|' read -r name subj san; do
    [ -n "$name" ] || continue
    set -- -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "$subj" -keyout "$TAP_TMP/$name.key" -out "$TAP_TMP/$name.pem"
    [ -n "$san" ] && set -- "$@" -addext "subjectAltName=$san"
    openssl req "$@" >/dev/null 2>&1 || echo "cannot create certificate $name" >&2
done

fp=$(openssl x509 -in "$TAP_TMP/partner.pem" -noout -fingerprint -sha256 | sed 's/^.*=//')
sed "s/@FP_partner@/$fp/" "$DATA/policy.yaml.in" >"$TAP_TMP/policy.yaml"
check "the test policy is valid" "$GEMMACTL" policy check "$TAP_TMP/policy.yaml"

policy_cases_list "$TAP_TMP/cases"
policy_cases_gemmactl "$TAP_TMP/cases" "$TAP_TMP/policy.yaml" "$TAP_TMP" pem "$TAP_TMP/out"

# --json carries the same decision.
"$GEMMACTL" policy test "$TAP_TMP/policy.yaml" --cert "$TAP_TMP/docsvc.pem" --action infer \
    --model gemma-4-31b --json >"$TAP_TMP/json" 2>&1
grep -q '"decision":"allow"' "$TAP_TMP/json" && grep -q '"rule":"docsvc"' "$TAP_TMP/json" &&
    grep -q '"rule_index":4' "$TAP_TMP/json" && grep -q '"role":"docs"' "$TAP_TMP/json"
ok $? "policy test --json reports decision, role and rule"

# The shipped policy is valid, and so is its example mapping once the
# comment signs are removed; with it, an OU=admin certificate is admin.
check "etc/policy.yaml is valid" "$GEMMACTL" policy check "$top_srcdir/etc/policy.yaml"
sed -e '/^rules: \[\]$/d' -e 's/^#rules:/rules:/' -e '/^rules:/,$ s/^#  /  /' "$top_srcdir/etc/policy.yaml" \
    >"$TAP_TMP/shipped.yaml"
"$GEMMACTL" policy test "$TAP_TMP/shipped.yaml" --cert "$TAP_TMP/admin1.pem" \
    --action policy.reload >"$TAP_TMP/out" 2>&1 && grep -q '^role: *admin$' "$TAP_TMP/out"
ok $? "the shipped example mapping gives OU=admin the admin role"
"$GEMMACTL" policy test "$TAP_TMP/shipped.yaml" --cert "$TAP_TMP/client1.pem" \
    --action models.load --model gemma-4-e2b >"$TAP_TMP/out" 2>&1
[ $? -eq 3 ] && grep -q '^reason: *permission_denied' "$TAP_TMP/out"
ok $? "the shipped client role may not load models"

# A broken file is refused with FILE:LINE:COLUMN, exit 1.
sed 's/models.list/models.lst/' "$TAP_TMP/policy.yaml" >"$TAP_TMP/broken.yaml"
"$GEMMACTL" policy check "$TAP_TMP/broken.yaml" >"$TAP_TMP/out" 2>&1
[ $? -eq 1 ] && grep -q "broken.yaml:[0-9]*:[0-9]*: unknown permission 'models.lst'" "$TAP_TMP/out"
ok $? "policy check names the file, line and column of an error"
"$GEMMACTL" policy test "$TAP_TMP/broken.yaml" --cert "$TAP_TMP/admin1.pem" --action infer \
    >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "policy test refuses a broken file (exit 1)"
"$GEMMACTL" policy test "$TAP_TMP/policy.yaml" --cert "$TAP_TMP/admin1.pem" --action fly \
    >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "an unknown action is a usage error (exit 2)"
# policy reload talks to gemmad (tests/integration/ctl_policy_reload.sh
# runs it against the real daemon); with nobody listening it is exit 4.
env -u GEMMACTL_URL -u XDG_CONFIG_HOME HOME="$TAP_TMP" GEMMACTL_CONFIG="$TAP_TMP/none.yaml" \
    "$GEMMACTL" policy reload --socket "$TAP_TMP/nobody.sock" --cert "$TAP_TMP/admin1.pem" \
    --key "$TAP_TMP/admin1.key" --ca "$TAP_TMP/admin1.pem" >"$TAP_TMP/out" 2>&1
[ $? -eq 4 ] && grep -q "nobody.sock" "$TAP_TMP/out"
ok $? "policy reload with gemmad unreachable is exit 4, naming the socket"

tap_done
