#!/bin/sh
# tests/integration/daemon_policy_table.sh -- the policy case table
# (tests/data/policy/cases.txt) run both ways: through 'gemmactl policy
# test' and through the real gemmad, with the same certificates (made now
# from certs.txt, signed by the test CA so gemmad's mutual TLS accepts
# them) and the same policy (policy.yaml.in). One TAP line per case per
# way; every decision must equal the expected one.
#
# Through gemmad each action is a route:
#   infer          POST /v1/chat/completions with that model (tiny max_tokens)
#   models.list    GET /v1/models
#   models.load    POST /admin/v1/models/load    {"model": M}
#   models.unload  POST /admin/v1/models/unload  {"model": M}
#   status.read    GET /admin/v1/status and GET /healthz (both)
#   metrics.read   GET /metrics
#   policy.reload  POST /admin/v1/reload
#   audit.read     GET /admin/v1/audit?limit=1 (gemmad keeps an audit log)
#   audit.verify   GET /admin/v1/audit/verify
# allow = 2xx; deny = the reason's status (403; 400 for the token limits)
# with the reason code in the OpenAI-style error body.
#
# Rows gemmad cannot express are skipped visibly in the daemon pass: an
# inference without a model (the OpenAI API requires one: 400 before any
# policy), and Unix-peer rows whose uid/gid is not
# ours and that we cannot take (as root, curl runs under setpriv(1) with
# the row's uid and gid; the socket is then mode 0666). Rows with a UID or
# GID run over the Unix socket, the others over TCP. gemmad
# always requires a client certificate, also on its Unix socket, so the
# row with no certificate (CERT '-') uses 'stranger', which no certificate
# rule matches: only the uid rule can give it a role.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/daemon_lib.sh"
. "$top_srcdir/tests/lib/policy_cases.sh"

GEMMACTL="$top_builddir/gemmactl"
DATA="$top_srcdir/tests/data/policy"
[ -x "$GEMMACTL" ] || tap_skip_all "gemmactl is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

# Certificates: P-256 keys, subject and SANs from certs.txt, signed by the
# test CA (openssl x509 -req keeps the subject exactly as asked).
C="$GD_TMP/certs"
mkdir -p "$C"
grep -v '^#' "$DATA/certs.txt" | while IFS='|' read -r name subj san; do
    [ -n "$name" ] || continue
    {
        echo "[ ext ]"
        echo "basicConstraints = critical, CA:false"
        echo "keyUsage = critical, digitalSignature"
        echo "extendedKeyUsage = clientAuth"
        [ -n "$san" ] && echo "subjectAltName = $san"
    } >"$C/$name.ext"
    pki__key "$C/$name.key" &&
        openssl req -new -key "$C/$name.key" -subj "$subj" -config "$GD_PKI/ca.cnf" \
            -out "$C/$name.csr" 2>"$C/$name.log" &&
        openssl x509 -req -in "$C/$name.csr" -CA "$GD_PKI/ca.crt" -CAkey "$GD_PKI/ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$C/$name.ext" \
            -extensions ext -out "$C/$name.crt" 2>>"$C/$name.log" ||
        { echo "# cannot create certificate $name:"; sed 's/^/#   /' "$C/$name.log"; }
done

