#!/bin/sh
# tests/integration/daemon_policy.sh -- gemmad with a role policy bound to
# client certificates (security.policy) and the hash-chained audit log
# (security.audit_db): each route is allowed or denied (403, 400) by role,
# per-role token limits hold, a broken policy on SIGHUP keeps the old one,
# a good one takes effect, and requests and denials land in the audit log.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

write_policy() { # EXTRA_PERMISSION_FOR_CLIENT
    cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  admin: {permissions: [admin]}
  client:
    permissions: [{infer: [tiny]}, models.list, status.read$1]
    limits: {max_tokens: 50}
rules:
  - {name: ops, match: {ou: ops}, role: admin}
  - {name: alice, match: {ou: apps, cn: alice}, role: client}
EOF
}
write_policy ""
# The CRL that revokes nothing: "revoked" is then a valid certificate that
# no rule matches.
GD_CRL="$GD_PKI/crl-empty.pem" gd_config "security:
  policy: $GD_TMP/policy.yaml
  audit_db: $GD_TMP/audit.db
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 512"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }
as() { who=$1; p=$2; shift 2; gd_curl_as "$who" -o /dev/null -w '%{http_code}' "$@" "https://localhost:$GD_PORT$p"; }
chat='{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}'

check "client role: GET /v1/models allowed" has "$(as client /v1/models)" 200
check "client role: chat on its model allowed" has "$(as client /v1/chat/completions -d "$chat")" 200
check "client role: max_tokens over the role's limit is 400" has "$(as client /v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":80}')" 400
check "client role: /metrics is 403" has "$(as client /metrics)" 403
body=$(gd_curl_as client "https://localhost:$GD_PORT/admin/v1/models/unload" -d '{"model":"tiny"}')
check "client role: unloading a model is denied (permission_error)" has "$body" '"type":"permission_error"'
check "admin role: /metrics allowed" has "$(as admin /metrics)" 200
check "admin role: status allowed" has "$(as admin /admin/v1/status)" 200
check "no matching rule: 403 even with a valid certificate" has "$(as revoked /v1/models)" 403
check "no matching rule: the error says why" has "$(gd_curl_as revoked "https://localhost:$GD_PORT/v1/models")" 'no_matching_rule'

# SIGHUP with a broken policy: the old one stays in force.
printf 'roles: [\n' > "$GD_TMP/policy.yaml"
kill -HUP "$GD_PID"
gd_wait_log 'reload failed' 10; ok $? "a broken policy is refused on SIGHUP"
check "... and the old policy still serves the client" has "$(as client /v1/models)" 200
out=$("$GEMMAD" --check-config "$GD_CONF" 2>&1); rc=$?
[ $rc -eq 1 ] && has "$out" 'security.policy: '"$GD_TMP"'/policy.yaml:'
ok $? "--check-config refuses the broken policy, naming file and line"
write_policy ", metrics.read"
kill -HUP "$GD_PID"
gd_wait_log 'certificates and CRLs reloaded' 10
check "a good policy takes effect on SIGHUP (client may read /metrics)" has "$(as client /metrics)" 200

gd_stop TERM; ok $? "gemmad stops cleanly (audit log closed)"
if command -v sqlite3 >/dev/null 2>&1; then
    q() { sqlite3 "$GD_TMP/audit.db" "$1"; }
    [ "$(q "SELECT count(*) FROM events WHERE event='request' AND action='infer'")" -ge 1 ]
    ok $? "audit: the inference request was recorded"
    [ "$(q "SELECT count(*) FROM events WHERE event='response' AND role='client' AND completion_tokens>0 AND http_status=200")" -ge 1 ]
    ok $? "audit: its response, with role and token counts"
    [ "$(q "SELECT count(*) FROM events WHERE event='denied' AND subject_dn LIKE '%CN=revoked%'")" -ge 1 ]
    ok $? "audit: the denial of the unmatched client"
else
    tap_skip "sqlite3 is not installed (audit rows)"
    tap_skip "sqlite3 is not installed (audit rows)"
    tap_skip "sqlite3 is not installed (audit rows)"
fi
tap_done
