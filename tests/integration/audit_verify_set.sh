#!/bin/sh
# tests/integration/audit_verify_set.sh -- 'gemmactl audit verify' over
# several export files (the instances of a pool): two instances' logs
# verify as a set of two instances; an instance's archive and live log
# (after a rotation) link into one chain; a missing archive between them is
# reported as missing rows; a tampered export fails the set; two logs
# signed by one key whose chains differ (a cloned instance) fail it; the
# --pubkey after each --file pins that export's key (and a wrong one
# fails); --json reports the same.
. "$top_srcdir/tests/lib/tap.sh"

GEMMACTL="$top_builddir/gemmactl"
BENCH="$top_builddir/audit/audit-bench"
for p in "$GEMMACTL" "$BENCH"; do
    [ -x "$p" ] || tap_skip_all "$p not built"
done
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/audit_verify_set.XXXXXX")
trap 'rm -rf "$TAP_TMP"' EXIT
T=$TAP_TMP
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 1500; echo; return 1; }
G() { "$GEMMACTL" "$@"; }

# Two instances, each with its own log and signing key.
mkdir "$T/a" "$T/b"
"$BENCH" --db "$T/a/audit.db" --events 50 --threads 2 >/dev/null &&
"$BENCH" --db "$T/b/audit.db" --events 30 --threads 2 >/dev/null &&
G audit export --db "$T/a/audit.db" --out "$T/a.jsonl" >/dev/null &&
G audit export --db "$T/b/audit.db" --out "$T/b.jsonl" >/dev/null
ok $? "two instances' logs, exported"

out=$(G audit verify --file "$T/a.jsonl" --file "$T/b.jsonl" 2>&1); rc=$?
check "two instances: exit 0" has "$rc" 0
check "two instances: OK set of 2 instances, 80 rows" has "$out" "OK set: 2 exports from 2 instances, 80 rows"
check "two instances: each export verified" has "$out" "OK $T/b.jsonl: 30 rows (1..30)"

out=$(G audit verify --file "$T/a.jsonl" --pubkey "$T/a/audit-signing.key.pub" \
      --file "$T/b.jsonl" --pubkey "$T/b/audit-signing.key.pub" 2>&1); rc=$?
check "each --pubkey pins the export it follows" has "$rc:$out" "0:"
check "... and says so" has "$out" "verified with the given public key"
out=$(G audit verify --file "$T/a.jsonl" --pubkey "$T/b/audit-signing.key.pub" \
      --file "$T/b.jsonl" 2>&1); rc=$?
check "another instance's key for an export fails the set" has "$rc" 1
check "... naming it" has "$out" "FAILED set: $T/a.jsonl does not verify"
G audit verify --file "$T/a.jsonl" --pubkey x --pubkey y --file "$T/b.jsonl" >/dev/null 2>&1
check "two --pubkey for one --file is a usage error" has "$?" 2

# A tampered export (one character of a row changed) fails the set.
sed '3s/"event":"[a-z]*"/"event":"tampered"/' "$T/b.jsonl" > "$T/b-bad.jsonl"
out=$(G audit verify --file "$T/a.jsonl" --file "$T/b-bad.jsonl" 2>&1); rc=$?
check "a tampered export fails the set (exit 1)" has "$rc" 1
check "... naming the export and the row" has "$out" "FAILED set: $T/b-bad.jsonl does not verify: row 2"

# Instance a rotates twice: archive 1 (rows 1..50), archive 2, live log.
G audit rotate --db "$T/a/audit.db" --archive "$T/a/arch1.db" >/dev/null &&
"$BENCH" --db "$T/a/audit.db" --events 10 --threads 1 >/dev/null &&
G audit rotate --db "$T/a/audit.db" --archive "$T/a/arch2.db" >/dev/null &&
"$BENCH" --db "$T/a/audit.db" --events 5 --threads 1 >/dev/null &&
for f in arch1 arch2 audit; do
    G audit export --db "$T/a/$f.db" --out "$T/a-$f.jsonl" >/dev/null || exit 1
done
ok $? "instance a: two rotations, three exports"
out=$(G audit verify --file "$T/a-audit.jsonl" --file "$T/a-arch1.jsonl" \
      --file "$T/a-arch2.jsonl" --file "$T/b.jsonl" 2>&1); rc=$?
check "archives and live log in any order link into one chain" has "$rc" 0
check "... reported as one instance of 3 exports with every row" has "$out" "3 exports, rows 1..67 (67 rows)"
check "... and the set counts each row once" has "$out" "OK set: 4 exports from 2 instances, 97 rows"
out=$(G audit verify --file "$T/a-arch1.jsonl" --file "$T/a-audit.jsonl" 2>&1); rc=$?
check "without the middle archive: still exit 0 (each part verifies)" has "$rc" 0
check "... but the missing rows are reported" has "$out" "rows 51..61 are in none of the exports"
check "... and counted" has "$out" "11 missing between exports"
out=$(G audit verify --file "$T/a.jsonl" --file "$T/a-arch1.jsonl" 2>&1); rc=$?
check "an earlier export and the archive of the same rows agree" has "$rc" 0

# A clone: a copy of instance a's directory (same key) that went its own
# way. Its log after the fork does not continue a's chain.
cp -r "$T/a" "$T/clone"
"$BENCH" --db "$T/a/audit.db" --events 3 --threads 1 >/dev/null &&
"$BENCH" --db "$T/clone/audit.db" --events 4 --threads 1 >/dev/null &&
G audit export --db "$T/a/audit.db" --out "$T/a-live.jsonl" >/dev/null &&
G audit export --db "$T/clone/audit.db" --out "$T/clone.jsonl" >/dev/null
out=$(G audit verify --file "$T/a-live.jsonl" --file "$T/clone.jsonl" 2>&1); rc=$?
check "two logs of one key whose chains differ fail the set" has "$rc" 1
check "... as a fork" has "$out" "are signed by the same key but their chains differ at row 70"

out=$(G audit verify --json --file "$T/a.jsonl" --file "$T/b.jsonl" 2>&1); rc=$?
check "--json: exit 0" has "$rc" 0
check "--json: ok, rows and both instances" has "$(printf '%s' "$out" | tr -d ' \n')" '"ok":true,"rows":80,'
n=$(printf '%s\n' "$out" | grep -c '"key_id"')
check "--json: each export and instance names its key" has "$n" 4
out=$(G audit verify --json --file "$T/a-live.jsonl" --file "$T/clone.jsonl" 2>&1); rc=$?
check "--json: a fork is ok false with the problem" has "$rc:$(printf '%s' "$out" | tr -d '\n')" '1:{  "ok": false'
check "--json: one file still gives the single-export answer" \
    has "$(G audit verify --json --file "$T/a.jsonl" | tr -d ' \n')" '{"ok":true,"database":'
tap_done
