#!/bin/sh
# packaging/debian-mirror.sh -- print the Debian mirror and the security
# mirror that apt on this machine uses ("MIRROR SECURITY_MIRROR"), read
# from deb822 .sources files or one-line .list files; deb.debian.org when
# none is found. GEMMAD_DEBIAN_MIRROR and GEMMAD_DEBIAN_SECURITY_MIRROR
# override them. Sourced-free: run it, read one line.
set -eu
uris() {
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n -e 's/^URIs: *//p' \
               -e 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\([^ ]*\) .*/\2/p' "$f"
    done | tr ' ' '\n' | sed 's#/*$##' | grep -v '^$' || true
}
all=$(uris)
main=$(printf '%s\n' "$all" | grep -E '/debian$' | head -n 1 || true)
sec=$(printf '%s\n' "$all" | grep -E '/debian-security$' | head -n 1 || true)
echo "${GEMMAD_DEBIAN_MIRROR:-${main:-http://deb.debian.org/debian}} ${GEMMAD_DEBIAN_SECURITY_MIRROR:-${sec:-http://deb.debian.org/debian-security}}"
