#!/bin/sh
# scripts/fetch-reference.sh -- fetch the reference implementation used by
# the parity tests: llama.cpp v0.5.0 as shipped by node-llama-cpp on npm.
#
# Prebuilt CPU libraries from @node-llama-cpp/linux-x64@3.22.1, and the
# matching source tree (headers, test vocabulary) from the git bundle inside
# node-llama-cpp@3.22.1. Nothing of it enters the repository: it lands in
# $GEMMA_REF_DIR (default ~/.cache/gemmad/reference). Prints that path.
set -eu
ref=${GEMMA_REF_DIR:-"$HOME/.cache/gemmad/reference"}
mkdir -p "$ref"
cd "$ref"
if [ ! -f bins/libllama.v0.5.0.so ]; then
    npm pack --silent @node-llama-cpp/linux-x64@3.22.1 >/dev/null
    rm -rf bins-tmp && mkdir bins-tmp
    tar -xzf node-llama-cpp-linux-x64-3.22.1.tgz -C bins-tmp
    rm -rf bins && mv bins-tmp/package/bins/linux-x64 bins && rm -rf bins-tmp
    rm -f node-llama-cpp-linux-x64-3.22.1.tgz
fi
if [ ! -f llsrc/include/llama.h ]; then
    npm pack --silent node-llama-cpp@3.22.1 >/dev/null
    rm -rf src-tmp && mkdir src-tmp
    tar -xzf node-llama-cpp-3.22.1.tgz -C src-tmp
    rm -rf llsrc
    git clone -q src-tmp/package/llama/gitRelease.bundle llsrc 2>/dev/null
    rm -rf src-tmp node-llama-cpp-3.22.1.tgz
fi
test -f bins/libllama.v0.5.0.so && test -f llsrc/include/llama.h \
    && test -f llsrc/models/ggml-vocab-gemma-4.gguf
echo "$ref"
