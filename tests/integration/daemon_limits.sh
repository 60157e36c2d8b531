#!/bin/sh
# tests/integration/daemon_limits.sh -- the per-role limits of the policy
# (gemmad-policy.yaml(5) "limits"), enforced by the real gemmad on
# inference requests: requests_per_minute and tokens_per_minute (429 with
# Retry-After; tokens_per_minute charges prompt + max_tokens and refunds
# what was not generated), max_tokens and max_prompt_tokens per request
# (400, the prompt counted as the model tokenizes it), and
# concurrent_requests (two simultaneous streams of one principal: the
# second is 429). Every refusal is an OpenAI-style error whose code is the
# policy's reason. Buckets are per principal: another certificate with the
# same role is not limited by the first one's use.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

# Two certificates (two principals) per role, CN=<role>1 and <role>2.
for n in rpm1 rpm2 tpm1 tpm2 tpm3 cap1 single1 single2; do
    pki__issue "$GD_PKI" "$n" "/O=gemmad tests/OU=limits/CN=$n" client ||
        { echo "Bail out! cannot issue certificate $n"; exit 1; }
done
cat >"$GD_TMP/policy.yaml" <<EOF
version: 1
roles:
  rpm: {permissions: [infer], limits: {requests_per_minute: 3}}
  tpm: {permissions: [infer], limits: {tokens_per_minute: 200}}
  capped: {permissions: [infer], limits: {max_tokens: 8, max_prompt_tokens: 30}}
  single: {permissions: [infer], limits: {concurrent_requests: 1}}
rules:
  - {match: {cn_regex: "rpm[0-9]"}, role: rpm}
  - {match: {cn_regex: "tpm[0-9]"}, role: tpm}
  - {match: {cn: cap1}, role: capped}
  - {match: {cn_regex: "single[0-9]"}, role: single}
EOF
GD_CRL="$GD_PKI/crl-empty.pem" gd_config "security:
  policy: $GD_TMP/policy.yaml
models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 2048
    max_tokens: 1500"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

