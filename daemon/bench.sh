#!/bin/sh
# daemon/bench.sh -- measure gemmad's HTTP and TLS front end: keep-alive
# GET /healthz requests per second over mutual TLS, and new mutual-TLS
# handshakes per second. Not a test; run by hand:
#
#   daemon/bench.sh BUILD_DIR [SECONDS]
#
# Keep-alive: P curl processes (P = 1, 4, 8), each sending N requests
# over its one TLS connection (curl -K with N urls), timed together.
# Handshakes: S parallel `openssl s_time -new` clients (S = 1, 4, 8), each
# doing full TLS 1.3 handshakes with a client certificate (no resumption:
# gemmad turns it off) for SECONDS.
set -eu
build=$(cd "${1:?usage: daemon/bench.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-8}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/pki.sh"
. "$top/daemon/bench_lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/gemmad-bench.XXXXXX")
G=""
trap '[ -n "$G" ] && kill "$G" 2>/dev/null; rm -rf "$T"' EXIT INT TERM
pki_make "$T/pki" >/dev/null
P="$T/pki"
{ bench_tls_yaml; printf 'limits:\n  max_connections: 4096\n'; } > "$T/g.yaml"
bench_start 10
U="https://localhost:$port/healthz"
C="--cacert $P/ca.crt --cert $P/client.crt --key $P/client.key"
N=20000
i=0; : > "$T/urls"
while [ $i -lt $N ]; do printf 'url = "%s"\noutput = /dev/null\n' "$U" >> "$T/urls"; i=$((i + 1)); done
echo "machine: $(nproc) CPUs; $(openssl version)"
for par in 1 4 8; do
    t0=$(date +%s.%N); pids=""
    j=0; while [ $j -lt $par ]; do
        # shellcheck disable=SC2086
        curl -sS $C -K "$T/urls" & pids="$pids $!"; j=$((j + 1)); done
    for p in $pids; do wait "$p"; done
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v n=$((N * par)) -v p=$par \
        'BEGIN{printf "keep-alive: %d connection(s), %d GET /healthz in %.2f s = %.0f requests/s\n", p, n, b-a, n/(b-a)}'
done
for s in 1 4 8; do
    j=0; pids=""
    while [ $j -lt $s ]; do
        openssl s_time -connect "127.0.0.1:$port" -new -time "$secs" -CAfile "$P/ca.crt" \
            -cert "$P/client.crt" -key "$P/client.key" > "$T/st$j" 2>&1 & pids="$pids $!"
        j=$((j + 1)); done
    for p in $pids; do wait "$p"; done
    cat "$T"/st* | awk -v s=$s '/connections in .* real seconds/ {n += $1; t = $4}
        END {printf "handshakes: %d client(s): %d in %d s = %.0f handshakes/s\n", s, n, t, n/t}'
    rm -f "$T"/st*
done
kill -TERM "$G"; wait "$G"; G=""
