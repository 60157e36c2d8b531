#!/bin/sh
# tests/integration/scaleout_haproxy.sh -- two gemmad instances behind one
# HAProxy (Debian's) in TCP mode with TLS passthrough, configured from the
# shipped example etc/haproxy/gemmad.cfg, all on loopback:
#   - HAProxy's mTLS health check on /readyz sees both instances up;
#   - chat requests from two client certificates spread over both
#     instances, and each instance's audit log names the certificate that
#     sent each request it answered (matched by the answer's id), so the
#     client's identity reaches gemmad through the balancer;
#   - a policy denial through the balancer is a 403 and is audited under
#     the denied certificate; a revoked certificate or none gets no answer;
#   - SIGTERM on one instance during a stream of streamed requests from
#     three clients: HAProxy sees /readyz 503 and takes it out of the pool
#     within shutdown.drain_grace_ms, before it stops accepting; no request
#     the client saw accepted (200) is lost, every other attempt got a
#     retriable error (no answer, 503) and succeeded when the client retried
#     through the balancer; the instance exits 0 and the pool keeps serving
#     from the other. Then again after a restart of that instance on its
#     port, without a grace period (HAProxy redispatches the refused
#     connections). The request counts of each round are printed
#     (# drain round N: sent= attempts= accepted= completed= retried=
#     lost= failed=).
#   - gemmactl audit export of both instances verifies as a set
#     (gemmactl audit verify --file A --file B).
. "$top_srcdir/tests/lib/tap.sh"
command -v haproxy >/dev/null 2>&1 ||
    tap_skip_all "haproxy is not installed (scripts/install-deps.sh)"
command -v sqlite3 >/dev/null 2>&1 ||
    tap_skip_all "sqlite3 is not installed (scripts/install-deps.sh)"
. "$top_srcdir/tests/integration/daemon_lib.sh"
G="$top_builddir/gemmactl"
[ -x "$G" ] || tap_skip_all "gemmactl is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }

# More certificates of the test CA: a second application client, the
# balancer's health-check client (status.read only) and a client whose role
# may not run inference.
pki__issue "$GD_PKI" bob "/O=gemmad tests/OU=apps/CN=bob" client &&
pki__issue "$GD_PKI" check "/O=gemmad tests/OU=balancers/CN=haproxy" client &&
pki__issue "$GD_PKI" mallory "/O=gemmad tests/OU=guests/CN=mallory" client ||
    { echo "Bail out! cannot issue the test certificates"; exit 1; }
cat "$GD_PKI/check.crt" "$GD_PKI/check.key" > "$GD_TMP/check.pem"
cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  client: {permissions: [{infer: [tiny]}, models.list]}
  balancer: {permissions: [status.read]}
  guest: {permissions: [models.list]}
rules:
  - {name: apps, match: {ou: apps}, role: client}
  - {name: balancers, match: {ou: balancers}, role: balancer}
  - {name: guests, match: {ou: guests}, role: guest}
EOF

# ---- two gemmad instances ----
# start_instance N [PORT] -- gemmad number N in $GD_TMP/gN (own socket and
# audit log; TCP port PORT, default chosen by the kernel) with
# shutdown.drain_grace_ms GRACE_MS; sets PID_N and PORT_N.
start_instance() {
    d="$GD_TMP/g$1"
    mkdir -p "$d"
    cat > "$d/gemmad.yaml" <<EOF
log_level: info
listen:
  unix:
    path: $d/gemmad.sock
    mode: "0600"
  tcp:
    address: 127.0.0.1
    port: ${2:-0}
tls:
  certificate: $GD_PKI/server.crt
  private_key: $GD_PKI/server.key
  client_ca: $GD_PKI/ca.crt
  crl: $GD_PKI/crl.pem
shutdown:
  drain_timeout_ms: 30000
  drain_grace_ms: $GRACE_MS
engine:
  threads: 1
security:
  policy: $GD_TMP/policy.yaml
  audit_db: $d/audit.db
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 512
    workers: 1
EOF
    : > "$d/gemmad.log"
    "$GEMMAD" -c "$d/gemmad.yaml" >>"$d/gemmad.log" 2>&1 &
    eval "PID_$1=$!"
    GD_EXTRA_PIDS="${GD_EXTRA_PIDS:-} $!"
    n=0
    until grep -q 'notice gemmad: ready' "$d/gemmad.log"; do
        n=$((n + 1))
        if [ $n -ge 300 ] || ! kill -0 "$(eval echo "\$PID_$1")" 2>/dev/null; then
            echo "# gemmad $1 did not become ready:"; sed 's/^/#   /' "$d/gemmad.log"
            return 1
        fi
        sleep 0.1
    done
    eval "PORT_$1=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$d/gemmad.log" | head -1)"
}
GRACE_MS=3000
start_instance 1 && start_instance 2 || { echo "Bail out! gemmad did not start"; exit 1; }

