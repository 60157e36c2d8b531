#!/bin/sh
# tests/integration/tokenizer_ref.sh -- our tokenizer against llama.cpp's on
# the real Gemma 4 vocabulary (models/ggml-vocab-gemma-4.gguf, 262144 tokens).
#
#  (a) the 46 test vectors that come with the vocabulary (.inp/.out), as
#      llama.cpp's tests/test-tokenizer-0.cpp runs them: add_special = false,
#      parse_special = false; one TAP line each;
#  (b) tests/data/tokenizer/strings.txt tokenized by `gemma-run tokenize`
#      and by llama_tokenize() (tests/ref/ref_tokenize.c, built here against
#      the prebuilt libllama) for every add_special x parse_special; one
#      TAP line per mode with the counts; the same once more on the
#      synthetic vocabulary of `gemma-run synth --preset tiny`;
#  (c) every token's attributes (after the load-time fix-ups), its
#      end-of-generation flag and its pieces, for both vocabularies.
#
# Needs $GEMMA_REF_DIR (scripts/fetch-reference.sh); skips without it.
. "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

ref=${GEMMA_REF_DIR:-$HOME/.cache/gemmad/reference}
vocab=$ref/llsrc/models/ggml-vocab-gemma-4.gguf
strings=$top_srcdir/tests/data/tokenizer/strings.txt
if [ ! -f "$vocab" ] || [ ! -f "$ref/bins/libllama.v0.5.0.so" ]; then
    tap_skip_all "reference not found in $ref (run scripts/fetch-reference.sh)"
