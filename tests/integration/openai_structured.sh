#!/bin/sh
# tests/integration/openai_structured.sh -- OpenAI's official Node client
# (npm `openai`, v4) gets parsed objects from json_schema requests to
# gemmad, logprobs with json_object, and tool calls that round-trip
# (openai_structured.mjs talks).
#
# The package is installed at test time (openai_lib.sh); without node, npm
# or the package (offline), the test is skipped.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/integration/openai_lib.sh"

. "$top_srcdir/tests/integration/daemon_lib.sh"
gd_tiny_model 3
gd_config "models:
  - name: tiny
    path: $GD_TMP/tiny.gguf
    context: 1024"
gd_start || { echo "Bail out! gemmad did not start"; exit 1; }

openai_run openai_structured.mjs 180 tiny
tap_done
