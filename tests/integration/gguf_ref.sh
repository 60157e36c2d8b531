#!/bin/sh
# tests/integration/gguf_ref.sh -- our GGUF reader and writer against
# llama.cpp's (libggml-base from $GEMMA_REF_DIR). tests/ref/gguf_ref_dump.c,
# compiled here, prints what llama.cpp's reader sees in a file;
# tests/tools/gguf_dump prints what ours sees, in the same form. They must
# be identical for: the table of tensor types, a file written by llama.cpp's writer, our sample files
# (alignment 32 and 64), and the real Gemma 4 vocabulary. Our writer, fed
# what our reader read, must reproduce llama.cpp's file byte for byte.
# Skips, visibly, without the reference.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

ref=${GEMMA_REF_DIR:-}
if [ -z "$ref" ] || [ ! -f "$ref/bins/libggml-base.so" ] || \
   [ ! -f "$ref/llsrc/ggml/include/gguf.h" ]; then
    tap_skip_all "reference not found (set GEMMA_REF_DIR, see scripts/fetch-reference.sh)"
fi
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || tap_skip_all "no C compiler ($CC) to build the harness"

T=$(mktemp -d "${TMPDIR:-/tmp}/gguf_ref.XXXXXX") || exit 1
TAP_TMP=$T
export TAP_TMP
trap 'rm -rf "$T"' EXIT INT TERM
DUMP="$top_builddir/tests/tools/gguf_dump"
MKFILE="$top_builddir/tests/tools/gguf_mkfile"

if ! $CC -std=c11 -O2 -D_GNU_SOURCE -I"$ref/llsrc/ggml/include" \
        "$top_srcdir/tests/ref/gguf_ref_dump.c" -o "$T/gguf_ref_dump" \
        -L"$ref/bins" -l:libggml-base.so -Wl,-rpath,"$ref/bins" >"$T/cc.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - build tests/ref/gguf_ref_dump.c against the reference"
    sed 's/^/# /' "$T/cc.log" | head -40
    exit 1
fi

# same_view FILE DESCRIPTION -- both readers accept FILE and see the same.
same_view() {
    "$T/gguf_ref_dump" "$1" >"$T/ref.txt" 2>"$T/ref.err"; r=$?
    "$DUMP" "$1" >"$T/ours.txt" 2>"$T/ours.err"; o=$?
    if [ $r -eq 0 ] && [ $o -eq 0 ] && cmp -s "$T/ref.txt" "$T/ours.txt"; then
        ok 0 "$2"
    else
        ok 1 "$2"
        tap_diag "llama.cpp exit $r, ours exit $o"
        sed 's/^/# /' "$T/ref.err" "$T/ours.err" | head -5
        diff -a "$T/ref.txt" "$T/ours.txt" 2>&1 | head -10 | sed 's/^/# /'
    fi
}

"$T/gguf_ref_dump" --types >"$T/types.ref" && "$DUMP" --types >"$T/types.ours"
ok $? "both type tables print"
check "tensor types: ids, names, block sizes and bytes equal ggml's" cmp "$T/types.ref" "$T/types.ours"
check "llama.cpp's writer writes a file" "$T/gguf_ref_dump" --write "$T/ref.gguf"
same_view "$T/ref.gguf" "a file from llama.cpp's writer: both readers agree"
"$DUMP" --copy "$T/ref.gguf" "$T/copy.gguf"
ok $? "our writer rewrites it"
check "our writer's copy is byte-identical to llama.cpp's file" cmp "$T/ref.gguf" "$T/copy.gguf"

"$MKFILE" --compat "$T/s32.gguf" && "$MKFILE" --compat --align 64 "$T/s64.gguf"
ok $? "gguf_mkfile writes samples (alignment 32 and 64)"
same_view "$T/s32.gguf" "our sample: llama.cpp reads what we read"
same_view "$T/s64.gguf" "our sample, alignment 64: llama.cpp reads what we read"

VOCAB="$ref/llsrc/models/ggml-vocab-gemma-4.gguf"
if [ -r "$VOCAB" ]; then
    same_view "$VOCAB" "Gemma 4 vocabulary: both readers agree on every key and element"
    "$DUMP" --copy "$VOCAB" "$T/vocab.gguf"
    size=$(wc -c <"$VOCAB")
    csize=$(wc -c <"$T/vocab.gguf")
    ok "$(cmp -s -n "$size" "$VOCAB" "$T/vocab.gguf" && [ "$csize" -eq $(( (size + 31) / 32 * 32 )) ]; echo $?)" \
        "Gemma 4 vocabulary rewritten: same bytes, then padding to 32"
else
    tap_skip "no $VOCAB"
    tap_skip "no $VOCAB"
fi
tap_done
