#!/bin/sh
# packaging/debian12-root.sh -- a minimal Debian 12 (bookworm) amd64 root
# filesystem, made once with debootstrap and cached as a tarball.
#
# usage: packaging/debian12-root.sh CACHE_DIR
# Prints the path of CACHE_DIR/debian12-minbase.tar.gz, creating it first
# when it is missing (needs root and the Debian mirror this machine's apt
# uses; GEMMAD_DEBIAN_MIRROR overrides it). Exit status 2 means "cannot
# here" (not root, no debootstrap, mirror unreachable): callers skip.
set -eu
cache=${1:?usage: debian12-root.sh CACHE_DIR}
tarball="$cache/debian12-minbase.tar.gz"
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi

[ "$(id -u)" -eq 0 ] || { echo "debian12-root: needs root" >&2; exit 2; }
command -v debootstrap >/dev/null 2>&1 ||
    { echo "debian12-root: debootstrap is not installed (scripts/install-deps.sh)" >&2; exit 2; }

# The mirror apt on this machine uses (GEMMAD_DEBIAN_MIRROR overrides it).
mirror=$(sh "$(dirname "$0")/debian-mirror.sh" | cut -d" " -f1)

mkdir -p "$cache"
root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "debian12-root: debootstrap --variant=minbase bookworm from $mirror (once; cached in $tarball)" >&2
if ! debootstrap --variant=minbase --arch=amd64 bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    echo "debian12-root: debootstrap failed (no network?), see $cache/debootstrap.log:" >&2
    tail -n 5 "$cache/debootstrap.log" >&2
    exit 2
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
chmod 0755 "$root"    # mktemp made it 0700; it becomes the root directory
tar -C "$root" -czf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
