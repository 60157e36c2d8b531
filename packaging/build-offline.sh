#!/bin/sh
# packaging/build-offline.sh -- the offline installer for Debian 12 amd64
# (`make offline` runs this): one archive holding
#   debs/        gemmad's .debs and the closure of their runtime
#                dependencies, with a repository index (Packages, Release)
#   models/      signed models to carry along (optional): bundle
#                directories, or GGUF files with FILE.sig beside them
#   install.sh   verifies SHA256SUMS (and its signature) and installs
#   SHA256SUMS   of every file above; SHA256SUMS.sig when a key is given
#
# usage: packaging/build-offline.sh DEBDIR OUTDIR [GPG_KEY] [BUNDLE_DIR|SIGNED_FILE...]
# The closure is resolved against an empty package database, so it holds
# everything down to libc6: whatever a Debian 12 target already has, apt
# finds every dependency it lacks in the archive. Resolving and fetching
# need this machine's Debian mirror (packaging/debian-mirror.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debdir=$(cd "${1:?usage: build-offline.sh DEBDIR OUTDIR [GPG_KEY] [BUNDLE...]}" && pwd)
out=${2:?usage: build-offline.sh DEBDIR OUTDIR [GPG_KEY] [BUNDLE...]}
key=${3:-}
if [ $# -ge 3 ]; then shift 3; else shift $#; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

main_deb=$(ls "$debdir"/gemmad_*_amd64.deb 2>/dev/null | sort -V | tail -n 1)
[ -n "$main_deb" ] || { echo "build-offline: no gemmad_*_amd64.deb in $debdir (make deb)" >&2; exit 1; }
version=$(dpkg-deb -f "$main_deb" Version)
name="gemmad-offline-$version-debian12-amd64"
stage="$out/offline/$name"
rm -rf "$stage"
mkdir -p "$stage/debs"

# A private apt: Debian 12 sources only, an empty status file (nothing
# installed), its own lists and cache; the host's apt state is not touched.
apt="$out/offline/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.d" "$apt/prefs.d"
: >"$apt/status"
read -r mirror security <<EOF
$(sh "$here/debian-mirror.sh")
EOF
kr=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt/sources.list" <<EOF
deb [arch=amd64 signed-by=$kr] $mirror bookworm main
deb [arch=amd64 signed-by=$kr] $mirror bookworm-updates main
deb [arch=amd64 signed-by=$kr] $security bookworm-security main
EOF
aptq() {
    apt-get -q -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status" \
        -o Dir::Cache="$apt/cache" -o Dir::Etc::SourceList="$apt/sources.list" \
        -o Dir::Etc::SourceParts="$apt/sources.d" -o Dir::Etc::PreferencesParts="$apt/prefs.d" \
        -o Dir::Etc::Preferences="$apt/none" \
        -o APT::Architecture=amd64 -o APT::Architectures::=amd64 \
        -o APT::Install-Recommends=false -o Debug::NoLocking=true "$@"
}
echo "build-offline: resolving the runtime closure of $(basename "$main_deb") against Debian 12 ($mirror)"
aptq update >"$out/offline/apt-update.log" 2>&1 ||
    { tail -n 5 "$out/offline/apt-update.log" >&2; echo "build-offline: apt-get update failed (no mirror?)" >&2; exit 1; }
rm -f "$apt/cache/archives"/*.deb
aptq install -y --download-only "$main_deb" >"$out/offline/apt-download.log" 2>&1 ||
    { tail -n 20 "$out/offline/apt-download.log" >&2; echo "build-offline: resolving dependencies failed" >&2; exit 1; }
cp "$apt/cache/archives"/*.deb "$stage/debs/"
cp "$main_deb" "$stage/debs/"
ndeps=$(($(ls "$stage/debs" | wc -l) - 1))

# The repository index: a flat repository apt reads with file:.
(cd "$stage/debs" && apt-ftparchive packages . >Packages && gzip -9kn Packages &&
    apt-ftparchive -o APT::FTPArchive::Release::Origin=gemmad \
        -o APT::FTPArchive::Release::Label=gemmad-offline \
        -o APT::FTPArchive::Release::Suite=bookworm release . >Release)

# Signed models to carry: a bundle directory (gemmactl bundle sign DIR), or
# a GGUF signed on its own with its signature beside it as FILE.sig
# (gemmactl bundle sign FILE, model_signing sign ... --signature FILE.sig).
for b in "$@"; do
    mkdir -p "$stage/models"
    if [ -d "$b" ]; then
        [ -f "$b/model.sig" ] || { echo "build-offline: $b is not a signed bundle (no model.sig)" >&2; exit 1; }
        cp -r "$b" "$stage/models/$(basename "$b")"
    elif [ -f "$b" ]; then
        [ -f "$b.sig" ] || { echo "build-offline: $b has no signature $b.sig beside it" >&2; exit 1; }
        cp "$b" "$b.sig" "$stage/models/"
    else
        echo "build-offline: $b is neither a signed bundle directory nor a signed file" >&2; exit 1
    fi
done

cp "$here/offline/install.sh" "$stage/install.sh"
chmod 0755 "$stage/install.sh"
(cd "$stage" && find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's#^\./##' | LC_ALL=C sort |
    xargs sha256sum >SHA256SUMS)
if [ -n "$key" ]; then
    gpg --batch --yes --local-user "$key" --detach-sign -o "$stage/SHA256SUMS.sig" "$stage/SHA256SUMS"
    gpg --batch --export "$key" >"$out/offline/$name.signing-key.gpg"
    echo "build-offline: SHA256SUMS signed by $key; give sites $out/offline/$name.signing-key.gpg by another path"
fi
tar -C "$out/offline" -cf "$out/$name.tar" "$name"
rm -rf "$stage"
echo "build-offline: $out/$name.tar: gemmad $version and $ndeps dependencies$([ $# -gt 0 ] && echo ", $# model bundle(s)")"
