#!/bin/sh
# tests/integration/daemon_logprobs.sh -- logprobs and top_logprobs through
# gemmad on a synthetic model: a greedy text completion's logprobs equal
# the log-softmax of the engine's own logits (`gemma-run logits`, checked
# by logprobs_check.py), chat answers carry choices[].logprobs.content[]
# with token, logprob, bytes and top_logprobs, the streamed chat carries
# the same entries as the plain one, and bad values are refused.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed"
gd_tiny_model 3
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 1024
    max_tokens: 200"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

prompt="The quick brown fox"
gd_get /v1/completions -d "{\"model\":\"tiny\",\"prompt\":\"$prompt\",\"max_tokens\":6,\"temperature\":0,\"logprobs\":5}" > "$GD_TMP/cmpl.json"
r=$(python3 "$top_srcdir/tests/integration/logprobs_check.py" "$GEMMA_RUN" "$GD_TMP/tiny.gguf" "$prompt" "$GD_TMP/cmpl.json" "$GD_TMP" 2>&1)
case $r in ok*) true ;; *) false ;; esac
ok $? "completions: logprobs equal the engine's log-softmax ($r)"

chat='{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"temperature":1,"seed":11,"logprobs":true,"top_logprobs":3'
gd_get /v1/chat/completions -d "$chat}" > "$GD_TMP/chat.json"
gd_get /v1/chat/completions -d "$chat,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" > "$GD_TMP/chat.sse"
r=$(python3 - "$GD_TMP/chat.json" "$GD_TMP/chat.sse" <<'PY'
import json, math, sys
whole = json.load(open(sys.argv[1]))
c = whole["choices"][0]
content = c["logprobs"]["content"]
n = whole["usage"]["completion_tokens"]
eog = 1 if c["finish_reason"] == "stop" else 0
assert len(content) == n - eog, "%d entries for %d tokens" % (len(content), n)
text = b""
for e in content:
    assert set(e) == {"token", "logprob", "bytes", "top_logprobs"}, e
    assert e["logprob"] <= 0 and len(e["top_logprobs"]) == 3, e
    tl = [t["logprob"] for t in e["top_logprobs"]]
    assert tl == sorted(tl, reverse=True), tl
    assert all(set(t) == {"token", "logprob", "bytes"} for t in e["top_logprobs"])
    assert abs(sum(math.exp(x) for x in tl)) <= 1.0001
    text += bytes(e["bytes"])
assert text.decode("utf-8", "replace") == c["message"]["content"], (text, c["message"]["content"])
streamed = []
for line in open(sys.argv[2]):
    if line.startswith("data: {"):
        ch = json.loads(line[6:]).get("choices") or []
        for x in ch:
            if x.get("logprobs"):
                streamed += x["logprobs"]["content"]
assert [(e["token"], e["logprob"]) for e in streamed] == [(e["token"], e["logprob"]) for e in content]
print("ok: %d entries" % len(content))
PY
)
case $r in ok*) true ;; *) false ;; esac
ok $? "chat: logprobs.content has token, logprob, bytes, top_logprobs; streamed the same ($r)"

code=$(gd_status /v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}')
check "top_logprobs 21 is refused (400)" [ "$code" = 400 ]
code=$(gd_status /v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"x"}],"top_logprobs":2}')
check "top_logprobs without logprobs is refused (400)" [ "$code" = 400 ]
body=$(gd_get /v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"x"}],"max_tokens":2}')
case $body in *'"logprobs":null'*) true ;; *) false ;; esac
ok $? "without logprobs the answer says logprobs null"
gd_stop TERM
ok $? "gemmad stops cleanly (in a sanitizer build: no leak)"
tap_done
