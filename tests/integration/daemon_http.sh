#!/bin/sh
# tests/integration/daemon_http.sh -- gemmad's HTTP side without a model:
# every non-inference endpoint, OpenAI-style errors, request limits
# (431, 413, 408) with the daemon still serving, keep-alive, SIGHUP with a
# broken configuration (the old one stays), SIGHUP with a good one (new
# limits apply), and SIGTERM.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

limits='limits:
  max_header_bytes: 2048
  max_headers: 16
  max_body_bytes: 4096
  header_timeout_ms: 600
models:
  - name: tiny
    path: '"$GD_TMP"'/missing.gguf
    load: false'
gd_config "$limits"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# got: $1" | head -c 600; echo; return 1; }

check "GET /healthz answers ok" has "$(gd_get /healthz)" '"status":"ok"'
check "GET /readyz is 200 (no model must load at start)" has "$(gd_status /readyz)" 200
check "GET /v1/models lists the configured model" has "$(gd_get /v1/models)" '"object":"list","data":[{"id":"tiny","object":"model"'
check "GET /v1/models/tiny returns the model" has "$(gd_get /v1/models/tiny)" '"id":"tiny"'
check "GET /v1/models/nope is 404 model_not_found" has "$(gd_get /v1/models/nope)" '"code":"model_not_found"'
check "GET /admin/v1/status reports the model state" has "$(gd_get /admin/v1/status)" '"name":"tiny"'
check "GET on an unknown route is 404" has "$(gd_status /nope)" 404
check "DELETE /healthz is 405" has "$(gd_status /healthz -X DELETE)" 405

body=$(gd_get /v1/chat/completions -H 'Content-Type: application/json' -d '{"model": "tiny", "messages": [')
check "malformed JSON is answered with an OpenAI-style error" has "$body" '{"error":{"message":"the request body is not valid JSON'
check "... of type invalid_request_error" has "$body" '"type":"invalid_request_error"'
check "malformed JSON is 400" has "$(gd_status /v1/chat/completions -d '{oops')" 400
body=$(gd_get /v1/chat/completions -d '{"model":"tiny"}')
check "missing messages: 400 with param" has "$body" '"param":"messages","code":"missing_parameter"'
body=$(gd_get /v1/chat/completions -d '{"model":"ghost","messages":[{"role":"user","content":"hi"}]}')
check "unknown model: model_not_found" has "$body" '"code":"model_not_found"'
check "unknown model: 404" has "$(gd_status /v1/chat/completions -d '{"model":"ghost","messages":[{"role":"user","content":"hi"}]}')" 404
check "model not loaded: 503" has "$(gd_status /v1/completions -d '{"model":"tiny","prompt":"hi"}')" 503

big=$(head -c 3000 /dev/zero | tr '\0' a)
check "oversized header is 431" has "$(gd_status /healthz -H "X-Big: $big")" 431
check "daemon still serves after 431" has "$(gd_get /healthz)" '"status":"ok"'
head -c 10000 /dev/zero | tr '\0' a > "$GD_TMP/big.json"
check "oversized body is 413" has "$(gd_status /v1/chat/completions --data-binary @"$GD_TMP/big.json")" 413
check "oversized chunked body is 413" has "$(gd_status /v1/chat/completions -H 'Transfer-Encoding: chunked' --data-binary @"$GD_TMP/big.json")" 413
check "daemon still serves after 413" has "$(gd_get /healthz)" '"status":"ok"'
hdrs=""
i=0; while [ $i -lt 20 ]; do hdrs="$hdrs -H X-H$i:$i"; i=$((i + 1)); done
# shellcheck disable=SC2086
check "too many headers is 431" has "$(gd_status /healthz $hdrs)" 431

