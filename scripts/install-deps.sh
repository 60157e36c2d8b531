#!/bin/sh
# scripts/install-deps.sh -- install what gemmad needs to build and test.
#
# Debian/Ubuntu (apt) and RHEL-family (dnf). Runs as root, or through sudo
# as an ordinary user. Safe to run again: it only installs what is missing.
set -eu

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

if command -v apt-get >/dev/null 2>&1; then
    pkgs="build-essential autoconf automake pkg-config git curl ca-certificates
          libuv1-dev libssl-dev openssl libsqlite3-dev sqlite3 libyaml-dev
          libjansson-dev libcmocka-dev libsystemd-dev
          node-llhttp clang python3 python3-jsonschema python3-jinja2
          debhelper dpkg-dev apt-utils fakeroot lintian rpm rpmlint debootstrap gpg gpgv"
    # HAProxy: the scale-out test puts two gemmad behind it (docs/deploy.md).
    pkgs="$pkgs haproxy"
    # Node.js and npm run test tooling only (the reference download, the
    # openai client); any installed Node.js (Debian's or NodeSource's) will do.
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
    missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "install-deps: installing:$missing"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
        # shellcheck disable=SC2086
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    else
        echo "install-deps: all packages present"
    fi
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y gcc make autoconf automake pkgconf-pkg-config git curl \
        libuv-devel openssl-devel openssl sqlite-devel sqlite libyaml-devel \
        jansson-devel libcmocka-devel systemd-devel \
        llhttp-devel nodejs npm clang python3 python3-jsonschema python3-jinja2 haproxy rpm-build rpmlint gnupg2
else
    echo "install-deps: no apt-get or dnf found; install the packages listed in README.md by hand" >&2
    exit 1
fi
