#!/bin/sh
# tests/integration/bundle_cli.sh -- 'gemmactl bundle': keygen, sign,
# verify and inspect from the command line, exit codes (0 ok, 1 refused,
# 2 usage), each kind of tampering refused, certificate-chain signing
# with a 'gemmactl pki' CA, and the reference model_signing test vectors
# (../shared/oms-vectors beside the source tree; skipped when absent).
. "$top_srcdir/tests/lib/tap.sh"

G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl not built"

TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
T=$TAP_TMP
M="$T/model"

# expect STATUS DESCRIPTION COMMAND... -- passes when the exit status is STATUS
expect() {
    want=$1; desc=$2; shift 2
    "$@" >"$T/out" 2>&1; got=$?
    if [ "$got" -eq "$want" ]; then ok 0 "$desc"; else
        ok 1 "$desc (exit $got, wanted $want)"; sed 's/^/# /' "$T/out" | head -20
    fi
}
# refused WHY DESCRIPTION -- verify fails with exit 1 and says WHY
refused() {
    "$G" bundle verify "$M" --key "$T/k.pub" >"$T/out" 2>&1; got=$?
    if [ "$got" -eq 1 ] && grep -q "$1" "$T/out"; then ok 0 "$2"; else
        ok 1 "$2 (exit $got)"; sed 's/^/# /' "$T/out" | head -5
    fi
}
resign() { "$G" bundle sign "$M" --key "$T/k.key" >/dev/null 2>&1; }

expect 0 "bundle --help" "$G" bundle --help
for c in keygen sign verify inspect; do
    expect 0 "bundle $c --help" "$G" bundle $c --help
done
expect 2 "bundle with no command is a usage error" "$G" bundle
expect 2 "unknown bundle command" "$G" bundle frob
expect 2 "keygen without --out" "$G" bundle keygen
expect 2 "keygen with a bad curve" "$G" bundle keygen --curve p999 --out "$T/x"
expect 2 "sign without --key" "$G" bundle sign "$T"
expect 2 "verify without --key or --ca" "$G" bundle verify "$T"
expect 2 "unknown option" "$G" bundle verify "$T" --key a --frob

expect 0 "keygen p256" "$G" bundle keygen --out "$T/k"
expect 0 "keygen p384" "$G" bundle keygen --curve p384 --out "$T/k384"
ok $([ "$(stat -c %a "$T/k.key")" = 600 ] && echo 0 || echo 1) "private key is mode 0600"
if command -v openssl >/dev/null 2>&1; then
    openssl pkey -in "$T/k384.key" -noout -text 2>/dev/null | grep -q "P-384"; ok $? "p384 key is on P-384"
    openssl pkey -pubin -in "$T/k.pub" -noout -text 2>/dev/null | grep -q "P-256"; ok $? "public key is P-256 PEM"
else
    tap_skip "openssl(1) not installed"; tap_skip "openssl(1) not installed"
fi
expect 1 "keygen will not overwrite a key" "$G" bundle keygen --out "$T/k"

mkdir -p "$M/tokenizer" "$M/.git"
printf 'GGUF weights' >"$M/model.gguf"
printf '{"a":1}' >"$M/tokenizer/tokenizer.json"
printf 'x' >"$M/.git/HEAD"
printf 'notes' >"$M/README.md"
expect 0 "sign a model directory" "$G" bundle sign "$M" --key "$T/k.key" --ignore README.md
ok $([ -s "$M/model.sig" ] && echo 0 || echo 1) "model.sig written"
expect 0 "verify it" "$G" bundle verify "$M" --key "$T/k.pub"
"$G" bundle verify "$M" --key "$T/k.pub" --json >"$T/v.json"
grep -q '"ok": true' "$T/v.json" && grep -q '"path": "tokenizer/tokenizer.json"' "$T/v.json"
ok $? "verify --json lists the files"
grep -q '"README.md"' "$T/v.json"; ok $? "verify --json shows the recorded ignore paths"
"$G" bundle inspect "$M" >"$T/i.txt"; ok $? "inspect"
grep -q "root digest: sha256:" "$T/i.txt" && grep -q "model.gguf" "$T/i.txt" && grep -q "public key" "$T/i.txt"
ok $? "inspect shows method, files and root digest"
"$G" bundle inspect "$M" --json | grep -q '"method": "key"'; ok $? "inspect --json"
sha=$(sha256sum "$M/model.gguf" | cut -d' ' -f1)
grep -q "$sha  model.gguf" "$T/i.txt"; ok $? "inspect shows the file's SHA-256"

