#!/bin/sh
# tests/integration/daemon_bundle_file.sh -- models as sites receive them:
# a GGUF signed on its own (a single file and a signature file, as the
# reference `model_signing sign ... model.gguf` makes them).
#   gemmactl bundle sign FILE / verify FILE --signature SIG: a good file
#   verifies, a changed one is refused;
#   gemmactl models import: a good file (or folder) is copied into the
#   store and verified there; a changed file or a foreign signer is
#   refused and leaves nothing in the store;
#   gemmad: a model with path + signature loads and serves a chat; a
#   changed file is refused at load with a clear error while gemmad and
#   the good model keep serving.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built (needed to sign models)"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }

M="$GD_TMP/media"; S="$GD_TMP/store"
mkdir -p "$M" "$S"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$M/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
"$G" bundle keygen --out "$GD_TMP/trusted" >/dev/null 2>&1 &&
"$G" bundle keygen --out "$GD_TMP/stranger" >/dev/null 2>&1 ||
    tap_skip_all "gemmactl bundle keygen failed"

# 1. gemmactl bundle sign / verify of a single file.
out=$("$G" bundle sign "$M/tiny.gguf" --key "$GD_TMP/trusted.key" 2>&1)
ok $? "gemmactl bundle sign FILE writes FILE.sig"
[ -s "$M/tiny.gguf.sig" ]; ok $? "the signature file exists beside the model"
check "inspect shows one resource '.' and the file's name" sh -c \
    "'$G' bundle inspect '$M/tiny.gguf.sig' --json | grep -q '\"path\": \".\"' &&
     '$G' bundle inspect '$M/tiny.gguf.sig' --json | grep -q '\"model_name\": \"tiny.gguf\"'"
out=$("$G" bundle verify "$M/tiny.gguf" --signature "$M/tiny.gguf.sig" --key "$GD_TMP/trusted.pub" 2>&1)
ok $? "gemmactl bundle verify FILE --signature SIG accepts the signed file"
"$G" bundle verify "$M/tiny.gguf" --key "$GD_TMP/trusted.pub" >/dev/null 2>&1
[ $? -eq 2 ]; ok $? "verify of a file without --signature is a usage error (exit 2)"

cp "$M/tiny.gguf" "$M/changed.gguf"; cp "$M/tiny.gguf.sig" "$M/changed.gguf.sig"
size=$(stat -c %s "$M/changed.gguf")
printf 'Z' | dd of="$M/changed.gguf" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null
out=$("$G" bundle verify "$M/changed.gguf" --signature "$M/changed.gguf.sig" --key "$GD_TMP/trusted.pub" 2>&1)
[ $? -eq 1 ]; ok $? "a file changed after signing is refused (exit 1)"
check "... and the reason is the content" has "$out" "content does not match the signature"
out=$("$G" bundle verify "$M/tiny.gguf" --signature "$M/tiny.gguf.sig" --key "$GD_TMP/stranger.pub" 2>&1)
[ $? -eq 1 ]; ok $? "a file checked against another key is refused"

# 2. gemmactl models import.
out=$("$G" models import "$M/tiny.gguf" --dest "$S" --key "$GD_TMP/trusted.pub" 2>&1)
ok $? "models import copies and verifies a signed file"
cmp -s "$M/tiny.gguf" "$S/tiny.gguf" && cmp -s "$M/tiny.gguf.sig" "$S/tiny.gguf.sig"
ok $? "the store holds the model and its signature"
check "import prints the gemmad.yaml lines" has "$out" "signature: $S/tiny.gguf.sig"
"$G" models import "$M/tiny.gguf" --dest "$S" --key "$GD_TMP/trusted.pub" >/dev/null 2>&1
[ $? -eq 1 ]; ok $? "importing over an existing model needs --force"
out=$("$G" models import "$M/changed.gguf" --dest "$S" --key "$GD_TMP/trusted.pub" 2>&1)
[ $? -eq 1 ]; ok $? "a changed file is refused by import"
check "... saying why" has "$out" "REFUSED"
out=$("$G" models import "$M/tiny.gguf" --dest "$S" --key "$GD_TMP/stranger.pub" --force 2>&1)
[ $? -eq 1 ]; ok $? "a file signed by a key not trusted is refused by import"
[ ! -e "$S/changed.gguf" ] && [ ! -e "$S/changed.gguf.sig" ] &&
    [ -z "$(find "$S" -name '.import-*')" ]
