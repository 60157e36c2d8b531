#!/bin/sh
# tests/integration/daemon_privsep.sh -- gemmad's privilege separation
# (daemon/privsep.h, gemmad(8) PROCESSES): with an audit log, the audit
# keys live in a separate signer process; the network-facing process
# cannot open the key files (it tries at start, confined by Landlock, and
# logs the refusal), holds no descriptor to them, runs with no_new_privs,
# still serves, reads, verifies (pinned to the public key) and rotates the
# audit log through the signer; the signer ignores the signals a group
# gets; when the signer dies, requests are refused
# with 503 (fail-closed) while /healthz answers; the log written through
# the signer verifies. With security.privsep: false none of this holds:
# no signer, and the start log says the keys are in this process.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }
code() { p=$1; shift; gd_curl_as client -o /dev/null -w '%{http_code}' "$@" "https://localhost:$GD_PORT$p"; }
chat='{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":2}'

"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
A="$GD_TMP/audit"
mkdir -p "$A"
DB="$A/audit.db"
conf() { # EXTRA_SECURITY_YAML
    gd_config "security:
  audit_db: $DB
$1
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 256"
}

# ---- privsep on (the default) ----
conf ""
gd_start || { echo "Bail out! gemmad did not start"; sed 's/^/# /' "$GD_LOG"; exit 1; }
gd_wait_log 'models: model tiny' 30 >/dev/null 2>&1 || sleep 1

signer=$(sed -n 's/.*audit signer started (pid \([0-9]*\)).*/\1/p' "$GD_LOG")
[ -n "$signer" ] && tr '\0' ' ' < "/proc/$signer/cmdline" | grep -q -- '--audit-signer'
ok $? "a separate audit signer process runs (pid ${signer:-none})"
[ "$(cut -d' ' -f4 "/proc/$signer/stat" 2>/dev/null)" = "$GD_PID" ]
ok $? "... a child of the network-facing process"

if grep -q 'offers no Landlock' "$GD_LOG"; then
    for t in 1 2 3 4; do tap_skip "this kernel has no Landlock: the network process is not confined"; done
else
    grep -q "the network process cannot open the audit signing key $A/audit-signing.key: Permission denied" "$GD_LOG"
    ok $? "the network process cannot open the audit signing key (EACCES at start)"
    grep -q "the network process cannot open the audit HMAC key $A/audit-hmac.key: Permission denied" "$GD_LOG"
    ok $? "the network process cannot open the audit HMAC key (EACCES at start)"
    grep -q "the network process cannot open the audit database $DB for writing: Permission denied" "$GD_LOG"
    ok $? "the network process cannot open the audit database for writing"
    ! grep -q 'network process CAN open' "$GD_LOG"; ok $? "no key file is within the network process's reach"
fi
[ -s "$A/audit-signing.key" ] && [ -s "$A/audit-hmac.key" ]; ok $? "the signer created the keys"
! ls -l "/proc/$GD_PID/fd" 2>/dev/null | grep -q 'audit-.*\.key'
ok $? "the network process holds no descriptor to a key file"
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$GD_PID/status"; ok $? "the network process runs with no_new_privs"
if [ "$(id -u)" -ne 0 ]; then
    ! cat "/proc/$signer/environ" >/dev/null 2>&1
    ok $? "the signer is not dumpable (its /proc/PID/environ is unreadable to its own user)"
else
    tap_skip "root reads any process's /proc/PID/environ: the dumpable check needs a user"
fi

check "a chat is served (its events written through the signer)" has "$(code /v1/chat/completions -d "$chat")" 200
body=$(gd_get '/admin/v1/audit?limit=50')
check "the audit log is readable through gemmad (read-only under the sandbox)" has "$body" '"event":"response"'
body=$(gd_get /admin/v1/audit/verify)
check "the audit log verifies through gemmad" has "$body" '"ok":true'
check "... pinned to the signer's public key" has "$body" '"pinned":true'
body=$(gd_get /admin/v1/audit/rotate -X POST -d '{"archive":"first.archive"}')
check "a rotation runs in the signer" has "$body" '"rotated":true'
[ -s "$A/first.archive" ]; ok $? "... and the archive lies beside the log"
check "no audit failure is counted" has "$(gd_get /metrics)" 'gemmad_audit_failures_total 0'
kill -HUP "$GD_PID"
gd_wait_log 'certificates and CRLs reloaded' 10; ok $? "SIGHUP reload works under the sandbox (config, TLS files, policy read again)"

# A service manager or terminal signals the whole group: the signer stays
# until gemmad closes the socket (so daemon.stop is still recorded).
kill -TERM "$signer"; kill -INT "$signer"; kill -HUP "$signer"
sleep 0.3
kill -0 "$signer" 2>/dev/null; ok $? "the signer ignores SIGTERM, SIGINT and SIGHUP"
check "... and keeps recording (a chat is served)" has "$(code /v1/chat/completions -d "$chat")" 200

# The signer dies: fail-closed, exactly as when the database cannot be written.
kill -KILL "$signer"
gd_wait_log 'the audit signer process .* has ended' 10; ok $? "the network process notices the signer's death"
body=$(gd_curl_as client "https://localhost:$GD_PORT/v1/chat/completions" -d "$chat" -w ' %{http_code}')
has "$body" '"code":"audit_unavailable"' && has "$body" '} 503'
ok $? "without the signer a chat is refused (503 audit_unavailable)"
body=$(gd_curl_as client "https://localhost:$GD_PORT/admin/v1/models/unload" -d '{"model":"tiny"}' -w ' %{http_code}')
has "$body" '} 503'; ok $? "... and so is an admin action"
check "... while /healthz answers" has "$(code /healthz)" 200
m=$(gd_get /metrics)
check "... and the refusals are counted" has "$m" 'gemmad_audit_refused_total 2'
n=$(printf '%s\n' "$m" | sed -n 's/^gemmad_audit_failures_total //p')
[ "${n:-0}" -ge 2 ]; ok $? "... as audit failures too ($n)"
gd_stop; ok $? "gemmad stops cleanly without its signer"

# A clean start and stop: the final checkpoint is written by the signer.
gd_start || { echo "Bail out! gemmad did not restart"; exit 1; }
check "after a restart a chat is served" has "$(code /v1/chat/completions -d "$chat")" 200
gd_stop; ok $? "gemmad stops cleanly"
! pgrep -f "gemmad --audit-signer 3 $DB" >/dev/null; ok $? "the signer is gone with it"
out=$("$G" audit verify --db "$DB" 2>&1); rc=$?
[ $rc -eq 0 ] && has "$out" 'OK'; ok $? "the log written through the signer verifies offline"

# ---- privsep off: the control ----
conf "  privsep: false"
gd_start || { echo "Bail out! gemmad did not start without privsep"; exit 1; }
! grep -q 'audit signer started' "$GD_LOG" && ! grep -q 'cannot open the audit signing key' "$GD_LOG"
ok $? "security.privsep: false: no signer, no confinement"
grep -q 'security.privsep is off: the audit keys are held by this process' "$GD_LOG"
ok $? "... and the start log says the keys are in the network process"
check "... requests are still audited and served" has "$(code /v1/chat/completions -d "$chat")" 200
gd_stop; ok $? "gemmad stops cleanly"
tap_done