# tampering, each refused with exit 1 and a reason
printf 'GGUF weighTs' >"$M/model.gguf"
refused "model.gguf: content does not match" "byte changed in a model file"
printf 'GGUF weights' >"$M/model.gguf"
expect 0 "restored file verifies again" "$G" bundle verify "$M" --key "$T/k.pub"
printf 'evil' >"$M/extra.bin"
refused "extra.bin is in the directory but not in the signed list" "file added"
rm "$M/extra.bin"
mv "$M/tokenizer/tokenizer.json" "$T/tok"
refused "tokenizer/tokenizer.json is signed but missing" "file removed"
mv "$T/tok" "$M/tokenizer/tokenizer.json"
mv "$M/model.gguf" "$M/model2.gguf"
refused "model.gguf is signed but missing" "file renamed"
mv "$M/model2.gguf" "$M/model.gguf"
ln -s /etc/passwd "$M/passwd"
refused "passwd is a symbolic link" "symlink in the directory"
rm "$M/passwd"
mv "$M/model.gguf" "$T/real.gguf"; ln -s "$T/real.gguf" "$M/model.gguf"
refused "model.gguf is a symbolic link" "signed file replaced by a symlink to the same bytes"
rm "$M/model.gguf"; mv "$T/real.gguf" "$M/model.gguf"
cp "$M/model.sig" "$T/sig.orig"
sed 's/"payload": "ewog/"payload": "ewoh/' "$T/sig.orig" >"$M/model.sig"
cmp -s "$T/sig.orig" "$M/model.sig"; ok $([ $? -ne 0 ] && echo 0 || echo 1) "payload edited"
refused "signature does not verify" "edited payload"
sed -E 's/("sig": "......)A/\1B/; t; s/("sig": "......)./\1A/' "$T/sig.orig" >"$M/model.sig"
cmp -s "$T/sig.orig" "$M/model.sig"; ok $([ $? -ne 0 ] && echo 0 || echo 1) "signature edited"
refused "signature does not verify\|not valid\|base64" "edited signature"
cp "$T/sig.orig" "$M/model.sig"
expect 1 "another key is refused" "$G" bundle verify "$M" --key "$T/k384.pub"
grep -q "not a trusted key" "$T/out"; ok $? "... and says the key is not trusted"
expect 0 "either of two trusted keys will do" "$G" bundle verify "$M" --key "$T/k384.pub" --key "$T/k.pub"
expect 1 "an unsafe ignore path is refused" "$G" bundle sign "$M" --key "$T/k.key" --ignore ../x
expect 1 "verifying a directory without model.sig fails" "$G" bundle verify "$T" --key "$T/k.pub"

# certificate chains from a gemmactl pki CA
P="$T/pki"
if "$G" pki init --dir "$P" --site test >/dev/null 2>&1 &&
   "$G" pki issue --dir "$P" --role signer --cn release >/dev/null 2>&1; then
    expect 0 "sign with a certificate chain" "$G" bundle sign "$M" \
        --key "$P/clients/release.key" --cert-chain "$P/clients/release.crt"
    expect 0 "verify against the site CA" "$G" bundle verify "$M" --ca "$P/ca.crt"
    "$G" bundle inspect "$M" | grep -q "CN=release"; ok $? "inspect names the signing certificate"
    "$G" pki init --dir "$T/pki2" --site other >/dev/null 2>&1
    expect 1 "an untrusted CA is refused" "$G" bundle verify "$M" --ca "$T/pki2/ca.crt"
    grep -q "does not chain to a trusted CA" "$T/out"; ok $? "... and says so"
    expect 1 "a certificate bundle is not trusted by an unrelated key" "$G" bundle verify "$M" --key "$T/k.pub"
    expect 1 "the chain must match the key" "$G" bundle sign "$M" --key "$T/k.key" \
        --cert-chain "$P/clients/release.crt"
