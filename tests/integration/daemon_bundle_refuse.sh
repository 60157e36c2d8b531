#!/bin/sh
# tests/integration/daemon_bundle_refuse.sh -- gemmad refuses model bundles
# it cannot verify and keeps serving the ones it can. Five models are
# configured as bundles: one signed by the trusted key, and four that must
# be refused -- unsigned (no model.sig), a byte of the weights flipped
# after signing, a file added after signing, and signed by another key.
# The good model answers while the others are refused; each refusal says
# why in the log and in /admin/v1/status and is a model.verify_failed row
# of the audit log; the verified root digest (which this test computes
# itself with the openssl CLI) is shown by GET /v1/models and recorded in
# the audit log's model.load row.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built (needed to sign bundles)"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"

B="$GD_TMP/good"; U="$GD_TMP/unsigned"; F="$GD_TMP/flipped"; A="$GD_TMP/added"
O="$GD_TMP/foreign"
mkdir -p "$B" "$U" "$F" "$A" "$O"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$B/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
for d in "$U" "$F" "$A" "$O"; do cp "$B/tiny.gguf" "$d/tiny.gguf"; done
"$G" bundle keygen --out "$GD_TMP/trusted" >/dev/null 2>&1 &&
"$G" bundle keygen --out "$GD_TMP/stranger" >/dev/null 2>&1 &&
"$G" bundle sign "$B" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$F" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$A" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$O" --key "$GD_TMP/stranger.key" >/dev/null 2>&1 ||
    tap_skip_all "gemmactl bundle cannot sign"
# After signing: flip one byte in the middle of the weights; add a file.
size=$(stat -c %s "$F/tiny.gguf")
off=$((size / 2))
b=$(dd if="$F/tiny.gguf" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(((b + 1) % 256)))" |
    dd of="$F/tiny.gguf" bs=1 seek=$off conv=notrunc 2>/dev/null
cmp -s "$B/tiny.gguf" "$F/tiny.gguf"
[ $? -eq 1 ]; ok $? "the flipped bundle differs from the signed one in one byte"
echo "not signed" >"$A/README.txt"

# The root digest of a one-file bundle: SHA-256 over the file's SHA-256.
root=$(openssl dgst -sha256 -binary "$B/tiny.gguf" | openssl dgst -sha256 | sed 's/^.*= *//')
case "$root" in *[!0-9a-f]* | '') echo "Bail out! cannot compute the root digest"; exit 1 ;; esac

gd_config "security:
  bundle_keys: $GD_TMP/trusted.pub
  audit_db: $GD_TMP/audit.db
models:
  - name: good
    bundle: $B
    context: 256
  - name: unsigned
    bundle: $U
    context: 256
  - name: flipped
    bundle: $F
    context: 256
  - name: added
    bundle: $A
    context: 256
  - name: foreign
    bundle: $O
    context: 256"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 800; echo; return 1; }
# Loading runs in the background: wait until all five have an outcome.
n=0
while [ "$(grep -c 'model [a-z]* \(loaded\|failed to load\)' "$GD_LOG")" -lt 5 ] && [ $n -lt 300 ]; do
    n=$((n + 1)); sleep 0.1
done
[ "$(grep -c 'model [a-z]* \(loaded\|failed to load\)' "$GD_LOG")" -eq 5 ]
ok $? "all five models have a load outcome in the log"

grep -q "model good loaded from verified bundle $B (root sha256:$root" "$GD_LOG"
ok $? "the trusted bundle is verified and loaded; the log names its root digest"
check "the verified model answers" has "$(gd_get /v1/completions -d '{"model":"good","prompt":"Hi","max_tokens":3}')" '"object":"text_completion"'

# Why each bad bundle is refused: in the log and in /admin/v1/status.
status=$(gd_get /admin/v1/status)
refused_with() { # NAME DIR LOG_PATTERN
    grep -q "model $1 failed to load: model $1: bundle $2: .*$3" "$GD_LOG" ||
        { echo "# log:"; grep "model $1" "$GD_LOG" | sed 's/^/#   /'; return 1; }
    has "$status" "\"name\":\"$1\"" &&
        has "$status" "\"state\":\"failed\",\"error\":\"model $1: bundle $2: " || return 1
    err=$(printf '%s' "$status" | sed -n "s/.*\"name\":\"$1\"[^}]*\"error\":\"\\([^\"]*\\)\".*/\\1/p")
    has "$err" "$3"
}
refused_with unsigned "$U" 'open model.sig: No such file'
ok $? "an unsigned bundle (no model.sig) is refused, and the log and status say so"
refused_with flipped "$F" 'tiny.gguf: content does not match the signature'
ok $? "a bundle with a byte flipped after signing is refused, naming the changed file"
refused_with added "$A" 'README.txt is in the directory but not in the signed list'
ok $? "a bundle with a file added after signing is refused, naming the file"
refused_with foreign "$O" 'which is not a trusted key'
ok $? "a bundle signed by an untrusted key is refused, and the reason is about the key"
for m in unsigned flipped added foreign; do
    s=$(gd_get /v1/completions -o "$GD_TMP/body" -w '%{http_code}' \
        -d "{\"model\":\"$m\",\"prompt\":\"Hi\",\"max_tokens\":3}")
    [ "$s" = 503 ] && grep -q '"code":"model_not_loaded"' "$GD_TMP/body"
    ok $? "the refused model $m is not served (HTTP $s)"
done
check "... while the good model still answers" has "$(gd_get /v1/chat/completions -d '{"model":"good","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}')" '"object":"chat.completion"'

# The root digest in GET /v1/models: on the verified model only.
models=$(gd_get /v1/models)
good=$(printf '%s' "$models" | sed -n 's/.*\({[^{}]*"id":"good"[^{}]*}\).*/\1/p')
has "$good" "\"bundle_root_sha256\":\"$root\""
ok $? "GET /v1/models shows the verified root digest of the good bundle"
bad=$(printf '%s' "$models" | sed -n 's/.*\({[^{}]*"id":"flipped"[^{}]*}\).*/\1/p')
[ -n "$bad" ] && ! has "$bad" 'bundle_root_sha256' >/dev/null
ok $? "... and none for a refused one"
[ -n "$bad" ] || echo "# /v1/models: $models" | head -c 800
check "GET /v1/models/good shows it too" has "$(gd_get /v1/models/good)" "\"bundle_root_sha256\":\"$root\""

gd_stop TERM; ok $? "gemmad stops cleanly"

# The audit log: one model.verify_failed row per refused bundle, and the
# good one's model.load row with its root digest; the chain verifies.
q() { "$G" audit query --db "$GD_TMP/audit.db" --format jsonl "$@" 2>&1; }
vf=$(q --event model.verify_failed)
for m in unsigned flipped added foreign; do
    row=$(printf '%s\n' "$vf" | grep "\"model\":\"$m\"")
    [ "$(printf '%s\n' "$row" | grep -c .)" -eq 1 ] && has "$row" "\"detail\":\"model $m: bundle " >/dev/null
    ok $? "audit: a model.verify_failed row for $m, with the reason"
    [ -n "$row" ] || echo "# rows: $vf" | head -c 800
done
load=$(q --event model.load --model good)
has "$load" "sha256:$root"
ok $? "audit: the good model's model.load row records its root digest"
check "audit: the hash chain verifies" "$G" audit verify --db "$GD_TMP/audit.db"
tap_done
