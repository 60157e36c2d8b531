#!/bin/sh
# tests/integration/gguf_inspect.sh -- 'gemma-run inspect' on a sample file
# written by the GGUF writer (tests/tools/gguf_mkfile): header, metadata
# (with long arrays summarised and nested arrays), tensor table, totals;
# its refusal of corrupt files; and, when $GEMMA_REF_DIR has it, the real
# Gemma 4 vocabulary file.
. "${top_srcdir:-.}/tests/lib/tap.sh"

MKFILE="$top_builddir/tests/tools/gguf_mkfile"
TAP_TMP=$(mktemp -d /tmp/gguf_inspect.XXXXXX) || exit 1
export TAP_TMP
trap 'rm -rf "$TAP_TMP"' EXIT
T=$TAP_TMP

has() { grep -a -F -e "$1" "$2" >/dev/null; }

check "gguf_mkfile writes a sample file" "$MKFILE" "$T/s.gguf"
"$GEMMA_RUN" inspect "$T/s.gguf" >"$T/out" 2>"$T/err"
ok $? "inspect exits 0 on a valid file"
ok "$(has 'version: 3' "$T/out"; echo $?)" "prints the version"
ok "$(has 'alignment: 32' "$T/out"; echo $?)" "prints the alignment"
ok "$(has 'metadata: 18 keys' "$T/out"; echo $?)" "counts the keys"
ok "$(has '"general.architecture"' "$T/out" && grep -a -F '"general.architecture"' "$T/out" | has '= str "gemma4"' /dev/stdin; echo $?)" "prints a string value"
ok "$(grep -a -F '"test.u64"' "$T/out" | grep -a -F 'u64 18446744073709551615' >/dev/null; echo $?)" "prints a u64 value in full"
ok "$(grep -a -F '"test.i16"' "$T/out" | grep -a -F 'i16 -300' >/dev/null; echo $?)" "prints an i16 value"
ok "$(grep -a -F '"gemma4.attention.head_count_kv"' "$T/out" | grep -a -F 'arr[i32,4] [8, 8, 4, 4]' >/dev/null; echo $?)" "prints a short array whole"
ok "$(grep -a -F '"tokenizer.ggml.tokens"' "$T/out" | grep -a -F 'arr[str,300] ["tok0", "tok1",' | grep -a -F '"tok7", ... 292 more]' >/dev/null; echo $?)" "summarises a long string array"
ok "$(grep -a -F '"test.nested"' "$T/out" | grep -a -F 'arr[arr,2] [arr[str,2] ["a", "bc"], arr[str,1] ["def"]]' >/dev/null; echo $?)" "prints nested arrays"
ok "$(has 'tensors: 4' "$T/out"; echo $?)" "counts the tensors"
ok "$(grep -a -E '^ +blk\.0\.attn_q\.weight +q8_0 +\[32, 2\] +68 +64$' "$T/out" >/dev/null; echo $?)" "tensor table row: name, type, shape, bytes, offset"
ok "$(grep -a -E '^ +blk\.0\.ffn_down\.weight +q4_K +\[256, 1\] +144 +192$' "$T/out" >/dev/null; echo $?)" "tensor table row of a K-quant"
ok "$(has 'totals: 4 tensors, 340 parameters, 292 bytes of tensor data' "$T/out"; echo $?)" "totals"
ok "$(has 'types: f32 2 q8_0 1 q4_K 1' "$T/out"; echo $?)" "tensors per type"

"$GEMMA_RUN" inspect --elems 2 "$T/s.gguf" >"$T/out2" 2>&1
ok "$(grep -a -F 'arr[str,300] ["tok0", "tok1", ... 298 more]' "$T/out2" >/dev/null; echo $?)" "--elems limits the elements shown"
"$GEMMA_RUN" inspect --no-tensors "$T/s.gguf" >"$T/out3" 2>&1
ok "$(! grep -a -F 'blk.0.attn_q.weight' "$T/out3" >/dev/null && has 'totals: 4 tensors' "$T/out3"; echo $?)" "--no-tensors leaves out the table, keeps totals"

"$GEMMA_RUN" inspect --help >"$T/help" 2>&1
ok $? "--help exits 0"
ok "$(has 'usage: gemma-run inspect' "$T/help"; echo $?)" "--help prints the usage"
"$GEMMA_RUN" inspect >/dev/null 2>&1
ok "$([ $? -eq 2 ]; echo $?)" "no file: usage error (exit 2)"
"$GEMMA_RUN" inspect --bogus "$T/s.gguf" >/dev/null 2>&1
ok "$([ $? -eq 2 ]; echo $?)" "unknown option: usage error (exit 2)"

# Corrupt files: truncated in the data section, in the metadata, not GGUF.
size=$(wc -c <"$T/s.gguf")
head -c $((size - 100)) "$T/s.gguf" >"$T/trunc.gguf"
"$GEMMA_RUN" inspect "$T/trunc.gguf" >"$T/out" 2>"$T/err"
ok "$([ $? -eq 1 ]; echo $?)" "truncated file: exit 1"
ok "$(has 'data ends past end of file' "$T/err" && has 'trunc.gguf' "$T/err"; echo $?)" "truncated file: the message names the file and the problem"
ok "$([ ! -s "$T/out" ]; echo $?)" "truncated file: nothing on stdout"
head -c 700 "$T/s.gguf" >"$T/trunc2.gguf"
"$GEMMA_RUN" inspect "$T/trunc2.gguf" >/dev/null 2>"$T/err"
ok "$([ $? -eq 1 ] && [ -s "$T/err" ]; echo $?)" "file cut in the metadata: exit 1 with a message"
echo "this is not a model" >"$T/text.gguf"
"$GEMMA_RUN" inspect "$T/text.gguf" >/dev/null 2>"$T/err"
ok "$([ $? -eq 1 ] && has 'not a GGUF file' "$T/err"; echo $?)" "non-GGUF file: exit 1, 'not a GGUF file'"
"$GEMMA_RUN" inspect "$T/missing.gguf" >/dev/null 2>"$T/err"
ok "$([ $? -eq 1 ] && has 'missing.gguf: cannot open' "$T/err"; echo $?)" "missing file: exit 1 naming it"

# The real vocabulary file (262144 tokens, 514906 merges).
VOCAB="${GEMMA_REF_DIR:-}/llsrc/models/ggml-vocab-gemma-4.gguf"
if [ -n "${GEMMA_REF_DIR:-}" ] && [ -r "$VOCAB" ]; then
    "$GEMMA_RUN" inspect "$VOCAB" >"$T/vocab" 2>&1
    ok $? "inspect the real Gemma 4 vocabulary"
    ok "$(grep -a -F '"tokenizer.ggml.tokens"' "$T/vocab" | grep -a -F 'arr[str,262144]' >/dev/null &&
          grep -a -F '"tokenizer.ggml.merges"' "$T/vocab" | grep -a -F 'arr[str,514906]' >/dev/null; echo $?)" "vocabulary: 262144 tokens, 514906 merges"
    ok "$(has '"general.architecture"' "$T/vocab" && has 'str "gemma4"' "$T/vocab"; echo $?)" "vocabulary: architecture gemma4"
else
    tap_skip "real vocabulary: GEMMA_REF_DIR has no llsrc/models/ggml-vocab-gemma-4.gguf"
    tap_skip "real vocabulary: token and merge counts"
    tap_skip "real vocabulary: architecture"
fi
tap_done
