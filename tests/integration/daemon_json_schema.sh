#!/bin/sh
# tests/integration/daemon_json_schema.sh -- structured output through
# gemmad on a random-weight synthetic model: every schema in
# tests/data/json_schema, several seeds at temperature 1, chat and text
# completions, plain and streamed; each answer that ends (finish "stop")
# must parse and validate against its schema with python3-jsonschema (and
# strict format checks), an answer cut by max_tokens must say "length".
# Also: json_object, an unsupported keyword and a oneOf whose branches
# overlap refused with 400 naming them,
# and the audit row recording the constraint and the schema's SHA-256.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

python3 -c 'import jsonschema' 2>/dev/null || tap_skip_all "python3-jsonschema is not installed"
command -v sqlite3 >/dev/null 2>&1 || tap_skip_all "sqlite3 is not installed"
gd_tiny_model 3

DB="$GD_TMP/audit/audit.db"
mkdir -p "$GD_TMP/audit"
gd_config "security:
  audit_db: $DB
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 2048
    max_tokens: 1000"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

CHECK="$top_srcdir/tests/integration/json_schema_check.py"
MAX=400
# Four seeds (chat, chat streamed, completion, completion streamed); two
# in a sanitizer build, which the plain build's run covers.
if grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null; then
    SEEDS=${JSON_SCHEMA_SEEDS:-"1 4"}
else
    SEEDS=${JSON_SCHEMA_SEEDS:-"1 2 3 4"}
fi
n_seeds=$(echo $SEEDS | wc -w)
valid_total=0

# request ROUTE BODY OUT -- POST BODY to ROUTE, the answer into OUT
request() { gd_get "$1" -d "$2" > "$3"; }

for schema in "$top_srcdir"/tests/data/json_schema/*.json; do
    name=$(basename "$schema" .json)
    s=$(tr -d '\n' < "$schema")
    valid=0; cut=0; bad=""
    for seed in $SEEDS; do
        rf="\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"$name\",\"strict\":true,\"schema\":$s}}"
        common="\"max_tokens\":$MAX,\"temperature\":1,\"seed\":$seed,$rf"
        case $seed in
            1) route=/v1/chat/completions; body="{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"Extract the record.\"}],$common}" ;;
            2) route=/v1/chat/completions; body="{\"model\":\"tiny\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Give JSON.\"}],$common}" ;;
            3) route=/v1/completions; body="{\"model\":\"tiny\",\"prompt\":\"JSON:\",$common}" ;;
            *) route=/v1/completions; body="{\"model\":\"tiny\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"prompt\":\"Record $seed:\",$common}" ;;
        esac
        out="$GD_TMP/$name.$seed.out"
        request "$route" "$body" "$out"
        r=$(python3 "$CHECK" "$schema" "$out" "$MAX" 2>&1)
        case $r in
            valid) valid=$((valid + 1)) ;;
            length) cut=$((cut + 1)) ;;
            *) bad="$bad seed $seed: $r;" ;;
        esac
    done
    [ -z "$bad" ]; ok $? "json_schema $name: $valid valid, $cut cut by max_tokens, none invalid$bad"
    # map.json's keys are free strings, which a random model seldom closes:
    # its answers may all be cut by max_tokens (none may be invalid).
    if [ "$name" != map ]; then
        [ "$valid" -ge 1 ]; ok $? "json_schema $name: at least one complete answer ($valid)"
    fi
    valid_total=$((valid_total + valid))
done
tap_diag "valid answers in all: $valid_total"

# json_object: any JSON object
n_ok=0; bad=""
for seed in 1 2 3; do
    out="$GD_TMP/object.$seed.out"
    request /v1/chat/completions "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":$MAX,\"temperature\":1,\"seed\":$seed,\"response_format\":{\"type\":\"json_object\"}}" "$out"
    r=$(python3 "$CHECK" - "$out" "$MAX" 2>&1)
    case $r in valid|length) n_ok=$((n_ok + 1)) ;; *) bad="$bad $r" ;; esac
done
[ "$n_ok" = 3 ]; ok $? "json_object: every answer is an object or cut by max_tokens$bad"

# max_tokens cuts a constrained answer: finish_reason length
out="$GD_TMP/short.out"
request /v1/chat/completions "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3,\"temperature\":1,\"seed\":5,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"schema\":$(tr -d '\n' < "$top_srcdir/tests/data/json_schema/person.json")}}}" "$out"
check "max_tokens 3 on a schema: finish_reason length" grep -q '"finish_reason":"length"' "$out"

# unsupported keyword: 400 naming it
code=$(gd_get /v1/chat/completions -o "$GD_TMP/e400.out" -w '%{http_code}' -d '{"model":"tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"string","pattern":"^a"}}}}')
[ "$code" = 400 ] && grep -q "'pattern'" "$GD_TMP/e400.out" && grep -q '"code":"unsupported_schema"' "$GD_TMP/e400.out"
ok $? "an unsupported keyword is a 400 naming it (got $code: $(head -c 300 "$GD_TMP/e400.out"))"

# oneOf whose branches may both match ("ab" is both): 400 naming oneOf
code=$(gd_get /v1/chat/completions -o "$GD_TMP/e400b.out" -w '%{http_code}' -d '{"model":"tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"oneOf":[{"type":"string"},{"type":"string","maxLength":3}]}}}}')
[ "$code" = 400 ] && grep -q "'oneOf'" "$GD_TMP/e400b.out" && grep -q '"code":"unsupported_schema"' "$GD_TMP/e400b.out"
ok $? "an overlapping oneOf is a 400 naming it (got $code: $(head -c 300 "$GD_TMP/e400b.out"))"

# the audit rows of the constrained requests
gd_stop TERM
sum=$(python3 -c 'import json,hashlib,sys; print(hashlib.sha256(json.dumps(json.load(open(sys.argv[1])),sort_keys=True,separators=(",",":"),ensure_ascii=False).encode()).hexdigest())' "$top_srcdir/tests/data/json_schema/invoice.json")
n=$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE event='request' AND detail LIKE '%constrained=json_schema schema_sha256=$sum%'")
[ "${n:-0}" -eq "$n_seeds" ]; ok $? "audit: request rows record constrained=json_schema and the schema's SHA-256 ($n rows for invoice.json)"
n=$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE event='request' AND detail LIKE '%constrained=json_object%'")
[ "${n:-0}" -ge 3 ]; ok $? "audit: request rows record constrained=json_object ($n rows)"
n=$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE event='request' AND detail LIKE 'stream; constrained=%'")
[ "${n:-0}" -ge 1 ]; ok $? "audit: a streamed constrained request says both ($n rows)"
tap_done
