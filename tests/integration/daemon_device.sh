#!/bin/sh
# tests/integration/daemon_device.sh -- where gemmad runs a model
# (models[].device, models[].device_fallback) and what /admin/v1/status
# and `gemmactl status` say about it, on a machine without a usable GPU:
# a CPU model shows device "cpu" with its weights and KV cache; a model
# configured on cuda:0 with `device_fallback: cpu` loads on the CPU with a
# warning in the log and the cause in the status; the same model without
# the fallback fails to load with the cause; a bad device_fallback value is
# refused by --check-config. On a machine where cuda:0 works, the fallback
# checks are skipped (visibly): there is nothing to fall back from.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"

GEMMACTL="$top_builddir/gemmactl"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
[ -x "$GEMMACTL" ] || tap_skip_all "gemmactl is not built"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed (parses the status)"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# wanted '$2' in:"; printf '%s\n' "$1" | head -12 | sed 's/^/#   /'; return 1; }

cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  admin: {permissions: [admin]}
rules:
  - {name: ops, match: {ou: ops}, role: admin}
EOF
models="security:
  policy: $GD_TMP/policy.yaml
models:
  - name: oncpu
    path: $GD_TMP/tiny.gguf
    context: 256
    max_batch_sequences: 2
  - name: fallback
    path: $GD_TMP/tiny.gguf
    context: 256
    max_batch_sequences: 2
    device: cuda:0
    device_fallback: cpu
  - name: strict
    path: $GD_TMP/tiny.gguf
    context: 256
    device: cuda:0
    device_fallback: none
    load: false"

# 1. A bad device_fallback is refused, naming the key and the values.
gd_config "$(printf '%s\n' "$models" | sed 's/device_fallback: cpu/device_fallback: gpu/')"
out=$("$GEMMAD" --check-config "$GD_CONF" 2>&1); rc=$?
[ $rc -ne 0 ] && has "$out" "models[].device_fallback: expected one of" && has "$out" "cpu"
ok $? "--check-config refuses device_fallback: gpu, naming the accepted values"

gd_config "$models"
gd_start || { echo "Bail out! gemmad did not start"; sed 's/^/# /' "$GD_LOG"; exit 1; }
admin() { gd_curl_as admin "$@"; }
admin "https://localhost:$GD_PORT/admin/v1/status" > "$GD_TMP/status.json"

# 2. The CPU model: device "cpu", no GPU fields, its weights and KV cache.
python3 - "$GD_TMP/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in s["models"]}["oncpu"]
d = m["device"]
assert m["state"] == "ready", m
assert d["device"] == "cpu" and d["configured"] == "cpu", d
for k in ("index", "name", "memory_total_bytes", "memory_free_bytes", "scratch_bytes", "fallback"):
    assert d[k] is None, (k, d)
assert d["weights_bytes"] == m["memory_bytes"] and d["weights_bytes"] > 0, (d, m)
assert d["kv_cache_bytes"] == m["kv_total_bytes"] and d["kv_cache_bytes"] > 0, (d, m)
EOF
ok $? "status: a CPU model's device is cpu, with its weights and KV cache, GPU fields null"

gpus=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["gpus"]))' "$GD_TMP/status.json")
if [ "$gpus" != 0 ]; then
    i=0; while [ $i -lt 5 ]; do tap_skip "cuda:0 is usable here: no fallback to see"; i=$((i + 1)); done
    tap_done; exit $?
fi

# 3. cuda:0 with device_fallback: cpu loads on the CPU, says why, warns.
python3 - "$GD_TMP/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in s["models"]}["fallback"]
d = m["device"]
assert m["state"] == "ready", m
assert d["device"] == "cpu" and d["configured"] == "cuda:0" and d["index"] is None, d
f = d["fallback"]
assert isinstance(f, str) and ("CUDA" in f or "cuda" in f), d
assert d["weights_bytes"] > 0 and d["kv_cache_bytes"] > 0, d
EOF
ok $? "status: cuda:0 with device_fallback: cpu runs on the CPU and says why"
grep -q 'warn.*model fallback runs on the CPU, not on cuda:0 (device_fallback: cpu): ' "$GD_LOG"
ok $? "log: a warning names the model, the configured device and the cause"
grep 'runs on the CPU' "$GD_LOG" | sed 's/^/# /'

# 4. The fallback model computes (a chat answer from the CPU).
body=$(admin -d '{"model":"fallback","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' \
    "https://localhost:$GD_PORT/v1/chat/completions")
has "$body" '"object":"chat.completion"'
ok $? "the fallback model answers a chat"

# 5. Without the fallback, the load fails with the cause; nothing else moves.
code=$(admin -o /dev/null -w '%{http_code}' -d '{"model":"strict"}' \
    "https://localhost:$GD_PORT/admin/v1/models/load")
n=0
while :; do
    admin "https://localhost:$GD_PORT/admin/v1/status" > "$GD_TMP/status2.json"
    st=$(python3 -c 'import json,sys; print({x["name"]: x for x in json.load(open(sys.argv[1]))["models"]}["strict"]["state"])' "$GD_TMP/status2.json")
    [ "$st" = failed ] || [ "$st" = ready ] || [ $n -ge 100 ] && break
    n=$((n + 1)); sleep 0.1
done
[ "$code" = 202 ] && python3 - "$GD_TMP/status2.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
ms = {x["name"]: x for x in s["models"]}
m = ms["strict"]
assert m["state"] == "failed", m
assert "cuda:0" in m["error"] or "CUDA" in m["error"], m
assert "device_fallback" not in m["error"], m
assert "device" not in m, m
assert ms["oncpu"]["state"] == "ready" and ms["fallback"]["state"] == "ready", ms
EOF
ok $? "device: cuda:0 without the fallback fails to load, naming the cause; the others stay ready"
python3 -c 'import json,sys; print("# strict:", {x["name"]: x for x in json.load(open(sys.argv[1]))["models"]}["strict"]["error"])' "$GD_TMP/status2.json"

# 6. gemmactl status prints each model's device line and the fallback.
out=$(env -u GEMMACTL_URL -u GEMMACTL_MODEL -u XDG_CONFIG_HOME HOME="$GD_TMP" \
    GEMMACTL_CONFIG="$GD_TMP/none.yaml" GEMMACTL_SOCKET="$GD_SOCK" \
    GEMMACTL_CERT="$GD_PKI/admin.crt" GEMMACTL_KEY="$GD_PKI/admin.key" \
    GEMMACTL_CA="$GD_PKI/ca.crt" "$GEMMACTL" status 2>&1)
printf '%s\n' "$out" | grep -q '^  device: cpu: [0-9.]* [KMG]*i*B of weights, [0-9.]* [KMG]*i*B of KV cache in host memory$' &&
    has "$out" "  device fallback: on the CPU instead of cuda:0 (device_fallback: cpu): "
ok $? "gemmactl status: the device line of each model and the fallback with its cause"
printf '%s\n' "$out" | grep '^  device' | sed 's/^/# /'

tap_done
