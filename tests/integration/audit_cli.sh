#!/bin/sh
# tests/integration/audit_cli.sh -- 'gemmactl audit' on a real log: fills
# one with audit-bench (8 threads), then reads it back with tail/query and
# their filters and formats, exports it, rotates it, and shows that
# 'gemmactl audit verify' finds a flipped bit in any column, a deleted
# row, a swapped pair and a truncated tail, naming the first bad row.
. "$top_srcdir/tests/lib/tap.sh"

GEMMACTL="$top_builddir/gemmactl"
BENCH="$top_builddir/audit/audit-bench"
TAMPER="$top_builddir/audit/audit-tamper"
for p in "$GEMMACTL" "$BENCH" "$TAMPER"; do
    [ -x "$p" ] || tap_skip_all "$p not built"
done

TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/audit_cli.XXXXXX")
trap 'rm -rf "$TAP_TMP"' EXIT
DB="$TAP_TMP/log/audit.db"
mkdir "$TAP_TMP/log"
PUB="$TAP_TMP/log/audit-signing.key.pub"

check "audit-bench writes 400 events from 8 threads" "$BENCH" --db "$DB" --events 400 --threads 8
check "verify: the fresh log checks out (pinned key)" "$GEMMACTL" audit verify --db "$DB" --pubkey "$PUB"
"$GEMMACTL" audit verify --db "$DB" >"$TAP_TMP/v" 2>&1
grep -q "^OK .*400 rows (1..400)" "$TAP_TMP/v"
ok $? "verify reports 400 rows"

lines() { "$GEMMACTL" audit "$@" 2>/dev/null | wc -l | tr -d ' '; }

"$GEMMACTL" audit tail --db "$DB" -n 5 >"$TAP_TMP/tail"
[ "$(wc -l <"$TAP_TMP/tail")" -eq 6 ] && head -1 "$TAP_TMP/tail" | grep -q '^SEQ' &&
    tail -1 "$TAP_TMP/tail" | grep -q '^400 '
ok $? "tail -n 5: a header and rows 396..400, last row last"

n=$(lines query --db "$DB" --format jsonl)
[ "$n" -eq 400 ]
ok $? "query: every row ($n)"

deny=$(lines query --db "$DB" --decision deny --format jsonl)
aud=$(lines query --db "$DB" --role auditor --format jsonl)
denied=$(lines query --db "$DB" --event denied --format jsonl)
[ "$deny" -gt 0 ] && [ "$deny" -lt 400 ] && [ "$deny" -eq "$aud" ] && [ "$deny" -eq "$denied" ]
ok $? "filters --decision, --role and --event select the same $deny denied rows"

"$GEMMACTL" audit query --db "$DB" --role auditor --format csv >"$TAP_TMP/csv"
head -1 "$TAP_TMP/csv" | grep -q '^seq,time_us,event,' &&
    [ "$(tail -n +2 "$TAP_TMP/csv" | grep -c ',auditor,')" -eq "$aud" ]
ok $? "csv: a header and one line per row"

"$GEMMACTL" audit query --db "$DB" --model gemma-4-31b --format jsonl >"$TAP_TMP/m"
m=$(wc -l <"$TAP_TMP/m")
[ "$m" -gt 0 ] && [ "$(grep -c '"model":"gemma-4-31b"' "$TAP_TMP/m")" -eq "$m" ]
ok $? "query --model selects only that model ($m rows)"

p=$(lines query --db "$DB" --principal OU=operator --format jsonl)
"$GEMMACTL" audit query --db "$DB" --principal OU=operator --format jsonl | grep -vq 'OU=operator'
[ $? -ne 0 ] && [ "$p" -gt 0 ]
ok $? "query --principal matches the subject DN ($p rows)"

fp=000000000000000000000000000000000000000000000000000000000000abc1
[ "$(lines query --db "$DB" --principal $fp --format jsonl)" -gt 0 ]
ok $? "query --principal matches a fingerprint"

[ "$(lines query --db "$DB" --since 1h --format jsonl)" -eq 400 ] &&
    [ "$(lines query --db "$DB" --since 2999-01-01 --format jsonl)" -eq 0 ] &&
    [ "$(lines query --db "$DB" --until @0 --format jsonl)" -eq 0 ] &&
    [ "$(lines query --db "$DB" --since 2000-01-01T00:00:00Z --until 2999-01-01 --format jsonl)" -eq 400 ]
ok $? "query --since/--until select by time"

