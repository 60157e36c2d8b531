#!/bin/sh
# scripts/demo.sh -- the README's first command: install dependencies,
# build, then run gemmad on a small synthetic Gemma 4 model and make a
# streamed chat request over mutual TLS with curl.
#
# Everything it makes (a throwaway PKI, the model, the configuration, the
# socket) lives in $GEMMA_DEMO_DIR (default BUILD/demo); gemmad is stopped
# at the end, also on error or Ctrl-C.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GEMMA_BUILD_DIR:-"$top/build"}
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$build"
demo=${GEMMA_DEMO_DIR:-"$build/demo"}
rm -rf "$demo"
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)

echo "demo: writing a synthetic Gemma 4 model ($demo/tiny.gguf)"
"$build/gemma-run" synth --preset tiny --type q8_0 --seed 1 -o "$demo/tiny.gguf"

echo "demo: making a throwaway PKI (CA, server and client certificates) in $demo/pki"
. "$top/tests/lib/pki.sh"
pki_make "$demo/pki" >/dev/null

cat > "$demo/gemmad.yaml" <<YAML
log_level: notice
listen:
  unix:
    path: $demo/gemmad.sock
    mode: "0600"
tls:
  certificate: $demo/pki/server.crt
  private_key: $demo/pki/server.key
  client_ca: $demo/pki/ca.crt
  crl: $demo/pki/crl.pem
models:
  - name: tiny
    path: $demo/tiny.gguf
    context: 1024
YAML
"$build/gemmad" --check-config "$demo/gemmad.yaml"

echo "demo: starting gemmad"
"$build/gemmad" -c "$demo/gemmad.yaml" 2>"$demo/gemmad.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
n=0
until grep -q 'notice gemmad: ready' "$demo/gemmad.log" 2>/dev/null; do
    n=$((n + 1))
    if [ $n -ge 300 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "demo: gemmad did not start:"; cat "$demo/gemmad.log"; exit 1
    fi
    sleep 0.1
done

echo "demo: a streamed chat request over mutual TLS (random weights: the text"
echo "      is noise, the pipeline is real)"
set -x
curl -sS -N --max-time 60 --unix-socket "$demo/gemmad.sock" \
    --cacert "$demo/pki/ca.crt" --cert "$demo/pki/client.crt" --key "$demo/pki/client.key" \
    https://localhost/v1/chat/completions \
    -d '{"model":"tiny","stream":true,"max_tokens":16,"seed":1,
         "messages":[{"role":"user","content":"Hello"}]}'
{ set +x; } 2>/dev/null
echo "demo: without a client certificate the daemon refuses the connection:"
curl -sS --max-time 10 --unix-socket "$demo/gemmad.sock" --cacert "$demo/pki/ca.crt" \
    https://localhost/healthz 2>&1 | sed 's/^/    /' || true

echo "demo: stopping gemmad (SIGTERM drains, then exits 0)"
kill -TERM "$pid"
wait "$pid"
trap - EXIT INT TERM
sed 's/^/    /' "$demo/gemmad.log"
