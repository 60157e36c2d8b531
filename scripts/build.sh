#!/bin/sh
# scripts/build.sh -- configure and build in a build directory.
#
# usage: scripts/build.sh [BUILD_DIR] [configure options...]
# BUILD_DIR defaults to ./build. Reconfigures only when the options change.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
[ $# -gt 0 ] && shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$build"
cd "$build"
want="$*"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$want" ]; then
    # shellcheck disable=SC2086
    "$top/configure" $want >configure.out 2>&1 || { cat configure.out; exit 1; }
    echo "$want" > .configure-args
fi
make -j"$(nproc)" >make.out 2>&1 || { tail -60 make.out; exit 1; }
echo "build: $build ready"
