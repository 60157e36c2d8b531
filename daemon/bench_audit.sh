#!/bin/sh
# daemon/bench_audit.sh -- measure sustained audited inference requests per
# second: P clients (curl, one keep-alive mutual-TLS connection each) send
# POST /v1/completions with max_tokens 1 to the tiny synthetic model for
# SECONDS, with the audit log (fail-closed: every request waits for its
# "request" and "response" events to be durable) written by the audit
# signer process (security.privsep, the default), with the audit log in
# gemmad itself (privsep: false), and without an audit log. ROUNDS=N
# repeats the two audited runs N times, alternating, to see the noise of
# a shared machine. Not a test; run by hand:
#
#   [ROUNDS=N] daemon/bench_audit.sh BUILD_DIR [SECONDS] [CLIENTS]
set -eu
build=$(cd "${1:?usage: daemon/bench_audit.sh BUILD_DIR [SECONDS] [CLIENTS]}" && pwd)
secs=${2:-20}
par=${3:-8}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/pki.sh"
. "$top/daemon/bench_lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/gemmad-bench.XXXXXX")
G=""
cleanup() {
    [ -n "$G" ] && kill -KILL "$G" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pki_make "$T/pki" >/dev/null
P="$T/pki"
"$build/gemma-run" synth --preset tiny --seed 1 -o "$T/tiny.gguf" >/dev/null
N=30000 # requests each client has queued (more than it can send in SECONDS)
i=0; : > "$T/urls"
while [ $i -lt $N ]; do printf 'url = "URL"\noutput = /dev/null\n' >> "$T/urls"; i=$((i + 1)); done

# answered PORT -- "N200 NOTHER": completions answered so far, by status.
answered() {
    curl -sS --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
        "https://localhost:$1/metrics" |
    awk '/^gemmad_http_requests_total\{route="completions"/ {
             if ($0 ~ /status="200"/) ok += $2; else bad += $2 }
         END { printf "%d %d\n", ok, bad }'
}

run() { # LABEL EXTRA_YAML
    bench_tls_yaml > "$T/g.yaml"
    cat >> "$T/g.yaml" <<Y
limits:
  queue_depth: 1000
$2
models:
  - name: tiny
    path: $T/tiny.gguf
    context: 128
    workers: 2
Y
    bench_start 30
    sed "s#URL#https://localhost:$port/v1/completions#" "$T/urls" > "$T/urls.$port"
    pids=""
    j=0
    while [ $j -lt "$par" ]; do
        curl -sS --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
            -H 'Content-Type: application/json' \
            -d '{"model":"tiny","prompt":"Hi","max_tokens":1}' -K "$T/urls.$port" \
            >/dev/null 2>&1 &
        pids="$pids $!"
        j=$((j + 1))
    done
    # Counted by gemmad itself (/metrics), over the window after a warm-up.
    sleep 2
    a=$(answered "$port")
    sleep "$secs"
    b=$(answered "$port")
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    kill -TERM "$G"; wait "$G" || true; G=""
    ok=$(( ${b% *} - ${a% *} ))
    bad=$(( ${b#* } - ${a#* } ))
    rows=""
    if [ -f "$T/audit.db" ] && command -v sqlite3 >/dev/null 2>&1; then
        rows=", $(sqlite3 "$T/audit.db" "SELECT count(*) FROM events WHERE event='response' AND http_status=200") response rows in all"
    fi
    awk -v l="$1" -v n="$ok" -v b="$bad" -v s="$secs" -v p="$par" -v r="$rows" \
        'BEGIN{printf "%s: %d clients, %d answered 200 in %d s = %.0f requests/s (%d other)%s\n", l, p, n, s, n/s, b, r}'
    rm -f "$T"/audit.db*
}
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
r=0
while [ $r -lt "${ROUNDS:-1}" ]; do
    run "audited, privsep (signer process)" "security:
  audit_db: $T/audit.db"
    run "audited, privsep: false (in-process)" "security:
  audit_db: $T/audit.db
  privsep: false"
    r=$((r + 1))
done
run "no audit log" ""
