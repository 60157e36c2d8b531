#!/bin/sh
# tests/integration/daemon_systemd.sh -- gemmad's systemd notifications
# (sd_notify to $NOTIFY_SOCKET, caught here by a small datagram listener):
# READY=1 once the model has loaded, STATUS= lines, RELOADING=1 and READY=1
# on SIGHUP, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
. "$top_srcdir/tests/lib/tap.sh"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed (notify listener)"
. "$top_srcdir/tests/integration/daemon_lib.sh"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"

# The listener: one line per datagram (newlines inside become '|').
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(0.2)
end = time.time() + 60
with open(sys.argv[2], "a") as out:
    while time.time() < end:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        out.write(d.decode("utf-8", "replace").replace("\n", "|") + "\n"); out.flush()
' "$GD_TMP/notify.sock" "$GD_TMP/notify.txt" &
listener=$!
GD_EXTRA_PIDS=$listener
n=0; while [ ! -S "$GD_TMP/notify.sock" ] && [ $n -lt 50 ]; do n=$((n + 1)); sleep 0.1; done

gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 256"
NOTIFY_SOCKET="$GD_TMP/notify.sock" WATCHDOG_USEC=400000
export NOTIFY_SOCKET WATCHDOG_USEC
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }
unset NOTIFY_SOCKET WATCHDOG_USEC

waitfor() { # PATTERN -- up to 10 s for a notification matching
    n=0; while ! grep -q "$1" "$GD_TMP/notify.txt" 2>/dev/null; do
        n=$((n + 1)); [ $n -ge 100 ] && return 1; sleep 0.1; done
}
waitfor '^READY=1'; ok $? "READY=1 is sent"
grep -n 'model tiny loaded\|gemmad: ready' "$GD_LOG" | head -1 | grep -q 'model tiny loaded'
ok $? "READY=1 comes after the model has loaded"
waitfor '^STATUS=serving: 1 of 1 models loaded'; ok $? "STATUS= says the model is loaded"
sleep 1
w=$(grep -c '^WATCHDOG=1' "$GD_TMP/notify.txt")
[ "$w" -ge 2 ]; ok $? "WATCHDOG=1 is sent regularly ($w in the first seconds)"
kill -HUP "$GD_PID"
waitfor '^RELOADING=1'; ok $? "SIGHUP: RELOADING=1"
n=0; while [ "$(grep -c '^READY=1' "$GD_TMP/notify.txt")" -lt 2 ] && [ $n -lt 100 ]; do
    n=$((n + 1)); sleep 0.1; done
[ "$(grep -c '^READY=1' "$GD_TMP/notify.txt")" -ge 2 ]; ok $? "SIGHUP: READY=1 again after the reload"
grep -n '^RELOADING=1\|^READY=1' "$GD_TMP/notify.txt" | tail -2 | head -1 | grep -q RELOADING
ok $? "SIGHUP: RELOADING=1 comes before that READY=1"
kill -TERM "$GD_PID"
waitfor '^STOPPING=1'; ok $? "SIGTERM: STOPPING=1"
gd_wait_exit; ok $? "SIGTERM: exit status 0"
kill "$listener" 2>/dev/null
tap_done