else
    for i in 1 2 3 4 5 6 7; do tap_skip "gemmactl pki failed"; done
fi

# the reference implementation's vectors
V="$top_srcdir/../shared/oms-vectors"
if [ -f "$V/keys/signing-key-pub.pem" ]; then
    expect 0 "vector v1.1.0-elliptic-key" "$G" bundle verify "$V/v1.1.0-elliptic-key" --key "$V/keys/signing-key-pub.pem"
    expect 0 "vector v1.0.1-elliptic-key" "$G" bundle verify "$V/v1.0.1-elliptic-key" --key "$V/keys/signing-key-pub.pem" --ignore ignore-me
    expect 0 "vector v1.1.0-certificate" "$G" bundle verify "$V/v1.1.0-certificate" --ca "$V/keys/ca-cert.pem"
    expect 0 "vector v1.0.1-certificate" "$G" bundle verify "$V/v1.0.1-certificate" --ca "$V/keys/ca-cert.pem" --ignore ignore-me
    expect 1 "vector with the wrong key" "$G" bundle verify "$V/v1.1.0-elliptic-key" --key "$T/k.pub"
    expect 1 "certificate vector with only the intermediate trusted" "$G" bundle verify "$V/v1.1.0-certificate" --ca "$V/keys/int-ca-cert.pem"
    mkdir "$T/vec" && cp "$V/v1.1.0-elliptic-key/"* "$T/vec/" && chmod -R u+w "$T/vec"
    expect 0 "re-sign a vector with its key" "$G" bundle sign "$T/vec" --key "$V/keys/signing-key.pem" --ignore ignore-me
    expect 0 "re-signed vector verifies" "$G" bundle verify "$T/vec" --key "$V/keys/signing-key-pub.pem"
    stmt() { "$G" bundle inspect "$1" | grep -E "^(method|root digest|files|  [0-9a-f]{64} )"; }
    ign() { "$G" bundle inspect "$1" | grep "^ignored:" | tr ' ' '\n' | sort | tr '\n' ' '; }
    a=$(stmt "$T/vec"); b=$(stmt "$V/v1.1.0-elliptic-key")
    ok $([ -n "$a" ] && [ "$a" = "$b" ] && echo 0 || echo 1) "re-signed statement lists the same files, digests and root"
    a=$(ign "$T/vec"); b=$(ign "$V/v1.1.0-elliptic-key")
    ok $([ "$a" = "$b" ] && echo 0 || echo 1) "re-signed statement records the same ignore paths ($a)"
else
    for i in 1 2 3 4 5 6 7 8 9 10; do tap_skip "oms-vectors not found at $V"; done
fi

# progress bar on a terminal for large files (a sparse 300 MB file)
mkdir -p "$T/big"
if ! truncate -s 300M "$T/big/w.bin" 2>/dev/null; then
    tap_skip "cannot make a large sparse file"; tap_skip "cannot make a large sparse file"
elif ! command -v script >/dev/null 2>&1; then
    tap_skip "script(1) not installed"; tap_skip "script(1) not installed"
else
    script -qec "'$G' bundle sign '$T/big' --key '$T/k.key'" /dev/null >"$T/tty.out" 2>&1
    grep -q "hashing \[" "$T/tty.out"; ok $? "progress bar on a terminal"
    "$G" bundle sign "$T/big" --key "$T/k.key" >"$T/notty.out" 2>&1
    grep -q "hashing \[" "$T/notty.out"; ok $([ $? -ne 0 ] && echo 0 || echo 1) "no progress bar when not a terminal"
fi

tap_done
