#!/bin/sh
# packaging_rpm.sh -- `make rpm`'s path: the .rpm builds from the dist
# tarball with packaging/rpm/gemmad.spec; `rpm -qlp` lists the programs,
# the configuration (root:gemmad 0640, %config(noreplace)), the unit,
# sysusers.d, tmpfiles.d, man pages, completion and licence; `rpm -qpR`
# the shared libraries and tools it needs; rpmlint finds no error beyond
# the ones packaging/rpm/gemmad.rpmlintrc explains.
# Plain build only (skipped under sanitizers); skipped without rpmbuild.
. "$(dirname "$0")/../lib/tap.sh"

grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null &&
    tap_skip_all "sanitizer build: packaging is tested by the plain build"
for t in rpmbuild rpm flock; do
    command -v "$t" >/dev/null 2>&1 || tap_skip_all "$t is not installed (scripts/install-deps.sh)"
done

pkg="$top_srcdir/packaging"
work="$top_builddir/packaging-test/rpm"
TAP_TMP="$work"
rm -rf "$work"
mkdir -p "$work"

unset MAKEFLAGS MFLAGS MAKELEVEL
(flock 9; make -C "$top_builddir" dist-gzip >"$work/dist.log" 2>&1 &&
    cp "$top_builddir"/gemmad-*.tar.gz "$work/") 9>"$top_builddir/.packaging.lock"
ok $? "make dist-gzip makes the source tarball"
dist=$(ls "$work"/gemmad-*.tar.gz | head -n 1)
version=$(basename "$dist" .tar.gz); version=${version#gemmad-}

check "the .rpm builds from the tarball" sh "$pkg/build-rpm.sh" "$dist" "$work"
rpmfile="$work/gemmad-$version-1.x86_64.rpm"

rpm -qlpv "$rpmfile" >"$work/files.out" 2>&1
rpm -qlp "$rpmfile" >"$work/list.out" 2>&1
miss=""
for f in /usr/sbin/gemmad /usr/bin/gemmactl /usr/bin/gemma-run /usr/sbin/gemmad-setup \
    /etc/gemmad/gemmad.yaml /etc/gemmad/policy.yaml /usr/lib/systemd/system/gemmad.service \
    /usr/lib/sysusers.d/gemmad.conf /usr/lib/tmpfiles.d/gemmad.conf /var/lib/gemmad/models \
    /run/gemmad /usr/share/man/man8/gemmad.8 /usr/share/man/man1/gemmactl.1 \
    /usr/share/man/man5/gemmad.yaml.5 /usr/share/bash-completion/completions/gemmactl \
    /usr/share/licenses/gemmad-$version/LICENSE; do
    grep -q "^$f\\(\\.gz\\|\\.bz2\\)\\{0,1\\}\$" "$work/list.out" || miss="$miss $f"
done
[ -z "$miss" ]
ok $? "rpm -qlp lists programs, configuration, unit, sysusers/tmpfiles, state dirs, man pages, completion, licence${miss:+ (missing:$miss)}"

awk '$9 ~ /^\/etc\/gemmad/ {print $1, $3, $4, $9}' "$work/files.out" >"$work/etc.out"
sed 's/^/# /' "$work/etc.out"
grep -q '^drwxr-x--- root gemmad /etc/gemmad$' "$work/etc.out" &&
    grep -q '^-rw-r----- root gemmad /etc/gemmad/gemmad.yaml$' "$work/etc.out" &&
    grep -q '^-rw-r----- root gemmad /etc/gemmad/policy.yaml$' "$work/etc.out"
ok $? "/etc/gemmad is root:gemmad 0750, its files 0640"
rpm -qpc "$rpmfile" >"$work/conf.out" 2>&1
rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" | grep '^/etc/gemmad/.*yaml' >"$work/flags.out"
[ "$(grep -c ' cn$' "$work/flags.out")" -eq 2 ]
ok $? "gemmad.yaml and policy.yaml are %config(noreplace) (an upgrade keeps them)"

rpm -qpR "$rpmfile" >"$work/req.out" 2>&1
miss=""
for r in 'libssl.so.3()(64bit)' 'libcrypto.so.3()(64bit)' 'libuv.so.1()(64bit)' 'libsqlite3.so.0()(64bit)' \
    'libyaml-0.so.2()(64bit)' 'libjansson.so.4()(64bit)' \
    'libsystemd.so.0()(64bit)' 'openssl' 'shadow-utils'; do
    grep -qxF "$r" "$work/req.out" || miss="$miss $r"
done
[ -z "$miss" ]
ok $? "rpm -qpR lists the shared libraries, openssl and shadow-utils${miss:+ (missing:$miss)}"

rpm -qp --scripts "$rpmfile" >"$work/scripts.out" 2>&1
grep -q 'useradd -r -g gemmad' "$work/scripts.out" && ! grep -q 'systemctl \(--[a-z]* \)*\(enable\|start\)' "$work/scripts.out"
ok $? "the scriptlets add the gemmad user and never enable or start the service"

if command -v rpmlint >/dev/null 2>&1; then
    rpmlint -r "$pkg/rpm/gemmad.rpmlintrc" "$rpmfile" >"$work/rpmlint.out" 2>&1
    sed 's/^/# rpmlint: /' "$work/rpmlint.out"
    grep -q ' 0 errors' "$work/rpmlint.out"
    ok $? "rpmlint finds no error"
else
    tap_skip "rpmlint is not installed"
fi

tap_done