"$GEMMACTL" audit query --db "$DB" --since yesterday >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a malformed time is a usage error (exit 2)"

check "export writes JSON lines" "$GEMMACTL" audit export --db "$DB" --out "$TAP_TMP/export.jsonl"
check "verify --file: the export checks out offline" \
    "$GEMMACTL" audit verify --file "$TAP_TMP/export.jsonl" --pubkey "$PUB"
sed '101s/"prompt_tokens":\([0-9]\)/"prompt_tokens":9\1/' "$TAP_TMP/export.jsonl" >"$TAP_TMP/bad.jsonl"
"$GEMMACTL" audit verify --file "$TAP_TMP/bad.jsonl" >"$TAP_TMP/v" 2>&1
[ $? -eq 1 ] && grep -q "first bad row: 100$" "$TAP_TMP/v"
ok $? "verify --file: an edited export line is found (row 100)"

openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout >"$TAP_TMP/other.pub" 2>/dev/null
"$GEMMACTL" audit verify --db "$DB" --pubkey "$TAP_TMP/other.pub" >"$TAP_TMP/v" 2>&1
[ $? -eq 1 ] && grep -q "not the pinned key" "$TAP_TMP/v"
ok $? "verify --pubkey with another key fails"

# expect_bad DESCRIPTION ROW TAMPER-ARGS...: tampers a copy, verify must
# fail naming ROW as the first bad row.
expect_bad() {
    desc=$1 row=$2
    shift 2
    rm -rf "$TAP_TMP/t" && cp -r "$TAP_TMP/log" "$TAP_TMP/t"
    if ! "$TAMPER" "$TAP_TMP/t/audit.db" "$@" >"$TAP_TMP/v" 2>&1; then
        ok 1 "$desc (tampering failed)"
        sed 's/^/# /' "$TAP_TMP/v"
        return
    fi
    "$GEMMACTL" audit verify --db "$TAP_TMP/t/audit.db" --pubkey "$PUB" >"$TAP_TMP/v" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "first bad row: $row\$" "$TAP_TMP/v"; then
        ok 0 "$desc"
    else
        ok 1 "$desc"
        sed 's/^/# /' "$TAP_TMP/v"
    fi
}

cols="seq time_us event request_id subject_dn cert_serial cert_fingerprint role rule_index
rule_name transport peer_uid peer_pid peer_addr route action model model_digest decision reason
http_status prompt_tokens completion_tokens latency_us prompt_hmac output_hmac prompt_text
output_text detail hash"
for c in $cols; do
    expect_bad "a flipped bit in $c of row 200 is found" 200 flip 200 "$c" 3
done
for r in 1 400; do
    for c in time_us subject_dn prompt_hmac hash; do
        expect_bad "a flipped bit in $c of row $r is found" "$r" flip "$r" "$c" 0
    done
done
expect_bad "a deleted row is found" 100 delete 100
expect_bad "a swapped pair of rows is found" 50 swap 50 51
expect_bad "a truncated tail is found" 396 truncate 5
expect_bad "a truncated tail with its checkpoints is found (side file)" 396 truncate-all 5

check "rotate into an archive" "$GEMMACTL" audit rotate --db "$DB" --archive "$TAP_TMP/archive-1.db"
"$GEMMACTL" audit rotate --db "$DB" --archive "$TAP_TMP/archive-1.db" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "rotate refuses to overwrite an archive"
"$GEMMACTL" audit verify --db "$TAP_TMP/archive-1.db" --pubkey "$PUB" >"$TAP_TMP/v" 2>&1 &&
    grep -q "400 rows (1..400)" "$TAP_TMP/v"
ok $? "the archive verifies on its own (rows 1..400)"
"$GEMMACTL" audit tail --db "$DB" -n 1 | grep -q '^401 .*audit.rotate'
ok $? "the live log records the rotation as row 401"
check "more events after the rotation" "$BENCH" --db "$DB" --events 40 --threads 4
"$GEMMACTL" audit verify --db "$DB" --pubkey "$PUB" >"$TAP_TMP/v" 2>&1 &&
    grep -q "41 rows (401..441)" "$TAP_TMP/v"
ok $? "the live log verifies, its chain continuing from the archive"

"$GEMMACTL" audit verify --db "$TAP_TMP/nonexistent.db" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "verify of a missing database fails"
"$GEMMACTL" audit frobnicate >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "an unknown subcommand is a usage error"

tap_done
