# tests/lib/pki.sh -- a throwaway test PKI made with the openssl CLI.
#
# Source it and call `pki_make DIR`. DIR then holds (PEM, EC P-256 keys):
#   ca.crt ca.key          the client and server CA
#   server.crt server.key  server cert, SAN DNS:localhost, IP:127.0.0.1
#   client.crt client.key  valid client: CN=alice, OU=apps, SAN DNS and URI
#   admin.crt admin.key    valid client: CN=admin, OU=ops
#   other-ca.crt           a second CA, unknown to the server
#   other.crt other.key    client signed by the other CA
#   expired.crt expired.key  client of ca.crt whose validity ended in 2020
#   revoked.crt revoked.key  client of ca.crt, revoked in crl.pem
#   crl.pem                the CA's CRL (revokes revoked.crt)
#   crl-empty.pem          a CRL of the same CA revoking nothing
# Everything is made with `openssl ca` on a throwaway database in DIR/db.

pki__cnf() { # DIR
    cat > "$1/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $1/db
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $1/ca.crt
private_key = $1/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = any
unique_subject = no
preserve = yes
copy_extensions = copy
[ any ]
commonName = supplied
organizationalUnitName = optional
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
    mkdir -p "$1/db/new"
    : > "$1/db/index.txt"
    echo 1000 > "$1/db/serial"
    echo 1000 > "$1/db/crlnumber"
}

pki__key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# pki__issue DIR NAME SUBJECT EXTSECTION [extra openssl ca args...]
pki__issue() {
    pi_d=$1; pi_name=$2; pi_subj=$3; pi_ext=$4; shift 4
    pki__key "$pi_d/$pi_name.key"
    openssl req -new -key "$pi_d/$pi_name.key" -subj "$pi_subj" -config "$pi_d/ca.cnf" \
        -out "$pi_d/$pi_name.csr" 2>/dev/null || return 1
    openssl ca -batch -config "$pi_d/ca.cnf" -extensions "$pi_ext" -notext \
        -in "$pi_d/$pi_name.csr" -out "$pi_d/$pi_name.crt" "$@" 2>"$pi_d/$pi_name.log" || {
        cat "$pi_d/$pi_name.log" >&2; return 1; }
}

pki_make() {
    d=$1
    mkdir -p "$d"
    d=$(cd "$d" && pwd)
    pki__cnf "$d"
    pki__key "$d/ca.key"
    openssl req -x509 -new -key "$d/ca.key" -subj "/O=gemmad tests/CN=Test Client CA" \
        -days 30 -config "$d/ca.cnf" -extensions v3_ca -out "$d/ca.crt" 2>/dev/null || return 1
    pki__issue "$d" server "/O=gemmad tests/CN=localhost" server || return 1
    cat > "$d/client.ext" <<EOF
[ client_san ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:alice.apps.test, URI:spiffe://test/alice
EOF
    pki__issue "$d" client "/O=gemmad tests/OU=apps/CN=alice" client_san \
        -extfile "$d/client.ext" || return 1
    pki__issue "$d" admin "/O=gemmad tests/OU=ops/CN=admin" client || return 1
    pki__issue "$d" expired "/O=gemmad tests/OU=apps/CN=expired" client \
        -startdate 20200101000000Z -enddate 20200201000000Z || return 1
    pki__issue "$d" revoked "/O=gemmad tests/OU=apps/CN=revoked" client || return 1
    openssl ca -batch -config "$d/ca.cnf" -gencrl -out "$d/crl-empty.pem" 2>/dev/null || return 1
    openssl ca -batch -config "$d/ca.cnf" -revoke "$d/revoked.crt" 2>/dev/null || return 1
    openssl ca -batch -config "$d/ca.cnf" -gencrl -out "$d/crl.pem" 2>/dev/null || return 1

    # A second, unrelated CA and a client it signed (self-contained).
    o="$d/other"
    mkdir -p "$o"
    pki__cnf "$o"
    pki__key "$o/ca.key"
    openssl req -x509 -new -key "$o/ca.key" -subj "/O=elsewhere/CN=Other CA" -days 30 \
        -config "$o/ca.cnf" -extensions v3_ca -out "$o/ca.crt" 2>/dev/null || return 1
    pki__issue "$o" other "/O=elsewhere/OU=apps/CN=alice" client || return 1
    cp "$o/ca.crt" "$d/other-ca.crt"
    cp "$o/other.crt" "$d/other.crt"
    cp "$o/other.key" "$d/other.key"
}