ok $? "refused imports leave nothing in the store"
cmp -s "$M/tiny.gguf" "$S/tiny.gguf"; ok $? "the model already in the store is untouched"
# Trust from a gemmad.yaml when no --key is given; a signed folder too.
mkdir -p "$M/folder"; cp "$M/tiny.gguf" "$M/folder/"
"$G" bundle sign "$M/folder" --key "$GD_TMP/trusted.key" >/dev/null 2>&1
printf 'security:\n  bundle_keys: %s\n' "$GD_TMP/trusted.pub" > "$GD_TMP/trust.yaml"
out=$("$G" models import "$M/folder" --dest "$S" --config "$GD_TMP/trust.yaml" 2>&1)
ok $? "a signed folder imports with the trust of gemmad.yaml (security.bundle_keys)"
[ -f "$S/folder/model.sig" ] && cmp -s "$M/tiny.gguf" "$S/folder/tiny.gguf"
ok $? "the folder is in the store with its model.sig"

# 3. gemmad: models[].path + signature.
cp "$M/changed.gguf" "$S/changed.gguf"; cp "$M/changed.gguf.sig" "$S/changed.gguf.sig"
gd_config "security:
  bundle_keys: $GD_TMP/trusted.pub
models:
  - name: signed
    path: $S/tiny.gguf
    signature: $S/tiny.gguf.sig
    context: 256
  - name: changed
    path: $S/changed.gguf
    signature: $S/changed.gguf.sig
    context: 256"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
grep -q "model signed loaded from verified bundle $S/tiny.gguf (root sha256:[0-9a-f]\{64\}" "$GD_LOG"
ok $? "the signed file is verified and loaded (root digest logged)"
body=$(gd_get /v1/chat/completions -d '{"model":"signed","messages":[{"role":"user","content":"Hello"}],"max_tokens":4}')
check "the verified single-file model serves a chat" has "$body" '"object":"chat.completion"'
status=$(gd_get /admin/v1/status)
check "the changed file is not loaded, with a clear error" has "$status" \
    "\"state\":\"failed\",\"error\":\"model changed: $S/changed.gguf: content does not match the signature"
check "the changed model is refused to clients (503)" has \
    "$(gd_status /v1/chat/completions -d '{"model":"changed","messages":[{"role":"user","content":"Hi"}]}')" 503
body=$(gd_get /v1/chat/completions -d '{"model":"signed","messages":[{"role":"user","content":"Again"}],"max_tokens":4}')
check "gemmad keeps serving the good model" has "$body" '"object":"chat.completion"'
kill -0 "$GD_PID"; ok $? "gemmad is still running"
gd_stop TERM; ok $? "gemmad stops cleanly"

# 4. Configuration rules for signature.
gd_config "security:
  bundle_keys: $GD_TMP/trusted.pub
models:
  - name: both
    bundle: $M/folder
    signature: $S/tiny.gguf.sig"
out=$("$GEMMAD" --check-config "$GD_CONF" 2>&1)
[ $? -ne 0 ]; ok $? "--check-config refuses signature together with bundle"
check "... naming signature" has "$out" "signature goes with path"
gd_config "models:
  - name: untrusted
    path: $S/tiny.gguf
    signature: $S/tiny.gguf.sig"
out=$("$GEMMAD" --check-config "$GD_CONF" 2>&1)
[ $? -ne 0 ]; ok $? "--check-config refuses a signature without bundle_keys or bundle_cas"
tap_done