# ---- HAProxy, configured from the shipped example ----
rand_port() { echo $(( $(od -An -N2 -tu2 /dev/urandom) % 25000 + 30000 )); }
# The example's frontend and backend, pointed at the two instances, the
# test PKI and loopback, with faster checks (every substitution must hit).
make_haproxy_cfg() {
    {
        cat <<EOF
global
    log stderr format raw local0 info
    maxconn 512
defaults
    log global
frontend stats
    mode http
    bind 127.0.0.1:$SP
    timeout client 10s
    stats enable
    stats uri /stats
EOF
        awk '/^frontend gemmad_tls/ { p = 1 } p' "$top_srcdir/etc/haproxy/gemmad.cfg" |
        sed -e "s|^\( *bind\) :8443\$|\1 127.0.0.1:$LB_PORT|" \
            -e "s|/etc/haproxy/gemmad/ca.crt|$GD_PKI/ca.crt|" \
            -e "s|/etc/haproxy/gemmad/check.pem|$GD_TMP/check.pem|" \
            -e "s|inter 2s fall 2 rise 2\$|inter 250ms fall 2 rise 1|" \
            -e "s|^\( *server\) gemmad1 10.0.0.11:8443 check-sni gemmad1.example.org verifyhost gemmad1.example.org\$|\1 g1 127.0.0.1:$PORT_1 check-sni localhost verifyhost localhost|" \
            -e "s|^\( *server\) gemmad2 10.0.0.12:8443 check-sni gemmad2.example.org verifyhost gemmad2.example.org\$|\1 g2 127.0.0.1:$PORT_2 check-sni localhost verifyhost localhost|"
    } > "$GD_TMP/haproxy.cfg"
    for want in "bind 127.0.0.1:$LB_PORT" "ca-file $GD_PKI/ca.crt" "crt $GD_TMP/check.pem" \
                "inter 250ms fall 2 rise 1" "server g1 127.0.0.1:$PORT_1" \
                "server g2 127.0.0.1:$PORT_2" "option httpchk" "option redispatch"; do
        grep -qF "$want" "$GD_TMP/haproxy.cfg" || { echo "# missing: $want"; return 1; }
    done
}
# stats -- "NAME STATUS" for g1 and g2 (HAProxy's CSV statistics).
stats() {
    curl -sS --max-time 5 "http://127.0.0.1:$SP/stats;csv" 2>/dev/null |
        awk -F, '$1 == "gemmad_pool" && ($2 == "g1" || $2 == "g2") { print $2, $18 }'
}
# wait_status NAME STATUS SECONDS -- until HAProxy has NAME in STATUS.
wait_status() {
    n=0
    until stats | grep -q "^$1 $2\$"; do
        n=$((n + 1)); [ $n -ge $(($3 * 10)) ] && return 1; sleep 0.1
    done
}
HA_PID=""
started=0
for t in 1 2 3 4 5; do
    LB_PORT=$(rand_port); SP=$(rand_port)
    [ "$LB_PORT" = "$SP" ] && continue
    make_haproxy_cfg || break
    haproxy -db -f "$GD_TMP/haproxy.cfg" > "$GD_TMP/haproxy.log" 2>&1 &
    HA_PID=$!
    GD_EXTRA_PIDS="$GD_EXTRA_PIDS $HA_PID"
    n=0
    while kill -0 "$HA_PID" 2>/dev/null && [ -z "$(stats)" ] && [ $n -lt 100 ]; do
        n=$((n + 1)); sleep 0.1
    done
    if kill -0 "$HA_PID" 2>/dev/null && [ -n "$(stats)" ]; then started=1; break; fi
    kill "$HA_PID" 2>/dev/null; wait "$HA_PID" 2>/dev/null
