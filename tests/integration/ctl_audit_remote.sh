#!/bin/sh
# tests/integration/ctl_audit_remote.sh -- 'gemmactl audit' through the
# real gemmad over mutual TLS (GET /admin/v1/audit, /admin/v1/audit/export,
# /admin/v1/audit/verify, POST /admin/v1/audit/rotate). The log starts
# with 21000 rows (audit-bench), so reading and exporting page through
# gemmad's answers; a chat request then shows up as request and response
# rows with the caller's principal; what gemmad answers is the same,
# byte for byte, as what 'gemmactl audit --db' reads from the file; verify
# finds a row changed with sqlite3 under gemmad's feet; an export through
# gemmad verifies offline; rotation by gemmad leaves an archive that
# verifies and a live chain that continues; an auditor may read and
# verify but not rotate, a client may do none of it (exit 3), and a
# gemmad without an audit log says so.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
BENCH="$top_builddir/audit/audit-bench"
for p in "$G" "$BENCH" "$GEMMA_RUN"; do
    [ -x "$p" ] || tap_skip_all "$p is not built"
done
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 is not installed (scripts/install-deps.sh)"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
pki__issue "$GD_PKI" auditor "/O=gemmad tests/OU=audit/CN=carol" client ||
    { echo "Bail out! cannot issue the auditor certificate"; exit 1; }

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# wanted '$2' in:"; printf '%s\n' "$1" | head -8 | sed 's/^/#   /'; return 1; }
# ctl WHO ARGS... -- gemmactl with WHO's certificate over the Unix socket,
# no user configuration; stdout to $GD_TMP/out, stderr to $GD_TMP/err.
ctl() {
    who=$1; shift
    env -u GEMMACTL_URL -u XDG_CONFIG_HOME HOME="$GD_TMP" GEMMACTL_CONFIG="$GD_TMP/none.yaml" \
        GEMMACTL_SOCKET="$GD_SOCK" GEMMACTL_CERT="$GD_PKI/$who.crt" \
        GEMMACTL_KEY="$GD_PKI/$who.key" GEMMACTL_CA="$GD_PKI/ca.crt" \
        "$G" "$@" >"$GD_TMP/out" 2>"$GD_TMP/err" </dev/null
}
# exits WANT WHO ARGS... -- passes when gemmactl exits with WANT.
exits() {
    want=$1; shift
    ctl "$@"
    got=$?
    [ "$got" -eq "$want" ] && return 0
    echo "# exit $got, wanted $want; stderr:"; sed 's/^/#   /' "$GD_TMP/err" | head -5
    return 1
}
q() { sqlite3 -batch "$DB" "$1"; }

cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  admin: {permissions: [admin]}
  client:
    permissions: [{infer: [tiny]}, models.list]
  auditor:
    permissions: [audit.read, audit.verify]
rules:
  - {name: ops, match: {ou: ops}, role: admin}
  - {name: alice, match: {ou: apps, cn: alice}, role: client}
  - {name: auditors, match: {ou: audit}, role: auditor}
EOF
mkdir -p "$GD_TMP/log"
DB="$GD_TMP/log/audit.db"
PUB="$GD_TMP/log/audit-signing.key.pub"
check "audit-bench fills the log with 21000 rows" "$BENCH" --db "$DB" --events 21000 --threads 8 --async
GD_CRL="$GD_PKI/crl-empty.pem" gd_config "security:
  policy: $GD_TMP/policy.yaml
  audit_db: $DB
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 256"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
U="https://localhost:$GD_PORT"

