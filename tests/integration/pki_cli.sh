#!/bin/sh
# tests/integration/pki_cli.sh -- 'gemmactl pki': init, issue, revoke and
# list, checked with openssl(1): chains verify, revoked certificates fail
# -crl_check, SANs and subjects are right, private keys are mode 0600.
. "$top_srcdir/tests/lib/tap.sh"

G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl not built"
command -v openssl >/dev/null 2>&1 || tap_skip_all "openssl(1) not installed"

TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
D="$TAP_TMP/pki"

mode_of() { stat -c %a "$1"; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

check "pki --help exits 0" "$G" pki --help
"$G" pki frobnicate >/dev/null 2>&1; ok $([ $? -eq 2 ] && echo 0 || echo 1) "unknown pki command exits 2"
"$G" pki init --dir "$D" --bogus >/dev/null 2>&1; ok $([ $? -eq 2 ] && echo 0 || echo 1) "unknown option exits 2"
"$G" pki list --dir "$D" >/dev/null 2>&1; ok $([ $? -eq 1 ] && echo 0 || echo 1) "list before init exits 1"

check "pki init" "$G" pki init --dir "$D" --site acme --server-name gemma.example.org \
    --server-name 192.0.2.7 --days 30
for f in ca.crt ca.key server.crt server.key admin.crt admin.key crl.pem index.json; do
    ok $([ -s "$D/$f" ] && echo 0 || echo 1) "init wrote $f"
done
for k in ca.key server.key admin.key; do
    ok $([ "$(mode_of "$D/$k")" = 600 ] && echo 0 || echo 1) "$k is mode 0600"
done
"$G" pki init --dir "$D" >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "init refuses to replace an existing CA"

check "server.crt verifies against ca.crt" openssl verify -CAfile "$D/ca.crt" "$D/server.crt"
check "admin.crt verifies against ca.crt" openssl verify -CAfile "$D/ca.crt" "$D/admin.crt"
check "server.crt is for TLS servers" openssl verify -purpose sslserver -CAfile "$D/ca.crt" "$D/server.crt"
check "admin.crt is for TLS clients" openssl verify -purpose sslclient -CAfile "$D/ca.crt" "$D/admin.crt"
check "server.key matches server.crt" sh -c \
    "[ \"\$(openssl x509 -in '$D/server.crt' -noout -pubkey)\" = \"\$(openssl pkey -in '$D/server.key' -pubout)\" ]"

text=$(openssl x509 -in "$D/server.crt" -noout -text)
for san in "DNS:localhost" "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1" \
    "DNS:gemma.example.org" "IP Address:192.0.2.7"; do
    echo "$text" | grep -q "$san"; ok $? "server SAN $san"
done
subj=$(openssl x509 -in "$D/admin.crt" -noout -subject -nameopt RFC2253)
echo "$subj" | grep -q "CN=admin,OU=admin,O=acme"; ok $? "admin subject is CN=admin, OU=admin ($subj)"
openssl x509 -in "$D/ca.crt" -noout -text | grep -q "CA:TRUE"; ok $? "ca.crt is a CA"
openssl crl -in "$D/crl.pem" -noout -text | grep -q "No Revoked Certificates"; ok $? "CRL starts empty"
check "empty CRL is signed by the CA" openssl crl -in "$D/crl.pem" -noout -CAfile "$D/ca.crt"

check "issue operator alice" "$G" pki issue --dir "$D" --role operator --cn alice --days 10
check "issue auditor bob" "$G" pki issue --dir "$D" --role auditor --cn bob
ok $([ "$(mode_of "$D/clients/alice.key")" = 600 ] && echo 0 || echo 1) "client key is mode 0600"
subj=$(openssl x509 -in "$D/clients/alice.crt" -noout -subject -nameopt RFC2253)
echo "$subj" | grep -q "CN=alice,OU=operator,O=acme"; ok $? "role is the OU ($subj)"
check "alice verifies with the CRL" openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/clients/alice.crt"
"$G" pki issue --dir "$D" --role operator --cn alice >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "a second valid certificate for alice is refused"
"$G" pki issue --dir "$D" --role 'op,CN=root' --cn mallory >/dev/null 2>&1
ok $([ $? -eq 2 ] && echo 0 || echo 1) "a role with odd characters is a usage error"

S=$(serial_of "$D/clients/alice.crt")
check "revoke alice ($S, as openssl prints it)" "$G" pki revoke --dir "$D" "$S"
openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/clients/alice.crt" >/dev/null 2>&1
ok $([ $? -ne 0 ] && echo 0 || echo 1) "revoked alice fails openssl verify -crl_check"
check "bob still verifies with the CRL" openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/clients/bob.crt"
check "admin still verifies with the CRL" openssl verify -crl_check -CRLfile "$D/crl.pem" -CAfile "$D/ca.crt" "$D/admin.crt"
"$G" pki revoke --dir "$D" "$S" >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "revoking twice is an error"
"$G" pki revoke --dir "$D" 0123456789 >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "revoking an unknown serial is an error"
"$G" pki revoke --dir "$D" "$(serial_of "$D/ca.crt")" >/dev/null 2>&1
ok $([ $? -eq 1 ] && echo 0 || echo 1) "the CA cannot be revoked"
check "alice can be issued again after revocation" "$G" pki issue --dir "$D" --role operator --cn alice

"$G" pki list --dir "$D" --json >"$TAP_TMP/list.json"; ok $? "list --json"
n=$(grep -c '"serial"' "$TAP_TMP/list.json")
ok $([ "$n" -eq 6 ] && echo 0 || echo 1) "index holds 6 certificates (ca, server, admin, alice x2, bob): $n"
grep -q '"status": "revoked"' "$TAP_TMP/list.json"; ok $? "index marks the revocation"
"$G" pki list --dir "$D" | grep -q "revoked client   operator"; ok $? "list shows alice revoked"

# the default directory for a non-root user is ~/.config/gemmactl/pki
if [ "$(id -u)" -ne 0 ]; then
    HOME="$TAP_TMP/home" "$G" pki init >/dev/null 2>&1
    ok $([ -s "$TAP_TMP/home/.config/gemmactl/pki/ca.crt" ] && echo 0 || echo 1) "default dir for users"
else
    tap_skip "default dir for users (running as root: it would be /etc/gemmad/pki)"
fi

tap_done