done
ok $(( 1 - started )) "haproxy starts with the example's frontend and backend (port $LB_PORT)"
[ $started = 1 ] || { sed 's/^/#   /' "$GD_TMP/haproxy.cfg" "$GD_TMP/haproxy.log"; echo "Bail out! no haproxy"; exit 1; }
wait_status g1 UP 15 && wait_status g2 UP 15
ok $? "the mTLS health check on /readyz sees both instances up"
stats | sed 's/^/# haproxy: /'

LB="https://localhost:$LB_PORT"
# as WHO ARGS... -- curl through the balancer with WHO's certificate.
as() { gd_curl_as "$@"; }
chat() { printf '{"model":"tiny","messages":[{"role":"user","content":"%s"}],"max_tokens":%s,"seed":7}' "$1" "$2"; }

# ---- 1. identity kept end to end, requests spread ----
: > "$GD_TMP/sent.txt"
for who in client client client client bob bob bob bob; do
    body=$(as "$who" "$LB/v1/chat/completions" -d "$(chat Hello 2)")
    id=$(printf '%s' "$body" | sed -n 's/.*"id":"\(chatcmpl-[^"]*\)".*/\1/p')
    cn=alice; [ "$who" = bob ] && cn=bob
    echo "$id $cn" >> "$GD_TMP/sent.txt"
done
[ "$(awk '$1 != "" { n++ } END { print n + 0 }' "$GD_TMP/sent.txt")" = 8 ]
ok $? "8 chat requests from alice and bob answered through the balancer"
# audit_rows N SQL -- rows of instance N's audit log (read-only, while it runs).
audit_rows() { sqlite3 -batch -separator ' ' "file:$GD_TMP/g$1/audit.db?mode=ro" "$2" 2>/dev/null; }
responses() {
    audit_rows "$1" "SELECT request_id, subject_dn FROM events WHERE event = 'response'
                     AND route = 'POST /v1/chat/completions' AND http_status = 200"
}
# The response rows are written as the answers end: wait for all 8.
n=0
while [ "$( (responses 1; responses 2) | wc -l)" -lt 8 ] && [ $n -lt 100 ]; do
    n=$((n + 1)); sleep 0.1
done
bad=0
while read -r id cn; do
    r1=$(responses 1 | grep -c "^$id ")
    r2=$(responses 2 | grep -c "^$id ")
    dn=$( (responses 1; responses 2) | grep "^$id " | cut -d' ' -f2-)
    if [ $((r1 + r2)) -ne 1 ]; then
        echo "# $id ($cn): $r1 rows on g1, $r2 on g2"; bad=1
    fi
    case "$dn" in *"CN=$cn,"*|*"CN=$cn") ;; *) echo "# $id sent by $cn, audited as '$dn'"; bad=1 ;; esac
done < "$GD_TMP/sent.txt"
ok $bad "each answer is audited once, on one instance, under the certificate that sent it"
for i in 1 2; do
    a=$(responses $i | grep -c 'CN=alice'); b=$(responses $i | grep -c 'CN=bob')
    echo "# g$i answered alice $a, bob $b"
    [ "$a" -ge 1 ] && [ "$b" -ge 1 ]
    ok $? "instance g$i answered both alice and bob"
done