# ---- reading ----
body=$(gd_curl_as client "$U/v1/chat/completions" \
    -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":3}')
chat_id=$(printf '%s' "$body" | sed -n 's/.*"id":"\(chatcmpl-[^"]*\)".*/\1/p')
[ -n "$chat_id" ]; ok $? "a chat completion is answered ($chat_id)"

exits 0 auditor audit query --event request --format jsonl
grep "\"request_id\":\"$chat_id\"" "$GD_TMP/out" | grep '"event":"request"' |
    grep 'CN=alice' | grep -q '"role":"client"'
ok $? "auditor: query --event request shows the chat's request row with alice's principal and role"
exits 0 auditor audit query --principal CN=alice --format jsonl
[ "$(grep -c "\"request_id\":\"$chat_id\"" "$GD_TMP/out")" -eq 2 ] &&
    grep "\"request_id\":\"$chat_id\"" "$GD_TMP/out" | grep '"event":"response"' |
    grep -q '"http_status":200'
ok $? "auditor: query --principal CN=alice shows its request and response rows (status 200)"

exits 0 auditor audit tail -n 3
[ "$(wc -l <"$GD_TMP/out")" -eq 4 ] && head -1 "$GD_TMP/out" | grep -q '^SEQ' &&
    tail -1 "$GD_TMP/out" | grep -q 'request .*CN=carol.*audit.read'
ok $? "auditor: tail -n 3 is a header and 3 rows, the last its own audit.read (recorded first)"
exits 0 auditor audit query --event response --format jsonl
tail -1 "$GD_TMP/out" | grep -q "\"request_id\":\"$chat_id\""
ok $? "auditor: the chat's response is the last response row"

# Through gemmad and from the file: the same bytes (21000+ rows: 3 pages).
ctl auditor audit query --format jsonl; rc=$?
cp "$GD_TMP/out" "$GD_TMP/remote.jsonl"
"$G" audit query --db "$DB" --format jsonl >"$GD_TMP/local.jsonl" 2>&1
n=$(wc -l <"$GD_TMP/remote.jsonl")
[ $rc -eq 0 ] && [ "$n" -gt 21000 ] && cmp -s "$GD_TMP/remote.jsonl" "$GD_TMP/local.jsonl"
ok $? "query through gemmad (paged, $n rows) equals query --db, byte for byte (jsonl)"
ctl auditor audit query --format csv --role auditor; rc=$?
"$G" audit query --db "$DB" --format csv --role auditor >"$GD_TMP/local.csv" 2>&1
[ $rc -eq 0 ] && [ "$(wc -l <"$GD_TMP/out")" -gt 1 ] && cmp -s "$GD_TMP/out" "$GD_TMP/local.csv"
ok $? "query --role auditor --format csv through gemmad equals query --db"
ctl auditor audit query --limit 10001 --since 1h --until 2999-01-01 --format jsonl; rc=$?
head -n 10001 "$GD_TMP/local.jsonl" >"$GD_TMP/first.jsonl"
[ $rc -eq 0 ] && [ "$(wc -l <"$GD_TMP/out")" -eq 10001 ] && cmp -s "$GD_TMP/first.jsonl" "$GD_TMP/out"
ok $? "query --limit 10001 with --since/--until: exactly the first 10001 rows (two pages)"
exits 0 auditor audit query --since 2999-01-01
[ "$(wc -l <"$GD_TMP/out")" -eq 1 ] && grep -q '^SEQ' "$GD_TMP/out"
ok $? "query that matches nothing prints the table header only"
exits 0 auditor audit tail -n 2 --json
grep -q '"object": "list"' "$GD_TMP/out" && [ "$(grep -c '"seq":' "$GD_TMP/out")" -eq 2 ]
ok $? "tail --json prints one JSON document with the rows"

# The query string, as gemmad reads it.
s=$(gd_curl_as auditor -o "$GD_TMP/body" -w '%{http_code}' "$U/admin/v1/audit?limit=2&tail=1")
[ "$s" = 200 ] && grep -q '"more":true' "$GD_TMP/body" &&
    [ "$(grep -o '"seq":' "$GD_TMP/body" | wc -l)" -eq 2 ]
ok $? "GET /admin/v1/audit?limit=2&tail=1: two rows and more:true (HTTP $s)"
s=$(gd_curl_as auditor -o "$GD_TMP/body" -w '%{http_code}' "$U/admin/v1/audit?event=request&principal=CN%3Dalice&limit=5")
[ "$s" = 200 ] && grep -q "\"request_id\":\"$chat_id\"" "$GD_TMP/body" &&
    ! grep -q '"event":"response"' "$GD_TMP/body"
ok $? "percent-encoded filters: principal=CN%3Dalice&event=request (HTTP $s)"
for bad in "limit=0" "limit=10001" "bogus=1" "since=yesterday" "tail=maybe" "limit=1&limit=2" "role=%zz" "upto=5"; do
    s=$(gd_curl_as auditor -o "$GD_TMP/body" -w '%{http_code}' "$U/admin/v1/audit?$bad")
    [ "$s" = 400 ] && grep -q '"code":"invalid_query"' "$GD_TMP/body"
    ok $? "GET /admin/v1/audit?$bad is 400 invalid_query (HTTP $s)"
done

# ---- who may ----
exits 3 client audit tail
has "$(cat "$GD_TMP/err")" "denied by policy: not allowed: permission_denied"; ok $? "client: audit tail is denied (exit 3)"
check "client: audit verify is denied (exit 3)" exits 3 client audit verify
check "client: audit export is denied (exit 3)" exits 3 client audit export --out "$GD_TMP/nope.jsonl"
[ ! -e "$GD_TMP/nope.jsonl" ]; ok $? "... and leaves no export file behind"
check "auditor: audit rotate is denied: admin only (exit 3)" exits 3 auditor audit rotate --archive x.db
check "admin: audit tail is allowed (admin may do everything)" exits 0 admin audit tail -n 1
n=$(q "SELECT count(*) FROM events WHERE event='denied' AND subject_dn LIKE '%CN=alice%' AND route='GET /admin/v1/audit' AND action='audit.read' AND reason='permission_denied' AND http_status=403")
[ "$n" -ge 1 ]; ok $? "the client's denied audit read is itself in the audit log ($n)"
n=$(q "SELECT count(*) FROM events WHERE event='denied' AND subject_dn LIKE '%CN=carol%' AND route='POST /admin/v1/audit/rotate' AND action='audit.rotate'")
[ "$n" -ge 1 ]; ok $? "the auditor's denied rotation is in the audit log ($n)"
check "unreachable gemmad is exit 4" exits 4 auditor audit tail --socket "$GD_TMP/nobody.sock"
check "--db with connection flags is a usage error" exits 2 auditor audit tail --db "$DB" --socket "$GD_SOCK"
check "verify --pubkey without --db or --file is a usage error" exits 2 auditor audit verify --pubkey "$PUB"
check "tail -n over 10000 through gemmad is a usage error" exits 2 auditor audit tail -n 10001
check "... but with --db it reads the file (exit 0)" exits 0 auditor audit tail -n 10001 --db "$DB"
[ "$(wc -l <"$GD_TMP/out")" -eq 10002 ]; ok $? "... a header and 10001 rows"

# ---- verify ----
exits 0 auditor audit verify
grep -q "^OK $DB (gemmad): [0-9]* rows (1\.\.[0-9]*), [0-9]* signed checkpoints verified by gemmad with its own signing key" "$GD_TMP/out"
ok $? "auditor: verify through gemmad is OK, pinned to gemmad's signing key"
exits 0 auditor audit verify --json
grep -q '"ok": true' "$GD_TMP/out" && grep -q '"pinned": true' "$GD_TMP/out" &&
    grep -q '"first_bad_seq": null' "$GD_TMP/out"
ok $? "verify --json: ok, pinned, no bad row"
# Change one row under gemmad's feet, then put it back.
orig=$(q "SELECT quote(model) FROM events WHERE seq=777")
q "UPDATE events SET model='tampered' WHERE seq=777"
exits 1 auditor audit verify
grep -q "^FAILED " "$GD_TMP/out" && grep -q "^first bad row: 777$" "$GD_TMP/out"
ok $? "a row changed with sqlite3 is found through gemmad: first bad row 777"
exits 1 auditor audit verify --json
grep -q '"ok": false' "$GD_TMP/out" && grep -q '"first_bad_seq": 777' "$GD_TMP/out"
ok $? "verify --json: ok false, first_bad_seq 777 (exit 1)"
q "UPDATE events SET model=$orig WHERE seq=777"
check "put back, the log verifies through gemmad again" exits 0 auditor audit verify

# Clients that hang up while gemmad verifies or reads in its thread pool:
# the answer has nowhere to go, and gemmad carries on.
hang=""
for i in 1 2 3 4 5 6; do
    gd_curl_as auditor -o /dev/null --max-time 0.0$i "$U/admin/v1/audit/verify" 2>/dev/null &
    hang="$hang $!"
    gd_curl_as auditor -o /dev/null --max-time 0.0$i "$U/admin/v1/audit?limit=10000" 2>/dev/null &
    hang="$hang $!"
done
GD_EXTRA_PIDS="$hang"
for p in $hang; do wait "$p"; done
GD_EXTRA_PIDS=""
kill -0 "$GD_PID" && exits 0 auditor audit verify
ok $? "clients that hang up during verify and reads leave gemmad running and answering"

# ---- export ----
exits 0 auditor audit export --out "$GD_TMP/export.jsonl"
rows=$(sed -n 's/^exported \([0-9]*\) rows to .*/\1/p' "$GD_TMP/out")
[ "${rows:-0}" -gt 21000 ] && [ "$(grep -c '"record":"event"' "$GD_TMP/export.jsonl")" -eq "$rows" ] &&
    [ "$(grep -c '"record":"checkpoint"' "$GD_TMP/export.jsonl")" -gt 0 ]
ok $? "auditor: export through gemmad writes $rows rows and the checkpoints"
check "the export through gemmad verifies offline (verify --file, pinned key)" \
    "$G" audit verify --file "$GD_TMP/export.jsonl" --pubkey "$PUB"
"$G" audit export --db "$DB" --out "$GD_TMP/local-export.jsonl" >/dev/null 2>&1
head -n $((rows + 1)) "$GD_TMP/local-export.jsonl" >"$GD_TMP/e0"
head -n $((rows + 1)) "$GD_TMP/export.jsonl" >"$GD_TMP/e1"
cmp -s "$GD_TMP/e0" "$GD_TMP/e1"
ok $? "its header and rows are those of export --db, byte for byte"
check "export refuses to overwrite a file" exits 1 auditor audit export --out "$GD_TMP/export.jsonl"

# ---- rotate ----
before=$(q "SELECT max(seq) FROM events")
exits 0 admin audit rotate --archive first.db
has "$(cat "$GD_TMP/out")" "rotated $DB into $GD_TMP/log/first.db"; ok $? "admin: rotate --archive first.db (exit 0)"
"$G" audit verify --db "$GD_TMP/log/first.db" --pubkey "$PUB" >"$GD_TMP/v" 2>&1 &&
    grep -Eq "^OK .*: [0-9]+ rows \(1\.\.[0-9]+\)" "$GD_TMP/v"
ok $? "the archive beside the log verifies on its own ($(sed -n 's/.*: \([0-9]* rows ([0-9.]*)\).*/\1/p' "$GD_TMP/v"))"
last=$(sqlite3 -batch "$GD_TMP/log/first.db" "SELECT max(seq) FROM events")
[ "$last" -gt "$before" ]; ok $? "the archive holds every row up to the rotation ($last > $before)"
n=$(q "SELECT count(*) FROM events WHERE event='audit.rotate' AND subject_dn LIKE '%CN=admin%' AND detail='archive=$GD_TMP/log/first.db' AND http_status=200")
[ "$n" = 1 ]; ok $? "the live log records the rotation: who, and the archive"
gd_curl_as client -o /dev/null "$U/v1/chat/completions" \
    -d '{"model":"tiny","messages":[{"role":"user","content":"again"}],"max_tokens":2}'
exits 0 auditor audit verify
grep -q "^OK .*: [0-9]* rows ($((last + 1))\.\.[0-9]*)" "$GD_TMP/out"
ok $? "after more requests the live log verifies, its chain continuing from the archive (from $((last + 1)))"
check "rotate refuses an archive that exists (exit 1)" exits 1 admin audit rotate --archive first.db
has "$(cat "$GD_TMP/err")" "already exists"; ok $? "... saying it already exists"
check "rotate --archive with a directory is a usage error" exits 2 admin audit rotate --archive ../x.db
check "gemmad refuses an archive name of the wrong form (exit 1)" exits 1 admin audit rotate --archive audit.db-wal
has "$(cat "$GD_TMP/err")" "invalid_archive"; ok $? "... with invalid_archive"
exits 0 admin audit rotate --json
arch=$(sed -n 's/.*"archive": "\(.*\)".*/\1/p' "$GD_TMP/out")
case "$arch" in "$GD_TMP"/log/audit.db.*Z.archive) [ -f "$arch" ] ;; *) false ;; esac
ok $? "rotate without --archive: gemmad names it beside the log ($arch)"
check "... and that archive verifies" "$G" audit verify --db "$arch" --pubkey "$PUB"
check "the live log still verifies through gemmad" exits 0 auditor audit verify

gd_stop TERM; ok $? "gemmad stops cleanly"
check "after gemmad stopped, the live log verifies offline (--db)" "$G" audit verify --db "$DB" --pubkey "$PUB"

# ---- a gemmad without an audit log ----
gd_config "security:
  policy: $GD_TMP/policy.yaml"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
check "without security.audit_db: audit tail fails (exit 1)" exits 1 auditor audit tail
has "$(cat "$GD_TMP/err")" "this gemmad keeps no audit log (security.audit_db is not set)"
ok $? "... saying gemmad keeps no audit log"
check "... and a client is still denied first (exit 3)" exits 3 client audit verify
gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
