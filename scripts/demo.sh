#!/bin/sh
# scripts/demo.sh -- the README's first command: install dependencies,
# build, and run the demo on a small synthetic Gemma 4 model.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GEMMA_BUILD_DIR:-"$top/build"}
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$build"
demo=${GEMMA_DEMO_DIR:-"$build/demo"}
mkdir -p "$demo"
run="$build/gemma-run"
echo "demo: writing a synthetic Gemma 4 model ($demo/tiny.gguf)"
"$run" synth --preset tiny --type q8_0 --seed 1 -o "$demo/tiny.gguf"
"$run" inspect "$demo/tiny.gguf" | head -20
echo "demo: generating (random weights: the text is noise, the pipeline is real)"
"$run" generate -m "$demo/tiny.gguf" -p "Hello" -n 16 --chat
echo
