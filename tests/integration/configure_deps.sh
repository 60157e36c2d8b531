#!/bin/sh
# tests/integration/configure_deps.sh -- configure refuses to go on without
# each required library, with one line naming the package to install.
#
# For each dependency, configure runs against a pkg-config search path that
# holds every installed .pc file except that library's, and must fail with
# "<library> not found: install <package>" (llhttp: its sources are
# hidden instead). A run with nothing hidden
# must succeed, so the check cannot pass by configure always failing.
. "$top_srcdir/tests/lib/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/configure_deps.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

if [ ! -x "$top_srcdir/configure" ]; then
    tap_skip_all "no configure script in $top_srcdir (run autoreconf -fi)"
fi

# All .pc files pkg-config can see, as links in one folder per run.
pc_dirs=$(pkg-config --variable pc_path pkg-config 2>/dev/null | tr ':' ' ')

# hidden-module  expected-message
cases='libuv|libuv not found: install libuv1-dev
openssl|OpenSSL >= 3.0 not found: install libssl-dev
sqlite3|SQLite >= 3.35 not found: install libsqlite3-dev
yaml-0.1|libyaml not found: install libyaml-dev
jansson|jansson not found: install libjansson-dev
cmocka|cmocka not found: install libcmocka-dev
libsystemd|libsystemd not found: install libsystemd-dev
-|'

echo "$cases" | {
    n=0
    while IFS='|' read -r module want; do
        n=$((n + 1))
        pcdir="$work/pc$n"
        mkdir -p "$pcdir" "$work/b$n"
        for d in $pc_dirs; do
            [ -d "$d" ] || continue
            for f in "$d"/*.pc; do
                [ -e "$f" ] || continue
                [ -e "$pcdir/$(basename "$f")" ] || ln -s "$f" "$pcdir/"
            done
        done
        [ "$module" = - ] || rm -f "$pcdir/$module.pc"
        (cd "$work/b$n" && PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= \
            "$top_srcdir/configure" --without-cuda >out.txt 2>&1)
        rc=$?
        if [ "$module" = - ]; then
            ok $rc "configure succeeds with every library present"
            [ $rc -eq 0 ] || tail -5 "$work/b$n/out.txt" | sed 's/^/# /'
        else
            last=$(grep 'error:' "$work/b$n/out.txt" | tail -1 | sed 's/^configure: error: //')
            if [ $rc -ne 0 ] && [ "$last" = "$want" ]; then
                ok 0 "without $module: '$want'"
            else
                ok 1 "without $module: '$want'"
                echo "# exit $rc, last error line: $last"
            fi
        fi
        rm -rf "$work/b$n"
    done
    # llhttp is no pkg-config module on Debian: its C sources are looked
    # for where node-llhttp puts them (--with-llhttp-src).
    mkdir -p "$work/bl"
    (cd "$work/bl" && "$top_srcdir/configure" --without-cuda \
        --with-llhttp-src="$work/no-such-dir" >out.txt 2>&1)
    rc=$?
    want="llhttp not found: install node-llhttp (Debian) or llhttp-devel (RHEL)"
    last=$(grep 'error:' "$work/bl/out.txt" | tail -1 | sed 's/^configure: error: //')
    if pkg-config --exists libllhttp 2>/dev/null; then
        tap_skip "without llhttp sources: a system libllhttp is installed"
    elif [ $rc -ne 0 ] && [ "$last" = "$want" ]; then
        ok 0 "without llhttp sources: '$want'"
    else
        ok 1 "without llhttp sources: '$want'"
        echo "# exit $rc, last error line: $last"
    fi

    # A CUDA toolkit whose runtime library cannot be linked (an nvcc with
    # no libcudart beside it): auto-detection warns and builds without
    # CUDA; an explicit --with-cuda=DIR stops with one line.
    mkdir -p "$work/fakecuda/bin" "$work/bc"
    printf '#!/bin/sh\nexit 0\n' > "$work/fakecuda/bin/nvcc"
    chmod +x "$work/fakecuda/bin/nvcc"
    (cd "$work/bc" && PATH="$work/fakecuda/bin:$PATH" "$top_srcdir/configure" >out.txt 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && grep -q 'WARNING: no libcudart links beside' "$work/bc/out.txt" &&
       grep -q 'CUDA backend:  no' "$work/bc/out.txt"; then
        ok 0 "nvcc without libcudart, auto-detected: warning, built without CUDA"
    else
        ok 1 "nvcc without libcudart, auto-detected: warning, built without CUDA"
        echo "# exit $rc"; grep -i cuda "$work/bc/out.txt" | sed 's/^/# /'
    fi
    (cd "$work/bc" && "$top_srcdir/configure" --with-cuda="$work/fakecuda" >out.txt 2>&1)
    rc=$?
    last=$(grep 'error:' "$work/bc/out.txt" | tail -1 | sed 's/^configure: error: //')
    case $last in
    "CUDA requested, but no libcudart links beside $work/fakecuda/bin/nvcc"*) good=0 ;;
    *) good=1 ;;
    esac
    if [ $rc -ne 0 ] && [ $good -eq 0 ]; then
        ok 0 "--with-cuda=DIR without libcudart: one error line"
    else
        ok 1 "--with-cuda=DIR without libcudart: one error line"
        echo "# exit $rc, last error line: $last"
    fi
    tap_done
}
