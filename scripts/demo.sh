#!/bin/sh
# scripts/demo.sh -- the README's first command: install dependencies,
# build, then stand up a site from nothing and answer a chat over mutual
# TLS:
#   1. gemmactl pki init        a site CA, server and admin certificates
#   2. gemma-run synth          a small synthetic Gemma 4 model
#   3. gemmactl bundle sign     the model as a signed bundle (OMS format)
#   4. gemmad                   serving it, verified before load, with the
#                               shipped role policy and an audit log
#   5. curl                     a streamed chat request over mTLS
#   6. gemmactl chat -p         the same through the operator CLI
#   7. gemmactl audit tail/verify  through gemmad: the hash chain of what just happened
#
# Everything it makes lives in $GEMMA_DEMO_DIR (default BUILD/demo); gemmad
# is stopped at the end, also on error or Ctrl-C.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GEMMA_BUILD_DIR:-"$top/build"}
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$build"
demo=${GEMMA_DEMO_DIR:-"$build/demo"}
rm -rf "$demo"
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
ctl="$build/gemmactl"
say() { printf '\ndemo: %s\n' "$*"; }

say "1. a site PKI: gemmactl pki init --dir $demo/pki"
"$ctl" pki init --dir "$demo/pki" --site demo
"$ctl" pki list --dir "$demo/pki"

say "2. a synthetic Gemma 4 model (random weights: its text is noise, the pipeline is real)"
mkdir -p "$demo/bundle"
"$build/gemma-run" synth --preset tiny --type q8_0 --seed 1 -o "$demo/bundle/tiny.gguf"

say "3. signing it as a model bundle"
"$ctl" bundle keygen --out "$demo/signer"
"$ctl" bundle sign "$demo/bundle" --key "$demo/signer.key"
"$ctl" bundle verify "$demo/bundle" --key "$demo/signer.pub"

# The audit log in a directory of its own: gemmad confines itself so that
# it cannot read the audit keys there (gemmad(8), PROCESSES).
mkdir -p "$demo/audit"
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
security:
  policy: $demo/policy.yaml
  audit_db: $demo/audit/audit.db
  bundle_keys: $demo/signer.pub
models:
  - name: tiny
    bundle: $demo/bundle
    path: tiny.gguf
    context: 1024
YAML
# The shipped roles, with the OU mapping that 'gemmactl pki issue --role'
# is made for.
sed '/^rules: \[\]/,$d' "$top/etc/policy.yaml" > "$demo/policy.yaml"
cat >> "$demo/policy.yaml" <<'YAML'
rules:
  - name: administrators
    match: {ou: admin}
    role: admin
  - name: applications
    match: {ou: client}
    role: client
YAML
"$ctl" policy check "$demo/policy.yaml"
"$build/gemmad" --check-config "$demo/gemmad.yaml"

say "4. starting gemmad (the bundle is verified before the model loads)"
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

export GEMMACTL_SOCKET="$demo/gemmad.sock" GEMMACTL_CA="$demo/pki/ca.crt" \
    GEMMACTL_CERT="$demo/pki/admin.crt" GEMMACTL_KEY="$demo/pki/admin.key"

say "5. a streamed chat request over mutual TLS with curl"
set -x
curl -sS -N --max-time 60 --unix-socket "$demo/gemmad.sock" \
    --cacert "$demo/pki/ca.crt" --cert "$demo/pki/admin.crt" --key "$demo/pki/admin.key" \
    https://localhost/v1/chat/completions \
    -d '{"model":"tiny","stream":true,"max_tokens":16,"seed":1,
         "messages":[{"role":"user","content":"Hello"}]}'
{ set +x; } 2>/dev/null

say "6. the same through gemmactl"
"$ctl" status
"$ctl" chat -p "Hello" --max-tokens 16 --seed 1
echo

say "   without a client certificate the daemon refuses the connection:"
curl -sS --max-time 10 --unix-socket "$demo/gemmad.sock" --cacert "$demo/pki/ca.crt" \
    https://localhost/healthz 2>&1 | sed 's/^/    /' || true

say "7. the audit log of this session, read through gemmad (audit.read), and its hash chain"
"$ctl" audit tail -n 10
"$ctl" audit verify

say "stopping gemmad (SIGTERM drains, then exits 0)"
kill -TERM "$pid"
wait "$pid"
trap - EXIT INT TERM

say "   offline, on the host, the closed log (with daemon.stop) verifies too:"
"$ctl" audit verify --db "$demo/audit/audit.db"
say "done; gemmad's log is $demo/gemmad.log"
