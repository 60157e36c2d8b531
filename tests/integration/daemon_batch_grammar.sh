#!/bin/sh
# tests/integration/daemon_batch_grammar.sh -- constrained output, tool
# calls and logprobs under continuous batching (issue 13 x issue 14): a
# synthetic model served 4 sequences at a time, 16 tokens per step. A set
# of requests -- json_schema (several schemas), json_object, tool_choice
# "required", logprobs with top_logprobs, and a plain one -- is answered
# one at a time, then all at once. Each concurrent answer must equal its
# solo answer (content, tool calls, finish reason, logprobs to the last
# digit),
# the json_schema answers must validate, and the forward passes must have
# held several sequences (the requests really were batched).
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

python3 -c 'import jsonschema' 2>/dev/null || tap_skip_all "python3-jsonschema is not installed"
gd_tiny_model 3
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 2048
    max_tokens: 1000
    max_batch_sequences: 4
    max_batch_tokens: 16
    prefix_cache_mb: 0"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

metric() { gd_get /metrics | sed -n "s/^$1 \([0-9.e+]*\)$/\1/p" | head -1; }
DATA="$top_srcdir/tests/data/json_schema"
CHECK="$top_srcdir/tests/integration/json_schema_check.py"
MAX=300
# The requests: NAME KIND (schema file | object | tools | logprobs | plain)
python3 - "$DATA" "$GD_TMP" "$MAX" <<'PY'
import json, os, sys
data, out, mx = sys.argv[1], sys.argv[2], int(sys.argv[3])
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"], "additionalProperties": False}}}]
def chat(text, seed, **kw):
    d = {"model": "tiny", "messages": [{"role": "user", "content": text}],
         "max_tokens": mx, "temperature": 1, "seed": seed}
    d.update(kw)
    return d
reqs = {}
for i, name in enumerate(["person", "invoice", "nested", "shapes"]):
    schema = json.load(open(os.path.join(data, name + ".json")))
    reqs["schema_" + name] = chat("Extract the record %d." % i, 10 + i, response_format={
        "type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}})
reqs["object"] = chat("Give JSON.", 20, response_format={"type": "json_object"})
reqs["tools"] = chat("What is the weather in Paris?", 21, tools=tools, tool_choice="required")
reqs["logprobs"] = chat("Hello there", 22, logprobs=True, top_logprobs=3, max_tokens=24)
reqs["plain"] = chat("Tell me a story", 23, max_tokens=40)
for k, v in reqs.items():
    json.dump(v, open(os.path.join(out, k + ".req"), "w"))
open(os.path.join(out, "names"), "w").write(" ".join(reqs))
PY
names=$(cat "$GD_TMP/names")

# one at a time
for n in $names; do
    gd_get /v1/chat/completions -d @"$GD_TMP/$n.req" > "$GD_TMP/$n.solo"
done
steps0=$(metric 'gemmad_batch_steps_total{model="tiny"}')
seqs0=$(metric 'gemmad_batch_sequences_total{model="tiny"}')
# all at once
pids=""
for n in $names; do
    gd_get /v1/chat/completions -d @"$GD_TMP/$n.req" > "$GD_TMP/$n.batch" &
    pids="$pids $!"
done
wait $pids
steps=$(metric 'gemmad_batch_steps_total{model="tiny"}')
seqs=$(metric 'gemmad_batch_sequences_total{model="tiny"}')

# same NAME -- the batched answer is the solo one
same() {
    python3 - "$GD_TMP/$1.solo" "$GD_TMP/$1.batch" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ca, cb = a["choices"][0], b["choices"][0]
for k in ("finish_reason",):
    assert ca[k] == cb[k], (k, ca[k], cb[k])
ma, mb = ca["message"], cb["message"]
assert ma.get("content") == mb.get("content"), (ma.get("content"), mb.get("content"))
assert ma.get("tool_calls") is None or [t["function"] for t in ma["tool_calls"]] == \
    [t["function"] for t in mb["tool_calls"]], (ma.get("tool_calls"), mb.get("tool_calls"))
la, lb = ca.get("logprobs"), cb.get("logprobs")
assert (la is None) == (lb is None), (la, lb)
if la:
    ea, eb = la["content"], lb["content"]
    assert len(ea) == len(eb) > 0, (len(ea), len(eb))
worst = 0.0
if la:
    for x, y in zip(ea, eb):
        assert x["token"] == y["token"], (x["token"], y["token"])
        assert [t["token"] for t in x["top_logprobs"]] == \
            [t["token"] for t in y["top_logprobs"]], (x["top_logprobs"], y["top_logprobs"])
        worst = max([worst, abs(x["logprob"] - y["logprob"])] +
                    [abs(s["logprob"] - t["logprob"])
                     for s, t in zip(x["top_logprobs"], y["top_logprobs"])])
    # the engine is batch-invariant (test_batch_invariance: the same bits),
    # so the logprobs are the same numbers
    assert worst == 0.0, "logprobs differ by %g" % worst
print("ok: %s, %d tokens%s" % (ca["finish_reason"], b.get("usage", {}).get("completion_tokens", 0),
                               ", the same logprobs" if la else ""))
PY
}
for n in $names; do
    r=$(same "$n" 2>&1)
    ok $? "batched $n answers as alone ($(echo "$r" | tail -1 | head -c 300))"
done
for s in person invoice nested shapes; do
    r=$(python3 "$CHECK" "$DATA/$s.json" "$GD_TMP/schema_$s.batch" "$MAX" 2>&1)
    ok $? "batched json_schema $s: the answer validates ($r)"
done
r=$(python3 "$CHECK" - "$GD_TMP/object.batch" "$MAX" 2>&1)
ok $? "batched json_object: the answer is a JSON object ($r)"
python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))["choices"][0]
assert c["finish_reason"] == "tool_calls" and c["message"]["tool_calls"], c
a = json.loads(c["message"]["tool_calls"][0]["function"]["arguments"])
assert a["unit"] in ("celsius", "fahrenheit"), a' "$GD_TMP/tools.batch"
ok $? "batched tool_choice required: the answer is a get_weather call"
[ -n "$steps" ] && [ $((${seqs%.*} - ${seqs0%.*})) -gt $((${steps%.*} - ${steps0%.*})) ]
ok $? "the requests were batched ($((${seqs%.*} - ${seqs0%.*})) sequences in $((${steps%.*} - ${steps0%.*})) steps)"
check "gemmad stops cleanly" gd_stop
tap_done
