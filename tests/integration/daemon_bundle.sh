#!/bin/sh
# tests/integration/daemon_bundle.sh -- gemmad serving a model from a
# signed bundle (OpenSSF Model Signing, signed with `gemmactl bundle`):
# a bundle signed by a trusted key loads and answers; a bundle whose GGUF
# was changed after signing, or one signed by another key, does not load,
# and says why.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built (needed to sign bundles)"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"

B="$GD_TMP/bundle"; X="$GD_TMP/tampered"; O="$GD_TMP/other"
mkdir -p "$B" "$X" "$O"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$B/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
cp "$B/tiny.gguf" "$X/tiny.gguf"; cp "$B/tiny.gguf" "$O/tiny.gguf"
"$G" bundle keygen --out "$GD_TMP/trusted" >/dev/null 2>&1 &&
"$G" bundle keygen --out "$GD_TMP/stranger" >/dev/null 2>&1 &&
"$G" bundle sign "$B" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$X" --key "$GD_TMP/trusted.key" >/dev/null 2>&1 &&
"$G" bundle sign "$O" --key "$GD_TMP/stranger.key" >/dev/null 2>&1 ||
    tap_skip_all "gemmactl bundle cannot sign"
# Change one byte of the tampered bundle's weights, after signing.
size=$(stat -c %s "$X/tiny.gguf")
printf 'Z' | dd of="$X/tiny.gguf" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null

gd_config "security:
  bundle_keys: $GD_TMP/trusted.pub
models:
  - name: signed
    bundle: $B
    context: 256
  - name: tampered
    bundle: $X
    context: 256
  - name: foreign
    bundle: $O
    context: 256"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }

grep -q 'model signed loaded from verified bundle .* (root sha256:[0-9a-f]\{64\}' "$GD_LOG"
ok $? "the trusted bundle is verified and loaded (root digest logged)"
check "the verified model answers" has "$(gd_get /v1/completions -d '{"model":"signed","prompt":"Hi","max_tokens":3}')" '"object":"text_completion"'
status=$(gd_get /admin/v1/status)
check "a bundle changed after signing is not loaded (digest mismatch)" has "$status" '"state":"failed","error":"model tampered: bundle '"$X"': '
check "a bundle signed by an untrusted key is not loaded" has "$status" '"state":"failed","error":"model foreign: bundle '"$O"': '
check "the tampered model is refused to clients (503)" has "$(gd_status /v1/completions -d '{"model":"tampered","prompt":"Hi","max_tokens":3}')" 503
check "readyz is 503 while a model to load has failed" has "$(gd_status /readyz)" 503
gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
