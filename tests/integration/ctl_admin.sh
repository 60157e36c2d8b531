#!/bin/sh
# tests/integration/ctl_admin.sh -- the admin gaps between gemmactl and
# the real gemmad: 'gemmactl policy reload' (0 reloaded and in force,
# 3 denied, 1 with file and line for a broken policy while the old policy
# keeps serving), POST /admin/v1/models/load refusing a client-chosen
# "path" (400) but taking the configured one, and GET /v1/models/NAME
# with a percent-encoded NAME.
. "$top_srcdir/tests/lib/tap.sh"

GEMMACTL="$top_builddir/gemmactl"
[ -x "$GEMMACTL" ] || tap_skip_all "gemmactl is not built"
. "$top_srcdir/tests/integration/daemon_lib.sh"

has() { case "$1" in *"$2"*) return 0 ;; esac; echo "# wanted '$2' in:"; printf '%s\n' "$1" | head -8 | sed 's/^/#   /'; return 1; }
# ctl WHO ARGS... -- gemmactl with certificate WHO on the test socket.
ctl() {
    who=$1; shift
    env -u GEMMACTL_URL -u XDG_CONFIG_HOME HOME="$GD_TMP" GEMMACTL_CONFIG="$GD_TMP/none.yaml" \
        GEMMACTL_SOCKET="$GD_SOCK" GEMMACTL_CERT="$GD_PKI/$who.crt" \
        GEMMACTL_KEY="$GD_PKI/$who.key" GEMMACTL_CA="$GD_PKI/ca.crt" \
        "$GEMMACTL" "$@" >"$GD_TMP/out" 2>"$GD_TMP/err" </dev/null
}
code() { # EXPECTED WHO ARGS...
    want=$1; shift
    ctl "$@"
    got=$?
    [ "$got" -eq "$want" ] && return 0
    echo "# exit $got, wanted $want; stderr:"; sed 's/^/#   /' "$GD_TMP/err" | head -5
    return 1
}
# write_policy CLIENT_PERMISSIONS -- line 4 holds the client's permissions.
write_policy() {
    cat > "$GD_TMP/policy.yaml" <<EOF
roles:
  admin: {permissions: [admin]}
  client:
    permissions: [$1]
rules:
  - {name: ops, match: {ou: ops}, role: admin}
  - {name: alice, match: {ou: apps, cn: alice}, role: client}
EOF
}
as() { who=$1; p=$2; shift 2; gd_curl_as "$who" "$@" "https://localhost:$GD_PORT$p"; }

write_policy "models.list"
echo "not a model" > "$GD_TMP/a b.gguf"
gd_config "security:
  policy: $GD_TMP/policy.yaml
models:
  - name: gemma:tiny
    path: $GD_TMP/a b.gguf
    load: false"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

# 1. gemmactl policy reload
check "policy --help documents reload and the connection flags" \
    has "$("$GEMMACTL" policy --help)" "--socket"
check "alice may not read the status under the first policy (3)" code 3 client status
check "policy reload by the client role is denied (3)" code 3 client policy reload
check "... with gemmad's reason" has "$(cat "$GD_TMP/err")" "denied by policy"
write_policy "models.list, status.read"
check "policy reload by an admin: exit 0" code 0 admin policy reload
check "... saying so" has "$(cat "$GD_TMP/out")" "reloaded"
check "... and the new policy is in force (alice reads the status)" code 0 client status
# Broken: an unknown permission on line 4, column 32.
write_policy "models.list, status.red"
check "policy reload of a broken policy: exit 1" code 1 admin policy reload
check "... naming the file and line" has "$(cat "$GD_TMP/err")" "$GD_TMP/policy.yaml:4:"
check "... and the problem" has "$(cat "$GD_TMP/err")" "status.red"
check "gemmad keeps serving with the old policy (alice still reads the status)" code 0 client status
check "... and the admin too" code 0 admin status
check "policy reload with an unknown argument is 2" code 2 admin policy reload --bogus

# 2. models load: clients cannot choose the file
body=$(as admin /admin/v1/models/load -w ' %{http_code}' -d "{\"model\":\"gemma:tiny\",\"path\":\"/etc/passwd\"}")
check "load with a path of the client's choosing is 400" has "$body" " 400"
check "... an invalid_request_error on param path" has "$body" '"param":"path"'
check "... saying why" has "$body" "path cannot be set by clients"
check "... and the model was not touched" has "$(as admin /v1/models/gemma%3atiny)" '"state":"unloaded"'
body=$(as admin /admin/v1/models/load -w ' %{http_code}' -d '{"model":"gemma:tiny","path":7}')
check "load with a path that is not a string is 400" has "$body" " 400"
body=$(as admin /admin/v1/models/load -w ' %{http_code}' -d "{\"model\":\"gemma:tiny\",\"path\":\"$GD_TMP/a b.gguf\"}")
check "load with the configured path is accepted (202)" has "$body" " 202"
check "gemmactl models load --path elsewhere is 1" code 1 admin models load gemma:tiny --path /etc/passwd
check "... with gemmad's reason" has "$(cat "$GD_TMP/err")" "path cannot be set by clients"

# 3. GET /v1/models/NAME percent-decodes NAME
body=$(as client /v1/models/gemma%3Atiny -w ' %{http_code}')
check "GET /v1/models/gemma%3Atiny finds model 'gemma:tiny'" has "$body" '"id":"gemma:tiny"'
check "... with 200" has "$body" " 200"
check "GET /v1/models/%67emma%3a%74iny (more bytes encoded) finds it too" has "$(as client /v1/models/%67emma%3a%74iny)" '"id":"gemma:tiny"'
check "a bad escape is 400" has "$(as client /v1/models/gemma%3 -o /dev/null -w '%{http_code}')" 400
check "an encoded NUL is 400" has "$(as client /v1/models/gemma%00tiny -o /dev/null -w '%{http_code}')" 400
check "an unknown encoded name is 404 naming it decoded" has "$(as client /v1/models/no%20such)" "'no such'"

gd_stop
tap_done
