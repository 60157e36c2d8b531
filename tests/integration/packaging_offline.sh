#!/bin/sh
# packaging_offline.sh -- the Debian package and the offline installer,
# end to end, on a machine that has no network:
#   1. `make dist`, then the .deb (packaging/build-deb.sh) and the offline
#      archive with a signed SHA256SUMS (packaging/build-offline.sh);
#      lintian reports no error;
#   2. a minimal Debian 12 root (debootstrap --variant=minbase, cached as a
#      tarball in BUILD/packaging-cache, so only the first run fetches it);
#   3. inside it, in a new network namespace (unshare -n: only a loopback
#      interface) and chroot: a tampered archive and a wrong key are
#      refused; install.sh installs gemmad and its dependencies from the
#      archive alone; the service is not started, the next step is
#      printed; conffiles are root:gemmad 0640;
#   4. gemmad-setup: a PKI, the policy, a signed demo bundle; gemmad runs
#      as the unit's ExecStart= and User= say, and answers a chat over
#      mutual TLS (gemmactl inside, curl from outside via the socket);
#   5. an upgrade to a rebuilt package (version -2, from a second
#      archive): configuration, keys and the audit chain are intact
#      (gemmactl audit verify) and gemmad serves again;
#   6. remove keeps the state, purge removes it and says so.
# Runs in the plain build only (a sanitizer build skips it: it tests
# packaging, not code), as root, where debootstrap can reach the mirror
# apt uses; otherwise it is skipped, never passed. A few minutes.
. "$(dirname "$0")/../lib/tap.sh"

grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null &&
    tap_skip_all "sanitizer build: packaging is tested by the plain build"
[ "$(id -u)" -eq 0 ] || tap_skip_all "needs root (debootstrap, chroot, unshare)"
for t in debootstrap dpkg-buildpackage apt-ftparchive unshare chroot gpg lintian flock curl; do
    command -v "$t" >/dev/null 2>&1 || tap_skip_all "$t is not installed (scripts/install-deps.sh)"
done
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || tap_skip_all "no Debian archive keyring"
[ "$(dpkg --print-architecture)" = amd64 ] || tap_skip_all "the offline archive is for amd64"

