#!/bin/sh
# tests/integration/daemon_audit_options.sh -- the audit log's options in
# gemmad.yaml: by default only HMACs of prompts and answers are kept;
# security.audit_raw_text keeps the text too (and says so loudly at
# start); security.audit_checkpoint_rows / _seconds set how often a signed
# checkpoint seals the chain, i.e. how many recent rows a truncation could
# remove unnoticed. Bad values are refused by --check-config with the key.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 is not installed (scripts/install-deps.sh)"

"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
U=""
chat() {
    gd_curl_as client "$U/v1/chat/completions" \
        -d "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"$1\"}],\"max_tokens\":3}"
}
# run_with DB EXTRA_SECURITY_LINES: start gemmad with an audit log.
run_with() {
    gd_config "security:
  audit_db: $1
$2
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 128"
    gd_start || { echo "Bail out! gemmad did not start"; sed 's/^/# /' "$GD_LOG"; exit 1; }
    U="https://localhost:$GD_PORT"
}

# ---- defaults: HMACs only, checkpoints every 1000 rows or 60 s ----
mkdir -p "$GD_TMP/d1" "$GD_TMP/d2"
DB1="$GD_TMP/d1/audit.db"
run_with "$DB1" ""
body=$(chat "secret-default-prompt")
case $body in *'"chat.completion"'*) ok 0 "default: a chat is answered" ;;
*) ok 1 "default: a chat is answered"; echo "# $body" ;; esac
n=$(sqlite3 -batch "$DB1" "SELECT count(*) FROM events WHERE event='request' AND action='infer' AND prompt_hmac IS NOT NULL AND prompt_text IS NULL")
[ "$n" = 1 ]; ok $? "default: the request row has the prompt's HMAC and no text ($n)"
n=$(sqlite3 -batch "$DB1" "SELECT count(*) FROM events WHERE event='response' AND output_hmac IS NOT NULL AND output_text IS NULL")
[ "$n" = 1 ]; ok $? "default: the response row has the answer's HMAC and no text ($n)"
! grep -q 'secret-default-prompt' "$DB1" "$DB1-wal" 2>/dev/null
ok $? "default: the prompt's text is nowhere in the database files"
! grep -q 'audit_raw_text is set' "$GD_LOG"; ok $? "default: no raw-text warning at start"
sleep 1.5
n=$(sqlite3 -batch "$DB1" "SELECT count(*) FROM checkpoints")
[ "$n" = 0 ]; ok $? "default: no checkpoint yet after 1.5 s and a handful of rows ($n)"
gd_stop TERM; ok $? "default: gemmad stops"

# ---- raw text, frequent checkpoints ----
DB2="$GD_TMP/d2/audit.db"
run_with "$DB2" "  audit_raw_text: true
  audit_checkpoint_rows: 4
  audit_checkpoint_seconds: 1"
grep -q 'warn guard: security.audit_raw_text is set' "$GD_LOG"
ok $? "raw text: gemmad warns at start that the log keeps text"
body=$(chat "raw-prompt-42")
n=$(sqlite3 -batch "$DB2" "SELECT count(*) FROM events WHERE event='request' AND prompt_hmac IS NOT NULL AND prompt_text LIKE '%raw-prompt-42%'")
[ "$n" = 1 ]; ok $? "raw text: the request row keeps the prompt's text beside its HMAC ($n)"
printf '%s' "$body" | python3 -c '
import json, sqlite3, sys
sent = json.load(sys.stdin)["choices"][0]["message"]["content"]
row = sqlite3.connect(sys.argv[1]).execute(
    "SELECT output_text FROM events WHERE event = ?", ("response",)).fetchone()
print("# sent %r, stored %r" % (sent, row[0]))
sys.exit(0 if sent and row[0] == sent else 1)' "$DB2"
ok $? "raw text: the response row keeps exactly the answer sent"
# A checkpoint within about a second of new rows.
n=0; i=0
while [ $i -lt 30 ]; do
    n=$(sqlite3 -batch "$DB2" "SELECT count(*) FROM checkpoints")
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.1; i=$((i + 1))
done
[ "${n:-0}" -ge 1 ]; ok $? "checkpoint_seconds 1: a signed checkpoint within 3 s ($n)"
before=$(sqlite3 -batch "$DB2" "SELECT count(*) FROM checkpoints")
for k in 1 2 3 4; do chat "burst $k" >/dev/null; done
after=$(sqlite3 -batch "$DB2" "SELECT count(*) FROM checkpoints")
[ "$after" -ge $((before + 2)) ]; ok $? "checkpoint_rows 4: 8 new rows add two checkpoints at once ($before -> $after)"
out=$("$G" audit verify --db "$DB2" 2>&1)
case $out in OK*) ok 0 "the log with raw text and frequent checkpoints verifies" ;;
*) ok 1 "the log with raw text and frequent checkpoints verifies"; echo "# $out" ;; esac
gd_stop TERM; ok $? "raw text: gemmad stops"

# ---- bad values ----
for bad in "audit_checkpoint_rows: 0" "audit_checkpoint_seconds: 0" \
           "audit_checkpoint_seconds: 86401" "audit_raw_text: maybe"; do
    gd_config "security:
  audit_db: $GD_TMP/d3.db
  $bad"
    msg=$("$GEMMAD" --check-config "$GD_CONF" 2>&1)
    rc=$?
    key=${bad%%:*}
    case $msg in *"security.$key"*) named=1 ;; *) named=0 ;; esac
    [ $rc -ne 0 ] && [ $named = 1 ]
    ok $? "--check-config refuses '$bad' naming security.$key"
    [ $rc -ne 0 ] && [ $named = 1 ] || echo "# exit $rc: $msg"
done
tap_done
