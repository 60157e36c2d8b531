#!/bin/sh
# packaging/build-rpm.sh -- build gemmad's .rpm from a `make dist` tarball
# with packaging/rpm/gemmad.spec (`make rpm` runs this).
#
# usage: packaging/build-rpm.sh TARBALL OUTDIR
# Works with Debian's rpm package too: there the build dependencies are
# Debian's (scripts/install-deps.sh), so rpmbuild runs with --nodeps, and
# llhttp comes from node-llhttp's sources as in any Debian build. On RHEL 9
# the BuildRequires (EPEL: llhttp-devel) are checked.
set -eu
tarball=$(readlink -f "${1:?usage: build-rpm.sh TARBALL OUTDIR}")
out=${2:?usage: build-rpm.sh TARBALL OUTDIR}
command -v rpmbuild >/dev/null 2>&1 || { echo "build-rpm: rpmbuild not found (Debian: apt-get install rpm)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
top="$out/rpmbuild"
rm -rf "$top"
mkdir -p "$top/SOURCES" "$top/SPECS"
cp "$tarball" "$top/SOURCES/"
base=$(basename "$tarball" .tar.gz)
version=${base#gemmad-}
tar -xzf "$tarball" -O "$base/packaging/rpm/gemmad.spec" |
    sed "s/@VERSION@/$version/" >"$top/SPECS/gemmad.spec"
nodeps=""
command -v dpkg >/dev/null 2>&1 && ! command -v dnf >/dev/null 2>&1 && nodeps="--nodeps"
# shellcheck disable=SC2086
rpmbuild -bb $nodeps --define "_topdir $top" --define "_smp_mflags -j${GEMMAD_JOBS:-2}" \
    "$top/SPECS/gemmad.spec" >"$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; echo "build-rpm: failed, see $out/build.log" >&2; exit 1; }
find "$top/RPMS" -name '*.rpm' -exec mv {} "$out/" \;
rm -rf "$top"
ls "$out"/*.rpm
