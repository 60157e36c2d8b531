#!/bin/sh
# packaging_unit.sh -- gemmad.service as shipped:
#   - `systemd-analyze verify` is silent on it (in a staged root holding
#     the built gemmad at /usr/sbin, the host's targets and /bin/kill),
#     also with the NVIDIA drop-in example added;
#   - `systemd-analyze security --offline` rates it below 2.0;
#   - it says what gemmad needs: Type=notify, WatchdogSec=, User=gemmad,
#     ExecReload= sending SIGHUP, TimeoutStopSec= above the drain deadline
#     of etc/gemmad.yaml, and the hardening the packaging issue lists.
# Plain build only (skipped under sanitizers); skipped without systemd-analyze.
. "$(dirname "$0")/../lib/tap.sh"

grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null &&
    tap_skip_all "sanitizer build: packaging is tested by the plain build"
command -v systemd-analyze >/dev/null 2>&1 || tap_skip_all "systemd-analyze is not installed"
[ -d /lib/systemd/system ] || tap_skip_all "no systemd unit directory on this host"

unit="$top_srcdir/etc/systemd/gemmad.service"
work="$top_builddir/packaging-test/unit"
TAP_TMP="$work"
rm -rf "$work"
d="$work/root"
mkdir -p "$d/lib/systemd/system" "$d/usr/sbin" "$d/bin" "$d/etc/systemd/system/gemmad.service.d"
cp /lib/systemd/system/*.target /lib/systemd/system/*.slice "$d/lib/systemd/system/" 2>/dev/null
cp "$top_builddir/gemmad" "$d/usr/sbin/gemmad"
cp /bin/kill "$d/bin/kill" 2>/dev/null || cp /usr/bin/kill "$d/bin/kill"
cp "$unit" "$d/lib/systemd/system/gemmad.service"

systemd-analyze verify --man=no --root="$d" /lib/systemd/system/gemmad.service >"$work/verify.out" 2>&1
rc=$?
sed 's/^/# /' "$work/verify.out"
[ $rc -eq 0 ] && [ ! -s "$work/verify.out" ]
ok $? "systemd-analyze verify: no error, no warning"

cp "$top_srcdir/etc/systemd/gemmad-nvidia.conf" "$d/etc/systemd/system/gemmad.service.d/nvidia.conf"
systemd-analyze verify --man=no --root="$d" /lib/systemd/system/gemmad.service >"$work/verify2.out" 2>&1
rc=$?
sed 's/^/# /' "$work/verify2.out"
[ $rc -eq 0 ] && [ ! -s "$work/verify2.out" ]
ok $? "systemd-analyze verify with the NVIDIA drop-in: no error, no warning"

systemd-analyze security --offline=yes --threshold=20 "$unit" >"$work/security.out" 2>&1
rc=$?
score=$(sed -n 's/.*Overall exposure level for gemmad.service: \([0-9.]*\).*/\1/p' "$work/security.out")
tap_diag "systemd-analyze security: exposure $score"
[ $rc -eq 0 ] && [ -n "$score" ] && awk "BEGIN { exit !($score < 2.0) }"
ok $? "systemd-analyze security rates the unit below 2.0 (${score:-no score})"

# key VALUE -- the unit sets KEY=VALUE (one line, exactly).
has() { grep -qxF "$1" "$unit"; }
missing=""
for line in Type=notify User=gemmad Group=gemmad 'ExecReload=/bin/kill -HUP $MAINPID' \
    ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes NoNewPrivileges=yes \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
    MemoryDenyWriteExecute=yes CapabilityBoundingSet= UMask=0077 StateDirectory=gemmad \
    RuntimeDirectory=gemmad ConfigurationDirectory=gemmad; do
    has "$line" || missing="$missing '$line'"
done
grep -q '^WatchdogSec=[1-9]' "$unit" || missing="$missing WatchdogSec"
grep -q '^LimitMEMLOCK=' "$unit" || missing="$missing LimitMEMLOCK"
[ -z "$missing" ]
ok $? "the unit sets notify, watchdog, user, reload by SIGHUP and the hardening${missing:+ (missing:$missing)}"

stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
drain_ms=$(sed -n 's/^ *drain_timeout_ms: *\([0-9]*\).*/\1/p' "$top_srcdir/etc/gemmad.yaml")
[ -n "$stop_s" ] && [ -n "$drain_ms" ] && [ $((stop_s * 1000)) -gt "$drain_ms" ]
ok $? "TimeoutStopSec=${stop_s}s is above shutdown.drain_timeout_ms=${drain_ms}"

grep -q '^DevicePolicy=closed$' "$top_srcdir/etc/systemd/gemmad-nvidia.conf" &&
    grep -q '^DeviceAllow=/dev/nvidiactl rw$' "$top_srcdir/etc/systemd/gemmad-nvidia.conf" &&
    grep -q '^PrivateDevices=no$' "$top_srcdir/etc/systemd/gemmad-nvidia.conf"
ok $? "the NVIDIA drop-in opens only the NVIDIA devices (DevicePolicy=closed + DeviceAllow)"

tap_done