fp=$(openssl x509 -in "$C/partner.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
sed "s/@FP_partner@/$fp/" "$DATA/policy.yaml.in" >"$GD_TMP/policy.yaml"
check "the test policy is valid" "$GEMMACTL" policy check "$GD_TMP/policy.yaml"

policy_cases_list "$GD_TMP/cases"

# ---- way 1: gemmactl policy test ----
policy_cases_gemmactl "$GD_TMP/cases" "$GD_TMP/policy.yaml" "$C" crt "$GD_TMP/out" "gemmactl: "

# ---- way 2: gemmad ----
# Every model the table names; llama-3 stays unloaded (its only row is a
# denial, which the policy gives before the model's state matters).
models=""
for m in gemma-4-e2b gemma-4-e4b gemma-4-31b gemma-4-26b-a4b llama-3; do
    load=true
    [ "$m" = llama-3 ] && load=false
    models="$models
  - name: $m
    path: $GD_TMP/tiny.gguf
    context: 256
    max_tokens: 8192
    load: $load"
done
mkdir -p "$GD_TMP/audit"
GD_CRL="$GD_PKI/crl-empty.pem" gd_config "security:
  policy: $GD_TMP/policy.yaml
  audit_db: $GD_TMP/audit/audit.db
models:$models"
my_uid=$(id -u)
my_gid=$(id -g)
# As root, curl may run as the uid/gid a row asks for: it must then reach
# the socket, the CA certificate, the client keys and the body file.
can_switch=0
if [ "$my_uid" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    can_switch=1
    sed -i 's/^    mode: "0600"$/    mode: "0666"/' "$GD_CONF"
    chmod 0711 "$GD_TMP"
    chmod 0755 "$GD_PKI" "$C"
    chmod 0644 "$GD_PKI/ca.crt" "$C"/*.crt "$C"/*.key
    : >"$GD_TMP/body"
    chmod 0666 "$GD_TMP/body"
fi
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
# A prompt surely longer than 50 tokens, for the prompt_too_long row.
long_prompt=$(i=0; while [ $i -lt 80 ]; do printf 'word%d ' $i; i=$((i + 1)); done)

# req CERT VIA METHOD PATH [CURL ARGS...] -- one request; writes the body
# to $GD_TMP/body, prints the HTTP status. VIA: tcp, unix, or unix:UID:GID
# (curl runs with that uid and gid).
req() {
    r_cert=$1; r_via=$2; r_method=$3; r_path=$4; shift 4
    set -- -sS --max-time 20 --cacert "$GD_PKI/ca.crt" --cert "$C/$r_cert.crt" \
        --key "$C/$r_cert.key" -o "$GD_TMP/body" -w '%{http_code}' -X "$r_method" "$@"
    case "$r_via" in
    unix:*)
        r_ids=${r_via#unix:}
        setpriv --reuid="${r_ids%:*}" --regid="${r_ids#*:}" --clear-groups \
            curl "$@" --unix-socket "$GD_SOCK" "https://localhost$r_path" 2>>"$GD_TMP/curl.err" ;;
    unix)
        curl "$@" --unix-socket "$GD_SOCK" "https://localhost$r_path" 2>>"$GD_TMP/curl.err" ;;
    *)
        curl "$@" "https://localhost:$GD_PORT$r_path" 2>>"$GD_TMP/curl.err" ;;
    esac
}

# want_status EXPECT REASON -- the HTTP status a decision must give.
want_status() {
    if [ "$1" = allow ]; then echo 2xx; return; fi
    case "$2" in
    max_tokens_exceeded | prompt_too_long) echo 400 ;;
    *) echo 403 ;;
    esac
}

# judge STATUS EXPECT REASON -- does one answer show the decision?
judge() {
    case "$2:$1" in
    allow:2??) return 0 ;;
    allow:*) return 1 ;;
    esac
    [ "$1" = "$(want_status "$2" "$3")" ] &&
        grep -q '"error":{' "$GD_TMP/body" && grep -q "\"code\":\"$3\"" "$GD_TMP/body"
}

# daemon_pass LABEL -- every row of the table through gemmad.
daemon_pass() {
n_daemon=0
while read -r cert action model uid gid pt mt expect reason role rule; do
    desc="$1: $cert $action ${model#-} uid=$uid gid=$gid -> $expect $reason"
    if [ "$action" = infer ] && [ "$model" = - ]; then
        tap_skip "$desc: an OpenAI request must name a model (400 before the policy)"
        continue
    fi
    via=tcp
    if [ "$uid" != - ] || [ "$gid" != - ]; then
        via=unix
        if { [ "$uid" != - ] && [ "$uid" != "$my_uid" ]; } ||
            { [ "$gid" != - ] && [ "$gid" != "$my_gid" ]; }; then
            if [ "$can_switch" = 0 ]; then
                tap_skip "$desc: needs a Unix peer with uid $uid gid $gid (we are $my_uid/$my_gid, not root)"
                continue
            fi
            r_uid=$uid; r_gid=$gid
            [ "$r_uid" = - ] && r_uid=$my_uid
            [ "$r_gid" = - ] && r_gid=$r_uid
            via="unix:$r_uid:$r_gid"
        fi
    fi
    [ "$cert" = - ] && { cert=stranger; desc="$desc (as 'stranger' over the socket)"; }
    [ "$mt" = - ] && mt=2
    prompt=Hi
    [ "$pt" != - ] && [ "$pt" -gt 50 ] && prompt=$long_prompt
    case "$action" in
    infer)
        s=$(req "$cert" $via POST /v1/chat/completions -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"$prompt\"}],\"max_tokens\":$mt}") ;;
    models.list) s=$(req "$cert" $via GET /v1/models) ;;
    models.load) s=$(req "$cert" $via POST /admin/v1/models/load -d "{\"model\":\"$model\"}") ;;
    models.unload) s=$(req "$cert" $via POST /admin/v1/models/unload -d "{\"model\":\"$model\"}") ;;
    status.read)
        s=$(req "$cert" $via GET /admin/v1/status)
        if judge "$s" "$expect" "$reason"; then
            s=$(req "$cert" $via GET /healthz)
        else
            s="$s (from /admin/v1/status)"
        fi ;;
    metrics.read) s=$(req "$cert" $via GET /metrics) ;;
    policy.reload) s=$(req "$cert" $via POST /admin/v1/reload) ;;
    audit.read)
        s=$(req "$cert" $via GET "/admin/v1/audit?limit=1")
        case "$s" in 2??) grep -q '"object":"list"' "$GD_TMP/body" || s="$s (no rows in it)" ;; esac ;;
    audit.verify)
        s=$(req "$cert" $via GET /admin/v1/audit/verify)
        case "$s" in 2??) grep -q '"ok":true' "$GD_TMP/body" || s="$s (the log does not verify)" ;; esac ;;
    *) s="no route for $action" ;;
    esac
    n_daemon=$((n_daemon + 1))
    if judge "$s" "$expect" "$reason"; then
        ok 0 "$desc (HTTP $s)"
    else
        ok 1 "$desc"
        echo "# want HTTP $(want_status "$expect" "$reason") code $reason; got HTTP $s:"
        head -c 600 "$GD_TMP/body" | sed 's/^/#   /'; echo
    fi
done <"$GD_TMP/cases"
}

daemon_pass gemmad
[ "$n_daemon" -ge 40 ]
ok $? "at least 40 cases ran through gemmad ($n_daemon)"

# The uid rule by itself, both ways round: 'stranger' matches no
# certificate rule, so over TCP it is denied and over the Unix socket it
# is what its uid makes it (root: the localadmin role, rule 12).
s=$(req stranger tcp POST /admin/v1/reload)
judge "$s" deny no_matching_rule
ok $? "gemmad: stranger over TCP may not reload (no uid, no rule) (HTTP $s)"
if [ "$my_uid" = 0 ]; then
    s=$(req stranger unix POST /admin/v1/reload)
    judge "$s" allow allowed
    ok $? "gemmad: stranger over the Unix socket as uid 0 may reload (rule 12) (HTTP $s)"
else
    s=$(req stranger unix POST /admin/v1/reload)
    judge "$s" deny no_matching_rule
    ok $? "gemmad: stranger over the Unix socket as uid $my_uid matches no uid rule (HTTP $s)"
fi

# ---- SIGHUP: a broken policy keeps the old one, a fixed one takes effect ----
cp "$GD_TMP/policy.yaml" "$GD_TMP/policy.good"
sed 's/models.list/models.lst/' "$GD_TMP/policy.good" >"$GD_TMP/policy.yaml"
kill -HUP "$GD_PID"
gd_wait_log_n 'reload failed, keeping the running configuration' 1 10
ok $? "SIGHUP with a broken policy: gemmad refuses it and keeps running"
grep -q "reload failed.*policy.yaml:[0-9]*:[0-9]*: unknown permission 'models.lst'" "$GD_LOG"
ok $? "... and logs the file, line and column of the error"
# Every row again: the old policy still decides (the policy.reload rows
# would now fail too, so they are left out of this pass).
grep -v ' policy.reload ' "$GD_TMP/cases" >"$GD_TMP/cases.all"
mv "$GD_TMP/cases" "$GD_TMP/cases.table"
mv "$GD_TMP/cases.all" "$GD_TMP/cases"
daemon_pass "gemmad after a broken SIGHUP"
mv "$GD_TMP/cases.table" "$GD_TMP/cases"
s=$(req admin1 tcp POST /admin/v1/reload)
[ "$s" = 400 ] && grep -q '"code":"invalid_config"' "$GD_TMP/body"
ok $? "POST /admin/v1/reload with the broken policy is 400 invalid_config (HTTP $s)"

# The fixed policy: clients may read metrics; the legal bot may no longer
# list models.
n_ok=$(grep -c 'configuration, certificates and CRLs reloaded' "$GD_LOG")
sed -e 's/^      - models.list$/      - models.list\n      - metrics.read/' \
    -e 's/^  legal: {permissions: \[models.list\]}/  legal: {permissions: [status.read]}/' \
    "$GD_TMP/policy.good" >"$GD_TMP/policy.yaml"
"$GEMMACTL" policy test "$GD_TMP/policy.yaml" --cert "$C/client1.crt" --action metrics.read \
    >/dev/null 2>&1
ok $? "the fixed policy gives clients metrics.read (gemmactl policy test)"
kill -HUP "$GD_PID"
gd_wait_log_n 'configuration, certificates and CRLs reloaded' $((n_ok + 1)) 10
ok $? "SIGHUP with the fixed policy: gemmad takes it"
s=$(req client1 tcp GET /metrics)
judge "$s" allow allowed
ok $? "after it, client1 may read /metrics (was 403) (HTTP $s)"
s=$(req legal tcp GET /v1/models)
judge "$s" deny permission_denied
ok $? "after it, the legal bot may not list models (was 200) (HTTP $s)"
s=$(req client1 tcp POST /v1/chat/completions -d '{"model":"gemma-4-e2b","messages":[{"role":"user","content":"Hi"}],"max_tokens":2}')
judge "$s" allow allowed
ok $? "after it, client1 still runs inference (HTTP $s)"

gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
