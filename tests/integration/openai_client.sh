#!/bin/sh
# tests/integration/openai_client.sh -- OpenAI's official Node client
# (npm `openai`, v4) completes a plain and a streamed chat request against
# gemmad over mutual TLS (openai_client.mjs does the talking).
#
# The package is installed at test time (openai_lib.sh); without node, npm
# or the package (offline), the test is skipped, visibly.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/openai_lib.sh"

. "$top_srcdir/tests/integration/daemon_lib.sh"
gd_tiny_model 1
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 512"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

openai_run openai_client.mjs 120 tiny

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
