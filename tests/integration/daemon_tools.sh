#!/bin/sh
# tests/integration/daemon_tools.sh -- tool calling through gemmad on a
# random-weight synthetic model: tool_choice "required" and a named
# function constrain the answer to a call in Gemma 4's tool syntax, which
# comes back as OpenAI tool_calls whose arguments validate against the
# function's parameters (python3-jsonschema), plain and streamed (deltas);
# "none" gives text only; a history with assistant tool_calls and role
# "tool" messages is accepted; bad tool requests are refused with 400.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

python3 -c 'import jsonschema' 2>/dev/null || tap_skip_all "python3-jsonschema is not installed"
gd_tiny_model 3
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 2048
    max_tokens: 1000"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

tools='[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"],"additionalProperties":false}}},{"type":"function","function":{"name":"find_flights","description":"Flights between two airports","parameters":{"type":"object","properties":{"from":{"type":"string","maxLength":3,"minLength":3},"to":{"type":"string","maxLength":3,"minLength":3},"date":{"type":"string","format":"date"},"passengers":{"type":"array","maxItems":2,"items":{"type":"object","properties":{"name":{"type":"string","maxLength":10},"child":{"type":"boolean"}},"required":["name"],"additionalProperties":false}}},"required":["from","to","date"],"additionalProperties":false}}}]'
printf '%s' "$tools" > "$GD_TMP/tools.json"
user='"messages":[{"role":"user","content":"What is the weather in Paris?"}]'

# check_calls FILE [NAME] -- the answer (JSON or SSE) holds valid calls
check_calls() {
    python3 - "$GD_TMP/tools.json" "$1" "${2:-}" <<'PY'
import json, sys, jsonschema
tools = {t["function"]["name"]: t["function"]["parameters"] for t in json.load(open(sys.argv[1]))}
raw, want = open(sys.argv[2]).read(), sys.argv[3]
calls, finish = [], None
if raw.startswith("data:"):
    acc = {}
    for line in raw.splitlines():
        if not line.startswith("data: {"):
            continue
        for ch in json.loads(line[6:]).get("choices", []):
            finish = ch.get("finish_reason") or finish
            for d in (ch.get("delta") or {}).get("tool_calls") or []:
                c = acc.setdefault(d["index"], {"name": "", "arguments": ""})
                if d.get("id"):
                    c["id"] = d["id"]
                f = d.get("function") or {}
                c["name"] += f.get("name") or ""
                c["arguments"] += f.get("arguments") or ""
    calls = [acc[k] for k in sorted(acc)]
else:
    ch = json.loads(raw)["choices"][0]
    finish = ch["finish_reason"]
    calls = [dict(c["function"], id=c["id"]) for c in ch["message"].get("tool_calls") or []]
    assert ch["message"]["content"] in (None, ""), ch["message"]
if finish == "length":
    print("length"); sys.exit(0)
assert finish == "tool_calls", "finish_reason %r" % finish
assert len(calls) == 1, calls
c = calls[0]
assert c["id"].startswith("call_"), c
assert c["name"] in tools and (not want or c["name"] == want), c["name"]
args = json.loads(c["arguments"])
jsonschema.Draft202012Validator(tools[c["name"]], format_checker=jsonschema.FormatChecker()).validate(args)
print("valid " + c["name"])
PY
}

n_valid=0; names=""
for seed in 1 2 3 4 5 6; do
    gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":$tools,\"tool_choice\":\"required\",\"temperature\":1,\"seed\":$seed,\"max_tokens\":300}" > "$GD_TMP/req.$seed"
    r=$(check_calls "$GD_TMP/req.$seed" 2>&1)
    case $r in valid*) n_valid=$((n_valid + 1)); names="$names ${r#valid }" ;; length) ;; *) echo "# seed $seed: $r"; n_valid=-100 ;; esac
done
[ "$n_valid" -ge 4 ]; ok $? "required: answers are tool_calls with arguments valid for their function ($n_valid of 6:$names)"

gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":$tools,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"find_flights\"}},\"temperature\":1,\"seed\":8,\"max_tokens\":300}" > "$GD_TMP/named"
r=$(check_calls "$GD_TMP/named" find_flights 2>&1)
case $r in "valid find_flights") true ;; *) false ;; esac; ok $? "named: a call of find_flights with valid arguments ($r)"

gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":$tools,\"tool_choice\":\"required\",\"temperature\":1,\"seed\":9,\"max_tokens\":300,\"stream\":true}" > "$GD_TMP/stream"
r=$(check_calls "$GD_TMP/stream" 2>&1)
case $r in valid*) true ;; *) false ;; esac; ok $? "streamed: tool_calls deltas make a valid call ($r)"
# as OpenAI streams a call: first index, id, type, name and empty
# arguments, then the arguments in pieces as they are generated
r=$(python3 - "$GD_TMP/stream" <<'PY' 2>&1
import json, sys
deltas = []
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("data: {"):
        for ch in json.loads(line[6:]).get("choices", []):
            deltas += (ch.get("delta") or {}).get("tool_calls") or []
first = deltas[0]
assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function", first
assert first["function"]["name"] and first["function"]["arguments"] == "", first
pieces = [d["function"]["arguments"] for d in deltas[1:] if d["function"].get("arguments")]
assert all("name" not in d["function"] for d in deltas[1:]), deltas
assert len(pieces) >= 2, "arguments in %d piece(s): %r" % (len(pieces), pieces)
print("ok %d pieces" % len(pieces))
PY
)
case $r in ok*) true ;; *) false ;; esac; ok $? "streamed: the call's name first, then its arguments in pieces ($r)"

body=$(gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":$tools,\"tool_choice\":\"none\",\"max_tokens\":8}")
case $body in *'"tool_calls"'*) false ;; *'"content":"'*) true ;; *) false ;; esac
ok $? "none: a text answer without tool_calls"

hist="\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"unit\\\":\\\"celsius\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18 degrees\"}]"
body=$(gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$hist,\"tools\":$tools,\"max_tokens\":8}")
case $body in *'"finish_reason"'*) true ;; *) false ;; esac
ok $? "a history with tool_calls and a tool result is answered (auto): $(printf '%s' "$body" | head -c 200)"

# auto, streamed: text streams as it comes (not held to the end), and is
# the text of the same request unstreamed
auto="{\"model\":\"tiny\",$user,\"tools\":$tools,\"temperature\":1,\"seed\":21,\"max_tokens\":24"
gd_get /v1/chat/completions -d "$auto}" > "$GD_TMP/auto.json"
gd_get /v1/chat/completions -d "$auto,\"stream\":true}" > "$GD_TMP/auto.sse"
r=$(python3 - "$GD_TMP/auto.json" "$GD_TMP/auto.sse" <<'PY'
import json, sys
whole = json.load(open(sys.argv[1]))["choices"][0]["message"]
parts = []
for line in open(sys.argv[2]):
    if line.startswith("data: {"):
        for ch in json.loads(line[6:]).get("choices", []):
            if (ch.get("delta") or {}).get("content"):
                parts.append(ch["delta"]["content"])
text = "".join(parts)
assert not whole.get("tool_calls"), whole
assert text.strip() == (whole["content"] or "").strip(), (text, whole["content"])
assert len(parts) > 2, parts
print("ok: %d chunks" % len(parts))
PY
)
case $r in ok*) true ;; *) false ;; esac
ok $? "auto, streamed: text without a call streams chunk by chunk, as the plain answer ($r)"

code=$(gd_status /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":$tools,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"nope\"}}}")
check "a tool_choice naming no tool is refused (400)" [ "$code" = 400 ]
out=$(gd_get /v1/chat/completions -d "{\"model\":\"tiny\",$user,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x\"}}}}}],\"tool_choice\":\"required\"}")
case $out in *"'pattern'"*unsupported_schema*) true ;; *) false ;; esac
ok $? "required with an unsupported parameters keyword is a 400 naming it"
code=$(gd_status /v1/chat/completions -d "{\"model\":\"tiny\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}")
check "a tool message without tool_call_id is refused (400)" [ "$code" = 400 ]
gd_stop TERM
ok $? "gemmad stops cleanly (in a sanitizer build: no leak)"
tap_done
