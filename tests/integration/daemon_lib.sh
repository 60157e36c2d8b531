# tests/integration/daemon_lib.sh -- helpers for the gemmad integration
# tests: a throwaway PKI, a configuration in a temp dir, starting the real
# daemon on 127.0.0.1 (a free port chosen by the kernel) and a Unix socket,
# curl with client certificates, and cleanup on exit. Every wait has a
# timeout so a broken daemon fails a test instead of hanging it.
#
# Source after tests/lib/tap.sh. Sets GD_TMP, GD_PKI, GD_PORT, GD_SOCK,
# GD_PID, GD_LOG, GD_CONF.

. "$top_srcdir/tests/lib/pki.sh"

GEMMAD="$top_builddir/gemmad"
for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || tap_skip_all "$tool is not installed"
done
[ -x "$GEMMAD" ] || tap_skip_all "gemmad is not built"

GD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gemmad-test.XXXXXX")
GD_PKI="$GD_TMP/pki"
GD_SOCK="$GD_TMP/gemmad.sock"
GD_LOG="$GD_TMP/gemmad.log"
GD_CONF="$GD_TMP/gemmad.yaml"
GD_PID=""
GD_PORT=""
TAP_TMP="$GD_TMP"
export TAP_TMP

gd_cleanup() {
    if [ -n "$GD_PID" ] && kill -0 "$GD_PID" 2>/dev/null; then
        kill -KILL "$GD_PID" 2>/dev/null
        wait "$GD_PID" 2>/dev/null
    fi
    for p in ${GD_EXTRA_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
    if [ "${GD_KEEP:-0}" = 1 ]; then echo "# kept $GD_TMP"; else rm -rf "$GD_TMP"; fi
}
trap gd_cleanup EXIT
trap 'exit 1' INT TERM HUP

pki_make "$GD_PKI" >/dev/null || { echo "Bail out! cannot make the test PKI"; exit 1; }

# gd_config [EXTRA_YAML] -- write $GD_CONF; EXTRA_YAML is appended as is.
gd_config() {
    cat > "$GD_CONF" <<EOF
log_level: info
listen:
  unix:
    path: $GD_SOCK
    mode: "0600"
  tcp:
    address: 127.0.0.1
    port: 0
tls:
  certificate: $GD_PKI/server.crt
  private_key: $GD_PKI/server.key
  client_ca: $GD_PKI/ca.crt
  crl: ${GD_CRL:-$GD_PKI/crl.pem}
  handshake_timeout_ms: ${GD_HANDSHAKE_MS:-5000}
${1:-}
EOF
}

# gd_wait_log PATTERN [SECONDS] -- wait until the log has a line matching.
gd_wait_log() {
    n=0; limit=$(( ${2:-15} * 10 ))
    while ! grep -q "$1" "$GD_LOG" 2>/dev/null; do
        n=$((n + 1))
        [ $n -ge $limit ] && return 1
        if [ -n "$GD_PID" ] && ! kill -0 "$GD_PID" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 0
}

# gd_wait_log_n PATTERN N [SECONDS] -- wait until N log lines match.
gd_wait_log_n() {
    n=0; limit=$(( ${3:-15} * 10 ))
    while [ "$(grep -c "$1" "$GD_LOG" 2>/dev/null)" -lt "$2" ]; do
        n=$((n + 1))
        [ $n -ge $limit ] && return 1
        sleep 0.1
    done
    return 0
}

# gd_start -- start gemmad and wait until it is ready.
gd_start() {
    : > "$GD_LOG"
    "$GEMMAD" -c "$GD_CONF" >>"$GD_LOG" 2>&1 &
    GD_PID=$!
    if ! gd_wait_log 'notice gemmad: ready' 30; then
        echo "# gemmad did not become ready:"; sed 's/^/#   /' "$GD_LOG"
        return 1
    fi
    GD_PORT=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$GD_LOG" | head -1)
    [ -n "$GD_PORT" ]
}

# gd_stop [SIGNAL] -- signal gemmad (TERM) and wait up to 20 s; returns its status.
gd_stop() {
    [ -n "$GD_PID" ] || return 1
    kill -"${1:-TERM}" "$GD_PID" 2>/dev/null
    n=0
    while kill -0 "$GD_PID" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -ge 200 ]; then kill -KILL "$GD_PID"; break; fi
        sleep 0.1
    done
    wait "$GD_PID"
    rc=$?
    GD_PID=""
    return $rc
}

# gd_wait_exit -- wait up to 20 s for gemmad to exit by itself; its status.
gd_wait_exit() {
    n=0
    while kill -0 "$GD_PID" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -ge 200 ]; then kill -KILL "$GD_PID"; break; fi
        sleep 0.1
    done
    wait "$GD_PID"
    rc=$?
    GD_PID=""
    return $rc
}

# gd_curl_as NAME ARGS... -- curl over TCP with client certificate NAME
# (NAME=none: no certificate). Prints the body; -w etc. may be passed.
gd_curl_as() {
    who=$1; shift
    if [ "$who" = none ]; then
        curl -sS --max-time 20 --cacert "$GD_PKI/ca.crt" "$@"
    else
        curl -sS --max-time 20 --cacert "$GD_PKI/ca.crt" --cert "$GD_PKI/$who.crt" \
            --key "$GD_PKI/$who.key" "$@"
    fi
}

# gd_get PATH [ARGS...] -- body of a request as the valid client over TCP.
gd_get() { p=$1; shift; gd_curl_as client "$@" "https://localhost:$GD_PORT$p"; }
# gd_unix PATH [ARGS...] -- the same over the Unix socket.
gd_unix() {
    p=$1; shift
    gd_curl_as client --unix-socket "$GD_SOCK" "$@" "https://localhost$p"
}
# gd_status PATH [ARGS...] -- HTTP status only.
gd_status() { sp=$1; shift; gd_get "$sp" -o /dev/null -w '%{http_code}' "$@"; }

# gd_tiny_model SEED -- write the synthetic tiny model $GD_TMP/tiny.gguf
# (gemma-run synth --preset tiny), or skip the test when it cannot.
gd_tiny_model() {
    [ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
    "$GEMMA_RUN" synth --preset tiny --seed "$1" -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
        tap_skip_all "gemma-run synth cannot write the tiny model"
}
