#!/bin/sh
# tests/integration/daemon_audit.sh -- the audit trail of the real gemmad
# (security.audit_db): a scripted session writes every event type, with
# principal, role, rule, route, model digest, status, tokens, latency and
# HMACs, and the chain verifies; an admin action runs only after its
# "request" row is durable (lower seq than its outcome row) and not at all
# when its client has gone meanwhile; kill -9 during a burst of concurrent
# requests loses no response that a client received; an audit log that
# cannot be written refuses requests with 503 (fail-closed) while
# /healthz still answers, and admin actions (unload, load, reload, SIGHUP)
# are not done; with security.audit_fail_open the same failure lets
# requests and admin actions through and the start log says so.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 is not installed (scripts/install-deps.sh)"

# The full-disk checks mount a small tmpfs: unmount it on any exit, after
# gemmad (which holds files there) is gone.
AU_MNT="$GD_TMP/full"
AU_MOUNTED=0
au_cleanup() {
    if [ -n "$GD_PID" ] && kill -0 "$GD_PID" 2>/dev/null; then
        kill -KILL "$GD_PID" 2>/dev/null
        wait "$GD_PID" 2>/dev/null
    fi
    GD_PID=""
    [ "$AU_MOUNTED" = 1 ] && umount "$AU_MNT" 2>/dev/null
    gd_cleanup
}
trap au_cleanup EXIT

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }
as() { who=$1; p=$2; shift 2; gd_curl_as "$who" -o /dev/null -w '%{http_code}' "$@" "https://localhost:$GD_PORT$p"; }
# (.timeout: right after kill -9 of gemmad the audit signer may still be
# closing the database, when a new reader can get "database is locked")
q() { sqlite3 -batch -cmd '.timeout 5000' "$DB" "$1"; }
# wait_for SECONDS COMMAND... -- retry COMMAND every 0.1 s until it succeeds.
wait_for() {
    lim=$(( $1 * 10 )); shift; n=0
    until "$@" >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -ge $lim ] && return 1; sleep 0.1
    done
}
chat() { printf '{"model":"tiny","messages":[{"role":"user","content":"%s"}],"max_tokens":%s}' "$1" "$2"; }

B="$GD_TMP/bundle"; X="$GD_TMP/tampered"
mkdir -p "$B" "$X" "$GD_TMP/a1" "$GD_TMP/a2"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$B/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
cp "$B/tiny.gguf" "$X/tiny.gguf"
"$G" bundle keygen --out "$GD_TMP/trusted" >/dev/null 2>&1 &&
"$G" bundle sign "$B" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$X" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 ||
    tap_skip_all "gemmactl bundle cannot sign"
size=$(stat -c %s "$X/tiny.gguf")
printf 'Z' | dd of="$X/tiny.gguf" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null

cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  admin: {permissions: [admin]}
  client:
    permissions: [{infer: [tiny]}, models.list, status.read]
rules:
  - {name: ops, match: {ou: ops}, role: admin}
  - {name: alice, match: {ou: apps, cn: alice}, role: client}
EOF

# ---- 1. a scripted session writes every event type ----
DB="$GD_TMP/a1/audit.db"
GD_CRL="$GD_PKI/crl-empty.pem" gd_config "security:
  policy: $GD_TMP/policy.yaml
  audit_db: $DB
  bundle_keys: $GD_TMP/trusted.pub
models:
  - name: tiny
    bundle: $B
    context: 256
  - name: tampered
    bundle: $X
    context: 256"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