fi
[ -x "$GEMMA_RUN" ] || { echo "1..1"; echo "not ok 1 - $GEMMA_RUN is not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tokref.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
TAP_TMP=$tmp # used by check() in tap.sh

# --- (a) the vocabulary's own test vectors --------------------------------
sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$vocab.out" >"$tmp/want46"
if "$GEMMA_RUN" tokenize -m "$vocab" --ggml-vocab-test "$vocab.inp" --no-bos --no-special \
    >"$tmp/ours46" 2>"$tmp/err46"; then :; else
    sed 's/^/# /' "$tmp/err46"
fi
n_want=$(wc -l <"$tmp/want46")
ok "$([ "$n_want" -eq 46 ] && echo 0 || echo 1)" "the vocabulary comes with 46 test vectors (has $n_want)"
i=0
while [ "$i" -lt "$n_want" ]; do
    i=$((i + 1))
    want=$(sed -n "${i}p" "$tmp/want46")
    got=$(sed -n "${i}p" "$tmp/ours46")
    n_ids=$(echo "$want" | wc -w)
    if [ "$want" = "$got" ]; then ok 0 "test vector $i ($n_ids ids)"; else
        ok 1 "test vector $i"
        tap_diag "want: $want"
        tap_diag "got:  $got"
    fi
done

# --- (b) our strings, all four modes, against llama_tokenize() --------------
cc=${CC:-cc}
if "$cc" -O1 -o "$tmp/ref_tokenize" "$top_srcdir/tests/ref/ref_tokenize.c" \
    -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
    -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so \
    -Wl,-rpath,"$ref/bins" >"$tmp/cc.log" 2>&1; then
    ok 0 "reference harness tests/ref/ref_tokenize.c builds against libllama"
else
    ok 1 "reference harness tests/ref/ref_tokenize.c builds against libllama"
    sed 's/^/# /' "$tmp/cc.log" | head -20
    tap_done
    exit 1
fi

# the harness itself must agree with the vectors, or the comparison means nothing
"$tmp/ref_tokenize" -m "$vocab" --ggml-vocab-test "$vocab.inp" --no-bos --no-special \
    >"$tmp/ref46" 2>"$tmp/referr"
cmp -s "$tmp/ref46" "$tmp/want46"
ok $? "llama_tokenize() reproduces the 46 test vectors (harness sanity)"

# every token: attributes after the load-time fix-ups, end-of-generation
# flag, and its piece with and without special rendering
"$tmp/ref_tokenize" -m "$vocab" --dump-vocab >"$tmp/ref_dump" 2>"$tmp/referr"
"$GEMMA_RUN" tokenize -m "$vocab" --dump-vocab >"$tmp/our_dump" 2>"$tmp/ourerr"
n_dump=$(($(wc -l <"$tmp/ref_dump") - 1))
if [ "$n_dump" -eq 262144 ] && cmp -s "$tmp/ref_dump" "$tmp/our_dump"; then
    ok 0 "all $n_dump tokens: same attributes, end-of-generation flags and pieces"
else
    ok 1 "all tokens: same attributes, end-of-generation flags and pieces ($n_dump in the reference)"
    diff "$tmp/ref_dump" "$tmp/our_dump" | head -10 | sed 's/^/# /'
fi

n_strings=$(grep -v '^#' "$strings" | grep -c -v '^$')
ok "$([ "$n_strings" -ge 300 ] && echo 0 || echo 1)" "strings.txt holds $n_strings strings (>= 300)"

"$tmp/ref_tokenize" -m "$vocab" --escaped-lines "$strings" --all-modes >"$tmp/ref_all" 2>"$tmp/referr"
ref_rc=$?
"$GEMMA_RUN" tokenize -m "$vocab" --escaped-lines "$strings" --all-modes --time \
    >"$tmp/our_all" 2>"$tmp/ourerr"
our_rc=$?
ok "$ref_rc" "llama_tokenize() ran over strings.txt"
ok "$our_rc" "gemma-run tokenize ran over strings.txt"
tap_diag "$(cat "$tmp/ourerr")"

for mode in 00 01 10 11; do
    grep "^$mode: " "$tmp/ref_all" >"$tmp/ref_$mode"
    grep "^$mode: " "$tmp/our_all" >"$tmp/our_$mode"
    total=$(wc -l <"$tmp/ref_$mode")
    same=$(paste -d '\t' "$tmp/ref_$mode" "$tmp/our_$mode" | awk -F '\t' '$1 == $2' | wc -l)
    add=${mode%?}
    parse=${mode#?}
    desc="add_special=$add parse_special=$parse: $same/$total strings give the same ids"
    if [ "$total" -eq "$n_strings" ] && [ "$same" -eq "$total" ]; then ok 0 "$desc"; else
        ok 1 "$desc"
        paste -d '\t' "$tmp/ref_$mode" "$tmp/our_$mode" | awk -F '\t' '$1 != $2 {
            print "# string " NR ": ref " $1; print "#            ours " $2 }' | head -20
    fi
done

# the same on the synthetic vocabulary of `gemma-run synth --preset tiny`
# (other merges, <unusedN> fillers, a smaller table)
if "$GEMMA_RUN" synth --preset tiny -o "$tmp/tiny.gguf" >"$tmp/synth.log" 2>&1 &&
    "$tmp/ref_tokenize" -m "$tmp/tiny.gguf" --escaped-lines "$strings" --all-modes \
        >"$tmp/ref_syn" 2>>"$tmp/synth.log" &&
    "$GEMMA_RUN" tokenize -m "$tmp/tiny.gguf" --escaped-lines "$strings" --all-modes \
        >"$tmp/our_syn" 2>>"$tmp/synth.log"; then
    total=$(wc -l <"$tmp/ref_syn")
    same=$(paste -d '\t' "$tmp/ref_syn" "$tmp/our_syn" | awk -F '\t' '$1 == $2' | wc -l)
    [ "$total" -eq $((4 * n_strings)) ] && [ "$same" -eq "$total" ]
    ok $? "synthetic vocabulary, all four modes: $same/$total tokenizations agree"
    "$tmp/ref_tokenize" -m "$tmp/tiny.gguf" --dump-vocab >"$tmp/ref_sdump" 2>&1
    "$GEMMA_RUN" tokenize -m "$tmp/tiny.gguf" --dump-vocab >"$tmp/our_sdump" 2>&1
    cmp -s "$tmp/ref_sdump" "$tmp/our_sdump"
    ok $? "synthetic vocabulary: same attributes, end-of-generation flags and pieces"
else
    ok 1 "synthetic vocabulary: synth or a tokenizer failed"
    sed 's/^/# /' "$tmp/synth.log" | head -10
fi

# a page of text: time to load the vocabulary and tokenize it
head -c 4000 "$top_srcdir/README.md" >"$tmp/page"
"$GEMMA_RUN" tokenize -m "$vocab" --ggml-vocab-test "$tmp/page" --time >/dev/null 2>"$tmp/time"
tap_diag "a page of text: $(cat "$tmp/time")"
tap_done
