#!/bin/sh
# tests/integration/daemon_mtls.sh -- mutual TLS on both of gemmad's
# sockets: no certificate, a certificate from another CA, an expired one
# and a revoked one are refused; a valid one is served. TLS 1.2 is refused
# by default; CRLs are reloaded on SIGHUP; the client's identity reaches
# the daemon; silent connections are dropped after the handshake timeout.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

cp "$GD_PKI/crl-empty.pem" "$GD_TMP/current.crl"
GD_CRL="$GD_TMP/current.crl" GD_HANDSHAKE_MS=700 gd_config
# listen.unix.group: a group other than our primary one (root may use any;
# others one of their supplementary groups), so the check can fail.
group=""
if [ "$(id -u)" = 0 ]; then
    for g in nogroup daemon bin; do getent group "$g" >/dev/null 2>&1 && { group=$g; break; }; done
else
    group=$(id -Gn | tr ' ' '\n' | grep -vx "$(id -gn)" | head -1)
fi
if [ -n "$group" ]; then
    sed "s|^    mode: \"0600\"|    mode: \"0600\"\n    group: $group|" "$GD_CONF" > "$GD_TMP/g.yaml" &&
        mv "$GD_TMP/g.yaml" "$GD_CONF"
fi
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

refused() { # WHO TRANSPORT
    if [ "$2" = unix ]; then
        out=$(gd_curl_as "$1" --unix-socket "$GD_SOCK" https://localhost/healthz 2>&1)
    else
        out=$(gd_curl_as "$1" "https://localhost:$GD_PORT/healthz" 2>&1)
    fi
    rc=$?
    case "$out" in *'"status":"ok"'*) return 1 ;; esac
    [ $rc -ne 0 ]
}
served() { # WHO TRANSPORT
    if [ "$2" = unix ]; then
        out=$(gd_curl_as "$1" --unix-socket "$GD_SOCK" https://localhost/healthz 2>&1)
    else
        out=$(gd_curl_as "$1" "https://localhost:$GD_PORT/healthz" 2>&1)
    fi
    case "$out" in *'"status":"ok"'*) return 0 ;; esac
    echo "$out"; return 1
}

for t in tcp unix; do
    check "$t: no client certificate is refused" refused none $t
    check "$t: a certificate from another CA is refused" refused other $t
    check "$t: an expired certificate is refused" refused expired $t
    check "$t: a valid certificate is served" served client $t
done
check "tcp: revoked certificate served while the CRL does not list it" served revoked tcp

# Revoke by installing the new CRL and reloading.
cp "$GD_PKI/crl.pem" "$GD_TMP/current.crl"
kill -HUP "$GD_PID"
gd_wait_log 'certificates and CRLs reloaded' 10
check "tcp: revoked certificate refused after SIGHUP reloads the CRL" refused revoked tcp
check "unix: revoked certificate refused after SIGHUP reloads the CRL" refused revoked unix
check "tcp: valid certificate still served after the reload" served client tcp
grep -q 'certificate revoked' "$GD_LOG"; ok $? "the log names the revoked certificate"

s_client() { # ARGS... -- one handshake, stdin closed
    timeout 10 openssl s_client -connect "127.0.0.1:$GD_PORT" -servername localhost \
        -CAfile "$GD_PKI/ca.crt" -cert "$GD_PKI/client.crt" -key "$GD_PKI/client.key" \
        "$@" </dev/null 2>&1
}
out=$(s_client -tls1_2)
case "$out" in *"Cipher is (NONE)"*|*"alert protocol version"*|*"no protocols available"*) r=0 ;; *) r=1 ;; esac
ok $r "TLS 1.2 is refused by default"
out=$(s_client -tls1_3)
case "$out" in *"TLSv1.3"*"Verify return code: 0"*|*"Verify return code: 0"*"TLSv1.3"*) r=0 ;; *) r=1 ;; esac
ok $r "TLS 1.3 handshake verifies the server certificate for localhost"

