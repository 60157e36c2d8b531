#!/bin/sh
# tests/integration/daemon_drain_grace.sh -- shutdown.drain_grace_ms without
# a load balancer: after SIGTERM, /readyz answers 503 on new connections
# while /healthz and chat completions are still served (each answer with
# "Connection: close"); once the grace period is over gemmad stops
# accepting, lets an in-flight stream finish and exits 0; a second SIGTERM
# during the grace period stops at once. (scaleout_haproxy.sh shows the
# same with HAProxy in front.)
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }
chat='{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":4}'

config() { # GRACE_MS
    gd_config "engine:
  threads: 1
shutdown:
  drain_timeout_ms: 120000
  drain_grace_ms: $1
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 4096
    workers: 2"
}

config 1000
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
check "before SIGTERM: /readyz 200" has "$(gd_status /readyz)" 200
kill -TERM "$GD_PID"
gd_wait_log 'SIGTERM: not ready (/readyz 503), still serving for 1000 ms' 5
ok $? "SIGTERM: the log says the grace period began"
# A long stream begun in the grace period runs on after it: 1000 greedy
# tokens (about 170 KB of events) read at 40 KB/s take the client seconds
# however fast the machine generates (a second worker answers the requests
# below meanwhile).
gd_get /v1/chat/completions -N --max-time 150 --limit-rate 40k -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":1000,"temperature":0,"stream":true}' \
    > "$GD_TMP/stream.txt" 2>&1 &
SPID=$!
check "grace: /readyz is 503 on a new connection" has "$(gd_status /readyz)" 503
check "grace: /readyz says not ready" has "$(gd_get /readyz)" '"status":"not ready"'
check "grace: /admin/v1/status says draining" has "$(gd_get /admin/v1/status | tr -d ' ')" '"draining":true'
hdrs=$(gd_get /healthz -D - -o /dev/null)
check "grace: /healthz still 200" has "$hdrs" "HTTP/1.1 200"
check "grace: answers close their connection" has "$hdrs" "Connection: close"
check "grace: a chat completion is still served" has "$(gd_get /v1/chat/completions -d "$chat")" '"object":"chat.completion"'
gd_wait_log 'grace period over: draining' 10
ok $? "after the grace period: draining"
kill -0 $SPID 2>/dev/null
ok $? "the stream is still running when the grace period ends"
echo "# $(grep -c '^data:' "$GD_TMP/stream.txt") chunks streamed then"
code=$(gd_status /healthz 2>/dev/null)
check "after the grace period: no new connection is accepted" has "$code" 000
wait $SPID
check "the stream begun in the grace period ends with [DONE]" has "$(tail -c 200 "$GD_TMP/stream.txt")" 'data: [DONE]'
gd_wait_exit; rc=$?
check "gemmad exits 0" has "$rc" 0

# A second SIGTERM in the grace period stops at once.
config 60000
gd_start || { echo "Bail out! gemmad did not restart"; exit 1; }
kill -TERM "$GD_PID"
gd_wait_log 'still serving for 60000 ms' 5
kill -TERM "$GD_PID"
gd_wait_exit; rc=$?
check "a second SIGTERM in the grace period stops gemmad (exit 0)" has "$rc" 0
grep -q 'SIGTERM again: stopping now' "$GD_LOG"
ok $? "... and the log says so"
tap_done
