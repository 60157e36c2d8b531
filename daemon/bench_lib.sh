# daemon/bench_lib.sh -- what the gemmad benchmarks (bench.sh,
# bench_audit.sh, bench_batch.sh) share: the listen and TLS part of their
# configuration, and starting gemmad until it is ready. Sourced, with
# $build (the build dir), $T (a temp dir) and $P (a PKI made by
# tests/lib/pki.sh's pki_make) set.
# shellcheck disable=SC2154,SC2034 # sourced: $build, $T, $P come from the script; G, port go to it

# bench_tls_yaml -- the configuration's head: log level, a kernel-chosen
# port on 127.0.0.1, mutual TLS with the test PKI.
bench_tls_yaml() {
    cat <<Y
log_level: notice
listen:
  tcp:
    address: 127.0.0.1
    port: 0
tls:
  certificate: $P/server.crt
  private_key: $P/server.key
  client_ca: $P/ca.crt
  crl: $P/crl.pem
Y
}

# bench_start SECONDS -- start gemmad with $T/g.yaml (its log in $T/log)
# and wait up to SECONDS until it is ready; G: its pid, port: its port.
# Exits, printing the log, when it does not get ready.
bench_start() {
    "$build/gemmad" -c "$T/g.yaml" 2>"$T/log" &
    G=$!
    n=0
    until grep -q 'notice gemmad: ready' "$T/log" 2>/dev/null; do
        n=$((n + 1)); [ $n -lt $(($1 * 10)) ] || { cat "$T/log"; exit 1; }; sleep 0.1
    done
    port=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$T/log" | head -1)
}