pkg="$top_srcdir/packaging"
work="$top_builddir/packaging-test/offline"
cache="$top_builddir/packaging-cache"
TAP_TMP="$work"
root="$work/root"
cleanup() {
    [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null
    gpgconf --homedir "$work/gnupg" --kill all 2>/dev/null
    # Mounts live in the namespaces; never delete through one that leaked.
    if ! grep -q " $root/" /proc/self/mounts; then rm -rf "$root"; fi
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work" "$cache"

# The mirror (for the dependency closure) and the root (debootstrap, or
# the cache): without them nothing here can run.
mirror=$(sh "$pkg/debian-mirror.sh" | cut -d' ' -f1)
curl -sfI --max-time 20 "$mirror/dists/bookworm/InRelease" >/dev/null 2>&1 ||
    tap_skip_all "the Debian mirror $mirror is unreachable"

if ! tarball=$(sh "$pkg/debian12-root.sh" "$cache" 2>"$work/root.err"); then
    cat "$work/root.err" | sed 's/^/# /'
    tap_skip_all "no Debian 12 root: $(tail -n 1 "$work/root.err")"
fi

# 1. The dist tarball (serialized with packaging_rpm.sh: one distdir).
unset MAKEFLAGS MFLAGS MAKELEVEL
(flock 9; make -C "$top_builddir" dist-gzip >"$work/dist.log" 2>&1 &&
    cp "$top_builddir"/gemmad-*.tar.gz "$work/") 9>"$top_builddir/.packaging.lock"
ok $? "make dist-gzip makes the source tarball"
dist=$(ls "$work"/gemmad-*.tar.gz | head -n 1)
version=$(basename "$dist" .tar.gz); version=${version#gemmad-}

check "the .deb builds from the tarball (version $version-1)" \
    sh "$pkg/build-deb.sh" "$dist" "$work/deb1" "$version-1"
deb1="$work/deb1/gemmad_${version}-1_amd64.deb"
lintian --tag-display-limit 0 "$deb1" >"$work/lintian.out" 2>&1
sed 's/^/# lintian: /' "$work/lintian.out" | grep -v 'running with root' || true
! grep -q '^E:' "$work/lintian.out"
ok $? "lintian finds no error in the .deb"
dpkg-deb -c "$deb1" >"$work/deb1.list"
miss=""
for f in ./usr/sbin/gemmad ./usr/bin/gemmactl ./usr/bin/gemma-run ./usr/sbin/gemmad-setup \
    ./etc/gemmad/gemmad.yaml ./etc/gemmad/policy.yaml ./lib/systemd/system/gemmad.service \
    ./usr/lib/sysusers.d/gemmad.conf ./usr/lib/tmpfiles.d/gemmad.conf \
    ./usr/share/man/man8/gemmad.8.gz ./usr/share/man/man1/gemmactl.1.gz \
    ./usr/share/bash-completion/completions/gemmactl ./usr/share/doc/gemmad/copyright; do
    grep -q " $f\$" "$work/deb1.list" || miss="$miss $f"
done
[ -z "$miss" ]
ok $? "the .deb holds the programs, conffiles, unit, sysusers/tmpfiles, man pages, completion, licence${miss:+ (missing:$miss)}"

# A signing key for the archive (a site's release key in real life).
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'gemmad release test <release@gemmad.invalid>' \
    ed25519 sign never >"$work/gpg.log" 2>&1
ok $? "a test signing key"
# A demo model signed as a bundle, to carry in the archive (MODELS=).
mkdir -p "$work/models/tiny"
"$top_builddir/gemma-run" synth --preset tiny --type q8_0 --seed 1 -o "$work/models/tiny/tiny.gguf" \
    >"$work/bundle.out" 2>&1 &&
    "$top_builddir/gemmactl" bundle keygen --out "$work/signer" >>"$work/bundle.out" 2>&1 &&
    "$top_builddir/gemmactl" bundle sign "$work/models/tiny" --key "$work/signer.key" >>"$work/bundle.out" 2>&1
ok $? "a demo model signed as a bundle (gemma-run synth, gemmactl bundle sign)"
check "make offline: the archive with the dependency closure, the bundle, signed SHA256SUMS" \
    sh "$pkg/build-offline.sh" "$work/deb1" "$work/out" release@gemmad.invalid "$work/models/tiny"
arch1="$work/out/gemmad-offline-$version-1-debian12-amd64.tar"
keyfile="$work/out/offline/gemmad-offline-$version-1-debian12-amd64.signing-key.gpg"

# 2. The root, fresh from the cached tarball.
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xzf "$tarball" && chmod 0755 "$root"
ok $? "a Debian 12 minbase root from $(basename "$tarball")"
mkdir -p "$root/offline"
tar -C "$root/offline" -xf "$arch1"
cp "$keyfile" "$root/offline/release.gpg"
cp "$work/signer.pub" "$root/offline/signer.pub"
gpg --batch --passphrase '' --quick-gen-key 'stranger <x@gemmad.invalid>' ed25519 sign never >/dev/null 2>&1
gpg --batch --export x@gemmad.invalid >"$root/offline/wrong.gpg"

# in_root SCRIPT -- run SCRIPT (sh) in the root: its own network namespace
# with only loopback (up, for gemmad's TCP listener on 127.0.0.1), its own
# mount and PID namespaces with /proc and /dev.
in_root() {
    unshare --net --mount --pid --fork --mount-proc="$root/proc" sh -c '
        ip link set lo up && mount --rbind /dev "$1/dev" && mount -t tmpfs tmpfs "$1/tmp" &&
        exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/sh -c "$2"
    ' in_root "$root" "$1"
}

# 3. Isolation, refusals, install.
in_root 'cat /proc/net/dev' >"$work/netdev.out" 2>&1
in_root 'bash -c "exec 3<>/dev/tcp/151.101.2.132/80"' >"$work/reach.out" 2>&1
reach=$?
[ "$(grep -c ':' "$work/netdev.out")" -eq 1 ] && grep -q 'lo:' "$work/netdev.out" && [ "$reach" -ne 0 ] &&
    grep -q 'Network is unreachable' "$work/reach.out"
ok $? "inside, the only interface is loopback and the Internet is unreachable"

in_root "cd /offline/gemmad-offline-$version-1-debian12-amd64 && ./install.sh --keyring /offline/wrong.gpg" \
    >"$work/wrongkey.out" 2>&1
[ $? -ne 0 ] && grep -q 'does not verify' "$work/wrongkey.out" && ! in_root 'dpkg -s gemmad' >/dev/null 2>&1
ok $? "an archive signed by another key is refused, nothing installed"

cp -r "$root/offline/gemmad-offline-$version-1-debian12-amd64" "$root/offline/tampered"
printf '\n' >>"$root/offline/tampered/debs/Packages"
in_root 'cd /offline/tampered && ./install.sh --keyring /offline/release.gpg' >"$work/tampered.out" 2>&1
[ $? -ne 0 ] && grep -q 'checksums do not match' "$work/tampered.out"
ok $? "a tampered archive is refused"
rm -rf "$root/offline/tampered"

in_root "cd /offline/gemmad-offline-$version-1-debian12-amd64 && ./install.sh --keyring /offline/release.gpg" \
    >"$work/install1.out" 2>&1
rc=$?
sed 's/^/# install: /' "$work/install1.out" | tail -n 12
[ $rc -eq 0 ] && grep -q "signature of SHA256SUMS verified" "$work/install1.out" &&
    grep -q "^  tiny$" "$work/install1.out"
ok $? "install.sh verifies the signature and installs from the archive alone (and lists its bundles)"
in_root 'dpkg-query -W -f="\${Status} \${Version}" gemmad' >"$work/status1.out" 2>&1
grep -q "install ok installed $version-1" "$work/status1.out"
ok $? "gemmad $version-1 is installed ($(cat "$work/status1.out"))"
grep -q 'not started' "$work/install1.out" && grep -q 'gemmad-setup' "$work/install1.out" &&
    in_root 'test -f /lib/systemd/system/gemmad.service && ! test -e /etc/systemd/system/multi-user.target.wants/gemmad.service'
ok $? "installing leaves gemmad.service disabled (not started) and prints the next step"
in_root 'getent passwd gemmad; stat -c "%U:%G %a %n" /etc/gemmad /etc/gemmad/gemmad.yaml /etc/gemmad/policy.yaml /var/lib/gemmad' \
    >"$work/perms.out" 2>&1
sed 's/^/# /' "$work/perms.out"
grep -q '^gemmad:x:.*:/var/lib/gemmad:/usr/sbin/nologin$' "$work/perms.out" &&
    grep -q '^root:gemmad 750 /etc/gemmad$' "$work/perms.out" &&
    grep -q '^root:gemmad 640 /etc/gemmad/gemmad.yaml$' "$work/perms.out" &&
    grep -q '^root:gemmad 640 /etc/gemmad/policy.yaml$' "$work/perms.out" &&
    grep -q '^gemmad:gemmad 750 /var/lib/gemmad$' "$work/perms.out"
ok $? "user gemmad; /etc/gemmad root:gemmad 0750, conffiles 0640; /var/lib/gemmad gemmad's"

# 4. A serving site: gemmad-setup with the archive's signed bundle, then gemmad
# as the unit starts it. serve.sh runs inside; it answers one chat
# through gemmactl, waits for the outside check (curl through the
# socket), then stops gemmad (SIGTERM drains) and reports.
cat >"$root/root/serve.sh" <<'EOF'
#!/bin/sh
set -u
unit=/lib/systemd/system/gemmad.service
user=$(sed -n 's/^User=//p' $unit)
umask_=$(sed -n 's/^UMask=//p' $unit)
pre=$(sed -n 's/^ExecStartPre=//p' $unit)
start=$(sed -n 's/^ExecStart=//p' $unit)
# What RuntimeDirectory= would make.
install -d -o "$user" -g "$user" -m 0750 /run/gemmad
setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all sh -c "umask $umask_; $pre" ||
    { echo "serve: ExecStartPre failed"; exit 1; }
# A new log each round: the redirection below truncates the file only once
# the background child runs, and the wait for 'ready' must not find the
# previous round's line (it did: the chat then ran before gemmad listened).
: >/root/gemmad.log
setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all sh -c "umask $umask_; exec $start" \
    2>>/root/gemmad.log &
pid=$!
n=0
until grep -q 'notice gemmad: ready' /root/gemmad.log; do
    n=$((n + 1)); sleep 0.2
    if [ $n -gt 300 ] || ! kill -0 $pid 2>/dev/null; then echo "serve: gemmad did not start"; cat /root/gemmad.log; exit 1; fi
done
echo "serve: ready as $(stat -c %U /proc/$pid)"
touch /root/ready
p=/etc/gemmad/pki
gemmactl chat -p "Hello" --max-tokens 8 --seed 1 --cert $p/admin.crt --key $p/admin.key --ca $p/ca.crt \
    >/root/chat.out 2>&1
echo "serve: chat exit $?"
n=0
until [ -e /root/outside-done ] || [ $n -gt 600 ]; do n=$((n + 1)); sleep 0.1; done
gemmactl audit verify --cert $p/admin.crt --key $p/admin.key --ca $p/ca.crt >/root/verify-live.out 2>&1
echo "serve: live verify exit $?"
kill -TERM $pid
wait $pid
echo "serve: gemmad exit $?"
EOF
chmod +x "$root/root/serve.sh"

in_root "gemma-run synth --preset tiny --type q8_0 --seed 1 -o /root/check.gguf >/dev/null &&
    cmp /root/check.gguf /offline/gemmad-offline-$version-1-debian12-amd64/models/tiny/tiny.gguf" \
    >"$work/synth-inside.out" 2>&1
ok $? "inside: the installed gemma-run runs (it makes the same demo model, byte for byte)"
in_root "gemmad-setup --site offline-test --bundle /offline/gemmad-offline-$version-1-debian12-amd64/models/tiny \
    --signer-key /offline/signer.pub --model-name tiny --context 1024" >"$work/setup.out" 2>&1
rc=$?
sed 's/^/# setup: /' "$work/setup.out"
[ $rc -eq 0 ]
ok $? "gemmad-setup: PKI, policy, verified bundle, a configuration that checks"

# serve ROUND -- run serve.sh inside; from outside, chat through the socket
# with curl over mTLS. Sets serve_ok, curl_ok.
serve() {
    rm -f "$root/root/ready" "$root/root/outside-done" "$root/root/chat.out"
    in_root /root/serve.sh >"$work/serve$1.out" 2>&1 &
    serve_pid=$!
    n=0
    until [ -e "$root/root/ready" ] || [ $n -gt 600 ] || ! kill -0 $serve_pid 2>/dev/null; do
        n=$((n + 1)); sleep 0.1
    done
    p="$root/etc/gemmad/pki"
    curl -sS --max-time 60 --unix-socket "$root/run/gemmad/gemmad.sock" \
        --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
        https://localhost/v1/chat/completions \
        -d '{"model":"tiny","max_tokens":8,"seed":1,"messages":[{"role":"user","content":"Hello"}]}' \
        >"$work/curl$1.out" 2>&1
    curl_rc=$?
    curl -sS --max-time 10 --unix-socket "$root/run/gemmad/gemmad.sock" --cacert "$p/ca.crt" \
        https://localhost/healthz >"$work/nocert$1.out" 2>&1
    nocert_rc=$?
    touch "$root/root/outside-done"
    wait $serve_pid
    serve_pid=""
    sed 's/^/# /' "$work/serve$1.out"
}
serve 1
sed 's/^/# chat: /' "$root/root/chat.out"
grep -q 'serve: chat exit 0' "$work/serve1.out" && [ -s "$root/root/chat.out" ]
ok $? "gemmad started as the unit's ExecStart/User, a chat answer through gemmactl (mTLS)"
grep -q 'serve: ready as gemmad' "$work/serve1.out"
ok $? "gemmad runs as user gemmad"
[ $curl_rc -eq 0 ] && grep -q '"choices"' "$work/curl1.out" && grep -q '"assistant"' "$work/curl1.out"
ok $? "from outside the namespace: curl gets a chat completion over mTLS through /run/gemmad/gemmad.sock"
# 7 would be "could not connect": the refusal must come from the TLS handshake.
[ $nocert_rc -ne 0 ] && [ $nocert_rc -ne 7 ] && [ $curl_rc -eq 0 ]
ok $? "without a client certificate the TLS handshake is refused (curl exit $nocert_rc)"
grep -q 'serve: live verify exit 0' "$work/serve1.out" && grep -q 'serve: gemmad exit 0' "$work/serve1.out"
ok $? "the audit chain verifies through gemmad; SIGTERM drains and gemmad exits 0"

# 5. Upgrade to a rebuilt package from a second archive.
check "a rebuilt .deb (version $version-2)" sh "$pkg/build-deb.sh" "$dist" "$work/deb2" "$version-2"
check "its offline archive" sh "$pkg/build-offline.sh" "$work/deb2" "$work/out" release@gemmad.invalid
arch2="$work/out/gemmad-offline-$version-2-debian12-amd64.tar"
tar -C "$root/offline" -xf "$arch2"
state='cd /etc/gemmad && find . -type f | LC_ALL=C sort | xargs sha256sum; stat -c "%U:%G %a %n" /etc/gemmad/gemmad.yaml /etc/gemmad/tls/server.key /var/lib/gemmad/audit.db; sha256sum /var/lib/gemmad/audit.db; gemmactl audit verify --db /var/lib/gemmad/audit.db'
in_root "$state" >"$work/state1.out" 2>&1
ok $? "before the upgrade: configuration, keys and the closed audit chain recorded (verifies)"
in_root "cd /offline/gemmad-offline-$version-2-debian12-amd64 && ./install.sh --keyring /offline/release.gpg" \
    >"$work/install2.out" 2>&1
rc=$?
sed 's/^/# upgrade: /' "$work/install2.out" | tail -n 6
[ $rc -eq 0 ] && grep -q "upgraded $version-1 -> $version-2" "$work/install2.out"
ok $? "install.sh from the second archive upgrades gemmad to $version-2"
in_root "$state" >"$work/state2.out" 2>&1
rc=$?
sed 's/^/# after: /' "$work/state2.out" | tail -n 4
[ $rc -eq 0 ] && cmp -s "$work/state1.out" "$work/state2.out"
ok $? "after the upgrade: configuration, keys, permissions and the audit chain are unchanged and verify"
serve 2
grep -q 'serve: chat exit 0' "$work/serve2.out" && [ $curl_rc -eq 0 ] && grep -q '"choices"' "$work/curl2.out" &&
    grep -q 'serve: live verify exit 0' "$work/serve2.out"
ok $? "the upgraded gemmad serves the same site (chat over mTLS, audit chain verifies across the upgrade)"

# 6. Remove keeps the state; purge removes it, and says so.
in_root 'DEBIAN_FRONTEND=noninteractive dpkg --remove gemmad 2>&1; test -f /etc/gemmad/tls/server.key && test -f /var/lib/gemmad/audit.db' \
    >"$work/remove.out" 2>&1
ok $? "remove keeps /etc/gemmad (keys) and /var/lib/gemmad (audit database)"
in_root 'DEBIAN_FRONTEND=noninteractive dpkg --purge gemmad 2>&1; ! test -e /etc/gemmad && ! test -e /var/lib/gemmad' \
    >"$work/purge.out" 2>&1
rc=$?
sed 's/^/# purge: /' "$work/purge.out" | grep 'gemmad:'
[ $rc -eq 0 ] && grep -q 'purge: removing /etc/gemmad' "$work/purge.out"
ok $? "purge removes /etc/gemmad and /var/lib/gemmad, and says so"

tap_done
