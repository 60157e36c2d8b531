#!/bin/sh
# install.sh -- install gemmad on Debian 12 (amd64) from this offline
# archive, with no network: verify every file against SHA256SUMS (and
# SHA256SUMS.sig with a keyring), then let apt install gemmad and the
# dependencies the machine lacks from the archive's own repository.
# Running it again with a newer archive upgrades gemmad and keeps
# /etc/gemmad (configuration, keys) and /var/lib/gemmad (audit database).
#
# usage: ./install.sh [--keyring FILE] [--no-signature]
#   --keyring FILE   the OpenPGP key(s) the archive must be signed with
#                    (received by another path than this archive)
#   --no-signature   accept an archive checked by SHA256SUMS only
# exit status: 0 installed, 1 error (nothing changed if verification failed), 2 usage
set -eu
here=$(cd "$(dirname "$0")" && pwd)
keyring=""
nosig=0
while [ $# -gt 0 ]; do
    case "$1" in
    --keyring) keyring=${2:?--keyring needs a FILE}; shift 2 ;;
    --no-signature) nosig=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
[ "$(dpkg --print-architecture)" = amd64 ] || die "this archive is for amd64, not $(dpkg --print-architecture)"
. /etc/os-release 2>/dev/null || true
[ "${VERSION_ID:-}" = 12 ] || echo "install.sh: warning: made for Debian 12, this is ${PRETTY_NAME:-unknown}" >&2

case "$here" in *[[:space:]]*) die "apt cannot read a repository under '$here': move the archive to a path without spaces" ;; esac
cd "$here"
# 1. Authenticity: the signature over SHA256SUMS.
if [ -f SHA256SUMS.sig ] && [ -n "$keyring" ]; then
    command -v gpgv >/dev/null 2>&1 || die "gpgv is missing (Debian: package gpgv)"
    gpgv --keyring "$(readlink -f "$keyring")" SHA256SUMS.sig SHA256SUMS 2>/dev/null ||
        die "SHA256SUMS.sig does not verify with $keyring: archive refused"
    echo "install.sh: signature of SHA256SUMS verified with $keyring"
elif [ -n "$keyring" ]; then
    die "--keyring given but the archive has no SHA256SUMS.sig: archive refused"
elif [ "$nosig" -eq 0 ]; then
    if [ -f SHA256SUMS.sig ]; then
        die "the archive is signed: give the signer's key with --keyring FILE (or --no-signature)"
    fi
    die "the archive is not signed: pass --no-signature to install on checksums alone"
else
    echo "install.sh: warning: signature not checked (--no-signature)" >&2
fi
# 2. Integrity: every file, and nothing but them in debs/.
sha256sum --quiet --strict -c SHA256SUMS || die "checksums do not match: archive damaged or altered, nothing installed"
for f in debs/*; do
    grep -q "  $f\$" SHA256SUMS || die "$f is not listed in SHA256SUMS: archive refused"
done
echo "install.sh: all files match SHA256SUMS"

# 3. apt, reading only this archive (a private source list and lists
# directory: the machine's own sources and their state are left alone).
work=$(mktemp -d /tmp/gemmad-offline.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/parts"
echo "deb [trusted=yes] file:$here/debs ./" >"$work/sources.list"
aptq() {
    DEBIAN_FRONTEND=noninteractive apt-get -q -o Dir::Etc::SourceList="$work/sources.list" \
        -o Dir::Etc::SourceParts="$work/parts" -o Dir::State::Lists="$work/lists" \
        -o APT::Sandbox::User=root -o Acquire::Languages=none "$@"
}
aptq update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; die "apt cannot read $here/debs"; }
before=$(dpkg-query -W -f='${Version}' gemmad 2>/dev/null || true)
aptq install -y --no-install-recommends -o Dpkg::Options::=--force-confold \
    -o Dpkg::Options::=--force-confdef gemmad || die "apt-get install failed (see above)"
after=$(dpkg-query -W -f='${Version}' gemmad)
if [ -n "$before" ] && [ "$before" != "$after" ]; then
    echo "install.sh: gemmad upgraded $before -> $after; /etc/gemmad and /var/lib/gemmad kept"
else
    echo "install.sh: gemmad $after installed"
fi
if [ -d "$here/models" ]; then
    echo "install.sh: signed model bundles in $here/models:"
    ls "$here/models" | sed 's/^/  /'
    echo "  install one with: gemmad-setup --bundle $here/models/NAME --signer-key PUB"
    echo "  or copy and verify one into /var/lib/gemmad/models (a folder, or a .gguf with its .sig):"
    echo "    gemmactl models import $here/models/NAME --key PUB"
fi
