#!/bin/sh
# packaging/build-deb.sh -- build gemmad's .debs from a `make dist` tarball
# with the packaging/debian directory it carries (`make deb` runs this).
#
# usage: packaging/build-deb.sh TARBALL OUTDIR [DEB_VERSION]
# DEB_VERSION (e.g. 0.1.0-2) adds a changelog entry for a rebuild; by
# default the version is the top entry of packaging/debian/changelog.
# The .debs (and the -dbgsym package) land in OUTDIR.
set -eu
tarball=$(readlink -f "${1:?usage: build-deb.sh TARBALL OUTDIR [DEB_VERSION]}")
out=${2:?usage: build-deb.sh TARBALL OUTDIR [DEB_VERSION]}
version=${3:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
tar -C "$work" -xzf "$tarball"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -d "$src/packaging/debian" ] || { echo "build-deb: $tarball has no packaging/debian" >&2; exit 1; }
cp -r "$src/packaging/debian" "$src/debian"
if [ -n "$version" ] && [ "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)" != "$version" ]; then
    { printf 'gemmad (%s) bookworm; urgency=medium\n\n  * Rebuild.\n\n' "$version"
      printf ' -- gemmad maintainers <maintainers@users.noreply.r-seed-8bcc1ca8.example>  %s\n\n' "$(date -R)"
      cat "$src/packaging/debian/changelog"; } >"$src/debian/changelog"
fi
cd "$src"
DEB_BUILD_OPTIONS="nocheck parallel=${GEMMAD_JOBS:-2}" dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; echo "build-deb: failed, see $out/build.log" >&2; exit 1; }
mv "$work"/*.deb "$out"/
rm -rf "$work"
ls "$out"/*.deb
