#!/bin/sh
# tests/integration/daemon_batch.sh -- continuous batching in gemmad on a
# tiny synthetic model (sliding window 8), batches of 4 sequences and 16
# tokens per step (so prompts are read in chunks):
#  1. concurrent requests, some admitted while others stream, each with its
#     own seed, one cancelled midway: every answer is the text gemma-run
#     generates for that request alone, and steps held several sequences;
#  2. the prefix cache: a long system prompt is reused (hits, tokens not
#     evaluated again) and the answers are still gemma-run's cold ones;
#  3. the KV budget: requests wait for it (not fail) while it is used, the
#     queue behind them fills and the next request is refused 429 with
#     Retry-After, the waiting ones then run; a request that can never fit
#     the budget gets a clear error;
#  4. gemmactl-facing status and /metrics report batching and the cache;
#  5. several models within engine.models_memory_mb: a load past it is
#     refused (409), one not loaded answers 503, unload then load works.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

GEMMA_RUN="$top_builddir/gemma-run"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed (JSON decoding)"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 800; echo; return 1; }
metric() { gd_get /metrics | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p" | head -1; }
content() {
    python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["choices"][0]["message"]["content"])'
}
# body_for SYSTEM USER SEED N -- a chat request (gemma-run's default sampling)
body_for() {
    python3 -c 'import json,sys
s, u, seed, n = sys.argv[1:5]
msgs = ([{"role": "system", "content": s}] if s else []) + [{"role": "user", "content": u}]
print(json.dumps({"model": "tiny", "messages": msgs, "max_tokens": int(n), "seed": int(seed),
                  "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05}))' "$@"
}
# reference SYSTEM USER SEED N OUT -- what gemma-run generates alone
reference() {
    if [ -n "$1" ]; then
        "$GEMMA_RUN" generate -m "$GD_TMP/tiny.gguf" --chat --system "$1" -p "$2" -n "$4" \
            --seed "$3" > "$5" 2>/dev/null
    else
        "$GEMMA_RUN" generate -m "$GD_TMP/tiny.gguf" --chat -p "$2" -n "$4" --seed "$3" \
            > "$5" 2>/dev/null
    fi
}
# ask NAME SYSTEM USER SEED N -- in the background: the answer's text in NAME.txt
ask() {
    body_for "$2" "$3" "$4" "$5" > "$GD_TMP/$1.json"
    (gd_get /v1/chat/completions -d @"$GD_TMP/$1.json" > "$GD_TMP/$1.body"
     { content < "$GD_TMP/$1.body"; echo; } > "$GD_TMP/$1.txt") &
    asked="$asked $!"
}
# answers -- wait for the requests asked so far (not for gemmad)
answers() { wait $asked; asked=""; }
asked=""
same_text() { # NAME what
    cmp -s "$GD_TMP/$1.ref" "$GD_TMP/$1.txt" && [ -s "$GD_TMP/$1.ref" ]
    rc=$?
    [ $rc -eq 0 ] || { echo "# daemon:    $(head -c 300 "$GD_TMP/$1.txt")"
                       echo "# gemma-run: $(head -c 300 "$GD_TMP/$1.ref")"; }
    ok $rc "$2"
}
words() { # N SEED -- N pseudo-random words
    python3 -c 'import random,sys
r = random.Random(int(sys.argv[2]))
w = ["alpha","river","stone","cloud","seven","paper","green","north","table","light","quiet","metal"]
print(" ".join(r.choice(w) for _ in range(int(sys.argv[1]))))' "$@"
}

gd_config "limits:
  queue_depth: 8
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 1024
    max_tokens: 1000
    max_batch_sequences: 4
    max_batch_tokens: 16
    prefix_cache_mb: 16
    prefix_cache_min_tokens: 16"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

# 1. A mixed batch: three long generations, then two more admitted while
# they stream, and one cancelled; every answer equals its solo reference.
for i in 1 2 3 4 5; do
    eval "u$i=\"\$(words $((10 + 9 * i)) $i)\""
done
ask a "" "$u1" 11 300
ask b "" "$u2" 12 300
ask c "" "$u3" 13 300
sleep 0.3
ask d "" "$u4" 14 60
body_for "" "$(words 40 9)" 19 900 | python3 -c 'import json,sys; d=json.load(sys.stdin); d["stream"]=True; print(json.dumps(d))' > "$GD_TMP/x.json"
curl -sS -N --max-time 60 --cacert "$GD_PKI/ca.crt" --cert "$GD_PKI/client.crt" \
    --key "$GD_PKI/client.key" -d @"$GD_TMP/x.json" \
    "https://localhost:$GD_PORT/v1/chat/completions" > "$GD_TMP/x.out" 2>&1 &
x=$!
GD_EXTRA_PIDS="$x"
ask e "" "$u5" 15 60
sleep 0.3
kill "$x" 2>/dev/null
wait "$x"
answers
reference "" "$u1" 11 300 "$GD_TMP/a.ref"
reference "" "$u2" 12 300 "$GD_TMP/b.ref"
reference "" "$u3" 13 300 "$GD_TMP/c.ref"
reference "" "$u4" 14 60 "$GD_TMP/d.ref"
reference "" "$u5" 15 60 "$GD_TMP/e.ref"
same_text a "batch: request a (started first) answers as alone"
same_text b "batch: request b answers as alone"
same_text c "batch: request c answers as alone"
same_text d "batch: request d (admitted mid-stream) answers as alone"
same_text e "batch: request e (admitted mid-stream, next to a cancel) answers as alone"
n=0; while ! gd_get /metrics | grep -q '^gemmad_active_sequences 0'; do
    n=$((n + 1)); [ $n -ge 100 ] && break; sleep 0.1; done
check "batch: the cancelled stream is gone" has "$(gd_get /metrics)" 'gemmad_active_sequences 0'
steps=$(metric 'gemmad_batch_steps_total{model="tiny"}')
seqs=$(metric 'gemmad_batch_sequences_total{model="tiny"}')
toks=$(metric 'gemmad_batch_tokens_total{model="tiny"}')
[ -n "$steps" ] && [ "${seqs%.*}" -gt "${steps%.*}" ]
ok $? "batch: forward passes held several sequences ($seqs sequences in $steps steps)"
[ -n "$toks" ] && [ "${toks%.*}" -le $((16 * ${steps%.*})) ]
ok $? "batch: at most max_batch_tokens per step ($toks tokens in $steps steps)"

# 2. The prefix cache: a long system prompt (well past the sliding window),
# asked three times; later answers reuse it and still equal cold runs.
sys_prompt=$(words 120 42)
hits0=$(metric 'gemmad_prefix_cache_hits_total{model="tiny"}')
ask p1 "$sys_prompt" "first question" 21 40; answers
ask p2 "$sys_prompt" "second question" 22 40; answers
ask p3 "$sys_prompt" "first question" 21 40; answers
reference "$sys_prompt" "first question" 21 40 "$GD_TMP/p1.ref"
reference "$sys_prompt" "second question" 22 40 "$GD_TMP/p2.ref"
cp "$GD_TMP/p1.ref" "$GD_TMP/p3.ref"
same_text p1 "prefix cache: the first (cold) answer is gemma-run's"
same_text p2 "prefix cache: another question after the cached system prompt is gemma-run's"
same_text p3 "prefix cache: the repeated request is gemma-run's"
hits=$(metric 'gemmad_prefix_cache_hits_total{model="tiny"}')
reused=$(metric 'gemmad_prefix_cache_hit_tokens_total{model="tiny"}')
[ -n "$hits" ] && [ $((${hits%.*} - ${hits0%.*})) -ge 2 ]
ok $? "prefix cache: two hits counted ($hits0 -> $hits)"
[ -n "$reused" ] && [ "${reused%.*}" -ge 200 ]
ok $? "prefix cache: the system prompt's tokens were reused ($reused tokens)"
st=$(gd_get /admin/v1/status)
check "status: per-model batch numbers" has "$st" '"batch":{'
check "status: per-model prefix cache numbers" has "$st" '"prefix_cache":{'
GEMMACTL="$top_builddir/gemmactl"
if [ -x "$GEMMACTL" ]; then
    out=$(env -u GEMMACTL_URL -u GEMMACTL_MODEL -u XDG_CONFIG_HOME HOME="$GD_TMP" \
        GEMMACTL_CONFIG="$GD_TMP/none.yaml" GEMMACTL_SOCKET="$GD_SOCK" \
        GEMMACTL_CERT="$GD_PKI/client.crt" GEMMACTL_KEY="$GD_PKI/client.key" \
        GEMMACTL_CA="$GD_PKI/ca.crt" "$GEMMACTL" status 2>&1)
    check "gemmactl status: the batching line" has "$out" "batching: up to 4 sequences, 16 tokens per step"
    check "gemmactl status: the prefix cache line" has "$out" "prefix cache: $hits hits"
else
    tap_skip "gemmactl is not built"
    tap_skip "gemmactl is not built"
fi
gd_stop

# 3. The KV budget: 3 MB lets one long request run at a time.
gd_config "limits:
  queue_depth: 2
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 4096
    max_tokens: 4000
    max_batch_sequences: 4
    kv_budget_mb: 3
    prefix_cache_mb: 0"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
# (greedy "Hello" runs its 2000 tokens on this model, as in daemon_infer.sh)
body_for "" "Hello" 31 2000 | python3 -c 'import json,sys; d=json.load(sys.stdin); d["stream"]=True; d["temperature"]=0; print(json.dumps(d))' > "$GD_TMP/long.json"
curl -sS -N --max-time 60 --cacert "$GD_PKI/ca.crt" --cert "$GD_PKI/client.crt" \
    --key "$GD_PKI/client.key" -d @"$GD_TMP/long.json" \
    "https://localhost:$GD_PORT/v1/chat/completions" > "$GD_TMP/long.out" 2>&1 &
long=$!
GD_EXTRA_PIDS="$long"
sleep 0.3
ask w1 "" "waiting one" 32 1500
ask w2 "" "waiting two" 33 1500
sleep 0.5
q=$(metric gemmad_queue_depth)
hdr=$(gd_get /v1/chat/completions -D - -d "$(body_for "" "one too many" 34 5)")
check "budget: with the budget used and the queue full, 429" has "$hdr" 'HTTP/1.1 429'
check "budget: ... with Retry-After" has "$hdr" 'Retry-After: '
check "budget: ... and an OpenAI error" has "$hdr" '"code":"queue_full"'
[ "$q" = 2 ]
ok $? "budget: two requests waited in the queue for the budget (queue depth $q)"
waits=$(metric 'gemmad_kv_budget_waits_total{model="tiny"}')
[ -n "$waits" ] && [ "${waits%.*}" -ge 1 ]
ok $? "budget: the queue head waited for KV budget ($waits times)"
kill "$long" 2>/dev/null
wait "$long"
answers
reference "" "waiting one" 32 1500 "$GD_TMP/w1.ref"
reference "" "waiting two" 33 1500 "$GD_TMP/w2.ref"
same_text w1 "budget: the first waiting request ran once the budget freed (as alone)"
same_text w2 "budget: the second waiting request ran too (as alone)"
big=$(gd_get /v1/chat/completions -w ' %{http_code}' -d "$(body_for "" "too big" 35 4000)")
check "budget: a request that can never fit the budget gets a clear error" has "$big" 'kv_budget_mb is 3'
check "budget: ... a 400, refused before it is queued" has "$big" '} 400'
check "budget: ... with the code kv_budget_exceeded" has "$big" '"code":"kv_budget_exceeded"'
check "budget: ... naming what it needs" has "$big" 'MiB of KV cache'
gd_stop

# 4. Several models within engine.models_memory_mb: two 14.6 MB models with
# 4 MB of KV budget each (about 19 MB each) in 30 MB.
gd_config "engine:
  models_memory_mb: 30
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 1024
    kv_budget_mb: 4
    prefix_cache_mb: 0
  - name: other
    path: $GD_TMP/tiny.gguf
    load: false
    context: 1024
    kv_budget_mb: 4
    prefix_cache_mb: 0"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
r=$(gd_get /v1/chat/completions -w ' %{http_code}' -d '{"model":"other","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}')
check "models: a model that is not loaded gets a clear 503" has "$r" '"code":"model_not_loaded"}} 503'
r=$(gd_get /admin/v1/models/load -w ' %{http_code}' -d '{"model":"other"}')
check "models: loading a second one past the memory budget is 409" has "$r" '"code":"memory_budget_exceeded"}} 409'
check "models: ... naming the budget" has "$r" 'engine.models_memory_mb 30'
r=$(gd_get /admin/v1/models/unload -w ' %{http_code}' -d '{"model":"tiny"}')
check "models: unloading the first is accepted" has "$r" ' 202'
model_state() {
    gd_get /admin/v1/status | python3 -c 'import json,sys
print(next(m["state"] for m in json.load(sys.stdin)["models"] if m["name"] == sys.argv[1]))' "$1"
}
n=0; until [ "$(model_state tiny)" = unloaded ]; do
    n=$((n + 1)); [ $n -ge 100 ] && break; sleep 0.1; done
r=$(gd_get /admin/v1/models/load -w ' %{http_code}' -d '{"model":"other"}')
check "models: then the second loads within the budget" has "$r" ' 202'
n=0; until [ "$(model_state other)" = ready ]; do
    n=$((n + 1)); [ $n -ge 100 ] && break; sleep 0.1; done
r=$(gd_get /v1/chat/completions -w ' %{http_code}' -d '{"model":"other","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}')
check "models: ... and answers" has "$r" ' 200'
check "gemmad stops cleanly" gd_stop
tap_done