U="https://localhost:$GD_PORT"
body=$(gd_curl_as client "$U/v1/chat/completions" -d "$(chat Hello 4)")
check "session: a chat completion is answered" has "$body" '"object":"chat.completion"'
chat_id=$(printf '%s' "$body" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
sbody=$(gd_curl_as client -N "$U/v1/chat/completions" -d '{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"stream":true}')
check "session: a streamed chat ends with [DONE]" has "$sbody" 'data: [DONE]'
check "session: an unmatched client is denied (403)" has "$(as revoked /v1/models)" 403
check "session: admin unloads the model (202)" has "$(as admin /admin/v1/models/unload -d '{"model":"tiny"}')" 202
wait_for 15 grep -q 'model tiny unloaded' "$GD_LOG"; ok $? "session: the model is unloaded"
check "session: admin loads it again (202)" has "$(as admin /admin/v1/models/load -d '{"model":"tiny"}')" 202
wait_for 15 sh -c "[ \$(grep -c 'model tiny loaded' '$GD_LOG') -ge 2 ]"; ok $? "session: the model is loaded again"
check "session: admin reload (200)" has "$(as admin /admin/v1/reload -X POST)" 200
kill -HUP "$GD_PID"
gd_wait_log 'certificates and CRLs reloaded' 10; ok $? "session: SIGHUP reload"
# An unload waits for its "request" row; the client gives up meanwhile
# (another writer holds the database until then): the unload is not done.
mkfifo "$GD_TMP/lock"
sqlite3 -batch "$DB" < "$GD_TMP/lock" >/dev/null 2>&1 &
AU_LOCK=$!
GD_EXTRA_PIDS="$AU_LOCK"
exec 9> "$GD_TMP/lock"
printf '.timeout 5000\nBEGIN EXCLUSIVE;\n' >&9
wait_for 5 sh -c "! sqlite3 -batch '$DB' 'BEGIN IMMEDIATE; ROLLBACK;'"
code=$(gd_curl_as admin -o /dev/null -w '%{http_code}' --max-time 2 "$U/admin/v1/models/unload" -d '{"model":"tiny"}' 2>/dev/null)
check "session: an unload waiting for its audit row gets no answer in 2 s" [ "$code" = 000 ]
printf 'COMMIT;\n' >&9
exec 9>&-
wait "$AU_LOCK"
GD_EXTRA_PIDS=""
gd_wait_log 'models.unload tiny: client went away: not done' 10
ok $? "session: once the row is durable, the unload of the departed client is not done"
check "... and the model is still ready" has "$(gd_curl_as client "$U/v1/models/tiny")" '"state":"ready"'
gd_stop TERM; ok $? "session: gemmad stops cleanly"

for ev in request response denied model.load model.unload model.verify_failed \
          policy.reload config.reload daemon.start daemon.stop; do
    n=$(q "SELECT count(*) FROM events WHERE event='$ev'")
    [ "${n:-0}" -ge 1 ]; ok $? "audit: event $ev recorded ($n rows)"
done
n=$(q "SELECT count(*) FROM events WHERE event='daemon.start' AND action IS NULL AND subject_dn IS NULL AND detail LIKE 'gemmad %'")
[ "${n:-0}" -ge 1 ]; ok $? "audit: daemon.start names no principal and no action ($n rows)"
n=$(q "SELECT count(*) FROM events WHERE event='request' AND request_id='$chat_id' AND subject_dn LIKE '%CN=alice%' AND cert_serial IS NOT NULL AND length(cert_fingerprint)=64 AND role='client' AND rule_name='alice' AND transport IS NOT NULL AND route='POST /v1/chat/completions' AND action='infer' AND model='tiny' AND model_digest LIKE 'sha256:%' AND decision='allow' AND prompt_hmac IS NOT NULL")
[ "$n" = 1 ]; ok $? "audit: the request row has principal, role, rule, transport, route, model digest, decision, prompt HMAC"
n=$(q "SELECT count(*) FROM events WHERE event='response' AND request_id='$chat_id' AND http_status=200 AND prompt_tokens>0 AND completion_tokens=4 AND latency_us>0 AND output_hmac IS NOT NULL AND role='client'")
[ "$n" = 1 ]; ok $? "audit: the response row has status, token counts, latency, output HMAC"
n=$(q "SELECT count(*) FROM events WHERE event='response' AND http_status=200 AND detail IS NOT NULL AND request_id LIKE 'chatcmpl-%'")
[ "$n" -ge 2 ]; ok $? "audit: the streamed response is recorded too ($n responses)"
n=$(q "SELECT count(*) FROM events WHERE event='denied' AND subject_dn LIKE '%CN=revoked%' AND decision='deny' AND reason='no_matching_rule' AND http_status=403 AND route='GET /v1/models'")
[ "$n" -ge 1 ]; ok $? "audit: the denial has decision, reason, status and route"
n=$(q "SELECT count(*) FROM events WHERE event='model.load' AND model='tiny' AND model_digest LIKE 'sha256:%' AND http_status=200")
[ "$n" -ge 2 ]; ok $? "audit: model.load carries the bundle root digest ($n loads)"
n=$(q "SELECT count(*) FROM events WHERE event='model.verify_failed' AND model='tampered'")
[ "$n" -ge 1 ]; ok $? "audit: the tampered bundle is recorded as model.verify_failed"
n=$(q "SELECT count(*) FROM events WHERE event='request' AND action='models.unload' AND role='admin'")
[ "$n" -ge 1 ]; ok $? "audit: who asked for the unload is recorded (role admin)"
# An admin action runs only once its "request" row is durable: that row
# comes before the outcome row.
r=$(q "SELECT (SELECT min(seq) FROM events WHERE event='request' AND action='models.unload' AND route='POST /admin/v1/models/unload' AND subject_dn LIKE '%CN=admin%') < (SELECT min(seq) FROM events WHERE event='model.unload' AND model='tiny')")
[ "$r" = 1 ]; ok $? "audit: the unload's request row comes before its model.unload row"
r=$(q "SELECT (SELECT min(seq) FROM events WHERE event='request' AND action='policy.reload' AND route='POST /admin/v1/reload') < (SELECT min(seq) FROM events WHERE event='config.reload' AND detail='ok') AND (SELECT min(seq) FROM events WHERE event='request' AND route='SIGHUP') < (SELECT min(seq) FROM events WHERE event='config.reload' AND detail='SIGHUP')")
[ "$r" = 1 ]; ok $? "audit: the reloads' request rows (admin API, SIGHUP) come before their config.reload rows"
n=$(q "SELECT count(*) FROM events WHERE event='response' AND action='models.unload' AND http_status=499 AND role='admin' AND detail LIKE 'client went away%'")
[ "$n" = 1 ]; ok $? "audit: the unload not done is recorded (response, 499)"
last=$(q "SELECT event FROM events ORDER BY seq DESC LIMIT 1")
[ "$last" = daemon.stop ]; ok $? "audit: daemon.stop is the last event (got $last)"
out=$("$G" audit verify --db "$DB" 2>&1); rc=$?
[ $rc -eq 0 ]; ok $? "audit: gemmactl audit verify passes on the session's log"
[ $rc -eq 0 ] || echo "$out" | sed 's/^/# /' | head -5
n=$("$G" audit query --db "$DB" --format jsonl 2>/dev/null | grep -c '"event":"response"')
[ "$n" -ge 2 ]; ok $? "audit: gemmactl audit query shows the responses ($n)"

# ---- 2. kill -9 during a burst loses no answered response ----
DB="$GD_TMP/a2/audit.db"
gd_config "limits:
  queue_depth: 100
security:
  audit_db: $DB
models:
  - name: tiny
    path: $B/tiny.gguf
    context: 256
    workers: 2"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
U="https://localhost:$GD_PORT"
mkdir -p "$GD_TMP/burst"
pids=""
i=0
while [ $i -lt 40 ]; do
    gd_curl_as client -o "$GD_TMP/burst/$i.json" "$U/v1/chat/completions" \
        -d "$(chat "burst $i" 24)" 2>/dev/null &
    pids="$pids $!"
    i=$((i + 1))
done
GD_EXTRA_PIDS="$pids"
done_n() { grep -l '"object":"chat.completion"' "$GD_TMP"/burst/*.json 2>/dev/null | wc -l; }
wait_for 20 sh -c "[ \$(grep -l '\"object\":\"chat.completion\"' '$GD_TMP'/burst/*.json 2>/dev/null | wc -l) -ge 8 ]"
kill -KILL "$GD_PID"; wait "$GD_PID" 2>/dev/null; GD_PID=""
for p in $pids; do wait "$p" 2>/dev/null; done
GD_EXTRA_PIDS=""
complete=$(done_n)
ids=$(cat "$GD_TMP"/burst/*.json 2>/dev/null | grep -o '"id":"chatcmpl-[^"]*"' | sed 's/"id":"//; s/"$//')
missing=0
for id in $ids; do
    [ "$(q "SELECT count(*) FROM events WHERE event='response' AND request_id='$id' AND http_status=200")" = 1 ] ||
        { missing=$((missing + 1)); echo "# no response row for $id"; }
done
rows=$(q "SELECT count(*) FROM events WHERE event='response'")
tap_diag "burst: $complete of 40 clients got a complete answer before kill -9; $rows response rows"
[ "$complete" -ge 8 ] && [ "$complete" -lt 40 ]; ok $? "burst: kill -9 came midway ($complete of 40 complete)"
[ "$missing" -eq 0 ] && [ -n "$ids" ]; ok $? "burst: every answered request has its response row ($missing missing)"
"$G" audit verify --db "$DB" >/dev/null 2>&1; ok $? "burst: the log still verifies after kill -9"

# ---- 3 and 4. an audit log that cannot be written ----
# A full filesystem stops writes for root too: a small tmpfs, filled
# after gemmad started.
mkdir -p "$AU_MNT"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=2m,mode=0700 gemmad-audit-test "$AU_MNT" 2>/dev/null; then
    AU_MOUNTED=1
fi
full_run() { # FAIL_OPEN
    rm -rf "${AU_MNT:?}"/*
    DB="$AU_MNT/audit.db"
    gd_config "security:
  audit_db: $DB
  audit_fail_open: $1
models:
  - name: tiny
    path: $B/tiny.gguf
    context: 512
  - name: spare
    path: $B/tiny.gguf
    context: 256
    load: false"
    gd_start || return 1
    U="https://localhost:$GD_PORT"
    [ "$(as client /v1/chat/completions -d "$(chat before 2)")" = 200 ] || return 1
    # A long stream is under way when the disk fills: its "response"
    # event cannot be written.
    gd_curl_as client -N "$U/v1/chat/completions" -d '{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":200,"temperature":0,"stream":true}' \
        > "$GD_TMP/stream.txt" 2>/dev/null &
    AU_STREAM=$!
    GD_EXTRA_PIDS="$AU_STREAM"
    wait_for 10 sh -c "[ \$(grep -c '\"content\"' '$GD_TMP/stream.txt') -ge 3 ]"
    dd if=/dev/zero of="$AU_MNT/fill" bs=4k 2>/dev/null
    wait "$AU_STREAM"
    GD_EXTRA_PIDS=""
    return 0
}
if [ "$AU_MOUNTED" = 1 ]; then
    full_run false; ok $? "full disk: gemmad starts and answers before the disk fills"
    s=$(cat "$GD_TMP/stream.txt")
    ! grep -q 'data: \[DONE\]' "$GD_TMP/stream.txt" && has "$s" '"code":"audit_unavailable"'
    ok $? "full disk, fail-closed: a stream whose response event fails ends without [DONE], with audit_unavailable"
    code=$(as client /v1/chat/completions -d "$(chat after 2)")
    check "full disk, fail-closed: a chat is refused with 503" has "$code" 503
    body=$(gd_curl_as client "$U/v1/completions" -d '{"model":"tiny","prompt":"x","max_tokens":2}')
    check "full disk, fail-closed: the error is OpenAI-shaped (audit_unavailable)" has "$body" '"error":{"message":'
    check "... with code audit_unavailable" has "$body" '"code":"audit_unavailable"'
    check "full disk, fail-closed: /healthz still answers 200" has "$(as client /healthz)" 200
    m=$(gd_get /metrics)
    check "full disk: gemmad_audit_refused_total counts the refusals" has "$m" 'gemmad_audit_refused_total 3'
    n=$(printf '%s\n' "$m" | sed -n 's/^gemmad_audit_failures_total //p')
    [ "${n:-0}" -ge 3 ]; ok $? "full disk: gemmad_audit_failures_total counts failed writes ($n)"
    # Admin actions are fail-closed too: nothing is done without a durable
    # "request" event.
    body=$(gd_curl_as client "$U/admin/v1/models/unload" -d '{"model":"tiny"}' -w ' %{http_code}')
    has "$body" '"code":"audit_unavailable"' && has "$body" '} 503'
    ok $? "full disk, fail-closed: an unload is refused (503 audit_unavailable)"
    check "... and the model is still ready" has "$(gd_get /v1/models/tiny)" '"state":"ready"'
    body=$(gd_curl_as client "$U/admin/v1/models/load" -d '{"model":"spare"}' -w ' %{http_code}')
    has "$body" '"code":"audit_unavailable"' && has "$body" '} 503'
    ok $? "full disk, fail-closed: a load is refused (503 audit_unavailable)"
    check "... and the model is still unloaded" has "$(gd_get /v1/models/spare)" '"state":"unloaded"'
    # Rewritten in place (same file): gemmad cannot read a file created
    # after its start in a directory above its audit log (gemmad(8)).
    sed 's/^tls:$/tls:\n  min_version: "1.2"/' "$GD_CONF" > "$GD_TMP/conf.new" &&
        cat "$GD_TMP/conf.new" > "$GD_CONF"
    body=$(gd_curl_as client -X POST "$U/admin/v1/reload" -w ' %{http_code}')
    has "$body" '"code":"audit_unavailable"' && has "$body" '} 503'
    ok $? "full disk, fail-closed: a reload is refused (503 audit_unavailable)"
    kill -HUP "$GD_PID"
    gd_wait_log 'SIGHUP: reload REFUSED' 10; ok $? "full disk, fail-closed: a SIGHUP reload is refused, logged as an error"
    check "... and the running configuration stays (tls.min_version 1.3)" has "$(gd_get /admin/v1/status)" '"tls_min_version":"1.3"'
    check "full disk: gemmad_audit_refused_total counts the refused admin requests" has "$(gd_get /metrics)" 'gemmad_audit_refused_total 6'
    rm -f "$AU_MNT/fill"
    check "space again: requests are served again" has "$(as client /v1/chat/completions -d "$(chat again 2)")" 200
    gd_stop KILL

    full_run true; ok $? "fail_open: gemmad starts and answers before the disk fills"
    grep -q 'warn guard: security.audit_fail_open is set: AUDIT FAILS OPEN' "$GD_LOG"
    ok $? "fail_open: the start log warns loudly"
    grep -q 'data: \[DONE\]' "$GD_TMP/stream.txt"
    ok $? "full disk, fail_open: the stream under way ends with [DONE]"
    check "full disk, fail_open: a chat is served (200) unaudited" has "$(as client /v1/chat/completions -d "$(chat after 2)")" 200
    # The stream may have finished (and its events fit in the WAL's free
    # pages) before the disk filled: more chats, all served, until a write
    # fails for want of space.
    n=0; i=0
    while [ $i -lt 20 ]; do
        n=$(gd_get /metrics | sed -n 's/^gemmad_audit_failures_total //p')
        [ "${n:-0}" -ge 1 ] && break
        [ "$(as client /v1/chat/completions -d "$(chat more$i 2)")" = 200 ] || break
        i=$((i + 1))
    done
    [ "${n:-0}" -ge 1 ]; ok $? "full disk, fail_open: the failures are counted ($n, after $i more chats)"
    check "full disk, fail_open: an unload is done (202) unaudited" has "$(as client /admin/v1/models/unload -d '{"model":"tiny"}')" 202
    gd_wait_log 'model tiny unloaded' 15; ok $? "full disk, fail_open: the model is unloaded"
    check "full disk, fail_open: a load is done (202) unaudited" has "$(as client /admin/v1/models/load -d '{"model":"spare"}')" 202
    # Rewritten in place (same file): gemmad cannot read a file created
    # after its start in a directory above its audit log (gemmad(8)).
    sed 's/^tls:$/tls:\n  min_version: "1.2"/' "$GD_CONF" > "$GD_TMP/conf.new" &&
        cat "$GD_TMP/conf.new" > "$GD_CONF"
    check "full disk, fail_open: a reload is done (200) unaudited" has "$(as client /admin/v1/reload -X POST)" 200
    check "... and the new configuration is in force (tls.min_version 1.2)" has "$(gd_get /admin/v1/status)" '"tls_min_version":"1.2"'
    check "full disk, fail_open: nothing is refused" has "$(gd_get /metrics)" 'gemmad_audit_refused_total 0'
    gd_stop KILL
    umount "$AU_MNT" && AU_MOUNTED=0
else
    for t in $(seq 1 28); do
        tap_skip "full-disk audit checks need root to mount a tmpfs"
    done
fi
tap_done