code=$(as mallory -o /dev/null -w '%{http_code}' "$LB/v1/chat/completions" -d "$(chat Hello 2)")
check "a policy denial through the balancer is a 403" has "$code" 403
n=0
while [ -z "$( (audit_rows 1 "SELECT subject_dn FROM events WHERE event = 'denied'";
               audit_rows 2 "SELECT subject_dn FROM events WHERE event = 'denied'") |
             grep 'CN=mallory')" ] && [ $n -lt 50 ]; do
    n=$((n + 1)); sleep 0.1
done
denied=$( (audit_rows 1 "SELECT subject_dn, action FROM events WHERE event = 'denied'";
           audit_rows 2 "SELECT subject_dn, action FROM events WHERE event = 'denied'") | grep -c 'CN=mallory.* infer$')
check "the denial is audited under mallory's certificate (action infer)" has "$denied" 1
code=$(as revoked -o /dev/null -w '%{http_code}' "$LB/v1/models" 2>/dev/null)
check "a revoked certificate gets no answer through the balancer" has "$code" 000
code=$(as none -o /dev/null -w '%{http_code}' "$LB/v1/models" 2>/dev/null)
check "no certificate gets no answer through the balancer" has "$code" 000

# ---- 2. SIGTERM on g1 during a stream of requests ----
WORKERS=3
PER_WORKER=8
# worker ROUND ID -- PER_WORKER streamed chats through the balancer, one
# after the other; an attempt with no answer (curl could not connect, the
# handshake or the connection was cut before the status line) or a 503 is
# retried (at most 6 attempts). One line per attempt:
#   ok|lost|retry|fail REQ ATTEMPT HTTP_CODE CURL_EXIT
worker() {
    i=0
    while [ $i -lt $PER_WORKER ]; do
        i=$((i + 1)); try=0
        while :; do
            try=$((try + 1))
            out="$GD_TMP/r$1w$2.$i.$try"
            code=$(curl -sS -N --max-time 60 --cacert "$GD_PKI/ca.crt" --cert "$GD_PKI/client.crt" \
                --key "$GD_PKI/client.key" -o "$out" -w '%{http_code}' \
                -d "$(chat Hello 96 | sed 's/}$/,"stream":true}/')" "$LB/v1/chat/completions" 2>"$out.err")
            rc=$?
            if [ "$code" = 200 ]; then
                if [ $rc -eq 0 ] && grep -q '^data: \[DONE\]' "$out"; then
                    echo "ok $2.$i $try $code $rc"
                else
                    echo "lost $2.$i $try $code $rc"
                fi
                break
            fi
            if { [ "$code" = 000 ] || [ "$code" = 503 ]; } && [ $try -lt 6 ]; then
                echo "retry $2.$i $try $code $rc"
                sleep 0.1
                continue
            fi
            echo "fail $2.$i $try $code $rc"
            break
        done
    done > "$GD_TMP/r$1w$2.log"
}
# drain_round ROUND -- the workers run; once g1 has taken a few requests it
# gets SIGTERM; checks that it exits 0 and that the clients lost nothing.
drain_round() {
    for w in $(seq 1 $WORKERS); do worker "$1" "$w" & eval "WPID_$w=$!"; done
    # SIGTERM while g1 is answering: it has taken a few requests since the
    # round began and at least one is under way (no response row yet).
    chat_rows() {
        audit_rows 1 "SELECT count(*) FROM events WHERE event = '$1'
                      AND route = 'POST /v1/chat/completions'"
    }
    before=$(chat_rows request)
    n=0
    until [ "$(chat_rows request)" -gt $((before + 2)) ] &&
          [ "$(chat_rows request)" -gt "$(chat_rows response)" ] || [ $n -ge 400 ]; do
        n=$((n + 1)); sleep 0.02
    done
    t_term=$(date +%s%6N)
    kill -TERM "$PID_1"
    if [ "$GRACE_MS" -gt 0 ]; then
        # HAProxy must see g1 go down while g1 still accepts (grace period).
        wait_status g1 DOWN 10; down=$?
        grace_over=$(grep -c 'grace period over' "$GD_TMP/g1/gemmad.log")
        [ $down -eq 0 ] && [ "$grace_over" -eq 0 ]
        ok $? "round $1: HAProxy takes g1 out of the pool before g1 stops accepting (drain_grace_ms $GRACE_MS)"
    fi
    for w in $(seq 1 $WORKERS); do wait "$(eval echo "\$WPID_$w")"; done
    n=0
    while kill -0 "$PID_1" 2>/dev/null && [ $n -lt 300 ]; do n=$((n + 1)); sleep 0.1; done
    wait "$PID_1"; rc1=$?
    check "round $1: g1 drained and exited 0" has "$rc1" 0
    if [ "$GRACE_MS" -gt 0 ]; then
        grep -q 'grace period over: draining' "$GD_TMP/g1/gemmad.log"
        ok $? "round $1: g1 stopped accepting only after its grace period"
    fi

    cat "$GD_TMP"/r$1w*.log > "$GD_TMP/attempts$1.txt"
    count() { grep -c "^$1 " "$GD_TMP/attempts$2.txt"; }
    sent=$((WORKERS * PER_WORKER))
    attempts=$(wc -l < "$GD_TMP/attempts$1.txt")
    completed=$(count ok "$1"); lost=$(count lost "$1"); retried=$(count retry "$1")
    failed=$(count fail "$1")
    accepted=$((completed + lost))
    g1_after=$(audit_rows 1 "SELECT count(*) FROM events WHERE event = 'response'
                              AND http_status = 200 AND time_us > $t_term")
    echo "# drain round $1 (drain_grace_ms $GRACE_MS): sent=$sent attempts=$attempts" \
         "accepted=$accepted completed=$completed retried=$retried lost=$lost" \
         "failed=$failed; g1 finished $g1_after after SIGTERM"
    grep -v '^ok ' "$GD_TMP/attempts$1.txt" | sed 's/^/#   /'
    check "round $1: no request the client saw accepted was lost" has "$lost" 0
    check "round $1: every request completed (errors were retriable and retried)" \
        has "$completed/$failed" "$sent/0"
    [ "$g1_after" -ge 1 ]
    ok $? "round $1: g1 finished requests after SIGTERM ($g1_after)"
    body=$(as client "$LB/v1/chat/completions" -d "$(chat Hello 2)")
    check "round $1: the pool keeps serving from g2" has "$body" '"object":"chat.completion"'
    stats | grep -q '^g2 UP$'
    ok $? "round $1: HAProxy has g2 up"
}
drain_round 1
# Round 2: g1 again on the same port, without a grace period: it stops
# accepting at SIGTERM, so HAProxy's connection attempts to it are refused
# and redispatched to g2; only attempts caught in between see an error.
GRACE_MS=0
start_instance 1 "$PORT_1" || { echo "Bail out! gemmad 1 did not restart"; exit 1; }
wait_status g1 UP 15
ok $? "g1 restarted on port $PORT_1 and back in the pool"
drain_round 2

# ---- 3. the audit logs of both instances, exported and verified as a set ----
"$G" audit export --db "$GD_TMP/g1/audit.db" --out "$GD_TMP/g1.jsonl" >/dev/null &&
"$G" audit export --db "$GD_TMP/g2/audit.db" --out "$GD_TMP/g2.jsonl" >/dev/null
ok $? "gemmactl audit export of each instance"
out=$("$G" audit verify --file "$GD_TMP/g1.jsonl" --file "$GD_TMP/g2.jsonl" 2>&1); rc=$?
echo "$out" | sed 's/^/#   /'
check "gemmactl audit verify over both exports: OK" has "$rc" 0

kill -TERM "$PID_2"
wait "$PID_2"; rc2=$?
check "g2 exits 0 on SIGTERM" has "$rc2" 0
tap_done