status=$(gd_get /admin/v1/status)
case "$status" in *'"cn":"alice"'*'"subject":"'*) r=0 ;; *'"subject":"'*'"cn":"alice"'*) r=0 ;; *) r=1 ;; esac
ok $r "the daemon sees the client's certificate identity (CN=alice)"
fp=$(openssl x509 -in "$GD_PKI/client.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
case "$status" in *"\"fingerprint_sha256\":\"$fp\""*) r=0 ;; *) r=1 ;; esac
ok $r "the identity carries the certificate's SHA-256 fingerprint"
ustatus=$(gd_unix /admin/v1/status)
case "$ustatus" in *'"peer":"unix:pid='*) r=0 ;; *) r=1 ;; esac
ok $r "on the Unix socket the peer's pid and uid come from SO_PEERCRED"
mode=$(stat -c %a "$GD_SOCK")
[ "$mode" = 600 ]; ok $? "the socket file has the configured mode (0600, got $mode)"
if [ -n "$group" ]; then
    [ "$(stat -c %G "$GD_SOCK")" = "$group" ]; ok $? "the socket file has the configured group ($group)"
else
    tap_skip "no second group to give the socket file to"
fi

# A client that connects and sends no ClientHello is dropped after the
# handshake timeout (700 ms here).
if command -v python3 >/dev/null 2>&1; then
    python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', $GD_PORT)); s.settimeout(5)
t = time.time()
try:
    d = s.recv(1)
except Exception:
    sys.exit(2)
sys.exit(0 if d == b'' and 0.5 < time.time() - t < 4 else 1)"
    ok $? "a silent connection is closed after handshake_timeout_ms"
else
    tap_skip "python3 is not installed (silent-connection check)"
fi

gd_stop TERM; ok $? "SIGTERM stops gemmad with status 0"
[ ! -e "$GD_SOCK" ]; ok $? "the socket file is removed at exit"

# TLS 1.2 when the configuration allows it: strong (ECDHE + AEAD) ciphers only.
gd_config "  min_version: \"1.2\"
limits:
  max_connections: 2"
# (the line above lands inside the tls: mapping, which gd_config ends with)
gd_start || { echo "Bail out! gemmad did not start with TLS 1.2 allowed"; exit 1; }
out=$(s_client -tls1_2)
case "$out" in *"Protocol  : TLSv1.2"*"Verify return code: 0"*) r=0 ;; *) r=1 ;; esac
ok $r "tls.min_version 1.2: a TLS 1.2 client with a certificate is served"
case "$out" in *"Cipher    : ECDHE-"*"GCM"*|*"Cipher    : ECDHE-"*"CHACHA20"*) r=0 ;; *) r=1 ;; esac
ok $r "tls.min_version 1.2: the cipher is ECDHE with an AEAD"
out=$(s_client -tls1_2 -cipher AES128-SHA)
case "$out" in *"Cipher is (NONE)"*|*"handshake failure"*|*"no ciphers"*) r=0 ;; *) r=1 ;; esac
ok $r "tls.min_version 1.2: a weak cipher (AES128-SHA, no forward secrecy) is refused"
out=$(timeout 10 openssl s_client -connect "127.0.0.1:$GD_PORT" -tls1_2 -CAfile "$GD_PKI/ca.crt" </dev/null 2>&1)
case "$out" in *"alert handshake failure"*|*"Cipher is (NONE)"*) r=0 ;; *) r=1 ;; esac
ok $r "tls.min_version 1.2: a TLS 1.2 client without a certificate is refused"

# limits.max_connections: 2 idle clients hold both slots; a third is turned away.
hold() {
    (sleep 4) | timeout 10 openssl s_client -connect "127.0.0.1:$GD_PORT" -quiet \
        -CAfile "$GD_PKI/ca.crt" -cert "$GD_PKI/client.crt" -key "$GD_PKI/client.key" \
        >/dev/null 2>&1 &
}
hold; h1=$!
hold; h2=$!
GD_EXTRA_PIDS="$h1 $h2"
n=0; while ! grep -q 'connection refused: 2 connections open' "$GD_LOG"; do
    gd_get /healthz >/dev/null 2>&1
    n=$((n + 1)); [ $n -ge 20 ] && break; sleep 0.2
done
grep -q 'connection refused: 2 connections open' "$GD_LOG"
ok $? "limits.max_connections: a third connection is refused while two are open"
kill $h1 $h2 2>/dev/null; wait $h1 $h2 2>/dev/null
n=0; while ! served client tcp >/dev/null 2>&1; do n=$((n + 1)); [ $n -ge 50 ] && break; sleep 0.1; done
served client tcp; ok $? "limits.max_connections: served again once they have gone"
gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
