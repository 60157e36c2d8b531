#!/bin/sh
# tests/integration/openai_structured.sh -- OpenAI's official Node client
# (npm `openai`, v4) gets parsed objects from json_schema requests to
# gemmad, logprobs with json_object, and tool calls that round-trip
# (openai_structured.mjs talks).
#
# The package is installed at test time into a cache dir
# ($GEMMAD_NPM_DIR, default ~/.cache/gemmad/npm), as openai_client.sh
# does; without node, npm or the package (offline), the test is skipped.
. "$top_srcdir/tests/lib/tap.sh"

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

. "$top_srcdir/tests/integration/daemon_lib.sh"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"
"$GEMMA_RUN" synth --preset tiny --seed 3 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 1024"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

cp "$top_srcdir/tests/integration/openai_structured.mjs" "$npm_dir/openai_structured.mjs"
timeout 180 node "$npm_dir/openai_structured.mjs" "https://127.0.0.1:$GD_PORT/v1" \
    "$GD_PKI/ca.crt" "$GD_PKI/client.crt" "$GD_PKI/client.key" tiny > "$GD_TMP/node.out" 2>&1
rc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok 0 "${line#ok - }" ;;
        "not ok - "*) ok 1 "${line#not ok - }" ;;
        *) echo "# $line" ;;
    esac
done < "$GD_TMP/node.out"
ok $rc "the openai client script finished cleanly"
tap_done