# chat WHO MAX_TOKENS [PROMPT [STREAM]] -- a greedy chat request; the body
# goes to $GD_TMP/body, the headers to $GD_TMP/head; prints the status.
# MAX_TOKENS '-' leaves max_tokens out.
chat() {
    mt=""
    [ "$2" = - ] || mt=",\"max_tokens\":$2"
    gd_curl_as "$1" -o "$GD_TMP/body" -D "$GD_TMP/head" -w '%{http_code}' \
        "https://localhost:$GD_PORT/v1/chat/completions" -d "{\"model\":\"tiny\",\"temperature\":0,\"stream\":${4:-false},\"messages\":[{\"role\":\"user\",\"content\":\"${3:-Hi}\"}]$mt}"
}
# refused STATUS WANT_STATUS CODE TYPE -- the answer is that OpenAI error.
refused() {
    [ "$1" = "$2" ] && grep -q "\"code\":\"$3\"" "$GD_TMP/body" &&
        grep -q "\"type\":\"$4\"" "$GD_TMP/body" && grep -q '"message":"' "$GD_TMP/body" && return 0
    echo "# want $2 $3 ($4), got $1:"; head -c 400 "$GD_TMP/body" | sed 's/^/#   /'; echo
    return 1
}
# retry_after -- the Retry-After header is a whole number of seconds, 1..60.
retry_after() {
    ra=$(tr -d '\r' <"$GD_TMP/head" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
    case "$ra" in '' | *[!0-9]*) echo "# Retry-After: '$ra'"; return 1 ;; esac
    [ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || { echo "# Retry-After: $ra"; return 1; }
}
usage_completion() { sed -n 's/.*"completion_tokens":\([0-9]*\).*/\1/p' "$GD_TMP/body"; }
usage_prompt() { sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p' "$GD_TMP/body"; }

# ---- requests_per_minute: 3 ----
for i in 1 2 3; do
    s=$(chat rpm1 1)
    [ "$s" = 200 ]; ok $? "rpm=3: request $i of the minute is answered (HTTP $s)"
done
s=$(chat rpm1 1)
refused "$s" 429 rate_limited rate_limit_error; ok $? "rpm=3: the 4th request within the minute is 429 rate_limited"
retry_after; ok $? "rpm=3: ... with a Retry-After header ($ra s)"
s=$(chat rpm2 1)
[ "$s" = 200 ]; ok $? "rpm=3: another principal of the same role has its own bucket (HTTP $s)"

# ---- tokens_per_minute: 200 ----
# Greedy generation of the tiny model runs to max_tokens; whatever it
# used is charged, so a second request asking for more than what is left
# is refused, and a small one still passes.
s=$(chat tpm1 100)
used=$(usage_completion)
[ "$s" = 200 ] && [ -n "$used" ] && [ "$used" -ge 1 ]
ok $? "tpm=200: a request for 100 tokens is answered (HTTP $s, used ${used:-?})"
[ -n "$used" ] || used=100
s=$(chat tpm1 $((200 - used + 20)))
refused "$s" 429 token_rate_limited rate_limit_error
ok $? "tpm=200: asking for more tokens than are left this minute is 429 token_rate_limited"
retry_after; ok $? "tpm=200: ... with a Retry-After header ($ra s)"
s=$(chat tpm1 2)
[ "$s" = 200 ]; ok $? "tpm=200: a request that fits in what is left is answered (HTTP $s)"
s=$(chat tpm2 $((200 - used + 20)))
[ "$s" = 200 ]; ok $? "tpm=200: another principal's token bucket is full (HTTP $s)"

# ---- max_tokens 8, max_prompt_tokens 30 per request ----
s=$(chat cap1 9)
refused "$s" 400 max_tokens_exceeded invalid_request_error
ok $? "max_tokens=8: asking for 9 is 400 max_tokens_exceeded"
s=$(chat cap1 8)
[ "$s" = 200 ] && [ "$(usage_completion)" -le 8 ]
ok $? "max_tokens=8: asking for 8 is answered (HTTP $s)"
s=$(chat cap1 -)
got=$(usage_completion)
[ "$s" = 200 ] && [ -n "$got" ] && [ "$got" -le 8 ]
ok $? "max_tokens=8: a request without max_tokens gets the role's 8 (HTTP $s, ${got:-no} tokens)"
[ "$s" = 200 ] || head -c 400 "$GD_TMP/body" | sed 's/^/#   /'
long=$(i=0; while [ $i -lt 60 ]; do printf 'word%d ' $i; i=$((i + 1)); done)
# gemmad tokenizes the prompt before the policy decides, so the policy
# sees its real length.
s=$(chat cap1 2 "$long")
refused "$s" 400 prompt_too_long invalid_request_error
ok $? "max_prompt_tokens=30: a prompt of well over 30 tokens is 400 prompt_too_long"
s=$(chat cap1 2 "Hi")
p_hi=$(usage_prompt)
[ "$s" = 200 ] && [ -n "$p_hi" ] && [ "$p_hi" -le 30 ]
ok $? "max_prompt_tokens=30: a short prompt is answered (HTTP $s, ${p_hi:-no} prompt tokens)"
[ -n "$p_hi" ] || p_hi=19

# ---- tokens_per_minute counts prompt tokens ----
# tpm3 (a full bucket of 200) sends a long prompt with max_tokens 1: it
# is charged prompt + 1. What is left then does not cover a short prompt
# asking for all the rest as completion (it would, were the prompt free),
# and does cover it asking for the rest less the prompt.
long40=$(i=0; while [ $i -lt 40 ]; do printf 'word%d ' $i; i=$((i + 1)); done)
s=$(chat tpm3 1 "$long40")
p_long=$(usage_prompt); used=$(usage_completion)
[ "$s" = 200 ] && [ -n "$p_long" ] && [ "$p_long" -gt 60 ] && [ "$p_long" -lt 190 ]
ok $? "tpm=200: a long prompt with max_tokens 1 is answered (HTTP $s, ${p_long:-?} prompt tokens)"
[ -n "$p_long" ] || p_long=120
left=$((200 - p_long - ${used:-1}))
s=$(chat tpm3 "$left" Hi)
refused "$s" 429 token_rate_limited rate_limit_error
ok $? "tpm=200: the prompt was charged: $left more tokens plus a $p_hi-token prompt is 429"
s=$(chat tpm3 $((left - p_hi)) Hi)
[ "$s" = 200 ]; ok $? "tpm=200: $((left - p_hi)) tokens plus the $p_hi-token prompt fit (HTTP $s)"

# ---- concurrent_requests: 1 ----
# single1 opens a long greedy stream; while it runs, a second stream of
# single1 is refused, and a stream of single2 is accepted.
stream_bg() { # WHO OUTFILE
    curl -sS -N --max-time 60 --cacert "$GD_PKI/ca.crt" --cert "$GD_PKI/$1.crt" \
        --key "$GD_PKI/$1.key" -D "$2.head" -o "$2" \
        "https://localhost:$GD_PORT/v1/chat/completions" \
        -d '{"model":"tiny","temperature":0,"stream":true,"max_tokens":1400,"messages":[{"role":"user","content":"Hi"}]}' \
        2>/dev/null &
}
wait_file() { # FILE PATTERN SECONDS
    n=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        n=$((n + 1)); [ $n -ge $(($3 * 10)) ] && return 1; sleep 0.1
    done
}
stream_bg single1 "$GD_TMP/s1"
S1=$!
GD_EXTRA_PIDS="$S1"
wait_file "$GD_TMP/s1" '^data: ' 15
ok $? "concurrency=1: the first stream of single1 is running"
s=$(chat single1 5 Hi true)
refused "$s" 429 concurrency_limited rate_limit_error
ok $? "concurrency=1: a second simultaneous stream of single1 is 429 concurrency_limited"
retry_after; ok $? "concurrency=1: ... with a Retry-After header ($ra s)"
grep -q '\[DONE\]' "$GD_TMP/s1"
[ $? -ne 0 ]; ok $? "concurrency=1: ... while the first stream was still running"
stream_bg single2 "$GD_TMP/s2"
S2=$!
GD_EXTRA_PIDS="$S1 $S2"
wait_file "$GD_TMP/s2.head" '^HTTP/[0-9.]* 200' 15
ok $? "concurrency=1: a stream of single2 (another principal) is accepted meanwhile"
kill "$S1" "$S2" 2>/dev/null
wait "$S1" "$S2" 2>/dev/null
GD_EXTRA_PIDS=""
# single1's slot comes back when its stream ends (the client went away).
n=0
while s=$(chat single1 1) && [ "$s" != 200 ] && [ $n -lt 100 ]; do n=$((n + 1)); sleep 0.1; done
[ "$s" = 200 ]; ok $? "concurrency=1: once its stream ends, single1 may start another (HTTP $s)"

gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
