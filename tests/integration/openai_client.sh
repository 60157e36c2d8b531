#!/bin/sh
# tests/integration/openai_client.sh -- OpenAI's official Node client
# (npm `openai`, v4) completes a plain and a streamed chat request against
# gemmad over mutual TLS (openai_client.mjs does the talking).
#
# The package is installed at test time into a cache dir
# ($GEMMAD_NPM_DIR, default ~/.cache/gemmad/npm); without node, npm or the
# package (offline), the test is skipped, visibly.
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
"$GEMMA_RUN" synth --preset tiny --seed 1 -o "$GD_TMP/tiny.gguf" >/dev/null 2>&1 ||
    tap_skip_all "gemma-run synth cannot write the tiny model"
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 512"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

# gemmad listens on 127.0.0.1 (its certificate names that address too):
# the URL says so, because Node 18 (Debian 12's) tries "localhost" as ::1
# first and, unlike Node 20, does not fall back to IPv4.
# The script lives in the source tree; node resolves `openai` from
# NODE_PATH only for CommonJS, so run a copy next to the installed package.
cp "$top_srcdir/tests/integration/openai_client.mjs" "$npm_dir/openai_client.mjs"
timeout 120 node "$npm_dir/openai_client.mjs" "https://127.0.0.1:$GD_PORT/v1" \
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

# Without a client certificate the same client is refused.
cat > "$npm_dir/openai_nocert.mjs" <<'JS'
import fs from 'node:fs';
import https from 'node:https';
import OpenAI from 'openai';
const [baseURL, ca] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0, timeout: 10000,
  httpAgent: new https.Agent({ ca: fs.readFileSync(ca) }) });
try { await client.models.list(); process.exit(1); } catch (e) { process.exit(0); }
JS
timeout 60 node "$npm_dir/openai_nocert.mjs" "https://127.0.0.1:$GD_PORT/v1" "$GD_PKI/ca.crt" >/dev/null 2>&1
ok $? "the openai client without a client certificate is refused"
gd_stop TERM; ok $? "gemmad stops cleanly"
tap_done