# An incomplete request gets 408 after header_timeout_ms.
out=$( (printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n'; sleep 2) | timeout 10 openssl s_client \
    -connect "127.0.0.1:$GD_PORT" -quiet -CAfile "$GD_PKI/ca.crt" -cert "$GD_PKI/client.crt" \
    -key "$GD_PKI/client.key" 2>/dev/null)
check "a request that does not arrive in time is answered 408" has "$out" 'HTTP/1.1 408'

# Keep-alive: two requests, one connection.
out=$(gd_curl_as client -v "https://localhost:$GD_PORT/healthz" "https://localhost:$GD_PORT/readyz" 2>&1)
check "keep-alive: the second request reuses the connection" has "$out" 'Re-using existing connection'
check "keep-alive: both answered" has "$out" '"status":"ready"'

metrics=$(gd_get /metrics)
check "metrics: requests by route and status" has "$metrics" 'gemmad_http_requests_total{route="healthz",status="200"}'
check "metrics: 431s are counted" has "$metrics" 'status="431"'
check "metrics: TTFT histogram" has "$metrics" 'gemmad_time_to_first_token_seconds_bucket{le="+Inf"}'
check "metrics: inter-token latency histogram" has "$metrics" 'gemmad_inter_token_latency_seconds_count'
check "metrics: queue depth, sequences, KV cache" has "$metrics" 'gemmad_kv_cache_used_bytes'
check "metrics: model state" has "$metrics" 'gemmad_model_state{model="tiny",state="unloaded"} 1'

# Admin: load a model whose file is missing -> it fails, and says why.
check "POST /admin/v1/models/load is accepted (202)" has "$(gd_status /admin/v1/models/load -d '{"model":"tiny"}')" 202
gd_wait_log 'model tiny failed to load' 10
check "the failed load is reported in /admin/v1/status" has "$(gd_get /admin/v1/status)" '"state":"failed","error":"model tiny'
check "load of an unknown model is 404" has "$(gd_status /admin/v1/models/load -d '{"model":"x"}')" 404
check "unload is accepted" has "$(gd_get /admin/v1/models/unload -d '{"model":"tiny"}')" '"state":"unloaded"'
check "POST /admin/v1/reload reloads" has "$(gd_get /admin/v1/reload -X POST)" '"status":"reloaded"'

# SIGHUP with a broken file: the old configuration stays.
cp "$GD_CONF" "$GD_TMP/good.yaml"
sed 's/max_body_bytes: 4096/max_body_bytes: lots/' "$GD_TMP/good.yaml" > "$GD_CONF"
kill -HUP "$GD_PID"
gd_wait_log 'reload failed' 10; ok $? "SIGHUP with a broken configuration is refused (logged)"
grep 'reload failed' "$GD_LOG" | grep -q 'gemmad.yaml:[0-9]*:[0-9]*: limits.max_body_bytes'; ok $? "the log names file, line and key of the error"
check "the daemon still serves with the old configuration" has "$(gd_get /healthz)" '"status":"ok"'
head -c 3000 /dev/zero | tr '\0' b > "$GD_TMP/mid.json"
check "old body limit still in force (3000 bytes pass the limit)" has "$(gd_status /v1/chat/completions --data-binary @"$GD_TMP/mid.json")" 400
# SIGHUP with a good file that lowers the body limit: new limit applies.
sed 's/max_body_bytes: 4096/max_body_bytes: 1024/' "$GD_TMP/good.yaml" > "$GD_CONF"
kill -HUP "$GD_PID"
gd_wait_log 'certificates and CRLs reloaded' 10
check "after a good SIGHUP the new body limit applies (413)" has "$(gd_status /v1/chat/completions --data-binary @"$GD_TMP/mid.json")" 413

"$GEMMAD" --check-config "$GD_TMP/good.yaml" >/dev/null 2>&1; ok $? "--check-config accepts a good file"
sed 's/max_body_bytes: 4096/max_body_bytes: lots/' "$GD_TMP/good.yaml" > "$GD_TMP/bad.yaml"
out=$("$GEMMAD" --check-config "$GD_TMP/bad.yaml" 2>&1); rc=$?
[ $rc -ne 0 ] && has "$out" 'limits.max_body_bytes'; ok $? "--check-config refuses a bad file, naming the key"

gd_stop TERM; ok $? "SIGTERM: exit status 0"
grep -q 'SIGTERM: draining' "$GD_LOG"; ok $? "SIGTERM: the daemon drains"
tap_done
