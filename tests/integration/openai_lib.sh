# tests/integration/openai_lib.sh -- OpenAI's official Node client (npm
# `openai`, v4) for the tests that talk to gemmad through it
# (openai_client.sh, openai_structured.sh).
#
# Source after tests/lib/tap.sh, before daemon_lib.sh. The package is
# installed at test time into a cache dir, $npm_dir ($GEMMAD_NPM_DIR,
# default ~/.cache/gemmad/npm); without node 18 or newer, npm or the
# package (offline), the test is skipped, visibly.

command -v node >/dev/null 2>&1 || tap_skip_all "node is not installed"
node -e 'process.exit(parseInt(process.versions.node) >= 18 ? 0 : 1)' ||
    tap_skip_all "node 18 or newer is needed"
npm_dir=${GEMMAD_NPM_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/gemmad/npm"}
if [ ! -f "$npm_dir/node_modules/openai/package.json" ]; then
    command -v npm >/dev/null 2>&1 || tap_skip_all "npm is not installed"
    mkdir -p "$npm_dir"
    timeout 300 npm install --silent --no-audit --no-fund --prefix "$npm_dir" openai@4 \
        >"$npm_dir/install.log" 2>&1 ||
        tap_skip_all "cannot install the openai npm package (offline?)"
fi

# openai_run SCRIPT SECONDS MODEL -- run tests/integration/SCRIPT against
# the started gemmad (daemon_lib.sh) with the test client's certificate.
# Each "ok - X" / "not ok - X" line it prints is a TAP result, any other
# line a comment; its exit status is one more result.
#
# gemmad listens on 127.0.0.1 (its certificate names that address too):
# the URL says so, because Node 18 (Debian 12's) tries "localhost" as ::1
# first and, unlike Node 20, does not fall back to IPv4.
# The script lives in the source tree; node resolves `openai` from
# NODE_PATH only for CommonJS, so run a copy next to the installed package.
openai_run() {
    cp "$top_srcdir/tests/integration/$1" "$npm_dir/$1"
    timeout "$2" node "$npm_dir/$1" "https://127.0.0.1:$GD_PORT/v1" \
        "$GD_PKI/ca.crt" "$GD_PKI/client.crt" "$GD_PKI/client.key" "$3" > "$GD_TMP/node.out" 2>&1
    openai_rc=$?
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) ok 0 "${line#ok - }" ;;
            "not ok - "*) ok 1 "${line#not ok - }" ;;
            *) echo "# $line" ;;
        esac
    done < "$GD_TMP/node.out"
    ok $openai_rc "the openai client script finished cleanly"
}
